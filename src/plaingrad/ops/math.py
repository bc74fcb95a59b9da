"""Elementwise math functions of one tensor: trigonometry, logs, erf, rounding.

Each op class holds its forward rule and, right under it, its backward rule.
The smooth functions take floating inputs; the public functions turn integer and
bool tensors into the default float dtype first, as PyTorch does
(``torch.sin(torch.tensor([1, 2]))`` is float32). The rounding functions
(``sign``, ``floor``, ``ceil``, ``round``, ``trunc``) keep integer dtypes, and
their gradient is zero everywhere, as in PyTorch (it is the derivative almost
everywhere; at the jumps there is none). ``erf`` and ``erfinv`` are computed in
float64 by ``_special`` and cast back to the input's dtype. The trigonometric
and hyperbolic op classes are in ``trig``; their public functions are here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap
from . import _special
from ._util import to_float
from .trig import Acos, Asin, Atan, Cos, Cosh, Sin, Sinh, Tan

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_SQRT_PI_OVER_TWO = math.sqrt(math.pi) / 2.0

# ------------------------------------------------------------- exponents and logs


class Log1p(Op):
    _name = "Log1PBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(divide="ignore", invalid="ignore"):
            return xp.log1p(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(ln(1 + a))/da = 1 / (1 + a)
        (a,) = ctx.saved_tensors
        with errstate(divide="ignore"):
            return grad_output / (1 + a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output / (1 + a)


class Expm1(Op):
    _name = "Expm1Backward0"

    @staticmethod
    def forward(ctx, a):
        with errstate(over="ignore"):
            out = xp.expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(e^a - 1)/da = e^a = out + 1
        (out,) = ctx.saved_tensors
        return grad_output * (out + 1)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * (out + 1)


class Log2(Op):
    _name = "Log2Backward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(divide="ignore", invalid="ignore"):
            return xp.log2(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(log2 a)/da = 1 / (a ln 2)
        (a,) = ctx.saved_tensors
        with errstate(divide="ignore"):
            return grad_output / (a * _LN2)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output / (a * _LN2)


class Log10(Op):
    _name = "Log10Backward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(divide="ignore", invalid="ignore"):
            return xp.log10(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(log10 a)/da = 1 / (a ln 10)
        (a,) = ctx.saved_tensors
        with errstate(divide="ignore"):
            return grad_output / (a * _LN10)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output / (a * _LN10)


class Exp2(Op):
    _name = "Exp2Backward0"

    @staticmethod
    def forward(ctx, a):
        with errstate(over="ignore"):
            out = xp.exp2(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(2^a)/da = 2^a ln 2
        (out,) = ctx.saved_tensors
        return grad_output * (out * _LN2)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * (out * _LN2)


class Rsqrt(Op):
    _name = "RsqrtBackward0"

    @staticmethod
    def forward(ctx, a):
        with errstate(divide="ignore", invalid="ignore"):
            out = 1 / xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(a^(-1/2))/da = -a^(-3/2) / 2 = -out^3 / 2
        (out,) = ctx.saved_tensors
        return grad_output * (-0.5 * out * out * out)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * (-0.5 * out * out * out)


class Reciprocal(Op):
    _name = "ReciprocalBackward0"

    @staticmethod
    def forward(ctx, a):
        with errstate(divide="ignore"):
            out = 1 / a
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(1/a)/da = -1/a^2 = -out^2
        (out,) = ctx.saved_tensors
        return grad_output * -(out * out)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * -(out * out)


# ---------------------------------------------------------------- error function


class Erf(Op):
    _name = "ErfBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _special.erf(a.astype(np.float64)).astype(a.dtype)

    @staticmethod
    def backward(ctx, grad_output):
        # d(erf a)/da = 2/sqrt(pi) exp(-a^2)
        (a,) = ctx.saved_tensors
        return grad_output * (_TWO_OVER_SQRT_PI * xp.exp(-a * a))

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output * (_TWO_OVER_SQRT_PI * (-a * a).exp())


class Erfinv(Op):
    _name = "ErfinvBackward0"

    @staticmethod
    def forward(ctx, a):
        out = _special.erfinv(a.astype(np.float64)).astype(a.dtype)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(erfinv a)/da = sqrt(pi)/2 exp(erfinv(a)^2)
        (out,) = ctx.saved_tensors
        with errstate(over="ignore"):
            return grad_output * (_SQRT_PI_OVER_TWO * xp.exp(out * out))

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * (_SQRT_PI_OVER_TWO * (out * out).exp())


# ---------------------------------------------------------------------- rounding


class _Step(Op):
    """A piecewise-constant function: its gradient is zero (PyTorch's choice)."""

    @staticmethod
    def backward(ctx, grad_output):
        # d(step a)/da = 0 wherever it exists
        return xp.zeros_like(grad_output)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return _wrap(xp.zeros_like(grad_output._data), None)


class Sign(_Step):
    _name = "SignBackward0"

    @staticmethod
    def forward(ctx, a):
        return xp.sign(a)


class Floor(_Step):
    _name = "FloorBackward0"

    @staticmethod
    def forward(ctx, a):
        return xp.floor(a)


class Ceil(_Step):
    _name = "CeilBackward0"

    @staticmethod
    def forward(ctx, a):
        return xp.ceil(a)


class Trunc(_Step):
    _name = "TruncBackward0"

    @staticmethod
    def forward(ctx, a):
        return xp.trunc(a)


class Round(_Step):
    _name = "RoundBackward0"

    @staticmethod
    def forward(ctx, a):
        # half to even, as PyTorch: round(0.5) == 0, round(1.5) == 2
        return xp.rint(a)


class RoundDecimals(_Step):
    _name = "RoundBackward1"

    @staticmethod
    def forward(ctx, a, decimals):
        # PyTorch scales by 10^|decimals| in the input's dtype, then rounds
        if decimals > 0:
            scale = 10.0**decimals
            return xp.rint(a * scale) / scale
        scale = 10.0**-decimals
        return xp.rint(a / scale) * scale


class Frac(Op):
    _name = "FracBackward0"

    @staticmethod
    def forward(ctx, a):
        return a - xp.trunc(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(a - trunc a)/da = 1
        return grad_output

    @staticmethod
    def backward_graph(ctx, grad_output):
        return grad_output


# ---------------------------------------------------------------- public functions


def _unary(op: type[Op], name: str, doc: str) -> Any:
    def function(input: Tensor) -> Tensor:
        return op.apply(to_float(input))

    function.__name__ = function.__qualname__ = name
    function.__doc__ = doc
    return function


sin = _unary(Sin, "sin", "Sine, elementwise (radians).")
cos = _unary(Cos, "cos", "Cosine, elementwise (radians).")
tan = _unary(Tan, "tan", "Tangent, elementwise (radians).")
asin = _unary(Asin, "asin", "Inverse sine: NaN outside [-1, 1].")
acos = _unary(Acos, "acos", "Inverse cosine: NaN outside [-1, 1].")
atan = _unary(Atan, "atan", "Inverse tangent, in (-pi/2, pi/2).")
sinh = _unary(Sinh, "sinh", "Hyperbolic sine, elementwise.")
cosh = _unary(Cosh, "cosh", "Hyperbolic cosine, elementwise.")
log1p = _unary(Log1p, "log1p", "``log(1 + input)``, accurate for small inputs.")
expm1 = _unary(Expm1, "expm1", "``exp(input) - 1``, accurate for small inputs.")
log2 = _unary(Log2, "log2", "Base-2 logarithm, elementwise.")
log10 = _unary(Log10, "log10", "Base-10 logarithm, elementwise.")
exp2 = _unary(Exp2, "exp2", "``2 ** input``, elementwise.")
rsqrt = _unary(Rsqrt, "rsqrt", "``1 / sqrt(input)``: inf at 0, NaN below.")
reciprocal = _unary(Reciprocal, "reciprocal", "``1 / input``, a float result.")
erf = _unary(Erf, "erf", "The error function ``2/sqrt(pi) int_0^x exp(-t^2) dt``.")
erfinv = _unary(Erfinv, "erfinv", "The inverse of ``erf``: +-inf at +-1, NaN beyond.")
arcsin, arccos, arctan = asin, acos, atan


def _no_bool(input: Tensor, op: str) -> None:
    if input._data.dtype == np.bool_:
        raise NotImplementedError(f"{op}: not implemented for bool tensors")


def sign(input: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of each element (integer and bool dtypes kept)."""
    data = input._data
    if data.dtype == np.bool_:
        return _wrap(data.copy(), None)
    if data.dtype.kind != "f":
        return _wrap(xp.sign(data), None)
    return Sign.apply(input)


def floor(input: Tensor) -> Tensor:
    """The largest integer not above each element (integer dtypes kept)."""
    _no_bool(input, "floor")
    if input._data.dtype.kind != "f":
        return _wrap(input._data.copy(), None)
    return Floor.apply(input)


def ceil(input: Tensor) -> Tensor:
    """The smallest integer not below each element (integer dtypes kept)."""
    _no_bool(input, "ceil")
    if input._data.dtype.kind != "f":
        return _wrap(input._data.copy(), None)
    return Ceil.apply(input)


def trunc(input: Tensor) -> Tensor:
    """Each element rounded toward zero (integer dtypes kept)."""
    _no_bool(input, "trunc")
    if input._data.dtype.kind != "f":
        return _wrap(input._data.copy(), None)
    return Trunc.apply(input)


fix = trunc


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Round half to even, to ``decimals`` decimal places (negative: tens, ...).

    Args:
        input: the tensor to round.
        decimals: the number of decimal places; PyTorch's default 0.

    Example:
        >>> import plaingrad as torch
        >>> torch.round(torch.tensor([0.5, 1.5, 2.5, 1.2345]))
        tensor([0., 2., 2., 1.])
        >>> torch.round(torch.tensor([1.2345]), decimals=2)
        tensor([1.2300])
    """
    _no_bool(input, "round")
    if not isinstance(decimals, (int, np.integer)) or isinstance(decimals, bool):
        raise TypeError(
            f"round: `decimals` must be an int, got {type(decimals).__name__}"
        )
    if input._data.dtype.kind != "f":
        if decimals != 0:
            raise NotImplementedError(
                f"round: `decimals` is not supported for integer tensors "
                f"(dtype {input.dtype.name}); convert to a float dtype first"
            )
        return _wrap(input._data.copy(), None)
    if decimals == 0:
        return Round.apply(input)
    return RoundDecimals.apply(input, decimals=int(decimals))


def frac(input: Tensor) -> Tensor:
    """The fractional part ``input - trunc(input)``, with the sign of ``input``."""
    if input._data.dtype.kind != "f":
        raise NotImplementedError(
            f"frac: not implemented for {input.dtype.name} tensors; it takes a "
            "floating tensor"
        )
    return Frac.apply(input)
