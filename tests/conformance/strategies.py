"""Hypothesis strategies of NumPy inputs for conformance specs.

Every strategy here yields float64 (or integer / bool) NumPy arrays; the harness
casts floating arrays to each dtype a spec checks. Values come from a NumPy
generator seeded by a drawn integer, so a case is cheap to draw and shrinks by
its seed, shape and *edge kind*:

- ``"normal"``: ordinary values (standard normal, or uniform on a bounded domain);
- ``"zeros"``: every element 0 (only when 0 lies in the domain);
- ``"ties"``: elements drawn from two or three values of a small pool, so that
  maxima, sorts, medians and modes meet repeated values; when several inputs are
  drawn together (``broadcastable``) they share the pool, so ``maximum(x, y)``
  meets ``x == y``;
- ``"large"``: magnitudes between 1e2 and 1e4 (clipped to the domain);
- ``"empty"``: a shape with a zero-length dimension (only with ``empty=True``;
  use it where PyTorch accepts empty tensors).

``low`` and ``high`` are inclusive bounds of the generated values: put the margin
a function needs in them (``asin`` on ``low=-0.9, high=0.9``), since an open
domain's edge is not a useful test of agreement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

EDGES = ("normal", "zeros", "ties", "large")
SMOOTH = ("normal", "large")  # for specs whose checks need distinct values

# Values that are exact in float16/32/64, so ties survive the cast to each dtype.
_TIE_POOL = np.array([-3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 3, 6], dtype=float)


def _bounds(low: float | None, high: float | None) -> tuple[float, float]:
    lo = -np.inf if low is None else float(low)
    hi = np.inf if high is None else float(high)
    if not lo <= hi:
        raise ValueError(f"strategies: `low` ({low}) is above `high` ({high})")
    return lo, hi


def _normal(rng: np.random.Generator, shape: tuple, lo: float, hi: float) -> Any:
    if np.isfinite(lo) and np.isfinite(hi):
        return rng.uniform(lo, hi, shape)
    if np.isfinite(lo):
        return lo + np.abs(rng.standard_normal(shape)) * 2
    if np.isfinite(hi):
        return hi - np.abs(rng.standard_normal(shape)) * 2
    return rng.standard_normal(shape)


def _pool(lo: float, hi: float) -> np.ndarray:
    pool = _TIE_POOL[(_TIE_POOL >= lo) & (_TIE_POOL <= hi)]
    if pool.size >= 2:
        return pool
    # A narrow or far domain: quarter points of it (rounded to be exact in float16).
    a = lo if np.isfinite(lo) else hi - 4
    b = hi if np.isfinite(hi) else lo + 4
    return np.unique(np.round(np.linspace(a, b, 5) * 64) / 64).clip(lo, hi)


def fill(
    rng: np.random.Generator,
    shape: tuple,
    kind: str,
    low: float | None = None,
    high: float | None = None,
    pool: np.ndarray | None = None,
) -> np.ndarray:
    """A float64 array of ``shape`` of the given edge kind (see module docstring)."""
    lo, hi = _bounds(low, high)
    if kind == "zeros" and lo <= 0 <= hi:
        return np.zeros(shape)
    if kind in ("ties", "zeros"):
        pool = _pool(lo, hi) if pool is None else pool[(pool >= lo) & (pool <= hi)]
        if pool.size == 0:
            pool = _pool(lo, hi)
        chosen = rng.choice(pool, size=min(pool.size, int(rng.integers(2, 4))))
        return rng.choice(chosen, size=shape).astype(np.float64)
    if kind == "large":
        magnitude = 10 ** rng.uniform(2, 4, shape)
        sign = rng.choice([-1.0, 1.0], size=shape)
        return np.clip(magnitude * sign, lo, hi)
    return np.asarray(_normal(rng, shape, lo, hi), dtype=np.float64)


def _empty_shape(rng: np.random.Generator, shape: tuple) -> tuple:
    if not shape:
        return (0,)
    axis = int(rng.integers(len(shape)))
    return shape[:axis] + (0,) + shape[axis + 1 :]


def floats(
    shape: Sequence[int] | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    edges: Sequence[str] = EDGES,
    empty: bool = False,
    min_dims: int = 0,
    max_dims: int = 3,
    min_side: int = 1,
    max_side: int = 4,
) -> st.SearchStrategy[np.ndarray]:
    """One float64 array: a fixed ``shape`` or a drawn one, of a drawn edge kind.

    Example: ``floats(low=-0.9, high=0.9)``, ``floats((3, 4), edges=SMOOTH)``.
    """
    kinds = tuple(edges) + (("empty",) if empty else ())
    shapes = (
        st.just(tuple(shape))
        if shape is not None
        else hnp.array_shapes(
            min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
        )
    )

    @st.composite
    def draw_array(draw: Any) -> np.ndarray:
        kind = draw(st.sampled_from(kinds))
        size = draw(shapes)
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        if kind == "empty":
            size, kind = _empty_shape(rng, size), "normal"
        return fill(rng, size, kind, low, high)

    return draw_array()


def broadcastable(
    n: int = 2,
    *,
    low: float | None | Sequence[float | None] = None,
    high: float | None | Sequence[float | None] = None,
    edges: Sequence[str] = EDGES,
    empty: bool = False,
    min_dims: int = 0,
    max_dims: int = 3,
    max_side: int = 4,
) -> st.SearchStrategy[tuple]:
    """``n`` float64 arrays whose shapes broadcast together (one edge kind for all).

    ``low`` / ``high`` may be one bound for every input or one per input. With
    ``"ties"`` all inputs draw from one shared pool, so values tie across inputs.

    Example: ``broadcastable(2)`` for ``atan2``; ``broadcastable(3, low=[None,
    None, 0], high=[None, None, 1])`` for ``lerp`` with a weight in [0, 1].
    """
    lows = list(low) if isinstance(low, (list, tuple)) else [low] * n
    highs = list(high) if isinstance(high, (list, tuple)) else [high] * n
    if len(lows) != n or len(highs) != n:
        raise ValueError(f"broadcastable: need {n} bounds, got {lows}, {highs}")
    kinds = tuple(edges) + (("empty",) if empty else ())

    @st.composite
    def draw_arrays(draw: Any) -> tuple:
        kind = draw(st.sampled_from(kinds))
        shapes = draw(
            hnp.mutually_broadcastable_shapes(
                num_shapes=n,
                min_dims=min_dims,
                max_dims=max_dims,
                min_side=0 if kind == "empty" else 1,
                max_side=max_side,
            )
        ).input_shapes
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        kind = "normal" if kind == "empty" else kind
        pool = _TIE_POOL if kind in ("ties", "zeros") else None
        return tuple(
            fill(rng, s, kind, lo, hi, pool) for s, lo, hi in zip(shapes, lows, highs)
        )

    return draw_arrays()


def with_dim(
    arrays: st.SearchStrategy[np.ndarray] | None = None,
    *,
    keepdim: bool = False,
    several: bool = False,
    allow_none: bool = False,
) -> st.SearchStrategy[tuple]:
    """``(x, dim)`` or ``(x, dim, keepdim)``: an array and a valid dim of it.

    ``dim`` may be negative; a 0-d array gets dim 0 or -1 (as PyTorch allows).
    ``several=True`` draws a tuple of distinct dims instead of one;
    ``allow_none=True`` lets ``dim`` be None (reduce everything).

    Example: ``with_dim(floats(min_dims=1), keepdim=True)`` for ``cumsum`` style
    ops gives ``(x, dim, keepdim)``.
    """
    source = floats(min_dims=1) if arrays is None else arrays

    @st.composite
    def draw_case(draw: Any) -> tuple:
        x = draw(source)
        rank = max(x.ndim, 1)
        one = st.integers(-rank, rank - 1)
        if several:
            dim_strategy = st.lists(
                st.integers(0, rank - 1), unique=True, max_size=rank
            ).map(tuple)
        else:
            dim_strategy = one
        if allow_none:
            dim_strategy = st.none() | dim_strategy
        dim = draw(dim_strategy)
        if keepdim:
            return x, dim, draw(st.booleans())
        return x, dim

    return draw_case()


def ints(
    shape: Sequence[int] | None = None,
    *,
    low: int = 0,
    high: int = 5,
    max_dims: int = 3,
    max_side: int = 4,
) -> st.SearchStrategy[np.ndarray]:
    """An int64 array with values in [low, high] (indices, integer operands)."""
    shapes = (
        st.just(tuple(shape))
        if shape is not None
        else hnp.array_shapes(min_dims=0, max_dims=max_dims, max_side=max_side)
    )
    return shapes.flatmap(
        lambda s: hnp.arrays(np.int64, s, elements=st.integers(low, high))
    )


def bools(shape: Sequence[int]) -> st.SearchStrategy[np.ndarray]:
    """A bool array of ``shape`` (masks; draws all-True and all-False too)."""
    return hnp.arrays(np.bool_, tuple(shape), elements=st.booleans())


def matrices(
    n: int | None = None,
    *,
    max_n: int = 4,
    batch_dims: int = 2,
    cond: float = 4.0,
    symmetric: bool = False,
) -> st.SearchStrategy[np.ndarray]:
    """Well-conditioned square matrices ``(*batch, n, n)`` for inv / solve / det.

    Each matrix is ``U diag(s) V^T`` with U, V random orthogonal and singular
    values s in ``[1, cond]`` up to a common scale, so the condition number is at
    most ``cond``; ``symmetric=True`` gives ``U diag(s) U^T`` (positive definite).
    The determinant's sign is random (V may be a reflection).
    """
    sizes = st.just(n) if n is not None else st.integers(1, max_n)

    @st.composite
    def draw_matrix(draw: Any) -> np.ndarray:
        size = draw(sizes)
        batch = draw(hnp.array_shapes(min_dims=0, max_dims=batch_dims, max_side=3))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        u, _ = np.linalg.qr(rng.standard_normal(batch + (size, size)))
        v, _ = np.linalg.qr(rng.standard_normal(batch + (size, size)))
        if symmetric:
            v = u
        s = rng.uniform(1.0, cond, batch + (size,)) * rng.uniform(0.5, 2.0)
        return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)

    return draw_matrix()
