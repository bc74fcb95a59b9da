"""The ``plaingrad`` command: ``plaingrad train`` on digits and XOR, and its errors.

One full default run goes through the installed ``plaingrad`` script in a
subprocess, as a user would start it; its files are then checked from outside:
the model is rebuilt from ``config.json`` with plain ``nn`` calls, its weights
loaded from ``model.safetensors``, and the digits split redone with scikit-learn
itself, so the test accuracy it reports is recomputed independently. Shorter
runs and the error cases call ``main(argv)`` in-process; the few things only a
real process shows (no traceback, a module that cannot be imported,
``python -m``) run in subprocesses.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

import plaingrad as pg
from plaingrad.cli import main
from plaingrad.io import load_safetensors

ROOT = Path(__file__).resolve().parents[1]
RUN_FILES = {"model.safetensors", "config.json", "metrics.json"}
XOR_INPUTS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
XOR_TARGETS = [0.0, 1.0, 1.0, 0.0]


def _script() -> str:
    """The ``plaingrad`` console script of this interpreter's installation."""
    beside = Path(sys.executable).parent / "plaingrad"
    found = str(beside) if beside.exists() else shutil.which("plaingrad")
    assert found, "the plaingrad script is not installed: pip install -e '.[test]'"
    return found


def _run(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, timeout=300, **kwargs
    )


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _assert_one_error_line(stderr: str, *pieces: str) -> str:
    """stderr is exactly one ``plaingrad ...: error: ...`` line with ``pieces``."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert stderr.endswith("\n")
    assert re.match(r"^plaingrad( train)?: error: \S", lines[0]), lines[0]
    for piece in pieces:
        assert piece in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------ the default digits run


@pytest.fixture(scope="module")
def default_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """``plaingrad train --output DIR``: the dataset and every setting default."""
    home = tmp_path_factory.mktemp("default_run")
    result = _run([_script(), "train", "--output", str(home / "run")], cwd=home)
    assert result.returncode == 0, result.stderr
    return result, home / "run"


def _reported_accuracy(stdout: str) -> float:
    match = re.search(r"^Test accuracy: (\d\.\d{4})$", stdout, re.MULTILINE)
    assert match, stdout
    return float(match.group(1))


def test_default_run_reaches_096_test_accuracy(default_run):
    result, folder = default_run

    accuracy = _reported_accuracy(result.stdout)

    assert accuracy >= 0.96
    metrics = _read_json(folder / "metrics.json")
    assert round(metrics["test_accuracy"], 4) == accuracy
    assert metrics["test_accuracy"] >= 0.96


def test_default_run_trains_digits_and_says_so(default_run):
    result, folder = default_run

    first = result.stdout.splitlines()[0]

    assert first == (
        "plaingrad train digits: MLP 64-128-64-10 (relu), adam lr=0.001, "
        "30 epochs, batch 64, seed 0"
    )
    assert "Trained on 1437 images" in result.stdout
    assert sorted(os.listdir(folder)) == sorted(RUN_FILES)
    assert f"Saved {folder / 'model.safetensors'}" in result.stdout


def test_default_run_shows_a_progress_bar_on_stderr(default_run):
    result, _ = default_run

    assert "Traceback" not in result.stderr
    assert "digits:" in result.stderr
    assert "100%" in result.stderr and "30/30" in result.stderr
    assert "test_acc=" in result.stderr
    assert "Test accuracy" not in result.stderr  # results go to stdout


def test_config_json_holds_every_setting(default_run):
    _, folder = default_run

    assert _read_json(folder / "config.json") == {
        "dataset": "digits",
        "layer_sizes": [64, 128, 64, 10],
        "activation": "relu",
        "loss": "cross_entropy",
        "optimizer": "adam",
        "lr": 0.001,
        "momentum": None,
        "epochs": 30,
        "batch_size": 64,
        "seed": 0,
        "test_size": 0.2,
        "split_seed": 0,
        "optimizer_args": {},
        "scheduler": None,
        "scheduler_args": {},
        "scheduler_args_given": [],
        "clip_grad": None,
        "checkpoint_every": None,
        "data_dir": None,
        "plaingrad_version": pg.__version__,
        "init": "default",
        "dtype": "float32",
        "world_size": 1,
    }


def test_metrics_json_holds_every_epoch(default_run):
    _, folder = default_run

    metrics = _read_json(folder / "metrics.json")
    history = metrics["history"]

    assert [record["epoch"] for record in history] == list(range(1, 31))
    for record in history:
        assert set(record) == {
            "epoch",
            "train_loss",
            "train_accuracy",
            "test_accuracy",
            "lr",
        }
        assert record["lr"] == 0.001  # no --scheduler: the lr stays put
        assert 0 < record["train_loss"] < 2.5  # chance level is ln 10 = 2.30
        assert 0 <= record["train_accuracy"] <= 1
        assert 0 <= record["test_accuracy"] <= 1
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 10
    assert metrics["test_accuracy"] == history[-1]["test_accuracy"]
    assert metrics["train_loss"] == history[-1]["train_loss"]
    assert (metrics["n_train"], metrics["n_test"]) == (1437, 360)


def _digits_test_set(config: dict) -> tuple[np.ndarray, np.ndarray]:
    """The held-out digits, split by scikit-learn from the config's settings."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    _, x_test, _, y_test = train_test_split(
        (images / 16.0).astype(np.float32),
        labels,
        test_size=config["test_size"],
        random_state=config["split_seed"],
        stratify=labels,
    )
    return x_test, y_test


