"""Recording one call of a compiled function: the ops it ran, in order.

While a call is recorded, ``Op.apply`` is replaced by a version that runs the
op as usual and then writes down its class, its options and where each input
came from:

- ``("arg", i)``: the i-th tensor argument of the call;
- ``("slot", s, k)``: output k of recorded op s;
- ``("other", tensor)``: any other tensor (a parameter, a buffer, a constant
  the function made). Two recordings of the same guard key tell these apart
  (``compare``): the same object both times is a tensor kept outside the
  function, read afresh at every replay; equal values are a constant; anything
  else was computed from the data outside the graph and cannot be replayed.

What a replay could not repeat marks the recording as not capturable, with a
reason the user can read (``problem``): Python that reads tensor values
(``item``, ``bool``, printing: data-dependent control flow, or a value baked
into the recording), a custom
``autograd.Function``, an op computed outside ``Op.apply`` (comparisons), an
in-place change of a tensor, anomaly mode, or hooks.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..autograd.anomaly_mode import _anomaly
from ..autograd.function import Function
from ..autograd.node import Op, plain_observers
from ..nn.module import Module
from ..random import default_generator
from ..tensor import Tensor
from .checks import unchecked

_ORIGINAL_APPLY = Op.__dict__["apply"]
_ORIGINAL_FUNCTION_APPLY = Function.__dict__["apply"]
_ORIGINAL_CALL = Module.__call__
# Tensor methods that hand values to Python: a recorded function that calls
# one (outside an op) decides something from the data, which a replay that
# runs no Python cannot repeat.
_READS = (
    "item",
    "tolist",
    "numpy",
    "__bool__",
    "__float__",
    "__int__",
    "__index__",
    "__array__",
    "__repr__",
    "__format__",
    "equal",
    "allclose",
)
_active: list = []
_lock = threading.RLock()


class Step:
    """One recorded op: what ran and where its inputs came from."""

    __slots__ = ("cls", "inputs", "tensors", "options", "n_out", "needs", "outputs")

    def __init__(
        self, cls: type, inputs: list, tensors: tuple, options: dict, outputs: tuple
    ) -> None:
        self.cls = cls
        self.inputs = inputs
        self.tensors = tensors
        self.options = options
        self.outputs = outputs  # the Tensors this call made (kept alive)
        self.n_out = len(outputs)
        grad_fn = outputs[0].grad_fn
        # which inputs the eager node wants a gradient for; None: not recorded
        self.needs = (
            tuple(n is not None for n in grad_fn._next)
            if grad_fn is not None and grad_fn.__class__ is cls
            else None
        )


class Recording:
    """The ops of one call, and the first reason (if any) it cannot be
    replayed."""

    def __init__(self, args: list) -> None:
        self.args = args
        self.arg_index = {id(t): i for i, t in enumerate(args)}
        self.arg_versions = [_version(t) for t in args]
        self.arrays = {id(t._data): ("arg", i) for i, t in enumerate(args)}
        self.steps: list[Step] = []
        self.produced: dict[int, tuple[int, int]] = {}
        self.seen: dict[int, tuple[Any, int]] = {}
        self.problem: str | None = None
        # every module called during the call: their training flags and
        # hooks become part of the guard
        self.modules: list = []
        # id(t.detach() or t.data) -> t, for tensors made that way here
        self.aliases: dict = {}
        self.keep: list = []
        self.depth = 0
        self.thread = threading.get_ident()

    def fail(self, reason: str) -> None:
        if self.problem is None:
            self.problem = reason

    def source(self, t: Any) -> tuple:
        """Where input tensor ``t`` came from (see the module docstring)."""
        key = id(t)
        if key in self.produced:
            return ("slot", *self.produced[key])
        if key in self.arg_index:
            return ("arg", self.arg_index[key])
        if not t._requires_grad:
            array_source = self.arrays.get(id(t._data))
            if array_source is not None:
                # another tensor on the same array (x.detach()): read it
                return array_source
            owner = self.aliases.get(key)
            if owner is not None:
                # p.detach() or p.data of a tensor kept outside: read p's
                # array afresh at every replay
                return self.source(owner)
        if key not in self.seen:
            self.seen[key] = (t, _version(t))
        return ("other", t)

    def record(self, cls: type, inputs: tuple, options: dict, out: Any) -> None:
        outputs = out if type(out) is tuple else (out,)
        if not all(type(o) is Tensor for o in outputs):
            self.fail(f"{cls.__name__} returned something other than tensors")
            return
        sources = [self.source(t) for t in inputs]
        kept = {}
        for name, value in options.items():
            if isinstance(value, (tuple, list)) and any(
                isinstance(v, np.ndarray) for v in value
            ):
                self.fail(f"{cls.__name__} gets index arrays (x[i] with a tensor i)")
                return
            if isinstance(value, np.ndarray):
                # an argument's or an earlier result's array is read afresh;
                # any other was computed outside the graph
                source = self.arrays.get(id(value))
                if source is None:
                    self.fail(
                        f"{cls.__name__} gets an array computed outside the graph "
                        f"(option {name!r})"
                    )
                    return
                value = ("array", *source)
            kept[name] = value
        if unchecked(cls, [t._data.dtype for t in inputs]):
            self.fail(
                f"{cls.__name__}'s function checks its arguments' values "
                "before the op, which a replay would skip"
            )
            return
        index = len(self.steps)
        step = Step(cls, sources, inputs, kept, outputs)
        self.steps.append(step)
        for k, t in enumerate(outputs):
            self.produced[id(t)] = (index, k)
            self.arrays[id(t._data)] = ("slot", index, k)
            self.seen[id(t)] = (t, _version(t))

    def compact(self) -> None:
        """Drop what only the recording itself needed (every tensor the call
        made), keeping what ``compare`` reads: a first recording waits for its
        twin without holding the call's activations."""
        for step in self.steps:
            step.outputs = step.tensors = None
        self.args = []
        self.seen, self.arrays, self.produced = {}, {}, {}
        self.aliases, self.keep = {}, []

    def finish(self) -> None:
        """Check, after the call, that no tensor was changed in place."""
        for t, before in zip(self.args, self.arg_versions):
            if _version(t) != before:
                self.fail("the function changed an argument in place")
        for t, before in self.seen.values():
            if _version(t) != before:
                self.fail("the function changed a tensor in place")
        if _anomaly.enabled:
            self.fail("anomaly detection is on")
        for step in self.steps:
            node = step.outputs[0].grad_fn
            if node is not None and (node._pre_hooks or node._post_hooks):
                self.fail("a hook was registered on a tensor inside the function")
            for t in step.outputs:
                if t._retains_grad:
                    self.fail("retain_grad() was called inside the function")


