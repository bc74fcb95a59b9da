"""Binary cross-entropy losses: on probabilities and on logits.

``binary_cross_entropy`` clamps each log term at -100, as PyTorch does, so a
probability of exactly 0 or 1 gives a finite loss. ``..._with_logits`` never
forms a probability: it uses ``softplus(-x) = max(-x, 0) + log1p(exp(-|x|))``,
finite for logits of any size. ``weight`` and ``pos_weight`` are constants (as
in PyTorch, they get no gradient) broadcast against the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.engine import graph_input
from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap
from ._util import binary_operands
from .activation import _sigmoid, _softplus, softplus
from .elementwise import clamp, log, sigmoid
from .loss import _check_reduction, legacy_reduction
from .loss_regression import _reduce, _scale

# PyTorch's floor on x (1 - x) in the gradient: 1e-12 as a C float, in every dtype
_EPSILON = float(np.float32(1e-12))


class BinaryCrossEntropy(Op):
    _name = "BinaryCrossEntropyBackward0"

    @staticmethod
    def forward(ctx, input, target, weight, reduction):
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(input), -100)
            log_1mx = xp.maximum(xp.log1p(-input), -100)
        losses = -(target * log_x + (1 - target) * log_1mx)
        if weight is not None:
            losses = losses * weight
        ctx.save_for_backward(input, target)
        ctx.weight = weight
        ctx.reduction = reduction
        return _reduce(losses.astype(input.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # dl/dx = w (x - y) / max(x (1 - x), eps); dl/dy = -w logit(x)
        input, target = ctx.saved_tensors
        scale = grad_output * _scale(ctx.reduction, input.size)
        if ctx.weight is not None:
            scale = scale * ctx.weight
        grad_in = grad_target = None
        if ctx._next[0] is not None:
            floor = xp.maximum(input * (1 - input), _EPSILON)
            grad_in = (scale * (input - target) / floor).astype(input.dtype)
        if ctx._next[1] is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                logit = xp.log(input) - xp.log1p(-input)
            grad_target = (-scale * logit).astype(input.dtype)
        return grad_in, grad_target

    @staticmethod
    def backward_graph(ctx, grad_output):
        input, target = ctx.saved_graph_tensors
        scale = grad_output * _scale(ctx.reduction, input.numel())
        if ctx.weight is not None:
            scale = scale * _wrap(ctx.weight, None)
        grad_in = grad_target = None
        if ctx._next[0] is not None:
            floor = clamp(input * (1 - input), min=_EPSILON)
            grad_in = scale * (input - target) / floor
        if ctx._next[1] is not None:
            grad_target = -scale * (log(input) - log(1 - input))
        return grad_in, grad_target


class BinaryCrossEntropyWithLogits(Op):
    _name = "BinaryCrossEntropyWithLogitsBackward0"

    @staticmethod
    def forward(ctx, input, target, weight, pos_weight, reduction):
        # (1 - y) x + lw softplus(-x), lw = 1 + (pos_weight - 1) y
        soft = _softplus(-input)
        if pos_weight is None:
            losses = (1 - target) * input + soft
        else:
            losses = (1 - target) * input + (1 + (pos_weight - 1) * target) * soft
        if weight is not None:
            losses = losses * weight
        ctx.operands = (input, target)
        ctx.weight = weight
        ctx.pos_weight = pos_weight
        ctx.reduction = reduction
        return _reduce(losses.astype(input.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, grad_output):
        # dl/dx = lw sigmoid(x) - pos_weight y; dl/dy = (pw - 1) softplus(-x) - x
        input, target = ctx.operands
        pw = ctx.pos_weight
        scale = grad_output * _scale(ctx.reduction, input.size)
        if ctx.weight is not None:
            scale = scale * ctx.weight
        grad_in = grad_target = None
        if ctx._next[0] is not None:
            s = _sigmoid(input)
            if pw is None:
                slope = s - target
            else:
                slope = (1 + (pw - 1) * target) * s - pw * target
            grad_in = (scale * slope).astype(input.dtype, copy=False)
        if ctx._next[1] is not None:
            if pw is None:
                slope = -input
            else:
                slope = (pw - 1) * _softplus(-input) - input
            grad_target = (scale * slope).astype(input.dtype, copy=False)
        return grad_in, grad_target

    @staticmethod
    def backward_graph(ctx, grad_output):
        input = graph_input(ctx, 0, ctx.operands[0])
        target = graph_input(ctx, 1, ctx.operands[1])
        pw = None if ctx.pos_weight is None else _wrap(ctx.pos_weight, None)
        scale = grad_output * _scale(ctx.reduction, input.numel())
        if ctx.weight is not None:
            scale = scale * _wrap(ctx.weight, None)
        grad_in = grad_target = None
        if ctx._next[0] is not None:
            s = sigmoid(input)
            if pw is None:
                slope = s - target
            else:
                slope = (1 + (pw - 1) * target) * s - pw * target
            grad_in = scale * slope
        if ctx._next[1] is not None:
            if pw is None:
                slope = -input
            else:
                slope = (pw - 1) * softplus(-input) - input
            grad_target = scale * slope
        return grad_in, grad_target


def _constant(value: Any, name: str, op: str, like: Tensor) -> Any:
    if value is None:
        return None
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{op}: `{name}` must be a Tensor or None, got {type(value).__name__}"
        )
    if value.requires_grad:
        raise RuntimeError(
            f"The function '{op}' is not differentiable with respect to argument "
            f"'{name}'. This input cannot have requires_grad True."
        )
    return value._data.astype(like._data.dtype, copy=False)


def _operands(input: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    if not isinstance(target, Tensor) or not isinstance(input, Tensor):
        raise TypeError(
            f"{op}: expected Tensors, got {type(input).__name__} and "
            f"{type(target).__name__}"
        )
    if input._data.dtype.kind != "f":
        raise RuntimeError(
            f"{op}: expected `input` to be a floating point tensor, got "
            f"{input.dtype.name}"
        )
    if target._data.dtype != input._data.dtype:
        input, target = binary_operands(input, target, op)
    return input, target


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``-w (y log x + (1 - y) log(1 - x))`` of probabilities ``x`` in [0, 1].

    Shape:
        input and target: the same shape; weight: broadcastable to it.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.binary_cross_entropy(torch.tensor([0.0, 1.0]), torch.tensor([1.0, 0.0]))
        tensor(100.)
    """
    op = "binary_cross_entropy"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if isinstance(input, Tensor) and isinstance(target, Tensor):
        if input._data.shape != target._data.shape:
            raise ValueError(
                f"{op}: Using a target size ({tuple(target.shape)}) that is "
                f"different to the input size ({tuple(input.shape)}) is "
                "deprecated. Please ensure they have the same size."
            )
    input, target = _operands(input, target, op)
    x = input._data
    if x.size and not ((x >= 0) & (x <= 1)).all():
        raise RuntimeError(
            f"{op}: all elements of input should be between 0 and 1 (got values "
            f"in [{float(x.min())}, {float(x.max())}]; for logits use "
            "binary_cross_entropy_with_logits)"
        )
    w = _constant(weight, "weight", op, input)
    if w is not None:
        w = xp.broadcast_to(w, x.shape)
    return BinaryCrossEntropy.apply(input, target, weight=w, reduction=reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """``binary_cross_entropy(sigmoid(input), target)``, computed stably.

    Args:
        weight: a rescaling weight broadcast against the input.
        pos_weight: weight of the positive term, broadcast against the input
            (usually one per class, of shape (C,)).

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.binary_cross_entropy_with_logits(
        ...     torch.tensor([100.0, -100.0]), torch.tensor([0.0, 1.0])
        ... )
        tensor(100.)
    """
    op = "binary_cross_entropy_with_logits"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    if isinstance(input, Tensor) and isinstance(target, Tensor):
        if input._data.shape != target._data.shape:
            raise ValueError(
                f"{op}: Target size ({tuple(target.shape)}) must be the same as "
                f"input size ({tuple(input.shape)})"
            )
    input, target = _operands(input, target, op)
    shape = input._data.shape
    w = _constant(weight, "weight", op, input)
    pw = _constant(pos_weight, "pos_weight", op, input)
    if w is not None:
        w = xp.broadcast_to(w, shape)
    if pw is not None:
        pw = xp.broadcast_to(pw, shape)
    return BinaryCrossEntropyWithLogits.apply(
        input, target, weight=w, pos_weight=pw, reduction=reduction
    )
