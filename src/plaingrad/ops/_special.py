"""The error function and its inverse, vectorised over arrays, in float64.

NumPy has no ``erf``. These are computed from two classical expansions, each
used where it converges fast and keeps full relative precision:

- for ``|x| < 1.5``, the series of positive terms
  ``erf(x) = 2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1 3 5 ... (2n+1))``,
  which has no cancellation (unlike the alternating Taylor series);
- for ``|x| >= 1.5``, Laplace's continued fraction for ``erfc``, evaluated
  bottom-up to a fixed depth, which gives ``erfc`` to full relative precision in
  the tail (where ``1 - erf`` would lose it).

``erfinv`` starts from Winitzki's closed-form approximation (about 2e-3
relative) and refines it with Halley steps on ``erf(y) = x`` (or, near +-1, on
``erfc(y) = 1 - x``, so that the residual keeps its precision). Both loops run
over terms or iterations, never over elements; the results agree with PyTorch
to float64 round-off.
"""

from __future__ import annotations

import math
from typing import Any

from ..backend import errstate, xp

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SERIES_TERMS = 60
_FRACTION_DEPTH = 150
_SPLIT = 1.5
# Dekker's constant 2^27 + 1: splits a float64 into two halves of 26 bits.
_DEKKER = 134217729.0


def _exp_minus_square(x: Any) -> Any:
    # exp(-x^2) without the rounding error of x*x, which exp would magnify by
    # x^2: with x = hi + lo and hi of 26 bits, hi*hi is exact.
    scaled = _DEKKER * x
    hi = scaled - (scaled - x)
    lo = x - hi
    with errstate(under="ignore"):
        return xp.exp(-hi * hi) * xp.exp(-(2.0 * hi * lo + lo * lo))


def _erf_series(x: Any) -> Any:
    # x: float64 array with |x| < _SPLIT
    ratio = 2.0 * x * x
    term = x.copy()
    total = x.copy()
    for n in range(1, _SERIES_TERMS):
        term *= ratio / (2 * n + 1)
        total += term
        if n % 8 == 0 and not (xp.abs(term) > 1e-17 * xp.abs(total)).any():
            break
    return _TWO_OVER_SQRT_PI * _exp_minus_square(x) * total


def _erfc_fraction(x: Any) -> Any:
    # x: float64 array with x >= _SPLIT; erfc(x) = exp(-x^2)/sqrt(pi) / (x + K),
    # K = (1/2) / (x + 1 / (x + (3/2) / (x + 2 / (x + ...))))
    tail = xp.zeros_like(x)
    for k in range(_FRACTION_DEPTH, 0, -1):
        tail = (k / 2.0) / (x + tail)
    return _exp_minus_square(x) / (math.sqrt(math.pi) * (x + tail))


def erf(x: Any) -> Any:
    """``erf`` of a float64 array, to float64 round-off."""
    out = xp.empty_like(x)
    magnitude = xp.abs(x)
    near = magnitude < _SPLIT
    out[near] = _erf_series(x[near])
    far = ~near
    if far.any():
        # erfc(30) underflows to 0; the bound keeps inf and NaN out of the split
        tail = _erfc_fraction(xp.clip(magnitude[far], _SPLIT, 30.0))
        out[far] = xp.copysign(1.0 - tail, x[far])
        out[xp.isnan(x)] = xp.nan
    return out


def erfc_of_magnitude(a: Any) -> Any:
    """``erfc(a)`` for a float64 array ``a >= 0``, with relative precision."""
    out = xp.empty_like(a)
    near = a < _SPLIT
    out[near] = 1.0 - _erf_series(a[near])
    out[~near] = _erfc_fraction(xp.minimum(a[~near], 30.0))
    return out


def erfinv(x: Any) -> Any:
    """The inverse of ``erf`` on a float64 array: +-inf at +-1, NaN outside."""
    a = xp.abs(x)
    inside = a < 1
    a_in = xp.where(inside, a, 0.5)
    # Winitzki's approximation, with his constant 0.147.
    with errstate(divide="ignore"):
        log_term = xp.log1p(-a_in) + xp.log1p(a_in)  # ln(1 - a^2)
    c = 2.0 / (math.pi * 0.147) + log_term / 2.0
    y = xp.sqrt(xp.sqrt(c * c - log_term / 0.147) - c)
    one_minus_a = 1.0 - a_in  # exact for a >= 0.5 (Sterbenz)
    small = a_in < 0.5
    large = ~small
    residual = xp.empty_like(y)
    for _ in range(3):
        slope = _TWO_OVER_SQRT_PI * _exp_minus_square(y)  # erf'(y)
        # residual f = erf(y) - a, written through erfc where a is near 1
        residual[small] = erf(y[small]) - a_in[small]
        residual[large] = one_minus_a[large] - erfc_of_magnitude(y[large])
        # Halley's step: f'' = -2 y f', so y -= f / (f' + f y)
        y = y - residual / (slope + residual * y)
    out = xp.copysign(y, x)
    out = xp.where(a == 1, xp.copysign(xp.inf, x), out)
    return xp.where((a > 1) | xp.isnan(x), xp.nan, out)
