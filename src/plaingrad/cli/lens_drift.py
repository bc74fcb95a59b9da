"""The drift part of ``plaingrad lens``: the layers at each kept epoch.

A run trained with ``--checkpoint-every N`` keeps ``checkpoint-epoch-K``
files; with the untrained start (epoch 0) and the final model they are the
points at which ``plaingrad.lens.drift`` measures every layer again: the
probe's test accuracy, the silhouette, the class distance ratio and the
linear CKA of each layer with itself at the start, at the previous point and
at the end. A run without kept checkpoints gets the two ends.

The probes here fit on at most ``DRIFT_TRAIN`` training samples, so that a
drift over many MNIST checkpoints stays minutes, not hours.
"""

from __future__ import annotations

import os
import re
from html import escape
from typing import Any

from . import _charts

# The most training samples the drift's probes fit on (the digits fit whole).
DRIFT_TRAIN = 4000
_KEPT = re.compile(r"checkpoint-epoch-([1-9]\d*)\.safetensors")
# What a checkpoint must share with the run to be one of its epochs.
_SAME_RUN = ("dataset", "layer_sizes", "activation", "init", "seed", "split_seed")


def saved_models(
    folder: str, config: Any, untrained: Any, model: Any
) -> tuple[dict[int, Any], list[str]]:
    """The run's networks by epoch: 0, each kept checkpoint, the end.

    Args:
        folder: the run folder.
        config: its ``RunConfig``.
        untrained: the network before its first step (epoch 0).
        model: the trained network (epoch ``config.epochs``).

    Returns:
        ``(models, skipped)``: epoch to network in training order, and one
        line for each checkpoint file that could not be used.
    """
    kept: dict[int, str] = {}
    for name in os.listdir(folder):
        match = _KEPT.fullmatch(name)
        if match:
            kept[int(match.group(1))] = os.path.join(folder, name)
    models: dict[int, Any] = {0: untrained}
    skipped = []
    for epoch in sorted(kept):
        name = os.path.basename(kept[epoch])
        if epoch >= config.epochs:
            if epoch > config.epochs:
                skipped.append(f"{name}: the run has {config.epochs} epochs")
            continue  # the last epoch is model.safetensors itself
        try:
            models[epoch] = _checkpoint_model(kept[epoch], epoch, config)
        except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
            message = str(error).removeprefix(f"--resume {kept[epoch]!r}: ")
            skipped.append(f"{name}: {message}")
    models[config.epochs] = model
    return models, skipped


def _checkpoint_model(path: str, epoch: int, config: Any) -> Any:
    """The network a kept checkpoint holds, checked to be this run's."""
    import numpy as np

    from . import checkpoint
    from .train import build_mlp

    state = checkpoint.read(path)
    saved, ours = state["config"], vars(config)
    for key in _SAME_RUN:
        if saved.get(key) != ours.get(key):
            raise ValueError(
                f"it is from another run (its {key} {saved.get(key)!r}, this "
                f"run's {ours.get(key)!r})"
            )
    if state["epoch"] != epoch:
        raise ValueError(f"it holds epoch {state['epoch']}, not {epoch}")
    net = build_mlp(config.layer_sizes, config.activation)
    net.load_state_dict(state["model"])
    if not all(np.all(np.isfinite(p.detach().numpy())) for p in net.parameters()):
        raise ValueError("its weights hold NaN or Inf")
    return net.eval()


def measure_drift(
    models: dict[int, Any], data: Any, layers: Any, samples: int
) -> dict[str, Any]:
    """``plaingrad.lens.drift`` over ``models`` on a bounded split.

    Returns:
        ``{"epochs", "n_train", "samples", "records"}``, ``records`` as
        ``DriftTracker.history`` gives them.
    """
    from .. import lens

    n_train = min(DRIFT_TRAIN, len(data.y_train))
    count = min(samples, len(data.y_test))
    records = lens.drift(
        models,
        data.x_train[:n_train],
        data.y_train[:n_train],
        data.x_test,
        data.y_test,
        layers,
        samples=count,
    )
    return {
        "epochs": list(models),
        "n_train": n_train,
        "samples": count,
        "records": records,
    }


def print_drift(drift: dict[str, Any]) -> None:
    """Each layer's probe accuracy and CKA to the end, epoch by epoch."""
    epochs = drift["epochs"]
    names = [layer["name"] for layer in drift["records"][0]["layers"]]
    width = max(len(name) for name in names) + 2
    head = "".join(f"{'epoch ' + str(e):>11}" for e in epochs)
    print(f"Drift (probe accuracy / CKA to epoch {epochs[-1]}):")
    print(f"{'layer':<{width}}{head}")
    for index, name in enumerate(names):
        cells = []
        for record in drift["records"]:
            layer = record["layers"][index]
            cells.append(
                f"{_fmt(layer['probe_accuracy'])}/{_fmt(layer['cka_to_last'], '.2f')}"
            )
        print(f"{name:<{width}}" + "".join(f"{cell:>11}" for cell in cells))


def drift_card(drift: dict[str, Any]) -> str:
    """The page's drift section: two line charts and a table."""
    from .report import html_card, html_figure

    epochs = drift["epochs"]
    names = [layer["name"] for layer in drift["records"][0]["layers"]]

    def series(key: str) -> dict[str, list[Any]]:
        return {
            name: [_finite(record["layers"][i][key]) for record in drift["records"]]
            for i, name in enumerate(names)
        }

    charts = [
        _charts.line_chart(
            series("probe_accuracy"),
            title="Linear-probe test accuracy per layer, by epoch",
            x_label="epoch",
            y_label="accuracy",
            x_values=epochs,
            y_range=(0.0, 1.0),
        ),
        _charts.line_chart(
            series("cka_to_last"),
            title=f"CKA of each layer with itself at epoch {epochs[-1]}",
            x_label="epoch",
            y_label="linear CKA",
            x_values=epochs,
            y_range=(0.0, 1.0),
        ),
    ]
    head = "<tr><th>layer</th>" + "".join(f"<th>epoch {e}</th>" for e in epochs)
    body = ""
    for index, name in enumerate(names):
        cells = "".join(
            f"<td>{_fmt(r['layers'][index]['probe_accuracy'])} / "
            f"{_fmt(r['layers'][index]['silhouette'], '+.2f')} / "
            f"{_fmt(r['layers'][index]['cka_to_last'], '.2f')}</td>"
            for r in drift["records"]
        )
        body += f"<tr><td>{escape(name)}</td>{cells}</tr>"
    note = (
        '<p class="note">The same measures at each kept epoch (0: the '
        "untrained start; the others: the run's <code>--checkpoint-every</code> "
        "checkpoints and its end). Each cell: probe accuracy / silhouette / "
        f"CKA with the same layer at epoch {epochs[-1]}. Probes fitted on "
        f"{drift['n_train']} training samples; silhouette and CKA on "
        f"{drift['samples']} test samples.</p>"
    )
    html = (
        '<div class="charts">'
        + "".join(map(html_figure, charts))
        + f'</div><div class="figure"><table>{head}</tr>{body}</table></div>{note}'
    )
    return html_card("drift", "Drift during training", html)


def _finite(value: Any) -> Any:
    if value is None or value != value:  # None or NaN: a gap in the line
        return None
    return value


def _fmt(value: Any, spec: str = ".3f") -> str:
    if _finite(value) is None:
        return "-"
    return format(value, spec)
