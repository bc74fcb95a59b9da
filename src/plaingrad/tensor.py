"""The Tensor: a backend array plus what autograd needs to know about it.

A Tensor holds ``_data`` (a NumPy array today), ``requires_grad``, ``grad`` and
``grad_fn`` (the graph node that produced it, None for leaves). Everything that
computes lives in ``plaingrad.ops``; those functions are attached to Tensor as
methods and operators by ``plaingrad/ops/__init__.py``, so this file holds only
the state, the conversions and the autograd entry points.

Tensors are made in hot loops, so ``__slots__`` keep them small and ``_wrap``
builds one without running ``__init__``'s argument checks.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dtype
from . import autograd as _autograd
from ._dtype import dtype as _dtype_cls
from .autograd.grad_mode import _mode as _grad_mode
from .autograd.node import Node, NodeHookHandle, _edge, bind_tensor_factory
from .backend import xp
from .device import check_device
from .device import device as _device_cls

_FROM_NP = _dtype.FROM_NP


class Tensor:
    """A multi-dimensional array that can record the operations applied to it.

    Args:
        *args: as PyTorch's legacy constructor: a list/array of values, or sizes
            (``Tensor(2, 3)`` is an uninitialised 2x3 float tensor).

    Prefer ``plaingrad.tensor(data)``, which infers the dtype.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.tensor([1.0, 2.0], requires_grad=True)
        >>> (x * x).sum().backward()
        >>> x.grad
        tensor([2., 4.])
    """

    __slots__ = (
        "_data",
        "_requires_grad",
        "_grad",
        "grad_fn",
        "_accumulator",
        "_retains_grad",
        # the version counter, a one-element list shared by a tensor and its
        # views; None until first needed (version 0, not shared)
        "_vc",
        # the tensor this one is a view of (set by view ops), else None
        "_base",
        # views only (set by ``_share_version``): the version at which the
        # view's grad_fn was made (a later in-place change of the base makes
        # the engine rebuild it), and how the view was made when PyTorch
        # restricts in-place changes to it (see ``ops/inplace.py``)
        "_view_version",
        "_view_meta",
        "__weakref__",
    )

    # NumPy should defer to our operators (ndarray * Tensor -> Tensor.__rmul__).
    __array_priority__ = 1000

    def __init__(self, *args: Any, dtype: Any = None, device: Any = None) -> None:
        check_device(device, "Tensor")
        npd = (
            _dtype.to_np(dtype) if dtype is not None else _dtype.get_default_dtype().np
        )
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            data = args[0]
            if isinstance(data, Tensor):
                data = data._data
            array = xp.array(data, dtype=npd)
        else:
            sizes = _sizes(args, "Tensor")
            array = xp.empty(sizes, dtype=npd)
        _make(self, array, None)

    # ----------------------------------------------------------------- state

    @property
    def data(self) -> Tensor:
        """This tensor's values, detached from the graph (same memory, but a
        version counter of its own, as in PyTorch: in-place changes made
        through it are hidden from autograd's checks)."""
        return _wrap(self._data, None)

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise TypeError(
                f"Tensor.data: expected a Tensor, got {type(value).__name__}"
            )
        self._data = value._data

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set whether autograd records operations on this (leaf) tensor."""
        if self.grad_fn is not None:
            if requires_grad:
                return self
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If "
                "you want to use a computed variable in a subgraph that doesn't "
                "require differentiation use var_no_grad = var.detach()."
            )
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError(
                "Only Tensors of floating point and complex dtype can require "
                f"gradients (got dtype {self.dtype})"
            )
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def _version(self) -> int:
        """How many times this tensor's memory was changed in place (shared
        with the tensor it views and the views of it)."""
        counter = self._vc
        return 0 if counter is None else counter[0]

    @_version.setter
    def _version(self, value: int) -> None:
        counter = self._vc
        if counter is None:
            self._vc = [value]
        else:
            counter[0] = value

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def dtype(self) -> _dtype_cls:
        return _FROM_NP[self._data.dtype]

    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None) -> Any:
        """The shape as a ``Size`` tuple, or the length of dimension ``dim``."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_dim(dim, self._data.ndim, "size")]

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return self._data.size

    nelement = numel

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def device(self) -> _device_cls:
        return _CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_contiguous(self) -> bool:
        return self._data.flags.c_contiguous

    def stride(self, dim: int | None = None) -> Any:
        strides = tuple(s // self._data.itemsize for s in self._data.strides)
        return strides if dim is None else strides[_dim(dim, self.ndim, "stride")]

    def data_ptr(self) -> int:
        return self._data.__array_interface__["data"][0]

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Any:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    __hash__ = object.__hash__

    # ----------------------------------------------------------- conversions

    def item(self) -> Any:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted "
                "to Scalar"
            )
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The values as a NumPy array sharing this tensor's memory."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        return self._data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError(
                "only integer tensors of a single element can be converted to an index"
            )
        return int(self._data.item())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(
                f"Boolean value of Tensor with {self._data.size} values is ambiguous"
            )
        return bool(self._data.item())

    def __complex__(self) -> complex:
        return complex(self.item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return self._data.item().__format__(spec)
        return object.__format__(self, spec)

    def detach(self) -> Tensor:
        """A new leaf tensor sharing this one's memory, outside the graph.

        It shares the version counter too (as in PyTorch), so changing it in
        place is seen by the graph that saved this tensor.
        """
        result = _wrap(self._data, None)
        counter = self._vc
        if counter is None:
            counter = self._vc = [0]
        result._vc = counter
        return result

    def detach_(self) -> Tensor:
        if self._base is not None:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are "
                "using DistributedDataParallel (DDP) for training, and "
                "gradient_as_bucket_view is set as True, gradients are views of "
                "DDP buckets, and hence detach_() cannot be called on these "
                "gradients. To fix this error, please refer to the "
                "Optimizer.zero_grad() function in torch/optim/optimizer.py as "
                "the solution."
            )
        self.grad_fn = None
        self._requires_grad = False
        return self

    def cpu(self) -> Tensor:
        return self

    def cuda(self, *args: Any, **kwargs: Any) -> Tensor:
        check_device("cuda", "Tensor.cuda")
        return self

    # --------------------------------------------------------------- autograd

    def _edge(self) -> Node | None:
        """The node that gradients for this tensor flow into."""
        return _edge(self)

    def _wrap_grad(self, array: Any) -> Tensor:
        return _wrap(array, None)

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by backward (None until there is one)."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        # Checked here, as PyTorch does, so a bad gradient fails at the
        # assignment instead of deep inside the next backward or step.
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    "assigned grad expected to be a Tensor or None but got grad "
                    f"of type {type(value).__name__}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    "attempting to assign a gradient of size "
                    f"'{list(value._data.shape)}' to a tensor of size "
                    f"'{list(self._data.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    f"attempting to assign a gradient with dtype "
                    f"'{value.dtype.name}' to a tensor of dtype "
                    f"'{self.dtype.name}'; the gradient must have the tensor's dtype"
                )
        self._grad = value

    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Compute the gradient of this tensor with respect to graph leaves.

        Args:
            gradient: d(something)/d(self); required unless self is a scalar.
            retain_graph: keep saved values so backward can run again.
            create_graph: record the backward pass too, so that ``.grad`` can
                be differentiated again (higher-order gradients).
            inputs: accumulate only into these leaves.
        """
        if gradient is None and inputs is None and not create_graph:
            if _autograd.backward_scalar(self, retain_graph):
                return
        _autograd.backward(self, gradient, retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError(
                    "can't retain_grad on Tensor that has requires_grad=False"
                )
            return
        if self._retains_grad:
            return
        self._retains_grad = True
        ref = weakref.ref(self)

        def keep(grad: Any) -> None:
            owner = ref()
            if owner is None:
                return
            if owner.grad is None:
                owner.grad = _wrap(grad.copy(), None)
            else:
                owner.grad._data = owner.grad._data + grad

        def keep_tensor(grad: Tensor) -> None:
            # create_graph: the gradient is a Tensor in the graph
            owner = ref()
            if owner is not None:
                _autograd.accumulate_graph(owner, grad)

        keep.on_tensor = keep_tensor
        keep.retains_grad = True
        self.grad_fn.register_prehook(keep)

    @property
    def retains_grad(self) -> bool:
        return bool(self._retains_grad)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> Any:
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook may return a new gradient to use in its place.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "cannot register a hook on a tensor that doesn't require gradient"
            )

        def on_array(grad: Any) -> Any:
            result = hook(_wrap(grad, None))
            return None if result is None else result._data

        # with create_graph the engine calls the hook on the graph's Tensor
        on_array.on_tensor = hook
        node = self._edge()
        node.register_prehook(on_array)
        hooks = node._pre_hooks
        for i, kept in enumerate(hooks):
            if getattr(kept, "retains_grad", False):
                # PyTorch runs retain_grad's hook after every tensor hook
                hooks.append(hooks.pop(i))
                break
        return _HookHandle(node, on_array)

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> Any:
        """Call ``hook(self)`` after a backward has accumulated this leaf's
        gradient into ``.grad`` (not in ``autograd.grad``, which leaves
        ``.grad`` alone). The hook must return None.

        Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "cannot register a hook on a tensor that doesn't require gradient"
            )
        if self.grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        node = self._edge()
        if node._post_accumulate_hooks is None:
            node._post_accumulate_hooks = []
        node._post_accumulate_hooks.append(hook)
        return NodeHookHandle(node._post_accumulate_hooks, hook)

    # ------------------------------------------------------------- printing

    def __repr__(self) -> str:
        from ._tensor_str import format_tensor

        suffixes = []
        if self.grad_fn is not None:
            suffixes.append(f"grad_fn=<{self.grad_fn._name}>")
        elif self._requires_grad:
            suffixes.append("requires_grad=True")
        return format_tensor(
            self._data,
            self.dtype.name,
            suffixes,
            _dtype.get_default_dtype().name,
        )

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self.grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) "
                "support the deepcopy protocol at the moment"
            )
        result = type(self).__new__(type(self))
        _make(result, self._data.copy(), None)
        result._requires_grad = self._requires_grad
        if self.grad is not None:
            result.grad = self.grad.__deepcopy__(memo)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol: int) -> Any:
        return (_rebuild, (type(self), self._data, self._requires_grad))


