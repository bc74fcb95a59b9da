"""The backward engine: an iterative topological walk of the graph.

``run_backward`` counts, for every node reachable from the roots, how many
consumers will send it a gradient (one iterative depth-first pass, no recursion,
so a chain of 100,000 ops is fine). It then runs Kahn's algorithm: a node runs
only when all its consumers have reported, so a value used several times gets
the sum of its gradients, once. Arrays flow between nodes; only leaves get
Tensors, in ``AccumulateGrad``.

Higher-order gradients (``create_graph=True``) take a second walk of the same
shape, ``run_backward_graph``, in which Tensors flow instead of arrays. Every op
keeps its array rule (``backward``) and may define, beside it, a Tensor-level
rule ``backward_graph(ctx, grad_output)`` that computes the same gradients with
plaingrad's own differentiable functions. The walk runs those rules with grad
mode on, so the gradients they return are recorded like any other result: the
backward pass becomes a graph, which a further ``backward`` or ``grad``
differentiates (gradient penalties, Hessian-vector products, x**4 -> 24x).

Why two rules and not one: the array rule is the hot path of every training
step, and a Tensor-level rule costs a node and a Tensor per operation, which
the first-order walk should never pay; with create_graph=False nothing here
differs from a plain backward. Why no fallback: running an op's array rule under
create_graph would give a gradient that the graph sees as a constant, and every
second derivative through that op would be silently wrong. A node without a
Tensor-level rule raises ``NotImplementedError`` naming its op instead, and
``gradgradcheck`` passes that on, so a missing rule can be recorded.

A rule reads its saved values through ``ctx.saved_graph_tensors``, which
rebuilds them from ``ctx._saved_from`` (see ``node.py``): a saved input is the
input tensor itself, the saved output is a new tensor on the same array whose
``grad_fn`` is this very node, and an array made inside ``forward`` is a
constant, so a rule must recompute such a value from the inputs if its
derivative matters. An op that keeps an input's array outside
``save_for_backward`` (to spare the first-order path the bookkeeping) gets a
connected Tensor for it from ``graph_input``. In ``autograd.grad`` only the
nodes on a path to a requested input run, so ops outside that part of the
graph need no rule.

Leaves get out-of-place gradients: the first is a copy (``CloneBackward0`` when
it is in the graph), later ones are added with a recorded ``+``, so ``x.grad``
has a ``grad_fn`` as in PyTorch. Pre-hooks see the graph's Tensors: a hook
whose callable has an ``on_tensor`` attribute (``Tensor.register_hook``,
``retain_grad``) is called through it, and a node pre-hook (which gets arrays
in the first-order walk) gets the Tensor; a replacement it returns as an array
enters the graph as a constant. Once a leaf's ``.grad`` holds the gradient,
its post-accumulate-grad hooks (``Tensor.register_post_accumulate_grad_hook``,
where DistributedDataParallel starts its all-reduces) are called with the
leaf; a leaf without any costs the walk one attribute test.
"""

from __future__ import annotations

from typing import Any
from weakref import ref as _weakref

from ..backend import xp
from .anomaly_mode import _anomaly, check_gradients
from .grad_mode import _mode
from .node import (
    _FREED,
    _SECOND_BACKWARD,
    AccumulateGrad,
    Node,
    check_saved_versions,
    run_post_accumulate_hooks,
)

# True while a backward collects gradients for ``autograd.grad`` instead of
# adding them into ``.grad`` (compiled kernels then return new arrays)
capturing = False


# The callbacks queued during the running backward (``queue_callback``), None
# outside one. Each backward keeps its own list, so a backward run inside
# another's hook calls only what was queued during it.
_final_callbacks: list | None = None


def queue_callback(callback: Any) -> None:
    """Call ``callback()`` once the running backward has walked the whole graph
    (PyTorch's ``Variable._execution_engine.queue_callback``): after every
    leaf's ``.grad`` and post-accumulate-grad hooks, in the order queued; a
    callback may queue more. DistributedDataParallel finishes its gradient
    reduction here.
    """
    if _final_callbacks is None:
        raise RuntimeError(
            "Final callbacks can only be installed during backward pass."
        )
    _final_callbacks.append(callback)


