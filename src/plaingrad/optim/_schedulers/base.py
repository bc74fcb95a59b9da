"""``LRScheduler``: the step counter, base rates, state dicts and the checks
that catch a scheduler stepped in the wrong order."""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Callable
from typing import Any

from ...tensor import Tensor
from ...warnings import PlaingradWarning
from ..optimizer import Optimizer

EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` was not necessary and is being "
    "deprecated where possible. Please use `scheduler.step()` to step the "
    "scheduler. During the deprecation, if epoch is different from None, the "
    "closed form is used instead of the new chainable form, where available."
)

_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. "
    "In PyTorch 1.1.0 and later, you should call them in the opposite order: "
    "`optimizer.step()` before `lr_scheduler.step()`.  Failure to do this "
    "will result in PyTorch skipping the first value of the learning rate "
    "schedule."
)

_OVERRIDDEN_WARNING = (
    "Seems like `optimizer.step()` has been overridden after learning rate "
    "scheduler initialization. Please, make sure to call `optimizer.step()` "
    "before `lr_scheduler.step()`."
)


def check_optimizer(optimizer: Any) -> None:
    """Raise PyTorch's TypeError unless ``optimizer`` is an ``Optimizer``."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")


def copy_value(value: Any) -> Any:
    """A value as stored in a group, copied when it is a tensor."""
    return value.clone() if isinstance(value, Tensor) else value


def group_values(optimizer: Optimizer, key: str) -> list:
    """``group[key]`` of every parameter group (tensors copied)."""
    return [copy_value(group[key]) for group in optimizer.param_groups]


def set_group_value(group: dict, key: str, value: Any) -> None:
    """Set ``group[key]``; a tensor-valued entry is filled in place."""
    if isinstance(group[key], Tensor):
        group[key].fill_(float(value))
    else:
        group[key] = value


def per_group(name: str, optimizer: Optimizer, value: Any) -> list:
    """One value per parameter group: a list or tuple of the right length, or
    one value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. "
                f"{name} has {len(value)} values, param_groups has "
                f"{len(optimizer.param_groups)}."
            )
    else:
        value = [value] * len(optimizer.param_groups)
    return [copy_value(v) for v in value]


def set_momentum(group: dict, momentum: float, use_beta1: bool) -> None:
    """Write a cycled momentum: ``betas[0]`` for Adam-like optimizers."""
    if use_beta1:
        group["betas"] = (momentum, *group["betas"][1:])
    else:
        group["momentum"] = momentum


def _recording(step: Callable, owner: Optimizer | None = None) -> Callable:
    """``step`` wrapped to set ``_opt_called`` on the optimizer when it runs:
    on ``owner`` for a step stored on an instance, else on ``self``."""
    if owner is not None:

        @functools.wraps(step)
        def recording_step(*args: Any, **kwargs: Any) -> Any:
            owner._opt_called = True  # type: ignore[attr-defined]
            return step(*args, **kwargs)

    else:

        @functools.wraps(step)
        def recording_step(self: Any, *args: Any, **kwargs: Any) -> Any:
            self._opt_called = True
            return step(self, *args, **kwargs)

    recording_step._wrapped_by_lr_sched = True  # type: ignore[attr-defined]
    return recording_step


def _track_optimizer_steps(optimizer: Optimizer) -> None:
    """Make ``optimizer.step`` record that it ran (once per class).

    The class's ``step`` is wrapped rather than the instance's, so that an
    optimizer stays picklable and a deep copy never calls back into the
    original; a ``step`` already set on the instance is wrapped in place.
    """
    if getattr(optimizer.step, "_wrapped_by_lr_sched", False):
        return
    if "step" in vars(optimizer):
        optimizer.step = _recording(optimizer.step, optimizer)  # type: ignore[method-assign]
    else:
        cls = type(optimizer)
        cls.step = _recording(cls.step)  # type: ignore[method-assign]


class LRScheduler:
    """Base class of the learning-rate schedulers.

    A subclass implements ``get_lr()``, the rates for step ``last_epoch``; it
    may also give ``_get_closed_form_lr()``, used when ``step(epoch)`` jumps.
    Creating a scheduler records each group's rate as ``initial_lr`` and takes
    the first step (step 0), which may change the rates at once.

    Args:
        optimizer: the optimizer whose ``param_groups`` are scheduled.
        last_epoch: the index of the last step taken; -1 (default) starts a
            new schedule, another value resumes one (every group then needs
            its ``initial_lr``).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.nn.Parameter(torch.zeros(1))
        >>> opt = torch.optim.SGD([w], lr=1.0)
        >>> sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        >>> for _ in range(4):
        ...     opt.step()
        ...     sched.step()
        ...     print(sched.get_last_lr())
        [1.0]
        [0.5]
        [0.5]
        [0.25]
    """

    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        check_optimizer(optimizer)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", copy_value(group["lr"]))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] "
                        "when resuming scheduler with last_epoch >= 0.\n"
                        "This typically happens when:\n"
                        "1. You're trying to resume training from a checkpoint "
                        "but haven't properly loaded the optimizer state\n"
                        "2. You're using last_epoch >= 0 for a fresh training "
                        "run (not recommended)"
                    )
        self.base_lrs: list = group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        _track_optimizer_steps(optimizer)
        self._initial_step()

    def _initial_step(self) -> None:
        """Reset the step count and take the first step."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:
        """The rates for step ``last_epoch``; use ``get_last_lr()`` to read
        the rates in force."""
        raise NotImplementedError(
            f"{type(self).__name__}: a scheduler must implement get_lr"
        )

    def _warn_if_outside_step(self) -> None:
        if not self._get_lr_called_within_step:
            warnings.warn(
                "To get the last learning rate computed by the scheduler, "
                "please use `get_last_lr()`.",
                PlaingradWarning,
                stacklevel=3,
            )

    def get_last_lr(self) -> list:
        """The learning rates set by the last step, one per parameter group."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one step (call it after ``optimizer.step()``).

        Args:
            epoch: deprecated; jump to this step, with the closed form of the
                schedule where there is one.
        """
        if self._step_count == 1:
            if not getattr(self.optimizer.step, "_wrapped_by_lr_sched", False):
                warnings.warn(_OVERRIDDEN_WARNING, PlaingradWarning, stacklevel=2)
            elif not getattr(self.optimizer, "_opt_called", False):
                warnings.warn(_ORDER_WARNING, PlaingradWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, PlaingradWarning, stacklevel=2)
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch
                closed_form: Callable | None = getattr(
                    self, "_get_closed_form_lr", None
                )
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            raise ValueError(
                f"{type(self).__name__}.step: got {len(values)} learning rates for "
                f"{len(groups)} parameter groups"
            )
        for group, lr in zip(groups, values):
            set_group_value(group, "lr", lr)
        self._last_lr: list = group_values(self.optimizer, "lr")

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (a shallow copy of ``__dict__``)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the attributes saved by ``state_dict()``."""
        self.__dict__.update(state_dict)


class _LRScheduler(LRScheduler):
    """The old name of ``LRScheduler``, kept for code that subclasses it."""


def lambdas_state(lambdas: list) -> list:
    """What a state dict keeps of user functions: nothing for a plain function
    or lambda, the attributes of a callable object."""
    return [
        None if isinstance(fn, types.FunctionType) else dict(fn.__dict__)
        for fn in lambdas
    ]


def load_lambdas_state(lambdas: list, saved: list) -> None:
    for fn, attributes in zip(lambdas, saved):
        if attributes is not None:
            fn.__dict__.update(attributes)
