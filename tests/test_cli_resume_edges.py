"""Edges of ``plaingrad train``'s checkpoints, resume, option values and
Ctrl-C that a first version got wrong.

Right answers come from outside plaingrad: the uninterrupted run a resumed
one must repeat bit for bit, real PyTorch's schedulers, the definition of
MultiStepLR, and the exit status and stderr of a real process sent a burst of
SIGINTs.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import import_torch
from test_cli_toolkit import (
    _one_error_line,
    _read_json,
    _torch_lrs,
    _train,
    _weights,
    _with_ctrl_c,
    _write_idx_set,
)

from plaingrad.cli import checkpoint

SMALL = ["--hidden", "8", "--quiet"]


def _checkpoints(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith("checkpoint"))


# ----------------------------------------------------------- stale checkpoints


def test_a_new_run_removes_an_older_runs_checkpoints(tmp_path: Path, capsys):
    folder = tmp_path / "run"
    first = [*SMALL, "--epochs", "4", "--checkpoint-every", "2"]
    assert _train([*first, "--output", str(folder)], capsys)[0] == 0
    assert len(_checkpoints(folder)) == 3
    (folder / "notes.txt").write_text("mine\n")

    second = [*SMALL, "--epochs", "1", "--optimizer", "sgd", "--output", str(folder)]
    status, _, err = _train(second, capsys)

    assert status == 0, err
    assert _checkpoints(folder) == []
    assert (folder / "notes.txt").read_text() == "mine\n"
    assert _read_json(folder / "config.json")["optimizer"] == "sgd"
    status, _, err = _train(["--resume", str(folder), "--epochs", "6"], capsys)
    assert status == 1
    _one_error_line(err, "has no checkpoint.safetensors")
    assert _read_json(folder / "config.json")["optimizer"] == "sgd"


def test_a_new_checkpointing_run_keeps_only_its_own(tmp_path: Path, capsys):
    folder = tmp_path / "run"
    old = [*SMALL, "--epochs", "4", "--checkpoint-every", "1", "--output", str(folder)]
    assert _train(old, capsys)[0] == 0
    new = [*SMALL, "--epochs", "2", "--checkpoint-every", "2", "--output", str(folder)]
    assert _train([*new, "--seed", "3"], capsys)[0] == 0

    assert _checkpoints(folder) == [
        "checkpoint-epoch-2.safetensors",
        "checkpoint.safetensors",
    ]
    assert (
        checkpoint.read(str(folder / "checkpoint.safetensors"))["config"]["seed"] == 3
    )


# ------------------------------------------------------- the last epoch is kept


def test_the_last_epoch_is_checkpointed_and_resume_goes_on_from_it(
    tmp_path: Path, capsys
):
    part, whole = tmp_path / "part", tmp_path / "whole"
    argv = [*SMALL, "--checkpoint-every", "2"]
    assert _train([*argv, "--epochs", "3", "--output", str(part)], capsys)[0] == 0
    assert checkpoint.read(str(part / "checkpoint.safetensors"))["epoch"] == 3

    status, out, err = _train(["--resume", str(part), "--epochs", "4"], capsys)
    assert _train([*argv, "--epochs", "4", "--output", str(whole)], capsys)[0] == 0

    assert status == 0, err
    assert f"Resuming from {part} after epoch 3\n" in out
    assert [row["epoch"] for row in _read_json(part / "metrics.json")["history"]] == [
        1,
        2,
        3,
        4,
    ]
    expected, got = _weights(whole), _weights(part)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


# ------------------------------------------- schedules whose length is --epochs


@pytest.mark.parametrize(
    ("scheduler", "key"),
    [
        ("cosine", "T_max"),
        ("step", "step_size"),
        ("multistep", "milestones"),
        ("cosine-restarts", "T_0"),
        ("onecycle", "total_steps"),
    ],
)
def test_more_epochs_are_refused_when_the_schedule_length_came_from_epochs(
    scheduler: str, key: str, tmp_path: Path, capsys
):
    folder = tmp_path / "run"
    argv = [*SMALL, "--epochs", "3", "--checkpoint-every", "3"]
    argv += ["--scheduler", scheduler, "--output", str(folder)]
    assert _train(argv, capsys)[0] == 0
    before = (folder / "metrics.json").read_bytes()

    status, out, err = _train(["--resume", str(folder), "--epochs", "5"], capsys)

    assert status == 2 and out == ""
    _one_error_line(err, f"--scheduler {scheduler}", key, "3 epochs")
    assert (folder / "metrics.json").read_bytes() == before
    # Without --epochs, the finished run is told why not to ask for more.
    status, out, err = _train(["--resume", str(folder)], capsys)
    assert status == 2 and out == ""
    _one_error_line(err, "finished all 3", f"--scheduler {scheduler}", "new run")


def test_a_length_the_user_gave_may_run_on(tmp_path: Path, capsys):
    torch = import_torch()
    folder = tmp_path / "run"
    argv = [*SMALL, "--epochs", "3", "--checkpoint-every", "1", "--lr", "0.01"]
    argv += ["--scheduler", "cosine", "--scheduler-args", "T_max=8"]
    assert _train([*argv, "--output", str(folder)], capsys)[0] == 0

    status, _, err = _train(["--resume", str(folder), "--epochs", "6"], capsys)

    assert status == 0, err
    got = [row["lr"] for row in _read_json(folder / "metrics.json")["history"]]
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([weight], lr=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=8)
    expected = []
    for _ in range(6):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    np.testing.assert_allclose(got, expected, rtol=1e-12)


# The length each schedule fills in from --epochs 3, given explicitly.
LENGTHS_AS_EPOCHS_3_SETS = [
    ("step", ["step_size=1", "gamma=0.7"], {"step_size": 1, "gamma": 0.7}),
    ("multistep", ["milestones=1,2"], {"milestones": [1, 2]}),
    ("cosine", ["T_max=3"], {"T_max": 3}),
    ("cosine-restarts", ["T_0=1"], {"T_0": 1}),
]


@pytest.mark.parametrize(
    ("scheduler", "options", "torch_options"),
    LENGTHS_AS_EPOCHS_3_SETS,
    ids=[name for name, _, _ in LENGTHS_AS_EPOCHS_3_SETS],
)
def test_a_length_given_equal_to_the_default_may_run_on(
    scheduler: str, options: list, torch_options: dict, tmp_path: Path, capsys
):
    # A first version could not tell a length given from one set by --epochs
    # when the two were equal, and refused to resume with more epochs.
    folder = tmp_path / "run"
    argv = [*SMALL, "--epochs", "3", "--checkpoint-every", "1"]
    argv += ["--optimizer", "sgd", "--lr", "0.05", "--scheduler", scheduler]
    argv += ["--scheduler-args", *options, "--output", str(folder)]
    assert _train(argv, capsys)[0] == 0

    status, _, err = _train(["--resume", str(folder), "--epochs", "5"], capsys)

    assert status == 0, err
    history = _read_json(folder / "metrics.json")["history"]
    expected = _torch_lrs(scheduler, torch_options, 5, 1, None)
    lrs = [row["lr"] for row in history]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=0)


def _forget_which_options_were_given(folder: Path) -> None:
    """Make ``folder``'s checkpoint look like one from before plaingrad
    recorded which scheduler options the user gave."""
    path = str(folder / checkpoint.LATEST)
    state = checkpoint.read(path)
    del state["config"]["scheduler_args_given"]
    checkpoint.write(path, state)


def test_a_run_without_the_record_of_options_given_resumes_as_before(
    tmp_path: Path, capsys
):
    # Such a run has only the values to go by: a length equal to the one
    # --epochs sets counts as set by it, any other as given.
    derived, given = tmp_path / "derived", tmp_path / "given"
    argv = [*SMALL, "--epochs", "3", "--checkpoint-every", "3", "--lr", "0.01"]
    argv += ["--scheduler", "cosine"]
    assert _train([*argv, "--output", str(derived)], capsys)[0] == 0
    assert _read_json(derived / "config.json")["scheduler_args_given"] == []
    argv += ["--scheduler-args", "T_max=8", "--output", str(given)]
    assert _train(argv, capsys)[0] == 0
    assert _read_json(given / "config.json")["scheduler_args_given"] == ["T_max"]
    _forget_which_options_were_given(derived)
    _forget_which_options_were_given(given)

    refused, out, err = _train(["--resume", str(derived), "--epochs", "5"], capsys)
    status, _, given_err = _train(["--resume", str(given), "--epochs", "5"], capsys)

    assert refused == 2 and out == ""
    _one_error_line(err, "--scheduler cosine", "T_max", "3 epochs")
    assert status == 0, given_err
    assert len(_read_json(given / "metrics.json")["history"]) == 5


# ------------------------------------------------------------- option values


@pytest.mark.parametrize(
    ("argv", "pieces"),
    [
        (["--scheduler", "cosine", "--scheduler-args", "eta_min=none"], ["eta_min"]),
        (
            ["--optimizer", "lbfgs", "--optimizer-args", "history_size=0"],
            ["history_size", "positive"],
        ),
        (
            ["--scheduler", "step", "--scheduler-args", "step_size=abc"],
            ["step_size", "an integer", "'abc'"],
        ),
        (
            ["--scheduler", "step", "--scheduler-args", "step_size=1.5"],
            ["step_size", "an integer"],
        ),
        (
            ["--optimizer", "sgd", "--optimizer-args", "nesterov=yes"],
            ["nesterov", "true or false", "'yes'"],
        ),
        (["--optimizer", "adam", "--optimizer-args", "lr=0.5"], ["--lr"]),
        (
            ["--optimizer", "adam", "--optimizer-args", "betas=0.9,fast"],
            ["betas", "list of numbers"],
        ),
        (
            ["--scheduler", "onecycle", "--scheduler-args", "pct_start=2"],
            ["--scheduler onecycle", "pct_start"],
        ),
        (
            ["--scheduler", "multistep", "--scheduler-args", "milestones=2,x"],
            ["milestones", "list of integers"],
        ),
        (
            ["--scheduler", "multistep", "--scheduler-args", "milestones=1.5"],
            ["milestones", "integers"],
        ),
    ],
)
def test_bad_option_values_are_one_usage_line_before_anything_exists(
    argv: list[str], pieces: list[str], tmp_path: Path, capsys
):
    folder = tmp_path / "run"

    status, out, err = _train([*SMALL, *argv, "--output", str(folder)], capsys)

    assert status == 2 and out == ""
    line = _one_error_line(err, *pieces)
    assert line.endswith("(see 'plaingrad train --help')")
    assert not folder.exists()


def test_one_number_where_a_list_is_expected_is_a_one_element_list(
    tmp_path: Path, capsys
):
    folder = tmp_path / "run"
    argv = [*SMALL, "--epochs", "3", "--lr", "0.01", "--output", str(folder)]
    argv += ["--scheduler", "multistep", "--scheduler-args", "milestones=1"]

    status, _, err = _train(argv, capsys)

    assert status == 0, err
    assert _read_json(folder / "config.json")["scheduler_args"]["milestones"] == [1]
    lrs = [row["lr"] for row in _read_json(folder / "metrics.json")["history"]]
    # MultiStepLR: lr * gamma ** (number of milestones passed), gamma 0.1.
    np.testing.assert_allclose(lrs, [0.01, 0.001, 0.001], rtol=1e-12)


# ------------------------------------------------------------------ messages


def test_a_misspelled_train_flag_points_to_train_help(capsys):
    status, out, err = _train(["digits", "--epohcs", "3"], capsys)

    assert status == 2 and out == ""
    line = _one_error_line(err, "--epohcs")
    assert line.endswith("(see 'plaingrad train --help')")


def test_an_idx_error_names_the_dataset_once(tmp_path: Path, capsys):
    data, other = tmp_path / "data", tmp_path / "other"
    _write_idx_set(data, False, {"train": 10, "t10k": 10})
    _write_idx_set(other, False, {"train": 9, "t10k": 10})
    shutil.copy(other / "train-labels-idx1-ubyte", data / "train-labels-idx1-ubyte")

    status, _, err = _train(["mnist", "--data-dir", str(data), "--quiet"], capsys)

    assert status == 1
    line = _one_error_line(err, "MNIST", "10 images", "9 labels")
    assert line.lower().count("mnist:") == 1, line


# -------------------------------------------------------------------- Ctrl-C


def test_a_burst_of_ctrl_c_saves_one_good_checkpoint(tmp_path: Path):
    folder = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "plaingrad", "train", *SMALL, "--epochs", "500"]
        + ["--checkpoint-every", "1", "--output", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_with_ctrl_c,
    )
    deadline = time.monotonic() + 120
    while not (folder / "checkpoint-epoch-1.safetensors").exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    pick = random.Random(0)
    for _ in range(40):  # 40 presses, 1-10 ms apart: well within a second
        if process.poll() is not None:
            break
        process.send_signal(signal.SIGINT)
        time.sleep(pick.uniform(0.001, 0.01))
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("plaingrad train: interrupted "), stderr
    state = checkpoint.read(str(folder / "checkpoint.safetensors"))
    assert 1 <= state["epoch"] < 500
    assert not (folder / "model.safetensors").exists()


def test_ctrl_c_while_saving_never_cuts_the_save_short(monkeypatch):
    interrupt = checkpoint.Interrupt()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with interrupt:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # a burst: asks once
            assert interrupt.requested
            monkeypatch.setattr(checkpoint.Interrupt, "GRACE", 0.0)
            with interrupt.saving():
                os.kill(os.getpid(), signal.SIGINT)  # ignored while saving
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)  # later: stops at once
                time.sleep(1)
        # Stopping: a late press must not become a traceback.
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
