"""Indexing ops that read or write through index tensors: gather/scatter,
index_select/index_add/index_put and take_along_dim (masked_select, nonzero
and the one-argument ``where`` are in ``einsum``, to keep files short).

Reading with an index is a gather, so its backward rule is a scatter-add: an
element read twice gets both gradients (``xp.add.at`` accumulates repeated
positions, where plain fancy assignment would keep only the last). Writing with
an index is the mirror image: the written values' gradients are gathered back
from the positions they went to, and the overwritten input positions get none.
Every rule works on whole arrays; no Python loop visits elements.

The Tensor-level rules (double backward) are the same reads and scatter-adds
as ops, ``Index`` and ``IndexScatter`` of ``shape.py``, each the other's
adjoint; the positions an overwrite zeroes are a constant mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from ._util import normalize_dims, unbroadcast
from .shape import Index, IndexScatter, expand

# PyTorch's scalar-type names, used in its dtype-mismatch messages.
_TORCH_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double"}


def _zero_at(grad: Tensor, index: Any) -> Tensor:
    """``grad`` with the positions ``index`` set to 0 (Tensor-level)."""
    from ..tensor import _wrap
    from .elementwise import where

    mask = xp.zeros(grad.shape, dtype=bool)
    mask[index] = True
    return where(_wrap(mask, None), 0.0, grad)


def _read_graph(grad: Tensor, index: Any) -> Tensor:
    """``grad[index]`` (advanced indexing), recorded."""
    return Index.apply(grad, index=index, basic=False)


def _scatter_graph(grad: Tensor, shape: tuple, index: Any) -> Tensor:
    """Zeros of ``shape`` with ``grad`` added at ``index``, recorded."""
    return IndexScatter.apply(grad, shape=shape, index=index, basic=False)


def _src_grad_graph(ctx: Any, grad_output: Tensor) -> Tensor:
    """A written ``src``'s gradient: read back, into ``src``'s shape."""
    picked = _read_graph(grad_output, ctx.grid)
    if tuple(picked.shape) == ctx.src_shape:
        return picked
    return IndexScatter.apply(picked, shape=ctx.src_shape, index=ctx.part, basic=True)


def _grid(index: Any, axis: int) -> tuple:
    """A full NumPy index reading ``a[i, ..., index[i, ...], ...]`` (axis ``axis``)."""
    grid = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
    grid[axis] = index
    return tuple(grid)


class Gather(Op):
    _name = "GatherBackward0"

    @staticmethod
    def forward(ctx, a, index, axis):
        ctx.in_shape, ctx.grid = a.shape, _grid(index, axis)
        return a[ctx.grid]

    @staticmethod
    def backward(ctx, grad_output):
        # a read of each gathered position: scatter-add, repeats accumulate
        grad_input = xp.zeros(ctx.in_shape, dtype=grad_output.dtype)
        xp.add.at(grad_input, ctx.grid, grad_output)
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        return _scatter_graph(grad_output, ctx.in_shape, ctx.grid)


class Scatter(Op):
    _name = "ScatterBackward0"

    @staticmethod
    def forward(ctx, a, src, index, axis):
        ctx.src_shape, ctx.grid = src.shape, _grid(index, axis)
        ctx.part = tuple(slice(0, n) for n in index.shape)
        out = a.copy()
        out[ctx.grid] = src[ctx.part]
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # overwritten positions lose their gradient; src gathers it back
        grad_input = grad_output.copy()
        grad_input[ctx.grid] = 0
        grad_src = xp.zeros(ctx.src_shape, dtype=grad_output.dtype)
        grad_src[ctx.part] = grad_output[ctx.grid]
        return grad_input, grad_src

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad_input = grad_src = None
        if ctx._next[0] is not None:
            grad_input = _zero_at(grad_output, ctx.grid)
        if ctx._next[1] is not None:
            grad_src = _src_grad_graph(ctx, grad_output)
        return grad_input, grad_src


class ScatterValue(Op):
    _name = "ScatterBackward1"

    @staticmethod
    def forward(ctx, a, value, index, axis):
        ctx.grid = _grid(index, axis)
        out = a.copy()
        out[ctx.grid] = value
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # the written constant has no gradient; overwritten positions get none
        grad_input = grad_output.copy()
        grad_input[ctx.grid] = 0
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        return _zero_at(grad_output, ctx.grid)


class ScatterAdd(Op):
    _name = "ScatterAddBackward0"

    @staticmethod
    def forward(ctx, a, src, index, axis):
        ctx.src_shape, ctx.grid = src.shape, _grid(index, axis)
        ctx.part = tuple(slice(0, n) for n in index.shape)
        out = a.copy()
        xp.add.at(out, ctx.grid, src[ctx.part])
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d out / d a = 1; each src element gets the gradient where it landed
        grad_src = xp.zeros(ctx.src_shape, dtype=grad_output.dtype)
        grad_src[ctx.part] = grad_output[ctx.grid]
        return grad_output, grad_src

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad_src = None
        if ctx._next[1] is not None:
            grad_src = _src_grad_graph(ctx, grad_output)
        return grad_output, grad_src


class IndexSelect(Op):
    _name = "IndexSelectBackward0"

    @staticmethod
    def forward(ctx, a, index, axis):
        ctx.in_shape = a.shape
        ctx.where = (slice(None),) * axis + (index,)
        return xp.take(a, index, axis=axis)

    @staticmethod
    def backward(ctx, grad_output):
        # scatter-add the rows back; a row selected twice gets both gradients
        grad_input = xp.zeros(ctx.in_shape, dtype=grad_output.dtype)
        xp.add.at(grad_input, ctx.where, grad_output)
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        return _scatter_graph(grad_output, ctx.in_shape, ctx.where)


class IndexAdd(Op):
    _name = "IndexAddBackward0"

    @staticmethod
    def forward(ctx, a, source, index, axis, alpha):
        ctx.index, ctx.axis, ctx.alpha = index, axis, alpha
        # a 0-d input (and source) is one row: index_add checked the index is [0]
        ctx.scalar = a.ndim == 0
        out = a.copy()
        if ctx.scalar:
            out[()] += alpha * source
            return out
        xp.add.at(out, (slice(None),) * axis + (index,), alpha * source)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d out / d a = 1; d out / d source = alpha at the rows it was added to
        if ctx.scalar:
            return grad_output, ctx.alpha * grad_output
        grad_source = ctx.alpha * xp.take(grad_output, ctx.index, axis=ctx.axis)
        return grad_output, grad_source

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad_source = None
        if ctx._next[1] is not None and ctx.scalar:
            grad_source = ctx.alpha * grad_output
        elif ctx._next[1] is not None:
            rows = (slice(None),) * ctx.axis + (ctx.index,)
            grad_source = ctx.alpha * _read_graph(grad_output, rows)
        return grad_output, grad_source


class IndexPut(Op):
    _name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, a, values, index, accumulate):
        ctx.index, ctx.accumulate, ctx.values_shape = index, accumulate, values.shape
        out = a.copy()
        if accumulate:
            target = xp.broadcast_to(values, out[index].shape)
            xp.add.at(out, index, target)
        else:
            out[index] = values
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # replaced positions lose their gradient (kept when accumulating);
        # values gather theirs back, summed over broadcast copies
        grad_input = grad_output
        if not ctx.accumulate:
            grad_input = grad_output.copy()
            grad_input[ctx.index] = 0
        grad_values = unbroadcast(grad_output[ctx.index], ctx.values_shape)
        return grad_input, grad_values

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad_input = grad_values = None
        if ctx._next[0] is not None:
            grad_input = grad_output
            if not ctx.accumulate:
                grad_input = _zero_at(grad_output, ctx.index)
        if ctx._next[1] is not None:
            picked = _read_graph(grad_output, ctx.index)
            grad_values = picked.sum_to_size(ctx.values_shape)
        return grad_input, grad_values


# ------------------------------------------------------------ public functions


def _index_array(index: Any, op: str, what: str = "index") -> Any:
    if not isinstance(index, Tensor):
        raise TypeError(
            f"{op}(): `{what}` must be a Tensor, got {type(index).__name__}"
        )
    array = index._data
    if array.dtype.kind not in "iu":
        raise RuntimeError(
            f"{op}(): Expected dtype int32/int64 for `{what}`, got {index.dtype}"
        )
    return array


def _check_bounds(index: Any, size: int, axis: int, op: str, wrap: bool = False):
    """Raise PyTorch's error for an index outside ``[0, size)``; maybe wrap."""
    low = -size if wrap else 0
    bad = (index < low) | (index >= size)
    if bad.any():
        raise RuntimeError(
            f"{op}(): index {int(index[bad].flat[0])} is out of bounds for "
            f"dimension {axis} with size {size}"
        )
    return index % size if wrap and size else index


