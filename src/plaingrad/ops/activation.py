"""Activation functions: the smooth and piecewise-linear nonlinearities of nn.

Each op class holds its forward rule and, right under it, its backward rule.
The derivatives at the kinks are PyTorch's: ``elu`` takes its negative branch
at 0 (slope ``alpha * scale``), ``leaky_relu`` takes ``negative_slope`` at 0,
``hardtanh`` and ``relu6`` pass no gradient at their bounds (unlike ``clamp``,
which does), ``hardsigmoid`` none at +-3, ``hardswish`` none at -3 and slope 1
at 3. ``softsign`` and ``tanhshrink`` are compositions of other ops in PyTorch
(their ``grad_fn`` is ``DivBackward0`` and ``SubBackward0``), and here too.

Like PyTorch, the smooth activations refuse integer tensors; ``hardtanh`` and
``relu6`` keep them. Every function takes ``inplace=`` where PyTorch's does: the
result is then written back into ``input``, as the ``_``-suffixed methods do.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor
from . import _special
from .elementwise import abs, add, div, sub, tanh, where
from .masked_grad import (
    HardsigmoidBackward,
    HardtanhBackward,
    LeakyReluBackward,
    masked_grad,
)

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_BETA = math.sqrt(2.0 / math.pi)
_TANH_KAPPA = 0.044715
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
# NOTE: PyTorch's hardsigmoid backward multiplies by 1/6 rounded to float32,
# in every dtype; plaingrad follows it, so float64 gradients agree exactly.
_ONE_SIXTH_F32 = float(np.float32(1.0) / np.float32(6.0))


def _sigmoid(a: Any) -> Any:
    # exp(-|a|) never overflows; each branch keeps full relative precision
    e = xp.exp(-xp.abs(a))
    return xp.where(a >= 0, 1, e) / (1 + e)


def _softplus(a: Any) -> Any:
    # log(1 + e^a) without overflow
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))


# ------------------------------------------------------------- smooth functions


class LogSigmoid(Op):
    _name = "LogSigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.minimum(a, 0) - xp.log1p(xp.exp(-xp.abs(a)))

    @staticmethod
    def backward(ctx, grad_output):
        # d(log sigma(a))/da = 1 - sigma(a) = sigma(-a)
        (a,) = ctx.saved_tensors
        return grad_output * _sigmoid(-a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output * (-a).sigmoid()


class Softplus(Op):
    _name = "SoftplusBackward0"

    @staticmethod
    def forward(ctx, a, beta, threshold):
        ctx.save_for_backward(a)
        ctx.options = (beta, threshold)
        scaled = a * beta
        # PyTorch's formula as written: above the threshold it is linear
        with errstate(over="ignore", divide="ignore", invalid="ignore"):
            return xp.where(scaled > threshold, a, xp.log1p(xp.exp(scaled)) / beta)

    @staticmethod
    def backward(ctx, grad_output):
        # d(log(1 + e^(beta a)) / beta)/da = z / (z + 1), z = e^(beta a)
        (a,) = ctx.saved_tensors
        beta, threshold = ctx.options
        scaled = a * beta
        with errstate(over="ignore", invalid="ignore"):
            z = xp.exp(scaled)
            return xp.where(scaled > threshold, grad_output, grad_output * z / (z + 1))

    @staticmethod
    def backward_graph(ctx, grad_output):
        # z / (z + 1) = sigmoid(beta a), which never overflows
        # at beta a == threshold the slope is sigmoid(threshold) but, as in
        # PyTorch, its own derivative is 0 (the linear side): a is detached there
        (a,) = ctx.saved_graph_tensors
        beta, threshold = ctx.options
        scaled = a * beta
        linear = scaled > threshold
        smooth = where(scaled < threshold, scaled, scaled.detach())
        return where(linear, grad_output, grad_output * smooth.sigmoid())


class Silu(Op):
    _name = "SiluBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * _sigmoid(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(a sigma(a))/da = sigma(a) (1 + a (1 - sigma(a)))
        (a,) = ctx.saved_tensors
        s = _sigmoid(a)
        return grad_output * (s * (1 + a * (1 - s)))

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        s = a.sigmoid()
        return grad_output * (s * (1 + a * (1 - s)))


class Gelu(Op):
    _name = "GeluBackward0"

    @staticmethod
    def forward(ctx, a, approximate):
        ctx.save_for_backward(a)
        ctx.approximate = approximate
        if approximate == "tanh":
            inner = _TANH_BETA * (a + _TANH_KAPPA * a * a * a)
            return 0.5 * a * (1 + xp.tanh(inner))
        erf = _special.erf(a.astype(np.float64) * _SQRT_HALF).astype(a.dtype)
        return a * 0.5 * (1 + erf)

    @staticmethod
    def backward(ctx, grad_output):
        # exact: d(a Phi(a))/da = Phi(a) + a phi(a); tanh form: product rule
        (a,) = ctx.saved_tensors
        if ctx.approximate == "tanh":
            t = xp.tanh(_TANH_BETA * (a + _TANH_KAPPA * a * a * a))
            d_inner = _TANH_BETA * (1 + 3 * _TANH_KAPPA * a * a)
            return grad_output * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * d_inner)
        erf = _special.erf(a.astype(np.float64) * _SQRT_HALF).astype(a.dtype)
        cdf = 0.5 * (1 + erf)
        pdf = _INV_SQRT_2PI * xp.exp(-0.5 * a * a)
        return grad_output * (cdf + a * pdf)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        if ctx.approximate == "tanh":
            t = tanh(_TANH_BETA * (a + _TANH_KAPPA * a * a * a))
            d_inner = _TANH_BETA * (1 + 3 * _TANH_KAPPA * a * a)
            return grad_output * (0.5 * (1 + t) + 0.5 * a * (1 - t * t) * d_inner)
        cdf = 0.5 * (1 + (a * _SQRT_HALF).erf())
        pdf = _INV_SQRT_2PI * (-0.5 * a * a).exp()
        return grad_output * (cdf + a * pdf)


class Elu(Op):
    _name = "EluBackward0"

    @staticmethod
    def forward(ctx, a, alpha, scale, input_scale):
        ctx.save_for_backward(a)
        ctx.options = (alpha, scale, input_scale)
        negative = xp.expm1(xp.minimum(a, 0) * input_scale) * (alpha * scale)
        return xp.where(a > 0, a * scale, negative)

    @staticmethod
    def backward(ctx, grad_output):
        # d/da = scale for a > 0, else alpha scale input_scale e^(a input_scale)
        # (the negative branch at a == 0, as PyTorch)
        (a,) = ctx.saved_tensors
        alpha, scale, input_scale = ctx.options
        slope = (alpha * scale * input_scale) * xp.exp(xp.minimum(a, 0) * input_scale)
        return grad_output * xp.where(a > 0, scale, slope)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # at a == 0 the slope is the negative branch's but, as in PyTorch, its
        # own derivative is 0 (the a > 0 side): only a < 0 reaches the exp
        (a,) = ctx.saved_graph_tensors
        alpha, scale, input_scale = ctx.options
        negative = where(a < 0, a, 0.0)
        slope = (alpha * scale * input_scale) * (negative * input_scale).exp()
        return where(a > 0, grad_output * scale, grad_output * slope)


class Celu(Elu):
    _name = "CeluBackward0"


class Mish(Op):
    _name = "MishBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * xp.tanh(_softplus(a))

    @staticmethod
    def backward(ctx, grad_output):
        # d(a tanh(softplus a))/da = t + a sigma(a) (1 - t^2), t = tanh(softplus a)
        (a,) = ctx.saved_tensors
        t = xp.tanh(_softplus(a))
        return grad_output * (t + a * _sigmoid(a) * (1 - t * t))

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        t = tanh(softplus(a))
        return grad_output * (t + a * a.sigmoid() * (1 - t * t))


# --------------------------------------------------------------- piecewise linear


class LeakyRelu(Op):
    _name = "LeakyReluBackward0"

    @staticmethod
    def forward(ctx, a, negative_slope):
        ctx.save_for_backward(a)
        ctx.negative_slope = negative_slope
        return xp.where(a > 0, a, a * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        # d/da = 1 for a > 0, else negative_slope (also at 0)
        (a,) = ctx.saved_tensors
        slope = ctx.negative_slope
        return xp.where(a > 0, grad_output, grad_output * slope)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return masked_grad(
            grad_output, a, a._data > 0, slope=ctx.negative_slope, op=LeakyReluBackward
        )


class Hardtanh(Op):
    _name = "HardtanhBackward0"

    @staticmethod
    def forward(ctx, a, min_val, max_val):
        ctx.save_for_backward(a)
        ctx.bounds = (min_val, max_val)
        return xp.clip(a, min_val, max_val).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad_output):
        # d/da = 1 strictly inside (min_val, max_val), 0 at the bounds and outside
        (a,) = ctx.saved_tensors
        low, high = ctx.bounds
        zero = xp.zeros((), dtype=grad_output.dtype)
        return xp.where((a <= low) | (a >= high), zero, grad_output)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        low, high = ctx.bounds
        outside = (a._data <= low) | (a._data >= high)
        return masked_grad(grad_output, a, ~outside, op=HardtanhBackward)


class Hardsigmoid(Op):
    _name = "HardsigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.minimum(xp.maximum(a + 3, 0), 6) / 6

    @staticmethod
    def backward(ctx, grad_output):
        # d(relu6(a + 3) / 6)/da = 1/6 strictly inside (-3, 3), else 0
        (a,) = ctx.saved_tensors
        zero = xp.zeros((), dtype=grad_output.dtype)
        return xp.where((a > -3) & (a < 3), grad_output * _ONE_SIXTH_F32, zero)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # NOTE: PyTorch records this with ``a`` as an input but has no rule
        # for its derivative (its double backward raises); here it is zero.
        (a,) = ctx.saved_graph_tensors
        inside = (a._data > -3) & (a._data < 3)
        return masked_grad(
            grad_output, a, inside, scale=_ONE_SIXTH_F32, op=HardsigmoidBackward
        )


class Hardswish(Op):
    _name = "HardswishBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * xp.minimum(xp.maximum(a + 3, 0), 6) / 6

    @staticmethod
    def backward(ctx, grad_output):
        # d(a relu6(a + 3) / 6)/da = 0 for a <= -3, a/3 + 1/2 below 3, else 1
        (a,) = ctx.saved_tensors
        zero = xp.zeros((), dtype=grad_output.dtype)
        middle = grad_output * (a / 3 + 0.5)
        return xp.where(a <= -3, zero, xp.where(a < 3, middle, grad_output))

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        middle = grad_output * (a / 3 + 0.5)
        return where(a <= -3, 0, where(a < 3, middle, grad_output))


# ---------------------------------------------------------------- public functions


def _floating(input: Tensor, op: str) -> None:
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            f"{op}: not implemented for {input.dtype.name} tensors; it takes a "
            "floating tensor"
        )


def _result(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """``out``, or ``input`` overwritten with it when ``inplace``."""
    if not inplace:
        return out
    from .inplace import write_result_

    return write_result_(input, out)


def logsigmoid(input: Tensor) -> Tensor:
    """``log(sigmoid(input))``, computed without overflow."""
    _floating(input, "logsigmoid")
    return LogSigmoid.apply(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + exp(beta * input)) / beta``; linear where ``beta * input > threshold``.

    Args:
        input: a floating tensor.
        beta: the sharpness (PyTorch's default 1).
        threshold: above ``beta * input > threshold`` the result is ``input``
            (default 20).
    """
    _floating(input, "softplus")
    return Softplus.apply(input, beta=beta, threshold=threshold)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``input * sigmoid(input)`` (also called swish)."""
    _floating(input, "silu")
    return _result(input, Silu.apply(input), inplace)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``input * Phi(input)``, Phi the standard normal CDF.

    Args:
        input: a floating tensor.
        approximate: ``'none'`` (the default) for the exact form through
            ``erf``, or ``'tanh'`` for ``0.5 x (1 + tanh(sqrt(2/pi) (x +
            0.044715 x^3)))``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.functional.gelu(torch.tensor([-1.0, 0.0, 1.0]))
        tensor([-0.1587,  0.0000,  0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise RuntimeError(
            f"gelu: `approximate` must be 'none' or 'tanh', got {approximate!r}"
        )
    _floating(input, "gelu")
    return Gelu.apply(input, approximate=approximate)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``input`` where positive, else ``alpha * (exp(input) - 1)``."""
    _floating(input, "elu")
    out = Elu.apply(input, alpha=alpha, scale=1.0, input_scale=1.0)
    return _result(input, out, inplace)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * elu(input, alpha)`` with the self-normalising constants."""
    _floating(input, "selu")
    out = Elu.apply(input, alpha=_SELU_ALPHA, scale=_SELU_SCALE, input_scale=1.0)
    return _result(input, out, inplace)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``."""
    if alpha == 0:
        raise RuntimeError("celu: ZeroDivisionError: `alpha` cannot be 0 for CELU")
    _floating(input, "celu")
    out = Celu.apply(input, alpha=alpha, scale=1.0, input_scale=1.0 / alpha)
    return _result(input, out, inplace)


