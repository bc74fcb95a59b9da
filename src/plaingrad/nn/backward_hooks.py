"""Module backward hooks: ``hook(module, grad_input, grad_output)``.

A module's forward is bracketed by two identity ops, both ``autograd.Function``
subclasses. The one on the output sees the gradient arriving from above
(``grad_output``); the one on the input sees the gradient leaving the module
(``grad_input``) and calls the hooks there, which may replace it. The engine
needs no knowledge of modules: it only runs two more nodes.
"""

from __future__ import annotations

from typing import Any

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor


class _HookCall:
    """One call of a hooked module: where its two identity nodes meet."""

    def __init__(self, module: Any, hooks: list) -> None:
        self.module = module
        self.hooks = hooks
        self.grad_output: tuple = ()
        self.has_input = False

    def run(self, grad_input: tuple) -> tuple:
        for hook in self.hooks:
            result = hook(self.module, grad_input, self.grad_output)
            if result is None:
                continue
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_input):
                raise RuntimeError(
                    f"backward hook of {type(self.module).__name__}: returned "
                    f"{len(result)} gradients, expected {len(grad_input)}"
                )
            grad_input = result
        return grad_input


class BackwardHookFunction(Function):
    """Identity on the module's input; runs the hooks on its gradient."""

    @staticmethod
    def forward(ctx, x, call):
        ctx.call = call
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (grad_input,) = ctx.call.run((grad_output,))
        return grad_input, None


class _OutputHook(Function):
    """Identity on the module's output; records ``grad_output``."""

    @staticmethod
    def forward(ctx, x, call):
        ctx.call = call
        return x

    @staticmethod
    def backward(ctx, grad_output):
        call = ctx.call
        call.grad_output = (grad_output,)
        if not call.has_input:
            # Nothing below needs a gradient: the hooks still run, with None.
            call.run((None,))
        return grad_output, None


def call_with_backward_hooks(module: Any, args: tuple, run: Any) -> Any:
    """Run ``run(args)`` (the module's forward) inside the two identity ops."""
    if not is_grad_enabled():
        return run(args)
    call = _HookCall(module, list(module._backward_hooks.values()))
    needing = [i for i, a in enumerate(args) if _needs_grad(a)]
    if len(needing) > 1:
        raise NotImplementedError(
            f"register_full_backward_hook: {type(module).__name__} got "
            f"{len(needing)} inputs that require grad; only one is supported yet"
        )
    if needing:
        i = needing[0]
        call.has_input = True
        args = args[:i] + (BackwardHookFunction.apply(args[i], call),) + args[i + 1 :]
    out = run(args)
    if not isinstance(out, Tensor):
        raise NotImplementedError(
            f"register_full_backward_hook: {type(module).__name__} returned a "
            f"{type(out).__name__}; only a single Tensor output is supported yet"
        )
    if out.requires_grad:
        out = _OutputHook.apply(out, call)
    return out


def _needs_grad(value: Any) -> bool:
    return isinstance(value, Tensor) and value.requires_grad
