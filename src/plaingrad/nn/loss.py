"""Loss modules: ``MSELoss`` and ``CrossEntropyLoss``, over ``functional``."""

from __future__ import annotations

from typing import Any

from ..ops import loss as _loss
from ..tensor import Tensor
from .module import Module


class _Loss(Module):
    def __init__(
        self, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        # the deprecated size_average / reduce, when given, choose the reduction
        reduction = _loss.legacy_reduction(size_average, reduce, reduction)
        _loss._check_reduction(reduction, type(self).__name__)
        self.reduction = reduction


class MSELoss(_Loss):
    """Mean squared error: ``mean((input - target)^2)``.

    Shape:
        input and target: the same shape (a different target shape warns).
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _loss.mse_loss(input, target, reduction=self.reduction)


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices given log-probabilities."""

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _loss.nll_loss(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )


class CrossEntropyLoss(NLLLoss):
    """Cross-entropy of logits against class indices or class probabilities.

    Args:
        weight: per-class weights (C,); with class indices the mean divides by
            the targets' total weight, with probabilities by the sample count.
        ignore_index: class-index targets equal to it contribute nothing
            (default -100).
        reduction: 'mean' (default), 'sum' or 'none'.
        label_smoothing: a in [0, 1]: ``(1 - a)`` of the target plus ``a / C``
            on every class.

    Shape:
        input: (N, C), (N, C, d1, ...) or (C,) logits; target: int64 class
        indices (N,), (N, d1, ...) or (), or probabilities of the input's shape.
    """

    def __init__(
        self,
        weight: Tensor | None = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, ignore_index, reduce, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _loss.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )
