"""Statistics: prod, var, std, norm, count_nonzero, cumsum, cumprod, logcumsumexp.

Each differentiable op is checked against float64 finite differences, real
PyTorch (values, dtypes, grad_fn names and gradients) and NumPy. Products get
inputs with one zero and with several, where a division-based gradient fails;
var and std get PyTorch's answers when the count minus ``correction`` is <= 0;
norm gets every kind of ``p`` and the zero vector.
"""

from __future__ import annotations

import math

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


def away_from_zero(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """Values in +-[0.5, 1.5]: no zeros, products of a moderate size."""
    return rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def grad_fn_names(fn, x: np.ndarray) -> tuple[str, str]:
    """The grad_fn name of ``fn``'s (first) result in plaingrad and in torch."""
    names = []
    for lib in (pg, torch):
        out = fn(lib, lib.tensor(x, requires_grad=True))
        out = out[0] if isinstance(out, tuple) else out
        names.append(out.grad_fn.name())
    return names[0], names[1]


# ------------------------------------------------------------------------ prod


@given(case=shape_and_dim(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_prod_over_dim(case, keepdim: bool, seed: int) -> None:
    shape, dim = case
    x = away_from_zero(np.random.default_rng(seed), shape)

    def fn(m, t):
        return t.prod(dim, keepdim=keepdim)

    expected = np.prod(x, axis=dim, keepdims=keepdim)
    np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-12)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@pytest.mark.parametrize("shape", [(), (1,), (5,), (2, 3)])
def test_prod_whole_tensor(shape: tuple) -> None:
    x = away_from_zero(np.random.default_rng(0), shape)

    def fn(m, t):
        return m.prod(t)

    np.testing.assert_allclose(forward_value(fn, x), np.prod(x), rtol=1e-12)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


ZERO_CASES = {
    "one zero": np.array([[2.0, 0.0, 3.0], [1.5, -2.0, 0.5]]),
    "two zeros in a row": np.array([[0.0, 4.0, 0.0], [1.0, 2.0, 3.0]]),
    "all zeros": np.zeros((2, 3)),
    "zeros in every row": np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]),
}


@pytest.mark.parametrize("case", list(ZERO_CASES))
@pytest.mark.parametrize("dim", [None, 0, 1])
def test_prod_with_zeros(case: str, dim) -> None:
    x = ZERO_CASES[case]

    def fn(m, t):
        return t.prod() if dim is None else t.prod(dim)

    check_against_torch(torch, fn, x)
    check_gradients(fn, x)  # a polynomial: finite differences hold at zeros


def test_prod_gradient_with_zeros_written_out() -> None:
    # one zero: only the zero gets a gradient, the product of the others
    x = pg.tensor([2.0, 0.0, 3.0], requires_grad=True)
    x.prod().backward()
    assert x.grad.tolist() == [0.0, 6.0, 0.0]
    # two zeros: every product of "the others" contains a zero
    y = pg.tensor([0.0, 5.0, 0.0], requires_grad=True)
    y.prod().backward()
    assert y.grad.tolist() == [0.0, 0.0, 0.0]
    assert np.isfinite(y.grad.numpy()).all()


def test_prod_of_integers_bools_and_dtype() -> None:
    i = pg.tensor([[1, 2], [0, 3]], dtype=pg.int32)
    assert i.prod().dtype == pg.int64 and i.prod().item() == 0
    assert i.prod(1).tolist() == [2, 0]
    assert pg.tensor([True, True]).prod().dtype == pg.int64
    x = pg.tensor([1.5, 2.0])
    assert x.prod(dtype=pg.float64).dtype == pg.float64
    with pytest.raises(TypeError, match="prod"):
        x.prod((0,))


# ------------------------------------------------------------------- var, std


