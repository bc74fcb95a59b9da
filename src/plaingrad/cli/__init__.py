"""The ``plaingrad`` command line (also ``python -m plaingrad``).

``main`` parses arguments with argparse and dispatches to a subcommand; each
subcommand lives in its own module and does its work through the library's
public API, as a user's script would. This package is the only part of
plaingrad that writes to the terminal: progress and results go to the
terminal, and every expected failure (bad flags, a missing extra, an output
folder that cannot be made, a diverging run) becomes one line on stderr and a
non-zero exit status instead of a traceback.

Subcommands:
    train: train a small network on a built-in dataset (``digits``, ``xor``)
    and save the model, its configuration and its metrics.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