def test_model_rebuilt_from_config_gives_the_same_test_accuracy(default_run):
    _, folder = default_run
    config = _read_json(folder / "config.json")
    activation = {"relu": pg.nn.ReLU, "tanh": pg.nn.Tanh, "sigmoid": pg.nn.Sigmoid}
    sizes = config["layer_sizes"]
    layers = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if index:
            layers.append(activation[config["activation"]]())
        layers.append(pg.nn.Linear(fan_in, fan_out))
    model = pg.nn.Sequential(*layers)
    x_test, y_test = _digits_test_set(config)

    model.load_state_dict(load_safetensors(folder / "model.safetensors"))
    with pg.no_grad():
        predicted = model(pg.tensor(x_test)).argmax(dim=1).numpy()

    accuracy = float((predicted == y_test).mean())
    assert accuracy == pytest.approx(
        _read_json(folder / "metrics.json")["test_accuracy"]
    )
    assert accuracy >= 0.96


def test_load_run_rebuilds_the_same_model(default_run):
    from plaingrad.cli.train import load_run

    _, folder = default_run
    x_test, y_test = _digits_test_set(_read_json(folder / "config.json"))

    model, config = load_run(str(folder))
    with pg.no_grad():
        predicted = model(pg.tensor(x_test)).argmax(dim=1).numpy()

    assert config.layer_sizes == [64, 128, 64, 10]
    assert not model.training
    expected = _read_json(folder / "metrics.json")["test_accuracy"]
    assert float((predicted == y_test).mean()) == pytest.approx(expected)


# ------------------------------------------------------------- the digits data


def test_digits_split_is_stratified_80_20():
    from plaingrad.datasets import load_digits

    data = load_digits()
    labels = np.concatenate([data.y_train.numpy(), data.y_test.numpy()])
    per_class = np.bincount(labels, minlength=10)
    in_test = np.bincount(data.y_test.numpy(), minlength=10)

    assert tuple(data.x_train.shape) == (1437, 64)
    assert tuple(data.x_test.shape) == (360, 64)
    assert data.x_train.dtype == pg.float32 and data.y_train.dtype == pg.int64
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0
    assert per_class.sum() == 1797
    # Every class keeps its fifth in the test set, to within one image.
    assert np.all(np.abs(in_test - 0.2 * per_class) <= 1), in_test


def test_digits_rejects_a_bad_test_size():
    from plaingrad.datasets import load_digits

    with pytest.raises(ValueError, match="`test_size` must be a float strictly"):
        load_digits(test_size=1.0)


# ------------------------------------------------------------ flags, in-process


