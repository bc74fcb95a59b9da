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

``mode="reduce-overhead"`` (PyTorch's name for CUDA graphs, whose outputs also
live in static memory) returns the outputs in the program's own arrays, which
the next call overwrites: ``.item()`` or ``.clone()`` what you keep. The
default copies an output that lives in such an array.
"""

from __future__ import annotations

import functools
from typing import Any

from ..autograd.grad_mode import _mode
from ..tensor import Tensor
from .program import Program
from .record import compare, record_call

__all__ = ["compile", "CompiledFunction", "OptimizedModule"]

_MODES = (
    None,
    "default",
    "reduce-overhead",
    "max-autotune",
    "max-autotune-no-cudagraphs",
)
# PyTorch recompiles a function for at most 8 guard keys, then runs it eagerly
CACHE_LIMIT = 8


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
        mode: None, "default", "reduce-overhead" (outputs in static arrays,
            see the module docstring), "max-autotune" or
            "max-autotune-no-cudagraphs".
        disable: return ``model`` unchanged.
    """
    if mode not in _MODES:
        raise RuntimeError(
            f"compile: Unknown mode={mode!r}; expected one of "
            f"{', '.join(repr(m) for m in _MODES[1:])} or None"
        )
    if not (isinstance(backend, str) or callable(backend)):
        raise TypeError(
            f"compile: `backend` must be a string or a callable, got "
            f"{type(backend).__name__}"
        )
    if options is not None and not isinstance(options, dict):
        raise TypeError(
            f"compile: `options` must be a dict, got {type(options).__name__}"
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

    static = mode == "reduce-overhead"
    if isinstance(model, Module):
        return OptimizedModule(model, fullgraph=fullgraph, static=static)
    if not callable(model):
        raise TypeError(
            f"compile: expected a Module or a callable, got {type(model).__name__}"
        )
    return CompiledFunction(model, fullgraph=fullgraph, static=static)


class CompiledFunction:
    """A function whose calls are recorded, then replayed (see the module
    docstring). ``explain()`` tells, per guard key, whether calls replay."""

    def __init__(
        self, fn: Any, *, fullgraph: bool = False, static: bool = False, modules=None
    ) -> None:
        self._fn = fn
        self._fullgraph = fullgraph
        self._static = static
        self._modules = modules if modules is not None else _modules_of(fn)
        # key -> Program, or a recording waiting for its twin, or a reason
        self._cache: dict = {}
        self.replays = 0
        self.eager_calls = 0
        # the name and docstring (not the __dict__: a module's is its state)
        functools.update_wrapper(self, fn, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key, tensors = self._key(args, kwargs)
        entry = self._cache.get(key) if key is not None else None
        if entry.__class__ is Program:
            if entry.guard_externals() and not (
                entry.node is not None and _pending(entry)
            ):
                lock = entry.lock
                if lock.acquire(blocking=False):  # busy in another thread: eager
                    try:
                        results = entry.run(tensors)
                    except Exception:
                        # bad values the eager call checks (a class index out
                        # of range): that call gives its own error, or the result
                        results = None
                    finally:
                        lock.release()
                    if results is not None:
                        self.replays += 1
                        return results[0] if entry.single else tuple(results)
                self.eager_calls += 1
                return self._fn(*args, **kwargs)
            entry = "the tensors it reads changed shape, dtype or requires_grad"
        return self._eager(key, entry, args, kwargs, tensors)

    def _eager(self, key: Any, entry: Any, args: tuple, kwargs: dict, tensors):
        self.eager_calls += 1
        if key is None:
            return self._refuse(_UNHASHABLE, args, kwargs)
        if isinstance(entry, str):
            return self._refuse(entry, args, kwargs)
        if entry is None and len(self._cache) >= CACHE_LIMIT:
            return self._refuse(
                f"more than {CACHE_LIMIT} guard keys (shapes, dtypes, flags)",
                args,
                kwargs,
            )
        result, recording = record_call(self._fn, args, kwargs, tensors)
        for module in recording.modules:
            if not any(module is m for m in self._modules):
                # a module the function reaches some other way (an attribute
                # of an object): guard its flags too, from the next key on
                self._modules.append(module)
                key = None
        problem = recording.problem
        outputs = None
        if problem is None:
            outputs, problem = _output_refs(result, recording)
        if key is None:
            return result  # the guard grew: the next call records afresh
        if problem is None and entry is not None:
            problem = compare(entry, recording)
            if problem is None:
                program = Program(recording, outputs, self._static)
                program.single = isinstance(result, Tensor)
                self._cache[key] = program
                return result
        if problem is not None:
            if self._fullgraph:
                raise RuntimeError(f"compile(fullgraph=True): cannot replay: {problem}")
            self._cache[key] = problem
            return result
        self._cache[key] = recording
        return result

    def _refuse(self, reason: str, args: tuple, kwargs: dict) -> Any:
        if self._fullgraph:
            raise RuntimeError(f"compile(fullgraph=True): cannot replay: {reason}")
        return self._fn(*args, **kwargs)

    def _key(self, args: tuple, kwargs: dict) -> tuple:
        """The guard key of a call, and its tensor arguments in order."""
        parts: list = [_mode.enabled]
        tensors: list = []
        for value in (*args, *kwargs.items()):
            if value.__class__ is tuple and len(value) == 2 and value[0] in kwargs:
                parts.append(value[0])
                value = value[1]
            if isinstance(value, Tensor):
                data = value._data
                # the same tensor twice (f(x, x)) is another program than two
                same = -1
                for i, t in enumerate(tensors):
                    if t is value:
                        same = i
                        break
                parts.append((data.shape, data.dtype.char, value._requires_grad, same))
                tensors.append(value)
            elif value is None or isinstance(value, (bool, int, float, str)):
                parts.append((type(value), value))
            else:
                return None, tensors
        for module in self._modules:
            if module._forward_pre_hooks or module._forward_hooks:
                return None, tensors
            if module._backward_hooks:
                return None, tensors
            parts.append(module.training)
        return tuple(parts), tensors

    def explain(self) -> list[str]:
        """One line per guard key: replayed, or why not."""
        lines = []
        for key, entry in self._cache.items():
            if entry.__class__ is Program:
                what = f"replayed ({entry.n} ops)"
            elif isinstance(entry, str):
                what = f"runs eagerly: {entry}"
            else:
                what = "recorded once; replays after a second recording agrees"
            lines.append(f"{_describe(key)}: {what}")
        return lines


_UNHASHABLE = "an argument is neither a tensor nor a number, string or None"


def _pending(program: Program) -> bool:
    """Has the previous replay's output still to go backward? (Then this call
    must not overwrite what that backward reads.)"""
    node = program.node
    return node._saved == (True,) and program.last_output_alive()


def _output_refs(result: Any, recording: Any) -> tuple:
    """Where each output comes from, or the reason it cannot be replayed."""
    outputs = result if isinstance(result, (tuple, list)) else (result,)
    if isinstance(result, list):
        return None, "it returns a list (return a tensor or a tuple of tensors)"
    refs = []
    for position, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            return None, f"output {position} is a {type(t).__name__}, not a tensor"
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


def _modules_of(fn: Any) -> list:
    """The modules a function can see: bound to it, in its closure, and in the
    globals it names, with their submodules (their training flags and hooks
    are part of the guard)."""
    from ..nn.module import Module

    found: list = []
    candidates = [getattr(fn, "__self__", None)]
    code = getattr(fn, "__code__", None)
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            candidates.append(cell.cell_contents)
        except ValueError:
            pass
    if code is not None:
        scope = getattr(fn, "__globals__", {})
        candidates.extend(scope.get(name) for name in code.co_names)
    for value in candidates:
        if isinstance(value, Module):
            for module in value.modules():
                if not any(module is m for m in found):
                    found.append(module)
    return found


def _describe(key: tuple) -> str:
    if key is None:
        return "(no key)"
    tensors = [f"{list(p[0])}" for p in key[1:] if isinstance(p, tuple) and len(p) == 4]
    return f"grad {'on' if key[0] else 'off'}, tensors {', '.join(tensors) or 'none'}"


from .module import OptimizedModule  # noqa: E402  (needs CompiledFunction)
