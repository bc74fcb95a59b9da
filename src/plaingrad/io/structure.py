"""A checkpoint's structure as JSON, its tensors as named arrays.

``save`` flattens what it is given: every tensor goes into the safetensors
file under the dotted path of keys that leads to it (``model.0.weight``,
``optimizer.state.0.exp_avg``), and the structure itself, with a tag on every
dict, list, tuple and tensor so that int keys, tuples and ``Parameter`` come
back as they were, becomes JSON. Python ints of any size, floats (``nan`` and
the infinities included), strings, bools and None are stored exactly, so
NumPy's random-state dicts, with their 128-bit integers, round-trip as they
are.

The same tensor met twice is loaded back as one object; the file still holds
it under each of its names, so that a plain safetensors reader sees every key
of a state dict with tied weights.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..creation import from_numpy
from ..tensor import Tensor
from .errors import CheckpointError, a_or_an

_LEAF_TYPES = "tensors, int, float, str, bool and None"
_KEY_TYPES = "str, int, float, bool, None or tuples of them"
# Containers and their tags. Counter is there for MultiStepLR's milestones.
_CONTAINERS: dict[type, str] = {
    dict: "dict",
    OrderedDict: "ordered_dict",
    Counter: "counter",
    list: "list",
    tuple: "tuple",
}
_MAPPINGS = {"dict": dict, "ordered_dict": OrderedDict, "counter": Counter}
# How deep containers may nest: ``save`` refuses deeper objects and ``load``
# deeper files (Python's recursion limit would end either with RecursionError).
MAX_DEPTH = 300


def where(path: tuple) -> str:
    """``obj['model']['0.weight']``: how to reach a value from the saved object."""
    return "obj" + "".join(f"[{key!r}]" for key in path)


def _refusal(value: Any, path: tuple) -> TypeError:
    """The TypeError for a value that ``save`` cannot store, with a hint."""
    from ..nn import Module
    from ..optim import Optimizer

    kind = type(value)
    name = kind.__qualname__
    if kind.__module__ not in ("builtins", None):
        name = f"{kind.__module__}.{name}"
    hint = ""
    if isinstance(value, (Module, Optimizer)):
        hint = "; save its state_dict() instead"
    elif isinstance(value, (np.ndarray, np.generic)):
        hint = "; convert it with plaingrad.from_numpy(...) or .item()"
    elif isinstance(value, (dict, list, tuple)):
        hint = "; use a plain dict, OrderedDict, Counter, list or tuple"
    return TypeError(
        f"save: cannot save {a_or_an(name)} at `{where(path)}`: plaingrad.save stores "
        f"dicts, lists and tuples of {_LEAF_TYPES}, and never pickles other "
        f"objects{hint}"
    )


class Flattener:
    """Turns a saved object into (JSON structure, named arrays)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.names: dict[int, str] = {}  # id(tensor) -> its first name
        self.keep: list[Tensor] = []  # holds the ids in `names` alive
        self.open: set[int] = set()  # ids of the containers being walked

    def free_name(self, path: tuple) -> str:
        base = ".".join(str(key) for key in path) or "tensor"
        name, count = base, 0
        while name in self.arrays or name == "__metadata__":
            count += 1
            name = f"{base}#{count}"
        return name

    def tensor_name(self, tensor: Tensor, path: tuple) -> str:
        # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
        array = np.require(tensor._data, requirements="C")
        first = self.names.get(id(tensor))
        if first is not None:
            # Seen before: loaded as the same object, but also stored under
            # this name for readers that know nothing of the structure.
            alias = ".".join(str(key) for key in path)
            if alias and alias not in self.arrays and alias != "__metadata__":
                self.arrays[alias] = array
            return first
        name = self.free_name(path)
        self.arrays[name] = array
        self.names[id(tensor)] = name
        self.keep.append(tensor)
        return name

    def key(self, key: Any, path: tuple) -> Any:
        if type(key) is tuple:
            return {"tuple": [self.key(item, path) for item in key]}
        if key is None or type(key) in (bool, int, str):
            return key
        if type(key) is float:
            return self.number(key)
        raise TypeError(
            f"save: cannot save the dict key {key!r} "
            f"({a_or_an(type(key).__name__)}) at "
            f"`{where(path)}`: keys must be {_KEY_TYPES}"
        )

    def number(self, value: float) -> Any:
        if math.isfinite(value):
            return value
        return {"float": repr(value)}  # 'nan', 'inf', '-inf': not JSON numbers

    def encode(self, value: Any, path: tuple) -> Any:
        from ..nn import Parameter

        kind = type(value)
        if value is None or kind in (bool, int, str):
            return value
        if kind is float:
            return self.number(value)
        if isinstance(value, Tensor):
            if kind not in (Tensor, Parameter):
                raise _refusal(value, path)
            node: dict[str, Any] = {"tensor": self.tensor_name(value, path)}
            if kind is Parameter:
                node["parameter"] = True
            if value.requires_grad:
                node["requires_grad"] = True
            return node
        if kind not in _CONTAINERS:
            raise _refusal(value, path)
        if len(path) >= MAX_DEPTH:
            raise ValueError(
                f"save: `{where(path[:3])}...` nests containers more than "
                f"{MAX_DEPTH} deep, which plaingrad.save does not store"
            )
        if id(value) in self.open:
            raise ValueError(
                f"save: `{where(path)}` contains itself; a structure with a "
                "cycle cannot be saved"
            )
        self.open.add(id(value))
        try:
            if kind in (list, tuple):
                items = [self.encode(v, (*path, i)) for i, v in enumerate(value)]
                return {kind.__name__: items}
            if kind is Counter:
                for k, v in value.items():
                    if type(v) is not int:
                        raise TypeError(
                            f"save: cannot save the count {v!r} at "
                            f"`{where((*path, k))}`: a Counter's counts must be "
                            "ints"
                        )
            pairs = [
                [self.key(k, path), self.encode(v, (*path, k))]
                for k, v in value.items()
            ]
            return {_CONTAINERS[kind]: pairs}
        finally:
            self.open.discard(id(value))


