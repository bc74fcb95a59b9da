"""Optimizers and learning-rate schedules for ``plaingrad train``, by name.

The command line names an optimizer (``--optimizer nadam``) and a schedule
(``--scheduler cosine``); the tables here map those names to the classes of
``plaingrad.optim`` and ``plaingrad.optim.lr_scheduler``. The classes are
looked up when a run starts, not when this module is imported, so a name
works as soon as its class exists in the library.

Extra keyword arguments come from ``--optimizer-args`` and
``--scheduler-args`` as ``KEY=VALUE`` words (``weight_decay=0.01``,
``milestones=10,20``, ``nesterov=true``); ``parse_value`` turns each value
into a number, a bool, None, a list (commas) or a string, and
``check_options`` checks the keys against the class's signature and the
values against its annotations (a bool option takes true/false only, an int
option an integer, a list option a list, one number becoming a one-element
list), so that a typo is reported by name before anything trains;
``check_choices`` then builds both on a stand-in parameter and takes two
steps, so whatever else a value would break fails up front too.

``take_step`` is one optimizer step on a batch, clipping included, through a
closure for L-BFGS, which evaluates the loss several times per step.

A schedule steps once per epoch, except ``onecycle``, which steps once per
batch (its ``total_steps`` is epochs times batches per epoch), and
``plateau``, which steps once per epoch on the epoch's training loss. Options
that depend on the length of the run are filled in from ``--epochs`` when not
given (see ``SCHEDULERS``) and written into ``config.json``, so a run records
the schedule it actually followed, along with which options the user gave;
``--resume`` refuses a new ``--epochs`` for a schedule whose length was
filled in (``length_option``), and lets one the user gave run on.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from .. import nn, optim, zeros
from ..tensor import Tensor

# --optimizer name -> class name in plaingrad.optim.
OPTIMIZERS = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "NAdam",
    "radam": "RAdam",
    "lbfgs": "LBFGS",
}
# Optimizers whose learning rate scales a step the method has already sized
# (PyTorch's default for both is 1): 1e-3 would barely move them.
UNIT_LR = ("adadelta", "lbfgs")
# Optimizers that take --momentum.
WITH_MOMENTUM = ("sgd", "rmsprop")
# Buffers each optimizer keeps per parameter (for the memory estimate);
# L-BFGS keeps `history_size` (100) pairs of flat vectors.
BUFFERS = {"sgd": 1, "adagrad": 1, "rmsprop": 2, "lbfgs": 203}

# --scheduler name -> class name in plaingrad.optim.lr_scheduler.
SCHEDULERS = {
    "step": "StepLR",
    "multistep": "MultiStepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "cosine-restarts": "CosineAnnealingWarmRestarts",
    "polynomial": "PolynomialLR",
    "linear": "LinearLR",
    "constant": "ConstantLR",
    "onecycle": "OneCycleLR",
    "plateau": "ReduceLROnPlateau",
}
PER_BATCH = ("onecycle",)
# Set by the command line itself; not options a user passes.
_NOT_OPTIONS = {"self", "params", "optimizer", "lr", "last_epoch", "verbose"}

SCHEDULER_HELP = (
    "learning-rate schedule: step (step_size: epochs/3, gamma 0.1), multistep "
    "(milestones: 1/2 and 3/4 of the epochs, gamma 0.1), exponential (gamma "
    "0.9), cosine (T_max: the epochs), cosine-restarts (T_0: epochs/3), "
    "polynomial, linear, constant (PyTorch's defaults), onecycle (max_lr: "
    "--lr, total_steps: all the batches; it steps after every batch) or "
    "plateau (on the training loss); default: none. Any other option of the "
    "PyTorch class goes in --scheduler-args"
)
ARGS_HELP = (
    "keyword arguments of the {what} as KEY=VALUE words (lists with commas, "
    "true/false, none), e.g. {example}; put the dataset before this flag"
)


class OptionError(ValueError):
    """A bad --optimizer-args / --scheduler-args entry; one line for the user."""


def parse_value(text: str) -> Any:
    """A ``--*-args`` value: int, float, bool, None, a list (commas) or str."""
    if "," in text:
        return [parse_value(part) for part in text.split(",") if part]
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_options(words: list[str] | None, flag: str) -> dict[str, Any]:
    """``["gamma=0.5", "milestones=3,6"]`` -> ``{"gamma": 0.5, ...}``."""
    options: dict[str, Any] = {}
    for word in words or []:
        key, sign, value = word.partition("=")
        if not sign or not key or not value:
            raise OptionError(f"{flag}: expected KEY=VALUE, got {word!r}")
        if key in options:
            raise OptionError(f"{flag}: {key!r} is given twice")
        options[key] = parse_value(value)
    return options


def optimizer_class(name: str) -> type:
    """The ``plaingrad.optim`` class behind ``--optimizer name``."""
    found = getattr(optim, OPTIMIZERS[name], None)
    if found is None:
        raise OptionError(
            f"--optimizer {name}: this plaingrad has no optim.{OPTIMIZERS[name]}"
        )
    return found


def scheduler_class(name: str) -> type:
    """The ``plaingrad.optim.lr_scheduler`` class behind ``--scheduler name``."""
    module = getattr(optim, "lr_scheduler", None)
    found = getattr(module, SCHEDULERS[name], None)
    if found is None:
        raise OptionError(
            f"--scheduler {name}: this plaingrad has no "
            f"optim.lr_scheduler.{SCHEDULERS[name]}"
        )
    return found


def _accepted(cls: type) -> dict[str, Any]:
    """The keyword parameters of ``cls`` a user may set, by name."""
    return {
        key: parameter
        for key, parameter in inspect.signature(cls).parameters.items()
        if key not in _NOT_OPTIONS
        and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
    }


# Options that count something (iterations, epochs, steps): 0 or less would
# only fail later, mid-run, inside the class.
_POSITIVE = {
    "history_size",
    "max_iter",
    "max_eval",
    "step_size",
    "T_max",
    "T_0",
    "T_mult",
    "total_steps",
    "epochs",
    "steps_per_epoch",
}


def _kinds(parameter: inspect.Parameter) -> set[str]:
    """The kinds of value ``parameter`` takes: its annotation's names
    (``'int | None'`` -> ``{'int', 'None'}``), else its default's type."""
    annotation = parameter.annotation
    if isinstance(annotation, str):
        text = annotation
    elif annotation is not parameter.empty:
        text = getattr(annotation, "__name__", str(annotation))
    else:
        text = ""
    kinds = set()
    for part in text.split("|"):
        part = part.strip()
        head = part.split("[")[0].strip().rsplit(".", 1)[-1]
        if head in ("list", "tuple", "Iterable", "Sequence"):
            kinds.add("intlist" if part.endswith("[int]") else "list")
        elif head in ("int", "float", "bool", "str", "None"):
            kinds.add(head)
        elif head == "Literal":
            kinds.add("str")
        elif part:
            return set()  # Any, or a type we do not know: take the value as is
    default = parameter.default
    if not kinds and default is not parameter.empty and default is not None:
        for kind in (bool, int, float, str):
            if isinstance(default, kind):
                return {kind.__name__}
        if isinstance(default, (list, tuple)):
            return {"list"}
    if default is None and kinds:
        kinds.add("None")
    return kinds


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _coerce(key: str, value: Any, kinds: set[str], where: str) -> Any:
    """``value`` as ``kinds`` wants it, or an ``OptionError`` naming ``where``."""
    if not kinds:
        return value
    if value is None:
        if "None" in kinds:
            return None
    elif isinstance(value, bool):
        if "bool" in kinds:
            return value
    elif isinstance(value, int):
        if "int" in kinds:
            if key in _POSITIVE and value <= 0:
                raise OptionError(
                    f"{where}: {key} must be a positive integer, got {value}"
                )
            return value
        if "float" in kinds:
            return float(value)
        if "list" in kinds or "intlist" in kinds:
            return [value]
    elif isinstance(value, float):
        if "float" in kinds:
            return value
        if "list" in kinds:
            return [value]
    elif isinstance(value, list):
        if "intlist" in kinds:
            if not all(isinstance(item, int) for item in value) or any(
                isinstance(item, bool) for item in value
            ):
                raise OptionError(
                    f"{where}: {key} expects a list of integers, got {value!r}"
                )
            return value
        if "list" in kinds:
            if not all(_is_number(item) for item in value):
                raise OptionError(
                    f"{where}: {key} expects a list of numbers, got {value!r}"
                )
            return value
    elif "str" in kinds:
        return value
    names = {
        "bool": "true or false",
        "int": "an integer",
        "float": "a number",
        "list": "a list of numbers (with commas)",
        "intlist": "a list of integers (with commas)",
        "str": "a word",
        "None": "none",
    }
    wanted = " or ".join(names[kind] for kind in sorted(kinds) if kind in names)
    shown = {True: "true", False: "false", None: "none"}.get(value, value)
    if isinstance(value, list):
        shown = ",".join(map(str, value))
    raise OptionError(f"{where}: {key} expects {wanted}, got {shown!r}")