@pytest.mark.parametrize("name", ["var", "std"])
@given(
    case=shape_and_dim(),
    keepdim=st.booleans(),
    correction=st.sampled_from([0, 1, 0.5]),
    seed=st.integers(0, 2**16),
)
def test_var_std_over_dim(name, case, keepdim: bool, correction, seed: int) -> None:
    shape, dim = list(case[0]), case[1]
    if shape[dim] - correction <= 0:
        shape[dim] = 2  # keep a positive count - correction (tested apart)
    x = np.random.default_rng(seed).standard_normal(shape)

    def fn(m, t):
        return getattr(t, name)(dim, keepdim=keepdim, correction=correction)

    expected = getattr(np, name)(x, axis=dim, ddof=correction, keepdims=keepdim)
    np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-10)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize(
    "call",
    [
        lambda f: f(),
        lambda f: f(unbiased=False),
        lambda f: f(True),
        lambda f: f(1, False, True),
        lambda f: f(dim=(0, 2)),
        lambda f: f(dim=[-1, 0], correction=2, keepdim=True),
        lambda f: f(0, unbiased=True),
        lambda f: f(keepdim=True),
    ],
)
def test_var_std_call_forms(name: str, call) -> None:
    x = np.random.default_rng(1).standard_normal((3, 4, 2))

    def method(m, t):
        return call(getattr(t, name))

    def function(m, t):
        return call(lambda *args, **kwargs: getattr(m, name)(t, *args, **kwargs))

    check_against_torch(torch, method, x)
    check_against_torch(torch, function, x)
    check_gradients(method, x)


def test_var_std_default_is_unbiased() -> None:
    x = pg.tensor([1.0, 2.0, 4.0])
    np.testing.assert_allclose(x.var().item(), 7 / 3, rtol=1e-6)
    np.testing.assert_allclose(x.std().item(), math.sqrt(7 / 3), rtol=1e-6)
    np.testing.assert_allclose(x.var(correction=0).item(), 14 / 9, rtol=1e-6)


DOF_CASES = [
    # (input, call): the count minus the correction is 0 or negative
    (np.array([1.0]), lambda f: f()),
    (np.array([1.0, 2.0]), lambda f: f(correction=2)),
    (np.array([1.0, 2.0]), lambda f: f(correction=3)),
    (np.array([1.0, 2.0]), lambda f: f(0, correction=2)),
    (np.array([1.0, 2.0]), lambda f: f(0, correction=3)),
    (np.array([[1.0, 2.0], [1.0, 1.0]]), lambda f: f(1, correction=2)),
    (np.array([[1.0, 2.0], [1.0, 1.0]]), lambda f: f(1, correction=3)),
    (np.array([[1.0, 2.0], [1.0, 4.0]]), lambda f: f((0, 1), correction=4)),
    (np.array([[1.0], [3.0]]), lambda f: f(1)),
    (np.array(3.0), lambda f: f()),
]


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("case", range(len(DOF_CASES)))
def test_var_std_without_degrees_of_freedom_match_torch(name: str, case: int) -> None:
    # inf, or nan for 0 / 0, with PyTorch's inf / nan gradients
    x, call = DOF_CASES[case]

    def fn(m, t):
        return call(getattr(t, name))

    with pytest.warns(pg.PlaingradWarning, match="degrees of freedom"):
        check_against_torch(torch, fn, x)


def test_std_of_a_constant_has_zero_gradient() -> None:
    x = np.array([[1.0, 1.0], [3.0, 3.0]])
    check_against_torch(torch, lambda m, t: t.std(), x[0])
    check_against_torch(torch, lambda m, t: t.std(0), x)
    check_against_torch(torch, lambda m, t: t.std(1), x)
    t = pg.tensor(x, requires_grad=True)
    t.std(1).sum().backward()
    assert t.grad.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_var_std_errors() -> None:
    with pytest.raises(RuntimeError, match="var.*floating point"):
        pg.tensor([1, 2]).var()
    with pytest.raises(RuntimeError, match="std.*floating point"):
        pg.tensor([1, 2]).std()
    with pytest.raises(TypeError, match="var.*unbiased.*correction"):
        pg.ones(3).var(unbiased=False, correction=0)


# ------------------------------------------------------------------------ norm


NORM_PS = [1, 2, 3, 1.5, 0.5, -1, -2.5, math.inf, -math.inf, "fro"]


