"""Convolution: conv1d, conv2d and conv_transpose2d, as im2col + matmul.

A convolution reads the padded input's sliding windows through ``im2col`` (a
strided view, see ``fold.py``), lays them out as the rows of a matrix, one
matrix per group, and multiplies by the weight: a matmul batched over groups.
Its backward rule is two matmuls with the same saved rows, plus ``col2im`` for
the input gradient.

A transposed convolution is the input gradient of a convolution: its forward
is the matmul followed by ``col2im``, its backward ``im2col`` plus matmuls, so
both directions reuse the same two helpers.

Double backward: a convolution C(x, W) is bilinear, and its two gradients are
the bilinear maps T(G, W) (input gradient, a transposed convolution) and
K(x, G) (weight gradient). Each of the three is the others' adjoint, since
<C(x, W), G> = <x, T(G, W)> = <W, K(x, G)>, so the ops ``ConvInputGrad`` and
``ConvWeightGrad`` differentiate into one another and into ``Convolution``,
any number of times, for every stride, padding, dilation and group count.
They, and the three maps at array level, are in ``conv_grad``.

``conv1d`` runs as ``conv2d`` on a height of 1 inside the same op, so its
``grad_fn`` is PyTorch's ``ConvolutionBackward0`` too. Unbatched inputs (no N
dimension) go through ``unsqueeze(0)`` / ``squeeze(0)``, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from .conv_grad import (
    ConvInputGrad,
    ConvWeightGrad,
    _as_4d,
    _as_given,
    _conv_graph,
    _conv_input_grad,
    _conv_weight_grad,
    _Geometry,
    _weight_matrix,
    _windows,
)
from .fold import as_tuple, col2im, im2col, pad2d
from .shape import squeeze, unsqueeze


def _group_matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for stacks of one matrix per group: (g, m, k) @ (g, k, n).

    A single group goes through a 2-D product with a contiguous right operand
    (a weight, or an array that already is): for the (N*oH*oW, 9) @ (9, 16) of
    a 3x3 conv that is about twice as fast as NumPy's stacked matmul on a
    transposed view (measured single-threaded).
    """
    b = xp.ascontiguousarray(b)
    if a.shape[0] == 1:
        return (a[0] @ b[0])[None]
    return a @ b


class Convolution(Op):
    _name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride, padding, dilation, groups):
        # conv1d: a height of 1, so one code path serves both
        one_d = x.ndim == 3
        x4, w4 = (x[:, :, None, :], weight[:, :, None, :]) if one_d else (x, weight)
        out = tuple(
            (n + a + b - d * (k - 1) - 1) // s + 1
            for n, (a, b), d, k, s in zip(
                x4.shape[2:], padding, dilation, w4.shape[2:], stride
            )
        )
        geo = _Geometry(
            x4.shape, w4.shape, stride, padding, dilation, groups, out, one_d
        )
        cols = _windows(x4, geo)
        wmat = _weight_matrix(w4, geo)
        out = wmat @ cols  # (g, N, O/g, oH*oW)
        out = out.transpose(1, 0, 2, 3).reshape(x4.shape[0], w4.shape[0], *geo.out)
        if bias is not None:
            out += bias[:, None, None]

        # x and weight too, for the Tensor-level rule (double backward)
        ctx.save_for_backward(cols, wmat, x, weight)
        ctx.geometry = geo
        return _as_given(out, geo)

    @staticmethod
    def backward(ctx, grad_output):
        # y_n = W cols_n + b: dy/dW = sum_n G_n cols_n^T, dy/dx = col2im(W^T G_n),
        # dy/db = sum of G over batch and positions
        cols, wmat, _, _ = ctx.saved_tensors
        geo = ctx.geometry
        grad = _as_4d(grad_output, geo)
        grad_input = grad_weight = grad_bias = None
        if ctx._next[0] is not None:
            grad_input = _as_given(_conv_input_grad(grad, wmat, geo), geo)
        if ctx._next[1] is not None:
            grad_weight = _as_given(_conv_weight_grad(cols, grad, geo), geo)
        if len(ctx._next) > 2:
            if ctx._next[2] is not None:
                grad_bias = xp.add.reduce(grad, axis=(0, 2, 3))
            return grad_input, grad_weight, grad_bias
        return grad_input, grad_weight

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same three maps as Tensor ops: dx = T(G, W), dW = K(x, G)
        _, _, x, weight = ctx.saved_graph_tensors
        geo = ctx.geometry
        grad_input = grad_weight = grad_bias = None
        if ctx._next[0] is not None:
            grad_input = ConvInputGrad.apply(grad_output, weight, geometry=geo)
        if ctx._next[1] is not None:
            grad_weight = ConvWeightGrad.apply(x, grad_output, geometry=geo)
        if len(ctx._next) > 2:
            if ctx._next[2] is not None:
                axes = (0, 2) if geo.one_d else (0, 2, 3)
                grad_bias = grad_output.sum(axes)
            return grad_input, grad_weight, grad_bias
        return grad_input, grad_weight


