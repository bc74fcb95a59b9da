"""``autograd.Function``: user-defined ops with their own backward rule.

A subclass writes ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``
as static methods over Tensors, exactly as in PyTorch, and is called through
``apply``. ``apply`` runs ``forward`` with recording off, so the ops inside it
leave no graph; then, when an input requires grad, it makes ``ctx`` the
outputs' ``grad_fn``. ``ctx`` is a graph node like the built-in ones: the
engine calls its ``backward`` with the gradient as an array, and the node hands
it to the user's ``backward`` as a Tensor (with recording off), checks what
comes back, and returns one array per tensor input.

With ``create_graph=True`` the engine calls ``backward_graph`` instead: the
user's ``backward`` runs with recording on and gets the gradient as a Tensor in
the graph, so that a backward written with differentiable ops is itself
differentiable (as in PyTorch). A saved output is handed back connected to
this node, as PyTorch unpacks saved outputs.

Several outputs: the engine's nodes have one output each, so ``ctx`` is the
grad_fn of the first differentiable output and each later one gets an
``_ExtraOutput`` node (same name) whose only next node is ``ctx``: it stashes
its gradient in ``ctx`` and sends ``ctx`` zeros, so the user's ``backward``
runs once, after all have arrived, with one gradient per output of forward
(zeros for those that got none, or None after ``set_materialize_grads(False)``;
None for outputs that are not Tensors), as PyTorch passes them. Unlike
PyTorch, ``c.grad_fn is a.grad_fn`` is False for two outputs a, c (the later
one's ``next_functions`` lead to the first's). ``mark_dirty`` outputs keep
their identity and take the node as their history (not for views yet).

Each subclass gets its own node class, named ``<Name>Backward`` as PyTorch
names it, so that ``grad_fn`` prints and ``grad_fn.name()`` read the same.
"""

from __future__ import annotations

from typing import Any

from .grad_mode import _mode, no_grad
from .node import _FREED, _SECOND_BACKWARD, Node, _edge


