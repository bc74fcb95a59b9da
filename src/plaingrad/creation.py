"""Functions that make new tensors: from data, filled, ranges, and random.

Dtype inference follows PyTorch: Python floats give the default float dtype
(float32), Python ints int64, bools bool; a NumPy array keeps its dtype.
Every random function takes ``generator=`` (a ``plaingrad.Generator``) and
otherwise draws from the global stream seeded by ``manual_seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dtype
from .autograd.node import _broadcast_error
from .backend import xp
from .device import check_device
from .random import _rng
from .tensor import Tensor, _sizes, _wrap


def _finish(array: Any, requires_grad: bool, op: str) -> Tensor:
    out = _wrap(array, None)
    if requires_grad:
        out.requires_grad_(True)
    return out


def _infer_np(data: Any) -> np.dtype:
    """The dtype PyTorch would give to a tensor made from ``data``."""
    if isinstance(data, np.ndarray):
        return data.dtype
    if isinstance(data, Tensor):
        return data._data.dtype
    if isinstance(data, np.generic):
        return data.dtype
    array = np.asarray(data)
    kind = array.dtype.kind
    if kind == "f":
        return _dtype.get_default_dtype().np
    if kind in "iu":
        return np.dtype(np.int64)
    if kind == "b":
        return np.dtype(np.bool_)
    raise TypeError(f"could not infer a tensor dtype from {type(data).__name__} data")


def _unwrap_nested(data: Any) -> Any:
    """Replace tensors inside (nested) lists by their values."""
    if isinstance(data, Tensor):
        return data._data
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(d) for d in data]
    return data


def tensor(
    data: Any,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A new tensor holding a copy of ``data`` (a number, nested list or array).

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([[1, 2], [3, 4]])
        tensor([[1, 2],
                [3, 4]])
        >>> torch.tensor([0.5]).dtype
        plaingrad.float32
    """
    check_device(device, "tensor")
    if isinstance(data, (list, tuple)):
        data = _unwrap_nested(data)
    elif isinstance(data, Tensor):
        data = data._data
    npd = _dtype.to_np(dtype) if dtype is not None else _infer_np(data)
    try:
        array = xp.array(data, dtype=npd)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"tensor: could not make a tensor from `data`: {error}"
        ) from None
    if array.dtype.kind == "O":
        raise TypeError("tensor: `data` must hold numbers")
    return _finish(array, requires_grad, "tensor")


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like ``tensor`` but shares memory with a NumPy array or tensor when it can."""
    check_device(device, "as_tensor")
    if isinstance(data, Tensor):
        return data if dtype is None else data.to(dtype)
    if isinstance(data, np.ndarray) and (
        dtype is None or _dtype.to_np(dtype) == data.dtype
    ):
        _dtype.from_np(data.dtype)
        return _wrap(data, None)
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with the NumPy ``array``."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(array).__name__})")
    _dtype.from_np(array.dtype)
    return _wrap(array, None)


def _size_arg(size: tuple, keyword: Any, op: str) -> tuple:
    """The size given positionally (``f(2, 3)``, ``f((2, 3))``) or as ``size=``."""
    if keyword is not None:
        if size:
            raise TypeError(f"{op}: got the size both positionally and as `size=`")
        size = (keyword,)
    if not size:
        raise TypeError(
            f"{op}: missing the size (for a 0-d tensor pass an empty tuple: {op}(()))"
        )
    return _sizes(size, op)


def _only_size(keywords: dict, op: str) -> Any:
    unknown = set(keywords) - {"size"}
    if unknown:
        raise TypeError(
            f"{op}() got an unexpected keyword argument '{sorted(unknown)[0]}'"
        )
    return keywords.get("size")


def _filled(fn: Any, op: str) -> Any:
    def make(
        *size: Any,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        out: Any = None,
        layout: Any = None,
        pin_memory: bool = False,
        memory_format: Any = None,
        **keywords: Any,
    ) -> Tensor:
        if out is not None:
            raise NotImplementedError(f"{op}: `out=` is not supported")
        check_device(device, op)
        npd = (
            _dtype.to_np(dtype) if dtype is not None else _dtype.get_default_dtype().np
        )
        shape = _size_arg(size, _only_size(keywords, op), op)
        return _finish(fn(shape, dtype=npd), requires_grad, op)

    make.__name__ = op
    make.__doc__ = f"A new tensor of the given size, {op.replace('_', ' ')}."
    return make


zeros = _filled(xp.zeros, "zeros")
ones = _filled(xp.ones, "ones")
empty = _filled(xp.empty, "empty")


def full(
    size: Any,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype from the value)."""
    check_device(device, "full")
    npd = _dtype.to_np(dtype) if dtype is not None else _infer_np(fill_value)
    return _finish(
        xp.full(_sizes((size,), "full"), fill_value, dtype=npd), requires_grad, "full"
    )


