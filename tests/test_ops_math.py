"""Math functions: trigonometry, logs, erf, rounding, and the binary functions
(atan2, hypot, lerp, maximum, minimum, fmod, remainder, masked_fill, clamp with
tensor bounds).

Each op is checked against real PyTorch (values, dtypes and gradients in float32
and float64), float64 finite differences (gradcheck) and, for the forward value,
NumPy. Broadcastable shapes come from hypothesis, derandomized and small.
"""

from __future__ import annotations

import math
import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from conftest import import_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from opcheck import check_against_torch, check_gradients, forward_value

import plaingrad as pg

torch = import_torch()


def _uniform(low: float, high: float, shape: tuple = (2, 3), seed: int = 0):
    return lambda: np.random.default_rng(seed).uniform(low, high, shape)


# name -> (NumPy forward, input values away from poles and domain edges)
SMOOTH = {
    "sin": (np.sin, _uniform(-4, 4)),
    "cos": (np.cos, _uniform(-4, 4)),
    "tan": (np.tan, _uniform(-1.2, 1.2)),
    "asin": (np.arcsin, _uniform(-0.9, 0.9)),
    "acos": (np.arccos, _uniform(-0.9, 0.9)),
    "atan": (np.arctan, _uniform(-5, 5)),
    "arcsin": (np.arcsin, _uniform(-0.9, 0.9, seed=1)),
    "arccos": (np.arccos, _uniform(-0.9, 0.9, seed=1)),
    "arctan": (np.arctan, _uniform(-5, 5, seed=1)),
    "sinh": (np.sinh, _uniform(-3, 3)),
    "cosh": (np.cosh, _uniform(-3, 3)),
    "log1p": (np.log1p, _uniform(-0.9, 3)),
    "expm1": (np.expm1, _uniform(-3, 3)),
    "log2": (np.log2, _uniform(0.1, 5)),
    "log10": (np.log10, _uniform(0.1, 5)),
    "exp2": (np.exp2, _uniform(-3, 3)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), _uniform(0.2, 5)),
    "reciprocal": (np.reciprocal, lambda: _uniform(0.3, 3)() * [1, -1, 1]),
    "erf": (None, _uniform(-3, 3)),
    "erfinv": (None, _uniform(-0.95, 0.95)),
    "frac": (lambda x: x - np.trunc(x), _uniform(-4, 4, (3, 4))),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_function_against_torch(name: str) -> None:
    numpy_fn, values = SMOOTH[name]
    x = values()
    if name == "frac":
        x = np.where(np.abs(x - np.round(x)) < 0.05, 0.5, x)  # off the jumps

    def function(m, t):
        return getattr(m, name)(t)

    def method(m, t):
        return getattr(t, name)()

    if numpy_fn is not None:
        np.testing.assert_allclose(forward_value(function, x), numpy_fn(x), rtol=1e-12)
    check_against_torch(torch, function, x)
    check_against_torch(torch, method, x)
    check_gradients(function, x)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_grad_fn_names_match_torch(name: str) -> None:
    x = SMOOTH[name][1]()
    ours = getattr(pg, name)(pg.tensor(x, requires_grad=True)).grad_fn.name()
    theirs = getattr(torch, name)(torch.tensor(x, requires_grad=True)).grad_fn.name()
    assert ours == theirs


def test_integer_and_bool_inputs_become_float32() -> None:
    ints = [1, 2, 3]
    for name in ("sin", "cos", "atan", "log1p", "expm1", "log2", "exp2", "erf"):
        for values in (ints, [True, False, True]):
            ours = getattr(pg, name)(pg.tensor(values))
            theirs = getattr(torch, name)(torch.tensor(values))
            assert ours.dtype == pg.float32, name
            np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
    ours = pg.reciprocal(pg.tensor([2, 4]))
    assert ours.dtype == pg.float32 and ours.tolist() == [0.5, 0.25]


