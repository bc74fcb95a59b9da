"""plaingrad's dtypes and PyTorch's type-promotion rules.

A ``dtype`` wraps a NumPy dtype. Promotion follows PyTorch, not NumPy: values are
ranked by category (bool < integer < floating); a tensor with dimensions outranks a
0-d tensor of the same category, and a Python scalar never widens a tensor of its
own category (``float32 * 2.5`` stays float32, ``int64 * 2.5`` becomes the default
float, float32).
"""

from __future__ import annotations

import numpy as np


class dtype:
    """A tensor element type, e.g. ``plaingrad.float32``."""

    __slots__ = ("name", "np", "is_floating_point", "is_signed", "itemsize", "_rank")

    def __init__(self, name: str, np_dtype, rank: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_signed = self.np.kind in "if"
        self.itemsize = self.np.itemsize
        self._rank = rank  # 0 bool, 1 integer, 2 floating

    def __repr__(self) -> str:
        return f"plaingrad.{self.name}"

    def __reduce__(self):
        return (_lookup, (self.name,))


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

ALL = (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)
BY_NAME = {d.name: d for d in ALL}
# NumPy dtype -> plaingrad dtype; the hot path of ``Tensor.dtype``.
FROM_NP = {d.np: d for d in ALL}

_default_float = float32


def _lookup(name: str) -> dtype:
    return BY_NAME[name]


def get_default_dtype() -> dtype:
    """The dtype of tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(d: dtype) -> None:
    """Set the dtype of tensors made from Python floats (float32 or float64)."""
    global _default_float
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(
            f"set_default_dtype: expected a floating point dtype, got {d!r}"
        )
    _default_float = d


def to_np(d) -> np.dtype:
    """Accept a plaingrad dtype, NumPy dtype or Python type; return a NumPy dtype."""
    if isinstance(d, dtype):
        return d.np
    if d is float:
        return _default_float.np
    if d is int:
        return int64.np
    if d is bool:
        return bool_.np
    try:
        npd = np.dtype(d)
    except TypeError:
        raise TypeError(f"expected a plaingrad dtype, got {d!r}") from None
    if npd not in FROM_NP:
        raise TypeError(f"dtype {npd} is not supported by plaingrad")
    return npd


def from_np(npd: np.dtype) -> dtype:
    try:
        return FROM_NP[npd]
    except KeyError:
        raise TypeError(f"NumPy dtype {npd} has no plaingrad equivalent") from None


def promote_np(a: np.dtype, b: np.dtype) -> np.dtype:
    """Promote two NumPy dtypes as PyTorch promotes two dimensioned tensors."""
    if a == b:
        return a
    ra, rb = FROM_NP[a]._rank, FROM_NP[b]._rank
    if ra != rb:
        return a if ra > rb else b
    return np.promote_types(a, b)


def result_np(dims, zero_dims, scalars) -> np.dtype:
    """PyTorch's result type of an op.

    Args:
        dims: NumPy dtypes of the operands that are tensors with dimensions.
        zero_dims: NumPy dtypes of the 0-d tensor operands.
        scalars: the Python scalar operands.
    """
    out = None
    for d in dims:
        out = d if out is None else promote_np(out, d)
    z = None
    for d in zero_dims:
        z = d if z is None else promote_np(z, d)
    if z is not None and (out is None or FROM_NP[z]._rank > FROM_NP[out]._rank):
        out = z if out is None else promote_np(out, z)
    rank = -1 if out is None else FROM_NP[out]._rank
    for s in scalars:
        if isinstance(s, bool):
            srank, sdt = 0, bool_.np
        elif isinstance(s, int):
            srank, sdt = 1, int64.np
        else:
            srank, sdt = 2, _default_float.np
        if srank > rank:
            out, rank = sdt, srank
    return out
