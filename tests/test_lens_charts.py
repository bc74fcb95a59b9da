"""The lens's figures (``layer_chart``, ``drift_chart``) draw the given values.

Each test reads the drawn data back from the matplotlib artists (bar
heights, line points) and compares it with the figures it was given.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from plaingrad import lens

pytest.importorskip("matplotlib")

ROWS = [
    {"name": "input", "probe_accuracy": 0.63, "probe_accuracy_untrained": 0.63,
     "silhouette": 0.02},
    {"name": "1", "probe_accuracy": 0.99, "probe_accuracy_untrained": 0.91,
     "silhouette": -0.25},
    {"name": "4", "probe_accuracy": 0.98, "probe_accuracy_untrained": None,
     "silhouette": 0.64},
]  # fmt: skip


def _heights(axes) -> list[float]:
    return [patch.get_height() for patch in axes.patches]


def test_layer_chart_draws_each_probe_and_silhouette(tmp_path):
    path = tmp_path / "layers.png"
    fig = lens.layer_chart(ROWS, path)
    probes, separation = fig.axes
    heights = _heights(probes)
    assert heights[:3] == [0.63, 0.99, 0.98]  # trained, in layer order
    assert heights[3:5] == [0.63, 0.91] and math.isnan(heights[5])  # None: no bar
    assert _heights(separation) == [0.02, -0.25, 0.64]
    labels = [tick.get_text() for tick in probes.get_xticklabels()]
    assert labels == ["input", "1", "4"]
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_layer_chart_of_probe_layers_rows_has_one_panel():
    rows = [{k: v for k, v in row.items() if k != "silhouette"} for row in ROWS]
    fig = lens.layer_chart(rows)
    assert len(fig.axes) == 1


def _history() -> list[dict]:
    probe = {"input": [0.6, 0.6, 0.6], "3": [0.8, 0.9, 0.99]}
    cka = {"input": [1.0, 1.0, 1.0], "3": [0.5, float("nan"), 1.0]}
    return [
        {
            "epoch": epoch,
            "layers": [
                {"name": n, "probe_accuracy": probe[n][i], "cka_to_last": cka[n][i]}
                for n in ("input", "3")
            ],
        }
        for i, epoch in enumerate((0, 5, 20))
    ]


def test_drift_chart_draws_a_line_per_layer_and_measure(tmp_path):
    path = tmp_path / "drift.png"
    fig = lens.drift_chart(_history(), path)
    probes, cka = fig.axes
    assert [line.get_label() for line in probes.lines] == ["input", "3"]
    np.testing.assert_array_equal(probes.lines[1].get_xdata(), [0, 5, 20])
    np.testing.assert_array_equal(probes.lines[1].get_ydata(), [0.8, 0.9, 0.99])
    drawn = np.asarray(cka.lines[1].get_ydata(), dtype=float)
    assert drawn[0] == 0.5 and math.isnan(drawn[1]) and drawn[2] == 1.0
    assert cka.get_ylabel() == "CKA with epoch 20"
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_drift_chart_of_a_real_tracker():
    import plaingrad as pg
    from plaingrad import nn

    pg.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU())
    x = pg.randn(30, 2)
    y = (x[:, 0] > 0).long()
    history = lens.drift({0: net, 1: net}, x, y, x, y, epochs=20)
    fig = lens.drift_chart(history)
    expected = [layer["probe_accuracy"] for layer in history[1]["layers"]]
    assert [line.get_ydata()[1] for line in fig.axes[0].lines] == expected


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="layer_chart: `rows` must hold"):
        lens.layer_chart([])
    with pytest.raises(ValueError, match=r"`rows\[1\]` must be a dict with 'name'"):
        lens.layer_chart([ROWS[0], {"name": "x"}])
    with pytest.raises(ValueError, match="drift_chart: `history` must hold"):
        lens.drift_chart([])
    history = _history()
    history[1]["epoch"] = "middle"
    with pytest.raises(ValueError, match="epochs must be numbers"):
        lens.drift_chart(history)
    history = _history()
    history[2]["layers"].pop()
    with pytest.raises(ValueError, match="epoch 20 has \\['input'\\]"):
        lens.drift_chart(history)
