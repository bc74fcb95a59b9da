"""Starting test programs under ``mpiexec``, the ``mpi`` extra's launcher.

A test that needs MPI skips when mpi4py or ``mpiexec`` is missing, unless
``PLAINGRAD_REQUIRE_MPI=1`` (set by CI), where it fails. Every rank runs with
one BLAS thread, and collectives give up after a minute
(``PLAINGRAD_DISTRIBUTED_TIMEOUT``), so that a broken job fails the test
instead of hanging it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def need_mpi() -> str:
    """The ``mpiexec`` to use; skips (or fails, under CI) without MPI."""
    here = Path(sys.executable).parent / "mpiexec"
    found = str(here) if here.exists() else shutil.which("mpiexec")
    missing = []
    if importlib.util.find_spec("mpi4py") is None:
        missing.append("mpi4py")
    if found is None:
        missing.append("mpiexec")
    if missing:
        message = (
            f"{' and '.join(missing)} not installed (pip install 'plaingrad[mpi]')"
        )
        if os.environ.get("PLAINGRAD_REQUIRE_MPI") == "1":
            pytest.fail(f"PLAINGRAD_REQUIRE_MPI=1 but {message}")
        pytest.skip(message)
    return str(found)


def environment(**extra: str) -> dict[str, str]:
    """The test's environment for the ranks: one BLAS thread, a short
    collective timeout, this checkout's plaingrad first on the path."""
    env = dict(os.environ)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"
    env.setdefault("PLAINGRAD_DISTRIBUTED_TIMEOUT", "60")
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p
    )
    env.update(extra)
    return env


def run_ranks(
    ranks: int, args: list[str], cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess:
    """``mpiexec -n ranks python ARGS`` in ``cwd``; output captured."""
    command = [need_mpi(), "-n", str(ranks), sys.executable, *args]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment(),
        timeout=timeout,
        check=False,
    )