def test_float16_keeps_its_dtype() -> None:
    x = np.array([0.1, 0.5, -0.7], dtype=np.float16)
    for name in ("sin", "exp2", "erf", "erfinv", "rsqrt"):
        values = np.abs(x) if name == "rsqrt" else x
        ours = getattr(pg, name)(pg.tensor(values))
        theirs = getattr(torch, name)(torch.tensor(values))
        assert ours.dtype == pg.float16, name
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=2e-3, atol=1e-3)


def test_domain_edges_and_poles_as_torch() -> None:
    cases = {
        "asin": [1.0, -1.0, 2.0, 0.0],
        "acos": [1.0, -1.0, 2.0, 0.0],
        "log1p": [-1.0, -2.0, 0.0, 1e-20],
        "log2": [0.0, -1.0, 1.0, math.inf],
        "log10": [0.0, -1.0, 1.0, 1e300],
        "rsqrt": [0.0, -1.0, math.inf, 4.0],
        "reciprocal": [0.0, -0.0, math.inf, 2.0],
        "expm1": [-1000.0, 1000.0, 1e-20, 0.0],
        "exp2": [-2000.0, 2000.0, 0.0, 0.5],
        "sinh": [1000.0, -1000.0, 0.0, 1e-10],
        "cosh": [1000.0, -1000.0, 0.0, 1e-10],
        "tan": [math.pi / 2, 0.0, -1.0, 1.0],
        "erf": [math.inf, -math.inf, math.nan, 0.0],
        "erfinv": [1.0, -1.0, 1.5, 0.0],
    }
    for name, values in cases.items():
        x = pg.tensor(values, dtype=pg.float64, requires_grad=True)
        t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
        out, expected = getattr(pg, name)(x), getattr(torch, name)(t)
        np.testing.assert_allclose(
            out.detach().numpy(), expected.detach().numpy(), rtol=1e-12, err_msg=name
        )
        out.backward(pg.ones_like(out))  # a sum of +inf and -inf would be NaN
        expected.backward(torch.ones_like(expected))
        np.testing.assert_allclose(
            x.grad.numpy(), t.grad.numpy(), rtol=1e-12, err_msg=name
        )


