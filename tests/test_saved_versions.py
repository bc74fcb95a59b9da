"""Which saved values the "modified by an inplace operation" check watches.

PyTorch saves an operand only when some gradient will read it: ``b`` for
``a * b`` only when ``a`` needs a gradient. Changing an unsaved value in place
(an optimizer step on a weight between two backward passes) is fine; changing a
value that a wanted gradient reads raises. Each case runs in both libraries and
must either raise in both or give the same gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()


def _linear_weight_step(lib: Any) -> list:
    # data x needs no gradient, so W is not saved: stepping W is fine
    w = lib.ones(2, 2, requires_grad=True)
    x = lib.tensor([[1.0, 2.0]])
    loss = (x @ w).sum()
    with lib.no_grad():
        w -= 0.1
    loss.backward()
    return [w.grad]


def _two_losses_with_a_step(lib: Any) -> list:
    lib.manual_seed(0)
    layer = lib.nn.Linear(2, 2)
    with lib.no_grad():
        layer.weight.copy_(lib.tensor([[0.5, -1.0], [2.0, 0.25]]))
        layer.bias.copy_(lib.tensor([0.1, -0.2]))
    opt = lib.optim.SGD(layer.parameters(), lr=0.1)
    x = lib.tensor([[1.0, 2.0], [3.0, -1.0]])
    first = layer(x).sum()
    second = (layer(x) ** 2).sum()
    first.backward(retain_graph=True)
    opt.step()
    second.backward()
    return [layer.weight.grad, layer.bias.grad]


def _scalar_multiple(lib: Any) -> list:
    w = lib.ones(3, requires_grad=True)
    y = w * 2 + w / 4
    with lib.no_grad():
        w.mul_(3)
    y.sum().backward()
    return [w.grad]


def _relu_after_scale(lib: Any) -> list:
    leaf = lib.ones(2, 3, requires_grad=True)
    h = leaf * 1.0
    skip = h * 0.5
    h.relu_()
    (h + skip).sum().backward()
    return [leaf.grad]


def _product_of_two_leaves(lib: Any) -> list:
    # b's value is read by a's gradient: changing it must raise
    a = lib.ones(3, requires_grad=True)
    b = lib.ones(3, requires_grad=True)
    z = a * b
    with lib.no_grad():
        b.add_(1)
    z.sum().backward()
    return [a.grad]


def _divisor(lib: Any) -> list:
    # d(a/b)/db reads b itself, so b is saved even when a needs no gradient
    a = lib.ones(3)
    b = lib.full((3,), 2.0, requires_grad=True)
    z = a / b
    with lib.no_grad():
        b.add_(1)
    z.sum().backward()
    return [b.grad]


def _addmm_bias_only(lib: Any) -> list:
    bias = lib.zeros(2, requires_grad=True)
    m1 = lib.ones(2, 2)
    m2 = lib.ones(2, 2)
    out = lib.addmm(bias, m1, m2)
    with lib.no_grad():
        m2.add_(1)
    out.sum().backward()
    return [bias.grad]


CASES: dict[str, Callable[[Any], list]] = {
    "linear weight step": _linear_weight_step,
    "two losses with a step": _two_losses_with_a_step,
    "scalar multiple": _scalar_multiple,
    "relu_ after scale": _relu_after_scale,
    "product of two leaves": _product_of_two_leaves,
    "divisor": _divisor,
    "addmm bias only": _addmm_bias_only,
}


@pytest.mark.parametrize("name", list(CASES))
def test_same_outcome_as_torch(name: str) -> None:
    case = CASES[name]
    try:
        expected = case(torch)
    except RuntimeError as error:
        assert "modified by an inplace operation" in str(error)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            case(pg)
        return
    got = case(pg)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-6)
