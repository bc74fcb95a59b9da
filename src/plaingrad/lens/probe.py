"""Linear probes: how much of the label a layer's activations make linearly
readable.

A probe is a multinomial logistic regression fitted to one layer's activations
on the training set and scored on the test set. A high accuracy says that the
classes are (nearly) linearly separable in that layer; comparing it with the
same layer of the same architecture at initialisation shows what training
added, beyond what random features already give.

The probe is trained with plaingrad itself, and always the same way, so that
the numbers of two layers (or two models) can be compared:

- features are standardised with the training set's mean and standard
  deviation (a constant feature becomes 0), and the test set with the same
  statistics;
- the model is one ``nn.Linear(features, classes)``, its weight drawn from
  ``N(0, 0.01**2)`` by a generator seeded with ``seed`` and its bias 0; the
  global random stream is left as it was;
- the loss is the mean cross-entropy over the whole training set (full batch,
  no shuffling), minimised by ``epochs`` steps of Adam at ``lr``, with an L2
  penalty ``weight_decay / 2 * ||weight||**2`` on the weight only (the bias
  is not penalised, as in scikit-learn's ``LogisticRegression``, whose ``C``
  is ``1 / (weight_decay * n_train)`` for the same objective).

The problem is convex, so with the defaults (``PROBE_SETTINGS``) the probe
ends near the same optimum whatever the seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..creation import from_numpy
from ..nn.module import Module
from ..optim import Adam
from ..random import Generator, get_rng_state, set_rng_state
from ._common import as_matrix, integer_labels, ordered_inputs
from .capture import LayerSpec, capture

__all__ = ["PROBE_SETTINGS", "linear_probe", "probe_layers"]

# The probe's defaults: full-batch Adam steps, its learning rate, and the L2
# penalty on the weight. 300 steps at 0.05 bring the probe to within a
# point of scikit-learn's exact optimum on the digits and their layers.
PROBE_SETTINGS: dict[str, float] = {"epochs": 300, "lr": 0.05, "weight_decay": 1e-3}

# The standard deviation of the probe's initial weights.
_INIT_STD = 0.01


def _check_settings(epochs: Any, lr: Any, weight_decay: Any) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(
            f"linear_probe: `epochs` must be a positive integer, got {epochs!r}"
        )
    if not isinstance(lr, (int, float)) or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"linear_probe: `lr` must be greater than 0, got {lr!r}")
    if (
        not isinstance(weight_decay, (int, float))
        or not np.isfinite(weight_decay)
        or weight_decay < 0
    ):
        raise ValueError(
            f"linear_probe: `weight_decay` must be 0 or more, got {weight_decay!r}"
        )


def _probe_model(features: int, classes: int, seed: int) -> nn.Linear:
    """``nn.Linear(features, classes)`` with the probe's own seeded start."""
    # nn.Linear draws its default weights from the global stream; the probe
    # replaces them, so it puts that stream back as the caller had it.
    state = get_rng_state()
    try:
        model = nn.Linear(features, classes)
    finally:
        set_rng_state(state)
    nn.init.normal_(model.weight, 0.0, _INIT_STD, Generator().manual_seed(seed))
    nn.init.zeros_(model.bias)
    return model


