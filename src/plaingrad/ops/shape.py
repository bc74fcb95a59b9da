"""Shape ops: reshape/view, transpose/permute, squeeze/unsqueeze, expand, flatten,
cat/stack, and indexing.

Shape ops move no values: their backward rules undo the same rearrangement on
the gradient. NumPy returns views where it can, so ``reshape`` copies only when
it must and ``view`` refuses (as PyTorch does) when it would have to copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _share_version, _wrap
from ._util import normalize_dims


class Reshape(Op):
    # PyTorch's name when a reshape has to copy
    _name = "UnsafeViewBackward0"

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad_output):
        # a reshape moves no values: reshape the gradient back
        return grad_output.reshape(ctx.in_shape)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return grad_output.reshape(ctx.in_shape)


class View(Reshape):
    _name = "ViewBackward0"
    _view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        try:
            out = xp.reshape(a, shape, copy=False)
        except ValueError:
            strides = [st // a.itemsize for st in a.strides]
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride "
                "(at least one dimension spans across two contiguous subspaces). "
                f"Use .reshape(...) instead. (view: input of shape "
                f"{list(a.shape)} with strides {strides}, requested {list(shape)})"
            ) from None
        return out


# Views that PyTorch names after the function that made them.
class Squeeze(View):
    _name = "SqueezeBackward0"


class SqueezeDim(View):
    _name = "SqueezeBackward1"


class SqueezeDims(View):
    _name = "SqueezeBackward2"


class Unsqueeze(View):
    _name = "UnsqueezeBackward0"


class Permute(Op):
    _name = "PermuteBackward0"
    _view = True

    @staticmethod
    def forward(ctx, a, axes):
        ctx.axes = axes
        return xp.transpose(a, axes)

    @staticmethod
    def backward(ctx, grad_output):
        # undo the permutation with its inverse
        return xp.transpose(grad_output, np.argsort(ctx.axes))

    @staticmethod
    def backward_graph(ctx, grad_output):
        return grad_output.permute(tuple(int(i) for i in np.argsort(ctx.axes)))


class Transpose(Permute):
    _name = "TransposeBackward0"


class TransposeT(Permute):
    _name = "TBackward0"


class Expand(Op):
    _name = "ExpandBackward0"
    _view = True

    @staticmethod
    def forward(ctx, a, shape):
        ctx.in_shape = a.shape
        lead = len(shape) - a.ndim
        strides = (0,) * lead + tuple(
            0 if n != m else st for n, m, st in zip(a.shape, shape[lead:], a.strides)
        )
        if any(st == 0 and m > 1 for st, m in zip(strides, shape)):
            # elements repeat: read-only, so that no write reaches them twice
            return xp.broadcast_to(a, shape)
        # nothing repeats: a writable view, so in-place ops reach the input
        return np.lib.stride_tricks.as_strided(a, shape, strides)

    @staticmethod
    def backward(ctx, grad_output):
        # each input element was repeated: sum its copies' gradients
        from ._util import unbroadcast

        return unbroadcast(grad_output, ctx.in_shape)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return grad_output.sum_to_size(ctx.in_shape)


class Cat(Op):
    _name = "CatBackward0"

    @staticmethod
    def forward(ctx, *arrays, axis, skip=()):
        # ``skip``: positions of 1-D empty inputs left out (PyTorch's legacy rule)
        ctx.axis, ctx.skip, ctx.count = axis, skip, len(arrays)
        kept = [a for i, a in enumerate(arrays) if i not in skip]
        ctx.bounds = np.cumsum([a.shape[axis] for a in kept])[:-1]
        return xp.concatenate(kept, axis=axis)

    @staticmethod
    def backward(ctx, grad_output):
        # each input gets back its own slice of the gradient; a skipped one zeros
        parts = iter(xp.split(grad_output, ctx.bounds, axis=ctx.axis))
        return tuple(
            xp.zeros((0,), dtype=grad_output.dtype) if i in ctx.skip else next(parts)
            for i in range(ctx.count)
        )

    @staticmethod
    def backward_graph(ctx, grad_output):
        head = (slice(None),) * ctx.axis
        bounds = [0, *(int(b) for b in ctx.bounds), grad_output.shape[ctx.axis]]
        parts = iter(
            grad_output[head + (slice(lo, hi),)] for lo, hi in zip(bounds, bounds[1:])
        )
        empty = _wrap(xp.zeros((0,), dtype=grad_output._data.dtype), None)
        return tuple(empty if i in ctx.skip else next(parts) for i in range(ctx.count))


class Stack(Op):
    _name = "StackBackward0"

    @staticmethod
    def forward(ctx, *arrays, axis):
        ctx.axis = axis
        return xp.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, grad_output):
        # each input gets back its own slice of the gradient
        n = grad_output.shape[ctx.axis]
        return tuple(xp.take(grad_output, i, axis=ctx.axis) for i in range(n))

    @staticmethod
    def backward_graph(ctx, grad_output):
        head = (slice(None),) * ctx.axis
        n = grad_output.shape[ctx.axis]
        return tuple(grad_output[head + (i,)] for i in range(n))


class Index(Op):
    _name = "IndexBackward0"

    @staticmethod
    def forward(ctx, a, index, basic, pre=None):
        # ``pre``: a basic index applied first (see ``_split_index``)
        ctx.shape = a.shape
        ctx.index = index
        ctx.basic = basic
        ctx.pre = pre
        if pre is not None:
            a = a[pre]
        return a[index]

    @staticmethod
    def backward(ctx, grad_output):
        # scatter the gradient back to the positions that were read; repeated
        # positions (advanced indexing) add up
        grad_input = xp.zeros(ctx.shape, dtype=grad_output.dtype)
        target = grad_input if ctx.pre is None else grad_input[ctx.pre]
        if ctx.basic:
            target[ctx.index] = grad_output
        else:
            xp.add.at(target, ctx.index, grad_output)
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        return IndexScatter.apply(
            grad_output, shape=ctx.shape, index=ctx.index, basic=ctx.basic, pre=ctx.pre
        )


class IndexScatter(Op):
    """The adjoint of ``Index``: ``grad`` written (or added) into zeros at the
    positions ``Index`` read. It is Index's Tensor-level rule, and Index is
    its backward, so indexing can be differentiated any number of times."""

    _name = "IndexPutBackward0"

    @staticmethod
    def forward(ctx, grad, shape, index, basic, pre=None):
        ctx.index, ctx.basic, ctx.pre = index, basic, pre
        out = xp.zeros(shape, dtype=grad.dtype)
        target = out if pre is None else out[pre]
        if basic:
            target[index] = grad
        else:
            xp.add.at(target, index, grad)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # a scatter's gradient reads back the places it wrote
        grad = grad_output if ctx.pre is None else grad_output[ctx.pre]
        return xp.asarray(grad[ctx.index])

    @staticmethod
    def backward_graph(ctx, grad_output):
        return Index.apply(grad_output, index=ctx.index, basic=ctx.basic, pre=ctx.pre)


class Select(Index):
    _name = "SelectBackward0"


class Slice(Index):
    _name = "SliceBackward0"


# ------------------------------------------------------------ public functions


def _shape_arg(input: Tensor, shape: tuple, op: str) -> tuple:
    """Resolve one -1 and check the element count, with PyTorch's message."""
    shape = _sizes_allow_neg(shape, op)
    size = input._data.size
    if -1 in shape:
        if shape.count(-1) > 1:
            raise RuntimeError(f"{op}: only one dimension can be inferred")
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or size % known:
            raise RuntimeError(
                f"{op}: shape '{list(shape)}' is invalid for input of size {size}"
            )
        shape = tuple(size // known if s == -1 else s for s in shape)
    elif int(np.prod(shape)) != size:
        raise RuntimeError(
            f"{op}: shape '{list(shape)}' is invalid for input of size {size}"
        )
    return shape


def _sizes_allow_neg(args: tuple, op: str) -> tuple:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for s in args:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(
                f"{op}: expected a sequence of ints as the shape, got an element "
                f"of type {type(s).__name__}"
            )
        if s < -1:
            raise RuntimeError(f"{op}: invalid shape dimension {s}")
    return tuple(int(s) for s in args)


def reshape(input: Tensor, *shape: Any) -> Tensor:
    """The same values in a new shape (a view when possible, else a copy)."""
    shape = _shape_arg(input, shape, "reshape")
    data = input._data
    if data.flags.c_contiguous or shape == data.shape:
        return View.apply(input, shape=shape)
    try:
        xp.reshape(data, shape, copy=False)
    except ValueError:
        return Reshape.apply(input, shape=shape)  # the strides need a copy
    return View.apply(input, shape=shape)


def view(input: Tensor, *shape: Any) -> Tensor:
    """The same memory seen in a new shape; raises if that needs a copy."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        from .elementwise import to_dtype

        return to_dtype(input, shape[0])
    return View.apply(input, shape=_shape_arg(input, shape, "view"))


def flatten(input: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dimensions ``start_dim..end_dim`` into one."""
    shape = input._data.shape
    if not shape:
        return reshape(input, 1)
    start, end = normalize_dims((start_dim, end_dim), len(shape), "flatten")
    if start > end:
        raise RuntimeError(
            "flatten() has invalid args: start_dim cannot come after end_dim"
        )
    if start == end:
        return input  # PyTorch returns the tensor itself, not a view
    merged = int(np.prod(shape[start : end + 1]))
    return reshape(input, shape[:start] + (merged,) + shape[end + 1 :])


def unflatten(input: Tensor, dim: int, sizes: Any) -> Tensor:
    shape = input._data.shape
    (d,) = normalize_dims(dim, len(shape), "unflatten")
    return reshape(input, shape[:d] + tuple(sizes) + shape[d + 1 :])


def permute(input: Tensor, *dims: Any) -> Tensor:
    """Reorder the dimensions: ``dims`` lists the old dimension for each new one."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    ndim = input._data.ndim
    if len(dims) != ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does "
            f"not match the length of the desired ordering of dimensions i.e. "
            f"input.dim() = {ndim} is not equal to len(dims) = {len(dims)}"
        )
    axes = normalize_dims(dims, ndim, "permute")
    if len(set(axes)) != ndim:
        raise RuntimeError(f"permute(): duplicate dims are not allowed: {dims}")
    return Permute.apply(input, axes=axes)


def transpose(input: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions (a view)."""
    ndim = input._data.ndim
    if ndim == 0:
        normalize_dims((dim0, dim1), 0, "transpose")
        return Transpose.apply(input, axes=())
    d0, d1 = normalize_dims((dim0, dim1), ndim, "transpose")
    axes = list(range(ndim))
    axes[d0], axes[d1] = d1, d0
    return Transpose.apply(input, axes=tuple(axes))


def t(input: Tensor) -> Tensor:
    """Transpose a tensor of at most 2 dimensions."""
    if input._data.ndim > 2:
        raise RuntimeError(
            f"t() expects a tensor with <= 2 dimensions, but self is "
            f"{input._data.ndim}D"
        )
    axes = (1, 0) if input._data.ndim == 2 else tuple(range(input._data.ndim))
    return TransposeT.apply(input, axes=axes)


def T(input: Tensor) -> Tensor:
    """All dimensions reversed."""
    ndim = input._data.ndim
    return Permute.apply(input, axes=tuple(range(ndim - 1, -1, -1)))


def squeeze(input: Tensor, dim: Any = None) -> Tensor:
    """Remove dimensions of size 1 (all of them, or those in ``dim``)."""
    shape = input._data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
        op = Squeeze
    else:
        axes = normalize_dims(dim, len(shape), "squeeze") if shape else ()
        new = tuple(s for i, s in enumerate(shape) if not (i in axes and s == 1))
        op = SqueezeDims if isinstance(dim, (tuple, list)) else SqueezeDim
    return op.apply(input, shape=new)


def unsqueeze(input: Tensor, dim: int) -> Tensor:
    """Insert a dimension of size 1 at ``dim``."""
    shape = input._data.shape
    (d,) = normalize_dims(dim, len(shape) + 1, "unsqueeze")
    return Unsqueeze.apply(input, shape=shape[:d] + (1,) + shape[d:])


def expand(input: Tensor, *sizes: Any) -> Tensor:
    """Repeat size-1 dimensions without copying; -1 keeps a size."""
    if not sizes:
        # as PyTorch: x.expand() is refused, x.expand(()) is not
        raise TypeError('expand() missing 1 required positional arguments: "size"')
    sizes = _sizes_allow_neg(sizes, "expand")
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater "
            f"or equal to the number of dimensions in the tensor ({len(shape)})"
        )
    lead = len(sizes) - len(shape)
    target = []
    for i, s in enumerate(sizes):
        if s == -1:
            if i < lead:
                raise RuntimeError(
                    "expand: -1 is not allowed in a leading, non-existing dimension"
                )
            s = shape[i - lead]
        elif i >= lead and shape[i - lead] not in (1, s):
            raise RuntimeError(
                f"expand: The expanded size of the tensor ({s}) must match the "
                f"existing size ({shape[i - lead]}) at non-singleton dimension "
                f"{i}.  Target sizes: {list(sizes)}.  Tensor sizes: {list(shape)}"
            )
        target.append(s)
    return Expand.apply(input, shape=tuple(target))


