"""Cumulative ops: cumsum, cumprod and logcumsumexp.

These scan along one dimension rather than reduce it, so their gradients are
reversed scans: ``cumsum``'s is a cumulative sum from the end, and
``logcumsumexp``'s is summed in log space, the positive and negative parts of
the incoming gradient apart, so that nothing overflows. ``cumprod`` divides
only in front of the first zero of each slice, handling the first zero itself
with a second cumulative product.

Double backward (``backward_graph``) uses the same formulas on Tensors, except
where a formula is exact only at a point: ``cumprod``'s rule at an input with
zeros, and ``logcumsumexp``'s, become a sum over an (n, n) matrix of products
or weights, which is exact everywhere.

They live apart from ``statistics`` (the reductions prod, var, std and norm),
whose small helpers they share.
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor
from .statistics import _const, _integers_as_int64, _one_axis, _where


def _reversed_cumsum(a: Any, axis: int) -> Any:
    """``out_k = sum_{i >= k} a_i`` along ``axis``."""
    return xp.flip(xp.cumsum(xp.flip(a, axis), axis=axis), axis)


def _reversed_logcumsumexp(a: Any, axis: int) -> Any:
    """``out_k = log sum_{i >= k} exp(a_i)`` along ``axis``."""
    return xp.flip(xp.logaddexp.accumulate(xp.flip(a, axis), axis=axis), axis)


# Tensor-level helpers, for the rules of double backward (``backward_graph``)


def _reversed_cumsum_graph(t: Tensor, axis: int) -> Tensor:
    return t.flip(axis).cumsum(axis).flip(axis)


def _pairs_graph(t: Tensor, axis: int) -> Tensor:
    """(..., n, n) with ``t`` along ``axis`` (moved last) repeated on each row."""
    moved = t.movedim(axis, -1)
    n = moved.shape[-1]
    return moved.unsqueeze(-2).expand(tuple(moved.shape[:-1]) + (n, n))


def _upper(n: int) -> Tensor:
    """The constant mask row <= column of an (n, n) matrix."""
    return _const(xp.triu(xp.ones((n, n), dtype=bool)))


class Cumsum(Op):
    _name = "CumsumBackward0"

    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        if axis is None:
            return a.copy()  # a 0-d tensor: its only element
        return xp.cumsum(a, axis=axis)

    @staticmethod
    def backward(ctx, grad_output):
        # d out_i / d a_k = 1 for k <= i: grad_k = sum_{i >= k} grad_i
        if ctx.axis is None:
            return grad_output
        return _reversed_cumsum(grad_output, ctx.axis)

    @staticmethod
    def backward_graph(ctx, grad_output):
        if ctx.axis is None:
            return grad_output
        return _reversed_cumsum_graph(grad_output, ctx.axis)


class Cumprod(Op):
    _name = "CumprodBackward0"

    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        if axis is None:
            return a.copy()  # a 0-d tensor: its only element
        out = xp.cumprod(a, axis=axis)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d out_i / d a_k = prod_{j <= i, j != k} a_j for k <= i
        if ctx.axis is None:
            return grad_output
        a, out = ctx.saved_tensors
        axis = ctx.axis
        weighted = out * grad_output
        is_zero = a == 0
        if not is_zero.any():
            return _reversed_cumsum(weighted, axis) / a
        zeros_so_far = xp.cumsum(is_zero, axis=axis)
        # before the first zero a_k is not 0 and the division is safe
        before = zeros_so_far == 0
        total = _reversed_cumsum(xp.where(before, weighted, 0), axis)
        grad_input = xp.where(before, total / xp.where(before, a, 1), 0)
        # at the first zero: the products skip it, so replace it by 1
        first_zero = is_zero & (zeros_so_far == 1)
        partial = xp.cumprod(xp.where(first_zero, 1, a), axis=axis)
        at_zero = _reversed_cumsum(grad_output * partial, axis)
        # after the first zero every product contains it: the gradient is 0
        return xp.where(first_zero, at_zero, grad_input).astype(a.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # without zeros the quotient form is exact nearby; with zeros it is not
        # (a product that contains a zero still depends on the other factors),
        # so each grad_k = sum_{i >= k} g_i prod_{j <= i, j != k} a_j is taken
        # from the cumulative products of a with a_k replaced by 1: O(n^2)
        if ctx.axis is None:
            return grad_output
        a, out = ctx.saved_graph_tensors
        axis = ctx.axis
        if not (a._data == 0).any():
            return _reversed_cumsum_graph(out * grad_output, axis) / a
        n = a.shape[axis]
        diagonal = _const(xp.eye(n, dtype=bool))
        products = _where(diagonal, 1.0, _pairs_graph(a, axis)).cumprod(-1)
        grad = grad_output.movedim(axis, -1).unsqueeze(-2)
        total = _where(_upper(n), products * grad, 0.0).sum(-1)
        return total.movedim(-1, axis)


class LogCumSumExp(Op):
    _name = "LogcumsumexpBackward0"

    @staticmethod
    def forward(ctx, a, axis):
        ctx.axis = axis
        if axis is None:
            return a.copy()  # a 0-d tensor: its only element
        out = xp.logaddexp.accumulate(a, axis=axis)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d out_i / d a_k = exp(a_k - out_i) for k <= i; summed in log space,
        # positive and negative gradients apart, so that nothing overflows
        if ctx.axis is None:
            return grad_output
        a, out = ctx.saved_tensors
        lowest = xp.finfo(a.dtype).min
        with errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_abs = xp.log(xp.abs(grad_output))
            log_pos = xp.where(grad_output > 0, log_abs, lowest)
            log_neg = xp.where(grad_output < 0, log_abs, lowest)
            pos = xp.exp(_reversed_logcumsumexp(log_pos - out, ctx.axis) + a)
            neg = xp.exp(_reversed_logcumsumexp(log_neg - out, ctx.axis) + a)
        return (pos - neg).astype(a.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # grad_k = sum_{i >= k} g_i exp(a_k - out_i), as an (n, n) matrix of
        # weights (exact and overflow-free, but O(n^2): double backward only)
        if ctx.axis is None:
            return grad_output
        a, out = ctx.saved_graph_tensors
        axis = ctx.axis
        n = a.shape[axis]
        diff = a.movedim(axis, -1).unsqueeze(-1) - out.movedim(axis, -1).unsqueeze(-2)
        weights = _where(_upper(n), diff, -math.inf).exp()  # (..., k, i)
        grad = grad_output.movedim(axis, -1).unsqueeze(-2)
        return (weights * grad).sum(-1).movedim(-1, axis)


# ------------------------------------------------------------ public functions


def _cumulative(cls: type[Op], input: Tensor, dim: Any, op: str) -> Tensor:
    return cls.apply(input, axis=_one_axis(input, dim, op))


def cumsum(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Cumulative sum along ``dim``: ``out_i = x_0 + ... + x_i``.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([1.0, 2.0, 3.0]).cumsum(0)
        tensor([1., 3., 6.])
    """
    input = _integers_as_int64(input, dtype)
    return _cumulative(Cumsum, input, dim, "cumsum")


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Cumulative product along ``dim``: ``out_i = x_0 * ... * x_i``.

    The gradient is exact with zeros in the input.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([2.0, 0.0, 3.0]).cumprod(0)
        tensor([2., 0., 0.])
    """
    input = _integers_as_int64(input, dtype)
    return _cumulative(Cumprod, input, dim, "cumprod")


def logcumsumexp(input: Tensor, dim: int) -> Tensor:
    """``log(exp(x_0) + ... + exp(x_i))`` along ``dim``, computed without overflow.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([0.0, 0.0]).logcumsumexp(0)
        tensor([0.0000, 0.6931])
    """
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            f"logcumsumexp: not implemented for {input.dtype.name} input "
            "(as in PyTorch); convert it to a floating dtype first"
        )
    return _cumulative(LogCumSumExp, input, dim, "logcumsumexp")
