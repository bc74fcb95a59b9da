"""The convolution and pooling fast paths agree with PyTorch, edge cases too.

Max pooling with the stride equal to the kernel reads the windows from a
reshaped view; the input gradient of a stride-1 convolution is one batched
product over a widened gradient. Each keeps torch's answers: ties go to the
first maximum, a window with NaN falls back to the general path (torch
returns the NaN), leftover rows and columns are skipped, integer inputs
pool too, and a convolution with an infinite weight keeps torch's NaNs.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

POOLS = [
    ((2, 3, 8, 8), 2, np.float32),
    ((2, 3, 11, 11), 2, np.float32),  # a leftover row and column
    ((3, 7, 9), 3, np.float64),  # unbatched
    ((2, 2, 6, 6), (2, 3), np.float32),
    ((2, 2, 6, 6), 2, np.int64),
]


@pytest.mark.parametrize(("shape", "kernel", "dtype"), POOLS)
def test_tiled_max_pool_matches_torch_with_many_ties(shape, kernel, dtype):
    torch = import_torch()
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, shape).astype(dtype)  # values 0-2: ties everywhere
    floating = dtype != np.int64
    theirs = torch.from_numpy(x.copy()).requires_grad_(floating)
    ours = pg.from_numpy(x.copy()).requires_grad_(floating)
    a, ia = torch.nn.functional.max_pool2d(theirs, kernel, return_indices=True)
    b, ib = pg.nn.functional.max_pool2d(ours, kernel, return_indices=True)
    assert np.array_equal(a.detach().numpy(), b.detach().numpy())
    assert np.array_equal(ia.numpy(), ib.numpy())
    assert ib.numpy().dtype == np.int64
    if floating:
        grad = rng.standard_normal(a.shape).astype(dtype)
        a.backward(torch.from_numpy(grad))
        b.backward(pg.from_numpy(grad))
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy())


def test_a_window_with_nan_pools_as_torch():
    torch = import_torch()
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 4, 4)
    x[0, 0, 0, 1] = np.nan
    x[0, 1, 2, 2] = np.nan
    x[0, 1, 3, 3] = np.nan  # two NaNs in one window
    a, ia = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, return_indices=True)
    b, ib = pg.nn.functional.max_pool2d(pg.from_numpy(x), 2, return_indices=True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # NaN where torch has it
    assert np.array_equal(ia.numpy(), ib.numpy())


CONVS = [
    ((2, 4, 9, 8), (6, 2, 3, 2), {"padding": (1, 2), "dilation": (2, 1), "groups": 2}),
    ((3, 3, 7, 7), (5, 3, 3, 3), {"padding": "same"}),
    ((2, 2, 6, 9), (4, 2, 1, 3), {"padding": (0, 1)}),
    ((2, 3, 10), (4, 3, 3), {"padding": 2, "dilation": 2}),
    ((3, 5, 5), (2, 3, 2, 2), {"padding": 1}),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 2, "padding": 1}),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "options"), CONVS)
def test_convolution_gradients_match_torch(x_shape, w_shape, options):
    torch = import_torch()
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    name = "conv1d" if len(w_shape) == 3 else "conv2d"
    tx, tw = (torch.tensor(v, requires_grad=True) for v in (x, w))
    px, pw = (pg.tensor(v, requires_grad=True) for v in (x, w))
    a = getattr(torch.nn.functional, name)(tx, tw, **options)
    b = getattr(pg.nn.functional, name)(px, pw, **options)
    grad = rng.standard_normal(a.shape)
    a.backward(torch.tensor(grad))
    b.backward(pg.tensor(grad))
    np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(px.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(pw.grad.numpy(), tw.grad.numpy(), rtol=1e-10)


def test_an_infinite_weight_gives_torch_s_nans_in_the_input_gradient():
    torch = import_torch()
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 1, 5, 5)), rng.standard_normal((1, 1, 3, 3))
    w[0, 0, 1, 1] = np.inf
    grad = np.zeros((1, 1, 3, 3))
    grad[0, 0, 0, 0] = 1.0
    tx, px = torch.tensor(x, requires_grad=True), pg.tensor(x, requires_grad=True)
    torch.nn.functional.conv2d(tx, torch.tensor(w)).backward(torch.tensor(grad))
    pg.nn.functional.conv2d(px, pg.tensor(w)).backward(pg.tensor(grad))
    np.testing.assert_array_equal(px.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fill", [None, np.nan, np.inf])
@pytest.mark.parametrize("shape", [(64, 70), (6, 7), ()])
def test_relu_backward_equals_torch_bit_for_bit(dtype, fill, shape):
    """The product path for finite gradients, and where for NaN or Inf ones:
    torch's values, its zeros' signs, and its NaNs kept out at a <= 0."""
    torch = import_torch()
    rng = np.random.default_rng(5)
    # (64, 70) takes the product (4096 elements and up), the others where
    x = np.asarray(rng.standard_normal(shape), dtype=dtype)
    x.reshape(-1)[:3] = 0.0
    grad = np.asarray(rng.standard_normal(shape), dtype=dtype)
    if fill is not None:
        grad[x <= 0] = fill
        grad.reshape(-1)[-1] = fill  # and one more, wherever it falls
    ours, theirs = pg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    pg.relu(ours).backward(pg.tensor(grad))
    torch.relu(theirs).backward(torch.tensor(grad))
    got, expected = ours.grad.numpy(), theirs.grad.numpy()
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))