def leaky_relu(
    input: Tensor, negative_slope: float = 0.01, inplace: bool = False
) -> Tensor:
    """``input`` where positive, else ``negative_slope * input``."""
    _floating(input, "leaky_relu")
    out = LeakyRelu.apply(input, negative_slope=negative_slope)
    return _result(input, out, inplace)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """``input`` clipped to ``[min_val, max_val]``; no gradient at the bounds."""
    if min_val > max_val:
        raise ValueError(
            f"hardtanh: `min_val` ({min_val}) cannot be greater than `max_val` "
            f"({max_val})"
        )
    out = Hardtanh.apply(input, min_val=min_val, max_val=max_val)
    return _result(input, out, inplace)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(input, 0), 6)``: ``hardtanh(input, 0, 6)``, as in PyTorch."""
    return hardtanh(input, 0.0, 6.0, inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(input + 3) / 6``, a piecewise-linear sigmoid."""
    _floating(input, "hardsigmoid")
    return _result(input, Hardsigmoid.apply(input), inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``input * relu6(input + 3) / 6``."""
    _floating(input, "hardswish")
    return _result(input, Hardswish.apply(input), inplace)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``input * tanh(softplus(input))``."""
    _floating(input, "mish")
    return _result(input, Mish.apply(input), inplace)


def softsign(input: Tensor) -> Tensor:
    """``input / (1 + |input|)``."""
    return div(input, add(abs(input), 1))


def tanhshrink(input: Tensor) -> Tensor:
    """``input - tanh(input)``."""
    return sub(input, tanh(input))


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return elu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    return selu(input, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    return celu(input, alpha, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return leaky_relu(input, negative_slope, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return hardtanh(input, min_val, max_val, inplace=True)
