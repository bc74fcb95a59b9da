"""Pooling, resampling and pixel shuffling of issue 3's ``nn.functional``.

Max pooling meets ties (the tie pool gives repeated values in every window):
PyTorch sends a window's whole gradient to the first maximum in scan order,
the index it returns, and overlapping windows that share that element add
up; ``[1, 3, 3, 1]`` with kernel 2 and stride 1 has gradient ``[0, 2, 1, 0]``.
Such cases are compared with torch (values, indices and gradients) and left
out of finite differences (``distinct``). A NaN is the maximum of its window,
as in PyTorch.

``interpolate``'s nearest and bicubic modes take shortcuts in PyTorch (see
``plaingrad/ops/resample.py``): with a scale factor that leaves a size
unchanged or doubles it without being exactly 1 or 2, the backward is not the
derivative of the forward, so those cases are compared with torch only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from .harness import OpSpec, distinct, floats


def F(lib: Any) -> Any:
    return lib.nn.functional


def _per_dim(draw: Any, values: list[int]) -> Any:
    """One int for every dim, or a tuple (either when all are equal)."""
    if len(set(values)) == 1 and (len(values) == 1 or draw(st.booleans())):
        return values[0]
    return tuple(values)


def _batch(draw: Any) -> tuple:
    return draw(st.sampled_from([(2,), (1,), ()]))


# ----------------------------------------------------------------- pooling


@st.composite
def _max_pool_case(draw: Any, nd: int) -> tuple:
    """(x, kernel, stride, padding, dilation, ceil_mode, return_indices)."""
    kernel = [draw(st.integers(1, 3)) for _ in range(nd)]
    dilation = [draw(st.integers(1, 2)) for _ in range(nd)]
    padding = [draw(st.integers(0, k // 2)) for k in kernel]
    stride = (
        None if draw(st.booleans()) else [draw(st.integers(1, 3)) for _ in range(nd)]
    )
    sizes = [
        max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 2))
        for k, d, p in zip(kernel, dilation, padding)
    ]
    ceil = draw(st.booleans())
    steps = kernel if stride is None else stride
    padding = [
        p if _windows_see_input(n, k, s, p, d, ceil) else 0
        for n, k, s, p, d in zip(sizes, kernel, steps, padding, dilation)
    ]
    x = draw(floats(_batch(draw) + (draw(st.integers(1, 2)), *sizes)))
    return (
        x,
        _per_dim(draw, kernel),
        None if stride is None else _per_dim(draw, stride),
        _per_dim(draw, padding),
        _per_dim(draw, dilation),
        ceil,
        draw(st.booleans()),
    )


def _windows_see_input(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> bool:
    """Whether every pooling window holds an element of the input.

    A dilated window can fall wholly in the padding (width 1, padding 1,
    kernel 2, dilation 2): PyTorch then returns -inf with an index past the
    end of the row and writes its gradient outside the row, into the next
    plane's memory; no program relies on that, so the cases avoid it.
    """
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return all(any(0 <= o * s - p + j * d < n for j in range(k)) for o in range(out))


def _max_pool(name: str) -> Any:
    def fn(lib: Any, x, kernel, stride, padding, dilation, ceil, indices) -> Any:
        pool = getattr(F(lib), name)
        return pool(x, kernel, stride, padding, dilation, ceil, indices)

    return fn


@st.composite
def _avg_pool_case(draw: Any, nd: int) -> tuple:
    """(x, kernel, stride, padding, ceil_mode, count_include_pad[, divisor])."""
    kernel = [draw(st.integers(1, 3)) for _ in range(nd)]
    padding = [draw(st.integers(0, k // 2)) for k in kernel]
    stride = (
        None if draw(st.booleans()) else [draw(st.integers(1, 3)) for _ in range(nd)]
    )
    sizes = [
        max(1, k - 2 * p) + draw(st.integers(0, 2)) for k, p in zip(kernel, padding)
    ]
    x = draw(floats(_batch(draw) + (draw(st.integers(1, 2)), *sizes)))
    case = (
        x,
        _per_dim(draw, kernel),
        None if stride is None else _per_dim(draw, stride),
        _per_dim(draw, padding),
        draw(st.booleans()),
        draw(st.booleans()),
    )
    if nd == 2:
        case += (draw(st.sampled_from([None, None, 1, 3])),)
    return case


@st.composite
def _adaptive_case(draw: Any, indices: bool = False) -> tuple:
    """(x, output_size[, return_indices]); sizes above the input's overlap."""
    x = draw(floats(_batch(draw) + (draw(st.integers(1, 2)), *_sizes(draw, 2))))
    out = [draw(st.integers(1, 5)) for _ in range(2)]
    size = _per_dim(draw, out)
    if isinstance(size, tuple) and draw(st.booleans()):
        size = (None, size[1])  # None keeps the input's size
    return (x, size, draw(st.booleans())) if indices else (x, size)


