"""Pooling (max, average, adaptive; 1-D and 2-D) and its layers, against real
PyTorch (values, indices, gradients, grad_fn names, reprs) and float64 finite
differences, with tie and NaN cases whose right indices are written in.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_gradients
from test_ops_conv import compare

import plaingrad as pg
import plaingrad.nn.functional as F

torch = import_torch()


def compare_indices(fn, x) -> None:
    """``fn(lib, input)`` returns (values, indices): both must match torch's."""
    got = fn(pg, pg.tensor(x))
    expected = fn(torch, torch.tensor(x))
    np.testing.assert_array_equal(got[0].numpy(), expected[0].numpy())
    np.testing.assert_array_equal(got[1].numpy(), expected[1].numpy())
    assert got[1].dtype == pg.int64
    assert not got[1].requires_grad


# ------------------------------------------------------------------ max_pool2d

MAX_POOL2D_CASES = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1)},
    {"kernel_size": 2, "dilation": 2},
    {"kernel_size": (3, 2), "stride": 2, "dilation": (1, 2), "padding": (1, 0)},
    {"kernel_size": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (3, 2), "stride": (2, 3), "dilation": 2, "ceil_mode": True},
]


@pytest.mark.parametrize("kwargs", MAX_POOL2D_CASES)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 6, 5)])
def test_max_pool2d(kwargs, shape) -> None:
    x = np.random.default_rng(0).standard_normal(shape)
    compare(lambda m, t: m.nn.functional.max_pool2d(t, **kwargs), x)
    compare_indices(
        lambda m, t: m.nn.functional.max_pool2d(t, return_indices=True, **kwargs), x
    )


@pytest.mark.parametrize("kwargs", MAX_POOL2D_CASES[:3] + MAX_POOL2D_CASES[6:8])
def test_max_pool1d(kwargs) -> None:
    kwargs = {k: v for k, v in kwargs.items() if not isinstance(v, tuple)}
    x = np.random.default_rng(1).standard_normal((2, 3, 9))
    compare(lambda m, t: m.nn.functional.max_pool1d(t, **kwargs), x)
    compare(lambda m, t: m.nn.functional.max_pool1d(t, **kwargs), x[0])
    compare_indices(
        lambda m, t: m.nn.functional.max_pool1d(t, return_indices=True, **kwargs), x
    )


def test_max_pool2d_gradcheck() -> None:
    # distinct values: finite differences must not straddle a tie
    x = np.random.default_rng(2).permutation(40).reshape(1, 2, 4, 5) / 7.0
    check_gradients(lambda m, t: m.nn.functional.max_pool2d(t, 2, 1, 1), x)
    check_gradients(
        lambda m, t: m.nn.functional.max_pool1d(t, 3, 2, ceil_mode=True), x[0]
    )


def test_max_pool_ties_go_to_the_first_maximum() -> None:
    x = pg.tensor([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0]]]], requires_grad=True)
    out, indices = F.max_pool2d(x, (2, 3), return_indices=True)
    assert indices.tolist() == [[[[1]]]]
    out.sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]]
    # each window's first maximum; overlapping windows sharing it add up
    y = pg.tensor([[[2.0, 2.0, 2.0, 1.0]]], requires_grad=True)
    F.max_pool1d(y, 2, 1).sum().backward()
    assert y.grad.tolist() == [[[1.0, 1.0, 1.0, 0.0]]]
    y = pg.tensor([[[2.0, 2.0, 1.0, 2.0]]], requires_grad=True)
    F.max_pool1d(y, 3, 1).sum().backward()
    assert y.grad.tolist() == [[[1.0, 1.0, 0.0, 0.0]]]
    compare(lambda m, t: m.nn.functional.max_pool2d(t, 2, 1), np.ones((1, 1, 3, 4)))


def test_max_pool_nan_wins_and_the_last_nan_is_returned() -> None:
    x = pg.tensor([[[1.0, float("nan"), 3.0, float("nan"), 2.0]]])
    out, indices = F.max_pool1d(x, 5, return_indices=True)
    assert np.isnan(out.item()) and indices.tolist() == [[[3]]]
    t = np.array(
        [[[[1.0, 3, 3, 2], [3, 0, 3, 1], [2, 2, 2, 2], [np.nan, 1, np.nan, 5]]]]
    )
    for k in (2, 3, 4):
        compare_indices(
            lambda m, a, k=k: m.nn.functional.max_pool2d(a, k, 1, return_indices=True),
            t,
        )
        compare_indices(
            lambda m, a, k=k: m.nn.functional.adaptive_max_pool2d(a, k, True), t
        )


