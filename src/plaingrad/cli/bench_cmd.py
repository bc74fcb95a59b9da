"""``plaingrad bench``: issue 7's benchmark suite from the command line.

Runs ``plaingrad.bench`` (W1-W6, the transformer layer and import time, on
plaingrad, PyTorch and the hand-written NumPy reference, each in fresh
processes), prints the table and writes it as JSON and Markdown when asked.
Missed targets are results, not failures: the status is 0 unless a library
computed different losses from the others or a workload failed to run (1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from .main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, _fail

PROG = "plaingrad bench"


def run_bench(args: argparse.Namespace) -> int:
    """Run the suite as ``args`` asks; returns the exit status."""
    from ..bench import markdown as to_markdown
    from ..bench import parse_workloads, run_suite, summarize, text

    try:
        workloads = parse_workloads(args.workloads)
    except ValueError as error:
        return _fail(PROG, f"argument --workloads: {error}", EXIT_USAGE)
    if not workloads:
        return _fail(PROG, "argument --workloads: no workload given", EXIT_USAGE)
    rounds = args.rounds or (1 if args.quick else 5)
    repeats = args.repeats or (1 if args.quick else 3)
    progress = None
    if sys.stderr.isatty():

        def progress(message: str) -> None:
            print(f"\r{message:<50}", end="", file=sys.stderr, flush=True)

    before = os.getloadavg()[0]
    raw = run_suite(workloads, rounds, repeats, args.quick, args.threads, progress)
    raw["load_average"] = {"before": before, "after": os.getloadavg()[0]}
    if progress is not None:
        print("\r" + " " * 50 + "\r", end="", file=sys.stderr, flush=True)
    summary = summarize(raw)
    summary["raw"] = raw
    sys.stdout.write(text(summary))
    written = []
    for path, content in (
        (args.json, lambda: json.dumps(summary, indent=1, ensure_ascii=False)),
        (args.markdown, lambda: to_markdown(summary)),
    ):
        if path is None:
            continue
        try:
            with open(path, "w", encoding="utf-8") as file:
                file.write(content() + ("\n" if path == args.json else ""))
        except OSError as error:
            message = f"cannot write {path!r}: {error.strerror or error}"
            return _fail(PROG, message, EXIT_FAILURE)
        written.append(path)
    if written:
        print(f"Saved {', '.join(written)}")
    if summary["mismatches"] or summary["errors"]:
        return EXIT_FAILURE
    return EXIT_OK
