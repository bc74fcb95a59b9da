"""Losses over pairs and triplets of embeddings, and the multi-label logistic.

PyTorch builds ``cosine_embedding_loss``, ``triplet_margin_loss``,
``triplet_margin_with_distance_loss`` and ``multilabel_soft_margin_loss`` out
of ordinary tensor operations, and so do we, in the same order: their values,
their subgradients at the hinge (``clamp_min`` passes the gradient where the
hinge is exactly 0; ``minimum`` splits it between ties) and their double
backward then follow from those operations' rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..tensor import Tensor
from . import elementwise as E
from .activation import logsigmoid
from .binary import minimum
from .loss import _check_reduction, legacy_reduction
from .loss_margin import _broadcast, _broadcast_shapes, _float_input
from .normalization import pairwise_distance
from .reduction import mean, sum

# PyTorch's floor on the squared norms in cosine_embedding_loss
_EPSILON = 1e-12


def _reduced(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(losses)
    if reduction == "sum":
        return sum(losses)
    return losses


def cosine_embedding_loss(
    input1: Tensor,
    input2: Tensor,
    target: Tensor,
    margin: float = 0.0,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``1 - cos(x1, x2)`` where the target is 1, ``max(0, cos(x1, x2) -
    margin)`` where it is -1 (a target of any other value costs 0).

    Shape:
        input1, input2: (N, D) with target (N,), or (D,) with target ().

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]])
        >>> F.cosine_embedding_loss(a, b, torch.tensor([1.0]))
        tensor(0.2929)
    """
    op = "cosine_embedding_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    for name, value in (("input1", input1), ("input2", input2), ("target", target)):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{op}: `{name}` must be a Tensor, got {type(value).__name__}"
            )
    sizes = f"{list(input1.shape)} and {list(input2.shape)}"
    if target.ndim > 1:
        raise RuntimeError(
            f"{op}: 0D or 1D target tensor expected, multi-target not supported "
            f"(got `target` of shape {tuple(target.shape)})"
        )
    if target.ndim == 1 and not input1.ndim == input2.ndim == 2:
        raise RuntimeError(
            f"{op}: 1D target tensor expects 2D input tensors, but found inputs "
            f"with sizes {sizes}."
        )
    if target.ndim == 0 and not input1.ndim == input2.ndim == 1:
        raise RuntimeError(
            f"{op}: 0D target tensor expects 1D input tensors, but found inputs "
            f"with sizes {sizes}."
        )
    dim = target.ndim
    # the cosines are (N,) or (): they must broadcast with the target too
    pair = _broadcast(op, input1=input1, input2=input2)
    _broadcast_shapes(op, cosines=pair[:-1], target=tuple(target.shape))
    prod_sum = sum(E.mul(input1, input2), dim)
    mag_square1 = E.add(sum(E.mul(input1, input1), dim), _EPSILON)
    mag_square2 = E.add(sum(E.mul(input2, input2), dim), _EPSILON)
    cos = E.div(prod_sum, E.sqrt(E.mul(mag_square1, mag_square2)))
    pos = E.sub(1.0, cos)
    neg = E.clamp(E.sub(cos, margin), min=0)
    losses = E.add(
        E.where(E.eq(target, 1), pos, 0.0), E.where(E.eq(target, -1), neg, 0.0)
    )
    return _reduced(losses, reduction)


def _same_ndim(op: str, anchor: Tensor, positive: Tensor, negative: Tensor) -> None:
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(
            f"{op}: The anchor, positive, and negative tensors are expected to "
            f"have the same number of dimensions, but got: anchor {anchor.ndim}D, "
            f"positive {positive.ndim}D, and negative {negative.ndim}D inputs"
        )


def _numeric_input(input: Any, op: str, name: str) -> None:
    # integer embeddings are fine (the distance is floating point); bool are not,
    # as PyTorch cannot subtract them
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: `{name}` must be a Tensor, got {type(input).__name__}")
    if input._data.dtype.kind not in "iuf":
        raise RuntimeError(
            f"{op}: expected `{name}` to be a floating point or integer tensor, "
            f"got {input.dtype.name}"
        )


