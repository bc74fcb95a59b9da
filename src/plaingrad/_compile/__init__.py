"""``plaingrad.compile``: record a function's ops once, then replay them.

``compile(model_or_fn)`` returns a callable that gives the same results as the
original. The first two calls with a given guard key (the shapes, dtypes and
grad flags of the tensor arguments, the other arguments' values, grad mode
and every submodule's ``training`` flag) run eagerly while their ops are
recorded (``record.py``). When the two recordings agree, later calls with that
key replay the ops (``program.py``): no graph nodes, no Python of the
function, and the kernels' arrays reused from call to call. A function whose
recording shows something a replay cannot repeat (Python reading tensor
values, a custom autograd.Function, an in-place change, hooks...), or a key
past the cache limit, keeps running eagerly; ``explain()`` says why.

As with ``torch.compile``, the function should compute its results from its
arguments and the tensors it reads (parameters, buffers). Python side effects
in it (printing, counting, appending to a list) happen in the recorded calls
only.

Every mode gives outputs of their own (an output that lives in a kernel's
array is copied), as PyTorch's modes do on the CPU, where
``mode="reduce-overhead"`` has no CUDA graphs to keep its outputs in.
"""

from __future__ import annotations

import copy
import functools
from typing import Any
from weakref import WeakSet
from weakref import ref as _weakref

from ..autograd.anomaly_mode import _anomaly
from ..nn.module import Module
from ..nn.module import structure_version as _structure
from ..tensor import Tensor
from .guard import Bindings, add_modules, call_key, describe, modules_of
from .program import Program
from .record import compare, record_call, recording_active

__all__ = ["compile", "CompiledFunction", "OptimizedModule", "reset", "disable"]

_MODES = (
    "default",
    "lite",
    "reduce-overhead",
    "max-autotune-no-cudagraphs",
    "max-autotune",
)
# PyTorch's registered backends (torch._dynamo.list_backends(exclude_tags=()))
_BACKENDS = {
    "inductor",
    "cudagraphs",
    "openxla",
    "openxla_eval",
    "tvm",
    "eager",
    "eager_debug",
    "eager_noexcept",
    "aot_eager",
    "aot_eager_decomp_partition",
    "aot_eager_default_partitioner",
    "aot_ts",
    "ts",
    "pre_dispatch_eager",
}
# PyTorch recompiles a function for at most 8 guard keys, then runs it eagerly
CACHE_LIMIT = 8
# every compiled function, for reset()
_ALL: WeakSet = WeakSet()


def reset() -> None:
    """Forget every recording and program (``torch.compiler.reset()``): each
    compiled function records afresh at its next call."""
    for compiled in list(_ALL):
        compiled._cache.clear()
        compiled._refused.clear()
        compiled._eager_after.clear()
        for _, bound in compiled._bound.values():
            bound._cache.clear()


def disable(fn: Any = None, recursive: bool = True, *, reason: str | None = None):
    """``torch.compiler.disable``: ``fn`` always runs eagerly, and a compiled
    function that calls it runs eagerly too (a replay would skip its Python)."""
    if fn is None:
        return functools.partial(disable, recursive=recursive, reason=reason)

    @functools.wraps(fn)
    def eager(*args: Any, **kwargs: Any) -> Any:
        from .record import fail_active

        fail_active(
            f"it calls {getattr(fn, '__name__', 'a function')}, "
            "which torch.compiler.disable keeps eager"
        )
        return fn(*args, **kwargs)

    return eager


