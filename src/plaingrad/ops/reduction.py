"""Reductions: sum, mean, max/min (whole tensor and along a dim), argmax/argmin,
logsumexp, softmax and log_softmax.

A reduction's backward rule broadcasts the incoming gradient back over the
reduced dimensions; ``_expand_back`` restores the dimensions that ``keepdim=False``
removed so that NumPy broadcasting lines up.
"""

from __future__ import annotations

import math
from collections import namedtuple
from typing import Any

import numpy as np

from .. import _dtype
from ..autograd.node import Op, observed
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap
from ._util import normalize_dims, to_float

# The (values, indices) pair returned by max(dim) and min(dim).
ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])


# Sum's gradient fills a new array up to this many elements (64 KiB of
# float32); larger ones get a broadcast view, as PyTorch's expand, to spare memory.
_FILL_LIMIT = 16384


def _expand_back(grad: Any, axes: tuple | None, keepdim: bool) -> Any:
    """Re-insert the reduced axes (as size 1) into ``grad`` when they were dropped."""
    if keepdim or axes is None:
        return grad
    return xp.expand_dims(grad, axes)


def _expand_graph(grad: Tensor, shape: tuple, axes: tuple | None, keepdim: bool) -> Any:
    """``_expand_back`` and the broadcast back to ``shape``, on Tensors (for the
    Tensor-level rules of create_graph)."""
    if not keepdim:
        kept = tuple(1 if axes is None or i in axes else n for i, n in enumerate(shape))
        grad = grad.reshape(kept)
    return grad.expand(shape)


def _where(mask: Any, grad: Tensor) -> Tensor:
    """``grad`` where the bool array ``mask`` holds, else 0 (Tensor-level)."""
    from .elementwise import where

    return where(_wrap(mask, None), grad, 0)


class Sum(Op):
    _name = "SumBackward0"

    @staticmethod
    def forward(ctx, a, axes, keepdim, dtype):
        ctx.shape = a.shape
        ctx.axes = axes
        ctx.keepdim = keepdim
        # the ufunc's own reduce skips NumPy's Python-level sum wrapper
        return xp.add.reduce(a, axis=axes, keepdims=keepdim, dtype=dtype)

    @staticmethod
    def backward(ctx, grad_output):
        # d(sum a)/da_i = 1 for every summed element
        grad = _expand_back(grad_output, ctx.axes, ctx.keepdim)
        shape = ctx.shape
        if math.prod(shape) <= _FILL_LIMIT:
            # small: a filled array costs a third of broadcast_to's view, and
            # being its own, a leaf can keep it as .grad without a copy
            filled = xp.empty(shape, grad.dtype)
            filled[...] = grad
            return filled
        return xp.broadcast_to(grad, shape)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return _expand_graph(grad_output, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Op):
    _name = "MeanBackward0"

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        ctx.shape = a.shape
        ctx.axes = axes
        ctx.keepdim = keepdim
        count = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        ctx.count = count
        # sum / count: NumPy's mean wrapper costs more than the arithmetic
        total = xp.add.reduce(a, axis=axes, keepdims=keepdim)
        return xp.asarray(total / count) if count else xp.asarray(total * xp.nan)

    @staticmethod
    def backward(ctx, grad_output):
        # d(mean a)/da_i = 1/n
        grad = _expand_back(grad_output, ctx.axes, ctx.keepdim) / ctx.count
        return xp.broadcast_to(grad, ctx.shape)

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad = _expand_graph(grad_output, ctx.shape, ctx.axes, ctx.keepdim)
        return grad / ctx.count


class SumDim(Sum):
    # PyTorch's name for a sum over given dims
    _name = "SumBackward1"


class MeanDim(Mean):
    _name = "MeanBackward1"


class MaxAll(Op):
    _name = "MaxBackward1"
    _reduce = staticmethod(xp.max)

    @classmethod
    def forward(cls, ctx, a):
        out = cls._reduce(a)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # the gradient is shared evenly by the elements that tie for the max
        a, out = ctx.saved_tensors
        winners = a == out
        return winners * (grad_output / int(winners.sum()))

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, out = ctx.saved_tensors
        winners = a == out
        return _wrap(winners, None) * (grad_output / int(winners.sum()))


class MinAll(MaxAll):
    _name = "MinBackward1"
    _reduce = staticmethod(xp.min)


