"""Parameter containers: ``ParameterList`` and ``ParameterDict``.

They hold parameters (a plain tensor put in one becomes a ``Parameter``) under
names ``0``, ``1``, ... or the given keys, so the owner module sees them in
``parameters()`` and ``state_dict()``. Re-exported by ``nn.containers``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..tensor import Tensor
from .module import Module
from .parameter import Parameter


def _as_parameter(value: Any) -> Any:
    # As PyTorch: a plain tensor put in a parameter container becomes a
    # Parameter (that requires grad); other objects are kept as they are.
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


_LEGACY_TYPE = {
    "float16": "HalfTensor",
    "bfloat16": "BFloat16Tensor",
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "uint8": "ByteTensor",
    "int8": "CharTensor",
    "int16": "ShortTensor",
    "int32": "IntTensor",
    "int64": "LongTensor",
    "bool": "BoolTensor",
}


def _describe(value: Any, dtype_text: str) -> str:
    if not isinstance(value, Tensor):
        return f"Object of type: {type(value).__name__}"
    kind = "Parameter" if isinstance(value, Parameter) else "Tensor"
    size = "x".join(str(s) for s in value.shape)
    return f"{kind} containing: [{dtype_text} of size {size}]"


class ParameterList(Module):
    """A list of parameters whose owner module sees them (keys ``0``, ``1``, ...).

    Example:
        >>> import plaingrad as torch
        >>> params = torch.nn.ParameterList([torch.ones(2), torch.zeros(3)])
        >>> [name for name, _ in params.named_parameters()]
        ['0', '1']
    """

    _size: int

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        self.__dict__["_size"] = 0
        if values is not None:
            self.extend(values)

    def _index(self, idx: int) -> int:
        if not -self._size <= idx < self._size:
            raise IndexError(f"ParameterList: index {idx} is out of range")
        return idx % self._size

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return ParameterList([self[i] for i in range(self._size)[idx]])
        return getattr(self, str(self._index(idx)))

    def __setitem__(self, idx: int, param: Any) -> None:
        setattr(self, str(self._index(idx)), _as_parameter(param))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter(self[i] for i in range(self._size))

    def __iadd__(self, parameters: Iterable[Any]) -> ParameterList:
        return self.extend(parameters)

    def append(self, value: Any) -> ParameterList:
        """Add ``value`` (a tensor becomes a Parameter) at the end."""
        self.__dict__["_size"] += 1
        setattr(self, str(self._size - 1), _as_parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Append every value in ``values``."""
        for value in values:
            self.append(value)
        return self

    def extra_repr(self) -> str:
        return "\n".join(
            f"  ({i}): {_describe(p, str(p.dtype) if isinstance(p, Tensor) else '')}"
            for i, p in enumerate(self)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """A dict of parameters whose owner module sees them, keyed by name.

    As PyTorch's, a plain ``dict`` given to the constructor or ``update`` is
    added in sorted key order; an ``OrderedDict`` or a ``ParameterDict`` keeps
    its order.

    Example:
        >>> import plaingrad as torch
        >>> params = torch.nn.ParameterDict({"b": torch.ones(2), "a": torch.ones(1)})
        >>> list(params.keys())
        ['a', 'b']
    """

    _keys: dict[str, None]

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self.__dict__["_keys"] = {}
        if parameters is not None:
            self.update(parameters)

    def _check_key(self, key: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(
                f"ParameterDict: keys must be strings, got {type(key).__name__}"
            )

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys:
            raise AttributeError(f"'ParameterDict' object has no attribute '{key}'")
        return getattr(self, key)

    def __setitem__(self, key: str, value: Any) -> None:
        self._check_key(key)
        self._keys[key] = None
        setattr(self, key, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def keys(self) -> Any:
        return self._keys.keys()

    def values(self) -> Any:
        return (self[k] for k in self._keys)

    def items(self) -> Any:
        return ((k, self[k]) for k in self._keys)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self._keys else default

    def pop(self, key: str) -> Any:
        value = self[key]
        del self[key]
        return value

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(self._keys))
        return key, self.pop(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self._keys:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for key in list(self._keys):
            del self[key]

    def copy(self) -> ParameterDict:
        return ParameterDict(OrderedDict(self.items()))

    def update(self, parameters: Any) -> None:
        """Add the entries of a mapping or of an iterable of (key, value) pairs."""
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            items: Iterable[Any] = parameters.items()
        elif isinstance(parameters, Mapping):
            items = sorted(parameters.items())
        else:
            items = parameters
        for j, pair in enumerate(items):
            if len(pair) != 2:
                raise ValueError(
                    f"ParameterDict update sequence element #{j} has length "
                    f"{len(pair)}; 2 is required"
                )
            self[pair[0]] = pair[1]

    def extra_repr(self) -> str:
        lines = []
        for key, p in self.items():
            legacy = ""
            if isinstance(p, Tensor):
                legacy = "plaingrad." + _LEGACY_TYPE.get(p.dtype.name, "Tensor")
            lines.append(f"  ({key}): {_describe(p, legacy)}")
        return "\n".join(lines)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterDict should not be called.")
