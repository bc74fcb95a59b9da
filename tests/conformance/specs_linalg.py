"""Matrix products and ``torch.linalg`` of issue 3.

Products run on shapes with zero-length dims too (an empty inner dim gives
zeros). ``inv``, ``solve`` and ``det`` get well-conditioned matrices from
``matrices`` (condition number at most 4), batched, plus empty ones; ``det``
also meets singular matrices, where PyTorch's gradient is zero (not the
adjugate). Norms meet zeros (the 2-norm's gradient is 0 there) and ties (the
inf-norms share the gradient); finite differences skip both.
"""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

from .harness import OpSpec, away_from, distinct, floats, matrices

INF = float("inf")


def _side(draw: Any, empty: bool = True) -> int:
    return draw(st.integers(0 if empty else 1, 3))


def _broadcasting_to(draw: Any, shape: tuple) -> tuple:
    """A shape that broadcasts to ``shape``: a suffix of it, some sides 1."""
    tail = shape[draw(st.integers(0, len(shape))) :]
    return tuple(s if draw(st.booleans()) else 1 for s in tail)


@st.composite
def _mm_case(draw: Any, batch: bool = False) -> tuple:
    b = [_side(draw)] if batch else []
    n, m, p = _side(draw), _side(draw), _side(draw)
    return draw(floats(b + [n, m])), draw(floats(b + [m, p]))


@st.composite
def _add_case(draw: Any, batch: bool = False) -> tuple:
    """(input, a, b, beta, alpha): input broadcasts to the product's shape."""
    a, b = draw(_mm_case(batch))
    out = a.shape[:-1] + b.shape[-1:]
    shape = _broadcasting_to(draw, out)
    beta = draw(st.sampled_from([1, 0.5, 0]))
    return draw(floats(shape)), a, b, beta, draw(st.sampled_from([1, -2.0]))


@st.composite
def _vectors(draw: Any, same: bool) -> tuple:
    n = _side(draw)
    return draw(floats((n,))), draw(floats((n if same else _side(draw),)))


@st.composite
def _mv_case(draw: Any) -> tuple:
    n, m = _side(draw), _side(draw)
    return draw(floats((n, m))), draw(floats((m,)))


@st.composite
def _inner_case(draw: Any) -> tuple:
    """(a, b): last dims equal, or one of them 0-d."""
    if draw(st.integers(0, 4)) == 0:
        return draw(floats(())), draw(floats(empty=True))
    k = _side(draw)
    a = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    b = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    return draw(floats(a + (k,))), draw(floats(b + (k,)))


@st.composite
def _matmul_case(draw: Any) -> tuple:
    """1-d and 2-d operands and batches that broadcast."""
    n, m, p = _side(draw, False), _side(draw), _side(draw, False)
    batches = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)
    ).input_shapes
    kind_a = draw(st.sampled_from(["vector", "matrix", "batch"]))
    kind_b = draw(st.sampled_from(["vector", "matrix", "batch"]))
    a = {"vector": (m,), "matrix": (n, m), "batch": batches[0] + (n, m)}[kind_a]
    b = {"vector": (m,), "matrix": (m, p), "batch": batches[1] + (m, p)}[kind_b]
    return draw(floats(a)), draw(floats(b))


@st.composite
def _vector_norm_case(draw: Any) -> tuple:
    """(x, ord, dim, keepdim): dim None, an int or a tuple."""
    x = draw(floats(empty=False))
    rank = max(x.ndim, 1)
    ord = draw(st.sampled_from([2, 1, INF, -INF, 0, 3, 0.5, -1]))
    dims = st.integers(-rank, rank - 1)
    several = st.lists(dims, min_size=1, max_size=rank, unique_by=lambda d: d % rank)
    dim = draw(st.none() | dims | several.map(tuple))
    return x, ord, dim, draw(st.booleans())


@st.composite
def _norm_case(draw: Any) -> tuple:
    """linalg.norm: ord None (over everything); a vector ord on 1 dim; a
    matrix ord on 2 dims."""
    x = draw(floats(min_dims=1))
    rank = x.ndim
    kind = draw(st.sampled_from(["none", "vector", "matrix"]))
    if kind == "matrix" and rank < 2:
        kind = "vector"
    if kind == "none":
        dim = None if rank <= 2 and draw(st.booleans()) else tuple(range(rank))
        return x, None, dim if rank <= 2 else None, draw(st.booleans())
    if kind == "vector":
        ord = draw(st.sampled_from([None, 1, 2, INF, -INF, 3]))
        return x, ord, draw(st.integers(-rank, rank - 1)), draw(st.booleans())
    ord = draw(st.sampled_from(["fro", 1, -1, INF, -INF]))
    dims = draw(st.permutations(range(rank)))[:2]
    return x, ord, tuple(dims), draw(st.booleans())


@st.composite
def _svd_norm_case(draw: Any) -> tuple:
    return draw(matrices(batch_dims=1)), draw(st.sampled_from(["nuc", 2, -2]))


def _nonzero_distinct_abs(x: np.ndarray, *rest: Any) -> bool:
    return away_from(0.0)(x) and distinct(np.abs(x))