class MaxDim(Op):
    _name = "MaxBackward0"
    _arg = staticmethod(xp.argmax)

    @classmethod
    def forward(cls, ctx, a, axis, keepdim):
        indices = xp.expand_dims(cls._arg(a, axis=axis), axis)
        values = xp.take_along_axis(a, indices, axis=axis)
        ctx.save_for_backward(indices)
        ctx.shape = a.shape
        ctx.axis = axis
        ctx.keepdim = keepdim
        if not keepdim:
            values = xp.squeeze(values, axis)
            indices = xp.squeeze(indices, axis)
        return values, indices.astype(np.int64)

    @staticmethod
    def backward(ctx, grad_output):
        # the gradient goes to the one index returned (the first maximum)
        (indices,) = ctx.saved_tensors
        grad = _expand_back(grad_output, (ctx.axis,), ctx.keepdim)
        grad_input = xp.zeros(ctx.shape, dtype=grad_output.dtype)
        xp.put_along_axis(grad_input, indices, grad, axis=ctx.axis)
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        (indices,) = ctx.saved_tensors
        picked = xp.zeros(ctx.shape, dtype=bool)
        xp.put_along_axis(picked, indices, True, axis=ctx.axis)
        grad = _expand_graph(grad_output, ctx.shape, (ctx.axis,), ctx.keepdim)
        return _where(picked, grad)


class MinDim(MaxDim):
    _name = "MinBackward0"
    _arg = staticmethod(xp.argmin)


class Amax(Op):
    _name = "AmaxBackward0"
    _reduce = staticmethod(xp.maximum.reduce)

    @classmethod
    def forward(cls, ctx, a, axes, keepdim):
        out = cls._reduce(a, axis=axes, keepdims=True)
        ctx.save_for_backward(a, out)
        ctx.axes = axes
        ctx.keepdim = keepdim
        return out if keepdim else _squeeze(out, axes)

    @staticmethod
    def backward(ctx, grad_output):
        # the gradient is shared evenly by the elements that tie for the max
        a, out = ctx.saved_tensors
        winners = a == out
        count = xp.add.reduce(winners, axis=ctx.axes, keepdims=True)
        grad = _expand_back(grad_output, ctx.axes, ctx.keepdim)
        return winners * (grad / count)

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, out = ctx.saved_tensors
        winners = a == out
        count = xp.add.reduce(winners, axis=ctx.axes, keepdims=True)
        grad = _expand_graph(grad_output, a.shape, ctx.axes, ctx.keepdim)
        return grad * _wrap((winners / count).astype(a.dtype), None)


class Amin(Amax):
    _name = "AminBackward0"
    _reduce = staticmethod(xp.minimum.reduce)


def _squeeze(a: Any, axes: tuple | None) -> Any:
    return a.reshape(()) if axes is None else xp.squeeze(a, axis=axes)


def _peak(a: Any, axes: Any) -> Any:
    """The max over ``axes`` (kept), to shift by before ``exp``; 0 where a
    reduced dim is empty (NumPy's max has no identity; PyTorch's results are
    then -inf for logsumexp and empty for softmax)."""
    if a.size == 0:
        return xp.zeros(xp.sum(a, axis=axes, keepdims=True).shape, dtype=a.dtype)
    return xp.max(a, axis=axes, keepdims=True)


class LogSumExp(Op):
    _name = "LogsumexpBackward0"

    @staticmethod
    def forward(ctx, a, axes, keepdim):
        peak = _peak(a, axes)
        peak = xp.where(xp.isfinite(peak), peak, 0)
        with errstate(divide="ignore"):
            out = xp.log(xp.sum(xp.exp(a - peak), axis=axes, keepdims=True)) + peak
        ctx.save_for_backward(a, out)
        ctx.axes = axes
        ctx.keepdim = keepdim
        return out if keepdim else xp.squeeze(out, axes)

    @staticmethod
    def backward(ctx, grad_output):
        # d(logsumexp a)/da_i = softmax(a)_i
        a, out = ctx.saved_tensors
        grad = _expand_back(grad_output, ctx.axes, ctx.keepdim)
        return grad * xp.exp(a - out)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # recomputed: the saved result kept its reduced dimensions, so it is not
        # the output tensor and the graph would see it as a constant
        (a, _) = ctx.saved_graph_tensors
        grad = _expand_graph(grad_output, a.shape, ctx.axes, ctx.keepdim)
        dims = tuple(range(a.ndim)) if ctx.axes is None else ctx.axes
        return grad * (a - logsumexp(a, dims, keepdim=True)).exp()


