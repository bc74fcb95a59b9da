"""``plaingrad explain xor``: every number it prints is recomputed here by a
hand-written NumPy forward pass, backward pass and optimizer step of the same
network (float64, not plaingrad's engine), and found equal.

The only numbers taken from plaingrad are the initial weights (random by
seed) and the data, read from the command's own JSON output; everything
after them is derived below from the formulas of the network.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

ARRIVING = r"(?:Gradient arriving|Gradient): ∂L/∂(\S+), shape \(.*?\), norm (\S+)\.$"
SENT = r"Sends to (\S+): shape \(.*?\), norm (\S+)\.$"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|nan|-?inf")


def run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "plaingrad", "explain", "xor", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def reference(start: dict, optimizer: str, lr: float) -> dict[str, np.ndarray]:
    """Every value of one step, by hand, in float64. Keys: forward and update
    quantities by name; gradients as ``grad:<name of the value>``."""
    x, y = start["input"], start["target"]
    w1, b1, w2, b2 = (
        start["0.weight"],
        start["0.bias"],
        start["2.weight"],
        start["2.bias"],
    )
    z = x @ w1.T + b1
    h = np.maximum(z, 0)
    out = h @ w2.T + b2
    loss = np.mean((out - y) ** 2)
    d_out = 2 * (out - y) / out.size  # d mean(e²) / d out
    d_w2 = d_out.T @ h
    d_b2 = d_out.sum(axis=0)
    d_h = d_out @ w2
    d_z = d_h * (z > 0)  # ReLU passes the gradient where z > 0
    d_w1 = d_z.T @ x
    d_b1 = d_z.sum(axis=0)
    values = {
        "input": x, "target": y, "0.weight": w1, "0.bias": b1, "0.linear": z,
        "1.relu": h, "2.weight": w2, "2.bias": b2, "2.linear": out, "loss": loss,
        "grad:loss": np.float64(1.0), "grad:2.linear": d_out, "grad:1.relu": d_h,
        "grad:0.linear": d_z, "grad:2.weight": d_w2, "grad:2.bias": d_b2,
        "grad:0.weight": d_w1, "grad:0.bias": d_b1,
    }  # fmt: skip
    params = {"0.weight": (w1, d_w1), "0.bias": (b1, d_b1)}
    params.update({"2.weight": (w2, d_w2), "2.bias": (b2, d_b2)})
    for name, (w, g) in params.items():
        if optimizer == "sgd":
            values[f"{name}_new"] = w - lr * g
            continue
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        m = (1 - beta1) * g  # the moments start at zero
        v = (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1), v / (1 - beta2)
        values[f"{name}.m"], values[f"{name}.v"] = m, v
        values[f"{name}.m_hat"], values[f"{name}.v_hat"] = m_hat, v_hat
        values[f"{name}_new"] = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return values


def starting_point(doc: dict) -> dict[str, np.ndarray]:
    wanted = ("input", "target", "0.weight", "0.bias", "2.weight", "2.bias")
    found = {q["name"]: np.array(q["values"], dtype=np.float64) for q in doc["forward"]}
    return {name: found[name] for name in wanted}


def parse_text(text: str) -> list[tuple[str, np.ndarray, float | None]]:
    """(key, entries, printed norm or None) for every array in the text."""
    lines = text.splitlines()
    found = []
    in_story = False
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("Backward pass from"):
            in_story = True
        elif line.startswith("Update"):
            in_story = False
        if in_story and line.startswith("    ") and not line.startswith("     "):
            sentence = line.strip()
            i += 1
            while i < len(lines) and re.match(r"^ {6}\S", lines[i]):
                sentence += " " + lines[i].strip()
                i += 1
            rows = []
            while i < len(lines) and lines[i].startswith("        "):
                rows.append(lines[i])
                i += 1
            got = re.match(ARRIVING, sentence) or re.match(SENT, sentence)
            if got:
                assert rows, f"no entries after {sentence!r}"
                entries = np.array([float(t) for t in NUMBER.findall(" ".join(rows))])
                found.append(("grad:" + got.group(1), entries, float(got.group(2))))
            else:
                assert not rows, f"entries after an unexpected sentence {sentence!r}"
            continue
        got = None if in_story else re.match(r"^  (\S+) = ", line)
        if got:
            i += 1
            while i < len(lines) and re.match(r"^ {4}\S", lines[i]):
                i += 1
            rows = []
            while i < len(lines) and lines[i].startswith("      "):
                rows.append(lines[i])
                i += 1
            assert rows, f"no entries for {got.group(1)}"
            entries = np.array([float(t) for t in NUMBER.findall(" ".join(rows))])
            found.append((got.group(1), entries, None))
            if i < len(lines) and lines[i].startswith("    for example"):
                example = lines[i].strip()
                i += 1
                while i < len(lines) and re.match(r"^ {4}\S", lines[i]):
                    example += " " + lines[i].strip()
                    i += 1
                found.append(("example:" + got.group(1), example, None))
            continue
        # any other line of numbers would be a number the test does not check
        assert not line.startswith("      "), f"unexpected entries line {line!r}"
        i += 1
    return found


PARAMS = ("0.weight", "0.bias", "2.weight", "2.bias")
F = r"(-?[\d.]+(?:e[-+]?\d+)?)"
SGD_EXAMPLE = rf"for example (\S+)\[([\d, ]+)\]: {F} - {F} \* \({F}\) = {F}$"
ADAM_EXAMPLE = (
    rf"for example (\S+)\[([\d, ]+)\]: grad {F}, m {F}, v {F}, m_hat {F}, "
    rf"v_hat {F}, so {F} - {F} \* \({F}\) / \(sqrt\({F}\) \+ {F}\) = {F}$"
)


def check_example(name: str, example: str, want: dict) -> None:
    """The worked entry: the one with the largest |grad|, every number right."""
    grad = want[f"grad:{name}"]
    at = np.unravel_index(int(np.argmax(np.abs(grad))), grad.shape)
    sgd = re.match(SGD_EXAMPLE, example)
    if sgd:
        got = [float(x) for x in sgd.groups()[2:]]
        expected = [want[name][at], got[1], grad[at], want[f"{name}_new"][at]]
    else:
        adam = re.match(ADAM_EXAMPLE, example)
        assert adam, example
        got = [float(x) for x in adam.groups()[2:]]
        m, v = want[f"{name}.m"][at], want[f"{name}.v"][at]
        m_hat, v_hat = want[f"{name}.m_hat"][at], want[f"{name}.v_hat"][at]
        w, new = want[name][at], want[f"{name}_new"][at]
        expected = [grad[at], m, v, m_hat, v_hat, w, got[6], m_hat, v_hat, 1e-8, new]
    match = sgd or adam
    assert match.group(1) == name
    assert tuple(int(k) for k in match.group(2).split(",")) == tuple(map(int, at))
    np.testing.assert_allclose(got, expected, rtol=5e-5, atol=1e-12)


def close(got: np.ndarray, want: np.ndarray, rtol: float) -> bool:
    want = np.asarray(want, dtype=np.float64).ravel()
    scale = max(float(np.max(np.abs(want))), 1e-30)
    return got.shape == want.shape and np.allclose(
        got, want, rtol=rtol, atol=1e-6 * scale
    )


# blocks: 10 forward values, 15 gradients told by the story (2 + 4 + 1 + 1 +
# 2 + 3 + 1 + 1 over its 8 steps), 5 update values per parameter for Adam (1
# for SGD) and one worked entry per parameter
@pytest.mark.parametrize(
    "optimizer, extra, lr, blocks",
    [
        ("adam", [], 0.01, 10 + 15 + 20 + 4),
        ("sgd", [], 0.1, 10 + 15 + 4 + 4),
        ("adam", ["--seed", "3", "--lr", "0.05"], 0.05, 10 + 15 + 20 + 4),
    ],
)
def test_every_number_in_the_narration_matches_numpy(optimizer, extra, lr, blocks):
    args = ["--optimizer", optimizer, *extra]
    doc = json.loads(run(*args, "--format", "json"))
    want = reference(starting_point(doc), optimizer, lr)
    text = run(*args, "--width", "72")
    parsed = parse_text(text)
    assert len(parsed) == blocks
    checked = set()
    examples = [(k, e) for k, e, _ in parsed if k.startswith("example:")]
    parsed = [p for p in parsed if not p[0].startswith("example:")]
    assert [k for k, _ in examples] == [f"example:{n}_new" for n in PARAMS]
    for key, example in examples:
        check_example(key.removeprefix("example:").removesuffix("_new"), example, want)
    for key, entries, norm in parsed:
        assert key in want, f"the narration prints {key}, which the test cannot derive"
        # printed with 6 significant digits from float32 arithmetic
        assert close(entries, want[key], rtol=5e-5), (key, entries, want[key])
        if norm is not None:
            assert norm == pytest.approx(np.linalg.norm(want[key]), rel=5e-5, abs=1e-9)
        checked.add(key)
    assert checked == set(want)  # and every derived value appears in the text
    # the JSON keeps full float32 precision
    for item in doc["forward"] + doc["update"]:
        assert close(np.array(item["values"]).ravel(), want[item["name"]], rtol=1e-5)
    for step in doc["backward"]:
        for g in [step["grad_in"], *step["grads_out"]]:
            if g is not None:
                assert close(
                    np.array(g["values"]).ravel(), want["grad:" + g["name"]], 1e-5
                )
                assert g["norm"] == pytest.approx(
                    np.linalg.norm(want["grad:" + g["name"]]), rel=1e-5
                )


def test_the_printed_hyperparameters_are_the_ones_used():
    text = run()
    assert "Adam with lr 0.01, betas (0.9, 0.999), eps 1e-08, step 1" in " ".join(
        text.split()
    )
    assert "SGD with lr 0.1:" in run("--optimizer", "sgd")


def test_markdown_and_html_carry_the_same_story():
    markdown = run("--format", "markdown")
    page = run("--format", "html")
    assert markdown.startswith("# One training step of the XOR network")
    assert "### [6] 0.linear = linear(input, 0.weight, 0.bias)" in markdown
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http" not in page
    assert "[6] 0.linear = linear(input, 0.weight, 0.bias)" in page


def test_writes_a_file_and_rejects_bad_arguments(tmp_path):
    target = tmp_path / "step.md"
    assert "Saved" in run("--format", "markdown", "-o", str(target))
    assert target.read_text().startswith("# One training step")
    for bad, words in [
        (["--optimizer", "lbfgs"], "invalid choice"),
        (["--lr", "-1"], "--lr"),
        (["--width", "10"], "at least 40 columns"),
        (["-o", str(tmp_path / "missing" / "x.txt")], "cannot write"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "plaingrad", "explain", "xor", *bad],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode != 0 and words in done.stderr, (bad, done.stderr)
