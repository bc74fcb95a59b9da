"""Elementwise ops: arithmetic, math functions, activations and comparisons.

Each op class holds its forward rule and, right under it, its backward rule.
Binary ops broadcast as NumPy does; their backward rules sum each gradient back
to its operand's shape (``unbroadcast``). The public functions at the bottom
convert Python scalars and promote dtypes before calling ``Op.apply``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtype
from ..autograd.node import Op, _broadcast_error, observed
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap
from ._util import binary_operands, cast, to_float, unbroadcast
from .masked_grad import ThresholdBackward, masked_grad

# ------------------------------------------------------------------ arithmetic


class Add(Op):
    _name = "AddBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, grad_output):
        # d(a+b)/da = 1, d(a+b)/db = 1
        shape_a, shape_b = ctx.shapes
        return unbroadcast(grad_output, shape_a), unbroadcast(grad_output, shape_b)

    @staticmethod
    def backward_graph(ctx, grad_output):
        shape_a, shape_b = ctx.shapes
        return grad_output.sum_to_size(shape_a), grad_output.sum_to_size(shape_b)


class Sub(Op):
    _name = "SubBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad_output):
        # d(a-b)/da = 1, d(a-b)/db = -1
        shape_a, shape_b = ctx.shapes
        grad_b = None
        if ctx._next[1] is not None:
            grad_b = unbroadcast(-grad_output, shape_b)
        return unbroadcast(grad_output, shape_a), grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        shape_a, shape_b = ctx.shapes
        grad_b = None
        if ctx._next[1] is not None:
            grad_b = (-grad_output).sum_to_size(shape_b)
        return grad_output.sum_to_size(shape_a), grad_b


@errstate(invalid="ignore")  # as a decorator it costs half a `with` block
def _mul_grads(grad_output: Any, a: Any, b: Any, nxt: tuple) -> tuple:
    """Mul's gradients ``(grad_output * b, grad_output * a)``, each summed to
    its input's shape, None where an input needs none."""
    grad_a = grad_b = None
    if nxt[0] is not None:
        grad_a = unbroadcast(grad_output * b, a.shape)
    if nxt[1] is not None:
        grad_b = unbroadcast(grad_output * a, b.shape)
    return grad_a, grad_b


class Mul(Op):
    _name = "MulBackward0"
    _saved_for = "others"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad_output):
        # d(ab)/da = b, d(ab)/db = a (an inf gradient times 0 is NaN, silently
        # as in PyTorch: a division's double backward at 0 meets it)
        a, b = ctx.saved_tensors
        return _mul_grads(grad_output, a, b, ctx._next)

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b = ctx.saved_graph_tensors
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = (grad_output * b).sum_to_size(a.shape)
        if ctx._next[1] is not None:
            grad_b = (grad_output * a).sum_to_size(b.shape)
        return grad_a, grad_b


class Div(Op):
    _name = "DivBackward0"
    _saved_for = ((1,), (0, 1))

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with errstate(divide="ignore", invalid="ignore"):
            return a / b

    @staticmethod
    def backward(ctx, grad_output):
        # d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        # (inf and NaN at b == 0 are the answer, as PyTorch's: no warning)
        a, b = ctx.saved_tensors
        grad_a = grad_b = None
        with errstate(divide="ignore", invalid="ignore"):
            if ctx._next[0] is not None:
                grad_a = unbroadcast(grad_output / b, a.shape)
            if ctx._next[1] is not None:
                grad_b = unbroadcast(-grad_output * (a / b / b), b.shape)
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b = ctx.saved_graph_tensors
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = (grad_output / b).sum_to_size(a.shape)
        if ctx._next[1] is not None:
            # (a / b) / b, as PyTorch: b * b would underflow to 0 before a / b
            grad_b = (-grad_output * (a / b / b)).sum_to_size(b.shape)
        return grad_a, grad_b


