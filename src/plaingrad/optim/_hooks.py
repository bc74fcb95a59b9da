"""Optimizer hooks, as PyTorch's: the global step hooks, the per-optimizer
registries, and the code that runs a ``step`` between its hooks.

``Optimizer.step`` checks for hooks inline (no extra call when there are
none); a subclass's own ``step`` is wrapped by ``_hooked`` when the class is
created. Either way a ``step`` that calls another (``super().step()``) runs
the hooks once: ``_in_step_hooks`` is set on the optimizer meanwhile.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from ..nn.module import _RemovableHandle

# Step hooks of every optimizer: ``hook(optimizer, args, kwargs)``.
_global_optimizer_pre_hooks: OrderedDict = OrderedDict()
_global_optimizer_post_hooks: OrderedDict = OrderedDict()

# The per-optimizer hook registries (not pickled or deep-copied, as PyTorch).
_HOOK_DICTS = (
    "_optimizer_step_pre_hooks",
    "_optimizer_step_post_hooks",
    "_optimizer_state_dict_pre_hooks",
    "_optimizer_state_dict_post_hooks",
    "_optimizer_load_state_dict_pre_hooks",
    "_optimizer_load_state_dict_post_hooks",
)


def register_optimizer_step_pre_hook(hook: Callable) -> _RemovableHandle:
    """Call ``hook(optimizer, args, kwargs)`` before every optimizer's step;
    it may return new ``(args, kwargs)``."""
    return _RemovableHandle(_global_optimizer_pre_hooks, hook)


def register_optimizer_step_post_hook(hook: Callable) -> _RemovableHandle:
    """Call ``hook(optimizer, args, kwargs)`` after every optimizer's step."""
    return _RemovableHandle(_global_optimizer_post_hooks, hook)


def _step_with_hooks(step: Callable, optimizer: Any, args: tuple, kwargs: dict) -> Any:
    """Run ``step(optimizer, *args, **kwargs)`` between the step hooks.

    ``args`` as the hooks see it starts with the optimizer, as PyTorch's. A
    ``step`` that calls another hooked ``step`` (``super().step()``) runs
    the hooks once.
    """
    args = (optimizer, *args)
    pre_hooks = (
        *_global_optimizer_pre_hooks.values(),
        *optimizer._optimizer_step_pre_hooks.values(),
    )
    for hook in pre_hooks:
        result = hook(optimizer, args, kwargs)
        if result is not None:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise RuntimeError(
                    f"{type(optimizer).__name__}.step: a step pre hook must "
                    "return None or a tuple of (new_args, new_kwargs), but got "
                    f"{result!r}"
                )
            args, kwargs = result
    optimizer._in_step_hooks = True
    try:
        out = step(*args, **kwargs)
    finally:
        optimizer._in_step_hooks = False
    post_hooks = (
        *optimizer._optimizer_step_post_hooks.values(),
        *_global_optimizer_post_hooks.values(),
    )
    for hook in post_hooks:
        hook(optimizer, args, kwargs)
    return out


def _hooked(step: Callable) -> Callable:
    """A subclass's own ``step``, made to run the step hooks."""

    @functools.wraps(step)
    def step_with_hooks(self: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            self._optimizer_step_pre_hooks
            or self._optimizer_step_post_hooks
            or _global_optimizer_pre_hooks
            or _global_optimizer_post_hooks
        ) and not self._in_step_hooks:
            return _step_with_hooks(step, self, args, kwargs)
        return step(self, *args, **kwargs)

    step_with_hooks._runs_step_hooks = True  # type: ignore[attr-defined]
    return step_with_hooks


def _add_hook(registry: OrderedDict, hook: Callable, prepend: bool) -> Any:
    handle = _RemovableHandle(registry, hook)
    if prepend:
        registry.move_to_end(handle.id, last=False)
    return handle
