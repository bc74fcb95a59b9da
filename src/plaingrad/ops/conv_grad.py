"""A convolution's three bilinear maps, and the adjoint ops of double backward.

A convolution C(x, W) is bilinear, and its two gradients are the bilinear maps
T(G, W) (input gradient, a transposed convolution) and K(x, G) (weight
gradient). Each of the three is the others' adjoint, since
<C(x, W), G> = <x, T(G, W)> = <W, K(x, G)>. This module holds the three maps
at array level (``_conv``, ``_conv_input_grad``, ``_conv_weight_grad``, with
the ``_Geometry`` they share) and the ops ``ConvInputGrad`` and
``ConvWeightGrad``, which differentiate into one another and into
``Convolution``, any number of times, for every stride, padding, dilation and
group count.

They live apart from ``conv`` (the forward ops and public functions), which
uses the array maps for its own forward and backward rules.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from .fold import col2im, im2col, pad2d, unpad


class _Geometry(NamedTuple):
    """One convolution's shapes and settings, 4-D (conv1d has a height of 1).

    ``out`` is the output size: a transposed convolution's adjoint may be a
    convolution whose last windows are cut off (output_padding >= stride).
    """

    xshape: tuple  # (N, C, H, W)
    wshape: tuple  # (O, C/g, kH, kW)
    stride: tuple
    padding: tuple  # ((top, bottom), (left, right))
    dilation: tuple
    groups: int
    out: tuple  # (oH, oW)
    one_d: bool


def _windows(x: Any, geo: _Geometry) -> Any:
    """The input's windows as one matrix per group: (g, N, C/g*kH*kW, oH*oW).

    Channel-major windows, one stack per group. The copy reads the strided
    view along output columns, and the product with the weight comes out in
    NCHW order with no transpose copy.
    """
    n = x.shape[0]
    _, cg, kh, kw = geo.wshape
    oh, ow = geo.out
    cols = im2col(pad2d(x, geo.padding), (kh, kw), geo.stride, geo.dilation)
    cols = cols[:, :, :oh, :ow].reshape(n, geo.groups, cg, oh, ow, kh, kw)
    cols = cols.transpose(1, 0, 2, 5, 6, 3, 4)
    return cols.reshape(geo.groups, n, cg * kh * kw, oh * ow)


def _weight_matrix(weight: Any, geo: _Geometry) -> Any:
    o, cg, kh, kw = geo.wshape
    return weight.reshape(geo.groups, 1, o // geo.groups, cg * kh * kw)


def _grad_matrix(grad_output: Any, geo: _Geometry) -> Any:
    """(N, O, oH, oW) -> (g, N, O/g, oH*oW)."""
    n, o = grad_output.shape[:2]
    g = geo.groups
    oh, ow = geo.out  # not -1: ambiguous for an empty batch
    return grad_output.reshape(n, g, o // g, oh * ow).transpose(1, 0, 2, 3)


def _conv(x: Any, weight: Any, geo: _Geometry) -> Any:
    """The convolution C(x, W), 4-D, without bias."""
    n = x.shape[0]
    out = _weight_matrix(weight, geo) @ _windows(x, geo)  # (g, N, O/g, oH*oW)
    return out.transpose(1, 0, 2, 3).reshape(n, geo.wshape[0], *geo.out)


def _conv_input_grad(grad_output: Any, wmat: Any, geo: _Geometry) -> Any:
    """T(G, W) = dC/dx^T G, 4-D: windows of W^T G added back with col2im."""
    if geo.stride == (1, 1) and xp.isfinite(wmat).all():
        return _conv_input_grad_wide(grad_output, wmat, geo)
    n = grad_output.shape[0]
    _, c, h, w = geo.xshape
    _, cg, kh, kw = geo.wshape
    oh, ow = geo.out
    grad_cols = xp.swapaxes(wmat, -1, -2) @ _grad_matrix(grad_output, geo)
    grad_cols = grad_cols.reshape(geo.groups, n, cg, kh, kw, oh, ow)
    grad_cols = grad_cols.transpose(1, 0, 2, 5, 6, 3, 4)
    (top, bottom), (left, right) = geo.padding
    size = (h + top + bottom, w + left + right)
    grad_input = col2im(grad_cols, size, geo.stride, geo.dilation)
    return unpad(grad_input.reshape(n, c, *size), geo.padding, (h, w))


def _conv_input_grad_wide(grad_output: Any, wmat: Any, geo: _Geometry) -> Any:
    """``_conv_input_grad`` for stride 1, with rows as wide as the padded input.

    G is widened with zero columns to the padded width, so that every kernel
    offset's share of W^T G lands on one contiguous run of the flattened
    padded input: kH * kW long 1-D adds instead of N * C * oH short ones. The
    widened columns are zeros times a finite W, so what they add is zero.
    """
    n = grad_output.shape[0]
    _, c, h, w = geo.xshape
    o, cg, kh, kw = geo.wshape
    (top, bottom), (left, right) = geo.padding
    (dh, dw), g = geo.dilation, geo.groups
    oh, ow = geo.out
    size = (h + top + bottom, w + left + right)
    wide = size[1]
    gmat = xp.zeros((n, o, oh, wide), dtype=grad_output.dtype)
    gmat[..., :ow] = grad_output
    gmat = gmat.reshape(n, g, o // g, oh * wide).transpose(1, 0, 2, 3)
    # (g, N, C/g * kH * kW, oH * Wp) -> (N, g, C/g, kH, kW, oH * Wp)
    grad_cols = xp.swapaxes(wmat, -1, -2) @ gmat
    grad_cols = grad_cols.reshape(g, n, cg, kh, kw, oh * wide).swapaxes(0, 1)
    rows = max(size[0], oh + dh * (kh - 1))
    flat = xp.zeros((n, g, cg, rows * wide + dw * (kw - 1)), dtype=grad_cols.dtype)
    for i in range(kh):
        for j in range(kw):
            start = i * dh * wide + j * dw
            flat[..., start : start + oh * wide] += grad_cols[:, :, :, i, j]
    grad_input = flat[..., : size[0] * wide].reshape(n, c, *size)
    return unpad(grad_input, geo.padding, (h, w))


def _conv_weight_grad(cols: Any, grad_output: Any, geo: _Geometry) -> Any:
    """K(x, G) = dC/dW^T G, 4-D, from the windows ``cols`` of x."""
    # (cols G^T)^T, summed over the batch: the faster operand order
    gmat = _grad_matrix(grad_output, geo)
    grad_weight = (cols @ xp.swapaxes(gmat, -1, -2)).sum(axis=1)
    return xp.swapaxes(grad_weight, -1, -2).reshape(geo.wshape)


def _as_4d(a: Any, geo: _Geometry) -> Any:
    return a[:, :, None, :] if geo.one_d else a


def _as_given(a: Any, geo: _Geometry) -> Any:
    return a[:, :, 0, :] if geo.one_d else a


def _conv_graph(x: Tensor, weight: Tensor, geo: _Geometry) -> Tensor:
    """C(x, W) as a recorded op, cut to ``geo.out`` (Tensor-level rules)."""
    from .conv import Convolution

    out = Convolution.apply(
        x,
        weight,
        stride=geo.stride,
        padding=geo.padding,
        dilation=geo.dilation,
        groups=geo.groups,
    )
    oh, ow = geo.out
    if not geo.one_d and tuple(out._data.shape[2:]) != (oh, ow):
        out = out[:, :, :oh, :ow]
    return out


class ConvInputGrad(Op):
    """T(G, W): a convolution's input gradient as an op of G and W (linear in
    each), so that it can be differentiated again: its gradients are the
    convolution C(U, W) for G and the weight gradient K(U, G) for W."""

    _name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, grad, weight, *, geometry):
        geo = geometry
        ctx.save_for_backward(grad, weight)
        ctx.geometry = geo
        w4 = _as_4d(weight, geo)
        out = _conv_input_grad(_as_4d(grad, geo), _weight_matrix(w4, geo), geo)
        return xp.ascontiguousarray(_as_given(out, geo))

    @staticmethod
    def backward(ctx, grad_output):
        # <T(G, W), U> = <G, C(U, W)> = <W, K(U, G)>
        grad, weight = ctx.saved_tensors
        geo = ctx.geometry
        u = _as_4d(grad_output, geo)
        grad_grad = grad_weight = None
        if ctx._next[0] is not None:
            grad_grad = _as_given(_conv(u, _as_4d(weight, geo), geo), geo)
        if ctx._next[1] is not None:
            cols = _windows(u, geo)
            grad_weight = _as_given(
                _conv_weight_grad(cols, _as_4d(grad, geo), geo), geo
            )
        return grad_grad, grad_weight

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad, weight = ctx.saved_graph_tensors
        geo = ctx.geometry
        grad_grad = grad_weight = None
        if ctx._next[0] is not None:
            grad_grad = _conv_graph(grad_output, weight, geo)
        if ctx._next[1] is not None:
            grad_weight = ConvWeightGrad.apply(grad_output, grad, geometry=geo)
        return grad_grad, grad_weight


class ConvWeightGrad(Op):
    """K(x, G): a convolution's weight gradient as an op of x and G (linear in
    each); its gradients are T(G, U) for x and the convolution C(x, U) for G."""

    _name = "ConvolutionBackwardBackward0"

    @staticmethod
    def forward(ctx, x, grad, *, geometry):
        geo = geometry
        ctx.save_for_backward(x, grad)
        ctx.geometry = geo
        cols = _windows(_as_4d(x, geo), geo)
        return _as_given(_conv_weight_grad(cols, _as_4d(grad, geo), geo), geo)

    @staticmethod
    def backward(ctx, grad_output):
        # <K(x, G), U> = <x, T(G, U)> = <G, C(x, U)>
        x, grad = ctx.saved_tensors
        geo = ctx.geometry
        u = _as_4d(grad_output, geo)
        grad_x = grad_grad = None
        if ctx._next[0] is not None:
            wmat = _weight_matrix(u, geo)
            grad_x = _as_given(_conv_input_grad(_as_4d(grad, geo), wmat, geo), geo)
        if ctx._next[1] is not None:
            grad_grad = _as_given(_conv(_as_4d(x, geo), u, geo), geo)
        return grad_x, grad_grad

    @staticmethod
    def backward_graph(ctx, grad_output):
        x, grad = ctx.saved_graph_tensors
        geo = ctx.geometry
        grad_x = grad_grad = None
        if ctx._next[0] is not None:
            grad_x = ConvInputGrad.apply(grad, grad_output, geometry=geo)
        if ctx._next[1] is not None:
            grad_grad = _conv_graph(x, grad_output, geo)
        return grad_x, grad_grad
