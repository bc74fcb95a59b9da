"""``interpolate``: resizing the spatial dimensions of (N, C, ...) tensors.

The op is separable: each spatial axis is resampled on its own by a
short list of *taps*, pairs of (source index, weight) per output position.
Nearest modes have one tap of weight 1, linear modes two, bicubic four; an axis
whose size does not change in a linear mode is copied. The forward reads the
taps with ``take`` along the axis and sums them; the backward runs the axes in
reverse order and sends each output gradient, times its weight, back to its
source index. Source indices never decrease along an axis, so that scatter is
one ``add.reduceat`` over the runs of equal indices: no Python loop over
pixels, and the gradient keeps the input's dtype.

For double backward (create_graph=True) that scatter is an op of its own,
``ResampleBackward`` (PyTorch's ``upsample_*_backward``, shown as
``Upsample...BackwardBackward0``). The backward is linear in the gradient with
constant taps, so the scatter's gradient is the forward gather and the
gather's is the scatter: either can be differentiated any number of times,
and the first derivative is the array rule's, shortcuts and all.

Source positions follow PyTorch's CPU kernels, computed in float32 for float32
(and float16) inputs and float64 for float64 ones:

- the scale is ``1 / scale_factor`` when a scale factor was given (and
  ``recompute_scale_factor`` is not True), else ``in / out``; with
  ``align_corners=True`` it is ``(in - 1) / (out - 1)`` and positions are
  ``scale * dst``, otherwise ``scale * (dst + 0.5) - 0.5``, clamped at 0
  (not for bicubic);
- ``'nearest'`` reads ``min(floor(dst * scale), in - 1)``, ``'nearest-exact'``
  ``min(floor((dst + 0.5) * scale), in - 1)``;
- linear modes read ``floor(src)`` and the next index (the same at the last),
  with weights ``1 - l`` and ``l``, ``l = src - floor(src)`` clamped to [0, 1];
- bicubic uses the cubic convolution kernel with A = -0.75 on four indices,
  clamped at the edges.

NOTE: PyTorch's ``'nearest'`` takes two shortcuts: an axis that keeps its size
is copied, and one that doubles reads ``dst // 2``, whatever the scale factor.
Its 2-D forward and every backward take them; its 1-D and 3-D forwards do not.
So with a scale factor that does not match the sizes exactly
(``scale_factor=1.05`` on 10 samples gives 10) the 1-D and 3-D forwards read
``floor(dst / 1.05)`` while the backward copies, and the gradient is not the
derivative of the forward. Likewise its bicubic backward copies when no size
changes, while the forward still applies the cubic kernel with the given
scale. plaingrad follows PyTorch, as DESIGN.md asks, so that programs compute
and train the same. Its second derivative follows PyTorch's formula too: the
derivative of the backward with respect to its gradient is the *forward*, so
in those cases it is not the transpose of the (shortcut) backward, and
``gradgradcheck`` fails there as it does in PyTorch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor

# ----------------------------------------------------------------- the op


def _shaped(weight: Any, axis: int, ndim: int) -> Any:
    """A per-position weight (m,) shaped to broadcast along ``axis``."""
    return weight.reshape([-1 if i == axis else 1 for i in range(ndim)])


def _scatter(grad: Any, index: Any, axis: int, size: int) -> Any:
    """Sum ``grad`` along ``axis`` into ``size`` slots by (sorted) ``index``."""
    counts = np.bincount(index, minlength=size)
    present = counts > 0
    starts = (np.cumsum(counts) - counts)[present]
    shape = list(grad.shape)
    shape[axis] = size
    out = xp.zeros(shape, dtype=grad.dtype)
    where = (slice(None),) * axis + (np.flatnonzero(present),)
    out[where] = np.add.reduceat(grad, starts, axis=axis)
    return out


def _gather(a: Any, taps: list) -> Any:
    """Each axis of ``a`` read through its taps: ``sum_k weight_k * a[index_k]``."""
    out = a
    for axis, _, axis_taps in taps:
        if axis_taps is None:
            continue
        total = None
        for index, weight in axis_taps:
            part = xp.take(out, index, axis=axis)
            if weight is not None:
                part = part * _shaped(weight, axis, a.ndim)
            total = part if total is None else total + part
        out = total
    return out.copy() if out is a else out


def _scatter_taps(grad: Any, taps: list) -> Any:
    """The transpose of ``_gather(., taps)``: the axes in reverse order, each
    tap sending ``weight * grad`` back to its source index."""
    for axis, size, axis_taps in reversed(taps):
        if axis_taps is None:
            continue
        total = None
        for index, weight in axis_taps:
            part = grad if weight is None else grad * _shaped(weight, axis, grad.ndim)
            part = _scatter(part, index, axis, size)
            total = part if total is None else total + part
        grad = total
    return grad


class Resample(Op):
    """Separable resampling; ``taps`` is ``[(axis, in_size, taps_or_None)]``.

    ``backward_taps`` are the taps the backward scatters through: the forward
    ones, except where PyTorch's backward takes its shortcuts (module
    docstring). Each mode's op has an ``_adjoint``, a ``ResampleBackward``.
    """

    _adjoint: Any = None

    @staticmethod
    def forward(ctx, a, taps, backward_taps):
        ctx.taps, ctx.forward_taps = backward_taps, taps
        return _gather(a, taps)

    @staticmethod
    def backward(ctx, grad_output):
        # d out[dst] / d a[index] = weight: each tap sends weight * grad back
        return _scatter_taps(grad_output, ctx.taps)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same scatter, as an op whose own gradient is this forward
        adjoint = type(ctx)._adjoint
        return adjoint.apply(grad_output, taps=ctx.forward_taps, backward_taps=ctx.taps)


class ResampleBackward(Op):
    """``Resample``'s backward as an op (PyTorch's ``upsample_*_backward``):
    the scatter through ``backward_taps``. Its input is a gradient, and its
    gradient is the *forward* of its ``_adjoint``, the gather through ``taps``,
    as PyTorch's derivative formula says: so the pair can be differentiated
    any number of times. Where ``taps`` and ``backward_taps`` differ (PyTorch's
    shortcuts) that gather is not the transpose of the scatter, exactly as in
    PyTorch, whose ``gradgradcheck`` fails there too."""

    _adjoint: Any = None

    @staticmethod
    def forward(ctx, grad, taps, backward_taps):
        ctx.taps, ctx.forward_taps = backward_taps, taps
        out = _scatter_taps(grad, backward_taps)
        return out.copy() if out is grad else out

    @staticmethod
    def backward(ctx, grad_output):
        # linear in grad: d/d grad of the scatter is Resample's forward gather
        return _gather(grad_output, ctx.forward_taps)

    @staticmethod
    def backward_graph(ctx, grad_output):
        forward = type(ctx)._adjoint
        return forward.apply(grad_output, taps=ctx.forward_taps, backward_taps=ctx.taps)


_MODE_NAMES = {
    "nearest": "Nearest",
    "nearest-exact": "NearestExact",
    "linear": "Linear",
    "bilinear": "Bilinear",
    "trilinear": "Trilinear",
    "bicubic": "Bicubic",
}


def _pair(mode_name: str, k: int) -> type:
    """The forward op of one mode and rank, linked to its backward op."""
    stem = f"Upsample{mode_name}{k}D"
    forward = type(stem, (Resample,), {"_name": f"{stem}Backward0"})
    backward = type(
        f"{stem}Backward",
        (ResampleBackward,),
        {"_name": f"{stem}BackwardBackward0"},
    )
    forward._adjoint, backward._adjoint = backward, forward
    return forward


_RESAMPLE_OPS = {
    (mode, k): _pair(name, k) for mode, name in _MODE_NAMES.items() for k in (1, 2, 3)
}

# ------------------------------------------------------------ source indices


def _opmath(npd: np.dtype) -> type:
    """The type PyTorch computes positions in: double for double, else float."""
    return np.float64 if npd == np.float64 else np.float32


def _scale(n_in: int, n_out: int, scale: float | None, ft: type) -> Any:
    if scale is not None and scale > 0:
        return ft(1.0 / scale)
    return ft(n_in) / ft(n_out)


def _nearest_taps(n_in, n_out, scale, exact, shortcuts=False) -> Any:
    if shortcuts and not exact:
        # PyTorch's shortcuts (see the module docstring)
        if n_out == n_in:
            return None
        if n_out == 2 * n_in:
            return [(np.arange(n_out) >> 1, None)]
    ft = np.float32  # PyTorch's nearest kernels use float whatever the dtype
    ratio = _scale(n_in, n_out, scale, ft)
    dst = np.arange(n_out, dtype=ft)
    if exact:
        dst = dst + ft(0.5)
    index = np.minimum(np.floor(dst * ratio).astype(np.int64), n_in - 1)
    return [(index, None)]


def _source(n_in, n_out, scale, align_corners, cubic, ft) -> Any:
    """The fractional source position of every output position."""
    dst = np.arange(n_out, dtype=ft)
    if align_corners:
        ratio = ft(n_in - 1) / ft(n_out - 1) if n_out > 1 else ft(0)
        return ratio * dst
    src = _scale(n_in, n_out, scale, ft) * (dst + ft(0.5)) - ft(0.5)
    return src if cubic else np.maximum(src, ft(0))


def _linear_taps(n_in, n_out, scale, align_corners, npd) -> Any:
    if n_out == n_in:
        return None  # PyTorch copies an axis that keeps its size
    ft = _opmath(npd)
    src = _source(n_in, n_out, scale, align_corners, False, ft)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    l1 = np.clip(src - i0.astype(ft), 0, 1).astype(npd)
    i1 = i0 + (i0 < n_in - 1)
    return [(i0, npd.type(1) - l1), (i1, l1)]


def _cubic_taps(n_in, n_out, scale, align_corners, npd) -> Any:
    ft = _opmath(npd)
    src = _source(n_in, n_out, scale, align_corners, True, ft)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    t = np.clip(src - i0.astype(ft), 0, 1)
    a = ft(-0.75)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
    return [
        (np.clip(i0 - 1 + k, 0, n_in - 1), w.astype(npd)) for k, w in enumerate(weights)
    ]


# --------------------------------------------------------------- interpolate

_AXIS_LETTERS = {1: "W", 2: "HW", 3: "DHW"}


def _output_sizes(shape, sizes, scales) -> list:
    if sizes is not None:
        return list(sizes)
    out = []
    for n, s in zip(shape, scales):
        value = n * float(s)
        if not math.isfinite(value) or abs(value) >= 2**63:
            raise RuntimeError(
                f"interpolate: value cannot be converted to type int64_t without "
                f"overflow (scale_factor {s} on a size of {n})"
            )
        out.append(int(value))
    return out


def _check_sizes(input: Tensor, out_sizes: list) -> None:
    shape = input._data.shape
    k = len(out_sizes)
    if min(shape[2:]) <= 0 or min(out_sizes) <= 0:
        letters = _AXIS_LETTERS[k]
        given = ", ".join(f"{c}: {n}" for c, n in zip(letters, shape[2:]))
        wanted = ", ".join(f"{c}: {n}" for c, n in zip(letters, out_sizes))
        joint = " and output" if k == 1 else " output"
        raise RuntimeError(
            f"interpolate: Input and output sizes should be greater than 0, but "
            f"got input ({given}){joint} ({wanted})"
        )
    if 0 in shape[1:]:
        raise RuntimeError(
            f"interpolate: Non-empty {len(shape)}D data tensor expected but got a "
            f"tensor with sizes {list(shape)}"
        )


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _spatial(input, size, scale_factor) -> tuple:
    """(sizes, scales) as PyTorch's Python layer resolves them (one is None)."""
    dim = input._data.ndim - 2
    spatial = list(input._data.shape[2:])
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    "Input and output must have the same number of spatial "
                    f"dimensions, but got input with spatial dimensions of {spatial} "
                    f"and output size of {size}. Please provide input tensor in "
                    "(N, C, d1, d2, ...,dK) format and output size in (o1, o2, "
                    "...,oK) format."
                )
            if not all(_is_int(s) for s in size):
                raise TypeError(
                    "expected size to be one of int or Tuple[int] or Tuple[int, int] "
                    "or Tuple[int, int, int], but got size with types "
                    f"{[type(s) for s in size]}"
                )
            return [int(s) for s in size], None
        if not _is_int(size):
            raise TypeError(
                f"interpolate: expected `size` to be an int or a tuple of ints, got "
                f"{type(size).__name__}"
            )
        return [int(size)] * dim, None
    if scale_factor is not None:
        if isinstance(scale_factor, (list, tuple)):
            if len(scale_factor) != dim:
                raise ValueError(
                    "Input and scale_factor must have the same number of spatial "
                    f"dimensions, but got input with spatial dimensions of {spatial} "
                    f"and scale_factor of shape {scale_factor}. Please provide "
                    "input tensor in (N, C, d1, d2, ...,dK) format and scale_factor "
                    "in (s1, s2, ...,sK) format."
                )
            return None, [float(s) for s in scale_factor]
        return None, [float(scale_factor)] * dim
    raise ValueError("either size or scale_factor should be defined")


