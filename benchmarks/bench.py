"""Issue 7's benchmark suite: a thin script around ``plaingrad bench``.

The workloads, the NumPy reference and the runner live in ``plaingrad.bench``
so that an installed plaingrad can run them; this script runs the same thing
from a checkout, installed or not. ``python benchmarks/bench.py --help`` for
the options (those of ``plaingrad bench``).
"""

from __future__ import annotations

import os
import sys

# The checkout's plaingrad, whether or not it is installed.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
)

from plaingrad.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
