"""explain.graph: the graph's contents, DOT, and the geometry of the SVG.

The expected node and edge sets come from an independent walk of
``grad_fn.next_functions`` written here; the SVG is parsed with xml.etree and
its boxes and edge endpoints checked with plain geometry.
"""

from __future__ import annotations

import math
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import plaingrad as torch
from plaingrad import explain

nn = torch.nn
F = torch.nn.functional
SVG = "{http://www.w3.org/2000/svg}"
EPS = 1e-6


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x))) + x


class Attention(nn.Module):
    def __init__(self, e: int = 8) -> None:
        super().__init__()
        self.q = nn.Linear(e, e)
        self.k = nn.Linear(e, e)
        self.v = nn.Linear(e, e)
        self.out = nn.Linear(e, e)

    def forward(self, x):
        q, k, v = self.q(x), self.k(x), self.v(x)
        return self.out(F.scaled_dot_product_attention(q, k, v))


class MHA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm = nn.Linear(8, 8)

    def forward(self, x):
        out, _ = self.attn(x, x, x)
        return self.norm(out) + x


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)
    )


CASES = {
    "residual": (Residual, (3, 4)),
    "sdpa": (Attention, (2, 5, 8)),
    "mha": (MHA, (2, 5, 8)),
    "mlp": (mlp, (4, 6)),
}


def walk(tensor):
    """Independent reference: the grad_fn nodes and (producer, consumer) pairs."""
    nodes, edges, stack = [tensor.grad_fn], set(), [tensor.grad_fn]
    seen = {tensor.grad_fn}
    while stack:
        node = stack.pop()
        for child, _ in node.next_functions:
            if child is None:
                continue
            edges.add((child, node))
            if child not in seen:
                seen.add(child)
                nodes.append(child)
                stack.append(child)
    return nodes, edges


def parse_svg(svg: str):
    root = ET.fromstring(svg)
    boxes, labels = {}, {}
    for g in root.iter(SVG + "g"):
        if g.get("class") != "node":
            continue
        rect = g.find(SVG + "rect")
        boxes[g.get("id")] = tuple(
            float(rect.get(k)) for k in ("x", "y", "width", "height")
        )
        labels[g.get("id")] = [t.text for t in g.iter(SVG + "text")]
    ids = [g.get("id") for g in root.iter(SVG + "g") if g.get("class") == "node"]
    assert len(ids) == len(set(ids))
    edges = []
    for path in root.iter(SVG + "path"):
        if path.get("class") != "edge":
            continue
        numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", path.get("d"))]
        edges.append(
            (
                path.get("data-source"),
                path.get("data-target"),
                (numbers[0], numbers[1]),
                (numbers[-2], numbers[-1]),
                path.get("data-grad-norm"),
                list(zip(numbers[::2], numbers[1::2], strict=True)),
            )
        )
    return boxes, labels, edges


def on_boundary(point, box) -> bool:
    x, y, w, h = box
    px, py = point
    inside_x = x - EPS <= px <= x + w + EPS
    inside_y = y - EPS <= py <= y + h + EPS
    on_side = min(abs(px - x), abs(px - x - w), abs(py - y), abs(py - y - h)) < 0.01
    return inside_x and inside_y and on_side


def check_geometry(g, svg: str) -> None:
    boxes, _, edges = parse_svg(svg)
    assert set(boxes) == set(g.nodes)
    items = list(boxes.values())
    for i, (x1, y1, w1, h1) in enumerate(items):
        for x2, y2, w2, h2 in items[i + 1 :]:
            apart = x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
            assert apart, ((x1, y1, w1, h1), (x2, y2, w2, h2))
    assert sorted((s, t) for s, t, *_ in edges) == sorted(g.edges)
    for s, t, start, end, _, points in edges:
        assert on_boundary(start, boxes[s]), (s, start, boxes[s])
        assert on_boundary(end, boxes[t]), (t, end, boxes[t])
        # the bends and control points of the route stay out of every box
        for px, py in points:
            for x, y, w, h in items:
                inside = x + 0.01 < px < x + w - 0.01 and y + 0.01 < py < y + h - 0.01
                assert not inside, (s, t, (px, py), (x, y, w, h))


@pytest.mark.parametrize("case", sorted(CASES))
def test_nodes_edges_and_svg_geometry(case):
    make, shape = CASES[case]
    model = make()
    x = torch.randn(*shape, requires_grad=True)
    out = model(x)
    g = explain.graph(out, model=model)
    nodes, edges = walk(out)
    # every grad_fn exactly once, every edge between the right two nodes
    by_id = {}
    for gnode in g.nodes.values():
        by_id[gnode.id] = gnode
    assert len(g.nodes) == len(nodes)
    names = sorted(n.name() for n in nodes if type(n).__name__ != "AccumulateGrad")
    ops = sorted(n.label for n in g.nodes.values() if n.kind == "op")
    assert ops == names
    assert len(g.edges) == len(edges) == len(set(g.edges))
    svg = g.to_svg()
    check_geometry(g, svg)
    _, labels, _ = parse_svg(svg)
    texts = [t for lines in labels.values() for t in lines]
    for name, p in model.named_parameters():
        assert texts.count(name) == 1, name
        assert str(tuple(p.shape)) in texts
    for op in set(names):
        assert texts.count(op) == names.count(op)


