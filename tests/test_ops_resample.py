"""Resampling: ``interpolate`` (every mode), ``pixel_shuffle`` /
``pixel_unshuffle``, ``bilinear`` and their layers, against real PyTorch
(values, input gradients, grad_fn names, reprs, errors) and float64 finite
differences.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()


def data(*shape, seed: int = 0):
    return np.random.default_rng(seed).standard_normal(shape)


def assert_same_error(fn) -> None:
    """``fn(lib)`` raises in torch; plaingrad raises the same type, with
    torch's message inside its own."""
    try:
        fn(torch)
    except Exception as error:  # noqa: BLE001  (any of PyTorch's errors)
        expected = error
    else:
        raise AssertionError("torch raised nothing")
    with pytest.raises(type(expected), match=re.escape(str(expected))):
        fn(pg)


def interp(**kwargs):
    def fn(lib, x):
        return lib.nn.functional.interpolate(x, **kwargs)

    return fn


def same_grad_fn(fn, *args) -> None:
    def run(lib):
        inputs = [lib.tensor(a, requires_grad=True) for a in args]
        return fn(lib, *inputs).grad_fn.name()

    assert run(pg) == run(torch)


# ---------------------------------------------------------------- linear modes

SIZES_1D = [
    {"size": 9},
    {"size": 3},
    {"size": 1},
    {"size": 5},
    {"scale_factor": 2},
    {"scale_factor": 3.0},
    {"scale_factor": 0.5},
    {"scale_factor": 1.7},
    {"scale_factor": 0.6},
    {"scale_factor": 1.05},
    {"scale_factor": 2.5, "recompute_scale_factor": True},
    {"scale_factor": 0.7, "recompute_scale_factor": True},
]


@pytest.mark.parametrize("kwargs", SIZES_1D)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 1, 8), (2, 1, 2)])
def test_linear(kwargs, align_corners, shape) -> None:
    fn = interp(mode="linear", align_corners=align_corners, **kwargs)
    check_against_torch(torch, fn, data(*shape))


SIZES_2D = [
    {"size": (6, 8)},
    {"size": (2, 3)},
    {"size": 4},
    {"size": (1, 1)},
    {"scale_factor": 2},
    {"scale_factor": (1.5, 0.5)},
    {"scale_factor": 0.7},
    {"scale_factor": (3, 1)},
    {"scale_factor": (1.05, 2.05)},
    {"scale_factor": (2.5, 0.4), "recompute_scale_factor": True},
]


@pytest.mark.parametrize("kwargs", SIZES_2D)
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 7, 3)])
def test_bilinear_mode(kwargs, align_corners, shape) -> None:
    fn = interp(mode="bilinear", align_corners=align_corners, **kwargs)
    check_against_torch(torch, fn, data(*shape))


@pytest.mark.parametrize("kwargs", SIZES_2D[:3] + SIZES_2D[4:7])
@pytest.mark.parametrize("align_corners", [False, True])
def test_bicubic(kwargs, align_corners) -> None:
    fn = interp(mode="bicubic", align_corners=align_corners, **kwargs)
    check_against_torch(torch, fn, data(2, 2, 4, 5))


def test_bicubic_backward_copies_when_no_size_changes() -> None:
    # PyTorch's bicubic backward copies when no size changes, while its forward
    # applies the kernel at the 1/1.05 scale; plaingrad does the same
    fn = interp(mode="bicubic", scale_factor=1.05)
    check_against_torch(torch, fn, data(1, 2, 3, 4))
    x = pg.tensor(data(1, 1, 3, 4), requires_grad=True)
    fn(pg, x).backward(pg.ones(1, 1, 3, 4, dtype=pg.float64))
    assert x.grad.tolist() == [[[[1.0] * 4] * 3]]


SIZES_3D = [
    {"size": (4, 2, 7)},
    {"size": 3},
    {"scale_factor": 2},
    {"scale_factor": (2, 3, 0.5)},
    {"scale_factor": 0.7},
    {"scale_factor": (1.05, 1.0, 2.05)},
]


@pytest.mark.parametrize("kwargs", SIZES_3D)
@pytest.mark.parametrize("align_corners", [False, True])
def test_trilinear(kwargs, align_corners) -> None:
    fn = interp(mode="trilinear", align_corners=align_corners, **kwargs)
    check_against_torch(torch, fn, data(1, 2, 3, 4, 5))


