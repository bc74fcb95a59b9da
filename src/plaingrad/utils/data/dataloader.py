"""``DataLoader``: batches from a dataset, in this process or in workers.

The loader is built as PyTorch's: a ``sampler`` gives indices (sequential, or
random with ``shuffle``), a ``BatchSampler`` groups them, and a fetcher turns
each group into a batch through ``collate_fn``. For a ``TensorDataset`` (and
subsets of one) with the default collation, one fancy-index per tensor
fetches a whole batch, replacing per-sample fetching and stacking.

With ``num_workers=0`` (the default) batches are made in this process by a
plain generator, the fast path that training loops use. With
``num_workers > 0`` they are made by worker processes (see
``_multiprocessing.py`` and ``worker.py``) and come back in the same order,
identical to what ``num_workers=0`` gives.

Randomness: every ``iter(loader)`` draws one 63-bit seed from ``generator``
(or the global stream) at once, before the sampler draws its order, whatever
``num_workers`` is, as PyTorch does; worker ``i`` seeds its own streams with
that seed + ``i``. So a seeded loader gives the same orders with and without
workers, and the draws that follow are the same too.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from typing import Any

from ...random import Generator, _rng
from .collate import default_collate, default_convert
from .dataset import Dataset, IterableDataset
from .sampler import (
    BatchSampler,
    RandomSampler,
    SequentialSampler,
    _InfiniteConstantSampler,
)
from .worker import _make_fetcher

# Options PyTorch forbids changing once a loader exists.
_FROZEN = (
    "batch_size",
    "batch_sampler",
    "sampler",
    "drop_last",
    "dataset",
    "persistent_workers",
)


def _check_options(
    dataset: Any,
    batch_size: Any,
    shuffle: bool,
    sampler: Any,
    batch_sampler: Any,
    num_workers: int,
    drop_last: bool,
    timeout: float,
    prefetch_factor: Any,
    persistent_workers: bool,
    generator: Any,
) -> None:
    """PyTorch's argument checks, with PyTorch's messages."""
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(
            "DataLoader: num_workers option should be non-negative; use "
            "num_workers=0 to disable multiprocessing."
        )
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(
            "prefetch_factor option could only be specified in multiprocessing."
            "let num_workers > 0 to enable multiprocessing, otherwise set "
            "prefetch_factor to None."
        )
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    if isinstance(dataset, IterableDataset):
        for name, value in (
            ("shuffle", shuffle if shuffle else None),
            ("sampler", sampler),
            ("batch_sampler", batch_sampler),
        ):
            if value is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified "
                    f"{name} option, but got {name}={value!r}"
                )
    if sampler is not None and shuffle:
        raise ValueError(
            "DataLoader: sampler option is mutually exclusive with shuffle"
        )
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
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(
            f"DataLoader: `generator` must be a plaingrad.Generator, got "
            f"{type(generator).__name__}"
        )


def _context(value: Any, num_workers: int) -> Any:
    """A multiprocessing context from a start-method name or a context."""
    if value is None:
        return None
    if num_workers == 0:
        raise ValueError(
            "multiprocessing_context can only be used with multi-process loading "
            f"(num_workers > 0), but got num_workers={num_workers}"
        )
    if isinstance(value, str):
        methods = multiprocessing.get_all_start_methods()
        if value not in methods:
            raise ValueError(
                "multiprocessing_context option should specify a valid start "
                f"method in {methods!r}, but got multiprocessing_context={value!r}"
            )
        return multiprocessing.get_context(value)
    if not isinstance(value, multiprocessing.context.BaseContext):
        raise TypeError(
            "multiprocessing_context option should be a valid context object or "
            f"a string specifying the start method, but got "
            f"multiprocessing_context={value!r}"
        )
    return value


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style ``Dataset`` (``__getitem__`` and ``__len__``) or
            an ``IterableDataset``.
        batch_size: samples per batch (default 1); None yields samples one by
            one, unbatched (converted by ``default_convert``).
        shuffle: draw a new random order at every epoch (default False).
        sampler: an iterable of indices giving the order (not with
            ``shuffle``).
        batch_sampler: an iterable of index lists, one per batch (not with
            ``batch_size``, ``shuffle``, ``sampler`` or ``drop_last``).
        num_workers: worker processes fetching batches (default 0: in this
            process).
        collate_fn: how to merge a list of samples into a batch (default
            ``default_collate``).
        pin_memory: accepted; a no-op (there is no accelerator memory).
        drop_last: drop the last batch if it is smaller than ``batch_size``.
        timeout: seconds to wait for a worker's batch before raising
            RuntimeError (default 0: wait as long as the workers live).
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker
            after its random streams are seeded, before it loads anything.
        multiprocessing_context: a start method ('fork', 'spawn',
            'forkserver') or a context (default: the platform's). With 'spawn'
            and 'forkserver' the dataset, ``collate_fn`` and
            ``worker_init_fn`` must pickle (module-level functions, not
            lambdas).
        generator: the random stream for shuffling and worker seeds (default:
            the global one, which ``manual_seed`` seeds).
        prefetch_factor: batches loaded ahead per worker (default 2 with
            workers; must be None without).
        persistent_workers: keep the workers between epochs.
        pin_memory_device: accepted; a no-op.
        in_order: give batches in order (default); False gives each as it
            arrives.

    Raises:
        ValueError: for a ``batch_size`` that is not a positive integer, a
            negative ``num_workers``, ``timeout`` or ``prefetch_factor``, or
            options that exclude each other (PyTorch's messages).
        TypeError: when ``generator`` is not a ``plaingrad.Generator``.

    Example:
        >>> import plaingrad as torch
        >>> ds = torch.utils.data.TensorDataset(torch.arange(5))
        >>> [b[0].tolist() for b in torch.utils.data.DataLoader(ds, batch_size=2)]
        [[0, 1], [2, 3], [4]]
    """

    __initialized = False

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
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        shuffle = bool(shuffle)
        _check_options(
            dataset,
            batch_size,
            shuffle,
            sampler,
            batch_sampler,
            num_workers,
            drop_last,
            timeout,
            prefetch_factor,
            persistent_workers,
            generator,
        )
        self.multiprocessing_context = _context(multiprocessing_context, num_workers)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            sampler = _InfiniteConstantSampler()
        elif sampler is None:
            if shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_sampler is not None:
            batch_size = None  # batches come whole from the batch sampler
            drop_last = False
        elif batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.drop_last = drop_last
        self.generator = generator
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._dataset_kind_iterable = iterable
        self._auto_collation = batch_sampler is not None
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator: Any = None
        self.__initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__initialized and name in _FROZEN:
            raise ValueError(
                f"{name} attribute should not be set after {type(self).__name__} "
                "is initialized"
            )
        super().__setattr__(name, value)

    @property
    def _index_sampler(self) -> Any:
        # What the fetchers are driven by: index lists when batching, single
        # indices (or None for an iterable dataset) when not.
        return self.batch_sampler if self._auto_collation else self.sampler

    def _base_seed(self) -> int:
        return int(_rng(self.generator).integers(0, 2**63 - 1))

    def __iter__(self) -> Iterator[Any]:
        if self.num_workers == 0:
            self._base_seed()  # drawn now, as with workers (see the docstring)
            fetcher = _make_fetcher(
                self._dataset_kind_iterable,
                self.dataset,
                self._auto_collation,
                self.collate_fn,
                self.drop_last,
            )
            return self._single_process(fetcher)
        from ._multiprocessing import _MultiProcessingDataLoaderIter

        base_seed = self._base_seed()
        if not self.persistent_workers:
            return _MultiProcessingDataLoaderIter(self, base_seed)
        current = self._iterator
        if current is None or current._shutdown:
            self._iterator = _MultiProcessingDataLoaderIter(self, base_seed)
        else:
            current._reset()
        return self._iterator

    def _single_process(self, fetcher: Any) -> Iterator[Any]:
        fast = getattr(fetcher, "_fast", None)
        if fast is not None and self._auto_collation:
            # whole-batch fetching: the training loops' path, kept lean
            for indices in self._index_sampler:
                yield fast(indices)
            return
        fetch = fetcher.fetch
        for indices in self._index_sampler:
            try:
                batch = fetch(indices)
            except StopIteration:
                return  # an iterable dataset's stream has ended
            yield batch

    def __len__(self) -> int:
        if self._dataset_kind_iterable:
            n = len(self.dataset)  # type: ignore[arg-type]
            if self.batch_size is None:
                return n
            if self.drop_last:
                return n // self.batch_size
            return -(-n // self.batch_size)
        return len(self._index_sampler)
