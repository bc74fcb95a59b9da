"""Reshaping ops: repeat/tile, flip, roll and tril/triu, which copy, and the
views narrow, chunk/split/unbind, movedim/swapaxes and diagonal, which share
the input's memory and version counter (``pad`` is in ``padding``).

Like the views in ``shape``, these ops rearrange values without computing new
ones, so each backward rule sends every gradient element back to the place its
value was read from; values read more than once (repeat) collect the sum of
their copies' gradients. Ops that return several tensors (split, chunk,
unbind) give each piece its own node that reads one slice, so the engine adds
the pieces' gradients into the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..autograd.grad_mode import _mode
from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from ._util import normalize_dims
from .shape import IndexScatter, Permute, transpose


class Repeat(Op):
    _name = "RepeatBackward0"

    @staticmethod
    def forward(ctx, a, repeats):
        ctx.in_shape = a.shape
        lead = (1,) * (len(repeats) - a.ndim)
        ctx.padded = lead + a.shape
        return xp.tile(a.reshape(ctx.padded), repeats)

    @staticmethod
    def backward(ctx, grad_output):
        # every copy of an element read it once: sum the copies' gradients
        interleaved = []
        for r, n in zip(grad_output.shape, ctx.padded):
            interleaved += [r // n if n else 0, n]
        grad = grad_output.reshape(interleaved)
        grad_input = grad.sum(axis=tuple(range(0, grad.ndim, 2)))
        return grad_input.reshape(ctx.in_shape)

    @staticmethod
    def backward_graph(ctx, grad_output):
        interleaved = []
        for r, n in zip(grad_output.shape, ctx.padded):
            interleaved += [r // n if n else 0, n]
        grad = grad_output.reshape(interleaved)
        grad_input = grad.sum(dim=tuple(range(0, grad.ndim, 2)))
        return grad_input.reshape(ctx.in_shape)


class Flip(Op):
    _name = "FlipBackward0"

    @staticmethod
    def forward(ctx, a, axes):
        # a 0-d tensor flips to itself along dim 0 / -1; `copy` (not
        # `ascontiguousarray`, which makes 0-d arrays 1-d) keeps its shape
        ctx.axes = axes if a.ndim else ()
        return xp.flip(a, ctx.axes).copy()

    @staticmethod
    def backward(ctx, grad_output):
        # flipping is its own inverse
        return xp.flip(grad_output, ctx.axes)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return flip(grad_output, ctx.axes)


class Roll(Op):
    _name = "RollBackward0"

    @staticmethod
    def forward(ctx, a, shifts, axes):
        ctx.shifts, ctx.axes = shifts, axes
        return xp.roll(a, shifts, axes)

    @staticmethod
    def backward(ctx, grad_output):
        # roll back by the same amounts
        shifts = ctx.shifts
        back = -shifts if ctx.axes is None else tuple(-s for s in shifts)
        return xp.roll(grad_output, back, ctx.axes)

    @staticmethod
    def backward_graph(ctx, grad_output):
        shifts = ctx.shifts
        if ctx.axes is None:
            return roll(grad_output, -shifts)
        return roll(grad_output, tuple(-s for s in shifts), ctx.axes)


class Slice(Op):
    """Reads ``a[index]`` (slices and ints; a view); narrow, split, chunk and
    unbind."""

    _name = "SliceBackward0"
    _view = True

    @staticmethod
    def forward(ctx, a, index):
        ctx.in_shape, ctx.index = a.shape, index
        return a[index]

    @staticmethod
    def backward(ctx, grad_output):
        # the slice's gradient goes back to the slice; elsewhere zero
        grad_input = xp.zeros(ctx.in_shape, dtype=grad_output.dtype)
        grad_input[ctx.index] = grad_output
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        return IndexScatter.apply(
            grad_output, shape=ctx.in_shape, index=ctx.index, basic=True
        )


class SplitPiece(Slice):
    _name = "SplitBackward0"


class SplitWithSizesPiece(Slice):
    _name = "SplitWithSizesBackward0"


class UnbindPiece(Slice):
    _name = "UnbindBackward0"


def _diagonal_index(shape: tuple, offset: int) -> tuple:
    """Row and column positions of a diagonal of the last two dimensions."""
    rows, cols = shape[-2], shape[-1]
    start_row, start_col = max(0, -offset), max(0, offset)
    length = max(0, min(rows - start_row, cols - start_col))
    steps = xp.arange(length)
    return (Ellipsis, steps + start_row, steps + start_col)


class Diagonal(Op):
    _name = "DiagonalBackward0"
    _view = True

    @staticmethod
    def forward(ctx, a, offset, axis1, axis2):
        ctx.in_shape, ctx.axes = a.shape, (axis1, axis2)
        moved = xp.moveaxis(a, (axis1, axis2), (-2, -1))
        ctx.index = _diagonal_index(moved.shape, offset)
        # a view: one step along the diagonal is a step down plus one right
        corner = moved[..., max(0, -offset) :, max(0, offset) :]
        shape = moved.shape[:-2] + (ctx.index[1].size,)
        strides = moved.strides[:-2] + (moved.strides[-2] + moved.strides[-1],)
        return as_strided(corner, shape, strides, writeable=a.flags.writeable)

    @staticmethod
    def backward(ctx, grad_output):
        # the gradient lands on the diagonal it was read from; zero elsewhere
        grad_input = xp.zeros(ctx.in_shape, dtype=grad_output.dtype)
        moved = xp.moveaxis(grad_input, ctx.axes, (-2, -1))
        moved[ctx.index] = grad_output
        return grad_input

    @staticmethod
    def backward_graph(ctx, grad_output):
        # scatter into the planes moved last, then move them back
        axis1, axis2 = ctx.axes
        rest = [n for i, n in enumerate(ctx.in_shape) if i not in ctx.axes]
        moved = (*rest, ctx.in_shape[axis1], ctx.in_shape[axis2])
        planes = IndexScatter.apply(
            grad_output, shape=moved, index=ctx.index, basic=True
        )
        return movedim(planes, (-2, -1), ctx.axes)


class Tril(Op):
    _name = "TrilBackward0"

    @staticmethod
    def forward(ctx, a, diagonal):
        ctx.diagonal = diagonal
        return xp.tril(a, diagonal)

    @staticmethod
    def backward(ctx, grad_output):
        # d tril(a) / da is 1 on the kept triangle, 0 above it
        return xp.tril(grad_output, ctx.diagonal)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return tril(grad_output, ctx.diagonal)


class Triu(Op):
    _name = "TriuBackward0"

    @staticmethod
    def forward(ctx, a, diagonal):
        ctx.diagonal = diagonal
        return xp.triu(a, diagonal)

    @staticmethod
    def backward(ctx, grad_output):
        # d triu(a) / da is 1 on the kept triangle, 0 below it
        return xp.triu(grad_output, ctx.diagonal)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return triu(grad_output, ctx.diagonal)


# ------------------------------------------------------------ public functions


def _int_list(args: tuple, op: str, what: str) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` both give ``(2, 3)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(
                f"{op}: `{what}` must be a sequence of ints, got an element of "
                f"type {type(a).__name__}"
            )
    return tuple(int(a) for a in args)


def repeat(input: Tensor, *sizes: Any) -> Tensor:
    """Tile ``input``: dimension ``i`` of the result is ``sizes[i]`` copies.

    Args:
        input: the tensor to repeat.
        *sizes: copies per dimension (ints or one sequence); at least
            ``input.dim()`` of them, extra ones add leading dimensions.

    Returns:
        A new tensor of shape ``sizes[i] * input.shape[i]`` (aligned right).

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([1, 2]).repeat(2, 2).tolist()
        [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    if not sizes:
        # as PyTorch: x.repeat() is refused, x.repeat(()) is not
        raise TypeError('repeat() missing 1 required positional arguments: "repeats"')
    sizes = _int_list(sizes, "repeat", "sizes")
    shape = input._data.shape
    if len(sizes) < len(shape):
        raise RuntimeError(
            f"repeat: Number of dimensions of repeat dims can not be smaller than "
            f"number of dimensions of tensor (got {len(sizes)} repeats for a "
            f"tensor of shape {list(shape)})"
        )
    if any(s < 0 for s in sizes):
        raise RuntimeError(
            f"repeat: Trying to create tensor with negative dimension: repeats "
            f"{list(sizes)} for a tensor of shape {list(shape)}"
        )
    return Repeat.apply(input, repeats=sizes)


def tile(input: Tensor, *dims: Any) -> Tensor:
    """``repeat`` that also accepts fewer sizes than dimensions (leading ones).

    Args:
        input: the tensor to tile.
        *dims: copies per trailing dimension (ints or one sequence).

    Returns:
        The tiled tensor.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([[1, 2]]).tile(2).tolist()
        [[1, 2, 1, 2]]
    """
    dims = _int_list(dims, "tile", "dims")
    lead = (1,) * (input._data.ndim - len(dims))
    return repeat(input, lead + dims)


def flip(input: Tensor, *dims: Any) -> Tensor:
    """Reverse the order of elements along ``dims`` (a copy, as in PyTorch).

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([1, 2, 3]).flip(0).tolist()
        [3, 2, 1]
    """
    dims = _int_list(dims, "flip", "dims")
    axes = normalize_dims(dims, input._data.ndim, "flip")
    for a in axes:
        if axes.count(a) > 1:
            raise RuntimeError(
                f"flip: dim {a} appears multiple times in the list of dims {dims}"
            )
    return Flip.apply(input, axes=axes)


def roll(input: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements circularly by ``shifts`` along ``dims``.

    With ``dims=None`` the tensor is rolled as if flattened.

    Example:
        >>> import plaingrad as torch
        >>> torch.tensor([1, 2, 3, 4]).roll(1).tolist()
        [4, 1, 2, 3]
    """
    shifts = _int_list((shifts,), "roll", "shifts")
    dims = () if dims is None else _int_list((dims,), "roll", "dims")
    if dims == ():
        if len(shifts) != 1:
            raise RuntimeError(
                f"roll: shifts and dimensions must align. shifts: {len(shifts)}, dims:0"
            )
        # NumPy's axis=None also rolls the flattened tensor
        return Roll.apply(input, shifts=shifts[0], axes=None)
    if len(shifts) != len(dims):
        raise RuntimeError(
            f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
            f"dims:{len(dims)}"
        )
    axes = normalize_dims(dims, input._data.ndim, "roll")
    return Roll.apply(input, shifts=shifts, axes=axes)


def narrow(input: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """Elements ``start .. start + length - 1`` along ``dim``.

    Args:
        input: the tensor to narrow.
        dim: the dimension to narrow.
        start: the first index (negative counts from the end).
        length: how many elements to keep.

    Example:
        >>> import plaingrad as torch
        >>> torch.arange(5).narrow(0, 1, 3).tolist()
        [1, 2, 3]
    """
    shape = input._data.shape
    if not shape:
        raise RuntimeError("narrow: narrow() cannot be applied to a 0-dim tensor.")
    (axis,) = normalize_dims(dim, len(shape), "narrow")
    start = int(start.item()) if isinstance(start, Tensor) else int(start)
    size = shape[axis]
    if not -size <= start <= size:
        raise IndexError(
            f"narrow: start out of range (expected to be in range of "
            f"[{-size}, {size}], but got {start})"
        )
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    start %= size if size else 1
    if start + length > size:
        raise RuntimeError(
            f"narrow: start ({start}) + length ({length}) exceeds dimension size "
            f"({size})."
        )
    index = (slice(None),) * axis + (slice(start, start + length),)
    return Slice.apply(input, index=index)


def _pieces(input: Tensor, axis: int, sizes: Any, op: type) -> tuple:
    head = (slice(None),) * axis
    bounds = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    pieces = tuple(
        op.apply(input, index=head + (slice(int(lo), int(hi)),))
        for lo, hi in zip(bounds[:-1], bounds[1:])
    )
    return _several_views(pieces, input, op)


def _several_views(pieces: tuple, input: Tensor, op: type) -> tuple:
    """Mark views that one call returned together: PyTorch refuses in-place
    changes to them that autograd would record (see ``inplace``)."""
    kind = "multi" if _mode.enabled and input._requires_grad else "multi_no_grad"
    for i, piece in enumerate(pieces):
        piece._view_meta = (kind, op._name, i)
    return pieces


def split(input: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple:
    """Cut ``input`` along ``dim`` into pieces of one size or of listed sizes.

    Args:
        input: the tensor to split.
        split_size_or_sections: an int (every piece that size, the last one
            smaller if need be) or a list of sizes that sum to the dimension.
        dim: the dimension to cut.

    Returns:
        A tuple of tensors.

    Example:
        >>> import plaingrad as torch
        >>> [p.tolist() for p in torch.arange(5).split(2)]
        [[0, 1], [2, 3], [4]]
    """
    shape = input._data.shape
    (axis,) = normalize_dims(dim, len(shape), "split")
    size = shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step < 0:
            raise RuntimeError(
                f"split expects split_size be non-negative, but got split_size={step}"
            )
        if step == 0 and size:
            raise RuntimeError(
                f"split: split_size can only be 0 if dimension size is 0, but got "
                f"dimension size of {size}"
            )
        sizes = [step] * (size // step) if step else []
        if not sizes or size % step:
            sizes.append(size % step if step else 0)
        return _pieces(input, axis, sizes, SplitPiece)
    sizes = list(_int_list((split_size_or_sections,), "split", "split_sizes"))
    if any(s < 0 for s in sizes):
        raise RuntimeError(
            f"split_with_sizes expects split_sizes have only non-negative entries, "
            f"but got split_sizes={sizes}"
        )
    if sum(sizes) != size:
        raise RuntimeError(
            f"split_with_sizes expects split_sizes to sum exactly to {size} (input "
            f"tensor's size at dimension {axis}), but got split_sizes={sizes}"
        )
    return _pieces(input, axis, sizes, SplitWithSizesPiece)


def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Split into ``chunks`` pieces of size ``ceil(n / chunks)`` (maybe fewer).

    Example:
        >>> import plaingrad as torch
        >>> [p.tolist() for p in torch.arange(5).chunk(2)]
        [[0, 1, 2], [3, 4]]
    """
    if chunks <= 0:
        raise RuntimeError(
            f"chunk expects `chunks` to be greater than 0, got: {chunks}"
        )
    shape = input._data.shape
    (axis,) = normalize_dims(dim, len(shape), "chunk")
    size = shape[axis]
    if size == 0:
        return _pieces(input, axis, [0] * chunks, SplitPiece)
    return split(input, -(-size // chunks), axis)


def unbind(input: Tensor, dim: int = 0) -> tuple:
    """The slices of ``input`` along ``dim``, with that dimension removed.

    Example:
        >>> import plaingrad as torch
        >>> [r.tolist() for r in torch.tensor([[1, 2], [3, 4]]).unbind(1)]
        [[1, 3], [2, 4]]
    """
    shape = input._data.shape
    if not shape:
        raise IndexError(
            f"unbind: Dimension specified as {dim} but tensor has no dimensions"
        )
    (axis,) = normalize_dims(dim, len(shape), "unbind")
    head = (slice(None),) * axis
    # the Ellipsis keeps a 0-d piece a view (NumPy gives a scalar for a[i])
    pieces = tuple(
        UnbindPiece.apply(input, index=head + (i, Ellipsis)) for i in range(shape[axis])
    )
    return _several_views(pieces, input, UnbindPiece)


def movedim(input: Tensor, source: Any, destination: Any) -> Tensor:
    """Move dimensions ``source`` to positions ``destination`` (a view).

    Example:
        >>> import plaingrad as torch
        >>> torch.zeros(2, 3, 4).movedim(0, -1).shape
        plaingrad.Size([3, 4, 2])
    """
    ndim = input._data.ndim
    src = normalize_dims(source, ndim, "movedim")
    dst = normalize_dims(destination, ndim, "movedim")
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} "
            f"dims) should contain the same number of dims as destination "
            f"({list(dst)} dims)"
        )
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"movedim: repeated dim in `{name}` ({list(dims)})")
    order = [-1] * ndim
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(ndim) if i not in src)
    axes = tuple(o if o >= 0 else next(rest) for o in order)
    return Permute.apply(input, axes=axes)