def _rebuild(cls: type, data: Any, requires_grad: bool) -> Tensor:
    result = cls.__new__(cls)
    _make(result, data, None)
    result._requires_grad = requires_grad
    return result


class _HookHandle:
    """Returned by ``register_hook``; ``remove()`` unregisters the hook."""

    def __init__(self, node: Node, hook: Any) -> None:
        self._node = node
        self._hook = hook

    def remove(self) -> None:
        hooks = self._node._pre_hooks
        if hooks and self._hook in hooks:
            hooks.remove(self._hook)


class Size(tuple):
    """A tensor's shape: a tuple that prints as ``plaingrad.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"plaingrad.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


def _make(tensor: Tensor, array: Any, grad_fn: Node | None) -> None:
    """Fill the slots of a new tensor (no argument checks: internal use)."""
    tensor._data = array
    tensor.grad_fn = grad_fn
    tensor._requires_grad = grad_fn is not None
    tensor._grad = None
    tensor._accumulator = None
    tensor._retains_grad = False
    tensor._vc = None
    tensor._base = None


def _wrap(array: Any, grad_fn: Node | None) -> Tensor:
    """Make a Tensor around a backend array, with an optional grad_fn."""
    if type(array) is not xp.ndarray:
        # NumPy gives scalars (np.float32) for 0-d results; a tensor always
        # holds an array, so that in-place writes and numpy() work on 0-d too.
        array = xp.asarray(array)
    result = Tensor.__new__(Tensor)
    result._data = array
    result.grad_fn = grad_fn
    result._requires_grad = grad_fn is not None
    result._grad = None
    result._accumulator = None
    result._retains_grad = False
    result._vc = None
    result._base = None
    return result


def _share_version(view: Tensor, base: Tensor, op: Any = None) -> None:
    """Make ``view`` a view of ``base``: one version counter for both, so that
    an in-place change through either is seen by whatever saved the other.

    ``op`` (the view op's class) names the view in the errors of in-place
    changes that PyTorch forbids: to a view made in no_grad mode, or to a view
    of one (see ``ops/inplace.py``).
    """
    counter = base._vc
    if counter is None:
        counter = base._vc = [0]
    view._vc = counter
    view._view_version = counter[0]
    if base._base is None:
        view._base = base
        view._view_meta = None if _grad_mode.enabled else "no_grad"
    else:
        view._base = base._base
        meta = base._view_meta
        if meta is not None:
            # a view of a restricted view is restricted too
            name = getattr(op, "_name", "View")
            meta = (meta if type(meta) is str else meta[0], name, 0)
        elif not _grad_mode.enabled:
            meta = "no_grad"
        view._view_meta = meta


def _dim(dim: int, ndim: int, op: str) -> int:
    """Normalise a possibly negative dimension index, with PyTorch's error."""
    low, high = (-ndim, ndim - 1) if ndim else (-1, 0)
    if not low <= dim <= high:
        raise IndexError(
            f"{op}: Dimension out of range (expected to be in range of "
            f"[{low}, {high}], but got {dim})"
        )
    return dim % ndim if ndim else 0


def _sizes(args: tuple, op: str) -> tuple:
    """Accept ``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])``; return a tuple."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    for s in args:
        if not isinstance(s, (int, np.integer)) or isinstance(s, bool):
            raise TypeError(
                f"{op}: `size` must be a tuple of ints, but got an element of "
                f"type {type(s).__name__}"
            )
        if s < 0:
            raise RuntimeError(
                f"{op}: Trying to create tensor with negative dimension {s}: "
                f"{list(args)}"
            )
    return tuple(int(s) for s in args)


_CPU = _device_cls("cpu")
bind_tensor_factory(_wrap, _share_version)
