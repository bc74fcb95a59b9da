"""Issue 4's losses outside the hinge family: the regression losses, the
probabilistic ones (KL divergence, Poisson and Gaussian negative
log-likelihoods, CTC) and cross-entropy / NLL with class weights and extra
dimensions. (The plain, label-smoothed and probability-target cross-entropy
rows, and the binary cross-entropies, live in specs_functional_misc.py.)

Every spec draws every ``reduction``. The edges each loss has are drawn on
purpose: a regression target equal to the input (the kink of l1 at 0, the
joins of smooth l1 and huber at +-beta / +-delta, where finite differences are
skipped); zero KL targets (``0 log 0 = 0``, and a NaN target gradient in both
libraries); Poisson targets of 0 and 1, where the Stirling term of ``full``
switches off; Gaussian variances below ``eps`` (clamped, with the gradient
passing through the clamp as in PyTorch; finite differences skipped there) and
every variance shape PyTorch accepts, a float among them; CTC targets with
repeated labels (which need a blank between them), empty targets, inputs too
short for their target (an infinite loss, and with ``zero_infinity`` a zero
one), padded and concatenated targets and an unbatched input. CTC is checked
through ``log_softmax`` of free logits, as it is used: PyTorch's CTC gradient
is the one with respect to those logits, not the partial derivative by the
log-probabilities, so gradcheck on the logits is the meaningful check; PyTorch
has no double backward for CTC. CTC draws no "large" logits: a loss in the
thousands leaves float32 only ~1e-3 of relative precision in the gradient, in
torch as in plaingrad, and the two round differently.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .harness import OpSpec, floats

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
NO_WEIGHT_GRAD = (True, True, False)  # torch has no gradient for class weights


def F(lib: Any) -> Any:
    return lib.nn.functional


def _rng(draw: Any) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _fixed(shape: tuple, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# -------------------------------------------------------- regression losses


@st.composite
def _regression_case(draw: Any) -> tuple:
    """(input, target, reduction, param): free targets, or (half the cases)
    targets partly equal to the input or exactly 1 above it (the kinks for
    param 1)."""
    x = draw(floats(min_dims=1, edges=("normal", "ties", "large")))
    rng = _rng(draw)
    target = draw(floats(x.shape, edges=("normal", "ties")))
    if draw(st.booleans()):
        pick = rng.integers(0, 4, x.shape)
        target = np.where(pick == 0, x, np.where(pick == 1, x + 1.0, target))
    return x, target, draw(REDUCTIONS), draw(st.sampled_from([1.0, 0.5, 2.0]))


# a smooth case (gradcheck runs in every profile) and one on every kink
REGRESSION_CASES = [
    (_fixed((3, 4)), _fixed((3, 4), 1), "sum", 0.5),
    (np.array([0.0, 1.0, 2.0, -1.0]), np.array([0.0, 0.0, 3.0, 1.0]), "none", 1.0),
]


def _away_from_joins(x, target, reduction, param) -> bool:
    gap = np.abs(np.abs(x - target))
    return bool(np.all(gap > 1e-3) and np.all(np.abs(gap - param) > 1e-3))


# ------------------------------------------------------------ class losses


@st.composite
def _weighted_case(draw: Any, shapes: tuple, weighted: bool) -> tuple:
    """(input, target, weight, ignore_index, reduction, label_smoothing)."""
    c = draw(st.integers(1, 4))
    n = draw(st.integers(1, 3))
    shape = draw(st.sampled_from([s(n, c) for s in shapes]))
    x = draw(floats(shape, edges=("normal", "ties", "large")))
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    target = _rng(draw).integers(0, c, target_shape).astype(np.int64)
    ignore = draw(st.sampled_from([-100, 0]))
    if np.all(target == ignore):
        ignore = -100  # every target ignored is specs_functional_misc's row
    weight = floats((c,), low=0.1, high=2.0, edges=("normal",))
    weight = draw(weight) if weighted else draw(st.none() | weight)
    amount = draw(st.sampled_from([0.0, 0.1]))
    return x, target, weight, ignore, draw(REDUCTIONS), amount


FLAT = (lambda n, c: (n, c), lambda n, c: (c,))
ND = (lambda n, c: (n, c, 3), lambda n, c: (n, c, 2, 2), lambda n, c: (n, c, 1, 2, 1))


def _cross_entropy(lib: Any, x, target, weight, ignore, reduction, smoothing):
    return F(lib).cross_entropy(
        x,
        target,
        weight,
        ignore_index=ignore,
        reduction=reduction,
        label_smoothing=smoothing,
    )


def _nll(lib: Any, x, target, weight, ignore, reduction, _) -> Any:
    return F(lib).nll_loss(x, target, weight, ignore_index=ignore, reduction=reduction)


# ------------------------------------------------------------------ kl_div

KL_REDUCTIONS = st.sampled_from(["mean", "batchmean", "sum", "none"])


@st.composite
def _kl_case(draw: Any) -> tuple:
    """(input, target, reduction, log_target): log-probabilities in, targets
    as probabilities (some zero) or log-probabilities."""
    x = draw(floats(min_dims=0, low=-4.0, high=0.0, edges=("normal", "ties")))
    log_target = draw(st.booleans())
    if log_target:
        target = draw(floats(x.shape, low=-4.0, high=0.0, edges=("normal", "ties")))
    else:
        target = draw(floats(x.shape, low=0.0, high=1.0))
    return x, target, draw(KL_REDUCTIONS), log_target


def _kl_div(lib: Any, x, target, reduction, log_target) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that 'mean' is not batchmean
        return F(lib).kl_div(x, target, reduction=reduction, log_target=log_target)


def _kl_fd_ok(x, target, reduction, log_target) -> bool:
    # the target's gradient log(t) + 1 is -inf at a zero target
    return bool(log_target or np.all(target > 1e-3))


# ---------------------------------------------------------------- poisson


@st.composite
def _poisson_case(draw: Any) -> tuple:
    """(input, target, log_input, full, eps, reduction): counts 0, 1, 2, ...
    and fractional targets, log-rates or positive rates."""
    log_input = draw(st.booleans())
    if log_input:
        x = draw(floats(min_dims=0, low=-3.0, high=3.0, edges=("normal", "ties")))
    else:
        x = draw(floats(min_dims=0, low=0.05, high=5.0, edges=("normal", "ties")))
    rng = _rng(draw)
    counts = rng.integers(0, 5, x.shape).astype(np.float64)
    target = counts + draw(st.sampled_from([0.0, 0.5])) * rng.random(x.shape)
    eps = draw(st.sampled_from([1e-8, 0.1]))
    return x, target, log_input, draw(st.booleans()), eps, draw(REDUCTIONS)


def _poisson(lib: Any, x, target, log_input, full, eps, reduction) -> Any:
    return F(lib).poisson_nll_loss(
        x, target, log_input=log_input, full=full, eps=eps, reduction=reduction
    )


def _poisson_fd_ok(x, target, log_input, full, eps, reduction) -> bool:
    # full: t log t has an infinite slope at t = 0, and the Stirling term
    # switches on at t = 1
    return bool(not full or (np.all(np.abs(target - 1.0) > 1e-3) and np.all(target)))


# --------------------------------------------------------------- gaussian


@st.composite
def _gaussian_case(draw: Any) -> tuple:
    """(input, target, var, full, eps, reduction) with every var shape torch
    accepts: the input's, it less the last dim, one dim of size 1, a float."""
    x = draw(floats(min_dims=1, edges=("normal", "ties")))
    rng = _rng(draw)
    target = draw(floats(x.shape, edges=("normal", "ties")))
    form = draw(st.sampled_from(["same", "last dim dropped", "one dim 1", "float"]))
    if form == "float":
        var: Any = float(draw(st.sampled_from([0.5, 2.0, 1e-9])))
    else:
        if form == "same":
            shape = x.shape
        elif form == "last dim dropped":
            shape = x.shape[:-1]
        else:
            axis = int(rng.integers(x.ndim))
            shape = x.shape[:axis] + (1,) + x.shape[axis + 1 :]
        var = rng.uniform(0.2, 3.0, shape)
        if var.size and draw(st.booleans()):
            var.flat[0] = 1e-9  # below eps: clamped
    eps = draw(st.sampled_from([1e-6, 0.1]))
    return x, target, var, draw(st.booleans()), eps, draw(REDUCTIONS)


