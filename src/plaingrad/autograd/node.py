"""Nodes of the backward graph, and ``Op``: an op's forward and backward rule.

Every differentiable op is a subclass of ``Op`` with two static methods side by
side: ``forward(ctx, *arrays, **options)`` computes the result from backend arrays,
and ``backward(ctx, grad_output)`` returns one gradient array (or None) per array
input. ``ctx`` *is* the graph node: an instance of the op's own class, made fresh
for each call. When the result needs a gradient the node is kept as the result's
``grad_fn`` and its ``_next`` holds, for each input, the node that produced it
(its ``grad_fn``, or the ``AccumulateGrad`` of a leaf), or None.

Saved arrays go through ``ctx.save_for_backward`` so that the engine can free
them once backward has used them; reading them afterwards raises PyTorch's
"backward through the graph a second time" error.
"""

from __future__ import annotations

import sys
from typing import Any
from weakref import ref as _weakref

from ..backend import xp
from .anomaly_mode import _anomaly, creation_trace
from .grad_mode import _mode

_FREED = object()

# Ops computed without ``Op.apply`` (comparisons, argmax: results that never
# need a gradient) report through ``observed``; the list is empty except while
# ``onnx.export`` traces a model, so they pay one call and a truth test.
plain_observers: list = []


def observed(kind: str, inputs: tuple, options: dict, out: Any) -> Any:
    """``out``, once the observers (if any) are told what made it."""
    if plain_observers:
        plain_observers[-1](kind, inputs, options, out)
    return out


_SECOND_BACKWARD = (
    "Trying to backward through the graph a second time (or directly access "
    "saved tensors after they have already been freed). Saved intermediate "
    "values of the graph are freed when you call .backward() or autograd.grad(). "
    "Specify retain_graph=True if you need to backward through the graph a "
    "second time or if you need to access saved tensors after calling backward."
)


class Node:
    """A node of the backward graph (PyTorch's ``grad_fn`` objects)."""

    _name = "Node"
    _next: tuple = ()
    _saved: Any = ()
    _pre_hooks: list | None = None
    _post_hooks: list | None = None
    # per saved array, where it came from (see ``_saved_sources``)
    _saved_from: tuple = ()
    # Which gradients read each saved input: None (its own and any other),
    # "others" (only the other inputs' gradients: a * b, a @ b), or a tuple per
    # input of the input indices whose gradients need it.
    _saved_for: Any = None

    def save_for_backward(self, *arrays: Any) -> None:
        """Keep ``arrays`` for ``backward``; the engine frees them after use."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple:
        saved = self._saved
        if saved is _FREED:
            raise RuntimeError(_SECOND_BACKWARD)
        return saved

    @property
    def saved_graph_tensors(self) -> tuple:
        """The saved values as Tensors connected to the graph, for an op's
        Tensor-level rule ``backward_graph`` (create_graph; see engine.py)."""
        from .engine import saved_graph_tensors

        return saved_graph_tensors(self)

    def _release(self) -> None:
        if self._saved:
            self._saved = _FREED
            self._saved_from = ()

    @property
    def next_functions(self) -> tuple:
        """The nodes this one sends gradients to, as ``((node, 0), ...)``."""
        return tuple((n, 0) for n in self._next)

    @property
    def needs_input_grad(self) -> tuple:
        return tuple(n is not None for n in self._next)

    def name(self) -> str:
        """The op's name as PyTorch prints it, e.g. ``MulBackward0``."""
        return self._name

    def register_prehook(self, hook: Any) -> NodeHookHandle:
        """Call ``hook(grad)`` on the total gradient arriving at this node (an
        array; a Tensor in the graph under create_graph). A value it returns
        replaces the gradient."""
        if self._pre_hooks is None:
            self._pre_hooks = []
        self._pre_hooks.append(hook)
        return NodeHookHandle(self._pre_hooks, hook)

    def register_hook(self, hook: Any) -> NodeHookHandle:
        """Call ``hook(grad_inputs, grad_outputs)`` after this node's rule has
        run: ``grad_inputs`` holds the gradient it sends to each input (None
        where an input needs none), ``grad_outputs`` the gradient it received,
        both as tuples. A tuple it returns replaces ``grad_inputs``."""
        if self._post_hooks is None:
            self._post_hooks = []
        self._post_hooks.append(hook)
        return NodeHookHandle(self._post_hooks, hook)

    def __repr__(self) -> str:
        return f"<{self._name} object at {id(self):#x}>"


