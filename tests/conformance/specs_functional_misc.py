"""Embedding, one-hot, dropout, attention and the common losses of
``nn.functional``.

Index inputs repeat (so ``embedding``'s weight gradient scatter-adds, and
``scale_grad_by_freq`` divides by the counts) and include an empty tensor and
out-of-range indices, where plaingrad must raise torch's exception class.
Attention draws boolean and additive masks that broadcast over the batch and
heads, masks that block a whole row (PyTorch's CPU kernels give that query
zeros, not NaN), causal masks with more keys than queries, leading
dimensions that broadcast, and an explicit scale. Losses run every
reduction, class weights, ``ignore_index`` (all targets ignored: 0 / 0, NaN
in both), label smoothing and probability targets.

Dropout is random, so its specs are custom: in plaingrad the kept elements
are ``x / (1 - p)`` and the gradient is the mask times ``1 / (1 - p)``; the
fraction kept (of elements, or of whole channels for ``dropout2d``) lies
within five standard deviations of ``1 - p`` in both libraries; ``p = 0`` and
evaluation mode return the input itself, ``p = 1`` zeros with zero gradient,
and a ``p`` outside [0, 1] raises ValueError in both.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import CustomSpec, OpSpec, floats, stage

NO_WEIGHT_GRAD = (True, True, False)  # torch has no gradient for class weights


def F(lib: Any) -> Any:
    return lib.nn.functional


def _fixed(shape: tuple, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _indices(draw: Any, shape: tuple, high: int) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int64)


# ---------------------------------------------------------------- embedding


@st.composite
def _embedding_case(draw: Any) -> tuple:
    """(indices, weight, padding_idx, scale_grad_by_freq)."""
    num, dim = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    shape = draw(st.sampled_from([(4,), (2, 3), (), (3, 1)]))
    weight = draw(floats((num, dim)))
    padding = draw(st.none() | st.integers(-num, num - 1))
    return _indices(draw, shape, num), weight, padding, draw(st.booleans())


def _embedding_fd_ok(idx, weight, padding_idx, scale) -> bool:
    """The gradient is the forward's derivative only without frequency scaling
    and when the padding row (whose gradient is 0) is not looked up."""
    if scale:
        return False
    return padding_idx is None or not np.any(idx == padding_idx % len(weight))


def _embedding(lib: Any, idx, weight, padding_idx, scale) -> Any:
    return F(lib).embedding(idx, weight, padding_idx, scale_grad_by_freq=scale)


@st.composite
def _max_norm_case(draw: Any) -> tuple:
    """(indices, weight, max_norm, norm_type): rows above and below max_norm."""
    num = draw(st.integers(2, 5))
    weight = draw(floats((num, 3), edges=("normal", "large", "zeros")))
    idx = _indices(draw, draw(st.sampled_from([(4,), (2, 2)])), num)
    return (
        idx,
        weight,
        draw(st.sampled_from([1.0, 0.5])),
        draw(st.sampled_from([2.0, 1.0])),
    )


def _embedding_max_norm(lib: Any, idx, weight, max_norm, norm_type) -> Any:
    # the looked-up rows are renormalised in place, under no_grad
    out = F(lib).embedding(idx, weight, max_norm=max_norm, norm_type=norm_type)
    return out, weight.detach().clone()


@st.composite
def _one_hot_case(draw: Any) -> tuple:
    shape = draw(st.sampled_from([(4,), (2, 3), (), (0,)]))
    idx = _indices(draw, shape, draw(st.integers(1, 4)))
    top = int(idx.max()) + 1 if idx.size else 1
    return idx, draw(st.sampled_from([-1, top, top + 2]))


# ------------------------------------------------------------------ dropout


def _kept_fraction_ok(kept: np.ndarray, p: float, what: str) -> None:
    n = kept.size
    spread = 5 * np.sqrt(p * (1 - p) / n) + 1 / n
    frac = float(np.mean(kept))
    assert abs(frac - (1 - p)) <= spread, (
        f"{what}: kept {frac:.3f} of {n}, expected {1 - p:.3f} +- {spread:.3f}"
    )


def _check_dropout(torch: Any, dtype: str, x: np.ndarray, p: float, name: str):
    """The shared checks of dropout and dropout2d (module docstring)."""
    x = x.astype(dtype)
    rtol = 1e-6 if dtype == "float32" else 1e-12
    channels = name == "dropout2d"
    for lib in (pg, torch):
        t = lib.tensor(x, requires_grad=True)
        out = getattr(F(lib), name)(t, p=p)
        got = out.detach().numpy()
        kept = got != 0  # x lies in [1, 2]
        who = f"{lib.__name__} {name}"
        assert str(out.dtype).endswith(dtype), f"{who}: dtype {out.dtype}"
        assert out.requires_grad, f"{who}: the result does not require grad"
        if channels:  # one draw per (sample, channel), shared by its plane
            planes = kept.reshape(*kept.shape[:2], -1)
            assert np.all(planes == planes[..., :1]), f"{name}: mask not per channel"
            kept_draws = planes[..., 0]
        else:
            kept_draws = kept
        _kept_fraction_ok(kept_draws, p, who)
        np.testing.assert_allclose(got[kept], x[kept] / (1 - p), rtol=rtol, err_msg=who)
        with stage("backward"):  # torch's too: the premise of the check
            g = np.random.default_rng(0).standard_normal(x.shape).astype(dtype)
            out.backward(lib.tensor(g))
            expected = g * kept / np.asarray(1 - p, dtype)
            np.testing.assert_allclose(t.grad.numpy(), expected, rtol=rtol, err_msg=who)
    _check_dropout_limits(torch, dtype, x, name)


def _check_dropout_limits(torch: Any, dtype: str, x: np.ndarray, name: str):
    for lib in (pg, torch):
        f = getattr(F(lib), name)
        t = lib.tensor(x, requires_grad=True)
        assert f(t, p=0.0) is t and f(t, training=False) is t, f"{name}: identity"
        zeros = f(t, p=1.0)
        np.testing.assert_array_equal(zeros.detach().numpy(), np.zeros_like(x))
        with stage("backward"):
            zeros.sum().backward()
            np.testing.assert_array_equal(t.grad.numpy(), np.zeros_like(x))
        for bad in (-0.1, 1.5):
            try:
                f(t, p=bad)
            except ValueError:
                continue
            raise AssertionError(f"{lib.__name__} {name}: p={bad} did not raise")


def _dropout_check(torch: Any, dtype: str, x: np.ndarray, p: float) -> None:
    _check_dropout(torch, dtype, x, p, "dropout")


def _dropout2d_check(torch: Any, dtype: str, x: np.ndarray, p: float) -> None:
    with warnings.catch_warnings():
        # both warn that a 3-D input means (N, C, L); the check is the same
        warnings.simplefilter("ignore")
        _check_dropout(torch, dtype, x, p, "dropout2d")


P_DROP = st.sampled_from([0.5, 0.2, 0.9])


# ---------------------------------------------------------------- attention


@st.composite
def _attention_case(draw: Any) -> tuple:
    """(q, k, v, attn_mask, is_causal, scale)."""
    lead_q, lead_k = draw(
        st.sampled_from([((2, 2), (2, 2)), ((1,), (1,)), ((), ()), ((2, 1), (1, 2))])
    )
    length, source = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    e, ev = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    q = draw(floats(lead_q + (length, e), edges=("normal", "ties", "zeros")))
    k = draw(floats(lead_k + (source, e), edges=("normal", "ties", "zeros")))
    v = draw(floats(lead_k + (source, ev)))
    kind = draw(st.sampled_from(["none", "causal", "bool", "float"]))
    mask = None
    if kind in ("bool", "float"):
        mask_lead = draw(
            st.sampled_from([(), (1,), lead_q[:1] + (1,) * len(lead_q[1:])])
        )
        shape = mask_lead + (length, source)
        if kind == "bool":
            mask = np.random.default_rng(draw(st.integers(0, 99))).random(shape) > 0.3
        else:
            mask = draw(floats(shape))
            mask = np.where(mask < -1.0, -np.inf, mask)  # blocked entries
    scale = draw(st.sampled_from([None, 0.3]))
    return q, k, v, mask, kind == "causal", scale


def _attention(lib: Any, q, k, v, mask, causal, scale) -> Any:
    return F(lib).scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=causal, scale=scale
    )


def _blocked_row_case() -> tuple:
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False
    return (
        _fixed((2, 3, 2)),
        _fixed((2, 4, 2), 1),
        _fixed((2, 4, 3), 2),
        mask,
        False,
        None,
    )


# ------------------------------------------------------------------- losses

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


@st.composite
def _mse_case(draw: Any) -> tuple:
    x = draw(floats(empty=True))
    return x, draw(floats(x.shape)), draw(REDUCTIONS)


def _mse_broadcast(lib: Any, x, y, reduction) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that the target broadcasts
        return F(lib).mse_loss(x, y, reduction=reduction)


@st.composite
def _class_case(
    draw: Any, probabilities: bool = False, smoothing: bool = False
) -> tuple:
    """(input, target, weight, ignore_index, reduction, label_smoothing)."""
    c = draw(st.integers(1, 4))
    n = draw(st.integers(1, 3))
    shape = draw(st.sampled_from([(n, c), (c,), (n, c, 2), (n, c, 1, 2)]))
    x = draw(floats(shape, edges=("normal", "ties", "large")))
    target_shape = shape[:1] + shape[2:] if len(shape) > 1 else ()
    if probabilities:
        raw = draw(floats(shape, edges=("normal",)))
        target = np.exp(raw) / np.exp(raw).sum(
            axis=1 if len(shape) > 1 else 0, keepdims=True
        )
        ignore = -100
    else:
        target = _indices(draw, target_shape, c)
        ignore = draw(st.sampled_from([-100, 0]))
        if np.all(target == ignore):
            ignore = -100  # every target ignored: the (all ignored) rows
    weight = draw(st.none() | floats((c,), low=0.1, high=2.0, edges=("normal",)))
    amount = draw(st.sampled_from([0.2, 0.05])) if smoothing else 0.0
    return x, target, weight, ignore, draw(REDUCTIONS), amount


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


@st.composite
def _bce_case(draw: Any, logits: bool = False) -> tuple:
    """(input, target, weight, reduction[, pos_weight])."""
    x = draw(floats(min_dims=1, **({} if logits else {"low": 0.02, "high": 0.98})))
    target = draw(floats(x.shape, low=0.0, high=1.0))
    weight = draw(st.none() | floats(x.shape[-1:], low=0.1, high=2.0))
    case = (x, target, weight, draw(REDUCTIONS))
    if logits:
        case += (draw(st.none() | floats(x.shape[-1:], low=0.1, high=3.0)),)
    return case


# Every target ignored, mean reduction: the loss is 0 / 0 = NaN and the
# gradient 0 in both; torch's derivative of that gradient by the output
# gradient is NaN (its rule is the loss again), which no composition of ops
# can give a zero gradient, so double backward is not compared.
ALL_IGNORED = (_fixed((2, 3)), np.array([-100, -100]), None, -100, "mean", 0.0)
ALL_IGNORED_NOTE = (
    "every target ignored: NaN loss, zero gradient; no double backward (torch's "
    "derivative by the output gradient is NaN there)"
)

SPECS = [
    OpSpec(
        "F.embedding",
        _embedding,
        _embedding_case(),
        grad=(False, True),
        fd_ok=_embedding_fd_ok,
        cases=[
            (np.array([[0, 4], [4, 4]]), _fixed((5, 3)), -1, True),  # repeats
            (np.array([5]), _fixed((5, 3)), None, False),  # torch: IndexError
        ],
    ),
    OpSpec(
        "F.embedding(empty indices)",
        _embedding,
        st.just((np.zeros((0, 2), dtype=np.int64), _fixed((3, 2)), None, False)),
        grad=(False, True),
        # torch's double backward raises "cannot reshape tensor of 0 elements"
        gradgrad=False,
        note="no double backward: torch's raises on an empty index",
    ),
    OpSpec(
        "F.embedding(max_norm)",
        _embedding_max_norm,
        _max_norm_case(),
        grad=(False, True),
        fd_ok=lambda *_: False,  # the call rescales its own input in place
    ),
    OpSpec(
        "F.one_hot",
        lambda lib, idx, n: F(lib).one_hot(idx, n),
        _one_hot_case(),
        backward=False,
        cases=[
            (np.zeros((0,), dtype=np.int64), -1),  # torch: cannot infer classes
            (np.array([0, 3]), 3),  # a class above num_classes
            (np.array([1, -1]), 3),  # a negative class
        ],
    ),
    CustomSpec(
        "F.dropout",
        _dropout_check,
        st.tuples(floats((40, 50), low=1.0, high=2.0), P_DROP),
        note="kept values x / (1 - p), gradient mask / (1 - p), kept fraction "
        "within 5 sd of 1 - p (plaingrad and torch), p = 0 / eval return the "
        "input, p = 1 zeros with zero gradient, p outside [0, 1] ValueError",
    ),
    CustomSpec(
        "F.dropout2d",
        _dropout2d_check,
        st.tuples(
            st.sampled_from([(30, 40, 2, 3), (40, 30, 3)]).flatmap(
                lambda s: floats(s, low=1.0, high=2.0)
            ),
            P_DROP,
        ),
        note="as F.dropout, with one draw per (sample, channel) shared by its "
        "plane; a 3-D input is (N, C, L) as in PyTorch today",
    ),
    OpSpec(
        "F.scaled_dot_product_attention",
        _attention,
        _attention_case(),
        examples_scale=1.34,
        cases=[_blocked_row_case()],
    ),
    OpSpec(
        "F.mse_loss",
        lambda lib, x, y, reduction: F(lib).mse_loss(x, y, reduction=reduction),
        _mse_case(),
        cases=[(np.zeros((0, 3)), np.zeros((0, 3)), "mean")],  # NaN, empty grads
    ),
    OpSpec(
        "F.mse_loss(broadcast)",
        _mse_broadcast,
        st.tuples(floats((3, 1)), floats((2,)), REDUCTIONS),
    ),
    OpSpec(
        "F.cross_entropy",
        _cross_entropy,
        _class_case(),
        grad=NO_WEIGHT_GRAD,
    ),
    OpSpec(
        "F.cross_entropy(all ignored)",
        _cross_entropy,
        st.just(ALL_IGNORED),
        grad=NO_WEIGHT_GRAD,
        gradgrad=False,
        note=ALL_IGNORED_NOTE,
    ),
    OpSpec(
        "F.cross_entropy(label_smoothing)",
        _cross_entropy,
        _class_case(smoothing=True),
        grad=NO_WEIGHT_GRAD,
    ),
    OpSpec(
        "F.cross_entropy(probabilities)",
        _cross_entropy,
        _class_case(probabilities=True),
        grad=NO_WEIGHT_GRAD,
    ),
    OpSpec(
        "F.nll_loss",
        _nll,
        _class_case(),
        grad=NO_WEIGHT_GRAD,
    ),
    OpSpec(
        "F.nll_loss(all ignored)",
        _nll,
        st.just(ALL_IGNORED),
        grad=NO_WEIGHT_GRAD,
        gradgrad=False,
        note=ALL_IGNORED_NOTE,
    ),
    OpSpec(
        "F.binary_cross_entropy",
        lambda lib, x, y, w, reduction: F(lib).binary_cross_entropy(
            x, y, w, reduction=reduction
        ),
        _bce_case(),
        grad=(True, False, False),
    ),
    OpSpec(
        "F.binary_cross_entropy_with_logits",
        lambda lib, x, y, w, reduction, pw: F(lib).binary_cross_entropy_with_logits(
            x, y, w, reduction=reduction, pos_weight=pw
        ),
        _bce_case(logits=True),
        grad=(True, True, False, False, False),
    ),
]
