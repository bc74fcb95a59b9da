"""``plaingrad bench``: issue 7's benchmark suite from the command line.

Runs ``plaingrad.bench`` (W1-W6, the transformer layer and import time, on
plaingrad, PyTorch and the hand-written NumPy reference, each in fresh
processes), prints the table and writes it as JSON and Markdown when asked;
``--scaling`` runs ``plaingrad.bench.scaling`` instead (and ``--plot-dir``
writes its PNGs).
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


# the --workloads default (args.py): every workload
_ALL = "W1,W2,W3,W4,W5,transformer,W6,import"


def run_bench(args: argparse.Namespace) -> int:
    """Run the suite as ``args`` asks; returns the exit status."""
    scaling = getattr(args, "scaling", False)
    if scaling and args.workloads != _ALL:
        return _fail(
            PROG,
            "argument --workloads: not with --scaling (it has its own MLP)",
            EXIT_USAGE,
        )
    if scaling and getattr(args, "compile", False):
        return _fail(PROG, "argument --compile: not with --scaling", EXIT_USAGE)
    if not scaling and getattr(args, "plot_dir", None):
        return _fail(PROG, "argument --plot-dir: only with --scaling", EXIT_USAGE)
    problem = _unwritable(args)
    if problem is not None:
        return _fail(PROG, problem, EXIT_USAGE)
    if scaling:
        return run_scaling_cmd(args)
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
    raw = run_suite(
        workloads,
        rounds,
        repeats,
        args.quick,
        args.threads,
        progress,
        compiled=getattr(args, "compile", False),
    )
    raw["load_average"] = {"before": before, "after": os.getloadavg()[0]}
    if progress is not None:
        print("\r" + " " * 50 + "\r", end="", file=sys.stderr, flush=True)
    summary = summarize(raw)
    summary["raw"] = raw
    sys.stdout.write(text(summary))
    if rounds == 1:
        print(
            "1 round: noise between rounds cannot be seen; on a shared machine "
            "use --rounds 3 or more (and --threads 1 for the small workloads)"
        )
    written, errors = _write(
        [
            (
                args.json,
                lambda: json.dumps(summary, indent=1, ensure_ascii=False) + "\n",
            ),
            (args.markdown, lambda: to_markdown(summary)),
        ]
    )
    if written:
        print(f"Saved {', '.join(written)}")
    if errors:
        return _fail(PROG, "; ".join(errors), EXIT_FAILURE)
    if summary["mismatches"] or summary["errors"]:
        return EXIT_FAILURE
    return EXIT_OK


def _unwritable(args: argparse.Namespace) -> str | None:
    """Why an output path cannot be written (None: all can), found before a
    run of minutes rather than after it."""
    for option, path in (("--json", args.json), ("--markdown", args.markdown)):
        if path is None:
            continue
        if not path:
            return f"argument {option}: expected a file path, got ''"
        if os.path.isdir(path):
            return f"argument {option}: {path!r} is a directory, expected a file"
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            return f"argument {option}: folder {folder!r} does not exist"
        if not os.access(folder, os.W_OK):
            return f"argument {option}: cannot write in folder {folder!r}"
    plot_dir = getattr(args, "plot_dir", None)
    if plot_dir is not None:
        if not plot_dir:
            return "argument --plot-dir: expected a folder path, got ''"
        try:
            os.makedirs(plot_dir, exist_ok=True)
        except OSError as error:
            return f"argument --plot-dir: cannot make {plot_dir!r}: {error.strerror}"
    return None


def _write(outputs: list) -> tuple[list, list]:
    """Write each (path, content maker); the paths written and the errors
    (one failed file does not stop the others)."""
    written, errors = [], []
    for path, content in outputs:
        if path is None:
            continue
        try:
            with open(path, "w", encoding="utf-8") as file:
                file.write(content())
        except OSError as error:
            errors.append(f"cannot write {path!r}: {error.strerror or error}")
            continue
        written.append(path)
    return written, errors


def run_scaling_cmd(args: argparse.Namespace) -> int:
    """``plaingrad bench --scaling``: the scaling figures; the exit status.

    One BLAS thread unless ``--threads`` says otherwise: on a shared machine
    a second thread waiting for a busy core makes single points 10-100x slower,
    which no straight line survives.
    """
    from ..bench import scaling

    spec = scaling.QUICK if args.quick else scaling.FULL
    rounds = args.rounds or (1 if args.quick else 3)
    repeats = args.repeats or (3 if args.quick else 5)
    threads = args.threads or 1
    progress = None
    if sys.stderr.isatty():

        def progress(message: str) -> None:
            print(f"\r{message:<50}", end="", file=sys.stderr, flush=True)

    raw = scaling.run_scaling(
        spec, rounds, repeats, threads, quick=args.quick, progress=progress
    )
    if progress is not None:
        print("\r" + " " * 50 + "\r", end="", file=sys.stderr, flush=True)
    summary = scaling.summarize(raw)
    summary["raw"] = raw
    sys.stdout.write(scaling.text(summary))
    written, errors = _write(
        [
            (
                args.json,
                lambda: json.dumps(summary, indent=1, ensure_ascii=False) + "\n",
            ),
            (args.markdown, lambda: scaling.text(summary, markdown=True)),
        ]
    )
    if args.plot_dir is not None:
        try:
            written += scaling.plot(summary, args.plot_dir)
        except ImportError:
            errors.append("--plot-dir needs matplotlib: pip install 'plaingrad[plot]'")
        except OSError as error:
            errors.append(
                f"cannot write to {args.plot_dir!r}: {error.strerror or error}"
            )
    if written:
        print(f"Saved {', '.join(written)}")
    if errors:
        return _fail(PROG, "; ".join(errors), EXIT_FAILURE)
    if summary["mismatches"] or summary["errors"]:
        return EXIT_FAILURE
    return EXIT_OK