def _version(t: Any) -> int:
    counter = t._vc
    return 0 if counter is None else counter[0]


def _recording_apply(cls: type, *inputs: Any, **options: Any) -> Any:
    recording = _active[-1] if _active else None
    if recording is None or recording.depth or recording.thread != _thread():
        return _ORIGINAL_APPLY.__func__(cls, *inputs, **options)
    recording.depth += 1
    try:
        out = _ORIGINAL_APPLY.__func__(cls, *inputs, **options)
    finally:
        recording.depth -= 1
    recording.record(cls, inputs, options, out)
    return out


def _recording_function_apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    recording = _active[-1] if _active else None
    if recording is None or recording.thread != _thread():
        return _ORIGINAL_FUNCTION_APPLY.__func__(cls, *args, **kwargs)
    if not recording.depth:
        recording.fail(f"it calls the custom autograd.Function {cls.__name__}")
    recording.depth += 1
    try:
        return _ORIGINAL_FUNCTION_APPLY.__func__(cls, *args, **kwargs)
    finally:
        recording.depth -= 1


def _observe(kind: str, inputs: tuple, options: dict, out: Any) -> None:
    recording = _active[-1] if _active else None
    if recording is not None and not recording.depth:
        recording.fail(f"it computes {kind!r}, an op outside the graph")


def _reader(name: str, original: Any) -> Any:
    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        recording = _active[-1] if _active else None
        if recording is not None and not recording.depth:
            recording.fail(
                f"it reads a tensor's values in Python (Tensor.{name}): "
                "data-dependent control flow"
            )
        return original(self, *args, **kwargs)

    return read


def _recording_call(self: Any, *args: Any, **kwargs: Any) -> Any:
    recording = _active[-1] if _active else None
    if recording is not None and recording.thread == _thread():
        if not any(self is m for m in recording.modules):
            recording.modules.append(self)
    return _ORIGINAL_CALL(self, *args, **kwargs)


# Functions that make a tensor from Python values: the first recording's
# values would be baked into the replay (torch.tensor(self.temperature)).
_MAKERS = (
    "tensor",
    "as_tensor",
    "from_numpy",
    "full",
    "full_like",
    "arange",
    "linspace",
    "logspace",
    # Python bools from tensor values: data-dependent control flow
    "equal",
    "allclose",
)


def _maker(name: str, original: Any) -> Any:
    def make(*args: Any, **kwargs: Any) -> Any:
        recording = _active[-1] if _active else None
        if recording is not None and not recording.depth:
            recording.fail(
                f"it makes a tensor from Python values (torch.{name}), whose "
                "first values a replay would keep"
            )
        return original(*args, **kwargs)

    return make


def _aliasing(getter: Any) -> Any:
    """``t.detach()`` / ``t.data`` that remember which tensor they alias."""

    def alias(self: Any) -> Any:
        result = getter(self)
        recording = _active[-1] if _active else None
        if recording is not None and recording.thread == _thread():
            recording.aliases[id(result)] = self
            recording.keep.append(result)  # its id stays its own
        return result

    return alias


