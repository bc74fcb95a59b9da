"""Tracing: run the model once and record every op it applies.

While a trace is open, ``Op.apply`` is replaced by a wrapper that runs the op as
usual and appends a ``Call`` to the trace; closing the trace puts the original
back, so nothing is paid outside an export. Each tensor the model makes from its
inputs gets a value number; a tensor an op reads that the trace has not seen is
a constant (a parameter, a buffer, or a tensor made inside ``forward``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import enable_grad
from ..autograd.node import Op, plain_observers
from ..tensor import Tensor
from .errors import OnnxExporterError, UnsupportedOperatorError


@dataclass
class Value:
    """A traced tensor: value number ``vid`` (its shape and dtype in ``meta``)."""

    vid: int


@dataclass
class Const:
    """A tensor the trace did not make: its array, and its state_dict name
    when it is one of the model's parameters or buffers."""

    array: Any
    name: str | None = None


@dataclass
class Call:
    """One op applied during the trace."""

    op: Any  # the Op subclass
    inputs: list  # Value or Const, one per tensor input
    options: dict  # the op's keyword options; traced arrays become Values
    outputs: list[int]  # value numbers of the results
    # filled in by ``compare_traces``: option -> shape per trace (dynamic axes)
    varying: dict = field(default_factory=dict)
    # dynamic dim name -> the input shapes in the trace that doubled it
    in_shapes: dict = field(default_factory=dict)
    # input index -> dynamic dim -> shape there, for constants of one value
    # whose shape follows dynamic axes
    const_shapes: dict = field(default_factory=dict)
    # the module whose forward applied it, for messages: "`layer.norm1` (LayerNorm)"
    where: str = ""


class Trace:
    """The calls of one run of the model, and each value's shape and dtype."""

    def __init__(self, named: dict[int, str]) -> None:
        self.named = named  # id(tensor or array) -> state_dict name
        self.calls: list[Call] = []
        self.meta: dict[int, tuple[tuple, Any]] = {}  # vid -> (shape, dtype)
        self.inputs: list[int] = []
        self._tensors: dict[int, tuple[int, int, Tensor]] = {}  # id -> (vid, v, t)
        self._arrays: dict[int, Tensor] = {}  # id(array) -> the tensor holding it
        # in-place ops: vid of a tensor changed in place -> the newest value
        # computed from it (see ``record``), and the values the current call
        # read through a stand-in for their memory
        self._pending: dict[int, int] = {}
        self._aliased: list[int] = []
        self.modules: list[str] = []  # the forwards running now, outermost first

    def add_value(self, t: Tensor) -> int:
        vid = len(self.meta)
        self.meta[vid] = (tuple(t._data.shape), t._data.dtype)
        self._tensors[id(t)] = (vid, t._version, t)
        self._arrays[id(t._data)] = t
        return vid

    def lookup(self, t: Tensor, op: str) -> Value | Const:
        """The trace's name for tensor ``t``, read by op ``op``."""
        entry = self._tensors.get(id(t))
        if entry is not None and entry[2] is t:
            return Value(self._current(t, op))
        vid = self._array_value(t._data, op, alias=True)
        if vid is not None:
            return Value(vid)
        name = self.named.get(id(t)) or self.named.get(id(t._data))
        return Const(np.array(t._data, copy=True), name)

    def _current(self, t: Tensor, op: str) -> int:
        """The vid of traced tensor ``t``'s present value."""
        vid, version, _ = self._tensors[id(t)]
        if t._version == version:
            return vid
        newest = self._pending.pop(vid, None)
        if newest is not None and self.meta[newest][0] == tuple(t._data.shape):
            # changed in place from the values recorded since
            self._tensors[id(t)] = (newest, t._version, t)
            return newest
        raise OnnxExporterError(
            f"onnx.export: `{op}` reads a tensor that was changed in place "
            "other than by an in-place op on the whole tensor (a write into a "
            "slice or a view of it); this is not exported: use out-of-place ops"
        )

    def _array_value(self, array: Any, op: str, alias: bool = False) -> int | None:
        """The traced value whose memory ``array`` is (a detached tensor), or,
        with ``alias``, views whole (the stand-in of an in-place op)."""
        owner = self._arrays.get(id(array))
        if owner is not None and owner._data is array:
            return self._current(owner, op)
        base = getattr(array, "base", None)
        if alias and base is not None:
            owner = self._arrays.get(id(base))
            if owner is not None and owner._data is base and _whole(array, base):
                vid = self._current(owner, op)
                self._aliased.append(vid)
                return vid
        return None

    def option(self, value: Any) -> Any:
        """An option as recorded: an array of a traced value (embedding's
        indices) becomes its Value."""
        if isinstance(value, np.ndarray):
            vid = self._array_value(value, "an option")
            if vid is not None:
                return Value(vid)
        return value

    def record(self, cls: type, inputs: tuple, options: dict, out: Any) -> None:
        op = cls.__name__
        self._aliased.clear()
        refs = [self.lookup(t, op) for t in inputs]
        opts = {k: self.option(v) for k, v in options.items()}
        if not any(isinstance(r, Value) or r.name for r in refs) and not any(
            isinstance(v, Value) for v in opts.values()
        ):
            # made from tensors made inside forward (a causal mask): its results
            # are constants too, looked up as such when read
            return
        results = out if type(out) is tuple else (out,)
        vids = [self.add_value(r) for r in results]
        # an in-place op computes the new value from a stand-in, then copies
        # it into the tensor: follow the chain of ops from the stand-in
        for vid in self._aliased:
            self._pending[vid] = vids[0]
        read = {r.vid for r in refs if isinstance(r, Value)}
        for vid, newest in list(self._pending.items()):
            if newest in read:
                self._pending[vid] = vids[0]
        shapes = [tuple(t._data.shape) for t in inputs]
        where = self.modules[-1] if self.modules else ""
        call = Call(cls, refs, opts, vids, in_shapes={None: shapes}, where=where)
        self.calls.append(call)


