"""Representation drift: the lens's measures at chosen points of training.

A network's layers do not learn at the same pace: the first hidden layer may
settle in a few epochs while the last keeps changing. ``DriftTracker`` takes
the same measures at every epoch you ask for, inside your own training loop::

    tracker = lens.DriftTracker(model, x_train, y_train, x_test, y_test)
    tracker.record(0)  # before training
    for epoch in range(1, 31):
        train_one_epoch(model)
        if epoch in (1, 3, 10, 30):
            tracker.record(epoch)
    for row in tracker.history:
        ...

Each record holds, per layer (the raw input first, as ``capture`` names
them): the linear probe's test accuracy (``linear_probe`` on the training
and test activations; ``probe=False`` skips it), the silhouette and the
between/within class distance ratio (on the first ``samples`` test inputs),
and the linear CKA between the layer now and the same layer at the first
record, the previous record and the last record (1 when nothing changed but
a rotation or a scale). The CKA figures are worked out when ``history`` is
read, from the test activations each record keeps, so the last record's
``cka_to_last`` is 1 and the earlier ones compare with the newest state.

Recording changes nothing in the run: ``capture`` runs the model in
evaluation mode under ``no_grad`` and restores every module's ``training``
flag, the global random stream is put back after it (a model may sample in
its forward pass), and the probes draw from their own seeded generator, so a
run with a tracker takes bitwise the same steps as one without. Each pair of
records' CKA is worked out once and kept, so a record costs the same
whatever came before it.

``drift(models, ...)`` is the same for models saved along the way (a dict
from epoch to model), as ``plaingrad lens`` does with a run's checkpoints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..nn.module import Module
from ..random import get_rng_state, set_rng_state
from ..tensor import Tensor
from ._common import integer_labels, ordered_inputs
from .capture import LayerSpec, capture, select_modules
from .probe import PROBE_SETTINGS, _check_settings, linear_probe
from .separation import class_distance_ratio, silhouette
from .similarity import Prepared

__all__ = ["DriftTracker", "drift"]

# The test inputs the separation statistics and the CKA use, by default.
DEFAULT_SAMPLES = 1000


class DriftTracker:
    """Measures a model's layers each time ``record`` is called.

    Args:
        model: the network being trained; the tracker holds a reference and
            measures it as it is at each ``record``.
        x_train, y_train: the inputs the probes are fitted on, and their
            integer labels (Tensors or NumPy arrays, rows in label order).
        x_test, y_test: the inputs the probes are scored on and the
            separation statistics and CKA use, and their labels.
        layers: which modules to measure (see ``capture``; default every
            leaf module).
        samples: how many test inputs (the first) the separation statistics
            and CKA use, and each record keeps activations for; None for
            ``min(1000, len(x_test))``.
        probe: fit a probe per layer at each record (the costly part).
        batch_size: samples per forward pass of ``capture``.
        probe_options: ``epochs``, ``lr``, ``weight_decay``, ``seed`` for
            ``linear_probe``.

    Raises:
        TypeError: for inputs that are not Tensors or arrays, or labels that
            are not integers.
        ValueError: for labels that do not match their inputs, a bad
            ``samples`` or probe setting.
    """

    def __init__(
        self,
        model: Module,
        x_train: Any,
        y_train: Any,
        x_test: Any,
        y_test: Any,
        layers: LayerSpec | list[LayerSpec] | None = None,
        *,
        samples: int | None = None,
        probe: bool = True,
        batch_size: int = 256,
        **probe_options: Any,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(
                f"DriftTracker: `model` must be an nn.Module, got "
                f"{type(model).__name__}"
            )
        unknown = sorted(set(probe_options) - {"epochs", "lr", "weight_decay", "seed"})
        if unknown:
            raise TypeError(
                f"DriftTracker: unexpected probe option(s) {unknown}; expected "
                "epochs, lr, weight_decay or seed"
            )
        settings = {**PROBE_SETTINGS, "seed": 0, **probe_options}
        _check_settings(settings["epochs"], settings["lr"], settings["weight_decay"])
        for name, value in (("seed", settings["seed"]), ("batch_size", batch_size)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, np.integer))
                or value < (0 if name == "seed" else 1)
            ):
                least = "0 or more" if name == "seed" else "a positive integer"
                raise ValueError(
                    f"DriftTracker: `{name}` must be {least}, got {value!r}"
                )
        self._x_train = _rows("x_train", x_train)
        self._x_test = _rows("x_test", x_test)
        self._y_train = integer_labels(
            "DriftTracker", "y_train", y_train, len(self._x_train)
        )
        self._y_test = integer_labels(
            "DriftTracker", "y_test", y_test, len(self._x_test)
        )
        if samples is None:
            samples = min(DEFAULT_SAMPLES, len(self._y_test))
        if (
            isinstance(samples, bool)
            or not isinstance(samples, (int, np.integer))
            or not 2 <= samples <= len(self._y_test)
        ):
            raise ValueError(
                f"DriftTracker: `samples` must be an integer from 2 to the "
                f"{len(self._y_test)} test inputs, got {samples!r}"
            )
        self._modules = _kinds(model, layers)  # also checks that `layers` exist
        self.model = model
        self.layers = layers
        self.samples = int(samples)
        self.probe = bool(probe)
        self.batch_size = batch_size
        self._probe_options = {
            "epochs": int(settings["epochs"]),
            "lr": settings["lr"],
            "weight_decay": settings["weight_decay"],
            "seed": settings["seed"],
        }
        self._records: list[dict[str, Any]] = []
        # per record, each layer's first `samples` test activations, ready for CKA
        self._kept: list[dict[str, Prepared]] = []
        self._pairs: dict[tuple[int, int, str], float] = {}

    def record(self, epoch: Any, model: Module | None = None) -> dict[str, Any]:
        """Measure the model now (or ``model``, the same architecture).

        Args:
            epoch: the label of this record (an epoch number, a step, any
                JSON-friendly value); must differ from the earlier ones.
            model: measure this model instead of the tracked one (as
                ``drift`` does with saved models).

        Returns:
            This record as ``history`` will show it, its CKA figures taken
            against the records so far.
        """
        _check_label(epoch)
        if any(row["epoch"] == epoch for row in self._records):
            raise ValueError(f"DriftTracker.record: epoch {epoch!r} is recorded")
        net = self.model if model is None else model
        if model is not None and _kinds(model, self.layers) != self._modules:
            raise ValueError(
                "DriftTracker.record: `model` must have the tracked model's "
                f"layers {self._modules}, got {_kinds(model, self.layers)}"
            )
        # capture draws nothing at random in eval mode, but a model may (a
        # VAE's sampling): the run's random stream is put back as it was
        state = get_rng_state()
        try:
            test, train = self._capture(net)
        finally:
            set_rng_state(state)
        for name, acts in test.items():
            if not np.all(np.isfinite(acts)):
                raise ValueError(
                    f"DriftTracker.record: epoch {epoch!r}: layer {name!r} has NaN "
                    "or Inf activations"
                )
            first = self._kept[0][name].width if self._kept else acts.shape[1]
            if acts.shape[1] != first:
                raise ValueError(
                    f"DriftTracker.record: layer {name!r} has {acts.shape[1]} "
                    f"features at epoch {epoch!r}, {first} at the first record"
                )
        labels = self._y_test[: self.samples]
        layers, kept = [], {}
        for name, acts in test.items():
            accuracy = None
            if train is not None:
                accuracy = linear_probe(
                    train[name],
                    self._y_train,
                    acts,
                    self._y_test,
                    **self._probe_options,
                )
            part = acts[: self.samples]
            kept[name] = Prepared("DriftTracker", name, part)
            layers.append(
                {
                    "name": name,
                    "probe_accuracy": accuracy,
                    "silhouette": silhouette(part, labels),
                    "class_distance_ratio": class_distance_ratio(part, labels),
                }
            )
        self._records.append({"epoch": epoch, "layers": layers})
        self._kept.append(kept)
        return self._row(len(self._records) - 1)

    def _capture(self, net: Module) -> tuple[dict, dict | None]:
        """The test activations, and the training ones when probing."""
        options = {"batch_size": self.batch_size}
        test = capture(net, self._x_test, self.layers, **options)
        train = None
        if self.probe:
            train = capture(net, self._x_train, self.layers, **options)
        return test, train

    @property
    def epochs(self) -> list[Any]:
        """The labels of the records, in the order they were taken."""
        return [row["epoch"] for row in self._records]

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every record: ``[{"epoch", "layers": [{"name", "probe_accuracy",
        "silhouette", "class_distance_ratio", "cka_to_first",
        "cka_to_previous", "cka_to_last"}, ...]}, ...]``.

        ``probe_accuracy`` is None without probes; ``cka_to_previous`` is
        None for the first record. A layer that is constant on the kept
        samples has NaN CKA figures.
        """
        return [self._row(index) for index in range(len(self._records))]

    def _row(self, index: int) -> dict[str, Any]:
        record = self._records[index]
        layers = []
        for layer in record["layers"]:
            name = layer["name"]
            previous = self._cka(index, index - 1, name) if index > 0 else None
            layers.append(
                {
                    **layer,
                    "cka_to_first": self._cka(index, 0, name),
                    "cka_to_previous": previous,
                    "cka_to_last": self._cka(index, len(self._records) - 1, name),
                }
            )
        return {"epoch": record["epoch"], "layers": layers}

    def cka_between(self, epoch_a: Any, epoch_b: Any) -> dict[str, float]:
        """Each layer's linear CKA between the records ``epoch_a`` and
        ``epoch_b``."""
        a, b = self._index(epoch_a), self._index(epoch_b)
        return {name: self._cka(a, b, name) for name in self._kept[a]}

    def _index(self, epoch: Any) -> int:
        for index, label in enumerate(self.epochs):
            if label == epoch:
                return index
        raise KeyError(
            f"DriftTracker: no record for epoch {epoch!r}; recorded: {self.epochs}"
        )

    def _cka(self, a: int, b: int, name: str) -> float:
        """The CKA of layer ``name`` between records ``a`` and ``b``, each pair
        worked out once (``history`` asks for the same pairs again)."""
        key = (min(a, b), max(a, b), name)
        if key not in self._pairs:
            self._pairs[key] = self._kept[a][name].cka(self._kept[b][name])
        return self._pairs[key]


