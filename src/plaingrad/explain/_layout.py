"""A layered (Sugiyama-style) layout of a directed acyclic graph.

The steps, each a function below:

1. ranks: every node gets the length of the longest path from a source, so each
   edge points down at least one rank; then each source moves down to just
   above its first user;
2. dummies: an edge spanning several ranks is cut into one-rank pieces by
   point-sized dummy nodes, which later become the bends of the drawn edge;
3. order: the nodes of each rank are ordered by barycenter sweeps (a node moves
   to the mean position of its neighbours in the rank above, then below),
   keeping the order with the fewest crossings;
4. coordinates: ranks are stacked with a fixed gap, and within a rank each node
   is pulled towards its neighbours' centres while a left-to-right and a
   right-to-left pass keep at least ``gap`` between neighbouring boxes, so no
   two boxes ever overlap;
5. routes: each edge becomes a list of points from the bottom side of its
   source box, through its dummies (straight down their rank), to the top side
   of its target box; edges meeting one side are spread along it in order.

Nothing here knows about tensors; ``Layout`` holds plain numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

NODE_GAP = 24.0
RANK_GAP = 48.0
DUMMY_WIDTH = 8.0
MARGIN = 16.0


@dataclass
class Layout:
    """Boxes as ``(x, y, width, height)`` (top-left corner) per node index, and
    one list of ``(x, y)`` points per edge, in the order the edges were given."""

    boxes: list[tuple[float, float, float, float]]
    routes: list[list[tuple[float, float]]]
    width: float
    height: float
    ranks: list[int] = field(default_factory=list)


def layout(sizes: list[tuple[float, float]], edges: list[tuple[int, int]]) -> Layout:
    """Lay out nodes of the given ``(width, height)`` joined by ``edges``
    (``(source, target)`` index pairs; the graph must be acyclic)."""
    n = len(sizes)
    given = [(s, t) for s, t in edges if s != t]
    # a cycle (a module's box used twice, say) is drawn with its back edges
    # laid out reversed, so that every edge still points down in the layout
    back = _back_edges(n, given)
    edges = [(t, s) if k in back else (s, t) for k, (s, t) in enumerate(given)]
    rank = _ranks(n, edges)
    # chains: per edge, the node ids it passes through (dummies are >= n)
    widths = [w for w, _ in sizes]
    rank_of = list(rank)
    chains = []
    for s, t in edges:
        chain = [s]
        for r in range(rank[s] + 1, rank[t]):
            rank_of.append(r)
            widths.append(DUMMY_WIDTH)
            chain.append(len(rank_of) - 1)
        chain.append(t)
        chains.append(chain)
    total = len(rank_of)
    up: list[list[int]] = [[] for _ in range(total)]
    down: list[list[int]] = [[] for _ in range(total)]
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            down[a].append(b)
            up[b].append(a)
    n_ranks = max(rank_of, default=-1) + 1
    layers: list[list[int]] = [[] for _ in range(n_ranks)]
    for v in _initial_order(total, rank_of, down):
        layers[rank_of[v]].append(v)
    layers = _reduce_crossings(layers, up, down)
    heights = [0.0] * n_ranks
    for v in range(n):
        heights[rank_of[v]] = max(heights[rank_of[v]], sizes[v][1])
    tops = []
    y = MARGIN
    for h in heights:
        tops.append(y)
        y += h + RANK_GAP
    xs = _coordinates(layers, widths, up, down)
    left = min((xs[v] - widths[v] / 2 for v in range(total)), default=0.0)
    shift = MARGIN - left
    xs = [x + shift for x in xs]
    boxes = []
    for v in range(n):
        w, h = sizes[v]
        r = rank_of[v]
        top = tops[r] + (heights[r] - h) / 2
        boxes.append((xs[v] - w / 2, top, w, h))
    routes = _routes(chains, boxes, xs, rank_of, tops, heights, n)
    routes = [r[::-1] if k in back else r for k, r in enumerate(routes)]
    right = max((xs[v] + widths[v] / 2 for v in range(total)), default=0.0)
    return Layout(boxes, routes, right + MARGIN, y - RANK_GAP + MARGIN, rank)


def _back_edges(n: int, edges: list[tuple[int, int]]) -> set[int]:
    """Indices of edges that close a cycle in a depth-first search (iterative;
    an empty set for an acyclic graph)."""
    succ: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for k, (s, t) in enumerate(edges):
        succ[s].append((t, k))
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    back = set()
    for root in range(n):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, it = stack[-1]
            for t, k in it:
                if state[t] == 1:
                    back.add(k)
                elif state[t] == 0:
                    state[t] = 1
                    stack.append((t, iter(succ[t])))
                    break
            else:
                state[v] = 2
                stack.pop()
    return back


def _ranks(n: int, edges: list[tuple[int, int]]) -> list[int]:
    """Longest-path ranks by Kahn's topological order (no recursion)."""
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for s, t in edges:
        succ[s].append(t)
        indeg[t] += 1
    indeg_start = list(indeg)
    rank = [0] * n
    ready = [v for v in range(n) if indeg[v] == 0]
    seen = 0
    while ready:
        v = ready.pop()
        seen += 1
        for t in succ[v]:
            rank[t] = max(rank[t], rank[v] + 1)
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    if seen != n:
        raise ValueError("layout: the graph has a cycle; expected a DAG")
    # a source (a weight, an input) sits right above its first user, not in
    # the top rank, so that its edge stays short
    for v in range(n):
        if indeg_start[v] == 0 and succ[v]:
            rank[v] = min(rank[t] for t in succ[v]) - 1
    return rank