def check_options(cls: type, options: dict[str, Any], flag: str, name: str) -> None:
    """Refuse a key that ``cls`` does not take, listing those it does, or a
    value of the wrong kind (by the class's annotations and defaults); values
    are converted in place (``1`` for a float option is ``1.0``, one number
    for a list option a one-element list)."""
    accepted = _accepted(cls)
    for key, value in list(options.items()):
        if key not in accepted:
            raise OptionError(
                f"{flag}: {name} ({cls.__name__}) has no option {key!r}; it takes "
                f"{', '.join(accepted)}"
            )
        options[key] = _coerce(key, value, _kinds(accepted[key]), f"{flag} {name}")


def optimizer_options(config: Any) -> dict[str, Any]:
    """Every keyword ``make_optimizer`` passes, lr and momentum included."""
    options = {"lr": config.lr}
    if config.momentum is not None:
        options["momentum"] = config.momentum
    for key, value in config.optimizer_args.items():
        options[key] = tuple(value) if isinstance(value, list) else value
    return options


def make_optimizer(model: nn.Module, config: Any) -> optim.Optimizer:
    """The optimizer that ``config`` names, over ``model``'s parameters."""
    cls = optimizer_class(config.optimizer)
    return cls(model.parameters(), **optimizer_options(config))


def scheduler_options(config: Any, steps_per_epoch: int) -> dict[str, Any]:
    """``config.scheduler_args`` with the run-length defaults filled in."""
    epochs, name = config.epochs, config.scheduler
    options = dict(config.scheduler_args)
    derived: dict[str, Any] = {}
    if name == "step":
        derived["step_size"] = max(1, epochs // 3)
    elif name == "multistep":
        derived["milestones"] = sorted({max(1, epochs // 2), max(1, 3 * epochs // 4)})
    elif name == "exponential":
        derived["gamma"] = 0.9
    elif name == "cosine":
        derived["T_max"] = epochs
    elif name == "cosine-restarts":
        derived["T_0"] = max(1, epochs // 3)
    elif name == "onecycle":
        derived["max_lr"] = config.lr
        if "epochs" not in options and "steps_per_epoch" not in options:
            derived["total_steps"] = epochs * steps_per_epoch
        if config.optimizer in ("adagrad", "adadelta", "lbfgs"):
            # OneCycleLR cycles momentum or beta1, which these do not have.
            derived["cycle_momentum"] = False
    for key, value in derived.items():
        options.setdefault(key, value)
    return options


# Schedules whose length option is filled in from --epochs when not given.
LENGTH_OPTIONS = {
    "step": "step_size",
    "multistep": "milestones",
    "cosine": "T_max",
    "cosine-restarts": "T_0",
    "onecycle": "total_steps",
}


def length_option(config: Any) -> str | None:
    """The option of ``config``'s schedule that was set from its --epochs
    (None when there is none, or the user gave it). ``onecycle`` always
    counts: its schedule spans the whole run whatever sets its length.

    The run records which options the user gave
    (``config.scheduler_args_given``), since a value given can equal the one
    --epochs would have set (``step_size=1`` with ``--epochs 3``). A run from
    before that record has only the values to go by: one equal to the
    default is taken as the default.
    """
    key = LENGTH_OPTIONS.get(config.scheduler)
    if key is None or config.scheduler == "onecycle":
        return key
    if config.scheduler_args_given is not None:
        return None if key in config.scheduler_args_given else key
    given = config.scheduler_args.get(key)
    stripped = copy.copy(config)
    stripped.scheduler_args = {}
    derived = scheduler_options(stripped, 1)[key]
    if isinstance(given, (list, tuple)) and isinstance(derived, list):
        given = list(given)
    return key if given is None or given == derived else None


def make_scheduler(
    optimizer: optim.Optimizer, config: Any, steps_per_epoch: int
) -> Any:
    """The schedule ``config`` names over ``optimizer`` (None for none).

    The options it was built with, run-length defaults included, are written
    back into ``config.scheduler_args``.
    """
    if config.scheduler is None:
        return None
    cls = scheduler_class(config.scheduler)
    options = scheduler_options(config, steps_per_epoch)
    scheduler = cls(optimizer, **options)
    config.scheduler_args = options
    return scheduler


def take_step(
    model: nn.Module,
    optimizer: Any,
    criterion: Any,
    batch: tuple,
    config: Any,
    backward: Any = None,
) -> tuple[Tensor, Tensor]:
    """One optimizer step on ``batch``; returns its outputs and loss.

    L-BFGS evaluates the loss several times per step, through a closure; the
    outputs and loss reported are those of its first evaluation, at the
    weights the step started from, as for every other optimizer.
    ``backward(loss)``, when given, runs the backward pass in place of
    ``loss.backward()`` (the monitor's anomaly mode, the narrated first step;
    for L-BFGS only in its first evaluation).
    """
    inputs, targets = batch
    clip = config.clip_grad
    if config.optimizer == "lbfgs":
        first: list[tuple[Tensor, Tensor]] = []

        def closure() -> Tensor:
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            if backward is not None and not first:
                backward(loss)
            else:
                loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            if not first:
                first.append((outputs, loss))
            return loss

        optimizer.step(closure)
        return first[0]
    outputs = model(inputs)
    loss = criterion(outputs, targets)
    optimizer.zero_grad()
    if backward is not None:
        backward(loss)
    else:
        loss.backward()
    if clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return outputs, loss


def check_choices(config: Any) -> None:
    """Build the run's optimizer and schedule on a stand-in parameter, and
    take two steps of each.

    Every check the classes make of their arguments (an unknown key, a
    negative gamma, a milestone list that is not increasing), and every
    failure a bad value would cause in the first steps, happens here, before
    data is loaded or a folder made; the model's real parameters are not
    needed for that, and no random numbers are drawn. Values are checked
    against the classes' annotations first (``check_options``).

    Raises:
        OptionError: naming the flag, the class and what went wrong.
    """
    for key in ("lr", "momentum"):
        if key in config.optimizer_args:
            raise OptionError(f"--optimizer-args: give {key} as --{key}, not here")
    cls = optimizer_class(config.optimizer)
    check_options(cls, config.optimizer_args, "--optimizer-args", config.optimizer)
    stand_in = nn.Parameter(zeros(1))
    try:
        optimizer = cls([stand_in], **optimizer_options(config))
        for _ in range(2):
            _trial_step(optimizer, stand_in, config)
    except Exception as error:  # noqa: BLE001 - any failure is the options'
        raise OptionError(f"--optimizer {config.optimizer}: {_said(error)}") from None
    if config.scheduler is None:
        return
    scheduler = scheduler_class(config.scheduler)
    if "lr" in config.scheduler_args:
        raise OptionError("--scheduler-args: give lr as --lr, not here")
    check_options(
        scheduler, config.scheduler_args, "--scheduler-args", config.scheduler
    )
    try:
        built = scheduler(optimizer, **scheduler_options(config, 1))
        for _ in range(min(2, config.epochs)):
            _trial_step(optimizer, stand_in, config)
            if config.scheduler == "plateau":
                built.step(1.0)
            else:
                built.step()
    except Exception as error:  # noqa: BLE001 - any failure is the options'
        raise OptionError(f"--scheduler {config.scheduler}: {_said(error)}") from None


def _trial_step(optimizer: Any, stand_in: Tensor, config: Any) -> None:
    """One step of ``optimizer`` on ``(stand_in - 1)**2``."""

    def closure() -> Tensor:
        optimizer.zero_grad()
        loss = ((stand_in - 1.0) ** 2).sum()
        loss.backward()
        return loss

    if config.optimizer == "lbfgs":
        optimizer.step(closure)
    else:
        closure()
        optimizer.step()


def _said(error: BaseException) -> str:
    """What ``error`` says, with its type when it says nothing useful."""
    text = str(error).strip("'\"")
    if isinstance(error, (TypeError, ValueError)) and text:
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def buffers(config: Any) -> int:
    """How many parameter-sized buffers the run's optimizer keeps."""
    if config.optimizer == "sgd":
        return 1 if config.momentum else 0
    return BUFFERS.get(config.optimizer, 2)
