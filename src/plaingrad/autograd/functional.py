"""``autograd.functional``: whole derivatives of small functions.

``jacobian`` runs one backward pass per output element, each over the same
graph (kept with ``retain_graph``), and stacks the rows: for a function with
m outputs that is m passes, fine for the small functions it is meant for. With
``create_graph=True`` those passes record their own graph, so the Jacobian is
itself differentiable; ``hessian`` is the Jacobian of that Jacobian. ``vhp``
and ``hvp`` take one vector instead of building the whole Hessian: ``vhp`` is
the gradient of ``grad(f) . v``, and ``hvp`` uses the double-backward trick
(differentiate ``grad(f) . u`` for a dummy ``u``, then differentiate that with
respect to ``u``), so that it is ``H v`` even where ``H`` is not symmetric.

As in PyTorch, the inputs are replaced by new tensors before ``func`` sees
them (detached copies, or differentiable views with ``create_graph`` when they
already require grad), so that a tensor captured by ``func`` from outside is
not mistaken for an input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import xp


def _as_tuple(inputs: Any, what: str, op: str) -> tuple[bool, tuple]:
    from ..tensor import Tensor

    single = isinstance(inputs, Tensor)
    values = (inputs,) if single else tuple(inputs)
    for i, t in enumerate(values):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{op}: The {what} given to {op} must be either a Tensor or a tuple "
                f"of Tensors but the value at index {i} has type {type(t).__name__}"
            )
    return single, values


def _prepare(inputs: tuple, create_graph: bool) -> tuple:
    """New tensors for ``func``: differentiable views of inputs that require
    grad when ``create_graph``, detached copies that require grad otherwise."""
    prepared = []
    for t in inputs:
        if create_graph and t.requires_grad:
            prepared.append(t.view_as(t))
        else:
            prepared.append(t.detach().requires_grad_(t.is_floating_point()))
    return tuple(prepared)


def _zeros(t: Any) -> Any:
    from ..tensor import _wrap

    return _wrap(xp.zeros(t._data.shape, dtype=t._data.dtype), None)


def jacobian(
    func: Callable,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str = "reverse-mode",
) -> Any:
    """d func(inputs) / d inputs, with shape ``output.shape + input.shape``.

    Args:
        func: a function of one tensor or a tuple of tensors, returning a
            tensor or a tuple of tensors.
        inputs: a tensor or a tuple of tensors.
        create_graph: make the result differentiable (with respect to the
            inputs, when they require grad).
        strict: raise when an output does not depend on an input (otherwise
            that block is zeros, as PyTorch).
        vectorize: accepted for PyTorch's signature; the passes run one by one.
        strategy: only ``'reverse-mode'``.

    Returns:
        A tensor for one input and one output; a tuple over inputs for one
        output; a tuple over outputs of those otherwise (PyTorch's nesting).

    Example:
        >>> import plaingrad as torch
        >>> torch.autograd.functional.jacobian(lambda x: x**2, torch.tensor([1.0, 3.0]))
        tensor([[2., 0.],
                [0., 6.]])
    """
    from ..ops.shape import stack
    from ..tensor import Tensor, _wrap
    from . import grad
    from .grad_mode import enable_grad

    if strategy != "reverse-mode":
        raise NotImplementedError(
            f"jacobian: `strategy={strategy!r}` is not supported (reverse-mode only)"
        )
    single_input, ins = _as_tuple(inputs, "inputs", "jacobian")
    ins = _prepare(ins, create_graph)
    with enable_grad():
        out = func(*ins)
        single_output = isinstance(out, Tensor)
        outs = (out,) if single_output else tuple(out)
        blocks = []
        for k, o in enumerate(outs):
            flat = o.reshape(-1)
            rows = [[] for _ in ins]
            for n in range(flat.shape[0]):
                if flat.requires_grad:
                    parts = grad(
                        flat[n],
                        ins,
                        retain_graph=True,
                        create_graph=create_graph,
                        allow_unused=True,
                    )
                else:
                    parts = (None,) * len(ins)
                for j, (t, g) in enumerate(zip(ins, parts)):
                    if g is None:
                        if strict:
                            raise RuntimeError(
                                f"jacobian: output {k} is independent of input "
                                f"{j}, which is not allowed in strict mode"
                            )
                        g = _zeros(t)
                    rows[j].append(g)
            per_input = []
            for t, r in zip(ins, rows):
                shape = tuple(o.shape) + tuple(t.shape)
                if not r:
                    block = _wrap(xp.zeros(shape, dtype=t._data.dtype), None)
                elif create_graph:
                    block = stack(r).reshape(shape)
                else:
                    block = _wrap(xp.stack([g._data for g in r]).reshape(shape), None)
                per_input.append(block)
            blocks.append(per_input[0] if single_input else tuple(per_input))
    return blocks[0] if single_output else tuple(blocks)


def hessian(
    func: Callable,
    inputs: Any,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    outer_jacobian_strategy: str = "reverse-mode",
) -> Any:
    """The matrix of second derivatives of a scalar function.

    Args:
        func: a function of one tensor or a tuple of tensors that returns a
            tensor with a single element.
        inputs: a tensor or a tuple of tensors.
        create_graph: make the result differentiable.
        strict: raise when the gradient does not depend on an input (a function
            linear in it), instead of returning zeros.
        vectorize: accepted for PyTorch's signature.
        outer_jacobian_strategy: only ``'reverse-mode'``.

    Returns:
        For one input, a tensor of shape ``input.shape + input.shape``; for a
        tuple, a tuple of tuples ``H[i][j]`` of shape
        ``inputs[i].shape + inputs[j].shape``.

    Example:
        >>> import plaingrad as torch
        >>> f = lambda x: (x**3).sum()
        >>> torch.autograd.functional.hessian(f, torch.tensor([1.0, 2.0]))
        tensor([[ 6.,  0.],
                [ 0., 12.]])
    """
    from ..tensor import Tensor

    if outer_jacobian_strategy != "reverse-mode":
        raise NotImplementedError(
            f"hessian: `outer_jacobian_strategy={outer_jacobian_strategy!r}` is not "
            "supported (reverse-mode only)"
        )
    single, ins = _as_tuple(inputs, "inputs", "hessian")

    def scalar_func(*values: Any) -> Any:
        out = func(*values)
        if not isinstance(out, Tensor):
            raise RuntimeError(
                "hessian: The function given to hessian should return a single "
                f"Tensor (got {type(out).__name__})"
            )
        if out.numel() != 1:
            raise RuntimeError(
                "hessian: The Tensor returned by the function given to hessian "
                f"should contain a single element (got shape {tuple(out.shape)})"
            )
        return out.reshape(())

    def gradient(*values: Any) -> tuple:
        jac = jacobian(scalar_func, values, create_graph=True)
        if strict:
            for i, g in enumerate(jac):
                if not g.requires_grad:
                    raise RuntimeError(
                        "hessian: While computing the hessian, found that the "
                        f"jacobian of the user-provided function with respect to "
                        f"input {i} is independent of the input. This is not "
                        "allowed in strict mode."
                    )
        return jac

    result = jacobian(gradient, ins, create_graph=create_graph, strict=strict)
    return result[0][0] if single else result


def _grad_or_none(outputs: tuple, inputs: tuple, grad_outputs: Any, create_graph: bool):
    """``autograd.grad`` over the outputs that require grad; Nones if none does."""
    from . import grad

    pairs = [
        (o, g)
        for o, g in zip(outputs, grad_outputs or (None,) * len(outputs))
        if o is not None and o.requires_grad
    ]
    if not pairs:
        return (None,) * len(inputs)
    return grad(
        [o for o, _ in pairs],
        inputs,
        [g for _, g in pairs] if grad_outputs else None,
        create_graph=create_graph,
        retain_graph=True,
        allow_unused=True,
    )


def _second_order(
    func: Callable, inputs: Any, v: Any, create_graph: bool, strict: bool, op: str
) -> tuple:
    from ..tensor import Tensor

    single, ins = _as_tuple(inputs, "inputs", op)
    if v is None:
        if len(ins) != 1 or ins[0].numel() != 1:
            raise RuntimeError(
                f"{op}: The vector v can only be None if the input to the "
                "user-provided function is a single Tensor with a single element."
            )
        vs = (_zeros(ins[0]) + 1,)
    else:
        _, vs = _as_tuple(v, "v", op)
        if len(vs) != len(ins):
            raise RuntimeError(
                f"{op}: v is a tuple of invalid length: should be {len(ins)} but "
                f"got {len(vs)}."
            )
        for i, (a, b) in enumerate(zip(vs, ins)):
            if tuple(a.shape) != tuple(b.shape):
                raise RuntimeError(
                    f"{op}: Entry {i} in v has invalid size: should be "
                    f"{tuple(b.shape)} but got {tuple(a.shape)}."
                )
    ins = _prepare(ins, create_graph)
    out = func(*ins)
    if not isinstance(out, Tensor) or out.numel() != 1:
        raise RuntimeError(
            f"{op}: The function given to {op} should return a single Tensor with "
            "a single element"
        )
    if strict and not out.requires_grad:
        raise RuntimeError(
            f"{op}: Output 0 of the user-provided function does not require "
            "gradients. The outputs must be computed in a differentiable manner "
            "from the input when running in strict mode."
        )
    jac = _grad_or_none((out,), ins, None, True)
    if strict:
        for i, g in enumerate(jac):
            if g is None or not g.requires_grad:
                raise RuntimeError(
                    f"{op}: The jacobian of the user-provided function with respect "
                    f"to input {i} is independent of the input. This is not allowed "
                    "in strict mode."
                )
    return single, ins, out, jac, vs


def vhp(
    func: Callable,
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple:
    """``v^T H``, H the Hessian of scalar ``func`` at ``inputs``.

    Args:
        func: a function of one tensor or a tuple of tensors returning a
            single-element tensor.
        inputs: a tensor or a tuple of tensors.
        v: the vector(s), shaped as the inputs (may be None for a single
            one-element input).
        create_graph: make the results differentiable.
        strict: raise where a derivative does not depend on the inputs.

    Returns:
        ``(func_output, vhp)``, vhp shaped as ``inputs``.

    Example:
        >>> import plaingrad as torch
        >>> f = lambda x: (x**3).sum()
        >>> x, v = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0])
        >>> torch.autograd.functional.vhp(f, x, v)[1]
        tensor([ 6., 12.])
    """
    from .grad_mode import enable_grad

    with enable_grad():
        single, ins, out, jac, vs = _second_order(
            func, inputs, v, create_graph, strict, "vhp"
        )
        result = _grad_or_none(jac, ins, vs, create_graph)
    return _finish(single, ins, out, result, create_graph)


def hvp(
    func: Callable,
    inputs: Any,
    v: Any = None,
    create_graph: bool = False,
    strict: bool = False,
) -> tuple:
    """``H v``, H the Hessian of scalar ``func`` at ``inputs``.

    Args:
        func: a function of one tensor or a tuple of tensors returning a
            single-element tensor.
        inputs: a tensor or a tuple of tensors.
        v: the vector(s), shaped as the inputs (may be None for a single
            one-element input).
        create_graph: make the results differentiable.
        strict: raise where a derivative does not depend on the inputs.

    Returns:
        ``(func_output, hvp)``, hvp shaped as ``inputs``.

    Example:
        >>> import plaingrad as torch
        >>> f = lambda x: (x[0] ** 2 * x[1]).sum()
        >>> x, v = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 0.0])
        >>> torch.autograd.functional.hvp(f, x, v)[1]
        tensor([4., 2.])
    """
    from .grad_mode import enable_grad

    with enable_grad():
        single, ins, out, jac, vs = _second_order(
            func, inputs, v, create_graph, strict, "hvp"
        )
        dummies = tuple(_zeros(t).requires_grad_() for t in ins)
        back = _grad_or_none(jac, ins, dummies, True)
        result = _grad_or_none(back, dummies, vs, create_graph)
    return _finish(single, ins, out, result, create_graph)


def _finish(single: bool, ins: tuple, out: Any, result: tuple, graph: bool) -> tuple:
    values = tuple(
        _zeros(t) if g is None else (g if graph else g.detach())
        for t, g in zip(ins, result)
    )
    out = out if graph else out.detach()
    return out, values[0] if single else values
