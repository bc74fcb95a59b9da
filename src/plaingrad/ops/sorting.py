"""Sorting and order statistics: sort, topk, kthvalue, median and mode.

Each of these picks elements of its input, so each backward rule sends the
incoming gradient back to the positions it picked (``_scatter_back``); the
exception is ``median()`` of a whole tensor, which PyTorch differentiates like
``amax()``: elements tied with the median share its gradient evenly.

Orders come from a stable sort, with NaN above every number as in PyTorch. Tied
elements therefore keep their index order: ``sort`` matches PyTorch's
``stable=True``, and ``topk``, ``kthvalue`` and ``median(dim)`` pick the tied
element a stable sort puts at the wanted rank. PyTorch documents the index it
returns at ties as unspecified (its selection algorithms differ), so only the
values, and the gradient going to the index returned, are promised to match.
``mode`` returns the last occurrence of the most frequent value (the smallest
such value on ties), which is what PyTorch gives for short slices.

The Tensor-level rules (double backward) are the same scatters as recorded
ops, with the picked positions as constants.
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap
from ._util import normalize_dims
from .indexing import _grid
from .shape import IndexScatter

_INT64 = np.dtype(np.int64)


_ValuesIndices = namedtuple("_ValuesIndices", ["values", "indices"])


def _return_type(name: str) -> type:
    """A ``(values, indices)`` named tuple printed as PyTorch's return types."""

    def __repr__(self: Any) -> str:
        return (
            f"torch.return_types.{name}(\nvalues={self.values!r},\n"
            f"indices={self.indices!r})"
        )

    return type(name, (_ValuesIndices,), {"__slots__": (), "__repr__": __repr__})


# What topk, sort, kthvalue, median(dim) and mode return, as torch.return_types.
topk_result = _return_type("topk")
sort_result = _return_type("sort")
kthvalue_result = _return_type("kthvalue")
median_result = _return_type("median")
mode_result = _return_type("mode")


def _order(a: Any, axis: int, descending: bool) -> Any:
    """The stable sorting permutation of ``a`` along ``axis``.

    Descending keeps ties in index order and puts NaN first: sort the reversed
    array ascending (stably), then read that order backwards.
    """
    if not descending:
        return xp.argsort(a, axis=axis, kind="stable")
    backwards = xp.argsort(xp.flip(a, axis), axis=axis, kind="stable")
    return (a.shape[axis] - 1) - xp.flip(backwards, axis)


def _scatter_back(grad: Any, indices: Any, shape: tuple, axis: int) -> Any:
    """Zeros of ``shape`` with ``grad`` put at ``indices`` along ``axis``."""
    grad_input = xp.zeros(shape, dtype=grad.dtype)
    xp.put_along_axis(grad_input, indices, grad, axis=axis)
    return grad_input


class Pick(Op):
    """The elements of ``a`` at ``indices`` along ``axis`` (found by the caller)."""

    _name = "SortBackward0"

    @staticmethod
    def forward(ctx, a, indices, axis, squeeze):
        work = a.reshape(1) if a.ndim == 0 else a  # a 0-d tensor: one element
        values = xp.take_along_axis(work, indices, axis=axis)
        ctx.save_for_backward(indices)
        ctx.shape = a.shape
        ctx.axis = axis
        if a.ndim == 0:
            values, indices = values.reshape(()), indices.reshape(())
        elif squeeze:
            values, indices = xp.squeeze(values, axis), xp.squeeze(indices, axis)
        return values, indices.astype(_INT64)

    @staticmethod
    def backward(ctx, grad_output):
        # each output is one input element: its gradient goes back to it
        (indices,) = ctx.saved_tensors
        grad = grad_output.reshape(indices.shape)
        work_shape = ctx.shape or (1,)
        grad_input = _scatter_back(grad, indices, work_shape, ctx.axis)
        return grad_input.reshape(ctx.shape)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same scatter, recorded; the indices are piecewise constant
        (indices,) = ctx.saved_tensors
        grad = grad_output.reshape(indices.shape)
        work_shape = ctx.shape or (1,)
        grid = _grid(indices, ctx.axis)
        grad_input = IndexScatter.apply(grad, shape=work_shape, index=grid, basic=False)
        return grad_input.reshape(ctx.shape)