# --------------------------------------------------------------- nearest modes


@pytest.mark.parametrize("kwargs", SIZES_1D)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("shape", [(2, 3, 5), (1, 1, 8), (1, 2, 10)])
def test_nearest_1d(kwargs, mode, shape) -> None:
    check_against_torch(torch, interp(mode=mode, **kwargs), data(*shape))


@pytest.mark.parametrize("kwargs", SIZES_2D)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 1, 7, 3)])
def test_nearest_2d(kwargs, mode, shape) -> None:
    check_against_torch(torch, interp(mode=mode, **kwargs), data(*shape))


@pytest.mark.parametrize("kwargs", SIZES_3D)
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_3d(kwargs, mode) -> None:
    check_against_torch(torch, interp(mode=mode, **kwargs), data(1, 2, 3, 4, 5))


def test_nearest_follows_pytorch_where_its_backward_takes_shortcuts() -> None:
    # scale_factor 1.05 on 10 samples keeps 10: PyTorch's 1-D forward reads
    # floor(dst / 1.05) but its backward copies (values from torch 2.13)
    x = pg.arange(10.0).reshape(1, 1, 10).requires_grad_()
    out = pg.nn.functional.interpolate(x, scale_factor=1.05)
    assert out.tolist() == [[[0.0, 0.0, 1, 2, 3, 4, 5, 6, 7, 8]]]
    out.backward(pg.arange(10.0).reshape(1, 1, 10))
    assert x.grad.tolist() == [[[float(i) for i in range(10)]]]
    # the 2-D forward takes the shortcuts too: the width is copied
    y = pg.nn.functional.interpolate(x.detach().reshape(1, 1, 1, 10), (1, 10))
    assert y.tolist() == [[[[float(i) for i in range(10)]]]]


@pytest.mark.parametrize("dtype", ["uint8", "float16"])
def test_nearest_other_dtypes(dtype) -> None:
    x = (np.arange(36) % 17).reshape(1, 2, 3, 6).astype(dtype)
    got = pg.nn.functional.interpolate(pg.tensor(x), scale_factor=(1.7, 0.5))
    expected = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=(1.7, 0.5))
    assert got.dtype.name == dtype
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_bilinear_mode_float16() -> None:
    x = data(1, 2, 3, 3).astype(np.float16)
    got = pg.nn.functional.interpolate(pg.tensor(x), size=5, mode="bilinear")
    expected = torch.nn.functional.interpolate(torch.tensor(x), size=5, mode="bilinear")
    assert got.dtype == pg.float16
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize(
    "kwargs", [{"size": 3}, {"size": (2, 5)}, {"scale_factor": 0.5}]
)
def test_area(kwargs) -> None:
    check_against_torch(torch, interp(mode="area", **kwargs), data(2, 3, 6, 10))
    if "size" in kwargs and isinstance(kwargs["size"], int):
        check_against_torch(torch, interp(mode="area", **kwargs), data(2, 3, 7))


def test_empty_batch() -> None:
    for mode in ("nearest", "bilinear"):
        check_against_torch(torch, interp(mode=mode, size=3), data(0, 2, 4, 4))


def test_grad_fn_names() -> None:
    cases = [
        ("nearest", (1, 1, 4)),
        ("nearest", (1, 1, 4, 4)),
        ("nearest", (1, 1, 2, 3, 4)),
        ("nearest-exact", (1, 1, 4, 4)),
        ("linear", (1, 1, 4)),
        ("bilinear", (1, 1, 4, 4)),
        ("trilinear", (1, 1, 2, 3, 4)),
        ("bicubic", (1, 1, 4, 4)),
        ("area", (1, 1, 4, 4)),
    ]
    for mode, shape in cases:
        same_grad_fn(interp(mode=mode, scale_factor=0.5), data(*shape))


