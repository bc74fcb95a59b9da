"""``plaingrad train --depth --activation --init --monitor``.

Short runs (1-2 epochs of the digits) through ``plaingrad.cli.main.main``:
the flags build the network they describe, ``--monitor`` prints the
GradientMonitor's verdicts and writes them to ``verdicts.json``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from plaingrad.cli.main import main
from plaingrad.cli.train import load_run

pytest.importorskip("sklearn")


def train(tmp_path, capsys, *flags):
    out = tmp_path / "run"
    status = main(["train", "digits", "--quiet", "--output", str(out), *flags])
    return status, capsys.readouterr(), out


def test_deep_sigmoid_reports_vanishing(tmp_path, capsys):
    status, printed, out = train(
        tmp_path, capsys, "--depth", "20", "--activation", "sigmoid",
        "--hidden", "64", "--epochs", "1", "--monitor",
    )  # fmt: skip
    assert status == 0
    assert "Verdicts:\n  vanishing gradients:" in printed.out
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert [v["name"] for v in verdicts] == ["vanishing_gradients"]
    assert "0" in verdicts[0]["layers"] and verdicts[0]["threshold"] == 1e-3
    model, config = load_run(str(out))
    assert config.layer_sizes == [64] + [64] * 19 + [10]
    assert sum(1 for m in model if type(m).__name__ == "Sigmoid") == 19


def test_default_run_with_monitor_is_healthy(tmp_path, capsys):
    status, printed, out = train(tmp_path, capsys, "--epochs", "2", "--monitor")
    assert status == 0
    assert "healthy: no measure crossed" in printed.out
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert [v["name"] for v in verdicts] == ["healthy"]


def test_kaiming_init_is_recorded_and_applied(tmp_path, capsys):
    status, _, out = train(
        tmp_path, capsys, "--depth", "3", "--hidden", "256", "--init", "kaiming",
        "--epochs", "1", "--lr", "1e-12",
    )  # fmt: skip
    assert status == 0
    assert not (out / "verdicts.json").exists()
    model, config = load_run(str(out))
    assert config.init == "kaiming"
    weight = model[2].weight.detach().numpy()
    # He normal for fan_in 256: std sqrt(2 / 256) (default init: 1/sqrt(3*256)).
    assert weight.std() == pytest.approx(np.sqrt(2 / 256), rel=0.05)
    assert np.abs(model[2].bias.detach().numpy()).max() < 1e-9


def test_depth_with_several_widths_is_refused(tmp_path, capsys):
    status, printed, out = train(
        tmp_path, capsys, "--depth", "4", "--hidden", "8", "16"
    )
    assert status == 2
    assert "--depth takes a single --hidden width" in printed.err
    assert not out.exists()


def test_a_resumed_monitored_run_measures_updates_from_the_loaded_weights(
    tmp_path, capsys, monkeypatch
):
    import plaingrad.explain as explain

    seen = []

    class Recording(explain.GradientMonitor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seen.append(self)

    run = tmp_path / "run"
    assert main(["train", "digits", "--epochs", "1", "--checkpoint-every", "1",
                 "--quiet", "--output", str(run)]) == 0  # fmt: skip
    monkeypatch.setattr(explain, "GradientMonitor", Recording)
    assert main(["train", "--resume", str(run), "--epochs", "2", "--monitor",
                 "--quiet"]) == 0  # fmt: skip
    capsys.readouterr()
    (monitor,) = seen
    first = [ratios[0] for ratios in monitor.history["update_ratio"].values()]
    # one Adam step at lr 1e-3 moves a trained layer by about 1e-3 of its size,
    # not by the distance from fresh random weights to the trained ones
    assert max(first) < 0.05, first


def test_monitor_leaves_anomaly_mode_off_after_the_run(tmp_path, capsys):
    from plaingrad.autograd import is_anomaly_enabled

    train(tmp_path, capsys, "--epochs", "1", "--monitor")
    assert not is_anomaly_enabled()