class PickTopk(Pick):
    _name = "TopkBackward0"


class PickKthvalue(Pick):
    _name = "KthvalueBackward0"


class PickMedian(Pick):
    _name = "MedianBackward1"


class PickMode(Pick):
    _name = "ModeBackward0"


class MedianAll(Op):
    _name = "MedianBackward0"

    @staticmethod
    def forward(ctx, a):
        flat = a.reshape(-1)
        if flat.size == 0:
            out = xp.asarray(xp.nan, dtype=a.dtype)
        else:
            out = xp.sort(flat)[(flat.size - 1) // 2]
            if a.dtype.kind == "f" and xp.isnan(flat).any():
                out = xp.asarray(xp.nan, dtype=a.dtype)
        out = xp.asarray(out)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # like amax: the elements equal to the median share the gradient evenly
        a, out = ctx.saved_tensors
        winners = xp.isnan(a) if xp.isnan(out) else a == out
        return winners * (grad_output / int(winners.sum()))

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, out = ctx.saved_tensors
        winners = xp.isnan(a) if xp.isnan(out) else a == out
        return _wrap(winners, None) * (grad_output / int(winners.sum()))


# ------------------------------------------------------------ public functions


def _axis(input: Tensor, dim: Any, op: str) -> int:
    """``dim`` as a non-negative axis; 0 for a 0-d tensor."""
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}: `dim` must be an int, got {type(dim).__name__}")
    return normalize_dims(dim, input._data.ndim, op)[0]


def _work(input: Tensor) -> Any:
    """The input's array, with a 0-d tensor seen as a 1-element vector."""
    data = input._data
    return data.reshape(1) if data.ndim == 0 else data


def _nonempty(work: Any, axis: int, dim: Any, op: str) -> None:
    if work.shape[axis] == 0:
        raise IndexError(
            f"{op}(): Expected reduction dim {dim} to have non-zero size "
            f"(input shape {tuple(work.shape)})."
        )


def sort(
    input: Tensor, dim: int = -1, descending: bool = False, *, stable: bool = False
) -> Any:
    """The elements sorted along ``dim``, with the indices they came from.

    The sort is always stable (ties keep their index order, ``stable`` is
    accepted for PyTorch's signature); NaN sorts above every number.

    Args:
        input: the tensor.
        dim: the dimension to sort along.
        descending: largest first.
        stable: accepted for PyTorch's signature; the sort is always stable.

    Returns:
        A named tuple ``(values, indices)``.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([3.0, 1.0, 2.0]).sort(descending=True).indices
        tensor([0, 2, 1])
    """
    axis = _axis(input, dim, "sort")
    indices = _order(_work(input), axis, descending)
    values, indices = Pick.apply(input, indices=indices, axis=axis, squeeze=False)
    return sort_result(values, indices)


