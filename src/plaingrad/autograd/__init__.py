"""Reverse-mode automatic differentiation.

Ops record a graph of ``Node`` objects as they run (``node.py``); ``backward`` and
``grad`` hand the outputs' gradients to the engine (``engine.py``), which walks
that graph once in reverse topological order. Grad modes (``grad_mode.py``)
switch recording off. ``gradcheck`` compares the engine with central finite
differences; ``gradgradcheck`` does the same for second derivatives, which
``create_graph=True`` makes possible (the engine's Tensor-level walk).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..backend import xp
from . import function, functional
from .anomaly_mode import (
    detect_anomaly,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    set_detect_anomaly,
)
from .engine import accumulate_graph, run_backward, run_backward_graph
from .function import Function, FunctionCtx
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck, gradgradcheck
from .node import Node, run_post_accumulate_hooks

__all__ = [
    "detect_anomaly",
    "is_anomaly_check_nan_enabled",
    "is_anomaly_enabled",
    "set_detect_anomaly",
    "Function",
    "FunctionCtx",
    "backward",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "inference_mode",
    "is_grad_enabled",
    "Node",
]


def _as_list(x: Any) -> list:
    if x is None:
        return []
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def _roots(
    outputs: Sequence[Any], grad_outputs: Sequence[Any], op: str, graph: bool = False
) -> tuple[list, list]:
    """The graph node of each output and its gradient: an array, or with
    ``graph`` (create_graph) a Tensor, which may itself require grad."""
    from ..tensor import Tensor, _wrap

    if grad_outputs and len(grad_outputs) != len(outputs):
        raise RuntimeError(
            f"{op}: got {len(grad_outputs)} gradients for {len(outputs)} outputs"
        )
    roots, grads = [], []
    for i, out in enumerate(outputs):
        if not isinstance(out, Tensor):
            raise TypeError(
                f"{op}: expected Tensors as outputs, got {type(out).__name__}"
            )
        node = out._edge()
        if node is None:
            raise RuntimeError(
                f"element {i} of tensors does not require grad and does not "
                "have a grad_fn"
            )
        g = grad_outputs[i] if grad_outputs else None
        if g is None:
            if out._data.size != 1:
                keyword = "grad_outputs" if op == "autograd.grad" else "gradient"
                raise RuntimeError(
                    "grad can be implicitly created only for scalar outputs "
                    f"(output {i} has shape {tuple(out.shape)}; pass "
                    f"`{keyword}=` with that shape)"
                )
            array = out._data.__class__(out._data.shape, out._data.dtype)
            array.fill(1)
        else:
            array = g._data if isinstance(g, Tensor) else g
            if tuple(array.shape) != tuple(out._data.shape):
                raise RuntimeError(
                    f"{op}: Mismatch in shape: grad_output[{i}] has a shape of "
                    f"{tuple(array.shape)} and output[{i}] has a shape of "
                    f"{tuple(out._data.shape)}."
                )
        roots.append(node)
        if graph:
            grads.append(g if isinstance(g, Tensor) else _wrap(array, None))
        else:
            grads.append(array)
    return roots, grads


def backward(
    tensors: Any,
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Accumulate into leaves' ``.grad`` the gradient of ``tensors``.

    Args:
        tensors: the output tensor(s) to differentiate.
        grad_tensors: d(loss)/d(output) for each output; None for scalars.
        retain_graph: keep saved values so the graph can be walked again
            (defaults to ``create_graph``).
        create_graph: record the backward pass itself, so that the gradients
            (``.grad`` gets a ``grad_fn``) can be differentiated again.
        inputs: if given, only these leaves receive gradients.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor(2.0, requires_grad=True)
        >>> (x**3).backward(create_graph=True)
        >>> x.grad  # 3 x^2
        tensor(12., grad_fn=<CloneBackward0>)
        >>> torch.autograd.grad(x.grad, x)  # 6 x
        (tensor(12.),)
    """
    outputs = _as_list(tensors)
    if not backward_observers:
        _backward(outputs, grad_tensors, retain_graph, create_graph, inputs)
        return
    wanted = None if inputs is None else _as_list(inputs)
    finishers = [observe(outputs, wanted) for observe in list(backward_observers)]
    try:
        _backward(outputs, grad_tensors, retain_graph, create_graph, inputs)
    finally:
        for finish in finishers:
            if finish is not None:
                finish()


def backward_scalar(output: Any, retain_graph: bool | None) -> bool:
    """``output.backward()`` for the common call (a one-element output, no
    ``gradient``, ``inputs`` or ``create_graph``, no observers), without the
    general path's argument handling; False (nothing done) for any other call,
    which ``backward`` then handles, errors included."""
    if backward_observers:
        return False
    data = output._data
    node = output.grad_fn
    if node is None or data.size != 1 or output._base is not None:
        return False
    dtype = data.dtype
    one = _ONES.get(dtype)
    if one is None:
        one = _ONES[dtype] = xp.ones((), dtype)
    # a copy: a rule or hook may keep or change the array it is given
    ones = one.copy() if data.ndim == 0 else one.reshape(data.shape).copy()
    run_backward([node], [ones], bool(retain_graph))
    return True


