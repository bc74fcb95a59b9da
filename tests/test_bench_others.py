"""plaingrad.bench's MyGrad and HIPS autograd references (``bench.others``).

No timings are asserted. Every workload written in each library runs for two
steps and must compute PyTorch's losses (the libraries start from the same
weights and data); the report tests feed known figures through the table's
new columns; one test runs ``plaingrad bench --quick --workloads W2`` and one
a W6 memory worker. Both libraries are in the ``test`` extra, so these tests
fail rather than skip when they are missing.
"""

from __future__ import annotations

import json

import pytest
from conftest import import_torch

from plaingrad.bench import others, report, suite, workloads
from plaingrad.bench.reference import REFERENCES
from plaingrad.cli.main import main

_TORCH_RESULTS: dict[str, dict] = {}


def _torch_result(torch, name: str) -> dict:
    """PyTorch's two-step result for a workload, computed once per session."""
    if name not in _TORCH_RESULTS:
        _TORCH_RESULTS[name] = workloads.PROGRAMS[name](torch, 1, 1)
    return _TORCH_RESULTS[name]


def _close(got: float, expected: float) -> bool:
    return abs(got - expected) <= report.ATOL + report.RTOL * abs(expected)


@pytest.mark.parametrize("name", suite.TIMED)
@pytest.mark.parametrize("library", list(others.OTHERS))
def test_other_library_losses_agree_with_torch(library, name, one_thread):
    if name == "W3":
        pytest.importorskip("sklearn")
    expected = _torch_result(one_thread, name)
    got = others.programs(library)[name](1, 1)  # the warm-up block and one more
    assert got["seconds"] > 0
    for key in ("loss_first", "loss_last", "grad_sum"):
        if key in expected:
            assert _close(got[key], expected[key]), (library, name, key, got, expected)
    if name != "W2":
        # Two steps trained: the loss moved, in torch and here alike.
        assert got["loss_last"] != got["loss_first"]


def test_every_workload_has_a_program_in_each_library():
    for library in others.OTHERS:
        assert set(others.programs(library)) == set(suite.TIMED)


def test_programs_rejects_an_unknown_library():
    with pytest.raises(ValueError, match="`library` must be one of mygrad, autograd"):
        others.programs("jax")


def test_both_libraries_are_available_to_the_suite():
    available = suite.availability()
    assert available["mygrad"] is None
    assert available["autograd"] is None


def test_memory_worker_runs_w4_in_each_library():
    # W6 in a fresh process: the peak grows by at least W4's float32 weights,
    # and W4's first loss is the NumPy reference's.
    sizes = workloads.MLP_SIZES
    weights = sum((i + 1) * o for i, o in zip(sizes[:-1], sizes[1:])) * 4
    first = REFERENCES["W4"](1, 1)["loss_first"]
    for library in others.OTHERS:
        job = {"library": library, "mode": "memory", "steps": 1}
        done = suite.run_worker(job, None)
        assert "error" not in done, done
        assert done["W6"]["bytes"] >= weights, (library, done)
        assert _close(done["W6"]["loss_first"], first), (library, done)


def _raw(mygrad_factor: float, autograd_factor: float) -> dict:
    """Known figures: plaingrad takes 1.0 s (or MB) on every workload, torch
    2.0, MyGrad and autograd the factors given, except that MyGrad's W5 is
    0.5 (faster than plaingrad); all compute the same losses."""
    factors = {"plaingrad": 1.0, "torch": 2.0, "mygrad": mygrad_factor}
    factors["autograd"] = autograd_factor
    times, memory = {}, {}
    for lib, factor in factors.items():
        one = {"seconds": factor, "loss_first": 2.0, "loss_last": 1.0}
        results = {w: dict(one) for w in suite.TIMED}
        if lib == "mygrad":
            results["W5"]["seconds"] = 0.5
        times[lib] = [{"version": "x", "blas": [], **results}]
        mem = {"bytes": factor * 1e6, "loss_first": 2.0, "loss_last": 1.0}
        memory[lib] = [{"W6": mem}]
    return {
        "settings": {
            "workloads": [w.name for w in suite.WORKLOADS],
            "rounds": 1,
            "repeats": 1,
            "quick": True,
            "threads": None,
        },
        "available": {
            **dict.fromkeys((*suite.LIBRARIES, *others.OTHERS)),
            "numpy": "not installed",
            **dict.fromkeys(suite.OPTIONAL, "not installed"),
        },
        "times": times,
        "memory": memory,
        "imports": {lib: [0.1 * f] for lib, f in factors.items()},
    }


