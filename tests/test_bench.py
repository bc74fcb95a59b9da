"""plaingrad.bench: the suite's workloads, its NumPy reference and its report.

No timings are asserted. The workload tests run each program for a couple of
steps on plaingrad, PyTorch and the hand-written NumPy reference and check
that all three computed PyTorch's losses (a correctness test of the
references and of the shared program source); the report tests feed known
figures through the table; one test runs ``plaingrad bench --quick``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import import_torch

import plaingrad
from plaingrad.bench import report, suite, workloads
from plaingrad.bench.reference import REFERENCES
from plaingrad.cli.main import main


def _close(got: float, expected: float) -> bool:
    return abs(got - expected) <= report.ATOL + report.RTOL * abs(expected)


@pytest.mark.parametrize("name", suite.TIMED)
def test_workload_losses_agree_with_torch(name, one_thread):
    torch = one_thread
    if name == "W3":
        pytest.importorskip("sklearn")
    program = workloads.PROGRAMS[name]
    expected = program(torch, 1, 1)  # two steps: the warm-up block and one more
    results = {"plaingrad": program(plaingrad, 1, 1)}
    if name in REFERENCES:
        results["numpy"] = REFERENCES[name](1, 1)
    for lib, got in results.items():
        assert got["seconds"] > 0
        for key in ("loss_first", "loss_last", "grad_sum"):
            if key in expected:
                assert _close(got[key], expected[key]), (name, lib, key, got, expected)
    if name != "W2":
        # The steps trained: the loss moved.
        assert expected["loss_last"] != expected["loss_first"]


def test_small_workload_gradients_by_hand():
    # Two calls of (a*b+c).sum() backward: grads 2b, 2a and 2 (eight of them).
    a, b, _ = workloads.small_data()
    expected = 2 * (a.sum() + b.sum() + 8)
    for result in (workloads.small_program(plaingrad, 1, 1), REFERENCES["W2"](1, 1)):
        assert math.isclose(result["grad_sum"], float(expected), rel_tol=1e-5)


def test_permutations_replay_from_the_seed():
    sampler = workloads.Permutations(10)
    passes = [list(sampler), list(sampler)]
    assert passes[0] != passes[1]  # a new order each epoch
    assert sorted(passes[0]) == list(range(10))
    replay = workloads.Permutations(10)
    assert [list(replay), list(replay)] == passes  # the same orders from the seed


def test_memory_worker_holds_at_least_the_weights():
    # A fresh NumPy process running W4: its peak grows by at least the float32
    # weights it keeps (the gradients and activations come on top).
    done = suite.run_worker({"library": "numpy", "mode": "memory", "steps": 1}, None)
    sizes = workloads.MLP_SIZES
    weights = sum((i + 1) * o for i, o in zip(sizes[:-1], sizes[1:])) * 4
    assert done["W6"]["bytes"] >= weights
    assert done["W6"]["loss_first"] > 0


def test_parse_workloads():
    assert suite.parse_workloads("w4,W2,,import") == ["W2", "W4", "import"]
    with pytest.raises(ValueError, match="unknown workload 'W9'"):
        suite.parse_workloads("W9")


def _raw(torch_loss: float = 1.0) -> dict:
    """Known figures for every workload: plaingrad takes 0.3 of torch's time
    and 1.2 of numpy's; numpy takes 0.5 of torch's."""
    times = {}
    for lib, factor in (("plaingrad", 0.3), ("torch", 1.0), ("numpy", 0.25)):
        loss = torch_loss if lib == "torch" else 1.0
        one = {"seconds": factor, "loss_first": 2.0, "loss_last": loss}
        names = REFERENCES if lib == "numpy" else suite.TIMED
        times[lib] = [{"version": "x", "blas": [], **{w: one for w in names}}]
    memory = {
        lib: [{"W6": {"bytes": mb * 1e6, "loss_first": 2.0, "loss_last": 1.0}}]
        for lib, mb in (("plaingrad", 80.0), ("torch", 300.0), ("numpy", 70.0))
    }
    imports = {"plaingrad": [0.1, 0.2, 0.9], "torch": [1.0], "numpy": [0.05]}
    return {
        "settings": {
            "workloads": [w.name for w in suite.WORKLOADS],
            "rounds": 1,
            "repeats": 1,
            "quick": True,
            "threads": None,
        },
        "available": {
            **dict.fromkeys(suite.LIBRARIES),
            **dict.fromkeys(suite.OPTIONAL, "not installed"),
        },
        "times": times,
        "memory": memory,
        "imports": imports,
    }


def test_summary_ratios_targets_and_verdicts():
    summary = report.summarize(_raw())
    rows = {r["workload"]: r for r in summary["rows"]}
    assert list(rows) == ["W1", "W2", "W3", "W4", "W5", "transformer", "W6", "import"]
    assert rows["W1"]["values"]["plaingrad"] == pytest.approx(0.3e6)  # µs
    assert rows["W1"]["vs_torch"] == pytest.approx(0.3)
    assert rows["W1"]["met"] is True  # 0.3 <= 0.35
    assert rows["W2"]["met"] is True  # 0.3 <= 0.5
    assert rows["W4"]["vs_numpy"] == pytest.approx(1.2)
    assert rows["W4"]["met"] is False  # 1.2 > 1.1
    assert rows["W5"]["values"]["numpy"] is None  # no reference for W5
    assert rows["W6"]["vs_numpy"] == pytest.approx(80 / 70)
    assert rows["W6"]["met"] is True  # 1.14 <= 1.3
    assert rows["import"]["values"]["plaingrad"] == pytest.approx(0.2)  # median
    assert rows["import"]["met"] is True
    assert all(r["check"] == "ok" for r in summary["rows"] if r["workload"] != "import")
    assert summary["mismatches"] == []
    assert summary["libraries"]["jax"] == {"skipped": "not installed"}


def test_summary_flags_a_loss_mismatch():
    summary = report.summarize(_raw(torch_loss=1.5))
    assert "W1" in summary["mismatches"]
    assert "LOSS MISMATCH in W1" in report.text(summary)
    assert "LOSS MISMATCH in W1" in report.markdown(summary)


def test_text_and_markdown_have_every_workload_and_target():
    summary = report.summarize(_raw())
    for rendered in (report.text(summary), report.markdown(summary)):
        for spec in suite.WORKLOADS:
            assert spec.name in rendered
            assert report._target_text(spec) in rendered
    assert "MISSED" in report.text(summary)  # W4


def test_bench_command_quick_writes_json_and_markdown(tmp_path, capsys):
    import_torch()
    out_json, out_md = tmp_path / "bench.json", tmp_path / "bench.md"
    status = main(
        [
            "bench",
            "--quick",
            "--workloads",
            "W2",
            "--json",
            str(out_json),
            "--markdown",
            str(out_md),
        ]
    )
    printed = capsys.readouterr().out
    assert status == 0, printed
    data = json.loads(out_json.read_text())
    (row,) = data["rows"]
    assert row["workload"] == "W2"
    assert row["check"] == "ok"
    assert all(row["values"][lib] > 0 for lib in ("plaingrad", "torch", "numpy"))
    assert row["target"] == "<= 0.5x torch"
    assert data["environment"]["load_average"]["before"] >= 0
    assert "W2" in out_md.read_text() and "<= 0.5x torch" in out_md.read_text()
    assert "pg/torch" in printed


def test_bench_command_rejects_an_unknown_workload(capsys):
    assert main(["bench", "--workloads", "W9"]) == 2
    assert "unknown workload 'W9'" in capsys.readouterr().err


def test_reference_cross_entropy_matches_torch():
    torch = import_torch()
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4)).astype(np.float32)
    y = rng.integers(0, 4, size=5)
    from plaingrad.bench.reference import cross_entropy

    loss, grad = cross_entropy(logits.copy(), y)
    t = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    expected.backward()
    assert float(loss) == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-5, atol=1e-7)
