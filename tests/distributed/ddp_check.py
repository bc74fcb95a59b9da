"""Run under ``mpiexec -n 2`` by tests/test_distributed.py: DistributedDataParallel
against single-process training on the same global batch, bucket overlap,
no_sync, find_unused_parameters, buffers and errors. Prints one ``ok`` line per
check; a failure raises, which ends the job (the exception hook)."""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np

import plaingrad as torch
import plaingrad.distributed as dist
from plaingrad import nn
from plaingrad.nn.parallel import DistributedDataParallel as DDP
from plaingrad.utils.data import DataLoader, DistributedSampler, TensorDataset


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 4)
    ).double()


def data() -> TensorDataset:
    rng = np.random.RandomState(7)
    x = torch.tensor(rng.randn(64, 12))
    y = torch.tensor(rng.randint(0, 4, size=64))
    return TensorDataset(x, y)


def close(model: nn.Module, reference: nn.Module, what: str) -> None:
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        np.testing.assert_allclose(
            p.detach().numpy(),
            q.detach().numpy(),
            rtol=1e-6,
            atol=1e-9,
            err_msg=f"{what}: {name}",
        )


def raises(kind, text: str, fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except kind as error:
        if text not in str(error):
            raise AssertionError(f"{text!r} not in {error!r}") from None
        return
    raise AssertionError(f"did not raise {kind.__name__}({text!r})")


def check_training(rank: int, size: int, micro: int) -> None:
    """20 steps of DDP (``micro`` backward passes per step, all but the last
    under no_sync) against one process on the whole global batch."""
    torch.manual_seed(rank)  # each rank starts from its own weights ...
    model = DDP(mlp(), bucket_cap_mb=0.005)
    torch.manual_seed(0)
    close(
        model.module, mlp(), "rank 0's weights after construction"
    )  # ... then rank 0's
    reference = copy.deepcopy(model.module)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    dataset = data()
    batch = 4
    samplers = [DistributedSampler(dataset, size, r, seed=5) for r in range(size)]
    loaders = [DataLoader(dataset, batch_size=batch, sampler=s) for s in samplers]
    loss_fn = nn.CrossEntropyLoss()
    steps = 0
    for epoch in range(20):
        for s in samplers:
            s.set_epoch(epoch)
        batches = list(zip(*loaders))  # one (x, y) per rank per local step
        for start in range(0, len(batches) - micro + 1, micro):
            opt.zero_grad()
            ref_opt.zero_grad()
            for k in range(micro):
                per_rank = batches[start + k]
                x, y = per_rank[rank]
                if k < micro - 1:
                    with model.no_sync():
                        loss_fn(model(x), y).backward()
                else:
                    loss_fn(model(x), y).backward()
                # the global batch: every rank's micro-batch k
                gx = torch.cat([b[0] for b in per_rank])
                gy = torch.cat([b[1] for b in per_rank])
                loss_fn(reference(gx), gy).backward()
            opt.step()
            ref_opt.step()
            steps += 1
            if steps == 20:
                close(model.module, reference, f"after 20 steps (micro={micro})")
                return
    raise AssertionError("fewer than 20 steps")


def check_no_sync_is_local(rank: int) -> None:
    model = DDP(mlp())
    x = torch.full((2, 12), float(rank + 1), dtype=torch.float64)
    with model.no_sync():
        model(x).sum().backward()
    grads = [torch.zeros(4, 32, dtype=torch.float64) for _ in range(2)]
    dist.all_gather(grads, model.module[4].weight.grad)
    assert not torch.equal(grads[0], grads[1]), "no_sync gradients were averaged"
    local = model.module[4].weight.grad.clone()
    model(x).sum().backward()  # synced: the average of the accumulated sums
    dist.all_gather(grads, local)
    average = (grads[0] + grads[1]) / 2 + (grads[0] + grads[1]) / 2
    np.testing.assert_allclose(model.module[4].weight.grad.numpy(), average.numpy())


def check_overlap(rank: int) -> None:
    """The first bucket's all-reduce starts before backward reaches the
    first layer."""
    model = DDP(mlp(), bucket_cap_mb=0.002)  # 2 KiB: several buckets
    buckets = model._bucket_indices
    assert len(buckets) >= 3, buckets
    assert buckets[-1][0] == 0 and 5 in buckets[0], buckets  # last layers first
    reached = []
    first = model.module[0].weight
    # called when the first layer's weight gradient is computed (before
    # accumulation and so before DDP's own hook)
    first.register_hook(lambda grad: reached.append(time.perf_counter()))
    model(torch.ones(3, 12, dtype=torch.float64)).sum().backward()
    launches = model._bucket_launches
    assert [b for b, _ in launches] == list(range(len(buckets))), launches
    assert len(reached) == 1
    started_before = [b for b, t in launches if t < reached[0]]
    assert 0 in started_before and len(started_before) >= 2, (launches, reached)
    print(
        f"overlap rank {rank}: {len(buckets)} buckets, {len(started_before)} "
        "started before backward reached the first layer"
    )


class Branches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3).double()
        self.b = nn.Linear(3, 3).double()
        self.c = nn.Linear(3, 3).double()  # never used

    def forward(self, x, use_b: bool):
        out = self.a(x)
        return self.b(out) if use_b else out


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 2)

    def forward(self, x):
        return self.a(x), self.b(x)