def expand_as(input: Tensor, other: Tensor) -> Tensor:
    return expand(input, other._data.shape)


def _same_rank(tensors: Any, op: str) -> list:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{op}(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{op}(): expected a sequence of Tensors, but element {i} is "
                f"{type(t).__name__}"
            )
    dts = {t._data.dtype for t in tensors}
    if len(dts) > 1:
        from .. import _dtype
        from ._util import cast

        target = _dtype.result_np([t._data.dtype for t in tensors], [], [])
        tensors = [cast(t, target) for t in tensors]
    return tensors


def cat(tensors: Any, dim: int = 0) -> Tensor:
    """Join tensors along an existing dimension."""
    if isinstance(tensors, Tensor):
        raise TypeError(
            "cat(): expected a sequence of Tensors, got a Tensor (wrap it in a "
            "list: cat([a, b]))"
        )
    tensors = _same_rank(tensors, "cat")
    for i, t in enumerate(tensors):
        if not t._data.ndim:
            raise RuntimeError(
                f"cat(): zero-dimensional tensor (at position {i}) cannot be "
                "concatenated"
            )
    # PyTorch skips 1-D empty tensors in cat (legacy behaviour) when they join
    # tensors of more dims (they still get a zero gradient); among 1-D ones
    # they simply add nothing.
    skip = ()
    if any(t._data.ndim != 1 for t in tensors):
        skip = tuple(i for i, t in enumerate(tensors) if t._data.shape == (0,))
    kept = [t for i, t in enumerate(tensors) if i not in skip]
    ndim = kept[0]._data.ndim
    (axis,) = normalize_dims(dim, ndim, "cat")
    first = kept[0]._data.shape
    for i, t in enumerate(kept):
        s = t._data.shape
        if (
            len(s) != ndim
            or s[:axis] + s[axis + 1 :] != first[:axis] + first[axis + 1 :]
        ):
            raise RuntimeError(
                f"cat(): Sizes of tensors must match except in dimension {axis}. "
                f"Expected {list(first)} (tensor 0) but got {list(s)} for "
                f"tensor number {i} in the list."
            )
    return Cat.apply(*tensors, axis=axis, skip=skip)