def test_erf_to_float64_round_off() -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate(
        [
            rng.uniform(-6, 6, 2000),
            rng.uniform(-1e-4, 1e-4, 50),
            np.linspace(1.4, 1.6, 101),  # where the two expansions meet
            [0.0, -0.0, 1e-300, -1e-300, 5.9, 26.0, -27.0],
        ]
    )
    ours = pg.erf(pg.tensor(x)).numpy()
    np.testing.assert_allclose(ours, torch.erf(torch.tensor(x)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours, [math.erf(v) for v in x], rtol=1e-14, atol=0)


def test_erfinv_to_float64_round_off() -> None:
    rng = np.random.default_rng(8)
    x = np.concatenate(
        [
            rng.uniform(-0.99, 0.99, 2000),
            rng.uniform(-1e-6, 1e-6, 50),
            [0.0, 0.5, -0.5, 0.49999999, 1e-300],
        ]
    )
    ours = pg.erfinv(pg.tensor(x)).numpy()
    np.testing.assert_allclose(ours, torch.erfinv(torch.tensor(x)).numpy(), rtol=1e-12)
    # Near +-1 the answer is ill-conditioned; erf of it must give x back.
    near_one = 1 - 10.0 ** -rng.uniform(2, 15, 200)
    y = pg.erfinv(pg.tensor(near_one)).numpy()
    np.testing.assert_allclose([math.erfc(v) for v in y], 1 - near_one, rtol=1e-12)
    np.testing.assert_allclose(
        y, torch.erfinv(torch.tensor(near_one)).numpy(), rtol=1e-9
    )


def test_erf_and_erfinv_are_inverse() -> None:
    x = pg.linspace(-0.999, 0.999, 101, dtype=pg.float64)
    np.testing.assert_allclose(pg.erf(pg.erfinv(x)).numpy(), x.numpy(), rtol=1e-14)


# ------------------------------------------------------------------- rounding

ROUNDING = ("sign", "floor", "ceil", "round", "trunc", "fix")


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_values_and_zero_gradient(name: str) -> None:
    values = [-2.5, -1.5, -0.5, -0.0, 0.0, 0.5, 1.5, 2.5, 2.7, -3.2, 1e20]
    x = pg.tensor(values, dtype=pg.float64, requires_grad=True)
    t = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    out, expected = getattr(pg, name)(x), getattr(torch, name)(t)
    np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
    assert np.array_equal(
        np.signbit(out.detach().numpy()), np.signbit(expected.detach().numpy())
    )
    if name != "fix":  # fix is an alias of trunc: TruncBackward0
        assert out.grad_fn.name() == expected.grad_fn.name()
    out.sum().backward()
    assert x.grad.tolist() == [0.0] * len(values)
    finite = np.array(values[:-1])  # 1e20 squared overflows float32
    check_against_torch(torch, lambda m, a: getattr(a, name)() * a, finite)


@pytest.mark.parametrize("name", ROUNDING)
def test_rounding_keeps_integer_dtypes(name: str) -> None:
    values = [-3, 0, 2]
    ours = getattr(pg, name)(pg.tensor(values))
    theirs = getattr(torch, name)(torch.tensor(values))
    assert ours.dtype == pg.int64
    assert ours.tolist() == theirs.tolist()
    assert pg.sign(pg.tensor([True, False])).tolist() == [True, False]


@pytest.mark.parametrize("decimals", [1, 2, 3, -1, -2])
def test_round_decimals(decimals: int) -> None:
    values = np.array([0.25, 0.35, 1.2345, -0.05, 15.0, 25.0, 1234.5678, -987.65])
    check_against_torch(torch, lambda m, a: m.round(a, decimals=decimals) * a, values)
    x = pg.tensor([1.0], requires_grad=True)
    assert pg.round(x, decimals=decimals).grad_fn.name() == "RoundBackward1"


def test_rounding_errors() -> None:
    with pytest.raises(NotImplementedError, match="frac.*int64"):
        pg.frac(pg.tensor([1, 2]))
    with pytest.raises(NotImplementedError, match="round.*decimals"):
        pg.round(pg.tensor([1, 2]), decimals=1)
    with pytest.raises(NotImplementedError, match="floor.*bool"):
        pg.floor(pg.tensor([True]))
    with pytest.raises(TypeError, match="round.*decimals.*float"):
        pg.round(pg.tensor([1.0]), decimals=1.5)


def test_in_place_methods() -> None:
    x = pg.tensor([0.5, -1.5, 2.25])
    t = torch.tensor([0.5, -1.5, 2.25])
    for name in ("sin_", "exp2_", "floor_", "erf_", "arctan_", "round_"):
        assert getattr(x.clone(), name)().tolist() == pytest.approx(
            getattr(t.clone(), name)().tolist(), rel=1e-6
        )
    y = pg.tensor([1.0, 2.0])
    assert y.sqrt().reciprocal_() is not None
    with pytest.raises(RuntimeError, match="can't be cast"):
        pg.tensor([1, 2]).sin_()
    leaf = pg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf.sin_()
    z = leaf * 2
    z.cos_()
    z.backward()
    assert z.grad_fn.name() == "CosBackward0"
    assert leaf.grad.tolist() == pytest.approx([-2 * math.sin(2.0)])


# ------------------------------------------------------------- binary functions

broadcast_pairs = hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3
)


def _away_from_zero(rng, shape):
    return rng.uniform(0.3, 2.0, shape) * rng.choice([-1, 1], shape)


