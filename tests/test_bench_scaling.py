"""plaingrad.bench.scaling: the line fits, the summary's JSON and a tiny run.

No timings are asserted. The fits are checked against ``numpy.polyfit`` and
the textbook R² on known data; the summary is fed known figures; the runs use
two or three tiny points (width 8) so that they finish in seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import import_torch

from plaingrad.bench import scaling
from plaingrad.cli.main import main

TINY = scaling.ScalingSpec(
    batches=(1, 2, 4),
    batch_width=8,
    batch_layers=2,
    fit_from=2,
    depths=(1, 2),
    depth_batch=4,
    depth_width=8,
    memory_steps=1,
    block_seconds=0.002,
)


def _r2(x, y, slope, intercept):
    residual = np.asarray(y) - (intercept + slope * np.asarray(x))
    return 1 - (residual**2).sum() / ((np.asarray(y) - np.mean(y)) ** 2).sum()


# ------------------------------------------------------------------ the fit


def test_fit_line_matches_polyfit_on_noisy_data():
    rng = np.random.default_rng(3)
    x = np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=float)
    y = 2e-4 + 3e-7 * x + rng.normal(0, 5e-5, size=x.shape)
    slope, intercept = np.polyfit(x, y, 1)

    fit = scaling.fit_line(x.tolist(), y.tolist())

    assert fit["slope"] == pytest.approx(slope, rel=1e-10)
    assert fit["intercept"] == pytest.approx(intercept, rel=1e-10)
    assert fit["r2"] == pytest.approx(_r2(x, y, slope, intercept), rel=1e-12)
    # R² of a one-variable least-squares line is the squared correlation.
    assert fit["r2"] == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2, rel=1e-10)
    _, cov = np.polyfit(x, y, 1, cov=True)
    assert fit["slope_se"] == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-8)
    assert fit["intercept_se"] == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-8)


def test_fit_line_exact_line_and_constant():
    fit = scaling.fit_line([1, 2, 4, 8], [3.5, 5.5, 9.5, 17.5])  # 1.5 + 2 x
    assert fit["slope"] == pytest.approx(2.0)
    assert fit["intercept"] == pytest.approx(1.5)
    assert fit["r2"] == pytest.approx(1.0)

    assert fit["intercept_se"] == pytest.approx(0.0, abs=1e-12)

    flat = scaling.fit_line([1, 2, 3], [0.25, 0.25, 0.25])
    assert (flat["slope"], flat["intercept"], flat["r2"]) == (0.0, 0.25, 1.0)
    pair = scaling.fit_line([1, 3], [1.0, 2.0])  # no degree of freedom left
    assert pair["slope_se"] is None and pair["intercept_se"] is None


def test_fit_line_flags_super_linear_growth():
    x = np.array([64, 128, 256, 512, 1024, 2048, 4096], dtype=float)
    y = 1e-9 * x**2  # quadratic: a straight line fits it badly
    slope, intercept = np.polyfit(x, y, 1)
    fit = scaling._fit(x.tolist(), y.tolist(), 64)
    assert fit["r2"] == pytest.approx(_r2(x, y, slope, intercept))
    assert fit["r2"] < scaling.TARGET_R2
    assert fit["linear"] is False


def test_fit_starts_at_fit_from_and_skips_missing_points():
    x = [1, 2, 4, 8, 16, 32]
    y = [9.0, 9.0, 1.0, 2.0, None, 8.0]  # 1 and 2 lie off the line; 16 is missing
    fit = scaling._fit(x, y, 4)
    slope, intercept = np.polyfit([4, 8, 32], [1.0, 2.0, 8.0], 1)
    assert fit["slope"] == pytest.approx(slope)
    assert fit["intercept"] == pytest.approx(intercept, abs=1e-12)
    assert (fit["start"], fit["points"], fit["linear"]) == (4, 3, True)
    assert scaling._fit(x, y, 32) is None  # one point: no line


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [([1.0], [2.0], "at least two distinct"), ([2, 2], [1, 3], "distinct")]
    + [([1, 2, 3], [1, 2], "one length")],
)
def test_fit_line_rejects_bad_input(x, y, message):
    with pytest.raises(ValueError, match=message):
        scaling.fit_line(x, y)


# --------------------------------------------------------------- the summary


def _round(batch_seconds, depth_seconds, loss=1.0):
    return {
        "library": "x",
        "version": "0",
        "threads": 1,
        "blas": [],
        "batch": [
            {"seconds": s, "steps": 1, "loss_first": loss} for s in batch_seconds
        ],
        "depth": [
            {"seconds": s, "steps": 1, "loss_first": loss} for s in depth_seconds
        ],
    }


def _raw(torch_loss=1.0):
    spec = scaling.ScalingSpec(batches=(1, 64, 128, 256), depths=(1, 2, 4))
    memory = [{"memory": {"bytes": b, "loss_first": 1.0}} for b in (10, 20, 40)]
    return {
        "kind": "scaling",
        "settings": {
            "spec": scaling.dataclasses.asdict(spec),
            "rounds": 3,
            "repeats": 5,
            "threads": 1,
            "quick": False,
        },
        "available": {"plaingrad": None, "torch": None},
        "times": {
            # plaingrad: t = 1 + 0.01 b from 64 up (batch 1 is off the line),
            # t = 0.5 d for depth; the middle round is the median one.
            "plaingrad": [
                _round([5, 1.64, 2.28, 3.56], [0.5, 1.0, 2.0]),
                _round([9, 9.0, 9.00, 9.00], [9.0, 9.0, 9.0]),
                _round([0.1, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1]),
            ],
            "torch": [_round([1, 2, 3, 4], [1, 2, 3], loss=torch_loss)],
        },
        "memory": {"plaingrad": memory, "torch": [{"error": "boom"}] * 3},
        "load_average": {"before": 0.5, "after": 0.75},
    }


def test_summarize_structure_medians_and_fits():
    summary = scaling.summarize(_raw())
    json.loads(json.dumps(summary))  # JSON-ready

    assert summary["kind"] == "scaling"
    assert summary["target_r2"] == scaling.TARGET_R2
    assert set(summary["series"]) == {"batch", "depth", "memory"}
    batch = summary["series"]["batch"]
    assert batch["x"] == [1, 64, 128, 256]
    assert batch["values"]["plaingrad"] == [5, 1.64, 2.28, 3.56]  # medians
    assert batch["rounds"]["plaingrad"][1] == [9, 9, 9, 9]
    fit = batch["fit"]["plaingrad"]
    assert fit["start"] == 64 and fit["points"] == 3
    assert fit["slope"] == pytest.approx(0.01)
    assert fit["intercept"] == pytest.approx(1.0)  # the fixed cost per step
    assert fit["r2"] == pytest.approx(1.0) and fit["linear"] is True

    depth = summary["series"]["depth"]["fit"]["plaingrad"]
    assert (depth["slope"], depth["r2"]) == (pytest.approx(0.5), pytest.approx(1.0))
    assert depth["intercept"] == pytest.approx(0.0, abs=1e-12)
    memory = summary["series"]["memory"]
    assert memory["values"]["plaingrad"] == [10, 20, 40]
    assert memory["fit"]["plaingrad"]["slope"] == pytest.approx(10.0)
    assert memory["values"]["torch"] == [None] * 3
    assert memory["fit"]["torch"] is None
    assert summary["errors"] == ["torch memory: boom"]
    assert summary["mismatches"] == []
    assert summary["environment"]["load_average"] == {"before": 0.5, "after": 0.75}
    assert summary["libraries"]["plaingrad"]["version"] == "0"
    # plaingrad's rounds differ by 90x; torch ran one round.
    assert batch["noisy"] == {"plaingrad": True, "torch": False}
    assert memory["noisy"] == {}


def test_summarize_reports_a_loss_mismatch():
    assert scaling.summarize(_raw(torch_loss=1.5))["mismatches"] == [
        "plaingrad batch",
        "plaingrad depth",
    ]


def test_text_and_markdown_show_fits_and_load():
    summary = scaling.summarize(_raw())
    out = scaling.text(summary)
    assert "load average (1 min): 0.50 before, 0.75 after" in out
    assert "batch fit from 64, plaingrad: R² 1.0000 (linear)" in out
    assert "slope 10 ms per sample, intercept (fixed cost) 1000" in out  # 1.0 s
    assert "error: torch memory: boom" in out
    assert "  noisy: rounds differ by over 1.5x" in out
    lines = scaling.text(summary, markdown=True).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| batch"))
    assert [c.strip() for c in lines[header].split("|")[1:-1]] == [
        "batch",
        "plaingrad",
        "torch",
    ]
    assert set(lines[header + 1]) == {"|", "-"}
    assert [c.strip() for c in lines[header + 2].split("|")[1:-1]] == [
        "1",
        "5000.000",  # 5 s in ms
        "1000.000",
    ]


# ------------------------------------------------------------------ tiny runs


def test_tiny_run_losses_agree_with_torch():
    import_torch()
    # One memory point: a PyTorch process takes seconds to start.
    spec = scaling.dataclasses.replace(TINY, depths=(2,))
    raw = scaling.run_scaling(spec, rounds=1, repeats=1, threads=1)
    summary = scaling.summarize(raw)
    assert summary["errors"] == []
    assert summary["mismatches"] == []
    for lib in ("plaingrad", "torch"):
        assert len(raw["times"][lib]) == 1
        for name, n in (("batch", 3), ("depth", 1), ("memory", 1)):
            values = summary["series"][name]["values"][lib]
            assert len(values) == n and all(v is not None and v >= 0 for v in values)
        assert all(v > 0 for v in summary["series"]["batch"]["values"][lib])


def test_bench_scaling_quick_command(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(scaling, "QUICK", TINY)
    monkeypatch.setattr(scaling, "LIBRARY_ORDER", ("plaingrad",))
    path = tmp_path / "scaling.json"
    plots = tmp_path / "plots"

    status = main(
        ["bench", "--scaling", "--quick", "--json", str(path)]
        + ["--plot-dir", str(plots)]
    )

    out = capsys.readouterr().out
    assert status == 0, out
    assert "time per step (ms) against batch size (width 8, 2 layers, SGD)" in out
    assert "depth fit, plaingrad: R²" in out
    summary = json.loads(path.read_text())
    assert summary["settings"]["quick"] is True
    assert summary["settings"]["threads"] == 1
    assert summary["series"]["batch"]["x"] == [1, 2, 4]
    assert summary["series"]["batch"]["fit"]["plaingrad"]["points"] == 2
    assert summary["series"]["depth"]["x"] == [1, 2]
    assert set(summary["raw"]["times"]) == {"plaingrad"}
    for name in ("batch", "depth", "memory"):
        png = plots / f"scaling_{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_dir_needs_scaling(capsys):
    assert main(["bench", "--plot-dir", "x", "--workloads", "W2"]) == 2
    assert "--plot-dir: only with --scaling" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--scaling", "--workloads", "W1"], "--workloads: not with --scaling"),
        (["--scaling", "--compile"], "--compile: not with --scaling"),
        (["--workloads", "W2", "--json", ""], "--json: expected a file path"),
        (["--workloads", "W2", "--markdown", "{tmp}"], "is a directory"),
        (["--workloads", "W2", "--json", "{tmp}/no/x.json"], "does not exist"),
        (["--scaling", "--plot-dir", "/proc/plots"], "--plot-dir: cannot make"),
    ],
)
def test_bad_options_and_unwritable_outputs_fail_before_any_run(
    argv, message, tmp_path, monkeypatch, capsys
):
    def never(*args, **kwargs):
        raise AssertionError("a run started")

    import plaingrad.bench as bench

    monkeypatch.setattr(bench, "run_suite", never)
    monkeypatch.setattr(scaling, "run_scaling", never)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err