def check_unused_head(rank: int) -> None:
    """Both heads are outputs but the loss uses a's only: b's hooks never
    fire, and the reduction still ends with the backward (PyTorch averages a's
    gradients every step and leaves b's .grad None)."""
    model = DDP(TwoHeads(), find_unused_parameters=True)
    x = torch.arange(12, dtype=torch.float32).reshape(4, 3) * 0.1 + rank
    # d(sum of a(x))/d(a.weight) has every row equal to x's column sums: the
    # ranks' average is the column sums of arange(12) * 0.1 (1.8, 2.2, 2.6)
    # plus 4 * (0 + 1) / 2
    columns = (np.arange(12.0).reshape(4, 3) * 0.1).sum(0) + 2.0
    for _ in range(3):  # the next forward must not raise
        model.zero_grad()
        model(x)[0].sum().backward()
        np.testing.assert_allclose(
            model.module.a.weight.grad.numpy(), np.tile(columns, (2, 1)), rtol=1e-6
        )
        np.testing.assert_allclose(model.module.a.bias.grad.numpy(), [4.0, 4.0])
        assert model.module.b.weight.grad is None
        assert model.module.b.bias.grad is None
    # b's head in rank 0's loss only: rank 1 contributes zeros, both get half
    # of rank 0's gradient
    model.zero_grad()
    a, b = model(x)
    (a.sum() + b.sum() if rank == 0 else a.sum()).backward()
    rank0 = (np.arange(12.0).reshape(4, 3) * 0.1).sum(0)
    np.testing.assert_allclose(
        model.module.b.weight.grad.numpy(), np.tile(rank0 / 2, (2, 1)), rtol=1e-6
    )
    np.testing.assert_allclose(model.module.b.bias.grad.numpy(), [2.0, 2.0])


@dataclasses.dataclass
class Heads:
    a: object
    b: object


class DataclassHeads(TwoHeads):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Linear(3, 2)  # never used

    def forward(self, x):
        return Heads(self.a(x), self.b(x))


def check_unused_in_dataclass_and_no_sync(rank: int) -> None:
    """A dataclass output is searched for tensors as PyTorch does (before, no
    tensor was found, every parameter counted as unused and the first hook
    marked its own parameter ready twice). A gradient accumulated under
    no_sync on one rank is reduced by the next synced step even when that
    step leaves its parameter unused everywhere: torch 2.13 gives both ranks
    half of rank 1's gradient though b's .grad was None on rank 0."""
    model = DDP(DataclassHeads(), find_unused_parameters=True)
    x = torch.ones(1, 3)
    for _ in range(2):
        model.zero_grad()
        out = model(x)
        (out.a.sum() + 2 * out.b.sum()).backward()
        np.testing.assert_allclose(model.module.a.bias.grad.numpy(), [1.0, 1.0])
        np.testing.assert_allclose(model.module.b.bias.grad.numpy(), [2.0, 2.0])
        assert model.module.c.weight.grad is None
    model = DDP(TwoHeads(), find_unused_parameters=True)
    with model.no_sync():
        a, b = model(x)
        (a.sum() + b.sum() if rank == 1 else a.sum()).backward()
    assert (model.module.b.bias.grad is None) == (rank == 0)  # not reduced yet
    model(x)[0].sum().backward()  # b unused on every rank in the synced step
    np.testing.assert_allclose(model.module.b.bias.grad.numpy(), [0.5, 0.5])
    np.testing.assert_allclose(model.module.b.weight.grad.numpy(), np.full((2, 3), 0.5))
    # a: two backwards of 1 per bias entry on each rank, averaged
    np.testing.assert_allclose(model.module.a.bias.grad.numpy(), [2.0, 2.0])
    # the flags were counted afresh: b's grad stays as it is next time
    model(x)[0].sum().backward()
    np.testing.assert_allclose(model.module.b.bias.grad.numpy(), [0.5, 0.5])


