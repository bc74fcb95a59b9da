"""Statistics: prod, norm and count_nonzero, and helpers shared with var/std.

Products never divide to get their gradients where a zero could be involved:
``prod``'s rule multiplies the product of the elements before each one by the
product of those after it (two exclusive cumulative products). ``norm``
follows PyTorch's conventions where the derivative is undefined: the gradient
of the 2-norm is 0 where the result is 0, and at the zero vector the second
derivatives are NaN, as PyTorch's.

Double backward (``backward_graph``) uses the same formulas on Tensors. ``var``
and ``std`` are in ``variance``, and the cumulative ops (cumsum, cumprod,
logcumsumexp) in ``cumulative``; both use this module's small helpers
(``_const``, ``_where``, the dim and dtype checks).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _dtype
from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap
from ._util import cast, normalize_dims
from .reduction import _axes, _expand_back

_INT64 = np.dtype(np.int64)


def _slice(ndim: int, axis: int, part: slice) -> tuple:
    """An index that takes ``part`` along ``axis`` and everything elsewhere."""
    index = [slice(None)] * ndim
    index[axis] = part
    return tuple(index)


def _exclusive_cumprod(a: Any, axis: int) -> Any:
    """The product of the elements strictly before each one along ``axis``."""
    out = xp.ones_like(a)
    if a.shape[axis] > 1:
        body = xp.cumprod(a[_slice(a.ndim, axis, slice(None, -1))], axis=axis)
        out[_slice(a.ndim, axis, slice(1, None))] = body
    return out


# Tensor-level helpers, for the rules of double backward (``backward_graph``)


def _const(array: Any) -> Tensor:
    return _wrap(xp.asarray(array), None)


def _exclusive_cumprod_graph(t: Tensor, axis: int) -> Tensor:
    """``_exclusive_cumprod`` on a Tensor, recorded."""
    n = t.shape[axis]
    shape = list(t.shape)
    shape[axis] = 1
    ones = _const(xp.ones(shape, dtype=t._data.dtype))
    if n <= 1:
        return ones.expand(tuple(t.shape))
    from .shape import cat

    return cat([ones, t.narrow(axis, 0, n - 1).cumprod(axis)], axis)


def _where(condition: Tensor, input: Any, other: Any) -> Tensor:
    from .elementwise import where

    return where(condition, input, other)


def _expand_to(grad: Tensor, shape: tuple, axes: tuple | None, keepdim: bool):
    from .reduction import _expand_graph

    return _expand_graph(grad, shape, axes, keepdim)


class Prod(Op):
    _name = "ProdBackward0"

    @staticmethod
    def forward(ctx, a, axis, keepdim):
        ctx.save_for_backward(a)
        ctx.axis = axis
        ctx.keepdim = keepdim
        return xp.asarray(xp.prod(a, axis=axis, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad_output):
        # d(prod a)/da_k = prod_{j != k} a_j = (product before k) * (product after k)
        (a,) = ctx.saved_tensors
        axis = ctx.axis
        work = a.reshape(-1) if axis is None else a
        at = 0 if axis is None else axis
        before = _exclusive_cumprod(work, at)
        after = xp.flip(_exclusive_cumprod(xp.flip(work, at), at), at)
        grad = _expand_back(grad_output, None if axis is None else (axis,), ctx.keepdim)
        return grad * (before * after).reshape(a.shape)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same products before and after each element: a polynomial in a
        (a,) = ctx.saved_graph_tensors
        axis = ctx.axis
        work = a.reshape(-1) if axis is None else a
        at = 0 if axis is None else axis
        before = _exclusive_cumprod_graph(work, at)
        after = _exclusive_cumprod_graph(work.flip(at), at).flip(at)
        axes = None if axis is None else (axis,)
        grad = _expand_to(grad_output, tuple(a.shape), axes, ctx.keepdim)
        return grad * (before * after).reshape(tuple(a.shape))


class ProdDim(Prod):
    _name = "ProdBackward1"


class Norm(Op):
    _name = "LinalgVectorNormBackward0"

    @staticmethod
    def forward(ctx, a, p, axes, keepdim):
        absolute = xp.abs(a)
        with errstate(divide="ignore", over="ignore"):
            if p == math.inf:
                out = xp.max(absolute, axis=axes, keepdims=True)
            elif p == -math.inf:
                out = xp.min(absolute, axis=axes, keepdims=True)
            elif p == 0:
                out = xp.sum(a != 0, axis=axes, keepdims=True).astype(a.dtype)
            elif p == 1:
                out = xp.sum(absolute, axis=axes, keepdims=True)
            elif p == 2:
                out = xp.sqrt(xp.sum(a * a, axis=axes, keepdims=True))
            else:
                out = xp.sum(absolute**p, axis=axes, keepdims=True) ** (1.0 / p)
        out = out.astype(a.dtype, copy=False)
        ctx.save_for_backward(a, out)
        ctx.p = p
        ctx.axes = axes
        ctx.keepdim = keepdim
        if keepdim:
            return out
        return out.reshape(()) if axes is None else xp.squeeze(out, axes)

    @staticmethod
    def backward(ctx, grad_output):
        # d ||a||_p / da_i = sign(a_i) |a_i|^(p-1) / ||a||_p^(p-1)
        a, out = ctx.saved_tensors
        p = ctx.p
        grad = grad_output
        if not ctx.keepdim:
            grad = grad.reshape(out.shape)
        with errstate(divide="ignore", invalid="ignore", over="ignore"):
            if p == 0:
                return None  # piecewise constant: PyTorch gives no gradient
            if p == 1:
                return xp.sign(a) * grad
            if p == 2:
                return grad * xp.where(out == 0, 0, a / out)
            absolute = xp.abs(a)
            if math.isinf(p):
                # like amax: ties (and NaNs) share the gradient evenly
                mask = (absolute == out) | xp.isnan(absolute)
                share = grad / xp.sum(mask, axis=ctx.axes, keepdims=True)
                return xp.sign(a) * share * mask
            if p < 1:
                scaled = xp.sign(a) * xp.where(a == 0, 0, absolute ** (p - 1))
                return scaled * grad * out ** (1 - p)
            if p < 2:
                scaled = xp.sign(a) * absolute ** (p - 1)
            else:
                scaled = a * absolute ** (p - 2)
            return scaled * xp.where(out == 0, 0, grad / out ** (p - 1))

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same formulas; the norm is recomputed as a Tensor (the saved one
        # kept its reduced dimensions, so it is not the output), and the signs,
        # the masks and the zero-norm cases are constants
        a = ctx.saved_graph_tensors[0]
        data, out_data = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return None
        grad = grad_output
        if not ctx.keepdim:
            grad = grad.reshape(out_data.shape)
        sign = _const(xp.sign(data))
        if p == 1:
            return sign * grad
        if math.isinf(p):
            absolute = xp.abs(data)
            mask = (absolute == out_data) | xp.isnan(absolute)
            share = xp.sum(mask, axis=ctx.axes, keepdims=True)
            return grad * _const((xp.sign(data) * mask / share).astype(data.dtype))
        out = Norm.apply(a, p=p, axes=ctx.axes, keepdim=True)
        # NOTE: at a zero norm the second derivatives are NaN (0 / 0 through
        # the unselected branch), as PyTorch's: the norm has none there
        zero = _const(out_data == 0)
        if p == 2:
            return grad * _where(zero, 0.0, a / out)
        scale = _where(zero, 0.0, grad / out ** (p - 1))
        if p < 1:
            at_zero = _const(data == 0)
            safe = _where(at_zero, 1.0, a.abs())
            scaled = sign * _where(at_zero, 0.0, safe ** (p - 1))
            return scaled * grad * out ** (1 - p)
        if p < 2:
            return sign * a.abs() ** (p - 1) * scale
        return a * a.abs() ** (p - 2) * scale


# ------------------------------------------------------------ public functions


def _float_only(input: Tensor, op: str, message: str) -> None:
    if input._data.dtype.kind != "f":
        raise RuntimeError(f"{op}: {message} Got {input.dtype.name}.")


def _reduce_axes(input: Tensor, dim: Any, op: str) -> tuple | None:
    """The axes to reduce; None for all of them (and for a 0-d tensor)."""
    axes = _axes(input, dim, op)  # checks dim even for a 0-d tensor
    return axes if input._data.ndim else None


def _one_axis(input: Tensor, dim: Any, op: str) -> int | None:
    """``dim`` as an axis; None for a 0-d tensor (whose only dim is itself)."""
    if isinstance(dim, (tuple, list)):
        raise TypeError(f"{op}: `dim` must be an int, got {type(dim).__name__}")
    (axis,) = normalize_dims(dim, input._data.ndim, op)
    return axis if input._data.ndim else None


def _integers_as_int64(input: Tensor, dtype: Any) -> Tensor:
    """Apply ``dtype``; PyTorch computes products and sums of integers in int64."""
    if dtype is not None:
        return cast(input, _dtype.to_np(dtype))
    if input._data.dtype.kind in "iub":
        return cast(input, _INT64)
    return input


def prod(
    input: Tensor, dim: int | None = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """Product of all elements, or along ``dim``.

    The gradient is exact with zeros in the input: it is the product of the
    other elements, never a division by the element itself.

    Args:
        input: the tensor.
        dim: the dimension to reduce; None reduces every element.
        keepdim: keep the reduced dimension with size 1.
        dtype: compute in this dtype (integers and bools default to int64).

    Returns:
        The product.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([2.0, 0.0, 3.0], requires_grad=True)
        >>> x.prod().backward()
        >>> x.grad
        tensor([0., 6., 0.])
    """
    input = _integers_as_int64(input, dtype)
    if dim is None:
        return Prod.apply(input, axis=None, keepdim=False)
    axis = _one_axis(input, dim, "prod")
    if axis is None:
        return ProdDim.apply(input, axis=None, keepdim=False)
    return ProdDim.apply(input, axis=axis, keepdim=keepdim)


def norm(
    input: Tensor,
    p: Any = "fro",
    dim: Any = None,
    keepdim: bool = False,
    dtype: Any = None,
) -> Tensor:
    """The vector p-norm ``(sum |x|^p)^(1/p)`` of all elements, or over ``dim``.

    Args:
        input: a floating-point tensor.
        p: a number (``inf`` and ``-inf``: the largest and smallest ``|x|``;
            0: the count of non-zeros), or ``'fro'`` (the 2-norm).
        dim: an int or a tuple of ints; None takes every element.
        keepdim: keep the reduced dimensions with size 1.
        dtype: convert the input to this dtype first.

    Returns:
        The norm. Its gradient is 0 at the zero vector.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([3.0, -4.0]).norm()
        tensor(5.)
        >>> torch.tensor([3.0, -4.0]).norm(1)
        tensor(7.)
    """
    if dtype is not None:
        input = cast(input, _dtype.to_np(dtype))
    _float_only(
        input, "norm", "expected a floating point tensor as input (linalg.vector_norm)."
    )
    axes = _reduce_axes(input, dim, "norm")
    if isinstance(p, str):
        if p == "nuc":
            raise NotImplementedError("norm: `p='nuc'` (nuclear norm) is not supported")
        if p != "fro":
            raise RuntimeError(
                f"norm: `p` must be a number, 'fro' or 'nuc', got {p!r} "
                "(linalg.matrix_norm: Order not supported)"
            )
        if axes is not None and len(axes) > 2:
            raise RuntimeError(
                f"norm: `p='fro'` takes at most 2 dims, got dim={dim} "
                "(use a number p for a vector norm over more)"
            )
        p = 2
    p = 2 if p is None else float(p)
    shape = input._data.shape
    reduced = range(len(shape)) if axes is None else axes
    if math.isinf(p) and any(shape[a] == 0 for a in reduced):
        raise RuntimeError(
            f"norm: cannot compute the {p} norm of an empty tensor (shape "
            f"{tuple(input._data.shape)}): the operation has no identity"
        )
    return Norm.apply(input, p=p, axes=axes, keepdim=keepdim)


def count_nonzero(input: Tensor, dim: Any = None) -> Tensor:
    """The number of non-zero elements (over ``dim``), as int64; not differentiable.

    Example:
        >>> import plaingrad as torch
        >>> torch.count_nonzero(torch.tensor([[0.0, 1.0], [2.0, 3.0]]), dim=0)
        tensor([1, 2])
    """
    axes = _reduce_axes(input, dim, "count_nonzero")
    out = xp.count_nonzero(input._data, axis=axes)
    return _wrap(xp.asarray(out, dtype=_INT64), None)
