"""The two seed programs: the backpropagation and representation articles.

Each program is written once, against a library passed in, so the same lines
run on plaingrad and on real PyTorch. plaingrad's random streams are not
PyTorch's, so the comparisons copy plaingrad's initial weights into the torch
model and then expect the same numbers step for step. The scripts in
``examples/`` are also run as a user would run them, in a fresh interpreter.
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

import plaingrad as pg

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# What the articles print: a float, and a (1, 2) tensor from a Linear layer.
FINAL_LOSS = re.compile(r"^Final loss: (\S+)$", re.MULTILINE)
NUMBER = r"-?\d+\.\d{4}(?:e[+-]\d+)?"
OUTPUT_TENSOR = re.compile(
    rf"^tensor\(\[\[ *{NUMBER}, +{NUMBER}\]\], grad_fn=<AddmmBackward0>\)$"
)


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _copy_weights(source: pg.nn.Module, target, torch: ModuleType) -> None:
    """Give a torch module the values of a plaingrad module with the same keys."""
    state = {
        name: torch.from_numpy(value.numpy().copy())
        for name, value in source.state_dict().items()
    }
    target.load_state_dict(state)


# ------------------------------------------------------ backpropagation


def _xor_model(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))


def _train_xor(torch, model, steps: int = 1000) -> list[float]:
    """The article's training loop; returns the loss of every step."""
    nn, optim = torch.nn, torch.optim
    X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)

    losses = []
    for _ in range(steps):
        predictions = model(X)
        loss = criterion(predictions, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _final_xor_loss(seed: int) -> float:
    pg.manual_seed(seed)
    return _train_xor(pg, _xor_model(pg))[-1]


def test_module_spellings_of_the_article_import():
    import plaingrad.nn as nn
    import plaingrad.optim as optim

    assert nn is pg.nn and optim is pg.optim
    assert nn.Sequential is pg.nn.Sequential and optim.Adam is pg.optim.Adam


@pytest.mark.parametrize("seed", [0, 1])
def test_xor_training_matches_pytorch_step_for_step(seed: int, torch):
    pg.manual_seed(seed)
    model = _xor_model(pg)
    twin = _xor_model(torch)
    _copy_weights(model, twin, torch)

    ours = np.array(_train_xor(pg, model))
    theirs = np.array(_train_xor(torch, twin))

    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert ours[-1] < 1e-3
    X = pg.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    predictions = model(X).detach().numpy().ravel()
    np.testing.assert_allclose(predictions, [0, 1, 1, 0], atol=0.05)


def test_xor_converges_for_most_of_the_first_eight_seeds():
    finals = [_final_xor_loss(seed) for seed in range(8)]

    # The acceptance bar is 85 in 100 (the slow test below); 6 of 8 is the
    # same rate with room for chance in a small sample.
    assert sum(loss < 1e-3 for loss in finals) >= 6, finals


@pytest.mark.slow
def test_xor_converges_for_at_least_85_of_100_seeds():
    finals = [_final_xor_loss(seed) for seed in range(100)]

    converged = sum(loss < 1e-3 for loss in finals)
    stuck = {seed: round(loss, 4) for seed, loss in enumerate(finals) if loss >= 1e-3}
    assert converged >= 85, f"{converged}/100 converged; stuck: {stuck}"


# -------------------------------------------------------- representation


def _representation_net(torch):
    nn = torch.nn

    class SimpleRepresentationNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer1 = nn.Linear(10, 32)
            self.layer2 = nn.Linear(32, 16)
            self.output = nn.Linear(16, 2)

        def forward(self, x):
            x = torch.relu(self.layer1(x))
            x = torch.relu(self.layer2(x))
            return self.output(x)

    return SimpleRepresentationNet()


def test_representation_output_prints_as_pytorch(torch):
    pg.manual_seed(0)
    model = _representation_net(pg)
    twin = _representation_net(torch)
    _copy_weights(model, twin, torch)
    x = pg.randn(1, 10)

    output = model(x)
    expected = twin(torch.from_numpy(x.numpy().copy()))

    assert tuple(output.shape) == (1, 2)
    assert output.grad_fn is not None and output.requires_grad
    np.testing.assert_allclose(
        output.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    assert OUTPUT_TENSOR.match(str(output)), str(output)
    assert str(output) == str(expected)


def test_representation_repr_and_gradients_match_pytorch(torch):
    pg.manual_seed(1)
    model = _representation_net(pg)
    twin = _representation_net(torch)
    _copy_weights(model, twin, torch)
    x = pg.randn(3, 10)

    model(x).sum().backward()
    twin(torch.from_numpy(x.numpy().copy())).sum().backward()

    assert repr(model) == repr(twin)
    assert [name for name, _ in model.named_parameters()] == [
        name for name, _ in twin.named_parameters()
    ]
    for (name, ours), (_, theirs) in zip(
        model.named_parameters(), twin.named_parameters()
    ):
        np.testing.assert_allclose(
            ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=name
        )


# ------------------------------------------------------------ the scripts


def _run_example(name: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


@pytest.mark.parametrize(
    ("name", "changed"),
    [
        ("seed_backprop.py", ["plaingrad as torch", "plaingrad.nn", "plaingrad.optim"]),
        ("seed_representation.py", ["plaingrad as torch", "plaingrad.nn"]),
    ],
)
def test_example_scripts_import_plaingrad_in_torch_spelling(name, changed):
    imports = [
        line
        for line in (EXAMPLES / name).read_text().splitlines()
        if line.startswith(("import ", "from "))
    ]

    assert len(imports) == len(changed)
    for line, module in zip(imports, changed):
        assert line.startswith(f"import {module}")


def test_backprop_script_prints_a_small_final_loss(tmp_path: Path):
    stdout = _run_example("seed_backprop.py", tmp_path)

    match = FINAL_LOSS.fullmatch(stdout.strip())
    assert match, stdout
    assert 0 <= float(match.group(1)) < 1e-3


def test_representation_script_prints_a_1_by_2_tensor(tmp_path: Path):
    stdout = _run_example("seed_representation.py", tmp_path)

    assert OUTPUT_TENSOR.match(stdout.strip()), stdout
