"""Grad modes: whether ops record the graph.

The switch is one module-level flag read by every op (``_mode.enabled``), so the
check costs a single attribute load. ``no_grad``, ``enable_grad``,
``set_grad_enabled`` and ``inference_mode`` are context managers and decorators,
as in PyTorch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


class _Mode:
    __slots__ = ("enabled",)

    def __init__(self) -> None:
        self.enabled = True


_mode = _Mode()


def is_grad_enabled() -> bool:
    """True when ops record the backward graph."""
    return _mode.enabled


class _GradModeContext:
    """Base of the grad-mode switches: sets a mode on entry, restores on exit."""

    _target = True

    def __enter__(self) -> None:
        self._prev = _mode.enabled
        _mode.enabled = self._target

    def __exit__(self, *exc: Any) -> None:
        _mode.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        target = self._target

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _mode.enabled
            _mode.enabled = target
            try:
                return fn(*args, **kwargs)
            finally:
                _mode.enabled = prev

        return wrapper


class _BareDecoratable(_GradModeContext):
    """Also usable as a bare decorator: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, orig_func: Callable | None = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_BareDecoratable):
    """Disable graph recording inside a ``with`` block or a decorated function.

    Example:
        >>> import plaingrad as torch
        >>> w = torch.ones(2, requires_grad=True)
        >>> with torch.no_grad():
        ...     y = w * 2
        >>> y.requires_grad
        False
    """

    _target = False


class enable_grad(_BareDecoratable):
    """Re-enable graph recording inside a ``no_grad`` block."""

    _target = True


class set_grad_enabled(_GradModeContext):
    """Set grad mode on or off: immediately, and as a context manager."""

    def __init__(self, mode: bool) -> None:
        self._prev = _mode.enabled
        self._target = bool(mode)
        _mode.enabled = self._target

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: Any) -> None:
        _mode.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        # As a decorator it must not change the mode at definition time.
        _mode.enabled = self._prev
        return super().__call__(fn)


class inference_mode(_GradModeContext):
    """Like ``no_grad``; ``inference_mode(False)`` leaves the mode unchanged."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # bare ``@inference_mode``
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self._target = not mode if mode else None

    def __enter__(self) -> None:
        self._prev = _mode.enabled
        if self._target is not None:
            _mode.enabled = self._target

    def __call__(self, fn: Callable) -> Callable:
        if self._target is None:
            return fn
        return super().__call__(fn)
