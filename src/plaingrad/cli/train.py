"""``plaingrad train``: fit an MLP on a built-in dataset and save the run.

A run folder holds three files, enough to rebuild and check the model with no
other information:

- ``model.safetensors``: the trained ``state_dict`` (``0.weight``, ``0.bias``,
  ...);
- ``config.json``: every setting of the run: dataset and split, layer sizes and
  activation, loss, optimizer and its hyperparameters, epochs, batch size,
  seed, plaingrad's version;
- ``metrics.json``: per-epoch history and the final numbers.

``load_run`` reverses this: it rebuilds the network from ``config.json`` and
loads the weights. The training functions here print nothing; they report
through an ``EpochProgress`` and return their results to ``main``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from .. import __version__, manual_seed, nn, no_grad, optim
from ..datasets import DigitsSplit
from ..io import load_safetensors, save_safetensors
from ..random import Generator
from ..tensor import Tensor
from ..utils.data import DataLoader, TensorDataset
from .progress import EpochProgress

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
OPTIMIZERS = ("adam", "sgd")

# Per-dataset defaults; a flag left out on the command line takes these.
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


class TrainingError(RuntimeError):
    """A run that cannot go on (its loss became NaN or infinite)."""


@dataclass
class RunConfig:
    """Every setting of a training run; saved as ``config.json``.

    Attributes:
        dataset: ``"digits"`` or ``"xor"``.
        layer_sizes: widths from input to output, e.g. ``[64, 128, 64, 10]``.
        activation: the non-linearity between layers (``relu``, ``tanh``,
            ``sigmoid``).
        loss: ``"cross_entropy"`` (digits) or ``"mse"`` (xor).
        optimizer: ``"adam"`` or ``"sgd"``.
        lr: learning rate.
        momentum: SGD's momentum (None with Adam).
        epochs: passes over the training set (for xor: full-batch steps).
        batch_size: samples per step.
        seed: seeds weight initialisation and the shuffling order.
        test_size: the held-out fraction (digits; None for xor).
        split_seed: the seed of the train/test split (digits; None for xor).
        plaingrad_version: the version that trained the model.
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
    plaingrad_version: str = field(default=__version__)


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


def make_optimizer(model: nn.Module, config: RunConfig) -> optim.Optimizer:
    """The optimizer that ``config`` names, over ``model``'s parameters."""
    if config.optimizer == "adam":
        return optim.Adam(model.parameters(), lr=config.lr)
    return optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum or 0)


def accuracy(model: nn.Module, inputs: Tensor, labels: Tensor) -> float:
    """The fraction of ``inputs`` whose highest logit is at the right label.

    Shape:
        inputs: (n, features); labels: (n,) int64.
    """
    model.eval()
    with no_grad():
        predicted = model(inputs).argmax(dim=1)
    return float((predicted == labels).sum().item()) / len(labels)


def _check_finite(loss: float, when: str, config: RunConfig) -> None:
    """Stop a run whose loss is NaN or infinite; ``when`` says where it was."""
    if not math.isfinite(loss):
        raise TrainingError(
            f"training diverged: the loss became {loss} in {when} with "
            f"--lr {config.lr:g}; try a smaller learning rate"
        )


