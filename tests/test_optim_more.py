"""``AdamW``, ``RMSprop`` and ``Adagrad`` against PyTorch's trajectories.

The trajectory helpers (twin float64 MLPs, loss, step, comparison) are those
of ``test_optim.py``: both libraries start from the same weights and must
agree after every one of 100 steps.
"""

from __future__ import annotations

import math
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch
from test_optim import _assert_params_close, _mlp, _step, _twin_models

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


_CONFIGS = [
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("AdamW", dict(lr=0.01, maximize=True)),
    ("AdamW", dict(lr=0.01, betas=(0.5, 0.9), amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    # A short memory (alpha 0.9) with a tiny eps is chaotic here: rounding
    # differences of 1e-16 reach 1e-3 by step 70 (torch against itself from
    # weights one ulp apart does the same), so this one has a larger eps.
    ("RMSprop", dict(lr=0.005, alpha=0.9, eps=1e-3)),
    ("RMSprop", dict(lr=0.005, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.002, momentum=0.9)),
    ("RMSprop", dict(lr=0.005, centered=True)),
    ("RMSprop", dict(lr=0.002, momentum=0.5, centered=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.005, maximize=True)),
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.05, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.05, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, maximize=True, lr_decay=0.001)),
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


@pytest.mark.parametrize("name", ["AdamW", "RMSprop", "Adagrad"])
def test_defaults_match_torch(torch: ModuleType, name: str) -> None:
    ours = getattr(pg.optim, name)([pg.nn.Parameter(pg.ones(1))])
    theirs = getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))])
    for key, value in ours.defaults.items():
        assert theirs.defaults[key] == value, key


def test_adamw_is_an_adam() -> None:
    opt = pg.optim.AdamW([pg.nn.Parameter(pg.ones(1))])
    assert isinstance(opt, pg.optim.Adam)
    assert opt.defaults["weight_decay"] == 0.01


# ----------------------------------------------------------- known values


def test_adamw_weight_decay_with_zero_gradient_known_values(
    torch: ModuleType,
) -> None:
    # A zero gradient leaves the moments at 0, so only p *= 1 - lr * wd acts:
    # 1 * 0.99 = 0.99, then 0.99 * 0.99 = 0.9801 (Adam's L2 decay gives 0.9).
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    ref = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = pg.optim.AdamW([w], lr=0.1, weight_decay=0.1)
    opt_ref = torch.optim.AdamW([ref], lr=0.1, weight_decay=0.1)
    for value in (0.99, 0.9801):
        w.grad = pg.zeros(1, dtype=pg.float64)
        ref.grad = torch.zeros(1, dtype=torch.float64)
        opt.step()
        opt_ref.step()
        assert w.item() == pytest.approx(value, abs=1e-12)
        assert w.item() == pytest.approx(ref.item(), rel=1e-12)


def test_rmsprop_known_values() -> None:
    # v = 0.75 * 0 + 0.25 * 1 = 0.25; p = 1 - 0.01 * 1 / 0.5 = 0.98;
    # v = 0.75 * 0.25 + 0.25 = 0.4375; p -= 0.01 / sqrt(0.4375)
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.RMSprop([w], lr=0.01, alpha=0.75, eps=0.0)
    for value in (0.98, 0.98 - 0.01 / math.sqrt(0.4375)):
        w.grad = pg.ones(1, dtype=pg.float64)
        opt.step()
        assert w.item() == pytest.approx(value, abs=1e-12)


def test_rmsprop_centered_known_values() -> None:
    # v = 0.5, gbar = 0.5, avg = sqrt(0.5 - 0.25) = 0.5: p = 1 - 0.1 * 1 / 0.5
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.RMSprop([w], lr=0.1, alpha=0.5, eps=0.0, centered=True)
    w.grad = pg.ones(1, dtype=pg.float64)
    opt.step()
    assert w.item() == pytest.approx(0.8, abs=1e-12)