@st.composite
def _solve_case(draw: Any, left: bool = True) -> tuple:
    """(A, B): B a batch of matrices (broadcasting with A's batch) or, for
    left=True, a vector / a batch of vectors matching A's batch exactly."""
    a = draw(matrices())
    n, batch = a.shape[-1], a.shape[:-2]
    k = draw(st.integers(1, 3))
    if left and draw(st.booleans()):
        vector = batch + (n,) if draw(st.booleans()) else (n,)
        return a, draw(floats(vector))
    b_batch = _broadcasting_to(draw, batch)
    if draw(st.booleans()):  # or B broadcasts A
        b_batch = (draw(st.integers(1, 2)),) + batch
    tail = (n, k) if left else (k, n)
    return a, draw(floats(b_batch + tail))


SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.5], [0.5, 1.0, -1.0]])  # rank 2

SPECS = [
    # ---------------------------------------------------------- products
    OpSpec("mm", lambda lib, a, b: lib.mm(a, b), _mm_case()),
    OpSpec("bmm", lambda lib, a, b: lib.bmm(a, b), _mm_case(batch=True)),
    # beta = 0: input is ignored and its gradient is zero
    OpSpec(
        "addmm",
        lambda lib, c, a, b, beta, alpha: lib.addmm(c, a, b, beta=beta, alpha=alpha),
        _add_case(),
    ),
    OpSpec(
        "baddbmm",
        lambda lib, c, a, b, beta, alpha: c.baddbmm(a, b, beta=beta, alpha=alpha),
        _add_case(batch=True),
    ),
    OpSpec("outer", lambda lib, a, b: lib.outer(a, b), _vectors(same=False)),
    # an empty last dim gives zeros (a fixed bug: reshape(-1, 0) raised)
    OpSpec(
        "inner",
        lambda lib, a, b: lib.inner(a, b),
        _inner_case(),
        cases=[(np.zeros(0), np.zeros((2, 0)))],
    ),
    OpSpec("dot", lambda lib, a, b: lib.dot(a, b), _vectors(same=True)),
    OpSpec("mv", lambda lib, a, v: lib.mv(a, v), _mv_case()),
    OpSpec("matmul", lambda lib, a, b: lib.matmul(a, b), _matmul_case()),
    OpSpec("matmul(@)", lambda lib, a, b: a @ b, _matmul_case()),
    # ---------------------------------------------------------- norms
    OpSpec(
        "linalg.vector_norm",
        lambda lib, x, ord, dim, keepdim: lib.linalg.vector_norm(x, ord, dim, keepdim),
        _vector_norm_case(),
        fd_ok=_nonzero_distinct_abs,
        cases=[(np.array(-2.0), 2, 0, True)],  # 0-d with a dim: a fixed bug
    ),
    OpSpec(
        "linalg.norm",
        lambda lib, x, ord, dim, keepdim: lib.linalg.norm(x, ord, dim, keepdim),
        _norm_case(),
        fd_ok=_nonzero_distinct_abs,
    ),
    OpSpec(
        "linalg.norm(nuc, 2, -2)",
        lambda lib, x, ord: lib.linalg.norm(x, ord, (-2, -1)),
        _svd_norm_case(),
    ),
    # ---------------------------------------------------------- solve, inv, det
    OpSpec(
        "linalg.solve",
        lambda lib, a, b: lib.linalg.solve(a, b),
        _solve_case(),
    ),
    OpSpec(
        "linalg.solve(left=False)",
        lambda lib, a, b: lib.linalg.solve(a, b, left=False),
        _solve_case(left=False),
    ),
    OpSpec(
        "linalg.inv",
        lambda lib, a: lib.linalg.inv(a),
        matrices(),
        cases=[np.zeros((0, 0)), np.zeros((2, 0, 0)), np.zeros((0, 2, 2))],
    ),
    OpSpec(
        "linalg.det",
        lambda lib, a: lib.linalg.det(a),
        matrices(),
        cases=[np.zeros((0, 0)), np.zeros((0, 3, 3))],
    ),
    # at an exactly singular matrix torch's gradient is zero, not the adjugate
    # that finite differences see, so only the comparison with torch runs
    OpSpec(
        "linalg.det(singular)",
        lambda lib, a: lib.linalg.det(a),
        st.just(SINGULAR),
        cases=[np.zeros((2, 2)), np.ones((2, 2))],
        fd_ok=lambda a: False,
        gradgrad=False,  # torch's second derivative there is NaN
        note="torch's gradient is 0 at singular matrices",
        examples_scale=0.01,
    ),
    OpSpec(
        "linalg.solve(errors)",
        lambda lib, a, b, left: lib.linalg.solve(a, b, left=left),
        st.just((np.eye(3), np.ones(3), False)),
        cases=[
            (np.eye(3), np.ones((2, 4)), False),
            (np.eye(3), np.ones((3, 2)), False),
            (np.eye(3), np.ones((4, 3)), True),
            (np.eye(3)[None].repeat(3, 0), np.ones((3, 3)), False),
        ],
        note="shapes torch refuses: a vector B with left=False, B not n wide",
        examples_scale=0.01,
    ),
]
