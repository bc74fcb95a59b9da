"""Probabilistic loss modules: KL divergence, Poisson and Gaussian negative
log-likelihoods and CTC, over their ``functional`` forms."""

from __future__ import annotations

from typing import Any

from ..ops import loss as _loss
from ..ops import loss_ctc as _ctc
from ..ops import loss_prob as _prob
from ..tensor import Tensor
from .loss import _Loss
from .module import Module


class KLDivLoss(Module):
    """Kullback-Leibler divergence of ``target`` from the log-probabilities
    ``input``: ``target (log target - input)`` pointwise.

    Args:
        reduction: 'mean' (default; warns, as in PyTorch), 'batchmean' (the
            true KL divergence: the sum over the batch size), 'sum' or 'none'.
        log_target: ``target`` is given as log-probabilities.

    Example:
        >>> import plaingrad as torch
        >>> loss = torch.nn.KLDivLoss(reduction="batchmean")
        >>> loss(torch.tensor([[0.5, 0.5]]).log(), torch.tensor([[0.5, 0.5]]))
        tensor(0.)
    """

    def __init__(
        self,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        super().__init__()
        if reduction not in ("mean", "batchmean", "sum", "none"):
            raise ValueError(
                f"KLDivLoss: {reduction} is not a valid value for reduction "
                "(expected 'mean', 'batchmean', 'sum' or 'none')"
            )
        # the deprecated size_average / reduce, when given, choose the reduction
        self.reduction = _loss.legacy_reduction(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return _prob.kl_div(
            input, target, reduction=self.reduction, log_target=self.log_target
        )


class PoissonNLLLoss(_Loss):
    """Negative log-likelihood of ``target`` under a Poisson of rate ``input``
    (``exp(input)`` when ``log_input``), with the Stirling term when ``full``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.PoissonNLLLoss()(torch.tensor([0.0]), torch.tensor([2.0]))
        tensor(1.)
    """

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: Any = None,
        eps: float = 1e-8,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return _prob.poisson_nll_loss(
            log_input,
            target,
            log_input=self.log_input,
            full=self.full,
            eps=self.eps,
            reduction=self.reduction,
        )


class GaussianNLLLoss(_Loss):
    """Negative log-likelihood of ``target`` under a Gaussian of mean ``input``
    and variance ``var``: ``(log var + (input - target)^2 / var) / 2``.

    Shape:
        input: (N, *) or (*); target: as input or broadcasting to it; var: as
        input, as input less its last dim, or with one dim of size 1.

    Example:
        >>> import plaingrad as torch
        >>> loss = torch.nn.GaussianNLLLoss()
        >>> loss(torch.tensor([1.0]), torch.tensor([3.0]), torch.tensor([4.0]))
        tensor(1.1931)
    """

    def __init__(
        self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction=reduction)
        self.full = full
        self.eps = eps

    def forward(self, input: Tensor, target: Tensor, var: Tensor | float) -> Tensor:
        return _prob.gaussian_nll_loss(
            input, target, var, full=self.full, eps=self.eps, reduction=self.reduction
        )


class CTCLoss(_Loss):
    """Connectionist temporal classification loss.

    Args:
        blank: the blank label (default 0).
        reduction: 'mean' (each loss over its target length, then the batch
            mean; default), 'sum' or 'none'.
        zero_infinity: replace infinite losses (no alignment) and their
            gradients by 0.

    Shape:
        log_probs: (T, N, C) or (T, C); targets: (N, S) padded or the targets
        concatenated; input_lengths and target_lengths: (N,).

    Example:
        >>> import plaingrad as torch
        >>> lp = torch.full((2, 1, 2), 0.5).log()
        >>> torch.nn.CTCLoss(reduction="sum")(lp, torch.tensor([[1]]), [2], [1])
        tensor(0.2877)
    """

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(
        self,
        log_probs: Tensor,
        targets: Tensor,
        input_lengths: Any,
        target_lengths: Any,
    ) -> Tensor:
        return _ctc.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            blank=self.blank,
            reduction=self.reduction,
            zero_infinity=self.zero_infinity,
        )
