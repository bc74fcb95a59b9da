"""Elementwise ops: arithmetic, math functions, activations, comparisons, where.

Each op is checked three ways: float64 finite differences (gradcheck), real
PyTorch (values, dtypes and gradients in float32 and float64) and NumPy for the
forward value. Broadcastable shape pairs come from hypothesis.
"""

from __future__ import annotations

import math
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from conftest import import_torch
from hypothesis import given
from hypothesis import strategies as st
from opcheck import check_against_torch, check_gradients, dtype_name, forward_value

import plaingrad as pg

torch = import_torch()

# name -> (computation on either library, the NumPy forward)
BINARY = {
    "add": (lambda m, a, b: a + b, np.add),
    "sub": (lambda m, a, b: a - b, np.subtract),
    "mul": (lambda m, a, b: a * b, np.multiply),
    "div": (lambda m, a, b: a / b, np.divide),
    "pow": (lambda m, a, b: a**b, np.power),
}


def _operands(name: str, shape_a: tuple, shape_b: tuple, seed: int) -> tuple:
    """Values away from the points where an op is undefined or not smooth."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, shape_a)
    b = rng.uniform(-2, 2, shape_b)
    if name == "pow":
        a = rng.uniform(0.5, 2.0, shape_a)  # a^b with real values and gradients
    if name == "div":
        b = rng.uniform(0.5, 2.0, shape_b) * rng.choice([-1, 1], shape_b)
    return a, b


broadcast_pairs = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3
)


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=broadcast_pairs, seed=st.integers(0, 2**16))
def test_binary_broadcasting(name: str, shapes, seed: int) -> None:
    fn, numpy_fn = BINARY[name]
    shape_a, shape_b = shapes.input_shapes
    a, b = _operands(name, shape_a, shape_b, seed)

    np.testing.assert_allclose(forward_value(fn, a, b), numpy_fn(a, b), rtol=1e-12)
    check_against_torch(torch, fn, a, b)
    check_gradients(fn, a, b)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("scalar", [2.5, 3, -1.5, 0.5])
def test_binary_tensor_scalar_both_sides(name: str, scalar: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (2, 3)) * rng.choice([-1, 1], (2, 3))
    if name == "pow":
        x = np.abs(x)  # real results on both sides
    _, numpy_fn = BINARY[name]
    ops = {
        "add": lambda a, b: a + b,
        "sub": lambda a, b: a - b,
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "pow": lambda a, b: a**b,
    }
    op = ops[name]

    def right(m, t):
        return op(t, scalar)

    def left(m, t):
        return op(scalar, t)

    np.testing.assert_allclose(forward_value(right, x), numpy_fn(x, scalar))
    check_against_torch(torch, right, x)
    check_gradients(right, x)
    if name == "pow" and scalar < 0:
        return  # a negative base to a real power has no real value
    np.testing.assert_allclose(forward_value(left, x), numpy_fn(scalar, x))
    check_against_torch(torch, left, x)
    check_gradients(left, x)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, -1, 0.5, -2.5])
def test_pow_scalar_exponents(exponent: float) -> None:
    x = np.random.default_rng(1).uniform(0.5, 2.0, (3, 2))

    def fn(m, t):
        return t**exponent

    np.testing.assert_allclose(forward_value(fn, x), x**exponent)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_pow_method_and_function_forms() -> None:
    x = np.random.default_rng(2).uniform(0.5, 2.0, (4,))
    y = np.random.default_rng(3).uniform(-1.0, 1.0, (4,))

    def fn(m, a, b):
        return m.pow(a, b) + a.pow(2) + m.pow(a, 1.5)

    check_against_torch(torch, fn, x, y)
    check_gradients(fn, x, y)


def test_neg() -> None:
    x = np.random.default_rng(4).standard_normal((2, 3))

    def fn(m, t):
        return -t + m.neg(t) + t.neg()

    np.testing.assert_allclose(forward_value(fn, x), -3 * x)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_named_arithmetic_with_alpha() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3,))

    def fn(m, x, y):
        return m.add(x, y, alpha=2.0) + m.sub(x, y, alpha=0.5) + m.mul(x, y)

    np.testing.assert_allclose(
        forward_value(fn, a, b), (a + 2 * b) + (a - b / 2) + a * b
    )
    check_against_torch(torch, fn, a, b)
    check_gradients(fn, a, b)


def test_same_tensor_on_both_sides() -> None:
    x = np.random.default_rng(6).uniform(0.5, 2.0, (3,))

    def fn(m, t):
        return t * t + t / t + t**t - t

    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


# ------------------------------------------------------------ math functions


def _away_from_zero(shape: tuple, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1, 1], shape)


UNARY = {
    # name -> (computation, NumPy forward, input values)
    "exp": (lambda m, t: t.exp(), np.exp, lambda: _away_from_zero((2, 3), 0)),
    "exp_fn": (lambda m, t: m.exp(t), np.exp, lambda: _away_from_zero((4,), 1)),
    "log": (
        lambda m, t: m.log(t),
        np.log,
        lambda: np.abs(_away_from_zero((2, 3), 2)),
    ),
    "sqrt": (
        lambda m, t: t.sqrt(),
        np.sqrt,
        lambda: np.abs(_away_from_zero((3, 2), 3)),
    ),
    "abs": (lambda m, t: t.abs(), np.abs, lambda: _away_from_zero((2, 3), 4)),
    "abs_builtin": (lambda m, t: abs(t), np.abs, lambda: _away_from_zero((5,), 5)),
    "tanh": (lambda m, t: m.tanh(t), np.tanh, lambda: _away_from_zero((2, 3), 6)),
    "sigmoid": (
        lambda m, t: t.sigmoid(),
        lambda x: 1 / (1 + np.exp(-x)),
        lambda: 3 * _away_from_zero((2, 3), 7),
    ),
    "relu": (
        lambda m, t: m.relu(t),
        lambda x: np.maximum(x, 0),
        lambda: _away_from_zero((2, 3), 8),
    ),
    "relu_functional": (
        lambda m, t: m.nn.functional.relu(t),
        lambda x: np.maximum(x, 0),
        lambda: _away_from_zero((4,), 9),
    ),
    "clamp_both": (
        lambda m, t: t.clamp(-0.5, 0.7),
        lambda x: np.clip(x, -0.5, 0.7),
        lambda: _away_from_zero((3, 3), 10),
    ),
    "clamp_min": (
        lambda m, t: m.clamp(t, min=0.3),
        lambda x: np.maximum(x, 0.3),
        lambda: _away_from_zero((3, 3), 11),
    ),
    "clamp_max": (
        lambda m, t: m.clamp(t, max=-0.1),
        lambda x: np.minimum(x, -0.1),
        lambda: _away_from_zero((3, 3), 12),
    ),
    "clip": (
        lambda m, t: t.clip(-1, 1),
        lambda x: np.clip(x, -1, 1),
        lambda: _away_from_zero((3, 3), 13),
    ),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name: str) -> None:
    fn, numpy_fn, values = UNARY[name]
    x = values()
    # Keep clamp's inputs off its bounds, where the derivative jumps.
    x = np.where(np.isclose(np.abs(x), 0.5, atol=0.05), 0.9, x)

    np.testing.assert_allclose(forward_value(fn, x), numpy_fn(x), rtol=1e-12)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_derivatives_at_kinks() -> None:
    # PyTorch: |x|' and relu' are 0 at 0; clamp passes the gradient at its
    # bounds; sqrt' is inf at 0.
    x = pg.tensor([0.0, 0.0, 0.0, -1.0, 1.0, 0.0], requires_grad=True)
    a, r, c, s = x[0:1], x[1:2], x[3:5], x[5:6]
    (
        a.abs().sum() + r.relu().sum() + c.clamp(-1.0, 1.0).sum() + s.sqrt().sum()
    ).backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, math.inf]


def test_clamp_integer_input_keeps_dtype() -> None:
    x = pg.tensor([-3, 0, 5])
    out = x.clamp(-1, 2)
    assert out.dtype == pg.int64
    assert out.tolist() == [-1, 0, 2]
    assert x.clamp(min=0.5).dtype == pg.float32
    assert x.clamp(min=0.5).tolist() == [0.5, 0.5, 5.0]


def test_clamp_needs_a_bound() -> None:
    with pytest.raises(RuntimeError, match="clamp"):
        pg.tensor([1.0]).clamp()


def test_clamp_with_tensor_bounds() -> None:
    rng = np.random.default_rng(14)
    x = _away_from_zero((2, 3), 15)
    low = -np.abs(rng.uniform(0.1, 0.4, (3,)))
    high = np.abs(rng.uniform(0.6, 0.9, (2, 1)))

    def fn(m, t, lo, hi):
        return m.clamp(t, lo, hi)

    np.testing.assert_allclose(forward_value(fn, x, low, high), np.clip(x, low, high))
    check_against_torch(torch, fn, x, low, high)
    check_gradients(fn, x, low, high)


def test_extreme_logits_are_finite_and_silent() -> None:
    x = pg.tensor([-1000.0, 1000.0, 0.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = x.sigmoid()
        out.sum().backward()
        tanh = pg.tensor([-1000.0, 1000.0]).tanh()
    assert out.tolist() == [0.0, 1.0, 0.5]
    assert x.grad.tolist() == [0.0, 0.0, 0.25]
    assert tanh.tolist() == [-1.0, 1.0]


def test_integer_inputs_to_float_functions() -> None:
    x = pg.tensor([1, 4, 9])
    for name in ("exp", "log", "sqrt", "tanh", "sigmoid"):
        out = getattr(x, name)()
        expected = getattr(torch.tensor([1, 4, 9]), name)()
        assert out.dtype == pg.float32, name
        np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)
    assert x.abs().dtype == pg.int64
    assert pg.tensor([-2, 3]).relu().tolist() == [0, 3]


# ----------------------------------------------------------------- comparisons

COMPARISONS = {
    "eq": (lambda a, b: a == b, np.equal),
    "ne": (lambda a, b: a != b, np.not_equal),
    "lt": (lambda a, b: a < b, np.less),
    "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons(name: str) -> None:
    op, numpy_fn = COMPARISONS[name]
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    x = pg.tensor(a, requires_grad=True)
    y = pg.tensor(b)

    for got, expected in [
        (op(x, y), numpy_fn(a, b)),
        (op(x, 2.0), numpy_fn(a, 2.0)),
        (op(2, x), numpy_fn(2, a)),
        (getattr(x, name)(y), numpy_fn(a, b)),
        (getattr(pg, name)(x, y), numpy_fn(a, b))
        if hasattr(pg, name)
        else (None, None),
    ]:
        if got is None:
            continue
        assert got.dtype == pg.bool
        assert got.requires_grad is False
        assert got.grad_fn is None
        np.testing.assert_array_equal(got.numpy(), expected)
    expected = op(torch.tensor(a, requires_grad=True), torch.tensor(b))
    np.testing.assert_array_equal(op(x, y).numpy(), expected.numpy())


def test_comparison_mixed_dtypes() -> None:
    ints = pg.tensor([1, 2, 3])
    assert (ints == pg.tensor([1.0, 2.5, 3.0])).tolist() == [True, False, True]
    assert (ints < 2.5).tolist() == [True, True, False]
    assert (pg.tensor([True, False]) == pg.tensor([1, 1])).tolist() == [True, False]


# ----------------------------------------------------------------------- where


@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_where_broadcasting(shapes, seed: int) -> None:
    shape_c, shape_a, shape_b = shapes.input_shapes
    rng = np.random.default_rng(seed)
    condition = rng.random(shape_c) > 0.5
    a = rng.standard_normal(shape_a)
    b = rng.standard_normal(shape_b)

    def fn(m, c, x, y):
        return m.where(c, x, y)

    np.testing.assert_array_equal(
        forward_value(fn, condition, a, b), np.where(condition, a, b)
    )
    check_against_torch(torch, fn, condition, a, b)
    check_gradients(fn, condition, a, b)


def test_where_with_scalars_and_method() -> None:
    rng = np.random.default_rng(16)
    x = rng.standard_normal((3, 4))

    def fn(m, t):
        return m.where(t > 0, t, 0.0) + t.where(t < 0.5, -1.0) * 2

    np.testing.assert_allclose(
        forward_value(fn, x),
        np.where(x > 0, x, 0.0) + np.where(x < 0.5, x, -1.0) * 2,
    )
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_where_needs_bool_condition() -> None:
    with pytest.raises(RuntimeError, match="where.*bool"):
        pg.where(pg.tensor([1, 0]), pg.tensor([1.0, 2.0]), pg.tensor([3.0, 4.0]))


def test_where_of_two_python_numbers_takes_torch_dtypes() -> None:
    condition = np.array([True, False])
    for values in ((1.0, 2.0), (1, 2), (1, 2.5), (True, False)):
        ours = pg.where(pg.tensor(condition), *values)
        theirs = torch.where(torch.tensor(condition), *values)
        assert dtype_name(ours.dtype) == dtype_name(theirs.dtype), values
        assert ours.tolist() == theirs.tolist(), values


def test_add_and_sub_with_alpha_and_a_number_match_torch() -> None:
    cases = [
        lambda m: m.ones(2).add(2, alpha=3),
        lambda m: m.add(m.ones(2), 2, alpha=3),
        lambda m: m.ones(2).sub(1, alpha=2),
        lambda m: m.ones(2, dtype=m.int64).add(2, alpha=3),
        lambda m: m.ones(2).add(m.ones(2), alpha=0.5),
    ]
    for case in cases:
        ours, theirs = case(pg), case(torch)
        assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
        assert ours.tolist() == theirs.tolist()
