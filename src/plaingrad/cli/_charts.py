"""Charts for ``report.py``, drawn as inline SVG by plaingrad itself.

The HTML report must open anywhere, with no extra installed and no network,
so its charts are SVG text written here rather than matplotlib images:

- ``line_chart``: one or more series against the step or epoch, on a linear
  or a base-10 log scale, with optional dashed reference lines (thresholds);
  a value that cannot be drawn (None, NaN, Inf, or <= 0 on a log scale)
  leaves a gap in its line.
- ``heatmap``: one row per layer, one column per step (steps are binned
  when there are more than ``MAX_COLUMNS``), coloured by ``log10`` of the
  value; zero is drawn grey and NaN/Inf red, outside the colour scale.

Every label is escaped; the SVGs use no ids, so several can share a page.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from html import escape

# At most this many columns in a heatmap, and points in a line.
MAX_COLUMNS = 240
MAX_POINTS = 400
# Ten distinct colours for the first series; more are spread over the hues.
PALETTE = (
    "#1f5fa8", "#d8641b", "#2e8b3d", "#c0312b", "#7b52ab",
    "#8c5a3c", "#c4509c", "#6b6b6b", "#9a9a1e", "#1aa0b0",
)  # fmt: skip
# The heatmap's colour scale, low to high (dark blue, teal, green, yellow).
SCALE = ((0.16, 0.11, 0.37), (0.13, 0.45, 0.55), (0.29, 0.72, 0.42), (0.99, 0.9, 0.2))
ZERO_COLOUR = "#d4d4d4"
NONFINITE_COLOUR = "#e0115f"
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def series_colours(count: int) -> list[str]:
    """``count`` colours: the palette, or hues spread evenly past ten."""
    if count <= len(PALETTE):
        return list(PALETTE[:count])
    colours = []
    for index in range(count):
        # hues from red to purple (0 to 300 degrees): the two ends of a long
        # list of layers must not meet in the same red
        r, g, b = colorsys.hls_to_rgb(0.83 * index / count, 0.42, 0.75)
        colours.append(_hex((r, g, b)))
    return colours


def _hex(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(255 * min(max(c, 0.0), 1.0)):02x}" for c in rgb)


def scale_colour(fraction: float) -> str:
    """The colour at ``fraction`` (0 to 1) of the heatmap's scale."""
    fraction = min(max(fraction, 0.0), 1.0) * (len(SCALE) - 1)
    low = min(int(fraction), len(SCALE) - 2)
    t = fraction - low
    mixed = [a + (b - a) * t for a, b in zip(SCALE[low], SCALE[low + 1])]
    return _hex(mixed)


def _number(value: float) -> str:
    """A tick label: short, and in powers of ten for very large or small."""
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-2:
        return f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{value:.3g}"


def _nice_ticks(
    low: float, high: float, count: int = 5, whole: bool = False
) -> list[float]:
    """Round tick values covering ``[low, high]`` (steps of 1, 2 or 5 times
    a power of ten; at least 1 when ``whole``)."""
    if high <= low:
        high = low + 1.0
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if whole:
        step = max(step, 1)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 12))
        value += step
    return ticks


def _drawable(value: float | None, log: bool) -> float | None:
    """``value`` on the chart's scale, or None when it cannot be drawn."""
    if value is None or not math.isfinite(value) or (log and value <= 0):
        return None
    return math.log10(value) if log else float(value)


def _svg_open(width: float, height: float, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="{escape(label)}" {FONT}>'
        f"<title>{escape(label)}</title>"
    )