def drift(
    models: Mapping[Any, Module],
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    layers: LayerSpec | list[LayerSpec] | None = None,
    **options: Any,
) -> list[dict[str, Any]]:
    """``DriftTracker.history`` for models saved along a run.

    Args:
        models: epoch to model (same architecture), in training order: e.g.
            ``{0: untrained, 5: after_5, 30: trained}``.
        x_train, y_train, x_test, y_test, layers: as for ``DriftTracker``.
        options: ``samples``, ``probe``, ``batch_size`` and the probe
            options, as for ``DriftTracker``.

    Returns:
        One record per model, in the mapping's order.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad import nn
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
        >>> x = torch.randn(20, 2)
        >>> y = (x[:, 0] > 0).long()
        >>> rows = drift({0: net}, x, y, x, y, probe=False)
        >>> [layer["name"] for layer in rows[0]["layers"]]
        ['input', '0', '1']
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError(
            "drift: `models` must be a non-empty dict from epoch to model, got "
            f"{type(models).__name__}"
        )
    first = next(iter(models.values()))
    tracker = DriftTracker(first, x_train, y_train, x_test, y_test, layers, **options)
    for epoch, model in models.items():
        if not isinstance(model, Module):
            raise TypeError(
                f"drift: `models[{epoch!r}]` must be an nn.Module, got "
                f"{type(model).__name__}"
            )
        tracker.record(epoch, model)
    return tracker.history


def _kinds(model: Module, layers: Any) -> list[tuple[str, str]]:
    """The measured modules' paths and class names."""
    return [(path, type(m).__name__) for path, m in select_modules(model, layers)]


def _check_label(epoch: Any) -> None:
    """An epoch label: an integer, a finite float or a string."""
    if isinstance(epoch, str):
        return
    if isinstance(epoch, (int, np.integer)) and not isinstance(epoch, bool):
        return
    if isinstance(epoch, (float, np.floating)) and np.isfinite(epoch):
        return
    raise ValueError(
        f"DriftTracker.record: `epoch` must be an integer, a finite number or a "
        f"string, got {epoch!r}"
    )


def _rows(name: str, value: Any) -> Tensor | np.ndarray:
    ordered_inputs("DriftTracker", name, value)
    if value.ndim == 0 or len(value) < 2:
        raise ValueError(
            f"DriftTracker: `{name}` must hold at least 2 samples, got shape "
            f"{tuple(value.shape)}"
        )
    return value
