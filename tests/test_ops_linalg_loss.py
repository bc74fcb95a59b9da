"""Matrix products (matmul, mm, bmm, linear) and the losses (mse, nll, cross
entropy), against float64 finite differences, real PyTorch and NumPy.

The cross-entropy cases from public bug reports carry their right values in
the test: ln 2 for two equal logits of 1e8, and 1000 for logits ±1000.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients, forward_value

import plaingrad as pg
import plaingrad.nn.functional as F
from plaingrad.warnings import PlaingradWarning

torch = import_torch()

# ---------------------------------------------------------------------- matmul

MATMUL_SHAPES = [
    ((3,), (3,)),  # dot product
    ((3,), (3, 4)),  # vector @ matrix
    ((2, 3), (3,)),  # matrix @ vector
    ((2, 3), (3, 4)),
    ((2, 2, 3), (2, 3, 4)),  # batched
    ((2, 1, 2, 3), (3, 3, 4)),  # batch dimensions broadcast
    ((1, 2, 3), (4, 3, 2)),
    ((3,), (2, 3, 4)),  # vector @ batch
    ((2, 2, 3), (3,)),  # batch @ vector
    ((2, 3), (5, 3, 4)),  # matrix @ batch
]


@pytest.mark.parametrize(("shape_a", "shape_b"), MATMUL_SHAPES)
def test_matmul(shape_a: tuple, shape_b: tuple) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)

    def operator(m, x, y):
        return x @ y

    def function(m, x, y):
        return m.matmul(x, y)

    np.testing.assert_allclose(forward_value(operator, a, b), a @ b, rtol=1e-12)
    check_against_torch(torch, operator, a, b)
    check_against_torch(torch, function, a, b)
    check_gradients(operator, a, b)


def test_matmul_one_side_requires_grad() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    for flags in ((True, False), (False, True)):
        check_against_torch(torch, lambda m, x, y: x @ y, a, b, requires_grad=flags)
        check_gradients(lambda m, x, y: x @ y, a, b, requires_grad=flags)


def test_mm_bmm() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    c, d = rng.standard_normal((2, 2, 3)), rng.standard_normal((2, 3, 4))

    def fn(m, w, x, y, z):
        return m.mm(w, x).sum() + y.bmm(z).sum() + w.mm(x).sum()

    check_against_torch(torch, fn, a, b, c, d)
    check_gradients(fn, a, b, c, d)
    with pytest.raises(RuntimeError, match="mm"):
        pg.mm(pg.zeros(3), pg.zeros(3, 2))
    with pytest.raises(RuntimeError, match="bmm"):
        pg.bmm(pg.zeros(2, 3), pg.zeros(3, 2))


def test_matmul_errors() -> None:
    with pytest.raises(RuntimeError, match="matmul.*3.*4"):
        pg.zeros(2, 3) @ pg.zeros(4, 2)
    with pytest.raises(RuntimeError, match="matmul.*1D"):
        pg.zeros(2, 3) @ pg.tensor(2.0)


def test_matmul_needs_one_dtype_as_torch() -> None:
    for lib in (pg, torch):
        with pytest.raises(RuntimeError, match="same dtype"):
            lib.ones(2, 3) @ lib.ones(3, dtype=lib.float64)
        with pytest.raises(RuntimeError, match="same dtype"):
            lib.ones(2, 3, dtype=lib.int64) @ lib.ones(3)
    assert (
        pg.ones(2, 3, dtype=pg.int64) @ pg.ones(3, dtype=pg.int64)
    ).dtype == pg.int64


# ---------------------------------------------------------------------- linear

LINEAR_SHAPES = [(5, 3), (2, 4, 3), (3,)]


@pytest.mark.parametrize("input_shape", LINEAR_SHAPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear(input_shape: tuple, bias: bool) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal(input_shape)
    w = rng.standard_normal((4, 3))
    b = rng.standard_normal((4,))
    args = (x, w, b) if bias else (x, w)

    def functional(m, *tensors):
        return m.nn.functional.linear(*tensors)

    def ops_linear(m, *tensors):
        if m is pg:
            return pg.ops.linalg.linear(*tensors)
        return torch.nn.functional.linear(*tensors)

    expected = x @ w.T + (b if bias else 0)
    np.testing.assert_allclose(forward_value(functional, *args), expected, rtol=1e-12)
    check_against_torch(torch, functional, *args)
    check_against_torch(torch, ops_linear, *args)
    check_gradients(functional, *args)


def test_linear_grad_fn_names() -> None:
    x = pg.ones(2, 3)
    w = pg.ones(4, 3, requires_grad=True)
    b = pg.ones(4, requires_grad=True)
    assert F.linear(x, w, b).grad_fn.name() == "AddmmBackward0"
    assert F.linear(x, w).grad_fn.name() == "MmBackward0"


def test_linear_errors() -> None:
    with pytest.raises(RuntimeError, match=r"linear: `input.shape\[-1\]` is 3"):
        F.linear(pg.zeros(2, 3), pg.zeros(4, 5))
    with pytest.raises(RuntimeError, match="linear.*float64.*float32|linear.*float32"):
        F.linear(pg.zeros(2, 3, dtype=pg.float64), pg.zeros(4, 3))


# -------------------------------------------------------------------- mse_loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4,), (2, 3), ()])
def test_mse_loss(reduction: str, shape: tuple) -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)

    def fn(m, a, b):
        return m.nn.functional.mse_loss(a, b, reduction=reduction)

    squared = (x - y) ** 2
    expected = {"mean": squared.mean(), "sum": squared.sum(), "none": squared}
    np.testing.assert_allclose(forward_value(fn, x, y), expected[reduction])
    check_against_torch(torch, fn, x, y)
    check_gradients(fn, x, y)
    check_against_torch(torch, fn, x, y, requires_grad=(True, False))


def test_mse_loss_broadcast_target_warns() -> None:
    x, y = pg.zeros(3, 2, requires_grad=True), pg.ones(2)
    with pytest.warns(PlaingradWarning, match="mse_loss.*target size"):
        loss = F.mse_loss(x, y)
    assert loss.item() == 1.0
    with pytest.raises(RuntimeError, match="mse_loss"):
        with pytest.warns(PlaingradWarning):
            F.mse_loss(pg.zeros(3), pg.zeros(2))


def test_mse_loss_bad_reduction() -> None:
    with pytest.raises(ValueError, match="mse_loss.*reduction.*'avg'"):
        F.mse_loss(pg.zeros(2), pg.zeros(2), reduction="avg")


# ---------------------------------------------------- nll_loss, cross_entropy

REDUCTIONS = ["mean", "sum", "none"]


def _logits_and_target(shape: tuple, seed: int) -> tuple:
    """Logits of ``shape`` (N, C, *) or (C,) and matching class targets."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape) * 2
    classes = shape[0] if len(shape) == 1 else shape[1]
    target_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    target = rng.integers(0, classes, target_shape).astype(np.int64)
    return logits, np.asarray(target)


