"""``DataLoader``: batches from a dataset, optionally shuffled.

For a ``TensorDataset`` one fancy-index per tensor fetches a whole batch,
replacing per-sample fetching and stacking; other datasets give their samples
one by one (or as a list, through PyTorch's ``__getitems__``) and are collated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ...random import Generator, _rng
from ...tensor import Tensor, _wrap
from .dataset import Dataset


def default_collate(batch: list) -> Any:
    """Stack a list of samples: tensors, numbers, or tuples/dicts of them."""
    first = batch[0]
    if isinstance(first, Tensor):
        return _wrap(np.stack([b._data for b in batch]), None)
    if isinstance(first, np.ndarray):
        return _wrap(np.stack(batch), None)
    if isinstance(first, bool):
        return _wrap(np.asarray(batch, dtype=np.bool_), None)
    if isinstance(first, int):
        return _wrap(np.asarray(batch, dtype=np.int64), None)
    if isinstance(first, float):
        return _wrap(np.asarray(batch, dtype=np.float64), None)
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, dict):
        return {key: default_collate([b[key] for b in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        return [default_collate(list(items)) for items in zip(*batch)]
    raise TypeError(
        f"default_collate: batch must contain tensors, numbers, dicts or lists; "
        f"found {type(first).__name__}"
    )


def _convert(sample: Any) -> Any:
    """A sample as PyTorch gives it without batching: tuples become lists."""
    if isinstance(sample, tuple) and not hasattr(sample, "_fields"):
        return [_convert(item) for item in sample]
    return sample


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style dataset (``__getitem__`` and ``__len__``).
        batch_size: samples per batch (default 1); None yields samples one by
            one, unbatched.
        shuffle: draw a new random order at every epoch (default False).
        sampler: an iterable of indices giving the order (not with
            ``shuffle``).
        batch_sampler: an iterable of index lists, one per batch (not with
            ``batch_size``, ``shuffle``, ``sampler`` or ``drop_last``).
        collate_fn: how to merge a list of samples into a batch.
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        generator: the random stream for shuffling (default: the global one,
            which ``manual_seed`` seeds).
        num_workers, pin_memory, timeout, worker_init_fn,
            multiprocessing_context, prefetch_factor, persistent_workers,
            pin_memory_device, in_order: accepted so that PyTorch programs
            run; loading always happens in this process, in order.

    Raises:
        ValueError: for a ``batch_size`` that is not a positive integer, a
            negative ``num_workers``, or options that exclude each other.
        TypeError: when ``generator`` is not a ``plaingrad.Generator``.

    Example:
        >>> import plaingrad as torch
        >>> ds = torch.utils.data.TensorDataset(torch.arange(5))
        >>> [b[0].tolist() for b in torch.utils.data.DataLoader(ds, batch_size=2)]
        [[0, 1], [2, 3], [4]]
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        collate_fn: Callable | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Any = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        # The multiprocessing options are accepted, as PyTorch's, so that
        # programs written for it run; loading always happens in this process.
        # Anything else is a TypeError, so a misspelt option is never ignored.
        shuffle = bool(shuffle)
        if batch_sampler is not None and (
            batch_size != 1 or shuffle or sampler is not None or drop_last
        ):
            raise ValueError(
                "DataLoader: batch_sampler option is mutually exclusive with "
                "batch_size, shuffle, sampler, and drop_last"
            )
        if batch_size is not None and (
            not isinstance(batch_size, int)
            or isinstance(batch_size, bool)
            or batch_size <= 0
        ):
            raise ValueError(
                "DataLoader: batch_size should be a positive integer value, but "
                f"got batch_size={batch_size!r}"
            )
        if batch_size is None and drop_last:
            raise ValueError(
                "DataLoader: batch_size=None option disables auto-batching and is "
                "mutually exclusive with drop_last"
            )
        if num_workers < 0:
            raise ValueError(
                "DataLoader: num_workers option should be non-negative; use "
                "num_workers=0 to disable multiprocessing."
            )
        if sampler is not None and shuffle:
            raise ValueError(
                "DataLoader: sampler option is mutually exclusive with shuffle"
            )
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(
                f"DataLoader: `generator` must be a plaingrad.Generator, got "
                f"{type(generator).__name__}"
            )
        if batch_sampler is not None:
            batch_size = None  # batches come whole from the batch sampler
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.generator = generator

    def _order(self) -> list:
        if self.sampler is not None:
            return list(self.sampler)
        n = len(self.dataset)
        if self.shuffle:
            return _rng(self.generator).permutation(n).tolist()
        return list(range(n))

    def _batches(self) -> Iterator[list]:
        if self.batch_sampler is not None:
            yield from self.batch_sampler
            return
        order = self._order()
        size = self.batch_size
        if size is None:
            yield from order
            return
        for start in range(0, len(order), size):
            batch = order[start : start + size]
            if len(batch) < size and self.drop_last:
                return
            yield batch

    def __iter__(self) -> Iterator[Any]:
        dataset = self.dataset
        # TensorDataset's whole-batch fetch gives what default_collate would.
        fast_batch = getattr(dataset, "_get_batch", None)
        # PyTorch's protocol: __getitems__ returns the list of samples.
        fetch_many = getattr(dataset, "__getitems__", None)
        collate = self.collate_fn
        for indices in self._batches():
            if self.batch_size is None and self.batch_sampler is None:
                sample = dataset[indices]
                yield collate(sample) if collate else _convert(sample)
                continue
            if fast_batch is not None and collate is None:
                yield fast_batch(indices)
                continue
            if fetch_many is not None:
                samples = fetch_many(indices)
            else:
                samples = [dataset[i] for i in indices]
            yield (collate or default_collate)(samples)

    def __len__(self) -> int:
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)
