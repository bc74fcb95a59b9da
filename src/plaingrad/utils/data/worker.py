"""What runs inside a ``DataLoader`` worker process, and the fetchers.

A fetcher turns one entry of the index sampler into one batch: for a
map-style dataset, a list of indices becomes the collated samples (or a
whole-batch fetch, see ``dataset._batch_fetcher``); for an iterable dataset,
the next ``batch_size`` samples of its iterator. The main process uses the
same fetchers when ``num_workers=0``.

A worker loops: it takes ``(task, indices)`` from its own index queue,
fetches, and puts ``(task, batch)`` on the result queue that all workers
share; the main process puts the batches back in task order. An exception is
sent back wrapped (``ExceptionWrapper``) and raised again in the main process
with the worker named. ``None`` on the index queue means "stop";
``_ResumeIteration`` starts a new epoch for persistent workers. A worker also
stops by itself when its parent process is gone.

Everything here is a module-level name, so the worker function and its
arguments pickle: the 'spawn' and 'forkserver' start methods (the default on
macOS and Windows) need that as much as 'fork' does not.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import traceback
from typing import Any

import numpy as np

# How often (seconds) a waiting worker checks that its parent is alive, and a
# waiting main process that its workers are.
MP_STATUS_CHECK_INTERVAL = 1.0


class WorkerInfo:
    """Where a worker process stands: returned by ``get_worker_info()``.

    Attributes:
        id: this worker's number, 0 .. num_workers - 1.
        num_workers: how many workers the loader has.
        seed: the seed of this worker's random streams (plaingrad's, Python's
            ``random``; NumPy's global stream is seeded from it too).
        dataset: this worker's copy of the dataset.
    """

    __initialized = False

    def __init__(self, **kwargs: Any) -> None:
        for key, value in kwargs.items():
            setattr(self, key, value)
        self.__keys = tuple(kwargs)
        self.__initialized = True

    def __setattr__(self, key: str, value: Any) -> None:
        if self.__initialized:
            raise RuntimeError(
                f"Cannot assign attributes to {type(self).__name__} objects"
            )
        super().__setattr__(key, value)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__keys)
        return f"{type(self).__name__}({fields})"


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` inside a DataLoader worker; None in the
    main process.

    Example:
        >>> get_worker_info() is None
        True
    """
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process as its
    type and formatted traceback (exceptions themselves may not pickle)."""

    def __init__(self, where: str) -> None:
        exc_type, exc_value, exc_tb = sys.exc_info()
        self.exc_type: Any = exc_type
        self.exc_name = exc_type.__name__ if exc_type is not None else "Exception"
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc_value, exc_tb))
        self.where = where

    def reraise(self) -> None:
        """Raise the exception again, its message naming the worker."""
        message = f"Caught {self.exc_name} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            message = _KeyErrorMessage(message)
        try:
            error = self.exc_type(message)
        except Exception:
            # a type whose constructor wants other arguments
            raise RuntimeError(message) from None
        raise error


class _KeyErrorMessage(str):
    """KeyError puts quotes around a str message; this keeps the lines."""

    def __repr__(self) -> str:
        return self


class _ResumeIteration:
    """Sent to persistent workers to start a new epoch."""


class _IterableDatasetStopIteration:
    """Sent back by a worker whose copy of an iterable dataset is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


class _MapFetcher:
    """Batches of a map-style dataset, from lists of indices."""

    def __init__(
        self, dataset: Any, auto_collation: bool, collate_fn: Any, drop_last: bool
    ) -> None:
        from .collate import default_collate
        from .dataset import _batch_fetcher

        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        fast = _batch_fetcher(dataset) if collate_fn is default_collate else None
        self._fast = fast
        self._many = getattr(dataset, "__getitems__", None)

    def fetch(self, indices: Any) -> Any:
        if not self.auto_collation:
            return self.collate_fn(self.dataset[indices])
        if self._fast is not None:
            return self._fast(indices)
        if self._many is not None:
            samples = self._many(indices)
        else:
            dataset = self.dataset
            samples = [dataset[i] for i in indices]
        return self.collate_fn(samples)