def _sizes(draw: Any, nd: int, low: int = 1, high: int = 4) -> list[int]:
    return [draw(st.integers(low, high)) for _ in range(nd)]


# ------------------------------------------------------------------ resampling

SCALES = [2.0, 0.5, 1.5, 3.0, 0.75, 1.7, 1.0, 2.5, 1.05]


@st.composite
def _resize_case(draw: Any, nd: tuple[int, ...], corners: bool) -> tuple:
    """(x, size, scale_factor, align_corners, recompute_scale_factor)."""
    spatial = draw(st.sampled_from(nd))
    sizes = _sizes(draw, spatial, 1, 4 if spatial < 3 else 3)
    x = draw(floats((draw(st.integers(1, 2)), draw(st.integers(1, 2)), *sizes)))
    size = scale = recompute = None
    if draw(st.booleans()):
        size = _per_dim(draw, _sizes(draw, spatial, 1, 6))
    else:
        # floor(n * scale) of at least 1 for every spatial size
        usable = [s for s in SCALES if all(int(n * s) >= 1 for n in sizes)]
        scale = _per_dim(draw, [draw(st.sampled_from(usable)) for _ in sizes])
        recompute = draw(st.sampled_from([None, True, False]))
    align = draw(st.booleans()) if corners else None
    return x, size, scale, align, recompute


def _resize(mode: str) -> Any:
    def fn(lib: Any, x, size, scale, align_corners, recompute) -> Any:
        return F(lib).interpolate(
            x,
            size=size,
            scale_factor=scale,
            mode=mode,
            align_corners=align_corners,
            recompute_scale_factor=recompute,
        )

    return fn


def _derivative_of_forward(x, size, scale, align_corners, recompute) -> bool:
    """fd_ok for nearest and bicubic: False where PyTorch's backward takes a
    shortcut that its forward does not (a size kept or doubled by a scale
    factor that is not exactly 1 or 2)."""
    if scale is None or recompute:
        return True
    spatial = x.shape[2:]
    scales = scale if isinstance(scale, tuple) else (scale,) * len(spatial)
    for n, s in zip(spatial, scales):
        out = int(np.floor(n * s))
        if (out == n and s != 1.0) or (out == 2 * n and s != 2.0):
            return False
    return True


# -------------------------------------------------------------- pixel shuffle


@st.composite
def _shuffle_case(draw: Any, up: bool) -> tuple:
    r = draw(st.integers(1, 3))
    batch = draw(st.sampled_from([(2,), (), (1, 2)]))
    c, h, w = _sizes(draw, 3, 1, 2)
    shape = (c * r * r, h, w) if up else (c, h * r, w * r)
    return draw(floats(batch + shape)), r


