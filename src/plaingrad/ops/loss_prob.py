"""Probabilistic losses: kl_div, poisson_nll_loss and gaussian_nll_loss.

Each is written as PyTorch defines it, a short composition of differentiable
ops (``exp``, ``log``, ``where``, products and a reduction), so values,
gradients and second derivatives follow from the ops' own rules and agree with
PyTorch's at the edges too. The one op of its own is ``t log t`` (PyTorch's
``xlogy(t, t)``), whose derivative is written as PyTorch's so that NaNs land
where they do in PyTorch: a zero target in ``kl_div`` contributes
``0 log 0 = 0`` and a NaN gradient to that target (``0 / 0``), and a
Poisson target of at most 1 gets no Stirling term, and a Gaussian variance is
clamped to ``eps`` *without* the clamp's gradient (PyTorch clamps under
``no_grad``), so the variance's gradient is the unclamped formula evaluated at
the clamped value.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..autograd.engine import graph_input
from ..autograd.node import Op
from ..tensor import Tensor, _wrap
from ..warnings import PlaingradWarning
from .elementwise import where
from .loss import legacy_reduction
from .loss_margin import _broadcast


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        # an empty mean is NaN, as in PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_tensors(op: str, **tensors: Any) -> None:
    for name, value in tensors.items():
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{op}: expected `{name}` to be a Tensor, got {type(value).__name__}"
            )


class XlogySelf(Op):
    """``t log t`` with ``0 log 0 = 0``: PyTorch's ``xlogy(t, t)``."""

    _name = "XlogyBackward0"

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(t == 0, 0.0, t * np.log(t)).astype(t.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        # d(t log t)/dt = log t + t / t, with log t read as 0 at t = 0: NaN
        # there (0 / 0), as in PyTorch
        (t,) = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(t == 0, 0.0, np.log(t)) + t / t
        return (grad_output * slope).astype(t.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (t,) = ctx.saved_tensors
        t = graph_input(ctx, 0, t)
        log_t = where(_wrap(t._data == 0, None), 0.0, t.log())
        return grad_output * (log_t + t / t)


class PoissonStirling(Op):
    """``t log t - t + log(2 pi t) / 2`` for targets above 1, else 0: the
    Stirling term of ``poisson_nll_loss(full=True)``, fused so that a zero
    target computes no ``0 * log 0`` (NumPy would warn; PyTorch is silent)."""

    _name = "MaskedFillBackward0"

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        with np.errstate(invalid="ignore", divide="ignore"):
            term = t * np.log(t) - t + 0.5 * np.log((2 * math.pi) * t)
        return np.where(t > 1, term, 0.0).astype(t.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        # d/dt = log t + 1 / (2 t) above 1; 0 below, but NaN at t <= 0, where
        # PyTorch's composed rule multiplies the masked zero by log 0 or 1 / 0
        (t,) = ctx.saved_tensors
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(t > 1, np.log(t) + 0.5 / t, np.where(t > 0, 0.0, np.nan))
            return (grad_output * slope).astype(t.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (t,) = ctx.saved_tensors
        above = t > 1
        at_zero = _wrap(np.where(t == 0, np.nan, 0.0).astype(t.dtype), None)
        negative = _wrap(np.where(t < 0, np.nan, 0.0).astype(t.dtype), None)
        t = graph_input(ctx, 0, t)
        # the masked places see t = 2, where the formula is finite; below 1 the
        # slope is PyTorch's (NaN at t <= 0) and so is its derivative (NaN at 0)
        safe = where(_wrap(above, None), t, 2.0)
        below = t * at_zero + negative
        slope = where(_wrap(above, None), safe.log() + 0.5 / safe, below)
        return grad_output * slope


def kl_div(
    input: Tensor,
    target: Tensor,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Kullback-Leibler divergence ``target (log target - input)`` pointwise,
    where ``input`` holds log-probabilities.

    Args:
        input: log-probabilities.
        target: probabilities, or log-probabilities when ``log_target``.
        reduction: 'mean' (over every element; warns, as in PyTorch),
            'batchmean' (the sum over the batch size: the true KL divergence),
            'sum' or 'none'.
        log_target: whether ``target`` is given in log space; the pointwise loss
            is then ``exp(target) (target - input)``.

    Shape:
        input and target broadcast together.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> p = torch.tensor([[0.5, 0.5]])
        >>> F.kl_div(torch.tensor([[0.25, 0.75]]).log(), p, reduction="batchmean")
        tensor(0.1438)
    """
    _check_tensors("kl_div", input=input, target=target)
    for name, value in (("input", input), ("target", target)):
        if value._data.dtype.kind in "biu":
            raise RuntimeError(
                f"kl_div: Integral inputs not supported (expected a floating point "
                f"`{name}`, got {value.dtype.name})"
            )
    _broadcast("kl_div", input=input, target=target)
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(
            f"kl_div: {reduction} is not a valid value for reduction (expected "
            "'mean', 'batchmean', 'sum' or 'none')"
        )
    legacy = size_average is not None or reduce is not None
    # as in PyTorch, the legacy arguments pick the reduction, but a 'batchmean'
    # given beside them still divides that result by the batch size
    reduced = legacy_reduction(size_average, reduce, reduction)
    if reduction == "mean" and not legacy:
        warnings.warn(
            "kl_div: reduction: 'mean' divides the total loss by both the batch "
            "size and the support size.'batchmean' divides only by the batch "
            "size, and aligns with the KL div math definition.'mean' will be "
            "changed to behave the same as 'batchmean' in the next major release.",
            PlaingradWarning,
            stacklevel=2,
        )
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = XlogySelf.apply(target) - target * input
    if reduction != "batchmean":
        return _reduce(loss, reduced)
    total = loss.sum() if reduced == "batchmean" else _reduce(loss, reduced)
    if input.ndim == 0:
        return total
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / float(input.shape[0])


def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: Any = None,
    eps: float = 1e-8,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of ``target`` under a Poisson of rate ``input``.

    Args:
        log_input: ``input`` is the log-rate: the loss is ``exp(input) - target
            input``; otherwise it is the rate: ``input - target log(input +
            eps)``.
        full: add the Stirling approximation of ``log(target!)``, ``t log t - t
            + log(2 pi t) / 2``, for targets above 1.
        eps: keeps ``log`` finite at a zero rate when not ``log_input``.
        reduction: 'mean' (default), 'sum' or 'none'.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.poisson_nll_loss(torch.tensor([0.0]), torch.tensor([2.0]))
        tensor(1.)
    """
    _check_tensors("poisson_nll_loss", input=input, target=target)
    _broadcast("poisson_nll_loss", input=input, target=target)
    reduction = legacy_reduction(size_average, reduce, reduction)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"poisson_nll_loss: {reduction} is not a valid value for reduction "
            "(expected 'mean', 'sum' or 'none')"
        )
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        loss = loss + PoissonStirling.apply(target)
    return _reduce(loss, reduction)


def _gaussian_var(input: Tensor, var: Any) -> Tensor:
    """``var`` checked and shaped to broadcast against ``input``, as PyTorch does:
    the input's shape, or it less the last dim (homoscedastic: unsqueezed), or
    it with exactly one dim of size 1."""
    from ..creation import ones_like

    if isinstance(var, float):
        if var < 0:
            raise ValueError(
                f"gaussian_nll_loss: var has negative entry/entries (got var={var})"
            )
        return ones_like(input) * var
    if not isinstance(var, Tensor):
        raise TypeError(
            "gaussian_nll_loss: expected `var` to be a Tensor or a float, got "
            f"{type(var).__name__}"
        )
    if np.any(var._data < 0):
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape == shape:
        return var
    if shape[:-1] == var_shape:
        return var.unsqueeze(-1)
    mismatched = [v for i, v in zip(shape, var_shape) if i != v]
    if len(shape) == len(var_shape) and sum(mismatched) == 1:
        return var
    raise ValueError(
        f"gaussian_nll_loss: var is of incorrect size: expected the input's "
        f"shape {shape}, it without the last dim {shape[:-1]}, or it with one dim "
        f"of size 1; got {var_shape}"
    )


def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Tensor | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of ``target`` under a Gaussian of mean ``input``
    and variance ``var``: ``(log var + (input - target)^2 / var) / 2``.

    Args:
        var: variances: the input's shape (heteroscedastic), one per sample
            (the input's shape less its last dim, or with one dim of size 1),
            or a single float.
        full: add the constant ``log(2 pi) / 2``.
        eps: the variance is clamped to at least ``eps``; as in PyTorch the
            clamp passes gradients through unchanged.
        reduction: 'mean' (default), 'sum' or 'none'.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> F.gaussian_nll_loss(torch.tensor([1.0]), torch.tensor([3.0]), 4.0)
        tensor(1.1931)
    """
    _check_tensors("gaussian_nll_loss", input=input, target=target)
    _broadcast("gaussian_nll_loss", input=input, target=target)
    var = _gaussian_var(input, var)
    if var._data.dtype.kind in "biu":
        # PyTorch clamps var in place, which an integer tensor cannot hold
        raise RuntimeError(
            "gaussian_nll_loss: result type Float can't be cast to the desired "
            f"output type {var.dtype.name} (expected a floating point `var`)"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"gaussian_nll_loss: {reduction} is not valid (expected 'mean', 'sum' "
            "or 'none')"
        )
    # clamped as a constant shift: the value of clamp(var, eps), the gradient of
    # var itself (PyTorch clamps in place under no_grad)
    shift = np.maximum(var._data, eps) - var._data
    var = var + _wrap(shift.astype(var._data.dtype, copy=False), None)
    diff = input - target
    loss = (var.log() + diff * diff / var) * 0.5
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)
