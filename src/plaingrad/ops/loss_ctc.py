"""Connectionist temporal classification loss (Graves et al., 2006).

The loss of one sequence is minus the log of the total probability of every
alignment of its target to the input frames, where an alignment may insert
blanks anywhere and repeat a label, and collapses to the target. It is found
with the forward (alpha) recursion over the *extended* target ``l'`` -- the
target with a blank before, between and after its labels, length ``2 S + 1``
-- in log space, vectorised over the batch: one NumPy step per frame, each
sequence frozen past its own input length. The backward (beta) recursion
gives the occupancy of each extended position at each frame, and the
gradient as PyTorch computes it::

    grad[t, c] = exp(lp[t, c]) - exp(log sum_{s: l'_s = c} alpha_t(s) beta_t(s)
                                     + nll - lp[t, c])

Both alpha and beta include the frame's own log-probability (hence the
``- lp``). The ``exp(lp)`` term makes this the gradient with respect to the
*logits* of a ``log_softmax`` whose output is ``log_probs`` -- after
``log_softmax``'s backward it is the true gradient, which is how CTC is used --
rather than the partial derivative by ``log_probs`` itself; PyTorch returns the
same. Frames past a sequence's input length get zero gradient, and with
``zero_infinity`` so does a sequence with no alignment (an infinite loss, then
replaced by 0). PyTorch has no double backward for CTC, and neither has this.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..tensor import Tensor

_NEG_INF = -np.inf


def _logaddexp3(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    m = np.maximum(np.maximum(a, b), c)
    safe = np.where(np.isfinite(m), m, 0.0)
    total = np.exp(a - safe) + np.exp(b - safe) + np.exp(c - safe)
    return np.where(np.isfinite(m), np.log(total) + safe, m)


def _shift(a: np.ndarray, k: int, fill: float = _NEG_INF) -> np.ndarray:
    """``a`` moved ``k`` places along its last axis (right if k > 0), filled."""
    out = np.full_like(a, fill)
    if k > 0:
        out[..., k:] = a[..., :-k]
    else:
        out[..., :k] = a[..., -k:]
    return out


def _extended(targets: np.ndarray, target_lengths: np.ndarray, blank: int):
    """The extended targets (N, 2 S + 1), which positions may skip back two
    (a label differing from the label two before), and which are in range."""
    n, s = targets.shape
    ext = np.full((n, 2 * s + 1), blank, dtype=np.int64)
    ext[:, 1::2] = targets
    skip = np.zeros(ext.shape, dtype=bool)
    skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    valid = np.arange(2 * s + 1)[None, :] < (2 * target_lengths + 1)[:, None]
    return ext, skip, valid


def _ctc_forward(lp, ext, skip, input_lengths, target_lengths):
    """log alpha (T, N, S') and the negative log-likelihoods (N,)."""
    t_max, n, _ = lp.shape
    batch = np.arange(n)[:, None]
    # (T, N, S'): each frame's log-probability of each extended label
    lp_ext = lp[:, batch, ext]
    alpha = np.full(lp_ext.shape, _NEG_INF, dtype=lp.dtype)
    if t_max == 0:
        return alpha, lp_ext, np.full(n, np.inf, dtype=lp.dtype)
    alpha[0, :, 0] = lp_ext[0, :, 0]
    if alpha.shape[2] > 1:
        has_label = target_lengths > 0
        alpha[0, has_label, 1] = lp_ext[0, has_label, 1]
    skip_from = np.where(skip, 0.0, _NEG_INF)
    for t in range(1, t_max):
        prev = alpha[t - 1]
        step = _logaddexp3(prev, _shift(prev, 1), _shift(prev, 2) + skip_from)
        alpha[t] = np.where((t < input_lengths)[:, None], step + lp_ext[t], prev)
    rows = np.arange(n)
    last = alpha[np.clip(input_lengths - 1, 0, None), rows]
    end = last[rows, 2 * target_lengths]
    before = np.where(
        target_lengths > 0,
        last[rows, np.clip(2 * target_lengths - 1, 0, None)],
        _NEG_INF,
    )
    nll = -np.logaddexp(end, before)
    # an empty input sequence has no alignment, unless the target is empty too
    nll = np.where(input_lengths == 0, np.where(target_lengths == 0, 0.0, np.inf), nll)
    return alpha, lp_ext, nll.astype(lp.dtype, copy=False)


def _ctc_beta(lp_ext, skip, valid, input_lengths, target_lengths):
    """log beta (T, N, S'), each including its frame's log-probability."""
    t_max, n, width = lp_ext.shape
    beta = np.full(lp_ext.shape, _NEG_INF, dtype=lp_ext.dtype)
    positions = np.arange(width)[None, :]
    ends = (positions == 2 * target_lengths[:, None]) | (
        (positions == 2 * target_lengths[:, None] - 1) & (target_lengths[:, None] > 0)
    )
    # a label two ahead may be reached by a skip when it differs from this one
    skip_to = np.where(_shift(skip, -2, fill=False), 0.0, _NEG_INF)
    following = np.full((n, width), _NEG_INF, dtype=lp_ext.dtype)
    for t in range(t_max - 1, -1, -1):
        step = _logaddexp3(
            following, _shift(following, -1), _shift(following, -2) + skip_to
        )
        init = np.where(ends, lp_ext[t], _NEG_INF)
        current = np.where(
            (t == input_lengths - 1)[:, None],
            init,
            np.where((t < input_lengths - 1)[:, None], step + lp_ext[t], _NEG_INF),
        )
        current = np.where(valid, current, _NEG_INF)
        beta[t] = current
        following = current
    return beta


class CtcLoss(Op):
    _name = "CtcLossBackward0"

    @staticmethod
    def forward(
        ctx, log_probs, targets, input_lengths, target_lengths, blank, zero_infinity
    ):
        # log_probs: (T, N, C); targets: (N, S) padded
        ext, skip, valid = _extended(targets, target_lengths, blank)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            alpha, lp_ext, nll = _ctc_forward(
                log_probs, ext, skip, input_lengths, target_lengths
            )
        ctx.save_for_backward(log_probs, alpha, lp_ext, nll)
        ctx.extended = (ext, skip, valid)
        ctx.lengths = (input_lengths, target_lengths)
        ctx.zero_infinity = zero_infinity
        return nll

    @staticmethod
    def backward(ctx, grad_output):
        # d nll / d logits[t, c] = p[t, c] - sum_{s: l'_s = c} occupancy_t(s)
        log_probs, alpha, lp_ext, nll = ctx.saved_tensors
        ext, skip, valid = ctx.extended
        input_lengths, target_lengths = ctx.lengths
        t_max, n, n_classes = log_probs.shape
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            beta = _ctc_beta(lp_ext, skip, valid, input_lengths, target_lengths)
            ab = alpha + beta
            top = ab.max(axis=2, keepdims=True)
            top = np.where(np.isfinite(top), top, 0.0)
            # (N, S', C): which class each extended position holds
            one_hot = (ext[:, :, None] == np.arange(n_classes)).astype(ab.dtype)
            summed = np.einsum("tns,nsc->tnc", np.exp(ab - top), one_hot)
            lcab = np.log(summed) + top
            grad = np.exp(log_probs) - np.exp(lcab + nll[None, :, None] - log_probs)
        grad = grad * grad_output[None, :, None]
        frames = np.arange(t_max)[:, None] < input_lengths[None, :]
        grad = np.where(frames[:, :, None], grad, 0.0)
        if ctx.zero_infinity:
            grad = np.where(np.isinf(nll)[None, :, None], 0.0, grad)
        return grad.astype(log_probs.dtype, copy=False), None


def _lengths(value: Any, name: str) -> np.ndarray:
    if isinstance(value, Tensor):
        data = value._data
        if data.dtype.kind not in "iu":
            raise RuntimeError(
                f"ctc_loss: expected `{name}` to be an integer tensor, got "
                f"{value.dtype.name}"
            )
        return np.asarray(data, dtype=np.int64).reshape(-1)
    try:
        values = [int(v) if isinstance(v, (int, np.integer)) else v for v in value]
    except TypeError:
        raise TypeError(
            f"ctc_loss: expected `{name}` to be a tuple of ints or a tensor, got "
            f"{type(value).__name__}"
        ) from None
    if any(not isinstance(v, int) for v in values):
        raise TypeError(
            f"ctc_loss: expected `{name}` to be a tuple of ints or a tensor, got "
            f"{values}"
        )
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _padded_targets(targets: np.ndarray, target_lengths: np.ndarray) -> np.ndarray:
    """(N, S) targets from padded (N, S) or concatenated (sum of lengths,)."""
    if targets.ndim == 2:
        longest = int(target_lengths.max(initial=0))
        if targets.shape[1] < longest:
            raise RuntimeError(
                f"ctc_loss: Expected tensor to have size at least {longest} at "
                f"dimension 1, but got size {targets.shape[1]} for argument #2 "
                "'targets' (`targets` is (N, S) padded: S must cover the longest "
                "target length)"
            )
        return targets[:, :longest]
    total = int(target_lengths.sum())
    if targets.shape[0] != total:
        raise RuntimeError(
            f"ctc_loss: Expected tensor to have size {total} at dimension 0, but "
            f"got size {targets.shape[0]} for argument #2 'targets' (1-D `targets` "
            "are concatenated: their size is the sum of target_lengths)"
        )
    longest = int(target_lengths.max(initial=0))
    padded = np.zeros((len(target_lengths), longest), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(target_lengths)[:-1]])
    for b, (start, length) in enumerate(zip(starts, target_lengths)):
        padded[b, :length] = targets[start : start + length]
    return padded


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist temporal classification loss of unsegmented sequences.

    Args:
        log_probs: (T, N, C) or unbatched (T, C) log-probabilities, usually
            ``log_softmax(logits, 2)``.
        targets: (N, S) padded class indices (no blanks), or 1-D: the targets
            concatenated; unbatched: (S,).
        input_lengths: (N,) frames used of each sequence, each at most T.
        target_lengths: (N,) length of each target.
        blank: the blank label's index (default 0).
        reduction: 'mean' (each loss divided by its target length, then the
            batch mean), 'sum' or 'none' ((N,) losses).
        zero_infinity: replace the infinite loss of a target with no alignment
            (too long for its input) and its gradient by 0.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> lp = torch.full((2, 1, 2), 0.5).log()  # two frames, two classes
        >>> F.ctc_loss(lp, torch.tensor([[1]]), [2], [1], reduction="sum")
        tensor(0.2877)
    """
    if not isinstance(log_probs, Tensor):
        raise TypeError(
            "ctc_loss: expected `log_probs` to be a Tensor, got "
            f"{type(log_probs).__name__}"
        )
    dtype = log_probs._data.dtype
    if dtype.kind != "f" or dtype.itemsize < 4:
        raise NotImplementedError(
            f'ctc_loss: "ctc_loss_cpu" not implemented for {log_probs.dtype.name} '
            "`log_probs` (expected float32 or float64)"
        )
    if not isinstance(targets, Tensor):
        raise TypeError(
            f"ctc_loss: expected `targets` to be a Tensor, got {type(targets).__name__}"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(
            f"ctc_loss: {reduction} is not a valid value for reduction (expected "
            "'mean', 'sum' or 'none')"
        )
    unbatched = log_probs.ndim == 2
    if log_probs.ndim not in (2, 3):
        raise RuntimeError(
            "ctc_loss: expected `log_probs` of shape (T, N, C) or (T, C), got "
            f"{tuple(log_probs.shape)}"
        )
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    t_max, batch, n_classes = lp.shape
    if not 0 <= blank < n_classes:
        raise RuntimeError(
            f"ctc_loss: blank must be in label range [0, {n_classes}), got {blank}"
        )
    in_lengths = _lengths(input_lengths, "input_lengths")
    tg_lengths = _lengths(target_lengths, "target_lengths")
    for name, lengths in (
        ("input_lengths", in_lengths),
        ("target_lengths", tg_lengths),
    ):
        if len(lengths) != batch:
            raise RuntimeError(
                f"ctc_loss: {name} must be of size batch_size ({batch}), got "
                f"{len(lengths)}"
            )
    t = np.asarray(targets._data).astype(np.int64)
    if t.ndim not in (1, 2):
        raise RuntimeError(
            f"ctc_loss: Expected 1 to 2 dimensions, but got {t.ndim}-dimensional "
            "tensor for argument #2 'targets' (expected (N, S) padded or "
            f"(sum(target_lengths),) concatenated, got {tuple(targets.shape)})"
        )
    if t.ndim == 2 and t.shape[0] != batch:
        raise RuntimeError(
            f"ctc_loss: Expected tensor to have size {batch} at dimension 0, but "
            f"got size {t.shape[0]} for argument #2 'targets' (padded `targets` "
            f"are (N, S) with N = {batch}, the batch size of `log_probs`)"
        )
    if in_lengths.size and in_lengths.min() < 0:
        raise RuntimeError(
            "ctc_loss: Expected input_lengths to have value at least 0, but got "
            f"value {int(in_lengths.min())}"
        )
    if in_lengths.size and in_lengths.max() > t_max:
        raise RuntimeError(
            f"ctc_loss: Expected input_lengths to have value at most {t_max}, but "
            f"got value {int(in_lengths.max())} (the length T of `log_probs`)"
        )
    if tg_lengths.size and tg_lengths.min() < 0:
        raise RuntimeError(
            "ctc_loss: Expected target_lengths to have value at least 0, but got "
            f"value {int(tg_lengths.min())}"
        )
    padded = _padded_targets(t, tg_lengths)
    in_range = np.arange(padded.shape[1])[None, :] < tg_lengths[:, None]
    used = padded[in_range]
    if used.size and (used.min() < 0 or used.max() >= n_classes):
        bad = used[(used < 0) | (used >= n_classes)][0]
        raise IndexError(
            f"ctc_loss: target {int(bad)} is out of bounds: `targets` must hold "
            f"class indices in [0, {n_classes})"
        )
    padded = np.where(in_range, padded, blank)
    losses = CtcLoss.apply(
        lp,
        _plain(padded),
        input_lengths=in_lengths,
        target_lengths=tg_lengths,
        blank=blank,
        zero_infinity=zero_infinity,
    )
    if zero_infinity:
        losses = _zero_infinite(losses)
    if reduction == "none":
        return losses.squeeze(0) if unbatched else losses
    if reduction == "sum":
        return losses.sum()
    divisor = np.maximum(tg_lengths, 1).astype(lp._data.dtype)
    return (losses / _plain(divisor)).mean()


def _plain(array: np.ndarray) -> Tensor:
    from ..tensor import _wrap

    return _wrap(np.asarray(array), None)


def _zero_infinite(losses: Tensor) -> Tensor:
    from .elementwise import where

    return where(_plain(np.isinf(losses._data)), 0.0, losses)
