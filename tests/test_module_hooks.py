"""Module hooks against real PyTorch: forward, forward pre and full backward."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _twin(torch: ModuleType) -> tuple:
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)
    ).double()
    ours = pg.nn.Sequential(pg.nn.Linear(3, 4), pg.nn.Tanh(), pg.nn.Linear(4, 2))
    ours = ours.double()
    ours.load_state_dict(
        {k: pg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    return ours, theirs


def _record(lib: ModuleType, model: Any, x_grad: bool, scale: float | None) -> dict:
    seen: dict = {}

    def hook(name: str) -> Any:
        def run(module, grad_input, grad_output):
            seen[name] = (
                [None if g is None else g.numpy().copy() for g in grad_input],
                [g.numpy().copy() for g in grad_output],
            )
            if scale is not None and name == "1":
                return tuple(g * scale for g in grad_input)
            return None

        return run

    handles = [model.register_full_backward_hook(hook("model"))]
    for name, child in model.named_children():
        handles.append(child.register_full_backward_hook(hook(name)))
    x = lib.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=x_grad)
    (model(x) ** 2).sum().backward()
    seen["x.grad"] = None if x.grad is None else x.grad.numpy()
    seen["weight.grad"] = model[0].weight.grad.numpy()
    for handle in handles:
        handle.remove()
    return seen


@pytest.mark.parametrize("x_grad", [True, False])
@pytest.mark.parametrize("scale", [None, 10.0])
def test_full_backward_hooks_match_torch(
    torch: ModuleType, x_grad: bool, scale: float | None
) -> None:
    ours, theirs = _twin(torch)
    got = _record(pg, ours, x_grad, scale)
    expected = _record(torch, theirs, x_grad, scale)
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if key in ("x.grad", "weight.grad"):
            if value is None:
                assert got[key] is None, key
            else:
                np.testing.assert_allclose(got[key], value, rtol=1e-12, err_msg=key)
            continue
        (grad_in, grad_out), (ours_in, ours_out) = value, got[key]
        for a, b in zip(ours_in + ours_out, grad_in + grad_out):
            if b is None:
                assert a is None, key
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, err_msg=key)


def test_removed_backward_hook_is_not_called() -> None:
    model = pg.nn.Linear(2, 1)
    calls = []
    handle = model.register_full_backward_hook(lambda *a: calls.append(1))
    model(pg.ones(1, 2, requires_grad=True)).sum().backward()
    handle.remove()
    model(pg.ones(1, 2, requires_grad=True)).sum().backward()
    assert calls == [1]


def test_forward_hooks_see_and_replace(torch: ModuleType) -> None:
    for lib in (pg, torch):
        layer = lib.nn.Linear(2, 2)
        seen = []
        pre = layer.register_forward_pre_hook(lambda m, args: (args[0] * 0,))

        def after(module, args, out, seen=seen):
            seen.append(args[0].sum().item())
            return out + 1

        post = layer.register_forward_hook(after)
        out = layer(lib.ones(1, 2))
        assert seen == [0.0]
        np.testing.assert_allclose(
            out.detach().numpy(), layer.bias.detach().numpy()[None] + 1, rtol=1e-6
        )
        pre.remove()
        post.remove()
        assert layer(lib.zeros(1, 2)).tolist() == [layer.bias.tolist()]


def test_a_hook_that_returns_the_wrong_count_is_explained() -> None:
    model = pg.nn.Linear(2, 1)
    model.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    out = model(pg.ones(1, 2, requires_grad=True)).sum()
    with pytest.raises(RuntimeError, match="returned 2 gradients, expected 1"):
        out.backward()