def test_report_has_a_column_for_each_and_says_who_was_beaten():
    summary = report.summarize(_raw(mygrad_factor=3.0, autograd_factor=4.0))
    rows = {r["workload"]: r for r in summary["rows"]}
    assert rows["W1"]["values"]["mygrad"] == pytest.approx(3.0e6)  # µs
    assert rows["W6"]["values"]["autograd"] == pytest.approx(4.0)  # MB
    assert rows["W1"]["faster"] == {"mygrad": True, "autograd": True}
    assert rows["W5"]["faster"] == {"mygrad": False, "autograd": True}
    every = summary["faster_than"]
    assert every["autograd"]["every"] is True
    assert len(every["autograd"]["compared"]) == 8  # six timed, W6, import
    assert every["mygrad"]["every"] is False
    assert every["mygrad"]["not_faster"] == ["W5"]
    assert all(r["check"] == "ok" for r in summary["rows"] if r["workload"] != "import")
    for rendered in (report.text(summary), report.markdown(summary)):
        header = next(line for line in rendered.splitlines() if "workload" in line)
        assert "MyGrad" in header and "HIPS autograd" in header
        assert "pg faster" in header
        assert "no: MyGrad" in rendered  # W5's row
        assert "faster than HIPS autograd on every workload: yes" in rendered
        assert "faster than MyGrad on every workload: NO, not on W5" in rendered


def test_report_checks_their_losses():
    raw = _raw(mygrad_factor=3.0, autograd_factor=4.0)
    raw["times"]["autograd"][0]["W3"]["loss_last"] = 1.1
    summary = report.summarize(raw)
    assert summary["mismatches"] == ["W3"]
    assert "LOSS MISMATCH in W3: autograd loss_last 1.1" in report.text(summary)


def test_report_when_they_are_not_installed():
    raw = _raw(mygrad_factor=3.0, autograd_factor=4.0)
    for lib in others.OTHERS:
        raw["available"][lib] = "not installed"
        del raw["times"][lib], raw["memory"][lib], raw["imports"][lib]
    summary = report.summarize(raw)
    assert summary["libraries"]["mygrad"] == {"skipped": "not installed"}
    assert summary["libraries"]["autograd"] == {"skipped": "not installed"}
    assert summary["faster_than"]["mygrad"]["every"] is None
    assert all(r["faster"] == {} for r in summary["rows"])
    rendered = report.text(summary)
    assert "mygrad: not installed" in rendered
    assert "autograd: not installed" in rendered
    assert "on every workload" not in rendered


def test_bench_command_quick_w2_runs_both(tmp_path, capsys):
    import_torch()
    out_json = tmp_path / "bench.json"
    status = main(["bench", "--quick", "--workloads", "W2", "--json", str(out_json)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    (row,) = json.loads(out_json.read_text())["rows"]
    assert row["check"] == "ok", row["check_detail"]
    for lib in others.OTHERS:
        assert row["values"][lib] > 0
        assert _close(
            row["losses"][lib]["grad_sum"], row["losses"]["torch"]["grad_sum"]
        )
        assert lib in row["faster"]
    assert "MyGrad" in printed and "HIPS autograd" in printed
    assert "on every workload" in printed
