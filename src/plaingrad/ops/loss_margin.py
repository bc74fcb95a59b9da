"""Hinge and margin losses: fused ops whose derivative is piecewise simple.

A hinge ``max(0, m - s)`` is linear where it is active and flat elsewhere, so
each op saves a mask of the active terms and its backward is that mask times
a slope. Where a term sits exactly on its hinge, the subgradient is PyTorch's:
the losses PyTorch composes from ``clamp_min`` (``hinge_embedding_loss``,
``margin_ranking_loss``) pass the gradient at the kink (``>= 0``), while its
native kernels (``multi_margin_loss``, ``multilabel_margin_loss``) count a
term only when it is strictly positive. The multi-class losses work on
(N, C) arrays; their public functions reshape unbatched inputs around the op.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype
from ..autograd.engine import graph_input
from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap
from ._util import cast, unbroadcast
from .elementwise import exp
from .loss import _check_reduction, legacy_reduction
from .loss_regression import _reduce, _scale


def _float_input(input: Any, op: str, name: str = "input") -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: `{name}` must be a Tensor, got {type(input).__name__}")
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            f"{op}: expected `{name}` to be a floating point tensor, got "
            f"{input.dtype.name}"
        )


def _broadcast(op: str, **tensors: Tensor) -> tuple:
    """The shape the tensors broadcast to, or PyTorch's RuntimeError naming
    ``op`` and each argument's shape."""
    return _broadcast_shapes(op, **{k: t._data.shape for k, t in tensors.items()})


def _broadcast_shapes(op: str, **shapes: tuple) -> tuple:
    try:
        return xp.broadcast_shapes(*shapes.values())
    except ValueError:
        given = ", ".join(f"`{k}` {tuple(s)}" for k, s in shapes.items())
        raise RuntimeError(
            f"{op}: the shapes of the inputs do not broadcast: {given}"
        ) from None


# ------------------------------------------------------------ elementwise hinges


class HingeEmbeddingLoss(Op):
    _name = "HingeEmbeddingLossBackward0"

    @staticmethod
    def forward(ctx, input, target, margin, reduction):
        # x where the target is not -1, plus max(0, margin - x) where it is not 1
        not_neg = target != -1
        not_pos = target != 1
        hinge = margin - input
        losses = xp.where(not_pos, xp.maximum(hinge, 0), 0) + xp.where(
            not_neg, input, 0
        )
        losses = losses.astype(input.dtype, copy=False)
        # the slope in x: +1 from the first term, -1 where the hinge is active
        ctx.slope = (not_neg.astype(input.dtype) - (not_pos & (hinge >= 0))).astype(
            input.dtype
        )
        ctx.shape = input.shape
        ctx.size = losses.size
        ctx.reduction = reduction
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # dl/dx = [t != -1] - [t != 1][margin - x >= 0]; the target gets none
        grad = (grad_output * _scale(ctx.reduction, ctx.size)) * ctx.slope
        return unbroadcast(grad.astype(ctx.slope.dtype, copy=False), ctx.shape), None

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad = (grad_output * _scale(ctx.reduction, ctx.size)) * _wrap(ctx.slope, None)
        return grad.sum_to_size(ctx.shape), None


