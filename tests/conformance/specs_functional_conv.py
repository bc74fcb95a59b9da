"""Linear maps, convolutions and sliding windows of issue 3's ``nn.functional``.

Each case draws a geometry first (channels and groups, kernel, stride, padding
including ``'same'`` and ``'valid'``, dilation, output padding, an unbatched
input, a missing bias; an int or a tuple where both are accepted) and then the
arrays of that geometry. Sizes are chosen so that most cases are valid; the
explicit cases add an empty batch and the mistakes torch rejects (``'same'``
with a stride, an output padding as large as the stride), where plaingrad
must raise what torch raises.

The weights of these contractions draw no ``"large"`` values: a float32 sum of
products of magnitude 1e4 with 1e2 that cancels leaves absolute errors near
1e-2 in either library's order of summation, far above issue 3's atol, and
says nothing about agreement.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from .harness import OpSpec, floats

WEIGHT_EDGES = ("normal", "zeros", "ties")


def F(lib: Any) -> Any:
    return lib.nn.functional


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _per_dim(draw: Any, values: list[int]) -> Any:
    """One int for every dim, or a tuple (either when all are equal)."""
    if len(set(values)) == 1 and (len(values) == 1 or draw(st.booleans())):
        return values[0]
    return tuple(values)


def _batch(draw: Any) -> tuple:
    """() for an unbatched input (sometimes) or (N,)."""
    return draw(st.sampled_from([(1,), (2,), (2,), ()]))


def _bias(draw: Any, n: int) -> Any:
    return draw(st.none() | floats((n,), edges=WEIGHT_EDGES))


def _tuple(value: Any, nd: int) -> tuple:
    return tuple(value) if isinstance(value, tuple) else (value,) * nd


# ------------------------------------------------------------------ linear


@st.composite
def _linear_case(draw: Any) -> tuple:
    batch = draw(st.sampled_from([(), (3,), (2, 3), (0,), (1, 2)]))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x = draw(floats(batch + (n_in,)))
    w = draw(floats((n_out, n_in), edges=WEIGHT_EDGES))
    return x, w, _bias(draw, n_out)


@st.composite
def _bilinear_case(draw: Any) -> tuple:
    batch = draw(st.sampled_from([(3,), (2, 2), (1,), (0,)]))
    n1, n2, n_out = (draw(st.integers(1, 3)) for _ in range(3))
    x1 = draw(floats(batch + (n1,), edges=WEIGHT_EDGES))
    x2 = draw(floats(batch + (n2,), edges=WEIGHT_EDGES))
    w = draw(floats((n_out, n1, n2), edges=WEIGHT_EDGES))
    return x1, x2, w, _bias(draw, n_out)


# ------------------------------------------------------------- convolution


@st.composite
def _conv_case(draw: Any, nd: int) -> tuple:
    """(x, weight, bias, stride, padding, dilation, groups) for conv{nd}d."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(nd)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nd)]
    mode = draw(st.sampled_from(["numbers", "numbers", "same", "valid"]))
    if mode == "numbers":
        pads = [draw(st.integers(0, 2)) for _ in range(nd)]
        strides = [draw(st.integers(1, 3)) for _ in range(nd)]
        padding, stride = _per_dim(draw, pads), _per_dim(draw, strides)
    else:
        pads, strides = [0] * nd, [1] * nd
        padding, stride = mode, 1
    sizes = [
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 2))
        for k, d, p in zip(kernel, dilation, pads)
    ]
    x = draw(floats(_batch(draw) + (c_in, *sizes)))
    w = draw(floats((c_out, c_in // groups, *kernel), edges=WEIGHT_EDGES))
    return x, w, _bias(draw, c_out), stride, padding, _per_dim(draw, dilation), groups


def _conv_fixed(nd: int, seed: int, batch: tuple, c_in: int, c_out: int, **geometry):
    """An explicit conv case: normal arrays of the given geometry."""
    rng = _rng(seed)
    kernel = geometry.pop("kernel")
    groups = geometry.get("groups", 1)
    x = rng.standard_normal(batch + (c_in,) + (4,) * nd)
    w = rng.standard_normal((c_out, c_in // groups) + _tuple(kernel, nd))
    return (
        x,
        w,
        rng.standard_normal(c_out),
        geometry.get("stride", 1),
        geometry.get("padding", 0),
        geometry.get("dilation", 1),
        groups,
    )


def _conv1d(lib: Any, x, w, b, stride, padding, dilation, groups) -> Any:
    return F(lib).conv1d(x, w, b, stride, padding, dilation, groups)


def _conv2d(lib: Any, x, w, b, stride, padding, dilation, groups) -> Any:
    return F(lib).conv2d(x, w, b, stride, padding, dilation, groups)


@st.composite
def _conv_transpose_case(draw: Any) -> tuple:
    """(x, weight, bias, stride, padding, output_padding, groups, dilation)."""
    groups = draw(st.sampled_from([1, 1, 2]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = [draw(st.integers(1, 3)) for _ in range(2)]
    strides = [draw(st.integers(1, 3)) for _ in range(2)]
    dilation = [draw(st.integers(1, 2)) for _ in range(2)]
    sizes = [draw(st.integers(1, 3)) for _ in range(2)]
    # output padding must be below the stride or the dilation
    extra = [draw(st.integers(0, max(s, d) - 1)) for s, d in zip(strides, dilation)]
    # and padding may not take the output below one element
    pads = [
        draw(st.integers(0, min(2, ((n - 1) * s + d * (k - 1) + e) // 2)))
        for n, s, d, k, e in zip(sizes, strides, dilation, kernel, extra)
    ]
    x = draw(floats(_batch(draw) + (c_in, *sizes)))
    w = draw(floats((c_in, c_out // groups, *kernel), edges=WEIGHT_EDGES))
    return (
        x,
        w,
        _bias(draw, c_out),
        _per_dim(draw, strides),
        _per_dim(draw, pads),
        _per_dim(draw, extra),
        groups,
        _per_dim(draw, dilation),
    )


def _conv_transpose2d(lib: Any, x, w, b, stride, padding, extra, groups, dilation):
    return F(lib).conv_transpose2d(x, w, b, stride, padding, extra, groups, dilation)


def _transpose_fixed(seed: int, **geometry: Any) -> tuple:
    rng = _rng(seed)
    groups = geometry.get("groups", 1)
    x = rng.standard_normal((1, 2 * groups, 2, 2))
    w = rng.standard_normal((2 * groups, 1, 3, 2))
    return (
        x,
        w,
        rng.standard_normal(groups),
        geometry.get("stride", 1),
        geometry.get("padding", 0),
        geometry.get("output_padding", 0),
        groups,
        geometry.get("dilation", 1),
    )


# ------------------------------------------------------------ unfold and fold


def _blocks(sizes, kernel, dilation, padding, stride) -> list[int]:
    return [
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, k, d, p, s in zip(sizes, kernel, dilation, padding, stride)
    ]


@st.composite
def _window_geometry(draw: Any) -> tuple:
    """Spatial sizes and (kernel, dilation, padding, stride), blocks >= 1."""
    kernel = [draw(st.integers(1, 3)) for _ in range(2)]
    dilation = [draw(st.integers(1, 2)) for _ in range(2)]
    padding = [draw(st.integers(0, 1)) for _ in range(2)]
    stride = [draw(st.integers(1, 2)) for _ in range(2)]
    sizes = [
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 2))
        for k, d, p in zip(kernel, dilation, padding)
    ]
    return sizes, kernel, dilation, padding, stride


@st.composite
def _unfold_case(draw: Any) -> tuple:
    sizes, kernel, dilation, padding, stride = draw(_window_geometry())
    x = draw(floats(_batch(draw) + (draw(st.integers(1, 2)), *sizes)))
    options = (_per_dim(draw, v) for v in (kernel, dilation, padding, stride))
    return (x, *options)


@st.composite
def _fold_case(draw: Any) -> tuple:
    sizes, kernel, dilation, padding, stride = draw(_window_geometry())
    blocks = _blocks(sizes, kernel, dilation, padding, stride)
    c = draw(st.integers(1, 2)) * kernel[0] * kernel[1]
    x = draw(floats(_batch(draw) + (c, blocks[0] * blocks[1])))
    options = [_per_dim(draw, v) for v in (kernel, dilation, padding, stride)]
    return (x, _per_dim(draw, sizes), *options)


SPECS = [
    OpSpec(
        "F.linear",
        lambda lib, x, w, b: F(lib).linear(x, w, b),
        _linear_case(),
    ),
    OpSpec(
        "F.bilinear",
        lambda lib, x1, x2, w, b: F(lib).bilinear(x1, x2, w, b),
        _bilinear_case(),
        cases=[
            (
                _rng(0).standard_normal(3),
                _rng(1).standard_normal(2),
                _rng(2).standard_normal((2, 3, 2)),
                None,
            )
        ],
    ),
    OpSpec(
        "F.conv1d",
        _conv1d,
        _conv_case(1),
        cases=[
            # 'same' with an even dilated kernel pads one more on the right
            _conv_fixed(
                1, 0, (2,), 4, 2, kernel=2, padding="same", dilation=3, groups=2
            ),
            _conv_fixed(1, 1, (0,), 2, 2, kernel=3, stride=2),
        ],
    ),
    OpSpec(
        "F.conv2d",
        _conv2d,
        _conv_case(2),
        cases=[
            _conv_fixed(
                2,
                0,
                (1,),
                2,
                2,
                kernel=(2, 3),
                padding="same",
                dilation=(1, 2),
                groups=2,
            ),
            _conv_fixed(
                2, 1, (1,), 3, 3, kernel=2, stride=(2, 1), padding=(0, 2), groups=3
            ),
            _conv_fixed(2, 2, (0,), 2, 2, kernel=3, padding="valid"),
            # torch: "padding='same' is not supported for strided convolutions"
            _conv_fixed(2, 3, (1,), 2, 2, kernel=3, padding="same", stride=2),
            # torch: "negative padding is not supported"
            _conv_fixed(2, 4, (1,), 2, 2, kernel=3, padding=-1),
        ],
    ),
    OpSpec(
        "F.conv_transpose2d",
        _conv_transpose2d,
        _conv_transpose_case(),
        cases=[
            _transpose_fixed(
                0,
                stride=(3, 2),
                padding=(1, 0),
                output_padding=(2, 1),
                groups=2,
                dilation=(1, 2),
            ),
            # an output padding as large as both stride and dilation
            _transpose_fixed(1, stride=2, output_padding=2),
        ],
    ),
    OpSpec(
        "F.unfold",
        lambda lib, x, k, d, p, s: F(lib).unfold(x, k, d, p, s),
        _unfold_case(),
    ),
    OpSpec(
        "F.fold",
        lambda lib, x, size, k, d, p, s: F(lib).fold(x, size, k, d, p, s),
        _fold_case(),
    ),
]
