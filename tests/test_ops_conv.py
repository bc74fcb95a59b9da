"""Convolution (conv1d, conv2d, conv_transpose2d), unfold/fold and their layers,
against real PyTorch (values, gradients, grad_fn names, reprs, state dicts),
float64 finite differences and a NumPy reference built on
``sliding_window_view`` (independent of plaingrad's own im2col).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import import_torch
from opcheck import check_gradients, dtype_name, make_inputs

import plaingrad as pg
import plaingrad.nn.functional as F

torch = import_torch()

# (rtol, atol): the sums inside a convolution run in a different order.
TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-7, 1e-10)}


def compare(fn, *args, requires_grad=None, dtypes=("float32", "float64")) -> None:
    """``fn(lib, *inputs)`` on plaingrad and torch: values, grad_fn, gradients."""
    for dtype in dtypes:
        rtol, atol = TOLERANCE[dtype]
        pg_in = make_inputs(pg, args, dtype, requires_grad)
        torch_in = make_inputs(torch, args, dtype, requires_grad)
        got, expected = fn(pg, *pg_in), fn(torch, *torch_in)
        assert tuple(got.shape) == tuple(expected.shape), (got.shape, expected.shape)
        assert dtype_name(got.dtype) == dtype_name(expected.dtype)
        np.testing.assert_allclose(
            got.detach().numpy(), expected.detach().numpy(), rtol=rtol, atol=atol
        )
        if not expected.requires_grad:
            assert got.grad_fn is None
            continue
        assert got.grad_fn.name() == expected.grad_fn.name()
        seed = np.random.default_rng(7).standard_normal(tuple(expected.shape))
        got.backward(pg.tensor(seed.astype(dtype)))
        expected.backward(torch.tensor(seed.astype(dtype)))
        for i, (p, t) in enumerate(zip(pg_in, torch_in)):
            if getattr(t, "requires_grad", False):
                np.testing.assert_allclose(
                    p.grad.numpy(),
                    t.grad.numpy(),
                    rtol=rtol,
                    atol=atol,
                    err_msg=f"gradient of input {i} ({dtype})",
                )


def reference_conv2d(x, w, b, stride, padding, dilation, groups):
    """conv2d in plain NumPy: sliding_window_view + einsum, one group at a time."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    kh, kw = w.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    win = np.lib.stride_tricks.sliding_window_view(xpad, span, axis=(2, 3))
    win = win[:, :, ::sh, ::sw, ::dh, ::dw]
    cg, og = x.shape[1] // groups, w.shape[0] // groups
    outs = [
        np.einsum(
            "nchwij,ocij->nohw",
            win[:, g * cg : (g + 1) * cg],
            w[g * og : (g + 1) * og],
        )
        for g in range(groups)
    ]
    out = np.concatenate(outs, axis=1)
    return out if b is None else out + b[:, None, None]


# ---------------------------------------------------------------------- conv2d

# (input shape, weight shape, keyword arguments)
CONV2D_CASES = [
    ((2, 3, 6, 7), (4, 3, 3, 3), {}),
    ((1, 2, 5, 5), (3, 2, 1, 1), {}),
    ((2, 3, 7, 6), (4, 3, 3, 2), {"stride": 2}),
    ((2, 3, 7, 6), (4, 3, 3, 3), {"stride": (2, 1), "padding": (1, 2)}),
    ((1, 2, 8, 8), (2, 2, 3, 3), {"dilation": 2, "padding": 1}),
    ((1, 2, 9, 7), (3, 2, 2, 3), {"dilation": (2, 1), "stride": (1, 2)}),
    ((2, 4, 5, 6), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    ((2, 4, 5, 5), (4, 1, 3, 3), {"groups": 4}),  # depthwise
    ((1, 6, 6, 6), (3, 2, 2, 2), {"groups": 3, "stride": 2, "dilation": 2}),
    ((1, 2, 5, 6), (3, 2, 3, 3), {"padding": "same"}),
    ((1, 2, 5, 6), (3, 2, 2, 4), {"padding": "same", "dilation": (2, 1)}),
    ((2, 2, 4, 5), (3, 2, 3, 3), {"padding": "valid"}),
    ((2, 2, 3, 3), (3, 2, 3, 3), {}),  # kernel as big as the input
    ((2, 3, 5, 6), (4, 3, 3, 3), {"padding": 2, "stride": 3}),
]


# PyTorch warns that an even 'same' kernel needs a padded copy; so does plaingrad.
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), CONV2D_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d(x_shape, w_shape, kwargs, bias) -> None:
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    args = (x, w, rng.standard_normal(w_shape[0])) if bias else (x, w)
    compare(lambda m, *t: m.nn.functional.conv2d(*t, **kwargs), *args)