class _IterableFetcher:
    """Batches of an iterable dataset: the next samples of its iterator."""

    def __init__(
        self, dataset: Any, auto_collation: bool, collate_fn: Any, drop_last: bool
    ) -> None:
        self.iterator = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, indices: Any) -> Any:
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        samples = []
        for _ in indices:
            try:
                samples.append(next(self.iterator))
            except StopIteration:
                self.ended = True
                break
        if not samples or (self.drop_last and len(samples) < len(indices)):
            raise StopIteration
        return self.collate_fn(samples)


def _make_fetcher(
    iterable: bool, dataset: Any, auto_collation: bool, collate_fn: Any, drop_last: bool
) -> Any:
    kind = _IterableFetcher if iterable else _MapFetcher
    return kind(dataset, auto_collation, collate_fn, drop_last)


def _serialize(data: Any, where: str) -> bytes:
    """The batch pickled here, not in the queue's feeder thread, so that a
    batch that cannot pickle becomes an error in the main process instead of
    a batch that never arrives."""
    try:
        return pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        wrapper = (
            data if isinstance(data, ExceptionWrapper) else ExceptionWrapper(where)
        )
    # an exception class that does not pickle (defined in a function) travels
    # as a RuntimeError with the same message
    try:
        return pickle.dumps(wrapper, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        wrapper.exc_type = RuntimeError
        return pickle.dumps(wrapper, protocol=pickle.HIGHEST_PROTOCOL)


def _seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed this process's random streams for ``worker_id``; return the seed."""
    from ... import random as pg_random

    seed = base_seed + worker_id
    random.seed(seed)
    pg_random.manual_seed(seed)
    state = np.random.SeedSequence([worker_id, base_seed]).generate_state(4)
    np.random.seed(state)
    return seed


def _worker_loop(
    iterable: bool,
    dataset: Any,
    index_queue: Any,
    data_queue: Any,
    done_event: Any,
    auto_collation: bool,
    collate_fn: Any,
    drop_last: bool,
    base_seed: int,
    init_fn: Any,
    worker_id: int,
    num_workers: int,
) -> None:
    """The body of a worker process (see the module docstring)."""
    global _worker_info
    # The parent at start: the main process, or the fork server that started
    # this worker. When it is gone this process is re-parented.
    parent_pid = os.getppid()
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(
            id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset
        )
        where = f"in DataLoader worker process {worker_id}"
        init_error = None
        fetcher: Any = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = _make_fetcher(
                iterable, dataset, auto_collation, collate_fn, drop_last
            )
        except Exception:
            init_error = ExceptionWrapper(where)
        ended = False
        while os.getppid() == parent_pid:
            try:
                message = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(message, _ResumeIteration):
                data_queue.put((message, None))
                ended = False
                if init_error is None:
                    try:
                        fetcher = _make_fetcher(
                            iterable, dataset, auto_collation, collate_fn, drop_last
                        )
                    except Exception:
                        init_error = ExceptionWrapper(where)
                continue
            if message is None:
                break
            if done_event.is_set() or ended:
                continue  # finishing: drain the queue without working
            task, indices = message
            if init_error is not None:
                data: Any = init_error  # every task reports the failed start
            else:
                try:
                    data = fetcher.fetch(indices)
                except StopIteration:
                    if not iterable:
                        data = ExceptionWrapper(where)
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        ended = True
                except Exception:
                    data = ExceptionWrapper(where)
            data_queue.put((task, _serialize(data, where)))
            del data, indices, message
    except KeyboardInterrupt:
        pass  # the main process sees Ctrl-C too and shuts the workers down
    if done_event.is_set():
        # Results nobody will read must not keep this process alive.
        data_queue.cancel_join_thread()
        data_queue.close()
