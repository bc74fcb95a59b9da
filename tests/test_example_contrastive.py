"""examples/contrastive_digits.py: SimCLR on the digits, checked three ways.

The NT-Xent loss is compared with a NumPy loop written from its formula and
with PyTorch (values and gradients); the program's model code is loaded on
both libraries (its one ``import plaingrad as torch`` line changed) and must
lose the same amount for 20 steps from the same weights on the same views;
the program runs with tiny settings, its probe figures checked against
scikit-learn's ``LogisticRegression``; and at full length (slow) the frozen
contrastive features must probe well above the same encoder's random ones.
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
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

PATH = Path(__file__).resolve().parents[1] / "examples" / "contrastive_digits.py"
PLAINGRAD_IMPORT = "import plaingrad as torch\n"
STEPS = 20


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _load(library: str) -> ModuleType:
    """The example as a module, on ``"plaingrad"`` or on ``"torch"``."""
    return load_example(PATH, library)


@pytest.fixture(scope="module")
def ours() -> ModuleType:
    """The example as written, on plaingrad (the tests that need no torch)."""
    return _load("plaingrad")


@pytest.fixture(scope="module")
def programs(ours, torch) -> tuple[ModuleType, ModuleType]:
    return ours, _load("torch")


def test_the_program_picks_its_library_with_one_line(programs, torch):
    ours, theirs = programs

    assert PATH.read_text().count(PLAINGRAD_IMPORT) == 1
    assert ours.torch is pg and theirs.torch is torch


# ------------------------------------------------------------- the loss


def _nt_xent_by_hand(z1: np.ndarray, z2: np.ndarray, temperature: float) -> float:
    """SimCLR's loss from its definition, one view at a time, in float64."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        others = [k for k in range(2 * n) if k != i]
        scores = np.array([z[i] @ z[k] for k in others]) / temperature
        total -= z[i] @ z[positive] / temperature - np.log(np.exp(scores).sum())
    return total / (2 * n)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_its_formula(ours, temperature):
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(2, 6, 5))

    loss = ours.nt_xent(pg.tensor(z1), pg.tensor(z2), temperature)

    expected = _nt_xent_by_hand(z1, z2, temperature)
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-10)


def test_nt_xent_matches_pytorch_and_finite_differences(programs, torch):
    ours, theirs = programs
    rng = np.random.default_rng(1)
    z1, z2 = rng.normal(size=(2, 8, 4))

    def loss(lib, a, b):
        return (ours if lib is pg else theirs).nt_xent(a, b, 0.3)

    check_against_torch(torch, loss, z1, z2)
    check_gradients(loss, z1, z2)


def test_nt_xent_is_small_when_each_view_finds_its_twin(ours):
    z = np.eye(4) * 5.0  # four orthogonal directions, the two views identical

    loss = ours.nt_xent(pg.tensor(z), pg.tensor(z), 0.1).item()

    # each view's twin at cosine 1, its six negatives at cosine 0, T = 0.1:
    # -log(e^10 / (e^10 + 6)), far below log(7) for views that match nothing
    assert loss == pytest.approx(-np.log(np.exp(10) / (np.exp(10) + 6)), rel=1e-6)


# -------------------------------------------------------- step for step


def _same_start(model, twin, lib: ModuleType) -> None:
    """Load one set of NumPy arrays, by name, into a plaingrad and a torch model."""
    arrays = {name: value.numpy().copy() for name, value in model.state_dict().items()}
    model.load_state_dict({name: pg.from_numpy(a.copy()) for name, a in arrays.items()})
    twin.load_state_dict({name: lib.from_numpy(a.copy()) for name, a in arrays.items()})


