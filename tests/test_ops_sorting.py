"""Sorting and order statistics: sort, topk, kthvalue, median, mode.

On tie-free inputs every op is checked against real PyTorch (values, indices,
dtypes, gradients), float64 finite differences and NumPy. At ties finite
differences do not apply and PyTorch leaves the index returned unspecified
(except for ``sort(stable=True)``), so tie tests compare values with PyTorch
and check that the gradient goes to the index returned; ``median()`` of a whole
tensor, whose tie gradient PyTorch does fix (split evenly), is compared in full.
"""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from conftest import import_torch
from hypothesis import given
from hypothesis import strategies as st
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()


@st.composite
def distinct_case(draw, min_dims: int = 1):
    """A tie-free array (a shuffled range) and a valid dim of it."""
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, max_side=4))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    seed = draw(st.integers(0, 2**16))
    x = np.random.default_rng(seed).permutation(int(np.prod(shape))).reshape(shape)
    return x / 4.0 - 1.0, dim


def scattered(grad: np.ndarray, indices: np.ndarray, shape: tuple, dim: int):
    """What the gradient must be when each output takes the input at an index."""
    expected = np.zeros(shape)
    np.put_along_axis(expected, indices, grad, axis=dim)
    return expected


def backward_seed(out: pg.Tensor) -> np.ndarray:
    seed = np.arange(1.0, out.numel() + 1.0).reshape(tuple(out.shape))
    out.backward(pg.tensor(seed, dtype=out.dtype))
    return seed


# ------------------------------------------------------------------------ sort


@given(case=distinct_case(), descending=st.booleans())
def test_sort(case, descending: bool) -> None:
    x, dim = case

    def fn(m, t):
        return m.sort(t, dim, descending=descending)

    values, indices = fn(pg, pg.tensor(x))
    order = np.argsort(-x if descending else x, axis=dim)
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x, order, dim))
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, 1])
def test_sort_with_ties_is_stable_as_torch(descending: bool, dim: int) -> None:
    x = np.random.default_rng(0).integers(0, 3, (5, 40)).astype(float)
    x[1, 3] = x[4, 7] = np.nan

    def fn(m, t):
        return t.sort(dim=dim, descending=descending, stable=True)

    check_against_torch(torch, fn, x)