class NodeHookHandle:
    """Returned by ``register_prehook``/``register_hook``; ``remove()`` takes
    the hook out again."""

    def __init__(self, hooks: list, hook: Any) -> None:
        self._hooks = hooks
        self._hook = hook

    def remove(self) -> None:
        for i, hook in enumerate(self._hooks):
            if hook is self._hook:
                del self._hooks[i]
                return


class AccumulateGrad(Node):
    """The node of a leaf tensor: adds the arriving gradient into ``leaf.grad``."""

    _name = "AccumulateGrad"
    # ``Tensor.register_post_accumulate_grad_hook``: called with the leaf once
    # its ``.grad`` holds this backward's gradient (DDP starts its all-reduce
    # from here); None until one is registered, so the engine pays one test
    _post_accumulate_hooks: list | None = None

    def __init__(self, variable: Any) -> None:
        self.variable = variable

    def accumulate(self, grad: Any) -> None:
        leaf = self.variable
        data = leaf._data
        if grad.dtype != data.dtype:
            grad = grad.astype(data.dtype)
        if grad.shape != data.shape:
            grad = grad.reshape(data.shape) if grad.size == data.size else grad
        current = leaf._grad
        if current is None:
            # Take the array as it is when nobody else can see it (a fresh
            # result of a backward rule); copy it otherwise, so that an
            # in-place change to one .grad never shows up in another.
            # References: the engine's, ours and getrefcount's argument.
            # (The refcount goes first: it is the cheapest test.)
            if sys.getrefcount(grad) > 3 or grad.base is not None:
                grad = grad.copy()
            elif not grad.flags.writeable:
                grad = grad.copy()
            leaf._grad = leaf._wrap_grad(grad)
        else:
            current._data += grad


def run_post_accumulate_hooks(node: AccumulateGrad) -> None:
    """Call each post-accumulate-grad hook of ``node``'s leaf, in the order
    they were registered (a copy of the list: a hook may remove itself)."""
    leaf = node.variable
    for hook in list(node._post_accumulate_hooks):
        if hook(leaf) is not None:
            raise RuntimeError("Tensor post accumulate grad hooks should return None.")


class Op(Node):
    """Base of every built-in op; see the module docstring."""

    # Name shown as grad_fn, e.g. "MulBackward0"; ``name()`` returns it.
    _name = "Op"
    # True for ops whose result shares its input's memory (view, permute...).
    _view = False
    # Results after the first (e.g. the indices of max(dim)) never need grad.

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Any, grad_output: Any) -> Any:
        raise NotImplementedError

    # Optional: ``backward_graph(ctx, grad_output)``, the same gradients as
    # ``backward`` computed from Tensors with differentiable ops, which
    # create_graph=True (double backward) runs instead (see engine.py).
    backward_graph: Any = None

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Any:
        """Run the forward rule on tensors and record the node if needed."""
        ctx = cls.__new__(cls)
        # Ops of up to three inputs (Linear with a bias has three) are
        # unrolled: this is the hottest path of the library.
        n = len(inputs)
        if n == 2:
            a, b = inputs
            try:
                out = cls.forward(ctx, a._data, b._data, **options)
            except ValueError as error:
                raise _broadcast_error(cls, a, b, error) from None
            record = _mode.enabled and (a._requires_grad or b._requires_grad)
            if record:
                ctx._next = (_edge(a), _edge(b))
        elif n == 1:
            a = inputs[0]
            out = cls.forward(ctx, a._data, **options)
            record = _mode.enabled and a._requires_grad
            if record:
                ctx._next = (_edge(a),)
        elif n == 3:
            a, b, c = inputs
            out = cls.forward(ctx, a._data, b._data, c._data, **options)
            record = _mode.enabled and (
                a._requires_grad or b._requires_grad or c._requires_grad
            )
            if record:
                ctx._next = (_edge(a), _edge(b), _edge(c))
        else:
            out = cls.forward(ctx, *[t._data for t in inputs], **options)
            record = _mode.enabled and any([t._requires_grad for t in inputs])
            if record:
                ctx._next = tuple([_edge(t) for t in inputs])
        if not record:
            if type(out) is tuple:
                return tuple([_wrap(o, None) for o in out])
            result = _wrap(out, None)
            if cls._view:
                _share_version(result, inputs[0], cls)
            return result
        if _anomaly.enabled:
            ctx._trace = creation_trace()
        if type(out) is tuple:
            result = _wrap(out[0], ctx)
            results = (result,) + tuple([_wrap(o, None) for o in out[1:]])
            out = out[0]
        else:
            result = results = _wrap(out, ctx)
        if cls._view:
            # a view of its (first) input: in-place ops on it need to know
            _share_version(result, inputs[0], cls)
        if ctx._saved:
            ctx._saved_from = _saved_sources(ctx._saved, inputs, out, result)
            if cls._saved_for is not None:
                ctx._saved_from = _drop_unneeded(ctx, inputs)
        return results


