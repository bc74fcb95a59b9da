"""Shape and indexing ops of issue 3 (the basic views are in specs_views.py).

Values hardly matter here (every op only moves, copies or sums elements), so
the strategies spend their variety on shapes: negative dims, zero-length dims
where PyTorch takes them, indices that repeat. Repeated indices are the point
of the gathers, whose backward must scatter-add; where PyTorch leaves the
winner of a repeated write undefined (``scatter``, ``index_put`` without
``accumulate``) the written places are unique.
"""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

from .harness import OpSpec, broadcastable, floats


def F(lib: Any) -> Any:
    return lib.nn.functional


def _rng(draw: Any) -> np.random.Generator:
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


def _dim(draw: Any, ndim: int) -> int:
    rank = max(ndim, 1)
    return draw(st.integers(-rank, rank - 1))


def _sides(draw: Any, x: np.ndarray, dim: int) -> list:
    """A shape of sides 1 to x's in each dim but ``dim`` (left 0)."""
    dim = dim % max(x.ndim, 1)
    return [0 if d == dim else draw(st.integers(1, s)) for d, s in enumerate(x.shape)]


# ------------------------------------------------------------ expand, repeat


@st.composite
def _expand_case(draw: Any) -> tuple:
    """(x, sizes): x's dims are a suffix of sizes, each equal or 1; -1 keeps."""
    target = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
    lead = len(target) - draw(st.integers(0, len(target)))
    x_shape = tuple(s if draw(st.booleans()) else 1 for s in target[lead:])
    sizes = list(target)
    for i, s in enumerate(x_shape):
        if s == target[lead + i] and draw(st.booleans()):
            sizes[lead + i] = -1
    return draw(floats(x_shape)), tuple(sizes)


@st.composite
def _expand_as_case(draw: Any) -> tuple:
    x, sizes = draw(_expand_case())
    lead = len(sizes) - x.ndim
    shape = [x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes)]
    return x, np.zeros(shape)


@st.composite
def _repeat_case(draw: Any, tile: bool = False) -> tuple:
    """(x, reps): repeat needs len(reps) >= x.ndim, tile takes fewer."""
    x = draw(floats(empty=True))
    most = x.ndim + draw(st.integers(0, 1))
    n = draw(st.integers(1, max(most, 1))) if tile else most
    reps = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    if reps and draw(st.integers(0, 3)) == 0:
        reps[draw(st.integers(0, n - 1))] = 0
    return x, tuple(reps)


# ------------------------------------------------------------ dims


@st.composite
def _dims(draw: Any, n: int) -> tuple:
    """(x, d_1, ..., d_n): n distinct dims of x (some negative)."""
    x = draw(floats(empty=True, min_dims=n))
    rank = max(x.ndim, 1)
    picked = draw(
        st.lists(st.integers(0, rank - 1), min_size=n, max_size=n, unique=True)
    )
    return (x, *(d - rank if draw(st.booleans()) else d for d in picked))


@st.composite
def _two_dims(draw: Any) -> tuple:
    """(x, a, b): any two dims of x, equal ones too."""
    x = draw(floats(empty=True, min_dims=0))
    return x, _dim(draw, x.ndim), _dim(draw, x.ndim)


@st.composite
def _flip_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=0))
    rank = max(x.ndim, 1)
    dims = draw(
        st.lists(
            st.integers(-rank, rank - 1), max_size=rank, unique_by=lambda d: d % rank
        )
    )
    return x, tuple(dims)


@st.composite
def _roll_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=0))
    rank = max(x.ndim, 1)
    shift = st.integers(-6, 6)
    if x.ndim == 0 or draw(st.booleans()):  # no dims: rolled as if flattened
        return x, draw(shift), None
    dims = draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank))
    shifts = [draw(shift) for _ in dims]
    if len(dims) == 1 and draw(st.booleans()):
        return x, shifts[0], dims[0]
    return x, tuple(shifts), tuple(dims)


@st.composite
def _narrow_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=1))
    dim = _dim(draw, x.ndim)
    size = x.shape[dim]
    start = draw(st.integers(-size, size))
    first = start + size if start < 0 else start
    return x, dim, start, draw(st.integers(0, size - first))


@st.composite
def _chunk_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=1))
    return x, draw(st.integers(1, 5)), _dim(draw, x.ndim)


@st.composite
def _split_case(draw: Any) -> tuple:
    """(x, split_size or sections, dim); sections may hold zeros."""
    x = draw(floats(empty=True, min_dims=1))
    dim = _dim(draw, x.ndim)
    if draw(st.booleans()):
        return x, draw(st.integers(1, 5)), dim
    sections, left = [], x.shape[dim]
    while left:
        sections.append(draw(st.integers(0, left)))
        left -= sections[-1]
    if not sections or draw(st.booleans()):
        sections.append(0)
    return x, list(draw(st.permutations(sections))), dim


