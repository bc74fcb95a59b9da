"""Figures of the per-layer measures: probes and separation, and the drift.

Both draw with matplotlib (the ``plot`` extra) on a Figure of their own, so
pyplot's state is untouched, and save a PNG when given a path.

- ``layer_chart``: per layer, the probe's accuracy trained beside untrained
  (``probe_layers``' rows) and the silhouette, when the rows hold one;
- ``drift_chart``: per layer, the probe accuracy and the CKA with the last
  record, against the epoch (``DriftTracker.history``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._common import figure, save

__all__ = ["drift_chart", "layer_chart"]


def _value(row: Mapping[str, Any], key: str) -> float:
    value = row.get(key)
    return np.nan if value is None else float(value)


def layer_chart(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike | None = None,
    *,
    title: str = "What each layer makes linearly readable",
) -> Any:
    """Bars of each layer's probe accuracy, trained and untrained, and its
    silhouette.

    Args:
        rows: one mapping per layer with ``"name"`` and ``"probe_accuracy"``,
            and optionally ``"probe_accuracy_untrained"`` and
            ``"silhouette"`` (``probe_layers`` gives the first three; the
            rows of ``plaingrad lens`` all four). None draws no bar.
        path: where to save the figure as PNG, if given.
        title: the figure's title.

    Returns:
        The ``matplotlib.figure.Figure``: one axes for the probes, and a
        second for the silhouettes when any row has one.

    Raises:
        ValueError: for no rows, or a row without ``name`` or
            ``probe_accuracy``.
        MissingExtraError: when matplotlib is not installed.
    """
    if not rows:
        raise ValueError("layer_chart: `rows` must hold at least one layer")
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping) or not {"name", "probe_accuracy"} <= set(row):
            raise ValueError(
                f"layer_chart: `rows[{index}]` must be a dict with 'name' and "
                f"'probe_accuracy' (as probe_layers returns), got {row!r}"
            )
    names = [str(row["name"]) for row in rows]
    silhouettes = [_value(row, "silhouette") for row in rows]
    with_silhouette = any("silhouette" in row for row in rows)
    width = max(4.5, 0.7 * len(names) + 2.0)
    fig = figure("layer_chart", (width, 5.6 if with_silhouette else 3.4))
    panels = fig.subplots(2 if with_silhouette else 1, 1, squeeze=False)[:, 0]
    where = np.arange(len(names))
    probes = panels[0]
    probes.bar(
        where - 0.2,
        [_value(row, "probe_accuracy") for row in rows],
        0.4,
        label="trained",
        color="#2f6db5",
    )
    probes.bar(
        where + 0.2,
        [_value(row, "probe_accuracy_untrained") for row in rows],
        0.4,
        label="untrained",
        color="#b0b7c3",
    )
    probes.set_ylim(0.0, 1.0)
    probes.set_ylabel("probe test accuracy")
    probes.set_xticks(where, names, rotation=45, ha="right")
    probes.legend(loc="lower right", fontsize=8)
    probes.set_title(title)
    if with_silhouette:
        panels[1].bar(where, silhouettes, 0.6, color="#5a9e6f")
        panels[1].axhline(0.0, color="black", linewidth=0.8)
        panels[1].set_ylim(-1.0, 1.0)
        panels[1].set_ylabel("silhouette")
        panels[1].set_xticks(where, names, rotation=45, ha="right")
    return save(fig, path)


def drift_chart(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike | None = None,
    *,
    title: str = "Drift during training",
) -> Any:
    """Lines of each layer's probe accuracy and CKA with the last record,
    against the epoch.

    Args:
        history: ``DriftTracker.history`` (or ``drift``'s result): records
            ``{"epoch", "layers": [{"name", "probe_accuracy",
            "cka_to_last"}, ...]}`` with the same layers; the epochs must
            be numbers.
        path: where to save the figure as PNG, if given.
        title: the figure's title.

    Returns:
        The ``matplotlib.figure.Figure`` with two axes (probe accuracy, CKA),
        one line per layer.

    Raises:
        ValueError: for no records, epochs that are not numbers, or records
            whose layers differ.
        MissingExtraError: when matplotlib is not installed.
    """
    if not history:
        raise ValueError("drift_chart: `history` must hold at least one record")
    epochs = [record.get("epoch") for record in history]
    if not all(
        isinstance(e, (int, float, np.integer, np.floating)) and not isinstance(e, bool)
        for e in epochs
    ):
        raise ValueError(
            f"drift_chart: the records' epochs must be numbers, got {epochs}"
        )
    names = [layer["name"] for layer in history[0]["layers"]]
    for record in history:
        if [layer["name"] for layer in record["layers"]] != names:
            raise ValueError(
                f"drift_chart: every record must have the layers {names}; epoch "
                f"{record['epoch']} has {[la['name'] for la in record['layers']]}"
            )
    fig = figure("drift_chart", (9.0, 3.6))
    panels = fig.subplots(1, 2)
    for index, name in enumerate(names):
        for axes, key in zip(panels, ("probe_accuracy", "cka_to_last"), strict=True):
            values = [_value(record["layers"][index], key) for record in history]
            axes.plot(epochs, values, marker="o", markersize=3, label=name)
    panels[0].set_ylabel("probe test accuracy")
    panels[1].set_ylabel(f"CKA with epoch {epochs[-1]}")
    for axes in panels:
        axes.set_xlabel("epoch")
        axes.set_ylim(0.0, 1.05)
    panels[1].legend(fontsize=7, loc="lower right", title="layer")
    fig.suptitle(title)
    return save(fig, path)
