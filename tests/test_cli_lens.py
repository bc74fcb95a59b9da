"""``plaingrad lens RUN_FOLDER``: the figures of lens.json, its page, its errors.

Two runs are trained once per module through the command line, digits and
spirals, and the lens is run on each. Its numbers are checked against a
recomputation here that shares nothing with the command but ``capture``:
the probes against scikit-learn's ``LogisticRegression`` (the same
objective, see docs/lens.md), the silhouette against scikit-learn's
``silhouette_score``, CKA against its formula, PCA against NumPy's SVD, and
the untrained model against one built here with ``nn.Sequential`` from the
run's seed. The drift over the spirals run's kept checkpoints is recomputed
from the checkpoint files with hand-built networks.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from html.parser import HTMLParser

import numpy as np
import pytest

import plaingrad
from plaingrad import lens, nn
from plaingrad.cli.main import main
from plaingrad.cli.train import load_run
from plaingrad.datasets import load_digits, load_spirals

pytest.importorskip("sklearn")

SECTIONS = ("run", "probes", "separation", "cka", "projections", "drift")
LAYERS = ["input", "0", "1", "2", "3", "4"]  # a 3-Linear MLP's leaves
FIELDS = (
    "name",
    "probe_accuracy",
    "probe_accuracy_untrained",
    "silhouette",
    "class_distance_ratio",
)


def _main(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def _train(folder, *argv: str) -> None:
    status, _, err = _main("train", *argv, "--quiet", "--output", str(folder))
    assert status == 0, err


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lens") / "digits"
    _train(folder, "digits", "--epochs", "10")
    status, out, err = _main("lens", str(folder))
    assert status == 0, err
    return folder, out, json.loads((folder / "lens.json").read_text())


@pytest.fixture(scope="module")
def spirals_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lens") / "spirals"
    _train(folder, "spirals", "--checkpoint-every", "10")
    status, _, err = _main("lens", str(folder), "--no-png")
    assert status == 0, err
    return folder, json.loads((folder / "lens.json").read_text())


def _sklearn_probe(train, y_train, test, y_test) -> float:
    from sklearn.linear_model import LogisticRegression

    mean, std = train.mean(0), train.std(0)
    std[std == 0] = 1.0
    weight_decay = lens.PROBE_SETTINGS["weight_decay"]
    probe = LogisticRegression(C=1.0 / (weight_decay * len(train)), max_iter=5000)
    probe.fit((train - mean) / std, y_train)
    return float(probe.score((test - mean) / std, y_test))


def _untrained_digits(seed: int) -> nn.Module:
    """The digits run's MLP before its first step, built here by hand."""
    plaingrad.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
    )


def test_lens_json_lists_the_layers_from_input_to_output(digits_run):
    folder, out, figures = digits_run
    assert figures["run"] == str(folder) and figures["dataset"] == "digits"
    assert [row["name"] for row in figures["layers"]] == LAYERS
    assert [row["type"] for row in figures["layers"]] == [
        "input", "Linear", "ReLU", "Linear", "ReLU", "Linear",
    ]  # fmt: skip
    for row in figures["layers"]:
        assert set(FIELDS) <= set(row)
    assert figures["n_train"] == 1437 and figures["n_test"] == 360
    assert figures["samples"] == 360
    pngs = ("lens_pca.png", "lens_cka.png", "lens_layers.png", "lens_drift.png")
    for name in ("lens.json", "lens.html", *pngs):
        assert str(folder / name) in out.splitlines()[-1]
    for name in pngs:
        assert (folder / name).read_bytes()[:4] == b"\x89PNG", name