LOSS_SHAPES = [(4, 3), (2, 3, 2), (5,)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", LOSS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy(reduction: str, shape: tuple, weighted: bool) -> None:
    logits, target = _logits_and_target(shape, seed=5)
    classes = shape[0] if len(shape) == 1 else shape[1]
    weight = np.random.default_rng(6).uniform(0.2, 2.0, classes)

    def fn(m, x, t, w):
        return m.nn.functional.cross_entropy(
            x, t, weight=w if weighted else None, reduction=reduction
        )

    # NumPy: -w[t] log softmax(x)[t], mean divided by the sum of the weights used
    class_axis = 0 if len(shape) == 1 else 1
    log_p = logits - np.log(np.exp(logits).sum(axis=class_axis, keepdims=True))
    picked = np.take_along_axis(
        log_p, np.expand_dims(target, class_axis), class_axis
    ).squeeze(class_axis)
    w_t = weight[target] if weighted else np.ones(target.shape)
    losses = -picked * w_t
    expected = {
        "none": losses,
        "sum": losses.sum(),
        "mean": losses.sum() / w_t.sum(),
    }[reduction]
    flags = (True, False, False)
    np.testing.assert_allclose(forward_value(fn, logits, target, weight), expected)
    check_against_torch(torch, fn, logits, target, weight, requires_grad=flags)
    check_gradients(fn, logits, target, weight, requires_grad=flags)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", LOSS_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction: str, shape: tuple, weighted: bool) -> None:
    logits, target = _logits_and_target(shape, seed=7)
    classes = shape[0] if len(shape) == 1 else shape[1]
    weight = np.random.default_rng(8).uniform(0.2, 2.0, classes)

    def fn(m, x, t, w):
        return m.nn.functional.nll_loss(
            x, t, weight=w if weighted else None, reduction=reduction
        )

    flags = (True, False, False)
    check_against_torch(torch, fn, logits, target, weight, requires_grad=flags)
    check_gradients(fn, logits, target, weight, requires_grad=flags)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_ignore_index(reduction: str, weighted: bool, name: str) -> None:
    logits = np.random.default_rng(9).standard_normal((5, 3))
    target = np.array([0, -100, 2, 1, -100])
    custom = np.array([0, 2, 2, 1, 1])
    weight = np.array([0.5, 2.0, 1.5])

    def fn(m, x, t, w):
        return getattr(m.nn.functional, name)(
            x, t, weight=w if weighted else None, reduction=reduction
        )

    def fn_custom(m, x, t, w):
        return getattr(m.nn.functional, name)(
            x, t, weight=w if weighted else None, reduction=reduction, ignore_index=2
        )

    flags = (True, False, False)
    for f, t in ((fn, target), (fn_custom, custom)):
        check_against_torch(torch, f, logits, t, weight, requires_grad=flags)
        check_gradients(f, logits, t, weight, requires_grad=flags)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_index_with_extra_dimensions(reduction: str) -> None:
    # (N, C, d1) logits: the per-position path, with ignored positions
    logits = np.random.default_rng(10).standard_normal((2, 3, 4))
    target = np.array([[0, -100, 2, 1], [2, 2, -100, 0]])
    weight = np.array([0.5, 2.0, 1.5])

    def fn(m, x, t, w):
        return m.nn.functional.cross_entropy(x, t, weight=w, reduction=reduction)

    flags = (True, False, False)
    check_against_torch(torch, fn, logits, target, weight, requires_grad=flags)
    check_gradients(fn, logits, target, weight, requires_grad=flags)


def test_ignored_targets_leave_the_mean() -> None:
    # the mean is over the targets that count: here one, with loss ln 2
    x = pg.zeros(3, 2, requires_grad=True)
    loss = F.cross_entropy(x, pg.tensor([-100, 1, -100]))
    assert loss.item() == pytest.approx(math.log(2))
    loss.backward()
    assert x.grad.tolist() == [[0.0, 0.0], [0.5, -0.5], [0.0, 0.0]]


def test_class_weights_mean_divides_by_the_targets_weights() -> None:
    # losses ln 2 each, weights 1 and 3: (1 ln 2 + 3 ln 2) / (1 + 3) = ln 2
    x = pg.zeros(2, 2, requires_grad=True)
    w = pg.tensor([1.0, 3.0])
    loss = F.cross_entropy(x, pg.tensor([0, 1]), weight=w)
    assert loss.item() == pytest.approx(math.log(2))
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-0.125, 0.125], [0.375, -0.375]])
    summed = F.cross_entropy(x, pg.tensor([0, 1]), weight=w, reduction="sum")
    assert summed.item() == pytest.approx(4 * math.log(2))