@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), CONV2D_CASES[:9])
def test_conv2d_numpy_reference(x_shape, w_shape, kwargs) -> None:
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    pair = lambda v: v if isinstance(v, tuple) else (v, v)  # noqa: E731
    expected = reference_conv2d(
        x,
        w,
        b,
        pair(kwargs.get("stride", 1)),
        pair(kwargs.get("padding", 0)),
        pair(kwargs.get("dilation", 1)),
        kwargs.get("groups", 1),
    )
    got = F.conv2d(pg.tensor(x), pg.tensor(w), pg.tensor(b), **kwargs)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs"),
    [
        ((1, 2, 4, 5), (2, 2, 2, 3), {"stride": (2, 1), "padding": 1}),
        ((2, 4, 4, 4), (2, 2, 2, 2), {"groups": 2, "dilation": 2}),
        ((1, 1, 4, 4), (2, 1, 2, 2), {"padding": "same"}),
    ],
)
def test_conv2d_gradcheck(x_shape, w_shape, kwargs) -> None:
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    check_gradients(lambda m, *t: m.nn.functional.conv2d(*t, **kwargs), x, w, b)


@pytest.mark.parametrize("flags", [(True, False), (False, True), (False, False)])
def test_conv2d_some_inputs_need_grad(flags) -> None:
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    compare(
        lambda m, a, b: m.nn.functional.conv2d(a, b, padding=1),
        x,
        w,
        requires_grad=flags,
    )


def test_conv2d_unbatched() -> None:
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 6, 5)), rng.standard_normal((2, 3, 3, 3))
    compare(lambda m, a, b: m.nn.functional.conv2d(a, b, stride=2), x, w)


def test_conv2d_float32_stays_float32() -> None:
    out = F.conv2d(pg.ones(1, 1, 4, 4), pg.ones(1, 1, 3, 3))
    assert out.dtype == pg.float32
    np.testing.assert_array_equal(out.numpy(), np.full((1, 1, 2, 2), 9.0))


# ---------------------------------------------------------------------- conv1d

CONV1D_CASES = [
    ((2, 3, 9), (4, 3, 3), {}),
    ((2, 3, 9), (4, 3, 2), {"stride": 2, "padding": 1}),
    ((1, 2, 10), (2, 2, 3), {"dilation": 3, "padding": (2,)}),
    ((2, 4, 8), (6, 2, 3), {"groups": 2}),
    ((1, 2, 7), (3, 2, 4), {"padding": "same"}),
    ((3, 7), (2, 3, 3), {"stride": 2}),  # unbatched
]


@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), CONV1D_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv1d(x_shape, w_shape, kwargs, bias) -> None:
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    args = (x, w, rng.standard_normal(w_shape[0])) if bias else (x, w)
    compare(lambda m, *t: m.nn.functional.conv1d(*t, **kwargs), *args)


def test_conv1d_gradcheck() -> None:
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 2, 7)), rng.standard_normal((2, 1, 3))
    b = rng.standard_normal(2)

    def fn(m, *t):
        return m.nn.functional.conv1d(*t, stride=2, padding=1, dilation=2, groups=2)

    check_gradients(fn, x, w, b)


# ------------------------------------------------------------ conv_transpose2d

