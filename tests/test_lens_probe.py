"""Linear probes (``plaingrad.lens.linear_probe`` and ``probe_layers``).

The probe's accuracy is checked against scikit-learn's ``LogisticRegression``
fitted to the same standardised features with the same L2 penalty, against
known answers on data a line separates, and for the invariances a probe on
standardised features must have. Then the issue's two demonstrations: on the
digits MLP the last hidden layer's probe after training beats the same layer
at initialisation, and on the spirals the raw input's probe stays below 0.7
while a trained MLP's last hidden layer exceeds 0.95.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import plaingrad as pg
from plaingrad import nn
from plaingrad.cli.train import DEFAULTS, RunConfig, build_mlp, train_classifier
from plaingrad.datasets import load_spirals
from plaingrad.lens import PROBE_SETTINGS, linear_probe, probe_layers


class _Silent:
    """An EpochProgress that shows nothing."""

    def update(self, epoch: int, values: dict) -> None:
        pass


def _blobs(seed: int, n: int = 300, classes: int = 3, spread: float = 1.5):
    """Gaussian blobs in 5-D around random centres, split in half."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0.0, 2.0, (classes, 5))
    labels = rng.integers(0, classes, n)
    points = centres[labels] + spread * rng.standard_normal((n, 5))
    half = n // 2
    return points[:half], labels[:half], points[half:], labels[half:]


