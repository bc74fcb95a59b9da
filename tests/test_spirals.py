"""The two-spirals dataset and ``plaingrad train spirals``.

The points are checked against the geometry they claim (without noise each
lies on its class's arm, ``angle = radius * t_max + k * pi``), against
scikit-learn (a logistic regression on the raw coordinates stays below 0.7,
while a nearest-neighbour classifier shows the classes can be told apart),
and the command's run is rebuilt from its folder and scored again.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from plaingrad import nn
from plaingrad.cli import main
from plaingrad.datasets import DigitsSplit, load_spirals, spirals
from plaingrad.io import load_safetensors


def _numpy(split: DigitsSplit) -> list[np.ndarray]:
    return [part.numpy() for part in split]


# ------------------------------------------------------------------ the points


def test_spirals_shapes_dtypes_and_balanced_classes():
    X, y = spirals()

    assert tuple(X.shape) == (1000, 2) and str(X.dtype) == "plaingrad.float32"
    assert tuple(y.shape) == (1000,) and str(y.dtype) == "plaingrad.int64"
    assert np.bincount(y.numpy()).tolist() == [500, 500]
    assert np.bincount(spirals(n=7)[1].numpy()).tolist() == [4, 3]


def test_rows_come_shuffled_not_grouped_by_class():
    _, y = spirals(n=200)
    labels = y.numpy()

    # Grouped rows would change class once; shuffled ones change about 100 times.
    changes = int(np.sum(labels[1:] != labels[:-1]))
    assert changes > 60


@pytest.mark.parametrize("turns", [0.5, 1.5, 3.0])
def test_without_noise_every_point_lies_on_its_arm(turns: float):
    X, y = spirals(n=400, noise=0.0, turns=turns, seed=3)
    points, labels = X.numpy().astype(np.float64), y.numpy()

    radius = np.hypot(points[:, 0], points[:, 1])
    angle = np.arctan2(points[:, 1], points[:, 0])
    # Class k: radius t / t_max, angle t + k pi, so angle = radius t_max + k pi
    # up to whole turns; compare on the unit circle to ignore those.
    expected = radius * turns * 2 * math.pi + labels * math.pi
    gap = np.abs(np.exp(1j * angle) - np.exp(1j * expected))
    assert radius.max() <= 1.0 + 1e-6
    assert radius.max() > 0.95 and radius.min() < 0.05  # the whole arm is used
    assert gap.max() < 1e-4


def test_noise_is_gaussian_of_the_given_spread():
    clean, _ = spirals(n=20_000, noise=0.0, seed=4)
    noisy, _ = spirals(n=20_000, noise=0.1, seed=4)

    offsets = noisy.numpy().astype(np.float64) - clean.numpy()
    # the same seed draws the same arm positions; only the noise is added
    assert abs(offsets.std() - 0.1) < 0.002
    assert abs(offsets.mean()) < 0.002


def test_same_seed_same_points_other_seed_other_points():
    a, b, c = spirals(seed=1), spirals(seed=1), spirals(seed=2)

    assert np.array_equal(a[0].numpy(), b[0].numpy())
    assert np.array_equal(a[1].numpy(), b[1].numpy())
    assert not np.allclose(a[0].numpy(), c[0].numpy())


def test_load_spirals_splits_80_20_per_class():
    x_train, y_train, x_test, y_test = _numpy(load_spirals())

    assert x_train.shape == (800, 2) and x_test.shape == (200, 2)
    assert np.bincount(y_train).tolist() == [400, 400]
    assert np.bincount(y_test).tolist() == [100, 100]
    # the two sets together are the dataset's points, each once
    X, _ = spirals()
    both = np.concatenate([x_train, x_test])
    assert np.array_equal(np.sort(both, axis=0), np.sort(X.numpy(), axis=0))


def test_a_line_cannot_separate_the_spirals_but_neighbours_can():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    x_train, y_train, x_test, y_test = _numpy(load_spirals())

    line = LogisticRegression().fit(x_train, y_train).score(x_test, y_test)
    neighbours = KNeighborsClassifier(5).fit(x_train, y_train).score(x_test, y_test)

    assert line < 0.7
    assert neighbours > 0.95


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 1}, ValueError, "`n` must be at least 2"),
        ({"n": 10.0}, TypeError, "`n` must be an integer"),
        ({"noise": -0.1}, ValueError, "`noise` must be 0 or more, got -0.1"),
        ({"noise": math.nan}, ValueError, "`noise` must be 0 or more"),
        ({"turns": 0}, ValueError, "`turns` must be greater than 0, got 0"),
        ({"turns": "2"}, TypeError, "`turns` must be a number"),
    ],
)
def test_spirals_rejects_bad_arguments(kwargs: dict, error: type, message: str):
    with pytest.raises(error, match=re.escape(f"spirals: {message}")):
        spirals(**kwargs)


def test_load_spirals_rejects_a_bad_test_size():
    with pytest.raises(ValueError, match="strictly between 0 and 1, got 1.0"):
        load_spirals(test_size=1.0)
    with pytest.raises(ValueError, match="leaves no test point"):
        load_spirals(n=4, test_size=0.2)


# ----------------------------------------------------- plaingrad train spirals


@pytest.fixture(scope="module")
def spirals_run(tmp_path_factory) -> tuple[str, Path]:
    """``plaingrad train spirals``, every setting default but the folder."""
    folder = tmp_path_factory.mktemp("spirals") / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = main(["train", "spirals", "--quiet", "--output", str(folder)])
    assert status == 0
    return out.getvalue(), folder


def test_train_spirals_reaches_095_and_says_so(spirals_run):
    out, folder = spirals_run

    assert out.startswith("plaingrad train spirals: MLP 2-64-64-2 (relu)")
    assert "Trained on 800 points in" in out
    match = re.search(r"^Test accuracy: (\d\.\d{4})$", out, re.MULTILINE)
    assert match, out
    assert float(match.group(1)) > 0.95
    metrics = json.loads((folder / "metrics.json").read_text())
    assert round(metrics["test_accuracy"], 4) == float(match.group(1))
    assert (metrics["n_train"], metrics["n_test"]) == (800, 200)


def test_train_spirals_run_folder_rebuilds_the_model(spirals_run):
    _, folder = spirals_run
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())

    assert config["dataset"] == "spirals"
    assert config["layer_sizes"] == [2, 64, 64, 2]
    assert (config["test_size"], config["split_seed"]) == (0.2, 0)
    # Rebuilt with plain nn calls and scored on the test set again.
    model = nn.Sequential(
        nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )
    model.load_state_dict(load_safetensors(folder / "model.safetensors"))
    data = load_spirals()
    predicted = model(data.x_test).detach().numpy().argmax(axis=1)
    accuracy = float(np.mean(predicted == data.y_test.numpy()))
    assert accuracy == pytest.approx(metrics["test_accuracy"])


def test_train_help_names_spirals(capsys):
    status = main(["train", "--help"])

    assert status == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "spirals: two interleaved spirals" in text
    assert "64 64 for spirals" in text
