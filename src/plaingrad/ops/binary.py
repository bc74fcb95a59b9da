"""Elementwise functions of two or three tensors: atan2, hypot, lerp, maximum,
minimum, fmod, remainder, masked_fill and clamp with tensor bounds.

Each op class holds its forward rule and, right under it, its backward rule.
Operands broadcast as NumPy does and their gradients are summed back to each
operand's shape (``unbroadcast``). Dtypes are promoted by PyTorch's rules
before ``Op.apply``; where PyTorch takes only tensors (``atan2``, ``hypot``,
``maximum``, ``minimum``) a Python number is refused with its ``TypeError``.
Where an op has a scalar and a tensor form PyTorch records them as different
nodes (``FmodBackward0`` for a number, ``FmodBackward1`` for a tensor), and so
does plaingrad.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype
from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap
from ._util import binary_operands, cast, to_float, unbroadcast
from .elementwise import where

_NUMBERS = (int, float, bool, np.number, np.bool_)

# --------------------------------------------------------------- smooth functions


class Atan2(Op):
    _name = "Atan2Backward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp.arctan2(a, b)

    @staticmethod
    def backward(ctx, grad_output):
        # d atan2(a, b)/da = b / (a^2 + b^2), d/db = -a / (a^2 + b^2);
        # both 0 at the origin, as PyTorch
        a, b = ctx.saved_tensors
        squares = a * a + b * b
        with errstate(divide="ignore"):
            recip = xp.where(squares == 0, 0, 1 / squares)
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = unbroadcast(grad_output * b * recip, a.shape)
        if ctx._next[1] is not None:
            grad_b = unbroadcast(grad_output * -a * recip, b.shape)
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b = ctx.saved_graph_tensors
        squares = a * a + b * b
        recip = where(squares == 0, 0, 1 / squares)
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = (grad_output * b * recip).sum_to_size(a.shape)
        if ctx._next[1] is not None:
            grad_b = (grad_output * -a * recip).sum_to_size(b.shape)
        return grad_a, grad_b


class Hypot(Op):
    _name = "HypotBackward0"

    @staticmethod
    def forward(ctx, a, b):
        out = xp.hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d sqrt(a^2 + b^2)/da = a / out, d/db = b / out (NaN at the origin)
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        with errstate(invalid="ignore"):
            if ctx._next[0] is not None:
                grad_a = unbroadcast(grad_output * a / out, a.shape)
            if ctx._next[1] is not None:
                grad_b = unbroadcast(grad_output * b / out, b.shape)
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b, out = ctx.saved_graph_tensors
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = (grad_output * a / out).sum_to_size(a.shape)
        if ctx._next[1] is not None:
            grad_b = (grad_output * b / out).sum_to_size(b.shape)
        return grad_a, grad_b


def _lerp(start: Any, end: Any, weight: Any) -> Any:
    # PyTorch's two-sided form: exact at weight 0 and at weight 1
    diff = end - start
    return xp.where(
        xp.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight)
    )


class LerpScalar(Op):
    _name = "LerpBackward0"

    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.shapes = (start.shape, end.shape)
        ctx.weight = weight
        return _lerp(start, end, xp.asarray(weight, dtype=start.dtype))

    @staticmethod
    def backward(ctx, grad_output):
        # d(s + w (e - s))/ds = 1 - w, d/de = w
        shape_s, shape_e = ctx.shapes
        w = ctx.weight
        return (
            unbroadcast(grad_output * (1 - w), shape_s),
            unbroadcast(grad_output * w, shape_e),
        )

    @staticmethod
    def backward_graph(ctx, grad_output):
        shape_s, shape_e = ctx.shapes
        w = ctx.weight
        return (
            (grad_output * (1 - w)).sum_to_size(shape_s),
            (grad_output * w).sum_to_size(shape_e),
        )


class Lerp(Op):
    _name = "LerpBackward1"

    @staticmethod
    def forward(ctx, start, end, weight):
        ctx.save_for_backward(start, end, weight)
        return _lerp(start, end, weight)

    @staticmethod
    def backward(ctx, grad_output):
        # d(s + w (e - s))/ds = 1 - w, d/de = w, d/dw = e - s
        start, end, weight = ctx.saved_tensors
        grads = [None, None, None]
        if ctx._next[0] is not None:
            grads[0] = unbroadcast(grad_output * (1 - weight), start.shape)
        if ctx._next[1] is not None:
            grads[1] = unbroadcast(grad_output * weight, end.shape)
        if ctx._next[2] is not None:
            grads[2] = unbroadcast(grad_output * (end - start), weight.shape)
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx, grad_output):
        start, end, weight = ctx.saved_graph_tensors
        grads = [None, None, None]
        if ctx._next[0] is not None:
            grads[0] = (grad_output * (1 - weight)).sum_to_size(start.shape)
        if ctx._next[1] is not None:
            grads[1] = (grad_output * weight).sum_to_size(end.shape)
        if ctx._next[2] is not None:
            grads[2] = (grad_output * (end - start)).sum_to_size(weight.shape)
        return tuple(grads)


# ------------------------------------------------------------ maximum / minimum


def _select_grads(ctx, grad_output, a_loses, b_loses):
    # The winner takes the gradient, a tie splits it in half, and NaN (neither
    # wins nor loses) passes it to both, as PyTorch.
    a, b = ctx.saved_tensors
    share = xp.where(a == b, grad_output / 2, grad_output)
    zero = xp.zeros((), dtype=grad_output.dtype)
    grad_a = grad_b = None
    if ctx._next[0] is not None:
        grad_a = unbroadcast(xp.where(a_loses, zero, share), a.shape)
    if ctx._next[1] is not None:
        grad_b = unbroadcast(xp.where(b_loses, zero, share), b.shape)
    return grad_a, grad_b


def _select_grads_graph(ctx, grad_output, a_loses, b_loses):
    # ``_select_grads`` on Tensors (create_graph); the masks are constants
    a, b = ctx.saved_tensors
    share = where(_wrap(a == b, None), grad_output / 2, grad_output)
    grad_a = grad_b = None
    if ctx._next[0] is not None:
        grad_a = where(_wrap(a_loses, None), 0, share).sum_to_size(a.shape)
    if ctx._next[1] is not None:
        grad_b = where(_wrap(b_loses, None), 0, share).sum_to_size(b.shape)
    return grad_a, grad_b


class Maximum(Op):
    _name = "MaximumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp.maximum(a, b)

    @staticmethod
    def backward(ctx, grad_output):
        # d max(a, b)/da = 1 where a > b, 1/2 where a == b, else 0
        a, b = ctx.saved_tensors
        return _select_grads(ctx, grad_output, a < b, a > b)

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b = ctx.saved_tensors
        return _select_grads_graph(ctx, grad_output, a < b, a > b)


class Minimum(Op):
    _name = "MinimumBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad_output):
        # d min(a, b)/da = 1 where a < b, 1/2 where a == b, else 0
        a, b = ctx.saved_tensors
        return _select_grads(ctx, grad_output, a > b, a < b)

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b = ctx.saved_tensors
        return _select_grads_graph(ctx, grad_output, a > b, a < b)


# --------------------------------------------------------------- fmod / remainder


class FmodScalar(Op):
    _name = "FmodBackward0"
    _fn = staticmethod(xp.fmod)

    @classmethod
    def forward(cls, ctx, a, other):
        with errstate(invalid="ignore"):
            return cls._fn(a, other)

    @staticmethod
    def backward(ctx, grad_output):
        # a - b round(a/b) with a number b: d/da = 1
        return grad_output

    @staticmethod
    def backward_graph(ctx, grad_output):
        return grad_output


class RemainderScalar(FmodScalar):
    _name = "RemainderBackward0"
    _fn = staticmethod(xp.remainder)


class Fmod(Op):
    _name = "FmodBackward1"
    _fn = staticmethod(xp.fmod)
    _round = staticmethod(xp.trunc)

    @classmethod
    def forward(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        with errstate(invalid="ignore"):
            return cls._fn(a, b)

    @classmethod
    def backward(cls, ctx, grad_output):
        # a - b round(a/b): d/da = 1, d/db = -round(a/b); fmod rounds toward
        # zero (trunc), remainder down (floor)
        a, b = ctx.saved_tensors
        grad_b = None
        if ctx._next[1] is not None:
            with errstate(divide="ignore", invalid="ignore"):
                quotient = cls._round(a / b)
            grad_b = unbroadcast(-grad_output * quotient, b.shape)
        return unbroadcast(grad_output, a.shape), grad_b

    @classmethod
    def backward_graph(cls, ctx, grad_output):
        a, b = ctx.saved_tensors
        grad_b = None
        if ctx._next[1] is not None:
            with errstate(divide="ignore", invalid="ignore"):
                quotient = _wrap(cls._round(a / b), None)
            grad_b = (-grad_output * quotient).sum_to_size(b.shape)
        return grad_output.sum_to_size(a.shape), grad_b


class Remainder(Fmod):
    _name = "RemainderBackward1"
    _fn = staticmethod(xp.remainder)
    _round = staticmethod(xp.floor)


# ------------------------------------------------------- masked_fill and clamp


class MaskedFill(Op):
    _name = "MaskedFillBackward0"

    @staticmethod
    def forward(ctx, a, mask, value):
        ctx.save_for_backward(mask)
        ctx.shape = a.shape
        return xp.where(mask, xp.asarray(value).astype(a.dtype), a)

    @staticmethod
    def backward(ctx, grad_output):
        # the filled places no longer depend on the input
        (mask,) = ctx.saved_tensors
        zero = xp.zeros((), dtype=grad_output.dtype)
        return unbroadcast(xp.where(mask, zero, grad_output), ctx.shape), None

    @staticmethod
    def backward_graph(ctx, grad_output):
        mask = _wrap(ctx.saved_tensors[0], None)
        return where(mask, 0, grad_output).sum_to_size(ctx.shape), None


class MaskedFillTensor(Op):
    _name = "MaskedFillBackward1"

    @staticmethod
    def forward(ctx, a, mask, value):
        ctx.save_for_backward(mask)
        ctx.shape = a.shape
        return xp.where(mask, value.astype(a.dtype), a)

    @staticmethod
    def backward(ctx, grad_output):
        # the input keeps the unfilled places; the value gets the sum of the rest
        (mask,) = ctx.saved_tensors
        zero = xp.zeros((), dtype=grad_output.dtype)
        grad_a = grad_value = None
        if ctx._next[0] is not None:
            grad_a = unbroadcast(xp.where(mask, zero, grad_output), ctx.shape)
        if ctx._next[2] is not None:
            grad_value = xp.where(mask, grad_output, zero).sum()
        return grad_a, None, grad_value

    @staticmethod
    def backward_graph(ctx, grad_output):
        mask = _wrap(ctx.saved_tensors[0], None)
        grad_a = grad_value = None
        if ctx._next[0] is not None:
            grad_a = where(mask, 0, grad_output).sum_to_size(ctx.shape)
        if ctx._next[2] is not None:
            grad_value = where(mask, grad_output, 0).sum()
        return grad_a, None, grad_value


class ClampTensor(Op):
    _name = "ClampBackward0"

    @staticmethod
    def forward(ctx, a, *bounds, has_min, has_max):
        ctx.save_for_backward(a, *bounds)
        ctx.has = (has_min, has_max)
        low = bounds[0] if has_min else None
        high = bounds[-1] if has_max else None
        out = a if low is None else xp.maximum(a, low)
        return out if high is None else xp.minimum(out, high)

    @staticmethod
    def backward(ctx, grad_output):
        # d clamp/da = 1 inside [min, max] (bounds included); d/dmin = 1 where
        # a < min (and min < max); d/dmax = 1 where a > max (or max < min)
        a, *bounds = ctx.saved_tensors
        has_min, has_max = ctx.has
        low = bounds[0] if has_min else None
        high = bounds[-1] if has_max else None
        zero = xp.zeros((), dtype=grad_output.dtype)
        if low is not None and high is not None:
            masks = [
                (a >= low) & (a <= high),
                (a < low) & (low < high),
                (a > high) | (high < low),
            ]
        elif low is not None:
            masks = [a >= low, a < low]
        else:
            masks = [a <= high, a > high]
        inputs = [a, *bounds]
        return tuple(
            None
            if edge is None
            else unbroadcast(xp.where(mask, grad_output, zero), x.shape)
            for edge, mask, x in zip(ctx._next, masks, inputs)
        )

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, *bounds = ctx.saved_tensors
        has_min, has_max = ctx.has
        low = bounds[0] if has_min else None
        high = bounds[-1] if has_max else None
        if low is not None and high is not None:
            masks = [
                (a >= low) & (a <= high),
                (a < low) & (low < high),
                (a > high) | (high < low),
            ]
        elif low is not None:
            masks = [a >= low, a < low]
        else:
            masks = [a <= high, a > high]
        inputs = [a, *bounds]
        return tuple(
            None
            if edge is None
            else where(_wrap(mask, None), grad_output, 0).sum_to_size(x.shape)
            for edge, mask, x in zip(ctx._next, masks, inputs)
        )


# ---------------------------------------------------------------- public functions


def _tensors_only(input: Any, other: Any, op: str) -> None:
    for name, value in (("input", input), ("other", other)):
        if not isinstance(value, Tensor):
            raise TypeError(
                f"{op}(): argument `{name}` must be Tensor, not {type(value).__name__}"
            )


def _floating_only(t: Tensor, op: str) -> None:
    if t._data.dtype.kind != "f":
        raise NotImplementedError(
            f"{op}: not implemented for {t.dtype.name} tensors; it takes floating "
            "tensors"
        )


def atan2(input: Tensor, other: Tensor) -> Tensor:
    """The angle of the point ``(other, input)``, in ``(-pi, pi]``, broadcasting.

    Integer tensors become the default float dtype.
    """
    _tensors_only(input, other, "atan2")
    a, b = binary_operands(input, other, "atan2")
    return Atan2.apply(to_float(a), to_float(b))


arctan2 = atan2


def hypot(input: Tensor, other: Tensor) -> Tensor:
    """``sqrt(input^2 + other^2)`` without overflow, broadcasting (floats only)."""
    _tensors_only(input, other, "hypot")
    a, b = binary_operands(input, other, "hypot")
    _floating_only(a, "hypot")
    return Hypot.apply(a, b)


def lerp(input: Tensor, end: Tensor, weight: Any) -> Tensor:
    """``input + weight * (end - input)``, broadcasting.

    Args:
        input: the start points (a floating tensor).
        end: the end points, of the same dtype as ``input``.
        weight: a number, or a tensor of the same dtype.
    """
    _tensors_only(input, end, "lerp")
    _floating_only(input, "lerp")
    for name, t in (("end", end), ("weight", weight)):
        if isinstance(t, Tensor) and t._data.dtype != input._data.dtype:
            raise RuntimeError(
                f"lerp: expected dtype {input.dtype.name} for `{name}` but got "
                f"dtype {t.dtype.name}"
            )
    if isinstance(weight, Tensor):
        return Lerp.apply(input, end, weight)
    if not isinstance(weight, _NUMBERS):
        raise TypeError(
            f"lerp: `weight` must be a number or a Tensor, got {type(weight).__name__}"
        )
    return LerpScalar.apply(input, end, weight=float(weight))


def maximum(input: Tensor, other: Tensor) -> Tensor:
    """The elementwise maximum, broadcasting; NaN wins, as in PyTorch."""
    _tensors_only(input, other, "maximum")
    a, b = binary_operands(input, other, "maximum")
    return Maximum.apply(a, b)


def minimum(input: Tensor, other: Tensor) -> Tensor:
    """The elementwise minimum, broadcasting; NaN wins, as in PyTorch."""
    _tensors_only(input, other, "minimum")
    a, b = binary_operands(input, other, "minimum")
    return Minimum.apply(a, b)


def _check_integer_divisor(b: Tensor, op: str) -> None:
    if b._data.dtype.kind in "iub" and (b._data == 0).any():
        raise RuntimeError(f"{op}: ZeroDivisionError (an integer `other` is zero)")


def fmod(input: Tensor, other: Any) -> Tensor:
    """C's ``fmod``: the remainder of ``input / other`` with the sign of ``input``."""
    if not isinstance(input, Tensor):
        raise TypeError(
            f"fmod(): argument `input` must be Tensor, not {type(input).__name__}"
        )
    a, b = binary_operands(input, other, "fmod")
    _check_integer_divisor(b, "fmod")
    if not isinstance(other, Tensor):
        return FmodScalar.apply(a, other=b._data)
    return Fmod.apply(a, b)