def test_probes_agree_with_scikit_learn(digits_run):
    folder, _, figures = digits_run
    model, config = load_run(str(folder))
    data = load_digits(test_size=config.test_size, seed=config.split_seed)
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    rows = {row["name"]: row for row in figures["layers"]}
    untrained = _untrained_digits(config.seed)
    for name in ("3", "4"):  # the last hidden layer and the logits
        for net, key in (
            (model, "probe_accuracy"),
            (untrained, "probe_accuracy_untrained"),
        ):
            train = lens.capture(net, data.x_train, [name])[name]
            test = lens.capture(net, data.x_test, [name])[name]
            expected = _sklearn_probe(train, y_train, test, y_test)
            assert abs(rows[name][key] - expected) <= 0.03, (name, key, expected)
    # what training added (issue 6's digits demonstration, seed 0): the last
    # hidden layer beats itself untrained, the logits by far
    assert rows["3"]["probe_accuracy"] > rows["3"]["probe_accuracy_untrained"]
    assert rows["4"]["probe_accuracy"] > rows["4"]["probe_accuracy_untrained"] + 0.1
    assert rows["input"]["probe_accuracy"] == rows["input"]["probe_accuracy_untrained"]


def test_separation_and_cka_agree_with_their_definitions(digits_run):
    from sklearn.metrics import silhouette_score

    folder, _, figures = digits_run
    model, config = load_run(str(folder))
    data = load_digits(test_size=config.test_size, seed=config.split_seed)
    acts = lens.capture(model, data.x_test)
    labels = data.y_test.numpy()
    assert list(acts) == LAYERS
    cka = np.array(figures["cka"])
    assert cka.shape == (6, 6)
    np.testing.assert_allclose(np.diag(cka), 1.0, atol=1e-9)
    np.testing.assert_array_equal(cka, cka.T)
    for i, row in enumerate(figures["layers"]):
        x = acts[row["name"]].astype(np.float64)
        expected = silhouette_score(x, labels)
        assert row["silhouette"] == pytest.approx(expected, abs=1e-6), row["name"]
        centroids = np.stack([x[labels == c].mean(0) for c in range(10)])
        within = np.linalg.norm(x - centroids[labels], axis=1).mean()
        pairs = [(a, b) for a in range(10) for b in range(a + 1, 10)]
        gaps = [np.linalg.norm(centroids[a] - centroids[b]) for a, b in pairs]
        between = np.mean(gaps)
        assert row["class_distance_ratio"] == pytest.approx(between / within, rel=1e-6)
        # PCA's share of variance, from NumPy's singular values
        s = np.linalg.svd(x - x.mean(0), compute_uv=False)
        np.testing.assert_allclose(
            row["pca_explained_variance_ratio"], (s**2)[:2] / (s**2).sum(), rtol=1e-6
        )
        # CKA from its formula, with the first layer
        a, b = acts["input"] - acts["input"].mean(0), x - x.mean(0)
        formula = np.linalg.norm(b.T @ a) ** 2 / (
            np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
        )
        assert cka[0, i] == pytest.approx(formula, rel=1e-6)


def test_spirals_demonstration_through_the_command(spirals_run):
    folder, figures = spirals_run
    rows = {row["name"]: row for row in figures["layers"]}
    assert list(rows) == LAYERS
    assert rows["input"]["probe_accuracy"] < 0.7  # no line separates them
    assert rows["3"]["probe_accuracy"] > 0.95  # the last hidden layer
    assert not list(folder.glob("*.png"))  # --no-png
    model, config = load_run(str(folder))
    data = load_spirals(test_size=config.test_size, seed=config.split_seed)
    acts = lens.capture(model, data.x_train, ["3"])
    test = lens.capture(model, data.x_test, ["3"])
    expected = _sklearn_probe(
        acts["3"], data.y_train.numpy(), test["3"], data.y_test.numpy()
    )
    assert abs(rows["3"]["probe_accuracy"] - expected) <= 0.03


