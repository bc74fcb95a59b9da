"""The basic shape ops every program uses: views, joins and indexing.

``reshape``/``view``/``permute``/``transpose``/``squeeze``/``unsqueeze``/
``flatten``/``cat``/``stack`` and ``x[key]`` with basic keys (ints, slices
with steps, ``None``, ``...``), integer tensors (repeated, negative,
broadcasting, split by a slice so that the indexed dims move to the front)
and boolean masks. ``view`` of a transposed tensor is valid only when the
dims it merges are contiguous, and must raise PyTorch's error otherwise.
The issue's example of repeated indices, whose gradient scatter-adds, has a
row of its own with its numbers written in.
"""

from __future__ import annotations

from typing import Any

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import CustomSpec, OpSpec, floats, stage


def _dim(draw: Any, ndim: int, extra: int = 0) -> int:
    """A dim of a rank-``ndim`` tensor; ``extra=1`` for where a dim is added."""
    rank = max(ndim, 1) if not extra else ndim + extra
    return draw(st.integers(-rank, rank - 1))


def _factor(n: int) -> list:
    out, p = [], 2
    while n > 1:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out


@st.composite
def _new_shape(draw: Any, numel: int) -> tuple:
    """A shape of ``numel`` elements, sometimes with one -1 (not when empty)."""
    if numel == 0:
        dims = draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
        dims[draw(st.integers(0, len(dims) - 1))] = 0
        return tuple(dims)
    rank = draw(st.integers(0 if numel == 1 else 1, 4))
    dims = [1] * rank
    for p in _factor(numel):
        dims[draw(st.integers(0, rank - 1))] *= p
    if dims and draw(st.booleans()):
        dims[draw(st.integers(0, rank - 1))] = -1
    return tuple(dims)


@st.composite
def _reshape_case(draw: Any, transposed: bool = False) -> tuple:
    x = draw(floats(empty=True, min_dims=2 if transposed else 0))
    return x, draw(_new_shape(x.size))


@st.composite
def _permute_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=0))
    perm = draw(st.permutations(range(x.ndim)))
    return x, tuple(d - x.ndim if draw(st.booleans()) else d for d in perm)


@st.composite
def _two_dims(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=0))
    return x, _dim(draw, x.ndim), _dim(draw, x.ndim)


@st.composite
def _squeeze_case(draw: Any) -> tuple:
    """(x, dim): dim None, an int or a tuple; x has some size-1 dims."""
    shape = draw(st.lists(st.sampled_from([1, 1, 2, 3, 0]), max_size=4))
    x = draw(floats(tuple(shape)))
    dims = st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1)
    dim = draw(
        st.none()
        | dims
        | st.lists(dims, max_size=3, unique_by=lambda d: d % max(x.ndim, 1)).map(tuple)
    )
    return x, dim


@st.composite
def _unsqueeze_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=0))
    return x, _dim(draw, x.ndim, extra=1)


@st.composite
def _flatten_case(draw: Any) -> tuple:
    x = draw(floats(empty=True, min_dims=0))
    rank = max(x.ndim, 1)
    start, end = sorted(draw(st.integers(0, rank - 1)) for _ in range(2))
    return (
        x,
        start - rank * draw(st.integers(0, 1)),
        end - rank * draw(st.integers(0, 1)),
    )


@st.composite
def _cat_case(draw: Any, stack: bool = False) -> tuple:
    """(dim, *xs): 1-3 arrays equal off dim (all equal for stack)."""
    shape = list(draw(hnp.array_shapes(min_dims=0 if stack else 1, max_dims=3)))
    dim = _dim(draw, len(shape), extra=int(stack))
    xs = []
    for _ in range(draw(st.integers(1, 3))):
        if not stack:
            shape[dim] = draw(st.integers(0, 3))
        xs.append(draw(floats(tuple(shape))))
    return (dim, *xs)


# ------------------------------------------------------------ indexing


@st.composite
def _basic_key(draw: Any) -> tuple:
    """(x, key): ints, slices (steps 1-3, bounds past the ends), None, ...."""
    x = draw(floats(empty=True, min_dims=1))
    key, dims = [], list(x.shape)
    ellipsis_at = draw(st.integers(-1, len(dims)))
    for i, size in enumerate(dims):
        if i == ellipsis_at:
            key.append(Ellipsis)
            break
        kind = draw(st.sampled_from(["int", "slice", "slice", "none"]))
        if kind == "int" and size:
            key.append(draw(st.integers(-size, size - 1)))
        elif kind == "none":
            key.extend([None, slice(None)])
        else:
            bound = st.none() | st.integers(-size - 1, size + 1)
            key.append(
                slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, 3])))
            )
    return x, tuple(key)


@st.composite
def _tensor_key(draw: Any) -> tuple:
    """(x, template, *indices): template holds "T0", "T1" where the integer
    tensors go; two of them broadcast and may be split by a slice."""
    x = draw(floats(min_dims=1))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(1, min(2, x.ndim)))
    shapes = draw(
        hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=2)
    ).input_shapes
    first = draw(st.integers(0, x.ndim - n))
    gap = draw(st.integers(0, x.ndim - n - first)) if n == 2 else 0
    template = [slice(None)] * first + ["T0"] + [slice(None)] * gap
    template += ["T1"] if n == 2 else []
    dims = [first, first + 1 + gap]
    indices = [rng.integers(-x.shape[d], x.shape[d], s) for d, s in zip(dims, shapes)]
    return (x, tuple(template), *indices)