class FunctionCtx(Node):
    """The ``ctx`` of a custom Function: saves tensors, records which inputs
    need a gradient, and is the outputs' ``grad_fn``."""

    _name = "FunctionBackward"
    _function: Any = None
    _needs: tuple = ()
    _tensor_positions: tuple = ()
    _non_differentiable: frozenset = frozenset()
    _dirty: frozenset = frozenset()
    _materialize = True
    # saved tensors that are outputs: position -> the output's node (see
    # ``backward_graph``)
    _saved_outputs: dict = {}
    # per output of forward: how its gradient reaches ``backward`` (see
    # ``_gradients``); and the gradients the extra outputs' nodes stashed
    _outputs: tuple = ()
    _own_output = 0
    _arrived: dict | None = None

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep ``tensors`` (or None) for ``backward``; freed after use."""
        from ..tensor import Tensor

        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"{self._name}: save_for_backward can only save Tensors or "
                    f"None, but argument {i} is {type(t).__name__}"
                )
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is _FREED:
            raise RuntimeError(_SECOND_BACKWARD)
        return self._saved

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per argument of ``forward``: does it need a gradient?"""
        return self._needs

    def mark_non_differentiable(self, *tensors: Any) -> None:
        """These outputs get no ``grad_fn`` (indices, masks, counts)."""
        self._non_differentiable = frozenset(id(t) for t in tensors)

    def mark_dirty(self, *tensors: Any) -> None:
        """These inputs were changed in place by ``forward`` (and returned)."""
        self._dirty = frozenset(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """False: outputs that got no gradient give ``backward`` None, not
        zeros."""
        self._materialize = bool(value)

    def _gradients(self, grad_output: Any, tensor: bool) -> tuple:
        """One gradient per output of forward, as PyTorch passes them: this
        node's own, those the extra outputs' nodes stashed, zeros (or None)
        for the rest, None for outputs that are not Tensors."""
        from ..backend import xp
        from ..tensor import _wrap

        arrived = self._arrived or {}
        self._arrived = None
        if arrived and not self._materialize:
            # The extra outputs' nodes sent zeros; all zeros means that most
            # likely no gradient came for this node's own output: None, as
            # PyTorch gives (a true gradient of exactly 0 also reads as None).
            data = getattr(grad_output, "_data", grad_output)
            if not data.any():
                grad_output = None
        grads = []
        for i, like in enumerate(self._outputs):
            grad = grad_output if i == self._own_output else arrived.get(i)
            if grad is None and like is not None and self._materialize:
                grad = xp.zeros(*like)
                grad = _wrap(grad, None) if tensor else grad
            grads.append(grad)
        return tuple(grads)

    @staticmethod
    def backward(ctx: Any, grad_output: Any) -> Any:
        """Engine entry: array in, one array per tensor input out."""
        from ..tensor import _wrap

        given = ctx._gradients(grad_output, False)
        given = tuple(None if g is None else _wrap(g, None) for g in given)
        with no_grad():
            grads = ctx._function.backward(ctx, *given)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(ctx._needs):
            raise RuntimeError(
                f"function {ctx._name} returned an incorrect number of gradients "
                f"(expected {len(ctx._needs)}, got {len(grads)})"
            )
        out = []
        for i in ctx._tensor_positions:
            grad = grads[i]
            if grad is None:
                out.append(None)
                continue
            array = getattr(grad, "_data", None)
            if array is None:
                raise TypeError(
                    f"function {ctx._name} returned a {type(grad).__name__} as "
                    f"the gradient of input {i}; expected a Tensor or None"
                )
            shape = ctx._shapes[i]
            if array.shape != shape:
                array = _sum_to(array, shape, ctx._name, i)
            out.append(array)
        return tuple(out)

    @staticmethod
    def backward_graph(ctx: Any, grad_output: Any) -> Any:
        """Engine entry under create_graph: Tensors in and out, recording on."""
        from ..tensor import Tensor, _wrap

        saved = ctx._saved
        if ctx._saved_outputs and saved is not _FREED:
            # a saved output comes back as a tensor whose grad_fn is this node
            ctx._saved = tuple(
                _wrap(t._data, ctx._saved_outputs[i]) if i in ctx._saved_outputs else t
                for i, t in enumerate(saved)
            )
        try:
            grads = ctx._function.backward(ctx, *ctx._gradients(grad_output, True))
        finally:
            if ctx._saved is not _FREED:
                ctx._saved = saved
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(ctx._needs):
            raise RuntimeError(
                f"function {ctx._name} returned an incorrect number of gradients "
                f"(expected {len(ctx._needs)}, got {len(grads)})"
            )
        out = []
        for i in ctx._tensor_positions:
            grad = grads[i]
            if grad is not None and not isinstance(grad, Tensor):
                raise TypeError(
                    f"function {ctx._name} returned a {type(grad).__name__} as "
                    f"the gradient of input {i}; expected a Tensor or None"
                )
            shape = ctx._shapes[i]
            if grad is not None and grad._data.shape != shape:
                _check_sum_to(grad._data.shape, shape, ctx._name, i)
                grad = grad.sum_to_size(shape)
            out.append(grad)
        return tuple(out)


class _ExtraOutput(Node):
    """The grad_fn of a Function's second and later differentiable outputs:
    it stashes the gradient in the Function's node (its only next node) and
    sends that node zeros of its own output's shape, so that the engine runs
    the user's ``backward`` once, after every output's gradient arrived."""

    def __init__(self, ctx: FunctionCtx, index: int) -> None:
        self._name = ctx._name
        self._next = (ctx,)
        self.index = index

    @staticmethod
    def backward(node: Any, grad_output: Any) -> Any:
        from ..backend import xp

        return (node._stash(grad_output, xp.zeros),)

    @staticmethod
    def backward_graph(node: Any, grad_output: Any) -> Any:
        from ..backend import xp
        from ..tensor import _wrap

        return (node._stash(grad_output, lambda *a: _wrap(xp.zeros(*a), None)),)

    def _stash(self, grad: Any, zeros: Any) -> Any:
        ctx = self._next[0]
        if ctx._arrived is None:
            ctx._arrived = {}
        ctx._arrived[self.index] = grad
        return zeros(*ctx._outputs[ctx._own_output])


def once_differentiable(backward: Any) -> Any:
    """Decorator for a Function's ``backward`` written with ops that need not
    be differentiable: it runs with recording off, so under create_graph its
    gradients are constants (as in PyTorch, differentiating them again
    raises "does not require grad")."""

    def wrapper(ctx: Any, *args: Any) -> Any:
        with no_grad():
            return backward(ctx, *args)

    wrapper.__name__ = getattr(backward, "__name__", "backward")
    wrapper.__doc__ = getattr(backward, "__doc__", None)
    return wrapper


def _check_sum_to(given: tuple, shape: tuple, name: str, index: int) -> None:
    extra = len(given) - len(shape)
    fits = extra >= 0 and all(s == g or s == 1 for s, g in zip(shape, given[extra:]))
    if not fits:
        raise RuntimeError(
            f"function {name} returned an invalid gradient at index {index} - "
            f"got {list(given)} but expected shape compatible with {list(shape)}"
        )


def _sum_to(array: Any, shape: tuple, name: str, index: int) -> Any:
    """Sum a gradient that broadcasts the input's shape back down to it, as
    PyTorch does; any other shape is an error."""
    _check_sum_to(array.shape, shape, name, index)
    extra = array.ndim - len(shape)
    if extra:
        array = array.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and array.shape[i] != 1)
    if axes:
        array = array.sum(axis=axes, keepdims=True)
    return array


