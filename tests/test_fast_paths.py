"""The engine's and optimizers' fast paths (issue 7) against real PyTorch.

Each fast path has a general path beside it; these tests drive both and the
switches between them: Adam's flat moment buffers (rebuilt after
``load_state_dict``, left for the per-parameter rule when step counts differ or
dtypes mix), ``loss.backward()``'s short path, Sum's filled gradient, the
adoption of a fresh gradient array as ``.grad``, and which saved inputs stay
tracked for in-place checks.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

RNG = np.random.default_rng(7)
W1 = RNG.standard_normal((5, 3))
B1 = RNG.standard_normal(5)
W2 = RNG.standard_normal((2, 5))
X = RNG.standard_normal((4, 3))


def _params(lib: Any, dtypes: tuple = ("float32",) * 3) -> list:
    arrays = (W1, B1, W2)
    return [
        lib.tensor(a.astype(d).tolist(), dtype=getattr(lib, d), requires_grad=True)
        for a, d in zip(arrays, dtypes)
    ]


def _loss(lib: Any, params: list, use_w2: bool = True) -> Any:
    w1, b1, w2 = params
    x = lib.tensor(X.tolist(), dtype=w1.dtype)
    hidden = (x @ w1.T + b1).tanh()
    if not use_w2:
        return (hidden * hidden).sum()
    return (hidden @ w2.to(hidden.dtype).T).pow(2).mean()


def _train(lib: Any, opt: Any, params: list, steps: int, skip: int = -1) -> None:
    for step in range(steps):
        opt.zero_grad()
        _loss(lib, params, use_w2=step != skip).backward()
        opt.step()


def _assert_same(ours: list, theirs: list, rtol: float = 1e-6) -> None:
    for i, (p, q) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(
            p.detach().numpy(),
            q.detach().numpy(),
            rtol=rtol,
            atol=1e-7,
            err_msg=f"parameter {i}",
        )


# ---------------------------------------------------------------- Adam


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"lr": 0.05, "betas": (0.8, 0.99)},
        {"lr": 0.05, "weight_decay": 0.1},
        {"lr": 0.05, "weight_decay": 0.1, "maximize": True},
        {"lr": 0.05, "maximize": True},
    ],
)
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_flat_step_follows_torch(options: dict, name: str) -> None:
    ours, theirs = _params(pg), _params(torch)
    _train(pg, getattr(pg.optim, name)(ours, **options), ours, 12)
    _train(torch, getattr(torch.optim, name)(theirs, **options), theirs, 12)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize("options", [{"weight_decay": 0.1}, {"maximize": True}])
def test_adam_flat_step_is_the_per_parameter_rule_bit_for_bit(name, options):
    # one parameter takes the per-parameter loop; several, the flat buffers
    ours, single = _params(pg), _params(pg)
    opt = getattr(pg.optim, name)(ours, lr=0.05, **options)
    opts = [getattr(pg.optim, name)([p], lr=0.05, **options) for p in single]
    for _ in range(6):
        for params, optimizers in ((ours, [opt]), (single, opts)):
            for o in optimizers:
                o.zero_grad()
            loss = sum(((p * p).sum() * (i + 1)) for i, p in enumerate(params))
            loss.backward()
            for o in optimizers:
                o.step()
    for p, q in zip(ours, single):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_adam_parameter_without_grad_for_a_step_follows_torch() -> None:
    # w2 misses step 3: its step count falls behind the others' for good
    ours, theirs = _params(pg), _params(torch)
    opt = pg.optim.Adam(ours, lr=0.05)
    _train(pg, opt, ours, 8, skip=3)
    _train(torch, torch.optim.Adam(theirs, lr=0.05), theirs, 8, skip=3)
    _assert_same(ours, theirs)
    assert float(opt.state[ours[2]]["step"]) == 7.0


def test_adam_state_tensors_seen_by_the_user_follow_the_steps() -> None:
    ours, theirs = _params(pg), _params(torch)
    opt, ref = pg.optim.Adam(ours, lr=0.05), torch.optim.Adam(theirs, lr=0.05)
    _train(pg, opt, ours, 2)
    _train(torch, ref, theirs, 2)
    held = opt.state[ours[0]]["exp_avg_sq"]
    _train(pg, opt, ours, 3)
    _train(torch, ref, theirs, 3)
    expected = ref.state[theirs[0]]["exp_avg_sq"].numpy()
    np.testing.assert_allclose(held.numpy(), expected, rtol=1e-6, atol=1e-9)


def test_adam_load_state_dict_mid_training_follows_torch() -> None:
    ours, theirs = _params(pg), _params(torch)
    opt, ref = pg.optim.Adam(ours, lr=0.05), torch.optim.Adam(theirs, lr=0.05)
    _train(pg, opt, ours, 4)
    _train(torch, ref, theirs, 4)
    saved = opt.state_dict()
    _train(pg, opt, ours, 2)  # moves on; the copy and load below rewind it
    with pg.no_grad():
        for p, q in zip(ours, theirs):
            p.copy_(pg.tensor(q.detach().numpy()))
    opt.load_state_dict(saved)
    _train(pg, opt, ours, 5)
    _train(torch, ref, theirs, 5)
    _assert_same(ours, theirs)


def test_adam_deepcopy_trains_on_its_own_as_torch() -> None:
    ours, theirs = _params(pg), _params(torch)
    opt, ref = pg.optim.Adam(ours, lr=0.05), torch.optim.Adam(theirs, lr=0.05)
    _train(pg, opt, ours, 3)
    _train(torch, ref, theirs, 3)
    opt2 = copy.deepcopy(opt)  # copies the parameters too, keyed as before
    ours2 = opt2.param_groups[0]["params"]
    assert all(p is not q for p, q in zip(ours, ours2))
    _train(pg, opt2, ours2, 4)
    _train(torch, ref, theirs, 4)
    _assert_same(ours2, theirs)
    # the original did not move: its state is its own
    assert float(opt.state[ours[0]]["step"]) == 3.0


def test_adam_mixed_dtypes_in_a_group_follow_torch() -> None:
    dtypes = ("float32", "float32", "float64")
    ours, theirs = _params(pg, dtypes), _params(torch, dtypes)
    _train(pg, pg.optim.Adam(ours, lr=0.05), ours, 6)
    _train(torch, torch.optim.Adam(theirs, lr=0.05), theirs, 6)
    _assert_same(ours, theirs)


def test_adam_parameter_listed_twice_steps_twice_as_torch() -> None:
    # the flat path declines: the per-parameter loop steps w1 twice a call,
    # its count twice, as PyTorch's loop does (after the same warning)
    ours, theirs = _params(pg), _params(torch)
    with pytest.warns(UserWarning):
        opt = pg.optim.Adam([*ours, ours[0]], lr=0.05)
    with pytest.warns(UserWarning):
        ref = torch.optim.Adam([*theirs, theirs[0]], lr=0.05)
    _train(pg, opt, ours, 4)
    _train(torch, ref, theirs, 4)
    _assert_same(ours, theirs)
    assert float(opt.state[ours[0]]["step"]) == 8.0
    assert float(opt.state[ours[1]]["step"]) == 4.0


def test_adam_refuses_a_parameter_whose_data_changed_shape_and_updates_nothing():
    ours, theirs = _params(pg), _params(torch)
    opt, ref = pg.optim.Adam(ours, lr=0.05), torch.optim.Adam(theirs, lr=0.05)
    _train(pg, opt, ours, 2)
    _train(torch, ref, theirs, 2)
    for params in (ours, theirs):  # the same size, another shape
        params[0].data = params[0].data.reshape(3, 5).clone()
        params[0].grad = params[0].data * 0 + 1
        params[1].grad = params[1].data * 0 + 1
        params[2].grad = params[2].data * 0 + 1
    with pytest.raises(RuntimeError):
        ref.step()  # PyTorch refuses too (after updating what came before)
    before = [p.detach().numpy().copy() for p in ours]
    moments = [opt.state[p]["exp_avg"].numpy().copy() for p in ours]
    with pytest.raises(RuntimeError) as error:
        opt.step()
    assert str(error.value) == (
        "Adam.step: the exp_avg of parameter 0 in parameter group 0 has shape "
        "(5, 3) but the parameter has shape (3, 5) (was its .data replaced?); "
        "that group was not updated"
    )
    for p, was, m in zip(ours, before, moments):
        np.testing.assert_array_equal(p.detach().numpy(), was)
        np.testing.assert_array_equal(opt.state[p]["exp_avg"].numpy(), m)
        assert float(opt.state[p]["step"]) == 2.0


# -------------------------------------------------------------- engine


@pytest.mark.parametrize("shape", [(3, 4), (200, 100)])
def test_sum_gradient_is_ones_and_each_leaf_owns_its_grad(shape: tuple) -> None:
    # (200, 100) is past the size up to which Sum fills a new array
    a = pg.zeros(shape, requires_grad=True)
    c = pg.zeros(shape, requires_grad=True)
    (a + c).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.ones(shape, np.float32))
    a.grad.add_(1)  # must not reach c.grad, though Add sent both one array
    np.testing.assert_array_equal(c.grad.numpy(), np.ones(shape, np.float32))
    c.grad.mul_(3)
    np.testing.assert_array_equal(a.grad.numpy(), np.full(shape, 2, np.float32))


def test_scalar_backward_frees_the_graph_and_retain_graph_keeps_it() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])  # 2 * 2x
    with pytest.raises(RuntimeError, match="backward through the graph a second"):
        y.backward()


def test_scalar_backward_of_a_view_and_of_a_leaf() -> None:
    x = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 3)[1].backward()  # a 0-d view: the general path
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0])
    s = pg.tensor(2.0, requires_grad=True)
    s.backward()  # a leaf has no grad_fn: the general path
    assert s.grad.item() == 1.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        pg.tensor(1.0).backward()


def _inplace_after(lib: Any, op: str, needs: str, change: str) -> Any:
    """Run ``y = a op b``, change ``change`` (a non-leaf copy) in place, then
    backward; return the gradients, or the error's class."""
    p = lib.tensor([1.0, 2.0], requires_grad="a" in needs)
    q = lib.tensor([3.0, 4.0], requires_grad="b" in needs)
    a, b = (p * 1, q * 1)
    y = a * b if op == "mul" else a / b
    (a if change == "a" else b).mul_(2)
    try:
        y.sum().backward()
    except RuntimeError:
        return RuntimeError
    return [None if t.grad is None else t.grad.tolist() for t in (p, q)]


@pytest.mark.parametrize("op", ["mul", "div"])
@pytest.mark.parametrize("needs", ["a", "b", "ab"])
@pytest.mark.parametrize("change", ["a", "b"])
def test_saved_inputs_tracked_as_torch(op: str, needs: str, change: str) -> None:
    expected = _inplace_after(torch, op, needs, change)
    assert _inplace_after(pg, op, needs, change) == expected