class Pow(Op):
    _name = "PowBackward1"

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b ln a
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            # b * a^(b-1), written so that b == 0 gives 0 even at a == 0.
            local = xp.where(b == 0, 0, b * a ** xp.where(b == 0, 1, b - 1))
            grad_a = unbroadcast(grad_output * local, a.shape)
        if ctx._next[1] is not None:
            # PyTorch's convention: the derivative is 0 where a == 0 and b >= 0.
            with errstate(divide="ignore", invalid="ignore"):
                log_a = xp.where((a == 0) & (b >= 0), 0, xp.log(a))
            grad_b = unbroadcast(grad_output * out * log_a, b.shape)
        return grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        a, b, out = ctx.saved_graph_tensors
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            zero = b == 0
            local = where(zero, 0, b * a ** where(zero, 1, b - 1))
            grad_a = (grad_output * local).sum_to_size(a.shape)
        if ctx._next[1] is not None:
            log_a = where((a == 0) & (b >= 0), 0, log(a))
            grad_b = (grad_output * out * log_a).sum_to_size(b.shape)
        return grad_a, grad_b


class PowScalar(Op):
    _name = "PowBackward0"

    @staticmethod
    def forward(ctx, a, exponent):
        ctx.save_for_backward(a)
        ctx.exponent = exponent
        return a**exponent

    @staticmethod
    def backward(ctx, grad_output):
        # d(a^k)/da = k a^(k-1)
        (a,) = ctx.saved_tensors
        k = ctx.exponent
        if k == 0:
            return xp.zeros_like(a)
        return grad_output * (k * a ** (k - 1))

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        k = ctx.exponent
        if k == 0:
            return _wrap(xp.zeros_like(a._data), None)
        return grad_output * (k * a ** (k - 1))


class Neg(Op):
    _name = "NegBackward0"

    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad_output):
        # d(-a)/da = -1
        return -grad_output

    @staticmethod
    def backward_graph(ctx, grad_output):
        return -grad_output


class ToCopy(Op):
    _name = "ToCopyBackward0"

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.in_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad_output):
        # a cast is the identity on values; the gradient takes the input's dtype
        if ctx.in_dtype.kind != "f":
            return None
        return grad_output.astype(ctx.in_dtype)

    @staticmethod
    def backward_graph(ctx, grad_output):
        if ctx.in_dtype.kind != "f":
            return None
        return cast(grad_output, ctx.in_dtype)


class Clone(Op):
    _name = "CloneBackward0"

    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, grad_output):
        # d(a)/da = 1
        return grad_output

    @staticmethod
    def backward_graph(ctx, grad_output):
        return grad_output


# ---------------------------------------------------------------- math functions


class Exp(Op):
    _name = "ExpBackward0"

    @staticmethod
    def forward(ctx, a):
        out = xp.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(e^a)/da = e^a, the saved output
        (out,) = ctx.saved_tensors
        return grad_output * out

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * out


