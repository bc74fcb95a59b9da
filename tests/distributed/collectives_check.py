"""Run under ``mpiexec -n 2`` by tests/test_distributed.py: every collective,
op and dtype against NumPy, plus the collectives' errors. Prints one ``ok``
line per check; any failure raises, which ends the job (the exception hook)."""

from __future__ import annotations

import datetime
import os
import sys

import numpy as np

import plaingrad as torch
import plaingrad.distributed as dist
from plaingrad.distributed import ReduceOp

DTYPES = [
    torch.float16,
    torch.float32,
    torch.float64,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint8,
    torch.bool,
]
FLOAT = (torch.float16, torch.float32, torch.float64)


def inputs(rank: int, dtype, shape=(3, 4)) -> np.ndarray:
    """Rank ``rank``'s values: the same on every rank that computes them."""
    rng = np.random.RandomState(100 + rank)
    if dtype == torch.bool:
        return rng.rand(*shape) < 0.5
    npd = torch.zeros(1, dtype=dtype).numpy().dtype
    if dtype in FLOAT:
        return (rng.randn(*shape) * 3).astype(npd)
    if dtype == torch.int8:
        # large enough that SUM and PRODUCT wrap around, as in PyTorch
        return rng.randint(-128, 128, size=shape).astype(npd)
    low = 0 if dtype == torch.uint8 else -50
    return rng.randint(low, 50, size=shape).astype(npd)


def expected(op, arrays: list) -> np.ndarray:
    stack = np.stack(arrays)
    if stack.dtype == np.bool_:
        table = {
            ReduceOp.SUM: stack.any(0),
            ReduceOp.MAX: stack.any(0),
            ReduceOp.BOR: stack.any(0),
            ReduceOp.PRODUCT: stack.all(0),
            ReduceOp.MIN: stack.all(0),
            ReduceOp.BAND: stack.all(0),
            ReduceOp.BXOR: np.bitwise_xor.reduce(stack, 0),
        }
        return table[op]
    with np.errstate(over="ignore"):
        if op == ReduceOp.SUM:
            return np.add.reduce(stack, 0, dtype=stack.dtype)
        if op == ReduceOp.AVG:
            total = np.add.reduce(stack, 0, dtype=stack.dtype)
            return (total / np.asarray(len(arrays), stack.dtype)).astype(stack.dtype)
        if op == ReduceOp.PRODUCT:
            return np.multiply.reduce(stack, 0, dtype=stack.dtype)
    return {
        ReduceOp.MIN: np.minimum.reduce,
        ReduceOp.MAX: np.maximum.reduce,
        ReduceOp.BAND: np.bitwise_and.reduce,
        ReduceOp.BOR: np.bitwise_or.reduce,
        ReduceOp.BXOR: np.bitwise_xor.reduce,
    }[op](stack, 0)


def ops_for(dtype) -> list:
    ops = [ReduceOp.SUM, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX]
    if dtype in FLOAT:
        return ops + [ReduceOp.AVG]
    return ops + [ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR]


