"""``explain.graph``: the computation graph behind a tensor, as data, DOT or SVG.

The graph is read by walking ``grad_fn`` and ``next_functions`` from the tensor
(iteratively: deep graphs never recurse); the engine knows nothing of it. Its
nodes are the ops (``AddmmBackward0``...) and the leaves that need a gradient
(``AccumulateGrad``), drawn as the tensors they stand for. Edges point the way
values flow in the forward pass: from an input to the op that used it.

Names and shapes:

- leaves are named from ``params`` (name -> tensor) or from
  ``model.named_parameters()``; other leaves are ``input`` (or ``leaf``);
- an op's output shape is known for the root, for outputs its node saved for
  backward, for results saved as inputs by a later op, for modules' outputs
  (with ``example_input``), and, after a backward pass, from the gradient
  that reached the node (its shape is the output's);
- with ``model`` and ``example_input``, ``graph`` runs ``model(example_input)``
  itself with forward hooks on every module. Each hook walks back from the
  module's output to its inputs and marks the unmarked ops on the way as run
  by that module (inner modules finish first, so each op gets the innermost
  module that ran it). ``collapse="module"`` then draws one box per module.

Gradient norms: ``graph`` registers a pre-hook on every op node that records
the norm of the total gradient arriving there, i.e. of the gradient with
respect to that op's output. After ``backward``, ``to_svg(gradient_norms=True)``
colours each edge by the norm of the gradient of the value it carries (for a
leaf, the norm of ``.grad``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..autograd.node import AccumulateGrad

__all__ = ["Graph", "GraphNode", "graph"]


@dataclass
class GraphNode:
    """One box: an op (``kind="op"``), a leaf tensor (``"param"``/``"input"``),
    or a collapsed module (``"module"``)."""

    id: str
    label: str
    kind: str
    shape: tuple | None = None
    module: str | None = None
    ops: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The text drawn in the box, one string per line."""
        shape = "" if self.shape is None else str(tuple(self.shape))
        if self.kind == "module":
            ops = f"{len(self.ops)} op" + ("" if len(self.ops) == 1 else "s")
            return [self.label, ops, shape]
        return [self.label, shape] if shape else [self.label]