def test_adagrad_known_values() -> None:
    # s = 3 + 1 = 4: p = 1 - 0.1 * 1 / 2 = 0.95; step 2 with lr_decay 1:
    # clr = 0.1 / 2, s = 5: p = 0.95 - 0.05 / sqrt(5)
    w = pg.nn.Parameter(pg.tensor([1.0], dtype=pg.float64))
    opt = pg.optim.Adagrad(
        [w], lr=0.1, lr_decay=1.0, initial_accumulator_value=3.0, eps=0.0
    )
    for value in (0.95, 0.95 - 0.05 / math.sqrt(5.0)):
        w.grad = pg.ones(1, dtype=pg.float64)
        opt.step()
        assert w.item() == pytest.approx(value, abs=1e-12)


# ------------------------------------------------------------- skipping


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("AdamW", dict(lr=0.1, weight_decay=0.5, amsgrad=True)),
        ("RMSprop", dict(lr=0.1, weight_decay=0.5, momentum=0.9, centered=True)),
        ("Adagrad", dict(lr=0.1, weight_decay=0.5, initial_accumulator_value=1.0)),
    ],
)
def test_parameters_without_grad_are_skipped(
    torch: ModuleType, name: str, options: dict
) -> None:
    used = pg.nn.Parameter(pg.ones(2))
    unused = pg.nn.Parameter(pg.ones(3))
    opt = getattr(pg.optim, name)([used, unused], **options)
    ref_used = torch.nn.Parameter(torch.ones(2))
    ref_unused = torch.nn.Parameter(torch.ones(3))
    ref = getattr(torch.optim, name)([ref_used, ref_unused], **options)
    for _ in range(3):
        opt.zero_grad()
        (used * used).sum().backward()
        opt.step()
        ref.zero_grad()
        (ref_used * ref_used).sum().backward()
        ref.step()
    assert unused.grad is None
    np.testing.assert_array_equal(unused.detach().numpy(), np.ones(3))
    np.testing.assert_allclose(
        used.detach().numpy(), ref_used.detach().numpy(), rtol=1e-5
    )
    # Adagrad makes every state up front (as PyTorch); the others only on use.
    assert (unused in opt.state) == (ref_unused in ref.state)
    if unused in opt.state:
        state = opt.state[unused]
        assert float(state["step"].item()) == 0.0
        np.testing.assert_array_equal(state["sum"].numpy(), np.ones(3))


@pytest.mark.parametrize("name", ["AdamW", "RMSprop", "Adagrad"])
def test_step_bumps_the_version(name: str) -> None:
    w = pg.nn.Parameter(pg.ones(2))
    opt = getattr(pg.optim, name)([w], lr=0.1)
    before = w._version
    w.grad = pg.ones(2)
    opt.step()
    assert w._version > before


# ------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("AdamW", dict(lr=-1.0)),
        ("AdamW", dict(lr=math.nan)),
        ("AdamW", dict(eps=-1e-8)),
        ("AdamW", dict(weight_decay=-0.1)),
        ("AdamW", dict(betas=(1.0, 0.999))),
        ("AdamW", dict(betas=(0.9, -0.1))),
        ("RMSprop", dict(lr=-0.01)),
        ("RMSprop", dict(eps=-1.0)),
        ("RMSprop", dict(momentum=-0.9)),
        ("RMSprop", dict(weight_decay=-0.5)),
        ("RMSprop", dict(alpha=-0.99)),
        ("Adagrad", dict(lr=-0.01)),
        ("Adagrad", dict(lr_decay=-0.5)),
        ("Adagrad", dict(weight_decay=-2.0)),
        ("Adagrad", dict(initial_accumulator_value=-0.25)),
        ("Adagrad", dict(eps=-1e-10)),
    ],
)
def test_bad_hyperparameters_name_the_value(
    torch: ModuleType, name: str, options: dict
) -> None:
    with pytest.raises(ValueError) as reference:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **options)
    expected = str(reference.value)  # e.g. "Invalid lr_decay value: -0.5"
    with pytest.raises(ValueError) as error:
        getattr(pg.optim, name)([pg.nn.Parameter(pg.ones(1))], **options)
    assert str(error.value) == f"{name}: {expected}"