def stack(tensors: Any, dim: int = 0) -> Tensor:
    """Join tensors of one shape along a new dimension."""
    tensors = _same_rank(tensors, "stack")
    first = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != first:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got "
                f"{list(first)} at entry 0 and {list(t._data.shape)} at entry {i}"
            )
    (axis,) = normalize_dims(dim, len(first) + 1, "stack")
    return Stack.apply(*tensors, axis=axis)


def _convert_index(index: Any, op: str) -> tuple[Any, bool]:
    """Turn a PyTorch index into a NumPy one; report if it is basic indexing."""
    items = index if isinstance(index, tuple) else (index,)
    out = []
    basic = True
    for item in items:
        if isinstance(item, Tensor):
            array = item._data
            if array.dtype.kind not in "iub":
                raise IndexError(
                    f"{op}: tensors used as indices must be long, int, byte or "
                    f"bool tensors, got {item.dtype}"
                )
            if array.dtype.kind == "b" or array.ndim > 0:
                basic = False
            else:
                array = int(array)
            out.append(array)
        elif isinstance(item, (list, np.ndarray)):
            array = np.asarray(item)
            if array.dtype.kind == "f":
                raise IndexError(
                    f"{op}: only integers, slices, None, Ellipsis, bool and "
                    "integer sequences are valid indices"
                )
            basic = False
            out.append(array)
        elif (
            isinstance(item, (int, np.integer, slice))
            or item is None
            or item is Ellipsis
        ):
            if isinstance(item, slice) and item.step is not None and item.step < 0:
                raise ValueError(f"{op}: step must be greater than zero")
            out.append(item)
        else:
            raise IndexError(
                f"{op}: only integers, slices, None, Ellipsis, bool and integer "
                f"tensors are valid indices (got {type(item).__name__})"
            )
    return tuple(out), basic


