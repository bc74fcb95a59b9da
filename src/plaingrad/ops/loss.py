"""Loss ops whose gradient is simpler fused than composed: mse and nll.

``cross_entropy`` is ``nll_loss(log_softmax(x))``, as in PyTorch (its grad_fn is
NllLossBackward0), which stays finite for logits of any size.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ..autograd.engine import graph_input
from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap
from ..warnings import PlaingradWarning
from ._util import binary_operands, unbroadcast
from .elementwise import where

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction: str, op: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"{op}: `reduction` must be 'mean', 'sum' or 'none', got {reduction!r}"
        )


def legacy_reduction(
    size_average: Any, reduce: Any, reduction: str, stacklevel: int = 3
) -> str:
    """The reduction that PyTorch's deprecated ``size_average`` and ``reduce``
    arguments stand for, or ``reduction`` when both are None.

    Either one given overrides ``reduction``, as in PyTorch: a false ``reduce``
    is 'none'; otherwise a false ``size_average`` is 'sum' and anything else
    'mean' (None counts as true). PyTorch's own deprecation ``UserWarning`` is
    issued (not a ``PlaingradWarning``: the use is legal, only outdated).
    """
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        legacy = "none"
    elif size_average:
        legacy = "mean"
    else:
        legacy = "sum"
    warnings.warn(
        "size_average and reduce args will be deprecated, please use "
        f"reduction='{legacy}' instead.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return legacy


class MseLoss(Op):
    _name = "MseLossBackward0"

    @staticmethod
    def forward(ctx, input, target, reduction):
        diff = input - target
        ctx.save_for_backward(diff)
        # for the Tensor-level rule (diff is a constant there)
        ctx.operands = (input, target)
        ctx.shapes = (input.shape, target.shape)
        ctx.reduction = reduction
        squared = diff * diff
        if reduction == "none":
            return squared
        total = xp.add.reduce(squared, axis=None)
        if reduction == "mean":
            total = total / diff.size
        return xp.asarray(total)

    @staticmethod
    def backward(ctx, grad_output):
        # d(mean (x - y)^2)/dx = 2 (x - y) / n; d/dy is its negative
        (diff,) = ctx.saved_tensors
        # (an empty input has an empty gradient: any scale will do)
        scale = 2.0 / max(diff.size, 1) if ctx.reduction == "mean" else 2.0
        grad = (grad_output * scale) * diff
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
        scale = 2.0 / max(diff.numel(), 1) if ctx.reduction == "mean" else 2.0
        grad = (grad_output * scale) * diff
        shape_in, shape_target = ctx.shapes
        grad_in = grad_target = None
        if ctx._next[0] is not None:
            grad_in = grad.sum_to_size(shape_in)
        if ctx._next[1] is not None:
            grad_target = (-grad).sum_to_size(shape_target)
        return grad_in, grad_target


class NllLoss(Op):
    _name = "NllLossBackward0"

    @staticmethod
    def forward(ctx, log_probs, target, weight, ignore_index, reduction):
        # log_probs: (N, C, *), target: (N, *) class indices
        valid = target != ignore_index
        safe = xp.where(valid, target, 0)
        if log_probs.ndim == 2:
            # (N, C): plain fancy indexing, far cheaper than take_along_axis
            picked = log_probs[xp.arange(len(safe)), safe]
        else:
            picked = xp.take_along_axis(log_probs, safe[:, None], axis=1)[:, 0]
        w = valid.astype(log_probs.dtype)
        if weight is not None:
            w = w * weight[safe]
        losses = -picked * w
        ctx.save_for_backward(safe, w)
        ctx.shape = log_probs.shape
        ctx.reduction = reduction
        if reduction == "none":
            return losses
        total = losses.sum()
        if reduction == "sum":
            return xp.asarray(total)
        denominator = w.sum()
        ctx.denominator = denominator
        # every target ignored: 0 / 0 = NaN, as in PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            return xp.asarray(total / denominator)

    @staticmethod
    def backward(ctx, grad_output):
        # d(-w_n log p[n, t_n]) / d log p[n, c] = -w_n if c == t_n else 0
        safe, w = ctx.saved_tensors
        if ctx.reduction == "none":
            scale = grad_output * w
        elif ctx.reduction == "sum":
            scale = grad_output * w
        elif ctx.denominator:
            scale = (grad_output / ctx.denominator) * w
        else:
            # every target ignored: the loss is 0 / 0, but as in PyTorch no
            # gradient (not NaN) reaches the input
            scale = xp.zeros_like(w)
        grad = xp.zeros(ctx.shape, dtype=w.dtype)
        if grad.ndim == 2:
            grad[xp.arange(len(safe)), safe] = -scale
        else:
            xp.put_along_axis(grad, safe[:, None], -scale[:, None], axis=1)
        return grad, None

    @staticmethod
    def backward_graph(ctx, grad_output):
        # linear in grad_output, and independent of log_probs
        safe, w = ctx.saved_tensors
        if ctx.reduction == "mean":
            # every target ignored (denominator 0): zero, as in backward
            d = ctx.denominator
            grad_output = grad_output / d if d else grad_output * 0.0
        scale = grad_output * _wrap(w, None)
        picked = xp.zeros(ctx.shape, dtype=bool)
        xp.put_along_axis(picked, safe[:, None], True, axis=1)
        return where(_wrap(picked, None), -scale.unsqueeze(1), 0), None


def mse_loss(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Mean squared error ``mean((input - target)^2)``.

    Warns (as PyTorch does) when the target's shape differs from the input's,
    since the broadcast that follows is almost always a bug.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "mse_loss")
    input, target = regression_operands(input, target, "mse_loss")
    return MseLoss.apply(input, target, reduction=reduction)


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of class indices, given log-probabilities.

    Shape:
        input: (N, C) or (N, C, d1, ...) or (C,); target: (N,) or (N, d1, ...)
        or () with class indices in [0, C).
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    x = input._data
    if x.dtype.kind != "f":
        raise RuntimeError(
            f"nll_loss: expected `input` to be a floating point tensor of "
            f"log-probabilities, got {input.dtype.name}"
        )
    _check_class_targets("nll_loss", input, target, weight)
    t = target._data
    unbatched = x.ndim == 1
    if unbatched:
        x_shape_ok = t.ndim == 0
    else:
        x_shape_ok = t.shape == x.shape[:1] + x.shape[2:]
    if not x_shape_ok:
        raise ValueError(
            f"nll_loss: expected `target` of shape "
            f"{tuple(x.shape[:1] + x.shape[2:]) if not unbatched else ()} for "
            f"`input` of shape {tuple(x.shape)}, got {tuple(t.shape)}"
        )
    n_classes = x.shape[0] if unbatched else x.shape[1]
    valid = t[t != ignore_index]
    if valid.size and (valid.min() < 0 or valid.max() >= n_classes):
        bad = valid[(valid < 0) | (valid >= n_classes)][0]
        raise IndexError(
            f"nll_loss: Target {int(bad)} is out of bounds: `target` must hold "
            f"class indices in [0, {n_classes}) (input has {n_classes} classes)"
        )
    if unbatched:
        input = input.unsqueeze(0)
        target = target.unsqueeze(0)
    w = None
    if weight is not None:
        w = weight._data
        if w.shape != (n_classes,):
            raise RuntimeError(
                f"nll_loss: `weight` must have shape ({n_classes},), got "
                f"{tuple(w.shape)}"
            )
    out = NllLoss.apply(
        input,
        target,
        weight=w,
        ignore_index=ignore_index,
        reduction=reduction,
    )
    if unbatched and reduction == "none":
        out = out.squeeze(0)
    return out


# PyTorch's names of scalar types, which its dtype errors print
_SCALAR_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "float16": "Half",
    "bfloat16": "BFloat16",
    "float32": "Float",
    "float64": "Double",
}


def _scalar_name(array: Any) -> str:
    return _SCALAR_NAMES.get(array.dtype.name, array.dtype.name)


def _check_class_targets(
    op: str, input: Tensor, target: Any, weight: Tensor | None
) -> None:
    """PyTorch's dtype rules for class-index targets: int64, or uint8 when
    the input has no dims past the class dim; ``weight`` of the input's dtype."""
    if not isinstance(target, Tensor):
        raise RuntimeError(
            f"{op}: expected `target` to be a Tensor of class indices (int64), "
            f"got {type(target).__name__}"
        )
    t = target._data
    if t.dtype.name not in ("int64", "uint8"):
        hint = "class indices must be an int64 tensor: use target.long()"
        if t.dtype.kind == "f":
            hint += (
                "; for class probabilities use a float target of the input's "
                "shape with cross_entropy"
            )
        raise RuntimeError(
            f"{op}: expected target dtype to be Long or Byte, but got "
            f"{_scalar_name(t)} ({hint})"
        )
    if t.dtype.name == "uint8" and input._data.ndim > 2:
        raise RuntimeError(
            f"{op}: expected scalar type Long but found Byte (a uint8 `target` "
            f"works only for (N, C) or (C,) inputs; `input` has shape "
            f"{tuple(input.shape)}: use target.long())"
        )
    if isinstance(weight, Tensor) and weight._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"{op}: expected scalar type {_scalar_name(input._data)} but found "
            f"{_scalar_name(weight._data)} (`weight` is {weight._data.dtype.name} "
            f"but `input` is {input._data.dtype.name}; use weight.to(input.dtype))"
        )


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy of logits against class indices: ``nll(log_softmax(x))``,
    or against class probabilities (a float ``target`` of the input's shape).

    Args:
        weight: per-class weights (C,); with class indices the mean divides by
            the kept targets' total weight, with probabilities by the number of
            samples.
        ignore_index: class-index targets equal to it contribute nothing.
        label_smoothing: a in [0, 1]: the target becomes ``(1 - a)`` of itself
            plus ``a / C`` spread over every class.

    Shape:
        input: (N, C) or (N, C, d1, ...) or (C,); target: class indices of
        shape (N,) or (N, d1, ...) or (), or probabilities of the input's shape.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.cross_entropy(torch.tensor([[1e8, 1e8]]), torch.tensor([1]))
        tensor(0.6931)
    """
    from .reduction import log_softmax

    reduction = legacy_reduction(size_average, reduce, reduction)
    if not isinstance(input, Tensor) or input._data.dtype.kind != "f":
        got = input.dtype.name if isinstance(input, Tensor) else type(input).__name__
        raise RuntimeError(
            f"cross_entropy: expected `input` to be a floating point tensor of "
            f"logits, got {got} (write 1000. rather than 1000 for float values)"
        )
    if label_smoothing > 1.0:
        raise RuntimeError(
            "cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: "
            f"{label_smoothing}"
        )
    class_dim = 0 if input._data.ndim == 1 else 1
    if isinstance(target, Tensor) and target._data.shape == input._data.shape:
        # the same shape as the input: class probabilities, as in PyTorch
        _check_reduction(reduction, "cross_entropy")
        return _cross_entropy_probabilities(
            input, target, weight, ignore_index, reduction, label_smoothing
        )
    if isinstance(target, Tensor) and target._data.dtype.kind == "f":
        raise RuntimeError(
            "cross_entropy: expected target dtype to be Long or Byte, but got "
            f"{_scalar_name(target._data)} (a floating point `target` holds class "
            f"probabilities and must have the input's shape {tuple(input.shape)}, "
            f"got {tuple(target.shape)}; class indices must be an int64 tensor)"
        )
    _check_class_targets("cross_entropy", input, target, weight)
    log_probs = log_softmax(input, class_dim)
    nll = nll_loss(
        log_probs, target, weight, ignore_index=ignore_index, reduction=reduction
    )
    if label_smoothing <= 0.0:
        return nll
    return _smoothed(
        log_probs, target, weight, ignore_index, reduction, nll, label_smoothing
    )


def _class_weight(weight: Tensor | None, log_probs: Tensor) -> Tensor | None:
    """``weight`` shaped (1, C, 1, ...) to broadcast against ``log_probs``."""
    if weight is None:
        return None
    n_classes = log_probs.shape[0 if log_probs.ndim == 1 else 1]
    if tuple(weight.shape) != (n_classes,):
        raise RuntimeError(
            f"cross_entropy: weight tensor should be defined either for all "
            f"{n_classes} classes or no classes but got weight tensor of shape: "
            f"{list(weight.shape)}"
        )
    if log_probs.ndim <= 1:
        return weight
    return weight.reshape((1, n_classes) + (1,) * (log_probs.ndim - 2))


def _smoothed(
    log_probs: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    nll: Tensor,
    amount: float,
) -> Tensor:
    """PyTorch's label smoothing of class-index targets: ``(1 - a) nll + a/C
    smooth``, where ``smooth`` is minus the (weighted) sum of the log-probabilities
    over the classes, zero at ignored targets, and its mean divides by the
    weight of the targets kept (as ``nll``'s does)."""
    class_dim = 0 if log_probs.ndim == 1 else 1
    n_classes = log_probs.shape[class_dim]
    w = _class_weight(weight, log_probs)
    smooth = -(log_probs if w is None else log_probs * w).sum(class_dim)
    t = target._data
    ignored = t == ignore_index
    smooth = where(_wrap(ignored, None), 0.0, smooth)
    if reduction == "sum":
        smooth = smooth.sum()
    elif reduction == "mean":
        kept = t[~ignored]
        denominator = kept.size if weight is None else weight._data[kept].sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = smooth.sum() / float(denominator)
    return nll * (1.0 - amount) + smooth * (amount / n_classes)


def _cross_entropy_probabilities(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    amount: float,
) -> Tensor:
    """``-sum_c w_c p_c log_softmax(x)_c``; the mean divides by the number of
    samples (N * d1 * ...), whatever the weights, as in PyTorch."""
    from .reduction import log_softmax

    if target._data.dtype.kind != "f":
        raise RuntimeError(
            "cross_entropy: Expected floating point type for target with class "
            f"probabilities, got {target.dtype.name} (a `target` of the input's "
            f"shape {tuple(input.shape)} holds class probabilities)"
        )
    if ignore_index >= 0:
        raise RuntimeError(
            "cross_entropy: ignore_index is not supported for floating point "
            f"target (got ignore_index={ignore_index})"
        )
    class_dim = 0 if input._data.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    log_probs = log_softmax(input, class_dim)
    w = _class_weight(weight, log_probs)
    if amount > 0.0:
        target = target * (1.0 - amount) + amount / n_classes
    product = log_probs * target
    if w is not None:
        product = product * w
    if reduction == "none":
        return -product.sum(class_dim)
    total = -product.sum()
    if reduction == "sum":
        return total
    # 0 / 0 for an empty batch: NaN, as in PyTorch
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / float(input._data.size // max(n_classes, 1) or 0.0)


def regression_operands(input: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    """Check a regression loss's operands: Tensors, a warning (as PyTorch)
    when the target's shape differs from the input's, a clear error when they
    do not broadcast, one dtype for both."""
    if not isinstance(target, Tensor) or not isinstance(input, Tensor):
        raise TypeError(
            f"{op}: expected Tensors, got {type(input).__name__} and "
            f"{type(target).__name__}"
        )
    if input._data.shape != target._data.shape:
        warnings.warn(
            f"{op}: Using a target size ({tuple(target.shape)}) that is "
            f"different to the input size ({tuple(input.shape)}). This will "
            "likely lead to incorrect results due to broadcasting. Please ensure "
            "they have the same size.",
            PlaingradWarning,
            stacklevel=3,
        )
        try:
            np.broadcast_shapes(input._data.shape, target._data.shape)
        except ValueError:
            raise RuntimeError(
                f"{op}: The size of `input` {tuple(input.shape)} and of "
                f"`target` {tuple(target.shape)} cannot be broadcast together"
            ) from None
    if target._data.dtype != input._data.dtype:
        input, target = binary_operands(input, target, op)
    return input, target
