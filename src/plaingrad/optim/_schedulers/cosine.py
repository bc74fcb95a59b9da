"""Cosine annealing: ``CosineAnnealingLR`` (one half-cosine, repeated as a
full cosine past ``T_max``) and ``CosineAnnealingWarmRestarts`` (SGDR: the
half-cosine restarts, each period ``T_mult`` times the last)."""

from __future__ import annotations

import math
import warnings

from ...warnings import PlaingradWarning
from ..optimizer import Optimizer
from .base import _ORDER_WARNING, LRScheduler, group_values, set_group_value


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (initial_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2``.

    The rate is updated in PyTorch's chainable form (a ratio of consecutive
    cosines applied to the current rate), so it composes with other
    schedulers and matches PyTorch's values exactly.

    Args:
        optimizer: the optimizer to schedule.
        T_max: the number of steps from the top of the cosine to its bottom.
        eta_min: the lowest rate (default 0).
        last_epoch: the last step taken (default -1: start).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_max: int,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        self._warn_if_outside_step()
        groups = self.optimizer.param_groups
        step = self.last_epoch
        if self._is_initial:
            return group_values(self.optimizer, "lr")
        if self._step_count == 1 and step > 0:
            # Resumed at a later step: start from the closed form.
            return self._get_closed_form_lr()
        if (step - 1 - self.T_max) % (2 * self.T_max) == 0:
            # The bottom of the cosine, where the ratio form would divide by 0.
            rise = (1 - math.cos(math.pi / self.T_max)) / 2
            return [
                group["lr"] + (base_lr - self.eta_min) * rise
                for base_lr, group in zip(self.base_lrs, groups)
            ]
        ratio = (1 + math.cos(math.pi * step / self.T_max)) / (
            1 + math.cos(math.pi * (step - 1) / self.T_max)
        )
        return [ratio * (group["lr"] - self.eta_min) + self.eta_min for group in groups]

    def _get_closed_form_lr(self) -> list:
        cosine = 1 + math.cos(math.pi * self.last_epoch / self.T_max)
        return [
            self.eta_min + (base_lr - self.eta_min) * cosine / 2
            for base_lr in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing that restarts: the ``i``-th period lasts
    ``T_0 * T_mult**i`` steps, and ``T_cur`` counts steps since the restart.

    ``step(epoch)`` accepts fractional epochs (one step per batch).

    Args:
        optimizer: the optimizer to schedule.
        T_0: the length of the first period (a positive int).
        T_mult: the growth of each period (an int >= 1, default 1).
        eta_min: the lowest rate (default 0).
        last_epoch: the last step taken (default -1: start).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,
        T_mult: int = 1,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if T_0 <= 0 or not isinstance(T_0, int):
            raise ValueError(f"Expected positive integer T_0, but got {T_0}")
        if T_mult < 1 or not isinstance(T_mult, int):
            raise ValueError(f"Expected integer T_mult >= 1, but got {T_mult}")
        if not isinstance(eta_min, (float, int)):
            raise ValueError(
                f"Expected float or int eta_min, but got {eta_min} of type "
                f"{type(eta_min)}"
            )
        self.T_0 = T_0
        self.T_i = T_0
        self.T_mult = T_mult
        self.eta_min = eta_min
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        self._warn_if_outside_step()
        cosine = 1 + math.cos(math.pi * self.T_cur / self.T_i)
        return [
            self.eta_min + (base_lr - self.eta_min) * cosine / 2
            for base_lr in self.base_lrs
        ]

    def step(self, epoch: float | None = None) -> None:  # type: ignore[override]
        """Advance one step, or go to ``epoch`` (fractions allowed)."""
        if self._step_count == 1:
            # The order checks of LRScheduler.step, which this step replaces.
            opt_step = self.optimizer.step
            if getattr(opt_step, "_wrapped_by_lr_sched", False) and not getattr(
                self.optimizer, "_opt_called", False
            ):
                warnings.warn(_ORDER_WARNING, PlaingradWarning, stacklevel=2)
        self._step_count = getattr(self, "_step_count", 0) + 1
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"Expected non-negative epoch, but got {epoch}")
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:
                # The number of whole periods before `epoch`.
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult**n
        else:
            self.T_i = self.T_0
            self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        for group, lr in zip(self.optimizer.param_groups, values):
            set_group_value(group, "lr", lr)
        self._last_lr = group_values(self.optimizer, "lr")
