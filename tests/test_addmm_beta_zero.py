"""addmm and baddbmm with ``beta=0``: PyTorch ignores ``input`` entirely, so
its NaN and inf never reach the result, and its gradient is ``0 * grad``."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

_CASES = {
    "addmm": ((1, 1), (1, 2), (2, 1)),
    "addmm_broadcast_row": ((2,), (3, 2), (2, 2)),
    "baddbmm": ((2, 1, 1), (2, 1, 2), (2, 2, 1)),
    "baddbmm_broadcast": ((1, 3), (2, 1, 2), (2, 2, 3)),
}


def _run(lib, name, fill, alpha):
    shape_c, shape_a, shape_b = _CASES[name]
    rng = np.random.default_rng(3)
    c = lib.tensor(np.full(shape_c, fill), requires_grad=True)
    a = lib.tensor(rng.standard_normal(shape_a), requires_grad=True)
    b = lib.tensor(rng.standard_normal(shape_b), requires_grad=True)
    fn = lib.baddbmm if name.startswith("baddbmm") else lib.addmm
    out = fn(c, a, b, beta=0, alpha=alpha)
    out.backward(lib.ones_like(out))
    return [t.detach().numpy() for t in (out, c.grad, a.grad, b.grad)]


@pytest.mark.parametrize("alpha", [1, 2.5])
@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf, 1.0])
@pytest.mark.parametrize("name", sorted(_CASES))
def test_beta_zero_ignores_input_as_torch(name, fill, alpha) -> None:
    got = _run(pg, name, fill, alpha)
    want = _run(torch, name, fill, alpha)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_issue_example() -> None:
    out = pg.addmm(pg.tensor([[np.nan]]), pg.ones(1, 2), pg.ones(2, 1), beta=0)
    np.testing.assert_array_equal(out.numpy(), [[2.0]])


def test_beta_zero_integer_tensors() -> None:
    c = np.array([[1, 2]])
    a, b = np.ones((1, 2), dtype=np.int64), np.ones((2, 2), dtype=np.int64)
    want = torch.addmm(torch.tensor(c), torch.tensor(a), torch.tensor(b), beta=0)
    got = pg.addmm(pg.tensor(c), pg.tensor(a), pg.tensor(b), beta=0)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.dtype == pg.int64