def line_chart(
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_values: Sequence[float] | None = None,
    log_y: bool = False,
    references: Sequence[tuple[float, str]] = (),
    y_range: tuple[float, float] | None = None,
    width: int = 680,
    height: int = 300,
) -> str:
    """An SVG line chart of ``series`` (name -> values, one per x).

    Args:
        series: the lines, drawn in order with ``series_colours``.
        title: drawn above the plot.
        x_label, y_label: the axes' names.
        x_values: the x of each value (default: 0, 1, 2, ...).
        log_y: a base-10 log scale for y.
        references: ``(y, label)`` pairs drawn as dashed horizontal lines.
        y_range: fixed y limits (default: the data's, with the references).
        width, height: the plot's size in pixels, without the legend.

    Returns:
        The ``<svg>`` element as text.
    """
    length = max((len(v) for v in series.values()), default=0)
    xs = list(x_values) if x_values is not None else list(range(length))
    stride = max(1, math.ceil(length / MAX_POINTS))
    keep = sorted(set(range(0, length, stride)) | ({length - 1} if length else set()))
    ys = [_drawable(y, log_y) for y, _ in references]
    for values in series.values():
        ys.extend(_drawable(values[i], log_y) for i in keep if i < len(values))
    finite = [y for y in ys if y is not None]
    if y_range is not None:
        low, high = (_drawable(v, log_y) or 0.0 for v in y_range)
    elif finite:
        low, high = min(finite), max(finite)
    else:
        low, high = 0.0, 1.0
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    if log_y:
        low, high = math.floor(low), math.ceil(high)
        step = max(1, math.ceil((high - low) / 8))
        ticks = [float(v) for v in range(int(low), int(high) + 1, step)]
    else:
        ticks = _nice_ticks(low, high)
        low, high = min(low, ticks[0]), max(high, ticks[-1])
    x_low, x_high = (xs[0], xs[-1]) if xs else (0.0, 1.0)
    if x_high == x_low:
        x_low, x_high = x_low - 1, x_high + 1

    left, top, bottom = 64.0, 28.0, 40.0
    plot_w, plot_h = width - left - 12.0, height - top - bottom
    names = list(series)
    colours = series_colours(len(names))
    legend_w = 0.0
    if len(names) > 1:
        longest = max(len(n) for n in names)
        if any(all(_drawable(v, log_y) is None for v in series[n]) for n in names):
            longest += 18  # room for " (0 at every step)"
        legend_w = 22.0 + 6.6 * longest
    total_h = max(height, top + 16.0 * len(names) + 8.0)

    def px(x: float) -> float:
        return left + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return top + (high - y) / (high - low) * plot_h

    out = [_svg_open(width + legend_w, total_h, title)]
    out.append(
        f'<text x="{left}" y="16" font-size="13" font-weight="600">'
        f"{escape(title)}</text>"
    )
    out.append(
        f'<rect x="{left}" y="{top}" width="{plot_w:.1f}" height="{plot_h:.1f}" '
        'fill="#ffffff" stroke="#999999"/>'
    )
    for tick in ticks:
        y = py(tick)
        text = _number(10**tick) if log_y else _number(tick)
        out.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#eeeeee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
    whole = all(float(x).is_integer() for x in xs)
    for tick in _nice_ticks(x_low, x_high, 6, whole):
        if not x_low <= tick <= x_high:
            continue
        x = px(tick)
        out.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16:.1f}" text-anchor="middle">'
            f"{_number(tick)}</text>"
        )
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for value, label in references:
        y_ref = _drawable(value, log_y)
        if y_ref is None or not low <= y_ref <= high:
            continue
        y = py(y_ref)
        out.append(
            f'<line x1="{left}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            'stroke="#b22222" stroke-dasharray="5 4"/>'
            f'<text x="{left + plot_w - 4:.1f}" y="{y - 4:.1f}" text-anchor="end" '
            'fill="#b22222" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{escape(label)}</text>"
        )
    for name, colour in zip(names, colours):
        values = series[name]
        points: list[tuple[float, float] | None] = []
        for i in keep:
            drawn = _drawable(values[i], log_y) if i < len(values) else None
            points.append(None if drawn is None else (px(xs[i]), py(drawn)))
        out.append(_polyline(points, colour, name, markers=len(keep) <= 60))
    for row, (name, colour) in enumerate(zip(names if legend_w else [], colours)):
        y = top + 8 + 16 * row
        drawn = any(_drawable(v, log_y) is not None for v in series[name])
        # a series a log scale cannot show (zero at every step) says so
        note = "" if drawn else " (0 at every step)" if log_y else " (no values)"
        out.append(
            f'<rect x="{width + 4}" y="{y - 8}" width="12" height="10" '
            f'fill="{colour}"/><text x="{width + 20}" y="{y + 1}">'
            f"{escape(name + note)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _polyline(
    points: list[tuple[float, float] | None], colour: str, name: str, markers: bool
) -> str:
    """A path through ``points``, broken at each None."""
    parts, pen_down = [], False
    for point in points:
        if point is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{point[0]:.1f} {point[1]:.1f}")
        pen_down = True
    out = [f'<g class="series"><title>{escape(name)}</title>']
    if parts:
        out.append(
            f'<path d="{" ".join(parts)}" fill="none" stroke="{colour}" '
            'stroke-width="1.6"/>'
        )
    if markers:
        for point in points:
            if point is not None:
                out.append(
                    f'<circle cx="{point[0]:.1f}" cy="{point[1]:.1f}" r="2.6" '
                    f'fill="{colour}"/>'
                )
    out.append("</g>")
    return "".join(out)


def _bin(values: Sequence[float | None], start: int, stop: int) -> float | None:
    """One heatmap cell over steps ``[start, stop)``: the mean of ``log10``
    of the positive values, ``-inf`` when all are zero, ``nan`` when one is
    NaN or Inf, None when there is nothing."""
    chunk = [v for v in values[start:stop] if v is not None]
    if not chunk:
        return None
    if any(not math.isfinite(v) for v in chunk):
        return math.nan
    positive = [math.log10(v) for v in chunk if v > 0]
    if not positive:
        return -math.inf
    return sum(positive) / len(positive)