def _scoped(
    walk: Any,
    roots: list[Node],
    root_grads: list[Any],
    retain_graph: bool,
    capture: dict[Node, Any] | None,
    then: Any,
) -> None:
    """Run ``walk`` (and ``then()``, when given) as one backward with a
    ``queue_callback`` list of its own, then call what was queued, those
    queued meanwhile too (not when the walk raises)."""
    global _final_callbacks
    outer = _final_callbacks
    _final_callbacks = queued = []
    try:
        walk(roots, root_grads, retain_graph, capture)
        if then is not None:
            then()
        i = 0
        while i < len(queued):
            queued[i]()
            i += 1
    finally:
        _final_callbacks = outer


def run_backward(
    roots: list[Node],
    root_grads: list[Any],
    retain_graph: bool,
    capture: dict[Node, Any] | None = None,
    then: Any = None,
) -> None:
    """Backpropagate ``root_grads`` from ``roots`` through the graph, then call
    the callbacks queued meanwhile (``queue_callback``).

    Args:
        roots: the grad_fn (or AccumulateGrad) of each output.
        root_grads: the gradient array of each output.
        retain_graph: keep saved arrays so the graph can be walked again.
        capture: when given (``autograd.grad``), the total gradient arriving at
            each of these nodes is stored here and no leaf ``.grad`` changes.
        then: called after the walk, before the queued callbacks
            (``backward(inputs=...)`` accumulates the captured leaves there).
    """
    _scoped(_walk, roots, root_grads, retain_graph, capture, then)


def _walk(
    roots: list[Node],
    root_grads: list[Any],
    retain_graph: bool,
    capture: dict[Node, Any] | None,
) -> None:
    global capturing
    capturing = capture is not None
    deps = _dependencies(roots)

    if len(roots) == 1:
        # loss.backward(): nothing leads back to a single root
        grads: dict[Node, Any] = {roots[0]: root_grads[0]}
        ready = [roots[0]]
    else:
        grads = {}
        for node, grad in zip(roots, root_grads):
            prev = grads.get(node)
            grads[node] = grad if prev is None else prev + grad
        ready = [node for node in grads if node not in deps]
    anomaly = _anomaly.enabled and _anomaly.check_nan
    input_grad = prev = None
    # bound once: this loop runs for every node of every training step
    pop_grad, get_grad, push = grads.pop, grads.get, ready.append
    leaf_node = AccumulateGrad

    # Pass 2: run each node once all of its consumers have sent their share.
    while ready:
        node = ready.pop()
        grad = pop_grad(node, None)
        if grad is not None and node._pre_hooks:
            grad = _run_hooks(node._pre_hooks, grad)
        if capture is not None:
            if node in capture:
                capture[node] = grad
            if node.__class__ is leaf_node:
                continue
        elif node.__class__ is leaf_node:
            if grad is not None:
                # A later gradient of the same shape and dtype adds in place
                # (AccumulateGrad.accumulate, inlined: every leaf of every
                # step comes here); anything else goes through accumulate.
                leaf = node.variable
                current = leaf._grad
                if (
                    current is not None
                    and grad.shape == (data := leaf._data).shape
                    and grad.dtype == data.dtype
                ):
                    current._data += grad
                else:
                    node.accumulate(grad)
                if node._post_accumulate_hooks:
                    run_post_accumulate_hooks(node)
            continue

        if grad is None:
            input_grads: Any = (None,) * len(node._next)
        else:
            if node._saved_from:
                check_saved_versions(node)
            input_grads = node.backward(node, grad)
            if input_grads.__class__ is not tuple:
                input_grads = (input_grads,)
            if node._post_hooks:
                input_grads = _run_post_hooks(node._post_hooks, input_grads, grad)
            if anomaly:
                check_gradients(node, input_grads, xp)
            if not retain_graph and node._saved:
                node._saved = _FREED
                node._saved_from = ()
        for nxt, input_grad in zip(node._next, input_grads):
            if nxt is None:
                continue
            if input_grad is not None:
                prev = get_grad(nxt)
                # Out of place: either side may be a view or another's array.
                grads[nxt] = input_grad if prev is None else prev + input_grad
            left = deps[nxt] - 1
            if left:
                deps[nxt] = left
            else:
                push(nxt)
        # Drop our references so AccumulateGrad can tell a private array.
        input_grads = input_grad = prev = grad = None


