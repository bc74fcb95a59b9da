"""In-place ops (``add_``, ``mul_``, ``copy_``, ``x[idx] = v``, ...): written into
the tensor's own memory, with the history PyTorch gives them.

An in-place op is computed as its out-of-place op applied to a stand-in for
``self`` (same memory and history, its own version counter). The result is
copied into self's memory, so every view of it sees the change, and the
version counter self shares with its base and its views goes up by one. What
happens to the graph (``apply_inplace``):

- self is not a view: self takes over the result's node, as PyTorch rebases
  history. ``b.mul_(c)`` leaves ``b.grad_fn`` a ``MulBackward0`` whose first
  input is b's old history.
- self is a view: its base's history is rewritten. The base's new grad_fn is
  ``CopySlices``, which sends the gradient of the view's elements into the
  in-place op's graph, where the stand-in for the view's old value is an
  ``AsStridedView`` of the base's old history, and the rest of the gradient
  straight to the base's old history. The view's own grad_fn becomes an
  ``AsStridedView`` of the base's new history (see ``strided.py``; other views
  of the base get theirs rebuilt when next used).

Saved values: when the out-of-place op saved the stand-in's memory (self's old
values: ``b.mul_(c)`` needs the old b for c's gradient), that array is copied
before it is overwritten, as PyTorch saves the "original self". A saved output
is pointed at self, so changing self again before backward raises PyTorch's
"modified by an inplace operation" error, as it does there.

Refused with PyTorch's errors: in grad mode, an in-place op on a leaf that
requires grad or on a view of one, and, when the op would be recorded, on a
view made in no_grad mode or on one of the views that split, chunk and unbind
return; in any mode, a write to a tensor whose elements share memory (the
result of ``expand``).

Ops whose new values carry no gradient (``zero_``, ``fill_`` with a number,
the random fills of ``sampling.py``) go through ``overwrite_``; the in-place
methods themselves and index assignment are in ``assign.py``.
"""

from __future__ import annotations

from typing import Any
from weakref import ref as _weakref

from ..autograd.grad_mode import _mode
from ..autograd.node import Op, _edge
from ..backend import xp
from ..tensor import Tensor, _wrap
from ._util import cast
from .strided import FromBase, Geometry, ToBase, laid_out, view_node

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

_LEAF = "a leaf Variable that requires grad is being used in an in-place operation."
_VIEW_OF_LEAF = (
    "a view of a leaf Variable that requires grad is being used in an in-place "
    "operation."
)
_OVERLAP = (
    "unsupported operation: more than one element of the written-to tensor "
    "refers to a single memory location. Please clone() the tensor before "
    "performing the operation."
)
_NO_GRAD = (
    " and is being modified inplace with grad mode enabled. Given that this use case "
    "is ambiguous and error-prone, it is forbidden. You can clarify your code by "
    "moving both the view and the inplace either both inside the no_grad block "
    "(if you don't want the inplace to be tracked) or both outside (if you want "
    "the inplace to be tracked)."
)
_MULTI = (
    " This view is the output of a function that returns multiple views. Such "
    "functions do not allow the output views to be modified inplace. You should "
    "replace the inplace operation by an out-of-place one."
)


# ------------------------------------------------------------------- nodes


class CopySlices(Op):
    """The base's grad_fn after an in-place op on one of its views."""

    _name = "CopySlices"

    def name(self) -> str:
        return "torch::autograd::CopySlices"  # as PyTorch's name() says

    @staticmethod
    def backward(ctx, grad_output):
        # the view's elements now come from the in-place op (its graph is the
        # second input); the base's other elements are its old values
        base, view = laid_out(ctx.geometry, grad_output)
        grad_view = view.copy()
        view[...] = 0
        return (base if ctx._next[0] is not None else None), grad_view

    @staticmethod
    def backward_graph(ctx, grad_output):
        grad_view = FromBase.apply(grad_output, geometry=ctx.geometry)
        grad_base = grad_output - ToBase.apply(grad_view, geometry=ctx.geometry)
        return grad_base, grad_view


class Overwrite(Op):
    """New values that do not depend smoothly on the inputs (a constant, a
    random sample): every input's gradient is zero."""

    _name = "NotImplemented"

    @staticmethod
    def forward(ctx, *arrays, values):
        ctx.like = [(a.shape, a.dtype) for a in arrays]
        return values

    @staticmethod
    def backward(ctx, grad_output):
        # d constant / d input = 0
        return tuple(xp.zeros(shape, dtype=dtype) for shape, dtype in ctx.like)

    @staticmethod
    def backward_graph(ctx, grad_output):
        return tuple(
            _wrap(xp.zeros(shape, dtype=dtype), None) for shape, dtype in ctx.like
        )