class Softmax(Op):
    _name = "SoftmaxBackward0"

    @staticmethod
    def forward(ctx, a, axis):
        shifted = xp.exp(a - _peak(a, axis))
        out = shifted / xp.sum(shifted, axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d softmax_i / d a_j = s_i (delta_ij - s_j)
        (out,) = ctx.saved_tensors
        dot = xp.sum(grad_output * out, axis=ctx.axis, keepdims=True)
        return out * (grad_output - dot)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        dot = (grad_output * out).sum(ctx.axis, keepdim=True)
        return out * (grad_output - dot)


class LogSoftmax(Op):
    _name = "LogSoftmaxBackward0"

    @staticmethod
    def forward(ctx, a, axis):
        shifted = a - _peak(a, axis)
        with errstate(divide="ignore"):  # log(0) of an empty softmax dim
            out = shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d log_softmax_i / d a_j = delta_ij - softmax_j
        (out,) = ctx.saved_tensors
        total = xp.sum(grad_output, axis=ctx.axis, keepdims=True)
        return grad_output - xp.exp(out) * total

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        total = grad_output.sum(ctx.axis, keepdim=True)
        return grad_output - out.exp() * total


# ------------------------------------------------------------ public functions


def _axes(input: Tensor, dim: Any, op: str) -> tuple | None:
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)) and len(dim) == 0:
        return None
    axes = normalize_dims(dim, input._data.ndim, op)
    # a 0-d tensor's only dimension (0 or -1) is the whole tensor
    return axes if input._data.ndim else None


def sum(input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum of all elements, or over ``dim`` (an int or a tuple of ints)."""
    axes = _axes(input, dim, "sum")
    if dtype is not None:
        npd = _dtype.to_np(dtype)
    elif input._data.dtype.kind in "iub":
        npd = np.dtype(np.int64)  # PyTorch sums integers and bools as int64
    else:
        npd = None
    op = Sum if dim is None else SumDim
    return op.apply(input, axes=axes, keepdim=keepdim, dtype=npd)


def sum_to_size(input: Tensor, *size: Any) -> Tensor:
    """Sum ``input`` down to ``size``, the inverse of broadcasting to its shape.

    Example:
        >>> import plaingrad as torch
        >>> torch.ones(2, 3).sum_to_size(1, 3)
        tensor([[2., 2., 2.]])
    """
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    shape = input._data.shape
    extra = len(shape) - len(size)
    # (``any`` and ``sum`` are this module's own functions)
    fits = (
        extra >= 0
        and [s in (1, n) for s, n in zip(size, shape[extra:])].count(False) == 0
    )
    if not fits:
        raise RuntimeError(
            f"size {{{list(size)}}} is not expandable to size {{{list(shape)}}}."
        )
    if tuple(size) == shape:
        return input
    axes = tuple(range(extra)) + tuple(
        extra + i for i, s in enumerate(size) if s == 1 and shape[extra + i] != 1
    )
    return SumDim.apply(input, axes=axes, keepdim=True, dtype=None).reshape(size)


def mean(
    input: Tensor, dim: Any = None, keepdim: bool = False, *, dtype=None
) -> Tensor:
    """Mean of all elements, or over ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a "
            f"floating point or complex dtype. Got: {input.dtype.name.capitalize()}"
        )
    op = Mean if dim is None else MeanDim
    return op.apply(input, axes=_axes(input, dim, "mean"), keepdim=keepdim)


def _max_min(input: Tensor, dim: Any, keepdim: bool, other: Any, kind: str) -> Any:
    if isinstance(dim, Tensor):
        other, dim = dim, None
    if other is not None:
        from .elementwise import gt, lt, where

        pick = gt if kind == "max" else lt
        return where(pick(input, other), input, other)
    if dim is None:
        if input._data.size == 0:
            raise RuntimeError(
                f"{kind}(): Expected reduction dim to be specified for "
                "input.numel() == 0. Specify the reduction dim with the 'dim' "
                "argument."
            )
        return (MaxAll if kind == "max" else MinAll).apply(input)
    (axis,) = normalize_dims(dim, input._data.ndim, kind)
    if input._data.ndim and input._data.shape[axis] == 0:
        raise IndexError(
            f"{kind}(): Expected reduction dim {axis} to have non-zero size "
            f"(input shape {tuple(input._data.shape)})."
        )
    if not input._data.ndim:
        # a 0-d tensor is its own maximum, at index 0
        index = _wrap(xp.zeros((), dtype=np.int64), None)
        values = (MaxDim if kind == "max" else MinDim).apply(
            input.reshape(1), axis=0, keepdim=False
        )[0]
        return ValuesIndices(values, index)
    values, indices = (MaxDim if kind == "max" else MinDim).apply(
        input, axis=axis, keepdim=keepdim
    )
    return ValuesIndices(values, indices)


def max(input: Tensor, dim: Any = None, keepdim: bool = False, *, other=None) -> Any:
    """The largest element; with ``dim``, a ``(values, indices)`` pair."""
    return _max_min(input, dim, keepdim, other, "max")