def _gaussian(lib: Any, x, target, var, full, eps, reduction) -> Any:
    return F(lib).gaussian_nll_loss(
        x, target, var, full=full, eps=eps, reduction=reduction
    )


def _gaussian_fd_ok(x, target, var, full, eps, reduction) -> bool:
    # at a clamped variance the value is flat but the gradient passes through
    return bool(np.all(np.asarray(var) > eps + 1e-3))


# -------------------------------------------------------------------- ctc


@st.composite
def _ctc_case(draw: Any) -> tuple:
    """(logits, targets, input_lengths, target_lengths, blank, reduction,
    zero_infinity): (T, N, C) logits, padded or concatenated targets."""
    t_max, n, c = (
        draw(st.integers(1, 6)),
        draw(st.integers(1, 3)),
        draw(st.integers(2, 4)),
    )
    s = draw(st.integers(0, 3))
    rng = _rng(draw)
    blank = int(rng.integers(0, c))
    labels = np.array([k for k in range(c) if k != blank])
    targets = rng.choice(labels, (n, s)).astype(np.int64)
    if s > 1 and draw(st.booleans()):
        targets[:, 1] = targets[:, 0]  # a repeat: needs a blank between
    target_lengths = rng.integers(0, s + 1, n).astype(np.int64)
    # mostly long enough inputs; sometimes too short (an infinite loss)
    input_lengths = rng.integers(max(t_max - 2, 0), t_max + 1, n).astype(np.int64)
    # no "large" logits: a loss in the thousands leaves float32 ~1e-3 of
    # relative precision in exp(lcab + nll - lp), torch's and ours alike
    logits = draw(floats((t_max, n, c), edges=("normal", "ties")))
    if draw(st.booleans()):
        targets = np.concatenate([targets[b, : target_lengths[b]] for b in range(n)])
        targets = targets.astype(np.int64)
    return (
        logits,
        targets,
        input_lengths,
        target_lengths,
        blank,
        draw(REDUCTIONS),
        draw(st.booleans()),
    )


