"""Cyclical schedules, which also cycle the momentum against the rate:
``CyclicLR`` (triangles between two rates, repeated) and ``OneCycleLR`` (one
warm-up and one long anneal, the super-convergence policy).

With ``cycle_momentum`` the momentum is high when the rate is low and low
when it is high. It is written to ``group["momentum"]`` (SGD, RMSprop) or to
``group["betas"][0]`` (Adam and its kin), whichever the optimizer's defaults
have.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from ..optimizer import Optimizer
from .base import (
    LRScheduler,
    check_optimizer,
    lambdas_state,
    load_lambdas_state,
    per_group,
    set_group_value,
    set_momentum,
)


def _momentum_key(optimizer: Optimizer) -> bool:
    """True when the optimizer's momentum is ``betas[0]``; raise when it has
    none to cycle."""
    defaults = optimizer.defaults
    if "momentum" not in defaults and "betas" not in defaults:
        raise ValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` "
            "option enabled"
        )
    return "betas" in defaults


def _start_momentum(
    optimizer: Optimizer, base_momentum: Any, max_momentum: Any, use_beta1: bool
) -> tuple[list, list]:
    """Both momentum bounds per group, stored in the groups, which start at
    the maximum."""
    base = per_group("base_momentum", optimizer, base_momentum)
    top = per_group("max_momentum", optimizer, max_momentum)
    for high, low, group in zip(top, base, optimizer.param_groups):
        set_momentum(group, high, use_beta1)
        group["max_momentum"] = high
        group["base_momentum"] = low
    return base, top


class CyclicLR(LRScheduler):
    """Cycle the rate between ``base_lr`` and ``max_lr`` in triangles of
    ``step_size_up`` rising and ``step_size_down`` falling steps.

    Step it after every batch. The height of each triangle is scaled by
    ``scale_fn`` of the cycle number (``scale_mode="cycle"``) or of the step
    (``"iterations"``): 1 for ``mode="triangular"``, halved each cycle for
    ``"triangular2"``, ``gamma**step`` for ``"exp_range"``.

    Args:
        optimizer: the optimizer to schedule.
        base_lr: the lower rate, or one per group.
        max_lr: the upper rate, or one per group.
        step_size_up: steps from ``base_lr`` to ``max_lr`` (default 2000).
        step_size_down: steps back down (default: ``step_size_up``).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: the base of ``"exp_range"`` (default 1).
        scale_fn: a custom scale function; overrides ``mode``.
        scale_mode: what ``scale_fn`` takes, ``"cycle"`` or ``"iterations"``.
        cycle_momentum: cycle the momentum inversely (default True).
        base_momentum: the lower momentum (default 0.8).
        max_momentum: the upper momentum (default 0.9).
        last_epoch: the last step taken (default -1: start).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: float | list[float],
        max_lr: float | list[float],
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: Literal["cycle", "iterations"] = "cycle",
        cycle_momentum: bool = True,
        base_momentum: float = 0.8,
        max_momentum: float = 0.9,
        last_epoch: int = -1,
    ) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        base_lrs = per_group("base_lr", optimizer, base_lr)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                set_group_value(group, "lr", lr)
        self.max_lrs = per_group("max_lr", optimizer, max_lr)
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError("mode is invalid and scale_fn is None")
        self.mode = mode
        self.gamma = gamma
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer)
            if last_epoch == -1:
                bounds = _start_momentum(
                    optimizer, base_momentum, max_momentum, self.use_beta1
                )
            else:
                bounds = (
                    per_group("base_momentum", optimizer, base_momentum),
                    per_group("max_momentum", optimizer, max_momentum),
                )
            self.base_momentums, self.max_momentums = bounds
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        # The built-in modes fix what their scale function counts.
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x: float) -> float:
        """The height factor of the triangle at cycle or step ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list:
        self._warn_if_outside_step()
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        # x: the position within the cycle, in [0, 1).
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [
            base_lr + (max_lr - base_lr) * scale_factor * scale
            for base_lr, max_lr in zip(self.base_lrs, self.max_lrs)
        ]
        if self.cycle_momentum:
            bounds = zip(self.base_momentums, self.max_momentums)
            for group, (low, high) in zip(self.optimizer.param_groups, bounds):
                momentum = high - (high - low) * scale_factor * scale
                set_momentum(group, momentum, self.use_beta1)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = None if fn is None else lambdas_state([fn])[0]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        saved = state.pop("_scale_fn_custom", None)
        state.pop("_scale_fn_ref", None)
        super().load_state_dict(state)
        if saved is not None and self._scale_fn_custom is not None:
            load_lambdas_state([self._scale_fn_custom], [saved])
        self._init_scale_fn()


class OneCycleLR(LRScheduler):
    """The 1cycle policy: the rate rises from ``max_lr / div_factor`` to
    ``max_lr`` over the first ``pct_start`` of ``total_steps``, then anneals
    to ``initial_lr / final_div_factor``.

    With ``three_phase`` it rises, falls back to the initial rate
    symmetrically, and then anneals to the minimum. Step it after every
    batch; stepping past ``total_steps`` raises.

    Args:
        optimizer: the optimizer to schedule.
        max_lr: the peak rate, or one per group.
        total_steps: the length of the cycle; or give ``epochs`` and
            ``steps_per_epoch``.
        epochs: the number of epochs (with ``steps_per_epoch``).
        steps_per_epoch: the number of steps per epoch.
        pct_start: the fraction of the cycle spent rising (default 0.3).
        anneal_strategy: ``"cos"`` (default) or ``"linear"``.
        cycle_momentum: cycle the momentum inversely (default True).
        base_momentum: the lowest momentum (default 0.85).
        max_momentum: the highest momentum (default 0.95).
        div_factor: ``initial_lr = max_lr / div_factor`` (default 25).
        final_div_factor: ``min_lr = initial_lr / final_div_factor``
            (default 1e4).
        three_phase: use the three-phase form (default False).
        last_epoch: the last step taken (default -1: start).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float | list[float],
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        cycle_momentum: bool = True,
        base_momentum: float | list[float] = 0.85,
        max_momentum: float | list[float] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        self._schedule_phases = _phases(pct_start, self.total_steps, three_phase)
        if pct_start < 0 or pct_start > 1 or not isinstance(pct_start, float):
            raise ValueError(
                f"Expected float between 0 and 1 pct_start, but got {pct_start}"
            )
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                "anneal_strategy must be one of 'cos' or 'linear', instead got "
                f"{anneal_strategy}"
            )
        self._anneal_func_type = anneal_strategy
        max_lrs = per_group("max_lr", optimizer, max_lr)
        if last_epoch == -1:
            for top, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key(optimizer)
            if last_epoch == -1:
                _start_momentum(optimizer, base_momentum, max_momentum, self.use_beta1)
        super().__init__(optimizer, last_epoch)

    def _anneal_func(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            # A half-cosine from start (pct 0) to end (pct 1).
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list:
        self._warn_if_outside_step()
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"Tried to step {step} times. The specified number of total "
                f"steps is {self.total_steps}"
            )
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step <= end_step or i == last:
                    pct = (step - start_step) / (end_step - start_step)
                    lrs.append(
                        self._anneal_func(
                            group[phase["start_lr"]], group[phase["end_lr"]], pct
                        )
                    )
                    if self.cycle_momentum:
                        momentum = self._anneal_func(
                            group[phase["start_momentum"]],
                            group[phase["end_momentum"]],
                            pct,
                        )
                        set_momentum(group, momentum, self.use_beta1)
                    break
                start_step = end_step
        return lrs


