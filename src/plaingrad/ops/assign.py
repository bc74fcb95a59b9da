"""In-place methods: ``add_``/``mul_``/... and ``+=``, ``zero_``, ``fill_``,
``copy_``, ``clamp_``, ``masked_fill_``, ``index_add_``, the unary ``exp_``-style
forms, and index assignment ``x[idx] = value`` on tensors in the graph.

Each is its out-of-place op run through ``inplace.apply_inplace``, which writes
the result into the tensor's memory and rebases its history (``CopySlices``
for a view). ``copy_`` and ``fill_`` have ops of their own: the old values
get gradient 0 and the source the sum of its gradients over broadcasting.
Index assignment with a basic index copies into the view ``x[idx]``; with an
advanced one it is an in-place ``index_put`` (``IndexPutBackward0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op, _broadcast_error
from ..backend import xp
from ..tensor import Tensor, _wrap
from . import binary, elementwise, indexing, logical, math
from ._util import cast, unbroadcast
from .indexing import IndexPut
from .inplace import Overwrite, apply_inplace, overwrite_
from .shape import _split_index, expand, getitem, reshape

# ------------------------------------------------------------------- nodes


class Copy(Op):
    _name = "CopyBackwards"

    def name(self) -> str:
        return "torch::autograd::CopyBackwards"  # as PyTorch's name() says

    @staticmethod
    def forward(ctx, a, src):
        ctx.src = (src.shape, src.dtype)
        return xp.broadcast_to(src, a.shape).astype(a.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        # the old values are gone (gradient 0); src's gradient is summed over
        # the copies broadcasting made, in src's dtype
        shape, dtype = ctx.src
        grad_self = None
        if ctx._next[0] is not None:
            grad_self = xp.zeros_like(grad_output)
        return grad_self, unbroadcast(grad_output, shape).astype(dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, grad_output):
        shape, dtype = ctx.src
        grad_self = _wrap(xp.zeros_like(grad_output._data), None)
        grad_src = elementwise.to_dtype(grad_output.sum_to_size(shape), dtype)
        return grad_self, grad_src


class FillTensor(Copy):
    _name = "FillBackward3"

    def name(self) -> str:
        return self._name


class Zero(Overwrite):
    _name = "ZeroBackward0"


class FillScalar(Overwrite):
    _name = "FillBackward2"


# ---------------------------------------------------------------- methods


def _copy_from(self: Tensor, src: Tensor, node: type[Op], op: str) -> Tensor:
    shape, src_shape = self._data.shape, src._data.shape
    if src_shape != shape:
        try:
            common = np.broadcast_shapes(src_shape, shape)
        except ValueError:
            raise _broadcast_error(op, self, src, ValueError("broadcast")) from None
        if common != shape:
            raise RuntimeError(
                f"output with shape {list(shape)} doesn't match the broadcast "
                f"shape {list(common)}"
            )

    def write(data: Any) -> None:
        data[...] = src._data

    return apply_inplace(self, lambda target: node.apply(target, src), (src,), write)


def zero_(self: Tensor) -> Tensor:
    """Fill with zeros, in place."""
    return overwrite_(self, 0, Zero)


def fill_(self: Tensor, value: Any) -> Tensor:
    """Fill with ``value`` (a number or a 0-d tensor), in place."""
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{value._data.ndim} dimensions."
            )
        return _copy_from(self, value, FillTensor, "fill_")
    return overwrite_(self, value, FillScalar)


def copy_(self: Tensor, src: Any, non_blocking: bool = False) -> Tensor:
    """Copy ``src`` (broadcast to self's shape, cast to its dtype) into self.

    Differentiable with respect to ``src``; self's old values get gradient 0.
    """
    if not isinstance(src, Tensor):
        if not isinstance(src, (bool, int, float, np.number)):
            raise TypeError(
                "copy_(): argument 'src' (position 1) must be Tensor, not "
                f"{type(src).__name__}"
            )
        src = _wrap(xp.asarray(src), None)
    return _copy_from(self, src, Copy, "copy_")


def _tensors(args: tuple, kwargs: dict) -> tuple:
    return tuple([a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)])


def _method(fn: Any, name: str) -> Any:
    """The in-place form of the out-of-place op ``fn(input, *args, **kwargs)``."""

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return apply_inplace(
            self, lambda target: fn(target, *args, **kwargs), _tensors(args, kwargs)
        )

    method.__name__ = name
    method.__doc__ = f"In-place ``{fn.__name__}``: the result is written into self."
    return method


def _clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return elementwise.clamp(input, min, max)


INPLACE_METHODS = {
    "zero_": zero_,
    "fill_": fill_,
    "copy_": copy_,
    "clamp_": _method(_clamp, "clamp_"),
    "clip_": _method(_clamp, "clip_"),
    "clamp_min_": _method(lambda a, min: _clamp(a, min=min), "clamp_min_"),
    "clamp_max_": _method(lambda a, max: _clamp(a, max=max), "clamp_max_"),
    "masked_fill_": _method(binary.masked_fill, "masked_fill_"),
    "index_add_": _method(indexing.index_add, "index_add_"),
    "index_put_": _method(indexing.index_put, "index_put_"),
    "scatter_": _method(indexing.scatter, "scatter_"),
    "scatter_add_": _method(indexing.scatter_add, "scatter_add_"),
    "lerp_": _method(binary.lerp, "lerp_"),
}
_BINARY = {
    "add": elementwise.add,
    "sub": elementwise.sub,
    "mul": elementwise.mul,
    "div": elementwise.div,
    "pow": elementwise.pow,
    "floor_divide": elementwise.floor_divide,
    "atan2": binary.atan2,
    "arctan2": binary.atan2,
    "hypot": binary.hypot,
    "fmod": binary.fmod,
    "remainder": binary.remainder,
    "bitwise_and": logical.bitwise_and,
    "bitwise_or": logical.bitwise_or,
    "bitwise_xor": logical.bitwise_xor,
}
for _name, _fn in _BINARY.items():
    INPLACE_METHODS[_name + "_"] = _method(_fn, _name + "_")
for _op, _name in (
    ("add", "__iadd__"),
    ("sub", "__isub__"),
    ("mul", "__imul__"),
    ("div", "__itruediv__"),
    ("pow", "__ipow__"),
    ("floor_divide", "__ifloordiv__"),
    ("remainder", "__imod__"),
    ("bitwise_and", "__iand__"),
    ("bitwise_or", "__ior__"),
    ("bitwise_xor", "__ixor__"),
):
    INPLACE_METHODS[_name] = INPLACE_METHODS[_op + "_"]

# unary functions and their in-place forms (``x.sin_()``)
_UNARY = [
    elementwise.exp, elementwise.log, elementwise.sqrt, elementwise.abs,
    elementwise.neg, elementwise.tanh, elementwise.sigmoid, elementwise.relu,
    math.sin, math.cos, math.tan, math.asin, math.acos, math.atan, math.sinh,
    math.cosh, math.log1p, math.expm1, math.log2, math.log10, math.exp2,
    math.rsqrt, math.reciprocal, math.sign, math.floor, math.ceil, math.round,
    math.trunc, math.frac, math.erf, math.erfinv,
]  # fmt: skip
for _fn in _UNARY:
    INPLACE_METHODS[_fn.__name__ + "_"] = _method(_fn, _fn.__name__ + "_")
for _alias, _fn in (
    ("arcsin", math.asin),
    ("arccos", math.acos),
    ("arctan", math.atan),
    ("fix", math.trunc),
    ("negative", elementwise.neg),
    ("absolute", elementwise.abs),
):
    INPLACE_METHODS[_alias + "_"] = INPLACE_METHODS[_fn.__name__ + "_"]


# -------------------------------------------------------- index assignment


def assign_recorded(
    input: Tensor, index: Any, np_index: tuple, basic: bool, value: Any
) -> None:
    """``shape.setitem`` when autograd records it (see the module docstring)."""
    if isinstance(value, Tensor):
        value = cast(value, input._data.dtype)
    else:
        value = _wrap(xp.asarray(value, dtype=input._data.dtype), None)
    if basic and all(item == slice(None) or item is Ellipsis for item in np_index):
        # the whole tensor: PyTorch's copy_ (fill_ for a number)
        if value._data.ndim == 0 and value.grad_fn is None:
            fill_(input, value)
        else:
            copy_(input, strip_ones(value, input._data.ndim))
        return
    if basic:
        target = getitem(input, index)
        value = strip_ones(value, target._data.ndim)
        check_fits(value, target._data.shape, basic)
        copy_(target, value)
        return
    pre, rest = _split_index(np_index)
    target = input if pre is None else getitem(input, pre)
    check_fits(value, target._data[rest].shape, basic)
    apply_inplace(
        target,
        lambda t: IndexPut.apply(t, value, index=rest, accumulate=False),
        (value,),
    )


def check_fits(value: Tensor, shape: tuple, basic: bool) -> None:
    """PyTorch's error when ``value`` does not broadcast to the indexed shape."""
    try:
        fits = np.broadcast_shapes(value._data.shape, shape) == shape
    except ValueError:
        fits = False
    if fits:
        return
    if basic:
        expand(strip_ones(value, len(shape)), shape)  # raises PyTorch's error
    raise RuntimeError(
        f"shape mismatch: value tensor of shape {list(value._data.shape)} "
        f"cannot be broadcast to indexing result of shape {list(shape)}"
    )


def strip_ones(value: Tensor, ndim: int) -> Tensor:
    """``value`` without the leading size-1 dimensions beyond ``ndim`` (PyTorch
    drops them in index assignment: ``x[0:2] = ones(1, 2)`` is fine)."""
    shape = value._data.shape
    lead = 0
    while len(shape) - lead > ndim and shape[lead] == 1:
        lead += 1
    return value if not lead else reshape(value, shape[lead:])
