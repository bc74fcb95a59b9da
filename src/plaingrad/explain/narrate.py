"""The backward pass, told node by node in plain English.

``narrate()`` is a context manager that listens to the engine through
``autograd.backward_observers``: when a backward pass starts inside the block,
it walks the graph from the outputs, names every value, and puts a pre-hook
(the total gradient arriving at a node) and a post-hook (the gradient the
node sends to each input) on every node; when the pass ends it takes them
off again. The engine never imports this module. ``backward(loss)`` is the
one-call form.

Each node becomes a ``Step``, in the order the engine ran them (reverse
topological order): the op and its inputs, the derivative rule in words and
as a formula (``_rules.py``), the shapes, the incoming gradient and each
outgoing one with its norm, whether the incoming gradient is a sum because
the value fed several consumers, and where the op undid a broadcast by
summing. Leaves (``AccumulateGrad``) are steps too: that is where a
parameter's ``.grad`` is filled.

Names: parameters are named from ``model.named_parameters()`` (or
``params``), ``layer1.weight``; other leaves are ``input``; the root is
``loss`` when it is a scalar, else ``output``; an op's result is named by the
module that ran it and the op, ``layer1.linear``. Which module ran an op is
known exactly when the forward pass ran inside ``narrate(model=...)`` (module
hooks note it, as in ``explain.graph``); otherwise an op that reads a
module's parameters directly is credited to that module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import autograd
from ..autograd.engine import _dependencies
from ..autograd.node import AccumulateGrad
from ._rules import op_name, rule
from ._story import Gradient, Step, Story

__all__ = ["Gradient", "Step", "Story", "backward", "narrate"]

# Ops whose inputs broadcast against each other (so that the backward sums
# the gradient back to an input's shape), and the inputs of other ops that
# are broadcast: the bias of a linear layer or of addmm.
_BROADCASTING = {
    "Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum", "Where",
    "Atan2", "Hypot", "Lerp", "ClampTensor", "MaskedFill", "MaskedFillTensor",
    "Fmod", "Remainder", "LerpScalar",
}  # fmt: skip
# op -> (inputs that are broadcast, the output dim they line up with: None
# for numpy's rule of trailing dims, 1 for a per-channel parameter)
_BROADCAST_INPUT = {
    "Linear": ((2,), None),
    "Addmm": ((0,), None),
    "Baddbmm": ((0,), None),
    "Convolution": ((2,), 1),
    "NativeBatchNorm": ((1, 2), 1),
    "NativeGroupNorm": ((1, 2), 1),
    "NativeLayerNorm": ((1, 2), None),
}
# What to call an input that needs no gradient (so has no node to name it).
_LOSSES = ("MseLoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "NllLoss",
           "BinaryCrossEntropy", "BinaryCrossEntropyWithLogits", "MultiMarginLoss",
           "SoftMarginLoss", "HingeEmbeddingLoss", "MultilabelMarginLoss")  # fmt: skip
_CONSTANTS = {
    **{loss: {1: "target"} for loss in _LOSSES},
    **{op: {0: "input"} for op in ("Linear", "LinearNoBias", "Convolution")},
    "Embedding": {1: "indices"},
}


def _norm(array: Any) -> float:
    return math.sqrt(float(np.sum(np.square(array, dtype=np.float64))))


def _data(grad: Any) -> Any:
    return getattr(grad, "_data", grad)


class _Listener:
    """The backward observer behind ``narrate`` (see the module docstring)."""

    def __init__(
        self,
        story: Story,
        names: dict,
        node_names: dict,
        modules: dict,
        values: int | None,
    ):
        self.story = story
        self.names = names  # id(leaf tensor) -> name
        self.node_names = node_names  # grad_fn of a named non-leaf -> name
        self.modules = modules  # node -> module name (forward hooks)
        self.values = values
        self.handles: list[Any] = []

    def gradient(self, name: str, grad: Any) -> Gradient:
        data = np.asarray(_data(grad))
        keep = self.values is None or data.size <= self.values
        return Gradient(
            name, tuple(data.shape), _norm(data), data.copy() if keep else None
        )

    def __call__(self, outputs: list, inputs: list | None = None) -> Any:
        roots = [t.grad_fn for t in outputs if getattr(t, "grad_fn", None) is not None]
        if not roots:
            return None
        self.story.passes += 1
        order, consumers = _walk(roots)
        value = self.name_values(order, roots, outputs)
        shares: dict[Any, list[tuple[str, float]]] = {n: [] for n in order}
        filled = None if inputs is None else {id(t) for t in inputs}

        def pre(node: Any) -> Any:
            def hook(grad: Any) -> None:
                step = self.leaf_step(node, value[node], grad)
                step.uses = consumers.get(node, 0)
                step.summed = shares[node] if step.uses > 1 else []
                step.left_alone = filled is not None and id(node.variable) not in filled

            return hook

        def post(node: Any) -> Any:
            def hook(grad_inputs: tuple, grad_outputs: tuple) -> None:
                names = _input_names(node, value)
                step = self.op_step(node, value[node], names, grad_outputs[0])
                step.uses = consumers.get(node, 0)
                step.summed = shares[node] if step.uses > 1 else []
                for nxt, name, g in zip(node._next, names, grad_inputs):
                    # an input with no node gets nothing, whatever the rule made
                    out = None if g is None or nxt is None else self.gradient(name, g)
                    step.grads_out.append(out)
                    if out is not None:
                        shares[nxt].append((step.value, out.norm))
                step.broadcast = _broadcasts(node, step)

            return hook

        for node in order:
            if isinstance(node, AccumulateGrad):
                self.handles.append(node.register_prehook(pre(node)))
            else:
                self.handles.append(node.register_hook(post(node)))
        return self.finish

    def finish(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def name_values(self, order: list, roots: list, outputs: list) -> dict:
        value: dict[Any, str] = {}
        taken: dict[str, int] = {}

        def unique(name: str) -> str:
            count = taken.get(name, 0) + 1
            taken[name] = count
            return name if count == 1 else f"{name}#{count}"

        for t in outputs:
            fn = getattr(t, "grad_fn", None)
            if fn is not None and fn not in value:
                value[fn] = unique("loss" if t.dim() == 0 else "output")
        inputs = 0
        for node in reversed(_engine_order(order)):  # forward order: x before x#2
            if node in value:
                continue
            if isinstance(node, AccumulateGrad):
                name = self.names.get(id(node.variable))
                if name is None:
                    inputs += 1
                    name = "input" if inputs == 1 else f"input{inputs}"
                value[node] = unique(name)
                continue
            if node in self.node_names:
                value[node] = unique(self.node_names[node])
                continue
            module = self.module_of(node)
            op = op_name(node)
            value[node] = unique(f"{module}.{op}" if module else op)
        return value

    def module_of(self, node: Any) -> str | None:
        module = self.modules.get(node)
        if module:
            return module
        owners = set()
        for nxt in node._next:
            if isinstance(nxt, AccumulateGrad):
                name = self.names.get(id(nxt.variable))
                if name and "." in name:
                    owners.add(name.rpartition(".")[0])
        return owners.pop() if len(owners) == 1 else None

    def op_step(self, node: Any, name: str, inputs: list, grad: Any) -> Step:
        module = self.module_of(node)
        needs = [nxt is not None for nxt in node._next]
        words, formula = rule(node, inputs, needs)
        step = Step(
            index=len(self.story.steps),
            node=node.name(),
            op=op_name(node),
            value=name,
            module=module,
            module_type=self.story.module_types.get(module or ""),
            inputs=inputs,
            words=words,
            formula=formula,
            grad_in=self.gradient(name, grad),
            needs=needs,
            pass_index=self.story.passes,
        )
        self.story.steps.append(step)
        return step

    def leaf_step(self, node: Any, name: str, grad: Any) -> Step:
        param = id(node.variable) in self.names
        module = name.rpartition(".")[0] if param and "." in name else None
        what = "the parameter" if param else "the leaf tensor"
        step = Step(
            index=len(self.story.steps),
            node="AccumulateGrad",
            op="leaf",
            value=name,
            module=module,
            module_type=self.story.module_types.get(module or ""),
            inputs=[],
            words=f"{what} {name} receives its gradient, which is added into "
            f"{name}.grad",
            formula=f"{name}.grad += g",
            grad_in=self.gradient(name, grad),
            pass_index=self.story.passes,
        )
        self.story.steps.append(step)
        return step


def _input_names(node: Any, value: dict) -> list[str]:
    constants = _CONSTANTS.get(type(node).__name__, {})
    return [
        value[n] if n is not None else constants.get(i, "(constant)")
        for i, n in enumerate(node._next)
    ]


def _walk(roots: list) -> tuple[list, dict]:
    """Every node reachable from ``roots`` and how many edges lead to each:
    the engine's own first pass (``engine._dependencies``)."""
    consumers = _dependencies(roots)
    return list(dict.fromkeys([*roots, *consumers])), consumers