def _initial_order(total: int, rank_of: list[int], down: list[list[int]]) -> list:
    """Nodes in depth-first order from the sources, so that a chain starts
    lined up and connected nodes start near each other."""
    has_up = [False] * total
    for v in range(total):
        for t in down[v]:
            has_up[t] = True
    seen = [False] * total
    order = []
    for root in range(total):
        if has_up[root] or seen[root]:
            continue
        stack = [root]
        while stack:
            v = stack.pop()
            if seen[v]:
                continue
            seen[v] = True
            order.append(v)
            stack.extend(reversed(down[v]))
    order.extend(v for v in range(total) if not seen[v])
    return order


def _reduce_crossings(layers: list, up: list, down: list, sweeps: int = 4) -> list:
    """Barycenter sweeps down and up; the best order seen is kept."""
    best = [list(layer) for layer in layers]
    best_count = _crossings(best, down)
    for _ in range(sweeps):
        if best_count == 0:
            break
        for r in range(1, len(layers)):
            layers[r] = _by_barycenter(layers[r], layers[r - 1], up)
        for r in range(len(layers) - 2, -1, -1):
            layers[r] = _by_barycenter(layers[r], layers[r + 1], down)
        count = _crossings(layers, down)
        if count < best_count:
            best = [list(layer) for layer in layers]
            best_count = count
    return best


def _by_barycenter(layer: list, fixed: list, neighbours: list) -> list:
    pos = {v: i for i, v in enumerate(fixed)}
    keys = []
    for i, v in enumerate(layer):
        near = [pos[u] for u in neighbours[v] if u in pos]
        keys.append((sum(near) / len(near) if near else float(i), i, v))
    keys.sort()
    return [v for _, _, v in keys]


def _crossings(layers: list, down: list) -> int:
    """Edge crossings between neighbouring ranks, by counting inversions."""
    total = 0
    for r in range(len(layers) - 1):
        pos = {v: i for i, v in enumerate(layers[r + 1])}
        ends: list[tuple[int, int]] = []
        for i, v in enumerate(layers[r]):
            ends.extend((i, pos[t]) for t in down[v] if t in pos)
        ends.sort()
        total += _inversions([b for _, b in ends])
    return total


