"""What a replay assumes, checked at every call.

- ``call_key``: the guard key of a call (its tensors' shapes, dtypes, grad
  flags and which are the same object, its other arguments' values, grad
  mode, and each guarded module's ``training`` flag), or None when a call
  cannot be keyed (an argument of another kind, a module with hooks).
- ``Bindings``: the tensors, modules and Python numbers a function reads by
  name from its globals and closure. A replay has them baked in, so a change
  (``scale = 3.0``, ``model = other_model``) drops every program.
- ``modules_of``: the modules a function can see before it first runs.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype
from ..autograd.grad_mode import _mode
from ..nn.module import Module
from ..tensor import Tensor

_PLAIN = (bool, int, float, str, type(None))


def call_key(args: tuple, kwargs: dict, modules: list) -> tuple:
    """``(key, tensors)``: the guard key (None: cannot be keyed) and the
    call's tensor arguments in order."""
    # grad mode, and the default dtype (scalars and factories inside use it)
    parts: list = [_mode.enabled, _dtype.get_default_dtype()]
    tensors: list = []
    for name, value in (*((None, a) for a in args), *kwargs.items()):
        if name is not None:
            parts.append(name)
        if isinstance(value, Tensor):
            data = value._data
            # the same tensor twice (f(x, x)) is another program than two
            same = -1
            for i, t in enumerate(tensors):
                if t is value:
                    same = i
                    break
            parts.append((data.shape, data.dtype.char, value._requires_grad, same))
            tensors.append(value)
        elif isinstance(value, _PLAIN):
            parts.append(_number_key(value))
        else:
            return None, tensors
    for module in modules:
        if module._forward_pre_hooks or module._forward_hooks:
            return None, tensors
        if module._backward_hooks:
            return None, tensors
        parts.append(module.training)
    return tuple(parts), tensors


def _number_key(value: Any) -> tuple:
    # repr tells -0.0 from 0.0 and makes NaN equal to itself
    # (np.float64 is a float)
    return (type(value), repr(value) if isinstance(value, float) else value)


class Bindings:
    """The names a function reads from its globals and its closure whose
    values a replay bakes in: tensors and modules (by identity), and numbers,
    strings, None (by value)."""

    def __init__(self, fn: Any) -> None:
        self.entries: list = []
        code = getattr(fn, "__code__", None)
        if code is None:
            return
        scope = getattr(fn, "__globals__", {})
        for name in _global_names(code):
            if name in scope and _baked(scope[name]):
                self.entries.append((scope, name, _snapshot(scope[name])))
        cells = getattr(fn, "__closure__", None) or ()
        for index, cell in enumerate(cells):
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if _baked(value):
                self.entries.append((cell, index, _snapshot(value)))

    def changed(self) -> bool:
        """Has any of the names been bound to something else since?"""
        for scope, name, snapshot in self.entries:
            try:
                value = scope.cell_contents if name.__class__ is int else scope[name]
            except (KeyError, ValueError):
                return True
            if _snapshot(value) != snapshot:
                return True
        return False

    def renew(self) -> None:
        for i, (scope, name, _) in enumerate(self.entries):
            try:
                value = scope.cell_contents if name.__class__ is int else scope[name]
            except (KeyError, ValueError):
                value = None
            self.entries[i] = (scope, name, _snapshot(value))


def _global_names(code: Any) -> list:
    """The global names ``code`` and the functions, lambdas and
    comprehensions defined in it read."""
    names = list(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names.extend(n for n in _global_names(const) if n not in names)
    return names


def _baked(value: Any) -> bool:
    return isinstance(value, (Tensor, Module, *_PLAIN))


def _snapshot(value: Any) -> tuple:
    if isinstance(value, (Tensor, Module)):
        return ("id", id(value))
    return _number_key(value)


def modules_of(fn: Any) -> list:
    """The modules a function can see: bound to it, in its closure, and in the
    globals it names, with their submodules (their training flags and hooks
    are part of the guard)."""
    found: list = []
    candidates = [fn if isinstance(fn, Module) else getattr(fn, "__self__", None)]
    code = getattr(fn, "__code__", None)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            candidates.append(cell.cell_contents)
        except ValueError:
            pass
    if code is not None:
        scope = getattr(fn, "__globals__", {})
        candidates.extend(scope.get(name) for name in _global_names(code))
    for value in candidates:
        if isinstance(value, Module):
            add_modules(found, value)
    return found


def add_modules(found: list, module: Module) -> bool:
    """Add ``module`` and its submodules to ``found``; True if any was new."""
    grew = False
    for m in module.modules():
        if not any(m is f for f in found):
            found.append(m)
            grew = True
    return grew


def describe(key: tuple | None) -> str:
    if key is None:
        return "(no key)"
    tensors = [f"{list(p[0])}" for p in key[1:] if isinstance(p, tuple) and len(p) == 4]
    return f"grad {'on' if key[0] else 'off'}, tensors {', '.join(tensors) or 'none'}"
