"""``set_num_threads`` / ``get_num_threads``: the BLAS thread pool's size.

NumPy's matrix products run on an OpenBLAS (or other BLAS) thread pool. We find
the loaded BLAS library through ctypes and call its own set/get functions, so
no extra dependency is needed. Where no known BLAS is found the value is only
remembered.
"""

from __future__ import annotations

import ctypes
import os

_state = {"threads": None, "lib": None, "searched": False}


def _blas() -> tuple | None:
    """(set_fn, get_fn) of the loaded BLAS, or None."""
    if _state["searched"]:
        return _state["lib"]
    _state["searched"] = True
    import numpy  # noqa: F401  (loads the BLAS library)

    paths = set()
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if "blas" in os.path.basename(path).lower() and path.startswith("/"):
                    paths.add(path)
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                if setter is not None and getter is not None:
                    setter.argtypes = [ctypes.c_int]
                    getter.restype = ctypes.c_int
                    _state["lib"] = (setter, getter)
                    return _state["lib"]
    return None


def set_num_threads(n: int) -> None:
    """Use ``n`` threads for BLAS work (matrix products)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    _state["threads"] = n
    blas = _blas()
    if blas is not None:
        blas[0](n)


def get_num_threads() -> int:
    """The number of threads BLAS work uses."""
    blas = _blas()
    if blas is not None:
        return int(blas[1]())
    if _state["threads"] is not None:
        return _state["threads"]
    return os.cpu_count() or 1
