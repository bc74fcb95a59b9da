"""Multi-class hinge losses: ``multi_margin_loss`` and ``multilabel_margin_loss``.

Both compare the score of each right class with the score of every wrong
class of a sample, ``z = margin - x[right] + x[wrong]``, and add up the terms
with ``z > 0`` (strictly: a term sitting on its hinge gets no gradient, as in
PyTorch's kernels), divided by the number of classes C. The ops take (N, C)
scores; the public functions accept an unbatched (C,) input and reshape.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.engine import graph_input
from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap
from .loss import _check_reduction, legacy_reduction
from .loss_margin import _float_input
from .shape import reshape


def _reduce_rows(losses: Any, reduction: str) -> Any:
    if reduction == "none":
        return losses
    total = losses.sum()
    if reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / losses.dtype.type(losses.shape[0])
    return xp.asarray(total, dtype=losses.dtype)


def _row_scale(grad_output: Any, reduction: str, n: int) -> Any:
    """The gradient of each row's loss, shaped (N, 1) to broadcast over C."""
    if reduction == "none":
        return grad_output.reshape(-1, 1)
    return grad_output / max(n, 1) if reduction == "mean" else grad_output


class MultiMarginLoss(Op):
    _name = "MultiMarginLossBackward0"

    @staticmethod
    def forward(ctx, input, target, p, margin, weight, reduction):
        # input: (N, C) scores, target: (N,) the right class of each row
        n, c = input.shape
        rows = xp.arange(n)
        z = margin - input[rows, target][:, None] + input
        active = z > 0
        active[rows, target] = False
        # the weight of each row's right class, divided by C
        row_weight = xp.full((n, 1), 1.0 / c, dtype=input.dtype)
        if weight is not None:
            row_weight = row_weight * weight[target][:, None]
        terms = xp.where(active, z if p == 1 else z * z, 0) * row_weight
        ctx.save_for_backward(target)
        ctx.input = input
        ctx.coef = active * row_weight  # (N, C), 0 off the hinge
        ctx.z = z
        ctx.p = p
        ctx.margin = margin
        ctx.reduction = reduction
        return _reduce_rows(terms.sum(axis=1).astype(input.dtype), reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # dl/dx[i] = w_y h_i / C, dl/dx[y] = -sum_i w_y h_i / C; h = 1 or 2 z_i
        (target,) = ctx.saved_tensors
        n = len(target)
        slope = ctx.coef if ctx.p == 1 else 2 * ctx.z * ctx.coef
        h = slope * _row_scale(grad_output, ctx.reduction, n)
        grad = h.astype(ctx.input.dtype, copy=False)
        grad[xp.arange(n), target] -= h.sum(axis=1).astype(grad.dtype)
        return grad, None

    @staticmethod
    def backward_graph(ctx, grad_output):
        (target,) = ctx.saved_tensors
        n = len(target)
        coef = _wrap(ctx.coef, None)
        h = coef * _row_scale(grad_output, ctx.reduction, n)
        if ctx.p == 2:
            # 2 z_i with z_i = margin - x[y] + x[i], a function of the input
            x = graph_input(ctx, 0, ctx.input)
            index = _wrap(target[:, None], None)
            h = h * (2 * (ctx.margin - x.gather(1, index) + x))
        right = _wrap(xp.arange(ctx.coef.shape[1]) == target[:, None], None)
        return h - right * h.sum(1, keepdim=True), None


class MultilabelMarginLoss(Op):
    _name = "MultilabelMarginLossBackward0"

    @staticmethod
    def forward(ctx, input, target, reduction):
        # input: (N, C); target: (N, C) right classes, ended by the first -1
        n, c = input.shape
        listed = xp.cumprod(target != -1, axis=1).astype(bool)  # (N, K)
        right = xp.where(listed, target, 0)
        # one_hot[n, k, i]: entry k of row n names class i
        one_hot = (right[:, :, None] == xp.arange(c)) & listed[:, :, None]
        is_right = one_hot.any(axis=1)  # (N, C)
        picked = xp.take_along_axis(input, right, axis=1)  # (N, K)
        z = 1 - picked[:, :, None] + input[:, None, :]  # (N, K, C)
        active = (z > 0) & listed[:, :, None] & ~is_right[:, None, :]
        losses = xp.where(active, z, 0).sum(axis=(1, 2)) / input.dtype.type(c)
        # d/dx[i] counts the active terms with i wrong, minus those with i right
        count = active.sum(axis=1) - xp.einsum(
            "nk,nkc->nc", active.sum(axis=2), one_hot
        )
        ctx.slope = (count / c).astype(input.dtype)
        ctx.reduction = reduction
        return _reduce_rows(losses.astype(input.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # dl/dx[i] = (#active terms where i is wrong - # where i is right) / C
        scale = _row_scale(grad_output, ctx.reduction, ctx.slope.shape[0])
        return (scale * ctx.slope).astype(ctx.slope.dtype, copy=False), None

    @staticmethod
    def backward_graph(ctx, grad_output):
        scale = _row_scale(grad_output, ctx.reduction, ctx.slope.shape[0])
        return scale * _wrap(ctx.slope, None), None


def _class_scores(input: Any, op: str) -> tuple[int, int]:
    """(N, C) of an input of shape (N, C), (C,) or ()."""
    if isinstance(input, Tensor) and input._data.dtype.kind in "biu":
        # PyTorch's kernels have no integer version either
        raise NotImplementedError(
            f"{op}: not implemented for `input` of dtype {input.dtype}; the "
            "scores must be a floating point tensor"
        )
    _float_input(input, op)
    shape = input._data.shape
    if input.ndim > 2 or (input.ndim >= 1 and shape[-1] == 0):
        raise RuntimeError(
            f"{op}: Expected non-empty vector or matrix with optional 0-dim batch "
            f"size, but got: `input` of shape {tuple(shape)}"
        )
    if input.ndim == 2:
        return shape[0], shape[1]
    return 1, shape[0] if input.ndim else 1


def _long_target(target: Any, op: str) -> Any:
    if not isinstance(target, Tensor):
        raise TypeError(f"{op}: `target` must be a Tensor, got {type(target).__name__}")
    if target._data.dtype != np.int64:
        raise RuntimeError(
            f"{op}: expected scalar type Long but found {target.dtype} for "
            "`target` (class indices must be int64)"
        )
    return target._data


def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The multi-class hinge loss of a linear SVM (Weston and Watkins).

    For a sample with scores ``x`` and right class ``y``, the loss is
    ``sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C``: every wrong class
    scoring within ``margin`` of the right one costs in proportion to how far
    inside the margin it is.

    Args:
        p: 1 (the hinge) or 2 (the squared hinge).
        margin: how far the right class must score above the others.
        weight: a weight for each class (C,), applied by the right class.

    Shape:
        input: (N, C) or (C,); target: (N,) int64 class indices, or () / (1,)
        for an unbatched input. The loss is (N,) for ``reduction='none'``.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
        >>> F.multi_margin_loss(x, torch.tensor([3]))
        tensor(0.3250)
    """
    op = "multi_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 supported, got p={p}")
    if weight is not None and weight.ndim != 1:
        raise ValueError(
            f"{op}: weight must be one-dimensional, got shape {tuple(weight.shape)}"
        )
    n, c = _class_scores(input, op)
    t = _long_target(target, op)
    if input.ndim == 2 and t.shape != (n,) or input.ndim < 2 and t.size != 1:
        raise RuntimeError(
            f"{op}: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{n}], but got "
            f"{list(t.shape)}. Input has shape {list(input.shape)}."
        )
    if t.size and (t.min() < 0 or t.max() >= c):
        raise RuntimeError(
            f"{op}: target out of range: class indices must be in [0, {c}), got "
            f"{int(t[(t < 0) | (t >= c)].flat[0])}"
        )
    w = None
    if weight is not None:
        if weight.requires_grad:
            raise RuntimeError(
                f"The function '{op}' is not differentiable with respect to "
                "argument 'weight'. This input cannot have requires_grad True."
            )
        if weight._data.dtype != input._data.dtype:
            raise RuntimeError(
                f"{op}: expected scalar type {input.dtype} but found "
                f"{weight.dtype} for `weight`"
            )
        if weight._data.shape != (c,):
            raise RuntimeError(
                f"{op}: inconsistent weight size, expected {c} but got "
                f"{list(weight.shape)}"
            )
        w = weight._data
    batched = input.ndim == 2
    scores = input if batched else reshape(input, 1, c)
    rows = _wrap(t.reshape(n), None)
    out = MultiMarginLoss.apply(
        scores, rows, p=p, margin=float(margin), weight=w, reduction=reduction
    )
    if reduction == "none" and not batched:
        out = reshape(out, t.shape)
    return out


def multilabel_margin_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The hinge loss of a multi-label classifier: each right class should
    score at least 1 above each wrong one.

    ``target`` lists each sample's right classes first, ended by -1 (entries
    after the first -1 are ignored): ``[3, 0, -1, 1]`` means classes 3 and 0.
    The loss of a sample is ``sum_{j right, i wrong} max(0, 1 - (x[j] - x[i]))
    / C``.

    Shape:
        input: (N, C) or (C,); target: int64 of the input's shape.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> x = torch.tensor([[0.1, 0.2, 0.4, 0.8]])
        >>> F.multilabel_margin_loss(x, torch.tensor([[3, 0, -1, 1]]))
        tensor(0.8500)
    """
    op = "multilabel_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    n, c = _class_scores(input, op)
    t = _long_target(target, op)
    if t.shape != input._data.shape:
        raise RuntimeError(
            f"{op}: inconsistent target size: {list(t.shape)} for input of size: "
            f"{list(input.shape)} (the target must have the input's shape)"
        )
    if t.size and (t.min() < -1 or t.max() >= c):
        raise RuntimeError(
            f"{op}: argument #2 'target' is out of range: entries must be class "
            f"indices in [0, {c}) or -1, got {int(t[(t < -1) | (t >= c)].flat[0])}"
        )
    batched = input.ndim == 2
    scores = input if batched else reshape(input, 1, c)
    out = MultilabelMarginLoss.apply(
        scores, _wrap(t.reshape(n, c), None), reduction=reduction
    )
    if reduction == "none" and not batched:
        out = reshape(out, ())
    return out


__all__ = ["multi_margin_loss", "multilabel_margin_loss"]
