"""``DataLoader`` with worker processes (``num_workers > 0``).

The datasets record ``os.getpid()`` in ``__getitem__``, so a batch says which
process fetched it. Workers start with the platform's default method ('fork'
on Linux) except in the test marked 'spawn', which checks that everything a
worker needs pickles, as macOS's default start method requires; the datasets
and functions are module-level for that reason. Loaders are small (two
workers, a handful of batches): the machine running the tests may have two
cores.
"""

from __future__ import annotations

import gc
import os
import time

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.utils.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)


class PidDataset(Dataset):
    """Sample i is (tensor [i, i], i, pid of the process that fetched it)."""

    def __init__(self, n: int = 10) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple:
        return pg.tensor([float(index)] * 2), index, os.getpid()


class FailingDataset(PidDataset):
    def __getitem__(self, index: int) -> tuple:
        if index == 5:
            raise ValueError(f"sample {index} is broken")
        return super().__getitem__(index)


class DyingDataset(PidDataset):
    def __getitem__(self, index: int) -> tuple:
        if index == 5:
            os._exit(3)  # a worker killed without a word
        return super().__getitem__(index)


class SlowDataset(PidDataset):
    def __getitem__(self, index: int) -> tuple:
        time.sleep(1.5)
        return super().__getitem__(index)


_INIT: dict = {}


def remember_worker(worker_id: int) -> None:
    _INIT["id"] = worker_id
    _INIT["info_id"] = get_worker_info().id


class InitDataset(PidDataset):
    def __getitem__(self, index: int) -> tuple:
        info = get_worker_info()
        return index, _INIT.get("id", -1), _INIT.get("info_id", -1), info.seed


class RandomDataset(PidDataset):
    def __getitem__(self, index: int) -> tuple:
        return pg.rand(1), index


class ShardedStream(IterableDataset):
    """0 .. n-1, each worker yielding every num_workers-th sample."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class UnevenStream(IterableDataset):
    """Worker 0 yields 2 samples, worker 1 yields 5: one stream ends early."""

    def __iter__(self):
        info = get_worker_info()
        count = 2 if info.id == 0 else 5
        return iter(range(10 * info.id, 10 * info.id + count))


def _torch_uneven_stream(torch):
    class TorchUnevenStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            count = 2 if info.id == 0 else 5
            return iter(range(10 * info.id, 10 * info.id + count))

    return TorchUnevenStream()


def _torch_sharded_stream(torch, n: int):
    class TorchShardedStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            info = torch.utils.data.get_worker_info()
            if info is None:
                return iter(range(n))
            return iter(range(info.id, n, info.num_workers))

    return TorchShardedStream()


def _flat(batches: list) -> list:
    """Each batch as plain lists (values only, no pids)."""
    return [[b[0].tolist(), b[1].tolist()] for b in batches]


def _gone(pid: int) -> bool:
    """True when the process no longer exists (reaped: not even a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# ------------------------------------------------------------ map-style


def test_batches_come_from_distinct_workers_in_order_as_without_workers():
    ours = list(DataLoader(PidDataset(10), batch_size=3, num_workers=2))
    reference = list(DataLoader(PidDataset(10), batch_size=3, num_workers=0))

    pids = [set(batch[2].tolist()) for batch in ours]
    assert all(len(p) == 1 for p in pids)  # a batch is fetched whole by one worker
    pids = [p.pop() for p in pids]
    assert os.getpid() not in pids
    # batch k is fetched by worker k % 2: two processes, taking turns
    assert pids[0] != pids[1] and pids == [pids[0], pids[1]] * 2
    assert _flat(ours) == _flat(reference)
    assert [b[1].tolist() for b in ours] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


def test_shuffled_epochs_with_workers_equal_those_without():
    def epochs(workers: int) -> list:
        loader = DataLoader(
            PidDataset(9),
            batch_size=4,
            shuffle=True,
            num_workers=workers,
            generator=pg.Generator().manual_seed(5),
        )
        return [_flat(list(loader)) for _ in range(2)]

    with_workers, without = epochs(2), epochs(0)

    assert with_workers == without
    assert with_workers[0] != with_workers[1]  # a new order per epoch


def test_tensor_dataset_batches_with_workers_match_pytorch():
    torch = import_torch()
    data = np.arange(14, dtype=np.float32).reshape(7, 2)
    ours = DataLoader(
        TensorDataset(pg.tensor(data), pg.arange(7)), batch_size=3, num_workers=2
    )
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(data), torch.arange(7)),
        batch_size=3,
    )

    for mine, real in zip(list(ours), list(theirs), strict=True):
        np.testing.assert_array_equal(mine[0].numpy(), real[0].numpy())
        np.testing.assert_array_equal(mine[1].numpy(), real[1].numpy())
        assert mine[1].dtype == pg.int64