# A 0-d one per dtype: a copy of it is the cheapest new "ones" (a quarter of
# an empty array and a fill).
_ONES: dict = {}


# Callables told of every ``backward`` call (``explain.narrate`` watches the
# engine this way): each gets the output tensors and the ``inputs=`` tensors
# (or None) before the walk and may return a callable called once it ends.
# Empty unless a tool is listening, so a plain backward pays one truth test.
backward_observers: list = []


def _backward(
    outputs: list,
    grad_tensors: Any,
    retain_graph: bool | None,
    create_graph: bool,
    inputs: Any,
) -> None:
    if create_graph:
        _backward_graph(outputs, _as_list(grad_tensors), retain_graph, inputs)
        return
    roots, grads = _roots(outputs, _as_list(grad_tensors), "backward")
    if inputs is None:
        run_backward(roots, grads, bool(retain_graph))
        return
    wanted = _as_list(inputs)
    capture = {t._edge(): None for t in wanted}

    def accumulate() -> None:  # after the walk, before its final callbacks
        for t in wanted:
            node = t._edge()
            g = capture.get(node)
            if g is not None:
                if t.grad is None:
                    t.grad = t._wrap_grad(g.astype(t._data.dtype, copy=True))
                else:
                    t.grad._data += g
                if getattr(node, "_post_accumulate_hooks", None):
                    run_post_accumulate_hooks(node)

    run_backward(roots, grads, bool(retain_graph), capture, accumulate)


def _backward_graph(
    outputs: list, grad_tensors: list, retain_graph: bool | None, inputs: Any
) -> None:
    roots, grads = _roots(outputs, grad_tensors, "backward", graph=True)
    retain = True if retain_graph is None else bool(retain_graph)
    if inputs is None:
        run_backward_graph(roots, grads, retain)
        return
    wanted = _as_list(inputs)
    capture = {t._edge(): None for t in wanted}

    def accumulate() -> None:  # after the walk, before its final callbacks
        with enable_grad():
            for t in wanted:
                node = t._edge()
                g = capture.get(node)
                if g is not None:
                    accumulate_graph(t, g)
                    if getattr(node, "_post_accumulate_hooks", None):
                        run_post_accumulate_hooks(node)

    run_backward_graph(roots, grads, retain, capture, accumulate)


def grad(
    outputs: Any,
    inputs: Any,
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple:
    """Return d(outputs)/d(inputs) without touching any ``.grad``.

    Args:
        outputs: the tensor(s) to differentiate.
        inputs: the tensor(s) to differentiate with respect to.
        grad_outputs: d(something)/d(output) for each output; None for scalars.
        retain_graph: keep saved values (defaults to ``create_graph``).
        create_graph: record the backward pass, so that the returned gradients
            have a ``grad_fn`` and can be differentiated again.
        allow_unused: return None for an input the outputs do not depend on.
        materialize_grads: return zeros for such an input instead.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor(3.0, requires_grad=True)
        >>> torch.autograd.grad(x * x, x)
        (tensor(6.),)
        >>> (dx,) = torch.autograd.grad(x**3, x, create_graph=True)
        >>> torch.autograd.grad(dx, x)  # d^2(x^3)/dx^2 = 6x
        (tensor(18.),)
    """
    from ..tensor import _wrap

    outs = _as_list(outputs)
    ins = _as_list(inputs)
    for i, t in enumerate(ins):
        if not t._requires_grad:
            raise RuntimeError(
                f"autograd.grad: One of the differentiated Tensors (input {i}) "
                "does not require grad"
            )
    roots, grads = _roots(outs, _as_list(grad_outputs), "autograd.grad", create_graph)
    capture = {t._edge(): None for t in ins}
    if create_graph:
        retain = True if retain_graph is None else bool(retain_graph)
        run_backward_graph(roots, grads, retain, capture)
    else:
        run_backward(roots, grads, bool(retain_graph), capture)
    result = []
    for i, t in enumerate(ins):
        g = capture[t._edge()]
        if g is None:
            if materialize_grads:
                g = t._data * 0
            elif not allow_unused:
                raise RuntimeError(
                    f"autograd.grad: One of the differentiated Tensors (input "
                    f"{i}) appears to not have been used in the graph. Set "
                    "allow_unused=True if this is the desired behavior."
                )
            else:
                result.append(None)
                continue
        if create_graph:
            if not hasattr(g, "_data"):
                # materialized zeros: a leaf that requires grad, as PyTorch's
                g = _wrap(g, None).requires_grad_()
            elif g._data.dtype != t._data.dtype:
                with enable_grad():
                    g = g.to(t.dtype)
            result.append(g)
        else:
            result.append(_wrap(g.astype(t._data.dtype, copy=True), None))
    return tuple(result)
