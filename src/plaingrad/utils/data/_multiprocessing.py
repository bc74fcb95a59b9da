"""The main-process side of loading with worker processes.

Each worker has its own index queue; all share one result queue. Tasks (one
entry of the index sampler: a list of indices, one batch) go to the workers in
turn, ``prefetch_factor`` per worker ahead of what has been consumed, so batch
k is fetched by worker ``k % num_workers`` while the workers all keep busy.
Results may arrive out of order; they are held until their turn and given in
task order (or as they come with ``in_order=False``).

Shutting down (at the end of an epoch, on an error, or when the iterator is
dropped, e.g. after ``break``) sets the done event, sends each worker ``None``,
joins them and terminates any that do not stop: no process outlives its
iterator. A worker that dies without a word is noticed at the next wait and
reported with its pid.

NOTE: batches travel pickled through a pipe, not in shared memory as
PyTorch's do, so each batch costs one copy on the way back; workers pay off
when fetching a sample (reading files, decoding, augmenting) costs more than
that copy.
"""

from __future__ import annotations

import itertools
import multiprocessing
import pickle
import queue
from typing import Any

from .worker import (
    MP_STATUS_CHECK_INTERVAL,
    ExceptionWrapper,
    _IterableDatasetStopIteration,
    _ResumeIteration,
    _worker_loop,
)


class _MultiProcessingDataLoaderIter:
    """An epoch (or, with ``persistent_workers``, every epoch) of a
    ``DataLoader`` whose batches are fetched by worker processes."""

    def __init__(self, loader: Any, base_seed: int) -> None:
        self._shutdown = True  # until the workers exist, nothing to shut down
        self._iterable = loader._dataset_kind_iterable
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor * loader.num_workers
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        context = loader.multiprocessing_context
        if context is None:
            context = multiprocessing.get_context()
        self._result_queue = context.Queue()
        self._done_event = context.Event()
        self._index_queues: list = []
        self._workers: list = []
        self._shutdown = False
        for worker_id in range(self._num_workers):
            index_queue = context.Queue()
            # The main process never waits for its puts to be flushed.
            index_queue.cancel_join_thread()
            worker = context.Process(
                target=_worker_loop,
                args=(
                    self._iterable,
                    loader.dataset,
                    index_queue,
                    self._result_queue,
                    self._done_event,
                    loader._auto_collation,
                    loader.collate_fn,
                    loader.drop_last,
                    base_seed,
                    loader.worker_init_fn,
                    worker_id,
                    self._num_workers,
                ),
                daemon=True,
            )
            worker.start()
            self._index_queues.append(index_queue)
            self._workers.append(worker)
        self._reset(first=True)

    def _reset(self, first: bool = False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._send_idx = 0
        self._rcvd_idx = 0
        # task -> [worker_id] while pending, [worker_id, data] once arrived
        self._task_info: dict = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first:
            # persistent workers: start them on a new epoch and wait for each
            # to acknowledge, dropping whatever the last epoch left behind
            for index_queue in self._index_queues:
                index_queue.put(_ResumeIteration())
            waiting = self._num_workers
            while waiting > 0:
                task, _ = self._get_data()
                if isinstance(task, _ResumeIteration):
                    waiting -= 1
        for _ in range(self._prefetch):
            self._try_put_index()

    def _try_put_index(self) -> None:
        if self._tasks_outstanding >= self._prefetch:
            return
        try:
            indices = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            worker_id = next(self._worker_cycle)
            if self._workers_status[worker_id]:
                break
        else:
            return  # every worker has finished its stream
        self._index_queues[worker_id].put((self._send_idx, indices))
        self._task_info[self._send_idx] = [worker_id]
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _try_get_data(self, timeout: float) -> tuple:
        try:
            task, payload = self._result_queue.get(timeout=timeout)
        except queue.Empty:
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                pids = ", ".join(str(w.pid) for w in dead)
                codes = ", ".join(str(w.exitcode) for w in dead)
                self._shutdown_workers()
                raise RuntimeError(
                    f"DataLoader worker (pid(s) {pids}) exited unexpectedly "
                    f"(exit code(s) {codes})"
                ) from None
            return False, None
        data = None if payload is None else pickle.loads(payload)
        return True, (task, data)

    def _get_data(self) -> tuple:
        if self._timeout > 0:
            ok, result = self._try_get_data(self._timeout)
            if not ok:
                # A worker that missed the deadline is stuck: stop it now
                # rather than waiting for it to notice the shutdown.
                self._shutdown_workers(grace=0.0)
                raise RuntimeError(
                    f"DataLoader timed out after {self._timeout} seconds"
                )
            return result
        while True:
            ok, result = self._try_get_data(MP_STATUS_CHECK_INTERVAL)
            if ok:
                return result

    def __iter__(self) -> _MultiProcessingDataLoaderIter:
        return self

    def __next__(self) -> Any:
        while True:
            # Skip tasks already given out of order, and tasks of workers
            # whose stream ended before they were fetched.
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (
                    len(info) == 2 or self._workers_status[info[0]]
                ):
                    break
                if info is not None:
                    # sent to a worker whose stream ended: it never answers
                    self._tasks_outstanding -= 1
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            info = self._task_info[self._rcvd_idx]
            if len(info) == 2:
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
                return self._process(info[1])
            task, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _IterableDatasetStopIteration):
                self._workers_status[data.worker_id] = False
                self._task_info.pop(task, None)
                self._try_put_index()
                continue
            if task == self._rcvd_idx or not self._in_order:
                del self._task_info[task]
                if task == self._rcvd_idx:
                    self._rcvd_idx += 1
                return self._process(data)
            self._task_info[task].append(data)

    def _process(self, data: Any) -> Any:
        self._try_put_index()
        if isinstance(data, ExceptionWrapper):
            self._shutdown_workers()
            data.reraise()
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

    def _shutdown_workers(self, grace: float = MP_STATUS_CHECK_INTERVAL * 2) -> None:
        """Stop the workers: each gets ``grace`` seconds to exit, then is
        terminated."""
        if self._shutdown:
            return
        self._shutdown = True
        try:
            self._done_event.set()
            for index_queue in self._index_queues:
                try:
                    index_queue.put(None)
                except (OSError, ValueError):
                    pass  # already closed
            for worker in self._workers:
                worker.join(timeout=grace)
                if worker.is_alive():
                    worker.terminate()
                    worker.join()
        finally:
            for index_queue in self._index_queues:
                index_queue.cancel_join_thread()
                index_queue.close()
            self._result_queue.cancel_join_thread()
            self._result_queue.close()
            for worker in self._workers:
                if worker.exitcode is not None:
                    worker.close()

    def __del__(self) -> None:
        try:
            self._shutdown_workers()
        except Exception:  # noqa: BLE001 - at interpreter exit, modules go first
            pass
