"""Time the same training workloads on plaingrad and on PyTorch, side by side.

Each workload is written once, as a function of ``lib``, the module a user would
``import ... as torch``; plaingrad and PyTorch run that same source. Both start
from the same weights (drawn with NumPy from a fixed seed and loaded through
``load_state_dict``) and the same data, so the final losses printed beside the
timings should agree to a few digits: that is the check that the two libraries
did the same work.

Every library is timed in a process of its own (two libraries' BLAS and OpenMP
thread pools in one process slow each other down), started with
``sys.executable``. Rounds alternate the libraries (plaingrad, torch, numpy,
plaingrad, torch, numpy, ...) so that a slow patch of the machine hits them
alike, and the table reports medians over rounds. A hand-written NumPy version
of each network (forward, backward and Adam, no autograd) runs as a third
"library": the floor that any NumPy-based engine pays.

Run ``python benchmarks/bench.py`` (``--help`` for the options). Benchmarks
print; they never fail, so the exit status is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
from typing import Any

import numpy as np

# The sibling modules, importable however this script is started.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from numpy_floor import numpy_digits, numpy_xor
from workloads import conv_program, digits_program, transformer_program, xor_program

LIBRARIES = ("plaingrad", "torch", "numpy")
WORKLOADS = ("xor", "digits", "conv2d", "transformer")

# The largest plaingrad/PyTorch time ratio that counts as meeting the target.
TARGETS = {"xor": 0.6, "digits": 1.0, "conv2d": 3.0, "transformer": 3.0}
# The result key each workload reports its time under, and its unit.
_KEYS = {
    "xor": ("us_per_step", "µs/step"),
    "digits": ("ms_per_epoch", "ms/epoch"),
    "conv2d": ("ms_per_step", "ms/step"),
    "transformer": ("ms_per_step", "ms/step"),
}

# Environment variables that change how the BLAS and OpenMP pools behave.
_ENV_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
)


# ------------------------------------------------------------------- the worker


def worker(
    name: str, workloads: list[str], repeats: int, threads: int | None
) -> dict[str, Any]:
    """Run the workloads on one library in this process; one dict of results."""
    result: dict[str, Any] = {"library": name}
    if name == "numpy":
        # No floor for conv2d and transformer: those show n/a in the numpy column.
        programs = {"xor": numpy_xor, "digits": numpy_digits}
        result["threads"] = _numpy_blas_threads()
    else:
        lib = importlib.import_module(name)
        if threads:
            lib.set_num_threads(threads)
        result["version"] = lib.__version__
        result["threads"] = lib.get_num_threads()
        programs = {
            "xor": lambda: xor_program(lib),
            "digits": lambda epochs: digits_program(lib, epochs),
            "conv2d": lambda: conv_program(lib),
            "transformer": lambda: transformer_program(lib),
        }
    for w in workloads:
        if w not in programs:
            continue
        if w == "digits":
            result[w] = programs[w](repeats)  # warms up and repeats on its own
            continue
        programs[w]()  # warm-up: first calls, caches, lazy imports
        runs = [programs[w]() for _ in range(repeats)]
        key = _KEYS[w][0]
        result[w] = {
            key: statistics.median(r[key] for r in runs),
            "loss_first": runs[0]["loss_first"],
            "loss_last": runs[0]["loss_last"],
        }
    return result


def _numpy_blas_threads() -> int | None:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    pools = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    return pools[0] if pools else None


def run_worker(
    name: str, workloads: list[str], repeats: int, threads: int | None
) -> dict[str, Any]:
    """Start a fresh interpreter for one library and read back its results.

    With ``threads`` the BLAS/OpenMP pools are sized through the environment
    (which also covers the NumPy floor) and ``set_num_threads`` (as a user
    would); without it the child inherits this environment unchanged.
    """
    env = dict(os.environ)
    if threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        name,
        "--workloads",
        ",".join(workloads),
        "--repeats",
        str(repeats),
    ]
    if threads:
        command += ["--threads", str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or ["(no output)"]
        return {"library": name, "error": lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- reporting

# Rounds whose slowest is this many times the fastest are reported as noisy.
_NOISY = 1.5
_LABELS = {
    "xor": "XOR step (1000 steps)",
    "digits": "digits epoch (b=64)",
    "conv2d": "conv2d fwd+bwd (b=32)",
    "transformer": "transformer step (b=16)",
}


def environment() -> list[str]:
    """Lines that describe the machine and the BLAS settings in force."""
    cpus = f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})"
    lines = [f"python {platform.python_version()}, numpy {np.__version__}, {cpus}"]
    set_vars = [f"{v}={os.environ[v]}" for v in _ENV_VARS if v in os.environ]
    unset = [v for v in _ENV_VARS if v not in os.environ]
    lines.append("env set: " + (", ".join(set_vars) or "none"))
    lines.append("env unset: " + ", ".join(unset))
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            lines.append(
                f"numpy BLAS: {pool['internal_api']} {pool['version']} "
                f"({pool.get('architecture', '?')} kernels, "
                f"{pool['num_threads']} threads unless told otherwise)"
            )
    except ImportError:
        lines.append("numpy BLAS: unknown (threadpoolctl not installed)")
    return lines


def median_of(rounds: list[dict], workload: str) -> float | None:
    key = _KEYS[workload][0]
    values = [r[workload][key] for r in rounds if workload in r]
    return statistics.median(values) if values else None


def _fmt(value: float | None, width: int = 10) -> str:
    return f"{value:>{width}.1f}" if value is not None else f"{'n/a':>{width}}"


def report(results: dict[str, list[dict]], workloads: list[str]) -> None:
    """Print the table, then each library's versions, losses and round values."""
    header = (
        f"{'workload':<23} {'unit':<9} {'plaingrad':>10} {'torch':>10} "
        f"{'ratio':>6} {'target':>7} {'':<4}  {'numpy':>8} {'pg/np':>6}"
    )
    print(header)
    print("-" * len(header))
    for w in workloads:
        pg, th, floor = (median_of(results[lib], w) for lib in LIBRARIES)
        ratio = pg / th if pg is not None and th else None
        verdict = "n/a" if ratio is None else "PASS" if ratio <= TARGETS[w] else "MISS"
        over_floor = f"{pg / floor:>6.1f}" if pg is not None and floor else "   n/a"
        ratio_text = f"{ratio:>6.2f}" if ratio is not None else "   n/a"
        print(
            f"{_LABELS[w]:<23} {_KEYS[w][1]:<9} {_fmt(pg)} {_fmt(th)} "
            f"{ratio_text} {'<= ' + str(TARGETS[w]):>7} {verdict:<4}  "
            f"{_fmt(floor, 8)} {over_floor}"
        )
    print()
    print("ratio = plaingrad / torch (lower is better); numpy = hand-written floor;")
    print("pg/np = plaingrad / numpy floor. Medians over rounds.")
    print()
    noisy = []
    for lib in LIBRARIES:
        rounds = results[lib]
        errors = [r["error"] for r in rounds if "error" in r]
        if errors:
            print(f"{lib}: failed: {errors[0]}")
            continue
        first = rounds[0]
        version = f" {first['version']}" if "version" in first else ""
        n = first["threads"]
        threads = f", {n} thread{'s' if n != 1 else ''}" if n else ""
        print(f"{lib}{version}{threads}")
        for w in workloads:
            if w not in first:
                continue  # a workload this library has no program for
            key = _KEYS[w][0]
            values = [r[w][key] for r in rounds]
            print(
                f"  {w:<11} loss {first[w]['loss_first']:.6g} -> "
                f"{first[w]['loss_last']:.6g}   rounds: "
                + ", ".join(f"{v:.1f}" for v in values)
                + f"  (min {min(values):.1f})"
            )
            if max(values) > _NOISY * min(values):
                noisy.append(f"{lib} {w} ({max(values) / min(values):.0f}x)")
    if noisy:
        print()
        print(f"noisy: rounds differ by more than {_NOISY}x for " + ", ".join(noisy))
        print(
            "(other processes were probably using the CPUs; rerun, add --rounds, "
            "or use --threads 1)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="default 5")
    parser.add_argument(
        "--quick", action="store_true", help="1 round, 1 timed run per workload"
    )
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated subset"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed runs per process (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/OpenMP threads for every library (default: as the environment "
        "and each library decide)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write raw results")
    parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    repeats = args.repeats or (1 if args.quick else 3)

    if args.worker:
        print(json.dumps(worker(args.worker, workloads, repeats, args.threads)))
        return 0

    rounds = args.rounds or (1 if args.quick else 5)
    print("\n".join(environment()))
    threads = "default threads"
    if args.threads:
        threads = f"{args.threads} thread{'s' if args.threads != 1 else ''}"
    print(
        f"{rounds} rounds x {repeats} timed runs, one process per library per "
        f"round, {threads}"
    )
    load_before = os.getloadavg()[0]
    print()
    sys.stdout.flush()
    progress = sys.stderr.isatty()
    results: dict[str, list[dict]] = {lib: [] for lib in LIBRARIES}
    for i in range(rounds):
        for lib in LIBRARIES:
            if progress:
                print(f"\rround {i + 1}/{rounds}: {lib:<10}", end="", file=sys.stderr)
            results[lib].append(run_worker(lib, workloads, repeats, args.threads))
    if progress:
        print("\r" + " " * 40 + "\r", end="", file=sys.stderr)
    report(results, workloads)
    print()
    print(
        f"load average (1 min): {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after; the benchmark itself adds about 1. "
        "More means other processes shared the CPUs: compare the rounds."
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