def linear_probe(
    train_features: Any,
    train_labels: Any,
    test_features: Any,
    test_labels: Any,
    *,
    epochs: int = int(PROBE_SETTINGS["epochs"]),
    lr: float = PROBE_SETTINGS["lr"],
    weight_decay: float = PROBE_SETTINGS["weight_decay"],
    seed: int = 0,
) -> float:
    """The test accuracy of a logistic-regression probe on some features.

    The probe is fitted with plaingrad on the standardised training features,
    as the module docstring describes, and predicts the class of highest
    logit for each test sample.

    Args:
        train_features: ``(n_train, ...)`` Tensor or array; dimensions after
            the first are flattened.
        train_labels: ``(n_train,)`` integer class labels, at least two
            distinct ones.
        test_features: ``(n_test, ...)``, with as many features as the
            training set.
        test_labels: ``(n_test,)`` integer labels; a label the training set
            never shows counts as a miss.
        epochs: full-batch Adam steps.
        lr: Adam's learning rate.
        weight_decay: the L2 penalty on the probe's weight (not its bias).
        seed: seeds the probe's initial weights.

    Returns:
        The fraction of test samples classified right, in [0, 1].

    Raises:
        ValueError: for features with NaN or Inf, feature counts that differ,
            labels that do not match their features, fewer than two classes,
            or a bad ``epochs``, ``lr`` or ``weight_decay``.
        TypeError: for labels that are not integers.

    Example:
        >>> import numpy as np
        >>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
        >>> linear_probe(x, [0, 0, 1, 1], np.array([[0.2], [2.8]]), [0, 1])
        1.0
    """
    _check_settings(epochs, lr, weight_decay)
    x_train = as_matrix("linear_probe", "train_features", train_features)
    x_test = as_matrix("linear_probe", "test_features", test_features)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(
            f"linear_probe: `train_features` has {x_train.shape[1]} features per "
            f"sample but `test_features` has {x_test.shape[1]}"
        )
    y_train = integer_labels("linear_probe", "train_labels", train_labels, len(x_train))
    y_test = integer_labels("linear_probe", "test_labels", test_labels, len(x_test))
    classes, codes = np.unique(y_train, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(
            f"linear_probe: `train_labels` must hold at least 2 classes, got "
            f"{len(classes)}"
        )

    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0  # a constant feature: 0 after centring, whatever the scale
    inputs = from_numpy(((x_train - mean) / std).astype(np.float32))
    targets = from_numpy(codes.reshape(-1).astype(np.int64))

    model = _probe_model(x_train.shape[1], len(classes), seed)
    optimizer = Adam(
        [
            {"params": [model.weight], "weight_decay": weight_decay},
            {"params": [model.bias], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(inputs), targets)
        loss.backward()
        optimizer.step()

    with no_grad():
        test_inputs = from_numpy(((x_test - mean) / std).astype(np.float32))
        predicted = classes[model(test_inputs).argmax(dim=1).numpy()]
    return float(np.mean(predicted == y_test))


def probe_layers(
    model: Module,
    untrained_model: Module | None,
    x_train: Any,
    y_train: Any,
    x_test: Any,
    y_test: Any,
    layers: LayerSpec | list[LayerSpec] | None = None,
    *,
    batch_size: int = 256,
    epochs: int = int(PROBE_SETTINGS["epochs"]),
    lr: float = PROBE_SETTINGS["lr"],
    weight_decay: float = PROBE_SETTINGS["weight_decay"],
    seed: int = 0,
) -> list[dict[str, Any]]:
    """A linear probe on every captured layer, trained and untrained.

    Both models run through ``capture`` on the training and the test inputs;
    each layer's activations then get a ``linear_probe`` of their own. The
    raw input is the same for both models, so its untrained accuracy is its
    accuracy.

    Args:
        model: the trained model.
        untrained_model: the same architecture at initialisation (same seed,
            no training), or None to skip the comparison.
        x_train, y_train: the inputs the probes are fitted on, and their
            integer labels.
        x_test, y_test: the inputs the probes are scored on, and their labels.
        layers: which modules to probe (see ``capture``; default every leaf).
        batch_size: samples per forward pass of ``capture``.
        epochs, lr, weight_decay, seed: the probe's settings (see
            ``linear_probe``).

    Returns:
        One dict per layer, the raw input first and then the layers in the
        order they run: ``{"name", "probe_accuracy",
        "probe_accuracy_untrained"}``, the last None without an
        ``untrained_model``.

    Raises:
        ValueError: when the two models do not have the same layers, or as
            ``capture`` and ``linear_probe`` raise.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad import nn
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU())
        >>> x = torch.randn(40, 2)
        >>> y = (x[:, 0] > 0).long()
        >>> rows = probe_layers(net, None, x, y, x, y, epochs=50)
        >>> [row["name"] for row in rows]
        ['input', '0', '1']
    """
    options: dict[str, Any] = {
        "epochs": epochs,
        "lr": lr,
        "weight_decay": weight_decay,
        "seed": seed,
    }
    _check_settings(epochs, lr, weight_decay)
    for name, given in (("x_train", x_train), ("x_test", x_test)):
        ordered_inputs("probe_layers", name, given)

    def activations(net: Module, inputs: Any) -> dict[str, np.ndarray]:
        return capture(net, inputs, layers, batch_size=batch_size)

    trained = (activations(model, x_train), activations(model, x_test))
    untrained = None
    if untrained_model is not None:
        untrained = (
            activations(untrained_model, x_train),
            activations(untrained_model, x_test),
        )
        if list(untrained[0]) != list(trained[0]):
            raise ValueError(
                f"probe_layers: `model` and `untrained_model` must have the same "
                f"layers; `model` records {list(trained[0])}, `untrained_model` "
                f"{list(untrained[0])}"
            )

    rows = []
    for name in trained[0]:
        accuracy = linear_probe(
            trained[0][name], y_train, trained[1][name], y_test, **options
        )
        before = None
        if name == "input":
            before = accuracy if untrained is not None else None
        elif untrained is not None:
            before = linear_probe(
                untrained[0][name], y_train, untrained[1][name], y_test, **options
            )
        rows.append(
            {
                "name": name,
                "probe_accuracy": accuracy,
                "probe_accuracy_untrained": before,
            }
        )
    return rows