class MarginRankingLoss(Op):
    _name = "MarginRankingLossBackward0"

    @staticmethod
    def forward(ctx, input1, input2, target, margin, reduction):
        diff = input1 - input2
        z = -target * diff + margin
        ctx.active = (z >= 0).astype(z.dtype)
        ctx.operands = (input1, input2, target)
        ctx.diff = diff
        ctx.reduction = reduction
        ctx.size = z.size
        return _reduce(xp.maximum(z, 0).astype(z.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # l = max(0, -t (x1 - x2) + m): dl/dx1 = -t, dl/dx2 = t, dl/dt = -(x1 - x2)
        input1, input2, target = ctx.operands
        g = ((grad_output * _scale(ctx.reduction, ctx.size)) * ctx.active).astype(
            ctx.active.dtype, copy=False
        )
        grads = [None, None, None]
        if ctx._next[0] is not None:
            grads[0] = unbroadcast(-target * g, input1.shape)
        if ctx._next[1] is not None:
            grads[1] = unbroadcast(target * g, input2.shape)
        if ctx._next[2] is not None:
            grads[2] = unbroadcast(-ctx.diff * g, target.shape)
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx, grad_output):
        input1, input2, target = (
            graph_input(ctx, i, a) for i, a in enumerate(ctx.operands)
        )
        scale = _scale(ctx.reduction, ctx.size)
        g = (grad_output * scale) * _wrap(ctx.active, None)
        grads = [None, None, None]
        if ctx._next[0] is not None:
            grads[0] = (-target * g).sum_to_size(tuple(input1.shape))
        if ctx._next[1] is not None:
            grads[1] = (target * g).sum_to_size(tuple(input2.shape))
        if ctx._next[2] is not None:
            grads[2] = (-(input1 - input2) * g).sum_to_size(tuple(target.shape))
        return tuple(grads)


class SoftMarginLoss(Op):
    _name = "SoftMarginLossBackward0"

    @staticmethod
    def forward(ctx, input, target, reduction):
        # log(1 + exp(-t x)), in PyTorch's form (it overflows to inf as torch's)
        with np.errstate(over="ignore"):
            losses = xp.log1p(xp.exp(-input * target))
        ctx.operands = (input, target)
        ctx.reduction = reduction
        return _reduce(losses, reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # dl/dx = -t z / (1 + z), z = exp(-t x)
        input, target = ctx.operands
        with np.errstate(over="ignore", invalid="ignore"):
            z = xp.exp(-target * input)
            slope = -target * z / (1 + z)
        grad = (grad_output * _scale(ctx.reduction, input.size)) * slope
        return grad.astype(input.dtype, copy=False), None

    @staticmethod
    def backward_graph(ctx, grad_output):
        input = graph_input(ctx, 0, ctx.operands[0])
        target = _wrap(ctx.operands[1], None)
        z = exp(-target * input)
        scale = _scale(ctx.reduction, input.numel())
        return (grad_output * scale) * (-target * z / (1 + z)), None


def hinge_embedding_loss(
    input: Tensor,
    target: Tensor,
    margin: float = 1.0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``x`` where the target is 1, ``max(0, margin - x)`` where it is -1.

    ``input`` is usually a distance; a target that is neither 1 nor -1 gets
    both terms, as in PyTorch.

    Shape:
        input and target: broadcastable; the loss has their broadcast shape.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> x = torch.tensor([0.3, 0.3, 2.0])
        >>> F.hinge_embedding_loss(x, torch.tensor([1.0, -1.0, -1.0]), reduction="none")
        tensor([0.3000, 0.7000, 0.0000])
    """
    op = "hinge_embedding_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _float_input(input, op)
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: `target` must be a Tensor, got {type(target).__name__}")
    _broadcast(op, input=input, target=target)
    return HingeEmbeddingLoss.apply(
        input, target, margin=float(margin), reduction=reduction
    )


def margin_ranking_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, -target (input1 - input2) + margin)``: rank ``input1`` above
    ``input2`` where the target is 1, below where it is -1.

    Shape:
        input1, input2, target: the same number of dimensions, broadcastable.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> a, b = torch.tensor([2.0, 2.0]), torch.tensor([1.0, 1.0])
        >>> F.margin_ranking_loss(a, b, torch.tensor([1.0, -1.0]), reduction="sum")
        tensor(1.)
    """
    op = "margin_ranking_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    for name, t in (("input1", input1), ("input2", input2), ("target", target)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: `{name}` must be a Tensor, got {type(t).__name__}")
    if not input1.ndim == input2.ndim == target.ndim:
        raise RuntimeError(
            f"{op}: All input tensors should have same dimension but got sizes: "
            f"`input1` {tuple(input1.shape)}, `input2` {tuple(input2.shape)}, "
            f"`target` {tuple(target.shape)}"
        )
    _broadcast(op, input1=input1, input2=input2, target=target)
    npd = _dtype.result_np([t._data.dtype for t in (input1, input2, target)], [], [])
    if npd.kind != "f":
        raise RuntimeError(
            f"{op}: expected floating point inputs, got `input1` {input1.dtype}, "
            f"`input2` {input2.dtype} and `target` {target.dtype}"
        )
    input1, input2, target = (cast(t, npd) for t in (input1, input2, target))
    return MarginRankingLoss.apply(
        input1, input2, target, margin=float(margin), reduction=reduction
    )


def soft_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The logistic loss ``log(1 + exp(-target * input))`` for targets of ±1.

    Shape:
        input: any; target: broadcastable to the input's shape.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.soft_margin_loss(torch.tensor([0.0]), torch.tensor([1.0]))
        tensor(0.6931)
    """
    op = "soft_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _float_input(input, op)
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: `target` must be a Tensor, got {type(target).__name__}")
    if target.requires_grad:
        raise RuntimeError(
            f"The function '{op}' is not differentiable with respect to argument "
            "'target'. This input cannot have requires_grad True."
        )
    shape = _broadcast(op, input=input, target=target)
    if shape != input._data.shape:
        raise RuntimeError(
            f"{op}: `target` of shape {tuple(target.shape)} must broadcast to "
            f"`input`'s shape {tuple(input.shape)} (the broadcast shape is "
            f"{tuple(shape)})"
        )
    target = _wrap(xp.broadcast_to(target._data.astype(input._data.dtype), shape), None)
    return SoftMarginLoss.apply(input, target, reduction=reduction)


__all__ = [
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
]