GRADCHECK_CASES = [
    ("nearest", (1, 2, 5), {"scale_factor": 1.7}),
    ("nearest", (1, 2, 3, 4), {"size": (5, 3)}),
    ("nearest", (1, 1, 2, 3, 3), {"scale_factor": (2, 0.7, 1.5)}),
    ("nearest-exact", (1, 2, 3, 4), {"scale_factor": 1.5}),
    ("linear", (2, 2, 5), {"size": 8, "align_corners": False}),
    ("linear", (2, 2, 5), {"scale_factor": 0.6, "align_corners": True}),
    ("bilinear", (1, 2, 3, 4), {"scale_factor": (1.5, 0.6), "align_corners": False}),
    ("bilinear", (1, 2, 3, 4), {"size": (5, 2), "align_corners": True}),
    ("trilinear", (1, 1, 2, 3, 3), {"size": (3, 2, 4), "align_corners": False}),
    ("bicubic", (1, 1, 4, 4), {"scale_factor": 1.5, "align_corners": False}),
    ("bicubic", (1, 1, 3, 4), {"size": (2, 6), "align_corners": True}),
]


@pytest.mark.parametrize("mode, shape, kwargs", GRADCHECK_CASES)
def test_interpolate_gradcheck(mode, shape, kwargs) -> None:
    check_gradients(interp(mode=mode, **kwargs), data(*shape))


def test_interpolate_values_by_hand() -> None:
    # align_corners=True puts the output's ends on the input's ends;
    # False treats samples as cell centres and clamps at the edges
    x = pg.tensor([[[0.0, 3.0]]])
    f = pg.nn.functional.interpolate
    assert f(x, size=4, mode="linear", align_corners=True).tolist() == [
        [[0.0, 1.0, 2.0, 3.0]]
    ]
    assert f(x, size=4, mode="linear").tolist() == [[[0.0, 0.75, 2.25, 3.0]]]


# (input shape, interpolate's arguments) that PyTorch refuses
INTERPOLATE_ERRORS = [
    ((1, 1, 3, 3), {"size": 2, "scale_factor": 2}),
    ((1, 1, 3, 3), {}),
    ((1, 1, 3, 3), {"size": (2,)}),
    ((1, 1, 3, 3), {"size": (2.0, 2)}),
    ((1, 1, 3, 3), {"scale_factor": (2, 2, 2)}),
    ((1, 1, 3, 3), {"size": 2, "mode": "linear"}),
    ((1, 1, 3), {"size": 2, "mode": "bilinear"}),
    ((1, 1, 3, 3, 3), {"size": 2, "mode": "bilinear"}),
    ((1, 1, 3, 3), {"size": 2, "mode": "trilinear"}),
    ((1, 1, 3), {"size": 2, "mode": "bicubic"}),
    ((1, 1, 3, 3), {"size": 2, "mode": "bogus"}),
    ((3, 3), {"size": 2}),
    ((1, 1, 3, 3), {"size": 2, "mode": "nearest", "align_corners": True}),
    ((1, 1, 3, 3), {"size": 2, "mode": "area", "align_corners": False}),
    ((1, 1, 3, 3), {"size": 2, "mode": "bilinear", "recompute_scale_factor": True}),
    ((1, 1, 3, 3), {"size": 2, "mode": "nearest", "antialias": True}),
    ((1, 1, 3, 3), {"size": 2, "mode": "lanczos"}),
    ((1, 1, 3, 3), {"size": 2, "mode": "lanczos", "align_corners": True}),
    ((1, 1, 3, 3), {"size": (0, 2)}),
    ((1, 1, 3), {"size": 0, "mode": "linear"}),
    ((1, 1, 3, 3, 3), {"size": (1, 0, 2)}),
    ((1, 1, 3, 3), {"scale_factor": 0.1}),
    ((1, 1, 3, 3), {"scale_factor": -1.0}),
    ((1, 1, 0, 3), {"size": 2, "mode": "bilinear"}),
    ((1, 0, 3, 3), {"size": 2}),
    ((1, 0, 3), {"size": 2, "mode": "linear"}),
    ((1, 1, 3), {"scale_factor": math.nan}),
]


@pytest.mark.parametrize("shape, kwargs", INTERPOLATE_ERRORS)
def test_interpolate_errors(shape, kwargs) -> None:
    assert_same_error(
        lambda lib: lib.nn.functional.interpolate(lib.zeros(shape), **kwargs)
    )


def test_unsupported_cases_say_so() -> None:
    x = pg.zeros(1, 1, 3, 3)
    with pytest.raises(NotImplementedError, match="antialias"):
        pg.nn.functional.interpolate(x, size=2, mode="bilinear", antialias=True)
    with pytest.raises(NotImplementedError, match="floating-point"):
        pg.nn.functional.interpolate(x.long(), size=2, mode="bilinear")