def test_max_pool2d_integer_input() -> None:
    x = np.arange(-20, 16).reshape(1, 1, 6, 6)
    got = F.max_pool2d(pg.tensor(x), 3, 2, padding=1)
    expected = torch.nn.functional.max_pool2d(torch.tensor(x), 3, 2, padding=1)
    assert got.dtype == pg.int64
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


# ------------------------------------------------------------------ avg_pool2d

AVG_POOL2D_CASES = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False},
    {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1)},
    {"kernel_size": 2, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {
        "kernel_size": 3,
        "stride": 2,
        "padding": 1,
        "ceil_mode": True,
        "count_include_pad": False,
    },
    {"kernel_size": 3, "stride": 2, "divisor_override": 5},
    {"kernel_size": (3, 2), "padding": 1, "ceil_mode": True, "divisor_override": 2},
]


@pytest.mark.parametrize("kwargs", AVG_POOL2D_CASES)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 6, 5)])
def test_avg_pool2d(kwargs, shape) -> None:
    x = np.random.default_rng(3).standard_normal(shape)
    compare(lambda m, t: m.nn.functional.avg_pool2d(t, **kwargs), x)


@pytest.mark.parametrize("kwargs", AVG_POOL2D_CASES[:4] + AVG_POOL2D_CASES[5:8])
def test_avg_pool1d(kwargs) -> None:
    kwargs = {k: v for k, v in kwargs.items() if not isinstance(v, tuple)}
    x = np.random.default_rng(4).standard_normal((2, 3, 9))
    compare(lambda m, t: m.nn.functional.avg_pool1d(t, **kwargs), x)
    compare(lambda m, t: m.nn.functional.avg_pool1d(t, **kwargs), x[0])


def test_avg_pool2d_gradcheck_and_numpy() -> None:
    x = np.random.default_rng(5).standard_normal((1, 2, 5, 4))
    kwargs = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    check_gradients(lambda m, t: m.nn.functional.avg_pool2d(t, **kwargs), x)
    check_gradients(
        lambda m, t: m.nn.functional.avg_pool2d(t, **kwargs, count_include_pad=False), x
    )
    # non-overlapping 2x2 windows: the mean of each block
    blocks = x[:, :, :4, :4].reshape(1, 2, 2, 2, 2, 2).mean(axis=(3, 5))
    got = F.avg_pool2d(pg.tensor(x[:, :, :4, :4]), 2).numpy()
    np.testing.assert_allclose(got, blocks, rtol=1e-12)


# ------------------------------------------------------------------- adaptive

ADAPTIVE_SIZES = [1, (1, 1), 3, (2, 5), (None, 3), (7, 8), (5, 3), (4, None)]


@pytest.mark.parametrize("size", ADAPTIVE_SIZES)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 6, 5)])
def test_adaptive_pool2d(size, shape) -> None:
    x = np.random.default_rng(6).standard_normal(shape)
    compare(lambda m, t: m.nn.functional.adaptive_avg_pool2d(t, size), x)
    compare(lambda m, t: m.nn.functional.adaptive_max_pool2d(t, size), x)
    compare_indices(lambda m, t: m.nn.functional.adaptive_max_pool2d(t, size, True), x)


def test_adaptive_pool2d_gradcheck() -> None:
    x = np.random.default_rng(7).permutation(70).reshape(1, 2, 5, 7) / 9.0
    check_gradients(lambda m, t: m.nn.functional.adaptive_avg_pool2d(t, (3, 4)), x)
    check_gradients(lambda m, t: m.nn.functional.adaptive_max_pool2d(t, (3, 4)), x)


def test_adaptive_avg_pool2d_global_is_the_mean() -> None:
    x = np.random.default_rng(8).standard_normal((2, 3, 4, 5))
    got = F.adaptive_avg_pool2d(pg.tensor(x), 1).numpy()
    np.testing.assert_allclose(got, x.mean(axis=(2, 3), keepdims=True), rtol=1e-12)


# --------------------------------------------------------------------- modules

