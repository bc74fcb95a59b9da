"""examples/ddp_digits.py: the same data-parallel script on plaingrad and PyTorch.

On plaingrad it runs under ``mpiexec -n 2`` (skipped without MPI, failed
under ``PLAINGRAD_REQUIRE_MPI=1``); on PyTorch, with its import line changed
and nothing else, under ``torchrun --nproc_per_node 2`` (skipped without
torch, failed under ``PLAINGRAD_REQUIRE_TORCH=1``). Each run is one epoch;
rank 0 alone prints, the ranks agree on the numbers, and the network learns.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import import_torch
from mpicheck import ROOT, environment, run_ranks

pytest.importorskip("sklearn")

EXAMPLE = ROOT / "examples" / "ddp_digits.py"
PLAINGRAD_IMPORT = "import plaingrad as torch\n"
EPOCH = re.compile(r"^epoch 1: train loss (\d+\.\d+), test accuracy (\d+\.\d+)$")


def _numbers(stdout: str, library: str, backend: str) -> tuple[float, float]:
    """The one epoch line's (loss, accuracy), after checking rank 0 alone
    printed: a header, one epoch line, the final line."""
    lines = stdout.strip().splitlines()
    assert len(lines) == 3, stdout
    assert lines[0] == (
        f"{library} on 2 rank(s), backend {backend}: 719 of 1437 training rows "
        "per rank, batch 32 per rank"
    )
    found = EPOCH.match(lines[1])
    assert found, lines[1]
    loss, accuracy = float(found[1]), float(found[2])
    assert lines[2].startswith(f"test accuracy: {accuracy:.4f} (")
    return loss, accuracy


def test_the_example_runs_on_two_mpi_ranks(tmp_path: Path):
    done = run_ranks(2, [str(EXAMPLE), "--epochs", "1"], tmp_path)

    assert done.returncode == 0, done.stderr[-3000:]
    loss, accuracy = _numbers(done.stdout, "plaingrad", "mpi")
    assert loss < 2.3  # below chance's log(10) = 2.303 after one epoch
    assert accuracy > 0.5  # 0.69 from seed 0; chance is 0.1


def test_the_torch_variant_runs_under_torchrun(tmp_path: Path):
    import_torch()
    source = EXAMPLE.read_text()
    assert source.count(PLAINGRAD_IMPORT) == 1
    script = tmp_path / "ddp_digits.py"
    script.write_text(source.replace(PLAINGRAD_IMPORT, "import torch\n"))
    # --standalone: a local rendezvous on a free port
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2"]

    done = subprocess.run(
        [*command, str(script), "--epochs", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environment(),
        timeout=180,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    loss, accuracy = _numbers(done.stdout, "torch", "gloo")
    assert loss < 2.3 and accuracy > 0.5