class Graph:
    """The computation graph: ``nodes`` (id -> GraphNode), ``edges``
    (``(source_id, target_id)`` in forward direction) and ``output``, the
    tensor it ends in (call ``output.backward`` for gradient norms)."""

    def __init__(self, nodes: dict[str, GraphNode], edges: list[tuple[str, str]]):
        self.nodes = nodes
        self.edges = edges
        # id -> norm of the gradient w.r.t. that node's value (see module doc)
        self._norm_sources: dict[str, Any] = {}
        # module name -> class name, for the labels of collapsed boxes
        self._types: dict[str, str] = {}
        # the tensor whose graph this is (model(example_input) when graph ran it)
        self.output: Any = None

    def __len__(self) -> int:
        return len(self.nodes)

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, {len(self.edges)} edges)"

    def gradient_norms(self) -> dict[str, float]:
        """Norm of the gradient of each node's value, for the nodes a backward
        pass has reached (empty before backward)."""
        norms = {}
        for nid, source in self._norm_sources.items():
            value = source()
            if value is not None:
                norms[nid] = value
        return norms

    def to_dot(self) -> str:
        """The graph in Graphviz's DOT language."""
        lines = ["digraph plaingrad {", "  node [shape=box, fontname=monospace];"]
        for nid, node in self.nodes.items():
            label = "\\n".join(_dot_escape(t) for t in node.lines() if t)
            style = ', style=filled, fillcolor="#dde8f5"' if node.kind != "op" else ""
            lines.append(f'  {nid} [label="{label}"{style}];')
        for s, t in self.edges:
            lines.append(f"  {s} -> {t};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_svg(self, gradient_norms: bool = False) -> str:
        """An SVG drawing with a layered layout (see ``_layout.py``)."""
        from ._svg import render

        norms = None
        if gradient_norms:
            norms = self.gradient_norms()
            if not norms:
                raise RuntimeError(
                    "to_svg: `gradient_norms=True` needs gradients, but no backward "
                    "pass has reached this graph yet; call .backward() on the "
                    "tensor after explain.graph(...) and before to_svg"
                )
        return render(self, norms)

    def collapse(self, depth: int | None = None) -> Graph:
        """One box per module (the innermost, or the first ``depth`` parts of
        its dotted name); nodes outside every module stay as they are."""
        group: dict[str, str] = {}
        nodes: dict[str, GraphNode] = {}
        names = {n.module for n in self.nodes.values() if n.module}
        for nid, node in self.nodes.items():
            name = node.module
            if name and depth is not None:
                name = ".".join(name.split(".")[:depth])
            elif name:
                # a submodule goes into its parent's box when the parent ran
                # ops of its own (else the parent's box would feed the child's
                # and the child's the parent's: a cycle)
                name = _outermost(name, names)
            if not name:
                group[nid] = nid
                nodes[nid] = node
                continue
            gid = "m_" + name.replace(".", "_")
            group[nid] = gid
            box = nodes.get(gid)
            if box is None:
                box = nodes[gid] = GraphNode(gid, name, "module", module=name)
            box.ops.append(nid)
        edges = []
        seen = set()
        for s, t in self.edges:
            edge = (group[s], group[t])
            if edge[0] != edge[1] and edge not in seen:
                seen.add(edge)
                edges.append(edge)
        # a module's shape is that of the value leaving it
        first = next(iter(self.nodes), None)
        if first is not None and nodes[group[first]].kind == "module":
            nodes[group[first]].shape = self.nodes[first].shape
        norm_sources = {}
        for s, t in self.edges:
            gs = group[s]
            if gs != group[t]:
                norm_sources[gs] = self._norm_sources.get(s)
                if nodes[gs].kind == "module":
                    nodes[gs].shape = self.nodes[s].shape
        for node in nodes.values():
            kind = self._types.get(node.module or "")
            if node.kind == "module" and kind:
                node.label = f"{node.module}: {kind}"
        out = Graph(nodes, edges)
        out._types = self._types
        out._norm_sources = {k: v for k, v in norm_sources.items() if v}
        return out


def _outermost(name: str, names: set[str]) -> str:
    parts = name.split(".")
    for k in range(1, len(parts)):
        prefix = ".".join(parts[:k])
        if prefix in names:
            return prefix
    return name


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def graph(
    tensor: Any = None,
    params: dict[str, Any] | None = None,
    collapse: str | int | None = None,
    *,
    model: Any = None,
    example_input: Any = None,
) -> Graph:
    """The computation graph that produced ``tensor``.

    Args:
        tensor: a tensor with a ``grad_fn``. Leave it out when ``model`` and
            ``example_input`` are given: the graph is then that of
            ``model(example_input)``.
        params: names for leaf tensors (``{"layer1.weight": w}``); by default
            ``model.named_parameters()`` when ``model`` is given.
        collapse: None (every op), ``"module"`` (one box per innermost module)
            or an int (one box per module named by that many dotted parts).
            Needs ``model`` and ``example_input``.
        model: the module whose parameters and submodules name the graph.
        example_input: the input to run ``model`` on (a tensor or a tuple).

    Returns:
        A ``Graph`` with ``nodes``, ``edges``, ``to_dot()`` and ``to_svg()``.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad import explain
        >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
        >>> g = explain.graph(model=net, example_input=torch.randn(2, 3))
        >>> sorted(n.label for n in g.nodes.values() if n.kind == "param")
        ['0.bias', '0.weight']
    """
    if collapse not in (None, "module") and not isinstance(collapse, int):
        raise ValueError(
            f"graph: `collapse` must be None, 'module' or an int, got {collapse!r}"
        )
    modules: dict[Any, str] = {}
    shapes: dict[Any, tuple] = {}
    if example_input is not None:
        if model is None:
            raise ValueError("graph: `example_input` needs `model`")
        if tensor is not None:
            raise ValueError(
                "graph: give either `tensor` or `model` with `example_input`, "
                "not both (the graph of model(example_input) is drawn)"
            )
        tensor, modules, types = _run_with_hooks(model, example_input, shapes)
    else:
        types = {}
        if collapse is not None:
            raise ValueError(
                f"graph: `collapse={collapse!r}` needs `model` and `example_input`, "
                "to know which module ran each op"
            )
    if tensor is None or getattr(tensor, "grad_fn", None) is None:
        raise ValueError(
            "graph: expected a tensor with a grad_fn (the result of ops on "
            "tensors that require grad), got "
            + ("None" if tensor is None else "a tensor without one")
        )
    if params is None and model is not None:
        params = dict(model.named_parameters())
    names = {id(t): name for name, t in (params or {}).items()}
    result = _walk(tensor, names, modules, shapes)
    result._types = types
    if collapse is not None:
        result = result.collapse(collapse if isinstance(collapse, int) else None)
    result.output = tensor
    return result


def _walk(tensor: Any, names: dict, modules: dict, shapes: dict) -> Graph:
    """Nodes and edges from ``tensor.grad_fn`` back to the leaves."""
    root = tensor.grad_fn
    ids: dict[Any, str] = {root: "n0"}
    order = [root]
    edges = []
    shapes[root] = tuple(tensor.shape)
    stack = [root]
    while stack:
        node = stack.pop()
        _shapes_from_saved(node, shapes)
        for child in _children(node):
            if child not in ids:
                ids[child] = f"n{len(ids)}"
                order.append(child)
                stack.append(child)
            edges.append((ids[child], ids[node]))
    g = Graph({}, [])
    count = {"input": 0}
    for node in order:
        nid = ids[node]
        module = modules.get(node)
        if isinstance(node, AccumulateGrad):
            leaf = node.variable
            name = names.get(id(leaf))
            if name is None:
                name = f"input{count['input'] or ''}"
                count["input"] += 1
                kind = "input"
            else:
                kind = "param"
                module = name.rpartition(".")[0] or None
            gnode = GraphNode(nid, name, kind, tuple(leaf.shape), module)
            g._norm_sources[nid] = _leaf_norm(leaf)
        else:
            gnode = GraphNode(nid, node.name(), "op", shapes.get(node), module)
            g._norm_sources[nid] = _watch(node, gnode)
        gnode.inputs = [ids[c] for c in _children(node)]
        g.nodes[nid] = gnode
    # edges were found from consumer to producer; keep first-seen order
    g.edges = list(dict.fromkeys(edges))
    return g


def _children(node: Any) -> list:
    return [n for n, _ in getattr(node, "next_functions", ()) if n is not None]


def _shapes_from_saved(node: Any, shapes: dict) -> None:
    """Shapes of values the node saved: its inputs (named by their grad_fn)
    and its own output (a weak reference)."""
    for source in getattr(node, "_saved_from", ()) or ():
        if source is None:
            continue
        value = source[0]
        if callable(value) and not hasattr(value, "shape"):
            value = value()
            if value is not None and value.grad_fn is node:
                shapes.setdefault(node, tuple(value.shape))
            continue
        fn = getattr(value, "grad_fn", None)
        if fn is not None:
            shapes.setdefault(fn, tuple(value.shape))


def _watch(node: Any, gnode: GraphNode) -> Any:
    """Record the norm (and shape) of the gradient arriving at ``node``."""
    seen: list[float] = []

    def hook(grad: Any) -> None:
        data = getattr(grad, "_data", grad)
        seen.append(float(math.sqrt(float((data.astype("float64") ** 2).sum()))))
        if gnode.shape is None:
            gnode.shape = tuple(data.shape)

    node.register_prehook(hook)
    return lambda: seen[-1] if seen else None


def _leaf_norm(leaf: Any) -> Any:
    def norm() -> float | None:
        grad = leaf.grad
        if grad is None:
            return None
        data = grad.detach().numpy().astype("float64")
        return float(math.sqrt(float((data**2).sum())))

    return norm


def track_modules(model: Any, modules: dict, types: dict, shapes: dict) -> list:
    """Forward hooks on every module of ``model`` that mark, in ``modules``,
    the ops each forward call ran (node -> innermost module name, "" for the
    top level), note each module's class in ``types`` and its outputs' shapes
    in ``shapes``. Returns the hook handles (call ``remove()`` on each)."""
    handles = []
    entry: dict[int, list] = {}

    def pre(name: str) -> Any:
        def hook(module: Any, inputs: tuple) -> None:
            stops = [t.grad_fn for t in _tensors(inputs) if t.grad_fn is not None]
            entry.setdefault(id(module), []).append(stops)

        return hook

    def post(name: str) -> Any:
        def hook(module: Any, inputs: tuple, output: Any) -> None:
            stops = set(entry[id(module)].pop())
            stack = [t.grad_fn for t in _tensors(output) if t.grad_fn is not None]
            for t in _tensors(output):
                if t.grad_fn is not None:
                    shapes.setdefault(t.grad_fn, tuple(t.shape))
            while stack:
                node = stack.pop()
                if node in stops or isinstance(node, AccumulateGrad):
                    continue
                owner = modules.get(node)
                if owner is None:
                    modules[node] = name
                elif not (name == "" or owner.startswith(name + ".")):
                    continue  # an op of another module, run earlier
                stack.extend(_children(node))

        return hook

    for name, module in model.named_modules():
        types[name] = type(module).__name__
        handles.append(module.register_forward_pre_hook(pre(name)))
        handles.append(module.register_forward_hook(post(name)))
    return handles


def _run_with_hooks(model: Any, example_input: Any, shapes: dict) -> tuple:
    """Run ``model(example_input)`` with ``track_modules`` hooks on."""
    modules: dict[Any, str] = {}
    types: dict[str, str] = {}
    handles = track_modules(model, modules, types, shapes)
    try:
        inputs = example_input if isinstance(example_input, tuple) else (example_input,)
        output = model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    # ops of the top-level forward belong to no module box
    modules = {node: name for node, name in modules.items() if name}
    outputs = _tensors(output)
    if not outputs:
        raise ValueError("graph: model(example_input) returned no tensor")
    return outputs[0], modules, types


def _tensors(value: Any) -> list:
    """The tensors in a tensor, tuple or list (e.g. attention's two results)."""
    if hasattr(value, "grad_fn"):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if hasattr(v, "grad_fn")]
    return []