# the modes and the input rank each needs
_RANK = {"linear": 3, "bilinear": 4, "trilinear": 5, "bicubic": 4}


def interpolate(
    input: Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resize the spatial dimensions of ``input`` (up- or down-sampling).

    Args:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W).
        size: the output's spatial size (an int for every dimension, or one
            per dimension). Give ``size`` or ``scale_factor``, not both.
        scale_factor: multiplier(s) of the spatial size; the output size is
            ``floor(in * scale_factor)``, and positions use ``1 / scale_factor``
            unless ``recompute_scale_factor=True``.
        mode: ``'nearest'``, ``'nearest-exact'``, ``'linear'`` (3-D),
            ``'bilinear'`` / ``'bicubic'`` (4-D), ``'trilinear'`` (5-D) or
            ``'area'`` (adaptive average pooling, 3-D and 4-D).
        align_corners: linear and cubic modes only: True maps the corner
            samples of input and output onto each other; False (default)
            treats samples as the centres of cells.
        recompute_scale_factor: compute positions from the sizes, not from
            ``scale_factor``.
        antialias: not supported yet (raises ``NotImplementedError``).

    Returns:
        (N, C, *size) in ``input``'s dtype.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([[[1., 2.]]])
        >>> torch.nn.functional.interpolate(x, scale_factor=2).tolist()
        [[[1.0, 1.0, 2.0, 2.0]]]
        >>> y = torch.nn.functional.interpolate(x, size=3, mode="linear",
        ...                                     align_corners=True)
        >>> y.tolist()
        [[[1.0, 1.5, 2.0]]]
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners option can only be set with the interpolating "
                "modes: linear | bilinear | bicubic | trilinear"
            )
    elif align_corners is None:
        align_corners = False
    ndim = input._data.ndim
    sizes, scales = _spatial(input, size, scale_factor)
    if recompute_scale_factor and size is not None:
        raise ValueError(
            "recompute_scale_factor is not meaningful with an explicit size."
        )
    if mode == "area" and sizes is None:
        recompute_scale_factor = True
    if recompute_scale_factor:
        sizes = _output_sizes(input._data.shape[2:], None, scales)
        scales = None
    if antialias and not (mode in ("bilinear", "bicubic", "lanczos") and ndim == 4):
        raise ValueError(
            "Anti-alias option is restricted to bilinear, bicubic, and lanczos "
            "modes and requires a 4-D tensor as input"
        )
    if mode == "lanczos" and ndim == 4:
        if align_corners:
            raise ValueError("Lanczos mode does not support align_corners=True")
        if not antialias:
            raise ValueError("Lanczos mode requires antialias=True")
    if antialias:
        raise NotImplementedError(
            f"interpolate: antialias=True (mode={mode!r}) is not supported yet"
        )
    if ndim in (3, 4, 5) and mode in ("linear", "bilinear", "trilinear"):
        if ndim != _RANK[mode]:
            raise NotImplementedError(
                f"Got {ndim}D input, but {mode} mode needs {_RANK[mode]}D input"
            )
    elif (
        ndim not in (3, 4, 5)
        or mode
        not in (
            "nearest",
            "nearest-exact",
            "area",
            "bicubic",
        )
        or (mode == "bicubic" and ndim != 4)
    ):
        raise NotImplementedError(
            "Input Error: Only 3D, 4D and 5D input Tensors supported"
            f" (got {ndim}D) for the modes: nearest | linear | bilinear | bicubic "
            f"| trilinear | lanczos | area | nearest-exact (got {mode})"
        )
    if mode == "area":
        return _area(input, _output_sizes(input._data.shape[2:], sizes, scales))
    out_sizes = _output_sizes(input._data.shape[2:], sizes, scales)
    _check_sizes(input, out_sizes)
    npd = input._data.dtype
    if mode not in ("nearest", "nearest-exact") and npd.kind != "f":
        raise NotImplementedError(
            f"interpolate: mode={mode!r} needs a floating-point input, got "
            f"{input.dtype.name}; convert with input.float()"
        )
    scales = scales or [None] * len(out_sizes)
    same_size = list(input._data.shape[2:]) == out_sizes
    taps, backward_taps = [], []
    for i, (n_in, n_out) in enumerate(zip(input._data.shape[2:], out_sizes)):
        axis, s = i + 2, scales[i]
        if mode in ("nearest", "nearest-exact"):
            exact = mode == "nearest-exact"
            # PyTorch's shortcuts: always in backward, in forward only in 2-D
            forward = _nearest_taps(n_in, n_out, s, exact, shortcuts=ndim == 4)
            backward = _nearest_taps(n_in, n_out, s, exact, shortcuts=True)
        elif mode == "bicubic":
            forward = backward = _cubic_taps(n_in, n_out, s, align_corners, npd)
            if same_size:
                backward = None  # PyTorch's bicubic backward copies then
        else:
            forward = backward = _linear_taps(n_in, n_out, s, align_corners, npd)
        taps.append((axis, n_in, forward))
        backward_taps.append((axis, n_in, backward))
    op = _RESAMPLE_OPS[(mode, ndim - 2)]
    return op.apply(input, taps=taps, backward_taps=backward_taps)


def _area(input: Tensor, out_sizes: list) -> Tensor:
    from .pooling import adaptive_avg_pool2d
    from .shape import squeeze, unsqueeze

    ndim = input._data.ndim
    if ndim == 4:
        return adaptive_avg_pool2d(input, tuple(out_sizes))
    if ndim == 3:
        pooled = adaptive_avg_pool2d(unsqueeze(input, 2), (1, out_sizes[0]))
        return squeeze(pooled, 2)
    raise NotImplementedError(
        "interpolate: mode='area' on 5-D input (adaptive_avg_pool3d) is not "
        "supported yet"
    )