def test_losses_match_pytorch_for_20_steps(programs, torch):
    ours, theirs = programs
    pixels = pg.datasets.load_digits().x_train.numpy()[: 64 * STEPS]
    rng = np.random.default_rng(0)  # one set of views, shown to both libraries
    views = [
        (ours.augment(batch, rng), ours.augment(batch, rng))
        for batch in np.split(pixels, STEPS)
    ]
    pg.manual_seed(0)
    model, twin = ours.SimCLR(), theirs.SimCLR()
    _same_start(model, twin, torch)

    def train(program, net) -> list[float]:
        optimizer = program.torch.optim.Adam(net.parameters(), lr=3e-3)
        lib = program.torch
        return [
            program.train_step(net, optimizer, lib.from_numpy(a), lib.from_numpy(b))
            for a, b in views
        ]

    losses, twin_losses = train(ours, model), train(theirs, twin)

    assert len(losses) == len(twin_losses) == STEPS
    np.testing.assert_allclose(losses, twin_losses, rtol=1e-3)
    # and both learn: each step sees new images, so compare five with five
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.1, losses


def test_views_move_the_image_by_at_most_one_pixel(ours):
    dot = np.zeros((2000, 8, 8), dtype=np.float32)
    dot[:, 4, 4] = 1.0  # one bright pixel in each image

    views = ours.augment(dot.reshape(2000, 64), np.random.default_rng(0))

    assert views.shape == (2000, 64) and views.dtype == np.float32
    # the dot, scaled by at least 0.6, stands out of noise of std 0.1 (0.5
    # is 5 standard deviations) unless a patch erased it; erasing (half the
    # views, a 3x3 patch at one of 36 places, 9 of which cover the dot)
    # takes it from about 1 view in 8
    brightest = views.max(axis=1)
    kept = brightest > 0.5
    assert 0.8 < kept.mean() < 0.95, kept.mean()
    rows, cols = np.divmod(views[kept].argmax(axis=1), 8)
    offsets = set(zip(rows - 4, cols - 4, strict=True))
    assert offsets == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    # the scale factor is uniform in [0.6, 1.4] and the noise has mean 0
    assert 0.95 < brightest[kept].mean() < 1.05, brightest[kept].mean()
    assert brightest.max() < 1.4 + 5 * 0.1


# ---------------------------------------------------------- the program


@pytest.fixture
def threads(torch):
    """Put back the BLAS thread counts that ``main`` sets (``--threads``)."""
    before = pg.get_num_threads(), torch.get_num_threads()
    yield
    pg.set_num_threads(before[0])
    torch.set_num_threads(before[1])


@pytest.mark.parametrize("library", ["plaingrad", "torch"])
def test_the_program_runs_with_tiny_settings(programs, library, capsys, threads):
    program = programs[library == "torch"]
    flags = ["--epochs", "2", "--supervised-steps", "20", "--probe-epochs", "100"]

    result = program.main([*flags, "--limit", "400", "--labels-per-class", "5"])

    table = capsys.readouterr().out
    rows = ("raw pixels", "random encoder", "contrastive encoder", "supervised MLP")
    assert tuple(result["accuracy"]) == rows
    for name, figures in result["accuracy"].items():
        assert re.search(rf"^{name} .*{figures[0]:.3f} +{figures[1]:.3f}$", table, re.M)
        # ten classes, chance 0.1; seed 0 on plaingrad measured 0.68-0.94 for
        # the probes and 0.72 for the MLP after its 20 steps
        assert 0.3 < figures[0] <= 1.0 and 0.3 < figures[1] <= 1.0, figures


def test_the_probes_agree_with_scikit_learn(ours, threads):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    result = ours.main(["--epochs", "3", "--supervised-steps", "1", "--limit", "600"])
    y_train, y_test = result["labels"]
    labelled = result["labelled"]

    for name, (train, test) in result["features"].items():
        for column, rows in enumerate((labelled, np.arange(len(train)))):
            # the probe's objective is LogisticRegression's, C = 1 / (1e-3 * n)
            scaler = StandardScaler().fit(train[rows])
            reference = LogisticRegression(C=1 / (1e-3 * len(rows)), max_iter=5000)
            reference.fit(scaler.transform(train[rows]), y_train[rows])
            expected = reference.score(scaler.transform(test), y_test)

            # 300 Adam steps end within a point or two of the exact optimum
            # (measured over seeds 0-2: 0 to 3 of the 360 test images apart)
            got = result["accuracy"][name][column]
            assert got == pytest.approx(expected, abs=0.02), (name, column)


