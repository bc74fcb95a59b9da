"""l1, smooth_l1, huber and the binary cross-entropies against PyTorch."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()

REDUCTIONS = ("none", "mean", "sum")
rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4)) * 2
Y = rng.standard_normal((3, 4))
P = rng.uniform(0.05, 0.95, (3, 4))
T = rng.uniform(0.0, 1.0, (3, 4))
W = rng.uniform(0.1, 2.0, (4,))
PW = rng.uniform(0.1, 3.0, (4,))


def _const(lib, values, like):
    return None if values is None else lib.tensor(values, dtype=like.dtype)


REGRESSION = [
    ("l1", lambda F, x, y, r: F.l1_loss(x, y, reduction=r)),
    ("smooth_l1", lambda F, x, y, r: F.smooth_l1_loss(x, y, reduction=r)),
    (
        "smooth_l1_b0.5",
        lambda F, x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.5),
    ),
    ("smooth_l1_b0", lambda F, x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.0)),
    ("huber", lambda F, x, y, r: F.huber_loss(x, y, reduction=r)),
    ("huber_d2", lambda F, x, y, r: F.huber_loss(x, y, reduction=r, delta=2.0)),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,loss", REGRESSION, ids=[n for n, _ in REGRESSION])
def test_regression_against_torch(name, loss, reduction):
    def fn(lib, x, y):
        return loss(lib.nn.functional, x, y, reduction)

    check_against_torch(torch, fn, X, Y)
    check_gradients(fn, X, Y)


@pytest.mark.parametrize("name,loss", REGRESSION, ids=[n for n, _ in REGRESSION])
def test_regression_at_kinks(name, loss):
    # diff exactly 0, +-0.5, +-1, +-2: the branch points of every loss
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0])
    y = np.zeros_like(x)
    check_against_torch(
        torch, lambda lib, a, b: loss(lib.nn.functional, a, b, "sum"), x, y
    )


@pytest.mark.parametrize("name,loss", REGRESSION, ids=[n for n, _ in REGRESSION])
def test_regression_target_shape_warns_and_broadcasts(name, loss):
    def fn(lib, x, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return loss(lib.nn.functional, x, y, "none")

    check_against_torch(torch, fn, X, Y[0])
    x, y = pg.tensor(X), pg.tensor(Y[0])
    with pytest.warns(
        UserWarning,
        match=r"Using a target size \(\(4,\)\) that is "
        r"different to the input size \(\(3, 4\)\)",
    ):
        loss(pg.nn.functional, x, y, "mean")


def test_regression_bad_parameters():
    x = pg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="negative values for beta"):
        pg.nn.functional.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        pg.nn.functional.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match="reduction"):
        pg.nn.functional.l1_loss(x, x, reduction="avg")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, W], ids=["noweight", "weight"])
def test_bce_against_torch(reduction, weight):
    def fn(lib, x, y):
        w = _const(lib, weight, x)
        return lib.nn.functional.binary_cross_entropy(x, y, w, reduction=reduction)

    check_against_torch(torch, fn, P, T)
    check_gradients(fn, P, T)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight", [None, W], ids=["noweight", "weight"])
@pytest.mark.parametrize("pos_weight", [None, PW], ids=["nopw", "pw"])
def test_bce_with_logits_against_torch(reduction, weight, pos_weight):
    def fn(lib, x, y):
        w = _const(lib, weight, x)
        pw = _const(lib, pos_weight, x)
        return lib.nn.functional.binary_cross_entropy_with_logits(
            x, y, w, reduction=reduction, pos_weight=pw
        )

    check_against_torch(torch, fn, X, T)
    check_gradients(fn, X, T)


def test_bce_clamps_log_terms_at_minus_100():
    # probabilities exactly 0 and 1, right and wrong
    x = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])

    def fn(lib, a, b):
        return lib.nn.functional.binary_cross_entropy(a, b, reduction="none")

    check_against_torch(torch, fn, x, y, requires_grad=[True, False])
    out = pg.nn.functional.binary_cross_entropy(pg.tensor(x), pg.tensor(y))
    assert out.item() == pytest.approx(50.0)


@pytest.mark.parametrize("pos_weight", [None, PW[:2]], ids=["nopw", "pw"])
def test_bce_with_logits_is_finite_for_huge_logits(pos_weight):
    x = np.array([[100.0, -100.0], [-100.0, 100.0]])
    y = np.array([[0.0, 1.0], [0.0, 1.0]])

    def fn(lib, a, b):
        pw = _const(lib, pos_weight, a)
        return lib.nn.functional.binary_cross_entropy_with_logits(
            a, b, reduction="none", pos_weight=pw
        )

    check_against_torch(torch, fn, x, y, requires_grad=[True, False])
    out = fn(pg, pg.tensor(x, requires_grad=True), pg.tensor(y))
    out.sum().backward()
    assert np.isfinite(out.detach().numpy()).all()


def test_bce_errors():
    F = pg.nn.functional
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(pg.tensor([1.5, 0.5]), pg.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(pg.tensor([-0.1]), pg.tensor([1.0]))
    with pytest.raises(ValueError, match="different to the input size"):
        F.binary_cross_entropy(pg.tensor([0.5, 0.5]), pg.tensor([1.0]))
    with pytest.raises(ValueError, match="must be the same as input size"):
        F.binary_cross_entropy_with_logits(pg.tensor([0.5, 0.5]), pg.tensor([1.0]))


def test_bce_weight_requiring_grad_raises():
    # as in torch: weight and pos_weight get no gradient
    w = pg.ones(2, requires_grad=True)
    x, y = pg.tensor([0.5, 0.5]), pg.tensor([1.0, 0.0])
    F = pg.nn.functional
    with pytest.raises(RuntimeError, match="with respect to argument 'weight'"):
        F.binary_cross_entropy(x, y, w)
    with pytest.raises(RuntimeError, match="argument 'pos_weight'"):
        F.binary_cross_entropy_with_logits(x, y, pos_weight=w)


def test_modules_match_functional():
    x = rng.standard_normal((2, 4))
    y = rng.uniform(0, 1, (2, 4))
    p = rng.uniform(0.1, 0.9, (2, 4))
    cases = [
        (lambda nn: nn.L1Loss(), x),
        (lambda nn: nn.SmoothL1Loss(reduction="sum", beta=0.5), x),
        (lambda nn: nn.HuberLoss(reduction="none", delta=0.3), x),
        (lambda nn: nn.BCELoss(), p),
    ]
    for make, inp in cases:
        check_against_torch(torch, lambda lib, a, b, m=make: m(lib.nn)(a, b), inp, y)

    def fn(lib, a, b):
        w = _const(lib, W, a)
        return lib.nn.BCEWithLogitsLoss(weight=w, pos_weight=w)(a, b)

    check_against_torch(torch, fn, x, y)
    check_against_torch(torch, lambda lib, a, b: lib.nn.BCEWithLogitsLoss()(a, b), x, y)


@pytest.mark.parametrize(
    "fn",
    [
        lambda F, x, y: F.l1_loss(x, y, reduction="none"),
        lambda F, x, y: F.smooth_l1_loss(x, y, beta=0.7),
        lambda F, x, y: F.huber_loss(x, y, reduction="sum", delta=0.8),
        lambda F, x, y: F.binary_cross_entropy(x.sigmoid(), y.sigmoid()),
        lambda F, x, y: F.binary_cross_entropy_with_logits(
            x, y.sigmoid(), pos_weight=pg.tensor([0.5, 2.0, 1.5, 3.0]).double()
        ),
    ],
    ids=["l1", "smooth_l1", "huber", "bce", "bce_logits"],
)
def test_double_backward(fn):
    x = pg.tensor(X, requires_grad=True)
    y = pg.tensor(Y, requires_grad=True)
    assert pg.autograd.gradgradcheck(lambda a, b: fn(pg.nn.functional, a, b), (x, y))