@st.composite
def _unbind_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=1))
    return x, _dim(draw, x.ndim)


@st.composite
def _movedim_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=1))
    rank = x.ndim
    n = draw(st.integers(1, rank))
    some = st.lists(st.integers(0, rank - 1), min_size=n, max_size=n, unique=True)
    source = [d - rank if draw(st.booleans()) else d for d in draw(some)]
    dest = draw(some)
    if n == 1 and draw(st.booleans()):
        return x, source[0], dest[0]
    return x, tuple(source), tuple(dest)


@st.composite
def _diagonal_case(draw: Any) -> tuple:
    x, d1, d2 = draw(_dims(2))
    return x, draw(st.integers(-4, 4)), d1, d2


@st.composite
def _tri_case(draw: Any) -> tuple:
    return draw(floats(empty=True, min_dims=2)), draw(st.integers(-4, 4))


# ------------------------------------------------------------ pad


@st.composite
def _pad_case(draw: Any, mode: str) -> tuple:
    """(x, pad) valid for the mode: reflect pads less than the size, circular
    at most the size; the non-constant modes pad the last 1-3 dims of a
    (batch,) channel, *spatial input; constant pads any dims, negative crops."""
    k = draw(st.integers(1, 3))
    if mode == "constant":
        k = draw(st.integers(0, 3))
        batch = draw(st.integers(0, 1))
    else:
        batch = draw(st.integers(1, 2))
    spatial = [draw(st.integers(1, 4)) for _ in range(k)]
    x = draw(floats([draw(st.integers(1, 2)) for _ in range(batch)] + spatial))
    pad = []
    for size in reversed(spatial):
        for _ in range(2):
            if mode == "constant":
                pad.append(draw(st.integers(-1 if size > 1 else 0, 2)))
            elif mode == "reflect":
                pad.append(draw(st.integers(0, size - 1)))
            elif mode == "circular":
                pad.append(draw(st.integers(0, size)))
            else:
                pad.append(draw(st.integers(0, 2)))
    return x, tuple(pad)


def _pad_specs() -> list:
    specs = [
        OpSpec(
            "pad",
            lambda lib, x, pad: F(lib).pad(x, pad),
            _pad_case("constant"),
            note="constant 0; negative padding crops",
        ),
        OpSpec(
            "pad(constant)",
            lambda lib, x, pad: F(lib).pad(x, pad, mode="constant", value=-1.5),
            _pad_case("constant"),
        ),
    ]
    for mode in ("reflect", "replicate", "circular"):
        specs.append(
            OpSpec(
                f"pad({mode})",
                lambda lib, x, pad, mode=mode: F(lib).pad(x, pad, mode=mode),
                _pad_case(mode),
            )
        )
    return specs


# ------------------------------------------------------------ gathers


@st.composite
def _gather_case(draw: Any) -> tuple:
    """(x, dim, index): index no larger than x off dim; values repeat."""
    x = draw(floats(min_dims=1))
    dim = _dim(draw, x.ndim)
    shape = _sides(draw, x, dim)
    shape[dim] = draw(st.integers(0, 4))
    return x, dim, _rng(draw).integers(0, x.shape[dim], shape)


@st.composite
def _scatter_case(draw: Any, unique: bool) -> tuple:
    """(x, dim, index, src): index no larger than x off dim."""
    x = draw(floats(min_dims=1))
    dim = _dim(draw, x.ndim) % x.ndim
    size = x.shape[dim]
    shape = _sides(draw, x, dim)
    shape[dim] = draw(st.integers(0, size if unique else 4))
    rng = _rng(draw)
    if unique:  # a different place along dim for each slot of index
        order = np.argsort(rng.random([*shape[:dim], size, *shape[dim + 1 :]]), dim)
        index = np.take(order, np.arange(shape[dim]), axis=dim)
    else:
        index = rng.integers(0, size, shape)
    # torch's backward fails on a src larger than index (its gradient has
    # index's shape), so src has index's shape
    return x, dim - x.ndim * draw(st.integers(0, 1)), index, draw(floats(shape))


@st.composite
def _index_select_case(draw: Any) -> tuple:
    x = draw(floats(min_dims=0))
    dim = _dim(draw, x.ndim)
    size = x.shape[dim] if x.ndim else 1
    length = draw(st.integers(0, 5)) if x.ndim else 1  # a scalar takes one index
    return x, dim, _rng(draw).integers(0, size, length)


