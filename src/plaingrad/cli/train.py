"""``plaingrad train``: fit an MLP on a dataset and save the run.

A run folder holds three files, enough to rebuild and check the model with no
other information:

- ``model.safetensors``: the trained ``state_dict`` (``0.weight``, ``0.bias``,
  ...);
- ``config.json``: every setting of the run: dataset and split, layer sizes and
  activation, loss, optimizer, schedule and their options, clipping, epochs,
  batch size, seed, plaingrad's version;
- ``metrics.json``: per-epoch history (with the learning rate of each epoch)
  and the final numbers;

and, when asked (``--checkpoint-every``) or stopped by Ctrl-C, checkpoints to
resume from (see ``checkpoint.py``).

``load_run`` reverses this: it rebuilds the network from ``config.json`` and
loads the weights. The training functions here print nothing; they report
through an ``EpochProgress`` and return their results to ``main``. The
optimizer and schedule tables live in ``optimizers.py``, the datasets in
``data.py``, the run folder's checks in ``output.py``, and what a run spread
over the ranks of ``mpiexec`` does differently (each rank's share of every
batch, the loss across ranks, DDP) in ``parallel.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import __version__, get_rng_state, manual_seed, nn, no_grad, set_rng_state
from ..datasets import DigitsSplit
from ..io import load_safetensors, save_safetensors
from ..random import Generator
from ..utils.data import DataLoader, TensorDataset
from . import checkpoint
from .data import load_config_digits, load_dataset
from .optimizers import (
    OPTIMIZERS,
    PER_BATCH,
    make_optimizer,
    make_scheduler,
    take_step,
)
from .output import (
    RUN_FILES,
    TrainingError,
    check_memory,
    check_output,
    memory_needed,
    out_of_memory_message,
    prepare_output,
    remove_output,
)
from .parallel import World
from .progress import EpochProgress

__all__ = [
    "OPTIMIZERS",
    "RUN_FILES",
    "TrainingError",
    "check_memory",
    "check_output",
    "load_config_digits",
    "make_optimizer",
    "memory_needed",
    "out_of_memory_message",
    "prepare_output",
    "remove_output",
]

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
# ``default``: each layer's own reset_parameters; ``kaiming``: He-normal
# weights (gain sqrt(2), for ReLU) and zero biases.
INITS = ("default", "kaiming")
# --dtype: a float64 run starts from the float32 run's initial weights.
DTYPES = ("float32", "float64")

# Per-dataset defaults; a flag left out on the command line takes these.
_IDX = {"hidden": [128, 64], "epochs": 10, "batch_size": 64, "lr": 1e-3}
DEFAULTS: dict[str, dict[str, Any]] = {
    # About 2 s of training on two cores; >= 0.96 test accuracy for every seed
    # we tried (see tests/test_cli.py).
    "digits": {
        "hidden": [128, 64],
        "epochs": 30,
        "batch_size": 64,
        "lr": 1e-3,
        "output": os.path.join("runs", "digits"),
    },
    # 800 training points of two interleaved spirals: about 2 s on two cores,
    # 0.98 to 0.995 test accuracy for seeds 0 to 5 (see tests/test_spirals.py).
    "spirals": {
        "hidden": [64, 64],
        "epochs": 40,
        "batch_size": 32,
        "lr": 1e-2,
        "output": os.path.join("runs", "spirals"),
    },
    # 60,000 28x28 images from IDX files in --data-dir.
    "mnist": {**_IDX, "output": os.path.join("runs", "mnist")},
    "fashion-mnist": {**_IDX, "output": os.path.join("runs", "fashion-mnist")},
    "kmnist": {**_IDX, "output": os.path.join("runs", "kmnist")},
    # The backpropagation seed program: Linear(2, 8), ReLU, Linear(8, 1),
    # MSE, Adam lr=0.01, 1000 full-batch steps.
    "xor": {
        "hidden": [8],
        "epochs": 1000,
        "batch_size": 4,
        "lr": 0.01,
        "output": None,
    },
}


@dataclass
class RunConfig:
    """Every setting of a training run; saved as ``config.json``.

    Attributes:
        dataset: ``"digits"``, ``"spirals"``, ``"mnist"``, ``"fashion-mnist"``,
            ``"kmnist"`` or ``"xor"``.
        layer_sizes: widths from input to output, e.g. ``[64, 128, 64, 10]``.
        activation: the non-linearity between layers (``relu``, ``tanh``,
            ``sigmoid``).
        loss: ``"cross_entropy"`` (classifiers) or ``"mse"`` (xor).
        optimizer: a name of ``optimizers.OPTIMIZERS`` (``"adam"``, ...).
        lr: learning rate (for ``onecycle``, its peak).
        momentum: momentum of SGD or RMSprop (None otherwise).
        epochs: passes over the training set (for xor: full-batch steps).
        batch_size: samples per step.
        seed: seeds weight initialisation and the shuffling order.
        test_size: the held-out fraction (digits, spirals; None otherwise).
        split_seed: the seed of the train/test split (digits, spirals, where
            it seeds the points too; None otherwise).
        optimizer_args: other keyword arguments of the optimizer.
        scheduler: a name of ``optimizers.SCHEDULERS``, or None.
        scheduler_args: the schedule's keyword arguments, defaults included.
        scheduler_args_given: the keys of ``scheduler_args`` given with
            ``--scheduler-args``, the rest being defaults (None in a run from
            before this was recorded).
        clip_grad: the max norm gradients are clipped to, or None.
        checkpoint_every: keep a checkpoint every this many epochs, or None.
        data_dir: the folder of the IDX files (mnist, fashion-mnist).
        plaingrad_version: the version that trained the model.
        init: the weight initialisation, one of ``INITS``.
        dtype: the parameters' and inputs' dtype, one of ``DTYPES``.
        world_size: the ranks the run was spread over (1: one process; see
            ``parallel.py``). The result does not depend on it.
    """

    dataset: str
    layer_sizes: list[int]
    activation: str
    loss: str
    optimizer: str
    lr: float
    momentum: float | None
    epochs: int
    batch_size: int
    seed: int
    test_size: float | None = None
    split_seed: int | None = None
    optimizer_args: dict[str, Any] = field(default_factory=dict)
    scheduler: str | None = None
    scheduler_args: dict[str, Any] = field(default_factory=dict)
    scheduler_args_given: list[str] | None = None
    clip_grad: float | None = None
    checkpoint_every: int | None = None
    data_dir: str | None = None
    plaingrad_version: str = field(default=__version__)
    init: str = "default"
    dtype: str = "float32"
    world_size: int = 1


def build_mlp(layer_sizes: list[int], activation: str = "relu") -> nn.Sequential:
    """A multilayer perceptron: Linear layers with ``activation`` between them.

    Args:
        layer_sizes: widths from input to output (at least two numbers).
        activation: ``relu``, ``tanh`` or ``sigmoid``.

    Returns:
        ``nn.Sequential(Linear(s0, s1), Act(), Linear(s1, s2), ..., Linear)``;
        there is no activation after the last layer.

    Example:
        >>> from plaingrad.cli.train import build_mlp
        >>> build_mlp([2, 8, 1])
        Sequential(
          (0): Linear(in_features=2, out_features=8, bias=True)
          (1): ReLU()
          (2): Linear(in_features=8, out_features=1, bias=True)
        )
    """
    if len(layer_sizes) < 2:
        raise ValueError(
            f"build_mlp: `layer_sizes` needs an input and an output size, got "
            f"{layer_sizes!r}"
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"build_mlp: unknown `activation` {activation!r}; expected one of "
            f"{', '.join(ACTIVATIONS)}"
        )
    layers: list[nn.Module] = []
    pairs = list(zip(layer_sizes[:-1], layer_sizes[1:]))
    for index, (fan_in, fan_out) in enumerate(pairs):
        layers.append(nn.Linear(fan_in, fan_out))
        if index < len(pairs) - 1:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def initialise(model: nn.Module, init: str) -> None:
    """Re-initialise ``model``'s Linear layers as ``init`` (one of ``INITS``)."""
    if init == "kaiming":
        for layer in model.modules():
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)