def check_unused(rank: int) -> None:
    torch.manual_seed(0)
    model = DDP(Branches(), find_unused_parameters=True)
    reference = copy.deepcopy(model.module)
    xs = [torch.full((2, 3), float(r + 1), dtype=torch.float64) for r in range(2)]
    for _ in range(2):  # a second iteration must not raise
        model.zero_grad()
        model(xs[rank], use_b=rank == 0).sum().backward()
    assert model.module.c.weight.grad is None  # unused everywhere: untouched
    # b is used on rank 0 only: both ranks get rank 0's gradient / 2
    reference(xs[0], True).sum().backward()
    want = reference.b.weight.grad.numpy() / 2
    np.testing.assert_allclose(model.module.b.weight.grad.numpy(), want)
    check_unused_head(rank)
    check_unused_in_dataclass_and_no_sync(rank)
    # without find_unused_parameters: PyTorch's error at the next forward
    plain = DDP(Branches())
    plain(xs[rank], use_b=False).sum().backward()
    raises(RuntimeError, "Expected to have finished reduction", plain, xs[rank], False)
    raises(RuntimeError, "did not receive grad for rank", plain, xs[rank], False)


def check_buffers_and_state(rank: int) -> None:
    torch.manual_seed(rank)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    model = DDP(net)
    stats = [torch.zeros(4) for _ in range(2)]
    dist.all_gather(stats, net[1].running_mean)
    assert torch.equal(stats[0], stats[1])
    model(torch.randn(5, 3) + rank)  # each rank updates its own statistics
    model(torch.randn(5, 3))  # ... and this forward first takes rank 0's
    model(torch.randn(5, 3))
    # state dicts: the module's, under PyTorch's "module." prefix
    keys = list(model.state_dict())
    assert keys == ["module." + k for k in net.state_dict()], keys
    assert model.module is net
    assert [id(p) for p in model.parameters()] == [id(p) for p in net.parameters()]
    for key, value in net.state_dict().items():
        assert torch.equal(model.state_dict()["module." + key], value)
    # buffers synced at construction too, unless broadcast_buffers=False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        local = nn.BatchNorm1d(2)
        local.running_mean.fill_(float(rank))
        DDP(local, broadcast_buffers=False)
        assert local.running_mean.tolist() == [float(rank)] * 2


def check_errors(rank: int) -> None:
    raises(RuntimeError, "doesn't have any parameter", DDP, nn.ReLU())
    raises(ValueError, "device_ids", DDP, nn.Linear(2, 2), device_ids=[0])
    # models that differ between ranks: every rank raises, nobody waits
    layers = [nn.Linear(2, 2)] + ([nn.Linear(2, 2)] if rank == 1 else [])
    raises(
        RuntimeError,
        "DDP expects same model across all ranks",
        DDP,
        nn.Sequential(*layers),
    )
    raises(RuntimeError, "of shape", DDP, nn.Linear(2, 3 + rank))
    theirs = ["float64", "float32"][rank]
    raises(
        RuntimeError,
        f"has it of dtype {theirs}",
        DDP,
        nn.Linear(2, 2).to([torch.float32, torch.float64][rank]),
    )
    # the same parameters, a buffer of another size (rank 0's is broadcast)
    bn = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    bn[1].register_buffer("extra", torch.zeros(2 + rank))
    raises(
        RuntimeError,
        "has buffer 3 of shape [2], while rank 1 has it of shape [3]"
        if rank == 0
        else "has buffer 3 of shape [3], while rank 0",
        DDP,
        bn,
    )


def main() -> None:
    dist.init_process_group("mpi")
    rank, size = dist.get_rank(), dist.get_world_size()
    assert size == 2
    check_training(rank, size, micro=1)
    print(f"ok training rank {rank}")
    check_training(rank, size, micro=3)
    print(f"ok no_sync training rank {rank}")
    check_no_sync_is_local(rank)
    print(f"ok no_sync local rank {rank}")
    check_overlap(rank)
    print(f"ok overlap rank {rank}")
    check_unused(rank)
    print(f"ok unused rank {rank}")
    check_buffers_and_state(rank)
    print(f"ok buffers rank {rank}")
    check_errors(rank)
    print(f"ok errors rank {rank}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