def _broadcast_error(cls: Any, a: Any, b: Any, error: ValueError) -> Exception:
    """PyTorch's RuntimeError for operands that do not broadcast, naming the
    op (an Op class or a name); any other ValueError is passed on unchanged."""
    if "broadcast" not in str(error):
        return error
    op = cls if isinstance(cls, str) else cls._name.removesuffix("Backward0").lower()
    sa, sb = a._data.shape, b._data.shape
    for i in range(1, max(len(sa), len(sb)) + 1):
        da = sa[-i] if i <= len(sa) else 1
        db = sb[-i] if i <= len(sb) else 1
        if da != db and da != 1 and db != 1:
            dim = max(len(sa), len(sb)) - i
            return RuntimeError(
                f"{op}: The size of tensor a "
                f"({da}) must match the size of tensor b ({db}) at non-singleton "
                f"dimension {dim} (shapes {list(sa)} and {list(sb)})"
            )
    return error


def _saved_sources(saved: tuple, inputs: tuple, out: Any, result: Any) -> tuple:
    """For each saved array: where it came from, to check versions in backward
    and to rebuild graph-connected tensors for double backward.

    An entry is ``(input_tensor, version)`` for an input's array, ``(weakref to
    the output, version)`` for the output's (a strong reference would be a
    cycle), or None for an array made inside ``forward``. A NumPy view of an
    input's or the output's memory (``a.T`` saved inside ``forward``) gets
    ``(alias, version)``: a constant Tensor on that view which shares the
    version counter of the tensor whose memory it is.
    """
    sources = []
    for array in saved:
        for t in inputs:
            if t._data is array:
                counter = t._vc  # t._version without the property call
                sources.append((t, 0 if counter is None else counter[0]))
                break
        else:
            if array is out:
                sources.append((_weakref(result), result._version))
            else:
                owner = getattr(array, "base", None)
                if owner is None:
                    sources.append(None)
                else:
                    sources.append(_view_source(array, owner, inputs, result))
    return tuple(sources)


def _drop_unneeded(ctx: Any, inputs: tuple) -> tuple:
    """Stop tracking saved inputs that no wanted gradient reads (as PyTorch,
    which saves ``b`` for ``a * b`` only when ``a`` needs a gradient), so that
    changing them in place, e.g. an optimizer step on a weight between two
    backward passes, is not an error."""
    needed_for = ctx._saved_for
    nxt = ctx._next
    # Every input wants its gradient and each is read by some: nothing to drop.
    if None not in nxt and (needed_for == "others" or () not in needed_for):
        return ctx._saved_from
    sources = ctx._saved_from
    kept = None
    for k, source in enumerate(sources):
        if source is None:
            continue
        for i, t in enumerate(inputs):
            if t is source[0]:
                # "others": every input's gradient but its own reads it
                others = needed_for == "others"
                users = range(len(nxt)) if others else needed_for[i]
                skip = i if others else -1
                for j in users:
                    if j != skip and nxt[j] is not None:
                        break
                else:
                    if kept is None:
                        kept = list(sources)
                    kept[k] = None
                break
    return sources if kept is None else tuple(kept)


