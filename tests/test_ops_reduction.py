"""Reductions: sum, mean, max/min, argmax/argmin, logsumexp, softmax, log_softmax.

Each is checked against float64 finite differences, real PyTorch (values,
indices, dtypes and gradients) and NumPy, over whole-tensor and per-dim forms
with and without ``keepdim``. Ties and extreme logits get tests with the right
values written in them.
"""

from __future__ import annotations

import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from conftest import import_torch
from hypothesis import given
from hypothesis import strategies as st
from opcheck import check_against_torch, check_gradients, forward_value

import plaingrad as pg

torch = import_torch()


@st.composite
def shape_and_dim(draw, min_dims: int = 1):
    """A shape and a valid (possibly negative) dim of it."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, dim


# ---------------------------------------------------------------- sum and mean


@pytest.mark.parametrize("name", ["sum", "mean"])
@given(case=shape_and_dim(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_sum_mean_over_dim(name: str, case, keepdim: bool, seed: int) -> None:
    shape, dim = case
    x = np.random.default_rng(seed).standard_normal(shape)

    def fn(m, t):
        return getattr(t, name)(dim, keepdim=keepdim)

    expected = getattr(np, name)(x, axis=dim, keepdims=keepdim)
    np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-12)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4)])
def test_sum_mean_whole_tensor(name: str, shape: tuple) -> None:
    x = np.random.default_rng(0).standard_normal(shape)

    def method(m, t):
        return getattr(t, name)()

    def function(m, t):
        return getattr(m, name)(t)

    assert forward_value(method, x).shape == ()
    np.testing.assert_allclose(forward_value(method, x), getattr(np, name)(x))
    check_against_torch(torch, method, x)
    check_against_torch(torch, function, x)
    check_gradients(method, x)


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("dims", [(0, 2), (-1, 0), (1,), ()])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_mean_over_several_dims(name: str, dims: tuple, keepdim: bool) -> None:
    x = np.random.default_rng(1).standard_normal((2, 3, 4))

    def fn(m, t):
        return getattr(m, name)(t, dim=dims, keepdim=keepdim)

    check_against_torch(torch, fn, x)
    check_gradients(fn, x)
    if dims:
        expected = getattr(np, name)(x, axis=dims, keepdims=keepdim)
        np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-12)


def test_sum_of_integers_and_bools_is_int64() -> None:
    assert pg.tensor([1, 2, 3], dtype=pg.int32).sum().dtype == pg.int64
    assert pg.tensor([True, True, False]).sum().item() == 2
    assert pg.tensor([True, True, False]).sum().dtype == pg.int64
    assert pg.tensor([1, 2]).sum(dtype=pg.float64).dtype == pg.float64


def test_mean_of_integers_raises() -> None:
    with pytest.raises(RuntimeError, match="mean"):
        pg.tensor([1, 2, 3]).mean()
    assert pg.tensor([1, 2]).mean(dtype=pg.float32).item() == 1.5


def test_reduction_dim_out_of_range() -> None:
    with pytest.raises(IndexError, match="sum.*range"):
        pg.ones(2, 3).sum(2)
    with pytest.raises(IndexError, match="mean.*range"):
        pg.ones(2, 3).mean(-3)


# --------------------------------------------------------------------- max/min


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("shape", [(5,), (2, 3), (2, 3, 4)])
def test_max_min_whole_tensor(name: str, shape: tuple) -> None:
    x = np.random.default_rng(2).permutation(np.prod(shape)).reshape(shape) * 0.25

    def fn(m, t):
        return getattr(t, name)()

    np.testing.assert_allclose(forward_value(fn, x), getattr(np, name)(x))
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@pytest.mark.parametrize("name", ["max", "min"])
@given(case=shape_and_dim(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_max_min_over_dim(name: str, case, keepdim: bool, seed: int) -> None:
    shape, dim = case
    # distinct values: no ties, so finite differences see a smooth function
    x = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape)
    x = x / 4.0

    def fn(m, t):
        return getattr(m, name)(t, dim, keepdim=keepdim)

    values, indices = fn(pg, pg.tensor(x))
    arg = getattr(np, "arg" + name)(x, axis=dim)
    if keepdim:
        arg = np.expand_dims(arg, dim)
    np.testing.assert_array_equal(indices.numpy(), arg)
    np.testing.assert_allclose(
        values.numpy(), getattr(np, name)(x, axis=dim, keepdims=keepdim)
    )
    assert indices.dtype == pg.int64
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_max_dim_returns_named_values_and_indices() -> None:
    x = pg.tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    out = x.max(dim=1)
    values, indices = out
    assert out.values is values and out.indices is indices
    assert values.tolist() == [5.0, 7.0]
    assert indices.tolist() == [1, 0]
    assert values.requires_grad and not indices.requires_grad
    assert x.min(0, keepdim=True).indices.tolist() == [[0, 1, 0]]


def test_max_ties_whole_tensor_split_the_gradient() -> None:
    # public bug report: x.max() on [1, 3, 3, 2] gives [0, .5, .5, 0]
    x = pg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    x.max().backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]

    y = pg.tensor([2.0, 1.0, 1.0, 1.0], requires_grad=True)
    y.min().backward()
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 1 / 3, 1 / 3, 1 / 3])


def test_max_ties_over_dim_go_to_the_first_index() -> None:
    # public bug report: x.max(dim=0) on [1, 3, 3, 2] gives [0, 1, 0, 0]
    x = pg.tensor([1.0, 3.0, 3.0, 2.0], requires_grad=True)
    values, indices = x.max(dim=0)
    assert indices.item() == 1
    values.backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 0.0]

    y = pg.tensor([[2.0, 1.0, 1.0]], requires_grad=True)
    y.min(dim=1).values.sum().backward()
    assert y.grad.tolist() == [[0.0, 1.0, 0.0]]


def test_max_ties_match_torch() -> None:
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])
    check_against_torch(torch, lambda m, t: t.max(), x)
    check_against_torch(torch, lambda m, t: t.min(), x)
    check_against_torch(torch, lambda m, t: t.max(1), x)
    check_against_torch(torch, lambda m, t: t.max(0, keepdim=True), x)


def test_max_of_two_tensors() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3,))

    def fn(m, x, y):
        return m.max(x, y) + m.min(x, y) * 2

    np.testing.assert_allclose(
        forward_value(fn, a, b), np.maximum(a, b) + 2 * np.minimum(a, b)
    )
    check_against_torch(torch, fn, a, b)
    check_gradients(fn, a, b)


def test_amax_amin() -> None:
    x = np.random.default_rng(4).permutation(12).reshape(3, 4) / 3.0

    def fn(m, t):
        return m.amax(t, 1) + m.amin(t, dim=1) + t.amax()

    np.testing.assert_allclose(
        forward_value(fn, x), x.max(1) + x.min(1) + x.max(), rtol=1e-12
    )
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_max_of_empty_tensor_raises() -> None:
    with pytest.raises(RuntimeError, match="max"):
        pg.zeros(0).max()


# ----------------------------------------------------------------- argmax/min


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_argmin(name: str, dim, keepdim: bool) -> None:
    x = np.array([[1.0, 5.0, 5.0, 0.0], [3.0, -1.0, 3.0, -1.0], [2.0, 2.0, 2.0, 2.0]])
    got = getattr(pg.tensor(x, requires_grad=True), name)(dim, keepdim=keepdim)
    expected = getattr(torch.tensor(x), name)(dim, keepdim=keepdim)

    assert got.dtype == pg.int64
    assert got.requires_grad is False
    assert got.grad_fn is None
    assert tuple(got.shape) == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    if dim is not None and not keepdim:
        np.testing.assert_array_equal(got.numpy(), getattr(np, name)(x, axis=dim))


# ---------------------------------------------------- softmax and logsumexp


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(case=shape_and_dim(), seed=st.integers(0, 2**16))
def test_softmax_family(name: str, case, seed: int) -> None:
    shape, dim = case
    x = np.random.default_rng(seed).standard_normal(shape) * 3

    def fn(m, t):
        return getattr(m.nn.functional, name)(t, dim=dim)

    shifted = x - x.max(axis=dim, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
    expected = log_p if name == "log_softmax" else np.exp(log_p)
    np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-10, atol=1e-14)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@given(case=shape_and_dim(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_logsumexp(case, keepdim: bool, seed: int) -> None:
    shape, dim = case
    x = np.random.default_rng(seed).standard_normal(shape) * 3

    def fn(m, t):
        return m.logsumexp(t, dim, keepdim=keepdim)

    expected = np.log(np.exp(x).sum(axis=dim, keepdims=keepdim))
    np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-10)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_logsumexp_several_dims() -> None:
    x = np.random.default_rng(5).standard_normal((2, 3, 4))

    def fn(m, t):
        return t.logsumexp((0, 2))

    np.testing.assert_allclose(
        forward_value(fn, x), np.log(np.exp(x).sum(axis=(0, 2))), rtol=1e-12
    )
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_softmax_methods_and_tensor_forms() -> None:
    x = np.random.default_rng(6).standard_normal((3, 4))

    def fn(m, t):
        return t.softmax(-1) * 2 + t.log_softmax(0) + m.softmax(t, 1)

    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


LARGE = np.array([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -1000.0]])


def test_extreme_logits_stay_finite() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings either
        x = pg.tensor(LARGE, requires_grad=True)
        softmax = pg.softmax(x, 1)
        log_softmax = pg.log_softmax(x, 1)
        lse = pg.logsumexp(x, 1)
        (softmax.sum() + log_softmax.sum() + lse.sum()).backward()

    np.testing.assert_allclose(
        softmax.detach().numpy(), [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3]]
    )
    np.testing.assert_allclose(
        log_softmax.detach().numpy(),
        [[0.0, -1000.0, -2000.0], [-np.log(3)] * 3],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        lse.detach().numpy(), [1000.0, -1000.0 + np.log(3)], rtol=1e-7
    )
    assert np.isfinite(x.grad.numpy()).all()


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_extreme_logits_match_torch(name: str) -> None:
    def fn(m, t):
        if name == "logsumexp":
            return m.logsumexp(t, 1)
        return getattr(m, name)(t, 1)

    check_against_torch(torch, fn, LARGE)
    check_gradients(fn, LARGE)


def test_logsumexp_of_minus_infinity_is_minus_infinity() -> None:
    x = pg.tensor([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(pg.logsumexp(x, 1).numpy(), [-np.inf, 0.0])


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize(
    "dim, keepdim",
    [((), False), (1, False), (-1, True), ((0, 1), True), ((0, 2), False)],
)
def test_amax_amin_split_ties_as_torch(name: str, dim, keepdim: bool) -> None:
    # ties in every row and column, so the even split is exercised
    x = np.array([[[1.0, 3.0], [3.0, 0.0]], [[2.0, 2.0], [0.0, 2.0]]])

    def fn(m, t):
        return getattr(m, name)(t, dim=dim, keepdim=keepdim)

    check_against_torch(torch, fn, x)
    ours = fn(pg, pg.tensor(x, requires_grad=True))
    theirs = fn(torch, torch.tensor(x, requires_grad=True))
    assert ours.grad_fn.name() == theirs.grad_fn.name()


def test_amax_of_an_empty_dimension_raises() -> None:
    with pytest.raises(IndexError, match="amax: Expected reduction dim"):
        pg.amax(pg.zeros(0, 3), dim=0)
    assert pg.amax(pg.zeros(0, 3), dim=1).shape == (0,)


REDUCTIONS_OF_0D = {
    "sum": lambda m, t: t.sum(dim=0),
    "sum keepdim": lambda m, t: t.sum(dim=-1, keepdim=True),
    "mean": lambda m, t: t.mean(dim=0),
    "max values": lambda m, t: t.max(dim=0)[0],
    "min values": lambda m, t: t.min(0, keepdim=True)[0],
    "logsumexp": lambda m, t: m.logsumexp(t, 0),
    "amax": lambda m, t: m.amax(t, 0),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS_OF_0D))
def test_reducing_a_0d_tensor_over_its_dim(name: str) -> None:
    fn = REDUCTIONS_OF_0D[name]
    check_against_torch(torch, fn, np.array(2.0))
    ours = fn(pg, pg.tensor(2.0, requires_grad=True))
    assert (
        ours.grad_fn.name()
        == fn(torch, torch.tensor(2.0, requires_grad=True)).grad_fn.name()
    )
    assert pg.tensor(2.0).max(dim=0)[1].item() == 0


def test_cat_of_0d_tensors_raises() -> None:
    with pytest.raises(
        RuntimeError, match=r"zero-dimensional tensor \(at position 0\)"
    ):
        pg.cat([pg.tensor(1.0), pg.tensor(2.0)])
    with pytest.raises(TypeError, match="cat\\(\\): expected a sequence of Tensors"):
        pg.cat(pg.ones(2, 2))
