"""``autograd.functional``: whole derivatives of small functions.

``jacobian`` runs one backward pass per output element, each over the same
graph (kept with ``retain_graph``), and stacks the rows: for a function with
m outputs that is m passes, fine for the small functions it is meant for.
``hessian`` needs the derivative of a backward pass, which the engine does not
build yet (``create_graph``); it says so rather than approximating.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backend import xp


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
        strict: raise when an output does not depend on an input (otherwise
            that block is zeros, as PyTorch).

    Returns:
        A tensor for one input and one output; a tuple over inputs for one
        output; a tuple over outputs of those otherwise (PyTorch's nesting).

    Example:
        >>> import plaingrad as torch
        >>> torch.autograd.functional.jacobian(lambda x: x**2, torch.tensor([1.0, 3.0]))
        tensor([[2., 0.],
                [0., 6.]])
    """
    from ..tensor import Tensor, _wrap
    from . import grad
    from .grad_mode import enable_grad

    if create_graph:
        raise NotImplementedError(
            "jacobian: `create_graph=True` needs higher-order gradients, which "
            "are not supported yet"
        )
    if strategy != "reverse-mode":
        raise NotImplementedError(
            f"jacobian: `strategy={strategy!r}` is not supported (reverse-mode only)"
        )
    single_input = isinstance(inputs, Tensor)
    ins = (inputs,) if single_input else tuple(inputs)
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"jacobian: input {i} must be a Tensor, got {type(t).__name__}"
            )
    ins = tuple(t.detach().requires_grad_(t.is_floating_point()) for t in ins)
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
                parts = grad(flat[n], ins, retain_graph=True, allow_unused=True)
            else:
                parts = (None,) * len(ins)
            for j, (t, g) in enumerate(zip(ins, parts)):
                if g is None:
                    if strict:
                        raise RuntimeError(
                            f"jacobian: output {k} is independent of input {j}, "
                            "which is not allowed in strict mode"
                        )
                    rows[j].append(xp.zeros(t._data.shape, dtype=t._data.dtype))
                else:
                    rows[j].append(g._data)
        per_input = []
        for t, r in zip(ins, rows):
            stacked = xp.stack(r) if r else xp.zeros((0,) + t._data.shape)
            per_input.append(
                _wrap(stacked.reshape(tuple(o.shape) + tuple(t.shape)), None)
            )
        blocks.append(per_input[0] if single_input else tuple(per_input))
    return blocks[0] if single_output else tuple(blocks)


def hessian(func: Callable, inputs: Any, *args: Any, **kwargs: Any) -> Any:
    """Not supported yet: it differentiates a backward pass (double backward)."""
    raise NotImplementedError(
        "hessian: second derivatives need `create_graph=True` (double backward), "
        "which plaingrad does not support yet"
    )