def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose`` under NumPy's name (also ``swapdims``)."""
    return transpose(input, axis0, axis1)


def diagonal(input: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the ``(dim1, dim2)`` planes, as a new last dimension.

    Args:
        input: a tensor of at least 2 dimensions.
        offset: 0 for the main diagonal, > 0 above it, < 0 below it.
        dim1: the first dimension of the planes.
        dim2: the second dimension of the planes.

    Example:
        >>> import plaingrad as torch
        >>> torch.arange(9).reshape(3, 3).diagonal(1).tolist()
        [1, 5]
    """
    axis1, axis2 = normalize_dims((dim1, dim2), input._data.ndim, "diagonal")
    if axis1 == axis2:
        raise RuntimeError(
            f"diagonal: diagonal dimensions cannot be identical {dim1}, {dim2}"
        )
    return Diagonal.apply(input, offset=int(offset), axis1=axis1, axis2=axis2)


def _triangle(op: type, name: str) -> Any:
    def fn(input: Tensor, diagonal: int = 0) -> Tensor:
        if input._data.ndim < 2:
            raise RuntimeError(
                f"{name}: input tensor must have at least 2 dimensions (got shape "
                f"{list(input._data.shape)})"
            )
        return op.apply(input, diagonal=int(diagonal))

    fn.__name__ = name
    return fn


tril = _triangle(Tril, "tril")
tril.__doc__ = """The lower triangle of the last two dimensions; zeros above.

    Args:
        input: a tensor of at least 2 dimensions.
        diagonal: keep elements on and below this diagonal (0 is the main one).

    Example:
        >>> import plaingrad as torch
        >>> torch.ones(2, 2).tril().tolist()
        [[1.0, 0.0], [1.0, 1.0]]
    """
triu = _triangle(Triu, "triu")
triu.__doc__ = """The upper triangle of the last two dimensions; zeros below.

    Args:
        input: a tensor of at least 2 dimensions.
        diagonal: keep elements on and above this diagonal (0 is the main one).

    Example:
        >>> import plaingrad as torch
        >>> torch.ones(2, 2).triu(1).tolist()
        [[0.0, 1.0], [0.0, 0.0]]
    """