def compile(
    model: Any = None,
    *,
    fullgraph: bool = False,
    dynamic: bool | None = None,
    backend: Any = "inductor",
    mode: str | None = None,
    options: dict | None = None,
    disable: bool = False,
) -> Any:
    """Record ``model`` (a Module or a function) once and replay it.

    Args:
        model: an ``nn.Module`` (a wrapping module is returned, whose
            ``_orig_mod`` is ``model``) or a function of tensors. Without it,
            a decorator is returned.
        fullgraph: raise (instead of running eagerly) when a call cannot be
            replayed.
        dynamic, backend, options: accepted as PyTorch accepts them; plaingrad
            has one way to compile.
        mode: None, "default", "reduce-overhead", "max-autotune" or
            "max-autotune-no-cudagraphs" (checked, and all alike here).
        disable: return ``model`` unchanged.
    """
    if mode is not None and mode not in _MODES:
        raise RuntimeError(
            f"Unrecognized mode={mode}, should be one of: {', '.join(_MODES)}"
        )
    if isinstance(backend, str):
        if backend not in _BACKENDS:
            raise RuntimeError(
                f"Invalid backend: {backend!r}, see "
                "`torch._dynamo.list_backends()` for available backends."
            )
    elif not callable(backend):
        raise TypeError(
            f"compile: `backend` must be a string or a callable, got "
            f"{type(backend).__name__}"
        )
    if options is not None and not isinstance(options, dict):
        raise TypeError(
            f"compile: `options` must be a dict, got {type(options).__name__}"
        )
    if mode is not None and options is not None:
        raise RuntimeError(
            "Either mode or options can be specified, but both can't be "
            "specified at the same time."
        )
    if model is None:
        return functools.partial(
            compile,
            fullgraph=fullgraph,
            dynamic=dynamic,
            backend=backend,
            mode=mode,
            options=options,
            disable=disable,
        )
    if disable:
        return model
    from ..nn.module import Module

    if isinstance(model, Module):
        return OptimizedModule(model, fullgraph=fullgraph)
    if not callable(model):
        raise TypeError(
            f"compile: expected a Module or a callable, got {type(model).__name__}"
        )
    return CompiledFunction(model, fullgraph=fullgraph)


