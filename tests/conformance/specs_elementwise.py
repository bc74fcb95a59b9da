"""Elementwise ops and activations of issue 3, as functions and as modules.

Domains carry their margins in ``low``/``high``; kinks are passed to
``away_from`` so that finite differences skip them while the comparison with
torch still meets them (the tie pool holds 0, +-1, +-0.5, 3, 6, ...: every kink
below is in it, so torch's choice of derivative at a kink is what gets tested).
"""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

from .harness import (
    ModuleSpec,
    OpSpec,
    away_from,
    broadcastable,
    floats,
)


def F(lib: Any) -> Any:
    return lib.nn.functional


def unary(name: str) -> Any:
    """``lib.<name>(x)`` on any shape, empty ones included."""
    return lambda lib, x: getattr(lib, name)(x)


def _off_grid(step: float, margin: float = 1e-3) -> Any:
    """fd_ok: no float input within ``margin`` of a multiple of ``step``."""

    def ok(*inputs: Any) -> bool:
        for x in inputs:
            if isinstance(x, np.ndarray) and x.dtype.kind == "f":
                r = np.abs(x / step - np.round(x / step)) * step
                if np.any(r < margin):
                    return False
        return True

    return ok


def _apart(margin: float = 1e-3) -> Any:
    """fd_ok: the float inputs differ pairwise elementwise (after broadcasting)."""

    def ok(*inputs: Any) -> bool:
        xs = [x for x in inputs if isinstance(x, np.ndarray) and x.dtype.kind == "f"]
        xs = np.broadcast_arrays(*xs)
        for i in range(len(xs)):
            for j in range(i + 1, len(xs)):
                if np.any(np.abs(xs[i] - xs[j]) < margin):
                    return False
        return True

    return ok


def _quotient_off_integers(x: np.ndarray, y: np.ndarray) -> bool:
    q = x / y
    return bool(np.all(np.abs(q - np.round(q)) > 1e-3))


def _full_first(arrays: tuple) -> tuple:
    """The first array broadcast to the common shape (torch's clamp backward
    raises when ``input`` is smaller than the result)."""
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    return (np.broadcast_to(arrays[0], shape).copy(), *arrays[1:])


def _nonzero_divisor(xy: tuple) -> tuple:
    x, y = xy
    return x, np.where(np.abs(y) < 0.25, np.copysign(0.5, y) + y, y)


@st.composite
def _where_case(draw: Any) -> tuple:
    """(cond, x, y): a bool condition broadcasting with both operands."""
    c, x, y = draw(broadcastable(3))
    return c > 0.3, x, y


@st.composite
def _masked_fill_case(draw: Any, tensor_value: bool = False) -> tuple:
    """(x, mask, value): the mask broadcasts to x's shape."""
    x = draw(floats(empty=True))
    mask_shape = draw(hnp.broadcastable_shapes(x.shape, max_dims=x.ndim, min_side=0))
    mask = draw(hnp.arrays(np.bool_, mask_shape))
    value = draw(st.sampled_from([0.0, -1.5, 1e4, float("inf")]))
    return x, mask, (np.array(value) if tensor_value else value)


@st.composite
def _clamp_scalar_case(draw: Any) -> tuple:
    x = draw(floats(empty=True))
    lo = draw(st.sampled_from([None, -1.0, 0.0, 0.5]))
    hi = draw(st.sampled_from([None, 1.0, 0.5, -0.5]))
    if lo is None and hi is None:
        lo = 0.0
    return x, lo, hi


# Every kink of the activations below, run as an explicit case of each (so CI,
# with few generated examples, always meets them).
KINKS = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 6.0])

