"""Index-tensor ops and einsum: gather, scatter, scatter_add, index_select,
index_add, index_put, take_along_dim, masked_select, nonzero, where(cond) and
einsum.

A read through an index tensor must scatter-add in backward, so every case
with repeated indices checks that repeats add up. Values and gradients come
from real PyTorch and float64 finite differences; out-of-range indices must
raise PyTorch's exception type with a message naming the op.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4, 5))
SRC = RNG.standard_normal((3, 4, 5))
# along dim 2: repeats; no larger than X elsewhere
GATHER_IDX = np.array([[[0, 0, 4], [1, 2, 1], [3, 3, 3], [4, 0, 2]]] * 3)
# a different target per source element along dim 2 (scatter keeps one write)
SCATTER_IDX = np.argsort(RNG.standard_normal((3, 4, 5)), axis=2)[:, :3, :2]
ROWS = np.array([2, 0, 2, 2])
MASK = np.array([True, False, True, True, False])


def _t(m, array):
    return m.tensor(array)


CASES = {
    "gather": lambda m, t: m.gather(t, 2, _t(m, GATHER_IDX)),
    "gather_dim0_smaller": lambda m, t: t.gather(0, _t(m, GATHER_IDX[:2, :3, :] % 3)),
    "gather_negative_dim": lambda m, t: t.gather(-1, _t(m, GATHER_IDX)),
    "gather_empty": lambda m, t: t.gather(2, _t(m, GATHER_IDX[:, :, :0])),
    "scatter_src": lambda m, t, s: t.scatter(2, _t(m, SCATTER_IDX), s[:, :3, :2]),
    "scatter_function": lambda m, t, s: m.scatter(
        t, 2, _t(m, SCATTER_IDX), s[:, :3, :2]
    ),
    "scatter_value": lambda m, t, s: t.scatter(2, _t(m, SCATTER_IDX), 1.5) * s,
    "scatter_add": lambda m, t, s: t.scatter_add(2, _t(m, GATHER_IDX), s[..., :3]),
    "scatter_add_function": lambda m, t, s: m.scatter_add(
        t, 1, _t(m, GATHER_IDX % 4), s[..., :3]
    ),
    "index_select": lambda m, t: t.index_select(1, _t(m, ROWS)),
    "index_select_function": lambda m, t: m.index_select(t, -1, _t(m, ROWS)),
    "index_select_0d_index": lambda m, t: t.index_select(0, _t(m, np.array(1))),
    "index_select_empty": lambda m, t: t.index_select(2, _t(m, ROWS[:0])),
    "index_add": lambda m, t, s: t.index_add(1, _t(m, ROWS), s),
    "index_add_alpha": lambda m, t, s: m.index_add(
        t, 2, _t(m, ROWS[:3]), s[:, :, :3], alpha=-2.0
    ),
    "index_put": lambda m, t, s: t.index_put((_t(m, ROWS[:2]),), s[:2]),
    "index_put_broadcast": lambda m, t, s: m.index_put(
        t, (_t(m, ROWS[:2]), _t(m, np.array([1, 3]))), s[0, 0]
    ),
    "index_put_accumulate": lambda m, t, s: t.index_put(
        (_t(m, ROWS), _t(m, ROWS)), s[0, 0], accumulate=True
    ),
    "index_put_negative": lambda m, t, s: t.index_put((_t(m, -ROWS[:1]),), s[0]),
    "index_put_mask": lambda m, t, s: t.index_put((t > 0,), s[0, 0, 0]),
    "take_along_dim": lambda m, t: m.take_along_dim(t, _t(m, GATHER_IDX), 2),
    "take_along_dim_broadcast": lambda m, t: m.take_along_dim(
        t, _t(m, GATHER_IDX[:1, :, :]), -1
    ),
    "take_along_dim_input_broadcast": lambda m, t: m.take_along_dim(
        t[:1], _t(m, GATHER_IDX[:, :2, :1] % 4), 1
    ),
    "take_along_dim_negative": lambda m, t: t.take_along_dim(
        _t(m, -ROWS)[None, None], 2
    ),
    "take_along_dim_flat": lambda m, t: m.take_along_dim(t, _t(m, ROWS * 13)),
    "masked_select": lambda m, t: t.masked_select(t > 0),
    "masked_select_broadcast": lambda m, t: m.masked_select(t, _t(m, MASK)),
    "masked_select_input_broadcast": lambda m, t: t[:, :1].masked_select(
        _t(m, MASK[None, None].repeat(4, 1))
    ),
    "masked_select_empty": lambda m, t: t.masked_select(t > 100),
}

EINSUM = {
    "matmul": ("ij,jk->ik", [(4, 5), (5, 3)]),
    "batch_matmul": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    "trace_implicit": ("ii", [(4, 4)]),
    "diagonal": ("ii->i", [(4, 4)]),
    "diagonal_batched": ("...ii->...i", [(2, 3, 3)]),
    "repeated_in_one_operand": ("iij,jk->ik", [(3, 3, 4), (4, 2)]),
    "sum_all": ("ij->", [(3, 4)]),
    "sum_one_operand_only": ("ij,j->j", [(3, 4), (4,)]),
    "outer": ("i,j->ij", [(3,), (4,)]),
    "transpose_implicit": ("ba", [(3, 4)]),
    "ellipsis_transpose": ("...ij->...ji", [(2, 3, 4)]),
    "ellipsis_summed": ("...i->i", [(2, 3, 4)]),
    "ellipsis_broadcast": ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    "ellipsis_middle": ("i...j,j->i...", [(2, 3, 4), (4,)]),
    "size_one_broadcast": ("ij,ij->ij", [(1, 3), (2, 3)]),
    "size_one_summed": ("ij,ij->", [(1, 3), (2, 3)]),
    "three_operands": ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    "bilinear": ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    "spaces": (" i j , j -> i ", [(3, 4), (4,)]),
}


def _fn_and_args(name: str) -> tuple:
    if name.startswith("einsum_"):
        equation, shapes = EINSUM[name.removeprefix("einsum_")]
        rng = np.random.default_rng(len(name))
        args = [rng.standard_normal(s) for s in shapes]
        return (lambda m, *ts: m.einsum(equation, *ts)), args
    fn = CASES[name]
    nargs = fn.__code__.co_argcount - 1
    return fn, [X, SRC][:nargs]


ALL = sorted(CASES) + ["einsum_" + k for k in sorted(EINSUM)]


@pytest.mark.parametrize("name", ALL)
def test_indexing_op(name: str) -> None:
    fn, args = _fn_and_args(name)

    check_against_torch(torch, fn, *args)
    check_gradients(fn, *args)


@pytest.mark.parametrize("name", sorted(CASES))
def test_grad_fn_name_matches_pytorch(name: str) -> None:
    fn, args = _fn_and_args(name)
    ours = fn(pg, *[pg.tensor(a, requires_grad=True) for a in args])
    theirs = fn(torch, *[torch.tensor(a, requires_grad=True) for a in args])
    # scatter_value multiplies afterwards; its scatter node is one step back
    if name == "scatter_value":
        ours, theirs = ours.grad_fn._next[0], theirs.grad_fn.next_functions[0][0]
        assert ours.name() == type(theirs).__name__
    else:
        assert ours.grad_fn.name() == type(theirs.grad_fn).__name__


@pytest.mark.parametrize("name", ["gather", "index_select", "scatter_add"])
def test_float16(name: str) -> None:
    fn, args = _fn_and_args(name)
    check_against_torch(torch, fn, *args, dtypes=("float16",))


def test_repeated_indices_add_their_gradients() -> None:
    # reading [1., 2., 3.] at [0, 0, 2], weighted by [10, 20, 30]
    weights = pg.tensor([10.0, 20.0, 30.0])
    index = pg.tensor([0, 0, 2])
    reads = {
        "gather": lambda x: x.gather(0, index),
        "index_select": lambda x: x.index_select(0, index),
        "take_along_dim": lambda x: x.take_along_dim(index, 0),
        "getitem": lambda x: x[index],
        "einsum": lambda x: pg.einsum("i,ji->j", x, pg.eye(3)[index]),
    }
    for name, read in reads.items():
        x = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
        (read(x) * weights).sum().backward()
        assert x.grad.tolist() == [30.0, 0.0, 30.0], name


def test_scatter_add_and_index_add_accumulate_repeats() -> None:
    index = pg.tensor([0, 0, 2])
    src = pg.tensor([1.0, 2.0, 4.0])
    assert pg.zeros(3).scatter_add(0, index, src).tolist() == [3.0, 0.0, 4.0]
    assert pg.zeros(3).index_add(0, index, src).tolist() == [3.0, 0.0, 4.0]
    out = pg.zeros(3).index_put((index,), src, accumulate=True)
    assert out.tolist() == [3.0, 0.0, 4.0]


def test_scatter_src_larger_than_index() -> None:
    # only src's leading block is read; the rest gets zero gradient (PyTorch
    # computes the same forward but its backward fails on the shape mismatch)
    def fn(m, t, s):
        return t.scatter_add(2, _t(m, GATHER_IDX), s).scatter(2, _t(m, SCATTER_IDX), s)

    check_against_torch(torch, fn, X, SRC, backward=False)
    check_gradients(fn, X, SRC)
    src = pg.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    out = pg.zeros(1, 3).scatter(1, pg.tensor([[2]]), src)
    (out * pg.tensor([[1.0, 2.0, 5.0]])).sum().backward()
    assert out.tolist() == [[0.0, 0.0, 1.0]]
    assert src.grad.tolist() == [[5.0, 0.0, 0.0]]


def test_scatter_leaves_input_unchanged() -> None:
    x = pg.zeros(2, 3)
    out = x.scatter(1, pg.tensor([[2], [0]]), pg.tensor([[5.0], [6.0]]))
    assert out.tolist() == [[0.0, 0.0, 5.0], [6.0, 0.0, 0.0]]
    assert x.sum().item() == 0.0
    assert x.index_put((pg.tensor([1]),), pg.tensor(1.0)).sum().item() == 3.0
    assert x.sum().item() == 0.0


NONZERO = {
    "matrix": lambda m: m.tensor([[1, 0, 2], [0, 0, 3]]).nonzero(),
    "float": lambda m: m.nonzero(m.tensor([0.0, 1.5, -2.0])),
    "empty": lambda m: m.zeros(2, 3).nonzero(),
    "scalar_true": lambda m: m.tensor(2.0).nonzero(),
    "scalar_false": lambda m: m.tensor(0.0).nonzero(),
    "as_tuple": lambda m: m.tensor([[1, 0, 2], [0, 0, 3]]).nonzero(as_tuple=True),
    "as_tuple_scalar": lambda m: m.nonzero(m.tensor(2.0), as_tuple=True),
    "where": lambda m: m.where(m.tensor([[True, False], [True, True]])),
    "where_float": lambda m: m.where(m.tensor([1.0, 0.0, 3.0])),
    "where_scalar": lambda m: m.where(m.tensor(True)),
}


@pytest.mark.parametrize("name", sorted(NONZERO))
def test_nonzero_and_where(name: str) -> None:
    ours, theirs = NONZERO[name](pg), NONZERO[name](torch)
    if not isinstance(theirs, tuple):
        ours, theirs = (ours,), (theirs,)
    assert isinstance(ours, tuple) and len(ours) == len(theirs)
    for p, t in zip(ours, theirs):
        assert str(p.dtype) == str(t.dtype).replace("torch", "plaingrad")
        assert tuple(p.shape) == tuple(t.shape)
        assert p.tolist() == t.tolist()


def test_where_three_arguments_still_work() -> None:
    cond = pg.tensor([True, False])
    a = pg.tensor([1.0, 2.0], requires_grad=True)
    out = pg.where(cond, a, pg.tensor([5.0, 6.0]))
    assert out.tolist() == [1.0, 6.0]
    assert a.where(cond, pg.tensor([0.0, 0.0])).tolist() == [1.0, 0.0]
    with pytest.raises(TypeError, match="where"):
        pg.where(cond, a)


def _x(lib):
    return lib.tensor(X)


def _long(lib, values):
    return lib.tensor(np.asarray(values))


ERRORS = [
    (
        lambda m: m.gather(_x(m), 2, _long(m, np.full((3, 4, 5), 5))),
        RuntimeError,
        "gather.*index 5 is out of bounds for dimension 2 with size 5",
    ),
    (
        lambda m: _x(m).gather(2, _long(m, np.full((3, 4, 5), -1))),
        RuntimeError,
        "gather.*index -1 is out of bounds",
    ),
    (
        lambda m: _x(m).gather(2, m.tensor(np.full((3, 4, 5), 1.0))),
        RuntimeError,
        "gather.*Expected dtype int32/int64",
    ),
    (
        lambda m: _x(m).gather(2, _long(m, np.zeros((3, 4), int))),
        RuntimeError,
        "gather.*same number of dimensions",
    ),
    (
        lambda m: _x(m).gather(2, _long(m, np.zeros((4, 4, 5), int))),
        RuntimeError,
        "gather.*no larger than self",
    ),
    (
        lambda m: _x(m).gather(3, _long(m, np.zeros((3, 4, 5), int))),
        IndexError,
        "gather.*Dimension out of range",
    ),
    (
        lambda m: _x(m).scatter(2, _long(m, np.full((3, 4, 5), 5)), _x(m)),
        RuntimeError,
        "scatter.*index 5 is out of bounds",
    ),
    (
        lambda m: _x(m).scatter(2, _long(m, np.zeros((3, 4, 5), int)), _x(m)[..., :2]),
        RuntimeError,
        "scatter.*no larger size than src",
    ),
    (
        lambda m: _x(m).scatter(2, _long(m, np.zeros((1, 1, 1), int)), _x(m).float()),
        RuntimeError,
        "scatter.*Expected self.dtype to be equal to src.dtype",
    ),
    (
        lambda m: _x(m).scatter_add(2, _long(m, np.full((3, 4, 5), 7)), _x(m)),
        RuntimeError,
        "scatter_add.*index 7 is out of bounds",
    ),
    (
        lambda m: _x(m).index_select(1, _long(m, [4])),
        RuntimeError,
        "index_select.*out of bounds",
    ),
    (
        lambda m: _x(m).index_select(1, _long(m, [-1])),
        RuntimeError,
        "index_select.*out of bounds",
    ),
    (
        lambda m: _x(m).index_select(1, _long(m, [[0]])),
        IndexError,
        "index_select.*supposed to be a vector",
    ),
    (
        lambda m: _x(m).index_select(1, m.tensor([0.0])),
        RuntimeError,
        "index_select.*Expected dtype int32",
    ),
    (
        lambda m: _x(m).index_add(1, _long(m, [4]), m.zeros(3, 1, 5).double()),
        IndexError,
        "index_add.*index out of range",
    ),
    (
        lambda m: _x(m).index_add(1, _long(m, [0]), m.zeros(3, 2, 5).double()),
        RuntimeError,
        "index_add.*Number of indices",
    ),
    (
        lambda m: _x(m).index_add(1, _long(m, [0]), m.zeros(3, 1, 5)),
        RuntimeError,
        "index_add.*same scalar type",
    ),
    (
        lambda m: _x(m).index_add(1, _long(m, [0]), m.zeros(3, 1, 4).double()),
        RuntimeError,
        "index_add.*source tensor shape must match",
    ),
    (
        lambda m: _x(m).index_put((_long(m, [3]),), m.tensor(1.0).double()),
        IndexError,
        "index_put.*out of bounds",
    ),
    (
        lambda m: _x(m).index_put((_long(m, [0, 1]),), _x(m)),
        RuntimeError,
        "index_put.*shape mismatch",
    ),
    (
        lambda m: _x(m).index_put((_long(m, [0]),), m.tensor(1.0)),
        RuntimeError,
        "index_put.*dtypes match",
    ),
    (
        lambda m: m.take_along_dim(_x(m), _long(m, [[1]]), 2),
        RuntimeError,
        "take_along_dim.*same number of dimensions",
    ),
    (
        lambda m: m.take_along_dim(_x(m), _long(m, [60])),
        RuntimeError,
        "take_along_dim.*index 60 is out of bounds",
    ),
    (
        lambda m: _x(m).masked_select(m.ones(2, dtype=m.bool)),
        RuntimeError,
        "masked_select",
    ),
    (
        lambda m: _x(m).masked_select(m.ones(5)),
        RuntimeError,
        "masked_select: expected BoolTensor",
    ),
    (
        lambda m: m.einsum("ij,jk->ik", _x(m), _x(m)),
        RuntimeError,
        "einsum.*number of subscripts",
    ),
    (
        lambda m: m.einsum("ij->ij", _x(m)[0], _x(m)[0]),
        RuntimeError,
        "einsum.*more operands were provided",
    ),
    (
        lambda m: m.einsum("i,i->", m.ones(3), m.ones(3).double()),
        RuntimeError,
        "einsum",
    ),
    (
        lambda m: m.einsum("i,i->", m.ones(3), m.ones(4)),
        RuntimeError,
        "einsum.*subscript i has size 4 for operand 1",
    ),
    (
        lambda m: m.einsum("i->ii", m.ones(3)),
        RuntimeError,
        "einsum.*appears more than once in the output",
    ),
    (
        lambda m: m.einsum("i->j", m.ones(3)),
        RuntimeError,
        "einsum.*output subscript j does not appear",
    ),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_match_pytorch(case: int) -> None:
    fn, kind, message = ERRORS[case]

    with pytest.raises(kind, match=message):
        fn(pg)
    with pytest.raises(kind):
        fn(torch)


def test_einsum_accepts_a_list_and_integer_operands() -> None:
    a = pg.tensor([[1, 2], [3, 4]])
    assert pg.einsum("ij,jk", [a, a]).tolist() == [[7, 10], [15, 22]]
    assert pg.einsum("i,i", pg.tensor([1, 2]), pg.tensor([3, 4])).item() == 11