class CompiledFunction:
    """A function whose calls are recorded, then replayed (see the module
    docstring). ``explain()`` tells, per guard key, whether calls replay."""

    def __init__(self, fn: Any, *, fullgraph: bool = False, modules=None) -> None:
        self._fn = fn
        self._fullgraph = fullgraph
        self._modules = modules if modules is not None else modules_of(fn)
        self._bindings = Bindings(fn)
        # key -> Program, or a recording waiting for its twin, or a reason
        self._cache: dict = {}
        self._bound: dict = {}  # per instance, when it decorates a method
        # calls that got no program at all (no key, past the cache limit):
        # reason -> count, for explain()
        self._refused: dict = {}
        # key -> calls run eagerly although it has a program (its last
        # replay's backward still to come, or the replay failed)
        self._eager_after: dict = {}
        _ALL.add(self)
        self.replays = 0
        self.eager_calls = 0
        # the name and docstring (not the __dict__: a module's is its state)
        functools.update_wrapper(self, fn, updated=())

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        """``@compile`` on a method: one compiled function per instance."""
        if instance is None:
            return self
        bound = self._bound.get(id(instance))
        if bound is None or bound[0]() is not instance:
            compiled = CompiledFunction(
                functools.partial(self._fn, instance),
                fullgraph=self._fullgraph,
                modules=modules_of(instance) if isinstance(instance, Module) else [],
            )
            bound = self._bound[id(instance)] = (_weakref(instance), compiled)
        return bound[1]

    def __deepcopy__(self, memo: dict) -> CompiledFunction:
        # a copy records afresh: the programs hold this one's tensors
        fn = copy.deepcopy(self._fn, memo)
        return CompiledFunction(fn, fullgraph=self._fullgraph)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_cache"], state["_bound"] = {}, {}
        state["_refused"], state["_eager_after"] = {}, {}
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        _ALL.add(self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if recording_active() or _anomaly.enabled:
            # inside another compiled function's recording its ops must be
            # seen; anomaly mode checks each op's node, which a replay has not
            return self._fn(*args, **kwargs)
        if self._cache and self._bindings.changed():
            self._cache.clear()  # a baked-in name was rebound: record afresh
            self._bindings.renew()
        key, tensors = call_key(args, kwargs, self._modules)
        entry = self._cache.get(key) if key is not None else None
        if entry.__class__ is Program:
            if not entry.still_valid():
                # what it reads changed (a parameter replaced, frozen,
                # resized): this key records afresh
                del self._cache[key]
                entry = None
            elif not entry.busy() and entry.lock.acquire(blocking=False):
                try:
                    results = entry.run(tensors)
                except Exception:
                    # bad values the eager call checks (a class index out of
                    # range): that call gives its own error, or the result
                    results = None
                finally:
                    entry.lock.release()
                if results is not None:
                    self.replays += 1
                    return results[0] if entry.single else tuple(results)
                self._count_eager(key, "failed")
                return self._fn(*args, **kwargs)
            else:
                # the last replay's backward is still to come, or another
                # thread is replaying: this call must not touch the arrays
                self._count_eager(key, "busy")
                return self._fn(*args, **kwargs)
        return self._eager(key, entry, args, kwargs, tensors)

    def _count_eager(self, key: Any, why: str) -> None:
        self.eager_calls += 1
        counts = self._eager_after.setdefault(key, {})
        counts[why] = counts.get(why, 0) + 1

    def _eager(self, key: Any, entry: Any, args: tuple, kwargs: dict, tensors):
        self.eager_calls += 1
        if key is None:
            return self._refuse(_UNKEYED, args, kwargs)
        if isinstance(entry, str):
            return self._refuse(entry, args, kwargs)
        if entry is None and len(self._cache) >= CACHE_LIMIT:
            return self._refuse(
                f"more than {CACHE_LIMIT} guard keys (shapes, dtypes, flags)",
                args,
                kwargs,
            )
        before = _structure[0]
        result, recording = record_call(self._fn, args, kwargs, tensors)
        grew = False
        for module in recording.modules:
            # a module the function reaches some other way (an attribute of
            # an object): its flags join the guard, from the next key on
            grew = add_modules(self._modules, module) or grew
        if grew:
            return result  # the next call records afresh
        if _structure[0] != before:
            recording.fail("it sets module attributes while it runs")
        problem = recording.problem
        outputs = None
        if problem is None:
            outputs, problem = _output_refs(result, recording)
        if problem is None and entry is not None:
            problem = compare(entry, recording)
            if problem is None:
                program = Program(recording, outputs)
                program.single = isinstance(result, Tensor)
                program.structure = before
                self._cache[key] = program
                return result
        if problem is not None:
            if self._fullgraph:
                raise RuntimeError(f"compile(fullgraph=True): cannot replay: {problem}")
            self._cache[key] = problem
            return result
        recording.compact()
        self._cache[key] = recording
        return result

    def _refuse(self, reason: str, args: tuple, kwargs: dict) -> Any:
        if reason is _UNKEYED or reason.startswith(f"more than {CACHE_LIMIT} guard"):
            self._refused[reason] = self._refused.get(reason, 0) + 1
        if self._fullgraph:
            raise RuntimeError(f"compile(fullgraph=True): cannot replay: {reason}")
        return self._fn(*args, **kwargs)

    def explain(self) -> list[str]:
        """One line per guard key: replayed, or why not."""
        lines = []
        for key, entry in self._cache.items():
            if entry.__class__ is Program:
                what = f"replayed ({entry.n} ops)"
                counts = self._eager_after.get(key, {})
                if counts.get("busy"):
                    what += (
                        f"; {counts['busy']} calls ran eagerly: the output of "
                        "the replay before was kept without going backward "
                        "(use no_grad to evaluate)"
                    )
                if counts.get("failed"):
                    what += f"; {counts['failed']} replays failed and ran eagerly"
            elif isinstance(entry, str):
                what = f"runs eagerly: {entry}"
            else:
                what = "recorded once; replays after a second recording agrees"
            lines.append(f"{describe(key)}: {what}")
        for reason, count in self._refused.items():
            calls = "call" if count == 1 else "calls"
            lines.append(f"{count} {calls} with no program: runs eagerly: {reason}")
        return lines


_UNKEYED = (
    "an argument is neither a tensor nor a number, string or None, or a "
    "module it calls has hooks"
)


def _output_refs(result: Any, recording: Any) -> tuple:
    """Where each output comes from, or the reason it cannot be replayed."""
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    if isinstance(result, list):
        return None, "it returns a list (return a tensor or a tuple of tensors)"
    if isinstance(result, tuple) and type(result) is not tuple:
        return None, f"it returns a {type(result).__name__} (return a plain tuple)"
    refs = []
    for position, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            return None, f"output {position} is a {type(t).__name__}, not a tensor"
        if any(t is u for u in outputs[:position]):
            return None, f"output {position} is also an earlier output"
        if t._base is not None:
            return None, f"output {position} is a view of another tensor"
        key = id(t)
        if key in recording.produced:
            s, k = recording.produced[key]
            refs.append(("slot", s, k))
            if position and t._requires_grad:
                return None, "more than one output needs a gradient"
        elif key in recording.arg_index:
            refs.append(("arg", recording.arg_index[key]))
            if t._requires_grad:
                return None, "it returns an argument that needs a gradient"
        else:
            return None, f"output {position} is not made by the function's ops"
    return refs, None


from .module import OptimizedModule  # noqa: E402  (needs CompiledFunction)