def test_untrained_model_is_the_runs_starting_point(tmp_path):
    # An lr of 1e-30 leaves every float32 weight where it started, so the
    # "trained" model is the run's initialisation: each layer's probe must
    # then equal its untrained probe exactly, for this seed and init too.
    folder = tmp_path / "still"
    _train(
        folder, "spirals", "--epochs", "1", "--optimizer", "sgd", "--lr", "1e-30",
        "--seed", "3", "--init", "kaiming",
    )  # fmt: skip
    status, _, err = _main("lens", str(folder), "--no-png")
    assert status == 0, err
    rows = json.loads((folder / "lens.json").read_text())["layers"]
    assert [row["name"] for row in rows] == LAYERS
    for row in rows:
        assert row["probe_accuracy"] == row["probe_accuracy_untrained"], row


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_page_is_self_contained_and_has_every_section(spirals_run):
    folder, figures = spirals_run
    page = (folder / "lens.html").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    names = [tag for tag, _ in parser.tags]
    assert "script" not in names and "img" not in names and "iframe" not in names
    for tag, attrs in parser.tags:
        for key in ("src", "href", "xlink:href", "action", "srcset"):
            value = attrs.get(key)
            if value is not None:
                assert value.startswith(("#", "data:")), (tag, key, value)
    assert "url(" not in page and "@import" not in page
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) == {
        "http://www.w3.org/2000/svg"
    }
    csp = "Content-Security-Policy"
    policy = [a for _, a in parser.tags if a.get("http-equiv") == csp]
    assert policy and "default-src 'none'" in policy[0]["content"]
    for sid in SECTIONS:
        assert f'<section class="card" id="{sid}">' in page, sid
    projections = page[page.index('id="projections"') : page.index('id="drift"')]
    # one scatter per layer, one point per test sample in each
    assert projections.count("<svg") == len(LAYERS)
    assert projections.count("<circle") == len(LAYERS) * figures["samples"]
    cka = page[page.index('id="cka"') : page.index('id="projections"')]
    assert cka.count("<rect") >= len(LAYERS) ** 2
    drift = page[page.index('id="drift"') :]
    # two charts, one line per layer through the five epochs; a table row each
    assert drift.count("<svg") == 2
    assert drift.count('<g class="series">') == 2 * len(LAYERS)
    assert drift.count('<path d="M') >= 2 * len(LAYERS)
    assert drift.count("<tr>") == 1 + len(LAYERS)


def test_layers_samples_and_output_flags(spirals_run, tmp_path):
    from sklearn.metrics import silhouette_score

    folder, _ = spirals_run
    out = tmp_path / "elsewhere"
    status, _, err = _main(
        "lens", str(folder), "--layers", "Linear", "--samples", "50",
        "--output", str(out), "--no-png",
    )  # fmt: skip
    assert status == 0, err
    figures = json.loads((out / "lens.json").read_text())
    assert [row["name"] for row in figures["layers"]] == ["input", "0", "2", "4"]
    assert figures["samples"] == 50 and np.array(figures["cka"]).shape == (4, 4)
    model, config = load_run(str(folder))
    data = load_spirals(test_size=config.test_size, seed=config.split_seed)
    x = lens.capture(model, data.x_test[:50], ["2"])["2"]
    expected = silhouette_score(x, data.y_test.numpy()[:50])
    assert figures["layers"][2]["silhouette"] == pytest.approx(expected, abs=1e-6)


def _one_line_error(status: int, err: str, expected: int, *words: str) -> None:
    assert status == expected, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plaingrad lens: error: "), err
    for word in words:
        assert word in lines[0], err


