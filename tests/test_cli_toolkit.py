"""``plaingrad train``'s training toolkit: optimizers, schedules, clipping,
checkpoints, resume, Ctrl-C, and MNIST-format data.

The runs are tiny (a few hidden units, one to a few epochs) so the file stays
quick. Right answers come from outside plaingrad: learning-rate sequences
from real PyTorch schedulers given the same options, the clipped update from
the definition of the clip (its norm is the max norm), and a resumed run from
the uninterrupted run it must repeat bit for bit. The IDX files are written
here byte by byte from the format's definition; nothing is downloaded.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.cli import main
from plaingrad.io import load_safetensors

QUICK = ["--hidden", "16", "--epochs", "1", "--quiet"]


def _train(argv: list[str], capsys) -> tuple[int, str, str]:
    status = main(["train", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _weights(folder: Path) -> dict[str, np.ndarray]:
    state = load_safetensors(folder / "model.safetensors")
    return {name: tensor.numpy() for name, tensor in state.items()}


def _one_error_line(stderr: str, *pieces: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("plaingrad train: error: "), lines[0]
    for piece in pieces:
        assert piece in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ optimizers

# Learning rates that suit each method on one epoch of 23 batches.
OPTIMIZER_RUNS = {
    "sgd": ["--lr", "0.1"],
    "adam": ["--lr", "0.01"],
    "adamw": ["--lr", "0.01", "--optimizer-args", "weight_decay=0.1"],
    "rmsprop": ["--lr", "0.01"],
    "adagrad": ["--lr", "0.1"],
    "adadelta": [],  # lr 1, its PyTorch default
    "adamax": ["--lr", "0.02"],
    "nadam": ["--lr", "0.01"],
    "radam": ["--lr", "0.02", "--batch-size", "16"],
    "lbfgs": ["--batch-size", "256"],  # lr 1 and a strong-Wolfe line search
}


@pytest.mark.parametrize("name", sorted(OPTIMIZER_RUNS))
def test_every_optimizer_learns_the_digits_in_one_epoch(
    name: str, tmp_path: Path, capsys
):
    argv = [*QUICK, "--optimizer", name, *OPTIMIZER_RUNS[name]]

    status, out, err = _train([*argv, "--output", str(tmp_path / "run")], capsys)

    assert status == 0, err
    assert f"(relu), {name} lr=" in out
    metrics = _read_json(tmp_path / "run" / "metrics.json")
    assert metrics["test_accuracy"] > 0.4  # chance is 0.1
    assert _read_json(tmp_path / "run" / "config.json")["optimizer"] == name


def test_optimizer_args_reach_the_optimizer_and_are_checked(tmp_path: Path, capsys):
    folder = tmp_path / "run"
    argv = [*QUICK, "--optimizer", "sgd", "--optimizer-args", "nesterov=true"]

    status, _, err = _train(
        [*argv, "weight_decay=0.5", "--output", str(folder)], capsys
    )
    bad, out, bad_err = _train([*QUICK, "--optimizer-args", "momentun=0.9"], capsys)

    assert status == 0, err
    config = _read_json(folder / "config.json")
    assert config["optimizer_args"] == {"nesterov": True, "weight_decay": 0.5}
    assert (config["momentum"], config["lr"]) == (0.9, 0.001)
    assert bad == 2 and out == ""
    _one_error_line(bad_err, "'momentun'", "Adam", "weight_decay", "--help")


# ----------------------------------------------------------------- schedules

SCHEDULES = [
    ("step", ["step_size=2", "gamma=0.5"]),
    ("multistep", ["milestones=1,3", "gamma=0.2"]),
    ("exponential", ["gamma=0.7"]),
    ("cosine", []),  # T_max: the 5 epochs
    ("cosine-restarts", ["T_0=2", "T_mult=2"]),
    ("polynomial", ["total_iters=4", "power=2"]),
    ("linear", ["start_factor=0.25", "total_iters=3"]),
    ("constant", ["factor=0.5", "total_iters=2"]),
    ("onecycle", []),  # steps every batch
    ("plateau", ["patience=0", "factor=0.5", "mode=max"]),
]
TORCH_NAMES = {
    "step": "StepLR",
    "multistep": "MultiStepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "cosine-restarts": "CosineAnnealingWarmRestarts",
    "polynomial": "PolynomialLR",
    "linear": "LinearLR",
    "constant": "ConstantLR",
    "onecycle": "OneCycleLR",
    "plateau": "ReduceLROnPlateau",
}


def _torch_lrs(name: str, options: dict, epochs: int, steps: int, losses) -> list:
    """The lr at the start of each epoch, from PyTorch's own scheduler."""
    torch = import_torch()
    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([weight], lr=0.05, momentum=0.9)
    cls = getattr(torch.optim.lr_scheduler, TORCH_NAMES[name])
    scheduler = cls(optimizer, **options)
    lrs = []
    for epoch in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        for _ in range(steps if name == "onecycle" else 1):
            optimizer.step()
            if name == "plateau":
                scheduler.step(losses[epoch])
            else:
                scheduler.step()
    return lrs