def test_worker_init_fn_runs_in_each_worker_after_seeding():
    loader = DataLoader(
        InitDataset(4),
        batch_size=1,
        num_workers=2,
        worker_init_fn=remember_worker,
        generator=pg.Generator().manual_seed(0),
    )

    rows = [[int(v) for v in batch] for batch in loader]

    # batch k is worker k % 2's: the id worker_init_fn saw is that worker's
    assert [(r[1], r[2]) for r in rows] == [(0, 0), (1, 1), (0, 0), (1, 1)]
    seeds = {r[1]: r[3] for r in rows}
    assert seeds[1] == seeds[0] + 1  # worker i is seeded with base seed + i


def test_workers_have_distinct_reproducible_random_streams():
    def draws() -> list:
        loader = DataLoader(
            RandomDataset(4),
            batch_size=2,
            num_workers=2,
            generator=pg.Generator().manual_seed(11),
        )
        return [batch[0].flatten().tolist() for batch in loader]

    first, again = draws(), draws()

    assert first == again
    assert first[0] != first[1]


def test_persistent_workers_live_across_epochs_and_close_with_the_loader():
    loader = DataLoader(
        PidDataset(6), batch_size=2, num_workers=2, persistent_workers=True
    )

    epoch1, epoch2 = list(loader), list(loader)
    workers = list(loader._iterator._workers)

    assert {b[2][0].item() for b in epoch1} == {b[2][0].item() for b in epoch2}
    assert _flat(epoch1) == _flat(epoch2) == _flat(list(DataLoader(PidDataset(6), 2)))
    assert all(w.is_alive() for w in workers)
    pids = [w.pid for w in workers]
    del loader, epoch1, epoch2, workers
    gc.collect()
    assert all(_gone(pid) for pid in pids)


def test_persistent_workers_restart_an_epoch_left_half_way():
    loader = DataLoader(
        PidDataset(8), batch_size=2, num_workers=2, persistent_workers=True
    )

    next(iter(loader))  # abandon the first epoch after one batch
    second = list(loader)

    assert [b[1].tolist() for b in second] == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_breaking_early_shuts_the_workers_down():
    iterator = iter(DataLoader(PidDataset(40), batch_size=2, num_workers=2))
    next(iterator)
    pids = [w.pid for w in iterator._workers]

    del iterator
    gc.collect()

    assert all(_gone(pid) for pid in pids)


def test_an_epoch_that_ends_leaves_no_process_behind():
    iterator = iter(DataLoader(PidDataset(4), batch_size=2, num_workers=2))
    pids = [w.pid for w in iterator._workers]

    assert len(list(iterator)) == 2
    assert all(_gone(pid) for pid in pids)


def test_an_exception_in_a_worker_is_raised_here_naming_the_worker():
    loader = DataLoader(FailingDataset(10), batch_size=2, num_workers=2)
    iterator = iter(loader)
    pids = [w.pid for w in iterator._workers]

    with pytest.raises(ValueError) as info:
        list(iterator)

    message = str(info.value)
    # batch 2 holds index 5; batch k goes to worker k % 2
    assert "Caught ValueError in DataLoader worker process 0" in message
    assert "sample 5 is broken" in message and "Traceback" in message
    assert all(_gone(pid) for pid in pids)