def test_residual_structure_and_dot():
    model = Residual()
    x = torch.randn(3, 4, requires_grad=True)
    g = explain.graph(model(x), model=model)
    label = {nid: n.label for nid, n in g.nodes.items()}
    dot = g.to_dot()
    dot_nodes = dict(re.findall(r'^\s*(\w+) \[label="([^"\\]*)', dot, re.M))
    dot_edges = set(re.findall(r"^\s*(\w+) -> (\w+);", dot, re.M))
    assert set(dot_nodes) == set(g.nodes)
    assert {(dot_nodes[s], dot_nodes[t]) for s, t in dot_edges} == {
        ("fc1.weight", "AddmmBackward0"),
        ("fc1.bias", "AddmmBackward0"),
        ("input", "AddmmBackward0"),
        ("AddmmBackward0", "ReluBackward0"),
        ("ReluBackward0", "AddmmBackward0"),
        ("fc2.weight", "AddmmBackward0"),
        ("fc2.bias", "AddmmBackward0"),
        ("AddmmBackward0", "AddBackward0"),
        ("input", "AddBackward0"),
    }
    assert len(dot_edges) == 9
    # the skip connection: the input feeds both the first Linear and the add
    (inp,) = [nid for nid in g.nodes if label[nid] == "input"]
    users = sorted(label[t] for s, t in g.edges if s == inp)
    assert users == ["AddBackward0", "AddmmBackward0"]


def test_collapse_by_module():
    model = MHA()
    x = torch.randn(2, 5, 8, requires_grad=True)
    full = explain.graph(model=model, example_input=x)
    small = explain.graph(model=model, example_input=x, collapse="module")
    assert len(small.nodes) < len(full.nodes)
    kinds = {n.label for n in small.nodes.values() if n.kind == "module"}
    # out_proj runs inside attn, between attn's own ops: it joins attn's box
    assert kinds == {"attn: MultiheadAttention", "norm: Linear"}
    top = explain.graph(model=model, example_input=x, collapse=1)
    kinds = {n.label for n in top.nodes.values() if n.kind == "module"}
    assert kinds == {"attn: MultiheadAttention", "norm: Linear"}
    assert len(top.nodes) == 4  # input, attn, norm, the residual add
    # every op of the full graph is in exactly one box of the collapsed one
    group = {}
    for nid, node in small.nodes.items():
        for op in node.ops or [nid]:
            assert op not in group
            group[op] = nid
    assert set(group) == set(full.nodes)
    wanted = {(group[s], group[t]) for s, t in full.edges if group[s] != group[t]}
    assert set(small.edges) == wanted
    check_geometry(small, small.to_svg())
    # a Sequential MLP collapses to input -> Linear -> Tanh -> ... -> Linear
    seq = explain.graph(model=mlp(), example_input=torch.randn(4, 6), collapse=1)
    chain = {s: t for s, t in seq.edges}
    assert len(chain) == len(seq.edges) == 4
    assert [seq.nodes[n].label for n in seq.nodes][-1] == "0: Linear"
    assert seq.nodes["m_4"].shape == (4, 3)


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.fc(self.act(self.fc(x)))


def test_collapse_of_a_module_used_twice_draws_the_cycle():
    g = explain.graph(model=Shared(), example_input=torch.randn(2, 4), collapse=1)
    # x needs no gradient, so it is not in the graph
    assert set(g.edges) == {("m_fc", "m_act"), ("m_act", "m_fc")}
    check_geometry(g, g.to_svg())


def test_gradient_norms_colour_edges():
    model = Residual()
    x = torch.randn(3, 4, requires_grad=True)
    out = model(x)
    g = explain.graph(out, model=model)
    with pytest.raises(RuntimeError, match="gradient_norms"):
        g.to_svg(gradient_norms=True)
    out.sum().backward()
    _, labels, edges = parse_svg(g.to_svg(gradient_norms=True))
    norms = {}
    for s, t, _, _, norm, _ in edges:
        assert norm is not None
        norms[labels[s][0], labels[t][0]] = float(norm)
    w = model.fc2.weight.grad.numpy().astype(np.float64)
    assert math.isclose(
        norms["fc2.weight", "AddmmBackward0"], np.sqrt((w**2).sum()), rel_tol=1e-5
    )
    # d(sum)/d(fc2 output) is all ones, shape (3, 4)
    assert math.isclose(
        norms["AddmmBackward0", "AddBackward0"], math.sqrt(12), rel_tol=1e-6
    )