def fail_active(reason: str) -> None:
    """Mark the recording under way in this thread (if any) unreplayable."""
    recording = _active[-1] if _active else None
    if recording is not None and recording.thread == _thread():
        recording.fail(reason)


def _thread() -> int:
    return threading.get_ident()


def recording_active() -> bool:
    """Is a call being recorded in this thread? (A compiled function called
    inside it runs eagerly, so that the recording sees its ops.)"""
    return bool(_active) and _active[-1].thread == threading.get_ident()


def record_call(fn: Any, args: tuple, kwargs: dict, tensors: list) -> tuple:
    """Run ``fn(*args, **kwargs)`` eagerly while recording its ops; return
    ``(result, recording)``. ``tensors`` are the call's tensor arguments."""
    recording = Recording(tensors)
    originals = {name: Tensor.__dict__[name] for name in _READS}
    before = default_generator._np.bit_generator.state
    import plaingrad

    makers = {n: getattr(plaingrad, n) for n in _MAKERS if hasattr(plaingrad, n)}
    detach, data = Tensor.__dict__["detach"], Tensor.__dict__["data"]
    with _lock:
        _active.append(recording)
        Op.apply = classmethod(_recording_apply)  # type: ignore[method-assign]
        Function.apply = classmethod(_recording_function_apply)  # type: ignore
        plain_observers.append(_observe)
        Module.__call__ = _recording_call  # type: ignore[method-assign]
        for name, maker in makers.items():
            setattr(plaingrad, name, _maker(name, maker))
        Tensor.detach = _aliasing(detach)  # type: ignore[method-assign]
        Tensor.data = property(_aliasing(data.fget), data.fset)  # type: ignore
        for name, method in originals.items():
            setattr(Tensor, name, _reader(name, method))
        try:
            result = fn(*args, **kwargs)
        finally:
            for name, method in originals.items():
                setattr(Tensor, name, method)
            Module.__call__ = _ORIGINAL_CALL  # type: ignore[method-assign]
            Tensor.detach = detach  # type: ignore[method-assign]
            Tensor.data = data  # type: ignore[method-assign]
            for name, maker in makers.items():
                setattr(plaingrad, name, maker)
            plain_observers.remove(_observe)
            Function.apply = _ORIGINAL_FUNCTION_APPLY  # type: ignore
            Op.apply = _ORIGINAL_APPLY  # type: ignore[method-assign]
            _active.pop()
    recording.finish()
    # (read again: manual_seed inside the function makes a new stream)
    if default_generator._np.bit_generator.state != before:
        recording.fail(
            "it draws random numbers (torch.randn, dropout...), which a replay "
            "would not draw"
        )
    return result, recording


# ----------------------------------------------------- two recordings agree?


def compare(first: Recording, second: Recording) -> str | None:
    """Why two recordings of one guard key differ (None: they agree), and so
    why the function cannot be replayed. Resolves each ``other`` input of
    ``second`` to ``("ext", tensor)`` or ``("const", array)`` in place."""
    if len(first.steps) != len(second.steps):
        return (
            f"it ran {len(first.steps)} ops in one call and {len(second.steps)} "
            "in the next: data-dependent control flow"
        )
    for index, (a, b) in enumerate(zip(first.steps, second.steps)):
        where = f"op {index} ({b.cls.__name__})"
        if a.cls is not b.cls or a.n_out != b.n_out:
            return f"{where} differs between two calls: data-dependent control flow"
        if a.needs != b.needs:
            return f"which inputs of {where} need a gradient changed between two calls"
        if not _same_options(a.options, b.options):
            return f"{where} got other options in two calls"
        for j, (sa, sb) in enumerate(zip(a.inputs, b.inputs)):
            if sa[0] != sb[0]:
                return f"input {j} of {where} came from elsewhere in two calls"
            if sb[0] != "other":
                if sa != sb:
                    return f"input {j} of {where} came from elsewhere in two calls"
                continue
            ta, tb = sa[1], sb[1]
            if ta is tb:
                b.inputs[j] = ("ext", tb)
            elif (
                tb._data.size == 1
                and tb._data.base is None
                and not tb._requires_grad
                and _equal(ta._data, tb._data)
            ):
                # a number the function wrapped (x * 2.0): the same each call
                b.inputs[j] = ("const", tb._data.copy())
            else:
                return (
                    f"input {j} of {where} is a tensor the function makes anew "
                    "at each call (from torch.zeros, torch.randn, torch.tensor, or "
                    "values computed outside the graph)"
                )
    return None


def _same_options(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key, value in b.items():
        other = a[key]
        try:
            if type(value) is not type(other) or bool(value != other):
                return False
        except Exception:
            return False
    return True


def _equal(a: Any, b: Any) -> bool:
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    )