# ------------------------------------------------------------ upsampling layers


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.Upsample(scale_factor=2),
        lambda nn: nn.Upsample(scale_factor=(2, 1.5), mode="bilinear"),
        lambda nn: nn.Upsample(size=(3, 7), mode="bilinear", align_corners=True),
        lambda nn: nn.Upsample(size=5, mode="bicubic"),
        lambda nn: nn.Upsample(scale_factor=0.5, mode="nearest-exact"),
        lambda nn: nn.Upsample(scale_factor=1.6, recompute_scale_factor=True),
        lambda nn: nn.UpsamplingNearest2d(scale_factor=2),
        lambda nn: nn.UpsamplingNearest2d(size=(3, 4)),
        lambda nn: nn.UpsamplingBilinear2d(size=3),
        lambda nn: nn.UpsamplingBilinear2d(scale_factor=1.5),
    ],
)
def test_upsample_layers(make) -> None:
    assert repr(make(pg.nn)) == repr(make(torch.nn))
    assert make(pg.nn).scale_factor == make(torch.nn).scale_factor
    check_against_torch(torch, lambda lib, x: make(lib.nn)(x), data(2, 3, 4, 5))


def test_upsample_1d_and_3d_inputs() -> None:
    check_against_torch(
        torch,
        lambda lib, x: lib.nn.Upsample(scale_factor=2, mode="linear")(x),
        data(2, 3, 5),
    )
    check_against_torch(
        torch, lambda lib, x: lib.nn.Upsample(size=(2, 5, 3))(x), data(1, 2, 3, 4, 5)
    )


# ---------------------------------------------------------------- pixel shuffle


@pytest.mark.parametrize(
    "shape, factor",
    [((1, 8, 3, 3), 2), ((2, 9, 2, 4), 3), ((18, 2, 2), 3), ((2, 3, 8, 2, 3), 2)],
)
def test_pixel_shuffle(shape, factor) -> None:
    def fn(lib, x):
        return lib.nn.functional.pixel_shuffle(x, factor)

    check_against_torch(torch, fn, data(*shape))
    check_gradients(fn, data(*shape))
    same_grad_fn(fn, data(*shape))
    module = lambda lib, x: lib.nn.PixelShuffle(factor)(x)  # noqa: E731
    check_against_torch(torch, module, data(*shape))
    assert repr(pg.nn.PixelShuffle(factor)) == repr(torch.nn.PixelShuffle(factor))


@pytest.mark.parametrize(
    "shape, factor",
    [((1, 2, 6, 6), 2), ((2, 1, 6, 3), 3), ((3, 4, 4), 2), ((2, 3, 2, 4, 6), 2)],
)
def test_pixel_unshuffle(shape, factor) -> None:
    def fn(lib, x):
        return lib.nn.functional.pixel_unshuffle(x, factor)

    check_against_torch(torch, fn, data(*shape))
    check_gradients(fn, data(*shape))
    same_grad_fn(fn, data(*shape))
    module = lambda lib, x: lib.nn.PixelUnshuffle(factor)(x)  # noqa: E731
    check_against_torch(torch, module, data(*shape))
    assert repr(pg.nn.PixelUnshuffle(factor)) == repr(torch.nn.PixelUnshuffle(factor))


def test_pixel_shuffle_round_trip_and_integers() -> None:
    x = pg.arange(72).reshape(2, 4, 3, 3)
    shuffled = pg.nn.functional.pixel_shuffle(x, 2)
    expected = torch.nn.functional.pixel_shuffle(
        torch.arange(72).reshape(2, 4, 3, 3), 2
    )
    assert shuffled.dtype == pg.int64
    assert shuffled.tolist() == expected.tolist()
    assert pg.nn.functional.pixel_unshuffle(shuffled, 2).tolist() == x.tolist()


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.nn.functional.pixel_shuffle(lib.zeros(1, 3, 2, 2), 2),
        lambda lib: lib.nn.functional.pixel_shuffle(lib.zeros(4, 2), 2),
        lambda lib: lib.nn.functional.pixel_shuffle(lib.zeros(1, 4, 2, 2), 0),
        lambda lib: lib.nn.functional.pixel_shuffle(lib.zeros(1, 4, 2, 2), -2),
        lambda lib: lib.nn.functional.pixel_shuffle(lib.zeros(1, 4, 2, 2), 2.0),
        lambda lib: lib.nn.functional.pixel_unshuffle(lib.zeros(1, 1, 3, 4), 2),
        lambda lib: lib.nn.functional.pixel_unshuffle(lib.zeros(1, 1, 4, 3), 2),
        lambda lib: lib.nn.functional.pixel_unshuffle(lib.zeros(4, 3), 2),
        lambda lib: lib.nn.functional.pixel_unshuffle(lib.zeros(1, 1, 4, 4), 0),
    ],
)
def test_pixel_shuffle_errors(fn) -> None:
    assert_same_error(fn)


