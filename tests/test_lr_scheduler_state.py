"""``lr_scheduler`` state dicts, resuming, deprecated epochs, warnings and
errors, against PyTorch."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch
from lr_schedules import (
    PLATEAU_METRICS,
    SCHEDULES,
    assert_same_trace,
    optimizer,
    snapshot,
    trace,
)

import plaingrad as pg
from plaingrad.optim import lr_scheduler as pg_sched


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


# ------------------------------------------------------------ state dicts


@pytest.mark.parametrize(
    "name",
    [
        "StepLR",
        "MultiStepLR",
        "CosineAnnealingLR",
        "CosineAnnealingWarmRestarts",
        "LinearLR",
        "PolynomialLR",
        "LambdaLR",
        "MultiplicativeLR",
        "OneCycleLR-three-phase",
        "CyclicLR-triangular2",
        "CyclicLR-scale_fn",
        "SequentialLR-three",
        "ChainedScheduler-warmup-step",
    ],
)
def test_state_dict_resume_continues_sequence(torch: ModuleType, name: str) -> None:
    make, steps = SCHEDULES[name]
    expected = trace(torch, make, steps)
    cut = steps // 2 + 1
    opt = optimizer(pg)
    sched = make(pg_sched, opt)
    for _ in range(cut):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    # A fresh run, built as a training script would build it, then loaded.
    opt = optimizer(pg)
    sched = make(pg_sched, opt)
    opt.load_state_dict(saved_opt)
    sched.load_state_dict(saved_sched)
    np.testing.assert_allclose(snapshot(opt, sched), expected[cut], rtol=1e-12)
    for step in range(cut + 1, steps + 1):
        opt.step()
        sched.step()
        np.testing.assert_allclose(
            snapshot(opt, sched), expected[step], rtol=1e-12, err_msg=f"step {step}"
        )


def test_reduce_on_plateau_state_dict(torch: ModuleType) -> None:
    def make(m: ModuleType, opt: Any) -> Any:
        return m.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)

    metrics = PLATEAU_METRICS
    expected = trace(torch, make, len(metrics), metrics=metrics)
    opt = optimizer(pg)
    sched = make(pg_sched, opt)
    for loss in metrics[:13]:
        sched.step(loss)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    opt = optimizer(pg)
    sched = make(pg_sched, opt)
    opt.load_state_dict(saved_opt)
    sched.load_state_dict(saved_sched)
    for i, loss in enumerate(metrics[13:], start=14):
        sched.step(loss)
        np.testing.assert_allclose(snapshot(opt, sched), expected[i], rtol=1e-12)


def test_state_dict_keeps_no_lambdas() -> None:
    class Halve:
        def __init__(self) -> None:
            self.factor = 0.5

        def __call__(self, epoch: int) -> float:
            return self.factor**epoch

    opt = optimizer(pg)
    halve = Halve()
    sched = pg_sched.LambdaLR(opt, [lambda e: 1.0, halve, halve])
    state = sched.state_dict()
    assert state["lr_lambdas"] == [None, {"factor": 0.5}, {"factor": 0.5}]
    assert "optimizer" not in state
    halve.factor = 0.25
    sched.load_state_dict(state)  # the callable object gets its attribute back
    assert halve.factor == 0.5 and callable(sched.lr_lambdas[0])
    assert "lr_lambdas" in state  # loading does not consume the dict


def test_torch_state_dict_loads(torch: ModuleType) -> None:
    # A scheduler state saved by PyTorch resumes here (plain values only).
    make, steps = SCHEDULES["MultiStepLR"]
    expected = trace(torch, make, steps)
    opt_t = optimizer(torch)
    sched_t = make(torch.optim.lr_scheduler, opt_t)
    for _ in range(10):
        opt_t.step()
        sched_t.step()
    opt = optimizer(pg)
    sched = make(pg_sched, opt)
    for group, saved in zip(opt.param_groups, opt_t.state_dict()["param_groups"]):
        group["lr"], group["initial_lr"] = saved["lr"], saved["initial_lr"]
    sched.load_state_dict(sched_t.state_dict())
    for step in range(11, steps + 1):
        opt.step()
        sched.step()
        np.testing.assert_allclose(snapshot(opt, sched), expected[step], rtol=1e-12)


def test_milestones_survive_string_keys() -> None:
    # A state dict that went through JSON has its Counter keys as strings.
    opt = optimizer(pg)
    sched = pg_sched.MultiStepLR(opt, milestones=[2, 2])
    state = sched.state_dict()
    state["milestones"] = {str(k): v for k, v in state["milestones"].items()}
    sched.load_state_dict(state)
    for _ in range(2):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == pytest.approx([0.001, 0.0002, 0.005], rel=1e-12)


# ---------------------------------------------------- resuming and epochs


@pytest.mark.parametrize(
    "make",
    [
        lambda m, o: m.StepLR(o, step_size=4, gamma=0.5, last_epoch=9),
        lambda m, o: m.CosineAnnealingLR(o, T_max=12, eta_min=0.01, last_epoch=7),
        lambda m, o: m.ExponentialLR(o, gamma=0.9, last_epoch=3),
        lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=40, last_epoch=9),
    ],
    ids=["StepLR", "CosineAnnealingLR", "ExponentialLR", "OneCycleLR"],
)
def test_last_epoch_resume_matches_torch(torch: ModuleType, make: Callable) -> None:
    def build(m: ModuleType, opt: Any) -> Any:
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"] * 2
            group["max_lr"], group["min_lr"] = 1.0, 1e-5
            group["max_momentum"], group["base_momentum"] = 0.95, 0.85
        return make(m, opt)

    assert_same_trace(torch, build, 25)


def test_last_epoch_needs_initial_lr(torch: ModuleType) -> None:
    messages = []
    for lib in (pg, torch):
        opt = optimizer(lib)
        with pytest.raises(KeyError) as info:
            lib.optim.lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)
        messages.append(str(info.value))
    assert messages[0] == messages[1]
    assert "initial_lr" in messages[0]


def test_step_with_epoch_uses_closed_form(torch: ModuleType) -> None:
    epochs = [0, 3, 4, 9, 2, 15]
    results = []
    for lib in (pg, torch):
        opt = optimizer(lib)
        sched = lib.optim.lr_scheduler.MultiStepLR(opt, milestones=[3, 9], gamma=0.5)
        rates = []
        for epoch in epochs:
            opt.step()
            with pytest.warns(UserWarning, match="epoch parameter"):
                sched.step(epoch)
            rates.append(sched.get_last_lr())
        results.append(rates)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


def test_warm_restarts_fractional_epochs(torch: ModuleType) -> None:
    results = []
    for lib in (pg, torch):
        opt = optimizer(lib)
        m = lib.optim.lr_scheduler
        sched = m.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
        rates = []
        for epoch in range(12):
            for i in range(4):
                opt.step()
                sched.step(epoch + i / 4)
                rates.append(sched.get_last_lr())
        results.append(rates)
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)


# ------------------------------------------------------------- warnings


def test_warns_when_stepped_beforeoptimizer() -> None:
    opt = optimizer(pg)
    sched = pg_sched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`"):
        sched.step()
    # Once the optimizer has stepped, the right order is silent.
    opt = optimizer(pg)
    sched = pg_sched.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
        sched.step()


def test_warns_on_get_lr_outside_step() -> None:
    opt = optimizer(pg)
    sched = pg_sched.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()


def test_optimizer_step_still_works_after_wrapping() -> None:
    w = pg.nn.Parameter(pg.tensor([1.0]))
    opt = pg.optim.SGD([w], lr=0.5)
    pg_sched.StepLR(opt, step_size=1)
    pg_sched.ExponentialLR(opt, gamma=0.5)  # a second scheduler wraps no more
    w.grad = pg.tensor([1.0])
    assert opt.step() is None
    assert w.item() == pytest.approx(0.5)  # 1 - 0.5 * 1
    assert opt.step(lambda: 3.0) == 3.0


# --------------------------------------------------------------- errors


BAD_ARGUMENTS = {
    "ConstantLR-factor": lambda m, o: m.ConstantLR(o, factor=1.5),
    "LinearLR-start": lambda m, o: m.LinearLR(o, start_factor=0),
    "LinearLR-end": lambda m, o: m.LinearLR(o, end_factor=2.0),
    "LambdaLR-count": lambda m, o: m.LambdaLR(o, [lambda e: 1.0]),
    "MultiplicativeLR-callable": lambda m, o: m.MultiplicativeLR(o, 0.5),
    "WarmRestarts-T_0": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0),
    "WarmRestarts-T_mult": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=2, T_mult=1.5
    ),
    "WarmRestarts-eta_min": lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=2, eta_min="0"
    ),
    "OneCycleLR-total": lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=0),
    "OneCycleLR-nothing": lambda m, o: m.OneCycleLR(o, max_lr=1.0),
    "OneCycleLR-epochs": lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, epochs=0, steps_per_epoch=3
    ),
    "OneCycleLR-pct": lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, total_steps=10, pct_start=1.5
    ),
    "OneCycleLR-anneal": lambda m, o: m.OneCycleLR(
        o, max_lr=1.0, total_steps=10, anneal_strategy="exp"
    ),
    "OneCycleLR-max_lr": lambda m, o: m.OneCycleLR(o, max_lr=[1.0], total_steps=10),
    "CyclicLR-mode": lambda m, o: m.CyclicLR(o, 0.1, 1.0, mode="square"),
    "Plateau-factor": lambda m, o: m.ReduceLROnPlateau(o, factor=1.0),
    "Plateau-mode": lambda m, o: m.ReduceLROnPlateau(o, mode="up"),
    "Plateau-threshold": lambda m, o: m.ReduceLROnPlateau(o, threshold_mode="x"),
    "Plateau-min_lr": lambda m, o: m.ReduceLROnPlateau(o, min_lr=[0.1]),
    "SequentialLR-none": lambda m, o: m.SequentialLR(o, [], milestones=[]),
    "SequentialLR-milestones": lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2)], milestones=[3]
    ),
    "SequentialLR-plateau": lambda m, o: m.SequentialLR(
        o, [m.StepLR(o, 2), m.ReduceLROnPlateau(o)], milestones=[3]
    ),
    "ChainedScheduler-none": lambda m, o: m.ChainedScheduler([]),
    "not-an-optimizer": lambda m, o: m.StepLR([o], 2),
    "plateau-not-an-optimizer": lambda m, o: m.ReduceLROnPlateau("sgd"),
}


@pytest.mark.parametrize("name", sorted(BAD_ARGUMENTS))
def test_bad_arguments_raise_torch_errors(torch: ModuleType, name: str) -> None:
    make = BAD_ARGUMENTS[name]
    errors = []
    for lib in (pg, torch):
        opt = optimizer(lib)
        with pytest.raises(Exception) as info:
            make(lib.optim.lr_scheduler, opt)
        errors.append(info.value)
    assert type(errors[0]) is type(errors[1])
    assert str(errors[0]) == str(errors[1])


def test_one_cycle_past_the_end_raises(torch: ModuleType) -> None:
    messages = []
    for lib in (pg, torch):
        opt = optimizer(lib)
        sched = lib.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step()
        with pytest.raises(ValueError) as info:
            sched.step()
        messages.append(str(info.value))
    assert (
        messages[0]
        == messages[1]
        == ("Tried to step 4 times. The specified number of total steps is 3")
    )


def test_divisions_by_zero_are_value_errors() -> None:
    # PyTorch fails later with a ZeroDivisionError; here the argument is named.
    opt = optimizer(pg)
    with pytest.raises(ValueError, match="step_size"):
        pg_sched.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        pg_sched.CosineAnnealingLR(opt, T_max=0)


def test_copied_optimizer_steps_its_own_parameters() -> None:
    import copy

    w = pg.nn.Parameter(pg.tensor([1.0]))
    opt = pg.optim.SGD([w], lr=0.5)
    pg_sched.StepLR(opt, step_size=1)
    twin = copy.deepcopy(opt)
    twin.param_groups[0]["params"][0].grad = pg.tensor([1.0])
    twin.step()
    assert w.item() == 1.0  # the original is untouched
    assert twin.param_groups[0]["params"][0].item() == pytest.approx(0.5)
    assert twin._opt_called and not getattr(opt, "_opt_called", False)


def test_step_set_on_the_instance_is_tracked() -> None:
    opt = optimizer(pg)
    calls = []
    opt.step = lambda: calls.append(1)  # type: ignore[method-assign]
    sched = pg_sched.StepLR(opt, step_size=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        sched.step()
    assert calls == [1]


def test_warns_when_optimizer_step_replaced_after_scheduler() -> None:
    opt = optimizer(pg)
    sched = pg_sched.StepLR(opt, step_size=2)
    opt.step = lambda: None  # type: ignore[method-assign]
    opt.step()
    with pytest.warns(UserWarning, match="has been overridden"):
        sched.step()