def _like(fn: Any, op: str) -> Any:
    def make(
        input: Tensor,
        *,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
        layout: Any = None,
        memory_format: Any = None,
    ) -> Tensor:
        check_device(device, op)
        npd = _dtype.to_np(dtype) if dtype is not None else input._data.dtype
        return _finish(fn(input._data.shape, dtype=npd), requires_grad, op)

    make.__name__ = op
    return make


zeros_like = _like(xp.zeros, "zeros_like")
ones_like = _like(xp.ones, "ones_like")
empty_like = _like(xp.empty, "empty_like")


def full_like(
    input: Tensor,
    fill_value: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    check_device(device, "full_like")
    npd = _dtype.to_np(dtype) if dtype is not None else input._data.dtype
    return _finish(
        xp.full(input._data.shape, fill_value, dtype=npd), requires_grad, "full_like"
    )


def arange(
    start: Any = None,
    end: Any = None,
    step: Any = 1,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Values from ``start`` (default 0) up to but excluding ``end``."""
    check_device(device, "arange")
    if start is None:
        if end is None:
            raise TypeError("arange: missing `end`")
        start = 0
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError(
            f"arange: upper bound and larger bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    if dtype is None:
        numbers = (start, end, step)
        is_float = any(
            isinstance(v, float) or (isinstance(v, Tensor) and v.is_floating_point())
            for v in numbers
        )
        npd = _dtype.get_default_dtype().np if is_float else np.dtype(np.int64)
    else:
        npd = _dtype.to_np(dtype)
    return _finish(xp.arange(start, end, step).astype(npd), requires_grad, "arange")


def linspace(
    start: Any,
    end: Any,
    steps: int,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""
    check_device(device, "linspace")
    if steps < 0:
        raise RuntimeError(
            f"linspace: number of steps must be non-negative, got {steps}"
        )
    npd = _dtype.to_np(dtype) if dtype is not None else _dtype.get_default_dtype().np
    return _finish(
        xp.linspace(start, end, steps).astype(npd), requires_grad, "linspace"
    )


def eye(
    n: int,
    m: int | None = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The ``n`` x ``m`` identity matrix."""
    check_device(device, "eye")
    npd = _dtype.to_np(dtype) if dtype is not None else _dtype.get_default_dtype().np
    return _finish(xp.eye(n, m, dtype=npd), requires_grad, "eye")


# ------------------------------------------------------------------ random


# PyTorch's kernels that refuse a non-float dtype, by op (NotImplementedError)
_FLOAT_KERNELS = {
    "rand": "check_uniform_bounds",
    "randn": "normal_kernel_cpu",
    "normal": "normal_kernel_cpu",
}


def _float_np(dtype: Any, op: str) -> np.dtype:
    npd = _dtype.to_np(dtype) if dtype is not None else _dtype.get_default_dtype().np
    if npd.kind != "f":
        from .ops.sampling import _SCALAR_NAMES  # lazy: ops imports this module

        raise NotImplementedError(
            f'"{_FLOAT_KERNELS[op]}" not implemented for '
            f"'{_SCALAR_NAMES.get(npd.name, npd.name)}' ({op}: expected a floating "
            "point dtype)"
        )
    return npd


def rand(
    *size: Any,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **keywords: Any,
) -> Tensor:
    """Uniform samples from [0, 1)."""
    check_device(device, "rand")
    npd = _float_np(dtype, "rand")
    values = _rng(generator).random(
        _size_arg(size, _only_size(keywords, "rand"), "rand")
    )
    return _finish(values.astype(npd), requires_grad, "rand")


def randn(
    *size: Any,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    **keywords: Any,
) -> Tensor:
    """Samples from the standard normal distribution."""
    check_device(device, "randn")
    npd = _float_np(dtype, "randn")
    values = _rng(generator).standard_normal(
        _size_arg(size, _only_size(keywords, "randn"), "randn")
    )
    return _finish(values.astype(npd), requires_grad, "randn")


# C++ type names, as in PyTorch's randint bounds errors
_C_INT_NAMES = {
    "bool": "bool",
    "uint8": "unsigned char",
    "int8": "signed char",
    "int16": "short int",
    "int32": "int",
    "int64": "long int",
}


def randint(
    low: int,
    high: Any = None,
    size: Any = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Random integers from [low, high); ``randint(high, size)`` uses low = 0."""
    check_device(device, "randint")
    if size is None:
        if not isinstance(high, (tuple, list)):
            raise TypeError("randint: missing required argument `size` (a tuple)")
        low, high, size = 0, low, high
    if high is None:
        raise TypeError("randint: missing required argument `high`")
    if low >= high:
        raise RuntimeError(
            f"randint: expects `low` < `high`, but got low={low} and high={high}"
        )
    npd = _dtype.to_np(dtype) if dtype is not None else np.dtype(np.int64)
    if npd.kind in "iub":
        # PyTorch refuses bounds outside the dtype (NumPy's cast would wrap)
        info = np.iinfo(npd) if npd.kind != "b" else None
        lowest, highest = (info.min, info.max) if info else (0, 1)
        name = _C_INT_NAMES[npd.name]
        if low < lowest:
            raise RuntimeError(f"from is out of bounds for {name}")
        if high - 1 > highest:
            raise RuntimeError(f"to - 1 is out of bounds for {name}")
    values = _rng(generator).integers(low, high, _sizes((size,), "randint"))
    return _finish(values.astype(npd), requires_grad, "randint")


def randperm(
    n: int,
    *,
    generator: Any = None,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """A random permutation of ``0 .. n-1``."""
    check_device(device, "randperm")
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    npd = _dtype.to_np(dtype) if dtype is not None else np.dtype(np.int64)
    return _finish(
        _rng(generator).permutation(n).astype(npd), requires_grad, "randperm"
    )


def rand_like(
    input: Tensor, *, dtype: Any = None, generator: Any = None, **kw: Any
) -> Tensor:
    # the shape as one tuple: `rand()` with no sizes is an error, `rand(())` 0-d
    return rand(
        input._data.shape, dtype=dtype or input.dtype, generator=generator, **kw
    )


def randn_like(
    input: Tensor, *, dtype: Any = None, generator: Any = None, **kw: Any
) -> Tensor:
    # the shape as one tuple: `randn()` with no sizes is an error, `randn(())` 0-d
    return randn(
        input._data.shape, dtype=dtype or input.dtype, generator=generator, **kw
    )


def randint_like(
    input: Tensor,
    low: int,
    high: Any = None,
    *,
    dtype: Any = None,
    generator: Any = None,
    **kw: Any,
) -> Tensor:
    if high is None:
        low, high = 0, low
    return randint(
        low,
        high,
        input._data.shape,
        dtype=dtype or input.dtype,
        generator=generator,
        **kw,
    )


def normal(
    mean: Any,
    std: Any = 1.0,
    size: Any = None,
    *,
    generator: Any = None,
    dtype: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """Samples from N(mean, std^2); ``mean``/``std`` may be tensors.

    As PyTorch's four forms: tensor/tensor, tensor/float and float/tensor take
    their shape (broadcast) and dtype (mean's, else std's) from the tensors and
    no ``size``, ``dtype`` or ``requires_grad``; float/float needs ``size``.
    When a tensor mean or std requires grad, so does the sample, whose gradient
    for both is zero (``NormalBackward1/2/3``).
    """
    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if not tensors and size is None:
        raise TypeError(
            "normal() received an invalid combination of arguments - got "
            "(float, float): a float mean and std need a size"
        )
    if tensors and (size is not None or dtype is not None or requires_grad):
        raise TypeError(
            "normal() received an invalid combination of arguments: size, dtype "
            "and requires_grad are taken only with a float mean and std"
        )
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if isinstance(std, Tensor):
        if not (s >= 0).all():
            raise RuntimeError("normal expects all elements of std >= 0.0")
    elif not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {float(std):g}")
    if size is not None:
        shape = _sizes((size,), "normal")
    else:
        try:
            shape = np.broadcast_shapes(np.shape(m), np.shape(s))
        except ValueError as error:
            raise _broadcast_error("normal", mean, std, error) from None
    npd = _float_np(
        dtype if dtype is not None else tensors[0].dtype if tensors else None, "normal"
    )
    values = xp.asarray(_rng(generator).normal(m, s, shape)).astype(npd)
    if tensors:
        from .ops.sampling import _NORMAL_NODES  # lazy: ops imports this module

        node = _NORMAL_NODES[(isinstance(mean, Tensor), isinstance(std, Tensor))]
        return node.apply(*tensors, values=values)
    return _finish(values, requires_grad, "normal")
