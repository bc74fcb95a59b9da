"""``plaingrad train --report`` / ``--plots``, and a diverging monitored run.

One short digits run with ``--report`` is shared by most tests: its page must
hold every section, load nothing from anywhere (checked in the HTML text and
in headless Chromium, which also shows it has no console errors), and say
what the run did (its verdicts, its steps, its layers). The narrated first
step is compared with PyTorch's gradients of the same first batch.

The browser test skips only when Chromium or playwright is missing and
``PLAINGRAD_REQUIRE_BROWSER`` is not set (CI sets it, and installs both).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import import_torch

from plaingrad.cli import _charts
from plaingrad.cli.main import main

pytest.importorskip("sklearn")

SECTIONS = (
    "run",
    "metrics",
    "verdicts",
    "gradient-flow",
    "update-ratios",
    "graph",
    "first-step",
    "representations",
)
CHROMIUM = "/usr/bin/chromium"
# The digits' training split is 1437 images: ceil(1437 / 64) = 23 steps a epoch.
STEPS_PER_EPOCH = 23
# How the heatmap marks a step where something turned NaN or Inf.
NONFINITE_FLAG = 'class="flag"'


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report") / "run"
    status, out, err = _main(
        "train", "digits", "--epochs", "2", "--report", "--quiet",
        "--output", str(folder),
    )  # fmt: skip
    assert status == 0, err
    return folder, out, (folder / "report.html").read_text(encoding="utf-8")


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text of <style> blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section class="card" id="{sid}">')
    return page[start : page.index("</section>", start)]


def test_report_is_written_and_announced(report_run):
    folder, out, page = report_run
    assert f"{folder / 'report.html'}" in out.splitlines()[-1]
    assert (folder / "verdicts.json").is_file()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for sid in SECTIONS:
        assert f'id="{sid}"' in page, sid


def test_report_loads_nothing_from_elsewhere(report_run):
    _, _, page = report_run
    parsed = _parse(page)
    names = [tag for tag, _ in parsed.tags]
    assert "script" not in names and "iframe" not in names and "img" not in names
    for tag, attrs in parsed.tags:
        for key in ("src", "href", "xlink:href", "action", "srcset"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, key, value)
    styles = "".join(parsed.styles) + " ".join(
        attrs.get("style", "") for _, attrs in parsed.tags
    )
    assert "@import" not in styles and "url(" not in styles
    # The only address in the page is SVG's namespace name, which loads nothing.
    addresses = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert addresses == {"http://www.w3.org/2000/svg"}
    policy = [
        a for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert policy and "default-src 'none'" in policy[0]["content"]


def test_report_shows_what_the_run_did(report_run):
    folder, _, page = report_run
    verdicts = json.loads((folder / "verdicts.json").read_text())
    table = _section(page, "verdicts")
    for verdict in verdicts:
        assert f">{verdict['name']}</td>" in table
    # The per-step loss chart: one marker per optimizer step of the 2 epochs.
    charts = _section(page, "metrics")
    step_chart = charts[charts.index("Loss of every step") :]
    step_chart = step_chart[: step_chart.index("</svg>")]
    assert step_chart.count("<circle") == 2 * STEPS_PER_EPOCH
    # The heatmap: one row per Linear layer of the 64-128-64-10 MLP.
    flow = _section(page, "gradient-flow")
    assert re.findall(r"<title>layer (\w+)</title>", flow) == ["0", "2", "4"]
    assert flow.count("<rect") >= 3 * 2 * STEPS_PER_EPOCH
    graph = _section(page, "graph")
    for name in ("0.weight", "2.bias", "4.weight", "AddmmBackward0"):
        assert name in graph
    story = _section(page, "first-step")
    for name in ("0.weight", "0.bias", "2.weight", "4.bias"):
        assert name in story


def test_narrated_step_is_the_first_step_torch_takes():
    """The story's gradient norms are those PyTorch finds on the first batch."""
    torch = import_torch()
    import plaingrad as pg
    from plaingrad.cli.data import load_dataset
    from plaingrad.cli.progress import EpochProgress
    from plaingrad.cli.train import RunConfig, build_mlp, train_classifier
    from plaingrad.utils.data import DataLoader, TensorDataset

    config = RunConfig(
        dataset="digits", layer_sizes=[64, 32, 10], activation="tanh",
        loss="cross_entropy", optimizer="sgd", lr=0.1, momentum=0.9, epochs=1,
        batch_size=64, seed=3, test_size=0.2, split_seed=0,
    )  # fmt: skip
    data = load_dataset(config)
    with EpochProgress(1, "digits", enabled=False) as bar:
        result = train_classifier(config, bar, data, monitor=True, narrate=True)
    story = result["story"]
    # The same initial weights and first batch, rebuilt; the gradients, torch's.
    pg.manual_seed(config.seed)
    start = build_mlp(config.layer_sizes, config.activation).state_dict()
    loader = DataLoader(
        TensorDataset(data.x_train, data.y_train),
        batch_size=64,
        shuffle=True,
        generator=pg.random.Generator().manual_seed(config.seed),
    )
    inputs, labels = next(iter(loader))
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10)
    )
    net.load_state_dict({k: torch.tensor(v.numpy()) for k, v in start.items()})
    loss = torch.nn.functional.cross_entropy(
        net(torch.tensor(inputs.numpy())), torch.tensor(labels.numpy())
    )
    loss.backward()
    for name, param in net.named_parameters():
        expected = float(param.grad.norm())
        assert story[name].grad_in.norm == pytest.approx(expected, rel=1e-4), name
    # Narrating the first step leaves training as it was.
    with EpochProgress(1, "digits", enabled=False) as bar:
        plain = train_classifier(config, bar, data, monitor=True)
    assert plain["monitor"]["loss"] == result["monitor"]["loss"]


