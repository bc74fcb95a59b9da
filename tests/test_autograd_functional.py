"""``autograd.functional.jacobian`` against real PyTorch and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()


def _pair(lib):
    return lambda x, y: (x.tanh() * y.sum(), (x * x).sum())


def _compare(ours, theirs) -> None:
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            _compare(a, b)
        return
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-14)


def test_jacobian_nesting_and_values_match_torch() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(3), rng.standard_normal((2, 2))
    cases = [
        (lambda m: lambda a: a.exp() * 2, (x,)),  # one input, one output
        (lambda m: lambda a, b: a.tanh() * b.sum(), (x, y)),  # two in, one out
        (_pair, (x, y)),  # two in, two out
    ]
    for make, args in cases:
        ours = pg.autograd.functional.jacobian(
            make(pg),
            tuple(pg.tensor(a) for a in args) if len(args) > 1 else pg.tensor(args[0]),
        )
        theirs = torch.autograd.functional.jacobian(
            make(torch),
            tuple(torch.tensor(a) for a in args)
            if len(args) > 1
            else torch.tensor(args[0]),
        )
        _compare(ours, theirs)


def test_jacobian_equals_finite_differences() -> None:
    x = np.array([0.3, -0.7, 1.1])

    def f(t):
        return (t.sin() if hasattr(t, "sin") else t.tanh()) * t.sum()

    jac = pg.autograd.functional.jacobian(f, pg.tensor(x)).numpy()
    eps = 1e-6
    for j in range(3):
        step = np.zeros(3)
        step[j] = eps
        plus = f(pg.tensor(x + step)).numpy()
        minus = f(pg.tensor(x - step)).numpy()
        np.testing.assert_allclose(jac[:, j], (plus - minus) / (2 * eps), rtol=1e-6)


def test_independent_outputs_and_strict_mode() -> None:
    x, y = pg.ones(2), pg.ones(3)
    jac = pg.autograd.functional.jacobian(lambda a, b: a * 2, (x, y))
    assert jac[1].tolist() == [[0.0] * 3] * 2
    with pytest.raises(RuntimeError, match="independent of input 1"):
        pg.autograd.functional.jacobian(lambda a, b: a * 2, (x, y), strict=True)


def test_hessian_and_jacobian_with_create_graph() -> None:
    # d^2 sum(x^3) = diag(6x); more in test_double_backward.py
    hess = pg.autograd.functional.hessian(lambda a: (a**3).sum(), pg.ones(2))
    assert hess.tolist() == [[6.0, 0.0], [0.0, 6.0]]
    x = pg.ones(2, requires_grad=True)
    jac = pg.autograd.functional.jacobian(lambda a: a * a, x, create_graph=True)
    assert jac.grad_fn is not None  # differentiable with respect to x
