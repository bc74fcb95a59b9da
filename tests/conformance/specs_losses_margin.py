"""The hinge and margin losses of ``nn.functional`` and their modules.

Each case draws scores from the ties pool often (values such as 0.5, 1, 2
that the margins take too), so terms land exactly on their hinge, where the
subgradient is PyTorch's: the losses it composes from ``clamp_min``
(hinge embedding, margin ranking, cosine, triplet) pass the gradient there,
its native kernels (multi margin, multilabel margin) count only strictly
positive terms. Fixed ``cases`` put the hinge losses on their kinks, and
1e-3 to either side of them, in every profile. Finite differences are
skipped (``fd_ok``) where a case sits within 1e-6 of a kink. Every
reduction, margins from 0 to 2, p = 1 and 2 (and 3 for the triplet's
distance), class weights, the distance swap and unbatched inputs are drawn.
``multi_margin_loss`` and ``multilabel_margin_loss`` have no double backward
in PyTorch ("n/a"); tests/test_losses_margin.py checks plaingrad's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from .harness import ModuleSpec, OpSpec, floats

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
MARGINS = st.sampled_from([1.0, 0.5, 2.0])
KINK = 1e-6  # finite differences need the hinge farther than this
NEAR = np.array([1e-3, -1e-3, 2e-3, -2e-3, 1e-3])  # just off the kinks
EDGES = ("normal", "ties", "ties", "zeros")


def F(lib: Any) -> Any:
    return lib.nn.functional


def _signs(draw: Any, shape: tuple, values: tuple = (1.0, -1.0)) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return rng.choice(np.array(values), size=shape)


def _off_kink(*values: np.ndarray) -> bool:
    return all(np.all(np.abs(v) > KINK) for v in values)


# ------------------------------------------------------------ hinge embedding


@st.composite
def _hinge_case(draw: Any) -> tuple:
    """(input, target, margin, reduction); the target may broadcast."""
    x = draw(floats(edges=EDGES, max_dims=2))
    target_shape = draw(st.sampled_from([x.shape, x.shape[-1:], ()]))
    # a target that is neither 1 nor -1 gets both terms (PyTorch's rule)
    t = _signs(draw, target_shape, draw(st.sampled_from([(1.0, -1.0), (1, -1, 0)])))
    return x, t, draw(MARGINS), draw(REDUCTIONS)


def _hinge(lib: Any, x, t, margin, reduction) -> Any:
    return F(lib).hinge_embedding_loss(x, t, margin=margin, reduction=reduction)


def _hinge_fd_ok(x, t, margin, reduction) -> bool:
    return _off_kink(margin - x)


HINGE_KINKS = (
    np.array([1.0, 0.5, 2.0, 1.0, 0.3]),
    np.array([-1.0, -1.0, -1.0, 1.0, 0.0]),
    1.0,
    "none",
)


# ------------------------------------------------------------- margin ranking


@st.composite
def _ranking_case(draw: Any) -> tuple:
    """(input1, input2, target, margin, reduction): same ndim, broadcastable."""
    shape = draw(st.sampled_from([(4,), (3, 2), (), (2, 1)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    ones = [s if rng.random() < 0.7 else 1 for s in shape]
    x1 = draw(floats(shape, edges=EDGES))
    x2 = draw(floats(tuple(ones), edges=EDGES))
    t = _signs(draw, shape)
    return x1, x2, t, draw(st.sampled_from([0.0, 0.5, 1.0])), draw(REDUCTIONS)


def _ranking(lib: Any, x1, x2, t, margin, reduction) -> Any:
    return F(lib).margin_ranking_loss(x1, x2, t, margin=margin, reduction=reduction)


def _ranking_fd_ok(x1, x2, t, margin, reduction) -> bool:
    return _off_kink(-t * (x1 - x2) + margin)


RANKING_KINKS = (
    np.array([1.0, 2.0, 0.0, 0.5]),
    np.array([1.0, 1.0, 0.0, 1.5]),
    np.array([1.0, -1.0, 1.0, 1.0]),
    1.0,
    "none",
)


# ---------------------------------------------------------------- soft margin


@st.composite
def _soft_case(draw: Any) -> tuple:
    x = draw(floats(edges=("normal", "ties", "zeros", "large")))
    shape = draw(st.sampled_from([x.shape, x.shape[-1:]]))
    return x, _signs(draw, shape), draw(REDUCTIONS)


def _soft(lib: Any, x, t, reduction) -> Any:
    return F(lib).soft_margin_loss(x, t, reduction=reduction)


# ---------------------------------------------------------------- multi margin


@st.composite
def _multi_case(draw: Any, classes: int = 0) -> tuple:
    """(input, target, p, margin, weight, reduction); only (input, target)
    for a module's ``classes``."""
    c = classes or draw(st.integers(1, 4))
    unbatched = draw(st.sampled_from([False, False, True]))
    shape = (c,) if unbatched else (draw(st.integers(1, 3)), c)
    x = draw(floats(shape, edges=EDGES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(0, c, () if unbatched else shape[:1]).astype(np.int64)
    if classes:
        return x, t
    weight = draw(st.none() | floats((c,), low=0.1, high=2.0, edges=("normal",)))
    p = draw(st.sampled_from([1, 2]))
    return x, t, p, draw(MARGINS), weight, draw(REDUCTIONS)


def _multi(lib: Any, x, t, p, margin, weight, reduction) -> Any:
    return F(lib).multi_margin_loss(
        x, t, p=p, margin=margin, weight=weight, reduction=reduction
    )


def _multi_z(x, t, margin) -> np.ndarray:
    """The hinge arguments z[n, i] with the right class left out."""
    x2 = x.reshape(-1, x.shape[-1])
    rows = np.arange(len(x2))
    z = margin - x2[rows, t.reshape(-1)][:, None] + x2
    return np.delete(z.ravel(), rows * x2.shape[1] + t.reshape(-1))


def _multi_fd_ok(x, t, p, margin, weight, reduction) -> bool:
    return _off_kink(_multi_z(x, t, margin))


MULTI_KINKS = (
    np.array([[1.0, 0.0, 0.5], [1.0, 1.0, 1.0], [0.0, 3.0, -1.0]]),
    np.array([0, 1, 2]),
)


# ----------------------------------------------------------- multilabel margin


@st.composite
def _multilabel_case(draw: Any) -> tuple:
    """(input, target, reduction): right classes first, ended by -1."""
    c = draw(st.integers(1, 4))
    unbatched = draw(st.booleans())
    shape = (c,) if unbatched else (draw(st.integers(1, 3)), c)
    x = draw(floats(shape, edges=EDGES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(-1, c, shape).astype(np.int64)  # repeats and -1 anywhere
    return x, t, draw(REDUCTIONS)


def _multilabel(lib: Any, x, t, reduction) -> Any:
    return F(lib).multilabel_margin_loss(x, t, reduction=reduction)


def _multilabel_fd_ok(x, t, reduction) -> bool:
    for row, labels in zip(x.reshape(-1, x.shape[-1]), t.reshape(-1, t.shape[-1])):
        listed = labels[: np.argmax(labels == -1)] if -1 in labels else labels
        wrong = np.setdiff1d(np.arange(len(row)), listed)
        for j in listed:
            if not _off_kink(1 - row[j] + row[wrong]):
                return False
    return True


MULTILABEL_KINKS = (
    np.array([[0.1, 0.2, 0.4, 0.8], [1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]),
    np.array([[3, 0, -1, 1], [0, -1, 2, 2], [1, 1, -1, 2]]),
    "none",
)


# ----------------------------------------------------------- cosine embedding


@st.composite
def _cosine_case(draw: Any) -> tuple:
    """(input1, input2, target, margin, reduction)."""
    d = draw(st.integers(1, 4))
    unbatched = draw(st.booleans())
    shape = (d,) if unbatched else (draw(st.integers(1, 3)), d)
    x1 = draw(floats(shape, edges=("normal", "ties")))
    x2 = draw(
        floats(draw(st.sampled_from([shape, (1, d) if not unbatched else shape])))
    )
    t = _signs(draw, shape[:-1], draw(st.sampled_from([(1.0, -1.0), (1, -1, 0)])))
    return x1, x2, t, draw(st.sampled_from([0.0, 0.5, -0.5])), draw(REDUCTIONS)


def _cosine(lib: Any, x1, x2, t, margin, reduction) -> Any:
    return F(lib).cosine_embedding_loss(x1, x2, t, margin=margin, reduction=reduction)


def _cosine_fd_ok(x1, x2, t, margin, reduction) -> bool:
    n1 = np.linalg.norm(x1, axis=-1)
    n2 = np.linalg.norm(x2, axis=-1)
    if np.any(n1 < 1e-3) or np.any(n2 < 1e-3):
        return False  # the 1e-12 floor makes the cosine steep at 0
    cos = np.sum(x1 * x2, axis=-1) / (n1 * n2)
    return _off_kink(np.where(t == -1, cos - margin, 1.0))


# ------------------------------------------------------------------- triplet


@st.composite
def _triplet_case(draw: Any) -> tuple:
    """(anchor, positive, negative, margin, p, eps, swap, reduction)."""
    d = draw(st.integers(1, 4))
    shape = draw(st.sampled_from([(draw(st.integers(1, 3)), d), (d,)]))
    a, pos, neg = (draw(floats(shape, edges=("normal", "ties"))) for _ in range(3))
    p = draw(st.sampled_from([2.0, 1.0, 3.0]))
    eps = draw(st.sampled_from([1e-6, 0.0]))
    return a, pos, neg, draw(MARGINS), p, eps, draw(st.booleans()), draw(REDUCTIONS)


def _distance(x1, x2, p, eps) -> np.ndarray:
    return np.linalg.norm(x1 - x2 + eps, ord=p, axis=-1)


def _triplet_fd_ok(a, pos, neg, margin, p, eps, swap, reduction) -> bool:
    for x1, x2 in ((a, pos), (a, neg), (pos, neg)):
        if not _off_kink(x1 - x2 + eps):
            return False  # a norm's kink (p=1) or its 0/0 at a zero difference
    d_neg = _distance(a, neg, p, eps)
    d_swap = _distance(pos, neg, p, eps)
    if swap and not _off_kink(d_neg - d_swap):
        return False
    if swap:
        d_neg = np.minimum(d_neg, d_swap)
    return _off_kink(margin + _distance(a, pos, p, eps) - d_neg)


def _triplet(lib: Any, a, pos, neg, margin, p, eps, swap, reduction) -> Any:
    return F(lib).triplet_margin_loss(
        a, pos, neg, margin=margin, p=p, eps=eps, swap=swap, reduction=reduction
    )


TRIPLET_KINKS = (  # d(a, p) + 1 == d(a, n) in the first row; swap ties below
    np.array([[0.0, 0.0], [1.0, 1.0]]),
    np.array([[1.0, 0.0], [1.0, 2.0]]),
    np.array([[2.0, 0.0], [1.0, 1.5]]),
    1.0,
    2.0,
    0.0,
    True,
    "none",
)


# --------------------------------------------------------- multilabel logistic


@st.composite
def _multilabel_soft_case(draw: Any) -> tuple:
    """(input, target, weight, reduction)."""
    x = draw(floats(draw(st.sampled_from([(2, 3), (4,), (1, 2)]))))
    t = _signs(draw, x.shape, (0.0, 1.0))
    weight = draw(st.none() | floats(x.shape[-1:], low=0.1, high=2.0))
    return x, t, weight, draw(REDUCTIONS)


def _multilabel_soft(lib: Any, x, t, weight, reduction) -> Any:
    return F(lib).multilabel_soft_margin_loss(x, t, weight, reduction=reduction)


SPECS = [
    OpSpec(
        "F.hinge_embedding_loss",
        _hinge,
        _hinge_case(),
        grad=(True, False),
        fd_ok=_hinge_fd_ok,
        cases=[
            HINGE_KINKS,
            (HINGE_KINKS[0] + NEAR, HINGE_KINKS[1], 1.0, "sum"),
            (np.zeros(0), np.zeros(0), 1.0, "mean"),
        ],
    ),
    OpSpec(
        "F.margin_ranking_loss",
        _ranking,
        _ranking_case(),
        fd_ok=_ranking_fd_ok,
        cases=[
            RANKING_KINKS,
            RANKING_KINKS[:3] + (0.0, "mean"),
            (RANKING_KINKS[0] + NEAR[:4],) + RANKING_KINKS[1:3] + (1.0, "sum"),
        ],
    ),
    OpSpec(
        "F.soft_margin_loss",
        _soft,
        _soft_case(),
        grad=(True, False),
        cases=[(np.array([0.0, 100.0, -100.0]), np.array([1.0, -1.0, 1.0]), "sum")],
        note="log1p(exp(-y x)) as PyTorch writes it: inf beyond exp's range",
    ),
    OpSpec(
        "F.multi_margin_loss",
        _multi,
        _multi_case(),
        grad=(True, False, False, False, False, False),
        fd_ok=_multi_fd_ok,
        cases=[
            MULTI_KINKS + (1, 1.0, None, "none"),
            MULTI_KINKS + (2, 1.0, np.array([1.0, 2.0, 3.0]), "mean"),
            (MULTI_KINKS[0] + NEAR[:3], MULTI_KINKS[1], 1, 1.0, None, "sum"),
            (np.array([0.5, 1.5]), np.array(1), 1, 1.0, None, "none"),  # unbatched
        ],
    ),
    OpSpec(
        "F.multilabel_margin_loss",
        _multilabel,
        _multilabel_case(),
        grad=(True, False, False),
        fd_ok=_multilabel_fd_ok,
        cases=[
            MULTILABEL_KINKS,
            (MULTILABEL_KINKS[0] + NEAR[:4], MULTILABEL_KINKS[1], "sum"),
        ],
    ),
    OpSpec(
        "F.cosine_embedding_loss",
        _cosine,
        _cosine_case(),
        grad=(True, True, False),
        fd_ok=_cosine_fd_ok,
        cases=[
            (
                np.array([[1.0, 0.0], [1.0, 1.0]]),
                np.array([[0.0, 1.0], [2.0, 2.0]]),
                np.array([-1.0, -1.0]),
                0.0,
                "none",
            )
        ],
    ),
    OpSpec(
        "F.triplet_margin_loss",
        _triplet,
        _triplet_case(),
        fd_ok=_triplet_fd_ok,
        cases=[TRIPLET_KINKS],
    ),
    OpSpec(
        "F.multilabel_soft_margin_loss",
        _multilabel_soft,
        _multilabel_soft_case(),
        grad=(True, True, False),
    ),
    ModuleSpec(
        "nn.HingeEmbeddingLoss",
        lambda lib: lib.nn.HingeEmbeddingLoss(margin=0.5, reduction="sum"),
        _hinge_case().map(lambda case: case[:2]),
        grad=(True, False),
        fd_ok=lambda x, t: _off_kink(0.5 - x),
    ),
    ModuleSpec(
        "nn.MultiMarginLoss",
        lambda lib: lib.nn.MultiMarginLoss(
            p=2, margin=0.5, weight=lib.tensor([1.0, 0.5, 2.0])
        ),
        _multi_case(classes=3),
        grad=(True, False),
        fd_ok=lambda x, t: _off_kink(_multi_z(x, t, 0.5)),
        cases=[MULTI_KINKS],
    ),
    ModuleSpec(
        "nn.MarginRankingLoss",
        lambda lib: lib.nn.MarginRankingLoss(margin=0.5),
        _ranking_case().map(lambda case: case[:3]),
        fd_ok=lambda x1, x2, t: _off_kink(-t * (x1 - x2) + 0.5),
    ),
    ModuleSpec(
        "nn.SoftMarginLoss",
        lambda lib: lib.nn.SoftMarginLoss(reduction="none"),
        _soft_case().map(lambda case: case[:2]),
        grad=(True, False),
    ),
]
