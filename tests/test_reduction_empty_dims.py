"""Reductions over size-0 dims, against real PyTorch.

softmax and log_softmax of an empty dim are empty; logsumexp of one is -inf
(the log of an empty sum); amax, amin, max(dim) and min(dim) have no identity
and raise IndexError naming the op, and with no dim at all a RuntimeError.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

_SHAPES = [(0,), (0, 3), (3, 0), (2, 0, 4)]

_DIM_OPS = {
    "softmax": lambda t, d: t.softmax(d),
    "log_softmax": lambda t, d: t.log_softmax(d),
    "logsumexp": lambda t, d: t.logsumexp(d),
    "logsumexp_keepdim": lambda t, d: t.logsumexp(d, keepdim=True),
    "amax": lambda t, d: t.amax(d),
    "amin": lambda t, d: t.amin(d),
    "max": lambda t, d: t.max(d),
    "min": lambda t, d: t.min(d),
    "max_keepdim": lambda t, d: t.max(d, keepdim=True),
}


def _cases():
    for shape in _SHAPES:
        for dim in list(range(len(shape))) + [-1]:
            for name in sorted(_DIM_OPS):
                yield name, shape, dim


def _outcome(lib, name, shape, dim):
    x = lib.zeros(shape, dtype=lib.float64, requires_grad=True)
    try:
        out = _DIM_OPS[name](x, dim)
    except (IndexError, RuntimeError) as error:
        return type(error), str(error)
    values = out[0] if isinstance(out, tuple) else out
    (grad,) = lib.autograd.grad(values.sum(), x)
    parts = [values.detach().numpy(), grad.numpy()]
    if isinstance(out, tuple):
        parts.append(out[1].numpy())
    return parts


@pytest.mark.parametrize(("name", "shape", "dim"), list(_cases()))
def test_matches_torch(name, shape, dim) -> None:
    want = _outcome(torch, name, shape, dim)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy warning on the way
        got = _outcome(pg, name, shape, dim)
    if isinstance(want, tuple):
        assert isinstance(got, tuple), f"{name} gave {got}, torch raised {want}"
        assert got[0] is want[0]
        op = name.removesuffix("_keepdim")
        assert got[1].startswith(op) and "Expected reduction dim" in got[1]
        return
    assert not isinstance(got, tuple), got
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_issue_examples() -> None:
    assert pg.zeros(0).softmax(0).shape == (0,)
    assert pg.zeros(0).log_softmax(0).shape == (0,)
    np.testing.assert_array_equal(pg.zeros(0, 3).logsumexp(0).numpy(), [-np.inf] * 3)
    # zeros(3, 0).max(0) reduces the size-3 dim: empty results, as PyTorch
    values, indices = pg.zeros(3, 0).max(0)
    assert values.shape == (0,) and indices.shape == (0,)
    assert indices.dtype == pg.int64
    with pytest.raises(IndexError, match=r"max\(\): Expected reduction dim 1 "):
        pg.zeros(3, 0).max(1)


@pytest.mark.parametrize("kind", ["max", "min"])
def test_no_dim_on_empty_is_runtime_error(kind) -> None:
    with pytest.raises(RuntimeError) as want:
        getattr(torch.zeros(0, 3), kind)()
    with pytest.raises(RuntimeError) as got:
        getattr(pg.zeros(0, 3), kind)()
    assert str(got.value) == str(want.value)


def test_logsumexp_all_dims_of_empty() -> None:
    want = torch.zeros(3, 0).logsumexp((0, 1))
    got = pg.zeros(3, 0).logsumexp((0, 1))
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want.numpy())
