"""``plaingrad lens RUN_FOLDER``: what each layer of a trained run has learned.

The command reads a run folder written by ``plaingrad train`` (a classifier:
digits, spirals or an IDX dataset), rebuilds the split the run used (its
``test_size`` and ``split_seed``) and two networks: the trained one from the
folder, and the same architecture untrained, made exactly as the run made it
before its first step (``manual_seed(config.seed)``, ``build_mlp``,
``initialise``). It then measures every layer, the raw input first and the
output last, with ``plaingrad.lens``:

- a linear probe's test accuracy, trained and untrained (``probe_layers``, on
  the whole split);
- the silhouette and the between/within class distance ratio
  (``separation``), the linear CKA between every pair of the trained model's
  layers (``cka_matrix``) and a PCA projection to 2-D of each layer
  (``pca``), all on the first ``--samples`` test samples;
- the drift (``lens_drift``, unless ``--no-drift``): the probes, separation
  and CKA again at epoch 0, at each checkpoint the run kept
  (``--checkpoint-every``) and at the end.

It writes ``lens.json`` (the figures), ``lens.html`` (one self-contained
page, under the same Content-Security-Policy as ``report.html``: inline
styles and SVG only) and, with matplotlib installed and without
``--no-png``, ``lens_pca.png``, ``lens_cka.png``, ``lens_layers.png``
(probes and silhouettes) and ``lens_drift.png``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
from html import escape
from typing import Any

import numpy as np

from . import _lens_charts, lens_drift
from .main import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, _fail

PROG = "plaingrad lens"
JSON_FILE = "lens.json"
HTML_FILE = "lens.html"
PNG_FILES = ("lens_pca.png", "lens_cka.png", "lens_layers.png")
DRIFT_PNG = "lens_drift.png"
# The test samples the separation statistics, CKA and projections use.
DEFAULT_SAMPLES = 1000
_RUN_NEEDS = ("config.json", "model.safetensors")


class _RunError(Exception):
    """A folder that is not a run this command can look at; one line."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def run_lens(args: argparse.Namespace) -> int:
    """Measure the layers of the run in ``args.run``; returns the exit status."""
    try:
        model, config = _load(args.run)
        args.config = config  # for the out-of-memory message
        data = _split(config, args)
    except _RunError as error:
        suffix = f" (see '{PROG} --help')" if error.status == EXIT_USAGE else ""
        return _fail(PROG, f"{error}{suffix}", error.status)
    output = args.output if args.output is not None else args.run
    from .output import check_output

    check_output(output)
    os.makedirs(output, exist_ok=True)
    from ..lens import select_modules

    try:
        select_modules(model, args.layers)
    except ValueError as error:  # --layers naming no module
        message = str(error).removeprefix("capture: ")
        return _fail(PROG, f"--layers: {message}", EXIT_USAGE)
    print(f"{PROG} {args.run}: {_describe(config)}", flush=True)
    try:
        figures = measure(
            model, untrained_model(config), data, args.layers, args.samples
        )
        drift = None
        if not args.no_drift:
            drift = _drift(args, config, model, data)
    except ValueError as error:  # a model whose activations are not finite
        return _fail(PROG, f"{args.run!r}: {error}", EXIT_FAILURE)
    figures = {"run": args.run, "dataset": config.dataset, **figures}
    _print_table(figures["layers"])
    if drift is not None:
        figures["drift"] = drift
        lens_drift.print_drift(drift)
    paths = [os.path.join(output, JSON_FILE), os.path.join(output, HTML_FILE)]
    with open(paths[0], "w", encoding="utf-8") as handle:
        json.dump(_finite(_public(figures)), handle, indent=2)
        handle.write("\n")
    with open(paths[1], "w", encoding="utf-8") as handle:
        handle.write(build_page(figures, config))
    if not args.no_png:
        if importlib.util.find_spec("matplotlib") is None:
            print(
                'No PNGs: matplotlib is not installed (pip install "plaingrad[plot]")'
            )
        else:
            paths += _write_pngs(output, figures)
    print(f"Saved {', '.join(paths)}")
    return EXIT_OK