def test_sort_written_out() -> None:
    x = pg.tensor([1.0, 3.0, 3.0, 2.0, np.nan], requires_grad=True)
    values, indices = x.sort(descending=True)
    assert indices.tolist() == [4, 1, 2, 3, 0]  # NaN above every number
    values.backward(pg.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert x.grad.tolist() == [5.0, 2.0, 3.0, 4.0, 1.0]
    assert x.sort().indices.tolist() == [0, 3, 1, 2, 4]


# ------------------------------------------------------------------------ topk


@given(case=distinct_case(), largest=st.booleans(), data=st.data())
def test_topk(case, largest: bool, data) -> None:
    x, dim = case
    k = data.draw(st.integers(0, x.shape[dim]))

    def fn(m, t):
        return t.topk(k, dim, largest=largest)

    values, indices = fn(pg, pg.tensor(x))
    order = np.argsort(-x if largest else x, axis=dim)
    np.testing.assert_array_equal(indices.numpy(), np.take(order, range(k), dim))
    check_against_torch(torch, fn, x)
    if k:
        check_gradients(fn, x)


@pytest.mark.parametrize("largest", [True, False])
def test_topk_ties(largest: bool) -> None:
    x = np.array([[1.0, 3.0, 3.0, 2.0, 3.0, 1.0, 1.0], [0.0, 0.0, 0.0, 5, 5, 0.0, 0]])
    got = pg.tensor(x, requires_grad=True)
    values, indices = got.topk(3, largest=largest)
    expected = torch.tensor(x).topk(3, largest=largest).values
    np.testing.assert_array_equal(values.detach().numpy(), expected.numpy())
    idx = indices.numpy()
    np.testing.assert_array_equal(np.take_along_axis(x, idx, 1), values.detach())
    assert all(len(set(row)) == 3 for row in idx.tolist())  # distinct elements
    seed = backward_seed(values)
    np.testing.assert_array_equal(got.grad.numpy(), scattered(seed, idx, x.shape, 1))


# ------------------------------------------------------------------- kthvalue


@given(case=distinct_case(), keepdim=st.booleans(), data=st.data())
def test_kthvalue(case, keepdim: bool, data) -> None:
    x, dim = case
    k = data.draw(st.integers(1, x.shape[dim]))

    def fn(m, t):
        return m.kthvalue(t, k, dim, keepdim)

    values, _ = fn(pg, pg.tensor(x))
    expected = np.take(np.sort(x, axis=dim), [k - 1], axis=dim)
    if not keepdim:
        expected = np.squeeze(expected, dim)
    np.testing.assert_array_equal(values.numpy(), expected)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_kthvalue_ties() -> None:
    x = np.array([1.0, 3.0, 3.0, 2.0, 3.0, 1.0, 1.0])
    for k in range(1, 8):
        got = pg.tensor(x, requires_grad=True)
        values, index = got.kthvalue(k)
        assert values.item() == torch.tensor(x).kthvalue(k).values.item()
        assert x[index.item()] == values.item()
        values.backward()
        assert got.grad.numpy()[index.item()] == 1.0 and got.grad.sum().item() == 1.0


# ---------------------------------------------------------------------- median


@pytest.mark.parametrize("shape", [(), (1,), (5,), (6,), (2, 3), (2, 2, 2)])
def test_median_whole_tensor(shape: tuple) -> None:
    n = int(np.prod(shape))
    x = (np.random.default_rng(1).permutation(n) / 3.0).reshape(shape)

    def fn(m, t):
        return t.median()

    got = fn(pg, pg.tensor(x))
    assert got.item() == np.sort(x.ravel())[(n - 1) // 2]  # the lower median
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


@pytest.mark.parametrize(
    "x",
    [
        [3.0, 3.0, 3.0, 1.0],
        [1.0, 2.0, 2.0, 3.0],
        [[2.0, 2.0], [2.0, 3.0]],
        [np.nan, 2.0, np.nan, 3.0],
        [1.0, np.nan, 2.0],
    ],
)
def test_median_whole_tensor_ties_match_torch(x) -> None:
    # the elements equal to the median (or the NaNs) share its gradient evenly
    check_against_torch(torch, lambda m, t: t.median(), np.array(x))


def test_median_whole_tensor_ties_written_out() -> None:
    x = pg.tensor([3.0, 3.0, 3.0, 1.0], requires_grad=True)
    x.median().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 1 / 3, 1 / 3, 0.0])
    assert pg.tensor([4.0, 1.0, 3.0, 2.0]).median().item() == 2.0


@given(case=distinct_case(), keepdim=st.booleans())
def test_median_over_dim(case, keepdim: bool) -> None:
    x, dim = case

    def fn(m, t):
        return m.median(t, dim, keepdim=keepdim)

    values, _ = fn(pg, pg.tensor(x))
    n = x.shape[dim]
    expected = np.take(np.sort(x, axis=dim), [(n - 1) // 2], axis=dim)
    if not keepdim:
        expected = np.squeeze(expected, dim)
    np.testing.assert_array_equal(values.numpy(), expected)
    check_against_torch(torch, fn, x)
    check_gradients(fn, x)


def test_median_over_dim_ties_and_nan() -> None:
    x = np.array([[1.0, 1.0, 2.0, 2.0], [2.0, 1.0, 1.0, 2.0], [3.0, 3.0, 3.0, 1.0]])
    got = pg.tensor(x, requires_grad=True)
    values, indices = got.median(1)
    expected = torch.tensor(x).median(1).values
    np.testing.assert_array_equal(values.detach().numpy(), expected.numpy())
    # the stable order's lower middle element (these agree with torch 2.13)
    assert indices.tolist() == [1, 2, 0]
    seed = backward_seed(values)
    want = scattered(seed[:, None], indices.numpy()[:, None], x.shape, 1)
    np.testing.assert_array_equal(got.grad.numpy(), want)
    nan = np.array([1.0, np.nan, 2.0, np.nan, 3.0])
    check_against_torch(torch, lambda m, t: t.median(0), nan)  # the first NaN


# ------------------------------------------------------------------------ mode


def test_mode_values_match_torch() -> None:
    x = np.random.default_rng(2).integers(0, 4, (6, 30)).astype(float)
    for dim in (0, 1, -1):
        got = pg.tensor(x).mode(dim)
        expected = torch.tensor(x).mode(dim)
        np.testing.assert_array_equal(got.values.numpy(), expected.values.numpy())
        # the index is the value's last occurrence
        moved = np.moveaxis(x, dim, -1)
        idx = np.moveaxis(got.indices.numpy()[..., None], -1, dim)
        assert (
            np.take_along_axis(x, idx, dim).squeeze(dim) == got.values.numpy()
        ).all()
        for row, value, index in zip(moved, got.values.numpy(), got.indices.numpy()):
            assert index == np.nonzero(row == value)[0][-1]


@pytest.mark.parametrize(
    "x",
    [
        [3.0, 1.0, 3.0, 1.0, 2.0],
        [2.0, 1.0, 2.0, 1.0],
        [5.0, 5.0, 1.0, 1.0, 1.0, 5.0],
        [[4.0, 2.0, 4.0], [7.0, 8.0, 9.0]],
    ],
)
def test_mode_short_slices_match_torch(x) -> None:
    check_against_torch(torch, lambda m, t: t.mode(), np.array(x))
    check_against_torch(torch, lambda m, t: m.mode(t, -1, True), np.array(x))


def test_mode_gradient_goes_to_the_index() -> None:
    x = pg.tensor(
        [[3.0, 1.0, 3.0, 1.0, 2.0], [1.0, 2.0, 3.0, 4.0, 5.0]], requires_grad=True
    )
    values, indices = x.mode(1)
    assert values.tolist() == [1.0, 1.0] and indices.tolist() == [3, 0]
    values.sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0, 0.0]]