def test_long_chain_is_fast():
    x = torch.randn(4, requires_grad=True)
    y = x
    for _ in range(1000):
        y = y * 1.001
    start = time.perf_counter()
    g = explain.graph(y)
    svg = g.to_svg()
    took = time.perf_counter() - start
    assert len(g.nodes) == 1001
    assert took < 3.0, took
    boxes, _, edges = parse_svg(svg)
    assert len(boxes) == 1001 and len(edges) == 1000


def test_bad_arguments():
    model = mlp()
    x = torch.randn(2, 6)
    with pytest.raises(ValueError, match="collapse"):
        explain.graph(model(x), collapse="module")
    with pytest.raises(ValueError, match="collapse"):
        explain.graph(model=model, example_input=x, collapse="layers")
    with pytest.raises(ValueError, match="grad_fn"):
        explain.graph(torch.ones(3))
    with pytest.raises(ValueError, match="not both"):
        explain.graph(model(x), model=model, example_input=x)


def test_collapsed_gradient_norms_and_lazy_import():
    import plaingrad

    model = mlp()
    g = plaingrad.explain.graph(
        model=model, example_input=torch.randn(4, 6), collapse="module"
    )
    out = g.output  # the result of the forward graph() ran
    assert tuple(out.shape) == (4, 3)
    out.pow(2).sum().backward()
    _, labels, edges = parse_svg(g.to_svg(gradient_norms=True))
    norms = {labels[s][0]: float(norm) for s, _, _, _, norm, _ in edges}
    # an edge carries the gradient of the value leaving its source box; for
    # ReLU's output that is d(sum(out^2))/d(relu) = 2 out @ W4, by hand
    assert set(norms) == {"0: Linear", "1: Tanh", "2: Linear", "3: ReLU"}
    w4 = model[4].weight.detach().numpy().astype(np.float64)
    grad_out = 2 * out.detach().numpy().astype(np.float64)  # (4, 3)
    relu_out = grad_out @ w4  # gradient w.r.t. ReLU's output
    assert math.isclose(norms["3: ReLU"], np.sqrt((relu_out**2).sum()), rel_tol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layout_of_random_dags(seed):
    # long edges (dummies), fan-in, fan-out and several sources at once
    from plaingrad.explain.graph import Graph, GraphNode

    rng = np.random.default_rng(seed)
    n = 40
    nodes = {
        f"n{i}": GraphNode(f"n{i}", "x" * rng.integers(3, 20), "op") for i in range(n)
    }
    edges = set()
    for j in range(1, n):
        for i in rng.choice(j, size=min(j, rng.integers(0, 4)), replace=False):
            edges.add((f"n{i}", f"n{j}"))
    g = Graph(nodes, sorted(edges))
    check_geometry(g, g.to_svg())


def test_cli_explain_graph_writes_the_digits_mlp(tmp_path, capsys):
    from plaingrad.cli.main import main

    path = tmp_path / "g.svg"
    assert main(["explain", "graph", "--output", str(path)]) == 0
    assert "Saved" in capsys.readouterr().out
    boxes, labels, edges = parse_svg(path.read_text())
    texts = [t for lines in labels.values() for t in lines]
    for name, shape in [("0.weight", (128, 64)), ("4.bias", (10,))]:
        assert name in texts and str(shape) in texts
    # 3 Linear (addmm), 2 ReLU, 6 parameters; the input needs no gradient
    assert len(boxes) == 11 and len(edges) == 10
    assert texts.count("AddmmBackward0") == 3
    collapsed = tmp_path / "c.svg"
    assert main(["explain", "graph", "--collapse", "-o", str(collapsed)]) == 0
    boxes, labels, edges = parse_svg(collapsed.read_text())
    assert sorted(lines[0] for lines in labels.values()) == [
        "0: Linear",
        "1: ReLU",
        "2: Linear",
        "3: ReLU",
        "4: Linear",
    ]
    bad = tmp_path / "missing" / "g.svg"
    assert main(["explain", "graph", "-o", str(bad)]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_barycenter_sweeps_remove_avoidable_crossings():
    from plaingrad.explain import _layout

    # 0->5, 1->4, 2->3 in this order cross three times; reversed, never
    down = [[5], [4], [3], [], [], []]
    up = [[], [], [], [2], [1], [0]]
    layers = [[0, 1, 2], [3, 4, 5]]
    assert _layout._crossings(layers, down) == 3
    best = _layout._reduce_crossings([list(x) for x in layers], up, down)
    assert _layout._crossings(best, down) == 0
    assert sorted(best[1]) == [3, 4, 5]
