"""Pictures of a training run, drawn with matplotlib (the ``plot`` extra).

Three figures, each from a record plaingrad already keeps:

- ``plot_metrics(history)``: the loss and the accuracies per epoch, from the
  ``history`` list that ``plaingrad train`` writes to ``metrics.json``; the
  per-step losses (``GradientMonitor.history["loss"]``) can be laid over the
  loss curve.
- ``plot_gradient_heatmap(monitor)``: every layer's gradient norm at every
  step, as a heatmap of its base-10 logarithm (layers top to bottom in model
  order, steps left to right). A norm of exactly zero is drawn grey, a NaN
  or Inf with a red cross, so neither hides in the colour scale.
- ``plot_update_ratios(monitor)``: every layer's update-to-weight ratio per
  step on a log scale, with the thresholds of ``verdicts`` drawn across:
  what the learning-rate and explosion verdicts compare the ratios with.

matplotlib is imported only when a figure is asked for, so ``import
plaingrad.explain`` never loads it. The figures are built as
``matplotlib.figure.Figure`` objects on an Agg canvas and never go through
``pyplot``: a user's backend and open figures are left as they were. Each
function returns its figure; given ``path``, it also saves it there as PNG.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..datasets.digits import MissingExtraError
from .monitor import GradientMonitor
from .verdicts import UPDATE_RATIO_EXPLODING, UPDATE_RATIO_HIGH, UPDATE_RATIO_LOW

# The reference lines of plot_update_ratios: (threshold, label, colour).
RATIO_THRESHOLDS = (
    (UPDATE_RATIO_EXPLODING, f"exploding above {UPDATE_RATIO_EXPLODING:g}", "red"),
    (UPDATE_RATIO_HIGH, f"lr too high above {UPDATE_RATIO_HIGH:g}", "darkorange"),
    (UPDATE_RATIO_LOW, f"lr too low below {UPDATE_RATIO_LOW:g}", "royalblue"),
)
# Beyond this many layers the heatmap labels only every k-th row.
_MAX_LABELLED_ROWS = 40


def _figure(size: tuple[float, float]) -> Any:
    """A Figure on its own Agg canvas, untouched by pyplot."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtraError(
            "plaingrad.explain.plots needs matplotlib, which is not installed; "
            'install it with: pip install "plaingrad[plot]"'
        ) from None
    figure = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _colormap(name: str) -> Any:
    import matplotlib  # _figure has already checked it is installed

    return matplotlib.colormaps[name]