def _check_finite(loss: float, when: str, config: RunConfig) -> None:
    """Stop a run whose loss is NaN or infinite; ``when`` says where it was."""
    if not math.isfinite(loss):
        raise TrainingError(
            f"training diverged: the loss became {loss} in {when} with "
            f"--lr {config.lr:g}; try a smaller learning rate"
        )


def _state(
    config: RunConfig, parts: dict[str, Any], history: list, position: tuple
) -> dict[str, Any]:
    """A checkpoint's contents: the run ``position = (epoch, batch)`` reached."""
    scheduler = parts["scheduler"]
    return {
        "config": asdict(config),
        "epoch": position[0],
        "batch": position[1],
        "model": parts["model"].state_dict(),
        "optimizer": parts["optimizer"].state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "shuffle_rng": parts["shuffle_rng"],
        "global_rng": get_rng_state(),
        "history": history,
        "partial": parts["partial"],
        "train_seconds": parts["seconds"](),
    }


def _resume(parts: dict[str, Any], state: dict[str, Any]) -> None:
    """Put the model, optimizer, schedule and random streams as ``state`` has
    them; called once the schedule is built, as building one sets the lr."""
    parts["model"].load_state_dict(state["model"])
    parts["optimizer"].load_state_dict(state["optimizer"])
    if parts["scheduler"] is not None:
        parts["scheduler"].load_state_dict(state["scheduler"])
    parts["shuffle"].set_state(state["shuffle_rng"])
    set_rng_state(state["global_rng"])