def _engine_order(order: list) -> list:
    """``order`` sorted so that every node comes after all of its consumers
    (Kahn's algorithm, as the engine runs them)."""
    waiting: dict[Any, int] = {}
    for node in order:
        for nxt in node._next:
            if nxt is not None:
                waiting[nxt] = waiting.get(nxt, 0) + 1
    ready = [node for node in order if node not in waiting]
    sorted_nodes = []
    while ready:
        node = ready.pop()
        sorted_nodes.append(node)
        for nxt in node._next:
            if nxt is not None:
                waiting[nxt] -= 1
                if not waiting[nxt]:
                    ready.append(nxt)
    return sorted_nodes


def _broadcasts(node: Any, step: Step) -> list[tuple[str, tuple, tuple, tuple]]:
    """The inputs whose gradient the op summed back to a smaller shape:
    ``(name, input shape, output shape, output dims summed over)``."""
    kind = type(node).__name__
    out_shape = step.grad_in.shape
    align: int | None = None
    if kind in _BROADCASTING:
        candidates: Any = range(len(step.grads_out))
    elif kind in _BROADCAST_INPUT:
        candidates, align = _BROADCAST_INPUT[kind]
    elif kind == "Matmul":
        return _matmul_broadcasts(step)
    else:
        return []
    found = []
    for i in candidates:
        g = step.grads_out[i] if i < len(step.grads_out) else None
        if g is None or g.shape == out_shape:
            continue
        if align is not None:  # a per-channel parameter: every other dim
            dims = tuple(d for d in range(len(out_shape)) if d != align)
        else:
            lead = len(out_shape) - len(g.shape)
            dims = tuple(
                d
                for d in range(len(out_shape))
                if d < lead or (g.shape[d - lead] == 1 and out_shape[d] != 1)
            )
        if dims:
            found.append((g.name, g.shape, out_shape, dims))
    return found