def _dependencies(roots: list[Node]) -> dict[Node, int]:
    """Pass 1: how many gradients will each node receive?"""
    deps: dict[Node, int] = {}
    count = deps.get
    if len(roots) == 1:
        # One root (loss.backward()): nothing leads back to it in a DAG, so
        # the walk needs no record of the roots walked.
        stack = list(roots)
        while stack:
            for nxt in stack.pop()._next:
                if nxt is not None:
                    seen = count(nxt, 0)
                    deps[nxt] = seen + 1
                    if not seen and nxt._next:
                        stack.append(nxt)
        return deps
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
    return deps


def _run_hooks(hooks: list, grad: Any) -> Any:
    for hook in hooks:
        replaced = hook(grad)
        if replaced is not None:
            grad = replaced
    return grad


def _run_post_hooks(hooks: list, input_grads: tuple, grad: Any) -> tuple:
    for hook in list(hooks):
        replaced = hook(input_grads, (grad,))
        if replaced is not None:
            if len(replaced) != len(input_grads):
                raise RuntimeError(
                    f"hook '{getattr(hook, '__name__', hook)}' has returned an "
                    f"incorrect number of values (got {len(replaced)}, but "
                    f"expected {len(input_grads)})"
                )
            input_grads = tuple(replaced)
    return input_grads


# ------------------------------------------------------ create_graph=True


def run_backward_graph(
    roots: list[Node],
    root_grads: list[Any],
    retain_graph: bool,
    capture: dict[Node, Any] | None = None,
    then: Any = None,
) -> None:
    """``run_backward`` for ``create_graph=True``: Tensors flow between nodes
    and each node's Tensor-level rule runs with grad mode on, so that the
    gradients it produces are themselves differentiable.

    Args:
        roots: the grad_fn (or AccumulateGrad) of each output.
        root_grads: the gradient Tensor of each output (it may require grad).
        retain_graph: keep saved values so the graph can be walked again.
        capture: as in ``run_backward``; the captured gradients are Tensors.
        then: as in ``run_backward``.
    """
    _scoped(_walk_graph, roots, root_grads, retain_graph, capture, then)


def _walk_graph(
    roots: list[Node],
    root_grads: list[Any],
    retain_graph: bool,
    capture: dict[Node, Any] | None,
) -> None:
    deps = _dependencies(roots)
    needed = None if capture is None else _leading_to(roots, capture)
    grads: dict[Node, Any] = {}
    anomaly = _anomaly.enabled and _anomaly.check_nan
    previous_mode = _mode.enabled
    _mode.enabled = True
    try:
        for node, grad in zip(roots, root_grads):
            prev = grads.get(node)
            grads[node] = grad if prev is None else prev + grad
        ready = [node for node in grads if node not in deps]
        while ready:
            node = ready.pop()
            grad = grads.pop(node, None)
            if grad is not None and node._pre_hooks:
                grad = _run_graph_hooks(node._pre_hooks, grad)
            if capture is not None:
                if node in capture:
                    capture[node] = grad
                if node.__class__ is AccumulateGrad:
                    continue
            elif node.__class__ is AccumulateGrad:
                if grad is not None:
                    accumulate_graph(node.variable, grad)
                    if node._post_accumulate_hooks:
                        run_post_accumulate_hooks(node)
                continue

            if grad is None or (needed is not None and node not in needed):
                input_grads: Any = (None,) * len(node._next)
            else:
                input_grads = _run_rule(node, grad)
                if node._post_hooks:
                    input_grads = _run_post_hooks(node._post_hooks, input_grads, grad)
                if anomaly:
                    arrays = tuple(None if g is None else g._data for g in input_grads)
                    check_gradients(node, arrays, xp)
                if not retain_graph:
                    node._release()
            for nxt, input_grad in zip(node._next, input_grads):
                if nxt is None:
                    continue
                if input_grad is not None:
                    prev = grads.get(nxt)
                    grads[nxt] = input_grad if prev is None else prev + input_grad
                left = deps[nxt] - 1
                if left:
                    deps[nxt] = left
                else:
                    ready.append(nxt)
    finally:
        _mode.enabled = previous_mode