@pytest.mark.parametrize("p", NORM_PS)
@pytest.mark.parametrize(
    "dim,keepdim",
    [(None, False), (None, True), (1, False), (-1, True), ((0, 2), False)],
)
def test_norm(p, dim, keepdim: bool) -> None:
    rng = np.random.default_rng(2)
    # distinct magnitudes away from 0: the inf norms are smooth there
    x = rng.permutation(24).reshape(2, 3, 4) / 8.0 + 0.25
    x = x * rng.choice([-1.0, 1.0], x.shape)

    def fn(m, t):
        return t.norm(p, dim, keepdim)

    magnitudes = np.abs(x)
    axis = dim if dim is not None else None
    if p == math.inf:
        expected = magnitudes.max(axis=axis, keepdims=keepdim)
    elif p == -math.inf:
        expected = magnitudes.min(axis=axis, keepdims=keepdim)
    else:
        q = 2 if p == "fro" else p
        expected = (magnitudes**q).sum(axis=axis, keepdims=keepdim) ** (1 / q)
    np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-10)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@pytest.mark.parametrize("p", [0, 1, 2, 3, 1.5, 0.5, -1, math.inf, -math.inf])
def test_norm_with_zeros_and_ties_matches_torch(p) -> None:
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.0], [2.0, -2.0, 1.0]])
    check_against_torch(torch, lambda m, t: m.norm(t, p, dim=1), x)
    check_against_torch(torch, lambda m, t: m.norm(t, p), x)


def test_norm_at_the_zero_vector_has_zero_gradient() -> None:
    x = pg.zeros(3, requires_grad=True)
    x.norm().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    # p = 0 counts non-zeros: piecewise constant, no gradient at all (as torch)
    y = pg.tensor([1.0, 0.0], requires_grad=True)
    y.norm(0).backward()
    assert y.grad is None


def test_norm_forms_and_errors() -> None:
    x = np.random.default_rng(3).standard_normal((3, 4))
    check_against_torch(torch, lambda m, t: m.norm(t, p="fro", dim=(0, 1)), x)
    check_against_torch(torch, lambda m, t: t.norm(dim=0, keepdim=True), x)
    check_against_torch(torch, lambda m, t: t.norm(p=None), x)
    check_against_torch(torch, lambda m, t: t.norm(2, dtype=m.float64), x)
    with pytest.raises(RuntimeError, match="norm.*floating point"):
        pg.tensor([1, 2]).norm()
    with pytest.raises(NotImplementedError, match="norm.*nuc"):
        pg.ones(2, 2).norm(p="nuc")
    with pytest.raises(RuntimeError, match="norm.*'abc'"):
        pg.ones(2, 2).norm(p="abc")
    with pytest.raises(RuntimeError, match="norm.*empty"):
        pg.zeros(0).norm(math.inf)
    assert pg.zeros(0).norm().item() == 0.0


# ------------------------------------------------------- cumulative ops


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
@given(case=shape_and_dim(), seed=st.integers(0, 2**16))
def test_cumulative_ops(name: str, case, seed: int) -> None:
    shape, dim = case
    x = away_from_zero(np.random.default_rng(seed), shape)

    def fn(m, t):
        return getattr(t, name)(dim)

    if name == "logcumsumexp":
        expected = np.log(np.cumsum(np.exp(x), axis=dim))
    else:
        expected = getattr(np, name)(x, axis=dim)
    np.testing.assert_allclose(forward_value(fn, x), expected, rtol=1e-10)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


CUMPROD_ZEROS = {
    "one zero": np.array([2.0, 0.0, 3.0]),
    "zero first": np.array([0.0, 2.0, 3.0, 0.5]),
    "zero last": np.array([2.0, 3.0, 0.5, 0.0]),
    "two zeros": np.array([1.0, 0.0, 3.0, 0.0, 2.0]),
    "adjacent zeros": np.array([1.5, 0.0, 0.0, 2.0]),
    "rows": np.array(
        [[1.0, 0.0, 2.0, 0.0, 5.0], [0.0, 0.0, 3.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4, 5]]
    ),
}


@pytest.mark.parametrize("case", list(CUMPROD_ZEROS))
def test_cumprod_with_zeros(case: str) -> None:
    x = CUMPROD_ZEROS[case]

    def fn(m, t):
        return t.cumprod(-1)

    check_against_torch(torch, fn, x)
    check_gradients(fn, x)
    if x.ndim == 2:
        check_against_torch(torch, lambda m, t: m.cumprod(t, 0), x)
        check_gradients(lambda m, t: m.cumprod(t, 0), x)


