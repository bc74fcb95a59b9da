"""``Optimizer``: parameter groups, per-parameter state, and state dicts.

Subclasses implement ``_update(group, params)``, which changes ``param._data``
in place with NumPy ``out=`` arithmetic, so a step allocates little and never
records a graph. ``step`` checks every gradient before any update, so a failed
step leaves every parameter and every state buffer as it was. Hyperparameters
are checked when a group is added, with the bad value in the message: a
subclass names them in ``_hyperparameters``, in PyTorch's order.

What the update rules share lives here: ``effective_grad`` (the gradient with
``maximize`` and L2 weight decay applied), ``_state_of`` (a parameter's state,
created on its first step as a float32 ``step`` counter and zero buffers) and
``count_step`` (advance that counter).

State dicts look like PyTorch's (the same option and state names, the step
counter a float32 scalar tensor), and loading one deep-copies it, casting
each buffer to its parameter's dtype; ``_load_state_value`` is the hook for
optimizers whose state is not shaped like the parameters (LBFGS). A state
dict saved by another kind of optimizer is refused (``_state_dict_checks``).

Hooks are PyTorch's: step pre/post hooks (per optimizer, and global ones
registered with ``register_optimizer_step_pre_hook``), state_dict and
load_state_dict pre/post hooks. ``Optimizer.step`` looks for step hooks
inline, so a step without hooks costs no extra call; a subclass's own
``step`` is wrapped once, when the class is created.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..nn.module import _RemovableHandle
from ..tensor import Tensor, _wrap
from ..warnings import PlaingradWarning
from ._hooks import (
    _HOOK_DICTS,
    _add_hook,
    _global_optimizer_post_hooks,
    _global_optimizer_pre_hooks,
    _hooked,
    _step_with_hooks,
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)
from ._state_dict_checks import check_state_keys, loaded_options

__all__ = [
    "Optimizer",
    "register_optimizer_step_post_hook",
    "register_optimizer_step_pre_hook",
    "required",
]

# How a hyperparameter is named in PyTorch's "Invalid ..." messages.
_LABELS = {
    "lr": "learning rate",
    "momentum": "momentum value",
    "dampening": "dampening value",
    "weight_decay": "weight_decay value",
    "eps": "epsilon value",
}


class _RequiredParameter:
    """The default of an option every parameter group must give itself."""

    def __repr__(self) -> str:
        return "<required parameter>"


# ``defaults=dict(lr=required)``: a group without its own ``lr`` is refused.
required = _RequiredParameter()


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of params and options) and
    ``state`` (per-parameter buffers such as momentum).

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs (as
            ``named_parameters()`` gives), or of dicts with a ``params`` entry
            and per-group options.
        defaults: the default value of every option.
    """

    # The options ``_validate`` checks are numbers >= 0, in PyTorch's order so
    # that the first bad value named is the same one; "betas" is checked as a
    # pair in [0, 1). ``_upper_bounds`` caps some of them as well.
    _hyperparameters: tuple = ()
    _upper_bounds: dict = {}
    # True while the step hooks run a step (see ``_step_with_hooks``).
    _in_step_hooks = False
    # The hook registries (``_HOOK_DICTS``), made per optimizer in __init__.
    _optimizer_step_pre_hooks: OrderedDict
    _optimizer_step_post_hooks: OrderedDict
    _optimizer_state_dict_pre_hooks: OrderedDict
    _optimizer_state_dict_post_hooks: OrderedDict
    _optimizer_load_state_dict_pre_hooks: OrderedDict
    _optimizer_load_state_dict_post_hooks: OrderedDict

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        step = vars(cls).get("step")
        if callable(step) and not getattr(step, "_runs_step_hooks", False):
            cls.step = _hooked(step)  # type: ignore[method-assign]

    def __init__(self, params: Any, defaults: dict) -> None:
        for registry in _HOOK_DICTS:
            setattr(self, registry, OrderedDict())
        self.defaults = defaults
        # As PyTorch's: ``opt.state[p]`` of a parameter without state is {}.
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list = []
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(
                f"{name}: params argument given to the optimizer should be an "
                "iterable of Tensors or dicts, but got a Tensor"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options.

        Options the group leaves out take the optimizer's defaults. Nothing
        is added when a parameter or an option is invalid.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{name}.add_param_group: expected a dict, got "
                f"{type(param_group).__name__}"
            )
        params = param_group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(
                f"{name}: optimizer parameters need to be organized in ordered "
                "collections, but the ordering of tensors in sets will change "
                "between runs; use a list instead"
            )
        params = [params] if isinstance(params, Tensor) else list(params)
        names = None
        if params and all(_is_named(p) for p in params):
            names = [p[0] for p in params]
            params = [p[1] for p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{name} can only optimize Tensors, but one of the params "
                    f"is {type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(f"{name}: can't optimize a non-leaf Tensor")
        if len({id(p) for p in params}) != len(params):
            warnings.warn(
                f"{name}: a parameter group holds duplicate parameters; each "
                "will be updated once per time it appears",
                PlaingradWarning,
                stacklevel=3,
            )
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError(
                f"{name}: some parameters appear in more than one parameter group"
            )
        for key, default in self.defaults.items():
            if default is required and key not in param_group:
                raise ValueError(
                    f"{name}: parameter group didn't specify a value of required "
                    f"optimization parameter {key}"
                )
        group = dict(self.defaults)
        group.update(param_group)
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group: dict) -> None:
        """Check the group's ``_hyperparameters``; subclasses extend this with
        checks of other options."""
        name = type(self).__name__
        for key in self._hyperparameters:
            if key == "betas":
                check_betas(group, name)
            else:
                check_hyperparameter(group, key, name, self._upper_bounds.get(key))

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                grad = p._grad
                if grad is None:
                    continue
                if set_to_none:
                    p._grad = None  # None needs none of the setter's checks
                else:
                    grad._data.fill(0)

    def step(self, closure: Callable | None = None) -> Any:
        """Update every parameter that has a gradient; returns the closure's loss.

        Every gradient is checked first: on a mismatch nothing is updated.
        """
        if (
            self._optimizer_step_pre_hooks
            or self._optimizer_step_post_hooks
            or _global_optimizer_pre_hooks
            or _global_optimizer_post_hooks
        ) and not self._in_step_hooks:
            args = () if closure is None else (closure,)
            return _step_with_hooks(Optimizer.step, self, args, {})
        loss = None
        if closure is not None:
            from ..autograd.grad_mode import enable_grad

            with enable_grad():
                loss = closure()
        work = [(group, self._with_grad(group)) for group in self.param_groups]
        for group, params in work:
            if params:
                self._update(group, params)
        return loss

    def _with_grad(self, group: dict) -> list:
        """The group's parameters that have a gradient of their own shape."""
        params = []
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad._data.shape != p._data.shape:
                raise RuntimeError(
                    f"{type(self).__name__}.step: the gradient of a parameter "
                    f"has shape {tuple(grad._data.shape)} but the parameter "
                    f"has shape {tuple(p._data.shape)}; nothing was updated"
                )
            params.append(p)
        return params

    def _update(self, group: dict, params: list) -> None:
        raise NotImplementedError(
            f"{type(self).__name__}: an optimizer must implement _update"
        )

    def _state_of(
        self, param: Tensor, buffers: tuple = (), scalars: dict | None = None
    ) -> dict:
        """``param``'s state, created on its first step as PyTorch's is.

        A new state holds ``step`` (a float32 scalar tensor, 0), then each
        of ``scalars`` (name: value) as a float32 scalar tensor, then each of
        ``buffers`` (names) as zeros shaped and typed like ``param``, in that
        order. ``buffers`` is a tuple, not ``*args``: this runs for every
        parameter on every step, and unpacking arguments costs more than the
        lookup.
        """
        state = self.state.get(param)
        if state is None:
            data = param._data
            state = {"step": _wrap(np.zeros((), dtype=np.float32), None)}
            for key, value in (scalars or {}).items():
                state[key] = _wrap(np.full((), value, dtype=np.float32), None)
            for key in buffers:
                state[key] = _wrap(np.zeros_like(data), None)
            self.state[param] = state
        return state

    # ----------------------------------------------------------------- hooks

    def register_step_pre_hook(self, hook: Callable) -> _RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` before each ``step``; it may
        return new ``(args, kwargs)`` (``args`` starts with the optimizer)."""
        return _RemovableHandle(self._optimizer_step_pre_hooks, hook)

    def register_step_post_hook(self, hook: Callable) -> _RemovableHandle:
        """Call ``hook(optimizer, args, kwargs)`` after each ``step``."""
        return _RemovableHandle(self._optimizer_step_post_hooks, hook)

    def register_state_dict_pre_hook(
        self, hook: Callable, prepend: bool = False
    ) -> _RemovableHandle:
        """Call ``hook(optimizer)`` before ``state_dict`` makes the dict."""
        return _add_hook(self._optimizer_state_dict_pre_hooks, hook, prepend)

    def register_state_dict_post_hook(
        self, hook: Callable, prepend: bool = False
    ) -> _RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` on the dict ``state_dict``
        made; a dict it returns replaces it."""
        return _add_hook(self._optimizer_state_dict_post_hooks, hook, prepend)

    def register_load_state_dict_pre_hook(
        self, hook: Callable, prepend: bool = False
    ) -> _RemovableHandle:
        """Call ``hook(optimizer, state_dict)`` with a shallow copy of the dict
        given to ``load_state_dict``; a dict it returns is loaded instead."""
        return _add_hook(self._optimizer_load_state_dict_pre_hooks, hook, prepend)

    def register_load_state_dict_post_hook(
        self, hook: Callable, prepend: bool = False
    ) -> _RemovableHandle:
        """Call ``hook(optimizer)`` after ``load_state_dict`` has loaded."""
        return _add_hook(self._optimizer_load_state_dict_post_hooks, hook, prepend)

    def __getstate__(self) -> dict:
        # Hooks are often lambdas: as PyTorch, they are not pickled or copied.
        # Adam's flat moment buffers (adam.py) are rebuilt rather than copied:
        # a copied view would no longer share the copied buffer's memory.
        return {
            k: v
            for k, v in self.__dict__.items()
            if k not in _HOOK_DICTS and k != "_flat_cache"
        }

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for registry in _HOOK_DICTS:
            if registry not in self.__dict__:
                setattr(self, registry, OrderedDict())

    # ----------------------------------------------------------- state dicts

    def state_dict(self) -> dict:
        """Options and state, with parameters replaced by their indices.

        The state tensors are copies: changing them changes nothing here.
        """
        for pre_hook in self._optimizer_state_dict_pre_hooks.values():
            pre_hook(self)
        index: dict = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state:
                    saved = self.state[p]
                    state[index[id(p)]] = {k: _copy(v) for k, v in saved.items()}
        state_dict = {"state": state, "param_groups": groups}
        for post_hook in self._optimizer_state_dict_post_hooks.values():
            result = post_hook(self, state_dict)
            if result is not None:
                state_dict = result
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        """Load options and state, deep-copied so nothing is shared with the
        source; a state dict that does not fit changes nothing.

        Raises:
            ValueError: when the groups differ in number or size, when a
                state refers to a parameter no group lists, or when the state
                dict was saved by another kind of optimizer (options this one
                requires missing, options of other optimizers, state buffers
                this one never creates).
        """
        state_dict = dict(state_dict)  # shallow copy, as PyTorch's
        for pre_hook in self._optimizer_load_state_dict_pre_hooks.values():
            result = pre_hook(self, state_dict)
            if result is not None:
                state_dict = result
        self._load(state_dict)
        for post_hook in self._optimizer_load_state_dict_post_hooks.values():
            post_hook(self)

    def _load(self, state_dict: dict) -> None:
        import copy  # loading a state dict is rare; ``import plaingrad`` skips it

        name = type(self).__name__
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                "load_state_dict: loaded state dict has a different number of "
                f"parameter groups ({len(groups)} vs {len(self.param_groups)})"
            )
        by_index: dict = {}
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    "load_state_dict: loaded state dict contains a parameter "
                    "group that doesn't match the size of optimizer's group "
                    f"({len(saved['params'])} vs {len(own['params'])})"
                )
            by_index.update(zip(saved["params"], own["params"]))
        options = [
            copy.deepcopy(loaded_options(self, i, saved, own))
            for i, (saved, own) in enumerate(zip(groups, self.param_groups))
        ]
        new_state: defaultdict = defaultdict(dict)
        for i, saved_state in state_dict["state"].items():
            p = by_index.get(_as_index(i))
            if p is None:
                raise ValueError(
                    f"{name}.load_state_dict: the state dict holds state for "
                    f"parameter {i!r}, which none of its parameter groups lists "
                    f"(they list {sorted(by_index, key=repr)}). Nothing was loaded."
                )
            check_state_keys(self, i, saved_state)
            new_state[p] = {
                k: self._load_state_value(p, k, v) for k, v in saved_state.items()
            }
        for own, loaded in zip(self.param_groups, options):
            own.update(loaded)
        self.state = new_state

    def _load_state_value(self, param: Tensor, key: str, value: Any) -> Any:
        """A copy of one loaded state value; buffers must fit ``param``."""
        if key == "step" and not isinstance(value, (Tensor, np.ndarray)):
            # Old PyTorch state dicts hold the step as a number.
            return _wrap(np.asarray(float(value), dtype=np.float32), None)
        return _copy(value, param, key)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k not in ("params", "param_names")):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _as_index(key: Any) -> Any:
    """A saved state's key as a parameter index ("3" and 3 alike)."""
    try:
        return int(key)
    except (TypeError, ValueError):
        return key