def topk(
    input: Tensor,
    k: int,
    dim: int = -1,
    largest: bool = True,
    sorted: bool = True,
) -> Any:
    """The ``k`` largest (or smallest) elements along ``dim`` and their indices.

    Args:
        input: the tensor.
        k: how many elements to take, from 0 to the size of ``dim``.
        dim: the dimension to select along.
        largest: take the largest elements; False takes the smallest.
        sorted: accepted for PyTorch's signature; the results are always sorted.

    Returns:
        A named tuple ``(values, indices)``.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([1.0, 5.0, 3.0]).topk(2)
        torch.return_types.topk(
        values=tensor([5., 3.]),
        indices=tensor([1, 2]))
    """
    axis = _axis(input, dim, "topk")
    work = _work(input)
    size = work.shape[axis]
    if not 0 <= k <= size:
        raise RuntimeError(
            f"topk: selected index k out of range: `k` is {k} but dim {dim} "
            f"has size {size} (expected 0 <= k <= {size})"
        )
    if input._data.ndim == 0:
        k = 1  # PyTorch returns the one element of a 0-d tensor for k = 0 too
    order = _order(work, axis, descending=largest)
    indices = xp.take(order, xp.arange(k), axis=axis)
    values, indices = PickTopk.apply(input, indices=indices, axis=axis, squeeze=False)
    return topk_result(values, indices)


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The ``k``-th smallest element along ``dim`` (``k`` counts from 1).

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([4.0, 1.0, 3.0]).kthvalue(2).values
        tensor(3.)
    """
    axis = _axis(input, dim, "kthvalue")
    work = _work(input)
    size = work.shape[axis]
    if not 1 <= k <= size:
        raise RuntimeError(
            f"kthvalue(): selected number k out of range for dimension {dim}: "
            f"`k` is {k} but the dimension has size {size} (expected 1 <= k <= "
            f"{size})"
        )
    order = _order(work, axis, descending=False)
    indices = xp.take(order, [k - 1], axis=axis)
    values, indices = PickKthvalue.apply(
        input, indices=indices, axis=axis, squeeze=not keepdim
    )
    return kthvalue_result(values, indices)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The median: the lower of the two middle elements for an even count.

    Without ``dim`` it returns a tensor, and elements tied with the median
    share its gradient; with ``dim`` a named tuple ``(values, indices)``, and
    the gradient goes to the index returned. NaN anywhere makes the median NaN.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([4.0, 1.0, 3.0, 2.0]).median()
        tensor(2.)
    """
    if dim is None:
        return MedianAll.apply(input)
    axis = _axis(input, dim, "median")
    work = _work(input)
    _nonempty(work, axis, dim, "median")
    order = _order(work, axis, descending=False)
    size = work.shape[axis]
    rank = xp.full(order.shape[:axis] + (1,) + order.shape[axis + 1 :], (size - 1) // 2)
    if work.dtype.kind == "f":
        # NaNs sort last; the median is the first of them
        nans = xp.sum(xp.isnan(work), axis=axis, keepdims=True)
        rank = xp.where(nans > 0, size - nans, rank)
    indices = xp.take_along_axis(order, rank, axis=axis)
    values, indices = PickMedian.apply(
        input, indices=indices, axis=axis, squeeze=not keepdim
    )
    return median_result(values, indices)


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> Any:
    """The most frequent value along ``dim`` (the smallest one on ties).

    The index returned is the value's last occurrence.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([2.0, 1.0, 2.0, 1.0, 3.0]).mode()
        torch.return_types.mode(
        values=tensor(1.),
        indices=tensor(3))
    """
    axis = _axis(input, dim, "mode")
    work = _work(input)
    _nonempty(work, axis, dim, "mode")
    order = _order(work, axis, descending=False)
    ordered = xp.take_along_axis(work, order, axis=axis)
    # how far into its run of equal values each sorted element is (1, 2, ...)
    size = work.shape[axis]
    shape = [1] * work.ndim
    shape[axis] = size
    position = xp.arange(size).reshape(shape)
    starts = xp.ones(ordered.shape, dtype=bool)
    index = [slice(None)] * work.ndim
    index[axis] = slice(1, None)
    before = [slice(None)] * work.ndim
    before[axis] = slice(None, -1)
    starts[tuple(index)] = ordered[tuple(index)] != ordered[tuple(before)]
    run_start = xp.maximum.accumulate(xp.where(starts, position, 0), axis=axis)
    count = position - run_start + 1
    # the first sorted position to reach the top count ends the smallest
    # most frequent value's run: its last occurrence, as the sort is stable
    best = xp.argmax(count, axis=axis, keepdims=True)
    indices = xp.take_along_axis(order, best, axis=axis)
    values, indices = PickMode.apply(
        input, indices=indices, axis=axis, squeeze=not keepdim
    )
    return mode_result(values, indices)