def _drift(
    args: argparse.Namespace, config: Any, model: Any, data: Any
) -> dict[str, Any]:
    """The drift figures over the run's kept checkpoints (see lens_drift)."""
    models, skipped = lens_drift.saved_models(
        args.run, config, untrained_model(config), model
    )
    for line in skipped:
        print(f"Drift: skipping {line}")
    if len(models) == 2:
        print(
            "Drift: epoch 0 and the end only (train with --checkpoint-every N to "
            "see the epochs between)"
        )
    return lens_drift.measure_drift(
        models, data, args.layers, args.samples or DEFAULT_SAMPLES
    )


def _load(folder: str) -> tuple[Any, Any]:
    """``load_run(folder)``, or a ``_RunError`` saying why it is not a run."""
    from .train import load_run

    if not os.path.exists(folder):
        raise _RunError(f"{folder!r}: no such folder")
    if not os.path.isdir(folder):
        raise _RunError(f"{folder!r} is a file, not a run folder")
    missing = [n for n in _RUN_NEEDS if not os.path.isfile(os.path.join(folder, n))]
    from .checkpoint import LATEST

    if "model.safetensors" in missing and os.path.isfile(os.path.join(folder, LATEST)):
        raise _RunError(
            f"{folder!r} holds a run that did not finish (a {LATEST}, no "
            f"model.safetensors); finish it with: plaingrad train --resume {folder}"
        )
    if missing:
        raise _RunError(
            f"{folder!r} is not a run folder: it has no {' or '.join(missing)} "
            "(make one with: plaingrad train digits --output DIR)"
        )
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            dataset = json.load(handle).get("dataset")
    except (ValueError, AttributeError) as error:
        raise _RunError(
            f"{folder!r}: config.json is not a run's config ({error})"
        ) from None
    if dataset == "xor":
        raise _RunError(
            f"{folder!r} is an xor run; the lens looks at the classifiers' runs "
            "(digits, spirals, mnist, fashion-mnist, kmnist)",
            EXIT_USAGE,
        )
    try:
        return load_run(folder)
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        message = f"{folder!r} holds a run this plaingrad cannot read: {error}"
        raise _RunError(message) from None


def _split(config: Any, args: argparse.Namespace) -> Any:
    """The train/test split the run used (``--data-dir`` for IDX datasets)."""
    from .data import IDX_CLASSES, load_dataset

    if args.data_dir is not None:
        if config.dataset not in IDX_CLASSES:
            raise _RunError(
                "--data-dir applies only to mnist, fashion-mnist and kmnist runs",
                EXIT_USAGE,
            )
        config.data_dir = args.data_dir
    elif config.dataset in IDX_CLASSES and config.data_dir is None:
        config.data_dir = "data"
    return load_dataset(config)


def untrained_model(config: Any) -> Any:
    """The run's network as it was before its first step, in eval mode."""
    from .train import initial_model

    return initial_model(config).eval()


def _describe(config: Any) -> str:
    sizes = "-".join(map(str, config.layer_sizes))
    return f"{config.dataset}, MLP {sizes} ({config.activation}), seed {config.seed}"