def test_help_lists_the_flags_with_what_they_do_and_their_defaults():
    result = subprocess.run(
        [sys.executable, str(PATH), "--help"], capture_output=True, text=True
    )

    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps long help lines
    for flag, default in [
        ("--epochs EPOCHS", "200"),
        ("--temperature TEMPERATURE", "0.2"),
        ("--labels-per-class LABELS_PER_CLASS", "10"),
        ("--probe-epochs PROBE_EPOCHS", "300"),
        ("--threads THREADS", "1"),
        ("--seed SEED", "0"),
    ]:
        # the flag, a few words on what it does, then its default
        assert re.search(rf"{flag} \w[^()]+ \(default: {default}\)", text), flag


def _refused(program, capsys, *flags: str) -> str:
    """The one-line error ``main`` exits with (status 2), before any training."""
    with pytest.raises(SystemExit) as exit_info:
        program.main(list(flags))
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert captured.out == ""  # nothing trained, nothing printed
    assert captured.err.startswith("usage: "), captured.err
    return captured.err.splitlines()[-1]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "-3"], "argument --epochs: must be at least 1, got -3"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--hidden", "0"], "argument --hidden: must be at least 1, got 0"),
        (["--features", "0"], "argument --features: must be at least 1, got 0"),
        (["--labels-per-class", "0"], "argument --labels-per-class: must be at"),
        (["--supervised-steps", "0"], "argument --supervised-steps: must be at"),
        (["--probe-epochs", "-1"], "argument --probe-epochs: must be at least 1"),
        (["--limit", "0"], "argument --limit: must be at least 1, got 0"),
        (["--threads", "0"], "argument --threads: must be at least 1, got 0"),
        (["--temperature", "0"], "argument --temperature: must be a finite number"),
        (["--temperature", "-0.5"], "argument --temperature: must be a finite"),
        (["--lr", "inf"], "argument --lr: must be a finite number > 0, got inf"),
        (["--seed", "-1"], "argument --seed: must be in [0, 2**64), got -1"),
        (["--epochs", "ten"], "argument --epochs: expected an integer, got 'ten'"),
    ],
)
def test_bad_numbers_are_refused_by_the_parser(ours, capsys, flags, message):
    last_line = _refused(ours, capsys, *flags)

    assert ": error: " in last_line and message in last_line, last_line


def test_too_few_images_of_a_digit_for_the_labelled_set_are_refused(ours, capsys):
    # the first 40 training images hold a single 0 (counted from the split)
    labels = pg.datasets.load_digits().y_train.numpy()
    zeros = int((labels[:40] == 0).sum())
    smallest = int(np.bincount(labels).min())

    short = _refused(ours, capsys, "--limit", "40")
    many = _refused(ours, capsys, "--labels-per-class", str(smallest + 1))

    assert zeros < 10
    assert "argument --limit: the first 40 training images hold" in short
    assert "fewer than --labels-per-class 10" in short
    assert f"argument --labels-per-class: {smallest + 1} is more than" in many


@pytest.mark.slow
def test_contrastive_features_probe_well_above_random_ones(ours, capsys, threads):
    result = ours.main([])  # the defaults, seed 0: about 20-40 s

    accuracy = result["accuracy"]
    table = capsys.readouterr().out
    assert "supervised MLP" in table and "raw pixels" in table, table
    few = {name: figures[0] for name, figures in accuracy.items()}
    full = {name: figures[1] for name, figures in accuracy.items()}
    # over seeds 0-4 (the docstring's, one thread): the contrastive probe with 10
    # labels per class 0.883-0.894, the random encoder's 0.689-0.747, a gap
    # of 0.145-0.197; with all labels 0.950-0.964 against 0.833-0.869, a gap
    # of 0.081-0.122
    assert few["contrastive encoder"] > 0.85, accuracy
    assert few["contrastive encoder"] > few["random encoder"] + 0.1, accuracy
    assert full["contrastive encoder"] > full["random encoder"] + 0.05, accuracy
    # and the features learnt without labels do about as well as the MLP
    # trained with them (0.853-0.889 with 10 per class, 0.958-0.972 with all)
    assert few["contrastive encoder"] > few["supervised MLP"] - 0.05, accuracy
    assert full["contrastive encoder"] > full["supervised MLP"] - 0.05, accuracy
