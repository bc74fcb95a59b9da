"""Charts for ``plaingrad lens``'s page, drawn as inline SVG like ``_charts.py``.

- ``bar_chart``: grouped bars, one group per layer (probe accuracy trained
  and untrained), on a fixed 0 to 1 scale;
- ``matrix_heatmap``: a square grid of values in [0, 1] (the CKA matrix),
  each cell with its value written in it, NaN drawn apart from the scale;
- ``scatter``: one layer's 2-D projection, points coloured by class.

Every label is escaped and the SVGs use no ids, so several can share a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from ._charts import (
    NONFINITE_COLOUR,
    _colour_bar,
    _number,
    _svg_open,
    scale_colour,
    series_colours,
)


def bar_chart(
    groups: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    y_label: str,
    height: int = 300,
) -> str:
    """Grouped bars on a 0 to 1 scale: one group per name in ``groups``.

    Args:
        groups: the name under each group of bars (a layer).
        series: name -> one value per group; None or NaN draws no bar.
        title: drawn above the plot.
        y_label: the value axis' name.
        height: the plot's height in pixels.

    Returns:
        The ``<svg>`` element as text.
    """
    left, top, bottom = 56.0, 28.0, 46.0
    names = list(series)
    colours = series_colours(len(names))
    group_w = max(34.0, 14.0 * len(names) + 16.0)
    plot_w = group_w * max(1, len(groups))
    plot_h = height - top - bottom
    legend_w = 22.0 + 6.6 * max((len(n) for n in names), default=0)
    width = left + plot_w + 12.0 + legend_w
    out = [_svg_open(width, height, title)]
    out.append(
        f'<text x="{left}" y="16" font-size="13" font-weight="600">'
        f"{escape(title)}</text>"
    )
    for tick in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        y = top + (1.0 - tick) * plot_h
        out.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#eeeeee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_number(tick)}</text>"
        )
    bar_w = (group_w - 12.0) / max(1, len(names))
    for g, group in enumerate(groups):
        x0 = left + g * group_w + 6.0
        for s, (name, colour) in enumerate(zip(names, colours)):
            value = series[name][g]
            if value is None or not math.isfinite(value):
                continue
            bar_h = min(max(value, 0.0), 1.0) * plot_h
            out.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{top + plot_h - bar_h:.1f}" '
                f'width="{bar_w - 1:.1f}" height="{bar_h:.1f}" fill="{colour}">'
                f"<title>{escape(f'{group} {name}: {value:.3f}')}</title></rect>"
            )
        out.append(
            f'<text x="{x0 + (group_w - 12.0) / 2:.1f}" y="{top + plot_h + 16:.1f}" '
            f'text-anchor="middle">{escape(group)}</text>'
        )
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w:.1f}" height="{plot_h:.1f}" '
        'fill="none" stroke="#999999"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" '
        'text-anchor="middle">layer</text>'
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for row, (name, colour) in enumerate(zip(names, colours)):
        y = top + 8 + 16 * row
        x = left + plot_w + 12.0
        out.append(
            f'<rect x="{x}" y="{y - 8}" width="12" height="10" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{y + 1}">{escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def matrix_heatmap(
    matrix: Sequence[Sequence[float | None]],
    names: Sequence[str],
    *,
    title: str,
    value_label: str = "CKA",
) -> str:
    """A square heatmap of values in [0, 1], rows and columns named ``names``.

    Args:
        matrix: ``len(names)`` rows of ``len(names)`` values; None or NaN
            (a constant layer's CKA) is drawn in ``NONFINITE_COLOUR``.
        names: the layer of each row and column, top to bottom and left to
            right.
        title: drawn above the map.
        value_label: the colour bar's caption.

    Returns:
        The ``<svg>`` element as text.
    """
    count = max(1, len(names))
    cell = max(18.0, min(56.0, 420.0 / count))
    label_w = 12.0 + 6.6 * max((len(n) for n in names), default=4)
    top = 34.0
    side = cell * count
    bar_x = label_w + side + 18.0
    width = bar_x + 70.0
    height = top + side + label_w + 8.0
    out = [_svg_open(width, height, title)]
    out.append(
        f'<text x="{label_w}" y="16" font-size="13" font-weight="600">'
        f"{escape(title)}</text>"
    )
    for i, name in enumerate(names):
        y = top + i * cell
        out.append(
            f'<text x="{label_w - 6}" y="{y + cell / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(name)}</text>'
        )
        x = label_w + i * cell + cell / 2
        below = top + side + 8
        out.append(
            f'<text x="{x:.1f}" y="{below:.1f}" text-anchor="end" '
            f'transform="rotate(-60 {x:.1f} {below:.1f})">{escape(name)}</text>'
        )
    for i, row in enumerate(matrix):
        out.append('<g class="row" shape-rendering="crispEdges">')
        for j, given in enumerate(row):
            value = math.nan if given is None else float(given)
            finite = math.isfinite(value)
            colour = scale_colour(value) if finite else NONFINITE_COLOUR
            text = f"{value:.2f}" if finite else "nan"
            ink = "#ffffff" if finite and value < 0.6 else "#000000"
            x, y = label_w + j * cell, top + i * cell
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell + 0.3:.1f}" '
                f'height="{cell + 0.3:.1f}" fill="{colour}">'
                f"<title>{escape(f'{names[i]} / {names[j]}: {text}')}</title></rect>"
            )
            if cell >= 30:
                out.append(
                    f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2 + 4:.1f}" '
                    f'text-anchor="middle" fill="{ink}">{text}</text>'
                )
        out.append("</g>")
    out.append(_colour_bar(bar_x, top, side, 0.0, 1.0, value_label))
    out.append("</svg>")
    return "".join(out)


def scatter(
    points: Sequence[Sequence[float]],
    labels: Sequence[int],
    *,
    title: str,
    size: int = 240,
) -> str:
    """One layer's 2-D projection as an SVG scatter plot, coloured by label.

    Args:
        points: ``(N, 2)`` coordinates (the first two PCA components).
        labels: the ``N`` integer labels; each class gets one colour of
            ``series_colours`` and an entry in the legend.
        title: drawn above the plot (the layer's name).
        size: the square plot's side in pixels.

    Returns:
        The ``<svg>`` element as text.
    """
    classes = sorted(set(int(label) for label in labels))
    colours = dict(zip(classes, series_colours(len(classes))))
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    pad, top = 8.0, 24.0

    def span(values: list[float]) -> tuple[float, float]:
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        if high - low < 1e-12:
            low, high = low - 0.5, high + 0.5
        return low, high

    (x_low, x_high), (y_low, y_high) = span(xs), span(ys)
    inner = size - 2 * pad
    legend_w = 44.0 if len(classes) <= 20 else 0.0
    out = [_svg_open(size + legend_w, size + top, title)]
    out.append(
        f'<text x="{pad}" y="16" font-size="12" font-weight="600">'
        f"{escape(title)}</text>"
        f'<rect x="0.5" y="{top}" width="{size - 1}" height="{size - 1}" '
        'fill="#ffffff" stroke="#999999"/>'
    )
    for label in classes:
        out.append(f'<g class="class" fill="{colours[label]}" fill-opacity="0.7">')
        out.append(f"<title>class {label}</title>")
        for x, y, point_label in zip(xs, ys, labels):
            if int(point_label) != label:
                continue
            cx = pad + (x - x_low) / (x_high - x_low) * inner
            cy = top + pad + (y_high - y) / (y_high - y_low) * inner
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2"/>')
        out.append("</g>")
    for row, label in enumerate(classes if legend_w else []):
        y = top + 10 + 14 * row
        out.append(
            f'<rect x="{size + 6}" y="{y - 8}" width="10" height="10" '
            f'fill="{colours[label]}"/><text x="{size + 20}" y="{y + 1}">'
            f"{label}</text>"
        )
    out.append("</svg>")
    return "".join(out)