def test_cross_entropy_equal_huge_logits() -> None:
    # public bug report: cross_entropy([[1e8, 1e8]], [1]) is ln 2
    x = pg.tensor([[1e8, 1e8]], requires_grad=True)
    loss = F.cross_entropy(x, pg.tensor([1]))
    assert loss.item() == pytest.approx(math.log(2), rel=1e-6)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, -0.5]])


def test_cross_entropy_logits_of_a_thousand() -> None:
    # public bug report: cross_entropy([[1000., 0., -1000.]], [1]) is 1000
    x = pg.tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    loss = F.cross_entropy(x, pg.tensor([1]))
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, -1.0, 0.0]], atol=1e-30)
    assert loss.grad_fn.name() == "NllLossBackward0"


def test_cross_entropy_integer_logits_raise() -> None:
    with pytest.raises(RuntimeError, match="cross_entropy.*floating point"):
        F.cross_entropy(pg.tensor([[1000, 0, -1000]]), pg.tensor([1]))
    # PyTorch raises too
    with pytest.raises(RuntimeError):
        torch.nn.functional.cross_entropy(
            torch.tensor([[1000, 0, -1000]]), torch.tensor([1])
        )


def test_loss_argument_errors() -> None:
    x = pg.zeros(2, 3)
    with pytest.raises(IndexError, match="nll_loss.*Target 3 is out of bounds"):
        F.nll_loss(x, pg.tensor([0, 3]))
    with pytest.raises(ValueError, match="nll_loss.*shape"):
        F.nll_loss(x, pg.tensor([0, 1, 2]))
    with pytest.raises(RuntimeError, match="nll_loss.*target"):
        F.nll_loss(x, pg.tensor([0.0, 1.0]))
    with pytest.raises(RuntimeError, match="nll_loss.*weight"):
        F.nll_loss(x, pg.tensor([0, 1]), weight=pg.ones(2))
    with pytest.raises(
        ValueError, match="cross_entropy.*reduction|nll_loss.*reduction"
    ):
        F.cross_entropy(x, pg.tensor([0, 1]), reduction="avg")


def test_loss_modules_match_functional() -> None:
    x = np.random.default_rng(10).standard_normal((4, 3))
    t = np.array([2, 0, 1, 1])
    w = np.array([1.0, 2.0, 0.5])

    def fn(m, a, target, weight):
        ce = m.nn.CrossEntropyLoss(weight=weight, reduction="sum")(a, target)
        nll = m.nn.NLLLoss(ignore_index=0)(m.log_softmax(a, 1), target)
        mse = m.nn.MSELoss()(a, a.detach() * 2)
        return ce + nll + mse

    flags = (True, False, False)
    check_against_torch(torch, fn, x, t, w, requires_grad=flags)
