"""Every differentiable op, as a forward rule with its backward rule beside it.

The ops are grouped by kind: ``elementwise`` (arithmetic, math, comparisons),
``reduction`` (sum, mean, max, softmax ...), ``shape`` (views, cat, indexing),
``linalg`` (matmul, linear) and ``loss`` (fused loss ops). Each op is an ``Op``
subclass (see ``plaingrad.autograd.node``) that works on backend arrays; the
public functions wrap scalars, promote dtypes and check arguments.

This module also attaches the ops to ``Tensor`` as methods and operators, so
``tensor.py`` stays free of arithmetic.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype
from ..device import check_device
from ..tensor import Tensor
from . import (
    activation,
    assign,
    binary,
    elementwise,
    linalg,
    logical,
    loss,
    math,
    reduction,
    sampling,
    shape,
    strided,
)
from ._util import cast
from .activation import celu, selu
from .binary import (
    arctan2,
    atan2,
    fmod,
    hypot,
    lerp,
    masked_fill,
    maximum,
    minimum,
    remainder,
)
from .cumulative import cumprod, cumsum, logcumsumexp
from .einsum import einsum, masked_select, nonzero, where
from .elementwise import (
    abs,
    add,
    clamp,
    clone,
    div,
    eq,
    exp,
    floor_divide,
    ge,
    gt,
    le,
    log,
    lt,
    mul,
    ne,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
)
from .indexing import (
    gather,
    index_add,
    index_put,
    index_select,
    scatter,
    scatter_add,
    take_along_dim,
)
from .linalg import addmm, baddbmm, bmm, dot, inner, linear, matmul, mm, mv, outer
from .linalg_solve import det, inv
from .logical import (
    allclose,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    equal,
    isclose,
    isfinite,
    isinf,
    isnan,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
)
from .math import (
    acos,
    arccos,
    arcsin,
    arctan,
    asin,
    atan,
    ceil,
    cos,
    cosh,
    erf,
    erfinv,
    exp2,
    expm1,
    fix,
    floor,
    frac,
    log1p,
    log2,
    log10,
    reciprocal,
    round,
    rsqrt,
    sign,
    sin,
    sinh,
    tan,
    trunc,
)
from .reduction import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    softmax,
    sum,
    sum_to_size,
)
from .reshaping import (
    chunk,
    diagonal,
    flip,
    movedim,
    narrow,
    repeat,
    roll,
    split,
    swapaxes,
    tile,
    tril,
    triu,
    unbind,
)
from .shape import (
    cat,
    expand,
    flatten,
    permute,
    reshape,
    squeeze,
    stack,
    t,
    transpose,
    unflatten,
    unsqueeze,
)
from .sorting import kthvalue, median, mode, sort, topk
from .statistics import count_nonzero, norm, prod
from .variance import std, var

__all__ = [
    "elementwise",
    "linalg",
    "loss",
    "reduction",
    "shape",
    "sorting",
    "statistics",
]


def _swap(fn: Any) -> Any:
    def reflected(self: Tensor, other: Any) -> Tensor:
        return fn(other, self)

    return reflected


def _to(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """Convert dtype and/or device: ``to(dtype)``, ``to(device)``, ``to(other)``."""
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    kwargs.pop("non_blocking", None)
    kwargs.pop("copy", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, (_dtype.dtype, type)):
            dtype = arg
        else:
            device = arg
    check_device(device, "Tensor.to")
    if dtype is None:
        return self
    return elementwise.to_dtype(self, dtype)


def _cast_method(name: str) -> Any:
    target = _dtype.BY_NAME[name]

    def method(self: Tensor) -> Tensor:
        return elementwise.to_dtype(self, target)

    method.__name__ = name
    return method


def _contiguous(self: Tensor) -> Tensor:
    if self._data.flags.c_contiguous:
        return self
    return elementwise.clone(self)


def _type(self: Tensor, dtype: Any = None, non_blocking: bool = False) -> Any:
    """``x.type()`` names the type ('plaingrad.FloatTensor'); ``x.type(dtype)``
    converts, as ``x.to(dtype)``."""
    if dtype is None:
        kind = {
            "float32": "Float",
            "float64": "Double",
            "float16": "Half",
            "int64": "Long",
            "int32": "Int",
            "int16": "Short",
            "int8": "Char",
            "uint8": "Byte",
            "bool": "Bool",
        }[self.dtype.name]
        return f"plaingrad.{kind}Tensor"
    return elementwise.to_dtype(self, dtype)


def _type_as(self: Tensor, other: Tensor) -> Tensor:
    return elementwise.to_dtype(self, other.dtype)


def _max_method(self: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    return max(self, dim, keepdim)


def _min_method(self: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    return min(self, dim, keepdim)


def _view_method(self: Tensor, *shape: Any) -> Tensor:
    return shape_view(self, *shape)


shape_view = shape.view

_METHODS = {
    # arithmetic operators
    "__add__": add,
    "__radd__": _swap(add),
    "__sub__": sub,
    "__rsub__": _swap(sub),
    "__mul__": mul,
    "__rmul__": _swap(mul),
    "__truediv__": div,
    "__rtruediv__": _swap(div),
    "__floordiv__": floor_divide,
    "__rfloordiv__": _swap(floor_divide),
    "__mod__": remainder,
    "__rmod__": _swap(remainder),
    "__pow__": pow,
    "__rpow__": _swap(pow),
    "__matmul__": matmul,
    "__rmatmul__": _swap(matmul),
    "__neg__": neg,
    "__and__": logical.bitwise_and,
    "__rand__": _swap(logical.bitwise_and),
    "__or__": logical.bitwise_or,
    "__ror__": _swap(logical.bitwise_or),
    "__xor__": logical.bitwise_xor,
    "__rxor__": _swap(logical.bitwise_xor),
    "__invert__": logical.bitwise_not,
    "bitwise_and": logical.bitwise_and,
    "bitwise_or": logical.bitwise_or,
    "bitwise_xor": logical.bitwise_xor,
    "bitwise_not": logical.bitwise_not,
    "logical_and": logical.logical_and,
    "logical_or": logical.logical_or,
    "logical_xor": logical.logical_xor,
    "logical_not": logical.logical_not,
    "__pos__": lambda self: self,
    "__abs__": abs,
    "__eq__": eq,
    "__ne__": ne,
    "__lt__": lt,
    "__le__": le,
    "__gt__": gt,
    "__ge__": ge,
    "__getitem__": shape.getitem,
    "__setitem__": shape.setitem,
    # named methods
    "add": add,
    "sub": sub,
    "mul": mul,
    "div": div,
    "pow": pow,
    "neg": neg,
    "matmul": matmul,
    "mm": mm,
    "bmm": bmm,
    "dot": dot,
    "mv": mv,
    "outer": outer,
    "inner": inner,
    "addmm": addmm,
    "baddbmm": baddbmm,
    "det": det,
    "inverse": inv,
    "abs": abs,
    "exp": exp,
    "log": log,
    "sqrt": sqrt,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "relu": relu,
    "clamp": clamp,
    "clip": clamp,
    "clamp_min": lambda self, min: clamp(self, min=min),
    "clamp_max": lambda self, max: clamp(self, max=max),
    "atan2": atan2,
    "arctan2": atan2,
    "hypot": hypot,
    "lerp": lerp,
    "maximum": maximum,
    "minimum": minimum,
    "fmod": fmod,
    "remainder": remainder,
    "masked_fill": masked_fill,
    "where": lambda self, condition, other: where(condition, self, other),
    "eq": eq,
    "ne": ne,
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "sum": sum,
    "mean": mean,
    "sum_to_size": sum_to_size,
    "all": all,
    "any": any,
    "max": _max_method,
    "min": _min_method,
    "amax": amax,
    "amin": amin,
    "argmax": argmax,
    "argmin": argmin,
    "logsumexp": logsumexp,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "prod": prod,
    "var": var,
    "std": std,
    "norm": norm,
    "cumsum": cumsum,
    "cumprod": cumprod,
    "logcumsumexp": logcumsumexp,
    "count_nonzero": count_nonzero,
    "topk": topk,
    "sort": sort,
    "kthvalue": kthvalue,
    "median": median,
    "mode": mode,
    "reshape": reshape,
    "view": _view_method,
    "view_as": lambda self, other: shape.view(self, other._data.shape),
    "reshape_as": lambda self, other: reshape(self, other._data.shape),
    "flatten": flatten,
    "unflatten": unflatten,
    "permute": permute,
    "transpose": transpose,
    "t": t,
    "squeeze": squeeze,
    "unsqueeze": unsqueeze,
    "expand": expand,
    "expand_as": shape.expand_as,
    "repeat": repeat,
    "tile": tile,
    "flip": flip,
    "roll": roll,
    "narrow": narrow,
    "chunk": chunk,
    "split": split,
    "unbind": unbind,
    "movedim": movedim,
    "moveaxis": movedim,
    "swapaxes": swapaxes,
    "swapdims": swapaxes,
    "diagonal": diagonal,
    "tril": tril,
    "triu": triu,
    "gather": gather,
    "scatter": scatter,
    "scatter_add": scatter_add,
    "index_select": index_select,
    "index_add": index_add,
    "index_put": index_put,
    "take_along_dim": take_along_dim,
    "masked_select": masked_select,
    "nonzero": nonzero,
    "clone": clone,
    "contiguous": _contiguous,
    "to": _to,
    "type_as": _type_as,
    "type": _type,
    "equal": equal,
    "isclose": isclose,
    "allclose": allclose,
    "isnan": isnan,
    "isinf": isinf,
    "isfinite": isfinite,
}
for _name in ("float", "double", "half", "long", "int", "bool"):
    _target = {
        "float": "float32",
        "double": "float64",
        "half": "float16",
        "long": "int64",
        "int": "int32",
        "bool": "bool",
    }[_name]
    _METHODS[_name] = _cast_method(_target)

# unary math functions (their in-place forms are in ``inplace``)
for _fn in (
    sin, cos, tan, asin, acos, atan, sinh, cosh, log1p, expm1, log2, log10, exp2,
    rsqrt, reciprocal, sign, floor, ceil, round, trunc, frac, erf, erfinv,
):  # fmt: skip
    _METHODS[_fn.__name__] = _fn
_ALIASES = (("arcsin", asin), ("arccos", acos), ("arctan", atan), ("fix", trunc))
for _name, _fn in _ALIASES:
    _METHODS[_name] = _fn

_METHODS.update(assign.INPLACE_METHODS)
_METHODS.update(sampling.TENSOR_METHODS)
_METHODS["unfold"] = strided.unfold
_METHODS["select"] = shape.select
for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(shape.T)
Tensor.mT = property(lambda self: transpose(self, -2, -1))