# name -> (computation, NumPy forward, operands)
BINARY = {
    "atan2": (
        lambda m, a, b: m.atan2(a, b),
        np.arctan2,
        lambda rng, sa, sb: (rng.uniform(-2, 2, sa), _away_from_zero(rng, sb)),
    ),
    "hypot": (
        lambda m, a, b: a.hypot(b),
        np.hypot,
        lambda rng, sa, sb: (_away_from_zero(rng, sa), _away_from_zero(rng, sb)),
    ),
    "maximum": (
        lambda m, a, b: m.maximum(a, b),
        np.maximum,
        lambda rng, sa, sb: (rng.uniform(-2, 2, sa), rng.uniform(-2, 2, sb)),
    ),
    "minimum": (
        lambda m, a, b: a.minimum(b),
        np.minimum,
        lambda rng, sa, sb: (rng.uniform(-2, 2, sa), rng.uniform(-2, 2, sb)),
    ),
    "fmod": (
        lambda m, a, b: m.fmod(a, b),
        np.fmod,
        lambda rng, sa, sb: _off_the_jumps(rng, sa, sb, np.trunc),
    ),
    "remainder": (
        lambda m, a, b: a.remainder(b),
        np.remainder,
        lambda rng, sa, sb: _off_the_jumps(rng, sa, sb, np.floor),
    ),
}