# name, the call on lib.nn.functional, its kinks; the module (built with
# arguments other than the defaults where it has any) and the module's kinks.
ACTIVATIONS = [
    ("sigmoid", lambda F, x: F.sigmoid(x), (), "Sigmoid", (), ()),
    ("logsigmoid", lambda F, x: F.logsigmoid(x), (), "LogSigmoid", (), ()),
    # beta 2, threshold 5: the linear branch starts at x = 2.5
    ("softplus", lambda F, x: F.softplus(x), (), "Softplus", (2.0, 5.0), (2.5,)),
    ("silu", lambda F, x: F.silu(x), (), "SiLU", (), ()),
    ("gelu", lambda F, x: F.gelu(x), (), "GELU", ("tanh",), ()),
    ("gelu(tanh)", lambda F, x: F.gelu(x, approximate="tanh"), (), None, (), ()),
    ("elu", lambda F, x: F.elu(x), (0.0,), "ELU", (0.5,), (0.0,)),
    ("selu", lambda F, x: F.selu(x), (0.0,), "SELU", (), (0.0,)),
    ("celu", lambda F, x: F.celu(x, alpha=2.0), (0.0,), "CELU", (0.5,), (0.0,)),
    ("leaky_relu", lambda F, x: F.leaky_relu(x), (0.0,), "LeakyReLU", (0.2,), (0.0,)),
    (
        "hardtanh",
        lambda F, x: F.hardtanh(x),
        (-1.0, 1.0),
        "Hardtanh",
        (-0.5, 2.0),
        (-0.5, 2.0),
    ),
    (
        "hardsigmoid",
        lambda F, x: F.hardsigmoid(x),
        (-3.0, 3.0),
        "Hardsigmoid",
        (),
        (-3.0, 3.0),
    ),
    (
        "hardswish",
        lambda F, x: F.hardswish(x),
        (-3.0, 3.0),
        "Hardswish",
        (),
        (-3.0, 3.0),
    ),
    ("mish", lambda F, x: F.mish(x), (), "Mish", (), ()),
    ("mish(large)", lambda F, x: F.mish(x), (), None, (), ()),
    ("relu6", lambda F, x: F.relu6(x), (0.0, 6.0), "ReLU6", (), (0.0, 6.0)),
    # x / (1 + |x|): smooth first derivative, a kink in the second at 0
    ("softsign", lambda F, x: F.softsign(x), (0.0,), "Softsign", (), (0.0,)),
    ("tanhshrink", lambda F, x: F.tanhshrink(x), (), "Tanhshrink", (), ()),
]


def _activation_specs() -> list:
    functions, modules = [], []
    for name, call, kinks, module, args, module_kinks in ACTIVATIONS:
        options = {}
        if name.startswith("mish"):
            # torch's double backward of mish is nan beyond x ~ 700 (exp
            # overflows), so large magnitudes get a spec without it
            large = name == "mish(large)"
            options = {
                "gradgrad": not large,
                "edges": ("large",) if large else ("normal", "zeros", "ties"),
            }
        edges = options.pop("edges", None)
        functions.append(
            OpSpec(
                name,
                lambda lib, x, call=call: call(F(lib), x),
                floats(empty=True) if edges is None else floats(edges=edges),
                fd_ok=away_from(*kinks),
                cases=[(KINKS,)],
                **options,
            )
        )
        if module is None:
            continue
        modules.append(
            ModuleSpec(
                f"nn.{module}",
                lambda lib, module=module, args=args: getattr(lib.nn, module)(*args),
                # Mish: see mish(large)
                floats(edges=("normal", "zeros", "ties"))
                if module == "Mish"
                else floats(),
                fd_ok=away_from(*module_kinks),
                cases=[(KINKS,)],
                examples_scale=0.67,
            )
        )
    return functions + modules


