"""Run under ``mpiexec -n 2`` by tests/test_distributed.py, with one argument:

- ``raise``: rank 1 raises while rank 0 waits in an all-reduce; the exception
  hook must end the job, naming rank 1.
- ``hang``: rank 1 never joins the all-reduce (it sleeps); rank 0 must time out
  (PLAINGRAD_DISTRIBUTED_TIMEOUT) with an error naming the op and its rank,
  and so end the job.
- ``exit``: rank 1 ends its process (``sys.exit(3)``) while rank 0 waits in
  an all-reduce; rank 0 must learn that rank 1 left and end the job, long
  before the timeout.
- ``in_flight``: rank 1 starts an all-reduce (``async_op=True``) and exits
  without waiting for it; it must end the job itself, naming the op.
- ``late``: both finish every collective; rank 0 then works on for a while
  (past the group's timeout, which the test sets short) before it exits,
  rank 1 exits at once without ``destroy_process_group``: a normal end,
  status 0, nothing said.
- ``unwaited``: an ``async_op`` all-reduce whose Work is dropped, then a
  barrier and ``destroy_process_group``: the all-reduce finished, so a
  normal end.
- ``retry``: rank 0's ``Work.wait(timeout=...)`` times out while rank 1
  sleeps before its own wait, then a later wait succeeds: a normal end.
- ``destroy_early``: rank 0 calls ``destroy_process_group`` at once and
  works on; rank 1 destroys 2 s later: rank 0's destroy does not wait.
- ``uneven``: rank 0 takes one more DistributedDataParallel step than rank 1
  (uneven inputs), then both all-reduce: rank 1's call check meets rank 0's
  gradient all-reduce and must say so, not read the gradient as a call.
"""

from __future__ import annotations

import datetime
import sys
import time

import plaingrad as torch
import plaingrad.distributed as dist


def main(mode: str) -> None:
    dist.init_process_group("mpi")
    rank = dist.get_rank()
    t = torch.ones(3)
    dist.all_reduce(t)  # both ranks are up
    print(f"started rank {rank}", flush=True)
    if mode == "unwaited":
        t = torch.ones(4)
        dist.all_reduce(t, async_op=True)  # the Work is dropped
        dist.barrier()
        dist.destroy_process_group()
        print(f"done rank {rank}", flush=True)
        return
    if mode == "retry":
        t = torch.ones(4 * 10**6)  # large: MPI moves it on only when rank 1 asks
        work = dist.all_reduce(t, async_op=True)
        if rank == 1:
            time.sleep(2)
        timeouts = 0
        while True:
            try:
                work.wait(timeout=datetime.timedelta(seconds=0.5))
                break
            except RuntimeError:
                timeouts += 1
        assert t[0].item() == 2.0 and (rank == 1 or timeouts >= 2), timeouts
        print(f"done rank {rank}", flush=True)
        return
    if mode == "destroy_early":
        if rank == 1:
            time.sleep(2)
        start = time.monotonic()
        dist.destroy_process_group()
        print(
            f"destroy took {time.monotonic() - start:.2f} s on rank {rank}", flush=True
        )
        return
    if mode == "uneven":
        width = 7  # (a 2-float bucket fails inside MPICH, before any check)
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(width, 1))
        for _ in range(3 if rank == 0 else 2):
            model(torch.ones(4, width)).pow(2).mean().backward()
        dist.all_reduce(t)
        print(f"rank {rank} was not stopped", flush=True)
        return
    if mode == "late":
        dist.all_reduce(t)
        if rank == 0:
            time.sleep(4)  # past the grace a waiting rank gives a leaver
        print(f"done rank {rank}", flush=True)
        return
    if rank == 1:
        if mode == "raise":
            raise ValueError("a bad batch on rank 1")
        if mode == "exit":
            sys.exit(3)
        if mode == "in_flight":
            dist.all_reduce(torch.ones(10**6), async_op=True)
            sys.exit(0)
        time.sleep(600)  # far past the test's timeout: the job must end first
    if mode == "in_flight":
        dist.all_reduce(torch.ones(10**6))
    dist.all_reduce(t)
    print("rank 0 was not stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