def _off_the_jumps(rng, shape_a, shape_b, rounding):
    # Keep a/b away from integers, where fmod and remainder jump.
    b = _away_from_zero(rng, shape_b)
    a = rng.uniform(-5, 5, shape_a)
    q = a / b
    a = np.where(np.abs(q - np.round(q)) < 0.1, (np.round(q) + 0.5) * b, a)
    return np.asarray(a, dtype=np.float64), b


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(derandomize=True, max_examples=10, deadline=None)
@given(shapes=broadcast_pairs, seed=st.integers(0, 2**16))
def test_binary_broadcasting(name: str, shapes, seed: int) -> None:
    fn, numpy_fn, operands = BINARY[name]
    a, b = operands(np.random.default_rng(seed), *shapes.input_shapes)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)

    np.testing.assert_allclose(forward_value(fn, a, b), numpy_fn(a, b), rtol=1e-12)
    check_against_torch(torch, fn, a, b)
    check_gradients(fn, a, b)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_grad_fn_names(name: str) -> None:
    fn = BINARY[name][0]
    for lib in (pg, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([0.7, -0.9], requires_grad=True)
        if lib is pg:
            ours = fn(lib, a, b).grad_fn.name()
        else:
            assert fn(lib, a, b).grad_fn.name() == ours


def test_scalar_forms_of_fmod_and_remainder() -> None:
    x = np.array([-4.3, 4.3, 5.1, -0.7])

    for name in ("fmod", "remainder"):
        for other in (1.5, -1.5, 2):

            def fn(m, t, name=name, other=other):
                return getattr(m, name)(t, other)

            check_against_torch(torch, fn, x)
            check_gradients(fn, x)
        ours = getattr(pg, name)(pg.tensor(x, requires_grad=True), 2.0)
        theirs = getattr(torch, name)(torch.tensor(x, requires_grad=True), 2.0)
        assert ours.grad_fn.name() == theirs.grad_fn.name()
        assert len(ours.grad_fn.next_functions) == 1
    check_against_torch(torch, lambda m, t: t % 0.75, x)
    # PyTorch has no derivative for a number % a tensor; compare values only
    check_against_torch(torch, lambda m, t: 2.0 % t, x, backward=False)
    assert (pg.tensor([1.0], requires_grad=True) % 2).grad_fn.name() == (
        "RemainderBackward0"
    )


def test_integer_fmod_and_remainder() -> None:
    for name in ("fmod", "remainder"):
        for other in (3, -3, pg.tensor([2, -2, 3, 5])):
            theirs_other = (
                torch.tensor(other.tolist()) if isinstance(other, pg.Tensor) else other
            )
            ours = getattr(pg, name)(pg.tensor([-7, 7, 8, -9]), other)
            theirs = getattr(torch, name)(torch.tensor([-7, 7, 8, -9]), theirs_other)
            assert ours.dtype == pg.int64
            assert ours.tolist() == theirs.tolist()
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            getattr(pg, name)(pg.tensor([1, 2]), 0)
        mixed = getattr(pg, name)(pg.tensor([-7, 7]), 2.5)
        assert mixed.dtype == pg.float32
        assert (
            mixed.tolist() == getattr(torch, name)(torch.tensor([-7, 7]), 2.5).tolist()
        )


def test_fmod_and_remainder_by_float_zero_are_nan() -> None:
    for name in ("fmod", "remainder"):
        ours = getattr(pg, name)(pg.tensor([1.0, -1.0]), 0.0)
        assert np.isnan(ours.numpy()).all()


def test_maximum_minimum_ties_nan_and_dtypes() -> None:
    a = np.array([1.0, 1.0, 1.0, np.nan, 2.0])
    b = np.array([1.0, 0.0, 2.0, 1.0, np.nan])
    for name in ("maximum", "minimum"):
        x = pg.tensor(a, requires_grad=True)
        y = pg.tensor(b, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        ty = torch.tensor(b, requires_grad=True)
        out, expected = getattr(pg, name)(x, y), getattr(torch, name)(tx, ty)
        np.testing.assert_array_equal(out.detach().numpy(), expected.detach().numpy())
        out.sum().backward()
        expected.sum().backward()
        assert x.grad.tolist() == tx.grad.tolist(), name  # a tie splits 1/2, 1/2
        assert y.grad.tolist() == ty.grad.tolist(), name
        mixed = getattr(pg, name)(pg.tensor([1, 5]), pg.tensor([2.5, 1.0]))
        assert mixed.dtype == pg.float32
        ints = getattr(pg, name)(pg.tensor([1, 5]), pg.tensor([2, 1]))
        assert ints.dtype == pg.int64
        zero_d = getattr(pg, name)(
            pg.tensor([1.0, 5.0]), pg.tensor(2.0, dtype=pg.float64)
        )
        assert zero_d.dtype == pg.float32


def test_atan2_and_hypot_at_the_origin() -> None:
    for name in ("atan2", "hypot"):
        x = pg.tensor([0.0, 1.0], dtype=pg.float64, requires_grad=True)
        y = pg.tensor([0.0, 0.0], dtype=pg.float64, requires_grad=True)
        tx = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
        ty = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
        getattr(pg, name)(x, y).sum().backward()
        getattr(torch, name)(tx, ty).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
        np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())


def test_binary_dtype_rules_and_errors() -> None:
    assert pg.atan2(pg.tensor([1, 2]), pg.tensor([1, 1])).dtype == pg.float32
    f32, f64 = pg.tensor([3.0]), pg.tensor([4.0], dtype=pg.float64)
    assert pg.atan2(f32, f64).dtype == pg.float64
    assert pg.hypot(f32, f64).dtype == pg.float64
    assert pg.hypot(f32, f64).tolist() == [5.0]
    for name in ("atan2", "hypot", "maximum", "minimum"):
        with pytest.raises(TypeError, match=f"{name}.*other.*Tensor.*float"):
            getattr(pg, name)(f32, 2.0)
    with pytest.raises(NotImplementedError, match="hypot.*int64"):
        pg.hypot(pg.tensor([3]), pg.tensor([4]))
    with pytest.raises(TypeError, match="fmod.*input"):
        pg.fmod(2.0, f32)


# ------------------------------------------------------------------------ lerp


@settings(derandomize=True, max_examples=10, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_lerp_broadcasting(shapes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    start, end, weight = (rng.uniform(-2, 2, s) for s in shapes.input_shapes)

    def fn(m, s, e, w):
        return m.lerp(s, e, w)

    np.testing.assert_allclose(
        forward_value(fn, start, end, weight),
        start + weight * (end - start),
        rtol=1e-12,
        atol=1e-15,
    )
    check_against_torch(torch, fn, start, end, weight)
    check_gradients(fn, start, end, weight)


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 1.0, 1.7, -0.4, 1])
def test_lerp_scalar_weight(weight: float) -> None:
    rng = np.random.default_rng(3)
    start, end = rng.uniform(-2, 2, (2, 3)), rng.uniform(-2, 2, (3,))

    def fn(m, s, e):
        return s.lerp(e, weight)

    check_against_torch(torch, fn, start, end)
    check_gradients(fn, start, end)
    for lib in (pg, torch):
        out = lib.lerp(lib.tensor([1.0], requires_grad=True), lib.tensor([2.0]), weight)
        assert out.grad_fn.name() == "LerpBackward0"
    tensor_weight = pg.lerp(
        pg.tensor([1.0], requires_grad=True), pg.tensor([2.0]), pg.tensor(0.5)
    )
    assert tensor_weight.grad_fn.name() == "LerpBackward1"


def test_lerp_exact_at_the_ends_and_errors() -> None:
    start = pg.tensor([0.1, 1e20, -3.0], dtype=pg.float64)
    end = pg.tensor([0.7, -1.0, 5.0], dtype=pg.float64)
    assert pg.lerp(start, end, 1.0).tolist() == end.tolist()
    assert pg.lerp(start, end, 0.0).tolist() == start.tolist()
    x = pg.tensor([1.0, 2.0])
    x.lerp_(pg.tensor([3.0, 4.0]), 0.5)
    assert x.tolist() == [2.0, 3.0]
    with pytest.raises(RuntimeError, match="lerp.*float32.*`end`.*float64"):
        pg.lerp(pg.tensor([1.0]), pg.tensor([2.0], dtype=pg.float64), 0.5)
    with pytest.raises(NotImplementedError, match="lerp.*int64"):
        pg.lerp(pg.tensor([1]), pg.tensor([2]), 0.5)
    with pytest.raises(TypeError, match="lerp.*weight.*str"):
        pg.lerp(pg.tensor([1.0]), pg.tensor([2.0]), "half")


# ----------------------------------------------------------------- masked_fill


@settings(derandomize=True, max_examples=10, deadline=None)
@given(shapes=broadcast_pairs, seed=st.integers(0, 2**16))
def test_masked_fill_broadcasting(shapes, seed: int) -> None:
    shape_x, shape_mask = shapes.input_shapes
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape_x)
    mask = rng.random(shape_mask) > 0.5
    value = np.array(rng.standard_normal())

    def scalar(m, t, k):
        return t.masked_fill(k, -1.5)

    def tensor(m, t, k, v):
        return m.masked_fill(t, k, v)

    np.testing.assert_array_equal(
        forward_value(scalar, x, mask), np.where(mask, -1.5, x)
    )
    check_against_torch(torch, scalar, x, mask)
    check_against_torch(torch, tensor, x, mask, value)
    check_gradients(scalar, x, mask)
    check_gradients(tensor, x, mask, value)