@pytest.mark.parametrize(("name", "options"), SCHEDULES, ids=[s for s, _ in SCHEDULES])
def test_schedules_set_each_epochs_lr_as_pytorch_does(
    name: str, options: list, tmp_path: Path, capsys
):
    folder = tmp_path / "run"
    argv = ["--hidden", "4", "--epochs", "5", "--batch-size", "256", "--quiet"]
    argv += ["--optimizer", "sgd", "--lr", "0.05", "--scheduler", name]
    if options:
        argv += ["--scheduler-args", *options]

    status, out, err = _train([*argv, "--output", str(folder)], capsys)

    assert status == 0, err
    assert f", {name} schedule," in out
    config = _read_json(folder / "config.json")
    history = _read_json(folder / "metrics.json")["history"]
    # plateau (mode=max) watches the training loss, which falls: the lr halves
    # after every epoch with patience 0.
    losses = [record["train_loss"] for record in history]
    options = config["scheduler_args"]
    expected = _torch_lrs(name, options, 5, 6, losses)  # 1437 / 256: 6 batches
    lrs = [record["lr"] for record in history]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=0)
    assert len(set(lrs)) > 1  # the schedule did change the lr


def test_scheduler_defaults_follow_the_run_length(tmp_path: Path, capsys):
    folder = tmp_path / "run"
    argv = ["--hidden", "4", "--epochs", "6", "--batch-size", "512", "--quiet"]

    status, _, err = _train(
        [*argv, "--scheduler", "step", "--output", str(folder)], capsys
    )

    assert status == 0, err
    assert _read_json(folder / "config.json")["scheduler_args"] == {"step_size": 2}
    lrs = [record["lr"] for record in _read_json(folder / "metrics.json")["history"]]
    np.testing.assert_allclose(lrs, [1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5], rtol=1e-12)