# -------------------------------------------------------------------- bilinear


@pytest.mark.parametrize(
    "shapes",
    [
        [(2, 3), (2, 4), (5, 3, 4), (5,)],
        [(2, 3), (2, 4), (5, 3, 4)],
        [(3,), (4,), (2, 3, 4), (2,)],
        [(6, 2, 3), (6, 2, 4), (5, 3, 4), (5,)],
        [(2, 1, 2, 3), (2, 1, 2, 2), (1, 3, 2), (1,)],
    ],
)
def test_bilinear(shapes) -> None:
    def fn(lib, *args):
        return lib.nn.functional.bilinear(*args)

    arrays = [data(*s, seed=i) for i, s in enumerate(shapes)]
    check_against_torch(torch, fn, *arrays)
    check_gradients(fn, *arrays)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3), lib.zeros(3, 4), lib.zeros(5, 3, 4)
        ),
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3), lib.zeros(1, 4), lib.zeros(5, 3, 4)
        ),
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3), lib.zeros(2, 4), lib.zeros(5, 2, 4)
        ),
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3), lib.zeros(2, 4), lib.zeros(5, 3, 3)
        ),
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3), lib.zeros(2, 4), lib.zeros(5, 3, 4), lib.zeros(4)
        ),
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3), lib.zeros(2, 4, dtype=lib.float64), lib.zeros(5, 3, 4)
        ),
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3),
            lib.zeros(2, 4),
            lib.zeros(5, 3, 4),
            lib.zeros(5, dtype=lib.float64),
        ),
        lambda lib: lib.nn.functional.bilinear(
            lib.zeros(2, 3), lib.zeros(2, 3, 4), lib.zeros(5, 3, 4)
        ),
        lambda lib: lib.nn.Bilinear(0, 3, 4),
    ],
)
def test_bilinear_errors(fn) -> None:
    assert_same_error(fn)


def test_bilinear_layer() -> None:
    for bias in (True, False):
        ours, theirs = (
            pg.nn.Bilinear(20, 3, 40, bias=bias),
            torch.nn.Bilinear(20, 3, 40, bias=bias),
        )
        assert repr(ours) == repr(theirs)
        shapes = {n: tuple(p.shape) for n, p in ours.named_parameters()}
        assert shapes == {n: tuple(p.shape) for n, p in theirs.named_parameters()}
    # U(-1/sqrt(in1), 1/sqrt(in1)) for both weight and bias
    layer = pg.nn.Bilinear(16, 30, 40)
    bound = 1 / math.sqrt(16)
    for values in (layer.weight.detach().numpy(), layer.bias.detach().numpy()):
        assert np.abs(values).max() <= bound
    weight = layer.weight.detach().numpy()
    assert weight.max() > 0.99 * bound and weight.min() < -0.99 * bound
    # mean within 5 standard errors of 0 (variance bound^2 / 3)
    assert abs(weight.mean()) < 5 * bound / math.sqrt(3 * weight.size)


def test_bilinear_layer_forward_matches_torch() -> None:
    theirs = torch.nn.Bilinear(3, 4, 5)
    ours = pg.nn.Bilinear(3, 4, 5)
    with pg.no_grad():
        ours.weight.copy_(pg.tensor(theirs.weight.detach().numpy()))
        ours.bias.copy_(pg.tensor(theirs.bias.detach().numpy()))
    x1, x2 = data(7, 3).astype(np.float32), data(7, 4, seed=1).astype(np.float32)
    got = ours(pg.tensor(x1), pg.tensor(x2))
    expected = theirs(torch.tensor(x1), torch.tensor(x2))
    np.testing.assert_allclose(
        got.detach().numpy(), expected.detach().numpy(), rtol=1e-5, atol=1e-6
    )
    assert got.grad_fn.name() == expected.grad_fn.name()
    got.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(
        ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy())