def _check_dtypes(input: Tensor, other: Tensor, op: str, what: str) -> None:
    if input._data.dtype != other._data.dtype:
        raise RuntimeError(
            f"{op}(): Expected self.dtype to be equal to {what}.dtype (self is "
            f"{input.dtype}, {what} is {other.dtype})"
        )


def _check_index_shape(input: Tensor, index: Any, axis: int, op: str, src=None):
    shape = input._data.shape
    if index.ndim != len(shape):
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as "
            f"input tensor (index has {index.ndim}, input has {len(shape)})"
        )
    for d, n in enumerate(index.shape):
        too_big = d != axis and n > shape[d]
        if too_big or (src is not None and n > src[d]):
            limit = "" if src is None else f" and to be no larger size than src {src}"
            raise RuntimeError(
                f"{op}(): Size does not match at dimension {d}: expected index "
                f"{list(index.shape)} to be no larger than self {list(shape)} "
                f"apart from dimension {axis}{limit}"
            )


def _scalar_safe(fn: Any) -> Any:
    """Run ``fn`` on 1-element views of 0-d input and index (PyTorch allows 0-d)."""

    def wrapper(input: Tensor, dim: int, index: Tensor, *args: Any, **kw: Any):
        if input._data.ndim == 0 and isinstance(index, Tensor) and index.ndim == 0:
            args = tuple(a.reshape(1) if isinstance(a, Tensor) else a for a in args)
            out = fn(input.reshape(1), dim, index.reshape(1), *args, **kw)
            return out.reshape(())
        return fn(input, dim, index, *args, **kw)

    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


