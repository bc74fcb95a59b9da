"""Issue 7's benchmark suite: plaingrad against PyTorch and hand-written NumPy.

The workloads (``workloads``) are written once against a PyTorch-like ``lib``,
so plaingrad and PyTorch run the same source from the same weights and data;
``reference`` writes W1 to W4 directly in NumPy, the least work any NumPy
library can do. ``suite`` names the workloads and targets and runs every
library in fresh processes of its own (``worker`` is the inside of one), with
alternating rounds; ``report`` takes the medians and ratios, checks that all
libraries computed the same losses, and renders the table as text, JSON and
Markdown. ``plaingrad bench`` (``cli/bench_cmd.py``) and
``benchmarks/bench.py`` run it. ``scaling`` (``plaingrad bench --scaling``)
times an MLP's step against batch size and depth, records peak memory against
depth, fits straight lines and plots them.

This package imports nothing of plaingrad's library: a PyTorch worker loads it
without plaingrad.
"""

from __future__ import annotations

from . import scaling
from .report import markdown, summarize, text
from .suite import BY_NAME, WORKLOADS, Workload, parse_workloads, run_suite

__all__ = [
    "BY_NAME",
    "WORKLOADS",
    "Workload",
    "markdown",
    "parse_workloads",
    "run_suite",
    "scaling",
    "summarize",
    "text",
]
