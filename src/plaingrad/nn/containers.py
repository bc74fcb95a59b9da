"""Module containers: ``Sequential``, ``ModuleList`` and ``ModuleDict``.

Children are kept, as everywhere, both in ``_modules`` and as instance
attributes, so edits that rename them (``insert``, ``del``, ``pop``) rebuild
both. The numbering after each edit is PyTorch's, quirks included (see
``_inserted``). ``ParameterList`` and ``ParameterDict`` live in
``param_containers`` and are re-exported here.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from itertools import chain
from typing import Any

from .module import Module, _addindent, structure_version
from .param_containers import ParameterDict, ParameterList

__all__ = [
    "ModuleDict",
    "ModuleList",
    "ParameterDict",
    "ParameterList",
    "Sequential",
]


def _abs_index(index: Any, size: int, op: str) -> int:
    # As PyTorch: an int-like index in [-size, size), made non-negative.
    index = operator.index(index)
    if not -size <= index < size:
        raise IndexError(f"{op}: index {index} is out of range (length {size})")
    return index % size


def _set_children(container: Module, pairs: Iterable[tuple[str, Any]]) -> None:
    # Children live both in ``_modules`` and as instance attributes, so a
    # container that renames them rebuilds both from ``pairs``.
    pairs = list(pairs)
    for key in list(container._modules):
        container.__dict__.pop(key, None)
    container._modules.clear()
    for key, module in pairs:
        container.add_module(key, module)


def _renumber(container: Module) -> None:
    # As PyTorch after a deletion: the children left are named 0, 1, 2, ...
    modules = list(container._modules.values())
    _set_children(container, ((str(i), m) for i, m in enumerate(modules)))


def _inserted(modules: OrderedDict, index: int, module: Module) -> OrderedDict:
    # PyTorch's numbering: each child from ``index`` on takes the name one
    # higher (read as ``str(i - 1)``, so children with other names raise
    # KeyError), then ``module`` takes ``str(index)``; an index past the end
    # leaves the others alone and names ``module`` ``str(index)``.
    table = OrderedDict(modules)
    for i in range(len(table), index, -1):
        table[str(i)] = table[str(i - 1)]
    table[str(index)] = module
    return table


class Sequential(Module):
    """Modules applied one after another; children are named ``0``, ``1``, ...

    As PyTorch's, deleting or popping a child renames those left ``0``, ``1``,
    ... (even children that were given names through an ``OrderedDict``).

    Example:
        >>> import plaingrad as torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU())
        >>> net
        Sequential(
          (0): Linear(in_features=2, out_features=8, bias=True)
          (1): ReLU()
        )
        >>> [name for name, _ in net.insert(1, torch.nn.Tanh()).named_children()]
        ['0', '1', '2']
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                if not isinstance(module, Module):
                    raise TypeError(
                        f"Sequential: argument {i} is a {type(module).__name__}, "
                        "not a Module"
                    )
                self.add_module(str(i), module)

    def forward(self, input: Any) -> Any:
        for module in self._modules.values():
            input = module(input)
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: Any) -> Any:
        items = list(self._modules.items())
        if isinstance(index, slice):
            return self.__class__(OrderedDict(items[index]))
        return items[_abs_index(index, len(items), "Sequential")][1]

    def __setitem__(self, index: int, module: Module) -> None:
        key = list(self._modules)[_abs_index(index, len(self), "Sequential")]
        setattr(self, key, module)

    def __delitem__(self, index: Any) -> None:
        keys = list(self._modules)
        if isinstance(index, slice):
            doomed = keys[index]
        else:
            doomed = [keys[_abs_index(index, len(keys), "Sequential")]]
        for key in doomed:
            delattr(self, key)
        _renumber(self)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end, named ``str(len(self))``."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        """Append each module of ``sequential`` (any iterable of modules)."""
        for module in sequential:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        """Put ``module`` before position ``index`` (``-len <= index <= len``)."""
        if not isinstance(module, Module):
            # PyTorch's class for this mistake.
            raise AssertionError(
                "Sequential.insert: module should be of type: Module, got "
                f"{type(module).__name__}"
            )
        n = len(self)
        if not -n <= index <= n:
            raise IndexError(
                f"Index out of range: {index} (Sequential.insert on length {n})"
            )
        if index < 0:
            index += n
        _set_children(self, _inserted(self._modules, index, module).items())
        return self

    def pop(self, key: int | slice) -> Any:
        """Remove and return the child at ``key`` (a slice gives a Sequential)."""
        value = self[key]
        del self[key]
        return value

    def _check_other(self, other: Any) -> None:
        if not isinstance(other, Sequential):
            raise ValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other)} is given."
            )

    def __add__(self, other: Sequential) -> Sequential:
        self._check_other(other)
        return Sequential().extend(self).extend(other)

    def __iadd__(self, other: Sequential) -> Sequential:
        self._check_other(other)
        offset = len(self)
        for i, module in enumerate(list(other)):
            self.add_module(str(offset + i), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent module sees.

    Children are named ``0``, ``1``, ...; as PyTorch's, ``insert``, ``del`` and
    ``pop`` rename them so the numbering stays unbroken.

    Example:
        >>> import plaingrad as torch
        >>> layers = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.ReLU()])
        >>> layers.insert(0, torch.nn.Tanh())
        >>> del layers[1]
        >>> [(name, type(m).__name__) for name, m in layers.named_children()]
        [('0', 'Tanh'), ('1', 'ReLU')]
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end."""
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Append each module of ``modules``."""
        if not isinstance(modules, Iterable):
            raise TypeError(
                "ModuleList.extend should be called with an iterable, but got "
                + type(modules).__name__
            )
        offset = len(self)
        for i, module in enumerate(list(modules)):
            self.add_module(str(offset + i), module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Put ``module`` before position ``index`` (``index >= 0``)."""
        if index < 0:
            # PyTorch's ModuleList.insert looks up child '-1' here and fails
            # with KeyError; this one fails the same way, before any change.
            raise KeyError(
                f"ModuleList.insert: negative index {index} is not supported "
                "(PyTorch raises KeyError '-1')"
            )
        _set_children(self, _inserted(self._modules, index, module).items())

    def pop(self, key: int | slice) -> Any:
        """Remove and return the child at ``key`` (a slice gives a ModuleList)."""
        value = self[key]
        del self[key]
        return value

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self.__class__(list(self._modules.values())[index])
        return self._modules[str(_abs_index(index, len(self), "ModuleList"))]

    def __setitem__(self, index: int, module: Module) -> None:
        setattr(self, str(_abs_index(index, len(self), "ModuleList")), module)

    def __delitem__(self, index: int | slice) -> None:
        if isinstance(index, slice):
            doomed = [str(k) for k in range(len(self))[index]]
        else:
            doomed = [str(_abs_index(index, len(self), "ModuleList"))]
        for key in doomed:
            delattr(self, key)
        _renumber(self)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList(chain(self, other))

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __repr__(self) -> str:
        # As PyTorch: a run of identical children prints once, as
        # ``(0-2): 3 x Linear(...)``.
        reprs = [repr(module) for module in self]
        if not reprs:
            return "ModuleList()"
        runs: list[list[Any]] = [[0, 0, reprs[0]]]
        for i, text in enumerate(reprs[1:], 1):
            if text == runs[-1][2]:
                runs[-1][1] = i
            else:
                runs.append([i, i, text])
        lines = []
        for start, end, text in runs:
            if start == end:
                line = f"({start}): {text}"
            else:
                line = f"({start}-{end}): {end - start + 1} x {text}"
            lines.append(_addindent(line, 2))
        return "ModuleList(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules whose parameters the parent module sees.

    Unlike ``ParameterDict``, a plain ``dict`` keeps its insertion order.

    Example:
        >>> import plaingrad as torch
        >>> heads = torch.nn.ModuleDict({"b": torch.nn.ReLU(), "a": torch.nn.Tanh()})
        >>> heads.pop("b")
        ReLU()
        >>> list(heads.keys())
        ['a']
    """

    def __init__(self, modules: Any = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def update(self, modules: Any) -> None:
        """Add (or replace) the entries of a mapping or of (key, module) pairs."""
        if not isinstance(modules, Iterable):
            raise TypeError(
                "ModuleDict.update should be called with an iterable of key/value "
                "pairs, but got " + type(modules).__name__
            )
        if isinstance(modules, (Mapping, ModuleDict)):
            for key, module in list(modules.items()):
                self[key] = module
            return
        for j, element in enumerate(modules):
            if not isinstance(element, Iterable):
                raise TypeError(
                    f"ModuleDict update sequence element #{j} should be Iterable; "
                    f"is {type(element).__name__}"
                )
            pair: Any = element
            if len(pair) != 2:
                raise ValueError(
                    f"ModuleDict update sequence element #{j} has length "
                    f"{len(pair)}; 2 is required"
                )
            self[pair[0]] = pair[1]

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]
        structure_version[0] += 1
        self.__dict__.pop(key, None)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def pop(self, key: str) -> Module:
        """Remove ``key`` and return its module (KeyError if absent)."""
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        """Remove every entry."""
        _set_children(self, [])

    def keys(self) -> KeysView[str]:
        return self._modules.keys()

    def values(self) -> ValuesView[Module]:
        return self._modules.values()

    def items(self) -> ItemsView[str, Module]:
        return self._modules.items()
