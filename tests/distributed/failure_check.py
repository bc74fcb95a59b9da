"""Run under ``mpiexec -n 2`` by tests/test_distributed.py, with one argument:

- ``raise``: rank 1 raises while rank 0 waits in an all-reduce; the exception
  hook must end the job, naming rank 1.
- ``hang``: rank 1 never joins the all-reduce (it sleeps); rank 0 must time out
  (PLAINGRAD_DISTRIBUTED_TIMEOUT) with an error naming the op and its rank,
  and so end the job.
"""

from __future__ import annotations

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
    if rank == 1:
        if mode == "raise":
            raise ValueError("a bad batch on rank 1")
        time.sleep(600)  # far past the test's timeout: the job must end first
    dist.all_reduce(t)
    print("rank 0 was not stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
