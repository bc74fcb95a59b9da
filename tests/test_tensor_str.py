"""plaingrad's tensor text against PyTorch's ``repr``, character for character."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def _import_torch() -> ModuleType:
    """Import torch, skipping the module without it unless CI demands it."""
    if os.environ.get("PLAINGRAD_REQUIRE_TORCH") == "1":
        import torch

        return torch
    return pytest.importorskip("torch")


def _load_tensor_str() -> ModuleType:
    """Import the module, or load its file alone while the package is incomplete."""
    try:
        return importlib.import_module("plaingrad._tensor_str")
    except ImportError:
        path = Path(__file__).parents[1] / "src" / "plaingrad" / "_tensor_str.py"
        spec = importlib.util.spec_from_file_location("_plaingrad_tensor_str", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
        return module


# NumPy overflow and invalid-value warnings would come from our own formatting.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

torch = _import_torch()
tensor_str = _load_tensor_str()

nan, inf = math.nan, math.inf

DTYPES = [
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.float16,
    torch.float32,
    torch.float64,
]


def _name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def _check(t: Any) -> None:
    """Assert that plaingrad prints ``t`` as PyTorch does, up to the namespace."""
    if t.grad_fn is not None:
        suffixes = [f"grad_fn=<{type(t.grad_fn).__name__}>"]
    elif t.requires_grad:
        suffixes = ["requires_grad=True"]
    else:
        suffixes = []
    default_float = _name(torch.get_default_dtype())

    got = tensor_str.format_tensor(
        t.detach().numpy(), _name(t.dtype), suffixes, default_float
    )

    assert got == repr(t).replace("torch.", "plaingrad.")


@contextlib.contextmanager
def _print_options(**options: Any) -> Iterator[None]:
    """Apply the same print options to both libraries, then restore the defaults."""
    torch.set_printoptions(**options)
    tensor_str.set_printoptions(**options)
    try:
        yield
    finally:
        torch.set_printoptions(profile="default")
        tensor_str.set_printoptions(profile="default")


def _grid(*shape: int, dtype: Any = torch.float32, scale: float = 1.0) -> Any:
    count = math.prod(shape)
    values = torch.arange(count, dtype=torch.float64).reshape(shape) * scale
    return values.to(dtype)


CASES: dict[str, Callable[[], Any]] = {
    # 0-d
    "scalar_whole": lambda: torch.tensor(3.0),
    "scalar_fraction": lambda: torch.tensor(3.5),
    "scalar_true": lambda: torch.tensor(True),
    "scalar_int": lambda: torch.tensor(-7),
    "scalar_zero": lambda: torch.tensor(0.0),
    "scalar_negative_zero": lambda: torch.tensor(-0.0),
    "scalar_nan": lambda: torch.tensor(nan),
    "scalar_tiny": lambda: torch.tensor(1e-5),
    "scalar_huge_f64": lambda: torch.tensor(1e300, dtype=torch.float64),
    "sci_extreme_float64": lambda: torch.tensor([1e300, -1e-300], dtype=torch.float64),
    "scalar_half": lambda: torch.tensor(0.1, dtype=torch.float16),
    "scalar_uint8": lambda: torch.tensor(200, dtype=torch.uint8),
    # 1-D floats
    "whole_floats": lambda: torch.tensor([1.0, 2.0]),
    "fixed_point": lambda: torch.tensor([1.5, 2.25]),
    "negative": lambda: torch.tensor([-1.5, 2.0, 300.25]),
    "sci_small": lambda: torch.tensor([1e-5, 1.0]),
    "sci_ratio": lambda: torch.tensor([1.0, 1001.0]),
    "no_sci_ratio_1000": lambda: torch.tensor([0.5, 500.0]),
    "sci_large": lambda: torch.tensor([1e9, 2.0]),
    "large_whole": lambda: torch.tensor([12345678.0, -1.0, 100.0]),
    "nonfinite": lambda: torch.tensor([nan, inf, -inf, 1.5]),
    "nonfinite_whole": lambda: torch.tensor([nan, inf, -1.0]),
    "nonfinite_sci": lambda: torch.tensor([nan, -inf, 1e-7, 3.0]),
    "all_nan": lambda: torch.tensor([nan, nan]),
    "zero_and_nan": lambda: torch.tensor([0.0, nan]),
    "zeros": lambda: torch.zeros(4),
    "negative_zero": lambda: torch.tensor([-0.0, 1.0]),
    "float64": lambda: torch.tensor([1.12345], dtype=torch.float64),
    "float16": lambda: torch.tensor([0.1, 65504.0, -2.5], dtype=torch.float16),
    "float16_tiny": lambda: torch.tensor([6e-8, 1.0], dtype=torch.float16),
    # 1-D integers and bools
    "ints": lambda: torch.tensor([1, 2, 3]),
    "negative_ints": lambda: torch.tensor([-100, 2, 30]),
    "bools": lambda: torch.tensor([True, False, True]),
    "uint8": lambda: torch.tensor([0, 255, 7], dtype=torch.uint8),
    "int8": lambda: torch.tensor([-128, 127], dtype=torch.int8),
    "int16": lambda: torch.tensor([-3, 1000], dtype=torch.int16),
    "int32": lambda: torch.tensor([2**31 - 1, -1], dtype=torch.int32),
    "int64_extreme": lambda: torch.tensor([-(2**63), 2**63 - 1]),
    # n-D
    "matrix": lambda: torch.tensor([[1.5, -2.0], [3.25, 400.0]]),
    "matrix_ints": lambda: _grid(3, 4, dtype=torch.int64),
    "cube": lambda: _grid(2, 3, 4, scale=0.37),
    "four_d": lambda: _grid(2, 2, 2, 3, scale=-1.0),
    "four_d_bool": lambda: _grid(2, 1, 2, 2, dtype=torch.bool),
    "column": lambda: _grid(5, 1, dtype=torch.float64, scale=1e-6),
    "wide_rows": lambda: _grid(3, 15, scale=1.25),
    # empty
    "empty": lambda: torch.tensor([]),
    "empty_int64": lambda: torch.tensor([], dtype=torch.int64),
    "empty_bool": lambda: torch.tensor([], dtype=torch.bool),
    "empty_float64": lambda: torch.tensor([], dtype=torch.float64),
    "empty_rows": lambda: torch.zeros(0, 3),
    "empty_3d_half": lambda: torch.zeros(2, 0, 4, dtype=torch.float16),
    "empty_ints_2d": lambda: torch.zeros(3, 0, dtype=torch.int32),
    # wrapping of long rows
    "wrap_fixed": lambda: _grid(30, scale=1.5),
    "wrap_ints": lambda: _grid(100, dtype=torch.int64),
    "wrap_sci_float64": lambda: _grid(25, dtype=torch.float64, scale=1e7),
    "wrap_bools": lambda: _grid(40, dtype=torch.bool),
    # summarised
    "summary_ints": lambda: _grid(1001, dtype=torch.int64),
    "summary_matrix": lambda: _grid(40, 50),
    "summary_cube": lambda: _grid(10, 10, 11, scale=0.01),
    "summary_bools": lambda: _grid(1200, dtype=torch.bool),
    "summary_one_long_row": lambda: _grid(3, 1000, dtype=torch.int16),
    "summary_single_row": lambda: _grid(1, 1001),
    "summary_half": lambda: _grid(2000, dtype=torch.float16, scale=-0.5),
    "summary_only_corners_fractional": lambda: torch.cat(
        [torch.ones(3), torch.full((1000,), 0.5), torch.ones(3)]
    ),
    # autograd suffixes
    "requires_grad": lambda: torch.tensor([1.0, 2.0], requires_grad=True),
    "requires_grad_float64": lambda: torch.ones(
        2, 2, dtype=torch.float64
    ).requires_grad_(),
    "grad_fn": lambda: torch.tensor([1.0, 2.0], requires_grad=True) * 2,
    "grad_fn_scalar": lambda: (torch.tensor([1.0, 2.0], requires_grad=True)).sum(),
    "grad_fn_addmm": lambda: torch.nn.functional.linear(
        torch.ones(2, 3), torch.ones(4, 3, requires_grad=True), torch.zeros(4)
    ),
    "grad_fn_empty": lambda: (
        torch.zeros(0, 2, dtype=torch.float64).requires_grad_() * 2
    ),
}


@pytest.mark.parametrize("build", CASES.values(), ids=CASES.keys())
def test_matches_torch(build: Callable[[], Any]) -> None:
    _check(build())


@pytest.mark.parametrize("length", range(1, 16))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_suffix_wrapping_matches_torch(length: int, dtype: Any) -> None:
    # Row lengths sweep past the width at which suffixes move to a new line.
    base = torch.linspace(-3e9, 7e9, length, dtype=dtype, requires_grad=True)

    _check(base)
    _check(base * 2)


@pytest.mark.parametrize(
    "options",
    [
        {"precision": 2},
        {"precision": 7},
        {"precision": 0},
        {"threshold": 5},
        {"threshold": 5, "edgeitems": 1},
        {"threshold": 5, "edgeitems": 0},
        {"edgeitems": 0},
        {"linewidth": 40},
        {"linewidth": 120},
        {"linewidth": 5},
        {"sci_mode": True},
        {"sci_mode": False},
        {"profile": "short"},
        {"profile": "full"},
        {"profile": "short", "precision": 5},
    ],
    ids=repr,
)
def test_print_options_match_torch(options: dict[str, Any]) -> None:
    tensors = [
        torch.tensor(2.5),
        torch.tensor([1.0, 2.0]),
        torch.tensor([1e-5, 1.0, nan]),
        torch.tensor([0.0, 0.0]),
        _grid(30, scale=1.5),
        _grid(30, dtype=torch.int64),
        _grid(4, 5, dtype=torch.float64, scale=0.3),
        _grid(3, 3, 3, dtype=torch.bool),
        _grid(2000, scale=0.1),
        _grid(20, 60, dtype=torch.int32),
        torch.zeros(0, 3),
        torch.tensor([1.5, 2.0], requires_grad=True) * 3,
    ]

    with _print_options(**options):
        assert tensor_str.get_printoptions() == torch._tensor_str.get_printoptions()
        for t in tensors:
            _check(t)


def test_get_printoptions_defaults_match_torch() -> None:
    assert tensor_str.get_printoptions() == torch._tensor_str.get_printoptions()
    assert tensor_str.get_printoptions() == {
        "precision": 4,
        "threshold": 1000,
        "edgeitems": 3,
        "linewidth": 80,
        "sci_mode": None,
    }


def test_unknown_profile_raises() -> None:
    with pytest.raises(ValueError, match="profile"):
        tensor_str.set_printoptions(profile="long")


def test_default_float64_hides_float64_and_shows_float32() -> None:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        _check(torch.tensor([1.5, 2.0]))
        _check(torch.tensor([1.5, 2.0], dtype=torch.float32))
        _check(torch.tensor([1, 2]))
        _check(torch.tensor([], dtype=torch.float32))
        _check(torch.tensor([]))
    finally:
        torch.set_default_dtype(previous)


def test_known_outputs() -> None:
    # Written out by hand so that a torch upgrade cannot move the goalposts.
    fmt = tensor_str.format_tensor

    assert fmt(np.array(3.0, np.float32), "float32", []) == "tensor(3.)"
    assert fmt(np.array([1e-5, 1.0]), "float32", []) == (
        "tensor([1.0000e-05, 1.0000e+00])"
    )
    assert fmt(np.zeros((0, 3), np.float32), "float32", []) == (
        "tensor([], size=(0, 3))"
    )
    assert fmt(np.array([True, False]), "bool", ["requires_grad=True"]) == (
        "tensor([ True, False], requires_grad=True)"
    )


def _values(kind: str) -> st.SearchStrategy[float]:
    if kind == "whole":
        return st.integers(-1000, 1000).map(float)
    special = st.sampled_from([nan, inf, -inf, 0.0, -0.0, 1e-5, 1e9, 0.5])
    if kind == "special":
        return st.one_of(special, st.floats(-100, 100))
    return st.floats(-10, 10)


@st.composite
def _tensors(draw: st.DrawFn) -> Any:
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    count = math.prod(shape)
    if dtype.is_floating_point:
        kind = draw(st.sampled_from(["whole", "special", "plain"]))
        scale = draw(st.sampled_from([1.0, 1e-6, 1e-3, 1e3, 1e9]))
        values = draw(st.lists(_values(kind), min_size=count, max_size=count))
        t = (torch.tensor(values, dtype=torch.float64) * scale).reshape(shape)
        t = t.to(dtype)
        grad = draw(st.sampled_from(["none", "leaf", "result"]))
        if grad != "none":
            t.requires_grad_()
        return t * 1 if grad == "result" else t
    if dtype == torch.bool:
        values = draw(st.lists(st.booleans(), min_size=count, max_size=count))
        return torch.tensor(values, dtype=torch.bool).reshape(shape)
    info = torch.iinfo(dtype)
    values = draw(
        st.lists(st.integers(info.min, info.max), min_size=count, max_size=count)
    )
    return torch.tensor(values, dtype=dtype).reshape(shape)


@settings(max_examples=50, deadline=None)
@given(_tensors())
def test_random_small_tensors_match_torch(t: Any) -> None:
    _check(t)


@settings(max_examples=12, deadline=None)
@given(
    shape=st.sampled_from([(1001,), (3, 400), (11, 10, 11), (40, 30), (7, 2, 80)]),
    dtype=st.sampled_from(DTYPES),
    spread=st.sampled_from([1e-3, 1.0, 1e6]),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_summarised_tensors_match_torch(
    shape: tuple[int, ...], dtype: Any, spread: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.standard_normal(shape) * spread
    if not dtype.is_floating_point:
        values = np.round(values * 50)

    _check(torch.from_numpy(values).to(dtype))