def _split_index(index: tuple) -> tuple[Any, tuple]:
    """Split an advanced index that holds integers into a basic one and the rest.

    PyTorch applies integer indices as basic indexing (each removes its
    dimension) before the advanced ones, while NumPy treats an integer next to
    an array as one more advanced index, which can move the broadcast
    dimensions to the front: ``x[1, :, [0, 1]]`` is (3, 2) in PyTorch but
    (2, 3) in NumPy for x of shape (2, 3, 4). Returns ``(pre, rest)`` with
    ``x[pre][rest]`` equal to PyTorch's ``x[index]``; ``pre`` is None when
    NumPy's answer is already PyTorch's.
    """
    if not any(isinstance(item, (int, np.integer)) for item in index):
        return None, index
    pre, rest = [], []
    for item in index:
        if isinstance(item, (int, np.integer)):
            pre.append(item)
        elif isinstance(item, np.ndarray):
            # a mask consumes as many dimensions as it has
            pre.extend([slice(None)] * (item.ndim if item.dtype.kind == "b" else 1))
            rest.append(item)
        elif item is Ellipsis:
            pre.append(item)
            rest.append(item)
        else:  # a slice or None: applied by ``pre``, kept whole by ``rest``
            pre.append(item)
            rest.append(slice(None))
    return tuple(pre), tuple(rest)