@_scalar_safe
def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False):
    """``out[i][j][k] = input[i][index[i][j][k]][k]`` for ``dim=1``.

    Args:
        input: the source tensor.
        dim: the dimension to index along.
        index: an integer tensor with as many dimensions as ``input``, no
            larger than it in the other dimensions.
        sparse_grad: accepted for PyTorch compatibility; the gradient is dense.

    Returns:
        A tensor of ``index``'s shape.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([[1., 2.], [3., 4.]])
        >>> torch.gather(x, 1, torch.tensor([[0, 0], [1, 0]])).tolist()
        [[1.0, 1.0], [4.0, 3.0]]
    """
    array = _index_array(index, "gather")
    (axis,) = normalize_dims(dim, input._data.ndim, "gather")
    _check_index_shape(input, array, axis, "gather")
    _check_bounds(array, input._data.shape[axis], axis, "gather")
    return Gather.apply(input, index=array, axis=axis)


@_scalar_safe
def scatter(
    input: Tensor,
    dim: int,
    index: Tensor,
    src: Any = None,
    *,
    value: Any = None,
    reduce: str | None = None,
) -> Tensor:
    """A copy of ``input`` with ``src`` (or ``value``) written at ``index``.

    For ``dim=0``: ``out[index[i][j]][j] = src[i][j]``. Where ``index`` repeats
    a position, which write wins is unspecified (as in PyTorch).

    Args:
        input: the tensor to copy.
        dim: the dimension ``index`` points along.
        index: an integer tensor, no larger than ``input`` (but in ``dim``)
            and than ``src``.
        src: a tensor of ``input``'s dtype, or a number.
        value: a number to write (instead of ``src``).
        reduce: not supported; use ``scatter_add``.

    Example:
        >>> import plaingrad as torch
        >>> torch.zeros(3).scatter(0, torch.tensor([2]), 5.0).tolist()
        [0.0, 0.0, 5.0]
    """
    if reduce is not None:
        raise NotImplementedError(
            f"scatter: `reduce={reduce!r}` is not supported; use scatter_add for "
            "reduce='add'"
        )
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter(): expected `src` (a Tensor) or `value` (a number)")
    array = _index_array(index, "scatter")
    (axis,) = normalize_dims(dim, input._data.ndim, "scatter")
    if isinstance(src, Tensor):
        _check_dtypes(input, src, "scatter", "src")
        _check_index_shape(input, array, axis, "scatter", list(src._data.shape))
    else:
        _check_index_shape(input, array, axis, "scatter")
    _check_bounds(array, input._data.shape[axis], axis, "scatter")
    if isinstance(src, Tensor):
        return Scatter.apply(input, src, index=array, axis=axis)
    return ScatterValue.apply(input, value=src, index=array, axis=axis)