# -------------------------------------------------------------- machinery


def apply_inplace(
    self: Tensor,
    compute: Any,
    tensors: tuple = (),
    write: Any = None,
    computed_from_self: bool = False,
) -> Tensor:
    """Run an in-place op on ``self`` (see the module docstring) and return it.

    Args:
        self: the tensor to change.
        compute: ``compute(target)`` returns the new value of ``target`` (self,
            or the stand-in for it) as an out-of-place Tensor, recorded as usual.
        tensors: the other Tensors the op reads (whether it records depends
            on them too).
        write: optional ``write(array)`` that puts the new value straight into
            self's memory when nothing is recorded (no temporary).
        computed_from_self: ``compute`` ignores its argument and returns a
            result already computed from self itself (``write_result_``): the
            arrays of self's memory its nodes saved are kept too.
    """
    base = self._base
    record = _mode.enabled and (
        self._requires_grad
        or (base is not None and base._requires_grad)
        or any([t._requires_grad for t in tensors])
    )
    if record:
        _check_recordable(self)
    _check_writable(self)
    if not record:
        if write is not None:
            write(self._data)
        else:
            self._data[...] = _conform(compute(self), self)._data
        self._version += 1
        return self

    if base is None:
        stand_in = _wrap(self._data.view(), self.grad_fn)
        stand_in._requires_grad = self._requires_grad
        stops: set[Any] = {self.grad_fn}
    else:
        geometry = Geometry(base._data, self._data)
        base_edge = _edge(base)
        region = None if base_edge is None else view_node(geometry, base_edge)
        stand_in = _wrap(self._data.view(), region)
        stops = {region}
    result = _conform(compute(stand_in), self)
    if result.grad_fn is None:
        # NOTE: values no op here can differentiate (an integer division,
        # say) replace the old ones with gradient 0; PyTorch's node for some
        # of them raises in backward instead.
        result = Overwrite.apply(stand_in, *tensors, values=result._data)
    root = result.grad_fn
    for t in tensors:
        stops.add(t.grad_fn if t.grad_fn is not None else t._accumulator)
    owners: tuple[Tensor, ...] = (stand_in,)
    if computed_from_self:
        owners = (stand_in, self)
        stops.add(self.grad_fn)  # the result's graph goes through self's node
    _keep_old_values(root, owners, stops)

    self._data[...] = result._data
    self._version += 1
    _point_output_at(root, result, self)
    if base is None:
        _move_retain_grad(self, root)
        self.grad_fn = root
    else:
        node = CopySlices.__new__(CopySlices)
        node._next = (base_edge, root)
        node.geometry = geometry
        _move_retain_grad(base, node)
        base.grad_fn = node
        base._requires_grad = True
        self.grad_fn = view_node(geometry, node)
        self._view_version = self._vc[0]
    self._requires_grad = True
    return self


def _move_retain_grad(t: Tensor, node: Any) -> None:
    """``retain_grad`` follows the tensor to its new node, as in PyTorch."""
    old = t.grad_fn
    if not t._retains_grad or old is None or not old._pre_hooks:
        return
    for hook in [h for h in old._pre_hooks if getattr(h, "retains_grad", False)]:
        old._pre_hooks.remove(hook)
        node.register_prehook(hook)


def _check_recordable(self: Tensor) -> None:
    """PyTorch's refusals of in-place ops that autograd would have to record."""
    base = self._base
    if base is None:
        if self._requires_grad and self.grad_fn is None:
            raise RuntimeError(_LEAF)
        return
    # PyTorch: a view that requires grad whose base is a leaf (even one that
    # does not require grad: ``arange(6.).reshape(2, 3).requires_grad_()``)
    if base.grad_fn is None and (base._requires_grad or self._requires_grad):
        raise RuntimeError(_VIEW_OF_LEAF)
    if self._requires_grad and self.grad_fn is None:
        raise RuntimeError(_VIEW_OF_LEAF)
    meta = self._view_meta
    if meta is None:
        return
    if meta == "no_grad":
        raise RuntimeError("A view was created in no_grad mode" + _NO_GRAD)
    kind, name, index = meta
    if "Backward" in name:
        name = name[: name.rfind("Backward")]
    if kind == "no_grad":
        raise RuntimeError(
            f"Output {index} of {name} is a view of a view which was created in "
            "no_grad mode" + _NO_GRAD
        )
    if kind == "multi_no_grad":
        raise RuntimeError(
            "A view was created in no_grad mode and is being modified inplace "
            "with grad mode enabled." + _MULTI
        )
    raise RuntimeError(
        f"Output {index} of {name} is a view and is being modified inplace." + _MULTI
    )


def _check_writable(self: Tensor) -> None:
    data = self._data
    if self._base is None and data.flags.writeable:
        return
    for n, s in zip(data.shape, data.strides):
        if s == 0 and n > 1:
            raise RuntimeError(_OVERLAP)
    if not data.flags.writeable:
        raise RuntimeError(
            "in-place operation on a tensor whose memory is a read-only array; "
            "clone() it first"
        )


def _conform(result: Tensor, self: Tensor) -> Tensor:
    """``result`` checked against ``self``'s shape and cast to its dtype, with
    PyTorch's errors when it does not fit."""
    data = result._data
    if data.shape != self._data.shape:
        raise RuntimeError(
            f"output with shape {list(self._data.shape)} doesn't match the "
            f"broadcast shape {list(data.shape)}"
        )
    if data.dtype != self._data.dtype:
        if result.dtype._rank > self.dtype._rank:
            raise RuntimeError(
                f"result type {_TORCH_NAMES[result.dtype.name]} can't be cast to "
                f"the desired output type {_TORCH_NAMES[self.dtype.name]}"
            )
        # narrowing within a category (float64 into float32) is allowed
        result = cast(result, self._data.dtype)
    return result


def _keep_old_values(root: Any, owners: tuple, stops: set) -> None:
    """Copy the arrays of the stand-in's memory (``owners[0]``; or of self's,
    ``owners[1]``) that the op's new nodes saved, before the write overwrites
    them (PyTorch's "original self").

    A copied entry's source becomes a tensor on the copy: the stand-in itself
    (its array replaced), or a new tensor with the old owner's history, so
    that double backward still finds the old values in the graph.
    """
    stand_in = owners[0]
    counters = [t._vc for t in owners if t._vc is not None]
    copies: dict[int, Any] = {}
    seen = set(stops)
    seen.add(None)
    stack = [root]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node._next)
        sources = node._saved_from
        if not sources:
            continue
        saved: list | None = None
        entries: list = []
        for i, source in enumerate(sources):
            if source is None:
                continue
            owner = source[0]
            if not any([owner is t for t in owners]) and (
                owner.__class__ is _weakref
                or not any([owner._vc is counter for counter in counters])
            ):
                continue
            if saved is None:
                saved, entries = list(node._saved), list(sources)
            array = saved[i]
            copy = copies.get(id(array))
            if copy is None:
                copy = copies[id(array)] = array.copy()
            saved[i] = copy
            if owner is not stand_in:
                old = _wrap(copy, owner.grad_fn)
                old._requires_grad = owner._requires_grad
                entries[i] = (old, 0)
        if saved is not None:
            node._saved, node._saved_from = tuple(saved), tuple(entries)
    kept = copies.get(id(stand_in._data))
    if kept is not None:
        stand_in._data = kept


def _point_output_at(root: Any, result: Tensor, self: Tensor) -> None:
    """The op's saved output is now ``self``'s memory: check self's version."""
    sources = root._saved_from
    for i, source in enumerate(sources):
        if source is not None and source[0].__class__ is _weakref:
            if source[0]() is result:
                saved = list(root._saved)
                if saved[i] is result._data:
                    saved[i] = self._data
                root._saved = tuple(saved)
                entry = (_weakref(self), self._version)
                root._saved_from = sources[:i] + (entry,) + sources[i + 1 :]
                return


def overwrite_(
    self: Tensor, values: Any, node: type[Op] = Overwrite, inputs: tuple = ()
) -> Tensor:
    """Write ``values`` (broadcastable to ``self``) into self's memory as the
    in-place op ``node``; the values carry no gradient.

    On a tensor in the graph, self (or, for a view, its base through
    ``CopySlices``) takes a ``node`` that sends zero gradients to the old
    values and to ``inputs`` (e.g. the ``p`` of ``bernoulli_``). ``node`` is an
    ``Op`` whose ``forward(ctx, *arrays, values)`` returns ``values`` and whose
    backward gives zeros, such as ``Overwrite`` and its subclasses.
    """

    def write(data: Any) -> None:
        data[...] = values

    def compute(target: Tensor) -> Tensor:
        full = xp.empty(target._data.shape, dtype=target._data.dtype)
        full[...] = values
        return node.apply(target, *inputs, values=full)

    return apply_inplace(self, compute, inputs, write)


def write_result_(self: Tensor, out: Tensor) -> Tensor:
    """``self`` overwritten in place by ``out``, the result of an op applied to
    self (the ``inplace=True`` of activations and dropout)."""
    return apply_inplace(self, lambda target: out, computed_from_self=True)
