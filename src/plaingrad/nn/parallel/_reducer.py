"""DDP's reducer: gradient buckets and their all-reduces during backward.

Buckets are assigned as PyTorch assigns them: walking the parameters in
registration order, each dtype fills a bucket until it holds the byte limit
(the first one 1 MiB when ``bucket_cap_mb`` is left at its default, so the
last gradients to arrive wait in a small bucket), and the list is then
reversed: backward produces the last layers' gradients first, so the bucket
of the last parameters is launched first.

Each parameter's post-accumulate-grad hook marks it ready. When all of a
bucket's parameters are ready, its gradients are copied, each divided by the
world size, into one flat array, and ``Iallreduce`` (sum) starts on it while
backward goes on with the earlier layers. Buckets start in their fixed order
on every rank (MPI collectives must be issued in the same order everywhere),
so a bucket ready early waits for the ones before it. When the last bucket
has started, the reducer waits for all of them and copies each averaged slice
back into its parameter's ``.grad``.

With ``find_unused_parameters`` the parameters that the forward's output does
not reach are marked ready (contributing their ``.grad``, or zeros) when the
first hook fires. That search cannot see everything: an output the loss does
not use (the second head of a two-headed model) reaches its parameters, yet
their hooks never fire. So the first hook also queues a callback on the
autograd engine (``autograd.engine.queue_callback``, PyTorch's
``Variable._execution_engine.queue_callback``), which runs when the backward
has walked the whole graph and marks every parameter still waiting ready, as
unused. Once all buckets have started, an all-reduce of a used flag per
parameter (set by its hook, in this backward or in a ``no_sync`` one since
the last reduction) tells which were unused on every rank: their
``.grad`` is left alone (None stays None), as in PyTorch.

Every rank verified at construction that it holds the same parameter shapes
and dtypes, and the buckets are built from them alike, so the bucket
all-reduces agree in size and dtype across ranks by construction.
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import numpy as np

from ...autograd.engine import queue_callback
from ...autograd.node import AccumulateGrad

_NOT_FINISHED = (
    "Expected to have finished reduction in the prior iteration before starting "
    "a new one. This error indicates that your module has parameters that were "
    "not used in producing loss. You can enable unused parameter detection by "
    "passing the keyword argument `find_unused_parameters=True` to "
    "`torch.nn.parallel.DistributedDataParallel`, and by \nmaking sure all "
    "`forward` function outputs participate in calculating loss. \nIf you "
    "already have done the above, then the distributed data parallel module "
    "wasn't able to locate the output tensors in the return value of your "
    "module's `forward` function. Please include the loss function and the "
    "structure of the return value of `forward` of your module when reporting "
    "this issue (e.g. list, dict, iterable).\nParameter indices which did not "
    "receive grad for rank {rank}: {indices}"
)


def assign_buckets(params: list, limits: list[int]) -> list[list[int]]:
    """Parameter indices per bucket, in launch order (see the module
    docstring); ``limits`` are the byte limits of the successive buckets of
    each dtype, the last one repeating."""
    open_buckets: dict[Any, list] = {}  # dtype -> [indices, bytes, limit index]
    closed = []
    for i, p in enumerate(params):
        bucket = open_buckets.setdefault(p._data.dtype, [[], 0, 0])
        bucket[0].append(i)
        bucket[1] += p._data.nbytes
        if bucket[1] >= limits[bucket[2]]:
            closed.append(bucket[0])
            bucket[0], bucket[1] = [], 0
            bucket[2] = min(bucket[2] + 1, len(limits) - 1)
    closed.extend(b[0] for b in open_buckets.values() if b[0])
    closed.sort(key=min)
    return closed[::-1]


class Reducer:
    """Buckets of ``params`` all-reduced over ``pg`` as backward fills them."""

    def __init__(
        self, params: list, buckets: list[list[int]], pg: Any, find_unused: bool
    ) -> None:
        self.params = params
        self.buckets = buckets
        self.pg = pg
        self.where = {}  # parameter index -> bucket index
        for b, indices in enumerate(buckets):
            for i in indices:
                self.where[i] = b
        self.expect_hooks = False  # a synced forward awaits its backward
        self.started = False  # this backward's first hook has fired
        self.unused: list[int] = []
        self.flats: list[Any] = [None] * len(buckets)
        self.requests: list[Any] = []
        # find_unused_parameters, and then 1 for each parameter whose hook
        # fired since the last synced reduction, no_sync backwards included
        # (PyTorch's local_used_map): a gradient accumulated locally is
        # reduced even when the synced step itself leaves its parameter unused
        self.find_unused = find_unused
        self.used = np.zeros(len(params), dtype=np.int32)
        # (bucket index, time.perf_counter()) of each launch in the last backward
        self.launches: list[tuple[int, float]] = []
        self._reset()
        reducer = weakref.ref(self)
        self.handles = [
            p.register_post_accumulate_grad_hook(_hook(reducer, i))
            for i, p in enumerate(params)
        ]

    def _reset(self) -> None:
        self.ready = [False] * len(self.params)
        self.pending = [len(indices) for indices in self.buckets]
        self.next_bucket = 0
        self.requests = []
        self.started = False

    # ------------------------------------------------------------ forward

    def prepare_for_forward(self) -> None:
        """PyTorch's error when the last synced backward left buckets unfinished."""
        if self.expect_hooks and self.started:
            missing = [i for i, ready in enumerate(self.ready) if not ready]
            raise RuntimeError(
                _NOT_FINISHED.format(
                    rank=self.pg.rank(), indices=" ".join(map(str, missing))
                )
            )

    def prepare_for_backward(self, outputs: list | None) -> None:
        """Expect this forward's backward; ``outputs`` (find_unused_parameters)
        are searched for the parameters they do not reach."""
        self._reset()
        self.expect_hooks = True
        self.launches = []
        self.unused = [] if outputs is None else self._search_unused(outputs)

    def _search_unused(self, outputs: list) -> list[int]:
        """The parameters whose AccumulateGrad no output's graph reaches."""
        reached = set()
        stack = []
        for t in outputs:
            node = t.grad_fn if t.grad_fn is not None else t._accumulator
            if node is not None:
                stack.append(node)
        seen = {id(n) for n in stack}
        while stack:
            node = stack.pop()
            if node.__class__ is AccumulateGrad:
                reached.add(id(node))
                continue
            for nxt in node._next:
                if nxt is not None and id(nxt) not in seen:
                    seen.add(id(nxt))
                    stack.append(nxt)
        return [
            i
            for i, p in enumerate(self.params)
            if p._accumulator is None or id(p._accumulator) not in reached
        ]

    # ----------------------------------------------------------- backward

    def on_grad_ready(self, index: int) -> None:
        """The hook of parameter ``index``: its ``.grad`` is complete."""
        if self.find_unused:
            self.used[index] = 1
        if not self.expect_hooks:
            return  # a forward outside sync (no_sync, no_grad) or a stray backward
        if not self.started:
            self.started = True
            if self.find_unused:
                queue_callback(self._end_of_backward)
                for i in self.unused:
                    self._mark_ready(i)
        elif self.requests:
            # MPI moves nonblocking collectives on only when asked
            self.pg.mpi.Request.Testall(self.requests)
        self._mark_ready(index)

    def _end_of_backward(self) -> None:
        """find_unused_parameters: the backward is over, so a parameter not
        ready yet got no gradient (an output the loss did not use): it is
        unused, and the remaining buckets start."""
        if not self.expect_hooks:
            return  # every hook fired: the reduction is done
        for i, ready in enumerate(self.ready):
            if not ready:
                self._mark_ready(i)

    def _mark_ready(self, index: int) -> None:
        if self.ready[index]:
            raise RuntimeError(
                "Expected to mark a variable ready only once. This error is caused "
                f"by parameter {index} receiving its gradient twice in one "
                "backward (a parameter used outside DDP's forward, or a second "
                "backward through the same forward)"
            )
        self.ready[index] = True
        bucket = self.where[index]
        self.pending[bucket] -= 1
        while (
            self.next_bucket < len(self.buckets) and not self.pending[self.next_bucket]
        ):
            self._launch(self.next_bucket)
            self.next_bucket += 1
        if self.next_bucket == len(self.buckets):
            self._finish()

    def _launch(self, b: int) -> None:
        indices = self.buckets[b]
        params = self.params
        dtype = params[indices[0]]._data.dtype
        size = sum(params[i]._data.size for i in indices)
        flat = self.flats[b]
        if flat is None or flat.dtype != dtype or flat.size != size:
            flat = self.flats[b] = np.empty(size, dtype=dtype)
        scale = 1.0 / self.pg.size()
        offset = 0
        for i in indices:
            p = params[i]
            n = p._data.size
            grad = p._grad
            if grad is None:
                flat[offset : offset + n] = 0
            else:
                # divided as it is copied, as PyTorch's reducer does
                np.multiply(
                    grad._data.reshape(-1), scale, out=flat[offset : offset + n]
                )
            offset += n
        self.launches.append((b, time.perf_counter()))
        request = self.pg.comm.Iallreduce(self.pg.mpi.IN_PLACE, flat, self.pg.mpi.SUM)
        self.requests.append(request)
        self.pg.track(f"DistributedDataParallel (gradient bucket {b})", request, flat)

    def _finish(self) -> None:
        """Wait for every bucket and write the averages into ``.grad``."""
        pg = self.pg
        globally_unused = None
        if self.find_unused:
            # issued after every bucket, on every rank alike
            request = pg.comm.Iallreduce(pg.mpi.IN_PLACE, self.used, pg.mpi.MAX)
            pg.wait(request, "DistributedDataParallel (unused parameters)")
            globally_unused = self.used == 0
            self.used[:] = 0  # counted afresh until the next synced reduction
        for b, request in enumerate(self.requests):
            pg.wait(request, f"DistributedDataParallel (gradient bucket {b})")
        params = self.params
        for b, indices in enumerate(self.buckets):
            flat = self.flats[b]
            offset = 0
            for i in indices:
                p = params[i]
                n = p._data.size
                averaged = flat[offset : offset + n].reshape(p._data.shape)
                offset += n
                if globally_unused is not None and globally_unused[i]:
                    continue  # no rank used it: .grad stays as it was
                if p._grad is None:
                    p._grad = p._wrap_grad(averaged.copy())
                else:
                    np.copyto(p._grad._data, averaged)
        self.expect_hooks = False
        self.requests = []

    def remove_hooks(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


def _hook(reducer: Any, index: int) -> Any:
    def hook(param: Any) -> None:
        owner = reducer()
        if owner is not None:
            owner.on_grad_ready(index)

    return hook
