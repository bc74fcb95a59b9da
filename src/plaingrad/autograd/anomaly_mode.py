"""Anomaly mode: find the op whose backward produced NaN or Inf.

With ``detect_anomaly()`` (or ``set_detect_anomaly(True)``) every recorded op
keeps the stack of the user code that created it, and the engine checks each
gradient an op's backward returns. The first non-finite one raises a
RuntimeError naming the op (``MulBackward0``), which of its inputs got the bad
gradient, and the line of user code that built the op, so the cause can be
read off without a debugger. Off (the default), the only cost is one flag
check per recorded op.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

# Frames from files under this folder are plaingrad's own, not the user's.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PROGRAMS = tuple(os.path.join(_PACKAGE, d) + os.sep for d in ("cli", "explain"))


class _Anomaly:
    __slots__ = ("enabled", "check_nan")

    def __init__(self) -> None:
        self.enabled = False
        self.check_nan = True


_anomaly = _Anomaly()


def is_anomaly_enabled() -> bool:
    """True while anomaly detection is on."""
    return _anomaly.enabled


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly mode also checks gradients for NaN and Inf."""
    return _anomaly.check_nan


class set_detect_anomaly:
    """Turn anomaly detection on or off (a call, a context manager, a
    decorator), as PyTorch's ``torch.autograd.set_detect_anomaly``."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled = bool(mode)
        _anomaly.check_nan = bool(check_nan)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        _anomaly.enabled, _anomaly.check_nan = self._prev


class detect_anomaly:
    """Context manager and decorator that turns anomaly detection on.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([0.0], requires_grad=True)
        >>> with torch.autograd.detect_anomaly():
        ...     y = x.sqrt() * 0  # d sqrt(x) / dx is inf at 0, times 0: NaN
        ...     y.backward()
        Traceback (most recent call last):
        ...
        RuntimeError: Function 'SqrtBackward0' returned nan values in its 0th output...
    """

    def __init__(self, check_nan: bool = True) -> None:
        self._check_nan = check_nan

    def __enter__(self) -> None:
        self._prev = (_anomaly.enabled, _anomaly.check_nan)
        _anomaly.enabled = True
        _anomaly.check_nan = self._check_nan

    def __exit__(self, *exc: Any) -> None:
        _anomaly.enabled, _anomaly.check_nan = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self._check_nan):
                return fn(*args, **kwargs)

        return wrapper


def creation_trace() -> list:
    """The user's frames of the current stack: plaingrad's own are left out,
    except its programs (the command line, the explain tools), which use the
    library as a user would."""
    import traceback  # only anomaly mode needs it

    frames = traceback.extract_stack()[:-1]
    return [f for f in frames if _users(os.path.abspath(f.filename))]


def _users(path: str) -> bool:
    return not path.startswith(_PACKAGE) or path.startswith(_PROGRAMS)


def check_gradients(node: Any, grads: tuple, xp: Any) -> None:
    """Raise if any gradient ``node.backward`` returned is NaN or Inf."""
    for i, grad in enumerate(grads):
        if grad is None or grad.dtype.kind not in "fc":
            continue
        if xp.isfinite(grad).all():
            continue
        kind = "nan" if xp.isnan(grad).any() else "inf"
        message = f"Function '{node._name}' returned {kind} values in its {i}th output."
        trace = getattr(node, "_trace", None)
        if trace:
            where = trace[-1]
            message += (
                f" The op was created at {where.filename}:{where.lineno}, in "
                f"{where.name}: {where.line}"
            )
        else:
            message += (
                " (it was created before anomaly detection was turned on, so "
                "where is not known)"
            )
        raise RuntimeError(message)
