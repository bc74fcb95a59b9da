"""``plaingrad.optim`` and ``clip_grad_norm_`` against PyTorch's trajectories.

The trajectory tests start both libraries from the same float64 weights, feed
the same data and the same loss, and require the parameters to agree after
every step for 100 steps.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


_RNG = np.random.default_rng(2024)
_X = _RNG.standard_normal((16, 3))
_Y = _RNG.standard_normal((16, 2))


def _mlp(lib: ModuleType) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2)).double()


def _twin_models(torch: ModuleType) -> tuple:
    """The same float64 MLP in both libraries."""
    torch.manual_seed(0)
    theirs = _mlp(torch)
    ours = _mlp(pg)
    ours.load_state_dict(
        {k: pg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    return ours, theirs


def _loss(lib: ModuleType, model: Any) -> Any:
    out = model(lib.tensor(_X))
    return ((out - lib.tensor(_Y)) ** 2).mean() + lib.tanh(out).sum() * 0.01


def _step(lib: ModuleType, model: Any, opt: Any) -> None:
    opt.zero_grad()
    loss = _loss(lib, model)
    if opt.param_groups[0].get("maximize"):
        # Ascend the negated loss: the same descent. Ascending the loss itself
        # diverges exponentially, and rounding differences of 1e-16 between
        # the libraries then grow past any tolerance.
        loss = -loss
    loss.backward()
    opt.step()


def _assert_params_close(ours: Any, theirs: Any, step: int) -> None:
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(
            a.detach().numpy(),
            b.detach().numpy(),
            rtol=1e-5,
            atol=1e-9,
            err_msg=f"{name} after step {step}",
        )


_CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), amsgrad=True, weight_decay=0.01)),
]


@pytest.mark.parametrize(("name", "options"), _CONFIGS)
def test_trajectory_matches_torch(torch: ModuleType, name: str, options: dict) -> None:
    ours, theirs = _twin_models(torch)
    opt_ours = getattr(pg.optim, name)(ours.parameters(), **options)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **options)
    for step in range(1, 101):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)


def test_param_groups_with_their_own_lr_match_torch(torch: ModuleType) -> None:
    ours, theirs = _twin_models(torch)

    def groups(model: Any) -> list:
        return [
            {"params": model[0].parameters(), "lr": 0.2},
            {"params": model[2].parameters(), "momentum": 0.5},
        ]

    opt_ours = pg.optim.SGD(groups(ours), lr=0.01)
    opt_theirs = torch.optim.SGD(groups(theirs), lr=0.01)
    assert [g["lr"] for g in opt_ours.param_groups] == [0.2, 0.01]
    assert [g["momentum"] for g in opt_ours.param_groups] == [0, 0.5]
    for step in range(1, 31):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)
    # Changing a group's lr mid-run takes effect at the next step.
    for opt in (opt_ours, opt_theirs):
        opt.param_groups[0]["lr"] = 0.05
    for step in range(31, 41):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)


def test_add_param_group_fills_defaults() -> None:
    a, b = pg.nn.Parameter(pg.ones(2)), pg.nn.Parameter(pg.ones(3))
    opt = pg.optim.Adam([a], lr=0.1, betas=(0.5, 0.6))
    opt.add_param_group({"params": b, "lr": 0.3})
    assert opt.param_groups[1]["params"] == [b]
    assert opt.param_groups[1]["lr"] == 0.3
    assert opt.param_groups[1]["betas"] == (0.5, 0.6)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    assert len(opt.param_groups) == 2


# ----------------------------------------------------------- known values


def test_adam_weight_decay_with_zero_gradient_known_values(torch: ModuleType) -> None:
    # g = 0 + 0.1 * w; the first step is lr * sign(g) exactly; the second
    # follows m = 0.9 m + 0.1 g, v = 0.999 v + 0.001 g^2 with bias correction.
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    ref = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = pg.optim.Adam([w], lr=0.1, weight_decay=0.1)
    opt_ref = torch.optim.Adam([ref], lr=0.1, weight_decay=0.1)
    expected = [0.9, 0.800412]
    for value in expected:
        w.grad = pg.zeros(1, dtype=pg.float64)
        ref.grad = torch.zeros(1, dtype=torch.float64)
        opt.step()
        opt_ref.step()
        assert w.item() == pytest.approx(value, abs=1e-6)
        assert w.item() == pytest.approx(ref.item(), rel=1e-12)


def test_sgd_momentum_known_values() -> None:
    # buf_1 = g = 1; p = 1 - 0.1 = 0.9; buf_2 = 0.9 * 1 + 1 = 1.9; p = 0.71
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.SGD([w], lr=0.1, momentum=0.9)
    for value in (0.9, 0.71):
        w.grad = pg.ones(1, dtype=pg.float64)
        opt.step()
        assert w.item() == pytest.approx(value, abs=1e-12)


# -------------------------------------------------------------- zero_grad


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_zero_grad_sets_none_by_default(name: str) -> None:
    model = _mlp(pg)
    opt = getattr(pg.optim, name)(model.parameters(), lr=0.1)
    _loss(pg, model).backward()
    opt.zero_grad(set_to_none=False)
    for p in model.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(tuple(p.shape)))
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.5)),
        ("Adam", dict(lr=0.1, weight_decay=0.5)),
        ("Adam", dict(lr=0.1, weight_decay=0.5, amsgrad=True)),
    ],
)
def test_parameters_without_grad_are_skipped(name: str, options: dict) -> None:
    used = pg.nn.Parameter(pg.ones(2))
    unused = pg.nn.Parameter(pg.ones(3))
    opt = getattr(pg.optim, name)([used, unused], **options)
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
    assert unused.grad is None
    np.testing.assert_array_equal(unused.detach().numpy(), np.ones(3))
    assert unused not in opt.state
    assert not np.allclose(used.detach().numpy(), 1.0)


# ------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("name", "options", "pattern"),
    [
        ("SGD", dict(lr=-0.1), r"SGD: Invalid learning rate: -0\.1"),
        ("SGD", dict(lr=math.nan), r"SGD: Invalid learning rate: nan"),
        ("SGD", dict(momentum=-0.5), r"SGD: Invalid momentum value: -0\.5"),
        ("SGD", dict(weight_decay=-1e-4), r"SGD: Invalid weight_decay value: -0\.0001"),
        ("SGD", dict(nesterov=True), "Nesterov momentum requires a momentum"),
        (
            "SGD",
            dict(nesterov=True, momentum=0.9, dampening=0.1),
            "zero dampening",
        ),
        ("Adam", dict(lr=-1.0), r"Adam: Invalid learning rate: -1\.0"),
        ("Adam", dict(lr=math.nan), r"Adam: Invalid learning rate: nan"),
        ("Adam", dict(eps=-1e-8), r"Adam: Invalid epsilon value: -1e-08"),
        ("Adam", dict(weight_decay=-0.1), r"Adam: Invalid weight_decay value: -0\.1"),
        ("Adam", dict(betas=(1.0, 0.999)), r"Invalid beta parameter at index 0: 1\.0"),
        ("Adam", dict(betas=(0.9, -0.1)), r"Invalid beta parameter at index 1: -0\.1"),
    ],
)
def test_bad_hyperparameters_name_the_value(
    name: str, options: dict, pattern: str
) -> None:
    with pytest.raises(ValueError, match=pattern):
        getattr(pg.optim, name)([pg.nn.Parameter(pg.ones(1))], **options)


def test_bad_hyperparameter_in_a_new_group_adds_nothing() -> None:
    a, b = pg.nn.Parameter(pg.ones(1)), pg.nn.Parameter(pg.ones(1))
    opt = pg.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match=r"Invalid learning rate: -2"):
        opt.add_param_group({"params": [b], "lr": -2})
    assert len(opt.param_groups) == 1
    with pytest.raises(TypeError, match="SGD: `lr` must be a number, got str"):
        pg.optim.SGD([a], lr="0.1")


def test_bad_params_are_explained() -> None:
    w = pg.nn.Parameter(pg.ones(2))
    with pytest.raises(TypeError, match="iterable of Tensors or dicts.*got a Tensor"):
        pg.optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        pg.optim.Adam([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        pg.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors.*list"):
        pg.optim.SGD([[w]], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        pg.optim.SGD([{"params": {w}}], lr=0.1)


def test_duplicate_parameters_in_a_group_warn(torch: ModuleType) -> None:
    w = pg.nn.Parameter(pg.ones(2))
    with pytest.warns(pg.PlaingradWarning, match="duplicate parameters"):
        pg.optim.SGD([w, w], lr=0.1)


def test_named_parameters_are_accepted_as_torch(torch: ModuleType) -> None:
    ours, theirs = _twin_models(torch)
    opt_ours = pg.optim.Adam(ours.named_parameters(), lr=0.01)
    opt_theirs = torch.optim.Adam(theirs.named_parameters(), lr=0.01)
    assert opt_ours.param_groups[0]["param_names"] == [
        n for n, _ in theirs.named_parameters()
    ]
    assert (
        opt_ours.state_dict()["param_groups"][0]["param_names"]
        == opt_theirs.state_dict()["param_groups"][0]["param_names"]
    )
    for step in range(1, 6):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_failed_step_leaves_every_parameter_unchanged(name: str) -> None:
    first = pg.nn.Parameter(pg.ones(2))
    second = pg.nn.Parameter(pg.ones(3))
    opt = getattr(pg.optim, name)([first, second], lr=0.1)
    first.grad = pg.ones(2)
    with pytest.raises(RuntimeError, match="attempting to assign a gradient of size"):
        second.grad = pg.ones(4)  # refused at the assignment, as in PyTorch
    second._grad = pg.ones(4)  # a wrong shape that got past it anyway
    with pytest.raises(RuntimeError, match=r"step.*\(4,\).*\(3,\)"):
        opt.step()
    np.testing.assert_array_equal(first.detach().numpy(), np.ones(2))
    np.testing.assert_array_equal(second.detach().numpy(), np.ones(3))
    assert opt.state.get(first, {}) == {}


# ------------------------------------------------------------ state dicts


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
        ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    ],
)
def test_state_dict_round_trip_continues_the_trajectory(
    torch: ModuleType, name: str, options: dict
) -> None:
    ours, theirs = _twin_models(torch)
    opt = getattr(pg.optim, name)(ours.parameters(), **options)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **options)
    for _ in range(10):
        _step(pg, ours, opt)
        _step(torch, theirs, opt_theirs)
    saved = opt.state_dict()
    reference = opt_theirs.state_dict()
    assert sorted(saved["state"]) == sorted(reference["state"])
    assert sorted(saved["state"][0]) == sorted(reference["state"][0])
    assert saved["param_groups"][0]["params"] == reference["param_groups"][0]["params"]
    for key in options:
        assert saved["param_groups"][0][key] == reference["param_groups"][0][key]

    # A fresh optimizer on a copy of the weights, loaded from the state dict.
    resumed_model = _mlp(pg)
    resumed_model.load_state_dict(ours.state_dict())
    resumed = getattr(pg.optim, name)(resumed_model.parameters(), lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == options["lr"]

    # Nothing is shared: not between the source optimizer and the dict, nor
    # between the dict and the loaded optimizer.
    source_arrays = [
        v.numpy() for s in opt.state.values() for v in s.values() if hasattr(v, "numpy")
    ]
    for state in resumed.state.values():
        for value in state.values():
            for array in source_arrays:
                assert not np.shares_memory(value.numpy(), array)
    for state in saved["state"].values():
        for value in state.values():
            value.numpy()[...] = 1e6  # scribble on the saved copy
    saved["param_groups"][0]["lr"] = 99.0
    assert resumed.param_groups[0]["lr"] == options["lr"]

    for step in range(11, 31):
        _step(pg, ours, opt)
        _step(pg, resumed_model, resumed)
        _step(torch, theirs, opt_theirs)
        for a, b in zip(ours.parameters(), resumed_model.parameters()):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        _assert_params_close(ours, theirs, step)


def test_loading_a_state_dict_from_torch(torch: ModuleType) -> None:
    ours, theirs = _twin_models(torch)
    opt_theirs = torch.optim.Adam(theirs.parameters(), lr=0.01)
    for _ in range(5):
        _step(torch, theirs, opt_theirs)
    ours.load_state_dict(
        {k: pg.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )
    reference = opt_theirs.state_dict()
    converted = {
        "state": {
            i: {k: pg.tensor(v.numpy()) for k, v in s.items()}
            for i, s in reference["state"].items()
        },
        "param_groups": reference["param_groups"],
    }
    opt_ours = pg.optim.Adam(ours.parameters(), lr=0.01)
    opt_ours.load_state_dict(converted)
    for step in range(6, 16):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)


def test_load_state_dict_mismatch_changes_nothing() -> None:
    model = _mlp(pg)
    opt = pg.optim.Adam(model.parameters(), lr=0.01)
    _step(pg, model, opt)
    saved = opt.state_dict()
    before = {i: s["exp_avg"].numpy().copy() for i, s in saved["state"].items()}

    other = pg.optim.Adam([pg.nn.Parameter(pg.ones(2))], lr=0.5)
    with pytest.raises(ValueError, match=r"doesn't match the size.*\(4 vs 1\)"):
        other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == 0.5 and other.state == {}

    bad = opt.state_dict()
    bad["state"][0]["exp_avg"] = pg.zeros(7)
    with pytest.raises(ValueError, match=r"exp_avg.*\(7,\).*\(6, 3\)"):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    for i, array in before.items():
        np.testing.assert_array_equal(after["state"][i]["exp_avg"].numpy(), array)


def test_repr_lists_groups() -> None:
    opt = pg.optim.SGD([pg.nn.Parameter(pg.ones(1))], lr=0.5)
    text = repr(opt)
    assert text.startswith("SGD (") and "Parameter Group 0" in text
    assert "    lr: 0.5" in text


# -------------------------------------------------------- clip_grad_norm_


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(
    torch: ModuleType, norm_type: float, max_norm: float
) -> None:
    ours, theirs = _twin_models(torch)
    _loss(pg, ours).backward()
    _loss(torch, theirs).backward()
    before = [p.grad.numpy().copy() for p in ours.parameters()]
    total = pg.nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    total_ref = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    # The norm returned is the one before clipping.
    if math.isinf(norm_type):
        expected = max(np.abs(g).max() for g in before)
    else:
        expected = sum((np.abs(g) ** norm_type).sum() for g in before) ** (
            1 / norm_type
        )
    assert total.item() == pytest.approx(expected, rel=1e-12)
    assert total.item() == pytest.approx(total_ref.item(), rel=1e-12)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    if max_norm > expected:
        for a, g in zip(ours.parameters(), before):
            np.testing.assert_array_equal(a.grad.numpy(), g)


def test_clip_grad_norm_known_values() -> None:
    a = pg.nn.Parameter(pg.zeros(2))
    b = pg.nn.Parameter(pg.zeros(1))
    unused = pg.nn.Parameter(pg.zeros(1))
    a.grad = pg.tensor([3.0, 0.0])
    b.grad = pg.tensor([4.0])
    total = pg.nn.utils.clip_grad_norm_([a, b, unused], max_norm=1.0)
    assert total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [0.8], rtol=1e-5)
    assert unused.grad is None
    # A single tensor is accepted; no gradients at all gives 0.
    assert pg.nn.utils.clip_grad_norm_(unused, 1.0).item() == 0.0


def test_clip_grad_norm_nonfinite() -> None:
    a = pg.nn.Parameter(pg.zeros(2))
    a.grad = pg.tensor([math.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        pg.nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(a.grad.numpy(), [math.inf, 1.0])
