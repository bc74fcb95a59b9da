"""``plaingrad train --report`` and ``--plots``: a run you can look at.

``write_report`` writes ``report.html`` into the run folder: one file that
opens in any browser from disk, with no server, no network, no script and
no font or picture from elsewhere (a Content-Security-Policy in the page
forbids the browser to fetch anything). It shows, one section each:

- the run: its settings and final numbers;
- the metrics: loss and accuracies per epoch, and the loss of every step;
- the verdicts of the ``GradientMonitor`` (``plaingrad.explain.verdicts``);
- gradient flow: every layer's gradient norm at every step as a heatmap;
- the update-to-weight ratio of every layer per step, with the thresholds
  the learning-rate and explosion verdicts use;
- the model's computation graph (``plaingrad.explain.graph``), its edges
  coloured by the gradient norms of one backward pass on a few test
  samples, collapsed to one box per module when it is large;
- the first training step's backward pass, narrated
  (``plaingrad.explain.backward``).

The charts are SVG drawn by ``_charts.py``, so the report needs no extra.
``write_plots`` writes the same curves as PNG files with
``plaingrad.explain.plots``, which needs matplotlib (the ``plot`` extra).
"""

from __future__ import annotations

import argparse
import math
import os
from html import escape
from typing import Any

from . import _charts

REPORT_FILE = "report.html"
PLOT_FILES = ("metrics.png", "gradient_heatmap.png", "update_ratios.png")
# A graph with more boxes than this is drawn one box per module.
GRAPH_MAX_BOXES = 60
# The test samples the graph's forward and backward pass runs on.
GRAPH_BATCH = 8
# The test samples the representations section's probes and separation
# statistics use; its probes train on ten times as many training samples.
REPRESENTATION_SAMPLES = 400
# What the page may load: nothing but its own inline styles and data: URLs.
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif;
  margin: 0; background: #f4f5f7; color: #1d1f23; line-height: 1.45; }