def test_bad_folders_are_refused_in_one_line(tmp_path):
    status, out, err = _main("lens", str(tmp_path / "missing"))
    _one_line_error(status, err, 1, "no such folder")
    assert out == ""
    status, _, err = _main("lens", str(tmp_path))
    _one_line_error(status, err, 1, "not a run folder", "config.json")
    stopped = tmp_path / "stopped"  # what a run stopped by Ctrl-C leaves
    stopped.mkdir()
    (stopped / "checkpoint.safetensors").write_bytes(b"")
    status, _, err = _main("lens", str(stopped))
    _one_line_error(status, err, 1, "did not finish", "plaingrad train --resume")
    xor = tmp_path / "xor"
    status, _, err = _main("train", "xor", "--epochs", "5", "--output", str(xor))
    assert status == 0, err
    status, _, err = _main("lens", str(xor))
    _one_line_error(status, err, 2, "xor run", "--help")
    assert not (xor / "lens.json").exists()
    (tmp_path / "config.json").write_text("{not json")
    (tmp_path / "model.safetensors").write_bytes(b"")
    status, _, err = _main("lens", str(tmp_path))
    _one_line_error(status, err, 1, "config.json")


def test_bad_flags_are_usage_errors(spirals_run):
    folder, _ = spirals_run
    status, _, err = _main("lens", str(folder), "--layers", "Conv2d")
    _one_line_error(status, err, 2, "Conv2d")
    status, _, err = _main("lens", str(folder), "--data-dir", "data")
    _one_line_error(status, err, 2, "--data-dir")
    status, _, err = _main("lens", str(folder), "--samples", "0")
    _one_line_error(status, err, 2, "--samples")


def test_page_renders_in_headless_chromium(spirals_run, tmp_path):
    from test_cli_report import BROWSER_ARGS, CHROMIUM, _browser

    sync_playwright = _browser()
    folder, _ = spirals_run
    url = (folder / "lens.html").resolve().as_uri()
    messages, failures, requests = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: messages.append((m.type, m.text)))
            page.on("pageerror", lambda e: failures.append(str(e)))
            page.on("requestfailed", lambda r: failures.append(r.url))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            boxes = {}
            for sid in SECTIONS:
                section = page.locator(f"section#{sid}")
                assert section.count() == 1, sid
                boxes[sid] = section.bounding_box()
                svgs = section.locator("svg")
                for k in range(svgs.count()):
                    box = svgs.nth(k).bounding_box()
                    assert box and box["width"] > 50 and box["height"] > 50, sid
            scatters = page.locator("section#projections svg").count()
        finally:
            browser.close()
    errors = [text for kind, text in messages if kind in ("error", "warning")]
    assert errors == [] and failures == [] and requests == [url]
    for sid, box in boxes.items():
        assert box and box["width"] > 300 and box["height"] > 40, sid
    assert scatters == len(LAYERS)


def test_cka_heatmap_draws_nan_apart_and_json_writes_it_null():
    from plaingrad.cli import _charts, _lens_charts
    from plaingrad.cli.lens_cmd import _finite

    svg = _lens_charts.matrix_heatmap(
        [[1.0, float("nan")], [float("nan"), 1.0]], ["a", "<b>"], title="t"
    )
    assert svg.count(f'fill="{_charts.NONFINITE_COLOUR}"') == 2
    assert ">nan</text>" in svg and "&lt;b&gt;" in svg and "<b>" not in svg
    assert f'fill="{_charts.scale_colour(1.0)}"' in svg
    assert json.dumps(_finite({"cka": [[1.0, float("nan")], [float("inf"), 0.5]]})) == (
        '{"cka": [[1.0, null], [null, 0.5]]}'
    )


def test_bar_heights_are_the_values_on_a_0_to_1_scale():
    from plaingrad.cli import _lens_charts

    svg = _lens_charts.bar_chart(
        ["input", "0"], {"trained": [0.5, 1.0], "untrained": [None, 0.25]},
        title="t", y_label="accuracy", height=300,
    )  # fmt: skip
    # a bar holds its <title>; the legend's swatches are empty elements
    bar = r'height="([0-9.]+)" fill="#[0-9a-f]{6}"><title>'
    bars = [float(h) for h in re.findall(bar, svg)]
    plot_h = 300 - 28 - 46  # the height less the margins above and below
    assert bars == pytest.approx([0.5 * plot_h, 1.0 * plot_h, 0.25 * plot_h], abs=0.06)


def _spirals_net() -> nn.Module:
    return nn.Sequential(
        nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )


def _numpy_cka(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(0), y - y.mean(0)
    cross = np.linalg.norm(y.T @ x) ** 2
    return float(cross / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def _outputs(net: nn.Module, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each module's output, the modules run one after another by hand."""
    acts, value = {"input": x.astype(np.float64)}, plaingrad.from_numpy(x)
    with plaingrad.no_grad():
        for index, module in enumerate(net):
            value = module(value)
            acts[str(index)] = value.numpy().astype(np.float64)
    return acts


def test_drift_runs_from_epoch_0_through_the_kept_checkpoints(spirals_run):
    _, figures = spirals_run
    drift = figures["drift"]
    assert drift["epochs"] == [0, 10, 20, 30, 40]
    assert [r["epoch"] for r in drift["records"]] == drift["epochs"]
    assert drift["n_train"] == figures["n_train"] == 800
    assert drift["samples"] == figures["samples"] == 200
    start, end = drift["records"][0]["layers"], drift["records"][-1]["layers"]
    for row, first, last in zip(figures["layers"], start, end, strict=True):
        # epoch 0 is the untrained model, the end the trained one, measured on
        # the same split: the same figures as the lens's own table
        assert first["name"] == last["name"] == row["name"]
        assert first["probe_accuracy"] == row["probe_accuracy_untrained"]
        assert last["probe_accuracy"] == row["probe_accuracy"]
        assert last["silhouette"] == pytest.approx(row["silhouette"], abs=1e-12)
        assert last["cka_to_last"] == pytest.approx(1.0)
        assert first["cka_to_previous"] is None
    # what training did: the logits' classes pull apart, the raw input stays
    assert start[-1]["silhouette"] < 0.1 < 0.5 < end[-1]["silhouette"]
    assert start[0]["cka_to_last"] == pytest.approx(1.0)


def test_drift_agrees_with_the_checkpoint_files(spirals_run):
    from sklearn.metrics import silhouette_score

    folder, figures = spirals_run
    config = json.loads((folder / "config.json").read_text())
    data = load_spirals(test_size=config["test_size"], seed=config["split_seed"])
    x_train, x_test = data.x_train.numpy(), data.x_test.numpy()
    y_train, y_test = data.y_train.numpy(), data.y_test.numpy()
    nets = {}
    for epoch in (10, 20, 30):
        net = _spirals_net()
        state = plaingrad.load(str(folder / f"checkpoint-epoch-{epoch}.safetensors"))
        assert state["epoch"] == epoch
        net.load_state_dict(state["model"])
        nets[epoch] = net
    nets[40] = load_run(str(folder))[0]
    tests = {epoch: _outputs(net, x_test) for epoch, net in nets.items()}
    records = {r["epoch"]: r for r in figures["drift"]["records"]}
    for epoch in (10, 20, 30):
        train = _outputs(nets[epoch], x_train)
        for layer in records[epoch]["layers"]:
            name = layer["name"]
            acts = tests[epoch][name]
            assert layer["silhouette"] == pytest.approx(
                silhouette_score(acts, y_test), abs=1e-5
            )
            assert layer["cka_to_last"] == pytest.approx(
                _numpy_cka(acts, tests[40][name]), rel=1e-5, abs=1e-6
            )
            if epoch > 10:
                expected = _numpy_cka(acts, tests[epoch - 10][name])
                assert layer["cka_to_previous"] == pytest.approx(expected, rel=1e-5)
            # the probe is checked against scikit-learn above; here it must be
            # fitted to this checkpoint's activations (one test sample of
            # rounding between float32 captures and these float64 copies)
            expected = lens.linear_probe(train[name], y_train, acts, y_test)
            assert layer["probe_accuracy"] == pytest.approx(expected, abs=0.0051)


def test_drift_without_checkpoints_has_the_two_ends(digits_run):
    _, out, figures = digits_run
    assert figures["drift"]["epochs"] == [0, 10]
    assert "epoch 0 and the end only" in out and "--checkpoint-every" in out


def test_unusable_checkpoints_are_skipped_and_no_drift_skips_all(spirals_run, tmp_path):
    import shutil

    folder, _ = spirals_run
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    (copy / "checkpoint-epoch-20.safetensors").write_bytes(b"not a checkpoint")
    shutil.copy(
        copy / "checkpoint-epoch-10.safetensors",
        copy / "checkpoint-epoch-30.safetensors",
    )  # a file whose epoch is not the one its name says
    state = plaingrad.load(str(copy / "checkpoint-epoch-10.safetensors"))
    state["model"]["2.weight"][0, 0] = float("nan")
    state["epoch"] = 5
    plaingrad.save(state, str(copy / "checkpoint-epoch-5.safetensors"))
    state["model"]["2.weight"][0, 0] = 0.0
    state["epoch"], state["config"]["seed"] = 15, 7  # another run's checkpoint
    plaingrad.save(state, str(copy / "checkpoint-epoch-15.safetensors"))
    shutil.copy(
        copy / "checkpoint-epoch-10.safetensors",
        copy / "checkpoint-epoch-99.safetensors",
    )
    status, out, err = _main("lens", str(copy), "--layers", "4", "--no-png")
    assert status == 0, err
    skipped = [line for line in out.splitlines() if line.startswith("Drift: skip")]
    assert skipped == [
        "Drift: skipping checkpoint-epoch-5.safetensors: its weights hold NaN or Inf",
        "Drift: skipping checkpoint-epoch-15.safetensors: it is from another run "
        "(its seed 7, this run's 0)",
        skipped[2],
        "Drift: skipping checkpoint-epoch-30.safetensors: it holds epoch 10, not 30",
        "Drift: skipping checkpoint-epoch-99.safetensors: the run has 40 epochs",
    ], out
    assert skipped[2].startswith("Drift: skipping checkpoint-epoch-20.safetensors: ")
    figures = json.loads((copy / "lens.json").read_text())
    assert figures["drift"]["epochs"] == [0, 10, 40]
    status, out, err = _main("lens", str(copy), "--no-drift", "--no-png")
    assert status == 0, err
    figures = json.loads((copy / "lens.json").read_text())
    assert "drift" not in figures and "Drift" not in out
    assert 'id="drift"' not in (copy / "lens.html").read_text()


def test_an_idx_run_is_read_from_its_data_dir_or_another(tmp_path):
    from test_cli_toolkit import _write_idx_set

    data = tmp_path / "data"
    _write_idx_set(data, False, {"train": 60, "t10k": 20})
    folder = tmp_path / "run"
    _train(
        folder, "mnist", "--data-dir", str(data), "--hidden", "16", "--epochs", "4",
        "--batch-size", "10", "--lr", "0.01", "--checkpoint-every", "2",
    )  # fmt: skip
    status, out, err = _main("lens", str(folder), "--no-png")
    assert status == 0, err
    figures = json.loads((folder / "lens.json").read_text())
    assert figures["dataset"] == "mnist"
    assert (figures["n_train"], figures["n_test"]) == (60, 20)
    assert [row["name"] for row in figures["layers"]] == ["input", "0", "1", "2"]
    assert figures["layers"][0]["probe_accuracy"] >= 0.9  # bars a line can split
    assert figures["drift"]["epochs"] == [0, 2, 4]
    # the same files elsewhere, named with --data-dir, give the same figures
    moved = tmp_path / "moved"
    data.rename(moved)
    status, _, err = _main("lens", str(folder), "--no-png")
    _one_line_error(status, err, 1, "dataset file not found", str(data))
    status, _, err = _main(
        "lens", str(folder), "--data-dir", str(moved), "--no-png", "--no-drift"
    )
    assert status == 0, err
    again = json.loads((folder / "lens.json").read_text())
    assert again["layers"] == figures["layers"]