def _browser():
    """playwright's sync API and Chromium's path, or skip (fail in CI)."""
    required = os.environ.get("PLAINGRAD_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            raise
        pytest.skip("playwright is not installed")
    if shutil.which(CHROMIUM) is None:
        if required:
            pytest.fail(f"PLAINGRAD_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is not installed")
    return sync_playwright


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def test_report_renders_in_headless_chromium(report_run, tmp_path):
    sync_playwright = _browser()
    folder, _, _ = report_run
    url = (folder / "report.html").resolve().as_uri()
    messages, failures, requests = [], [], []
    shot = tmp_path / "report.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: messages.append((m.type, m.text)))
            page.on("pageerror", lambda e: failures.append(str(e)))
            page.on("requestfailed", lambda r: failures.append(r.url))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            page.screenshot(path=str(shot), full_page=True)
            boxes = {}
            for sid in SECTIONS:
                section = page.locator(f"section#{sid}")
                assert section.count() == 1, sid
                boxes[sid] = section.bounding_box()
                svgs = section.locator("svg")
                for k in range(svgs.count()):
                    svg = svgs.nth(k)
                    box = svg.bounding_box()
                    assert box and box["width"] > 50 and box["height"] > 50, sid
                    assert svg.locator("rect, path, circle, text").count() > 5, sid
            graph_svgs = page.locator("section#graph svg").count()
            chart_svgs = page.locator("section#metrics svg").count()
            story_text = page.locator("section#first-step").inner_text()
        finally:
            browser.close()
    errors = [text for kind, text in messages if kind in ("error", "warning")]
    assert errors == [] and failures == []
    assert requests == [url]
    for sid, box in boxes.items():
        assert box and box["width"] > 300 and box["height"] > 40, sid
    assert graph_svgs == 1 and chart_svgs == 3
    assert "0.weight" in story_text and len(story_text) > 500
    # Not blank: a page of charts, a graph and text compresses to well over
    # 100 kB; a blank or unstyled page to a few kB.
    size = shot.stat().st_size
    assert size > 100_000, size
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_diverging_monitored_run_names_where_nan_began(tmp_path):
    folder = tmp_path / "run"
    status, out, err = _main(
        "train", "digits", "--epochs", "2", "--lr", "1e6", "--optimizer", "sgd",
        "--monitor", "--report", "--quiet", "--output", str(folder),
    )  # fmt: skip
    assert status == 1
    assert err.count("\n") == 1
    assert "training diverged: the loss became nan in epoch 1" in err
    assert "Verdicts:\n  non-finite values from step " in out
    verdicts = json.loads((folder / "verdicts.json").read_text())
    assert verdicts[0]["name"] == "nonfinite"
    message = verdicts[0]["message"]
    # The module whose output first turned non-finite, and the op whose
    # backward pass anomaly mode caught returning NaN.
    assert re.search(r"module \d+ \((Linear|ReLU)\) turned finite inputs", message)
    assert re.search(r"Function '\w+Backward\d*' returned (nan|inf)", message)
    assert "exploding_gradients" in [v["name"] for v in verdicts]
    # The run's own files were never written; its verdicts and report stay.
    assert not (folder / "model.safetensors").exists()
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "The run failed: training diverged" in page
    assert NONFINITE_FLAG in _section(page, "gradient-flow")


def test_huge_lr_with_monitor_in_a_real_process(tmp_path):
    """The issue's case: the default optimizer at a huge --lr, --monitor only."""
    folder = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "plaingrad", "train", "digits", "--epochs", "1",
         "--lr", "1e30", "--monitor", "--quiet", "--output", str(folder)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1
    # One line on stderr: the TrainingError, no warning or traceback before it.
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("plaingrad train: error: training diverged")
    verdict = done.stdout.split("Verdicts:\n  ")[1].splitlines()[0]
    assert verdict.startswith("non-finite values from step ")
    assert re.search(r"module \d+ \(Linear\) turned finite inputs", verdict)
    assert json.loads((folder / "verdicts.json").read_text())[0]["message"] == verdict
    assert sorted(os.listdir(folder)) == ["verdicts.json"]


@pytest.mark.parametrize("flag", ["--report", "--plots"])
def test_report_and_plots_refuse_xor(tmp_path, flag):
    status, _, err = _main("train", "xor", flag, "--output", str(tmp_path / "x"))
    assert status == 2
    assert f"{flag} shows the classifiers' runs, not xor's" in err
    assert not (tmp_path / "x").exists()


def test_plots_writes_three_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "run"
    status, out, _ = _main(
        "train", "digits", "--epochs", "1", "--plots", "--quiet",
        "--output", str(folder),
    )  # fmt: skip
    assert status == 0
    for name in ("metrics.png", "gradient_heatmap.png", "update_ratios.png"):
        data = (folder / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000, name
        assert str(folder / name) in out
    assert not (folder / "report.html").exists()


def test_plots_without_matplotlib_fails_before_training(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "matplotlib" else real(name, *a),
    )
    status, out, err = _main(
        "train", "digits", "--plots", "--output", str(tmp_path / "run")
    )
    assert status == 1
    assert "--plots needs matplotlib" in err and "plaingrad[plot]" in err
    assert "plaingrad train digits:" not in out  # nothing started
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------- the charts


def test_line_chart_breaks_at_values_it_cannot_draw():
    svg = _charts.line_chart(
        {"a": [1.0, math.nan, 2.0, 3.0, None, 4.0]},
        title="t", x_label="x", y_label="y",
    )  # fmt: skip
    path = re.search(r'<path d="([^"]+)"', svg).group(1)
    assert path.count("M") == 3 and path.count("L") == 1
    assert svg.count("<circle") == 4
    log = _charts.line_chart(
        {"a": [1e-3, 0.0, 1e-1]}, title="t", x_label="x", y_label="y", log_y=True
    )
    assert re.search(r'<path d="([^"]+)"', log).group(1).count("M") == 2
    # log10 ticks at the powers of ten from 1e-3 to 1e-1
    assert ">1e-3</text>" in log and ">0.01</text>" in log and ">0.1</text>" in log


def test_line_chart_places_points_on_its_axes():
    svg = _charts.line_chart(
        {"a": [0.0, 10.0]}, title="t", x_label="x", y_label="y",
        width=264, height=168,
    )  # fmt: skip
    # plot area: x from 64 to 252, y from 28 (value 10) to 128 (value 0)
    path = re.search(r'<path d="([^"]+)"', svg).group(1)
    assert path == "M64.0 128.0 L252.0 28.0"


def test_chart_labels_are_escaped():
    svg = _charts.line_chart(
        {"<b>&": [1.0, 2.0], "two": [2.0, 1.0]}, title="<t>", x_label="x",
        y_label="y",
    )  # fmt: skip
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg and "&lt;t&gt;" in svg
    heat = _charts.heatmap({"<l>": [1.0, 2.0]}, title="h")
    assert "<l>" not in heat and "&lt;l&gt;" in heat


def test_heatmap_colours_zero_nan_and_the_scale():
    heat = _charts.heatmap(
        {"a": [1.0, 10.0, 0.0, math.inf], "b": [100.0, 100.0, math.nan, 1.0]},
        title="h",
    )
    fills = re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" '
                       r'height="[^"]+" fill="(#[0-9a-f]{6})"/>', heat)  # fmt: skip
    cells = fills[:8]
    # log10: a = 0, 1, zero, inf; b = 2, 2, nan, 0 on a scale from 0 to 2
    assert cells == [
        _charts.scale_colour(0.0), _charts.scale_colour(0.5), _charts.ZERO_COLOUR,
        _charts.NONFINITE_COLOUR, _charts.scale_colour(1.0),
        _charts.scale_colour(1.0), _charts.NONFINITE_COLOUR,
        _charts.scale_colour(0.0),
    ]  # fmt: skip


def test_heatmap_bins_long_runs_by_the_mean_log():
    steps = 2 * _charts.MAX_COLUMNS
    values = [1.0, 100.0] * _charts.MAX_COLUMNS + [10.0, 10.0]
    heat = _charts.heatmap({"a": values, "b": [1.0] * steps}, title="h")
    row = heat[heat.index("<title>layer a</title>") : heat.index("</g>")]
    # 482 steps in columns of 3 (at most 240 columns): 161 columns
    assert row.count("<rect") == math.ceil((steps + 2) / 3)
    assert "mean of 3 steps per column" in heat
    assert np.isclose(_charts._bin([1.0, 100.0, 1.0], 0, 3), 2 / 3)


def test_report_shows_what_each_layer_learned(report_run):
    _, _, page = report_run
    start = page.index('id="representations"')
    table = page[page.index("<table>", page.index('id="probes"', start)) :]
    table = table[: table.index("</table>")]
    rows = re.findall(
        r"<tr><td>([^<]*)</td><td>[^<]*</td><td>([\d.]+)</td><td>([\d.]+)</td></tr>",
        table,
    )
    # the raw input, then the five modules of Linear, ReLU, Linear, ReLU, Linear
    assert [name for name, _, _ in rows] == ["input", "0", "1", "2", "3", "4"]
    for _, trained, untrained in rows:
        assert 0.0 <= float(trained) <= 1.0 and 0.0 <= float(untrained) <= 1.0
    # the raw input is the same for both networks, so its probes must agree
    assert rows[0][1] == rows[0][2]