class Function:
    """Base class of user-defined differentiable ops.

    Example:
        >>> import plaingrad as torch
        >>> class Cube(torch.autograd.Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x**3
        ...
        ...     @staticmethod
        ...     def backward(ctx, grad_output):
        ...         (x,) = ctx.saved_tensors
        ...         return grad_output * 3 * x**2  # d(x^3)/dx = 3x^2
        >>> x = torch.tensor([2.0], requires_grad=True)
        >>> y = Cube.apply(x)
        >>> y.backward()
        >>> x.grad
        tensor([12.])
        >>> y.grad_fn.name()
        'CubeBackward'
    """

    _node_class: type | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._node_class = type(
            f"{cls.__name__}Backward",
            (FunctionCtx,),
            {"_name": f"{cls.__name__}Backward", "_function": cls},
        )

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            "autograd.Function: a subclass must define forward(ctx, ...)"
        )

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "autograd.Function: a subclass must define backward(ctx, grad_output) "
            "to be differentiated"
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> Any:
        """Optional: fill ``ctx`` from inputs and output, when ``forward``
        takes no ``ctx`` (PyTorch's newer style)."""
        return _NO_SETUP

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` and, when an input requires grad, record the node."""
        from ..tensor import Tensor, _wrap

        if cls._node_class is None:
            raise RuntimeError(
                "autograd.Function: call apply on a subclass, not on Function"
            )
        ctx = cls._node_class()
        positions = tuple(i for i, a in enumerate(args) if isinstance(a, Tensor))
        ctx._tensor_positions = positions
        ctx._needs = tuple(
            isinstance(a, Tensor) and a._requires_grad and _mode.enabled for a in args
        )
        ctx._shapes = {i: args[i]._data.shape for i in positions}
        separate = cls.setup_context is not Function.setup_context
        with no_grad():
            if separate:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        if not any(ctx._needs):
            return output
        outputs = output if isinstance(output, tuple) else (output,)
        differentiable = [
            i
            for i, o in enumerate(outputs)
            if isinstance(o, Tensor) and id(o) not in ctx._non_differentiable
        ]
        ctx._outputs = tuple(
            (o._data.shape, o._data.dtype) if isinstance(o, Tensor) else None
            for o in outputs
        )
        ctx._own_output = differentiable[0] if differentiable else 0
        for i in differentiable:
            if outputs[i]._data.dtype.kind != "f":
                raise RuntimeError(
                    f"{cls.__name__}.apply: an output of dtype "
                    f"{outputs[i].dtype.name} can't require grad; mark it with "
                    "ctx.mark_non_differentiable"
                )
        ctx._next = tuple(_edge(args[i]) for i in positions)
        saved = ctx._saved
        saved_outputs = {}
        results = list(outputs)
        for i in differentiable:
            o = outputs[i]
            node = ctx if i == ctx._own_output else _ExtraOutput(ctx, i)
            if id(o) in ctx._dirty:
                _rebase_dirty(o, node, cls.__name__)
                result = o
            else:
                # A fresh tensor over the same memory: forward may have
                # returned an input, whose own history must stay as it was.
                result = _wrap(o._data, node)
            for j, t in enumerate(saved or ()):
                if t is o and not any(t is a for a in args):
                    saved_outputs[j] = node
            results[i] = result
        ctx._saved_outputs = saved_outputs
        return tuple(results) if isinstance(output, tuple) else results[0]


def _rebase_dirty(tensor: Any, node: Node, name: str) -> None:
    """An input ``forward`` changed in place (``mark_dirty``) and returned:
    it keeps its identity and takes the Function's node as its history."""
    if tensor.grad_fn is None and tensor._requires_grad:
        raise RuntimeError(
            "a leaf Variable that requires grad has been used in an in-place operation."
        )
    if tensor._base is not None:
        raise NotImplementedError(
            f"{name}.apply: mark_dirty on a view is not supported yet"
        )
    tensor._version += 1  # PyTorch bumps the version once more for mark_dirty
    tensor.grad_fn = node
    tensor._requires_grad = True


_NO_SETUP = object()