MODULES = [
    ("MaxPool2d(2)", (2, 3, 6, 6)),
    ("MaxPool2d(3, 1, 1, dilation=1, ceil_mode=True)", (1, 2, 5, 5)),
    ("MaxPool2d((2, 3), stride=(1, 2), dilation=(2, 1))", (1, 2, 6, 7)),
    ("MaxPool1d(3, stride=2, padding=1)", (2, 3, 8)),
    ("AvgPool2d(2)", (2, 3, 6, 6)),
    ("AvgPool2d(3, 2, 1, True, False, None)", (1, 2, 7, 6)),
    ("AvgPool2d(2, divisor_override=3)", (1, 2, 4, 4)),
    ("AvgPool1d(3, 2)", (2, 3, 9)),
    ("AvgPool1d(3, padding=1, ceil_mode=True, count_include_pad=False)", (2, 3, 8)),
    ("AdaptiveAvgPool2d((1, 1))", (2, 3, 5, 6)),
    ("AdaptiveAvgPool2d(3)", (2, 3, 5, 6)),
    ("AdaptiveMaxPool2d((None, 3))", (2, 3, 5, 6)),
    ("AdaptiveMaxPool2d(2)", (3, 5, 6)),
]


@pytest.mark.parametrize(("spec", "shape"), MODULES)
def test_module(spec, shape) -> None:
    theirs, ours = eval("torch.nn." + spec), eval("pg.nn." + spec)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {}
    x = np.random.default_rng(9).standard_normal(shape)
    compare(lambda m, t: theirs(t) if m is torch else ours(t), x)


def test_modules_return_indices() -> None:
    x = np.random.default_rng(10).standard_normal((1, 2, 6, 6))
    for spec in ("MaxPool2d(2, return_indices=True)", "AdaptiveMaxPool2d(4, True)"):
        theirs, ours = eval("torch.nn." + spec), eval("pg.nn." + spec)
        layer = {torch: theirs, pg: ours}
        compare_indices(lambda m, t, layer=layer: layer[m](t), x)
    compare_indices(lambda m, t: m.nn.MaxPool1d(2, return_indices=True)(t), x[0])


# ---------------------------------------------------------------------- errors


def test_pooling_errors() -> None:
    x = pg.zeros(1, 4, 5, 5)
    with pytest.raises(
        RuntimeError, match="max_pool2d: pad should be smaller than or equal to half"
    ):
        F.max_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match="avg_pool2d: pad should be"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(
        RuntimeError,
        match=r"max_pool2d: Given input size: \(4x5x5\). Calculated output size: "
        r"\(4x0x0\)",
    ):
        F.max_pool2d(x, 7)
    with pytest.raises(RuntimeError, match=r"avg_pool1d: .*\(4x1x0\)"):
        F.avg_pool1d(pg.zeros(1, 4, 5), 7)
    with pytest.raises(
        RuntimeError, match="max_pool2d: `kernel_size` must be greater than zero"
    ):
        F.max_pool2d(x, 0)
    with pytest.raises(
        RuntimeError, match="max_pool2d: `stride` must be greater than zero"
    ):
        F.max_pool2d(x, 2, 0)
    with pytest.raises(
        RuntimeError, match=r"max_pool2d: expected a non-empty 3D .*\[5, 5\]"
    ):
        F.max_pool2d(pg.zeros(5, 5), 2)
    with pytest.raises(RuntimeError, match=r"max_pool1d: expected .*\[1, 4, 5, 5\]"):
        F.max_pool1d(x, 2)
    with pytest.raises(RuntimeError, match=r"adaptive_avg_pool2d: expected .*\[5, 5\]"):
        F.adaptive_avg_pool2d(pg.zeros(5, 5), 2)
    with pytest.raises(
        RuntimeError, match="adaptive_max_pool2d: `output_size` must be positive"
    ):
        F.adaptive_max_pool2d(x, 0)
    with pytest.raises(
        RuntimeError, match="avg_pool2d: `divisor_override` must not be zero"
    ):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(NotImplementedError, match="avg_pool2d: integer inputs"):
        F.avg_pool2d(pg.zeros(1, 1, 4, 4, dtype=pg.int64), 2)
    with pytest.raises(
        TypeError, match="max_pool2d: `kernel_size` must be an int or a tuple"
    ):
        F.max_pool2d(x, (2, 2, 2))