def _train(argv: list[str], capsys) -> tuple[int, str, str]:
    status = main(["train", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_every_flag_reaches_config_json(tmp_path: Path, capsys):
    folder = tmp_path / "run"
    flags = ["--hidden", "32", "16", "--activation", "tanh", "--epochs", "2"]
    flags += ["--batch-size", "50", "--lr", "0.05", "--optimizer", "sgd"]
    flags += ["--momentum", "0.5", "--seed", "5", "--quiet", "--output", str(folder)]

    status, out, err = _train(["digits", *flags], capsys)

    assert status == 0, err
    assert err == ""  # --quiet: no progress at all
    assert "MLP 64-32-16-10 (tanh), sgd lr=0.05 momentum=0.5, 2 epochs" in out
    config = _read_json(folder / "config.json")
    assert config["layer_sizes"] == [64, 32, 16, 10]
    assert config["activation"] == "tanh"
    assert (config["epochs"], config["batch_size"], config["seed"]) == (2, 50, 5)
    assert (config["optimizer"], config["lr"], config["momentum"]) == ("sgd", 0.05, 0.5)
    assert len(_read_json(folder / "metrics.json")["history"]) == 2
    state = load_safetensors(folder / "model.safetensors")
    assert [tuple(t.shape) for t in state.values()] == [
        (32, 64),
        (32,),
        (16, 32),
        (16,),
        (10, 16),
        (10,),
    ]


def _weights(folder: Path) -> dict[str, np.ndarray]:
    return {
        k: v.numpy() for k, v in load_safetensors(folder / "model.safetensors").items()
    }


def test_same_seed_same_model_other_seed_other_model(tmp_path: Path, capsys):
    quick = ["--hidden", "8", "--epochs", "1", "--quiet", "--output"]
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        status, _, err = _train([*quick, str(tmp_path / name), "--seed", seed], capsys)
        assert status == 0, err

    a, b, c = (_weights(tmp_path / name) for name in "abc")

    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(a["0.weight"], c["0.weight"])


def test_default_output_folder_is_runs_digits(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    status, out, err = _train(["--hidden", "8", "--epochs", "1", "--quiet"], capsys)

    assert status == 0, err
    assert "8-10 (relu), adam lr=0.001, 1 epoch, batch 64" in out
    assert set(os.listdir(tmp_path / "runs" / "digits")) == RUN_FILES
    assert os.path.join("runs", "digits", "config.json") in out


def test_progress_without_tqdm_is_one_line_per_epoch(
    tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    argv = ["--hidden", "8", "--epochs", "2", "--output", str(tmp_path)]

    status, _, err = _train(argv, capsys)

    assert status == 0
    lines = err.splitlines()
    assert len(lines) == 2, err
    for epoch, line in enumerate(lines, start=1):
        assert re.fullmatch(
            rf"digits epoch {epoch}/2  loss \d+\.\d{{4}}  acc \d\.\d{{4}}  "
            r"test_acc \d\.\d{4}",
            line,
        ), line


# ---------------------------------------------------------------------- xor


def _article_xor_loss(seed: int) -> float:
    """The backpropagation article's program, seeded as ``--seed`` seeds it."""
    pg.manual_seed(seed)
    nn = pg.nn
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    X, y = pg.tensor(XOR_INPUTS), pg.tensor([[t] for t in XOR_TARGETS])
    criterion = nn.MSELoss()
    optimizer = pg.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(1000):
        loss = criterion(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def test_train_xor_prints_the_four_predictions(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    status, out, err = _train(["xor", "--seed", "3"], capsys)

    assert status == 0 and err == ""
    rows = re.findall(
        r"^  \((\S+), (\S+)\) -> (-?\d\.\d{4})  \(target (\S+)\)$", out, re.MULTILINE
    )
    assert [[float(a), float(b)] for a, b, _, _ in rows] == XOR_INPUTS
    assert [float(t) for *_, t in rows] == XOR_TARGETS
    predictions = [float(p) for _, _, p, _ in rows]
    np.testing.assert_allclose(predictions, XOR_TARGETS, atol=0.05)
    final = re.search(r"^Final loss: (\S+)$", out, re.MULTILINE)
    assert final and float(final.group(1)) == _article_xor_loss(3)
    assert os.listdir(tmp_path) == []  # xor saves only when asked to


def test_train_xor_saves_its_run_when_asked(tmp_path: Path, capsys):
    status, _, err = _train(["xor", "--output", str(tmp_path)], capsys)

    assert status == 0, err
    config = _read_json(tmp_path / "config.json")
    metrics = _read_json(tmp_path / "metrics.json")
    assert config["dataset"] == "xor" and config["loss"] == "mse"
    assert config["layer_sizes"] == [2, 8, 1]
    assert (config["lr"], config["epochs"]) == (0.01, 1000)
    assert len(metrics["loss_history"]) == 1000
    assert metrics["final_loss"] == metrics["loss_history"][-1] < 1e-3
    assert list(load_safetensors(tmp_path / "model.safetensors")) == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
    ]


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("argv", "pieces"),
    [
        (["train", "imagenet"], ["invalid choice: 'imagenet'", "digits", "xor"]),
        (["train", "--lr", "-1"], ["--lr", "must be greater than 0, got -1"]),
        (["train", "--lr", "0"], ["--lr", "must be greater than 0"]),
        (["train", "--lr", "nan"], ["--lr", "must be a finite number"]),
        (["train", "--lr", "fast"], ["--lr", "expected a number, got 'fast'"]),
        (["train", "--epochs", "0"], ["--epochs", "positive integer, got 0"]),
        (["train", "--batch-size", "-4"], ["--batch-size", "got -4"]),
        (["train", "--hidden", "0"], ["--hidden", "positive integer"]),
        (["train", "--hidden"], ["--hidden", "expected at least one argument"]),
        (["train", "--seed", "-1"], ["--seed", "non-negative integer"]),
        (
            ["train", "--seed", "99999999999999999999"],
            ["--seed", "at most 18446744073709551615", "got 99999999999999999999"],
        ),
        (
            ["train", "xor", "--seed", str(2**64)],
            ["--seed", "at most 18446744073709551615", f"got {2**64}"],
        ),
        (["train", "--optimizer", "lbfgsb"], ["invalid choice: 'lbfgsb'"]),
        (["train", "--momentum", "0.9"], ["--momentum applies only with"]),
        (["train", "xor", "--batch-size", "2"], ["--batch-size does not apply"]),
        (["fly"], ["invalid choice: 'fly'"]),
        ([], ["required: COMMAND"]),
    ],
)
def test_usage_errors_are_one_line_and_status_2(
    argv, pieces, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)

    status = main(argv)

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    _assert_one_error_line(captured.err, *pieces, "--help")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("below", [["run"], ["deeper", "still", "run"]])
def test_output_under_a_regular_file(tmp_path: Path, capsys, below: list[str]):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("keep me\n")
    output = blocker.joinpath(*below)

    status, out, err = _train(["--output", str(output)], capsys)

    assert status == 1 and out == ""
    _assert_one_error_line(err, str(output), "a path above it is a file")
    assert blocker.read_text() == "keep me\n"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_output_that_is_a_regular_file(tmp_path: Path, capsys):
    blocker = tmp_path / "run"
    blocker.write_text("")

    status, out, err = _train(["xor", "--output", str(blocker)], capsys)

    assert status == 1 and out == ""
    _assert_one_error_line(err, "is a file, not a folder")


def test_a_diverging_run_is_one_line_without_numpy_noise(capsys):
    argv = ["xor", "--optimizer", "sgd", "--lr", "1e9", "--epochs", "20"]

    status, _, err = _train(argv, capsys)

    assert status == 1
    _assert_one_error_line(err, "training diverged", "--lr 1e+09", "smaller")


def test_the_largest_seed_manual_seed_takes_is_accepted(tmp_path: Path, capsys):
    folder = tmp_path / "run"
    argv = ["xor", "--epochs", "2", "--seed", str(2**64 - 1), "--output", str(folder)]

    status, out, err = _train(argv, capsys)

    assert status == 0, err
    assert f"seed {2**64 - 1}" in out
    assert _read_json(folder / "config.json")["seed"] == 2**64 - 1


def test_xor_predictions_never_print_negative_zero(capsys):
    # Seed 1 ends with two predictions a hair below zero (about -1e-5), which
    # used to print as -0.0000.
    status, out, err = _train(["xor", "--seed", "1"], capsys)

    assert status == 0, err
    assert "-0.0000" not in out
    rows = re.findall(r"^  \(\S+, \S+\) -> (\S+)  \(target", out, re.MULTILINE)
    assert rows == ["0.0000", "1.0000", "1.0000", "0.0000"]


@pytest.mark.parametrize("name", sorted(RUN_FILES))
def test_a_run_file_that_is_a_folder_fails_before_training(
    tmp_path: Path, capsys, name: str
):
    folder = tmp_path / "w2"
    (folder / name).mkdir(parents=True)

    status, out, err = _train(["xor", "--output", str(folder)], capsys)

    assert status == 1
    assert out == ""  # refused before the header: nothing trained
    _assert_one_error_line(err, f"--output {str(folder)!r}", name, "is a folder")
    assert os.listdir(folder) == [name]  # model.safetensors not written


@pytest.mark.parametrize("dataset", ["digits", "xor"])
def test_a_network_too_big_for_memory_is_refused_up_front(tmp_path: Path, dataset):
    # 10**12 hidden units need terabytes: no machine fits them, so the
    # check refuses before a folder is made or the header printed.
    argv = ["train", dataset, "--hidden", str(10**12), "--output", "run"]

    result = _run([_script(), *argv], cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout == ""
    _assert_one_error_line(result.stderr, f"--hidden {10**12}", "of memory", "narrower")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("dataset", ["digits", "xor"])
def test_running_out_of_memory_is_one_line_and_leaves_no_folder(
    tmp_path: Path, capsys, monkeypatch, dataset
):
    import plaingrad.cli.train as train

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 23.8 GiB for an array")

    monkeypatch.setattr(train, "build_mlp", out_of_memory)
    folder = tmp_path / "new" / "run"
    argv = [dataset, "--hidden", "8", "--quiet", "--output", str(folder)]

    status, _, err = _train(argv, capsys)

    assert status == 1
    _assert_one_error_line(err, "--hidden 8", "ran out of memory", "narrower")
    assert os.listdir(tmp_path) == []  # both folders it made are gone


@pytest.mark.skipif(
    not os.path.exists("/proc/self/status"), reason="needs Linux's /proc"
)
def test_numpys_memory_error_in_a_real_process(tmp_path: Path):
    # The up-front estimate is switched off and the address space capped at
    # 2 GiB above what the process already maps, so that NumPy itself fails
    # to allocate the 8 GB first layer.
    block = (
        "import re, resource, sys; import plaingrad.cli.train as train; "
        "from plaingrad.cli import main; "
        "train.check_memory = lambda config: None; "
        "status = open('/proc/self/status').read(); "
        "mapped = int(re.search(r'VmSize:\\s+(\\d+) kB', status).group(1)) * 1024; "
        "_, hard = resource.getrlimit(resource.RLIMIT_AS); "
        "resource.setrlimit(resource.RLIMIT_AS, (mapped + 2 * 2**30, hard)); "
        "sys.exit(main(sys.argv[1:]))"
    )
    argv = ["train", "xor", "--hidden", str(10**9), "--output", "run"]

    result = _run([sys.executable, "-c", block, *argv], cwd=tmp_path)

    assert result.returncode == 1
    _assert_one_error_line(result.stderr, f"--hidden {10**9}", "ran out of memory")
    assert os.listdir(tmp_path) == []


def test_an_interrupted_run_leaves_no_new_folder(tmp_path: Path, capsys, monkeypatch):
    import plaingrad.cli.train as train

    def interrupted(config):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "train_xor", interrupted)
    folder = tmp_path / "a" / "b" / "run"

    status, out, err = _train(["xor", "--output", str(folder)], capsys)

    assert status == 130
    assert out.startswith("plaingrad train xor:")
    _assert_one_error_line(err, "interrupted")
    assert os.listdir(tmp_path) == []


def test_a_failed_run_keeps_a_folder_that_was_already_there(tmp_path: Path, capsys):
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("keep me\n")
    diverging = ["xor", "--optimizer", "sgd", "--lr", "1e9", "--epochs", "20"]

    status, _, err = _train([*diverging, "--output", str(kept)], capsys)
    new_status, _, _ = _train([*diverging, "--output", str(tmp_path / "new")], capsys)

    assert status == new_status == 1
    _assert_one_error_line(err, "training diverged")
    assert os.listdir(kept) == ["notes.txt"]
    assert (kept / "notes.txt").read_text() == "keep me\n"
    assert not (tmp_path / "new").exists()


def test_help_returns_0_in_process(capsys):
    assert main(["--help"]) == 0
    assert main(["train", "--help"]) == 0

    out = capsys.readouterr().out
    for flag in ("--hidden", "--epochs", "--batch-size", "--lr", "--optimizer"):
        assert flag in out
    assert "--seed" in out and "--output" in out


# ------------------------------------------------------- in a real process


def test_python_m_plaingrad_version_and_help(tmp_path: Path):
    version = _run([sys.executable, "-m", "plaingrad", "--version"], cwd=tmp_path)
    usage = _run([sys.executable, "-m", "plaingrad", "--help"], cwd=tmp_path)

    assert version.returncode == 0
    assert version.stdout == f"plaingrad {pg.__version__}\n"
    assert pg.__version__ == importlib.metadata.version("plaingrad")
    assert usage.returncode == 0
    assert usage.stdout.startswith("usage: plaingrad")
    assert "train" in usage.stdout


def test_console_script_is_main():
    (entry,) = [
        e
        for e in importlib.metadata.entry_points(group="console_scripts")
        if e.name == "plaingrad"
    ]

    assert entry.value == "plaingrad.cli.main:main"
    assert entry.load() is main


@pytest.mark.parametrize(
    ("argv", "status", "piece"),
    [
        (["train", "imagenet"], 2, "invalid choice: 'imagenet'"),
        (["train", "--lr", "-0.5"], 2, "must be greater than 0"),
    ],
)
def test_errors_in_a_real_process_have_no_traceback(
    tmp_path: Path, argv, status, piece
):
    result = _run([sys.executable, "-m", "plaingrad", *argv], cwd=tmp_path)

    assert result.returncode == status
    _assert_one_error_line(result.stderr, piece)


def test_output_under_a_file_in_a_real_process(tmp_path: Path):
    (tmp_path / "file").write_text("")

    result = _run([_script(), "train", "--output", "file/run"], cwd=tmp_path)

    assert result.returncode == 1
    _assert_one_error_line(result.stderr, "'file/run'", "a path above it is a file")


def test_a_closed_stdout_ends_the_run_quietly_with_status_141(tmp_path: Path):
    process = subprocess.Popen(
        [_script(), "train", "xor", "--output", "run"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdout.close()  # the reader is gone before the header is written

    _, stderr = process.communicate(timeout=300)

    assert process.returncode == 141  # 128 + SIGPIPE, as the shell reports
    assert stderr == ""
    assert os.listdir(tmp_path) == []  # stopped before training: no folder


def test_piping_into_head_is_quiet_and_keeps_the_saved_run(tmp_path: Path):
    command = f"{shlex.quote(_script())} train xor --output run | head -1"

    result = _run(["bash", "-c", f"{command}; exit ${{PIPESTATUS[0]}}"], cwd=tmp_path)

    # 141 once head has gone; 0 only if all the output fitted in before it did.
    assert result.returncode in (0, 141)
    assert result.stderr == ""
    assert result.stdout.startswith("plaingrad train xor: MLP 2-8-1")
    assert result.stdout.count("\n") == 1
    assert set(os.listdir(tmp_path / "run")) == RUN_FILES


def _extra_with(package: str) -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        extras = tomllib.load(handle)["project"]["optional-dependencies"]
    return {
        name
        for name, requirements in extras.items()
        if any(re.match(rf"{package}\b", r) for r in requirements)
    }


def test_missing_scikit_learn_names_the_extra(tmp_path: Path):
    # None in sys.modules makes every `import sklearn...` raise ImportError.
    block = (
        "import sys; sys.modules['sklearn'] = None; "
        "from plaingrad.cli import main; sys.exit(main(sys.argv[1:]))"
    )

    result = _run(
        [sys.executable, "-c", block, "train", "digits", "--output", "run"],
        cwd=tmp_path,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    line = _assert_one_error_line(result.stderr, "scikit-learn", "pip install")
    named = re.search(r"plaingrad\[(\w+)\]", line)
    assert named, line
    assert named.group(1) in _extra_with("scikit-learn")
    assert not (tmp_path / "run").exists()  # nothing made before the check


def test_missing_scikit_learn_does_not_stop_xor(tmp_path: Path):
    block = (
        "import sys; sys.modules['sklearn'] = None; "
        "from plaingrad.cli import main; sys.exit(main(sys.argv[1:]))"
    )

    result = _run([sys.executable, "-c", block, "train", "xor"], cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    final = re.search(r"^Final loss: (\S+)$", result.stdout, re.MULTILINE)
    assert final and math.isfinite(float(final.group(1)))