A = np.array
# Explicit cases, run in every profile: halves and integers (the jumps of the
# rounding ops and sign), a pair tied in two places, signed divisions.
HALVES = A([-2.5, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.5])
TIED_PAIR = (A([1.0, 2.0, 3.0, -1.0]), A([1.0, 0.0, 3.0, 2.0]))
SIGNED_DIVISION = (A([-3.0, -1.5, 1.5, 3.0, -2.0]), A([2.0, -2.0, 1.5, -1.5, 0.75]))
# the origin and the axes: gradients 0, NaN or inf there, as torch's (and silent)
ORIGIN = (A([0.0, 1.0, 0.0, 0.5]), A([0.0, 0.0, 2.0, -1.0]))

SMALL = {"low": -1.4, "high": 1.4}  # tan: away from the poles at +-pi/2
UNIT = {"low": -0.9, "high": 0.9}  # asin, acos, erfinv: inside (-1, 1)
POSITIVE = {"low": 0.05}  # logs and rsqrt

SPECS = [
    OpSpec("sin", unary("sin"), floats(empty=True)),
    OpSpec("cos", unary("cos"), floats(empty=True)),
    OpSpec(
        "tan",
        unary("tan"),
        floats(empty=True, edges=("normal", "zeros", "ties"), **SMALL),
    ),
    OpSpec("asin", unary("asin"), floats(empty=True, **UNIT)),
    OpSpec("acos", unary("acos"), floats(empty=True, **UNIT)),
    OpSpec("atan", unary("atan"), floats(empty=True)),
    # at (0, 0) both libraries' gradients are 0/0
    OpSpec(
        "atan2",
        lambda lib, y, x: lib.atan2(y, x),
        broadcastable(2, empty=True),
        fd_ok=away_from(0.0),  # the branch cut y = 0, x < 0 and the origin
        cases=[ORIGIN],
    ),
    OpSpec("sinh", unary("sinh"), floats(empty=True)),
    OpSpec("cosh", unary("cosh"), floats(empty=True)),
    OpSpec("log1p", unary("log1p"), floats(empty=True, low=-0.9)),
    OpSpec("expm1", unary("expm1"), floats(empty=True)),
    OpSpec("log2", unary("log2"), floats(empty=True, **POSITIVE)),
    OpSpec("log10", unary("log10"), floats(empty=True, **POSITIVE)),
    OpSpec("exp2", unary("exp2"), floats(empty=True)),
    OpSpec("rsqrt", unary("rsqrt"), floats(empty=True, **POSITIVE)),
    # 1/0 = inf and its gradient -inf, in both
    OpSpec("reciprocal", unary("reciprocal"), floats(empty=True)),
    OpSpec(
        "sign",
        unary("sign"),
        floats(empty=True),
        fd_ok=away_from(0.0),
        cases=[(HALVES,)],
    ),
    OpSpec(
        "floor",
        unary("floor"),
        floats(empty=True),
        fd_ok=_off_grid(1.0),
        cases=[(HALVES,)],
    ),
    OpSpec(
        "ceil",
        unary("ceil"),
        floats(empty=True),
        fd_ok=_off_grid(1.0),
        cases=[(HALVES,)],
    ),
    # halves round to even; finite differences jump at every half
    OpSpec(
        "round",
        unary("round"),
        floats(empty=True),
        fd_ok=_off_grid(0.5),
        cases=[(HALVES,)],
    ),
    OpSpec(
        "round(decimals)",
        lambda lib, x: lib.round(x, decimals=1),
        floats(empty=True),
        fd_ok=_off_grid(0.05),
    ),
    OpSpec(
        "trunc",
        unary("trunc"),
        floats(empty=True),
        fd_ok=_off_grid(1.0),
        cases=[(HALVES,)],
    ),
    OpSpec(
        "frac",
        unary("frac"),
        floats(empty=True),
        fd_ok=_off_grid(1.0),
        cases=[(HALVES,)],
    ),
    OpSpec("erf", unary("erf"), floats(empty=True)),
    OpSpec("erfinv", unary("erfinv"), floats(empty=True, **UNIT)),
    OpSpec(
        "lerp",
        lambda lib, a, b, w: lib.lerp(a, b, w),
        broadcastable(3, low=[None, None, -0.5], high=[None, None, 1.5]),
    ),
    OpSpec("lerp(scalar)", lambda lib, a, b: lib.lerp(a, b, 0.3), broadcastable(2)),
    # at (0, 0) the gradient is 0/0 in both
    OpSpec(
        "hypot",
        lambda lib, x, y: lib.hypot(x, y),
        broadcastable(2, empty=True),
        fd_ok=away_from(0.0),
        cases=[ORIGIN],
    ),
    # at x == y torch splits the gradient in halves
    OpSpec(
        "maximum",
        lambda lib, x, y: lib.maximum(x, y),
        broadcastable(2, empty=True),
        fd_ok=_apart(),
        cases=[TIED_PAIR],
    ),
    OpSpec(
        "minimum",
        lambda lib, x, y: lib.minimum(x, y),
        broadcastable(2, empty=True),
        fd_ok=_apart(),
        cases=[TIED_PAIR],
    ),
    OpSpec(
        "fmod",
        lambda lib, x, y: lib.fmod(x, y),
        broadcastable(2).map(_nonzero_divisor),
        fd_ok=_quotient_off_integers,
        cases=[SIGNED_DIVISION],
    ),
    OpSpec(
        "remainder",
        lambda lib, x, y: lib.remainder(x, y),
        broadcastable(2).map(_nonzero_divisor),
        fd_ok=_quotient_off_integers,
        cases=[SIGNED_DIVISION],
    ),
    OpSpec(
        "fmod(scalar)", lambda lib, x: lib.fmod(x, -1.5), floats(), fd_ok=_off_grid(1.5)
    ),
    OpSpec(
        "remainder(scalar)",
        lambda lib, x: lib.remainder(x, 1.5),
        floats(),
        fd_ok=_off_grid(1.5),
    ),
    OpSpec("where", lambda lib, c, x, y: lib.where(c, x, y), _where_case()),
    OpSpec("where(scalar)", lambda lib, c, x, y: lib.where(c, x, 2.5), _where_case()),
    OpSpec(
        "masked_fill", lambda lib, x, m, v: x.masked_fill(m, v), _masked_fill_case()
    ),
    # a 0-d tensor value gets the sum of the gradients of the filled places
    OpSpec(
        "masked_fill(tensor)",
        lambda lib, x, m, v: lib.masked_fill(x, m, v),
        _masked_fill_case(tensor_value=True),
    ),
    OpSpec(
        "clamp",
        lambda lib, x, lo, hi: lib.clamp(x, lo, hi),
        _clamp_scalar_case(),
        fd_ok=away_from(-1.0, -0.5, 0.0, 0.5, 1.0),
        # at the bounds (included) the gradient passes; min > max gives max
        cases=[(HALVES, -0.5, 0.5), (HALVES, 1.0, -1.0), (HALVES, None, 0.0)],
    ),
    # min > max gives max everywhere; ties send the gradient where torch does
    OpSpec(
        "clamp(tensor)",
        lambda lib, x, lo, hi: lib.clamp(x, lo, hi),
        broadcastable(3, empty=True).map(_full_first),
        fd_ok=_apart(),
        cases=[
            (
                A([0.0, 1.0, 2.0, 3.0, 1.0]),
                A([0.0, 2.0, 1.0, 1.0, 2.0]),
                A([1.0, 1.0, 2.0, 0.0, 0.0]),
            )
        ],
    ),
    OpSpec(
        "clamp(min tensor)",
        lambda lib, x, lo: lib.clamp(x, min=lo),
        broadcastable(2).map(_full_first),
        fd_ok=_apart(),
    ),
    OpSpec(
        "clamp(max tensor)",
        lambda lib, x, hi: x.clamp(max=hi),
        broadcastable(2).map(_full_first),
        fd_ok=_apart(),
    ),
    *_activation_specs(),
]
