"""Elementwise regression losses: l1, smooth_l1 and huber.

Each is one fused op over ``diff = input - target``: the loss is a piecewise
function of ``diff``, and so is its derivative, which is cheaper to write down
than to assemble from ``abs``/``where``. Reductions ('none', 'mean', 'sum') are
done inside the op; ``mean`` divides by the broadcast size, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.engine import graph_input
from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap
from ._util import unbroadcast
from .elementwise import where
from .loss import _check_reduction, legacy_reduction, regression_operands


def _reduce(losses: Any, reduction: str) -> Any:
    if reduction == "none":
        return losses
    total = xp.add.reduce(losses, axis=None)
    if reduction == "mean":
        # an empty mean is NaN, as in PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / losses.dtype.type(losses.size)
    return xp.asarray(total, dtype=losses.dtype)


def _scale(reduction: str, size: int) -> float:
    # the derivative of the reduction itself
    return 1.0 / max(size, 1) if reduction == "mean" else 1.0


class _Regression(Op):
    """Shared forward/backward; subclasses give ``_loss`` and ``_slope``."""

    @staticmethod
    def forward(ctx, input, target, reduction, param):
        diff = input - target
        ctx.save_for_backward(diff)
        ctx.operands = (input, target)
        ctx.shapes = (input.shape, target.shape)
        ctx.reduction = reduction
        ctx.param = param
        return _reduce(ctx._loss(diff, param), reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # d loss/d input = slope(diff) (times 1/n for mean); d/d target = -that
        (diff,) = ctx.saved_tensors
        scale = _scale(ctx.reduction, diff.size)
        grad = (grad_output * scale) * ctx._slope(diff, ctx.param)
        grad = grad.astype(diff.dtype, copy=False)
        shape_in, shape_target = ctx.shapes
        grad_in = grad_target = None
        if ctx._next[0] is not None:
            grad_in = unbroadcast(grad, shape_in)
        if ctx._next[1] is not None:
            grad_target = unbroadcast(-grad, shape_target)
        return grad_in, grad_target

    @staticmethod
    def backward_graph(ctx, grad_output):
        input = graph_input(ctx, 0, ctx.operands[0])
        target = graph_input(ctx, 1, ctx.operands[1])
        diff = input - target
        scale = _scale(ctx.reduction, diff.numel())
        grad = (grad_output * scale) * ctx._slope_graph(diff, ctx.param)
        shape_in, shape_target = ctx.shapes
        grad_in = grad_target = None
        if ctx._next[0] is not None:
            grad_in = grad.sum_to_size(shape_in)
        if ctx._next[1] is not None:
            grad_target = (-grad).sum_to_size(shape_target)
        return grad_in, grad_target


class L1Loss(_Regression):
    _name = "L1LossBackward0"

    @staticmethod
    def _loss(diff, param):
        return xp.abs(diff)

    @staticmethod
    def _slope(diff, param):
        # d|d|/dd = sign(d), 0 at 0
        return xp.sign(diff)

    @staticmethod
    def _slope_graph(diff, param):
        return _wrap(xp.sign(diff._data), None)


class SmoothL1Loss(_Regression):
    _name = "SmoothL1LossBackward0"

    @staticmethod
    def _loss(diff, beta):
        a = xp.abs(diff)
        return xp.where(a < beta, 0.5 * diff * diff / beta, a - 0.5 * beta)

    @staticmethod
    def _slope(diff, beta):
        # d/dd: d / beta inside (-beta, beta), sign(d) outside
        return xp.clip(diff / beta, -1, 1)

    @staticmethod
    def _slope_graph(diff, beta):
        inside = _wrap(xp.abs(diff._data) < beta, None)
        return where(inside, diff / beta, _wrap(xp.sign(diff._data), None))


class HuberLoss(_Regression):
    _name = "HuberLossBackward0"

    @staticmethod
    def _loss(diff, delta):
        a = xp.abs(diff)
        return xp.where(a < delta, 0.5 * diff * diff, delta * (a - 0.5 * delta))

    @staticmethod
    def _slope(diff, delta):
        # d/dd: d inside [-delta, delta], delta * sign(d) outside
        return xp.clip(diff, -delta, delta)

    @staticmethod
    def _slope_graph(diff, delta):
        # |d| = delta counts as outside: PyTorch's second derivative is 0 there
        inside = _wrap(xp.abs(diff._data) < delta, None)
        outside = _wrap(delta * xp.sign(diff._data), None)
        return where(inside, diff, outside)


def l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Mean absolute error ``mean(|input - target|)``.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.l1_loss(torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0]))
        tensor(1.5000)
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "l1_loss")
    input, target = regression_operands(input, target, "l1_loss")
    return L1Loss.apply(input, target, reduction=reduction, param=None)


def smooth_l1_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``.

    ``beta=0`` is the l1 loss, as in PyTorch.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError(
            f"smooth_l1_loss: `beta` must be non-negative, got {beta} "
            "(smooth_l1_loss does not support negative values for beta.)"
        )
    input, target = regression_operands(input, target, "smooth_l1_loss")
    if beta == 0:
        return L1Loss.apply(input, target, reduction=reduction, param=None)
    return SmoothL1Loss.apply(input, target, reduction=reduction, param=float(beta))


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Any = None,
) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""
    _check_reduction(reduction, "huber_loss")
    if weight is not None:
        raise NotImplementedError("huber_loss: `weight` is not supported yet")
    if not delta > 0:
        raise RuntimeError(
            f"huber_loss: `delta` must be positive, got {delta} "
            "(huber_loss does not support non-positive values for delta.)"
        )
    input, target = regression_operands(input, target, "huber_loss")
    return HuberLoss.apply(input, target, reduction=reduction, param=float(delta))
