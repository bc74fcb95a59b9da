"""Variance and standard deviation: var and std.

Both reduce over ``dim`` with ``correction`` subtracted from the count, and
follow PyTorch where the derivative is undefined: the gradient of ``std`` is 0
where the result is 0, and a variance whose count minus ``correction`` is not
positive is ``inf`` (or ``nan`` for 0 / 0), with the gradients PyTorch gives it
(and a warning). Double backward (``backward_graph``) recomputes the
deviations from the input tensor and applies the same formulas.

They live apart from ``statistics`` (prod, norm, count_nonzero), whose small
helpers they share.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor
from ..warnings import PlaingradWarning
from .reduction import _expand_back
from .statistics import _const, _expand_to, _float_only, _reduce_axes, _where


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


# ------------------------------------------------------------ public functions


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