# ------------------------------------------------------------ shared behaviour


ALL_OPS = {
    "sort": lambda m, t: t.sort(0),
    "topk": lambda m, t: t.topk(1, 0),
    "kthvalue": lambda m, t: t.kthvalue(1, 0),
    "median": lambda m, t: t.median(),
    "median(dim)": lambda m, t: t.median(0),
    "mode": lambda m, t: t.mode(0),
}


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_grad_fn_names_and_return_types_match_torch(name: str) -> None:
    x = np.array([[1.0, 4.0], [3.0, 2.0], [5.0, 0.0]])
    ours = ALL_OPS[name](pg, pg.tensor(x, requires_grad=True))
    theirs = ALL_OPS[name](torch, torch.tensor(x, requires_grad=True))
    if name == "median":
        assert ours.grad_fn.name() == theirs.grad_fn.name()
        return
    assert type(ours).__name__ == type(theirs).__name__
    values, indices = ours
    assert ours.values is values and ours.indices is indices
    assert ours[0] is values and len(ours) == 2
    assert values.grad_fn.name() == theirs.values.grad_fn.name()
    assert indices.dtype == pg.int64 and not indices.requires_grad
    # printed as torch.return_types.<name>(values=..., indices=...)
    assert repr(ours).replace("plaingrad.", "torch.") == repr(theirs)


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_zero_dim_and_single_element(name: str) -> None:
    fn = ALL_OPS[name]
    check_against_torch(torch, fn, np.array(1.5))
    check_against_torch(torch, fn, np.array([-1.5]))
    check_gradients(fn, np.array(1.5))


@pytest.mark.parametrize("name", list(ALL_OPS))
def test_integer_and_float16_inputs_match_torch(name: str) -> None:
    x = np.array([[3, 1], [2, 5], [4, 0]])
    check_against_torch(torch, ALL_OPS[name], x, backward=False)
    check_against_torch(torch, ALL_OPS[name], x / 2.0, dtypes=("float16",))


@pytest.mark.parametrize(
    "name,call",
    [
        ("sort", lambda t: t.sort(2)),
        ("topk", lambda t: t.topk(1, -3)),
        ("kthvalue", lambda t: t.kthvalue(1, 2)),
        ("median", lambda t: t.median(2)),
        ("mode", lambda t: t.mode(-3)),
    ],
)
def test_dim_out_of_range_names_the_op(name: str, call) -> None:
    with pytest.raises(IndexError, match=f"{name}.*out of range"):
        call(pg.ones(2, 3))


def test_k_out_of_range_and_empty_slices() -> None:
    x = pg.ones(2, 3)
    with pytest.raises(RuntimeError, match="topk.*k out of range"):
        x.topk(4)
    with pytest.raises(RuntimeError, match="topk.*k out of range"):
        x.topk(-1)
    with pytest.raises(RuntimeError, match="kthvalue.*out of range"):
        x.kthvalue(0)
    with pytest.raises(RuntimeError, match="kthvalue.*out of range"):
        x.kthvalue(4, 1)
    assert tuple(x.topk(0).values.shape) == (2, 0)
    with pytest.raises(IndexError, match="median.*non-zero size"):
        pg.zeros(2, 0).median(1)
    with pytest.raises(IndexError, match="mode.*non-zero size"):
        pg.zeros(2, 0).mode(1)
    assert np.isnan(pg.zeros(0).median().item())
