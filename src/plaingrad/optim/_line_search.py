"""The strong-Wolfe line search that ``LBFGS`` uses (``line_search_fn``).

Works on flat NumPy vectors: ``evaluate(t)`` returns the loss and the flat
gradient at ``x + t d`` and leaves the parameters at ``x``. The search
brackets a step that lowers the loss enough (Armijo, ``c1``) and has a
shallow enough slope (curvature, ``c2``), then narrows the bracket by cubic
interpolation (Nocedal & Wright, algorithms 3.5 and 3.6), step for step as
PyTorch's, so the trajectories agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def cubic_minimum(
    x1: float,
    f1: float,
    g1: float,
    x2: float,
    f2: float,
    g2: float,
    bounds: tuple | None = None,
) -> float:
    """The minimiser of the cubic through ``(x1, f1, g1)`` and ``(x2, f2, g2)``.

    Clamped to ``bounds`` (by default the interval between the points); when
    the cubic has no minimum, the middle of the bounds.
    """
    if bounds is None:
        low, high = (x1, x2) if x1 <= x2 else (x2, x1)
    else:
        low, high = bounds
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = math.sqrt(d2_square)
    if x1 <= x2:
        t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(t, low), high)


def strong_wolfe(
    evaluate: Callable[[float], tuple],
    t: float,
    d: np.ndarray,
    f: float,
    g: np.ndarray,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple:
    """Search along ``d`` from loss ``f``, gradient ``g``, slope ``gtd = g.d``.

    Returns ``(loss, flat_grad, t, evaluations)`` at the step found.
    """
    d_norm = float(np.abs(d).max())
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = float(np.dot(g_new, d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0

    # Phase 1: grow the step until a bracket [t_prev, t] holds a good one.
    bracket = None
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket = [t_prev, t]
            bracket_f = [f_prev, f_new]
            bracket_g = [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # Extrapolate, at least 1% past t and at most ten times it.
        bounds = (t + 0.01 * (t - t_prev), t * 10)
        t_next = cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds)
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1
    if bracket is None:
        # Out of evaluations while still growing: keep the last step tried.
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # Phase 2 (zoom): shrink the bracket; ``low`` is its end with the lower loss.
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_minimum(
            bracket[0],
            bracket_f[0],
            bracket_gtd[0],
            bracket[1],
            bracket_f[1],
            bracket_gtd[1],
        )
        # A point too close to an end of the bracket makes little progress:
        # the second time in a row, move it 10% of the bracket inside.
        top, bottom = max(bracket), min(bracket)
        margin = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < margin:
            if insufficient_progress or t >= top or t <= bottom:
                if abs(t - top) < abs(t - bottom):
                    t = top - margin
                else:
                    t = bottom + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(np.dot(g_new, d))
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            # Not low enough: t replaces the high end.
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                # The slope at t points away from the high end: flip.
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals
