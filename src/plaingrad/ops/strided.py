"""Views described by strides: where a view's elements sit inside its base.

A view is an offset and a stride per dimension into its base's memory, and
that is all autograd needs to move a gradient between the two. ``Geometry``
records both layouts in elements, measured from the lowest address the base
spans. A gradient laid out like the base (one flat buffer spanning that
memory) then has the view's elements at the same offset and strides, so
``as_strided`` on the buffer finds them whatever view ops made the view.

Two graph nodes use it. ``AsStridedView`` (PyTorch's ``AsStridedBackward0``)
reads a view from its base's history: it places the view's gradient at the
view's elements of a zero base-shaped gradient. It is the grad_fn a view gets
when its base changes history in place (``regenerate_view``, which the engine
calls through ``autograd.node._edge`` for a view whose base's version moved
since its grad_fn was made), and it stands for a view's old value inside an
in-place op on the view (``inplace.CopySlices``).

``Tensor.unfold`` (windows along one dimension, overlapping when ``step <
size``) is a strided view as well.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.node import Op, _edge, bind_view_regenerator
from ..backend import xp
from ..tensor import Tensor
from ._util import normalize_dims

_as_strided = np.lib.stride_tricks.as_strided


class Geometry:
    """A view's place in its base, in elements of a flat buffer of ``size``
    elements that spans the base's memory."""

    __slots__ = (
        "size",
        "base_offset",
        "base_shape",
        "base_strides",
        "offset",
        "shape",
        "strides",
        "dense",
        "overlapping",
    )

    def __init__(self, base: Any, view: Any) -> None:
        item = base.itemsize
        if view.dtype != base.dtype:
            raise NotImplementedError(
                f"in-place through a view: the view's dtype {view.dtype} differs "
                f"from its base's {base.dtype}"
            )
        low, high = _span(base)
        view_low, view_high = _span(view)
        if view.size and not low <= view_low <= view_high <= high:
            raise RuntimeError(
                "in-place through a view: the view's memory lies outside its "
                "base's (the op that made it did not return a view)"
            )
        if view.size == 0:
            view_low = low
        b_addr = base.__array_interface__["data"][0]
        v_addr = view.__array_interface__["data"][0] if view.size else low
        self.size = (high - low) // item
        self.base_offset = (b_addr - low) // item
        self.base_shape = base.shape
        self.base_strides = tuple(s // item for s in base.strides)
        self.offset = (v_addr - low) // item
        self.shape = view.shape
        self.strides = tuple(s // item for s in view.strides)
        self.dense = base.flags.c_contiguous and self.size == base.size
        self.overlapping = _overlapping(self.shape, self.strides)

    def layout(self, flat: Any) -> tuple[Any, Any]:
        """The base and the view as arrays on ``flat`` (a buffer of ``size``)."""
        item = flat.itemsize
        base = _as_strided(
            flat[self.base_offset :],
            self.base_shape,
            tuple(s * item for s in self.base_strides),
        )
        view = _as_strided(
            flat[self.offset :], self.shape, tuple(s * item for s in self.strides)
        )
        return base, view

    def positions(self) -> Any:
        """For each element of the view, its index in the flat buffer."""
        index = xp.arange(self.size)
        item = index.itemsize
        return _as_strided(
            index[self.offset :], self.shape, tuple(s * item for s in self.strides)
        )


def _span(array: Any) -> tuple[int, int]:
    """The lowest address an array touches and one past its highest."""
    addr = array.__array_interface__["data"][0]
    if array.size == 0:
        return addr, addr
    low = high = addr
    for n, s in zip(array.shape, array.strides):
        if s < 0:
            low += (n - 1) * s
        else:
            high += (n - 1) * s
    return low, high + array.itemsize


def _overlapping(shape: tuple, strides: tuple) -> bool:
    """Whether two elements of a layout may share memory (a sufficient test
    for "no": each stride clears the extent of the smaller ones)."""
    extent = 0
    for stride, n in sorted((abs(s), n) for n, s in zip(shape, strides) if n > 1):
        if stride <= extent:
            return True
        extent += stride * (n - 1)
    return False


def to_base(geometry: Geometry, grad: Any) -> Any:
    """A base-shaped gradient: zero except ``grad`` at the view's elements
    (added up where the view repeats an element)."""
    if geometry.dense:
        out = xp.zeros(geometry.base_shape, dtype=grad.dtype)
        flat = out.reshape(-1)
    else:
        flat = xp.zeros(geometry.size, dtype=grad.dtype)
    base, view = geometry.layout(flat)
    if geometry.overlapping:
        xp.add.at(flat, geometry.positions(), grad)
    else:
        view[...] = grad
    return out if geometry.dense else base


def laid_out(geometry: Geometry, grad: Any) -> tuple[Any, Any]:
    """A private copy of a base-shaped ``grad`` laid out like the base, as
    ``(base, view)`` arrays on it."""
    if geometry.dense:
        flat = xp.array(grad, dtype=grad.dtype, order="C").reshape(-1)
    else:
        flat = xp.zeros(geometry.size, dtype=grad.dtype)
        geometry.layout(flat)[0][...] = grad
    return geometry.layout(flat)


def from_base(geometry: Geometry, grad: Any) -> Any:
    """The view's elements of a base-shaped ``grad`` (a new array)."""
    return laid_out(geometry, grad)[1].copy()


class ToBase(Op):
    """``to_base`` as an op (the Tensor-level rule of ``AsStridedView``)."""

    _name = "AsStridedScatterBackward0"

    @staticmethod
    def forward(ctx, grad, geometry):
        ctx.geometry = geometry
        return to_base(geometry, grad)

    @staticmethod
    def backward(ctx, grad_output):
        # to_base places values: its adjoint reads them back
        return from_base(ctx.geometry, grad_output)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return FromBase.apply(grad_output, geometry=ctx.geometry)


class FromBase(Op):
    """``from_base`` as an op: reads a view's elements of a base-shaped tensor."""

    _name = "AsStridedBackward0"

    @staticmethod
    def forward(ctx, grad, geometry):
        ctx.geometry = geometry
        return from_base(geometry, grad)

    @staticmethod
    def backward(ctx, grad_output):
        # reading elements: the adjoint puts them back in place
        return to_base(ctx.geometry, grad_output)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return ToBase.apply(grad_output, geometry=ctx.geometry)


class AsStridedView(Op):
    """The grad_fn of a view read from its base's current history."""

    _name = "AsStridedBackward0"

    @staticmethod
    def backward(ctx, grad_output):
        # the view is its base's elements at the geometry's offset and strides
        return to_base(ctx.geometry, grad_output)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return ToBase.apply(grad_output, geometry=ctx.geometry)


def view_node(geometry: Geometry, base_edge: Any) -> AsStridedView:
    """A new ``AsStridedView`` node sending a view's gradient to ``base_edge``."""
    node = AsStridedView.__new__(AsStridedView)
    node._next = (base_edge,)
    node.geometry = geometry
    return node


def regenerate_view(view: Tensor) -> Any:
    """Give ``view`` the grad_fn that reads it from its base's history as it
    is now (the base was changed in place since the old one was made)."""
    base = view._base
    view._view_version = view._vc[0]
    base_edge = _edge(base)
    if base_edge is None:
        return view.grad_fn
    try:
        geometry = Geometry(base._data, view._data)
    except (RuntimeError, NotImplementedError):
        # the base's memory was swapped (``base.data = ...``): keep the old node
        return view.grad_fn
    view.grad_fn = view_node(geometry, base_edge)
    return view.grad_fn


bind_view_regenerator(regenerate_view)


def _windows(a: Any, axis: int, size: int, step: int) -> Any:
    """The strided view of ``a`` holding its windows along ``axis``."""
    count = (a.shape[axis] - size) // step + 1
    shape = a.shape[:axis] + (count,) + a.shape[axis + 1 :] + (size,)
    s = a.strides
    strides = s[:axis] + (s[axis] * step,) + s[axis + 1 :] + (s[axis],)
    return _as_strided(a, shape, strides, writeable=a.flags.writeable)


class Unfold(Op):
    _name = "UnfoldBackward0"
    _view = True

    @staticmethod
    def forward(ctx, a, axis, size, step):
        ctx.in_shape, ctx.window = a.shape, (axis, size, step)
        return _windows(a, axis, size, step)

    @staticmethod
    def backward(ctx, grad_output):
        # each element gets the gradients of every window position holding it
        axis, size, step = ctx.window
        grad_input = xp.zeros(ctx.in_shape, dtype=grad_output.dtype)
        if step >= size:
            # windows do not overlap: write them all through one strided view
            _windows(grad_input, axis, size, step)[...] = grad_output
            return grad_input
        head = (slice(None),) * axis
        count = grad_output.shape[axis]
        for k in range(size):
            rows = head + (slice(k, k + step * (count - 1) + 1, step),)
            grad_input[rows] += grad_output[..., k]
        return grad_input


def unfold(input: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """The windows of ``size`` elements, ``step`` apart, along ``dimension``
    (a view): that dimension becomes the window count and a new last
    dimension of ``size`` holds each window.

    Example:
        >>> import plaingrad as torch
        >>> torch.arange(5).unfold(0, 2, 2).tolist()
        [[0, 1], [2, 3]]
    """
    ndim = input._data.ndim
    (axis,) = normalize_dims(dimension, ndim, "unfold")
    length = input._data.shape[axis] if ndim else 1
    if size < 0:
        raise RuntimeError(f"size is {size} but must be >= 0")
    if size > length:
        raise RuntimeError(
            f"maximum size for tensor at dimension {axis} is {length} but size "
            f"is {size}"
        )
    if step <= 0:
        raise RuntimeError(f"step is {step} but must be > 0")
    if ndim == 0:
        # a 0-d tensor is one window of itself
        return input.reshape(1)[:size]
    return Unfold.apply(input, axis=axis, size=size, step=step)
