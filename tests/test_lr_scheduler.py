"""``plaingrad.optim.lr_scheduler`` against PyTorch's learning-rate sequences.

Each schedule (``lr_schedules.SCHEDULES``) runs in both libraries on an
optimizer with three parameter groups; after every step the rates and the
momenta must equal PyTorch's. State dicts, resuming, warnings and errors are
in ``test_lr_scheduler_state.py``.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import pytest
from conftest import import_torch
from lr_schedules import (
    PLATEAU_METRICS,
    SCHEDULES,
    assert_same_trace,
    optimizer,
)

import plaingrad as pg
from plaingrad.optim import lr_scheduler as pg_sched


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_sequence_matches_torch(torch: ModuleType, name: str) -> None:
    make, steps = SCHEDULES[name]
    assert_same_trace(torch, make, steps)


@pytest.mark.parametrize(
    "name",
    ["OneCycleLR", "OneCycleLR-three-phase", "CyclicLR-exp_range", "StepLR"],
)
def test_sequence_with_adam_betas_matches_torch(torch: ModuleType, name: str) -> None:
    make, steps = SCHEDULES[name]
    assert_same_trace(torch, make, steps, kind="adam")


def test_cycled_momentum_values() -> None:
    # 1cycle starts at max_momentum with the rate at max_lr / div_factor,
    # and reaches base_momentum at the peak of the rate.
    opt = optimizer(pg, "adam")
    sched = pg_sched.OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.5)
    assert sched.get_last_lr() == pytest.approx([1.0 / 25] * 3, rel=1e-12)
    assert [g["betas"] for g in opt.param_groups] == [(0.95, 0.99)] * 3
    for _ in range(4):
        opt.step()
        sched.step()
    assert sched.get_last_lr() == [1.0] * 3
    assert [g["betas"][0] for g in opt.param_groups] == [0.85] * 3


def test_cycle_momentum_needs_momentum(torch: ModuleType) -> None:
    for lib in (pg, torch):
        params = [lib.nn.Parameter(lib.zeros(1))]
        opt = lib.optim.Adagrad(params, lr=0.1)
        m = lib.optim.lr_scheduler
        with pytest.raises(ValueError, match="must support momentum or beta1"):
            m.OneCycleLR(opt, max_lr=1.0, total_steps=10)
        with pytest.raises(ValueError, match="must support momentum or beta1"):
            m.CyclicLR(opt, base_lr=0.1, max_lr=1.0)
        m.CyclicLR(opt, base_lr=0.1, max_lr=1.0, cycle_momentum=False)


# ---------------------------------------------------------------- plateau


@pytest.mark.parametrize(
    "options",
    [
        {"patience": 2},
        {"patience": 1, "factor": 0.5, "cooldown": 2},
        {"patience": 0, "threshold": 0.01, "threshold_mode": "abs"},
        {"patience": 1, "min_lr": [0.01, 0.005, 0.2], "factor": 0.3},
        {"patience": 1, "min_lr": 0.004, "eps": 1e-3},
        {"mode": "max", "patience": 2, "threshold": 0.05},
        {"mode": "max", "patience": 1, "threshold_mode": "abs", "cooldown": 1},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()),
)
def test_reduce_on_plateau_matches_torch(torch: ModuleType, options: dict) -> None:
    def make(m: ModuleType, opt: Any) -> Any:
        return m.ReduceLROnPlateau(opt, **options)

    metrics = PLATEAU_METRICS
    if options.get("mode") == "max":
        metrics = [-x for x in metrics]
    kw = dict(metrics=metrics)
    assert_same_trace(torch, make, len(metrics), **kw)  # type: ignore[arg-type]


def test_reduce_on_plateau_known_values() -> None:
    opt = optimizer(pg)
    sched = pg_sched.ReduceLROnPlateau(opt, patience=1, factor=0.5)
    for loss in [1.0, 1.0, 1.0]:  # two bad steps: one more than the patience
        sched.step(loss)
    assert sched.get_last_lr() == [0.05, 0.01, 0.25]
    assert sched.best == 1.0 and sched.num_bad_epochs == 0
    sched.step(pg.tensor(0.5))  # a one-element tensor is a metric too
    assert sched.best == 0.5


def test_initial_lr_and_base_lrs() -> None:
    opt = optimizer(pg)
    sched = pg_sched.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02, 0.5]
    assert sched.base_lrs == [0.1, 0.02, 0.5] and sched.last_epoch == 0
    opt.step()
    sched.step()
    assert sched.last_epoch == 1
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.02, 0.5]
    assert sched.get_last_lr() == [0.05, 0.01, 0.25]


def test_works_with_everyoptimizer() -> None:
    names = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]
    names += [
        n for n in ("Adadelta", "Adamax", "NAdam", "RAdam") if hasattr(pg.optim, n)
    ]
    for name in names:
        w = pg.nn.Parameter(pg.ones(2))
        opt = getattr(pg.optim, name)([w], lr=0.5)
        sched = pg_sched.StepLR(opt, step_size=1, gamma=0.5)
        w.grad = pg.ones(2)
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] == 0.25, name


def test_lr_scheduler_alias_and_names() -> None:
    assert issubclass(pg_sched._LRScheduler, pg_sched.LRScheduler)
    assert pg.optim.lr_scheduler is pg_sched
    for name in pg_sched.__all__:
        assert hasattr(pg_sched, name)
    assert math.isinf(pg_sched.ReduceLROnPlateau(optimizer(pg)).best)
