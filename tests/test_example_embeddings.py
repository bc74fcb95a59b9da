"""The character-embedding example: examples/char_embeddings.py.

The program trains the character transformer and lists, for chosen characters,
their nearest neighbours in the token embedding table. The tests check that
its model and training run the same on PyTorch (same losses, step for step),
that the printed lists and figures are what an independent NumPy computation
on the same embedding matrices gives, that it runs with tiny settings, and, at
full length (slow), that the trained table arranges the characters by class
where the untrained one does not.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch
from examplecheck import load_example

import plaingrad as pg

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "char_embeddings.py"
PLAINGRAD_IMPORT = "import plaingrad as torch\n"
TINY = ["--steps", "5", "--context", "16", "--d-model", "16"]
STEPS = 20


def _load(library: str) -> ModuleType:
    """The example as a module, on ``"plaingrad"`` or on ``"torch"``."""
    return load_example(EXAMPLE, library)


@pytest.fixture(scope="module")
def ours() -> ModuleType:
    return _load("plaingrad")


def _figure(label: str, stdout: str) -> float:
    match = re.search(rf"^{label}: ([+-]?\d+\.\d+)", stdout, re.MULTILINE)
    assert match, stdout
    return float(match.group(1))


def _printed_lists(stdout: str, k: int) -> dict[str, tuple[list, list]]:
    """The neighbour table as printed: character -> (untrained, trained)."""
    names = {"space": " ", "newline": "\n"}
    lines = stdout.split("nearest characters by cosine similarity\n")[1]
    rows = lines.split("\n\n")[0].splitlines()[1:]  # below the header
    lists = {}
    for row in rows:
        tokens = [names.get(token, token) for token in row.split()]
        assert len(tokens) == 1 + 2 * k, row
        lists[tokens[0]] = (tokens[1 : 1 + k], tokens[1 + k :])
    return lists


def _cosine_order(table: np.ndarray, index: int) -> np.ndarray:
    """All other rows, most cosine-similar to row ``index`` first."""
    unit = table / np.sqrt((table**2).sum(axis=1, keepdims=True))
    cosines = unit @ unit[index]
    cosines[index] = -np.inf
    return np.argsort(-cosines, kind="stable")[:-1]


def _class(char: str) -> str:
    # written out again here, so the test does not lean on the example's own
    if char in "aeiou":
        return "vowel"
    if "a" <= char <= "z":
        return "consonant"
    if "A" <= char <= "Z":
        return "capital"
    if char in " \n":
        return "whitespace"
    return "punctuation"


def test_the_example_picks_its_library_with_one_line(ours):
    source = EXAMPLE.read_text()
    imports = [
        line for line in source.splitlines() if line.startswith(("import ", "from "))
    ]
    torch = import_torch()
    theirs = _load("torch")

    assert source.count(PLAINGRAD_IMPORT) == 1
    # the only other plaingrad import is the NumPy-only reporting toolkit
    assert [line for line in imports if "plaingrad" in line] == [
        PLAINGRAD_IMPORT[:-1],
        "from plaingrad import lens",
    ]
    assert ours.torch is pg and ours.char_transformer.torch is pg
    assert theirs.torch is torch and theirs.char_transformer.torch is torch


def test_losses_match_pytorch_for_20_steps(ours):
    torch = import_torch()
    theirs = _load("torch")
    text = ours.TEXT.read_text()
    vocab = ours.char_transformer.Vocabulary(text)
    data = vocab.encode(text)
    sizes = {"context": 16, "d_model": 16, "num_layers": 1}
    pg.manual_seed(0)
    model = ours.build_model(len(vocab), dropout=0.0, **sizes)
    twin = theirs.build_model(len(vocab), dropout=0.0, **sizes)
    arrays = {name: value.numpy().copy() for name, value in model.state_dict().items()}
    model.load_state_dict({name: pg.from_numpy(a.copy()) for name, a in arrays.items()})
    twin.load_state_dict(
        {name: torch.from_numpy(a.copy()) for name, a in arrays.items()}
    )

    # rng=None: the same consecutive windows for both, no dropout
    losses = ours.train(model, data, STEPS, 16, 3e-3, rng=None)
    twin_losses = theirs.train(twin, data, STEPS, 16, 3e-3, rng=None)

    np.testing.assert_allclose(losses, twin_losses, rtol=1e-3)
    np.testing.assert_allclose(
        ours.embedding_table(model), theirs.embedding_table(twin), atol=1e-4
    )
    assert losses[-1] < losses[0], losses


def test_embedding_table_starts_at_the_chosen_scale(ours):
    pg.manual_seed(0)
    model = ours.build_model(55, embedding_std=0.02, context=8, d_model=16)
    table = ours.embedding_table(model)

    assert table.shape == (55, 16)
    # 880 draws of N(0, 0.02^2): the sample std is within 10% of 0.02
    assert 0.018 < table.std() < 0.022


@pytest.fixture
def threads():
    """Put back the BLAS thread count that ``main`` sets."""
    before = pg.get_num_threads()
    yield
    pg.set_num_threads(before)


def test_printed_lists_and_figures_match_numpy(ours, capsys, threads):
    result = ours.main([*TINY, "-k", "3"])
    stdout = capsys.readouterr().out
    chars = result["chars"]
    printed = _printed_lists(stdout, k=3)

    assert set(printed) == set(".,;:?TAIW \naeioutnsh")
    for char, (untrained, trained) in printed.items():
        for name, listed in (("untrained", untrained), ("trained", trained)):
            order = _cosine_order(result["tables"][name], chars.index(char))
            assert listed == [chars[i] for i in order[:3]], (char, name)
            assert result["neighbours"][char][name] == listed
    assert "not in the text, so not shown: 0 1 2 3 4 5 6 7 8 9" in stdout

    classes = np.array([_class(c) for c in chars])
    counts = Counter(ours.TEXT.read_text())
    frequent = np.array([counts[c] >= 20 for c in chars])
    for name, table in result["tables"].items():
        nearest = [_cosine_order(table, i)[0] for i in range(len(chars))]
        agreement = np.mean(classes[nearest] == classes)
        unit = table / np.linalg.norm(table, axis=1, keepdims=True)
        cosines = (unit @ unit.T)[np.ix_(frequent, frequent)]
        f_classes = classes[frequent]
        same = f_classes[:, None] == f_classes[None, :]
        pairs = same & ~np.eye(len(f_classes), dtype=bool)
        gap = cosines[pairs].mean() - cosines[~same].mean()

        assert result[f"agreement_{name}"] == pytest.approx(agreement, abs=1e-12)
        assert result[f"gap_{name}"] == pytest.approx(gap, abs=1e-6)
        assert _figure(f"{name} agreement", stdout) == pytest.approx(
            agreement, abs=0.006
        )
        assert _figure(f"{name} cosine gap", stdout) == pytest.approx(gap, abs=6e-4)
    # 55 characters: 5 vowels, 21 consonants, 20 capitals, 7 marks, 2 spaces
    assert _figure("chance agreement", stdout) == round(864 / (55 * 54), 2)


def _run(*flags: str, timeout: float = 600) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), *flags],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def test_the_program_runs_with_tiny_settings():
    stdout = _run(*TINY)

    assert "5 steps: train loss" in stdout
    # 5 steps leave the model near chance, log(55) = 4.01 nats
    assert 3.5 < _figure("val loss", stdout) < 4.5
    assert 0.0 <= _figure("trained agreement", stdout) <= 1.0
    assert len(_printed_lists(stdout, k=4)) == 20


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_arranges_the_characters_by_class(seed):
    # about 7 s each; the time limit only stops a hung run
    stdout = _run("--seed", str(seed), timeout=1800)
    lists = _printed_lists(stdout, k=4)

    # measured over seeds 0-4 with the defaults: agreement 0.56-0.71 trained,
    # 0.15-0.42 untrained (0.29 by chance); cosine gap 0.32-0.37 trained,
    # -0.03 to +0.02 untrained; val loss 2.59-2.65.
    assert _figure("trained agreement", stdout) >= 0.45, stdout
    assert _figure("trained cosine gap", stdout) >= 0.22, stdout
    assert abs(_figure("untrained cosine gap", stdout)) <= 0.05, stdout
    assert _figure("val loss", stdout) < 2.75, stdout
    # space and newline nearest to each other in all of seeds 0-4 (none untrained)
    assert lists[" "][1][0] == "\n" and lists["\n"][1][0] == " ", stdout


# ------------------------------------------------------ bad flags refused


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
        (["--steps", "0"], "argument --steps: must be at least 1, got 0"),
        (["--steps", "-3"], "argument --steps: must be at least 1, got -3"),
        (["--batch-size", "0"], "argument --batch-size: must be at least 1, got 0"),
        (["--context", "0"], "argument --context: must be at least 1, got 0"),
        (["--d-model", "0"], "argument --d-model: must be at least 1, got 0"),
        (["--d-model", "6"], "argument --d-model: must be a multiple of 4"),
        (["--layers", "-1"], "argument --layers: must be at least 0, got -1"),
        (["--lr", "0"], "argument --lr: must be a finite number > 0, got 0"),
        (["--embedding-std", "0"], "argument --embedding-std: must be a finite"),
        (["--embedding-std", "-1"], "argument --embedding-std: must be a finite"),
        (["-k", "0"], "argument -k: must be at least 1, got 0"),
        (["--min-count", "0"], "argument --min-count: must be at least 1, got 0"),
        (["--threads", "0"], "argument --threads: must be at least 1, got 0"),
        (["--seed", "-1"], "argument --seed: must be in [0, 2**64), got -1"),
        (["--steps", "1e3"], "argument --steps: expected an integer, got '1e3'"),
    ],
)
def test_bad_numbers_are_refused_by_the_parser(ours, capsys, flags, message):
    last_line = _refused(ours, capsys, *flags)

    assert ": error: " in last_line and message in last_line, last_line


def test_k_must_leave_a_character_out(ours, capsys):
    # the text has 55 distinct characters: at most 54 other ones to list
    last_line = _refused(ours, capsys, "-k", "55")

    assert "argument -k: must be below the 55 distinct characters" in last_line


def test_a_min_count_no_character_reaches_is_refused(ours, capsys):
    most = max(Counter(ours.TEXT.read_text()).values())

    last_line = _refused(ours, capsys, "--min-count", str(most + 1))

    assert "argument --min-count: the cosine gap takes the characters" in last_line
    assert f"seen at least {most + 1} times" in last_line


def test_a_text_that_cannot_be_used_is_refused(ours, capsys, tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\xe9 ".encode("latin-1") * 100)
    short = tmp_path / "short.txt"
    short.write_text("abc. def, ghi\n" * 24)  # 336 characters
    missing = tmp_path / "missing.txt"

    errors = {
        "missing": _refused(ours, capsys, "--text", str(missing)),
        "folder": _refused(ours, capsys, "--text", str(tmp_path)),
        "latin1": _refused(ours, capsys, "--text", str(latin1)),
        # --context 32: each tenth of the text needs a window of 34
        "short": _refused(ours, capsys, "--text", str(short)),
    }

    assert errors["missing"].endswith(f"argument --text: no such file: '{missing}'")
    assert errors["folder"].endswith(f"argument --text: '{tmp_path}' is not a file")
    assert f"argument --text: '{latin1}' is not UTF-8 text" in errors["latin1"]
    assert (
        "argument --text: 336 characters are too few for --context 32"
        in (errors["short"])
    )
    assert "at least 340 are needed" in errors["short"]