def measure(
    model: Any, untrained: Any, data: Any, layers: Any, samples: int | None
) -> dict[str, Any]:
    """Every figure of ``lens.json``, and the projections for the page.

    Args:
        model: the trained network.
        untrained: the same architecture at initialisation.
        data: the split (``x_train``, ``y_train``, ``x_test``, ``y_test``).
        layers: ``capture``'s ``layers`` (None: every leaf module).
        samples: how many test samples (the first) the separation
            statistics, CKA and projections use; None for ``DEFAULT_SAMPLES``.

    Returns:
        ``{"n_train", "n_test", "samples", "layers", "cka", "projections",
        "labels"}``; each layer a dict with ``name``, ``type``,
        ``probe_accuracy``, ``probe_accuracy_untrained``, ``silhouette``,
        ``class_distance_ratio``, ``between_class_distance``,
        ``within_class_distance`` and ``pca_explained_variance_ratio``.
    """
    from .. import lens

    probes = lens.probe_layers(
        model, untrained, data.x_train, data.y_train, data.x_test, data.y_test, layers
    )
    count = min(samples or DEFAULT_SAMPLES, len(data.y_test))
    labels = data.y_test[:count].numpy()
    acts = lens.capture(model, data.x_test[:count], layers)
    stats = lens.separation(acts, labels)
    kinds = {
        "input": "input",
        **{p: type(m).__name__ for p, m in model.named_modules()},
    }
    rows, projections = [], {}
    for probe in probes:
        name = probe["name"]
        k = min(2, *acts[name].shape)
        projected, ratio, _ = lens.pca(acts[name], k=k)
        if k < 2:  # one feature: draw it against zero
            projected = np.column_stack([projected, np.zeros(len(projected))])
        projections[name] = projected
        rows.append(
            {
                "name": name,
                "type": kinds.get(name.split("#")[0], ""),
                "probe_accuracy": probe["probe_accuracy"],
                "probe_accuracy_untrained": probe["probe_accuracy_untrained"],
                **stats[name],
                "pca_explained_variance_ratio": ratio.tolist(),
            }
        )
    return {
        "n_train": len(data.y_train),
        "n_test": len(data.y_test),
        "samples": count,
        "layers": rows,
        "cka": lens.cka_matrix(acts).tolist(),
        "projections": projections,
        "labels": labels,
    }