def _ctc(lib: Any, x, targets, input_lengths, target_lengths, blank, red, zi):
    log_probs = x.log_softmax(-1)
    return F(lib).ctc_loss(
        log_probs,
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        reduction=red,
        zero_infinity=zi,
    )


def _lengths(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


CTC_CASES = [
    # unbatched (T, C) input, (S,) target, 0-d lengths
    (_fixed((5, 3)), _lengths(1, 2), np.array(5), np.array(2), 0, "mean", False),
    # repeated labels: 'aa' needs three frames; the second is too short
    (
        _fixed((4, 2, 3), 1),
        np.array([[1, 1], [2, 2]]),
        _lengths(4, 2),
        _lengths(2, 2),
        0,
        "none",
        False,
    ),
    (
        _fixed((4, 2, 3), 1),
        np.array([[1, 1], [2, 2]]),
        _lengths(4, 2),
        _lengths(2, 2),
        0,
        "mean",
        True,
    ),
    # empty targets and a zero-length input, last class the blank
    (
        _fixed((3, 2, 3), 2),
        np.zeros((2, 0), dtype=np.int64),
        _lengths(3, 0),
        _lengths(0, 0),
        2,
        "sum",
        False,
    ),
]

SPECS = [
    OpSpec(
        "F.l1_loss",
        lambda lib, x, y, reduction, _: F(lib).l1_loss(x, y, reduction=reduction),
        _regression_case(),
        fd_ok=_away_from_joins,
        cases=REGRESSION_CASES + [(np.zeros((0, 2)), np.zeros((0, 2)), "mean", 1.0)],
    ),
    OpSpec(
        "F.smooth_l1_loss",
        lambda lib, x, y, reduction, beta: F(lib).smooth_l1_loss(
            x, y, reduction=reduction, beta=beta
        ),
        _regression_case(),
        fd_ok=_away_from_joins,
        cases=REGRESSION_CASES,
    ),
    OpSpec(
        "F.huber_loss",
        lambda lib, x, y, reduction, delta: F(lib).huber_loss(
            x, y, reduction=reduction, delta=delta
        ),
        _regression_case(),
        fd_ok=_away_from_joins,
        cases=REGRESSION_CASES,
    ),
    OpSpec(
        "F.cross_entropy(weight)",
        _cross_entropy,
        _weighted_case(FLAT + ND, weighted=True),
        grad=NO_WEIGHT_GRAD,
    ),
    OpSpec(
        "F.cross_entropy(Nd)",
        _cross_entropy,
        _weighted_case(ND, weighted=False),
        grad=NO_WEIGHT_GRAD,
    ),
    OpSpec(
        "F.nll_loss(Nd)",
        _nll,
        _weighted_case(ND, weighted=False),
        grad=NO_WEIGHT_GRAD,
    ),
    OpSpec(
        "F.kl_div",
        _kl_div,
        _kl_case(),
        fd_ok=_kl_fd_ok,
        note="every reduction incl. batchmean; 'mean' warns in both",
    ),
    OpSpec(
        "F.poisson_nll_loss",
        _poisson,
        _poisson_case(),
        fd_ok=_poisson_fd_ok,
    ),
    OpSpec(
        "F.gaussian_nll_loss",
        _gaussian,
        _gaussian_case(),
        fd_ok=_gaussian_fd_ok,
        note="var clamped to eps with the gradient passing through, as in torch",
    ),
    OpSpec(
        "F.ctc_loss",
        _ctc,
        _ctc_case(),
        cases=CTC_CASES,
        note="through log_softmax of logits (torch's gradient is the logits' one)",
    ),
]