@st.composite
def _index_add_case(draw: Any) -> tuple:
    x, dim, index = draw(_index_select_case().filter(lambda c: c[0].ndim))
    shape = list(x.shape)
    if shape:
        shape[dim] = index.size
    return x, dim, index, draw(floats(shape)), draw(st.sampled_from([1, -2.5]))


@st.composite
def _index_put_case(draw: Any) -> tuple:
    """(x, values, accumulate, *indices): k index tensors into x's first k
    dims (some negative); without accumulate each place is written once."""
    x = draw(floats(min_dims=1))
    k = draw(st.integers(1, min(x.ndim, 2)))
    accumulate = draw(st.booleans())
    places = int(np.prod(x.shape[:k]))
    m = draw(st.integers(0, 5 if accumulate else min(places, 5)))
    rng = _rng(draw)
    flat = rng.choice(places, m, replace=accumulate)
    indices = np.unravel_index(flat, x.shape[:k])
    indices = [i - s * rng.integers(0, 2, m) for i, s in zip(indices, x.shape)]
    target = (m, *x.shape[k:])
    cut = draw(st.integers(0, len(target)))
    values = [1 if draw(st.booleans()) else s for s in target[cut:]]
    return (x, draw(floats(values)), accumulate, *indices)


@st.composite
def _take_along_dim_case(draw: Any) -> tuple:
    x = draw(floats(min_dims=1))
    rng = _rng(draw)
    if draw(st.booleans()):
        return x, rng.integers(0, x.size, draw(st.integers(0, 5))), None
    dim = _dim(draw, x.ndim)
    shape = [s if draw(st.booleans()) else 1 for s in x.shape]
    shape[dim] = draw(st.integers(0, 4))
    return x, rng.integers(0, x.shape[dim], shape), dim


@st.composite
def _masked_select_case(draw: Any) -> tuple:
    """(x, mask): the two broadcast against each other."""
    x, m = draw(broadcastable(2, empty=True))
    return x, m > 0.3


@st.composite
def _bool_array(draw: Any) -> np.ndarray:
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return draw(hnp.arrays(np.bool_, shape))


# ------------------------------------------------------------ einsum

# implicit outputs ("ij,jk", "ba,ab"), repeated letters (traces, diagonals),
# three operands, and ellipses that broadcast
EINSUM = [
    "ij,jk->ik",
    "ij->ji",
    "ii->i",
    "ii->",
    "ij->",
    "i,i->",
    "i,j->ij",
    "bij,bjk->bik",
    "ij,ij->ij",
    "ijk,jl->lik",
    "ij,jk",
    "ba,ab",
    "bn,anm,bm->ba",
    "...ij,...jk->...ik",
    "i...->...",
    "...ii->...i",
]


@st.composite
def _einsum_case(draw: Any) -> tuple:
    equation = draw(st.sampled_from(EINSUM))
    operands = equation.split("->")[0].split(",")
    letters = sorted(set("".join(operands)) - {"."})
    empty = draw(st.integers(0, 4)) == 0
    size = {c: draw(st.integers(0 if empty else 1, 3)) for c in letters}
    n_ellipsis = sum("..." in op for op in operands)
    batch = draw(
        hnp.mutually_broadcastable_shapes(
            num_shapes=max(n_ellipsis, 1), max_dims=2, max_side=3
        )
    ).input_shapes
    arrays, used = [], 0
    for op in operands:
        head, dots, tail = op.partition("...")
        middle = batch[used] if dots else ()
        used += bool(dots)
        shape = [size[c] for c in head] + list(middle) + [size[c] for c in tail]
        arrays.append(draw(floats(shape)))
    return (equation, *arrays)