def _run_rule(node: Node, grad: Any) -> tuple:
    """Run ``node``'s Tensor-level rule on ``grad``; check what it returns."""
    from ..tensor import Tensor

    rule = getattr(node, "backward_graph", None)
    if rule is None:
        raise NotImplementedError(
            f"double backward is not implemented for {node._name} "
            "(create_graph=True): its op has an array-level backward rule but no "
            "Tensor-level one (backward_graph), so its gradient cannot be "
            "differentiated again"
        )
    if node._saved_from:
        check_saved_versions(node)
    input_grads = rule(node, grad)
    if input_grads.__class__ is not tuple:
        input_grads = (input_grads,)
    for i, g in enumerate(input_grads):
        if g is not None and not isinstance(g, Tensor):
            raise TypeError(
                f"{node._name}.backward_graph returned a {type(g).__name__} as the "
                f"gradient of input {i}; expected a Tensor or None"
            )
    return input_grads


def _leading_to(roots: list[Node], capture: dict[Node, Any]) -> set[Node]:
    """The nodes with a path to a captured node below them: only they need to
    run their rule in ``autograd.grad``."""
    parents: dict[Node, list[Node]] = {}
    stack = list(dict.fromkeys(roots))
    walked = set(stack)
    while stack:
        node = stack.pop()
        for nxt in node._next:
            if nxt is None:
                continue
            parents.setdefault(nxt, []).append(node)
            if nxt not in walked:
                walked.add(nxt)
                stack.append(nxt)
    needed: set[Node] = set()
    stack = [p for node in capture for p in parents.get(node, ())]
    while stack:
        node = stack.pop()
        if node not in needed:
            needed.add(node)
            stack.extend(parents.get(node, ()))
    return needed


def _run_graph_hooks(hooks: list, grad: Any) -> Any:
    from ..tensor import Tensor, _wrap

    for hook in hooks:
        replaced = getattr(hook, "on_tensor", hook)(grad)
        if replaced is not None:
            grad = replaced if isinstance(replaced, Tensor) else _wrap(replaced, None)
    return grad


def accumulate_graph(leaf: Any, grad: Any) -> None:
    """Add ``grad`` (a Tensor) into ``leaf.grad`` out of place, recorded."""
    from ..ops.elementwise import clone, to_dtype
    from ..tensor import _wrap

    data = leaf._data
    if grad._data.dtype != data.dtype:
        grad = to_dtype(grad, leaf.dtype)
    if grad._data.shape != data.shape and grad._data.size == data.size:
        grad = grad.reshape(data.shape)
    current = leaf._grad
    if current is None:
        # a copy, so that an in-place change to .grad reaches nothing else
        leaf._grad = (
            clone(grad) if grad._requires_grad else _wrap(grad._data.copy(), None)
        )
    else:
        leaf._grad = current + grad


def saved_graph_tensors(node: Node) -> tuple:
    """``node``'s saved arrays as Tensors in the graph (see the module
    docstring): inputs as themselves, the output with ``node`` as its
    ``grad_fn``, arrays made inside forward as constants."""
    from ..tensor import _wrap

    saved = node._saved
    if saved is _FREED:
        raise RuntimeError(_SECOND_BACKWARD)
    sources = node._saved_from
    tensors = []
    for i, array in enumerate(saved):
        source = sources[i] if i < len(sources) else None
        if array is None:
            tensors.append(None)
        elif source is None:
            tensors.append(_wrap(array, None))
        elif source[0].__class__ is _weakref:
            tensors.append(_wrap(array, node))
        else:
            tensors.append(source[0])
    return tuple(tensors)


def graph_input(node: Node, index: int, array: Any) -> Any:
    """A Tensor in the graph for input ``index`` of ``node``, whose values
    are ``array``: the leaf itself, a tensor on ``array`` whose ``grad_fn`` is
    the node that produced the input (gradients reach the same place), or a
    constant for an input that needs no gradient."""
    from ..tensor import _wrap

    edge = node._next[index]
    if edge is None:
        return _wrap(array, None)
    if edge.__class__ is AccumulateGrad:
        return edge.variable
    return _wrap(array, edge)
