"""Arguments PyTorch's random ops refuse: plaingrad must raise the same
exception class (the samplers themselves are checked in specs_random.py).

Each case is (what, function, input, further arguments, keywords); lists and
arrays become tensors, and the generator is a seeded one unless the keywords
name another.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import CustomSpec

MULTINOMIAL_ERRORS = [
    ("negative weight", "multinomial", [0.5, -0.1], (1,), {}),
    ("nan weight", "multinomial", [0.5, math.nan], (1,), {}),
    ("inf weight", "multinomial", [0.5, math.inf], (1,), {}),
    ("a zero row", "multinomial", [[0.0, 0], [1, 1]], (1, True), {}),
    ("no categories", "multinomial", np.ones((2, 0)), (1, True), {}),
    ("num_samples 0", "multinomial", [1.0, 1], (0, True), {}),
    ("3-d input", "multinomial", np.ones((2, 2, 2)), (1, True), {}),
    ("0-d input", "multinomial", np.ones(()), (1, True), {}),
    ("more than k", "multinomial", [1.0, 1, 1], (4,), {}),
    ("integer input", "multinomial", [1, 2], (1, True), {}),
    ("float num_samples", "multinomial", [1.0, 1], (2.0, True), {}),
    ("not a generator", "multinomial", [1.0, 1], (2, True), {"generator": 3}),
]

BERNOULLI_ERRORS = [
    ("p > 1", "bernoulli", [1.5], (), {}),
    ("p < 0", "bernoulli", [-0.5], (), {}),
    ("nan p", "bernoulli", [math.nan], (), {}),
    ("integer input", "bernoulli", [1, 0], (), {}),
    ("scalar p > 1", "bernoulli", [0.0, 0], (1.3,), {}),
    ("not a generator", "bernoulli", [0.5], (), {"generator": 1}),
]

NORMAL_ERRORS_DIFFERING = [
    ("negative std", "normal", [0.0, 0], ([1.0, -1],), {}),
    ("negative float std", "normal", [0.0, 0], (-1.0,), {}),
    ("shapes that do not broadcast", "normal", [0.0, 0], ([1.0, 1, 1],), {}),
    ("floats without a size", "normal", 0.0, (1.0,), {}),
    ("nan std", "normal", [0.0, 0], ([1.0, math.nan],), {}),
    ("tensors and a size", "normal", [0.0, 0], ([1.0, 1.0], (2,)), {}),
    ("float mean, negative std tensor", "normal", 0.5, ([1.0, -1],), {}),
]

NORMAL_ERRORS = [
    ("integer mean", "normal", [1, 2], (1.0,), {}),
    ("not a generator", "normal", [0.0, 0], (1.0,), {"generator": 0}),
]

POISSON_ERRORS = [
    ("negative rate", "poisson", [-1.0], (), {}),
    ("nan rate", "poisson", [math.nan], (), {}),
    ("integer rates", "poisson", [1], (), {}),
]

LIKE_ERRORS = [
    ("rand_like of integers", "rand_like", [1, 2], (), {}),
    ("randn_like of integers", "randn_like", [1, 2], (), {}),
    ("rand_like to int32", "rand_like", [0.0, 0], (), {"dtype": "int32"}),
    ("low = high", "randint_like", [0.0, 0], (5, 5), {}),
    ("high 0", "randint_like", [0.0, 0], (0,), {}),
    ("not a generator", "rand_like", [0.0, 0], (), {"generator": "g"}),
]


def _raises_like_torch(torch: Any, call: Callable, what: str) -> None:
    """``call(lib, generator)`` raises in torch; plaingrad raises the same class."""
    try:
        call(torch, torch.Generator().manual_seed(0))
    except Exception as error:
        expected = type(error)
    else:
        raise AssertionError(f"{what}: torch does not raise (a spec error)")
    try:
        call(pg, pg.Generator().manual_seed(0))
    except expected:
        return
    except Exception as error:
        raise AssertionError(
            f"{what}: torch raises {expected.__name__}, plaingrad "
            f"{type(error).__name__}: {error}"
        ) from error
    raise AssertionError(f"{what}: torch raises {expected.__name__}, plaingrad not")


def _call(function: str, input: Any, args: tuple, keywords: dict) -> Callable:
    def call(lib: Any, g: Any) -> Any:
        def value(v: Any) -> Any:
            return lib.tensor(v) if isinstance(v, (list, np.ndarray)) else v

        kw = {"generator": g, **keywords}
        if "dtype" in kw:
            kw["dtype"] = getattr(lib, kw["dtype"])
        return getattr(lib, function)(value(input), *map(value, args), **kw)

    return call


def _errors_spec(name: str, cases: list, **options: Any) -> CustomSpec:
    def check(torch: Any, dtype: str) -> None:
        for what, *call in cases:
            _raises_like_torch(torch, _call(*call), f"{name}: {what}")

    return CustomSpec(
        name,
        check,
        st.just(()),
        dtypes=("float32",),
        examples_scale=0.01,
        note="torch's exception class for: " + ", ".join(c[0] for c in cases),
        **options,
    )


SPECS = [
    _errors_spec("multinomial(errors)", MULTINOMIAL_ERRORS),
    _errors_spec("bernoulli(errors)", BERNOULLI_ERRORS),
    _errors_spec("normal(errors)", NORMAL_ERRORS),
    _errors_spec(
        "normal(errors, differing)",
        NORMAL_ERRORS_DIFFERING,
    ),
    _errors_spec("poisson(errors)", POISSON_ERRORS),
    _errors_spec("rand_like(errors)", LIKE_ERRORS),
    _errors_spec(
        "randint_like(dtype bounds)",
        [
            ("uint8 below 0", "randint_like", np.zeros(2, np.uint8), (-5, 2), {}),
            ("uint8 above 255", "randint_like", np.zeros(2, np.uint8), (0, 257), {}),
            ("int8 below -128", "randint_like", np.zeros(2, np.int8), (-129, 0), {}),
            ("bool above 1", "randint_like", np.zeros(2, bool), (0, 3), {}),
        ],
    ),
]
