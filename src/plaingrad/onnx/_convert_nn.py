"""Converters for the layers' ops: linear, convolution, normalization, pooling,
embedding and the activations that ONNX has no single operator for.

Batch norm in eval mode becomes the affine map it is (its running statistics
are constants), layer norm ONNX's LayerNormalization (a decomposition below
opset 17), GELU its formula, and adaptive average pooling the averaging
matrices plaingrad itself multiplies by, so the numbers agree closely.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops import activation as A
from ..ops import adaptive_pool as AP
from ..ops import conv as C
from ..ops import embedding as EM
from ..ops import linalg as L
from ..ops import native_norm as N
from ..ops import pooling as P
from ._convert import Ctx, converts


@converts(L.Linear)
def _linear(ctx: Ctx) -> None:
    # x: (..., in), weight: (out, in), bias: (out,)
    names = [ctx.input(i) for i in range(ctx.n_inputs())]
    if len(ctx.shape(0)) == 2:
        ctx.g.node("Gemm", names, [ctx.out()], transB=1)
        return
    weight_t = ctx.g.node("Transpose", [names[1]], perm=[1, 0])
    if len(names) == 2:
        ctx.g.node("MatMul", [names[0], weight_t], [ctx.out()])
        return
    product = ctx.g.node("MatMul", [names[0], weight_t])
    ctx.g.node("Add", [product, names[2]], [ctx.out()])


@converts(C.Convolution)
def _convolution(ctx: Ctx) -> None:
    spatial = len(ctx.shape(1)) - 2
    stride = list(ctx.options["stride"])[-spatial:]
    dilation = list(ctx.options["dilation"])[-spatial:]
    padding = list(ctx.options["padding"])[-spatial:]
    pads = [int(p[0]) for p in padding] + [int(p[1]) for p in padding]
    names = [ctx.input(i) for i in range(ctx.n_inputs())]
    ctx.g.node(
        "Conv",
        names,
        [ctx.out()],
        kernel_shape=list(ctx.shape(1)[2:]),
        strides=[int(s) for s in stride],
        dilations=[int(d) for d in dilation],
        pads=pads,
        group=int(ctx.options["groups"]),
    )


# ------------------------------------------------------------- normalization


@converts(N.NativeBatchNorm)
def _batch_norm(ctx: Ctx) -> None:
    # eval: (x - running_mean) * invstd * weight + bias, per channel (axis 1)
    if ctx.options["training"]:
        raise ctx.fail(
            "batch norm with batch statistics (track_running_stats=False) is not "
            "supported; only running statistics in eval mode"
        )
    ndim = len(ctx.shape(0))
    shape = (-1,) + (1,) * (ndim - 2)
    dtype = ctx.dtype(0)
    mean = np.asarray(ctx.options["mean"], dtype=dtype).reshape(shape)
    invstd = np.asarray(ctx.options["invstd"], dtype=dtype).reshape(shape)
    x = ctx.g.node("Sub", [ctx.input(0), ctx.g.const(mean)])
    x = ctx.g.node("Mul", [x, ctx.g.const(invstd)])
    has_weight = bool(ctx.options["has_weight"])
    params = [ctx.input(i) for i in range(1, ctx.n_inputs())]
    if has_weight:
        x = ctx.g.node(
            "Mul", [x, ctx.g.node("Reshape", [params[0], ctx.g.ints(shape)])]
        )
    if len(params) > has_weight:
        x = ctx.g.node(
            "Add", [x, ctx.g.node("Reshape", [params[-1], ctx.g.ints(shape)])]
        )
    ctx.g.node("Identity", [x], [ctx.out()])


@converts(N.NativeLayerNorm)
def _layer_norm(ctx: Ctx) -> None:
    ndim, eps = int(ctx.options["ndim"]), float(ctx.options["eps"])
    has_weight = bool(ctx.options["has_weight"])
    params = [ctx.input(i) for i in range(1, ctx.n_inputs())]
    weight = params[0] if has_weight else None
    bias = params[-1] if len(params) > has_weight else None
    if ctx.g.opset >= 17:
        if weight is None:
            ones = np.ones(ctx.shape(0)[-ndim:], dtype=ctx.dtype(0))
            weight = ctx.g.const(ones)
        inputs = [ctx.input(0), weight] + ([bias] if bias is not None else [])
        ctx.g.node("LayerNormalization", inputs, [ctx.out()], axis=-ndim, epsilon=eps)
        return
    axes = list(range(-ndim, 0))
    x = ctx.input(0)
    centred = ctx.g.node("Sub", [x, ctx.g.reduce("ReduceMean", x, axes, True)])
    square = ctx.g.node("Mul", [centred, centred])
    var = ctx.g.reduce("ReduceMean", square, axes, True)
    var = ctx.g.node("Add", [var, ctx.g.scalar(eps, ctx.dtype(0))])
    out = ctx.g.node("Div", [centred, ctx.g.node("Sqrt", [var])])
    if weight is not None:
        out = ctx.g.node("Mul", [out, weight])
    if bias is not None:
        out = ctx.g.node("Add", [out, bias])
    ctx.g.node("Identity", [out], [ctx.out()])


@converts(N.NativeGroupNorm)
def _group_norm(ctx: Ctx) -> None:
    # standardise each (sample, group) over its channels and positions, then
    # the per-channel affine map, as batch norm's
    groups, eps = int(ctx.options["num_groups"]), float(ctx.options["eps"])
    x, dtype, g = ctx.input(0), ctx.dtype(0), ctx.g
    grouped = g.node("Reshape", [x, g.ints([0, groups, -1])])  # (N, G, rest)
    centred = g.node("Sub", [grouped, g.reduce("ReduceMean", grouped, [2], True)])
    var = g.reduce("ReduceMean", g.node("Mul", [centred, centred]), [2], True)
    var = g.node("Add", [var, g.scalar(eps, dtype)])
    invstd = g.node("Reciprocal", [g.node("Sqrt", [var])])
    out = g.node("Reshape", [g.node("Mul", [centred, invstd]), g.node("Shape", [x])])
    shape = g.ints((-1,) + (1,) * (len(ctx.shape(0)) - 2))
    has_weight = bool(ctx.options["has_weight"])
    params = [ctx.input(i) for i in range(1, ctx.n_inputs())]
    if has_weight:
        out = g.node("Mul", [out, g.node("Reshape", [params[0], shape])])
    if len(params) > has_weight:
        out = g.node("Add", [out, g.node("Reshape", [params[-1], shape])])
    g.node("Identity", [out], [ctx.out()])


# ------------------------------------------------------------- pooling


def _four_d(ctx: Ctx) -> None:
    if len(ctx.shape(0)) != 4:
        raise ctx.fail(
            f"only a 4-D (N, C, H, W) input is supported, got shape {ctx.shape(0)}"
        )


@converts(P.MaxPool2D)
def _max_pool(ctx: Ctx) -> None:
    _four_d(ctx)
    h, w = ctx.shape(0)[-2:]
    o = ctx.options
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        o["kernel_size"],
        o["stride"],
        o["padding"],
        o["dilation"],
    )
    oh, ow = o["size"]
    # as plaingrad: ceil_mode's last window is padded too
    bottom = max(ph, (oh - 1) * sh + dh * (kh - 1) + 1 - ph - h)
    right = max(pw, (ow - 1) * sw + dw * (kw - 1) + 1 - pw - w)
    ctx.g.node(
        "MaxPool",
        [ctx.input(0)],
        [ctx.out(0)],
        kernel_shape=[kh, kw],
        strides=[sh, sw],
        dilations=[dh, dw],
        pads=[ph, pw, bottom, right],
    )
    ctx.gap(1, "its indices output (return_indices=True) is not exported")


@converts(P.AvgPool2D)
def _avg_pool(ctx: Ctx) -> None:
    # the window sums over explicit padding, then the counts plaingrad divides by
    _four_d(ctx)
    h, w = ctx.shape(0)[-2:]
    o = ctx.options
    (kh, kw), (sh, sw), (ph, pw) = o["kernel_size"], o["stride"], o["padding"]
    oh, ow = o["size"]
    bottom = max(ph, (oh - 1) * sh + kh - ph - h)
    right = max(pw, (ow - 1) * sw + kw - pw - w)
    divisor = np.asarray(o["divisor"], dtype=np.float64)
    uniform = bool(np.all(divisor == kh * kw))
    out = ctx.g.node(
        "AveragePool",
        [ctx.input(0)],
        [ctx.out()] if uniform else 1,
        kernel_shape=[kh, kw],
        strides=[sh, sw],
        pads=[ph, pw, bottom, right],
        count_include_pad=1,
    )
    if not uniform:
        scale = (kh * kw / divisor).astype(ctx.dtype(0))
        ctx.g.node("Mul", [out, ctx.g.const(scale)], [ctx.out()])


@converts(AP.AdaptiveAvgPool2D)
def _adaptive_avg_pool(ctx: Ctx) -> None:
    size = tuple(ctx.options["size"])
    if size == (1, 1):
        ctx.g.reduce("ReduceMean", ctx.input(0), [-2, -1], True, [ctx.out()])
        return
    spatial = {tuple(shapes[0][-2:]) for shapes in ctx.call.in_shapes.values()}
    if len(spatial) > 1:
        raise ctx.fail(f"an output size of {size} needs a fixed input height, width")
    # A_h @ x @ A_w^T, with plaingrad's own averaging matrices
    h, w = ctx.shape(0)[-2:]
    dtype = ctx.dtype(0)
    a_h = AP._averaging_matrix(h, size[0], dtype)
    a_w = AP._averaging_matrix(w, size[1], dtype)
    rows = ctx.g.node("MatMul", [ctx.g.const(a_h), ctx.input(0)])
    ctx.g.node("MatMul", [rows, ctx.g.const(np.ascontiguousarray(a_w.T))], [ctx.out()])


# ------------------------------------------------------------- embedding


@converts(EM.Embedding)
def _embedding(ctx: Ctx) -> None:
    indices = ctx.option_input("indices")
    ctx.g.node("Gather", [ctx.input(0), indices], [ctx.out()], axis=0)


# ------------------------------------------------------------- activations


@converts(A.LeakyRelu)
def _leaky_relu(ctx: Ctx) -> None:
    alpha = float(ctx.options["negative_slope"])
    ctx.g.node("LeakyRelu", [ctx.input(0)], [ctx.out()], alpha=alpha)


@converts(A.Gelu)
def _gelu(ctx: Ctx) -> None:
    x, dtype, g = ctx.input(0), ctx.dtype(0), ctx.g
    if ctx.options["approximate"] == "tanh":
        # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
        cube = g.node("Mul", [g.node("Mul", [x, x]), x])
        inner = g.node("Add", [x, g.node("Mul", [cube, g.scalar(0.044715, dtype)])])
        beta = g.scalar(math.sqrt(2.0 / math.pi), dtype)
        t = g.node("Tanh", [g.node("Mul", [inner, beta])])
        half = g.node("Mul", [x, g.scalar(0.5, dtype)])
        g.node("Mul", [half, g.node("Add", [t, g.scalar(1.0, dtype)])], [ctx.out()])
        return
    # x / 2 (1 + erf(x / sqrt 2))
    erf = g.node("Erf", [g.node("Mul", [x, g.scalar(math.sqrt(0.5), dtype)])])
    half = g.node("Mul", [x, g.scalar(0.5, dtype)])
    g.node("Mul", [half, g.node("Add", [erf, g.scalar(1.0, dtype)])], [ctx.out()])


@converts(A.Silu)
def _silu(ctx: Ctx) -> None:
    x = ctx.input(0)
    ctx.g.node("Mul", [x, ctx.g.node("Sigmoid", [x])], [ctx.out()])


@converts(A.Mish)
def _mish(ctx: Ctx) -> None:
    x = ctx.input(0)
    t = ctx.g.node("Tanh", [ctx.g.node("Softplus", [x])])
    ctx.g.node("Mul", [x, t], [ctx.out()])


@converts(A.LogSigmoid)
def _log_sigmoid(ctx: Ctx) -> None:
    # log sigma(x) = -softplus(-x)
    softplus = ctx.g.node("Softplus", [ctx.g.node("Neg", [ctx.input(0)])])
    ctx.g.node("Neg", [softplus], [ctx.out()])


@converts(A.Softplus)
def _softplus(ctx: Ctx) -> None:
    # linear above the threshold, log(1 + e^(beta x)) / beta below
    beta, threshold = ctx.options["beta"], ctx.options["threshold"]
    x, dtype, g = ctx.input(0), ctx.dtype(0), ctx.g
    scaled = g.node("Mul", [x, g.scalar(beta, dtype)])
    smooth = g.node("Div", [g.node("Softplus", [scaled]), g.scalar(beta, dtype)])
    above = g.node("Greater", [scaled, g.scalar(threshold, dtype)])
    g.node("Where", [above, x, smooth], [ctx.out()])


@converts(A.Elu)
def _elu(ctx: Ctx) -> None:
    # scale * (x if x > 0 else alpha (e^(x input_scale) - 1)): ELU, SELU, CELU
    alpha, scale, input_scale = (
        float(ctx.options[k]) for k in ("alpha", "scale", "input_scale")
    )
    x = ctx.input(0)
    if input_scale == 1.0:
        if scale == 1.0:
            ctx.g.node("Elu", [x], [ctx.out()], alpha=alpha)
        else:
            ctx.g.node("Selu", [x], [ctx.out()], alpha=alpha, gamma=scale)
    elif scale == 1.0 and math.isclose(input_scale * alpha, 1.0):
        ctx.g.node("Celu", [x], [ctx.out()], alpha=alpha)
    else:
        raise ctx.fail(f"scale {scale} with input_scale {input_scale}")


@converts(A.Hardtanh)
def _hardtanh(ctx: Ctx) -> None:
    dtype = ctx.dtype(0)
    low = ctx.g.scalar(ctx.options["min_val"], dtype)
    high = ctx.g.scalar(ctx.options["max_val"], dtype)
    ctx.g.node("Clip", [ctx.input(0), low, high], [ctx.out()])


@converts(A.Hardsigmoid)
def _hardsigmoid(ctx: Ctx) -> None:
    ctx.g.node("HardSigmoid", [ctx.input(0)], [ctx.out()], alpha=1 / 6, beta=0.5)


@converts(A.Hardswish)
def _hardswish(ctx: Ctx) -> None:
    ctx.g.node("HardSwish", [ctx.input(0)], [ctx.out()])
