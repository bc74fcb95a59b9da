"""The inside of one benchmark process: one library, some workloads, one JSON line.

``suite`` starts a fresh interpreter per library and round and passes it a
JSON job; ``main`` runs it and prints the result as the last line of stdout.
A PyTorch, NumPy, MyGrad or HIPS autograd process loads this module without
running plaingrad's own ``__init__`` (see ``suite._BOOT``), so it holds only
the library it times.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import resource
import sys
from collections.abc import Sequence
from typing import Any

from .others import OTHERS, programs
from .reference import REFERENCES
from .workloads import PROGRAMS, Compiling

# ru_maxrss is in kilobytes on Linux, in bytes on macOS.
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024


def _proc_status(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status in bytes (None without /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def current_rss() -> int:
    """This process's resident set size now, in bytes."""
    rss = _proc_status("VmRSS")
    return rss if rss is not None else peak_rss()


def peak_rss() -> int:
    """This process's peak resident set size, in bytes.

    Linux's ``VmHWM``, the peak of this process's own memory: ``ru_maxrss``
    starts from the parent's peak after a fork, so a worker started by a big
    process (a test run holding PyTorch) would report the parent's figure.
    """
    peak = _proc_status("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * _RSS_UNIT


def reset_peak() -> None:
    """Set the peak back to the current RSS where Linux allows it."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # 5: reset the peak RSS (Linux 4.0+)
    except OSError:
        pass


def blas_info() -> list[dict[str, Any]]:
    """The BLAS and OpenMP pools loaded here: library, kernel, thread count.

    From threadpoolctl when it is installed; otherwise the BLAS libraries that
    ``plaingrad.threads`` finds, with ``OPENBLAS_CORETYPE`` as the kernel when
    it is set (the kernel is unknown otherwise).
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        from plaingrad.threads import _blas_libraries

        return [
            {
                "api": "blas",
                "library": os.path.basename(path),
                "version": None,
                "kernel": os.environ.get("OPENBLAS_CORETYPE"),
                "threads": int(getter()),
                "source": "plaingrad.threads",
            }
            for path, _, getter in _blas_libraries()
        ]
    return [
        {
            "api": pool["user_api"],
            "library": pool["internal_api"],
            "version": pool.get("version"),
            "kernel": pool.get("architecture"),
            "threads": pool["num_threads"],
            "file": os.path.basename(pool["filepath"]),
            "source": "threadpoolctl",
        }
        for pool in threadpool_info()
    ]


def _load(name: str, threads: int | None) -> tuple[Any, dict[str, Any]]:
    """The library module (None for the NumPy reference, MyGrad and HIPS
    autograd, whose programs import what they use) and its description."""
    import numpy as np

    if name == "numpy":
        return None, {"version": np.__version__}
    if name in OTHERS:
        from importlib.metadata import version

        importlib.import_module(name)  # autograd brings autograd.numpy with it
        # Their BLAS is NumPy's, whose threads the environment has set.
        return None, {"version": version(name)}
    lib = importlib.import_module(name)
    if threads:
        lib.set_num_threads(threads)
    info = {"version": lib.__version__, "threads": lib.get_num_threads()}
    # PyTorch links its own BLAS (MKL on x86), which threadpoolctl may not see.
    show = getattr(getattr(lib, "__config__", None), "show", None)
    found = re.search(r"BLAS_INFO=(\w+)", show()) if show else None
    if found:
        info["blas_build"] = found.group(1)
    return lib, info


def _guarded(program: Any, *args: Any) -> dict[str, Any]:
    """Run one program; a missing extra or a failure becomes a note, not a crash."""
    try:
        return program(*args)
    except ImportError as error:
        return {"skipped": f"{error.name or error} not installed"}
    except Exception as error:  # a failure in one workload must not hide the rest
        return {"error": f"{type(error).__name__}: {error}"}


def _programs(name: str, lib: Any) -> dict[str, Any]:
    """``program(steps, repeats)`` for each workload ``name``'s library has."""
    if name == "numpy":
        return REFERENCES
    if name in OTHERS:
        return programs(name)
    return {w: functools.partial(program, lib) for w, program in PROGRAMS.items()}


def run_times(job: dict[str, Any]) -> dict[str, Any]:
    """Time ``job['workloads']`` ({name: steps}) on ``job['library']``."""
    lib, result = _load(job["library"], job.get("threads"))
    if job.get("compiled"):
        lib = Compiling(lib)
    result["blas"] = blas_info()
    repeats = job["repeats"]
    found = _programs(job["library"], lib)
    for name, steps in job["workloads"].items():
        if name in found:
            result[name] = _guarded(found[name], steps, repeats)
        elif job["library"] in OTHERS:
            result[name] = {"skipped": f"no {OTHERS[job['library']]} program"}
    return result


def run_memory(job: dict[str, Any]) -> dict[str, Any]:
    """W6: the peak RSS that running W4 adds to a process that has imported
    its library, in bytes: the peak RSS during W4 (``VmHWM``, reset after the
    imports) minus the RSS after the imports, with W4's losses for the check.
    """
    lib, result = _load(job["library"], job.get("threads"))
    if job.get("compiled"):
        lib = Compiling(lib)
    steps = job["steps"]
    program = _programs(job["library"], lib)["W4"]  # its imports come first
    before = current_rss()
    reset_peak()
    done = _guarded(program, steps, 1)
    done.pop("seconds", None)
    if "skipped" not in done and "error" not in done:
        done["bytes"] = peak_rss() - before
        done["baseline_bytes"] = before
    result["W6"] = done
    return result


def main(argv: Sequence[str]) -> int:
    """Run the JSON job in ``argv[0]``; print the JSON result as one line."""
    job = json.loads(argv[0])
    run = run_memory if job["mode"] == "memory" else run_times
    print(json.dumps(run(job)), flush=True)
    return 0
