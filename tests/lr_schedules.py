"""Shared set-up of the ``lr_scheduler`` tests: an optimizer with three
parameter groups, and the schedules run in both plaingrad and PyTorch.

A trace holds, after construction and after every step, the rates reported
by ``get_last_lr()``, the rates in the groups and the momenta (``momentum``
or ``betas[0]``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

import plaingrad as pg


def optimizer(lib: ModuleType, kind: str = "sgd") -> Any:
    params = [lib.nn.Parameter(lib.zeros(2, dtype=lib.float64)) for _ in range(3)]
    groups = [
        {"params": [params[0]]},
        {"params": [params[1]], "lr": 0.02},
        {"params": [params[2]], "lr": 0.5},
    ]
    if kind == "sgd":
        return lib.optim.SGD(groups, lr=0.1, momentum=0.9)
    if kind == "adam":
        return lib.optim.Adam(groups, lr=0.1, betas=(0.9, 0.99))
    return lib.optim.SGD(groups, lr=0.1)


def snapshot(opt: Any, sched: Any) -> list:
    rates = [float(lr) for lr in sched.get_last_lr()]
    groups = [float(g["lr"]) for g in opt.param_groups]
    momenta = [
        float(g["betas"][0] if "betas" in g else g.get("momentum", 0.0))
        for g in opt.param_groups
    ]
    return [rates, groups, momenta]


def trace(
    lib: ModuleType,
    make: Callable,
    steps: int,
    kind: str = "sgd",
    metrics: list | None = None,
) -> np.ndarray:
    """The rates and momenta after construction and after every step."""
    opt = optimizer(lib, kind)
    sched = make(lib.optim.lr_scheduler, opt)
    rows = [snapshot(opt, sched)]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        rows.append(snapshot(opt, sched))
    return np.array(rows)


def assert_same_trace(torch: ModuleType, make: Callable, steps: int, **kw) -> None:
    ours = trace(pg, make, steps, **kw)
    theirs = trace(torch, make, steps, **kw)
    for step, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(
            a, b, rtol=1e-12, atol=1e-15, err_msg=f"after step {step}"
        )


SCHEDULES = {
    "StepLR": (lambda m, o: m.StepLR(o, step_size=7, gamma=0.5), 40),
    "MultiStepLR": (
        lambda m, o: m.MultiStepLR(o, milestones=[12, 5, 12, 30], gamma=0.3),
        40,
    ),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.93), 40),
    "CosineAnnealingLR": (
        lambda m, o: m.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
        60,
    ),
    "CosineAnnealingLR-eta0": (lambda m, o: m.CosineAnnealingLR(o, T_max=7), 45),
    "CosineAnnealingWarmRestarts": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01),
        60,
    ),
    "CosineAnnealingWarmRestarts-mult1": (
        lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=6),
        40,
    ),
    "LinearLR": (
        lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=8),
        30,
    ),
    "LinearLR-decay": (
        lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=20),
        30,
    ),
    "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.4, total_iters=6), 30),
    "PolynomialLR": (lambda m, o: m.PolynomialLR(o, total_iters=20, power=2.0), 30),
    "LambdaLR": (lambda m, o: m.LambdaLR(o, lambda e: 0.95**e + 0.01 * e), 40),
    "LambdaLR-per-group": (
        lambda m, o: m.LambdaLR(
            o, [lambda e: 1 / (e + 1), lambda e: 0.9**e, lambda e: 1.0 + (e % 3)]
        ),
        40,
    ),
    "MultiplicativeLR": (lambda m, o: m.MultiplicativeLR(o, lambda e: 0.9), 40),
    "OneCycleLR": (
        lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5, 2.0], total_steps=50),
        50,
    ),
    "OneCycleLR-linear": (
        lambda m, o: m.OneCycleLR(
            o, max_lr=0.8, epochs=5, steps_per_epoch=9, anneal_strategy="linear"
        ),
        45,
    ),
    "OneCycleLR-three-phase": (
        lambda m, o: m.OneCycleLR(
            o,
            max_lr=[1.0, 0.5, 2.0],
            total_steps=60,
            pct_start=0.25,
            three_phase=True,
            div_factor=10.0,
            final_div_factor=100.0,
            base_momentum=[0.8, 0.7, 0.85],
            max_momentum=0.97,
        ),
        60,
    ),
    "OneCycleLR-no-momentum": (
        lambda m, o: m.OneCycleLR(o, max_lr=1.0, total_steps=30, cycle_momentum=False),
        30,
    ),
    "CyclicLR-triangular": (
        lambda m, o: m.CyclicLR(
            o, base_lr=0.01, max_lr=[0.1, 0.2, 0.3], step_size_up=5
        ),
        60,
    ),
    "CyclicLR-triangular2": (
        lambda m, o: m.CyclicLR(
            o,
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=4,
            step_size_down=7,
            mode="triangular2",
        ),
        60,
    ),
    "CyclicLR-exp_range": (
        lambda m, o: m.CyclicLR(
            o,
            base_lr=[0.01, 0.02, 0.03],
            max_lr=0.5,
            step_size_up=6,
            mode="exp_range",
            gamma=0.97,
            base_momentum=0.7,
            max_momentum=0.95,
        ),
        60,
    ),
    "CyclicLR-scale_fn": (
        lambda m, o: m.CyclicLR(
            o,
            base_lr=0.01,
            max_lr=0.1,
            step_size_up=3,
            scale_fn=lambda x: 1 / (1 + 0.1 * x),
            scale_mode="iterations",
        ),
        40,
    ),
    "CyclicLR-no-momentum": (
        lambda m, o: m.CyclicLR(
            o, base_lr=0.01, max_lr=0.1, step_size_up=4, cycle_momentum=False
        ),
        30,
    ),
    "SequentialLR": (
        lambda m, o: m.SequentialLR(
            o,
            [
                m.LinearLR(o, start_factor=0.1, total_iters=5),
                m.CosineAnnealingLR(o, T_max=20, eta_min=0.001),
            ],
            milestones=[5],
        ),
        45,
    ),
    "SequentialLR-three": (
        lambda m, o: m.SequentialLR(
            o,
            [
                m.ConstantLR(o, factor=0.5, total_iters=3),
                m.ExponentialLR(o, gamma=0.9),
                m.StepLR(o, step_size=4, gamma=0.5),
            ],
            milestones=[4, 15],
        ),
        40,
    ),
    "ChainedScheduler": (
        lambda m, o: m.ChainedScheduler(
            [m.ConstantLR(o, factor=0.2, total_iters=4), m.ExponentialLR(o, gamma=0.9)]
        ),
        30,
    ),
    "ChainedScheduler-warmup-step": (
        lambda m, o: m.ChainedScheduler(
            [
                m.LinearLR(o, start_factor=0.3, total_iters=6),
                m.StepLR(o, step_size=5, gamma=0.6),
                m.MultiplicativeLR(o, lambda e: 0.99),
            ],
            optimizer=o,
        ),
        40,
    ),
}


PLATEAU_METRICS = [
    5.0, 4.0, 4.0, 3.9999, 4.1, 3.0, 3.0, 3.0, 3.0, 3.0,
    2.9, 2.95, 2.95, 2.95, 2.95, 2.95, 2.95, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5,
]  # fmt: skip