def _sklearn_probe(x_train, y_train, x_test, y_test, weight_decay: float) -> float:
    """scikit-learn's multinomial logistic regression on the same standardised
    features; its C = 1 / (weight_decay * n) makes the same objective as the
    probe's mean cross-entropy + weight_decay / 2 * ||W||**2."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std[std == 0] = 1.0
    model = LogisticRegression(C=1.0 / (weight_decay * len(x_train)), max_iter=5000)
    model.fit((x_train - mean) / std, y_train)
    return float(model.score((x_test - mean) / std, y_test))


def _train(dataset: str, data, sizes: list[int], epochs: int, seed: int = 0):
    """An MLP trained as ``plaingrad train`` trains it, and the same
    architecture at the same seed, untrained."""
    settings = DEFAULTS[dataset]
    config = RunConfig(
        dataset=dataset,
        layer_sizes=sizes,
        activation="relu",
        loss="cross_entropy",
        optimizer="adam",
        lr=settings["lr"],
        momentum=None,
        epochs=epochs,
        batch_size=settings["batch_size"],
        seed=seed,
    )
    trained = train_classifier(config, _Silent(), data)["model"]
    pg.manual_seed(seed)  # what train_classifier does before building its model
    return trained, build_mlp(sizes)


# ----------------------------------------------------------------- linear_probe


def test_probe_matches_scikit_learn_on_the_digits():
    pytest.importorskip("sklearn")
    data = pg.datasets.load_digits()
    x_train, y_train, x_test, y_test = (part.numpy() for part in data)
    wd = PROBE_SETTINGS["weight_decay"]

    ours = linear_probe(x_train, y_train, x_test, y_test)
    theirs = _sklearn_probe(x_train, y_train, x_test, y_test, wd)

    assert abs(ours - theirs) <= 0.02, (ours, theirs)
    assert ours > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_probe_matches_scikit_learn_on_overlapping_blobs(seed: int):
    pytest.importorskip("sklearn")
    x_train, y_train, x_test, y_test = _blobs(seed)

    ours = linear_probe(x_train, y_train, x_test, y_test, weight_decay=1e-2)
    theirs = _sklearn_probe(x_train, y_train, x_test, y_test, 1e-2)

    assert abs(ours - theirs) <= 0.02, (ours, theirs)
    assert 0.4 < ours < 1.0  # overlapping: neither chance nor perfect


def test_probe_separates_what_a_line_separates_whatever_the_labels():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 2))
    labels = np.where(x[:, 0] + 0.5 * x[:, 1] > 0.1, 7, 3)  # not 0..k-1

    accuracy = linear_probe(x[:150], labels[:150], x[150:], labels[150:])

    assert accuracy == 1.0


def test_a_test_label_never_seen_in_training_counts_as_a_miss():
    x = np.array([[0.0], [1.0], [5.0], [6.0]])
    test = np.array([[0.5], [5.5], [9.0], [10.0]])

    accuracy = linear_probe(x, [0, 0, 1, 1], test, [0, 1, 2, 2])

    assert accuracy == 0.5


def test_probe_ignores_the_scale_and_offset_of_each_feature():
    x_train, y_train, x_test, y_test = _blobs(4)
    scale = np.array([1e-3, 1.0, 1e3, 5.0, 1e2])
    offset = np.array([100.0, -3.0, 0.0, 1e4, 7.0])

    plain = linear_probe(x_train, y_train, x_test, y_test)
    moved = linear_probe(
        x_train * scale + offset, y_train, x_test * scale + offset, y_test
    )

    assert moved == pytest.approx(plain, abs=1 / len(y_test))


def test_a_constant_feature_does_not_break_the_probe():
    x_train, y_train, x_test, y_test = _blobs(5)
    constant = np.full((len(x_train), 1), 4.0)

    accuracy = linear_probe(
        np.hstack([x_train, constant]),
        y_train,
        np.hstack([x_test, np.full((len(x_test), 1), 4.0)]),
        y_test,
    )

    assert accuracy == linear_probe(x_train, y_train, x_test, y_test)


def test_probe_takes_tensors_is_repeatable_and_leaves_the_global_stream():
    x_train, y_train, x_test, y_test = _blobs(6)
    pg.manual_seed(123)
    state = pg.get_rng_state().numpy().copy()

    first = linear_probe(
        pg.tensor(x_train), pg.tensor(y_train), pg.tensor(x_test), pg.tensor(y_test)
    )
    again = linear_probe(x_train, y_train, x_test, y_test)

    assert first == again
    assert np.array_equal(pg.get_rng_state().numpy(), state)


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"test_features": np.zeros((4, 3))}, ValueError, "has 2 features per"),
        ({"train_labels": [0, 1, 0]}, ValueError, "one label per sample (4)"),
        ({"train_labels": [1, 1, 1, 1]}, ValueError, "at least 2 classes, got 1"),
        ({"train_labels": [0.0, 1.0, 0.0, 1.0]}, TypeError, "integer class labels"),
        ({"train_features": np.full((4, 2), np.nan)}, ValueError, "NaN or Inf"),
        ({"epochs": 0}, ValueError, "`epochs` must be a positive integer, got 0"),
        ({"lr": -1.0}, ValueError, "`lr` must be greater than 0, got -1.0"),
        ({"weight_decay": -1}, ValueError, "`weight_decay` must be 0 or more"),
    ],
)
def test_probe_rejects_bad_input(change: dict, error: type, message: str):
    args = {
        "train_features": np.arange(8.0).reshape(4, 2),
        "train_labels": [0, 1, 0, 1],
        "test_features": np.zeros((2, 2)),
        "test_labels": [0, 1],
    }
    args.update(change)
    options = {k: args.pop(k) for k in ("epochs", "lr", "weight_decay") if k in args}

    with pytest.raises(error, match=re.escape(message)):
        linear_probe(*args.values(), **options)


# ----------------------------------------------------------------- probe_layers


def test_probe_layers_lists_the_input_then_every_layer_in_order():
    x_train, y_train, x_test, y_test = _blobs(7)
    pg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    other = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    x_train, x_test = x_train.astype(np.float32), x_test.astype(np.float32)

    rows = probe_layers(model, other, x_train, y_train, x_test, y_test, epochs=100)
    alone = probe_layers(model, None, x_train, y_train, x_test, y_test, epochs=100)

    assert [row["name"] for row in rows] == ["input", "0", "1", "2"]
    assert set(rows[0]) == {"name", "probe_accuracy", "probe_accuracy_untrained"}
    # the raw input is the same for both models, and probed as linear_probe does
    raw = linear_probe(x_train, y_train, x_test, y_test, epochs=100)
    assert rows[0]["probe_accuracy"] == rows[0]["probe_accuracy_untrained"] == raw
    assert [r["probe_accuracy"] for r in alone] == [r["probe_accuracy"] for r in rows]
    assert all(r["probe_accuracy_untrained"] is None for r in alone)


def test_probe_layers_refuses_models_with_other_layers():
    x_train, y_train, x_test, y_test = _blobs(8)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    other = nn.Sequential(nn.Linear(5, 3))

    with pytest.raises(ValueError, match="must have the same layers"):
        probe_layers(model, other, x_train, y_train, x_test, y_test)


# ------------------------------------------------------------ the demonstrations


def test_training_makes_the_digits_last_hidden_layer_more_readable():
    pytest.importorskip("sklearn")
    data = pg.datasets.load_digits()
    trained, untrained = _train("digits", data, [64, 128, 64, 10], epochs=30)

    rows = probe_layers(trained, untrained, *data, layers="3")

    assert [row["name"] for row in rows] == ["input", "3"]  # 3: the last ReLU
    hidden = rows[1]
    assert hidden["probe_accuracy"] > 0.95
    assert hidden["probe_accuracy"] >= hidden["probe_accuracy_untrained"] + 0.01


def test_spirals_become_linearly_separable_only_in_the_hidden_layers():
    data = load_spirals()
    trained, untrained = _train("spirals", data, [2, 64, 64, 2], epochs=40)

    rows = probe_layers(trained, untrained, *data)

    by_name = {row["name"]: row for row in rows}
    assert list(by_name) == ["input", "0", "1", "2", "3", "4"]
    assert by_name["input"]["probe_accuracy"] < 0.7
    assert by_name["3"]["probe_accuracy"] > 0.95  # the last hidden layer
    # The first Linear is a linear map of the input: no more readable than it.
    assert by_name["0"]["probe_accuracy"] < 0.7
