"""SVG drawing of a ``Graph`` from its layered layout; no Graphviz needed.

Each node is a ``<g class="node" id="...">`` holding a ``<rect>`` and its text;
each edge is a ``<path class="edge" data-source=... data-target=...>`` whose
first and last points lie on the sides of its two boxes, made of cubic curves
with vertical tangents through the bends the layout gave it, and an arrowhead.
With gradient norms, edges are coloured on a log scale from blue (smallest
norm in the graph) to red (largest) and carry the norm in ``data-grad-norm``
and a ``<title>``; edges whose gradient is unknown stay grey.
"""

from __future__ import annotations

import math
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from ._layout import layout

CHAR_WIDTH = 7.2
LINE_HEIGHT = 15.0
PAD_X = 10.0
PAD_Y = 7.0
FILL = {"op": "#f5f5f5", "param": "#dde8f5", "input": "#e8f5dd", "module": "#fdf0d5"}


def render(g: Any, norms: dict[str, float] | None = None) -> str:
    """The SVG text of graph ``g``; ``norms`` (node id -> gradient norm)
    colours the edges leaving those nodes."""
    ids = list(g.nodes)
    index = {nid: i for i, nid in enumerate(ids)}
    texts = [[t for t in g.nodes[nid].lines() if t] for nid in ids]
    sizes = [
        (
            max(len(t) for t in lines) * CHAR_WIDTH + 2 * PAD_X,
            len(lines) * LINE_HEIGHT + 2 * PAD_Y,
        )
        for lines in texts
    ]
    edges = [(index[s], index[t]) for s, t in g.edges]
    placed = layout(sizes, edges)
    low = high = None
    if norms:
        positive = [v for v in norms.values() if v > 0]
        if positive:
            low, high = math.log10(min(positive)), math.log10(max(positive))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{placed.width:.0f}" '
        f'height="{placed.height:.0f}" viewBox="0 0 {placed.width:.1f} '
        f'{placed.height:.1f}" font-family="monospace" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="context-stroke"/></marker></defs>',
    ]
    for (s, t), points in zip(g.edges, placed.routes, strict=True):
        colour, extra = "#888888", ""
        title = f"<title>{escape(s)} -&gt; {escape(t)}"
        value = None if norms is None else norms.get(s)
        if value is not None:
            colour = _colour(value, low, high)
            extra = f' data-grad-norm="{value:.6g}"'
            title += f": grad norm {value:.4g}"
        out.append(
            f'<path class="edge" data-source={quoteattr(s)} '
            f'data-target={quoteattr(t)}{extra} d="{_curve(points)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.4" marker-end="url(#arrow)">'
            f"{title}</title></path>"
        )
    for i, nid in enumerate(ids):
        node = g.nodes[nid]
        x, y, w, h = placed.boxes[i]
        out.append(f'<g class="node" id={quoteattr(nid)}>')
        out.append(
            f'<rect x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{h:.2f}" '
            f'rx="4" fill="{FILL.get(node.kind, "#ffffff")}" stroke="#333333"/>'
        )
        for k, line in enumerate(texts[i]):
            ty = y + PAD_Y + LINE_HEIGHT * (k + 0.75)
            weight = ' font-weight="bold"' if k == 0 else ""
            out.append(
                f'<text x="{x + w / 2:.2f}" y="{ty:.2f}" text-anchor="middle"'
                f"{weight}>{escape(line)}</text>"
            )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _curve(points: list[tuple[float, float]]) -> str:
    """A path through ``points``: each step a cubic with vertical tangents."""
    x0, y0 = points[0]
    parts = [f"M {x0:.2f} {y0:.2f}"]
    for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
        if xa == xb:
            parts.append(f"L {xb:.2f} {yb:.2f}")
            continue
        mid = (ya + yb) / 2
        parts.append(f"C {xa:.2f} {mid:.2f} {xb:.2f} {mid:.2f} {xb:.2f} {yb:.2f}")
    return " ".join(parts)


def _colour(value: float, low: float | None, high: float | None) -> str:
    """Blue for the smallest norm, red for the largest, on a log scale."""
    if value <= 0 or low is None or high is None:
        return "#3050c0"
    f = 0.5 if high == low else (math.log10(value) - low) / (high - low)
    red = int(48 + f * (208 - 48))
    blue = int(192 - f * (192 - 48))
    return f"#{red:02x}50{blue:02x}"
