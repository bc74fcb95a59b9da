"""The plots of plaingrad.explain.plots hold exactly the records they draw.

A small MLP trains for a few SGD steps on random data with a
GradientMonitor attached; each figure's artists (line data, image array,
reference lines) are compared with the monitor's history and with the
thresholds of ``verdicts``. The PNG files are read back with matplotlib.
Whether matplotlib stays unimported, and pyplot untouched, is checked in
fresh interpreters.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

import plaingrad as torch
from plaingrad import nn
from plaingrad.datasets import MissingExtraError
from plaingrad.explain import GradientMonitor
from plaingrad.explain.verdicts import (
    UPDATE_RATIO_EXPLODING,
    UPDATE_RATIO_HIGH,
    UPDATE_RATIO_LOW,
)

STEPS = 12
HISTORY = [
    {
        "epoch": 1,
        "train_loss": 1.9,
        "train_accuracy": 0.41,
        "test_accuracy": 0.52,
        "lr": 1e-3,
    },
    {
        "epoch": 2,
        "train_loss": 0.8,
        "train_accuracy": 0.77,
        "test_accuracy": 0.74,
        "lr": 1e-3,
    },
    {
        "epoch": 3,
        "train_loss": 0.35,
        "train_accuracy": 0.9,
        "test_accuracy": 0.86,
        "lr": 5e-4,
    },
]


@pytest.fixture(scope="module")
def plots():
    pytest.importorskip("matplotlib")
    from plaingrad.explain import plots

    return plots


@pytest.fixture(scope="module")
def monitor():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    watch = GradientMonitor(model)
    criterion = nn.CrossEntropyLoss()
    for _ in range(STEPS):
        inputs, labels = torch.randn(32, 6), torch.randint(0, 3, (32,))
        loss = criterion(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        watch.step(loss)
    return watch


def lines_by_label(axes):
    return {line.get_label(): line for line in axes.get_lines()}


# ----------------------------------------------------------- plot_metrics


def test_metrics_draws_loss_and_accuracies_per_epoch(plots):
    figure = plots.plot_metrics(HISTORY)
    loss_axes, accuracy_axes = figure.axes
    epochs = [1.0, 2.0, 3.0]

    assert loss_axes.get_title() == "Loss"
    assert (loss_axes.get_xlabel(), loss_axes.get_ylabel()) == ("epoch", "loss")
    loss = lines_by_label(loss_axes)["train loss"]
    assert loss.get_xdata().tolist() == epochs
    assert loss.get_ydata().tolist() == [1.9, 0.8, 0.35]

    assert accuracy_axes.get_title() == "Accuracy"
    assert accuracy_axes.get_ylabel() == "accuracy"
    assert accuracy_axes.get_ylim() == (0.0, 1.0)
    lines = lines_by_label(accuracy_axes)
    assert lines["train accuracy"].get_ydata().tolist() == [0.41, 0.77, 0.9]
    assert lines["test accuracy"].get_ydata().tolist() == [0.52, 0.74, 0.86]
    assert lines["test accuracy"].get_xdata().tolist() == epochs


def test_metrics_plots_what_plaingrad_train_wrote(plots, tmp_path, capsys):
    pytest.importorskip("sklearn")
    from plaingrad.cli import main

    folder = tmp_path / "run"
    flags = ["--epochs", "3", "--hidden", "16", "--quiet", "--output", str(folder)]
    assert main(["train", "digits", *flags]) == 0, capsys.readouterr().err
    metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))

    figure = plots.plot_metrics(metrics["history"], folder / "metrics.png")
    loss_axes, accuracy_axes = figure.axes
    loss = lines_by_label(loss_axes)["train loss"]
    assert loss.get_xdata().tolist() == [1.0, 2.0, 3.0]
    assert loss.get_ydata().tolist() == [r["train_loss"] for r in metrics["history"]]
    test = lines_by_label(accuracy_axes)["test accuracy"]
    assert test.get_ydata()[-1] == metrics["test_accuracy"]
    assert (folder / "metrics.png").stat().st_size > 0


def test_metrics_accepts_the_whole_metrics_json(plots):
    figure = plots.plot_metrics({"test_accuracy": 0.86, "history": HISTORY})
    loss = lines_by_label(figure.axes[0])["train loss"]
    assert loss.get_ydata().tolist() == [1.9, 0.8, 0.35]


def test_metrics_without_accuracies_has_only_the_loss(plots):
    history = [{"epoch": e, "train_loss": 1.0 / e} for e in (1, 2)]
    figure = plots.plot_metrics(history)
    assert [axes.get_title() for axes in figure.axes] == ["Loss"]


def test_metrics_lays_the_step_losses_over_the_epochs(plots, monitor):
    losses = monitor.history["loss"]
    figure = plots.plot_metrics(HISTORY, steps_loss=losses)
    steps = lines_by_label(figure.axes[0])["loss per step"]
    np.testing.assert_array_equal(steps.get_ydata(), losses)
    # 12 steps over epochs 1..3: 4 a epoch, the 4th step at 1, the 12th at 3.
    np.testing.assert_allclose(steps.get_xdata(), np.arange(1, STEPS + 1) / 4)


def test_metrics_step_losses_without_a_value_are_gaps(plots):
    figure = plots.plot_metrics(HISTORY, steps_loss=[2.0, None, 1.0])
    steps = lines_by_label(figure.axes[0])["loss per step"]
    assert steps.get_ydata()[0] == 2.0 and math.isnan(steps.get_ydata()[1])


@pytest.mark.parametrize(
    ("history", "error", "words"),
    [
        ([], ValueError, "`history` is empty"),
        ({"epoch": 1}, TypeError, "`history` must be the list"),
        ("metrics.json", TypeError, "got str"),
        ([1.5], TypeError, "`history[0]` must be a dict"),
        ([{"epoch": 1, "loss": 0.3}], ValueError, "no 'train_loss' key"),
    ],
)
def test_metrics_rejects_bad_history(plots, history, error, words):
    with pytest.raises(error, match="^plot_metrics: ") as caught:
        plots.plot_metrics(history)
    assert words in str(caught.value)


def test_metrics_rejects_bad_steps_loss(plots):
    with pytest.raises(ValueError, match=r"plot_metrics: `steps_loss` is empty"):
        plots.plot_metrics(HISTORY, steps_loss=[])
    with pytest.raises(TypeError, match=r"plot_metrics: `steps_loss` must be"):
        plots.plot_metrics(HISTORY, steps_loss=3.0)


# ----------------------------------------------------------- heatmap


def test_heatmap_is_log10_of_the_gradient_norms_in_layer_order(plots, monitor):
    figure = plots.plot_gradient_heatmap(monitor)
    axes = figure.axes[0]
    (image,) = axes.images
    norms = np.array([monitor.history["grad_norm"][n] for n in monitor.layers])
    assert norms.shape == (3, STEPS) and (norms > 0).all()

    data = image.get_array()
    assert not np.ma.getmaskarray(data).any()
    np.testing.assert_allclose(np.ma.getdata(data), np.log10(norms), rtol=1e-12)
    assert image.get_clim() == pytest.approx(
        (np.log10(norms).min(), np.log10(norms).max())
    )
    assert [t.get_text() for t in axes.get_yticklabels()] == ["0", "2", "4"]
    assert axes.get_xlabel() == "step" and axes.get_ylabel() == "layer"
    assert "Gradient norm" in axes.get_title()
    colorbar = figure.axes[1]
    assert colorbar.get_ylabel() == "log10 gradient norm"


def test_heatmap_masks_zero_and_marks_nonfinite(plots):
    history = {
        "grad_norm": {
            "fc1": [1e-3, 0.0, 1e-2, math.nan],
            "fc2": [1.0, 10.0, math.inf, 100.0],
        }
    }
    figure = plots.plot_gradient_heatmap(history)
    axes = figure.axes[0]
    data = axes.images[0].get_array()
    mask = [[False, True, False, True], [False, False, True, False]]
    assert np.ma.getmaskarray(data).tolist() == mask
    assert data[0, 0] == pytest.approx(-3.0) and data[1, 3] == pytest.approx(2.0)
    assert axes.images[0].get_clim() == pytest.approx((-3.0, 2.0))
    # The red crosses sit on the NaN (row 0, step 3) and the Inf (row 1, step 2);
    # the zero is only greyed.
    (crosses,) = axes.collections
    assert sorted(map(tuple, crosses.get_offsets().tolist())) == [(2, 1), (3, 0)]
    assert [t.get_text() for t in axes.get_yticklabels()] == ["fc1", "fc2"]


# ----------------------------------------------------------- update ratios


def test_update_ratio_lines_are_the_monitor_records(plots, monitor):
    figure = plots.plot_update_ratios(monitor.history)
    axes = figure.axes[0]
    lines = lines_by_label(axes)
    assert axes.get_yscale() == "log"
    for name in monitor.layers:
        line = lines[name]
        np.testing.assert_array_equal(
            line.get_ydata(), monitor.history["update_ratio"][name]
        )
        np.testing.assert_array_equal(line.get_xdata(), np.arange(STEPS))
    assert axes.get_xlabel() == "step"
    assert "update" in axes.get_title().lower()


def test_update_ratios_draw_the_verdict_thresholds(plots, monitor):
    axes = plots.plot_update_ratios(monitor).axes[0]
    levels = {}
    for line in axes.get_lines():
        y = np.asarray(line.get_ydata(), dtype=float)
        if line.get_linestyle() == "--":
            assert y[0] == y[1]
            levels[float(y[0])] = line.get_label()
    assert set(levels) == {UPDATE_RATIO_LOW, UPDATE_RATIO_HIGH, UPDATE_RATIO_EXPLODING}
    assert set(levels) == {1e-5, 0.1, 1.0}  # as documented in docs/verdicts.md
    assert "too low" in levels[UPDATE_RATIO_LOW]
    assert "too high" in levels[UPDATE_RATIO_HIGH]
    assert "exploding" in levels[UPDATE_RATIO_EXPLODING]
    low, high = axes.get_ylim()
    assert low < UPDATE_RATIO_LOW and high > UPDATE_RATIO_EXPLODING


def test_update_ratio_of_a_frozen_layer_says_so(plots):
    history = {"update_ratio": {"0": [0.0, 0.0], "2": [1e-3, 2e-3]}}
    labels = list(lines_by_label(plots.plot_update_ratios(history).axes[0]))
    assert labels[:2] == ["0 (0 at every step)", "2"]


# ----------------------------------------------------------- all three


@pytest.mark.parametrize("name", ["plot_gradient_heatmap", "plot_update_ratios"])
@pytest.mark.parametrize(
    ("given", "error", "words"),
    [
        (42, TypeError, "must be a GradientMonitor or its `history` dict"),
        ({"loss": []}, TypeError, "got dict"),
        ({"grad_norm": {}, "update_ratio": {}}, ValueError, "no layers"),
        (
            {"grad_norm": {"0": []}, "update_ratio": {"0": []}},
            ValueError,
            "no steps recorded",
        ),
        (
            {"grad_norm": {"0": [1.0], "2": []}, "update_ratio": {"0": [1.0], "2": []}},
            ValueError,
            "one value per step",
        ),
    ],
)
def test_monitor_plots_reject_bad_input(plots, name, given, error, words):
    with pytest.raises(error) as caught:
        getattr(plots, name)(given)
    message = str(caught.value)
    assert message.startswith(f"{name}: `monitor_or_history`")
    assert words in message


def test_a_monitor_without_steps_is_rejected(plots):
    watch = GradientMonitor(nn.Linear(2, 1))
    with pytest.raises(ValueError, match="plot_update_ratios: .* no steps recorded"):
        plots.plot_update_ratios(watch)


def test_figures_are_saved_as_png(plots, monitor, tmp_path):
    from matplotlib.image import imread

    made = {
        "metrics.png": plots.plot_metrics(HISTORY, tmp_path / "metrics.png"),
        "heat.png": plots.plot_gradient_heatmap(monitor, str(tmp_path / "heat.png")),
        "ratios.png": plots.plot_update_ratios(monitor, tmp_path / "ratios.png"),
    }
    for filename, figure in made.items():
        assert (tmp_path / filename).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = imread(tmp_path / filename)
        width, height = figure.get_size_inches() * 100
        assert pixels.shape == (round(height), round(width), 4)
        assert pixels[..., :3].std() > 0.05  # something was drawn


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    from plaingrad.explain import plots

    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends"):
        monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(MissingExtraError, match=r"pip install \"plaingrad\[plot\]\""):
        plots.plot_metrics(HISTORY)
    assert issubclass(MissingExtraError, ImportError)


def run_python(code):
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_explain_does_not_import_matplotlib():
    out = run_python(
        "import sys\n"
        "import plaingrad.explain\n"
        "from plaingrad.explain import plots\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    assert out.strip() == "[]"


def test_plots_leave_pyplot_and_the_backend_alone(plots):
    out = run_python(
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from plaingrad.explain import plots\n"
        "history = {'grad_norm': {'0': [1.0, 2.0]}, 'update_ratio': {'0': [1e-3]}}\n"
        "plots.plot_metrics([{'epoch': 1, 'train_loss': 1.0}])\n"
        "plots.plot_gradient_heatmap(history)\n"
        "plots.plot_update_ratios(history)\n"
        "print(matplotlib.rcParams['backend'], 'matplotlib.pyplot' in sys.modules)\n"
    )
    assert out.split() == ["svg", "False"]