def _inversions(seq: list[int]) -> int:
    """Pairs i < j with seq[i] > seq[j], with a Fenwick tree."""
    size = max(seq, default=0) + 2
    tree = [0] * (size + 1)
    count = 0
    for seen, value in enumerate(seq):
        i = value + 1
        below = 0
        while i > 0:
            below += tree[i]
            i -= i & -i
        count += seen - below
        i = value + 1
        while i <= size:
            tree[i] += 1
            i += i & -i
    return count


def _coordinates(layers: list, widths: list, up: list, down: list) -> list:
    """x of each node's centre: pulled to its neighbours, never overlapping."""
    xs = [0.0] * len(widths)
    for layer in layers:
        x = 0.0
        for v in layer:
            xs[v] = x + widths[v] / 2
            x += widths[v] + NODE_GAP
    for sweep in range(8):
        ordered = layers if sweep % 2 == 0 else layers[::-1]
        neighbours = up if sweep % 2 == 0 else down
        for layer in ordered:
            wanted = []
            for v in layer:
                near = [xs[u] for u in neighbours[v]] or [xs[v]]
                wanted.append(sum(near) / len(near))
            _place(layer, wanted, widths, xs)
    return xs


def _place(layer: list, wanted: list, widths: list, xs: list) -> None:
    """Put each node as near its wanted x as the spacing allows: one pass to
    the right pushing overlaps apart, one to the left, and their mean (which
    still keeps every gap, as both passes do)."""
    m = len(layer)
    right = [0.0] * m
    for i in range(m):
        x = wanted[i]
        if i:
            least = right[i - 1] + (widths[layer[i - 1]] + widths[layer[i]]) / 2
            x = max(x, least + NODE_GAP)
        right[i] = x
    left = [0.0] * m
    for i in range(m - 1, -1, -1):
        x = wanted[i]
        if i < m - 1:
            most = left[i + 1] - (widths[layer[i + 1]] + widths[layer[i]]) / 2
            x = min(x, most - NODE_GAP)
        left[i] = x
    for i, v in enumerate(layer):
        xs[v] = (right[i] + left[i]) / 2


def _next_x(xs: list, chains: list, k: int, o: int) -> float:
    return xs[chains[k][o]]


def _routes(chains, boxes, xs, rank_of, tops, heights, n) -> list:
    """Points of each edge: a port on the source's bottom side, the dummies
    (down through their rank), a port on the target's top side."""
    outs: list[list[int]] = [[] for _ in range(n)]
    ins: list[list[int]] = [[] for _ in range(n)]
    for k, chain in enumerate(chains):
        outs[chain[0]].append(k)
        ins[chain[-1]].append(k)
    start: dict[int, float] = {}
    end: dict[int, float] = {}
    for v in range(n):
        x, _, w, _ = boxes[v]
        # order the ports by where the edge goes next, to avoid crossing
        for ports, where, other in ((outs[v], start, 1), (ins[v], end, -2)):
            ports.sort(key=partial(_next_x, xs, chains, o=other))
            for j, k in enumerate(ports):
                where[k] = x + w * (j + 1) / (len(ports) + 1)
    routes = []
    for k, chain in enumerate(chains):
        s, t = chain[0], chain[-1]
        sx, sy, _, sh = boxes[s]
        points = [(start[k], sy + sh)]
        # leave and enter a rank straight down, so that a box shorter than its
        # rank never has an edge curving beside it
        band_bottom = tops[rank_of[s]] + heights[rank_of[s]]
        if band_bottom > sy + sh:
            points.append((start[k], band_bottom))
        for d in chain[1:-1]:
            r = rank_of[d]
            points.append((xs[d], tops[r]))
            points.append((xs[d], tops[r] + heights[r]))
        if boxes[t][1] > tops[rank_of[t]]:
            points.append((end[k], tops[rank_of[t]]))
        points.append((end[k], boxes[t][1]))
        routes.append(points)
    return routes