def remainder(input: Any, other: Any) -> Tensor:
    """Python's ``%``: the remainder with the sign of the divisor, broadcasting."""
    a, b = binary_operands(input, other, "remainder")
    _check_integer_divisor(b, "remainder")
    if not isinstance(other, Tensor):
        return RemainderScalar.apply(a, other=b._data)
    return Remainder.apply(a, b)


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``input`` with ``value`` written where ``mask`` is True.

    Args:
        input: the tensor to fill.
        mask: a bool tensor that broadcasts with ``input``.
        value: a number or a 0-d tensor, cast to ``input``'s dtype.

    Returns:
        A new tensor of the broadcast shape of ``input`` and ``mask``.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([1.0, -2.0, 3.0])
        >>> x.masked_fill(x < 0, 0.0)
        tensor([1., 0., 3.])
    """
    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        given = mask.dtype.name if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(
            f"masked_fill: only boolean masks are supported, but got `mask` of {given}"
        )
    try:
        xp.broadcast_shapes(input._data.shape, mask._data.shape)
    except ValueError:
        raise RuntimeError(
            f"masked_fill: `mask` of shape {tuple(mask.shape)} does not broadcast "
            f"with `input` of shape {tuple(input.shape)}"
        ) from None
    if isinstance(value, Tensor):
        if value._data.ndim != 0:
            raise RuntimeError(
                "masked_fill: only a 0-dimensional `value` tensor is supported, but "
                f"got a tensor with {value._data.ndim} dimension(s)"
            )
        return MaskedFillTensor.apply(input, mask, value)
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (int, float, bool)):
        raise TypeError(
            f"masked_fill: `value` must be a number or a 0-d Tensor, got "
            f"{type(value).__name__}"
        )
    return MaskedFill.apply(input, mask, value=value)


def clamp_tensor(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """``clamp`` with tensor bounds (either may be None), broadcasting."""
    bounds = []
    for bound in (min, max):
        if bound is None:
            continue
        if not isinstance(bound, Tensor):
            bound = _wrap(xp.asarray(bound), None)
        bounds.append(bound)
    operands = [input, *bounds]
    target = _dtype.result_np(
        [t._data.dtype for t in operands if t._data.ndim],
        [t._data.dtype for t in operands if not t._data.ndim],
        [],
    )
    operands = [cast(t, target) for t in operands]
    return ClampTensor.apply(
        *operands, has_min=min is not None, has_max=max is not None
    )