@_scalar_safe
def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index``; repeats accumulate.

    Example:
        >>> import plaingrad as torch
        >>> idx = torch.tensor([0, 0, 2])
        >>> torch.zeros(3).scatter_add(0, idx, torch.ones(3)).tolist()
        [2.0, 0.0, 1.0]
    """
    array = _index_array(index, "scatter_add")
    (axis,) = normalize_dims(dim, input._data.ndim, "scatter_add")
    if not isinstance(src, Tensor):
        raise TypeError(f"scatter_add(): `src` must be a Tensor, got {type(src)}")
    _check_dtypes(input, src, "scatter_add", "src")
    _check_index_shape(input, array, axis, "scatter_add", list(src._data.shape))
    _check_bounds(array, input._data.shape[axis], axis, "scatter_add")
    return ScatterAdd.apply(input, src, index=array, axis=axis)


def _vector_index(input: Tensor, dim: int, index: Tensor, op: str) -> tuple:
    array = _index_array(index, op)
    if array.ndim > 1:
        raise IndexError(
            f"{op}(): Index is supposed to be a vector, got shape {list(array.shape)}"
        )
    ndim = input._data.ndim
    (axis,) = normalize_dims(dim, ndim, op)
    size = input._data.shape[axis] if ndim else 1
    return array.reshape(-1), axis, size


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The slices of ``input`` at positions ``index`` (1-D) along ``dim``.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([[1., 2.], [3., 4.]])
        >>> x.index_select(0, torch.tensor([1, 1])).tolist()
        [[3.0, 4.0], [3.0, 4.0]]
    """
    array, axis, size = _vector_index(input, dim, index, "index_select")
    _check_bounds(array, size, axis, "index_select")
    if input._data.ndim == 0:
        return IndexSelect.apply(input.reshape(1), index=array, axis=0).reshape(())
    return IndexSelect.apply(input, index=array, axis=axis)


def index_add(
    input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: Any = 1
) -> Tensor:
    """A copy of ``input`` with ``alpha * source`` added at rows ``index``.

    Example:
        >>> import plaingrad as torch
        >>> out = torch.zeros(3).index_add(0, torch.tensor([0, 0]), torch.ones(2))
        >>> out.tolist()
        [2.0, 0.0, 0.0]
    """
    array, axis, size = _vector_index(input, dim, index, "index_add")
    if input._data.dtype != source._data.dtype:
        raise RuntimeError(
            f"index_add(): self ({_TORCH_NAMES.get(input.dtype.name)}) and source "
            f"({_TORCH_NAMES.get(source.dtype.name)}) must have the same scalar type"
        )
    shape, src_shape = input._data.shape, source._data.shape
    if not shape and not src_shape:
        # PyTorch takes a 0-d input and source as one row each
        if array.size != 1:
            raise IndexError(
                "index_add(): Dimension specified as 0 but tensor has no dimensions"
            )
        if array[0] != 0:
            raise IndexError(
                f"index_add(): index out of range in self (index {int(array[0])} "
                f"for a 0-d tensor)"
            )
        return IndexAdd.apply(input, source, index=array, axis=0, alpha=alpha)
    if len(src_shape) != len(shape) or any(
        a != b for d, (a, b) in enumerate(zip(shape, src_shape)) if d != axis
    ):
        raise RuntimeError(
            f"index_add(): source tensor shape must match self tensor shape, "
            f"excluding the specified dimension. Got self.shape = {list(shape)} "
            f"source.shape = {list(src_shape)}"
        )
    if src_shape[axis] != array.size:
        raise RuntimeError(
            f"index_add(): Number of indices ({array.size}) should be equal to "
            f"source.size(dim): ({src_shape[axis]}), for dim: {axis}"
        )
    if ((array < 0) | (array >= size)).any():
        raise IndexError(
            f"index_add(): index out of range in self (indices {array.tolist()} "
            f"for dimension {axis} of size {size})"
        )
    return IndexAdd.apply(input, source, index=array, axis=axis, alpha=alpha)