def _whole_numbers(axes: Any) -> None:
    """Ticks of the x axis (epochs, steps) at whole numbers only."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _save(figure: Any, path: str | os.PathLike | None) -> Any:
    if path is not None:
        figure.savefig(os.fspath(path), format="png", dpi=100)
    return figure


def _floats(values: Sequence[Any]) -> np.ndarray:
    """Numbers as float64, None (a step without a value) as NaN."""
    return np.array([math.nan if v is None else float(v) for v in values])


def _monitor_history(fn: str, given: Any, record: str) -> dict[str, list[float]]:
    """The per-layer ``record`` of a GradientMonitor or of its history dict."""
    history = given.history if isinstance(given, GradientMonitor) else given
    if not isinstance(history, Mapping) or record not in history:
        raise TypeError(
            f"{fn}: `monitor_or_history` must be a GradientMonitor or its "
            f"`history` dict (with a {record!r} key), got {type(given).__name__}"
        )
    layers = history[record]
    if not isinstance(layers, Mapping) or not layers:
        raise ValueError(
            f"{fn}: `monitor_or_history` has no layers in history[{record!r}]; "
            f"the monitored model has no parameters"
        )
    lengths = {name: len(values) for name, values in layers.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"{fn}: `monitor_or_history` must have one value per step for every "
            f"layer of history[{record!r}], got lengths {lengths}"
        )
    if not next(iter(lengths.values())):
        raise ValueError(
            f"{fn}: `monitor_or_history` has no steps recorded; call "
            f"monitor.step(loss) after each optimizer.step()"
        )
    return {str(name): list(values) for name, values in layers.items()}


def _epoch_records(history: Any) -> list[Mapping[str, Any]]:
    if isinstance(history, Mapping) and "history" in history:
        history = history["history"]  # the whole of metrics.json
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise TypeError(
            f"plot_metrics: `history` must be the list of per-epoch dicts of "
            f"metrics.json['history'], got {type(history).__name__}"
        )
    if not history:
        raise ValueError("plot_metrics: `history` is empty; no epoch to plot")
    for index, record in enumerate(history):
        if not isinstance(record, Mapping):
            raise TypeError(
                f"plot_metrics: `history[{index}]` must be a dict with keys "
                f"epoch, train_loss, ..., got {type(record).__name__}"
            )
        missing = [key for key in ("epoch", "train_loss") if key not in record]
        if missing:
            raise ValueError(
                f"plot_metrics: `history[{index}]` has no {missing[0]!r} key; "
                f"expected the keys of metrics.json['history'] (epoch, "
                f"train_loss, train_accuracy, test_accuracy, lr), got "
                f"{sorted(record)}"
            )
    return list(history)


def plot_metrics(
    history: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    path: str | os.PathLike | None = None,
    *,
    steps_loss: Sequence[float | None] | None = None,
) -> Any:
    """The loss curve and the accuracy curves of a training run.

    The left axes show ``train_loss`` per epoch; the right axes, present when
    the records have accuracies, show ``train_accuracy`` and
    ``test_accuracy`` per epoch on a 0..1 scale.

    Args:
        history: the per-epoch dicts ``plaingrad train`` writes to
            ``metrics.json["history"]`` (keys ``epoch``, ``train_loss``,
            ``train_accuracy``, ``test_accuracy``, ``lr``), or the whole
            ``metrics.json`` dict.
        path: where to save the figure as PNG; None saves nothing.
        steps_loss: per-step losses (``GradientMonitor.history["loss"]``) to
            draw, thin, under the per-epoch loss. The steps are spread evenly
            over the epochs, so that the last step of epoch ``k`` sits at
            ``k``; None entries are left out.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        MissingExtraError: when matplotlib is not installed.
        TypeError: when ``history`` is not a list of dicts.
        ValueError: when ``history`` is empty or a record lacks ``epoch`` or
            ``train_loss``, or ``steps_loss`` is empty.

    Example:
        >>> from plaingrad.explain.plots import plot_metrics
        >>> history = [
        ...     {"epoch": 1, "train_loss": 0.9, "train_accuracy": 0.7,
        ...      "test_accuracy": 0.72, "lr": 1e-3},
        ...     {"epoch": 2, "train_loss": 0.4, "train_accuracy": 0.9,
        ...      "test_accuracy": 0.88, "lr": 1e-3},
        ... ]
        >>> figure = plot_metrics(history)
        >>> [axes.get_title() for axes in figure.axes]
        ['Loss', 'Accuracy']
    """
    records = _epoch_records(history)
    if steps_loss is not None and (
        isinstance(steps_loss, (str, bytes)) or not isinstance(steps_loss, Sequence)
    ):
        raise TypeError(
            f"plot_metrics: `steps_loss` must be a list of per-step losses, got "
            f"{type(steps_loss).__name__}"
        )
    if steps_loss is not None and not steps_loss:
        raise ValueError("plot_metrics: `steps_loss` is empty; pass None or losses")
    epochs = _floats([r["epoch"] for r in records])
    accuracies = [
        key for key in ("train_accuracy", "test_accuracy") if key in records[0]
    ]
    figure = _figure((11.0, 4.0) if accuracies else (6.0, 4.0))
    panels = figure.subplots(1, 2 if accuracies else 1, squeeze=False)[0]

    loss_axes = panels[0]
    if steps_loss is not None:
        first = epochs[0] - 1  # steps of epoch 1 lie between 0 and 1
        step_x = first + (epochs[-1] - first) * np.arange(1, len(steps_loss) + 1)
        step_x = step_x / len(steps_loss)
        loss_axes.plot(
            step_x, _floats(steps_loss), lw=0.8, alpha=0.5, label="loss per step"
        )
    loss_axes.plot(
        epochs, _floats([r["train_loss"] for r in records]), "o-", label="train loss"
    )
    loss_axes.set(title="Loss", xlabel="epoch", ylabel="loss")
    loss_axes.legend()
    _whole_numbers(loss_axes)

    if accuracies:
        accuracy_axes = panels[1]
        for key in accuracies:
            values = _floats([r.get(key) for r in records])
            accuracy_axes.plot(epochs, values, "o-", label=key.replace("_", " "))
        accuracy_axes.set(
            title="Accuracy", xlabel="epoch", ylabel="accuracy", ylim=(0.0, 1.0)
        )
        accuracy_axes.legend()
        _whole_numbers(accuracy_axes)
    return _save(figure, path)


def plot_gradient_heatmap(
    monitor_or_history: GradientMonitor | Mapping[str, Any],
    path: str | os.PathLike | None = None,
) -> Any:
    """Every layer's gradient norm at every step, as a log10 heatmap.

    Row ``i`` is the ``i``-th layer in model order (the order of
    ``history["grad_norm"]``), column ``j`` is step ``j`` (from 0, as in
    ``history["nonfinite"]``). The image holds ``log10`` of the norms, with
    a colorbar; a norm of zero (no gradient reached the layer) is masked and
    drawn grey, and a NaN or Inf norm is masked and marked with a red cross.

    Args:
        monitor_or_history: a ``GradientMonitor`` or its ``history`` dict.
        path: where to save the figure as PNG; None saves nothing.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        MissingExtraError: when matplotlib is not installed.
        TypeError: when ``monitor_or_history`` is neither.
        ValueError: when no layer or no step was recorded.

    Example:
        >>> from plaingrad.explain.plots import plot_gradient_heatmap
        >>> history = {"grad_norm": {"0": [1e-4, 1e-3], "2": [0.1, 1.0]}}
        >>> figure = plot_gradient_heatmap(history)
        >>> figure.axes[0].images[0].get_array().tolist()
        [[-4.0, -3.0], [-1.0, 0.0]]
    """
    fn = "plot_gradient_heatmap"
    norms = _monitor_history(fn, monitor_or_history, "grad_norm")
    names = list(norms)
    values = np.array([_floats(norms[name]) for name in names])  # (layers, steps)
    finite = np.isfinite(values)
    positive = finite & (values > 0)
    logs = np.log10(np.where(positive, values, 1.0))
    image_data = np.ma.masked_array(logs, mask=~positive)

    width = min(14.0, max(6.0, 4.0 + 0.08 * values.shape[1]))
    figure = _figure((width, 1.5 + 0.3 * len(names)))
    axes = figure.subplots()
    cmap = _colormap("viridis").with_extremes(bad="lightgrey")
    image = axes.imshow(image_data, aspect="auto", cmap=cmap, interpolation="nearest")
    if positive.any():
        low, high = float(logs[positive].min()), float(logs[positive].max())
        image.set_clim(low, high if high > low else low + 1.0)
    figure.colorbar(image, ax=axes, label="log10 gradient norm")
    rows, cols = np.nonzero(~finite)
    if rows.size:
        axes.scatter(cols, rows, marker="x", color="red", label="NaN or Inf")
        axes.legend(loc="upper right")
    every = max(1, math.ceil(len(names) / _MAX_LABELLED_ROWS))
    axes.set_yticks(range(0, len(names), every), names[::every])
    axes.set(
        title="Gradient norm per layer (grey: zero)", xlabel="step", ylabel="layer"
    )
    _whole_numbers(axes)
    return _save(figure, path)


def plot_update_ratios(
    monitor_or_history: GradientMonitor | Mapping[str, Any],
    path: str | os.PathLike | None = None,
) -> Any:
    """Every layer's update-to-weight ratio per step, on a log scale.

    One line per layer (``history["update_ratio"]``, in model order), and
    across them the thresholds of ``plaingrad.explain.verdicts``:
    ``UPDATE_RATIO_EXPLODING`` (1, a step changed a layer by more than its
    size), ``UPDATE_RATIO_HIGH`` (0.1) and ``UPDATE_RATIO_LOW`` (1e-5), the
    bounds the learning-rate verdicts compare the median of the largest
    ratio per step with. A ratio of zero (a frozen layer) or a non-finite one
    leaves a gap in its line.

    Args:
        monitor_or_history: a ``GradientMonitor`` or its ``history`` dict.
        path: where to save the figure as PNG; None saves nothing.

    Returns:
        The ``matplotlib.figure.Figure``.

    Raises:
        MissingExtraError: when matplotlib is not installed.
        TypeError: when ``monitor_or_history`` is neither.
        ValueError: when no layer or no step was recorded.

    Example:
        >>> from plaingrad.explain.plots import plot_update_ratios
        >>> history = {"update_ratio": {"0": [2e-3, 1e-3], "2": [4e-3, 3e-3]}}
        >>> figure = plot_update_ratios(history)
        >>> [line.get_label() for line in figure.axes[0].get_lines()][:2]
        ['0', '2']
    """
    fn = "plot_update_ratios"
    ratios = _monitor_history(fn, monitor_or_history, "update_ratio")
    names = list(ratios)
    steps = np.arange(len(ratios[names[0]]))

    figure = _figure((9.0 if len(names) <= 10 else 11.0, 4.5))
    axes = figure.subplots()
    axes.set_yscale("log")
    # Colour by depth, so that a trend from input to output layers shows.
    colours = _colormap("viridis")(np.linspace(0.0, 0.9, len(names)))
    for name, colour in zip(names, colours):
        values = _floats(ratios[name])
        # Nothing of a line that is zero at every step shows on a log scale.
        label = f"{name} (0 at every step)" if np.all(values == 0) else name
        # markers when there are few steps: a lone value has no line to show
        marker = "o" if len(steps) <= 20 else None
        axes.plot(steps, values, color=colour, lw=1.2, label=label, marker=marker)
    for threshold, label, colour in RATIO_THRESHOLDS:
        axes.axhline(threshold, color=colour, ls="--", lw=1.0, label=label)
    axes.set(
        title="Update-to-weight ratio per layer",
        xlabel="step",
        ylabel="||w_after - w_before|| / ||w_before||",
    )
    # the legend beside the axes, never over the curves and thresholds
    axes.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize="small" if len(names) <= 10 else "x-small",
        ncol=1 if len(names) <= 10 else 2,
    )
    _whole_numbers(axes)
    return _save(figure, path)
