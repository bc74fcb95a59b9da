"""``mpiexec -n N plaingrad train``: data-parallel runs equal one-process runs.

Each data-parallel run goes through ``mpiexec`` and ``python -m plaingrad``
as a user starts it; its twin, the single-process run with the same global
batch, runs in-process through ``main``. Their saved parameters must agree
to rtol 1e-6 / atol 1e-9 in float64 and their metrics to rounding, epoch by
epoch. The digits training set has 1,437 rows, so the default batch of 64
ends every epoch with a short batch of 29, split 15 / 14 on two ranks; a
batch of 4 on two ranks ends with 1 row, which leaves rank 1's share empty.
Only rank 0 may print or write files. Without mpi4py or ``mpiexec`` these
tests skip, or fail under ``PLAINGRAD_REQUIRE_MPI=1`` (CI).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpicheck import ROOT, environment, need_mpi, run_ranks

from plaingrad.cli import main
from plaingrad.io import load_safetensors

pytest.importorskip("sklearn")  # the digits

TRAIN = ["-m", "plaingrad", "train"]
RTOL, ATOL = 1e-6, 1e-9


@pytest.fixture(autouse=True)
def _mpi() -> None:
    need_mpi()


def _single(folder: Path, flags: list[str], capsys) -> str:
    """The one-process run of ``flags`` into ``folder``; its stdout."""
    status = main(["train", "digits", *flags, "--output", str(folder)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def _ranks(ranks: int, folder: Path, flags: list[str]) -> subprocess.CompletedProcess:
    done = run_ranks(ranks, [*TRAIN, "digits", *flags, "--output", str(folder)], ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _read(folder: Path) -> tuple[dict, dict, dict]:
    weights = {
        name: value.numpy()
        for name, value in load_safetensors(folder / "model.safetensors").items()
    }
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    return weights, config, metrics


def _assert_same_run(parallel: Path, single: Path, ranks: int) -> None:
    ours, config, metrics = _read(parallel)
    theirs, config_1, metrics_1 = _read(single)

    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name].dtype == theirs[name].dtype == np.float64
        np.testing.assert_allclose(ours[name], theirs[name], rtol=RTOL, atol=ATOL)
    assert config["world_size"] == ranks and config_1["world_size"] == 1
    assert {**config, "world_size": 1} == config_1
    for key in ("n_train", "n_test", "test_accuracy", "train_accuracy"):
        assert metrics[key] == metrics_1[key], key
    assert len(metrics["history"]) == len(metrics_1["history"])
    for epoch, epoch_1 in zip(metrics["history"], metrics_1["history"]):
        assert epoch["train_accuracy"] == epoch_1["train_accuracy"]
        assert epoch["test_accuracy"] == epoch_1["test_accuracy"]
        assert epoch["lr"] == epoch_1["lr"]
        assert epoch["train_loss"] == pytest.approx(epoch_1["train_loss"], rel=1e-12)


def _header_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("plaingrad train")]


def test_two_ranks_equal_one_process_with_the_same_global_batch(tmp_path, capsys):
    flags = ["--epochs", "2", "--dtype", "float64", "--batch-size", "64"]

    done = _ranks(2, tmp_path / "two", flags)
    single_out = _single(tmp_path / "one", [*flags, "--quiet"], capsys)

    _assert_same_run(tmp_path / "two", tmp_path / "one", 2)
    assert _header_lines(done.stdout) == [
        "plaingrad train digits: MLP 64-128-64-10 (relu, float64), adam "
        "lr=0.001, 2 epochs, batch 64 (2 ranks x 32), seed 0"
    ]
    # every line of results once, as the single process prints them
    assert len(done.stdout.splitlines()) == len(single_out.splitlines())
    assert done.stdout.count("Test accuracy:") == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.count("0/2 [") == 1  # one progress bar, rank 0's


def test_an_empty_share_of_the_last_batch_still_matches(tmp_path, capsys):
    # 1437 = 359 x 4 + 1: the last batch is one row, rank 1's share is empty
    flags = ["--epochs", "1", "--dtype", "float64", "--batch-size", "4"]
    flags += ["--optimizer", "sgd", "--lr", "0.05", "--quiet"]

    _ranks(2, tmp_path / "two", flags)
    _single(tmp_path / "one", flags, capsys)

    _assert_same_run(tmp_path / "two", tmp_path / "one", 2)


def test_lbfgs_line_search_sees_the_global_loss(tmp_path, capsys):
    # Each L-BFGS step evaluates the loss up to 25 times and its line search
    # compares the values: every rank must see the global batch's loss, or
    # they step differently (or hang). 1437 = 1436 + 1: a full batch and a
    # one-row batch (rank 1's share empty) per epoch. Over many steps L-BFGS
    # on mini-batches magnifies rounding ~10x a step (as it does 1e-15 moves
    # of the initial weights in one process), so the run is kept short.
    flags = ["--epochs", "2", "--dtype", "float64", "--hidden", "32", "--quiet"]
    flags += ["--optimizer", "lbfgs", "--batch-size", "1436", "--clip-grad", "1"]

    _ranks(2, tmp_path / "two", flags)
    _single(tmp_path / "one", flags, capsys)

    _assert_same_run(tmp_path / "two", tmp_path / "one", 2)


def test_four_ranks_on_two_cores_print_once_and_match(tmp_path, capsys):
    flags = ["--epochs", "1", "--dtype", "float64", "--hidden", "32"]

    done = _ranks(4, tmp_path / "four", flags)
    _single(tmp_path / "one", [*flags, "--quiet"], capsys)

    _assert_same_run(tmp_path / "four", tmp_path / "one", 4)
    assert len(_header_lines(done.stdout)) == 1
    assert "(4 ranks x 16)" in done.stdout
    assert done.stdout.count("Saved ") == 1
    assert done.stderr.count("0/1 [") == 1


def test_checkpoints_from_rank_0_resume_on_two_ranks(tmp_path, capsys):
    # one epoch kept as a checkpoint, resumed for a second: the straight run's
    flags = ["--dtype", "float64", "--hidden", "32", "--quiet"]
    out = tmp_path / "two"

    _ranks(2, out, [*flags, "--epochs", "1", "--checkpoint-every", "1"])
    done = run_ranks(
        2, [*TRAIN, "--resume", str(out), "--epochs", "2", "--quiet"], ROOT
    )
    _single(
        tmp_path / "one", [*flags, "--epochs", "2", "--checkpoint-every", "1"], capsys
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Resuming from") == 1
    _assert_same_run(out, tmp_path / "one", 2)


def test_a_batch_that_does_not_split_is_refused_once(tmp_path):
    done = run_ranks(3, [*TRAIN, "digits", "--output", str(tmp_path / "r")], ROOT)

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "plaingrad train: error: --batch-size 64 does not split evenly across "
        "the 3 ranks of this job (64 = 3 x 21 + 1); give a multiple of 3, such "
        "as 63 or 66 (see 'plaingrad train --help')"
    ]
    assert done.stdout == ""
    assert not (tmp_path / "r").exists()


def test_what_does_not_run_data_parallel_is_refused_once(tmp_path):
    for args, words in (
        (["xor"], "xor steps on all 4 points at once"),
        (["digits", "--monitor"], "--monitor watches a run in one process"),
    ):
        done = run_ranks(2, [*TRAIN, *args, "--output", str(tmp_path / "r")], ROOT)

        assert done.returncode == 2
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith("plaingrad train: error: ") and words in line
        assert "run it without mpiexec" in line


def test_an_error_every_rank_meets_is_printed_once(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")

    done = run_ranks(2, [*TRAIN, "digits", "--output", str(blocker)], ROOT)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"plaingrad train: error: --output {str(blocker)!r} is a file, not a folder"
    ]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--optimizer", "nope"], "argument --optimizer: invalid choice: 'nope'"),
    ],
)
def test_a_bad_flag_is_refused_once(tmp_path, flags, words):
    done = run_ranks(3, [*TRAIN, "digits", *flags, "--output", str(tmp_path)], ROOT)

    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("plaingrad train: error: ") and words in line, line


def test_a_launcher_other_than_mpi4pys_is_refused(tmp_path):
    # what Open MPI's mpirun does to an mpi4py built on the MPICH wheel:
    # the environment says 2 ranks, MPI sees a world of one
    done = subprocess.run(
        [
            sys.executable,
            *TRAIN,
            "digits",
            "--epochs",
            "1",
            "--output",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**environment(), "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"},
        timeout=120,
        check=False,
    )

    assert done.returncode == 1
    assert (
        "plaingrad train: error: started by an MPI launcher with 2 ranks "
        "(OMPI_COMM_WORLD_SIZE=2), but MPI sees a world of one: the launcher is "
        "not the MPI library mpi4py was built with"
    ) in done.stderr, done.stderr
    assert not (tmp_path / "r").exists()


def test_an_error_of_one_rank_stops_every_rank_and_names_it(tmp_path):
    # MPMD: rank 1 is given an output below a file, rank 0 a good folder
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    good, bad = tmp_path / "good", blocker / "run"
    python = [sys.executable, *TRAIN, "digits", "--quiet", "--output"]
    command = [need_mpi(), "-n", "1", *python, str(good), ":"]
    command += ["-n", "1", *python, str(bad)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=environment(), timeout=120
    )

    assert done.returncode == 1
    lines = sorted(done.stderr.strip().splitlines())
    assert lines == [
        "plaingrad train (rank 1 of 2): error: --output "
        f"{str(bad)!r} cannot be a folder: a path above it is a file",
        "plaingrad train: error: rank 1 of 2 failed before training started "
        "(see the message above); stopping every rank",
    ]
    assert not good.exists()  # rank 0 made no folder


def _start(flags: list[str], folder: Path) -> subprocess.Popen:
    command = [need_mpi(), "-n", "2", sys.executable, *TRAIN, "digits", *flags]
    return subprocess.Popen(
        [*command, "--output", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=environment(PLAINGRAD_DISTRIBUTED_TIMEOUT="120"),
    )


def _rank_pids(job: subprocess.Popen) -> dict[int, int]:
    """{rank: pid} of the job's python processes (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            variables = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"plaingrad" not in command or str(job.pid).encode() in command:
            continue
        for variable in variables:
            if variable.startswith(b"PMI_RANK="):
                parent = int((entry / "stat").read_text().split(")")[1].split()[1])
                if parent != job.pid:  # the launcher's proxy, not mpiexec itself
                    found[int(variable[9:])] = int(entry.name)
    return found


