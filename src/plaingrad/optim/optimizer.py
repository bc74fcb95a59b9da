"""``Optimizer``: parameter groups, per-parameter state, and state dicts.

Subclasses implement ``step``; they update ``param._data`` in place with NumPy
``out=`` arithmetic, so a step allocates little and never records a graph.
A step validates everything before it changes anything, so a failed step leaves
the parameters as they were.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable

import numpy as np

from ..tensor import Tensor, _wrap


class Optimizer:
    """Base class: holds ``param_groups`` (dicts of params and options) and
    ``state`` (per-parameter buffers such as momentum).

    Args:
        params: an iterable of tensors, or of dicts with a ``params`` entry and
            per-group options.
        defaults: the default value of every option.
    """

    def __init__(self, params: Any, defaults: dict) -> None:
        self.defaults = defaults
        self.state: dict = {}
        self.param_groups: list = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params argument given to the optimizer "
                "should be an iterable of Tensors or dicts, but got a Tensor"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"add_param_group: expected a dict, got {type(param_group).__name__}"
            )
        params = param_group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{type(self).__name__} can only optimize Tensors, but one of "
                    f"the params is {type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: can't optimize a non-leaf Tensor")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in params):
            raise ValueError(
                "some parameters appear in more than one parameter group"
            )
        group = dict(self.defaults)
        group.update(param_group)
        group["params"] = params
        self._validate(group)
        self.param_groups.append(group)

    def _validate(self, group: dict) -> None:
        """Check a group's options; subclasses raise ValueError on bad values."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient (to None by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad._data.fill(0)

    def step(self, closure: Callable | None = None) -> Any:
        raise NotImplementedError

    def _closure_loss(self, closure: Callable | None) -> Any:
        if closure is None:
            return None
        from ..autograd.grad_mode import enable_grad

        with enable_grad():
            return closure()

    # ----------------------------------------------------------- state dicts

    def state_dict(self) -> dict:
        """Options and state, with parameters replaced by their indices."""
        index: dict = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {
            index[id(p)]: {k: _copy_value(v) for k, v in s.items()}
            for p, s in ((p, self.state[p]) for g in self.param_groups for p in g["params"] if p in self.state)
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load options and state (deep-copied: nothing is shared with the source)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups "
                f"({len(groups)} vs {len(self.param_groups)})"
            )
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't "
                    "match the size of optimizer's group "
                    f"({len(saved['params'])} vs {len(own['params'])})"
                )
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[i] = p
        new_state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            new_state[p] = {k: _copy_value(v, p) for k, v in s.items()}
        for saved, own in zip(groups, self.param_groups):
            for key, value in saved.items():
                if key != "params":
                    own[key] = copy.deepcopy(value)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


def _copy_value(value: Any, like: Tensor | None = None) -> Any:
    if isinstance(value, Tensor):
        data = value._data.copy()
        if like is not None and data.dtype.kind == "f" and data.ndim > 0:
            data = data.astype(like._data.dtype)
        return _wrap(data, None)
    if isinstance(value, np.ndarray):
        return value.copy()
    return copy.deepcopy(value)


def _check_nonnegative(group: dict, name: str, optimizer: str) -> None:
    value = group[name]
    if not isinstance(value, (int, float)) and not isinstance(value, Tensor):
        raise TypeError(
            f"{optimizer}: `{name}` must be a number, got {type(value).__name__}"
        )
    if value < 0:
        raise ValueError(f"Invalid {_LABELS.get(name, name)}: {value}")


_LABELS = {
    "lr": "learning rate",
    "momentum": "momentum value",
    "weight_decay": "weight_decay value",
    "eps": "epsilon value",
}