def train_digits(
    config: RunConfig, progress: EpochProgress, data: DigitsSplit | None = None
) -> dict[str, Any]:
    """Train an MLP classifier on the 8x8 digits.

    Args:
        config: the run's settings (``dataset == "digits"``).
        progress: receives loss and accuracies at the end of every epoch.
        data: the split to train and test on (default: ``load_digits`` with the
            config's ``test_size`` and ``split_seed``). ``main`` loads it first,
            so that a missing scikit-learn is reported before anything starts.

    Returns:
        ``{"model": the trained network, "metrics": the metrics.json dict}``.

    Raises:
        MissingExtraError: when scikit-learn is not installed.
        TrainingError: when the loss stops being finite.
    """
    if data is None:
        data = load_config_digits(config)
    manual_seed(config.seed)
    model = build_mlp(config.layer_sizes, config.activation)
    optimizer = make_optimizer(model, config)
    criterion = nn.CrossEntropyLoss()
    shuffle = Generator().manual_seed(config.seed)
    loader = DataLoader(
        TensorDataset(data.x_train, data.y_train),
        batch_size=config.batch_size,
        shuffle=True,
        generator=shuffle,
    )

    history = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        for inputs, labels in loader:
            logits = model(inputs)  # (batch, 10)
            loss = criterion(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

            count = len(labels)
            loss_sum += loss.item() * count
            correct += int((logits.argmax(dim=1) == labels).sum().item())
            seen += count
        train_loss = loss_sum / seen
        _check_finite(train_loss, f"epoch {epoch}", config)
        record = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": correct / seen,
            "test_accuracy": accuracy(model, data.x_test, data.y_test),
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

    metrics = {
        "test_accuracy": history[-1]["test_accuracy"],
        "train_loss": history[-1]["train_loss"],
        "train_accuracy": history[-1]["train_accuracy"],
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "train_seconds": time.perf_counter() - start,
        "history": history,
    }
    return {"model": model, "metrics": metrics}


def load_config_digits(config: RunConfig) -> DigitsSplit:
    """The digits split that ``config`` names (its test fraction and seed).

    Raises:
        MissingExtraError: when scikit-learn is not installed.
    """
    from ..datasets import load_digits

    test_size = 0.2 if config.test_size is None else config.test_size
    split_seed = 0 if config.split_seed is None else config.split_seed
    return load_digits(test_size=test_size, seed=split_seed)


def train_xor(config: RunConfig) -> dict[str, Any]:
    """Run the backpropagation seed program: fit XOR with full-batch steps.

    Args:
        config: the run's settings (``dataset == "xor"``); ``epochs`` counts
            optimizer steps, each on all four points.

    Returns:
        ``{"model", "metrics", "inputs", "targets", "predictions"}``; the
        metrics hold the final loss and the loss after every step.

    Raises:
        TrainingError: when the loss stops being finite.
    """
    from ..datasets import load_xor

    inputs, targets = load_xor()
    manual_seed(config.seed)
    model = build_mlp(config.layer_sizes, config.activation)
    optimizer = make_optimizer(model, config)
    criterion = nn.MSELoss()

    losses = []
    for step in range(1, config.epochs + 1):
        outputs = model(inputs)  # (4, 1)
        loss = criterion(outputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        _check_finite(losses[-1], f"step {step}", config)

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


RUN_FILES = ("model.safetensors", "config.json", "metrics.json")


def check_output(path: str) -> str:
    """Fail early when ``path`` cannot hold a run; create nothing.

    The folder must be (or be able to become) a folder, and none of the
    three files a run writes may be a folder, so that a run never trains for
    minutes and then fails to save.

    Returns:
        ``path`` unchanged.

    Raises:
        NotADirectoryError: when ``path``, or a folder above it, is a file.
        IsADirectoryError: when one of the run's files is a folder.
        PermissionError: when the folder, or a run file in it, is read-only.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"--output {path!r} is a file, not a folder")
    if os.path.isdir(path):
        if not os.access(path, os.W_OK | os.X_OK):
            raise PermissionError(f"--output {path!r}: the folder is not writable")
        for name in RUN_FILES:
            target = os.path.join(path, name)
            if os.path.isdir(target):
                raise IsADirectoryError(
                    f"--output {path!r}: cannot write {name}: {target!r} is a "
                    "folder, not a file"
                )
            if os.path.exists(target) and not os.access(target, os.W_OK):
                raise PermissionError(
                    f"--output {path!r}: cannot write {name}: {target!r} is read-only"
                )
        return path
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise NotADirectoryError(
            f"--output {path!r} cannot be a folder: a path above it is a file"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"--output {path!r}: cannot create the folder: {parent!r} is not writable"
        )
    return path


def prepare_output(path: str) -> list[str]:
    """Create the run folder ``path`` (and its parents) if needed.

    Returns:
        The folders this call created, deepest first (empty when ``path``
        already existed); give them to ``remove_output`` if the run fails.

    Raises:
        NotADirectoryError: when ``path``, or a folder above it, is a file.
        OSError: when the folder cannot be created for another reason.
    """
    check_output(path)
    missing = []
    folder = os.path.abspath(path)
    while not os.path.exists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise NotADirectoryError(
            f"--output {path!r} cannot be a folder: a path above it is a file"
        ) from None
    except OSError as error:
        raise OSError(
            f"--output {path!r}: cannot create the folder ({error.strerror})"
        ) from None
    return missing


def remove_output(path: str, created: list[str]) -> None:
    """Undo ``prepare_output`` after a failed or interrupted run.

    Only folders the run created are touched: the run's own files in them are
    deleted, then the folders themselves while they are empty. A folder that
    existed before the run (``created`` empty) is left exactly as it is.
    """
    if not created:
        return
    for name in RUN_FILES:
        target = os.path.join(path, name)
        if os.path.isfile(target):
            os.remove(target)
    for folder in created:
        try:
            os.rmdir(folder)
        except OSError:  # not empty: something else put files there
            return


def _memory_limit() -> int | None:
    """The bytes this process can hope to use, or None when unknown.

    The smallest of the machine's physical memory, the container's cgroup
    limit and the process's address-space limit (``ulimit -v``).
    """
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as handle:
            text = handle.read().strip()
        if text.isdigit():
            limits.append(int(text))
    except OSError:
        pass
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft)
    except (ImportError, OSError, ValueError):
        pass
    return min(limits) if limits else None


def memory_needed(config: RunConfig) -> int:
    """A rough lower bound, in bytes, of the memory training ``config`` takes.

    Every float32 parameter is held with its gradient, the optimizer's
    buffers (two for Adam, one for SGD with momentum) and one temporary of
    the update; every layer's output is held with its gradient and one
    temporary for each row of a batch (the 360-row digits test set is the
    largest batch, when accuracy is measured).
    """
    pairs = list(zip(config.layer_sizes[:-1], config.layer_sizes[1:]))
    parameters = sum(fan_in * fan_out + fan_out for fan_in, fan_out in pairs)
    if config.optimizer == "adam":
        buffers = 2
    else:
        buffers = 1 if config.momentum else 0
    rows = max(config.batch_size, 360) if config.dataset == "digits" else 4
    activations = rows * sum(config.layer_sizes[1:])
    return 4 * (parameters * (3 + buffers) + activations * 3)


def _hidden(config: RunConfig) -> str:
    """The hidden widths as --hidden takes them: ``"128 64"``."""
    return " ".join(map(str, config.layer_sizes[1:-1]))


def _gigabytes(count: int) -> str:
    return f"{count / 2**30:.1f} GiB"


def check_memory(config: RunConfig) -> None:
    """Refuse a network that cannot fit in memory before anything starts.

    A run that does not fit would otherwise fail late with a MemoryError, or
    be killed by the operating system with no message at all.

    Raises:
        TrainingError: naming ``--hidden`` when ``memory_needed`` is more
            than the memory this process may use.
    """
    limit = _memory_limit()
    needed = memory_needed(config)
    if limit is not None and needed > limit:
        raise TrainingError(
            f"--hidden {_hidden(config)}: training the "
            f"{'-'.join(map(str, config.layer_sizes))} network needs at least "
            f"{_gigabytes(needed)} of memory, more than the {_gigabytes(limit)} "
            "available; try narrower hidden layers"
        )


def out_of_memory_message(config: RunConfig) -> str:
    """The one-line report of a MemoryError while building or training."""
    return (
        f"--hidden {_hidden(config)}: ran out of memory building or "
        f"training the {'-'.join(map(str, config.layer_sizes))} network; try "
        "narrower hidden layers"
    )


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
    model = build_mlp(config.layer_sizes, config.activation)
    model.load_state_dict(load_safetensors(os.path.join(folder, "model.safetensors")))
    model.eval()
    return model, config