def test_masked_fill_names_dtypes_and_errors() -> None:
    for lib in (pg, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        mask = lib.tensor([True, False])
        assert x.masked_fill(mask, 0.0).grad_fn.name() == "MaskedFillBackward0"
        assert x.masked_fill(mask, lib.tensor(0.0)).grad_fn.name() == (
            "MaskedFillBackward1"
        )
    ints = pg.tensor([0, 0, 0]).masked_fill(pg.tensor([True, False, True]), 1.7)
    assert ints.dtype == pg.int64 and ints.tolist() == [1, 0, 1]
    filled = pg.zeros(3).masked_fill(
        pg.tensor([True, False, True]), pg.tensor(1.5, dtype=pg.float64)
    )
    assert filled.dtype == pg.float32 and filled.tolist() == [1.5, 0.0, 1.5]
    x = pg.zeros(3)
    assert x.masked_fill_(pg.tensor([False, True, False]), 2.0) is x
    assert x.tolist() == [0.0, 2.0, 0.0]
    with pytest.raises(RuntimeError, match="masked_fill.*boolean.*float32"):
        pg.zeros(3).masked_fill(pg.ones(3), 1.0)
    with pytest.raises(RuntimeError, match="masked_fill.*0-dimensional.*1 dim"):
        pg.zeros(3).masked_fill(pg.ones(3) > 0, pg.ones(3))
    with pytest.raises(RuntimeError, match=r"masked_fill.*\(2,\).*\(3,\)"):
        pg.zeros(3).masked_fill(pg.ones(2) > 0, 1.0)
    with pytest.raises(TypeError, match="masked_fill.*value.*str"):
        pg.zeros(3).masked_fill(pg.ones(3) > 0, "x")


# -------------------------------------------------------- clamp, tensor bounds


@settings(derandomize=True, max_examples=10, deadline=None)
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
    seed=st.integers(0, 2**16),
)
def test_clamp_tensor_bounds_broadcasting(shapes, seed: int) -> None:
    rng = np.random.default_rng(seed)
    _, shape_low, shape_high = shapes.input_shapes
    # PyTorch's ClampBackward0 fails when the bounds broadcast `input` itself
    x = rng.uniform(-2, 2, shapes.result_shape)
    low = rng.uniform(-1.5, 0.5, shape_low)
    high = rng.uniform(-0.5, 1.5, shape_high)  # sometimes below low

    def both(m, t, lo, hi):
        return m.clamp(t, lo, hi)

    np.testing.assert_array_equal(
        forward_value(both, x, low, high), np.minimum(np.maximum(x, low), high)
    )
    check_against_torch(torch, both, x, low, high)
    check_against_torch(torch, lambda m, t, lo: t.clamp(min=lo), x, low)
    check_against_torch(torch, lambda m, t, hi: t.clamp(max=hi), x, high)
    # gradcheck away from the kinks, where finite differences straddle them
    if min(np.abs(np.subtract.outer(x, low)).min(), 1) > 1e-3:
        check_gradients(lambda m, t, lo: t.clamp(min=lo), x, low)


