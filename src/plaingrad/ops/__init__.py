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
    binary,
    elementwise,
    linalg,
    logical,
    loss,
    math,
    reduction,
    shape,
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
from .statistics import (
    count_nonzero,
    cumprod,
    cumsum,
    logcumsumexp,
    norm,
    prod,
    std,
    var,
)

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


# PyTorch's scalar-type names, used in its casting errors.
_TORCH_NAMES = {
    "bool": "Bool",
    "uint8": "Byte",
    "int8": "Char",
    "int16": "Short",
    "int32": "Int",
    "int64": "Long",
    "float16": "Half",
    "float32": "Float",
    "float64": "Double",
}


def _inplace(fn: Any) -> Any:
    """``a op= b``: compute ``a op b`` and write it into a's memory.

    On a tensor in the graph the result takes over the new node, as PyTorch
    rebases history; on a leaf that requires grad it is refused outside no_grad.
    """

    def method(self: Tensor, other: Any, **kwargs: Any) -> Tensor:
        from ..autograd.grad_mode import _mode

        if _mode.enabled and self._requires_grad and self.grad_fn is None:
            raise RuntimeError(
                "a leaf Variable that requires grad is being used in an in-place "
                "operation."
            )
        base = self._base
        if (
            _mode.enabled
            and base is not None
            and (self._requires_grad or base._requires_grad)
        ):
            # PyTorch writes through to the base and rewrites its history
            # (CopySlices); until plaingrad does, refuse rather than give the
            # base stale values and gradients.
            raise NotImplementedError(
                "in-place operation on a view of a tensor that requires grad is "
                "not supported yet (it would have to change the base tensor and "
                "its gradient too); write `y = y op x` instead of `y op= x`, or "
                "clone() the view first"
            )
        result = fn(self, other, **kwargs)
        if result._data.dtype != self._data.dtype:
            if result.dtype._rank > self.dtype._rank:
                raise RuntimeError(
                    f"result type {_TORCH_NAMES[result.dtype.name]} can't be cast "
                    f"to the desired output type {_TORCH_NAMES[self.dtype.name]}"
                )
            # narrowing within a category (float64 into float32) is allowed
            result = cast(result, self._data.dtype)
        if result.grad_fn is not None:
            # Recorded: the tensor takes over the result and its node. Its old
            # memory is left alone because the graph may have saved it.
            # TODO: write through to views' bases once version counters land.
            self._data = result._data
            self.grad_fn = result.grad_fn
            self._requires_grad = True
        else:
            self._data[...] = result._data
        self._version += 1
        return self

    return method


def _zero_(self: Tensor) -> Tensor:
    return _fill_(self, 0)


def _fill_(self: Tensor, value: Any) -> Tensor:
    from ..autograd.grad_mode import _mode

    if _mode.enabled and self._requires_grad:
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation."
        )
    self._data[...] = value._data if isinstance(value, Tensor) else value
    self._version += 1
    return self


def _copy_(self: Tensor, src: Tensor) -> Tensor:
    return _fill_(self, src)


def _clamp_(self: Tensor, min: Any = None, max: Any = None) -> Tensor:
    return _inplace(lambda a, _: clamp(a, min, max))(self, None)


def _unary_inplace(fn: Any) -> Any:
    """``x.sin_()``: ``fn(x)`` written back into ``x`` (see ``_inplace``)."""

    def method(self: Tensor, **kwargs: Any) -> Tensor:
        return _inplace(lambda a, _: fn(a, **kwargs))(self, None)

    method.__name__ = fn.__name__ + "_"
    return method


def _masked_fill_(self: Tensor, mask: Tensor, value: Any) -> Tensor:
    return _inplace(lambda a, _: masked_fill(a, mask, value))(self, None)


def _lerp_(self: Tensor, end: Tensor, weight: Any) -> Tensor:
    return _inplace(lambda a, _: lerp(a, end, weight))(self, None)


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
    "__iadd__": _inplace(add),
    "__isub__": _inplace(sub),
    "__imul__": _inplace(mul),
    "__itruediv__": _inplace(div),
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
    "masked_fill_": _masked_fill_,
    "lerp_": _lerp_,
    "atan2_": _inplace(atan2),
    "hypot_": _inplace(hypot),
    "fmod_": _inplace(fmod),
    "remainder_": _inplace(remainder),
    "where": lambda self, condition, other: where(condition, self, other),
    "eq": eq,
    "ne": ne,
    "lt": lt,
    "le": le,
    "gt": gt,
    "ge": ge,
    "sum": sum,
    "mean": mean,
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
    "add_": _inplace(add),
    "sub_": _inplace(sub),
    "mul_": _inplace(mul),
    "div_": _inplace(div),
    "clamp_": _clamp_,
    "zero_": _zero_,
    "fill_": _fill_,
    "copy_": _copy_,
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

# unary math functions and their in-place forms (``x.sin_()``)
for _fn in (
    sin, cos, tan, asin, acos, atan, sinh, cosh, log1p, expm1, log2, log10, exp2,
    rsqrt, reciprocal, sign, floor, ceil, round, trunc, frac, erf, erfinv,
):  # fmt: skip
    _METHODS[_fn.__name__] = _fn
    _METHODS[_fn.__name__ + "_"] = _unary_inplace(_fn)
_ALIASES = (("arcsin", asin), ("arccos", acos), ("arctan", atan), ("fix", trunc))
for _name, _fn in _ALIASES:
    _METHODS[_name] = _fn
    _METHODS[_name + "_"] = _METHODS[_fn.__name__ + "_"]

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)
Tensor.T = property(shape.T)
Tensor.mT = property(lambda self: transpose(self, -2, -1))