def _public(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures ``lens.json`` holds: all but the page's projections."""
    return {k: v for k, v in figures.items() if k not in ("projections", "labels")}


def _finite(value: Any) -> Any:
    """``value`` with NaN and Inf made None, so that the file is valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def _print_table(rows: list[dict[str, Any]]) -> None:
    width = max(len(row["name"]) for row in rows) + 2
    print(f"{'layer':<{width}}{'type':<10}probe  untrained  silhouette  ratio")
    for row in rows:
        print(
            f"{row['name']:<{width}}{row['type']:<10}"
            f"{_fmt(row['probe_accuracy']):>5}  "
            f"{_fmt(row['probe_accuracy_untrained']):>9}  "
            f"{_fmt(row['silhouette'], '+.3f'):>10}  "
            f"{_fmt(row['class_distance_ratio'], '.2f'):>5}"
        )


def _write_pngs(folder: str, figures: dict[str, Any]) -> list[str]:
    """The projections, the CKA matrix, the probes and separation per layer
    and the drift as PNG, with ``plaingrad.lens``."""
    from .. import lens

    paths = [os.path.join(folder, name) for name in PNG_FILES]
    names = [row["name"] for row in figures["layers"]]
    lens.scatter(figures["projections"], figures["labels"], paths[0], title="PCA")
    lens.cka_heatmap(np.array(figures["cka"], dtype=float), names, paths[1])
    lens.layer_chart(figures["layers"], paths[2])
    if "drift" in figures:
        paths.append(os.path.join(folder, DRIFT_PNG))
        lens.drift_chart(figures["drift"]["records"], paths[-1])
    return paths


# ------------------------------------------------------------------ the page


def probes_card(rows: list[dict[str, Any]]) -> str:
    from .report import html_card, html_figure

    names = [row["name"] for row in rows]
    svg = _lens_charts.bar_chart(
        names,
        {
            "trained": [row["probe_accuracy"] for row in rows],
            "untrained": [row["probe_accuracy_untrained"] for row in rows],
        },
        title="Linear-probe test accuracy per layer",
        y_label="accuracy",
    )
    head = "<tr><th>layer</th><th>type</th><th>trained</th><th>untrained</th></tr>"
    body = "".join(
        f"<tr><td>{escape(r['name'])}</td><td>{escape(r['type'])}</td>"
        f"<td>{_fmt(r['probe_accuracy'])}</td>"
        f"<td>{_fmt(r['probe_accuracy_untrained'])}</td></tr>"
        for r in rows
    )
    note = (
        '<p class="note">A logistic regression fitted (with plaingrad) to each '
        "layer's activations on the training set, scored on the test set; "
        "untrained: the same layer of the same architecture at its "
        "initialisation. See docs/lens.md.</p>"
    )
    html = html_figure(svg) + f"<table>{head}{body}</table>" + note
    return html_card("probes", "Linear probes", html)


def separation_card(rows: list[dict[str, Any]], samples: int) -> str:
    from .report import html_card

    head = (
        "<tr><th>layer</th><th>silhouette</th><th>between / within</th>"
        "<th>between</th><th>within</th></tr>"
    )
    body = "".join(
        f"<tr><td>{escape(r['name'])}</td><td>{_fmt(r['silhouette'], '+.3f')}</td>"
        f"<td>{_fmt(r['class_distance_ratio'])}</td>"
        f"<td>{_fmt(r['between_class_distance'], '.4g')}</td>"
        f"<td>{_fmt(r['within_class_distance'], '.4g')}</td></tr>"
        for r in rows
    )
    note = (
        f'<p class="note">On {samples} test samples, euclidean distances in '
        "each layer's activation space: the silhouette (-1 to 1) and the mean "
        "distance between class centroids over the mean distance of a sample "
        "to its own centroid.</p>"
    )
    return html_card(
        "separation", "Class separation", f"<table>{head}{body}</table>{note}"
    )


def _cka_card(figures: dict[str, Any]) -> str:
    from .report import html_card, html_figure

    names = [row["name"] for row in figures["layers"]]
    svg = _lens_charts.matrix_heatmap(
        figures["cka"], names, title="Linear CKA between the trained model's layers"
    )
    note = (
        '<p class="note">1: the two layers hold the same representation up to '
        "a rotation and a scale; near 0: unrelated. NaN (red): a constant "
        "layer.</p>"
    )
    return html_card("cka", "Layer similarity (CKA)", html_figure(svg) + note)


def _projections_card(figures: dict[str, Any]) -> str:
    from .report import html_card, html_figure

    charts = []
    for row in figures["layers"]:
        share = sum(row["pca_explained_variance_ratio"])
        charts.append(
            _lens_charts.scatter(
                figures["projections"][row["name"]].tolist(),
                figures["labels"].tolist(),
                title=f"{row['name']} ({row['type']}): {share:.0%} of variance",
            )
        )
    note = (
        f'<p class="note">Each layer\'s {figures["samples"]} test samples on '
        "their first two principal components, coloured by class.</p>"
    )
    body = '<div class="charts">' + "".join(map(html_figure, charts)) + "</div>" + note
    return html_card("projections", "PCA projections", body)


def build_page(figures: dict[str, Any], config: Any) -> str:
    """``lens.html`` as text: the run, probes, separation, CKA, projections."""
    from .report import POLICY, STYLE, html_card, html_table

    rows = figures["layers"]
    summary = html_table(
        [
            ("run", str(figures["run"])),
            ("dataset", config.dataset),
            ("network", _describe(config).split(", ", 1)[1]),
            ("samples", f"{figures['n_train']} train, {figures['n_test']} test"),
            ("layers", ", ".join(row["name"] for row in rows)),
        ]
    )
    sections = [
        html_card("run", "The run", summary),
        probes_card(rows),
        separation_card(rows, figures["samples"]),
        _cka_card(figures),
        _projections_card(figures),
    ]
    if "drift" in figures:
        sections.append(lens_drift.drift_card(figures["drift"]))
    links = [
        ("run", "Run"),
        ("probes", "Probes"),
        ("separation", "Separation"),
        ("cka", "CKA"),
        ("projections", "Projections"),
    ]
    if "drift" in figures:
        links.append(("drift", "Drift"))
    nav = "".join(f'<a href="#{sid}">{name}</a>' for sid, name in links)
    title = f"plaingrad lens {config.dataset}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>What each layer has learned</p>"
        f"</header><nav>{nav}</nav><main>{''.join(sections)}</main></body></html>\n"
    )
