"""``gradcheck`` and ``gradgradcheck``: compare autograd's derivatives with
central finite differences.

``gradcheck`` builds the whole Jacobian both ways: one backward pass per output
element, one pair of evaluations per input element. ``gradgradcheck`` checks
second derivatives the way PyTorch does: it wraps the function in one that
returns its vector-Jacobian products, computed with ``create_graph=True``, and
runs ``gradcheck`` on that, with the ``grad_outputs`` as extra inputs. The
finite differences then differentiate first derivatives, and the analytical
side is a backward pass through the graph that the double-backward rules built.
"""

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
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
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
        nondet_tol, check_undefined_grad, check_grad_dtypes, fast_mode, masked:
            PyTorch's options, accepted (the check is always the full,
            deterministic one); ``check_backward_ad=False`` checks nothing.
        check_batched_grad, check_batched_forward_grad, check_forward_ad: not
            supported (``NotImplementedError`` when True).

    Returns:
        True when every derivative agrees.

    Example:
        >>> import plaingrad as torch
        >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
        >>> torch.autograd.gradcheck(torch.tanh, (x,))
        True
    """
    _refuse(
        "gradcheck",
        check_batched_grad=check_batched_grad,
        check_batched_forward_grad=check_batched_forward_grad,
        check_forward_ad=check_forward_ad,
    )
    if not check_backward_ad:
        return True
    return _check(fn, inputs, eps, atol, rtol, raise_exception, "gradcheck", "")


def _refuse(op: str, **options: bool) -> None:
    for name, value in options.items():
        if value:
            raise NotImplementedError(
                f"{op}: `{name}=True` is not supported (plaingrad has neither "
                "forward-mode autograd nor batched gradients)"
            )


def _check(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float,
    atol: float,
    rtol: float,
    raise_exception: bool,
    op: str,
    note: str,
) -> bool:
    from ..tensor import Tensor
    from . import grad as autograd_grad
    from .grad_mode import no_grad

    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = _differentiable(args, op)

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
                            f"{op}: the gradient for input {diff[j]} has "
                            f"shape {tuple(g.shape)} but the input has shape "
                            f"{expected} (output {k}){note}"
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
                    f"{op}: Jacobian mismatch for output {k} with respect "
                    f"to input {i} at (output element {n}, input element {m}): "
                    f"analytical {a[n, m]!r} vs numerical {nmr[n, m]!r}{note}\n"
                    f"analytical:\n{a}\nnumerical:\n{nmr}"
                )
                if raise_exception:
                    raise GradcheckError(message)
                return False
    return True


def _differentiable(args: tuple, op: str) -> list:
    """Positions of the inputs that require grad; they must be float64."""
    from ..tensor import Tensor

    diff = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if not diff:
        raise ValueError(f"{op}: no input requires grad")
    for i in diff:
        if args[i].dtype.name != "float64":
            raise ValueError(
                f"{op}: input {i} is {args[i].dtype.name}; finite "
                "differences need float64 inputs"
            )
    return diff


def gradgradcheck(
    func: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check the second derivatives of ``func`` at ``inputs`` numerically.

    The vector-Jacobian products of ``func`` (its gradients with respect to the
    inputs that require grad, for the given ``grad_outputs``, computed with
    ``create_graph=True``) are differentiated twice over: by backward through
    the graph of the backward pass, and by central finite differences. Both
    the inputs and the ``grad_outputs`` are varied.

    Args:
        func: a function of the inputs returning a tensor or a tuple of tensors.
        inputs: a tensor or a tuple of tensors (and other arguments); those that
            require grad must be float64.
        grad_outputs: one tensor per output that requires grad; random float64
            tensors that require grad when None (a fixed seed).
        eps: the finite-difference step.
        atol: absolute tolerance.
        rtol: relative tolerance.
        raise_exception: raise ``GradcheckError`` on mismatch, else return False.
        gen_non_contig_grad_outputs, nondet_tol, check_undefined_grad,
            check_grad_dtypes, fast_mode, masked: PyTorch's options, accepted
            (the check is always the full, deterministic one);
            ``check_rev_over_rev=False`` checks nothing.
        check_batched_grad, check_fwd_over_rev: not supported
            (``NotImplementedError`` when True).

    Returns:
        True when every second derivative agrees.

    Raises:
        NotImplementedError: an op in ``func`` has no double-backward rule
            (whatever ``raise_exception`` says: that is not a mismatch).

    Example:
        >>> import plaingrad as torch
        >>> x = torch.randn(3, dtype=torch.float64, requires_grad=True)
        >>> torch.autograd.gradgradcheck(torch.tanh, (x,))
        True
    """
    from ..tensor import Tensor, _wrap
    from . import grad as autograd_grad
    from .grad_mode import enable_grad

    _refuse(
        "gradgradcheck",
        check_batched_grad=check_batched_grad,
        check_fwd_over_rev=check_fwd_over_rev,
    )
    if not check_rev_over_rev:
        return True
    args = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = _differentiable(args, "gradgradcheck")

    def differentiable_outputs(values: tuple) -> list:
        out = func(*values)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        return [o for o in outs if isinstance(o, Tensor) and o.requires_grad]

    if grad_outputs is None:
        with enable_grad():
            outs = differentiable_outputs(args)
        rng = np.random.default_rng(0)
        grad_outputs = [
            _wrap(
                rng.standard_normal(o.shape).astype(o.dtype.np), None
            ).requires_grad_()
            for o in outs
        ]
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    grad_outputs = list(grad_outputs)
    n = len(args)

    def vjp(*values: Any) -> tuple:
        # the first derivatives, as a differentiable function of the inputs
        # and of the grad_outputs
        with enable_grad():
            outs = differentiable_outputs(values[:n])
            wrt = [values[i] for i in diff]
            grads = autograd_grad(
                outs, wrt, values[n:], create_graph=True, allow_unused=True
            )
        return tuple(g for g in grads if g is not None)

    note = (
        f" (gradgradcheck: output k is the gradient with respect to the k-th "
        f"input that requires grad, inputs {diff}; inputs from {n} on are the "
        "grad_outputs)"
    )
    return _check(
        vjp,
        args + tuple(grad_outputs),
        eps,
        atol,
        rtol,
        raise_exception,
        "gradgradcheck",
        note,
    )