def test_cumprod_gradient_with_zeros_written_out() -> None:
    # d/dx_1 of sum(cumprod([1, 0, 3, 0, 2])) = 1 + 1*3 + 0 + 0 = 4
    x = pg.tensor([1.0, 0.0, 3.0, 0.0, 2.0], requires_grad=True)
    x.cumprod(0).sum().backward()
    assert x.grad.tolist() == [1.0, 4.0, 0.0, 0.0, 0.0]


def test_logcumsumexp_extremes_match_torch() -> None:
    x = np.array([[-np.inf, 1000.0, 0.0, -1000.0], [-1000.0, -1000.0, 50.0, 50.0]])
    check_against_torch(torch, lambda m, t: t.logcumsumexp(1), x)
    out = pg.tensor(x).logcumsumexp(1).numpy()
    np.testing.assert_allclose(
        out[1], [-1000.0, -1000.0 + np.log(2), 50, 50 + np.log(2)]
    )


def test_cumulative_dtypes() -> None:
    i = pg.tensor([[1, 2], [0, 3]], dtype=pg.int32)
    assert i.cumsum(0).dtype == pg.int64 and i.cumsum(0).tolist() == [[1, 2], [1, 5]]
    assert i.cumprod(1).dtype == pg.int64 and i.cumprod(1).tolist() == [[1, 2], [0, 0]]
    assert pg.tensor([True, True]).cumsum(0).tolist() == [1, 2]
    assert pg.tensor([1.0, 2.0]).cumsum(0, dtype=pg.float64).dtype == pg.float64
    with pytest.raises(NotImplementedError, match="logcumsumexp.*int64"):
        pg.tensor([1, 2]).logcumsumexp(0)


# ----------------------------------------------------------------- count_nonzero


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 1)])
def test_count_nonzero(dim) -> None:
    x = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, -3.0]])
    got = pg.count_nonzero(pg.tensor(x, requires_grad=True), dim=dim)
    expected = torch.count_nonzero(torch.tensor(x), dim=dim)
    assert got.dtype == pg.int64 and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_array_equal(got.numpy(), np.count_nonzero(x, axis=dim))
    assert pg.tensor(x).count_nonzero(dim).tolist() == expected.tolist()


# ------------------------------------------------------------ shared behaviour


ALL_OPS = {
    "prod": lambda m, t: t.prod(),
    "prod(dim)": lambda m, t: t.prod(0),
    "var": lambda m, t: t.var(correction=0),
    "std(dim)": lambda m, t: t.std(0, correction=0),
    "norm": lambda m, t: t.norm(),
    "norm(dim)": lambda m, t: t.norm(3, 0),
    "cumsum": lambda m, t: t.cumsum(0),
    "cumprod": lambda m, t: t.cumprod(-1),
    "logcumsumexp": lambda m, t: t.logcumsumexp(0),
}


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_grad_fn_names_match_torch(name: str) -> None:
    x = np.array([[1.0, 2.0], [3.0, 5.0]])
    ours, theirs = grad_fn_names(ALL_OPS[name], x)
    assert ours == theirs


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_zero_dim_and_single_element(name: str) -> None:
    fn = ALL_OPS[name]
    check_against_torch(torch, fn, np.array(1.5))
    check_against_torch(torch, fn, np.array([-1.5]))
    check_gradients(fn, np.array(1.5))


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_float16_matches_torch(name: str) -> None:
    x = np.array([[0.5, 1.25], [-1.5, 2.0]])
    check_against_torch(torch, ALL_OPS[name], x, dtypes=("float16",))


@pytest.mark.parametrize(
    "name,call",
    [
        ("prod", lambda t: t.prod(2)),
        ("var", lambda t: t.var(-3)),
        ("std", lambda t: t.std((0, 2))),
        ("norm", lambda t: t.norm(dim=2)),
        ("cumsum", lambda t: t.cumsum(2)),
        ("cumprod", lambda t: t.cumprod(-3)),
        ("logcumsumexp", lambda t: t.logcumsumexp(5)),
        ("count_nonzero", lambda t: t.count_nonzero(2)),
    ],
)
def test_dim_out_of_range_names_the_op(name: str, call) -> None:
    with pytest.raises(IndexError, match=f"{name}.*out of range"):
        call(pg.ones(2, 3))