def getitem(input: Tensor, index: Any) -> Tensor:
    """``input[index]``: ints, slices, None, Ellipsis, integer arrays, masks."""
    np_index, basic = _convert_index(index, "index")
    pre = None
    if not basic:
        pre, np_index = _split_index(np_index)
    op = Index
    if basic:
        # PyTorch names a basic index by its last step: select or slice
        kinds = {type(item) for item in np_index}
        op = Select if kinds <= {int} else Slice if slice in kinds else Index
        if all(isinstance(item, (int, np.integer)) for item in np_index):
            # NumPy would give a scalar (a copy); PyTorch gives a 0-d view
            np_index += (Ellipsis,)
    try:
        out = op.apply(input, index=np_index, basic=basic, pre=pre)
    except IndexError as error:
        raise IndexError(f"index: {error} (tensor shape {list(input.shape)})") from None
    if basic:
        _share_version(out, input, op)  # basic indexing gives a view
    return out


def select(input: Tensor, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, that dimension removed (a view)."""
    shape = input._data.shape
    if not shape:
        raise IndexError("select() cannot be applied to a 0-dim tensor.")
    (axis,) = normalize_dims(dim, len(shape), "select")
    index = int(index)
    if not -shape[axis] <= index < shape[axis]:
        raise IndexError(
            f"select(): index {index} out of range for tensor of size "
            f"{list(shape)} at dimension {axis}"
        )
    np_index = (slice(None),) * axis + (index % shape[axis], Ellipsis)
    out = Select.apply(input, index=np_index, basic=True)
    _share_version(out, input, Select)
    return out


def setitem(input: Tensor, index: Any, value: Any) -> None:
    """``input[index] = value``, in place, differentiable as in PyTorch.

    A basic index (ints, slices, None, Ellipsis) copies ``value`` into the view
    ``input[index]`` (so the gradient goes through ``CopySlices``); an advanced
    one is an in-place ``index_put`` (``IndexPutBackward0``). Either way the
    written elements lose their old gradient and ``value`` gets the sum of
    theirs over broadcasting.
    """
    from ..autograd.grad_mode import _mode

    np_index, basic = _convert_index(index, "index assignment")
    base = input._base
    if not _mode.enabled or not (
        input._requires_grad
        or (base is not None and base._requires_grad)
        or (isinstance(value, Tensor) and value._requires_grad)
    ):
        # nothing to record: write straight into the memory
        from .inplace import _check_writable

        _check_writable(input)
        target = input._data
        if not basic:
            pre, np_index = _split_index(np_index)
            if pre is not None:
                target = target[pre]
        try:
            target[np_index] = value._data if isinstance(value, Tensor) else value
        except ValueError:
            if not isinstance(value, Tensor):
                raise
            from .assign import check_fits

            check_fits(value, target[np_index].shape, basic)
            raise
        input._version += 1
        return
    from .assign import assign_recorded

    assign_recorded(input, index, np_index, basic, value)