def _is_named(item: Any) -> bool:
    return (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], Tensor)
    )


def _copy(value: Any, like: Tensor | None = None, key: str = "") -> Any:
    """A deep copy of a state value; with ``like``, one that fits that parameter.

    Buffers shaped like the parameter take its dtype (as PyTorch casts them
    on load); a buffer of another shape is refused. Lists and tuples (as
    LBFGS keeps) are copied item by item.
    """
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v, like, key) for v in value)
    if not isinstance(value, (Tensor, np.ndarray)):
        import copy

        return copy.deepcopy(value)
    data = value._data if isinstance(value, Tensor) else value
    data = data.copy()
    if like is not None and data.ndim > 0:
        if data.shape != like._data.shape:
            raise ValueError(
                f"load_state_dict: the state `{key}` has shape {tuple(data.shape)} "
                f"but its parameter has shape {tuple(like._data.shape)}"
            )
        data = data.astype(like._data.dtype, copy=False)
    return _wrap(data, None)


def check_hyperparameter(
    group: dict, name: str, optimizer: str, upper: float | None = None
) -> float:
    """Return ``group[name]`` after checking it is a number >= 0 (not NaN),
    and at most ``upper`` when one is given."""
    value = group[name]
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"{optimizer}: `{name}` must be a number, got {type(value).__name__}"
        )
    if not value >= 0 or (upper is not None and value > upper):
        label = _LABELS.get(name, f"{name} value")
        raise ValueError(f"{optimizer}: Invalid {label}: {value}")
    return value