def _index_with(lib: Any, x: Any, template: tuple, *indices: Any) -> Any:
    key = tuple(indices[int(k[1])] if isinstance(k, str) else k for k in template)
    return x[key]


@st.composite
def _mask_key(draw: Any) -> tuple:
    """(x, lead, mask): a bool mask of the dims after ``lead`` full slices."""
    x = draw(floats(empty=True, min_dims=1))
    lead = draw(st.integers(0, x.ndim - 1))
    width = draw(st.integers(1, x.ndim - lead))
    mask = draw(hnp.arrays(np.bool_, x.shape[lead : lead + width]))
    return x, lead, mask


@st.composite
def _repeated_case(draw: Any) -> tuple:
    """(x, index, weight): a 1-d gather with repeats, weighted."""
    x = draw(floats(min_dims=1, max_dims=1))
    n = draw(st.integers(0, 6))
    index = np.random.default_rng(draw(st.integers(0, 99))).integers(0, x.size, n)
    return x, index, draw(floats((n,)))


# the issue's example: gradient [10 + 20, 0, 30]
EXAMPLE = (np.array([1.0, 2.0, 3.0]), np.array([0, 0, 2]), np.array([10.0, 20.0, 30.0]))


def check_issue_example(torch: Any, dtype: str, x, index, weight) -> None:
    for lib in (pg, torch):
        t = lib.tensor(x.astype(dtype), requires_grad=True)
        w = lib.tensor(weight.astype(dtype))
        out = (t[lib.tensor(index)] * w).sum()
        np.testing.assert_allclose(float(out), 1 * 10 + 1 * 20 + 3 * 30)
        with stage("backward"):
            out.backward()
            np.testing.assert_array_equal(t.grad.numpy(), [30.0, 0.0, 30.0])
            assert str(t.grad.dtype).endswith(dtype), t.grad.dtype


SPECS = [
    OpSpec(
        "reshape",
        lambda lib, x, shape: lib.reshape(x, shape),
        _reshape_case(),
        cases=[(np.ones((0, 2)), (-1, 0))],  # -1 with no elements: torch raises
    ),
    OpSpec("view", lambda lib, x, shape: x.view(shape), _reshape_case()),
    # a view of a transposed tensor: splitting a dim is fine, merging the
    # swapped dims is not
    OpSpec(
        "view(transposed)",
        lambda lib, x, shape: x.transpose(0, -1).view(shape),
        _reshape_case(transposed=True),
        cases=[
            (np.arange(24.0).reshape(4, 3, 2), (2, 3, 2, 2)),
            (np.arange(24.0).reshape(4, 3, 2), (6, 4)),
        ],
    ),
    OpSpec("permute", lambda lib, x, dims: x.permute(dims), _permute_case()),
    OpSpec("transpose", lambda lib, x, a, b: lib.transpose(x, a, b), _two_dims()),
    OpSpec(
        "squeeze",
        lambda lib, x, dim: lib.squeeze(x) if dim is None else x.squeeze(dim),
        _squeeze_case(),
    ),
    OpSpec("unsqueeze", lambda lib, x, dim: lib.unsqueeze(x, dim), _unsqueeze_case()),
    OpSpec(
        "flatten",
        lambda lib, x, start, end: lib.flatten(x, start, end),
        _flatten_case(),
    ),
    # 1-d empties among 1-d tensors are joined, gradients and all (fixed)
    OpSpec(
        "cat",
        lambda lib, dim, *xs: lib.cat(list(xs), dim),
        _cat_case(),
        cases=[(0, np.zeros(0), np.ones(2), np.zeros(0))],
    ),
    # a 1-d empty tensor joins anything (PyTorch's legacy rule)
    OpSpec(
        "cat(legacy empty)",
        lambda lib, a, b: lib.cat([a, b], 0),
        st.tuples(floats((2, 3)), st.just(np.zeros((0,)))),
    ),
    OpSpec("stack", lambda lib, dim, *xs: lib.stack(xs, dim), _cat_case(stack=True)),
    # a negative step: ValueError in torch
    OpSpec(
        "indexing",
        lambda lib, x, key: x[key],
        _basic_key(),
        cases=[(np.arange(4.0), (slice(None, None, -1),))],
    ),
    OpSpec(
        "indexing(int tensor)", _index_with, _tensor_key(), note="advanced indexing"
    ),
    OpSpec(
        "indexing(bool mask)",
        lambda lib, x, lead, mask: x[(slice(None),) * lead + (mask,)],
        _mask_key(),
    ),
    # repeated indices scatter-add in backward
    OpSpec(
        "indexing(repeated)",
        lambda lib, x, index, w: x[index] * w,
        _repeated_case(),
        grad=[True, False, False],
        cases=[EXAMPLE],
    ),
    CustomSpec(
        "indexing(issue example)",
        check_issue_example,
        st.just(EXAMPLE),
        note="[1, 2, 3][[0, 0, 2]] * [10, 20, 30] summed: gradient [30, 0, 30]",
        examples_scale=0.01,
    ),
]
