"""Masks and bits: ``& | ^ ~`` and ``logical_*``, against real PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch
from opcheck import dtype_name

import plaingrad as pg

torch = import_torch()

CASES = {
    "and": lambda m, a, b: a & b,
    "or": lambda m, a, b: a | b,
    "xor": lambda m, a, b: a ^ b,
    "invert": lambda m, a, b: ~a,
    "with a bool scalar": lambda m, a, b: True & b,
    "logical_and": lambda m, a, b: m.logical_and(a, b),
    "logical_or": lambda m, a, b: a.logical_or(b),
    "logical_xor": lambda m, a, b: m.logical_xor(a, b),
    "logical_not": lambda m, a, b: m.logical_not(a),
    "bitwise_not": lambda m, a, b: a.bitwise_not(),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", ["bool", "int64", "int32"])
def test_logical_and_bitwise_ops_match_torch(name: str, dtype: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-3, 4, (2, 3)).astype(dtype)
    b = rng.integers(-3, 4, (3,)).astype(dtype)  # broadcasts
    ours = CASES[name](pg, pg.tensor(a), pg.tensor(b))
    theirs = CASES[name](torch, torch.tensor(a), torch.tensor(b))
    assert dtype_name(ours.dtype) == dtype_name(theirs.dtype)
    assert ours.tolist() == theirs.tolist()
    assert not ours.requires_grad


def test_masks_from_comparisons() -> None:
    x = pg.arange(10.0, requires_grad=True)
    mask = (x > 3) & (x < 8)
    assert mask.tolist() == [i in range(4, 8) for i in range(10)]
    assert (~mask).sum().item() == 6
    assert x[mask | (x == 0)].tolist() == [0.0, 4.0, 5.0, 6.0, 7.0]
    # logical_* treat non-zero floats as True
    assert pg.logical_and(x, x > 2).tolist() == [i > 2 for i in range(10)]


def test_bitwise_ops_refuse_floats() -> None:
    x = pg.ones(2)
    with pytest.raises(TypeError, match="bitwise_and: .* got float32"):
        x & x
    with pytest.raises(TypeError, match="bitwise_not: .* got float32"):
        _ = ~x


def test_whole_tensor_comparisons_match_torch() -> None:
    a = np.array([1.0, 2.0, np.nan])
    b = a + np.array([1e-9, 1e-3, 0.0])
    for lib in (pg, torch):
        x, y = lib.tensor(a), lib.tensor(b)
        assert lib.equal(x[:2], x[:2]) and not lib.equal(x[:2], y[:2])
        assert not lib.equal(x[:2], x[:1])
        assert lib.allclose(x[:2], y[:2], rtol=1e-3) and not lib.allclose(x, y)
        assert lib.allclose(x, y, rtol=1e-3, equal_nan=True)
    ours = pg.isclose(pg.tensor(a), pg.tensor(b), equal_nan=True).tolist()
    theirs = torch.isclose(torch.tensor(a), torch.tensor(b), equal_nan=True).tolist()
    assert ours == theirs


def test_type_names_and_converts_as_torch() -> None:
    for dtype in ("float32", "float64", "int64", "bool"):
        ours = pg.ones(2, dtype=getattr(pg, dtype))
        theirs = torch.ones(2, dtype=getattr(torch, dtype))
        assert ours.type().removeprefix("plaingrad.") == theirs.type().removeprefix(
            "torch."
        )
    assert pg.ones(2).type(pg.float64).dtype == pg.float64


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite"])
def test_float_predicates_match_torch(name: str) -> None:
    values = np.array([0.0, np.nan, np.inf, -np.inf, 1.5])
    for data in (values, values.astype(np.float32), np.array([1, 2])):
        ours = getattr(pg, name)(pg.tensor(data))
        theirs = getattr(torch, name)(torch.tensor(data))
        assert ours.tolist() == theirs.tolist()
        assert getattr(pg.tensor(data), name)().tolist() == theirs.tolist()
