"""The ``plaingrad`` command line (also ``python -m plaingrad``).

``main`` parses arguments with argparse and dispatches to a subcommand; each
subcommand lives in its own module and does its work through the library's
public API, as a user's script would. This package is the only part of
plaingrad that writes to the terminal: progress and results go to the
terminal, and every expected failure (bad flags, a missing extra, an output
folder that cannot be made, a diverging run) becomes one line on stderr and a
non-zero exit status instead of a traceback.

Subcommands:
    train: train a small network on a dataset (``digits``, ``xor``, or
    ``mnist`` / ``fashion-mnist`` / ``kmnist`` from local IDX files) with any
    of ``plaingrad.optim``'s optimizers and schedules, and save the model, its
    configuration and its metrics; checkpoints, Ctrl-C and ``--resume`` let a
    run stop and continue to the same result.

Modules: ``main`` (dispatch and errors), ``args`` (the parser), ``train``
(the training loops and run files), ``optimizers`` (optimizer and schedule
names), ``checkpoint``, ``data``, ``output`` (folder and memory checks),
``progress``, ``report`` and ``_charts`` (``--report``'s page and its SVG
charts, ``--plots``' files).
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