TRANSPOSE_CASES = [
    ((2, 3, 4, 5), (3, 2, 3, 3), {}),
    ((2, 3, 4, 5), (3, 2, 3, 2), {"stride": 2}),
    ((1, 2, 4, 4), (2, 3, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((1, 2, 3, 4), (2, 2, 2, 3), {"stride": (2, 3), "output_padding": (1, 2)}),
    ((1, 2, 4, 3), (2, 1, 3, 2), {"dilation": 2, "padding": (1, 0)}),
    ((1, 2, 3, 3), (2, 2, 2, 2), {"dilation": 3, "output_padding": 2}),
    ((2, 4, 3, 4), (4, 3, 3, 3), {"groups": 2, "stride": 2, "padding": 1}),
    ((2, 4, 3, 3), (4, 1, 2, 2), {"groups": 4}),
    ((3, 4, 4), (3, 2, 3, 3), {"stride": 2}),  # unbatched
]


@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), TRANSPOSE_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose2d(x_shape, w_shape, kwargs, bias) -> None:
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out_channels = w_shape[1] * kwargs.get("groups", 1)
    args = (x, w, rng.standard_normal(out_channels)) if bias else (x, w)
    compare(lambda m, *t: m.nn.functional.conv_transpose2d(*t, **kwargs), *args)


def test_conv_transpose2d_gradcheck() -> None:
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 2, 2, 3))
    b = rng.standard_normal(4)

    def fn(m, *t):
        return m.nn.functional.conv_transpose2d(
            *t, stride=2, padding=1, output_padding=1, groups=2
        )

    check_gradients(fn, x, w, b)


def test_conv_transpose2d_is_the_adjoint_of_conv2d() -> None:
    # <conv2d(x, w), y> == <x, conv_transpose2d(y, w)> for the same geometry
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3))
    kwargs = {"stride": 2, "padding": 1, "dilation": 1}
    y = rng.standard_normal((2, 4, 4, 4))
    forward = F.conv2d(pg.tensor(x), pg.tensor(w), **kwargs).numpy()
    back = F.conv_transpose2d(pg.tensor(y), pg.tensor(w), **kwargs).numpy()
    assert math.isclose((forward * y).sum(), (x * back).sum(), rel_tol=1e-12)


# ------------------------------------------------------------- unfold and fold

FOLD_CASES = [
    ((2, 3, 5, 6), {"kernel_size": 2}),
    ((1, 2, 6, 7), {"kernel_size": (2, 3), "stride": 2, "padding": 1}),
    ((1, 2, 7, 7), {"kernel_size": 3, "dilation": 2, "stride": (1, 2)}),
    ((2, 6, 6), {"kernel_size": 3, "padding": (0, 1)}),  # unbatched
]


@pytest.mark.parametrize(("x_shape", "kwargs"), FOLD_CASES)
def test_unfold_and_fold(x_shape, kwargs) -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal(x_shape)
    compare(lambda m, t: m.nn.functional.unfold(t, **kwargs), x)
    cols = F.unfold(pg.tensor(x), **kwargs)
    blocks = rng.standard_normal(tuple(cols.shape))
    size = x_shape[-2:]
    compare(lambda m, t: m.nn.functional.fold(t, size, **kwargs), blocks)


def test_unfold_fold_gradcheck() -> None:
    rng = np.random.default_rng(12)
    x = rng.standard_normal((1, 2, 4, 5))
    kwargs = {"kernel_size": (2, 3), "stride": (1, 2), "padding": 1}
    check_gradients(lambda m, t: m.nn.functional.unfold(t, **kwargs), x)
    blocks = rng.standard_normal(tuple(F.unfold(pg.tensor(x), **kwargs).shape))
    check_gradients(lambda m, t: m.nn.functional.fold(t, (4, 5), **kwargs), blocks)


def test_conv2d_equals_unfold_matmul() -> None:
    rng = np.random.default_rng(13)
    x, w = (
        pg.tensor(rng.standard_normal((2, 3, 6, 5))),
        pg.tensor(rng.standard_normal((4, 3, 3, 3))),
    )
    cols = F.unfold(x, 3, padding=1)  # (2, 27, 30)
    via_unfold = (w.reshape(4, -1) @ cols).reshape(2, 4, 6, 5)
    np.testing.assert_allclose(
        via_unfold.numpy(), F.conv2d(x, w, padding=1).numpy(), rtol=1e-12
    )


# --------------------------------------------------------------------- modules

MODULES = [
    "Conv1d(2, 3, 3)",
    "Conv1d(2, 4, 3, padding='same', bias=False)",
    "Conv1d(4, 4, 2, groups=2, dilation=2, padding=1)",
    "Conv2d(1, 16, 3)",
    "Conv2d(1, 16, 3, padding='same', bias=False)",
    "Conv2d(4, 8, (3, 5), stride=2, padding=1, dilation=2, groups=2)",
    "Conv2d(2, 3, 3, padding='valid')",
    "ConvTranspose2d(4, 8, 3, stride=2, output_padding=1)",
    "ConvTranspose2d(4, 6, (3, 2), groups=2, bias=False, dilation=2, padding=(1, 0))",
    "Unfold(3)",
    "Unfold((2, 3), dilation=2, padding=1, stride=1)",
    "Fold((4, 5), 2)",
]


