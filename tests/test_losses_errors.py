"""Bad arguments to the losses: the exception class is PyTorch's, the message
names the loss; and the dtypes PyTorch accepts give PyTorch's values.

Each case runs in real PyTorch first: where it raises, plaingrad must raise
the same class with the loss's name in the message; where it computes,
plaingrad must compute the same value.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import import_torch

import plaingrad

torch = import_torch()

_RNG = np.random.default_rng(7)
X = _RNG.standard_normal((4, 3)).astype(np.float32)
Y = np.sign(_RNG.standard_normal((4, 3))).astype(np.float32)
ONES = np.ones((4, 3), np.float32)
INTS = np.ones((4, 3), np.int64)
LP = np.log(np.full((5, 2, 4), 0.25, np.float32))  # (T, N, C) log-probabilities
TARGETS = np.array([[1, 2], [3, 1]])
LENGTHS = np.array([5, 5])
TLENGTHS = np.array([2, 2])


def _ctc(lp, targets, il, tl, **kw):
    return lambda F, t: F.ctc_loss(t(lp), t(targets), t(il), t(tl), **kw)


def _call(name, *arrays, **kw):
    def fn(F, t):
        return getattr(F, name)(*(t(a) for a in arrays), **kw)

    return fn


# (id, the loss's name, how to call it)
CASES = [
    # ctc_loss: every argument's shape, dtype and length
    ("ctc targets batch short", "ctc_loss", _ctc(LP, TARGETS[:1], LENGTHS, TLENGTHS)),
    (
        "ctc targets batch long",
        "ctc_loss",
        _ctc(LP, np.array([[1, 2], [3, 1], [1, 1]]), LENGTHS, TLENGTHS),
    ),
    (
        "ctc 1d targets short",
        "ctc_loss",
        _ctc(LP, np.array([1, 2, 3]), LENGTHS, TLENGTHS),
    ),
    (
        "ctc 1d targets long",
        "ctc_loss",
        _ctc(LP, np.array([1, 2, 3, 1, 2]), LENGTHS, TLENGTHS),
    ),
    ("ctc targets 3d", "ctc_loss", _ctc(LP, TARGETS[None], LENGTHS, TLENGTHS)),
    ("ctc targets 0d", "ctc_loss", _ctc(LP, np.array(1), LENGTHS, TLENGTHS)),
    ("ctc input_lengths count", "ctc_loss", _ctc(LP, TARGETS, LENGTHS[:1], TLENGTHS)),
    ("ctc target_lengths count", "ctc_loss", _ctc(LP, TARGETS, LENGTHS, TLENGTHS[:1])),
    (
        "ctc target_lengths list count",
        "ctc_loss",
        lambda F, t: F.ctc_loss(t(LP), t(TARGETS), [5, 5], [2, 2, 1]),
    ),
    (
        "ctc negative input length",
        "ctc_loss",
        _ctc(LP, TARGETS, np.array([-1, 5]), TLENGTHS),
    ),
    (
        "ctc negative target length",
        "ctc_loss",
        _ctc(LP, TARGETS, LENGTHS, np.array([-1, 2])),
    ),
    ("ctc input length > T", "ctc_loss", _ctc(LP, TARGETS, np.array([6, 5]), TLENGTHS)),
    ("ctc target length > S", "ctc_loss", _ctc(LP, TARGETS, LENGTHS, np.array([3, 2]))),
    (
        "ctc float input_lengths",
        "ctc_loss",
        _ctc(LP, TARGETS, LENGTHS.astype(np.float32), TLENGTHS),
    ),
    (
        "ctc float16 log_probs",
        "ctc_loss",
        _ctc(LP.astype(np.float16), TARGETS, LENGTHS, TLENGTHS),
    ),
    (
        "ctc unbatched padded 1d targets",
        "ctc_loss",
        _ctc(LP[:, 0], np.array([1, 2, 3]), np.array(5), np.array(2)),
    ),
    (
        "ctc int64 log_probs",
        "ctc_loss",
        _ctc(LP.astype(np.int64), TARGETS, LENGTHS, TLENGTHS),
    ),
    ("ctc bool log_probs", "ctc_loss", _ctc(LP < 0, TARGETS, LENGTHS, TLENGTHS)),
    (
        "ctc list log_probs",
        "ctc_loss",
        lambda F, t: F.ctc_loss(LP.tolist(), t(TARGETS), [5, 5], [2, 2]),
    ),
    ("ctc log_probs 4d", "ctc_loss", _ctc(LP[None], TARGETS, LENGTHS, TLENGTHS)),
    (
        "ctc bad reduction",
        "ctc_loss",
        _ctc(LP, TARGETS, LENGTHS, TLENGTHS, reduction="x"),
    ),
    # accepted by PyTorch: the values must agree
    (
        "ctc unbatched exact 1d targets",
        "ctc_loss",
        _ctc(LP[:, 0], np.array([1, 2]), np.array(5), np.array(2)),
    ),
    (
        "ctc unbatched 2d targets",
        "ctc_loss",
        _ctc(LP[:, 0], np.array([[1, 2]]), np.array(5), np.array(2)),
    ),
    (
        "ctc int32 targets",
        "ctc_loss",
        _ctc(LP, TARGETS.astype(np.int32), LENGTHS.astype(np.int32), TLENGTHS),
    ),
    # shapes that do not broadcast
    ("kl_div shape", "kl_div", _call("kl_div", X, ONES[:, :2], reduction="sum")),
    ("kl_div broadcast", "kl_div", _call("kl_div", X, ONES[:1], reduction="sum")),
    ("poisson shape", "poisson_nll_loss", _call("poisson_nll_loss", X, ONES[:, :2])),
    ("poisson broadcast", "poisson_nll_loss", _call("poisson_nll_loss", X, ONES[:1])),
    (
        "gaussian target shape",
        "gaussian_nll_loss",
        _call("gaussian_nll_loss", X, X[:, :2], ONES),
    ),
    (
        "gaussian target broadcast",
        "gaussian_nll_loss",
        _call("gaussian_nll_loss", X, X[:1], ONES),
    ),
    (
        "gaussian var shape",
        "gaussian_nll_loss",
        _call("gaussian_nll_loss", X, X, ONES[:, :2]),
    ),
    (
        "cosine feature dim",
        "cosine_embedding_loss",
        _call("cosine_embedding_loss", X, X[:, :2], Y[:, 0]),
    ),
    (
        "cosine batch",
        "cosine_embedding_loss",
        _call("cosine_embedding_loss", X, X[:2], Y[:, 0]),
    ),
    (
        "cosine target length",
        "cosine_embedding_loss",
        _call("cosine_embedding_loss", X, X, Y[:2, 0]),
    ),
    (
        "cosine broadcast",
        "cosine_embedding_loss",
        _call("cosine_embedding_loss", X, X[:1], Y[:, 0]),
    ),
    (
        "triplet feature dim",
        "triplet_margin_loss",
        _call("triplet_margin_loss", X, X, X[:, :2]),
    ),
    (
        "triplet batch",
        "triplet_margin_loss",
        _call("triplet_margin_loss", X, X[:2], X),
    ),
    (
        "triplet swap batch",
        "triplet_margin_loss",
        _call("triplet_margin_loss", X[:1], X, X[:2], swap=True),
    ),
    (
        "triplet broadcast",
        "triplet_margin_loss",
        _call("triplet_margin_loss", X, X[:1], X),
    ),
    (
        "triplet distance batch",
        "triplet_margin_with_distance_loss",
        _call("triplet_margin_with_distance_loss", X, X[:2], X),
    ),
    (
        "triplet distance feature dim",
        "triplet_margin_with_distance_loss",
        _call("triplet_margin_with_distance_loss", X, X, X[:, :2]),
    ),
    (
        "multilabel soft target shape",
        "multilabel_soft_margin_loss",
        _call("multilabel_soft_margin_loss", X, Y[:, :2]),
    ),
    (
        "multilabel soft weight shape",
        "multilabel_soft_margin_loss",
        lambda F, t: F.multilabel_soft_margin_loss(t(X), t(Y), weight=t(ONES[0, :2])),
    ),
    (
        "multilabel soft broadcast",
        "multilabel_soft_margin_loss",
        _call("multilabel_soft_margin_loss", X, Y[:1]),
    ),
    # dtypes
    ("kl_div int64 target", "kl_div", _call("kl_div", X, INTS, reduction="sum")),
    ("kl_div int64 input", "kl_div", _call("kl_div", INTS, X, reduction="sum")),
    (
        "kl_div int64 log target",
        "kl_div",
        _call("kl_div", X, INTS, reduction="sum", log_target=True),
    ),
    ("kl_div bool target", "kl_div", _call("kl_div", X, INTS > 0, reduction="sum")),
    ("gaussian int64 var", "gaussian_nll_loss", _call("gaussian_nll_loss", X, X, INTS)),
    (
        "gaussian negative int64 var",
        "gaussian_nll_loss",
        _call("gaussian_nll_loss", X, X, -INTS),
    ),
    (
        "gaussian int64 target",
        "gaussian_nll_loss",
        _call("gaussian_nll_loss", X, INTS, ONES),
    ),
    (
        "triplet int64",
        "triplet_margin_loss",
        _call("triplet_margin_loss", INTS, 2 * INTS, INTS),
    ),
    (
        "triplet int64 swap p=1",
        "triplet_margin_loss",
        _call("triplet_margin_loss", INTS, 2 * INTS, INTS, swap=True, p=1),
    ),
    (
        "triplet int64 with float",
        "triplet_margin_loss",
        _call("triplet_margin_loss", X, INTS, INTS),
    ),
    (
        "triplet bool",
        "triplet_margin_loss",
        _call("triplet_margin_loss", INTS > 0, INTS > 0, INTS > 0),
    ),
    (
        "cosine int64",
        "cosine_embedding_loss",
        _call("cosine_embedding_loss", INTS, 2 * X, INTS[:, 0]),
    ),
]


def _outcome(lib, fn):
    F = lib.nn.functional
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(F, lambda a: lib.tensor(a)), None
        except Exception as error:  # noqa: BLE001 - compared with torch's below
            return None, error


@pytest.mark.parametrize(
    ("loss", "fn"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_matches_torch(loss, fn):
    expected, torch_error = _outcome(torch, fn)
    got, error = _outcome(plaingrad, fn)
    if torch_error is not None:
        assert error is not None, f"torch raised {torch_error!r}, plaingrad gave {got}"
        assert type(error) is type(torch_error), (error, torch_error)
        assert loss in str(error), f"the message does not name {loss}: {error}"
        return
    assert error is None, f"torch computed {expected}, plaingrad raised {error!r}"
    assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
    np.testing.assert_allclose(
        got.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_the_torch_cases_raise():
    """The table is not all-accepting: most cases are errors in PyTorch."""
    raised = sum(_outcome(torch, c[2])[1] is not None for c in CASES)
    assert raised >= 35