def heatmap(
    rows: dict[str, Sequence[float | None]],
    *,
    title: str,
    x_label: str = "step",
    value_label: str = "log10",
    flagged: Sequence[int] = (),
    width: int = 680,
) -> str:
    """An SVG heatmap: one row per name, one column per (binned) step.

    Args:
        rows: name -> one value per step (top to bottom in this order).
        title: drawn above the map.
        x_label: the name of the column axis.
        value_label: the colour bar's caption.
        flagged: steps marked above the map (where something was NaN/Inf).
        width: the map's width in pixels, without labels and colour bar.

    Returns:
        The ``<svg>`` element as text.
    """
    names = list(rows)
    steps = max((len(v) for v in rows.values()), default=0)
    columns = max(1, min(steps, MAX_COLUMNS))
    per = max(1, math.ceil(steps / columns)) if steps else 1
    columns = max(1, math.ceil(steps / per)) if steps else 1
    cells = {
        n: [_bin(rows[n], c * per, (c + 1) * per) for c in range(columns)]
        for n in names
    }
    finite = [v for vs in cells.values() for v in vs if v is not None]
    finite = [v for v in finite if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5

    label_w = 12.0 + 6.6 * max((len(n) for n in names), default=4)
    row_h = max(6.0, min(22.0, 360.0 / max(1, len(names))))
    top, cell_w = 34.0, width / columns
    map_h = row_h * max(1, len(names))
    bar_x = label_w + width + 18.0
    total_w = max(bar_x + 70.0, label_w + 520.0)
    total_h = top + map_h + 64.0
    out = [_svg_open(total_w, total_h, title)]
    out.append(
        f'<text x="{label_w}" y="16" font-size="13" font-weight="600">'
        f"{escape(title)}</text>"
    )
    label_every = max(1, math.ceil(len(names) / 30))
    for r, name in enumerate(names):
        y = top + r * row_h
        if r % label_every == 0:
            out.append(
                f'<text x="{label_w - 6}" y="{y + row_h / 2 + 4:.1f}" '
                f'text-anchor="end">{escape(name)}</text>'
            )
        out.append(
            f'<g class="row" shape-rendering="crispEdges">'
            f"<title>layer {escape(name)}</title>"
        )
        for c, value in enumerate(cells[name]):
            if value is None:
                continue
            if math.isnan(value):
                colour = NONFINITE_COLOUR
            elif value == -math.inf:
                colour = ZERO_COLOUR
            else:
                colour = scale_colour((value - low) / (high - low))
            out.append(
                f'<rect x="{label_w + c * cell_w:.2f}" y="{y:.2f}" '
                f'width="{cell_w + 0.3:.2f}" height="{row_h + 0.3:.2f}" '
                f'fill="{colour}"/>'
            )
        out.append("</g>")
    out.append(
        f'<rect x="{label_w}" y="{top}" width="{width}" height="{map_h:.1f}" '
        'fill="none" stroke="#999999"/>'
    )
    for column in sorted({step // per for step in flagged if 0 <= step < steps}):
        out.append(
            f'<rect class="flag" x="{label_w + column * cell_w:.2f}" '
            f'y="{top - 7}" width="{max(cell_w, 2.0):.2f}" height="5" '
            f'fill="{NONFINITE_COLOUR}"/>'
        )
    for tick in _nice_ticks(0, max(1, steps - 1), 6, whole=True):
        x = label_w + (tick / per + 0.5) * cell_w
        if x <= label_w + width:
            out.append(
                f'<text x="{x:.1f}" y="{top + map_h + 14:.1f}" '
                f'text-anchor="middle">{_number(tick)}</text>'
            )
    binned = f" (mean of {per} steps per column)" if per > 1 else ""
    out.append(
        f'<text x="{label_w + width / 2:.1f}" y="{top + map_h + 30:.1f}" '
        f'text-anchor="middle">{escape(x_label + binned)}</text>'
    )
    out.append(_colour_bar(bar_x, top, map_h, low, high, value_label))
    out.append(
        f'<rect x="{label_w}" y="{top + map_h + 42:.1f}" width="12" height="10" '
        f'fill="{ZERO_COLOUR}"/><text x="{label_w + 16}" y="{top + map_h + 51:.1f}">'
        f"zero (no gradient)</text>"
        f'<rect x="{label_w + 130}" y="{top + map_h + 42:.1f}" width="12" '
        f'height="10" fill="{NONFINITE_COLOUR}"/><text x="{label_w + 146}" '
        f'y="{top + map_h + 51:.1f}">NaN or Inf (a mark above: at that '
        "step, in the loss, a gradient or an output)</text>"
    )
    out.append("</svg>")
    return "".join(out)


def _colour_bar(
    x: float, top: float, height: float, low: float, high: float, label: str
) -> str:
    """A vertical colour bar from ``low`` (bottom) to ``high`` (top)."""
    bands = 32
    out = ['<g class="colour-bar">']
    for band in range(bands):
        fraction = 1 - (band + 0.5) / bands
        out.append(
            f'<rect x="{x}" y="{top + band * height / bands:.2f}" width="14" '
            f'height="{height / bands + 0.3:.2f}" fill="{scale_colour(fraction)}"/>'
        )
    for tick in _nice_ticks(low, high, 4):
        y = top + (high - tick) / (high - low) * height
        out.append(f'<text x="{x + 18}" y="{y + 4:.1f}">{_number(tick)}</text>')
    out.append(f'<text x="{x}" y="{top + height + 14:.1f}">{escape(label)}</text></g>')
    return "".join(out)