class Log(Op):
    _name = "LogBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(divide="ignore", invalid="ignore"):
            return xp.log(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(ln a)/da = 1/a
        (a,) = ctx.saved_tensors
        with errstate(divide="ignore"):
            return grad_output / a

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output / a


class Sqrt(Op):
    _name = "SqrtBackward0"

    @staticmethod
    def forward(ctx, a):
        with errstate(invalid="ignore"):
            out = xp.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(sqrt a)/da = 1 / (2 sqrt a); inf at 0, as PyTorch
        (out,) = ctx.saved_tensors
        with errstate(divide="ignore"):
            return grad_output / (2 * out)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output / (2 * out)


class Abs(Op):
    _name = "AbsBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.abs(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d|a|/da = sign(a), 0 at 0
        (a,) = ctx.saved_tensors
        return grad_output * xp.sign(a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return masked_grad(grad_output, a, a._data > 0, slope=xp.sign(a._data))


class Tanh(Op):
    _name = "TanhBackward0"

    @staticmethod
    def forward(ctx, a):
        out = xp.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(tanh a)/da = 1 - tanh(a)^2
        (out,) = ctx.saved_tensors
        return grad_output * (1 - out * out)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * (1 - out * out)


class Sigmoid(Op):
    _name = "SigmoidBackward0"

    @staticmethod
    def forward(ctx, a):
        # exp(-|a|) never overflows; each branch keeps full relative precision.
        e = xp.exp(-xp.abs(a))
        out = xp.where(a >= 0, 1, e) / (1 + e)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(sigma a)/da = sigma(a) (1 - sigma(a))
        (out,) = ctx.saved_tensors
        return grad_output * out * (1 - out)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * out * (1 - out)


class Relu(Op):
    _name = "ReluBackward0"

    @staticmethod
    def forward(ctx, a):
        out = xp.maximum(a, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(max(a, 0))/da = 1 where a > 0, else 0 (0 at a == 0)
        (out,) = ctx.saved_tensors
        keep = out > 0
        if (
            grad_output.size >= 4096  # where is as quick on small arrays
            and grad_output.dtype.kind == "f"
            and xp.isfinite(grad_output).all()
        ):
            # a product is 8x faster than where on mixed signs (no branches);
            # + 0.0 turns the -0.0 of negative gradients times 0 into 0
            grad = xp.multiply(grad_output, keep, dtype=grad_output.dtype)
            return xp.add(grad, 0.0, out=grad)
        # a NaN or Inf gradient stays out where a <= 0, as PyTorch's
        # threshold_backward keeps it out
        return xp.where(keep, grad_output, 0).astype(grad_output.dtype, copy=False)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return masked_grad(grad_output, out, out._data > 0, op=ThresholdBackward)


class Clamp(Op):
    _name = "ClampBackward1"

    @staticmethod
    def forward(ctx, a, min, max):
        out = a
        if min is not None:
            out = xp.maximum(out, min)
        if max is not None:
            out = xp.minimum(out, max)
        if out is a:
            out = a.copy()
        ctx.save_for_backward(a)
        ctx.bounds = (min, max)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(clamp a)/da = 1 inside [min, max] (bounds included), else 0
        (a,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = xp.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        return grad_output * inside

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = xp.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a >= low
        if high is not None:
            inside &= a <= high
        # where, not a product with the mask: NaN outside the range must not pass
        return where(_wrap(inside, None), grad_output, 0.0)


# ------------------------------------------------------------ public functions


def add(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input + alpha * other``, broadcasting."""
    if alpha != 1:
        # a number times a number stays a number (PyTorch's scalar rules)
        other = other * alpha if not isinstance(other, Tensor) else mul(other, alpha)
    a, b = binary_operands(input, other, "add")
    return Add.apply(a, b)


def sub(input: Any, other: Any, *, alpha: Any = 1) -> Tensor:
    """``input - alpha * other``, broadcasting."""
    if alpha != 1:
        # a number times a number stays a number (PyTorch's scalar rules)
        other = other * alpha if not isinstance(other, Tensor) else mul(other, alpha)
    a, b = binary_operands(input, other, "sub")
    if a._data.dtype == np.bool_:
        raise RuntimeError(
            "sub: subtraction with two bool tensors is not supported; use "
            "logical_xor() or the ^ operator instead"
        )
    return Sub.apply(a, b)


def mul(input: Any, other: Any) -> Tensor:
    """``input * other``, broadcasting."""
    a, b = binary_operands(input, other, "mul")
    return Mul.apply(a, b)


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """True division (always a float result), or floor/trunc division."""
    a, b = binary_operands(input, other, "div")
    if rounding_mode is not None:
        if rounding_mode not in ("floor", "trunc"):
            raise ValueError(
                "div: `rounding_mode` must be None, 'floor' or 'trunc', got "
                f"{rounding_mode!r}"
            )
        fn = xp.floor_divide if rounding_mode == "floor" else _trunc_divide
        if b._data.dtype.kind in "iub" and a._data.dtype.kind in "iub":
            if not b._data.all():
                # NumPy quietly gives 0; PyTorch refuses integer division by 0
                raise RuntimeError("div: ZeroDivisionError (integer division by 0)")
        with errstate(divide="ignore", invalid="ignore"):
            return _wrap(fn(a._data, b._data), None)
    a, b = to_float(a), to_float(b)
    with errstate(divide="ignore", invalid="ignore"):
        return Div.apply(a, b)


def _trunc_divide(a: Any, b: Any) -> Any:
    if a.dtype.kind == "f":
        return xp.trunc(a / b)
    return (a / b).astype(a.dtype)


def floor_divide(input: Any, other: Any) -> Tensor:
    return div(input, other, rounding_mode="floor")


def pow(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent`` (tensor or scalar on either side)."""
    if isinstance(input, Tensor) and isinstance(exponent, (int, float)):
        if isinstance(exponent, bool):
            exponent = int(exponent)
        if input._data.dtype.kind in "iub":
            if isinstance(exponent, float):
                input = to_float(input)
            elif exponent < 0:
                raise RuntimeError(
                    "pow: Integers to negative integer powers are not allowed."
                )
        return PowScalar.apply(input, exponent=exponent)
    a, b = binary_operands(input, exponent, "pow")
    return Pow.apply(a, b)


def neg(input: Tensor) -> Tensor:
    if input._data.dtype == np.bool_:
        raise RuntimeError(
            "neg: Negation, the `-` operator, on a bool tensor is not supported. "
            "If you are trying to invert a mask, use the `~` or `logical_not()` "
            "operator instead."
        )
    return Neg.apply(input)


def exp(input: Tensor) -> Tensor:
    return Exp.apply(to_float(input))


def log(input: Tensor) -> Tensor:
    return Log.apply(to_float(input))


def sqrt(input: Tensor) -> Tensor:
    return Sqrt.apply(to_float(input))


def abs(input: Tensor) -> Tensor:
    return Abs.apply(input)


def tanh(input: Tensor) -> Tensor:
    return Tanh.apply(to_float(input))


def sigmoid(input: Tensor) -> Tensor:
    return Sigmoid.apply(to_float(input))


def relu(input: Tensor) -> Tensor:
    """``max(input, 0)`` elementwise."""
    return Relu.apply(input)


def clamp(input: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Limit values to ``[min, max]``; either bound may be None."""
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        from .binary import clamp_tensor

        return clamp_tensor(input, min, max)
    if input._data.dtype.kind != "f" and (
        isinstance(min, float) or isinstance(max, float)
    ):
        input = to_float(input)
    return Clamp.apply(input, min=min, max=max)


def clone(input: Tensor) -> Tensor:
    return Clone.apply(input)


def to_dtype(input: Tensor, dtype: Any) -> Tensor:
    from .. import _dtype

    return cast(input, _dtype.to_np(dtype))


# ---------------------------------------------------------- where / comparisons


class Where(Op):
    _name = "WhereBackward0"

    @staticmethod
    def forward(ctx, condition, a, b):
        ctx.save_for_backward(condition)
        ctx.shapes = (a.shape, b.shape)
        return xp.where(condition, a, b)

    @staticmethod
    def backward(ctx, grad_output):
        # the gradient goes to whichever side was selected
        (condition,) = ctx.saved_tensors
        shape_a, shape_b = ctx.shapes
        zero = xp.zeros((), dtype=grad_output.dtype)
        grad_a = grad_b = None
        if ctx._next[1] is not None:
            grad_a = unbroadcast(xp.where(condition, grad_output, zero), shape_a)
        if ctx._next[2] is not None:
            grad_b = unbroadcast(xp.where(condition, zero, grad_output), shape_b)
        return None, grad_a, grad_b

    @staticmethod
    def backward_graph(ctx, grad_output):
        condition = _wrap(ctx.saved_tensors[0], None)
        shape_a, shape_b = ctx.shapes
        grad_a = grad_b = None
        if ctx._next[1] is not None:
            grad_a = where(condition, grad_output, 0).sum_to_size(shape_a)
        if ctx._next[2] is not None:
            grad_b = where(condition, 0, grad_output).sum_to_size(shape_b)
        return None, grad_a, grad_b


def where(condition: Tensor, input: Any, other: Any) -> Tensor:
    """Elements of ``input`` where ``condition`` holds, else of ``other``."""
    if condition._data.dtype != np.bool_:
        raise RuntimeError(
            f"where: expected `condition` to be a bool tensor, got {condition.dtype}"
        )
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        # two Python numbers: PyTorch's scalar types (float32 for floats)
        npd = _dtype.result_np((), (), (input, other))
        input = _wrap(xp.asarray(input, dtype=npd), None)
    a, b = binary_operands(input, other, "where")
    return Where.apply(condition, a, b)


def _compare(fn: Any, op: str) -> Any:
    def compare(input: Any, other: Any) -> Tensor:
        a, b = binary_operands(input, other, op)
        try:
            out = _wrap(fn(a._data, b._data), None)
        except ValueError as error:
            raise _broadcast_error(op, a, b, error) from None
        return observed(op, (a, b), {}, out)

    compare.__name__ = op
    compare.__doc__ = f"Elementwise ``{op}``; a bool tensor with no gradient."
    return compare


eq = _compare(xp.equal, "eq")
ne = _compare(xp.not_equal, "ne")
lt = _compare(xp.less, "lt")
le = _compare(xp.less_equal, "le")
gt = _compare(xp.greater, "gt")
ge = _compare(xp.greater_equal, "ge")