def test_rmsprop_accepts_alpha_above_one_as_torch(torch: ModuleType) -> None:
    torch.optim.RMSprop([torch.nn.Parameter(torch.ones(1))], alpha=1.5)
    opt = pg.optim.RMSprop([pg.nn.Parameter(pg.ones(1))], alpha=1.5)
    assert opt.param_groups[0]["alpha"] == 1.5


@pytest.mark.parametrize("name", ["AdamW", "RMSprop", "Adagrad"])
def test_failed_step_leaves_every_parameter_unchanged(name: str) -> None:
    first = pg.nn.Parameter(pg.ones(2))
    second = pg.nn.Parameter(pg.ones(3))
    opt = getattr(pg.optim, name)([first, second], lr=0.1)
    state_before = {
        id(p): {k: v.numpy().copy() for k, v in s.items()} for p, s in opt.state.items()
    }
    first.grad = pg.ones(2)
    second._grad = pg.ones(4)  # a wrong shape that got past the setter
    with pytest.raises(RuntimeError, match=r"step.*\(4,\).*\(3,\)"):
        opt.step()
    np.testing.assert_array_equal(first.detach().numpy(), np.ones(2))
    np.testing.assert_array_equal(second.detach().numpy(), np.ones(3))
    state_after = {
        id(p): {k: v.numpy() for k, v in s.items()} for p, s in opt.state.items()
    }
    assert state_after.keys() == state_before.keys()
    for key, saved in state_before.items():
        assert saved.keys() == state_after[key].keys()
        for k, array in saved.items():
            np.testing.assert_array_equal(state_after[key][k], array)


# ------------------------------------------------------------ state dicts


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
        ("RMSprop", dict(lr=0.005, momentum=0.5, centered=True, weight_decay=0.01)),
        ("Adagrad", dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
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
    for i, state in reference["state"].items():
        assert sorted(saved["state"][i]) == sorted(state)
        for key, value in state.items():
            np.testing.assert_allclose(
                saved["state"][i][key].numpy(), value.numpy(), rtol=1e-5, atol=1e-9
            )
    assert saved["param_groups"][0]["params"] == reference["param_groups"][0]["params"]
    for key in options:
        assert saved["param_groups"][0][key] == reference["param_groups"][0][key]

    resumed_model = _mlp(pg)
    resumed_model.load_state_dict(ours.state_dict())
    resumed = getattr(pg.optim, name)(resumed_model.parameters(), lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == options["lr"]
    for state in saved["state"].values():
        for value in state.values():
            value.numpy()[...] = 1e6  # scribbling on the dict changes nothing

    for step in range(11, 31):
        _step(pg, ours, opt)
        _step(pg, resumed_model, resumed)
        _step(torch, theirs, opt_theirs)
        for a, b in zip(ours.parameters(), resumed_model.parameters()):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
        _assert_params_close(ours, theirs, step)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("AdamW", dict(lr=0.01, weight_decay=0.1)),
        ("RMSprop", dict(lr=0.005, momentum=0.9, centered=True)),
        ("Adagrad", dict(lr=0.05, lr_decay=0.01)),
    ],
)
def test_loading_a_state_dict_from_torch(
    torch: ModuleType, name: str, options: dict
) -> None:
    ours, theirs = _twin_models(torch)
    opt_theirs = getattr(torch.optim, name)(theirs.parameters(), **options)
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
    opt_ours = getattr(pg.optim, name)(ours.parameters(), **options)
    opt_ours.load_state_dict(converted)
    for step in range(6, 16):
        _step(pg, ours, opt_ours)
        _step(torch, theirs, opt_theirs)
        _assert_params_close(ours, theirs, step)
