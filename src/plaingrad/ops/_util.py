"""Helpers shared by the ops: operand preparation and un-broadcasting."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype
from ..backend import xp
from ..tensor import Tensor, _wrap

_SCALARS = (int, float, bool)


def unbroadcast(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` down to ``shape``, undoing NumPy broadcasting."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad


def as_tensor_operand(x: Any, like: Tensor, op: str) -> Tensor:
    """Turn a Python/NumPy scalar into a 0-d tensor for a binary op."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, _SCALARS):
        npd = _scalar_np(x, like)
        if npd.kind == "u" and x < 0:
            # PyTorch wraps a negative int around an unsigned tensor's range
            return _wrap(xp.asarray(x).astype(npd), None)
        return _wrap(xp.asarray(x, dtype=npd), None)
    if isinstance(x, np.ndarray):
        return _wrap(x, None)
    raise TypeError(f"{op}: expected a Tensor or a number, got {type(x).__name__}")


def _scalar_np(x: Any, like: Tensor) -> np.dtype:
    """The dtype a Python scalar takes next to tensor ``like`` (PyTorch rules)."""
    npd = like._data.dtype
    return _dtype.result_np((npd,), (), (x,))


def binary_operands(a: Any, b: Any, op: str) -> tuple[Tensor, Tensor]:
    """Convert scalars and promote dtypes as PyTorch does for ``a op b``."""
    # Fast path: a float tensor with a Python int/float keeps its dtype.
    kind = type(b)
    if (kind is float or kind is int) and isinstance(a, Tensor):
        npd = a._data.dtype
        if npd.kind == "f":
            return a, _wrap(xp.asarray(b, dtype=npd), None)
    if not isinstance(a, Tensor):
        a = as_tensor_operand(a, b, op)
        scalar_a = True
    else:
        scalar_a = False
    if not isinstance(b, Tensor):
        b = as_tensor_operand(b, a, op)
        scalar_b = True
    else:
        scalar_b = False
    da, db = a._data.dtype, b._data.dtype
    if da == db:
        return a, b
    dims, zero_dims = [], []
    for t, is_scalar in ((a, scalar_a), (b, scalar_b)):
        if not is_scalar:
            (dims if t._data.ndim else zero_dims).append(t._data.dtype)
    scalar_dts = [t._data.dtype for t, s in ((a, scalar_a), (b, scalar_b)) if s]
    target = _dtype.result_np(dims, zero_dims, [])
    if target is None:
        target = scalar_dts[0]
    for sd in scalar_dts:
        if _dtype.FROM_NP[sd]._rank > _dtype.FROM_NP[target]._rank:
            target = sd
    return cast(a, target), cast(b, target)


def cast(t: Tensor, npd: np.dtype) -> Tensor:
    """``t`` converted to NumPy dtype ``npd`` (recorded for autograd)."""
    if t._data.dtype == npd:
        return t
    from .elementwise import ToCopy

    if npd.kind in "fc" or not t._requires_grad:
        return ToCopy.apply(t, dtype=npd)
    # An integer or bool copy carries no gradient (PyTorch: requires_grad
    # False, no grad_fn); still an op, for compile and ONNX export to see.
    from ..autograd.grad_mode import no_grad

    with no_grad():
        return ToCopy.apply(t, dtype=npd)


def to_float(t: Tensor) -> Tensor:
    """Integer and bool tensors become the default float dtype."""
    if t._data.dtype.kind == "f":
        return t
    return cast(t, _dtype.get_default_dtype().np)


def normalize_dims(dim: Any, ndim: int, op: str) -> tuple:
    """A dim or tuple of dims as a tuple of non-negative axes."""
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)):
            raise TypeError(f"{op}: `dim` must be an int, got {type(d).__name__}")
        low, high = (-ndim, ndim - 1) if ndim else (-1, 0)
        if not low <= d <= high:
            raise IndexError(
                f"{op}: Dimension out of range (expected to be in range of "
                f"[{low}, {high}], but got {d})"
            )
        out.append(int(d) % ndim if ndim else 0)
    return tuple(out)