@pytest.mark.parametrize(
    ("argv", "pieces"),
    [
        (["--scheduler-args", "gamma=0.5"], ["--scheduler-args needs --scheduler"]),
        (["--scheduler", "step", "--scheduler-args", "gama=0.5"], ["'gama'", "gamma"]),
        (["--scheduler", "step", "--scheduler-args", "gamma"], ["KEY=VALUE", "gamma"]),
        (
            ["--scheduler", "exponential", "--scheduler-args", "gamma=1", "gamma=2"],
            ["'gamma' is given twice"],
        ),
        (
            ["--scheduler", "linear", "--scheduler-args", "start_factor=2"],
            ["--scheduler linear", "factor"],
        ),
        (["--scheduler", "sometimes"], ["invalid choice: 'sometimes'"]),
        (["--optimizer", "lbfgsb"], ["invalid choice: 'lbfgsb'", "radam"]),
        (["--clip-grad", "0"], ["--clip-grad", "must be greater than 0"]),
        (["--checkpoint-every", "0"], ["--checkpoint-every", "positive integer"]),
        (["xor", "--checkpoint-every", "1"], ["does not apply to xor"]),
        (["--momentum", "0.5"], ["--momentum applies only with --optimizer sgd"]),
        (["--data-dir", "data"], ["--data-dir applies only to mnist"]),
    ],
)
def test_bad_toolkit_flags_are_one_line_and_status_2(
    argv, pieces, tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)

    # --epochs 1 --hidden 4: a check that failed to refuse would train briefly.
    status, out, err = _train([*argv, "--epochs", "1", "--hidden", "4"], capsys)

    assert status == 2 and out == ""
    _one_error_line(err, *pieces, "--help")
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ clipping


def _initial_weights(hidden: int) -> np.ndarray:
    """The flat initial parameters of a --seed 0 run, rebuilt as train does."""
    pg.manual_seed(0)
    model = pg.nn.Sequential(
        pg.nn.Linear(64, hidden), pg.nn.ReLU(), pg.nn.Linear(hidden, 10)
    )
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


@pytest.mark.parametrize("clip", [None, 0.01])
def test_clip_grad_bounds_the_update(clip, tmp_path: Path, capsys):
    # One full-batch SGD step with lr 1: the update is minus the gradient,
    # and clipping scales the gradient to a total 2-norm of `clip`.
    folder = tmp_path / "run"
    argv = [*QUICK, "--batch-size", "2000", "--optimizer", "sgd", "--lr", "1"]
    argv += ["--momentum", "0", "--output", str(folder)]
    if clip is not None:
        argv += ["--clip-grad", str(clip)]

    status, _, err = _train(argv, capsys)

    assert status == 0, err
    after = np.concatenate([w.ravel() for w in _weights(folder).values()])
    step = float(np.linalg.norm(after - _initial_weights(16)))
    if clip is None:
        assert step > 0.1  # the unclipped gradient is far larger than 0.01
    else:
        assert step == pytest.approx(clip, rel=1e-4)
        assert _read_json(folder / "config.json")["clip_grad"] == clip


# -------------------------------------------------------- checkpoint, resume


def _script() -> list[str]:
    return [sys.executable, "-m", "plaingrad"]