@pytest.mark.parametrize("spec", MODULES)
def test_module_repr_and_state_dict(spec) -> None:
    torch.manual_seed(0)
    theirs = eval("torch.nn." + spec)
    ours = eval("pg.nn." + spec)
    assert repr(ours) == repr(theirs)
    state = {k: pg.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    assert list(ours.state_dict()) == list(state)
    for key, value in ours.state_dict().items():
        assert tuple(value.shape) == tuple(state[key].shape), key
    ours.load_state_dict(state)


@pytest.mark.parametrize(
    ("spec", "x_shape"),
    [
        ("Conv1d(4, 4, 2, groups=2, dilation=2, padding=1)", (2, 4, 7)),
        (
            "Conv2d(4, 8, (3, 5), stride=2, padding=1, dilation=2, groups=2)",
            (2, 4, 9, 11),
        ),
        ("Conv2d(1, 2, 3, padding='same')", (1, 5, 6)),
        (
            "ConvTranspose2d(4, 6, 3, stride=2, groups=2, output_padding=1)",
            (1, 4, 3, 4),
        ),
    ],
)
def test_module_forward_with_torch_weights(spec, x_shape) -> None:
    torch.manual_seed(1)
    theirs = eval("torch.nn." + spec).double()
    ours = eval("pg.nn." + spec).double()
    ours.load_state_dict(
        {k: pg.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    )
    x = np.random.default_rng(14).standard_normal(x_shape)
    expected = theirs(torch.tensor(x, requires_grad=True))
    got = ours(pg.tensor(x, requires_grad=True))
    np.testing.assert_allclose(
        got.detach().numpy(), expected.detach().numpy(), rtol=1e-10
    )
    expected.sum().backward()
    got.sum().backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(
            p.grad.numpy(), q.grad.numpy(), rtol=1e-10, err_msg=name
        )


def test_conv_transpose2d_output_size() -> None:
    torch.manual_seed(2)
    theirs = torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    ours = pg.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1).double()
    ours.load_state_dict(
        {k: pg.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    )
    x = np.random.default_rng(15).standard_normal((1, 2, 4, 4))
    for size in ([7, 7], [8, 8], [1, 3, 8, 7]):
        expected = theirs(torch.tensor(x), output_size=size)
        got = ours(pg.tensor(x), output_size=size)
        np.testing.assert_allclose(
            got.detach().numpy(), expected.detach().numpy(), rtol=1e-10
        )
    with pytest.raises(
        ValueError, match="ConvTranspose2d.*valid sizes range from 7 to 8"
    ):
        ours(pg.tensor(x), output_size=(9, 9))


@pytest.mark.parametrize(
    ("layer", "fan_in"),
    [
        (lambda: pg.nn.Conv2d(6, 8, (3, 5), groups=2), 3 * 15),
        (lambda: pg.nn.Conv1d(4, 2, 5), 20),
        (lambda: pg.nn.ConvTranspose2d(4, 6, 3, groups=2), 3 * 9),
    ],
)
def test_default_init_bounds(layer, fan_in) -> None:
    pg.manual_seed(0)
    module = layer()
    bound = 1 / math.sqrt(fan_in)
    for p in (module.weight, module.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound
        assert values.dtype == np.float32
    assert np.abs(module.weight.detach().numpy()).max() > 0.8 * bound


def test_module_errors() -> None:
    with pytest.raises(
        ValueError, match="Conv2d: out_channels must be divisible by groups"
    ):
        pg.nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(
        ValueError, match="Conv2d: in_channels must be divisible by groups"
    ):
        pg.nn.Conv2d(3, 6, 3, groups=2)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        pg.nn.Conv2d(4, 6, 3, groups=0)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        pg.nn.Conv2d(4, 6, 3, padding="same", stride=2)
    with pytest.raises(ValueError, match="Invalid padding string 'full'"):
        pg.nn.Conv1d(4, 6, 3, padding="full")
    with pytest.raises(NotImplementedError, match="padding_mode='circular'"):
        pg.nn.Conv2d(4, 6, 3, padding_mode="circular")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        pg.nn.Conv2d(4, 6, 3, padding_mode="mirror")


# ---------------------------------------------------------------------- errors


def test_conv_errors() -> None:
    x = pg.zeros(2, 4, 5, 5)
    with pytest.raises(RuntimeError, match=r"conv2d: .*to have 3 channels, but got 4"):
        F.conv2d(x, pg.zeros(6, 3, 3, 3))
    with pytest.raises(RuntimeError, match=r"conv2d: .*\(5 x 5\).*\(7 x 7\).*greater"):
        F.conv2d(x, pg.zeros(6, 4, 7, 7))
    with pytest.raises(RuntimeError, match=r"\(7 x 7\).*\(9 x 9\)"):
        F.conv2d(x, pg.zeros(6, 4, 5, 5), padding=1, dilation=2)
    with pytest.raises(RuntimeError, match=r"groups=3.*to have 6 channels"):
        F.conv2d(x, pg.zeros(6, 2, 3, 3), groups=3)
    with pytest.raises(RuntimeError, match="conv2d: non-positive groups"):
        F.conv2d(x, pg.zeros(6, 4, 3, 3), groups=0)
    with pytest.raises(RuntimeError, match="divisible by 2 at dimension 0"):
        F.conv2d(x, pg.zeros(5, 2, 3, 3), groups=2)
    with pytest.raises(RuntimeError, match="conv2d: non-positive stride"):
        F.conv2d(x, pg.zeros(6, 4, 3, 3), stride=0)
    with pytest.raises(RuntimeError, match="conv2d: negative padding"):
        F.conv2d(x, pg.zeros(6, 4, 3, 3), padding=-1)
    with pytest.raises(RuntimeError, match="padding='same' is not supported"):
        F.conv2d(x, pg.zeros(6, 4, 3, 3), padding="same", stride=2)
    with pytest.raises(RuntimeError, match="Invalid padding string: 'foo'"):
        F.conv2d(x, pg.zeros(6, 4, 3, 3), padding="foo")
    with pytest.raises(RuntimeError, match=r"bias.*6 elements.*size \[5\]"):
        F.conv2d(x, pg.zeros(6, 4, 3, 3), pg.zeros(5))
    with pytest.raises(RuntimeError, match=r"3D \(unbatched\) or 4D.*\[5, 5\]"):
        F.conv2d(pg.zeros(5, 5), pg.zeros(6, 4, 3, 3))
    with pytest.raises(RuntimeError, match=r"conv1d: expected 2D.*\[2, 4, 5, 5\]"):
        F.conv1d(x, pg.zeros(6, 4, 3))
    with pytest.raises(
        RuntimeError, match="`input` is float64 but `weight` is float32"
    ):
        F.conv2d(x.double(), pg.zeros(6, 4, 3, 3))
    with pytest.raises(TypeError, match="conv2d: `stride` must be an int or a tuple"):
        F.conv2d(x, pg.zeros(6, 4, 3, 3), stride=(1, 1, 1))


def test_conv_transpose2d_errors() -> None:
    x = pg.zeros(2, 4, 5, 5)
    with pytest.raises(RuntimeError, match="output padding must be smaller"):
        F.conv_transpose2d(x, pg.zeros(4, 3, 3, 3), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match=r"transposed=1.*to have 3 channels"):
        F.conv_transpose2d(x, pg.zeros(3, 3, 3, 3))
    with pytest.raises(RuntimeError, match="conv_transpose2d: .*too small"):
        F.conv_transpose2d(x, pg.zeros(4, 3, 3, 3), padding=5)


def test_fold_errors() -> None:
    with pytest.raises(RuntimeError, match=r"unfold: .*sliding blocks as \(-1, -1\)"):
        F.unfold(pg.zeros(2, 4, 5, 5), 7)
    with pytest.raises(RuntimeError, match="unfold: expected 3D"):
        F.unfold(pg.zeros(5, 5), 2)
    with pytest.raises(RuntimeError, match="fold: .*divisible by the product"):
        F.fold(pg.zeros(2, 7, 4), (3, 3), 2)
    with pytest.raises(
        RuntimeError, match=r"fold: .*2 \* 2 = 4, but got input.size\(2\)=5"
    ):
        F.fold(pg.zeros(2, 8, 5), (3, 3), 2)
