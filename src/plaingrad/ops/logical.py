"""Logical and bitwise ops: ``& | ^ ~`` and ``logical_and/or/xor/not``.

None is differentiable, as in PyTorch: results never require grad. ``& | ^ ~``
are bitwise on integer and bool tensors (so on masks they are the logical
ops) and refuse floats; the ``logical_*`` functions accept any dtype and
return bool, treating non-zero as True.
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import observed
from ..backend import xp
from ..tensor import Tensor, _wrap
from ._util import binary_operands
from .elementwise import _compare


def _integral(t: Tensor, op: str) -> None:
    if t._data.dtype.kind == "f":
        raise TypeError(
            f"{op}: bitwise operations need integer or bool tensors, got "
            f"{t.dtype.name} (for masks compare first, e.g. (x > 0) & (x < 1))"
        )


def _bitwise(fn: Any, op: str) -> Any:
    def bitwise(input: Any, other: Any) -> Tensor:
        a, b = binary_operands(input, other, op)
        _integral(a, op)
        _integral(b, op)
        return observed(op, (a, b), {}, _wrap(fn(a._data, b._data), None))

    bitwise.__name__ = op
    bitwise.__doc__ = f"Elementwise ``{op}`` of integer or bool tensors."
    return bitwise


bitwise_and = _bitwise(xp.bitwise_and, "bitwise_and")
bitwise_or = _bitwise(xp.bitwise_or, "bitwise_or")
bitwise_xor = _bitwise(xp.bitwise_xor, "bitwise_xor")


def bitwise_not(input: Tensor) -> Tensor:
    """``~input``: logical not of a bool tensor, bitwise not of an integer one."""
    _integral(input, "bitwise_not")
    return observed("bitwise_not", (input,), {}, _wrap(xp.invert(input._data), None))


# The comparisons' helper: promote, compare, a bool tensor with no gradient.
logical_and = _compare(xp.logical_and, "logical_and")
logical_or = _compare(xp.logical_or, "logical_or")
logical_xor = _compare(xp.logical_xor, "logical_xor")


def logical_not(input: Tensor) -> Tensor:
    """True where ``input`` is zero (or False)."""
    out = _wrap(xp.logical_not(input._data), None)
    return observed("logical_not", (input,), {}, out)


# ------------------------------------------------- whole-tensor comparisons


def equal(input: Tensor, other: Tensor) -> bool:
    """True when both have the same shape and the same values."""
    a, b = input._data, other._data
    return a.shape == b.shape and bool(xp.array_equal(a, b))


def isclose(
    input: Tensor,
    other: Any,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> Tensor:
    """Elementwise ``|input - other| <= atol + rtol * |other|``, as bool."""
    a, b = binary_operands(input, other, "isclose")
    return _wrap(xp.isclose(a._data, b._data, rtol, atol, equal_nan), None)


def allclose(
    input: Tensor,
    other: Any,
    rtol: float = 1e-05,
    atol: float = 1e-08,
    equal_nan: bool = False,
) -> bool:
    """True when every element of ``input`` is close to ``other``'s."""
    return bool(isclose(input, other, rtol, atol, equal_nan)._data.all())


def _predicate(fn: Any, op: str) -> Any:
    def predicate(input: Tensor) -> Tensor:
        return _wrap(fn(input._data), None)

    predicate.__name__ = op
    predicate.__doc__ = f"Elementwise ``{op}``, as bool (integers: never NaN/Inf)."
    return predicate


isnan = _predicate(xp.isnan, "isnan")
isinf = _predicate(xp.isinf, "isinf")
isfinite = _predicate(xp.isfinite, "isfinite")