def check_betas(group: dict, optimizer: str) -> Any:
    """Return ``group["betas"]`` after checking it is a pair in [0, 1)."""
    betas = group["betas"]
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(
            f"{optimizer}: `betas` must be a pair of numbers, got {betas!r}"
        )
    for i in (0, 1):
        if not 0.0 <= betas[i] < 1.0:
            raise ValueError(
                f"{optimizer}: Invalid beta parameter at index {i}: {betas[i]}"
            )
    return betas


def effective_grad(param: Tensor, maximize: bool, weight_decay: float) -> np.ndarray:
    """``param``'s gradient as the update rule uses it: negated to ascend, plus
    ``weight_decay * param`` (L2). A new array when either applies, else the
    gradient's own buffer, which an update must not change."""
    # ``step`` passes only parameters that have a gradient.
    grad = param.grad._data  # type: ignore[union-attr]
    if maximize:
        grad = -grad
    if weight_decay:
        grad = grad + weight_decay * param._data
    return grad


def count_step(state: dict) -> float:
    """Add one to the state's float32 ``step`` counter; return the new count."""
    step = state["step"]._data
    # The same float32 addition as ``step += 1``, in place, but through a
    # NumPy scalar: an in-place ufunc on a 0-d array costs over 10 times more.
    step[()] += 1
    return float(step)


def lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, rounded as PyTorch's lerp_.

    PyTorch works from whichever end is nearer the weight, so its result is
    exact at both ends; the same formula here keeps trajectories identical.
    """
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        diff = end - start
        diff *= 1 - weight
        np.subtract(end, diff, out=start, casting="unsafe")
