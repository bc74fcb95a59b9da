"""Run by tests/test_distributed.py with plain ``python`` (no mpiexec): a world
of one rank, as MPI singletons are. DDP on one rank must train exactly as the
bare module does."""

from __future__ import annotations

import copy

import plaingrad as torch
import plaingrad.distributed as dist
from plaingrad import nn
from plaingrad.nn.parallel import DistributedDataParallel as DDP


def main() -> None:
    assert dist.is_available() and not dist.is_initialized()
    dist.init_process_group()  # backend None: mpi
    assert dist.get_rank() == 0 and dist.get_world_size() == 1
    t = torch.tensor([1.5, -2.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    assert t.tolist() == [1.5, -2.0]
    out = [torch.zeros(2)]
    dist.all_gather(out, t)
    assert torch.equal(out[0], t)
    dist.barrier()
    work = dist.all_reduce(t, async_op=True)
    try:
        work.wait(timeout=5)  # PyTorch's takes a timedelta only
    except TypeError as error:
        message = "Work.wait: `timeout` must be a datetime.timedelta, got int 5"
        assert str(error) == message, error
    else:
        raise AssertionError("Work.wait took an int timeout")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    bare = copy.deepcopy(net)
    model = DDP(net)
    opts = [torch.optim.Adam(m.parameters(), lr=0.01) for m in (model, bare)]
    for _ in range(5):
        x = torch.randn(4, 5)
        for m, opt in zip((model, bare), opts):
            opt.zero_grad()
            m(x).pow(2).mean().backward()
            opt.step()
    for p, q in zip(net.parameters(), bare.parameters()):
        assert torch.equal(p, q)  # dividing by one and copying changes nothing
    dist.destroy_process_group()
    print("ok single")


if __name__ == "__main__":
    main()