def _matmul_broadcasts(step: Step) -> list[tuple[str, tuple, tuple, tuple]]:
    """Batched matrix products: a factor with fewer (or size-1) batch dims
    than the result had its gradient summed over the missing ones."""
    out_shape = step.grad_in.shape
    if len(out_shape) < 3 or any(
        g is not None and len(g.shape) < 2 for g in step.grads_out
    ):
        return []  # no batch dims, or a vector factor (a plain contraction)
    batch = out_shape[:-2]
    found = []
    for g in step.grads_out:
        if g is None:
            continue
        own = g.shape[:-2]
        lead = len(batch) - len(own)
        dims = tuple(
            d for d in range(len(batch)) if d < lead or (own[d - lead] == 1 != batch[d])
        )
        if dims:
            found.append((g.name, g.shape, out_shape, dims))
    return found


class narrate:  # noqa: N801 - a context manager, used like a function
    """Narrate every backward pass run inside the block.

    Args:
        model: names parameters (``model.named_parameters()``) and, for a
            forward pass run inside the block, the module of every op.
        params: names for leaf tensors (``{"w": w}``), beside or instead of
            ``model``'s.
        values: keep the entries of gradients with at most this many
            elements (None: all; 0: none), for the renderings to show.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad import explain
        >>> net = torch.nn.Linear(3, 1)
        >>> with explain.narrate(model=net) as story:
        ...     net(torch.ones(2, 3)).sum().backward()
        >>> [step.value for step in story][:2]
        ['loss', 'linear']
    """

    def __init__(
        self,
        model: Any = None,
        params: dict[str, Any] | None = None,
        values: int | None = 8,
    ) -> None:
        if values is not None and (
            not isinstance(values, int) or isinstance(values, bool) or values < 0
        ):
            raise ValueError(
                f"narrate: `values` must be None or an int >= 0, got {values!r}"
            )
        names: dict[str, Any] = {}
        if model is not None:
            if not hasattr(model, "named_parameters"):
                raise TypeError(
                    "narrate: `model` must be a plaingrad.nn.Module, got "
                    f"{type(model).__name__}"
                )
            names.update(model.named_parameters())
        for name, tensor in (params or {}).items():
            if not hasattr(tensor, "grad_fn"):
                raise TypeError(
                    f"narrate: `params[{name!r}]` must be a Tensor, got "
                    f"{type(tensor).__name__}"
                )
            names[name] = tensor
        self.model = model
        self.story = Story()
        self._modules: dict[Any, str] = {}
        leaves = {id(t): n for n, t in names.items() if t.grad_fn is None}
        others = {t.grad_fn: n for n, t in names.items() if t.grad_fn is not None}
        self._listener = _Listener(self.story, leaves, others, self._modules, values)
        self._handles: list[Any] = []

    def __enter__(self) -> Story:
        if self.model is not None:
            from .graph import track_modules

            self._handles = track_modules(
                self.model, self._modules, self.story.module_types, {}
            )
        autograd.backward_observers.append(self._listener)
        return self.story

    def __exit__(self, *exc: Any) -> None:
        if self._listener in autograd.backward_observers:
            autograd.backward_observers.remove(self._listener)
        for handle in self._handles:
            handle.remove()
        self._handles = []


def backward(
    loss: Any,
    gradient: Any = None,
    *,
    model: Any = None,
    params: dict[str, Any] | None = None,
    retain_graph: bool | None = None,
    values: int | None = 8,
) -> Story:
    """Run ``loss.backward()`` and return the ``Story`` of that pass.

    Args:
        loss: the tensor to differentiate (with a ``grad_fn``).
        gradient: d(something)/d(loss), as for ``Tensor.backward``.
        model, params, values: as for ``narrate``.
        retain_graph: as for ``Tensor.backward``.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad import explain
        >>> w = torch.tensor([2.0, -1.0], requires_grad=True)
        >>> story = explain.backward((w * w).sum(), params={"w": w})
        >>> story["w"].grad_in.values.tolist()  # d(w.w)/dw = 2w
        [4.0, -2.0]
    """
    if getattr(loss, "grad_fn", None) is None:
        raise ValueError(
            "explain.backward: expected a tensor with a grad_fn (the result of "
            "ops on tensors that require grad), got "
            + (
                "a tensor without one"
                if hasattr(loss, "grad_fn")
                else type(loss).__name__
            )
        )
    with narrate(model=model, params=params, values=values) as story:
        loss.backward(gradient, retain_graph=retain_graph)
    return story
