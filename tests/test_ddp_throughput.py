"""benchmarks/ddp_throughput.py runs end to end with tiny sizes (a smoke test).

Timings are not checked; what is: every configuration ran and reported a
positive time, the DDP run on two ranks reached the one-process run's loss
after the same steps on the same global batch, and the JSON and Markdown
files hold the table. Skipped without MPI (failed under
``PLAINGRAD_REQUIRE_MPI=1``).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mpicheck import ROOT, environment, need_mpi

SCRIPT = ROOT / "benchmarks" / "ddp_throughput.py"


def test_the_throughput_benchmark_runs_with_tiny_sizes(tmp_path):
    need_mpi()
    flags = ["--sizes", "16,8,4", "--batch", "8", "--steps", "2", "--repeats", "1"]
    flags += ["--rounds", "1", "--sweep", "1,100", "--bucket-caps", "0.0001"]
    flags += ["--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")]

    done = subprocess.run(
        [sys.executable, str(SCRIPT), *flags],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(),
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "r.json").read_text())
    names = [line["name"] for line in summary["lines"]]
    assert names == [
        "1 proc x 1 thread",
        "1 proc x 2 threads",
        "2 ranks x 1 thread (DDP)",
        "half batch, 1 proc",
        "half batch, 2 procs at once",
        "2 ranks, DDP, 0.0001 MiB buckets",
    ]
    assert all(line["ms_per_step"] > 0 for line in summary["lines"])
    # (16 + 1) * 8 + (8 + 1) * 4 weights and biases; 4 bytes each
    assert summary["parameters"] == 172 and summary["gradient_bytes"] == 688
    assert summary["loss_ddp"] == pytest.approx(summary["loss_1_proc"], rel=1e-5)
    # a 0.0001 MiB (104-byte) cap: several buckets; the default: one
    assert summary["lines"][-1]["buckets"] > summary["lines"][2]["buckets"] == 1
    assert summary["allreduce_ms"] > 0 and len(summary["sweep"]) == 2
    table = (tmp_path / "r.md").read_text()
    assert table.startswith("| configuration | ms/step |")
    assert "2 ranks x 1 thread (DDP) [1 bucket]" in done.stdout