def _fixed(shape: tuple, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


TIES_1D = np.array([[[1.0, 3.0, 3.0, 1.0]]])
ONES_2D = np.ones((1, 1, 3, 3))
NAN_1D = np.array([[[1.0, np.nan, 3.0, np.nan, -1.0]]])

SPECS = [
    OpSpec(
        "F.max_pool1d",
        _max_pool("max_pool1d"),
        _max_pool_case(1),
        fd_ok=distinct,
        cases=[
            (TIES_1D, 2, 1, 0, 1, False, True),  # gradient [0, 2, 1, 0]
            (NAN_1D, 2, 1, 1, 1, True, True),
            (_fixed((2, 5)), 3, 2, 1, 2, True, False),  # unbatched
        ],
    ),
    OpSpec(
        "F.max_pool2d",
        _max_pool("max_pool2d"),
        _max_pool_case(2),
        fd_ok=distinct,
        cases=[
            (ONES_2D, 2, 1, 0, 1, False, True),  # all tied: first of each window
            (_fixed((0, 2, 4, 4)), 2, None, 1, 1, True, False),  # empty batch
            (_fixed((1, 2, 5, 4)), (3, 2), (2, 1), (1, 0), (1, 2), True, True),
            # padding above half the kernel: torch raises RuntimeError
            (_fixed((1, 1, 4, 4)), 2, 1, 2, 1, False, False),
        ],
    ),
    OpSpec(
        "F.avg_pool1d",
        lambda lib, x, k, s, p, ceil, count: F(lib).avg_pool1d(x, k, s, p, ceil, count),
        _avg_pool_case(1),
        cases=[(_fixed((1, 2, 5)), 3, 2, 1, True, False)],
    ),
    OpSpec(
        "F.avg_pool2d",
        lambda lib, x, k, s, p, ceil, count, divisor: F(lib).avg_pool2d(
            x, k, s, p, ceil, count, divisor
        ),
        _avg_pool_case(2),
        cases=[
            (_fixed((2, 1, 5, 4)), (3, 2), (2, 3), (1, 1), True, False, None),
            (_fixed((1, 5, 4)), 2, 1, 1, False, True, 3),  # unbatched
        ],
    ),
    OpSpec(
        "F.adaptive_avg_pool2d",
        lambda lib, x, size: F(lib).adaptive_avg_pool2d(x, size),
        _adaptive_case(),
        cases=[
            (_fixed((2, 1, 5, 3)), (3, 4)),  # overlapping windows, and wider
            (_fixed((0, 2, 4, 4)), (None, 3)),  # empty batch
        ],
    ),
    OpSpec(
        "F.adaptive_max_pool2d",
        lambda lib, x, size, indices: F(lib).adaptive_max_pool2d(x, size, indices),
        _adaptive_case(indices=True),
        fd_ok=distinct,
        cases=[(np.ones((1, 1, 4, 4)), 3, True), (_fixed((1, 2, 5, 3)), (2, 5), False)],
    ),
    # ------------------------------------------------------------ interpolate
    OpSpec(
        "F.interpolate",
        _resize("nearest"),
        _resize_case((1, 2, 3), corners=False),
        fd_ok=_derivative_of_forward,
        examples_scale=1.34,
        cases=[
            (_fixed((1, 2, 3, 5)), None, (1.7, 0.75), None, None),
            (_fixed((1, 1, 10)), None, 1.05, None, None),  # forward floor(i / 1.05)
        ],
    ),
    OpSpec(
        "F.interpolate(bilinear)",
        _resize("bilinear"),
        _resize_case((2,), corners=True),
        cases=[
            (_fixed((1, 2, 3, 4)), None, (1.7, 0.5), False, None),
            (_fixed((2, 1, 4, 1)), (3, 5), None, True, None),
        ],
    ),
    OpSpec(
        "F.interpolate(nearest-exact)",
        _resize("nearest-exact"),
        _resize_case((1, 2), corners=False),
        fd_ok=_derivative_of_forward,
    ),
    OpSpec(
        "F.interpolate(linear)", _resize("linear"), _resize_case((1,), corners=True)
    ),
    OpSpec(
        "F.interpolate(bicubic)",
        _resize("bicubic"),
        _resize_case((2,), corners=True),
        fd_ok=_derivative_of_forward,
    ),
    OpSpec(
        "F.interpolate(trilinear)",
        _resize("trilinear"),
        _resize_case((3,), corners=True),
        examples_scale=0.67,
    ),
    OpSpec("F.interpolate(area)", _resize("area"), _resize_case((1, 2), corners=False)),
    # ---------------------------------------------------------- pixel shuffle
    OpSpec(
        "F.pixel_shuffle",
        lambda lib, x, r: F(lib).pixel_shuffle(x, r),
        _shuffle_case(up=True),
        cases=[(_fixed((3, 2, 2)), 2)],  # 3 channels do not divide by 2 * 2
    ),
    OpSpec(
        "F.pixel_unshuffle",
        lambda lib, x, r: F(lib).pixel_unshuffle(x, r),
        _shuffle_case(up=False),
    ),
]
