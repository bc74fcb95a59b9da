"""Collectives on tensors: all_reduce, broadcast, all_gather, reduce_scatter.

Each works in place on the tensors' NumPy arrays through mpi4py's buffer
interface (no pickling). A tensor whose array is not C-contiguous (a
transpose, a strided slice) is copied to a contiguous buffer and the result
copied back. Every collective starts nonblocking; with ``async_op=True`` it
returns a ``Work`` whose ``wait()`` finishes it, otherwise it waits at once.
Waits poll the request under the group's timeout (see ``_group.py``).

Dtypes follow PyTorch's CPU backend: every integer, float and bool dtype;
on bool, SUM and MAX are a logical or, PRODUCT and MIN a logical and (bools
travel as bytes); ``ReduceOp.AVG`` divides the sum by the world size and, as
in PyTorch, raises on integer and bool tensors (the mean is a float that an
integer tensor cannot hold); BAND, BOR and BXOR take integers and bools only.
As in PyTorch, a collective does not bump the tensor's version counter.

Before the data moves, the ranks compare their calls in one small
all-gather: which collective, its op, the dtype, the element count and the
root. MPI cannot tell a mismatch (one rank all-reducing float32 while another
sends float64, or 4 values against 6) from a match; it returns different
garbage on each rank or waits forever. So every rank raises the same
RuntimeError instead, naming both calls (gloo, PyTorch's CPU backend, fails
on a size mismatch too). DistributedDataParallel's buckets skip the check:
the ranks' models were compared at construction.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable
from typing import Any

import numpy as np

from ._group import ProcessGroup, default_group


class RedOpType(enum.IntEnum):
    """The reduction of ``all_reduce`` and ``reduce_scatter``."""

    SUM = 0
    AVG = 1
    PRODUCT = 2
    MIN = 3
    MAX = 4
    BAND = 5
    BOR = 6
    BXOR = 7

    def __str__(self) -> str:
        return f"RedOpType.{self.name}"


class ReduceOp:
    """``ReduceOp.SUM``, ``AVG``, ``PRODUCT``, ``MIN``, ``MAX``, ``BAND``,
    ``BOR``, ``BXOR``, as in ``torch.distributed``."""

    RedOpType = RedOpType
    SUM = RedOpType.SUM
    AVG = RedOpType.AVG
    PRODUCT = RedOpType.PRODUCT
    MIN = RedOpType.MIN
    MAX = RedOpType.MAX
    BAND = RedOpType.BAND
    BOR = RedOpType.BOR
    BXOR = RedOpType.BXOR


# PyTorch's names of the scalar types, as its cast errors print them
_SCALAR_NAMES = {
    "b": "Char",
    "B": "Byte",
    "h": "Short",
    "i": "Int",
    "l": "Long",
    "q": "Long",
    "?": "Bool",
}
_BITWISE = (RedOpType.BAND, RedOpType.BOR, RedOpType.BXOR)
_OP_CODES = frozenset(int(op) for op in RedOpType)

# Every dtype a collective carries, numbered so that ranks can compare their
# dtypes in an integer all-gather (DistributedDataParallel's model check).
_DTYPES = [
    np.dtype(name)
    for name in (
        "bool uint8 int8 int16 int32 int64 float16 float32 float64 complex64 complex128"
    ).split()
]


_DTYPE_CODES = {dtype: code for code, dtype in enumerate(_DTYPES)}


def dtype_code(dtype: np.dtype) -> int:
    """A small integer naming ``dtype`` alike on every rank (-1: another)."""
    return _DTYPE_CODES.get(np.dtype(dtype), -1)


def dtype_name(code: int) -> str:
    """The NumPy name of the dtype ``dtype_code`` numbered ``code``."""
    return _DTYPES[code].name if 0 <= code < len(_DTYPES) else "unknown"


class Work:
    """A collective in flight (``async_op=True``); ``wait()`` finishes it."""

    def __init__(
        self,
        pg: ProcessGroup,
        op: str,
        request: Any,
        finish: Callable[[], None],
        tensors: list,
    ) -> None:
        self._pg = pg
        self._op = op
        self._request = request
        self._finish = finish
        self._tensors = tensors
        self._done = False

    def wait(self, timeout: Any = None) -> bool:
        """Block until the collective is done and its tensors hold the result
        (at most ``timeout``, a timedelta, else the group's timeout)."""
        if timeout is not None and not isinstance(timeout, datetime.timedelta):
            raise TypeError(
                f"Work.wait: `timeout` must be a datetime.timedelta, got "
                f"{type(timeout).__name__} {timeout!r}"
            )
        if not self._done:
            self._pg.wait(self._request, self._op, timeout)
            self._complete()
        return True

    def is_completed(self) -> bool:
        """True once the result is in the tensors (never blocks)."""
        if not self._done and self._request.Test():
            self._complete()
        return self._done

    def is_success(self) -> bool:
        return self._done

    def exception(self) -> None:
        return None

    def result(self) -> list:
        """The tensors the collective wrote (after ``wait()``)."""
        if not self._done:
            raise RuntimeError(
                "Work needs to be completed before calling result(). Should call "
                "wait() before result()."
            )
        return list(self._tensors)

    def _complete(self) -> None:
        self._done = True
        self._pg.done(self._request)
        self._finish()

    def __repr__(self) -> str:
        state = "completed" if self._done else "in flight"
        return f"Work({self._op}, {state})"


def all_reduce(
    tensor: Any, op: RedOpType = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Work | None:
    """Reduce ``tensor`` over all ranks, in place: afterwards every rank holds
    the sum (or ``op``) of everyone's values.

    Args:
        tensor: the input and the output.
        op: a ``ReduceOp``; AVG is the sum divided by the world size.
        group: None or ``group.WORLD`` (only the default group exists).
        async_op: return a ``Work`` to ``wait()`` on instead of waiting.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.distributed as dist
        >>> dist.init_process_group("mpi")  # doctest: +SKIP
        >>> t = torch.tensor([1.0, 2.0]) * (dist.get_rank() + 1)  # doctest: +SKIP
        >>> dist.all_reduce(t)  # doctest: +SKIP
        >>> t  # on each of 2 ranks  # doctest: +SKIP
        tensor([3., 6.])
    """
    pg = default_group(group, "all_reduce")
    with _own_checks(pg, "all_reduce"):
        _check_tensor(tensor, "tensor", "all_reduce")
        mpi_op = _mpi_op(pg, op, tensor._data.dtype, "all_reduce")
        _writable(tensor._data, "all_reduce", "tensor")
    _agree(pg, "all_reduce", tensor._data, op)
    buffer = _contiguous(tensor._data)
    request = pg.comm.Iallreduce(pg.mpi.IN_PLACE, _wire(buffer), mpi_op)

    def finish() -> None:
        if op == RedOpType.AVG:
            np.divide(buffer, pg.size(), out=buffer)
        if buffer is not tensor._data:
            np.copyto(tensor._data, buffer)

    return _start(pg, "all_reduce", request, finish, [tensor], async_op)


def broadcast(
    tensor: Any,
    src: int | None = None,
    group: Any = None,
    async_op: bool = False,
    group_src: int | None = None,
) -> Work | None:
    """Copy rank ``src``'s ``tensor`` into ``tensor`` on every rank.

    Args:
        tensor: the data on ``src``; overwritten on the other ranks.
        src: the rank that sends (``group_src`` is the same, in the group).
        group: None or ``group.WORLD``.
        async_op: return a ``Work`` to ``wait()`` on instead of waiting.
    """
    pg = default_group(group, "broadcast")
    with _own_checks(pg, "broadcast"):
        _check_tensor(tensor, "tensor", "broadcast")
        root = _check_rank(pg, src, group_src, "broadcast", "src")
        _writable(tensor._data, "broadcast", "tensor")
    _agree(pg, "broadcast", tensor._data, root=root)
    buffer = _contiguous(tensor._data)
    request = pg.comm.Ibcast(_wire(buffer), root=root)

    def finish() -> None:
        if buffer is not tensor._data:
            np.copyto(tensor._data, buffer)

    return _start(pg, "broadcast", request, finish, [tensor], async_op)


def all_gather(
    tensor_list: list, tensor: Any, group: Any = None, async_op: bool = False
) -> Work | None:
    """Gather every rank's ``tensor`` into ``tensor_list`` on every rank:
    ``tensor_list[r]`` gets rank r's values.

    Args:
        tensor_list: one tensor per rank, each of ``tensor``'s shape and dtype.
        tensor: this rank's contribution.
        group: None or ``group.WORLD``.
        async_op: return a ``Work`` to ``wait()`` on instead of waiting.
    """
    pg = default_group(group, "all_gather")
    with _own_checks(pg, "all_gather"):
        _check_tensor(tensor, "tensor", "all_gather")
        _check_list(pg, tensor_list, "tensor_list", tensor, "tensor", "all_gather")
        for i, out in enumerate(tensor_list):
            _writable(out._data, "all_gather", f"tensor_list[{i}]")
    _agree(pg, "all_gather", tensor._data)
    data = tensor._data
    send = np.ascontiguousarray(data)
    received = np.empty((pg.size(),) + data.shape, dtype=data.dtype)
    request = pg.comm.Iallgather(_wire(send), _wire(received))

    def finish() -> None:
        for out, values in zip(tensor_list, received):
            np.copyto(out._data, values)

    return _start(pg, "all_gather", request, finish, list(tensor_list), async_op)


def reduce_scatter(
    output: Any,
    input_list: list,
    op: RedOpType = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
) -> Work | None:
    """Reduce ``input_list[r]`` over all ranks into ``output`` on rank r.

    Args:
        output: this rank's share of the result.
        input_list: one tensor per rank, each of ``output``'s shape and dtype.
        op: a ``ReduceOp``.
        group: None or ``group.WORLD``.
        async_op: return a ``Work`` to ``wait()`` on instead of waiting.
    """
    pg = default_group(group, "reduce_scatter")
    with _own_checks(pg, "reduce_scatter"):
        _check_tensor(output, "output", "reduce_scatter")
        _check_list(pg, input_list, "input_list", output, "output", "reduce_scatter")
        mpi_op = _mpi_op(pg, op, output._data.dtype, "reduce_scatter")
        _writable(output._data, "reduce_scatter", "output")
    _agree(pg, "reduce_scatter", output._data, op)
    send = np.stack([t._data for t in input_list]) if input_list else None
    buffer = _contiguous(output._data)
    request = pg.comm.Ireduce_scatter_block(_wire(send), _wire(buffer), mpi_op)

    def finish() -> None:
        if op == RedOpType.AVG:
            np.divide(buffer, pg.size(), out=buffer)
        if buffer is not output._data:
            np.copyto(output._data, buffer)

    return _start(pg, "reduce_scatter", request, finish, [output], async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Any:
    """Wait until every rank has reached the barrier."""
    pg = default_group(group, "barrier")
    _agree(pg, "barrier", None)
    request = pg.comm.Ibarrier()
    return _start(pg, "barrier", request, lambda: None, [], async_op)


# ---------------------------------------------------------------- helpers


def _start(
    pg: ProcessGroup,
    op: str,
    request: Any,
    finish: Callable[[], None],
    tensors: list,
    async_op: bool,
) -> Work | None:
    work = Work(pg, op, request, finish, tensors)
    pg.track(op, request, work)  # the Work holds the buffers
    if async_op:
        return work
    work.wait()
    return None


def _contiguous(array: np.ndarray) -> np.ndarray:
    """``array`` itself when MPI can write into it (``_writable`` checked
    that it is writable), else a contiguous copy, copied back at the end."""
    if array.flags.c_contiguous:
        return array
    return np.ascontiguousarray(array)


def _writable(array: np.ndarray, op: str, argument: str) -> None:
    if not array.flags.writeable:
        raise RuntimeError(
            f"{op}: `{argument}` is read-only (an expand()ed or broadcast view, "
            "whose elements share memory), and the collective writes its result "
            f"into it; pass `{argument}.clone()` or `.contiguous()`"
        )


_COLLECTIVES = ("all_reduce", "broadcast", "all_gather", "reduce_scatter", "barrier")


class _own_checks:  # noqa: N801  (used as a function: with _own_checks(...))
    """This rank's checks of its own arguments, as a ``with`` block. One that
    fails is told to the other ranks in the call check before it is raised
    here, so that every rank raises (they would otherwise take this rank's
    next call for this one)."""

    __slots__ = ("pg", "name")

    def __init__(self, pg: ProcessGroup, name: str) -> None:
        self.pg = pg
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> bool:
        if kind is not None and issubclass(kind, Exception):
            _agree(self.pg, self.name, None, failed=True)
        return False  # the error goes on


def _agree(
    pg: ProcessGroup,
    name: str,
    array: np.ndarray | None,
    op: RedOpType | None = None,
    root: int = -1,
    failed: bool = False,
) -> None:
    """Raise on every rank unless every rank called the same collective with
    the same op, dtype, element count and root (see the module docstring);
    ``failed``: this rank's own checks failed, and it raises its own error."""
    if pg.size() == 1:
        return
    mine = np.array(
        (
            _COLLECTIVES.index(name),
            -1 if op is None else op,
            -1 if array is None else _DTYPE_CODES.get(array.dtype, -1),
            -1 if array is None else array.size,
            root,
            failed,
        ),
        dtype=np.int64,
    )
    everyone = np.empty((pg.size(), mine.size), dtype=np.int64)
    pg.wait(pg.comm.Iallgather(mine, everyone), name, keep=(mine, everyone))
    if failed or (everyone == mine).all():
        return
    strange = [r for r, row in enumerate(everyone) if not _is_call(row)]
    if strange:
        # Another rank's bytes, not a call: it is in a collective that this
        # check does not see, a DistributedDataParallel gradient bucket's
        raise RuntimeError(
            f"{name}: the ranks' calls do not match: rank {strange[0]} of "
            f"{pg.size()} is in another collective (a DistributedDataParallel "
            "gradient all-reduce, if one rank took more training steps than "
            "another); every rank must call the same collectives in the same "
            "order"
        )
    gave_up = np.flatnonzero(everyone[:, 5])
    if gave_up.size:
        other = int(gave_up[0])
        raise RuntimeError(
            f"{name}: rank {other} of {pg.size()} raised an error in its "
            f"{_COLLECTIVES[int(everyone[other, 0])]} call (its own output says "
            "which), so no data was exchanged"
        )
    differ = np.flatnonzero((everyone != everyone[0]).any(axis=1))
    if differ.size:
        first = int(differ[0])
        raise RuntimeError(
            f"{name}: the ranks' calls do not match: rank 0 called "
            f"{_describe(everyone[0])} but rank {first} called "
            f"{_describe(everyone[first])}; every rank must call the same "
            "collectives in the same order, with tensors of the same dtype and "
            "number of elements"
        )


def _is_call(row: np.ndarray) -> bool:
    """Whether a gathered row is a call's description (see ``_agree``)."""
    name, op, dtype, count, root, failed = (int(v) for v in row)
    return (
        0 <= name < len(_COLLECTIVES)
        and (op == -1 or op in _OP_CODES)
        and -1 <= dtype < len(_DTYPES)
        and count >= -1
        and root >= -1
        and failed in (0, 1)
    )


def _describe(row: np.ndarray) -> str:
    name, op, dtype, count, root = (int(v) for v in row[:5])
    parts = []
    if op >= 0:
        parts.append(f"op=ReduceOp.{RedOpType(op).name}")
    if dtype >= 0:
        parts.append(f"a {dtype_name(dtype)} tensor of {count} elements")
    if root >= 0:
        parts.append(f"src={root}")
    return f"{_COLLECTIVES[name]}({', '.join(parts)})"


def _wire(array: np.ndarray | None) -> Any:
    """The array as MPI sends it: bools as bytes (MPI reduces bytes, and a
    bool's byte is 0 or 1, so MAX is an or and MIN an and)."""
    if array is not None and array.dtype == np.bool_:
        return array.view(np.uint8)
    return array


def _mpi_op(pg: ProcessGroup, op: Any, dtype: np.dtype, name: str) -> Any:
    if not isinstance(op, RedOpType):
        raise TypeError(
            f"{name}: `op` must be a ReduceOp (ReduceOp.SUM, ReduceOp.AVG, ...), "
            f"got {type(op).__name__} {op!r}"
        )
    mpi = pg.mpi
    kind = dtype.kind
    if op == RedOpType.AVG and kind in "biu":
        raise RuntimeError(
            f"{name}: ReduceOp.AVG needs a floating-point tensor: result type "
            f"Float can't be cast to the desired output type "
            f"{_SCALAR_NAMES.get(dtype.char, dtype.name)}"
        )
    if op in _BITWISE and kind in "fc":
        raise RuntimeError(
            f"{name}: Cannot use ReduceOp.{op.name} with non-integral dtype "
            f"{_SCALAR_NAMES.get(dtype.char, dtype.name)}"
        )
    if kind == "b":
        if op == RedOpType.SUM:
            return mpi.MAX
        if op == RedOpType.PRODUCT:
            return mpi.MIN
    return {
        RedOpType.SUM: mpi.SUM,
        RedOpType.AVG: mpi.SUM,
        RedOpType.PRODUCT: mpi.PROD,
        RedOpType.MIN: mpi.MIN,
        RedOpType.MAX: mpi.MAX,
        RedOpType.BAND: mpi.BAND,
        RedOpType.BOR: mpi.BOR,
        RedOpType.BXOR: mpi.BXOR,
    }[op]


def _check_tensor(value: Any, argument: str, op: str) -> None:
    from ..tensor import Tensor

    if not isinstance(value, Tensor):
        raise TypeError(
            f"{op}: Invalid function argument. Expected parameter `{argument}` of "
            f"type plaingrad.Tensor but got {type(value)} instead."
        )


def _check_rank(
    pg: ProcessGroup, src: Any, group_src: Any, op: str, argument: str
) -> int:
    if src is not None and group_src is not None and src != group_src:
        raise ValueError(
            f"{op}: `{argument}` ({src}) and `group_{argument}` ({group_src}) "
            "disagree; give one of them"
        )
    root = src if src is not None else group_src
    if root is None:
        raise ValueError(f"{op}: Either {argument} or group_{argument} must be set")
    if not isinstance(root, int) or isinstance(root, bool):
        raise TypeError(
            f"{op}: `{argument}` must be an int rank, got {type(root).__name__}"
        )
    if not 0 <= root < pg.size():
        raise RuntimeError(
            f"{op}: invalid root rank: {root} (the world size is {pg.size()})"
        )
    return root


def _check_list(
    pg: ProcessGroup, tensors: Any, name: str, like: Any, like_name: str, op: str
) -> None:
    if not isinstance(tensors, (list, tuple)):
        raise TypeError(
            f"{op}: Invalid function argument: `{name}` should be a list of "
            f"tensors, got {type(tensors).__name__}"
        )
    if len(tensors) != pg.size():
        raise RuntimeError(
            f"{op}: invalid {name} (expected length {pg.size()}, the world size, "
            f"got {len(tensors)})"
        )
    shape, dtype = like._data.shape, like._data.dtype
    for i, t in enumerate(tensors):
        _check_tensor(t, f"{name}[{i}]", op)
        if t._data.dtype != dtype:
            raise ValueError(
                f"{op}: Invalid usage of tensors with different dtypes: "
                f"`{name}[{i}]` is {t.dtype} but `{like_name}` is {like.dtype}"
            )
        if t._data.shape != shape:
            raise RuntimeError(
                f"{op}: invalid tensor size at index {i} of `{name}` (expected "
                f"{list(shape)}, the shape of `{like_name}`, got {list(t._data.shape)})"
            )