header { background: #23324a; color: #ffffff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; opacity: 0.85; }
nav { padding: 8px 32px; background: #e6e9ef; font-size: 14px; }
nav a { margin-right: 16px; color: #23324a; }
main { padding: 8px 32px 40px 32px; max-width: 1200px; }
section.card { background: #ffffff; border: 1px solid #d9dce2;
  border-radius: 6px; padding: 14px 20px; margin: 18px 0; }
section.card > h2 { margin: 0 0 10px 0; font-size: 18px; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.figure { overflow-x: auto; max-width: 100%; }
.graph { overflow: auto; max-height: 900px; border: 1px solid #eeeeee; }
table { border-collapse: collapse; font-size: 14px; }
th, td { border-bottom: 1px solid #e3e5ea; padding: 4px 10px; text-align: left;
  vertical-align: top; }
th { background: #f0f2f5; }
.verdict { font-weight: 600; white-space: nowrap; }
.verdict.good { color: #1e7b34; }
.verdict.bad { color: #b3261e; }
.note { color: #5a5f69; font-size: 13px; }
"""


def html_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows
    )
    return f"<table>{body}</table>"


def html_card(sid: str, title: str, body: str) -> str:
    return f'<section class="card" id="{sid}"><h2>{escape(title)}</h2>{body}</section>'


def html_figure(svg: str) -> str:
    return f'<div class="figure">{svg}</div>'


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _optimizer(config: dict[str, Any]) -> str:
    """As the run's first line says it: name, lr, momentum and options."""
    text = f"{config.get('optimizer')} lr={_fmt(config.get('lr'))}"
    if config.get("momentum") is not None:
        text += f" momentum={_fmt(config['momentum'])}"
    for key, value in (config.get("optimizer_args") or {}).items():
        text += f" {key}={_fmt(value)}"
    return text


def _summary(config: dict[str, Any], metrics: dict[str, Any], failed: str) -> str:
    sizes = "-".join(map(str, config.get("layer_sizes", [])))
    rows = [
        ("dataset", str(config.get("dataset"))),
        ("network", f"MLP {sizes} ({config.get('activation')})"),
        ("initialisation", str(config.get("init", "default"))),
        ("optimizer", _optimizer(config)),
        ("epochs", str(config.get("epochs"))),
        ("batch size", str(config.get("batch_size"))),
        ("seed", str(config.get("seed"))),
    ]
    if config.get("scheduler"):
        args = "".join(
            f" {k}={_fmt(v)}" for k, v in (config.get("scheduler_args") or {}).items()
        )
        rows.append(("learning-rate schedule", f"{config['scheduler']}{args}"))
    if config.get("clip_grad") is not None:
        rows.append(("gradient clipping", f"norm {_fmt(config['clip_grad'])}"))
    for key, label in (
        ("test_accuracy", "test accuracy"),
        ("train_loss", "final train loss"),
        ("train_seconds", "training time (s)"),
    ):
        if key in metrics:
            rows.append((label, _fmt(metrics[key])))
    rows.append(("plaingrad", str(config.get("plaingrad_version", ""))))
    status = ""
    if failed:
        status = f'<p class="verdict bad">The run failed: {escape(failed)}</p>'
    return html_card("run", "The run", status + html_table(rows))


def _metrics(history: list[dict[str, Any]], monitor: dict[str, Any] | None) -> str:
    epochs = [record["epoch"] for record in history]
    charts = []
    if history:
        charts.append(
            _charts.line_chart(
                {"train loss": [r["train_loss"] for r in history]},
                title="Training loss per epoch",
                x_label="epoch",
                y_label="cross-entropy",
                x_values=epochs,
            )
        )
        charts.append(
            _charts.line_chart(
                {
                    "train": [r["train_accuracy"] for r in history],
                    "test": [r["test_accuracy"] for r in history],
                },
                title="Accuracy per epoch",
                x_label="epoch",
                y_label="accuracy",
                x_values=epochs,
                y_range=(0.0, 1.0),
            )
        )
    rates = [r.get("lr") for r in history]
    if len(set(rates)) > 1 and all(isinstance(r, (int, float)) for r in rates):
        charts.append(
            _charts.line_chart(
                {"lr": rates},
                title="Learning rate per epoch",
                x_label="epoch",
                y_label="learning rate",
                x_values=epochs,
            )
        )
    if monitor and monitor.get("loss"):
        charts.append(
            _charts.line_chart(
                {"loss": monitor["loss"]},
                title="Loss of every step",
                x_label="step",
                y_label="cross-entropy",
            )
        )
    if not charts:
        return html_card("metrics", "Metrics", '<p class="note">No epoch finished.</p>')
    body = '<div class="charts">' + "".join(map(html_figure, charts)) + "</div>"
    return html_card("metrics", "Metrics", body)


def _verdicts(verdicts: list[dict[str, Any]]) -> str:
    rows = []
    for verdict in verdicts:
        good = verdict["name"] == "healthy"
        layers = verdict.get("layers") or {}
        detail = ""
        if layers:
            listed = ", ".join(f"{k}: {_fmt(float(v))}" for k, v in layers.items())
            detail = f"<details><summary>per layer</summary>{escape(listed)}</details>"
        rows.append(
            f'<tr><td class="verdict {"good" if good else "bad"}">'
            f"{escape(verdict['name'])}</td>"
            f"<td>{escape(verdict['message'])}{detail}</td>"
            f"<td>{escape(verdict.get('measure') or '')}</td>"
            f"<td>{escape(_fmt(verdict.get('threshold')))}</td>"
            f"<td>{escape(_fmt(verdict.get('value')))}</td></tr>"
        )
    head = (
        "<tr><th>verdict</th><th>finding</th><th>measure</th><th>threshold</th>"
        "<th>value</th></tr>"
    )
    note = (
        '<p class="note">Each verdict compares one measure of the run with '
        "one threshold; see docs/verdicts.md.</p>"
    )
    return html_card(
        "verdicts", "Verdicts", f"<table>{head}{''.join(rows)}</table>{note}"
    )


def _gradient_flow(monitor: dict[str, Any]) -> str:
    svg = _charts.heatmap(
        monitor["grad_norm"],
        title="Gradient norm of each layer at each step",
        value_label="log10 norm",
        flagged=[event["step"] for event in monitor.get("nonfinite", [])],
    )
    note = (
        '<p class="note">Layers from input (top) to output (bottom). A layer '
        "far darker than the last one learns far more slowly: vanishing "
        "gradients; a layer turning bright over the steps: exploding ones.</p>"
    )
    return html_card("gradient-flow", "Gradient flow", html_figure(svg) + note)


def _update_ratios(monitor: dict[str, Any]) -> str:
    from ..explain.verdicts import (
        UPDATE_RATIO_EXPLODING,
        UPDATE_RATIO_HIGH,
        UPDATE_RATIO_LOW,
    )

    svg = _charts.line_chart(
        monitor["update_ratio"],
        title="Update-to-weight ratio of each layer per step",
        x_label="step",
        y_label="||w_after - w_before|| / ||w_before||",
        log_y=True,
        references=[
            (UPDATE_RATIO_EXPLODING, f"exploding > {UPDATE_RATIO_EXPLODING:g}"),
            (UPDATE_RATIO_HIGH, f"lr too high > {UPDATE_RATIO_HIGH:g}"),
            (UPDATE_RATIO_LOW, f"lr too low < {UPDATE_RATIO_LOW:g}"),
        ],
        height=340,
    )
    note = (
        '<p class="note">A ratio near 1e-3 is the usual rule of thumb; the '
        "verdicts judge the median over steps of the largest ratio.</p>"
    )
    return html_card("update-ratios", "Update ratios", html_figure(svg) + note)


def model_graph(model: Any, inputs: Any, targets: Any) -> tuple[str, str]:
    """The SVG of ``model``'s graph on ``inputs``, and a note on how it was drawn.

    The graph is collapsed to one box per module beyond ``GRAPH_MAX_BOXES``
    boxes; its edges are coloured by the gradient norms of the cross-entropy
    of ``targets`` when they are all finite. The gradients are cleared again.
    """
    import numpy as np

    from .. import explain, nn

    # A diverged model's pass overflows; the note says so, NumPy need not.
    with np.errstate(all="ignore"):
        drawn = explain.graph(model=model, example_input=inputs)
        note = f"{len(drawn.nodes)} boxes, one per op"
        if len(drawn.nodes) > GRAPH_MAX_BOXES:
            drawn = explain.graph(model=model, example_input=inputs, collapse="module")
            note = f"{len(drawn.nodes)} boxes, one per module"
        try:
            nn.functional.cross_entropy(drawn.output, targets).backward()
            norms = drawn.gradient_norms()
            coloured = bool(norms) and all(math.isfinite(v) for v in norms.values())
        finally:
            model.zero_grad()
    if coloured:
        note += (
            f"; edges coloured by the gradient norm of one backward pass on "
            f"{len(targets)} test samples (blue: smallest, red: largest)"
        )
        return drawn.to_svg(gradient_norms=True), note
    return drawn.to_svg(), note + "; the gradient norms are not finite"


def _graph(svg: str, note: str) -> str:
    body = f'<div class="graph">{svg}</div><p class="note">{escape(note)}.</p>'
    return html_card("graph", "The model's graph", body)


def _first_step(story: Any) -> str:
    if story is None:
        body = '<p class="note">The first step was not recorded.</p>'
    else:
        body = story.to_html()
    return html_card("first-step", "The first step's backward pass, narrated", body)


def build_report(
    config: dict[str, Any],
    metrics: dict[str, Any],
    verdicts: list[dict[str, Any]],
    monitor: dict[str, Any] | None,
    graph: tuple[str, str] | None = None,
    story: Any = None,
    failed: str = "",
    representations: str = "",
) -> str:
    """The report page as HTML text.

    Args:
        config: the run's settings (``config.json``).
        metrics: ``metrics.json``'s dict (at least its ``"history"``).
        verdicts: the monitor's verdicts as dicts (``Verdict.to_dict``).
        monitor: ``GradientMonitor.history``, or None.
        graph: ``model_graph``'s ``(svg, note)``, or None.
        story: the first step's ``plaingrad.explain.backward`` story, or None.
        failed: why the run stopped, when it failed.
        representations: the ``representations`` section's HTML, or "".

    Returns:
        A complete HTML document with inline styles only.
    """
    title = f"plaingrad train {config.get('dataset', '')}"
    sections = [
        _summary(config, metrics, failed),
        _metrics(metrics.get("history", []), monitor),
        _verdicts(verdicts),
    ]
    if monitor is not None and monitor.get("grad_norm"):
        sections.append(_gradient_flow(monitor))
        sections.append(_update_ratios(monitor))
    if graph is not None:
        sections.append(_graph(*graph))
    sections.append(_first_step(story))
    if representations:
        sections.append(representations)
    links = [
        ("run", "Run"),
        ("metrics", "Metrics"),
        ("verdicts", "Verdicts"),
        ("gradient-flow", "Gradient flow"),
        ("update-ratios", "Update ratios"),
        ("graph", "Graph"),
        ("first-step", "First step"),
        ("representations", "Representations"),
    ]
    present = "".join(sections)
    nav = "".join(
        f'<a href="#{sid}">{name}</a>'
        for sid, name in links
        if f'id="{sid}"' in present
    )
    sizes = "-".join(map(str, config.get("layer_sizes", [])))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>MLP {escape(sizes)}, "
        f"{escape(str(config.get('optimizer')))}: backpropagation you can "
        f"watch</p></header><nav>{nav}</nav><main>{present}</main></body></html>\n"
    )


def write_report(
    folder: str,
    result: dict[str, Any],
    config: dict[str, Any],
    data: Any,
    failed: str = "",
) -> str:
    """Write ``report.html`` for a monitored run into ``folder``.

    Args:
        folder: the run folder.
        result: ``train_classifier``'s results (or a failed run's
            ``TrainingError.result``): ``model``, ``metrics``, ``verdicts``,
            ``monitor`` and ``story``.
        config: the run's settings as a dict.
        data: the split trained on; the graph runs on its first test samples.
        failed: why the run stopped, when it failed.

    Returns:
        The path written.
    """
    graph = model_graph(
        result["model"], data.x_test[:GRAPH_BATCH], data.y_test[:GRAPH_BATCH]
    )
    page = build_report(
        config,
        result["metrics"],
        result.get("verdicts", []),
        result.get("monitor"),
        graph,
        result.get("story"),
        failed,
        "" if failed else _representations(result["model"], config, data),
    )
    path = os.path.join(folder, REPORT_FILE)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return path


def _representations(model: Any, config: dict[str, Any], data: Any) -> str:
    """What each layer learned: the figures of ``plaingrad lens`` (probes
    trained and untrained, class separation) on this run, as one section."""
    from types import SimpleNamespace

    from .lens_cmd import measure, probes_card, separation_card, untrained_model

    untrained = untrained_model(SimpleNamespace(**config))
    # a bounded split, so that a report on MNIST's 48,000 training images
    # does not spend minutes on its probes (the digits fit whole)
    cap = REPRESENTATION_SAMPLES
    part = SimpleNamespace(
        x_train=data.x_train[: 10 * cap],
        y_train=data.y_train[: 10 * cap],
        x_test=data.x_test[:cap],
        y_test=data.y_test[:cap],
    )
    figures = measure(model, untrained, part, None, cap)
    rows = figures["layers"]
    body = (
        '<p class="note">Each layer of the trained network beside the same '
        "layer at initialisation, from the raw input (first) to the output; "
        "<code>plaingrad lens RUN_FOLDER</code> adds the CKA matrix and the "
        "projections.</p>"
        + probes_card(rows)
        + separation_card(rows, figures["samples"])
    )
    return html_card("representations", "Representations", body)


def write_plots(folder: str, result: dict[str, Any]) -> list[str]:
    """Write ``PLOT_FILES`` into ``folder`` with ``plaingrad.explain.plots``.

    Raises:
        MissingExtraError: when matplotlib is not installed.
    """
    from ..explain import plots

    paths = [os.path.join(folder, name) for name in PLOT_FILES]
    monitor = result["monitor"]
    plots.plot_metrics(result["metrics"]["history"], paths[0])
    plots.plot_gradient_heatmap(monitor, paths[1])
    plots.plot_update_ratios(monitor, paths[2])
    return paths


def check_plots() -> None:
    """Fail before training when ``--plots`` cannot draw (no matplotlib)."""
    import importlib.util

    from ..datasets import MissingExtraError

    if importlib.util.find_spec("matplotlib") is None:
        raise MissingExtraError(
            "--plots needs matplotlib, which is not installed; install it with: "
            'pip install "plaingrad[plot]" (--report needs no extra)'
        )


# ----------------------------------------------- what a run writes and says


def write_views(
    args: argparse.Namespace, output: str, result: dict, config: Any, data: Any
) -> list[str]:
    """``--report``'s report.html and ``--plots``' PNG files, as asked."""
    from dataclasses import asdict

    paths = []
    if args.report:
        paths.append(write_report(output, result, asdict(config), data))
    if args.plots:
        paths += write_plots(output, result)
    return paths


def diverged(
    args: argparse.Namespace, output: str | None, error: Any, config: Any, data: Any
) -> None:
    """Print a diverged run's verdicts, and keep them (and its report)."""
    from dataclasses import asdict

    paths: list[str] = []
    report_verdicts(error.result["verdicts"], output, paths)
    if output is not None and args.report:
        paths.append(
            write_report(output, error.result, asdict(config), data, str(error))
        )
    if paths:
        print(f"Saved {', '.join(paths)}", flush=True)


def report_verdicts(verdicts: list, output: str | None, paths: list) -> None:
    """Print the monitor's verdicts and add ``verdicts.json`` to the run."""
    from .output import write_verdicts

    print("Verdicts:")
    for verdict in verdicts:
        print(f"  {verdict['message']}")
    if output is not None:
        paths.append(write_verdicts(output, verdicts))
