"""Shape ops and indexing: reshape, view, flatten, transpose, permute, squeeze,
unsqueeze, expand, cat, stack and every kind of index.

Shape ops move values without computing, so their gradients must put each
value's gradient back where the value came from; repeated reads (expand,
integer indices with repeats) must add up. Checked against float64 finite
differences, real PyTorch and NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients, forward_value

import plaingrad as pg

torch = import_torch()

X234 = np.random.default_rng(0).standard_normal((2, 3, 4))

# name -> (computation on either library, NumPy forward)
SHAPE_OPS = {
    "reshape": (lambda m, t: t.reshape(4, 6), lambda x: x.reshape(4, 6)),
    "reshape_tuple_infer": (
        lambda m, t: t.reshape((-1, 2)),
        lambda x: x.reshape(-1, 2),
    ),
    "reshape_function": (
        lambda m, t: m.reshape(t, (3, -1)),
        lambda x: x.reshape(3, -1),
    ),
    "reshape_same_shape": (lambda m, t: t.reshape(2, 3, 4), lambda x: x),
    "view": (lambda m, t: t.view(6, 4), lambda x: x.reshape(6, 4)),
    "view_infer": (lambda m, t: t.view(-1), lambda x: x.reshape(-1)),
    "view_as": (
        lambda m, t: t.view_as(m.zeros(3, 8)),
        lambda x: x.reshape(3, 8),
    ),
    "flatten": (lambda m, t: t.flatten(), lambda x: x.reshape(-1)),
    "flatten_from_1": (lambda m, t: m.flatten(t, 1), lambda x: x.reshape(2, 12)),
    "flatten_middle": (
        lambda m, t: t.flatten(0, 1),
        lambda x: x.reshape(6, 4),
    ),
    "transpose": (lambda m, t: t.transpose(0, 2), lambda x: x.transpose(2, 1, 0)),
    "transpose_negative": (
        lambda m, t: m.transpose(t, -1, -2),
        lambda x: x.swapaxes(-1, -2),
    ),
    "permute": (lambda m, t: t.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1)),
    "permute_tuple": (
        lambda m, t: m.permute(t, (1, 2, 0)),
        lambda x: x.transpose(1, 2, 0),
    ),
    "T_of_matrix": (lambda m, t: t[0].T, lambda x: x[0].T),
    "t": (lambda m, t: t[1].t(), lambda x: x[1].T),
    "mT": (lambda m, t: t.mT, lambda x: x.swapaxes(-1, -2)),
    "unsqueeze_front": (lambda m, t: t.unsqueeze(0), lambda x: x[None]),
    "unsqueeze_back": (lambda m, t: m.unsqueeze(t, -1), lambda x: x[..., None]),
    "unsqueeze_middle": (lambda m, t: t.unsqueeze(2), lambda x: x[:, :, None]),
    "squeeze_all": (
        lambda m, t: t.reshape(1, 2, 1, 12, 1).squeeze(),
        lambda x: x.reshape(2, 12),
    ),
    "squeeze_dim": (
        lambda m, t: m.squeeze(t.reshape(1, 2, 1, 12), 2),
        lambda x: x.reshape(1, 2, 12),
    ),
    "squeeze_not_one": (lambda m, t: t.squeeze(0), lambda x: x),
    "expand": (
        lambda m, t: t[:, :1, :].expand(2, 5, 4),
        lambda x: np.broadcast_to(x[:, :1, :], (2, 5, 4)),
    ),
    "expand_new_dims": (
        lambda m, t: t[0, 0].expand(3, 2, 4),
        lambda x: np.broadcast_to(x[0, 0], (3, 2, 4)),
    ),
    "expand_keep": (
        lambda m, t: t[:, :, :1].expand(-1, -1, 6),
        lambda x: np.broadcast_to(x[:, :, :1], (2, 3, 6)),
    ),
    "expand_as": (
        lambda m, t: t[:1].expand_as(t),
        lambda x: np.broadcast_to(x[:1], x.shape),
    ),
    "unflatten": (
        lambda m, t: t.unflatten(2, (2, 2)),
        lambda x: x.reshape(2, 3, 2, 2),
    ),
    "chain_after_transpose": (
        lambda m, t: t.transpose(0, 1).reshape(3, 8),
        lambda x: x.swapaxes(0, 1).reshape(3, 8),
    ),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_op(name: str) -> None:
    fn, numpy_fn = SHAPE_OPS[name]

    np.testing.assert_array_equal(forward_value(fn, X234), numpy_fn(X234))
    check_against_torch(torch, fn, X234)
    check_gradients(fn, X234)


def test_expand_gradient_sums_the_copies() -> None:
    x = pg.tensor([[1.0], [2.0]], requires_grad=True)
    x.expand(2, 3).sum().backward()
    assert x.grad.tolist() == [[3.0], [3.0]]
    y = pg.tensor([1.0, 2.0], requires_grad=True)
    (y.expand(4, 2) * pg.arange(8.0).reshape(4, 2)).sum().backward()
    assert y.grad.tolist() == [0.0 + 2 + 4 + 6, 1.0 + 3 + 5 + 7]


def test_shape_op_errors() -> None:
    x = pg.zeros(2, 3)
    with pytest.raises(RuntimeError, match="shape '\\[4, 2\\]' is invalid"):
        x.reshape(4, 2)
    with pytest.raises(RuntimeError, match="only one dimension can be inferred"):
        x.view(-1, -1)
    with pytest.raises(RuntimeError, match="expand"):
        x.expand(4, 3)
    with pytest.raises(RuntimeError, match="permute"):
        x.permute(0)
    with pytest.raises(IndexError, match="transpose.*range"):
        x.transpose(0, 2)
    with pytest.raises(RuntimeError, match="t\\(\\) expects"):
        pg.zeros(2, 2, 2).t()


def test_view_of_non_contiguous_tensor_raises() -> None:
    x = pg.arange(6.0).reshape(2, 3).t()
    assert not x.is_contiguous()
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.view(6)
    assert x.reshape(6).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    assert x.contiguous().view(6).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]


def test_view_shares_memory() -> None:
    x = pg.zeros(2, 3)
    v = x.view(6)
    v[0] = 5.0
    assert x[0, 0].item() == 5.0
    assert x.transpose(0, 1).data_ptr() == x.data_ptr()


# -------------------------------------------------------------------- indexing

INDEXES = {
    "int": lambda m, t: t[1],
    "negative_int": lambda m, t: t[-1, 0],
    "ints_to_scalar": lambda m, t: t[1, 2, 3],
    "slice": lambda m, t: t[:, 1:],
    "slice_step": lambda m, t: t[:, ::2, 1:4:2],
    "slice_negative_bounds": lambda m, t: t[..., -3:-1],
    "none": lambda m, t: t[None, :, None],
    "ellipsis": lambda m, t: t[..., 1],
    "ellipsis_none": lambda m, t: t[0, ..., None],
    "int_list": lambda m, t: t[[1, 0, 1]],
    "int_list_repeats": lambda m, t: t[:, [2, 2, 0, 2]],
    "int_tensor_repeats": lambda m, t: t[m.tensor([0, 0, 1, 0])],
    "two_int_tensors": lambda m, t: t[m.tensor([0, 1, 1]), m.tensor([2, 2, 0])],
    "int_tensor_2d": lambda m, t: t[:, m.tensor([[0, 1], [1, 1]])],
    "int_tensor_0d": lambda m, t: t[m.tensor(1)],
    # PyTorch applies ints first: these differ from NumPy's ordering
    "int_and_slice_and_list": lambda m, t: t[1, 1:, [3, 0, 3]],
    "int_slice_list": lambda m, t: t[0, :, [1, 2]],
    "none_int_slice_list": lambda m, t: t[None, 1, :, [1, 2]],
    "list_int_list": lambda m, t: t[[0, 1], 2, [1, 3]],
    "bool_mask_full": lambda m, t: t[t > 0],
    "bool_mask_rows": lambda m, t: t[m.tensor([True, False])],
    "bool_mask_middle": lambda m, t: t[:, m.tensor([True, False, True])],
    "bool_mask_2d": lambda m, t: t[t.sum(2) > 0],
}


@pytest.mark.parametrize("name", sorted(INDEXES))
def test_indexing(name: str) -> None:
    fn = INDEXES[name]

    if name not in NUMPY_DIFFERS:
        np.testing.assert_array_equal(forward_value(fn, X234), fn(_NumpyLib, X234))
    check_against_torch(torch, fn, X234)
    check_gradients(fn, X234)


NUMPY_DIFFERS = {"int_and_slice_and_list", "int_slice_list", "none_int_slice_list"}


def test_int_with_array_index_orders_dimensions_as_pytorch() -> None:
    # bug: NumPy moved the broadcast dimension first, giving (2, 3)
    x = pg.arange(24.0).reshape(2, 3, 4)
    out = x[1, :, [0, 2]]
    assert tuple(out.shape) == (3, 2)
    assert out.tolist() == [[12.0, 14.0], [16.0, 18.0], [20.0, 22.0]]
    y = pg.zeros(2, 3, 4)
    y[1, :, [0, 2]] = pg.tensor([1.0, 2.0])
    assert y[1].tolist() == [[1.0, 0.0, 2.0, 0.0]] * 3
    assert y[0].sum().item() == 0.0


class _NumpyLib:
    """Just enough of a tensor library for the index expressions above."""

    @staticmethod
    def tensor(data):
        return np.asarray(data)


def test_integer_index_repeats_add_gradients() -> None:
    x = pg.tensor([10.0, 20.0, 30.0], requires_grad=True)
    x[pg.tensor([0, 2, 0, 0])].sum().backward()
    assert x.grad.tolist() == [3.0, 0.0, 1.0]

    y = pg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    (y[[1, 1], [0, 0]] * pg.tensor([2.0, 5.0])).sum().backward()
    assert y.grad.tolist() == [[0.0, 0.0], [7.0, 0.0]]


def test_boolean_mask_gradient() -> None:
    x = pg.tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    picked = x[x > 0]
    assert picked.tolist() == [1.0, 4.0]
    (picked * pg.tensor([3.0, 5.0])).sum().backward()
    assert x.grad.tolist() == [[3.0, 0.0], [0.0, 5.0]]


def test_index_errors() -> None:
    x = pg.zeros(2, 3)
    with pytest.raises(IndexError):
        x[2]
    with pytest.raises(IndexError):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="index"):
        x[pg.tensor([0.5])]
    with pytest.raises(ValueError, match="step"):
        x[::-1]


def test_setitem_outside_autograd() -> None:
    x = pg.zeros(2, 3)
    x[0] = 1.0
    x[1, [0, 2]] = pg.tensor([4.0, 5.0])
    x[x == 0] = -1.0
    assert x.tolist() == [[1.0, 1.0, 1.0], [4.0, -1.0, 5.0]]
    leaf = pg.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        leaf[0] = 1.0


# ------------------------------------------------------------------ cat, stack


CAT_STACK = {
    "cat_dim0": lambda m, a, b, c: m.cat([a, b[:1]], 0),
    "cat_dim1": lambda m, a, b, c: m.cat((a, c, a), dim=1),
    "cat_negative": lambda m, a, b, c: m.cat([a, b], -1),
    "cat_one": lambda m, a, b, c: m.cat([a]),
    "stack_dim0": lambda m, a, b, c: m.stack([a, b]),
    "stack_dim1": lambda m, a, b, c: m.stack((a, b, a), dim=1),
    "stack_last": lambda m, a, b, c: m.stack([a, b], -1),
}


@pytest.mark.parametrize("name", sorted(CAT_STACK))
def test_cat_stack(name: str) -> None:
    rng = np.random.default_rng(1)
    a, b, c = (
        rng.standard_normal((2, 3)),
        rng.standard_normal((2, 3)),
        rng.standard_normal((2, 5)),
    )
    fn = CAT_STACK[name]
    numpy_lib = type(
        "NumpyLib",
        (),
        {
            "cat": staticmethod(lambda ts, dim=0: np.concatenate(ts, axis=dim)),
            "stack": staticmethod(lambda ts, dim=0: np.stack(ts, axis=dim)),
        },
    )

    np.testing.assert_array_equal(forward_value(fn, a, b, c), fn(numpy_lib, a, b, c))
    check_against_torch(torch, fn, a, b, c)
    check_gradients(fn, a, b, c)


def test_cat_mixed_dtypes_and_requires_grad() -> None:
    a = pg.tensor([1.0, 2.0], requires_grad=True)
    b = pg.tensor([3, 4])
    out = pg.cat([a, b])
    assert out.dtype == pg.float32
    assert out.tolist() == [1.0, 2.0, 3.0, 4.0]
    (out * pg.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert a.grad.tolist() == [1.0, 2.0]
    assert pg.stack([pg.tensor([1]), pg.tensor([2.5], dtype=pg.float64)]).dtype == (
        pg.float64
    )


def test_cat_stack_errors() -> None:
    with pytest.raises(RuntimeError, match="cat.*Sizes of tensors must match"):
        pg.cat([pg.zeros(2, 3), pg.zeros(3, 2)], dim=0)
    with pytest.raises(RuntimeError, match="stack expects each tensor"):
        pg.stack([pg.zeros(2), pg.zeros(3)])
    with pytest.raises(RuntimeError, match="non-empty"):
        pg.cat([])