def min(input: Tensor, dim: Any = None, keepdim: bool = False, *, other=None) -> Any:
    """The smallest element; with ``dim``, a ``(values, indices)`` pair."""
    return _max_min(input, dim, keepdim, other, "min")


def amax(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """The largest value over ``dim`` (an int or a tuple; all by default).

    Unlike ``max(dim)`` it returns no indices, and ties share the gradient
    evenly, as in PyTorch.
    """
    return _extreme(Amax, input, dim, keepdim, "amax")


def amin(input: Tensor, dim: Any = (), keepdim: bool = False) -> Tensor:
    """The smallest value over ``dim``; ties share the gradient evenly."""
    return _extreme(Amin, input, dim, keepdim, "amin")


def _extreme(op: Any, input: Tensor, dim: Any, keepdim: bool, name: str) -> Tensor:
    axes = _axes(input, dim, name)
    data = input._data
    shape = data.shape
    empty = [i for i in (range(data.ndim) if axes is None else axes) if not shape[i]]
    if data.size and not empty:
        return op.apply(input, axes=axes, keepdim=keepdim)
    if axes is None:  # reducing everything: PyTorch asks for a dim
        raise RuntimeError(
            f"{name}: Expected reduction dim to be specified for input.numel() "
            f"== 0 (input shape {tuple(shape)}). Specify the reduction dim with "
            "the 'dim' argument."
        )
    if empty:
        raise IndexError(
            f"{name}: Expected reduction dim {empty[0]} to have non-zero size "
            f"(input shape {tuple(shape)})"
        )
    return op.apply(input, axes=axes, keepdim=keepdim)


def _arg(fn: Any, input: Tensor, dim: Any, keepdim: bool, op: str) -> Tensor:
    data = input._data
    if dim is None:
        if data.size == 0:
            raise IndexError(
                f"{op}(): Expected reduction dim to be specified for "
                "input.numel() == 0."
            )
        out = np.int64(fn(data))
        out = xp.asarray(out).reshape((1,) * data.ndim if keepdim else ())
        options = {"axis": None, "keepdim": keepdim}
        return observed(op, (input,), options, _wrap(out, None))
    (axis,) = normalize_dims(dim, data.ndim, op)
    if data.ndim and data.shape[axis] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {dim} to have non-zero size.")
    out = _wrap(fn(data, axis=axis, keepdims=keepdim).astype(np.int64), None)
    return observed(op, (input,), {"axis": axis, "keepdim": keepdim}, out)


def argmax(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest element (the first one on ties); not differentiable."""
    return _arg(xp.argmax, input, dim, keepdim, "argmax")


def argmin(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest element (the first one on ties); not differentiable."""
    return _arg(xp.argmin, input, dim, keepdim, "argmin")


def logsumexp(input: Tensor, dim: Any, keepdim: bool = False) -> Tensor:
    """``log(sum(exp(input)))`` over ``dim``, computed without overflow."""
    input = to_float(input)
    return LogSumExp.apply(input, axes=_axes(input, dim, "logsumexp"), keepdim=keepdim)


def _softmax_axis(input: Tensor, dim: Any, op: str) -> int:
    if dim is None:
        # PyTorch's legacy implicit choice: 0 for 0-, 1- and 3-D, else 1.
        dim = 0 if input._data.ndim in (0, 1, 3) else 1
    return normalize_dims(dim, input._data.ndim, op)[0]


def softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """``exp(x_i) / sum_j exp(x_j)`` along ``dim``, computed stably."""
    if dtype is not None:
        input = input.to(dtype)
    input = to_float(input)
    return Softmax.apply(input, axis=_softmax_axis(input, dim, "softmax"))


def log_softmax(input: Tensor, dim: Any = None, dtype: Any = None) -> Tensor:
    """``x_i - logsumexp(x)`` along ``dim``, computed stably."""
    if dtype is not None:
        input = input.to(dtype)
    input = to_float(input)
    return LogSoftmax.apply(input, axis=_softmax_axis(input, dim, "log_softmax"))


def _logical_reduce(fn: Any, input: Tensor, dim: Any, keepdim: bool, op: str) -> Tensor:
    axes = _axes(input, dim, op)
    return _wrap(xp.asarray(fn(input._data, axis=axes, keepdims=keepdim)), None)


def all(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """True where every element (along ``dim``) is non-zero; not differentiable."""
    return _logical_reduce(xp.all, input, dim, keepdim, "all")


def any(input: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """True where some element (along ``dim``) is non-zero; not differentiable."""
    return _logical_reduce(xp.any, input, dim, keepdim, "any")