def initial_model(config: RunConfig) -> nn.Module:
    """The run's network as it is before its first step: seeded by
    ``config.seed``, built and initialised as ``config`` says."""
    manual_seed(config.seed)
    model = build_mlp(config.layer_sizes, config.activation)
    initialise(model, config.init)
    return _cast(model, config)


def _cast(model: nn.Module, config: RunConfig) -> nn.Module:
    """``model`` in the run's dtype (float32 models are left as built)."""
    if config.dtype == "float64":
        return model.double()
    return model


def train_classifier(
    config: RunConfig,
    progress: EpochProgress,
    data: DigitsSplit | None = None,
    *,
    output: str | None = None,
    resume: dict[str, Any] | None = None,
    interrupt: checkpoint.Interrupt | None = None,
    monitor: bool = False,
    narrate: bool = False,
    world: World | None = None,
) -> dict[str, Any]:
    """Train an MLP classifier (digits, spirals, MNIST, Fashion-MNIST, KMNIST).

    Args:
        config: the run's settings.
        progress: receives loss and accuracies at the end of every epoch.
        data: the split to train and test on (default: ``load_dataset``).
            ``main`` loads it first, so that a missing extra or file is
            reported before anything starts.
        output: the run folder, where checkpoints go (None: no checkpoints).
        resume: a checkpoint (``checkpoint.read``) to continue from.
        interrupt: when given and its ``requested`` is set (Ctrl-C), the
            run saves a checkpoint after the batch in progress and stops.
        monitor: watch the run with a ``plaingrad.explain.GradientMonitor``
            (its backward passes in anomaly mode, so that a NaN or Inf is
            traced to the op that made it).
        narrate: run the first step inside ``plaingrad.explain.narrate``,
            keeping the story of its backward pass.
        world: the ranks to spread the run over (``parallel.start_world``;
            default: this process alone). Every rank calls this function;
            pass ``output`` on rank 0 only.

    Returns:
        ``{"model": the trained network, "metrics": the metrics.json dict}``;
        with ``monitor`` also ``"verdicts"`` (the monitor's verdicts as dicts,
        ``Verdict.to_dict``) and ``"monitor"`` (its ``history``); with
        ``narrate``, ``"story"``.

    Raises:
        MissingExtraError: when scikit-learn is not installed.
        TrainingError: when the loss stops being finite; with ``monitor``
            its ``result`` holds what the run had: the ``"metrics"`` history
            so far, ``"verdicts"``, ``"monitor"`` and ``"story"``.
        checkpoint.Interrupted: when stopped through ``interrupt``.
    """
    world = world if world is not None else World()
    if world.distributed and (monitor or narrate):
        raise ValueError(
            "train_classifier: `monitor` and `narrate` watch a run in one "
            f"process, not one spread over {world.size} ranks"
        )
    if data is None:
        data = load_dataset(config)
    model = initial_model(config)
    optimizer = make_optimizer(model, config)
    criterion = world.criterion()
    stories: list[Any] = []
    shuffle = Generator().manual_seed(config.seed)
    # Under MPI each rank takes its share of every batch of this loader.
    loader = world.loader(
        DataLoader(
            TensorDataset(data.x_train, data.y_train),
            batch_size=config.batch_size,
            shuffle=True,
            generator=shuffle,
        )
    )
    rows = len(data.y_train)
    scheduler = make_scheduler(optimizer, config, len(loader))
    per_batch = config.scheduler in PER_BATCH
    history: list[dict[str, Any]] = []
    done, skip, spent = 0, 0, 0.0
    start = time.perf_counter()
    parts: dict[str, Any] = {
        "model": model,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "shuffle": shuffle,
        "seconds": lambda: spent + time.perf_counter() - start,
    }
    if resume is not None:
        _resume(parts, resume)
        history = list(resume["history"])
        done, skip, spent = resume["epoch"], resume["batch"], resume["train_seconds"]
    watch = None
    if monitor:  # after a resume has loaded the weights the ratios start from
        from ..explain import GradientMonitor

        watch = GradientMonitor(model, detect_anomaly=True)
    step_model = world.wrap(model)  # after a resume: every rank starts alike

    def save(position: tuple, keep: str | None = None) -> str:
        state = _state(config, parts, history, position)
        names = [keep, checkpoint.LATEST] if keep else [checkpoint.LATEST]
        with interrupt.saving() if interrupt else contextlib.nullcontext():
            for name in names:
                checkpoint.write(os.path.join(str(output), name), state)
        return os.path.join(str(output), checkpoint.LATEST)

    # The last epoch is always checkpointed when the run keeps checkpoints
    # (or continues one), so that a later --resume --epochs N goes on from it.
    final = output is not None and bool(
        config.checkpoint_every
        or resume is not None
        or os.path.isfile(os.path.join(output, checkpoint.LATEST))
    )

    if output is None:
        interrupt = None  # nowhere to save a checkpoint: Ctrl-C stops as usual
    for epoch in range(done + 1, config.epochs + 1):
        parts["shuffle_rng"] = shuffle.get_state()  # before the epoch's order
        sums = {"loss": 0.0, "correct": 0, "seen": 0}
        sums["lr"] = optimizer.param_groups[0]["lr"]
        if skip and resume is not None:
            sums = dict(resume["partial"])
            if not world.is_main:
                sums["correct"] = 0  # counted once, on rank 0, until summed
        parts["partial"] = sums
        model.train()
        for index, batch in enumerate(loader):
            if index < skip:
                continue
            backward = None if watch is None else watch.backward
            total, count = world.share(index, rows, config.batch_size)
            if world.distributed:
                criterion.share(total, count)
            if narrate and not stories:
                # the first step inside narrate, forward pass included, so
                # that every op is credited to the module that ran it
                from ..explain import narrate as narrating

                with narrating(model=model) as story:
                    logits, loss = take_step(
                        step_model, optimizer, criterion, batch, config, backward
                    )
                stories.append(story)
            else:
                logits, loss = take_step(
                    step_model, optimizer, criterion, batch, config, backward
                )
            if watch is not None:
                watch.step(loss)
            # the loss is the global batch's mean, the logits this rank's
            sums["loss"] += loss.item() * total
            if count:
                hits = (logits.argmax(dim=1) == batch[1]).sum().item()
                sums["correct"] += int(hits)
            sums["seen"] += total
            if per_batch:
                scheduler.step()
            if interrupt and interrupt.requested and index + 1 < len(loader):
                path = save((epoch - 1, index + 1))
                raise checkpoint.Interrupted(path, epoch - 1, index + 1)
        skip = 0
        train_loss = sums["loss"] / sums["seen"]
        try:
            _check_finite(train_loss, f"epoch {epoch}", config)
        except TrainingError as error:
            if watch is not None:
                error.result = _watched(model, {"history": history}, watch, stories)
            raise
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": world.count(sums["correct"]) / sums["seen"],
            "test_accuracy": world.accuracy(model, data.x_test, data.y_test),
            "lr": sums["lr"],
        }
        history.append(record)
        progress.update(
            epoch,
            {
                "loss": record["train_loss"],
                "acc": record["train_accuracy"],
                "test_acc": record["test_accuracy"],
            },
        )
        if scheduler is not None and not per_batch:
            if config.scheduler == "plateau":
                scheduler.step(train_loss)
            else:
                scheduler.step()
        parts["shuffle_rng"] = shuffle.get_state()
        parts["partial"] = None
        every = config.checkpoint_every
        if output is not None and every and epoch % every == 0:
            save((epoch, 0), checkpoint.epoch_name(epoch))
        elif final and epoch == config.epochs:
            save((epoch, 0))
        if interrupt and interrupt.requested and epoch < config.epochs:
            raise checkpoint.Interrupted(save((epoch, 0)), epoch, 0)

    metrics = {
        "test_accuracy": history[-1]["test_accuracy"],
        "train_loss": history[-1]["train_loss"],
        "train_accuracy": history[-1]["train_accuracy"],
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "train_seconds": parts["seconds"](),
        "history": history,
    }
    if watch is not None:
        return _watched(model, metrics, watch, stories)
    return {"model": model, "metrics": metrics}


