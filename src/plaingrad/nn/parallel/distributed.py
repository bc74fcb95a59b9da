"""``DistributedDataParallel``: the same model on every rank, gradients averaged.

At construction every rank checks that it holds the same parameter shapes as
the others and takes rank 0's parameters and buffers, so all replicas start
equal. Each forward runs the wrapped module on this rank's part of the batch
(and first copies rank 0's buffers to everyone, when buffers are synced);
backward then averages the gradients over the ranks through the reducer
(``_reducer.py``), bucket by bucket while backward runs, so that after
``loss.backward()`` every rank holds the gradient of the global batch and the
optimizers take the same step.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ...autograd.grad_mode import is_grad_enabled
from ...distributed._group import ProcessGroup, default_group
from ...distributed.collectives import dtype_code, dtype_name
from ...tensor import Tensor
from ..module import Module
from ._reducer import Reducer, assign_buckets

_MB = 1024 * 1024
_DEFAULT_BUCKET_CAP_MB = 25
_DEFAULT_FIRST_BUCKET_BYTES = 1024 * 1024  # PyTorch's dist._DEFAULT_FIRST_BUCKET_BYTES


class DistributedDataParallel(Module):
    """Data-parallel training of ``module`` over the ranks of the process group.

    Args:
        module: the model; every rank builds the same one.
        device_ids: None (plaingrad runs on the CPU).
        output_device: None.
        dim: the batch dimension (kept for PyTorch's signature).
        broadcast_buffers: deprecated in PyTorch 2.13 in favour of
            ``forward_sync_buffers``; False also skips the buffers' sync at
            construction.
        init_sync: take rank 0's parameters (and buffers) at construction.
        process_group: None (the default group).
        bucket_cap_mb: the bucket size in MiB (25 by default; then the first
            bucket is 1 MiB, as in PyTorch).
        find_unused_parameters: after each forward, find the parameters the
            output does not depend on and reduce them without a gradient.
        forward_sync_buffers: copy rank 0's buffers to every rank before each
            forward (default True).

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.distributed as dist
        >>> from plaingrad.nn.parallel import DistributedDataParallel as DDP
        >>> dist.init_process_group("mpi")  # doctest: +SKIP
        >>> model = DDP(torch.nn.Linear(4, 2))  # doctest: +SKIP
        >>> loss = model(torch.randn(8, 4)).sum()  # doctest: +SKIP
        >>> loss.backward()  # every rank gets the averaged gradients  # doctest: +SKIP
    """

    def __init__(
        self,
        module: Module,
        device_ids: Any = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool | None = None,
        init_sync: bool = True,
        process_group: Any = None,
        bucket_cap_mb: float | None = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        forward_sync_buffers: bool | None = None,
        **unsupported: Any,
    ) -> None:
        super().__init__()
        pg = default_group(process_group, "DistributedDataParallel")
        _check_options(device_ids, output_device, gradient_as_bucket_view, static_graph)
        for name, value in unsupported.items():
            if value not in (None, False):
                raise NotImplementedError(
                    f"DistributedDataParallel: `{name}` is not supported yet"
                )
        if not isinstance(module, Module):
            raise TypeError(
                "DistributedDataParallel: `module` must be an nn.Module, got "
                f"{type(module).__name__}"
            )
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise RuntimeError(
                "DistributedDataParallel is not needed when a module doesn't have "
                "any parameter that requires a gradient."
            )
        if check_reduction:
            warnings.warn(
                "The `check_reduction` argument in `DistributedDataParallel` module "
                "is deprecated. Please avoid using it.",
                FutureWarning,
                stacklevel=2,
            )
        self.forward_sync_buffers, init_sync_buffers = _buffer_sync(
            broadcast_buffers, forward_sync_buffers
        )
        self.module = module
        self.device_ids = None
        self.output_device = None
        self.dim = dim
        self.process_group = pg
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = False
        self.static_graph = False
        self.require_backward_grad_sync = True
        self.require_forward_param_sync = True
        self.bucket_bytes_cap = _bucket_bytes(bucket_cap_mb)
        self.broadcast_buffers = self.forward_sync_buffers
        limits = [self.bucket_bytes_cap]
        if bucket_cap_mb is None:
            limits.insert(0, _DEFAULT_FIRST_BUCKET_BYTES)
        if init_sync:
            _verify_shapes(pg, params)
            states = list(module.parameters())
            if init_sync_buffers:
                buffers = list(module.buffers())
                _verify_shapes(pg, buffers, "buffer")
                states += buffers
            _broadcast_coalesced(pg, states, "DistributedDataParallel")
        self._module_parameters = params
        self._reducer = Reducer(
            params, assign_buckets(params, limits), pg, self.find_unused_parameters
        )

    # ------------------------------------------------------------ forward

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """Run the wrapped module; prepare this forward's gradient reduction."""
        reducer = self._reducer
        sync = is_grad_enabled() and self.require_backward_grad_sync
        buffers = []
        if self.require_forward_param_sync and self.forward_sync_buffers:
            buffers = list(self.module.buffers())  # rank 0's are broadcast first
        if self.process_group.destroyed and (sync or buffers):
            raise RuntimeError(
                "DistributedDataParallel: its process group was destroyed "
                "(destroy_process_group()), so gradients can no longer be "
                "averaged; call the wrapped model (.module) for local work, or "
                "wrap it again after a new init_process_group()"
            )
        if is_grad_enabled():
            reducer.prepare_for_forward()
        if buffers:
            _broadcast_coalesced(self.process_group, buffers, "forward")
        output = self.module(*inputs, **kwargs)
        if sync:
            self.require_forward_param_sync = True
            outputs = (
                list(_find_tensors(output)) if self.find_unused_parameters else None
            )
            reducer.prepare_for_backward(outputs)
        else:
            self.require_forward_param_sync = False
        return output

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Skip the gradient all-reduce for the backward of forwards run inside:
        gradients accumulate locally, and the first synced backward after the
        context averages the accumulated sums.

        The forward must run inside the context (the backward may be either
        side of its end), as in PyTorch.
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # --------------------------------------------------- inspection (tests)

    @property
    def _bucket_indices(self) -> list[list[int]]:
        """The parameter indices of each bucket, in launch order."""
        return [list(b) for b in self._reducer.buckets]

    @property
    def _bucket_launches(self) -> list[tuple[int, float]]:
        """(bucket index, time.perf_counter()) of each all-reduce started in
        the last synced backward, in the order they started."""
        return list(self._reducer.launches)


def _check_options(
    device_ids: Any, output_device: Any, as_view: bool, static_graph: bool
) -> None:
    if device_ids is not None or output_device is not None:
        raise ValueError(
            "DistributedDataParallel device_ids and output_device arguments only "
            "work with single-device/multiple-device GPU modules or CPU modules, "
            f"but got device_ids {device_ids}, output_device {output_device}, and "
            "module parameters {device(type='cpu')}."
        )
    if as_view:
        raise NotImplementedError(
            "DistributedDataParallel: `gradient_as_bucket_view=True` is not "
            "supported yet (gradients are copied out of the buckets)"
        )
    if static_graph:
        raise NotImplementedError(
            "DistributedDataParallel: `static_graph=True` is not supported yet"
        )


def _buffer_sync(broadcast: Any, forward: Any) -> tuple[bool, bool]:
    """(sync buffers at each forward, sync them at construction), as PyTorch
    2.13 reads its deprecated ``broadcast_buffers``."""
    if broadcast is not None:
        if forward is not None:
            message = (
                "Both `broadcast_buffers` and `forward_sync_buffers` were specified. "
                "`broadcast_buffers` is deprecated and its value is ignored when "
                "`forward_sync_buffers` is provided."
            )
        else:
            message = (
                "`broadcast_buffers` is deprecated. Use `forward_sync_buffers` "
                "instead. IMPORTANT: unlike `broadcast_buffers=False`, "
                "`forward_sync_buffers=False` still syncs buffers at init."
            )
        warnings.warn(message, FutureWarning, stacklevel=3)
    if forward is not None:
        return bool(forward), True
    effective = True if broadcast is None else bool(broadcast)
    return effective, effective


def _bucket_bytes(bucket_cap_mb: Any) -> int:
    if bucket_cap_mb is None:
        return _DEFAULT_BUCKET_CAP_MB * _MB
    if not isinstance(bucket_cap_mb, (int, float)) or isinstance(bucket_cap_mb, bool):
        raise TypeError(
            "DistributedDataParallel: `bucket_cap_mb` must be a number of MiB, got "
            f"{type(bucket_cap_mb).__name__}"
        )
    # PyTorch accepts any value; a bucket always takes at least one parameter
    return int(bucket_cap_mb * _MB)


def _find_tensors(obj: Any) -> Iterator[Tensor]:
    """The tensors in a forward's output (nested lists, tuples, dicts and
    dataclass instances, as PyTorch searches)."""
    if isinstance(obj, Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _find_tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _find_tensors(item)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            yield from _find_tensors(getattr(obj, field.name))


def _verify_shapes(pg: ProcessGroup, params: list, kind: str = "param") -> None:
    """PyTorch's error when the ranks' models differ in their parameters
    (``kind`` "param"), or in the buffers that rank 0 broadcasts ("buffer")."""
    count = np.array([len(params)], dtype=np.int64)
    counts = np.empty(pg.size(), dtype=np.int64)
    pg.wait(pg.comm.Iallgather(count, counts), "DistributedDataParallel", keep=counts)
    if (counts != counts[0]).any():
        # PyTorch names the first rank whose count differs from this one's
        other = int(np.flatnonzero(counts != len(params))[0])
        raise RuntimeError(
            f"DDP expects same model across all ranks, but Rank {pg.rank()} has "
            f"{len(params)} {kind}s, while rank {other} has inconsistent "
            f"{int(counts[other])} {kind}s."
        )
    # one row per parameter: its dtype, ndim and up to 8 sizes (padded with -1)
    shapes = np.full((len(params), 10), -1, dtype=np.int64)
    for i, p in enumerate(params):
        shape = p._data.shape[:8]
        shapes[i, 0] = dtype_code(p._data.dtype)
        shapes[i, 1] = p._data.ndim
        shapes[i, 2 : 2 + len(shape)] = shape
    everyone = np.empty((pg.size(),) + shapes.shape, dtype=np.int64)
    pg.wait(
        pg.comm.Iallgather(shapes, everyone), "DistributedDataParallel", keep=everyone
    )
    for other, theirs in enumerate(everyone):
        differ = np.flatnonzero((theirs[:, 1:] != shapes[:, 1:]).any(axis=1))
        if differ.size:
            i = int(differ[0])
            raise RuntimeError(
                f"DDP expects same model across all ranks, but Rank {pg.rank()} "
                f"has {kind} {i} of shape {list(params[i].shape)}, while rank "
                f"{other} has it of shape "
                f"{[int(s) for s in theirs[i, 2 : 2 + theirs[i, 1]]]}."
            )
    for other, theirs in enumerate(everyone):
        differ = np.flatnonzero(theirs[:, 0] != shapes[:, 0])
        if differ.size:
            # the buckets, built per dtype, would not line up across ranks
            i = int(differ[0])
            raise RuntimeError(
                f"DDP expects same model across all ranks, but Rank {pg.rank()} "
                f"has {kind} {i} of dtype {params[i]._data.dtype.name}, while rank "
                f"{other} has it of dtype {dtype_name(int(theirs[i, 0]))}."
            )


def _broadcast_coalesced(pg: ProcessGroup, tensors: list, op: str) -> None:
    """Rank 0's values into ``tensors`` on every rank, one broadcast per dtype."""
    by_dtype: dict[Any, list] = {}
    for t in tensors:
        by_dtype.setdefault(t._data.dtype, []).append(t)
    for dtype, group in by_dtype.items():
        flat = np.concatenate([t._data.reshape(-1) for t in group]) if group else None
        wire = flat.view(np.uint8) if dtype == np.bool_ else flat
        pg.wait(
            pg.comm.Ibcast(wire, root=0), f"{op} (broadcast from rank 0)", keep=wire
        )
        if pg.rank() == 0:
            continue
        offset = 0
        for t in group:
            n = t._data.size
            np.copyto(t._data, flat[offset : offset + n].reshape(t._data.shape))
            offset += n
