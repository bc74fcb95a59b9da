"""plaingrad.distributed, DistributedDataParallel and DistributedSampler.

The 2-rank checks run as real MPI jobs: pytest launches the scripts in
``tests/distributed/`` with ``mpiexec -n 2`` (the one installed beside this
Python, from the MPICH wheel) and reads their return code and output. They
skip without mpi4py or mpiexec, and fail instead when
``PLAINGRAD_REQUIRE_MPI=1`` (set by CI). The rest runs in this process:
errors before init, the post-accumulate-grad hook and the sampler against
PyTorch.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as torch
import plaingrad.distributed as dist
from plaingrad.utils.data import DistributedSampler

SCRIPTS = Path(__file__).parent / "distributed"
JOB_TIMEOUT = 120  # seconds; a job that takes longer has hung


def mpiexec() -> str:
    """The mpiexec beside this Python (the MPICH wheel's), or skip (fail
    under PLAINGRAD_REQUIRE_MPI=1)."""
    launcher = Path(sys.executable).parent / "mpiexec"
    problem = None
    if importlib.util.find_spec("mpi4py") is None:
        problem = "mpi4py is not installed"
    elif not launcher.exists():
        problem = f"no mpiexec beside {sys.executable}"
    if problem is not None:
        if os.environ.get("PLAINGRAD_REQUIRE_MPI") == "1":
            pytest.fail(f"{problem} (pip install 'plaingrad[mpi]')")
        pytest.skip(problem)
    return str(launcher)


def run_job(script: str, *args: str, ranks: int = 2, env: dict | None = None):
    """Run ``script`` on ``ranks`` ranks (plain python when ranks is 0)."""
    command = [sys.executable, str(SCRIPTS / script), *args]
    if ranks:
        command = [mpiexec(), "-n", str(ranks), *command]
    environment = {**os.environ, **(env or {})}
    # the checks set their own thread counts (and one checks the default)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        environment.pop(name, None)
    environment.pop(dist._group.TIMEOUT_ENV, None)
    environment.update(env or {})
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
        env=environment,
        cwd=SCRIPTS.parent.parent,
    )


def passed(job, checks: list[str], ranks: int = 2) -> None:
    report = f"rc={job.returncode}\nstdout:\n{job.stdout}\nstderr:\n{job.stderr}"
    assert job.returncode == 0, report
    for check in checks:
        for rank in range(ranks):
            assert f"ok {check} rank {rank}" in job.stdout, report


# ------------------------------------------------------- 2-rank MPI jobs


def test_collectives_every_op_and_dtype_two_ranks():
    passed(
        run_job("collectives_check.py"),
        ["threads"]
        + [f"dtype plaingrad.{d}" for d in ("float16", "float32", "float64")]
        + [f"dtype plaingrad.{d}" for d in ("int8", "int16", "int32", "int64")]
        + ["dtype plaingrad.uint8", "dtype plaingrad.bool"]
        + ["async", "errors", "mismatch", "sampler", "reinit", "destroyed"],
    )


def test_ddp_two_ranks_matches_one_process():
    job = run_job("ddp_check.py")
    passed(
        job,
        [
            "training",
            "no_sync training",
            "no_sync local",
            "overlap",
            "unused",
            "buffers",
            "errors",
        ],
    )


def test_a_rank_that_raises_ends_the_job():
    job = run_job("failure_check.py", "raise")
    assert job.returncode != 0, job.stdout
    assert "started rank 0" in job.stdout and "not stopped" not in job.stdout
    assert (
        "plaingrad.distributed: rank 1 of 2 failed: ValueError: a bad batch on rank 1"
        in job.stderr
    ), job.stderr


def test_uneven_steps_are_named_not_read_as_a_call():
    job = run_job("failure_check.py", "uneven", env={dist._group.TIMEOUT_ENV: "20"})
    assert job.returncode != 0, job.stdout
    assert "was not stopped" not in job.stdout
    assert (
        "plaingrad.distributed: rank 1 of 2 failed: RuntimeError: all_reduce: the "
        "ranks' calls do not match: rank 0 of 2 is in another collective (a "
        "DistributedDataParallel gradient all-reduce, if one rank took more "
        "training steps than another)"
    ) in job.stderr, job.stderr


def test_a_rank_that_hangs_times_out_the_others():
    job = run_job("failure_check.py", "hang", env={dist._group.TIMEOUT_ENV: "3"})
    assert job.returncode != 0, job.stdout
    assert "not stopped" not in job.stdout
    assert "all_reduce: rank 0 of 2 timed out after 0:00:03" in job.stderr, job.stderr
    assert "plaingrad.distributed: rank 0 of 2 failed: RuntimeError" in job.stderr


def test_a_rank_that_exits_ends_the_job_before_the_timeout():
    # without the leaving notice rank 0 waited the whole timeout (30 minutes)
    job = run_job("failure_check.py", "exit", env={dist._group.TIMEOUT_ENV: "100"})
    assert job.returncode != 0, job.stdout
    assert "not stopped" not in job.stdout
    assert (
        "all_reduce: rank 1 of 2 has left the job (its process ended or it called "
        "destroy_process_group) while rank 0 waited for it in all_reduce"
    ) in job.stderr, job.stderr


def test_a_rank_that_exits_with_a_collective_in_flight_ends_the_job():
    job = run_job("failure_check.py", "in_flight", env={dist._group.TIMEOUT_ENV: "100"})
    assert job.returncode != 0, job.stdout
    assert "not stopped" not in job.stdout
    assert (
        "plaingrad.distributed: rank 1 of 2 is leaving with all_reduce "
        "unfinished; ending the job"
    ) in job.stderr, job.stderr


def test_ranks_that_end_at_different_times_end_normally():
    job = run_job("failure_check.py", "late", env={dist._group.TIMEOUT_ENV: "2"})
    assert job.returncode == 0, job.stderr
    assert "done rank 0" in job.stdout and "done rank 1" in job.stdout
    assert "plaingrad.distributed" not in job.stderr  # nothing to say


@pytest.mark.parametrize("mode", ["unwaited", "retry"])
def test_finished_async_collectives_let_the_job_end_normally(mode):
    job = run_job("failure_check.py", mode, env={dist._group.TIMEOUT_ENV: "30"})
    assert job.returncode == 0, job.stderr
    assert "done rank 0" in job.stdout and "done rank 1" in job.stdout


def test_destroy_process_group_does_not_wait_for_the_others():
    job = run_job("failure_check.py", "destroy_early")
    assert job.returncode == 0, job.stderr
    took = {
        int(line.split()[-1]): float(line.split()[2])
        for line in job.stdout.splitlines()
        if line.startswith("destroy took")
    }
    assert sorted(took) == [0, 1], job.stdout + job.stderr
    assert took[0] < 1.0, job.stdout  # rank 1 destroyed 2 s later


def test_a_torchrun_launch_is_refused_with_the_mpiexec_command():
    mpiexec()  # needs mpi4py all the same
    job = run_job("single_check.py", ranks=0, env={"WORLD_SIZE": "2", "RANK": "0"})
    assert job.returncode != 0
    assert (
        "init_process_group: WORLD_SIZE=2 says a launcher such as torchrun started "
        "this process as one of several, but MPI sees a world of one"
    ) in job.stderr, job.stderr
    assert "mpiexec -n 2 python SCRIPT" in job.stderr


def test_one_rank_without_mpiexec():
    mpiexec()  # needs mpi4py all the same
    job = run_job("single_check.py", ranks=0)
    assert job.returncode == 0 and "ok single" in job.stdout, job.stderr


# ----------------------------------------------------------- in process


def test_import_plaingrad_loads_no_mpi():
    code = (
        "import sys, plaingrad\n"
        "assert 'plaingrad.distributed' not in sys.modules\n"
        "assert 'plaingrad.nn.parallel' not in sys.modules\n"
        "from plaingrad.nn.parallel import DistributedDataParallel as DDP\n"
        "assert plaingrad.nn.parallel.DistributedDataParallel is DDP\n"
        "assert plaingrad.distributed.is_initialized() is False\n"
        "assert 'mpi4py' not in sys.modules\n"
    )
    job = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert job.returncode == 0, job.stderr


NOT_INITIALIZED = "Default process group has not been initialized"


@pytest.mark.parametrize(
    "call",
    [
        dist.get_rank,
        dist.get_world_size,
        dist.barrier,
        dist.destroy_process_group,
        lambda: dist.all_reduce(torch.ones(2)),
        lambda: dist.broadcast(torch.ones(2), src=0),
        lambda: dist.all_gather([torch.ones(2)], torch.ones(2)),
        lambda: dist.reduce_scatter(torch.ones(2), [torch.ones(2)]),
        lambda: torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2)),
        lambda: DistributedSampler(range(4)),
    ],
)
def test_errors_before_init(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match=NOT_INITIALIZED):
        call()


def test_init_argument_errors():
    # checked before MPI is touched
    with pytest.raises(ValueError, match="Unknown backend type 'foo'"):
        dist.init_process_group("foo")
    with pytest.raises(ValueError, match="'gloo' is not available in plaingrad"):
        dist.init_process_group("gloo")
    with pytest.raises(TypeError, match="datetime.timedelta"):
        dist.init_process_group("mpi", timeout=30)
    with pytest.raises(TypeError, match="`world_size` must be an int"):
        dist.init_process_group("mpi", world_size="2")
    assert not dist.is_initialized()


def test_init_without_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes the import fail
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)
    with pytest.raises(RuntimeError, match=r'pip install "plaingrad\[mpi\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_launcher_disagreement_is_an_error():
    # a 1-rank world (no mpiexec) asked to be 4 ranks, or rank 3
    code = (
        "import plaingrad.distributed as dist\n"
        "for kw in ({'world_size': 4}, {'rank': 3}):\n"
        "    try:\n"
        "        dist.init_process_group('mpi', **kw)\n"
        "    except ValueError as e:\n"
        "        print(e)\n"
        "assert not dist.is_initialized()\n"
    )
    mpiexec()
    job = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert job.returncode == 0, job.stderr
    assert "world_size=4, but the MPI launcher started 1 rank(s)" in job.stdout
    assert "rank=3, but the MPI launcher made this process rank 0" in job.stdout


def test_reduce_op_names():
    real = import_torch().distributed
    for name in ("SUM", "AVG", "PRODUCT", "MIN", "MAX", "BAND", "BOR", "BXOR"):
        ours, theirs = getattr(dist.ReduceOp, name), getattr(real.ReduceOp, name)
        assert str(ours) == str(theirs) and int(ours) == int(theirs.value)


# ------------------------------------------ post-accumulate-grad hooks


def test_post_accumulate_grad_hook_against_torch():
    real = import_torch()
    seen = {}
    for lib in (torch, real):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        calls = []

        def hook(t, x=x, calls=calls):
            assert t is x
            calls.append(t.grad.clone().tolist())

        handle = x.register_post_accumulate_grad_hook(hook)
        (x * 2).sum().backward()
        (x * x).sum().backward()  # accumulates: the hook sees the sum
        lib.autograd.grad((x * 3).sum(), x)  # .grad untouched: no call
        (x * 5).sum().backward(inputs=[x])
        handle.remove()
        (x * 7).sum().backward()
        seen[lib] = calls
    assert seen[torch] == seen[real]
    assert len(seen[torch]) == 3


def test_post_accumulate_grad_hook_order_and_create_graph():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    order = []
    x.register_post_accumulate_grad_hook(lambda t: order.append("post 1"))
    x.register_hook(lambda g: order.append("pre"))
    x.register_post_accumulate_grad_hook(lambda t: order.append("post 2"))
    (x * 2).sum().backward()
    assert order == ["pre", "post 1", "post 2"]  # torch gives the same
    y = torch.tensor([1.0, 2.0], requires_grad=True)
    grads = []
    y.register_post_accumulate_grad_hook(lambda t: grads.append(t.grad))
    (y**3).sum().backward(create_graph=True)
    assert grads[0].requires_grad  # after the recorded accumulation
    np.testing.assert_allclose(grads[0].detach().numpy(), [3.0, 12.0])


def test_post_accumulate_grad_hook_errors():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        torch.ones(2).register_post_accumulate_grad_hook(lambda t: None)
    x = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf tensors"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    x.register_post_accumulate_grad_hook(lambda t: t * 2)
    with pytest.raises(RuntimeError, match="should return None"):
        (x * 2).sum().backward()


# ------------------------------------------------------ DistributedSampler


@pytest.mark.parametrize("size", [0, 1, 5, 8, 11])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_unshuffled_is_pytorchs(size, replicas, drop_last):
    real = import_torch().utils.data.DistributedSampler
    for rank in range(replicas):
        ours = DistributedSampler(range(size), replicas, rank, False, 0, drop_last)
        theirs = real(range(size), replicas, rank, False, 0, drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs) and ours.total_size == theirs.total_size


@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shuffled_shares(drop_last):
    size, replicas = 23, 4
    shares = [
        DistributedSampler(range(size), replicas, r, seed=3, drop_last=drop_last)
        for r in range(replicas)
    ]
    lists = [list(s) for s in shares]
    assert {len(x) for x in lists} == {len(shares[0])}
    union = [i for x in lists for i in x]
    if drop_last:
        assert len(union) == 20 and len(set(union)) == 20  # 3 left out, none twice
    else:
        # padded with the head of the same order: every index, 1 repeated
        assert set(union) == set(range(size)) and len(union) == 24
    again = [list(s) for s in shares]
    assert again == lists  # the same epoch gives the same order
    for s in shares:
        s.set_epoch(1)
    assert [list(s) for s in shares] != lists
    # seed + epoch: epoch 1 of seed 3 is epoch 0 of seed 4
    seed4 = DistributedSampler(range(size), replicas, 0, seed=4, drop_last=drop_last)
    assert list(seed4) == list(shares[0])


def test_sampler_errors_as_pytorch():
    real = import_torch().utils.data.DistributedSampler
    for rank in (2, -1):
        with pytest.raises(ValueError) as theirs:
            real(range(4), num_replicas=2, rank=rank)
        with pytest.raises(ValueError) as ours:
            DistributedSampler(range(4), num_replicas=2, rank=rank)
        assert str(ours.value) == str(theirs.value)


# ------------------------------------------------------------- buckets


@pytest.mark.parametrize(
    "limits", [[1024 * 1024, 25 * 1024 * 1024], [4096], [1, 1 << 30], [2048, 8192]]
)
def test_bucket_assignment_is_pytorchs(limits):
    from plaingrad.nn.parallel._reducer import assign_buckets

    real = import_torch()
    rng = np.random.RandomState(0)
    sizes = [int(n) for n in rng.choice([1, 7, 300, 1000, 70000, 300000], 12)]
    dtypes = ["float32"] * 8 + ["float64"] * 2 + ["float32", "float16"]
    ours = [torch.zeros(n, dtype=getattr(torch, d)) for n, d in zip(sizes, dtypes)]
    theirs = [real.zeros(n, dtype=getattr(real, d)) for n, d in zip(sizes, dtypes)]
    indices, _ = real.distributed._compute_bucket_assignment_by_size(
        theirs, limits, [False] * len(theirs)
    )
    # DDP launches PyTorch's buckets in reverse (the last layers' first)
    assert assign_buckets(ours, limits) == [list(b) for b in reversed(indices)]