def test_a_worker_that_dies_is_reported_with_its_pid():
    iterator = iter(DataLoader(DyingDataset(10), batch_size=2, num_workers=2))
    dying = iterator._workers[0].pid

    with pytest.raises(RuntimeError, match=rf"worker \(pid\(s\) {dying}\) exited"):
        list(iterator)


def test_timeout_raises_when_a_batch_is_late():
    loader = DataLoader(SlowDataset(2), batch_size=1, num_workers=1, timeout=0.3)

    with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.3 seconds"):
        next(iter(loader))


def test_out_of_order_delivery_gives_every_batch_once():
    loader = DataLoader(PidDataset(10), batch_size=2, num_workers=2, in_order=False)

    labels = sorted(b[1].tolist() for b in loader)

    assert labels == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]


def test_spawned_workers_get_everything_by_pickling():
    loader = DataLoader(
        PidDataset(6),
        batch_size=2,
        num_workers=2,
        multiprocessing_context="spawn",
        worker_init_fn=remember_worker,
    )

    batches = list(loader)

    assert _flat(batches) == _flat(list(DataLoader(PidDataset(6), batch_size=2)))
    assert len({b[2][0].item() for b in batches}) == 2


# -------------------------------------------------------------- iterable


@pytest.mark.parametrize(
    ("n", "batch_size", "drop_last"), [(7, 2, False), (7, 2, True), (9, 3, False)]
)
def test_sharded_iterable_dataset_batches_as_pytorch(n, batch_size, drop_last):
    torch = import_torch()
    ours = DataLoader(
        ShardedStream(n), batch_size=batch_size, drop_last=drop_last, num_workers=2
    )
    theirs = torch.utils.data.DataLoader(
        _torch_sharded_stream(torch, n),
        batch_size=batch_size,
        drop_last=drop_last,
        num_workers=2,
        multiprocessing_context="fork",
    )

    assert [b.tolist() for b in ours] == [b.tolist() for b in theirs]


@pytest.mark.parametrize("batch_size", [1, 2])
def test_a_stream_that_ends_early_leaves_the_others_going_as_pytorch(batch_size):
    torch = import_torch()
    ours = DataLoader(UnevenStream(), batch_size=batch_size, num_workers=2)
    theirs = torch.utils.data.DataLoader(
        _torch_uneven_stream(torch),
        batch_size=batch_size,
        num_workers=2,
        multiprocessing_context="fork",
    )

    assert [b.tolist() for b in ours] == [b.tolist() for b in theirs]


def test_sharded_iterable_dataset_gives_every_sample_once():
    batches = [b.tolist() for b in DataLoader(ShardedStream(7), 2, num_workers=2)]

    assert batches == [[0, 2], [1, 3], [4, 6], [5]]
    assert sorted(sum(batches, [])) == list(range(7))
    single = [b.tolist() for b in DataLoader(ShardedStream(7), 2)]
    assert single == [[0, 1], [2, 3], [4, 5], [6]]


def test_iterable_dataset_unbatched_with_workers():
    values = list(DataLoader(ShardedStream(5), batch_size=None, num_workers=2))

    # worker 0 gives 0, 2, 4 and worker 1 gives 1, 3, taking turns; unbatched
    # Python ints stay ints (default_convert only converts NumPy arrays)
    assert values == [0, 1, 2, 3, 4]
    assert all(type(v) is int for v in values)


def test_the_global_stream_moves_alike_with_and_without_workers():
    def after_epoch(workers: int) -> tuple:
        pg.manual_seed(2)
        loader = DataLoader(PidDataset(6), 2, shuffle=True, num_workers=workers)
        order = [b[1].tolist() for b in loader]
        return order, pg.rand(2).tolist()

    assert after_epoch(2) == after_epoch(0)