def map_tensor(tensor: Tensor, map_location: Any) -> Tensor:
    """Apply a callable ``map_location(storage, location)`` as PyTorch does."""
    if not callable(map_location):
        return tensor
    moved = map_location(tensor, "cpu")
    if not isinstance(moved, Tensor):
        raise TypeError(
            f"load: `map_location` must return a tensor, got {type(moved).__name__}"
        )
    return moved


def make_tensor(
    array: np.ndarray,
    requires_grad: bool,
    parameter: bool,
    name: str,
    where: str,
    op: str = "load",
) -> Tensor:
    """A tensor (or Parameter) owning ``array``; TypeError for a foreign dtype."""
    from ..nn import Parameter

    try:
        tensor = from_numpy(array)
    except TypeError:
        raise TypeError(
            f"{op}: tensor {name!r} in {where} has dtype {array.dtype}, which "
            "plaingrad does not support"
        ) from None
    if parameter:
        return Parameter(tensor, requires_grad=requires_grad)
    if requires_grad:
        tensor.requires_grad_(True)
    return tensor


class Rebuilder:
    """Turns (JSON structure, arrays) back into the saved object."""

    def __init__(
        self, array: Callable[[str], np.ndarray], names: set[str], where: str
    ) -> None:
        self.array = array
        self.names = names
        self.where = where
        self.tensors: dict[str, Tensor] = {}  # the same name gives one object

    def damaged(self, detail: str) -> CheckpointError:
        return CheckpointError(
            f"load: {self.where} was written by plaingrad.save but its "
            f"structure is damaged ({detail})"
        )

    def tensor(self, node: dict, map_location: Any) -> Tensor:
        name = node.get("tensor")
        if not isinstance(name, str) or name not in self.names:
            raise self.damaged(f"no tensor named {name!r}")
        extra = set(node) - {"tensor", "parameter", "requires_grad"}
        flags = [node.get(flag, True) for flag in ("parameter", "requires_grad")]
        if extra or any(flag is not True for flag in flags):
            raise self.damaged(f"the tensor entry {_short(node)}")
        if name in self.tensors:
            return self.tensors[name]
        tensor = make_tensor(
            self.array(name),
            "requires_grad" in node,
            "parameter" in node,
            name,
            self.where,
        )
        tensor = map_tensor(tensor, map_location)
        self.tensors[name] = tensor
        return tensor

    def decode(self, node: Any, map_location: Any, depth: int = 0) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict:
            raise self.damaged(f"unexpected {type(node).__name__} {_short(node)}")
        if depth > MAX_DEPTH:
            raise self.damaged(f"containers nested more than {MAX_DEPTH} deep")
        if "tensor" in node:
            return self.tensor(node, map_location)
        if len(node) != 1:
            raise self.damaged(f"unknown entry {_short(node)}")
        ((tag, content),) = node.items()
        if tag == "float" and content in ("nan", "inf", "-inf"):
            return float(content)
        if tag in ("list", "tuple") and type(content) is list:
            items = [self.decode(item, map_location, depth + 1) for item in content]
            return items if tag == "list" else tuple(items)
        if tag in _MAPPINGS and type(content) is list:
            out: dict = _MAPPINGS[tag]()
            for pair in content:
                if type(pair) is not list or len(pair) != 2:
                    raise self.damaged(f"{a_or_an(tag)} entry is {_short(pair)}")
                key = self.key(pair[0], depth + 1)
                value = self.decode(pair[1], map_location, depth + 1)
                if tag == "counter" and type(value) is not int:
                    raise self.damaged(f"a Counter's count is {_short(value)}")
                out[key] = value
            return out
        raise self.damaged(f"unknown entry {_short(node)}")

    def key(self, node: Any, depth: int) -> Any:
        """A dict key: what ``Flattener.key`` writes, and nothing else."""
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is dict and len(node) == 1 and depth <= MAX_DEPTH:
            ((tag, content),) = node.items()
            if tag == "float" and content in ("nan", "inf", "-inf"):
                return float(content)
            if tag == "tuple" and type(content) is list:
                return tuple(self.key(item, depth + 1) for item in content)
        raise self.damaged(f"a dict key is {_short(node)}")


def _short(value: Any) -> str:
    """``repr(value)``, cut short: a damaged file can hold anything."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
