"""Statistics: prod, var, std, norm and count_nonzero; cumsum, cumprod and
logcumsumexp.

Products never divide to get their gradients where a zero could be involved:
``prod``'s rule multiplies the product of the elements before each one by the
product of those after it (two exclusive cumulative products), and ``cumprod``
divides only in front of the first zero of each slice, handling the first zero
itself with a second cumulative product. ``var``, ``std`` and ``norm`` follow
PyTorch's conventions where the derivative is undefined: the gradient of ``std``
and of the 2-norm is 0 where the result is 0, and a variance whose count minus
``correction`` is not positive is ``inf`` (or ``nan`` for 0 / 0), with the
gradients PyTorch gives it.

Double backward (``backward_graph``) uses the same formulas on Tensors, with
one change where a formula is exact only at a point: ``cumprod``'s rule at an
input with zeros, and ``logcumsumexp``'s, become a sum over an (n, n) matrix of
products or weights, which is exact everywhere.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import _dtype
from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap
from ..warnings import PlaingradWarning
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


def _reversed_cumsum(a: Any, axis: int) -> Any:
    """``out_k = sum_{i >= k} a_i`` along ``axis``."""
    return xp.flip(xp.cumsum(xp.flip(a, axis), axis=axis), axis)


def _reversed_logcumsumexp(a: Any, axis: int) -> Any:
    """``out_k = log sum_{i >= k} exp(a_i)`` along ``axis``."""
    return xp.flip(xp.logaddexp.accumulate(xp.flip(a, axis), axis=axis), axis)


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


def _variance(a: Any, axes: tuple | None, correction: float, keepdim: bool) -> tuple:
    """The variance, the deviations from the mean, and count - correction."""
    count = a.size if axes is None else math.prod(a.shape[i] for i in axes)
    with errstate(divide="ignore", invalid="ignore"):
        mean = xp.sum(a, axis=axes, keepdims=True) / count
        dev = a - mean
        squares = xp.sum(dev * dev, axis=axes, keepdims=keepdim)
        out = xp.asarray(squares / max(0, count - correction))
    return out.astype(a.dtype, copy=False), dev, count - correction


class Var(Op):
    _name = "VarBackward0"

    @staticmethod
    def forward(ctx, a, axes, correction, keepdim):
        out, dev, ctx.dof = _variance(a, axes, correction, keepdim)
        ctx.save_for_backward(dev, a)
        ctx.axes = axes
        ctx.keepdim = keepdim
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d var / da_i = 2 (a_i - mean) / (n - correction)
        dev, _ = ctx.saved_tensors
        grad = _expand_back(grad_output, ctx.axes, ctx.keepdim)
        return _var_grad(grad, dev, ctx.axes, ctx.dof)

    @staticmethod
    def backward_graph(ctx, grad_output):
        dev, a = ctx.saved_tensors[0], ctx.saved_graph_tensors[1]
        grad = _expand_to(grad_output, tuple(a.shape), ctx.axes, ctx.keepdim)
        return _var_grad_graph(grad, dev, a, ctx.axes, ctx.dof)


def _var_grad(grad: Any, dev: Any, axes: tuple | None, dof: float) -> Any:
    """The variance's gradient, with PyTorch's answers when ``dof`` is <= 0."""
    with errstate(divide="ignore", invalid="ignore"):
        if axes is None and dof <= 0:
            # 2 / 0 is inf, and inf * 0 is nan where an element equals the mean
            return grad * xp.where(dev == 0, xp.nan, xp.inf).astype(dev.dtype)
        # over a dim PyTorch leaves 2 / (n - correction) unclamped
        scale = 2.0 / dof if dof != 0 else math.inf
        return (scale * grad) * dev


def _var_grad_graph(grad: Tensor, dev: Any, a: Tensor, axes: Any, dof: float):
    """``_var_grad`` on Tensors, the deviations recomputed from ``a``."""
    if axes is None and dof <= 0:
        return grad * _const(xp.where(dev == 0, xp.nan, xp.inf).astype(dev.dtype))
    scale = 2.0 / dof if dof != 0 else math.inf
    dims = tuple(range(a.ndim)) if axes is None else axes
    return (scale * grad) * (a - a.mean(dims, keepdim=True))


class Std(Op):
    _name = "StdBackward0"

    @staticmethod
    def forward(ctx, a, axes, correction, keepdim):
        var, dev, ctx.dof = _variance(a, axes, correction, keepdim)
        out = xp.sqrt(var)
        ctx.save_for_backward(dev, out, a)
        ctx.axes = axes
        ctx.keepdim = keepdim
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d std = d var / (2 std), taken as 0 where std is 0 (as PyTorch)
        dev, out, _ = ctx.saved_tensors
        with errstate(divide="ignore", invalid="ignore"):
            grad_var = xp.where(out == 0, 0, grad_output / (2 * out))
        grad = _expand_back(grad_var.astype(dev.dtype), ctx.axes, ctx.keepdim)
        return _var_grad(grad, dev, ctx.axes, ctx.dof)

    @staticmethod
    def backward_graph(ctx, grad_output):
        dev = ctx.saved_tensors[0]
        _, out, a = ctx.saved_graph_tensors
        # NOTE: where std is 0 the second derivatives are NaN (0 / 0 through
        # the unselected branch), as PyTorch's: the std has none there
        grad_var = _where(_const(out._data == 0), 0.0, grad_output / (2 * out))
        grad = _expand_to(grad_var, tuple(a.shape), ctx.axes, ctx.keepdim)
        return _var_grad_graph(grad, dev, a, ctx.axes, ctx.dof)


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


def _correction(op: str, unbiased: bool | None, correction: Any) -> float:
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: give either `unbiased` or `correction`, not both")
    if correction is not None:
        return correction
    return 0 if unbiased is False else 1


def _var_std(
    cls: type[Op],
    op: str,
    input: Tensor,
    dim: Any,
    unbiased: bool | None,
    keepdim: bool,
    correction: Any,
) -> Tensor:
    if isinstance(dim, bool):  # var(True): the legacy positional `unbiased`
        dim, unbiased = None, dim
    correction = _correction(op, unbiased, correction)
    _float_only(input, op, "std and var only support floating point dtypes.")
    axes = _reduce_axes(input, dim, op)
    data = input._data
    count = data.size if axes is None else math.prod(data.shape[i] for i in axes)
    if count - correction <= 0:
        warnings.warn(
            f"{op}: degrees of freedom is <= 0 (reducing {count} elements with "
            f"correction={correction}); the result is inf or nan",
            PlaingradWarning,
            stacklevel=3,
        )
    return cls.apply(input, axes=axes, correction=correction, keepdim=keepdim)


def var(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Variance ``sum((x - mean)^2) / (N - correction)`` over ``dim``.

    Args:
        input: a floating-point tensor.
        dim: an int or a tuple of ints; None reduces every element.
        unbiased: the legacy form of ``correction`` (True: 1, False: 0).
        keepdim: keep the reduced dimensions with size 1.
        correction: subtracted from the count N; 1 (Bessel's) by default.

    Returns:
        The variance; inf, or nan for a constant input, when N - correction
        is <= 0 (with a warning).

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([1.0, 2.0, 4.0]).var(correction=0)
        tensor(1.5556)
    """
    return _var_std(Var, "var", input, dim, unbiased, keepdim, correction)


def std(
    input: Tensor,
    dim: Any = None,
    unbiased: bool | None = None,
    keepdim: bool = False,
    *,
    correction: Any = None,
) -> Tensor:
    """Standard deviation: the square root of ``var`` (same arguments).

    The gradient is 0 where the result is 0 (a constant input), as PyTorch's.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([1.0, 3.0]).std()
        tensor(1.4142)
    """
    return _var_std(Std, "std", input, dim, unbiased, keepdim, correction)


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