def _watched(model: nn.Module, metrics: dict, watch: Any, stories: list) -> dict:
    """A monitored run's results: ``train_classifier``'s, with the monitor's.
    The run is over, so the monitor's hooks come off the model here."""
    watch.remove()
    return {
        "model": model,
        "metrics": metrics,
        "verdicts": [v.to_dict() for v in watch.verdicts()],
        "monitor": watch.history,
        "story": stories[0] if stories else None,
    }


# The name of the digits trainer before MNIST joined it.
train_digits = train_classifier


def train_xor(config: RunConfig) -> dict[str, Any]:
    """Run the backpropagation seed program: fit XOR with full-batch steps.

    Args:
        config: the run's settings (``dataset == "xor"``); ``epochs`` counts
            optimizer steps, each on all four points (a schedule steps after
            each of them).

    Returns:
        ``{"model", "metrics", "inputs", "targets", "predictions"}``; the
        metrics hold the final loss and the loss after every step.

    Raises:
        TrainingError: when the loss stops being finite.
    """
    from ..datasets import load_xor

    inputs, targets = load_xor()
    model = initial_model(config)
    optimizer = make_optimizer(model, config)
    scheduler = make_scheduler(optimizer, config, 1)
    criterion = nn.MSELoss()

    losses = []
    for step in range(1, config.epochs + 1):
        _, loss = take_step(model, optimizer, criterion, (inputs, targets), config)
        losses.append(loss.item())
        _check_finite(losses[-1], f"step {step}", config)
        if config.scheduler == "plateau":
            scheduler.step(losses[-1])
        elif scheduler is not None:
            scheduler.step()

    model.eval()
    with no_grad():
        predictions = model(inputs)
    metrics = {"final_loss": losses[-1], "loss_history": losses}
    return {
        "model": model,
        "metrics": metrics,
        "inputs": inputs.tolist(),
        "targets": targets.flatten().tolist(),
        "predictions": predictions.flatten().tolist(),
    }


def save_run(
    folder: str, model: nn.Module, config: RunConfig, metrics: dict[str, Any]
) -> list[str]:
    """Write ``model.safetensors``, ``config.json`` and ``metrics.json``.

    Returns:
        The paths written.
    """
    paths = [os.path.join(folder, name) for name in RUN_FILES]
    settings = asdict(config)
    save_safetensors(
        model.state_dict(),
        paths[0],
        metadata={"config": json.dumps(settings, sort_keys=True)},
    )
    for path, content in ((paths[1], settings), (paths[2], metrics)):
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
            handle.write("\n")
    return paths


def load_run(folder: str) -> tuple[nn.Sequential, RunConfig]:
    """Rebuild a trained network from a run folder written by ``train``.

    Args:
        folder: holds ``config.json`` and ``model.safetensors``.

    Returns:
        ``(model, config)``, the model in eval mode with the saved weights.

    Example:
        >>> from plaingrad.cli.train import load_run
        >>> model, config = load_run("runs/digits")  # doctest: +SKIP
    """
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
        config = RunConfig(**json.load(handle))
    model = _cast(build_mlp(config.layer_sizes, config.activation), config)
    model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")))
    model.eval()
    return model, config