def _total_steps(
    total_steps: int | None, epochs: int | None, steps_per_epoch: int | None
) -> int:
    if total_steps is not None:
        if total_steps <= 0 or not isinstance(total_steps, int):
            raise ValueError(
                f"Expected positive integer total_steps, but got {total_steps}"
            )
        return total_steps
    if epochs is not None and steps_per_epoch is not None:
        if not isinstance(epochs, int) or epochs <= 0:
            raise ValueError(f"Expected positive integer epochs, but got {epochs}")
        if not isinstance(steps_per_epoch, int) or steps_per_epoch <= 0:
            raise ValueError(
                f"Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
            )
        return epochs * steps_per_epoch
    raise ValueError(
        "You must define either total_steps OR (epochs AND steps_per_epoch)"
    )


def _phases(pct_start: float, total_steps: int, three_phase: bool) -> list[dict]:
    """Each phase: the step it ends at and the group keys it goes between."""
    rise_end = float(pct_start * total_steps) - 1

    def phase(end: float, lrs: tuple, momenta: tuple) -> dict:
        return {
            "end_step": end,
            "start_lr": lrs[0],
            "end_lr": lrs[1],
            "start_momentum": momenta[0],
            "end_momentum": momenta[1],
        }

    rise = phase(rise_end, ("initial_lr", "max_lr"), ("max_momentum", "base_momentum"))
    if not three_phase:
        fall = ("max_lr", "min_lr")
        return [rise, phase(total_steps - 1, fall, ("base_momentum", "max_momentum"))]
    back_end = float(2 * pct_start * total_steps) - 2
    return [
        rise,
        phase(back_end, ("max_lr", "initial_lr"), ("base_momentum", "max_momentum")),
        phase(
            total_steps - 1, ("initial_lr", "min_lr"), ("max_momentum", "max_momentum")
        ),
    ]
