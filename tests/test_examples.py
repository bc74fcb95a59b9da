"""The example programs: a CNN, an LSTM and a character transformer.

Each program in ``examples/`` picks its library with one line, ``import
plaingrad as torch``. The tests load each source twice, once as written and
once with that line reading ``import torch``, build the model in both, give
both the same initial weights (NumPy arrays, by parameter name), feed both the
same batches without dropout or shuffling, and expect the same loss at each of
20 training steps. The programs are also run as a user runs them, with tiny
settings, and at full length to the stated figures (the longer two marked slow).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch
from examplecheck import load_example

import plaingrad as pg

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PLAINGRAD_IMPORT = "import plaingrad as torch\n"
STEPS = 20


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _load(name: str, library: str) -> ModuleType:
    """The example ``name`` as a module, on ``"plaingrad"`` or on ``"torch"``."""
    return load_example(EXAMPLES / f"{name}.py", library)


@pytest.fixture(scope="module")
def programs(torch) -> dict:
    """Each example loaded on both libraries: ``programs[name] = (ours, theirs)``."""
    names = ("cnn_digits", "lstm_sequence", "char_transformer")
    return {name: (_load(name, "plaingrad"), _load(name, "torch")) for name in names}


def _same_start(model, twin, lib: ModuleType) -> None:
    """Load one set of NumPy arrays, by name, into a plaingrad and a torch model."""
    arrays = {name: value.numpy().copy() for name, value in model.state_dict().items()}
    model.load_state_dict({name: pg.from_numpy(a.copy()) for name, a in arrays.items()})
    twin.load_state_dict({name: lib.from_numpy(a.copy()) for name, a in arrays.items()})


def _train(program, model, batches) -> list[float]:
    optimizer = program.torch.optim.Adam(model.parameters(), lr=3e-3)
    return [program.train_step(model, optimizer, x, y) for x, y in batches]


def _assert_same_losses(ours: list[float], theirs: list[float]) -> None:
    assert len(ours) == len(theirs) == STEPS
    np.testing.assert_allclose(ours, theirs, rtol=1e-3)
    assert ours[-1] < ours[0], ours  # and both learn something in 20 steps


@pytest.mark.parametrize("name", ["cnn_digits", "lstm_sequence", "char_transformer"])
def test_each_example_picks_its_library_with_one_line(name, programs, torch):
    source = (EXAMPLES / f"{name}.py").read_text()
    ours, theirs = programs[name]

    imports = [
        line for line in source.splitlines() if line.startswith(("import ", "from "))
    ]

    assert source.count(PLAINGRAD_IMPORT) == 1
    assert [line for line in imports if "plaingrad" in line] == [PLAINGRAD_IMPORT[:-1]]
    assert ours.torch is pg and theirs.torch is torch


# ------------------------------------------------------- step for step


def test_cnn_losses_match_pytorch_for_20_steps(programs, torch):
    ours, theirs = programs["cnn_digits"]
    x_train, _, y_train, _ = ours.load_data(seed=0)
    x_train, y_train = x_train[: 16 * STEPS], y_train[: 16 * STEPS]
    pg.manual_seed(0)
    model, twin = ours.build_model(dropout=0.0), theirs.build_model(dropout=0.0)
    _same_start(model, twin, torch)

    losses = _train(ours, model, ours.batches(x_train, y_train, 16))
    twin_losses = _train(theirs, twin, theirs.batches(x_train, y_train, 16))

    _assert_same_losses(losses, twin_losses)


def test_lstm_losses_match_pytorch_for_20_steps(programs, torch):
    ours, theirs = programs["lstm_sequence"]
    inputs, targets = ours.adding_problem(32 * STEPS, 12, np.random.default_rng(0))
    pg.manual_seed(0)
    model, twin = ours.build_model(dropout=0.0), theirs.build_model(dropout=0.0)
    _same_start(model, twin, torch)

    losses = _train(ours, model, ours.batches(inputs, targets, 32))
    twin_losses = _train(theirs, twin, theirs.batches(inputs, targets, 32))

    _assert_same_losses(losses, twin_losses)


def test_transformer_losses_match_pytorch_for_20_steps(programs, torch):
    ours, theirs = programs["char_transformer"]
    vocab = ours.Vocabulary(ours.TEXT.read_text())
    data = vocab.encode(ours.TEXT.read_text())
    sizes = {"context": 32, "d_model": 32}
    pg.manual_seed(0)
    model = ours.build_model(len(vocab), dropout=0.0, **sizes)
    twin = theirs.build_model(len(vocab), dropout=0.0, **sizes)
    _same_start(model, twin, torch)

    losses = _train(ours, model, ours.batches(data, 32, 16, STEPS))
    twin_losses = _train(theirs, twin, theirs.batches(data, 32, 16, STEPS))

    _assert_same_losses(losses, twin_losses)


def test_transformer_is_causal(programs):
    ours, _ = programs["char_transformer"]
    pg.manual_seed(0)
    model = ours.build_model(10, dropout=0.0, context=8, d_model=16).eval()
    tokens = pg.randint(0, 10, (2, 8))
    changed = tokens.clone()
    changed[:, 5:] = (changed[:, 5:] + 1) % 10

    with pg.no_grad():
        before, after = model(tokens), model(changed)

    # positions before the change see only unchanged characters
    np.testing.assert_allclose(before[:, :5].numpy(), after[:, :5].numpy(), atol=1e-6)
    assert not np.allclose(before[:, 5:].numpy(), after[:, 5:].numpy())


# ------------------------------------------------------------ the programs


# The time limits only stop a hung run; they say nothing about speed. On a
# 2-core machine shared with another job a full run can take 8x its usual time.
FULL_RUN_LIMIT = 1800


def _run(name: str, *flags: str, timeout: float = 600) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def _figure(label: str, stdout: str) -> float:
    match = re.search(rf"^{label}: (\d+\.\d+)", stdout, re.MULTILINE)
    assert match, stdout
    return float(match.group(1))


def test_cnn_program_runs_with_tiny_settings():
    stdout = _run("cnn_digits", "--epochs", "1", "--limit", "256")

    assert 0.5 < _figure("test accuracy", stdout) <= 1.0, stdout


def test_lstm_program_runs_with_tiny_settings():
    flags = ["--epochs", "1", "--train-size", "256", "--test-size", "64"]
    stdout = _run("lstm_sequence", *flags, "--length", "8", "--hidden-size", "8")

    assert 0.0 < _figure("test mse", stdout) < 1.0, stdout


def test_transformer_program_runs_with_tiny_settings():
    flags = ["--steps", "5", "--eval-every", "5", "--sample-length", "20"]
    stdout = _run("char_transformer", *flags, "--context", "16", "--d-model", "16")

    assert _figure("val loss", stdout) < np.log(55), stdout
    assert stdout.split("val loss: ")[1].splitlines()[1].startswith("The gradient")


def test_cnn_reaches_98_percent_on_the_digits():
    # about 8 s, so it runs by default; the two runs below take 16 s and 80 s
    # on an idle machine and more than twice that on a busy one
    stdout = _run("cnn_digits", timeout=FULL_RUN_LIMIT)

    assert _figure("test accuracy", stdout) >= 0.98, stdout


@pytest.mark.slow
def test_lstm_solves_the_adding_problem():
    stdout = _run("lstm_sequence", timeout=FULL_RUN_LIMIT)

    # over ten times below the 1/6 of always answering the mean
    assert _figure("test mse", stdout) < 0.01, stdout


@pytest.mark.slow
def test_transformer_loss_falls_below_2_nats():
    stdout = _run("char_transformer", timeout=FULL_RUN_LIMIT)

    assert _figure("val loss", stdout) < 2.0, stdout