def _whole(view: Any, base: Any) -> bool:
    """``view`` is all of ``base``'s memory, laid out the same way."""
    return (
        view.shape == base.shape
        and view.strides == base.strides
        and view.ctypes.data == base.ctypes.data
    )


# the open trace and the thread running the model (other threads' ops are
# not the model's)
_active: list[Trace] = []
_owner: list[int] = [0]


def _recording_apply(cls: type, *inputs: Any, **options: Any) -> Any:
    out = _ORIGINAL_APPLY.__func__(cls, *inputs, **options)
    if _active and threading.get_ident() == _owner[0]:
        trace = _active[-1]
        _active.clear()  # ops run by the recording itself are not the model's
        try:
            trace.record(cls, inputs, options, out)
        finally:
            _active.append(trace)
    return out


class PlainOp:
    """The stand-in ``Op`` class of an op computed without ``Op.apply`` (a
    comparison, a logical op, argmax): these report through
    ``autograd.node.observed``."""

    _name = "none"


_PLAIN: dict[str, type] = {}


def plain_op(kind: str) -> type:
    """The stand-in class for plain op ``kind`` (``gt``, ``argmax``...)."""
    cls = _PLAIN.get(kind)
    if cls is None:
        cls = _PLAIN[kind] = type(kind, (PlainOp,), {})
    return cls


def _observe(kind: str, inputs: tuple, options: dict, out: Any) -> None:
    if _active and threading.get_ident() == _owner[0]:
        trace = _active[-1]
        _active.clear()
        try:
            trace.record(plain_op(kind), inputs, options, out)
        finally:
            _active.append(trace)


def _refuse_function(cls: type, *args: Any, **kwargs: Any) -> Any:
    if threading.get_ident() != _owner[0]:
        return _ORIGINAL_FUNCTION_APPLY.__func__(cls, *args, **kwargs)
    raise UnsupportedOperatorError(
        f"onnx.export: the custom autograd.Function `{cls.__name__}` cannot be "
        "exported (ONNX has no equivalent of its Python forward)"
    )


_ORIGINAL_APPLY = Op.__dict__["apply"]
_ORIGINAL_FUNCTION_APPLY = Function.__dict__["apply"]


def _set_apply(op_apply: Any, function_apply: Any) -> None:
    Op.apply = op_apply  # type: ignore[method-assign]
    Function.apply = function_apply  # type: ignore[method-assign]


def run_traced(model: Any, args: tuple, named: dict[int, str]) -> tuple[Trace, Any]:
    """Run ``model(*args)`` with the recorder in place; return the trace and
    the model's output."""
    trace = Trace(named)
    with enable_grad():
        # float inputs that require grad (copies, so not leaves): every op
        # then records, and in-place ops go through ops the trace sees, even
        # in a model whose parameters are frozen
        args = tuple(
            a.detach().requires_grad_().clone() if a.is_floating_point() else a
            for a in args
        )
    trace.inputs = [trace.add_value(a) for a in args]
    handles = _follow_modules(model, trace.modules)
    _set_apply(classmethod(_recording_apply), classmethod(_refuse_function))
    plain_observers.append(_observe)
    _active.append(trace)
    _owner[0] = threading.get_ident()
    try:
        with enable_grad():
            out = model(*args)
    finally:
        _active.clear()
        plain_observers.remove(_observe)
        _set_apply(_ORIGINAL_APPLY, _ORIGINAL_FUNCTION_APPLY)
        for handle in handles:
            handle.remove()
    return trace, out