def test_resume_in_a_fresh_process_gives_bitwise_the_same_run(tmp_path: Path, capsys):
    whole, part = tmp_path / "whole", tmp_path / "part"
    argv = ["--hidden", "16", "--epochs", "2", "--quiet", "--checkpoint-every", "1"]
    argv += ["--optimizer", "adamw", "--scheduler", "exponential", "--clip-grad", "1"]

    status, _, err = _train([*argv, "--output", str(whole)], capsys)
    first = whole / "checkpoint-epoch-1.safetensors"
    resumed = subprocess.run(
        [*_script(), "train", "--resume", str(first), "--output", str(part)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert status == 0, err
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming from {first} after epoch 1" in resumed.stdout
    model = "model.safetensors"
    assert (part / model).read_bytes() == (whole / model).read_bytes()
    expected, got = (
        _read_json(whole / "metrics.json"),
        _read_json(part / "metrics.json"),
    )
    for metrics in (expected, got):
        del metrics["train_seconds"]
    assert got == expected
    assert (part / "checkpoint-epoch-2.safetensors").exists()
    assert not (part / "checkpoint-epoch-1.safetensors").exists()


@pytest.mark.parametrize(
    "flags",
    [
        ["--optimizer", "sgd", "--lr", "0.05", "--scheduler", "onecycle"],
        ["--optimizer", "lbfgs", "--batch-size", "512"],
        ["--optimizer", "rmsprop", "--momentum", "0.5", "--scheduler", "plateau"],
        ["--optimizer", "nadam", "--scheduler", "multistep"],
    ],
    ids=["sgd-onecycle", "lbfgs", "rmsprop-plateau", "nadam-multistep"],
)
def test_resume_keeps_optimizer_and_schedule_state(flags, tmp_path: Path, capsys):
    whole, part = tmp_path / "whole", tmp_path / "part"
    argv = ["--hidden", "8", "--epochs", "3", "--quiet", "--checkpoint-every", "1"]

    status, _, err = _train([*argv, *flags, "--output", str(whole)], capsys)
    checkpoint = str(whole / "checkpoint-epoch-2.safetensors")
    again, _, again_err = _train(
        ["--resume", checkpoint, "--output", str(part)], capsys
    )

    assert status == 0 and again == 0, err + again_err
    expected, got = _weights(whole), _weights(part)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_resume_from_a_folder_and_with_more_epochs(tmp_path: Path, capsys):
    short, long = tmp_path / "short", tmp_path / "long"
    argv = ["--hidden", "8", "--quiet", "--checkpoint-every", "1"]

    _train([*argv, "--epochs", "2", "--output", str(short)], capsys)
    _train([*argv, "--epochs", "3", "--output", str(long)], capsys)
    done, _, done_err = _train(["--resume", str(short)], capsys)
    status, out, err = _train(["--resume", str(short), "--epochs", "3"], capsys)

    assert done == 2
    _one_error_line(done_err, "finished all 2 epochs", "--epochs")
    assert status == 0, err
    assert "Resuming from" in out
    assert _read_json(short / "config.json")["epochs"] == 3
    expected, got = _weights(long), _weights(short)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


@pytest.mark.parametrize(
    ("make", "argv", "pieces", "status"),
    [
        (None, ["--resume", "nowhere"], ["--resume 'nowhere'", "no such file"], 1),
        ("folder", ["--resume", "run"], ["'run'", "no checkpoint.safetensors"], 1),
        ("model", ["--resume", "run/model.safetensors"], ["not a plaingrad train"], 1),
        ("text", ["--resume", "notes.txt"], ["--resume 'notes.txt'"], 1),
        (None, ["--resume", "x", "--lr", "0.1"], ["--lr cannot be given with"], 2),
        (None, ["--resume", "x", "mnist"], ["the dataset cannot be given"], 2),
    ],
)
def test_bad_resume_is_one_line(
    make, argv, pieces, status, tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    if make == "folder":
        (tmp_path / "run").mkdir()
    elif make == "model":
        _train(["xor", "--epochs", "1", "--output", "run"], capsys)
    elif make == "text":
        (tmp_path / "notes.txt").write_text("not a checkpoint\n")

    got, _, err = _train(argv, capsys)

    assert got == status
    _one_error_line(err, *pieces)


# -------------------------------------------------------------------- Ctrl-C


def _with_ctrl_c() -> None:
    """In the child: SIGINT at its default, even when the tests run with it
    ignored (started in the background), so that Python catches it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_saves_a_checkpoint_that_resume_finishes(tmp_path: Path, capsys):
    folder = tmp_path / "run"
    argv = ["--hidden", "16", "--epochs", "8", "--batch-size", "32", "--quiet"]
    argv += ["--checkpoint-every", "1"]
    process = subprocess.Popen(
        [*_script(), "train", *argv, "--output", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_with_ctrl_c,
    )
    deadline = time.monotonic() + 120
    while not (folder / "checkpoint-epoch-1.safetensors").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130
    latest = folder / "checkpoint.safetensors"
    assert stderr == (
        f"plaingrad train: interrupted {stderr.split('interrupted ')[1].split(';')[0]}"
        f"; checkpoint saved to {latest}; resume with: plaingrad train --resume "
        f"{latest}\n"
    )
    assert re.search(r"interrupted (after|in) epoch \d+ of 8", stderr), stderr
    assert latest.exists() and not (folder / "model.safetensors").exists()

    status, _, err = _train(["--resume", str(folder), "--quiet"], capsys)
    whole = tmp_path / "whole"
    again, _, _ = _train([*argv, "--output", str(whole)], capsys)

    assert status == 0 and again == 0, err
    assert len(_read_json(folder / "metrics.json")["history"]) == 8
    expected, got = _weights(whole), _weights(folder)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


# ------------------------------------------------------------ MNIST-format data


def _idx(array: np.ndarray, code: int) -> bytes:
    """An IDX file: 0, 0, type code, ndim, big-endian uint32 sizes, the data."""
    head = bytes([0, 0, code, array.ndim])
    sizes = b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return head + sizes + array.astype(np.uint8).tobytes()


def _write_idx_set(folder: Path, gz: bool, count: dict) -> None:
    """Digits 0-9 drawn as a bright horizontal bar at row 2 * label."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in count.items():
        labels = np.arange(n) % 10
        images = rng.integers(0, 40, size=(n, 28, 28))
        for image, label in zip(images, labels):
            image[2 * label : 2 * label + 3, 4:24] = 255
        for kind, data, code in (
            ("images-idx3", images, 8),
            ("labels-idx1", labels, 8),
        ):
            blob = _idx(data, code)
            name = f"{split}-{kind}-ubyte"
            if gz:
                blob, name = gzip.compress(blob), name + ".gz"
            (folder / name).write_bytes(blob)


@pytest.mark.parametrize(
    ("dataset", "layout", "gz"),
    [("mnist", "", False), ("fashion-mnist", "FashionMNIST/raw", True)],
)
def test_idx_datasets_train_from_data_dir(dataset, layout, gz, tmp_path: Path, capsys):
    data = tmp_path / "data"
    _write_idx_set(data / layout if layout else data, gz, {"train": 60, "t10k": 20})
    folder = tmp_path / "run"
    argv = [dataset, "--data-dir", str(data), "--hidden", "16", "--epochs", "8"]
    argv += ["--batch-size", "10", "--lr", "0.01", "--quiet", "--output", str(folder)]

    status, out, err = _train(argv, capsys)

    assert status == 0, err
    assert f"{dataset}: MLP 784-16-10" in out
    metrics = _read_json(folder / "metrics.json")
    assert (metrics["n_train"], metrics["n_test"]) == (60, 20)
    assert metrics["test_accuracy"] >= 0.9  # the bars are easy to tell apart
    config = _read_json(folder / "config.json")
    assert (config["dataset"], config["data_dir"]) == (dataset, str(data))


def test_a_missing_idx_file_is_one_line_naming_it(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()

    status, out, err = _train(["mnist", "--data-dir", "data", "--quiet"], capsys)

    assert status == 1 and out == ""
    _one_error_line(err, os.path.join("data", "train-images-idx3-ubyte"))
    assert os.listdir(tmp_path) == ["data"]  # no run folder made


def test_a_damaged_idx_file_is_one_line(tmp_path: Path, capsys):
    data = tmp_path / "data"
    _write_idx_set(data, False, {"train": 10, "t10k": 10})
    (data / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00")

    status, _, err = _train(["mnist", "--data-dir", str(data), "--quiet"], capsys)

    assert status == 1
    _one_error_line(err, "mnist:", "train-labels-idx1-ubyte")


def test_help_documents_the_toolkit_flags(capsys):
    assert main(["train", "--help"]) == 0

    out = " ".join(capsys.readouterr().out.split())
    for flag in ("--scheduler-args", "--optimizer-args", "--clip-grad MAX_NORM"):
        assert flag in out
    assert "--resume PATH" in out and "--checkpoint-every N" in out
    assert "--data-dir DIR" in out and "KEY=VALUE" in out
    for name in ("nadam", "radam", "lbfgs", "onecycle", "plateau", "fashion-mnist"):
        assert name in out