def raises(kind, text: str, fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except kind as error:
        if text not in str(error):
            raise AssertionError(f"{text!r} not in {error!r}") from None
        return
    raise AssertionError(f"{fn.__name__} did not raise {kind.__name__}({text!r})")


def main() -> None:
    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    assert size == 2 and dist.is_initialized() and dist.get_backend() == "mpi"
    assert dist.group.WORLD is not None
    assert os.environ.get("OPENBLAS_NUM_THREADS") is None
    # 2 ranks on this host: each gets cores // 2 BLAS threads (at least one),
    # or the cores it was pinned to
    cores, usable = os.cpu_count() or 1, len(os.sched_getaffinity(0))
    want = usable if usable < cores else max(1, cores // 2)
    assert torch.get_num_threads() == want, (torch.get_num_threads(), want)
    print(f"ok threads rank {rank}")

    everyone = range(size)
    for dtype in DTYPES:
        for op in ops_for(dtype):
            mine = inputs(rank, dtype)
            want = expected(op, [inputs(r, dtype) for r in everyone])
            # contiguous, non-contiguous (a transpose) and 0-d tensors
            t = torch.tensor(mine)
            dist.all_reduce(t, op=op)
            assert t.dtype == dtype and np.array_equal(t.numpy(), want), (dtype, op)
            t = torch.tensor(mine.T.copy()).t()
            assert not t.is_contiguous()
            dist.all_reduce(t, op=op)
            assert np.array_equal(t.numpy(), want), (dtype, op, "strided")
            t = torch.tensor(mine[1, 2])
            dist.all_reduce(t, op=op)
            assert t.dim() == 0 and np.array_equal(t.numpy(), want[1, 2])
            # reduce_scatter: rank r gets the reduction of everyone's input_list[r]
            parts = [inputs(r, dtype) for r in everyone]
            lists = {r: [np.roll(parts[r], k) for k in everyone] for r in everyone}
            out = torch.zeros(3, 4, dtype=dtype)
            dist.reduce_scatter(out, [torch.tensor(a) for a in lists[rank]], op=op)
            want_rs = expected(op, [lists[r][rank] for r in everyone])
            assert np.array_equal(out.numpy(), want_rs), (dtype, op, "reduce_scatter")
        if dtype not in FLOAT:
            raises(
                RuntimeError,
                "can't be cast",
                dist.all_reduce,
                torch.tensor(inputs(rank, dtype)),
                op=ReduceOp.AVG,
            )
        # all_gather into strided outputs too, and broadcast from each rank
        mine = inputs(rank, dtype)
        outs = [torch.zeros(4, 3, dtype=dtype).t() for _ in everyone]
        dist.all_gather(outs, torch.tensor(mine))
        for r in everyone:
            assert np.array_equal(outs[r].numpy(), inputs(r, dtype)), (dtype, r)
        for src in everyone:
            t = torch.tensor(mine)
            dist.broadcast(t, src=src)
            assert np.array_equal(t.numpy(), inputs(src, dtype)), (dtype, src)
        print(f"ok dtype {dtype} rank {rank}")
    raises(
        RuntimeError,
        "all_reduce: Cannot use ReduceOp.BAND with non-integral dtype float32",
        dist.all_reduce,
        torch.ones(2),
        op=ReduceOp.BAND,
    )

    # async_op: the tensor holds the result once wait() returns
    t = torch.full((5,), float(rank + 1))
    work = dist.all_reduce(t, async_op=True)
    assert work.wait() is True and work.is_completed()
    assert t.tolist() == [3.0] * 5
    work = dist.broadcast(torch.zeros(2), src=1, async_op=True)
    # before wait() (or is_completed() saying so): PyTorch's error
    raises(RuntimeError, "Work needs to be completed", work.result)
    work.wait(timeout=datetime.timedelta(seconds=30))
    assert work.result()[0].tolist() == [0.0, 0.0]
    assert dist.barrier(async_op=True).wait()
    dist.barrier()
    # the version counter is left alone, as in PyTorch
    t = torch.ones(2)
    before = t._version
    dist.all_reduce(t)
    assert t._version == before
    print(f"ok async rank {rank}")

    # errors, raised by every rank alike (so nobody waits in a collective)
    raises(
        RuntimeError,
        "expected length 2",
        dist.all_gather,
        [torch.ones(2)],
        torch.ones(2),
    )
    raises(
        RuntimeError,
        "expected [2], the shape of `tensor`, got [3]",
        dist.all_gather,
        [torch.ones(2), torch.ones(3)],
        torch.ones(2),
    )
    raises(
        ValueError,
        "different dtypes",
        dist.all_gather,
        [torch.ones(2), torch.ones(2, dtype=torch.int64)],
        torch.ones(2),
    )
    raises(
        RuntimeError,
        "input_list (expected length 2",
        dist.reduce_scatter,
        torch.ones(2),
        [torch.ones(2)] * 3,
    )
    raises(
        RuntimeError,
        "index 1 of `input_list`",
        dist.reduce_scatter,
        torch.ones(2),
        [torch.ones(2), torch.ones(3)],
    )
    raises(RuntimeError, "invalid root rank: 5", dist.broadcast, torch.ones(2), 5)
    raises(TypeError, "Expected parameter `tensor`", dist.all_reduce, [1.0, 2.0])
    raises(
        TypeError, "`op` must be a ReduceOp", dist.all_reduce, torch.ones(2), op="sum"
    )
    raises(ValueError, "twice", dist.init_process_group, "mpi")
    raises(
        ValueError,
        "only the default group",
        dist.all_reduce,
        torch.ones(2),
        group=object(),
    )
    assert dist.all_reduce(torch.ones(2), group=dist.group.WORLD) is None
    # an expanded tensor's elements share memory: no place to write the result
    raises(
        RuntimeError,
        "all_reduce: `tensor` is read-only",
        dist.all_reduce,
        torch.ones(1, 2).expand(3, 2),
    )
    print(f"ok errors rank {rank}")

    # calls that differ between the ranks: every rank raises the same error
    # before any data moves, and the next collectives work
    mismatch = "the ranks' calls do not match: rank 0 called"
    raises(
        RuntimeError,
        f"{mismatch} all_reduce(op=ReduceOp.SUM, a float32 tensor of 4 elements) "
        "but rank 1 called all_reduce(op=ReduceOp.SUM, a float64 tensor of 4",
        dist.all_reduce,
        torch.ones(4, dtype=[torch.float32, torch.float64][rank]),
    )
    raises(
        RuntimeError,
        "a float32 tensor of 4 elements) but rank 1 called all_reduce(op=Reduce"
        "Op.SUM, a float32 tensor of 100000 elements)",
        dist.all_reduce,
        torch.ones([4, 100000][rank]),
    )
    raises(
        RuntimeError,
        "rank 1 called all_reduce(op=ReduceOp.MAX",
        dist.all_reduce,
        torch.ones(4),
        op=[ReduceOp.SUM, ReduceOp.MAX][rank],
    )
    raises(
        RuntimeError,
        f"{mismatch} broadcast(a float32 tensor of 2 elements, src=0) but rank 1 "
        "called broadcast(a float32 tensor of 3 elements, src=0)",
        dist.broadcast,
        torch.ones(2 + rank),
        src=0,
    )
    raises(
        RuntimeError,
        "rank 1 called barrier()",
        [dist.all_gather, dist.barrier][rank],
        *([[torch.ones(2), torch.ones(2)], torch.ones(2)] if rank == 0 else []),
    )
    # one rank's own argument error: it raises it, the others learn of it in
    # the call check (before, they took its next call for this one)
    outs = [torch.zeros(2) for _ in range(2 + rank)]
    raises(
        RuntimeError,
        "expected length 2"
        if rank == 1
        else "rank 1 of 2 raised an error in its "
        "all_gather call (its own output says which), so no data was exchanged",
        dist.all_gather,
        outs,
        torch.ones(2),
    )
    t = torch.full((2, 3), float(rank + 1))  # the same shape, another count
    dist.all_reduce(t)
    assert t.tolist() == [[3.0] * 3] * 2
    print(f"ok mismatch rank {rank}")

    # the sampler reads the group's rank and size
    sampler = torch.utils.data.DistributedSampler(range(7), shuffle=False)
    # 7 indices padded to 8 with index 0: [0..6, 0], every other one
    assert list(sampler) == [[0, 2, 4, 6], [1, 3, 5, 0]][rank]
    assert sampler.num_replicas == 2 and sampler.rank == rank
    shares = [torch.zeros(4, dtype=torch.int64) for _ in everyone]
    dist.all_gather(
        shares,
        torch.tensor(list(torch.utils.data.DistributedSampler(range(7), seed=3))),
    )
    union = sorted(int(i) for s in shares for i in s)
    assert set(union) == set(range(7)) and len(union) == 8
    print(f"ok sampler rank {rank}")

    threads = torch.get_num_threads()
    dist.destroy_process_group()
    assert not dist.is_initialized()
    raises(ValueError, "has not been initialized", dist.get_rank)
    # a second init after destroy works (the same job, a fresh communicator)
    dist.init_process_group("mpi")
    assert dist.get_world_size() == 2 and torch.get_num_threads() == threads
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 1))
    dist.destroy_process_group()
    print(f"ok reinit rank {rank}")
    # a DDP model outlives its group: a clear error, not MPI's null communicator
    raises(RuntimeError, "its process group was destroyed", model, torch.ones(1, 2))
    with torch.no_grad():
        assert model(torch.ones(1, 2)).shape == (1, 1)  # no buffers to sync
    print(f"ok destroyed rank {rank}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