def _follow_modules(model: Any, stack: list[str]) -> list:
    """Forward hooks that keep ``stack`` naming the modules running now."""
    if not hasattr(model, "named_modules"):
        return []
    handles = []
    for name, module in model.named_modules():
        label = f"`{name}` ({type(module).__name__})" if name else type(module).__name__

        def enter(module: Any, inputs: Any, label: str = label) -> None:
            stack.append(label)

        def leave(module: Any, inputs: Any, output: Any) -> None:
            stack.pop()

        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))
    return handles


def output_refs(trace: Trace, out: Any) -> list[Value | Const]:
    """The trace's names for the model's output (a tensor or a tuple/list)."""
    results = out if isinstance(out, (tuple, list)) else (out,)
    refs = []
    for r in results:
        if not isinstance(r, Tensor):
            raise OnnxExporterError(
                "onnx.export: the model must return a Tensor or a tuple of "
                f"Tensors, got {type(r).__name__}"
            )
        refs.append(trace.lookup(r, "the model's output"))
    return refs


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
            return False
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, Value) or isinstance(b, Value):
        return isinstance(a, Value) and isinstance(b, Value) and a.vid == b.vid
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def _same_fill(a: Any, b: Any) -> bool:
    """Arrays of other shapes, both filled with one and the same value."""
    if a.dtype != b.dtype or a.ndim != b.ndim or a.size == 0 or b.size == 0:
        return False
    value = a.reshape(-1)[0]
    return bool(np.all(a == value) and np.all(b == value))


def _hidden(op: str, i: int) -> OnnxExporterError:
    return OnnxExporterError(
        f"onnx.export: input {i} of `{op}` changes with the model's input but "
        "was not made by an op the export can see (`.item()`, `float(x)`, "
        "`.numpy()`, `.tolist()` or a NumPy computation); such values "
        "cannot be exported"
    )


def _which(name: str | None) -> str:
    return f"`{name}`" if name else "a tensor made inside forward"


def compare_traces(base: Trace, other: Trace, dim: str | None) -> None:
    """Check that ``other`` (the model run on an input with other values, or,
    for ``dim``, a doubled dynamic axis) made the same graph as ``base``, and
    note in ``base``'s calls the options that follow the dynamic axis."""
    if len(other.calls) != len(base.calls) or any(
        a.op is not b.op for a, b in zip(base.calls, other.calls)
    ):
        raise OnnxExporterError(
            "onnx.export: the model ran different ops for an input of other "
            + ("values" if dim is None else f"size along dynamic axis `{dim}`")
            + " (control flow that depends on the input is not exported)"
        )
    for call, again in zip(base.calls, other.calls):
        op = call.op.__name__
        for i, (a, b) in enumerate(zip(call.inputs, again.inputs)):
            if isinstance(a, Value) != isinstance(b, Value):
                raise _hidden(op, i)
            if isinstance(a, Value):
                if a.vid != b.vid:
                    raise OnnxExporterError(
                        f"onnx.export: `{op}` read other values for an input of "
                        "other values (control flow that depends on the input is "
                        "not exported)"
                    )
            elif a.name is not None or b.name is not None:
                if a.name != b.name:
                    raise OnnxExporterError(
                        f"onnx.export: input {i} of `{op}` is {_which(a.name)} "
                        f"on the example input but {_which(b.name)} on an input "
                        "of other "
                        + ("values" if dim is None else f"size along `{dim}`")
                        + " (Python control flow on the input, such as `if "
                        "x.shape[0] > 4` or `if x.sum() > 0`, is not exported)"
                    )
            elif not _same(a.array, b.array):
                if dim is not None and _same_fill(a.array, b.array):
                    call.const_shapes.setdefault(i, {})[dim] = b.array.shape
                    continue
                if dim is not None and a.array.shape != b.array.shape:
                    raise OnnxExporterError(
                        f"onnx.export: input {i} of `{op}` is a tensor made inside "
                        f"forward whose shape follows dynamic axis `{dim}`; it "
                        "can only be exported with a fixed size"
                    )
                raise _hidden(op, i)
        for key, value in call.options.items():
            if _same(value, again.options[key]):
                continue
            if dim is None:
                raise OnnxExporterError(
                    f"onnx.export: option `{key}` of `{op}` depends on the values "
                    "of the model's input; it cannot be exported"
                )
            call.varying.setdefault(key, {})[dim] = again.options[key]
        if dim is not None:
            call.in_shapes[dim] = again.in_shapes[None]