class ConvolutionTranspose(Op):
    _name = "ConvolutionBackward0"

    @staticmethod
    def forward(ctx, x, weight, bias=None, *, stride, padding, dilation, groups, size):
        # x: (N, C_in, H, W); weight: (C_in, C_out/g, kH, kW); size: output (oH, oW)
        n, c, h, w = x.shape
        _, og, kh, kw = weight.shape
        g, cg = groups, c // groups
        xmat = x.reshape(n, g, cg, h, w).transpose(1, 0, 3, 4, 2)
        xmat = xmat.reshape(g, n * h * w, cg)
        wmat = weight.reshape(g, cg, og * kh * kw)
        cols = _group_matmul(xmat, wmat).reshape(g, n, h, w, og, kh, kw)
        cols = cols.transpose(1, 0, 4, 2, 3, 5, 6)  # (N, g, C_out/g, H, W, kH, kW)
        ph, pw = padding
        full = (size[0] + 2 * ph, size[1] + 2 * pw)
        out = col2im(cols, full, stride, dilation).reshape(n, g * og, *full)
        out = out[:, :, ph : ph + size[0], pw : pw + size[1]]
        out = xp.ascontiguousarray(out)
        if bias is not None:
            out += bias[:, None, None]

        ctx.save_for_backward(xmat, wmat, x, weight)
        ctx.geometry = (x.shape, weight.shape, stride, padding, dilation)
        # the convolution this one is the input gradient of, for backward_graph
        ctx.adjoint = _Geometry(
            (n, g * og, *size),
            weight.shape,
            stride,
            ((ph, ph), (pw, pw)),
            dilation,
            groups,
            (h, w),
            False,
        )
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # y = col2im(x W) + b: dy/dx = cols(G) W^T, dy/dW = x^T cols(G), dy/db = sum G
        xmat, wmat, _, _ = ctx.saved_tensors
        (n, c, h, w), wshape, stride, (ph, pw), dilation = ctx.geometry
        _, og, kh, kw = wshape
        g, cg = wmat.shape[0], wmat.shape[1]
        full = pad2d(grad_output, ((ph, ph), (pw, pw)))
        cols = im2col(full, (kh, kw), stride, dilation)[:, :, :h, :w]
        cols = cols.reshape(n, g, og, h, w, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
        cols = cols.reshape(g, n * h * w, og * kh * kw)
        grad_input = grad_weight = grad_bias = None
        if ctx._next[0] is not None:
            grad_input = _group_matmul(cols, wmat.transpose(0, 2, 1))
            grad_input = grad_input.reshape(g, n, h, w, cg)
            grad_input = grad_input.transpose(1, 0, 4, 2, 3).reshape(n, c, h, w)
        if ctx._next[1] is not None:
            grad_weight = _group_matmul(xmat.transpose(0, 2, 1), cols).reshape(wshape)
        if len(ctx._next) > 2:
            if ctx._next[2] is not None:
                grad_bias = xp.add.reduce(grad_output, axis=(0, 2, 3))
            return grad_input, grad_weight, grad_bias
        return grad_input, grad_weight

    @staticmethod
    def backward_graph(ctx, grad_output):
        # y = T(x, W) of the adjoint convolution: dx = C(G, W), dW = K(G, x)
        _, _, x, weight = ctx.saved_graph_tensors
        geo = ctx.adjoint
        grad_input = grad_weight = grad_bias = None
        if ctx._next[0] is not None:
            grad_input = _conv_graph(grad_output, weight, geo)
        if ctx._next[1] is not None:
            grad_weight = ConvWeightGrad.apply(grad_output, x, geometry=geo)
        if len(ctx._next) > 2:
            if ctx._next[2] is not None:
                grad_bias = grad_output.sum((0, 2, 3))
            return grad_input, grad_weight, grad_bias
        return grad_input, grad_weight


# ------------------------------------------------------------ public functions


def _positive(values: tuple, op: str, name: str) -> None:
    if any(v <= 0 for v in values):
        raise RuntimeError(f"{op}: non-positive {name} is not supported (got {values})")


def _conv_operands(
    op: str, nd: int, input: Tensor, weight: Tensor, bias: Tensor | None, groups: Any
) -> None:
    """The checks conv and conv_transpose share: ranks, dtypes, groups."""
    x, w = input._data, weight._data
    if x.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(
            f"{op}: expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input, "
            f"but got input of size: {list(x.shape)}"
        )
    if w.ndim != nd + 2:
        raise RuntimeError(
            f"{op}: expected a {nd + 2}-D `weight`, but got weight of size "
            f"{list(w.shape)}"
        )
    if not isinstance(groups, (int, np.integer)) or groups <= 0:
        raise RuntimeError(
            f"{op}: non-positive groups is not supported (got groups={groups!r})"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t._data.dtype != x.dtype:
            raise RuntimeError(
                f"{op}: `input` is {input.dtype.name} but `{name}` is "
                f"{t.dtype.name}; convert one (e.g. input.float() or "
                "model.double())"
            )
    if w.shape[0] % groups:
        raise RuntimeError(
            f"{op}: Given groups={groups}, expected weight to be divisible by "
            f"{groups} at dimension 0, but got weight of size {list(w.shape)} instead"
        )


def _check_bias(op: str, bias: Tensor | None, weight: Tensor, channels: int) -> None:
    if bias is not None and tuple(bias._data.shape) != (channels,):
        raise RuntimeError(
            f"{op}: Given weight of size {list(weight._data.shape)}, expected bias "
            f"to be 1-dimensional with {channels} elements, but got bias of size "
            f"{list(bias._data.shape)} instead"
        )


def _conv_padding(
    op: str, padding: Any, nd: int, kernel: tuple, stride: tuple, dilation: tuple
) -> tuple:
    """``padding`` (int, tuple, 'valid' or 'same') as ((before, after), ...)."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise RuntimeError(
                f"{op}: Invalid padding string: {padding!r}, expected 'same' or 'valid'"
            )
        if any(s != 1 for s in stride):
            raise RuntimeError(
                f"{op}: padding='same' is not supported for strided convolutions "
                f"(got stride={stride})"
            )
        # PyTorch puts the odd extra row of a 'same' pad at the end
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = as_tuple(padding, nd, op, "padding")
    if any(p < 0 for p in pads):
        raise RuntimeError(f"{op}: negative padding is not supported (got {pads})")
    return tuple((p, p) for p in pads)


def _convolution(
    op: str,
    nd: int,
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: Any,
    padding: Any,
    dilation: Any,
    groups: int,
) -> Tensor:
    _conv_operands(op, nd, input, weight, bias, groups)
    batched = input._data.ndim == nd + 2
    if not batched:
        input = unsqueeze(input, 0)
    x, w = input._data, weight._data
    if x.shape[1] != w.shape[1] * groups:
        raise RuntimeError(
            f"{op}: Given groups={groups}, weight of size {list(w.shape)}, expected "
            f"input{list(x.shape)} to have {w.shape[1] * groups} channels, but got "
            f"{x.shape[1]} channels instead"
        )
    _check_bias(op, bias, weight, w.shape[0])
    stride = as_tuple(stride, nd, op, "stride")
    dilation = as_tuple(dilation, nd, op, "dilation")
    _positive(stride, op, "stride")
    _positive(dilation, op, "dilation")
    kernel = w.shape[2:]
    pads = _conv_padding(op, padding, nd, kernel, stride, dilation)
    padded = tuple(s + a + b for s, (a, b) in zip(x.shape[2:], pads))
    effective = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if any(p < e for p, e in zip(padded, effective)):
        raise RuntimeError(
            f"{op}: Calculated padded input size per channel: "
            f"({' x '.join(map(str, padded))}). Kernel size (dilated): "
            f"({' x '.join(map(str, effective))}). Kernel size can't be greater "
            "than actual input size"
        )
    if nd == 1:
        stride, pads, dilation = (1,) + stride, ((0, 0),) + pads, (1,) + dilation
    operands = (input, weight) if bias is None else (input, weight, bias)
    out = Convolution.apply(
        *operands, stride=stride, padding=pads, dilation=dilation, groups=int(groups)
    )
    return out if batched else squeeze(out, 0)


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation over an input of channels, as ``nn.Conv1d``.

    Args:
        input: the signal, batched or not.
        weight: the filters.
        bias: one value per output channel, or None.
        stride: step between windows (int or 1-tuple).
        padding: zeros added on both sides (int or 1-tuple), or 'valid' (none)
            or 'same' (output as long as the input; stride 1 only).
        dilation: spacing between kernel taps.
        groups: split the channels into this many independent convolutions.

    Shape:
        input: (N, C_in, L) or (C_in, L); weight: (C_out, C_in / groups, k);
        bias: (C_out,); output: (N, C_out, L_out) with
        L_out = (L + 2 * padding - dilation * (k - 1) - 1) // stride + 1.
    """
    return _convolution(
        "conv1d", 1, input, weight, bias, stride, padding, dilation, groups
    )


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    dilation: Any = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation over an image of channels, as ``nn.Conv2d``.

    Args:
        input: the image, batched or not.
        weight: the filters.
        bias: one value per output channel, or None.
        stride: step between windows (int or (sH, sW)).
        padding: zeros added on each side (int or (pH, pW)), or 'valid' (none)
            or 'same' (output the size of the input; stride 1 only).
        dilation: spacing between kernel taps (int or (dH, dW)).
        groups: split the channels into this many independent convolutions.

    Shape:
        input: (N, C_in, H, W) or (C_in, H, W); weight: (C_out, C_in / groups,
        kH, kW); bias: (C_out,); output: (N, C_out, H_out, W_out) with
        H_out = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1 (W_out likewise).

    Example:
        >>> import plaingrad as torch
        >>> x = torch.ones(1, 1, 4, 4)
        >>> tuple(torch.nn.functional.conv2d(x, torch.ones(2, 1, 3, 3)).shape)
        (1, 2, 2, 2)
    """
    return _convolution(
        "conv2d", 2, input, weight, bias, stride, padding, dilation, groups
    )


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    groups: int = 1,
    dilation: Any = 1,
) -> Tensor:
    """2-D transposed convolution: the input gradient of ``conv2d``, as an op.

    Args:
        input: the image, batched or not.
        weight: the filters, input channels first.
        bias: one value per output channel, or None.
        stride: the stride of the convolution this one transposes.
        padding: the padding of that convolution (removed from the output).
        output_padding: rows and columns added at the bottom and right, to pick
            one of the input sizes that a strided conv2d maps to the same size.
        groups: independent groups of channels.
        dilation: spacing between kernel taps.

    Shape:
        input: (N, C_in, H, W) or (C_in, H, W); weight: (C_in, C_out / groups,
        kH, kW); bias: (C_out,); output: (N, C_out, H_out, W_out) with
        H_out = (H - 1) * sH - 2 * pH + dH * (kH - 1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    _conv_operands(op, 2, input, weight, bias, groups)
    batched = input._data.ndim == 4
    if not batched:
        input = unsqueeze(input, 0)
    x, w = input._data, weight._data
    if x.shape[1] != w.shape[0]:
        raise RuntimeError(
            f"{op}: Given transposed=1, weight of size {list(w.shape)}, expected "
            f"input{list(x.shape)} to have {w.shape[0]} channels, but got "
            f"{x.shape[1]} channels instead"
        )
    _check_bias(op, bias, weight, w.shape[1] * groups)
    stride = as_tuple(stride, 2, op, "stride")
    dilation = as_tuple(dilation, 2, op, "dilation")
    padding = as_tuple(padding, 2, op, "padding")
    extra = as_tuple(output_padding, 2, op, "output_padding")
    _positive(stride, op, "stride")
    _positive(dilation, op, "dilation")
    if any(p < 0 for p in padding + extra):
        raise RuntimeError(f"{op}: negative padding is not supported")
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation)):
        raise RuntimeError(
            f"{op}: output padding must be smaller than either stride or "
            f"dilation, but got output_padding={extra}, stride={stride}, "
            f"dilation={dilation}"
        )
    size = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + e + 1
        for n, s, p, d, k, e in zip(
            x.shape[2:], stride, padding, dilation, w.shape[2:], extra
        )
    )
    if any(s <= 0 for s in size):
        raise RuntimeError(
            f"{op}: Given input size per channel {tuple(x.shape[2:])}, the "
            f"calculated output size {size} is too small (padding={padding})"
        )
    operands = (input, weight) if bias is None else (input, weight, bias)
    out = ConvolutionTranspose.apply(
        *operands,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=int(groups),
        size=size,
    )
    return out if batched else squeeze(out, 0)
