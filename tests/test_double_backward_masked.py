"""Double backward of the piecewise-linear ops (relu, hardtanh, leaky_relu...).

PyTorch records their first-order gradient as a node taking the saved input
or output as an input of zero derivative, so under ``create_graph=True`` that
gradient requires grad even when the incoming gradient is a constant, and
its own gradient is zero. Every right answer here comes from real PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

_X = np.array([1.0, -1.0, 2.0, 0.0, 7.0, -4.0, 0.3, -0.2])

_OPS = {
    "relu": lambda m, t: m.relu(t),
    "relu6": lambda m, t: m.nn.functional.relu6(t),
    "hardtanh": lambda m, t: m.nn.functional.hardtanh(t),
    "leaky_relu": lambda m, t: m.nn.functional.leaky_relu(t, 0.1),
    "abs": lambda m, t: m.abs(t),
    "hardswish": lambda m, t: m.nn.functional.hardswish(t),
    # these record their mask as a constant in PyTorch: no grad required
    "clamp": lambda m, t: m.clamp(t, -1.0, 1.0),
    "clamp_min": lambda m, t: m.clamp(t, min=0.0),
    "maximum": lambda m, t: m.maximum(t, m.tensor([0.5] * 8, dtype=m.float64)),
}


def _np(t):
    # PyTorch's gradient of abs is a ZeroTensor, which wants force=True
    return t.numpy(force=True) if t.__class__ is torch.Tensor else t.numpy()


def _first(lib, name, through):
    x = lib.tensor(_X, dtype=lib.float64, requires_grad=True)
    inner = 2 * x if through else x
    (g,) = lib.autograd.grad(_OPS[name](lib, inner).sum(), x, create_graph=True)
    return x, g


@pytest.mark.parametrize("through", [True, False], ids=["2x", "leaf"])
@pytest.mark.parametrize("name", sorted(_OPS))
def test_requires_grad_and_second_order_match_torch(name, through) -> None:
    x_t, g_t = _first(torch, name, through)
    x_p, g_p = _first(pg, name, through)
    np.testing.assert_allclose(g_p.detach().numpy(), g_t.detach().numpy())
    assert g_p.requires_grad == g_t.requires_grad
    if g_t.requires_grad:
        (gg_t,) = torch.autograd.grad(g_t.sum(), x_t)
        (gg_p,) = pg.autograd.grad(g_p.sum(), x_p)
        np.testing.assert_allclose(_np(gg_p), _np(gg_t))


@pytest.mark.parametrize(
    ("name", "grad_fn"),
    [
        ("relu", "ThresholdBackwardBackward0"),
        ("hardtanh", "HardtanhBackwardBackward0"),
        ("relu6", "HardtanhBackwardBackward0"),
        ("leaky_relu", "LeakyReluBackwardBackward0"),
    ],
)
def test_grad_fn_name_is_torchs(name, grad_fn) -> None:
    _, g_t = _first(torch, name, through=False)
    _, g_p = _first(pg, name, through=False)
    assert g_t.grad_fn.name() == grad_fn
    assert g_p.grad_fn.name() == grad_fn


def test_issue_example_relu_of_2x() -> None:
    x = pg.tensor([1.0, -1.0, 2.0], requires_grad=True)
    (g,) = pg.autograd.grad(pg.relu(2 * x).sum(), x, create_graph=True)
    assert g.requires_grad
    (gg,) = pg.autograd.grad(g.sum(), x)
    np.testing.assert_array_equal(gg.numpy(), [0.0, 0.0, 0.0])


def test_hardsigmoid_first_order_requires_grad_as_torch() -> None:
    # PyTorch has no rule past this point (its double backward raises); the
    # second derivative of a piecewise-linear function is 0 by mathematics
    x = torch.tensor(_X, dtype=torch.float64, requires_grad=True)
    (g_t,) = torch.autograd.grad(
        torch.nn.functional.hardsigmoid(x).sum(), x, create_graph=True
    )
    xp_ = pg.tensor(_X, dtype=pg.float64, requires_grad=True)
    (g_p,) = pg.autograd.grad(
        pg.nn.functional.hardsigmoid(xp_).sum(), xp_, create_graph=True
    )
    assert g_p.requires_grad == g_t.requires_grad
    np.testing.assert_allclose(g_p.detach().numpy(), g_t.detach().numpy())
    (gg_p,) = pg.autograd.grad(g_p.sum(), xp_)
    np.testing.assert_array_equal(gg_p.numpy(), np.zeros(8))


@pytest.mark.parametrize("name", ["relu", "hardtanh", "leaky_relu", "abs"])
def test_gradient_of_the_gradient_wrt_grad_output_and_nan(name) -> None:
    # a NaN incoming gradient is dropped or passed exactly as PyTorch does
    v_np = np.array([0.5, np.nan, -2.0, np.nan, 1.5, np.nan, 3.0, -1.0])
    results = []
    for lib in (torch, pg):
        x = lib.tensor(_X, dtype=lib.float64, requires_grad=True)
        v = lib.tensor(v_np, dtype=lib.float64, requires_grad=True)
        (g,) = lib.autograd.grad(_OPS[name](lib, x), x, v, create_graph=True)
        w = lib.tensor(np.arange(8.0), dtype=lib.float64)
        gv, gx = lib.autograd.grad((g * w).sum(), (v, x), allow_unused=True)
        results.append((_np(g.detach()), _np(gv), _np(gx)))
    for got, want in zip(results[1], results[0]):
        np.testing.assert_allclose(got, want)
