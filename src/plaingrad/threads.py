"""``set_num_threads`` / ``get_num_threads``: the BLAS thread pool's size.

NumPy's matrix products run on an OpenBLAS (or other BLAS) thread pool. We find
the loaded BLAS libraries through ctypes and call their own set/get functions,
so no extra dependency is needed. Every BLAS loaded in the process is set (SciPy,
which scikit-learn brings in, ships an OpenBLAS of its own); the one NumPy uses
answers ``get_num_threads``. The search runs on each call, since a library
imported later may load another BLAS, and these calls are rare. Where no known
BLAS is found the value is only remembered.
"""

from __future__ import annotations

import ctypes
import os

_state: dict = {"threads": None, "libs": {}}


def _blas_libraries() -> list:
    """(path, set_fn, get_fn) for each loaded BLAS, NumPy's first."""
    import numpy  # noqa: F401  (loads NumPy's BLAS library)

    try:
        with open("/proc/self/maps") as maps:
            paths = {
                line.split()[-1]
                for line in maps
                if "blas" in os.path.basename(line.split()[-1]).lower()
                and line.split()[-1].startswith("/")
            }
    except OSError:
        return []
    found = []
    for path in sorted(paths, key=lambda p: ("numpy" not in p, p)):
        functions = _state["libs"].get(path)
        if functions is None:
            functions = _state["libs"][path] = _functions(path)
        if functions:
            found.append((path, *functions))
    return found


def _functions(path: str) -> tuple:
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return ()
    for prefix in ("scipy_openblas", "openblas"):
        for suffix in ("64_", ""):
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            if setter is not None and getter is not None:
                setter.argtypes = [ctypes.c_int]
                getter.restype = ctypes.c_int
                return setter, getter
    return ()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for BLAS work (matrix products)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _state["threads"] = n
    for _, setter, _ in _blas_libraries():
        setter(n)


def get_num_threads() -> int:
    """The number of threads NumPy's BLAS work uses."""
    libraries = _blas_libraries()
    if libraries:
        return int(libraries[0][2]())
    if _state["threads"] is not None:
        return _state["threads"]
    return os.cpu_count() or 1
