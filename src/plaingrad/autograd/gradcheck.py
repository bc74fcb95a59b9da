"""``gradcheck``: compare autograd's gradients with central finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when analytical and numerical gradients differ."""


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of ``fn`` at ``inputs`` against finite differences.

    Every input that requires grad must be float64. For each output element and
    each input element the analytical derivative (from backward) is compared
    with ``(f(x + eps) - f(x - eps)) / (2 eps)``.

    Args:
        fn: a function of the inputs returning a tensor or a tuple of tensors.
        inputs: a tensor or a tuple of tensors (and other arguments).
        eps: the finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance.
        raise_exception: raise ``GradcheckError`` on mismatch, else return False.

    Returns:
        True when every derivative agrees.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
        >>> torch.autograd.gradcheck(torch.tanh, (x,))
        True
    """
    from ..tensor import Tensor
    from . import grad as autograd_grad
    from .grad_mode import no_grad

    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no input requires grad")
    for i in diff:
        if args[i].dtype.name != "float64":
            raise ValueError(
                f"gradcheck: input {i} is {args[i].dtype.name}; finite "
                "differences need float64 inputs"
            )

    def outputs() -> list:
        out = fn(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return [o for o in outs if isinstance(o, Tensor) and o.is_floating_point()]

    outs = outputs()
    for k, out in enumerate(outs):
        flat_out = out.detach().numpy().reshape(-1)
        # analytical[j][n, m]: d out[n] / d input_j[m]
        analytical = [np.zeros((flat_out.size, args[i].numel())) for i in diff]
        if out.requires_grad:
            for n in range(flat_out.size):
                seed = np.zeros(flat_out.size, dtype=out.dtype.np)
                seed[n] = 1
                grads = autograd_grad(
                    out,
                    [args[i] for i in diff],
                    grad_outputs=[Tensor(seed.reshape(out.shape), dtype=out.dtype)],
                    retain_graph=True,
                    allow_unused=True,
                )
                for j, g in enumerate(grads):
                    if g is None:
                        continue
                    expected = tuple(args[diff[j]].shape)
                    if tuple(g.shape) != expected:
                        message = (
                            f"gradcheck: the gradient for input {diff[j]} has "
                            f"shape {tuple(g.shape)} but the input has shape "
                            f"{expected} (output {k})"
                        )
                        if raise_exception:
                            raise GradcheckError(message)
                        return False
                    analytical[j][n] = g.numpy().reshape(-1)
        for j, i in enumerate(diff):
            values = args[i]._data
            numerical = np.zeros_like(analytical[j])
            for m, idx in enumerate(np.ndindex(values.shape)):
                orig = values[idx]
                with no_grad():
                    values[idx] = orig + eps
                    plus = outputs()[k].detach().numpy().reshape(-1).copy()
                    values[idx] = orig - eps
                    minus = outputs()[k].detach().numpy().reshape(-1).copy()
                values[idx] = orig
                numerical[:, m] = (plus - minus) / (2 * eps)
            a, nmr = analytical[j], numerical
            bad = ~np.isclose(a, nmr, rtol=rtol, atol=atol, equal_nan=True)
            if bad.any():
                n, m = np.argwhere(bad)[0]
                message = (
                    f"gradcheck: Jacobian mismatch for output {k} with respect "
                    f"to input {i} at (output element {n}, input element {m}): "
                    f"analytical {a[n, m]!r} vs numerical {nmr[n, m]!r}\n"
                    f"analytical:\n{a}\nnumerical:\n{nmr}"
                )
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True