def _check_distances(
    op: str, anchor: Tensor, positive: Tensor, negative: Tensor, swap: bool
) -> None:
    """The p-norm distances' operands broadcast pairwise, and the distances
    (each without the last, reduced, dim) broadcast together."""
    pos = _broadcast(op, anchor=anchor, positive=positive)
    neg = _broadcast(op, anchor=anchor, negative=negative)
    dists = {"anchor-positive distances": pos[:-1]}
    dists["anchor-negative distances"] = neg[:-1]
    if swap:
        dists["positive-negative distances"] = _broadcast(
            op, positive=positive, negative=negative
        )[:-1]
    _broadcast_shapes(op, **dists)


def _check_margin(op: str, margin: float) -> None:
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """``max(0, d(a, p) - d(a, n) + margin)`` with ``d`` the p-norm distance
    ``||x1 - x2 + eps||_p``: the anchor should be nearer the positive than the
    negative by at least ``margin``.

    Args:
        swap: use ``min(d(a, n), d(p, n))`` as the negative distance (the
            distance swap of Balntas et al.).

    Shape:
        anchor, positive, negative: (N, D) or (D,), broadcastable.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> a, p, n = torch.tensor([0.0, 0.0]), torch.tensor([0.0, 1.0]), torch.zeros(2)
        >>> F.triplet_margin_loss(a, p, n, eps=0.0)
        tensor(2.)
    """
    op = "triplet_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _check_margin(op, margin)
    for name, t in (("anchor", anchor), ("positive", positive), ("negative", negative)):
        _numeric_input(t, op, name)
    _same_ndim(op, anchor, positive, negative)
    _check_distances(op, anchor, positive, negative, swap)
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = minimum(dist_neg, pairwise_distance(positive, negative, p, eps))
    losses = E.clamp(E.sub(E.add(dist_pos, margin), dist_neg), min=0)
    return _reduced(losses, reduction)


def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """``triplet_margin_loss`` with any distance function (default
    ``pairwise_distance``), e.g. ``1 - cosine_similarity``.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> a, p, n = torch.tensor([[0.0, 0.0]]), torch.ones(1, 2), torch.zeros(1, 2)
        >>> F.triplet_margin_with_distance_loss(
        ...     a, p, n, distance_function=lambda x, y: (x - y).abs().sum(-1)
        ... )
        tensor(3.)
    """
    op = "triplet_margin_with_distance_loss"
    _check_reduction(reduction, op)
    _check_margin(op, margin)
    _same_ndim(op, anchor, positive, negative)
    if distance_function is None:
        _check_distances(op, anchor, positive, negative, swap)
    distance = pairwise_distance if distance_function is None else distance_function
    dist_pos = distance(anchor, positive)
    dist_neg = distance(anchor, negative)
    if swap:
        dist_neg = minimum(dist_neg, distance(positive, negative))
    losses = E.clamp(E.sub(E.add(dist_pos, margin), dist_neg), min=0)
    return _reduced(losses, reduction)


def multilabel_soft_margin_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """The mean over classes of the logistic loss of each class's score:
    ``-(y log sigmoid(x) + (1 - y) log sigmoid(-x))``, times ``weight``.

    Shape:
        input: (N, C) or (C,); target: 0 / 1 labels of the input's shape;
        weight: broadcastable to the input (usually (C,)). The loss is (N,)
        for ``reduction='none'``.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.multilabel_soft_margin_loss(torch.zeros(1, 3), torch.ones(1, 3))
        tensor(0.6931)
    """
    op = "multilabel_soft_margin_loss"
    reduction = legacy_reduction(size_average, reduce, reduction)
    _check_reduction(reduction, op)
    _float_input(input, op)
    given = {"input": input, "target": target}
    if weight is not None:
        given["weight"] = weight
    _broadcast(op, **given)
    # -(y log sigmoid(x) + (1 - y) log sigmoid(-x))
    positive = E.mul(target, logsigmoid(input))
    negative = E.mul(E.sub(1, target), logsigmoid(E.neg(input)))
    losses = E.neg(E.add(positive, negative))
    if weight is not None:
        losses = E.mul(losses, weight)
    class_dim = input.ndim - 1
    losses = E.div(sum(losses, class_dim), input.shape[class_dim])
    return _reduced(losses, reduction)


__all__ = [
    "cosine_embedding_loss",
    "multilabel_soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]