SPECS = [
    # ---------------------------------------------------------- expand, repeat
    OpSpec("expand", lambda lib, x, sizes: x.expand(sizes), _expand_case()),
    # TypeError in torch for both (x.expand(()) and x.repeat(()) are fine)
    OpSpec(
        "expand(no sizes)",
        lambda lib, x, method: getattr(x, method)(),
        st.tuples(floats(()), st.sampled_from(["expand", "repeat"])),
        examples_scale=0.01,
        cases=[(np.array(1.0), "expand"), (np.array(1.0), "repeat")],
        note="x.expand() and x.repeat()",
    ),
    OpSpec(
        "expand_as",
        lambda lib, x, other: x.expand_as(other),
        _expand_as_case(),
        grad=[True, False],
    ),
    OpSpec("repeat", lambda lib, x, reps: x.repeat(reps), _repeat_case()),
    OpSpec("tile", lambda lib, x, reps: lib.tile(x, reps), _repeat_case(tile=True)),
    # ---------------------------------------------------------- reordering
    # a 0-d tensor flips to itself along dim 0 (a fixed bug: it became 1-d)
    OpSpec(
        "flip",
        lambda lib, x, dims: lib.flip(x, dims),
        _flip_case(),
        cases=[(np.array(1.5), (0,)), (np.array(1.5), ())],
    ),
    OpSpec(
        "roll",
        lambda lib, x, shifts, dims: lib.roll(x, shifts, dims),
        _roll_case(),
    ),
    OpSpec(
        "movedim",
        lambda lib, x, source, dest: lib.movedim(x, source, dest),
        _movedim_case(),
    ),
    OpSpec(
        "swapaxes",
        lambda lib, x, a, b: lib.swapaxes(x, a, b),
        _two_dims(),
    ),
    # ---------------------------------------------------------- pieces
    OpSpec(
        "narrow",
        lambda lib, x, dim, start, length: lib.narrow(x, dim, start, length),
        _narrow_case(),
    ),
    # chunk may give fewer pieces than asked for, split a last short one
    OpSpec("chunk", lambda lib, x, n, dim: lib.chunk(x, n, dim), _chunk_case()),
    OpSpec(
        "split",
        lambda lib, x, size, dim: lib.split(x, size, dim),
        _split_case(),
    ),
    OpSpec("unbind", lambda lib, x, dim: lib.unbind(x, dim), _unbind_case()),
    # ---------------------------------------------------------- diagonals
    OpSpec(
        "diagonal",
        lambda lib, x, offset, d1, d2: lib.diagonal(x, offset, d1, d2),
        _diagonal_case(),
    ),
    OpSpec("tril", lambda lib, x, k: lib.tril(x, k), _tri_case()),
    OpSpec("triu", lambda lib, x, k: x.triu(k), _tri_case()),
    *_pad_specs(),
    # ---------------------------------------------------------- gathers
    OpSpec(
        "gather",
        lambda lib, x, dim, index: lib.gather(x, dim, index),
        _gather_case(),
    ),
    # every src element gets a gradient, overwritten x elements none
    OpSpec(
        "scatter",
        lambda lib, x, dim, index, src: lib.scatter(x, dim, index, src),
        _scatter_case(unique=True),
    ),
    OpSpec(
        "scatter(value)",
        lambda lib, x, dim, index, src: x.scatter(dim, index, -1.5),
        _scatter_case(unique=True),
    ),
    OpSpec(
        "scatter_add",
        lambda lib, x, dim, index, src: lib.scatter_add(x, dim, index, src),
        _scatter_case(unique=False),
    ),
    OpSpec(
        "index_select",
        lambda lib, x, dim, index: lib.index_select(x, dim, index),
        _index_select_case(),
    ),
    OpSpec(
        "index_add",
        lambda lib, x, dim, index, src, alpha: lib.index_add(
            x, dim, index, src, alpha=alpha
        ),
        _index_add_case(),
    ),
    OpSpec(
        "index_add(0-d)",
        lambda lib, x, dim, index, src: lib.index_add(x, dim, index, src),
        st.just((np.array(0.5), 0, np.array([0]), np.array(2.0))),
        examples_scale=0.01,
    ),
    OpSpec(
        "index_put",
        lambda lib, x, values, accumulate, *index: lib.index_put(
            x, tuple(index), values, accumulate
        ),
        _index_put_case(),
    ),
    OpSpec(
        "take_along_dim",
        lambda lib, x, index, dim: lib.take_along_dim(x, index, dim),
        _take_along_dim_case(),
    ),
    OpSpec(
        "masked_select",
        lambda lib, x, mask: lib.masked_select(x, mask),
        _masked_select_case(),
    ),
    # ---------------------------------------------------------- indices of
    OpSpec(
        "nonzero",
        lambda lib, x: lib.nonzero(x),
        floats(empty=True, min_dims=0),
        backward=False,
    ),
    OpSpec(
        "nonzero(as_tuple)",
        lambda lib, x: x.nonzero(as_tuple=True),
        floats(empty=True, min_dims=0),
        backward=False,
    ),
    OpSpec("where(cond)", lambda lib, c: lib.where(c), _bool_array(), backward=False),
    # ---------------------------------------------------------- einsum
    OpSpec(
        "einsum",
        lambda lib, equation, *xs: lib.einsum(equation, *xs),
        _einsum_case(),
        cases=[("ii->i", np.arange(9.0).reshape(3, 3))],
    ),
    OpSpec(
        "einsum(list)",
        lambda lib, a, b: lib.einsum("ij,jk->ik", [a, b]),
        st.tuples(floats((2, 3)), floats((3, 2))),
        note="operands passed as one list",
    ),
]