def _wait_for_training(job: subprocess.Popen, folder: Path) -> dict[int, int]:
    """Wait until both ranks run (they have loaded the data and started)."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pids = _rank_pids(job)
        if len(pids) == 2:
            time.sleep(3)  # into the training loop
            return pids
        time.sleep(0.2)
    job.kill()
    pytest.fail("the ranks did not start")


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_ctrl_c_to_mpiexec_stops_the_job_with_130(tmp_path: Path):
    import signal

    job = _start(["--epochs", "100000"], tmp_path / "run")
    _wait_for_training(job, tmp_path / "run")
    job.send_signal(signal.SIGINT)
    out, err = job.communicate(timeout=60)
    assert job.returncode == 130, err[-2000:]
    assert "plaingrad train: error: interrupted" in err
    # an interrupt says so once, and no more (nor MPICH's abort banner)
    assert "unfinished" not in err and "Abort(" not in err, err[-2000:]


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_ctrl_c_to_one_rank_ends_the_job_long_before_the_timeout(tmp_path: Path):
    import signal
    import time

    job = _start(["--epochs", "100000"], tmp_path / "run")
    pids = _wait_for_training(job, tmp_path / "run")
    start = time.monotonic()
    os.kill(pids[1], signal.SIGINT)
    out, err = job.communicate(timeout=60)
    # rank 1 leaves in the middle of a collective (it ends the job at once)
    # or between two (rank 0 sees it gone and ends the job 3 s later);
    # before, rank 0 waited the whole timeout, here 120 s
    assert time.monotonic() - start < 30
    assert job.returncode != 0
    # interrupted in a collective, rank 1 exits with 130 (the launcher ends
    # rank 0); between two, rank 0 names it
    assert "rank 1 of 2 has left the job" in err or job.returncode == 130, err[-3000:]
