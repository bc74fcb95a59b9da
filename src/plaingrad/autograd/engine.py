"""The backward engine: an iterative topological walk of the graph.

``run_backward`` counts, for every node reachable from the roots, how many
consumers will send it a gradient (one iterative depth-first pass, no recursion,
so a chain of 100,000 ops is fine). It then runs Kahn's algorithm: a node runs
only when all its consumers have reported, so a value used several times gets
the sum of its gradients, once. Arrays flow between nodes; only leaves get
Tensors, in ``AccumulateGrad``.
"""

from __future__ import annotations

from typing import Any

from ..backend import xp
from .anomaly_mode import _anomaly, check_gradients
from .node import _FREED, AccumulateGrad, Node, check_saved_versions


def run_backward(
    roots: list[Node],
    root_grads: list[Any],
    retain_graph: bool,
    capture: dict[Node, Any] | None = None,
) -> None:
    """Backpropagate ``root_grads`` from ``roots`` through the graph.

    Args:
        roots: the grad_fn (or AccumulateGrad) of each output.
        root_grads: the gradient array of each output.
        retain_graph: keep saved arrays so the graph can be walked again.
        capture: when given (``autograd.grad``), the total gradient arriving at
            each of these nodes is stored here and no leaf ``.grad`` changes.
    """
    # Pass 1: how many gradients will each node receive?
    deps: dict[Node, int] = {}
    count = deps.get
    # Each root is walked once, even when it is repeated or another root
    # leads to it (its consumers are counted like anyone else's).
    stack = list(dict.fromkeys(roots))
    walked = set(stack)
    while stack:
        for nxt in stack.pop()._next:
            if nxt is not None:
                seen = count(nxt, 0)
                deps[nxt] = seen + 1
                if not seen and nxt._next and nxt not in walked:
                    stack.append(nxt)

    grads: dict[Node, Any] = {}
    for node, grad in zip(roots, root_grads):
        prev = grads.get(node)
        grads[node] = grad if prev is None else prev + grad
    ready = [node for node in grads if node not in deps]
    anomaly = _anomaly.enabled and _anomaly.check_nan
    input_grad = prev = None

    # Pass 2: run each node once all of its consumers have sent their share.
    while ready:
        node = ready.pop()
        grad = grads.pop(node, None)
        if grad is not None and node._pre_hooks:
            grad = _run_hooks(node._pre_hooks, grad)
        if capture is not None:
            if node in capture:
                capture[node] = grad
            if node.__class__ is AccumulateGrad:
                continue
        elif node.__class__ is AccumulateGrad:
            if grad is not None:
                node.accumulate(grad)
            continue

        if grad is None:
            input_grads: Any = (None,) * len(node._next)
        else:
            if node._saved_from:
                check_saved_versions(node)
            input_grads = node.backward(node, grad)
            if input_grads.__class__ is not tuple:
                input_grads = (input_grads,)
            if anomaly:
                check_gradients(node, input_grads, xp)
            if not retain_graph and node._saved:
                node._saved = _FREED
                node._saved_from = ()
        for nxt, input_grad in zip(node._next, input_grads):
            if nxt is None:
                continue
            if input_grad is not None:
                prev = grads.get(nxt)
                # Out of place: either side may be a view or another's array.
                grads[nxt] = input_grad if prev is None else prev + input_grad
            left = deps[nxt] - 1
            if left:
                deps[nxt] = left
            else:
                ready.append(nxt)
        # Drop our references so AccumulateGrad can tell a private array.
        input_grads = input_grad = prev = grad = None


def _run_hooks(hooks: list, grad: Any) -> Any:
    for hook in hooks:
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced
    return grad
