"""Issue 7's workloads and targets, and the runner that times them.

Every library runs in a fresh interpreter of its own (two libraries' BLAS and
OpenMP pools in one process slow each other down). Rounds alternate the
libraries (plaingrad, torch, numpy, then MyGrad and HIPS autograd when they
are installed, and round again) so that a slow patch of a shared machine hits
them alike; within a process each workload runs one untimed block and
``repeats`` timed ones, and the report takes the median over rounds of each
round's median. W6 (peak memory) and the import times run in further fresh
processes: W6's holds one library and runs W4; an import-time process runs
nothing but ``import <library>``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .others import OTHERS

LIBRARIES = ("plaingrad", "torch", "numpy")
# OTHERS (from ``others``): the other NumPy-based autograd libraries, run
# when installed. OPTIONAL: further references the issue names; the suite has
# no programs for them yet.
OPTIONAL = {"jax": "JAX"}


@dataclass(frozen=True)
class Workload:
    """One line of the table.

    Attributes:
        name: the issue's name (``W1`` ... ``W6``, ``transformer``, ``import``).
        label: what is measured, in a few words.
        unit: the unit the table shows; ``scale`` turns seconds (bytes for
            W6) into it.
        steps, quick_steps: steps per timed block (epochs for W3, W4 steps for
            W6, fresh processes per round for ``import``).
        against: what the target compares plaingrad with: ``torch`` or
            ``numpy`` (a ratio), or ``absolute`` (plaingrad's own value).
        target: the largest ratio (or value) that meets the target.
    """

    name: str
    label: str
    unit: str
    scale: float
    steps: int
    quick_steps: int
    against: str
    target: float


WORKLOADS = (
    Workload("W1", "XOR 2-8-1, Adam, per step", "µs", 1e6, 1000, 200, "torch", 0.35),
    Workload("W2", "(a*b+c).sum() fwd+bwd, 1x8", "µs", 1e6, 5000, 1000, "torch", 0.5),
    Workload(
        "W3",
        "digits MLP 64-128-64-10, b=64, Adam, epoch",
        "ms",
        1e3,
        2,
        1,
        "torch",
        0.6,
    ),
    Workload(
        "W4", "MLP 784-1024-1024-10, b=256, SGD step", "ms", 1e3, 10, 3, "numpy", 1.1
    ),
    Workload(
        "W5",
        "CNN 1->16->32 ch, 3x3, pool, b=32, SGD step",
        "ms",
        1e3,
        10,
        3,
        "torch",
        2,
    ),
    Workload(
        "transformer",
        "encoder layer b=16 seq=64 d=128 h=4, Adam step",
        "ms",
        1e3,
        5,
        2,
        "torch",
        2.0,
    ),
    Workload("W6", "peak memory running W4", "MB", 1e-6, 3, 2, "numpy", 1.3),
    Workload(
        "import",
        "import time, fresh process, bytecode cached",
        "s",
        1.0,
        3,
        2,
        "absolute",
        0.25,
    ),
)
BY_NAME = {w.name: w for w in WORKLOADS}
TIMED = ("W1", "W2", "W3", "W4", "W5", "transformer")


def parse_workloads(text: str) -> list[str]:
    """``"W2,w4"`` -> ``["W2", "W4"]`` in the suite's order (case-insensitive).

    Raises:
        ValueError: for a name that is not a workload of the suite.
    """
    names = {w.name.lower(): w.name for w in WORKLOADS}
    chosen = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.lower() not in names:
            raise ValueError(
                f"unknown workload {part!r}; choose from {', '.join(BY_NAME)}"
            )
        chosen.append(names[part.lower()])
    return [w.name for w in WORKLOADS if w.name in chosen]


def availability() -> dict[str, str | None]:
    """None for each library the suite can run; otherwise why it is skipped."""
    found: dict[str, str | None] = {}
    for name in (*LIBRARIES, *OTHERS, *OPTIONAL):
        installed = importlib.util.find_spec(name) is not None
        if not installed:
            found[name] = "not installed"
        elif name in OPTIONAL:
            found[name] = "installed, but the suite has no programs for it yet"
        else:
            found[name] = None
    return found


# ----------------------------------------------------------- child processes

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A worker for PyTorch or NumPy loads plaingrad.bench from an empty stand-in
# package, so that plaingrad's own __init__ (and the library) never runs there.
_BOOT = """\
import sys, types
if {stub}:
    package = types.ModuleType("plaingrad")
    package.__path__ = [{path!r}]
    sys.modules["plaingrad"] = package
from plaingrad.bench.{module} import main
sys.exit(main(sys.argv[1:]))
"""

_IMPORT = """\
import time
start = time.perf_counter()
import {name}
print(time.perf_counter() - start)
"""


def _environment(threads: int | None, bytecode: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    if bytecode:
        # an installed package's imports read cached bytecode; a checkout
        # under PYTHONDONTWRITEBYTECODE=1 would compile every module each time
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    # The same plaingrad in the children, installed or not.
    path = os.path.dirname(_PACKAGE_DIR)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH")) if p)
    if threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    return env


def _child(
    code: str, args: list[str], threads: int | None, bytecode: bool = False
) -> tuple[bool, str]:
    """Run ``python -c code args`` in a neutral folder; (ok, stdout or error).
    ``bytecode``: let Python write and read its cached bytecode."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=_environment(threads, bytecode),
        cwd=tempfile.gettempdir(),  # no file of the caller's shadows a module
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        return False, lines[-1]
    return True, done.stdout.strip().splitlines()[-1]


def run_worker(
    job: dict[str, Any], threads: int | None, module: str = "worker"
) -> dict[str, Any]:
    """One fresh process running ``job`` through ``plaingrad.bench.<module>``'s
    ``main`` (``worker``, or ``scaling``); its result."""
    library = job["library"]
    code = _BOOT.format(stub=library != "plaingrad", path=_PACKAGE_DIR, module=module)
    ok, out = _child(code, [json.dumps(job)], threads)
    return json.loads(out) if ok else {"library": job["library"], "error": out}


def import_time(name: str, threads: int | None) -> float | str:
    """Seconds ``import name`` takes in a fresh process, or the error. The
    bytecode is cached as it is after ``pip install``, also in a checkout
    (``warm_bytecode`` writes it first)."""
    ok, out = _child(_IMPORT.format(name=name), [], threads, bytecode=True)
    return float(out) if ok else out


def warm_bytecode(name: str, threads: int | None) -> None:
    """One untimed import of ``name`` that may write its cached bytecode."""
    _child(_IMPORT.format(name=name), [], threads, bytecode=True)


# ------------------------------------------------------------------ the runner


def run_suite(
    workloads: list[str],
    rounds: int,
    repeats: int,
    quick: bool = False,
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
    compiled: bool = False,
) -> dict[str, Any]:
    """Run the chosen workloads on every installed library (``compiled``:
    plaingrad's steps through ``plaingrad.compile``).

    Returns:
        The raw results: ``times``, ``memory`` and ``imports`` map each
        library to its per-round results; ``available`` says which libraries
        ran; ``settings`` how.
    """
    available = availability()
    libraries = [lib for lib in (*LIBRARIES, *OTHERS) if available[lib] is None]
    steps = {
        w: BY_NAME[w].quick_steps if quick else BY_NAME[w].steps for w in workloads
    }
    timed = {w: steps[w] for w in workloads if w in TIMED}
    raw: dict[str, Any] = {
        "settings": {
            "workloads": workloads,
            "rounds": rounds,
            "repeats": repeats,
            "quick": quick,
            "threads": threads,
            "steps": steps,
            "compiled": compiled,
        },
        "available": available,
        "times": {lib: [] for lib in libraries},
        "memory": {lib: [] for lib in libraries},
        "imports": {lib: [] for lib in libraries},
    }
    say = progress or (lambda text: None)
    for i in range(rounds):
        for lib in libraries if timed else ():
            say(f"round {i + 1}/{rounds}: {lib}")
            job: dict[str, Any] = {"library": lib, "mode": "time"}
            job.update(workloads=timed, repeats=repeats, threads=threads)
            job["compiled"] = compiled and lib == "plaingrad"
            raw["times"][lib].append(run_worker(job, threads))
        for lib in libraries if "W6" in workloads else ():
            say(f"round {i + 1}/{rounds}: {lib} peak memory")
            job = {"library": lib, "mode": "memory", "threads": threads}
            job["compiled"] = compiled and lib == "plaingrad"
            job["steps"] = steps["W6"]
            raw["memory"][lib].append(run_worker(job, threads))
        if "import" in workloads:
            say(f"round {i + 1}/{rounds}: import times")
            if i == 0:
                for lib in libraries:
                    warm_bytecode(lib, threads)
            for _ in range(steps["import"]):
                for lib in libraries:
                    raw["imports"][lib].append(import_time(lib, threads))
    return raw