def index_put(
    input: Tensor, indices: Any, values: Tensor, accumulate: bool = False
) -> Tensor:
    """A copy of ``input`` with ``out[indices] = values`` (or ``+=``).

    Args:
        input: the tensor to copy.
        indices: a tuple of integer or bool tensors, one per leading dimension.
        values: a tensor of ``input``'s dtype that broadcasts to the indexed
            shape.
        accumulate: add into the positions (repeats accumulate) instead of
            overwriting them.

    Example:
        >>> import plaingrad as torch
        >>> idx = (torch.tensor([0, 0]),)
        >>> torch.zeros(2).index_put(idx, torch.tensor(1.), True).tolist()
        [2.0, 0.0]
    """
    if isinstance(indices, Tensor) or not isinstance(indices, (tuple, list)):
        raise TypeError(
            f"index_put(): `indices` must be a tuple of Tensors, got "
            f"{type(indices).__name__}"
        )
    index = []
    for i, t in enumerate(indices):
        if not isinstance(t, Tensor) or t._data.dtype.kind not in "iub":
            raise IndexError(
                f"index_put(): tensors used as indices must be long, int, byte or "
                f"bool tensors; `indices[{i}]` is {getattr(t, 'dtype', type(t))}"
            )
        index.append(t._data)
    index = tuple(index)
    if not isinstance(values, Tensor):
        raise TypeError(f"index_put(): `values` must be a Tensor, got {type(values)}")
    if values._data.dtype != input._data.dtype:
        raise RuntimeError(
            f"index_put(): Index put requires the source and destination dtypes "
            f"match, got {_TORCH_NAMES.get(input.dtype.name, input.dtype)} for the "
            f"destination and {_TORCH_NAMES.get(values.dtype.name, values.dtype)} "
            "for the source."
        )
    try:
        target = input._data[index].shape
    except IndexError as error:
        raise IndexError(
            f"index_put(): {error} (tensor shape {list(input._data.shape)})"
        ) from None
    try:
        fits = np.broadcast_shapes(values._data.shape, target) == target
    except ValueError:
        fits = False
    if not fits:
        raise RuntimeError(
            f"index_put(): shape mismatch: value tensor of shape "
            f"{list(values._data.shape)} cannot be broadcast to indexing result of "
            f"shape {list(target)}"
        )
    return IndexPut.apply(input, values, index=index, accumulate=bool(accumulate))


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Pick values along ``dim`` at ``indices``, broadcasting the other dims.

    With ``dim=None`` both tensors are flattened first. Negative indices count
    from the end.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([[10., 30., 20.], [60., 40., 50.]])
        >>> torch.take_along_dim(x, x.argmax(1, keepdim=True), 1).tolist()
        [[30.0], [60.0]]
    """
    array = _index_array(indices, "take_along_dim", "indices")
    if dim is None:
        flat = input.reshape(-1)
        _check_bounds(array, flat._data.size, 0, "take_along_dim")
        return Gather.apply(flat, index=array.reshape(-1), axis=0)
    shape = input._data.shape
    if array.ndim != len(shape):
        raise RuntimeError(
            f"torch.take_along_dim(): input and indices should have the same number "
            f"of dimensions, but got {len(shape)} dimensions for input, and "
            f"{array.ndim} dimensions for indices"
        )
    (axis,) = normalize_dims(dim, len(shape), "take_along_dim")
    others = [(a, b) for d, (a, b) in enumerate(zip(shape, array.shape)) if d != axis]
    try:
        common = list(np.broadcast_shapes(*zip(*others))) if others else []
    except ValueError:
        raise RuntimeError(
            f"take_along_dim(): input of shape {list(shape)} and indices of shape "
            f"{list(array.shape)} do not broadcast outside dimension {axis}"
        ) from None
    input_shape = tuple(common[:axis] + [shape[axis]] + common[axis:])
    index_shape = tuple(common[:axis] + [array.shape[axis]] + common[axis:])
    if input_shape != shape:
        input = expand(input, input_shape)
    array = _check_bounds(array, shape[axis], axis, "take_along_dim", wrap=True)
    array = xp.broadcast_to(array, index_shape)
    return Gather.apply(input, index=array, axis=axis)