def test_clamp_tensor_bounds_at_ties_and_names() -> None:
    x = [0.0, 1.0, 2.0, 3.0, 5.0, 1.0]
    low = [0.0, 0.0, 2.0, 4.0, 1.0, 2.0]
    high = [1.0, 1.0, 3.0, 3.0, 2.0, 1.0]  # the last three have max < min
    grads = []
    for lib in (pg, torch):
        args = [lib.tensor(v, requires_grad=True) for v in (x, low, high)]
        out = lib.clamp(*args)
        assert out.grad_fn.name() == "ClampBackward0"
        out.sum().backward()
        grads.append([out.tolist()] + [a.grad.tolist() for a in args])
    assert grads[0] == grads[1]
    mixed = pg.clamp(pg.tensor([1, 5]), pg.tensor([2.5]), pg.tensor([3.5]))
    assert mixed.dtype == pg.float32 and mixed.tolist() == [2.5, 3.5]
    wide = pg.clamp(pg.tensor([1.0, 5.0]), pg.tensor([2.5], dtype=pg.float64))
    assert wide.dtype == pg.float64
    assert pg.clamp(pg.zeros(3), pg.zeros(2, 1)).shape == (2, 3)
    with pytest.raises(RuntimeError, match="clamp.*min.*max"):
        pg.clamp(pg.zeros(3))


@pytest.mark.parametrize("name", ["atan2", "hypot", "div"])
def test_gradients_at_zero_are_silent_and_as_torch(name: str) -> None:
    # 0/0 and 1/0 in the backward rules (first and second order) give torch's
    # 0, NaN or inf without NumPy's RuntimeWarnings (torch is silent too)
    a, b = np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 2.0])
    results = []
    for m in (pg, torch):
        x = m.tensor(a, requires_grad=True)
        y = m.tensor(b, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = getattr(m, name)(x, y)
            grads = m.autograd.grad(out.sum(), (x, y), create_graph=True)
            second = [
                m.autograd.grad(g.sum(), (x, y), retain_graph=True, allow_unused=True)
                for g in grads
            ]
        results.append(
            [t.detach().numpy() for t in (out, *grads)]
            + [None if t is None else t.numpy() for pair in second for t in pair]
        )
    for ours, theirs in zip(*results):
        if theirs is None:
            assert ours is None or not ours.any()
        else:
            np.testing.assert_array_equal(ours, theirs)