def _view_source(array: Any, owner: Any, inputs: tuple, result: Any) -> Any:
    """The source of a saved ``array`` that is a view of ``owner``'s memory:
    an alias sharing the counter of the input or output that holds it (None
    when it is neither's)."""
    for t in (*inputs, result):
        data = t._data
        if data is owner or (data.base is owner and xp.may_share_memory(data, array)):
            counter = t._vc
            if counter is None:
                counter = t._vc = [0]
            alias = _wrap(array, None)
            alias._vc = counter
            return (alias, counter[0])
    return None


def check_saved_versions(node: Node) -> None:
    """Raise PyTorch's error when a tensor ``node`` saved was changed in place."""
    for source in node._saved_from:
        if source is None:
            continue
        tensor, version = source
        producer = None
        if tensor.__class__ is _weakref:
            tensor = tensor()
            if tensor is None:
                continue
            producer = node  # a saved output is named after the saving node
        counter = tensor._vc  # tensor._version without the property call
        now = 0 if counter is None else counter[0]
        if now != version:
            raise RuntimeError(_modified_message(tensor, now, version, producer))


def _modified_message(
    tensor: Any, now: int, expected: int, producer: Node | None = None
) -> str:
    what = f"[{tensor.type()} {list(tensor.shape)}]"
    if producer is None and tensor.grad_fn is not None:
        # an input's current node (for a view, as rebuilt after its base
        # changed: _edge does that)
        producer = _edge(tensor)
    if producer is not None:
        # PyTorch names the node without its "Backward0" suffix
        name = producer.name()
        if "Backward" in name:
            name = name[: name.rfind("Backward")]
        what += f", which is output 0 of {name},"
    return (
        "one of the variables needed for gradient computation has been modified "
        f"by an inplace operation: {what} is at version {now}; expected version "
        f"{expected} instead. Hint: enable anomaly detection to find the "
        "operation that failed to compute its gradient, with "
        "torch.autograd.set_detect_anomaly(True, check_nan=False)."
    )


def _edge(t: Any) -> Node | None:
    """The node that gradients for tensor ``t`` flow into (None: no gradient)."""
    grad_fn = t.grad_fn
    if grad_fn is not None:
        if t._base is None or t._view_version == t._vc[0]:
            return grad_fn
        # a view whose base changed in place since its grad_fn was made
        return _regenerate_view(t)
    if not t._requires_grad:
        return None
    acc = t._accumulator
    if acc is None:
        acc = t._accumulator = AccumulateGrad(t)
    return acc


def _wrap(array: Any, grad_fn: Node | None) -> Any:
    """Make a Tensor around ``array``; replaced by tensor.py when it loads."""
    raise RuntimeError("plaingrad.tensor has not been imported")


def _share_version(view: Any, base: Any, op: Any = None) -> None:
    """Make ``view`` share ``base``'s version counter; replaced by tensor.py."""
    raise RuntimeError("plaingrad.tensor has not been imported")


def _regenerate_view(view: Any) -> Node:
    """Rebuild a view's grad_fn from its base's history; replaced by
    ``ops/strided.py`` when it loads (see ``bind_view_regenerator``)."""
    return view.grad_fn


def bind_view_regenerator(regenerate: Any) -> None:
    """Called once by ``ops/strided.py``: ``regenerate(view)`` gives a view
    the grad_fn that reads it from its base's current history."""
    global _regenerate_view
    _regenerate_view = regenerate


def bind_tensor_factory(factory: Any, share_version: Any) -> None:
    """Called once by tensor.py: ``factory(array, grad_fn)`` makes a Tensor,
    ``share_version(view, base)`` marks a view."""
    global _wrap, _share_version
    _wrap = factory
    _share_version = share_version
