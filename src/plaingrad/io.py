"""Checkpoints in the safetensors format: tensors by name plus string metadata.

A safetensors file is a JSON header (names, dtypes, shapes, byte offsets and a
``str -> str`` metadata table) followed by the raw bytes of each tensor. Loading
one can only ever produce arrays, never run code, which is why plaingrad uses it
instead of pickle.

The format itself stores tensors sorted by name. To give back a state dict in
the order it was saved (``0.weight``, ``0.bias``, ``2.weight``, ...) the names
are also written, in order, under the reserved metadata key
``plaingrad.key_order``; files written by other tools simply load in the file's
order.

``save`` and ``load`` are ``torch.save`` and ``torch.load`` for what training
scripts checkpoint: a nested structure of dicts, lists and tuples whose leaves
are tensors, numbers, strings, bools and None (model and optimizer state dicts,
``{'epoch': 3, 'model': ..., 'optimizer': ...}``). The structure is flattened:
every tensor goes into the safetensors file under the dotted path of keys that
leads to it (``model.0.weight``, ``optimizer.state.0.exp_avg``), and the
structure itself, with a tag on every dict, list, tuple and tensor so that int
keys, tuples and ``Parameter`` come back as they were, is written as JSON under
the metadata key ``plaingrad.structure``. Anything else (a whole Module, a
NumPy scalar, a lambda) is refused with a TypeError rather than pickled.
"""

from __future__ import annotations

import json
import math
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load as load_bytes
from safetensors.numpy import save as save_bytes
from safetensors.numpy import save_file

from .creation import from_numpy
from .tensor import Tensor

__all__ = [
    "load",
    "load_safetensors",
    "load_safetensors_metadata",
    "save",
    "save_safetensors",
]

_ORDER_KEY = "plaingrad.key_order"
_FORMAT_KEY = "plaingrad.format"
_STRUCTURE_KEY = "plaingrad.structure"
_RESERVED = (_ORDER_KEY, _FORMAT_KEY, _STRUCTURE_KEY)
# The value of plaingrad.format in files written by ``save``; the number goes
# up if the structure's encoding ever changes.
_FORMAT = "plaingrad.save/1"


def save_safetensors(
    state_dict: Mapping[str, Tensor],
    path: str | os.PathLike,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write named tensors (e.g. ``model.state_dict()``) to a safetensors file.

    Args:
        state_dict: tensor names mapped to tensors (NumPy arrays are accepted
            too). Values are saved detached, as they are now.
        path: the file to write; its folder must exist.
        metadata: optional ``str -> str`` pairs stored in the file's header
            (read them back with ``load_safetensors_metadata``).

    Raises:
        TypeError: when ``state_dict`` is not a mapping, a name is not a
            string, a value is not a tensor, or the metadata is not made of
            strings.
        ValueError: when ``metadata`` uses a reserved key
            (``plaingrad.key_order``, ``plaingrad.format``,
            ``plaingrad.structure``).
        FileNotFoundError: when the folder of ``path`` does not exist.
        NotADirectoryError: when the "folder" of ``path`` is a file.
        IsADirectoryError: when ``path`` is a folder.
        OSError: when the file cannot be written for another reason.

    Example:
        >>> import os, tempfile
        >>> import plaingrad as torch
        >>> from plaingrad.io import load_safetensors, save_safetensors
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> save_safetensors(torch.nn.Linear(2, 1).state_dict(), path)
        >>> list(load_safetensors(path))
        ['weight', 'bias']
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            "save_safetensors: `state_dict` must be a mapping of names to tensors, "
            f"got {type(state_dict).__name__}"
        )
    if metadata is not None and not isinstance(metadata, Mapping):
        raise TypeError(
            "save_safetensors: `metadata` must be a mapping of str to str, got "
            f"{type(metadata).__name__}"
        )
    arrays: dict[str, np.ndarray] = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(
                f"save_safetensors: tensor names must be str, got "
                f"{type(name).__name__} {name!r}"
            )
        if isinstance(value, Tensor):
            array = value._data
        elif isinstance(value, np.ndarray):
            array = value
        else:
            raise TypeError(
                f"save_safetensors: `state_dict[{name!r}]` must be a Tensor, got "
                f"{type(value).__name__}"
            )
        # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
        arrays[name] = np.require(array, requirements="C")

    header: dict[str, str] = {}
    for key, text in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise TypeError(
                f"save_safetensors: metadata must map str to str, got "
                f"{type(key).__name__} {key!r} -> {type(text).__name__}"
            )
        if key in _RESERVED:
            raise ValueError(
                f"save_safetensors: metadata key {key!r} is reserved for "
                "plaingrad's own use"
            )
        header[key] = text
    header[_ORDER_KEY] = json.dumps(list(arrays))

    path = _writable(path, "save_safetensors")
    try:
        save_file(arrays, path, metadata=header)
    except SafetensorError as error:
        raise OSError(f"save_safetensors: cannot write {path!r} ({error})") from None


def _writable(path: str | os.PathLike, op: str) -> str:
    """``path`` as a string, once it is known that a file can go there."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{op}: {path!r} is a folder, not a file")
    folder = os.path.dirname(path) or "."
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(
            f"{op}: cannot write {path!r}: {folder!r} is a file, not a folder"
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"{op}: cannot write {path!r}: the folder {folder!r} does not exist"
        )
    return path


def _open(path: str | os.PathLike, op: str) -> safe_open:
    """Open ``path`` for reading, turning format errors into ValueError."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{op}: no such file: {path!r}")
    try:
        return safe_open(path, framework="numpy")
    except (SafetensorError, OSError) as error:
        raise ValueError(
            f"{op}: {path!r} is not a readable safetensors file ({error})"
        ) from None


def _saved_order(metadata: Mapping[str, str], names: list[str]) -> list[str]:
    """The names in the order ``save_safetensors`` recorded, else as given.

    A record that is not a JSON list naming exactly the file's tensors (another
    tool's key of the same name, a hand-edited header) is ignored.
    """
    saved = metadata.get(_ORDER_KEY)
    if saved is None:
        return names
    try:
        order = json.loads(saved)
    except ValueError:
        return names
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        return names
    if len(order) != len(names) or set(order) != set(names):
        return names
    return order


def load_safetensors(path: str | os.PathLike) -> OrderedDict[str, Tensor]:
    """Read every tensor of a safetensors file.

    Args:
        path: a file written by ``save_safetensors`` or any safetensors writer.

    Returns:
        Names mapped to new tensors (owning their memory, not requiring grad),
        in the order they were saved when the file records it.

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        ValueError: when the file is not valid safetensors.
        TypeError: when a tensor's dtype has no plaingrad equivalent.
    """
    out: OrderedDict[str, Tensor] = OrderedDict()
    with _open(path, "load_safetensors") as handle:
        names = list(handle.keys())
        names = _saved_order(handle.metadata() or {}, names)
        for name in names:
            # np.array copies: the tensor must not keep the file mapped.
            array = np.array(handle.get_tensor(name))
            try:
                out[name] = from_numpy(array)
            except TypeError:
                raise TypeError(
                    f"load_safetensors: tensor {name!r} in {os.fspath(path)!r} has "
                    f"dtype {array.dtype}, which plaingrad does not support"
                ) from None
    return out


def load_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The user metadata stored in a safetensors file's header.

    Args:
        path: a safetensors file.

    Returns:
        The ``str -> str`` pairs given to ``save_safetensors`` (plaingrad's
        reserved keys left out); empty when there are none.
    """
    with _open(path, "load_safetensors_metadata") as handle:
        metadata = dict(handle.metadata() or {})
    for key in _RESERVED:
        metadata.pop(key, None)
    return metadata


# ------------------------------------------------------------ save and load

_LEAF_TYPES = "tensors, int, float, str, bool and None"
_KEY_TYPES = "str, int, float, bool, None or tuples of them"


def _where(path: tuple) -> str:
    """``obj['model']['0.weight']``: how to reach a value from the saved object."""
    return "obj" + "".join(f"[{key!r}]" for key in path)


def _refusal(value: Any, path: tuple) -> TypeError:
    """The TypeError for a value that ``save`` cannot store, with a hint."""
    from .nn import Module
    from .optim import Optimizer

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
        hint = "; use a plain dict, OrderedDict, list or tuple"
    return TypeError(
        f"save: cannot save a {name} at `{_where(path)}`: plaingrad.save stores "
        f"dicts, lists and tuples of {_LEAF_TYPES}, and never pickles other "
        f"objects{hint}"
    )


class _Flattener:
    """Turns a saved object into (JSON structure, named arrays)."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.names: dict[int, str] = {}  # id(tensor) -> its name in the file
        self.keep: list[Tensor] = []  # holds the ids in `names` alive
        self.open: set[int] = set()  # ids of the containers being walked

    def tensor_name(self, tensor: Tensor, path: tuple) -> str:
        name = self.names.get(id(tensor))
        if name is not None:  # the same tensor twice: stored once
            return name
        base = ".".join(str(key) for key in path) or "tensor"
        name, count = base, 0
        while name in self.arrays or name == "__metadata__":
            count += 1
            name = f"{base}#{count}"
        # Not np.ascontiguousarray: it turns a 0-d array into shape (1,).
        self.arrays[name] = np.require(tensor._data, requirements="C")
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
            f"save: cannot save the dict key {key!r} (a {type(key).__name__}) at "
            f"`{_where(path)}`: keys must be {_KEY_TYPES}"
        )

    def number(self, value: float) -> Any:
        if math.isfinite(value):
            return value
        return {"float": repr(value)}  # 'nan', 'inf', '-inf': not JSON numbers

    def encode(self, value: Any, path: tuple) -> Any:
        from .nn import Parameter

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
        if kind not in (dict, OrderedDict, list, tuple):
            raise _refusal(value, path)
        if id(value) in self.open:
            raise ValueError(
                f"save: `{_where(path)}` contains itself; a structure with a "
                "cycle cannot be saved"
            )
        self.open.add(id(value))
        try:
            if kind in (list, tuple):
                items = [self.encode(v, (*path, i)) for i, v in enumerate(value)]
                return {kind.__name__: items}
            pairs = [
                [self.key(k, path), self.encode(v, (*path, k))]
                for k, v in value.items()
            ]
            return {"ordered_dict" if kind is OrderedDict else "dict": pairs}
        finally:
            self.open.discard(id(value))


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Save a checkpoint, as ``torch.save``, without pickle.

    Args:
        obj: a tensor, number, string, bool or None, or dicts (``dict``,
            ``OrderedDict``), lists and tuples of them, nested as deep as
            needed: a model's or an optimizer's ``state_dict()``, or a dict
            such as ``{'epoch': 3, 'model': ..., 'optimizer': ...}``.
            Tensors are saved detached, as they are now; ``Parameter`` and
            ``requires_grad`` are kept, gradients are not.
        f: the file to write (its folder must exist), or a binary file
            object opened for writing.

    Raises:
        TypeError: naming the value and where it is in ``obj`` when it is
            anything else (a Module, a NumPy scalar, a set, ...).
        ValueError: when ``obj`` contains itself.
        FileNotFoundError, NotADirectoryError, IsADirectoryError, OSError:
            when ``f`` cannot be written.

    Example:
        >>> import os, tempfile
        >>> import plaingrad as torch
        >>> model = torch.nn.Linear(2, 1)
        >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.safetensors")
        >>> torch.save({"epoch": 3, "model": model.state_dict()}, path)
        >>> checkpoint = torch.load(path)
        >>> checkpoint["epoch"], list(checkpoint["model"])
        (3, ['weight', 'bias'])
    """
    flat = _Flattener()
    structure = flat.encode(obj, ())
    metadata = {
        _FORMAT_KEY: _FORMAT,
        _STRUCTURE_KEY: json.dumps(structure, allow_nan=False),
        _ORDER_KEY: json.dumps(list(flat.arrays)),
    }
    blob = save_bytes(flat.arrays, metadata=metadata)
    if hasattr(f, "write"):
        f.write(blob)
        return
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(
            "save: `f` must be a path or a binary file object opened for "
            f"writing, got {type(f).__name__}"
        )
    path = _writable(f, "save")
    try:
        with open(path, "wb") as handle:
            handle.write(blob)
    except OSError as error:
        raise type(error)(
            error.errno, f"save: cannot write {path!r} ({error.strerror})"
        ) from None


def _map_tensor(tensor: Tensor, map_location: Any) -> Tensor:
    """Apply a callable ``map_location(storage, location)`` as PyTorch does."""
    if not callable(map_location):
        return tensor
    moved = map_location(tensor, "cpu")
    if not isinstance(moved, Tensor):
        raise TypeError(
            f"load: `map_location` must return a tensor, got {type(moved).__name__}"
        )
    return moved


def _check_map_location(map_location: Any) -> None:
    """Accept the CPU in every spelling PyTorch takes; refuse a GPU clearly."""
    from .device import check_device

    if map_location is None or callable(map_location):
        return
    if isinstance(map_location, Mapping):
        # {saved location: new location}: everything is saved on the CPU, so
        # only where 'cpu' goes matters ({'cuda:0': 'cpu'} changes nothing).
        check_device(map_location.get("cpu"), "load")
        return
    check_device(map_location, "load")


class _Rebuilder:
    """Turns (JSON structure, arrays) back into the saved object."""

    def __init__(self, arrays: Mapping[str, np.ndarray], where: str) -> None:
        self.arrays = arrays
        self.where = where
        self.tensors: dict[str, Tensor] = {}  # the same name gives one object

    def damaged(self, detail: str) -> ValueError:
        return ValueError(
            f"load: {self.where} was written by plaingrad.save but its "
            f"structure is damaged ({detail})"
        )

    def tensor(self, node: dict, map_location: Any) -> Tensor:
        from .nn import Parameter

        name = node.get("tensor")
        if not isinstance(name, str) or name not in self.arrays:
            raise self.damaged(f"no tensor named {name!r}")
        if name in self.tensors:
            return self.tensors[name]
        # np.array copies: the tensor must own its memory, writable.
        array = np.array(self.arrays[name])
        try:
            tensor = from_numpy(array)
        except TypeError:
            raise TypeError(
                f"load: tensor {name!r} in {self.where} has dtype {array.dtype}, "
                "which plaingrad does not support"
            ) from None
        requires_grad = node.get("requires_grad", False) is True
        if node.get("parameter", False) is True:
            tensor = Parameter(tensor, requires_grad=requires_grad)
        elif requires_grad:
            tensor.requires_grad_(True)
        tensor = _map_tensor(tensor, map_location)
        self.tensors[name] = tensor
        return tensor

    def decode(self, node: Any, map_location: Any) -> Any:
        if node is None or type(node) in (bool, int, float, str):
            return node
        if type(node) is not dict:
            raise self.damaged(f"unexpected {type(node).__name__} {node!r}")
        if "tensor" in node:
            return self.tensor(node, map_location)
        if len(node) != 1:
            raise self.damaged(f"unknown entry {node!r}")
        ((tag, content),) = node.items()
        if tag == "float" and content in ("nan", "inf", "-inf"):
            return float(content)
        if tag in ("list", "tuple") and type(content) is list:
            items = [self.decode(item, map_location) for item in content]
            return items if tag == "list" else tuple(items)
        if tag in ("dict", "ordered_dict") and type(content) is list:
            out: dict = {} if tag == "dict" else OrderedDict()
            for pair in content:
                if type(pair) is not list or len(pair) != 2:
                    raise self.damaged(f"a {tag} entry is {pair!r}")
                key = self.decode(pair[0], map_location)
                try:
                    out[key] = self.decode(pair[1], map_location)
                except TypeError:  # an unhashable key, in a damaged file
                    raise self.damaged(f"a {tag} key is {pair[0]!r}") from None
            return out
        raise self.damaged(f"unknown entry {node!r}")


def _read(f: Any) -> tuple[bytes, str]:
    """The bytes of ``f`` (a path or a file object) and how to name it."""
    if hasattr(f, "read"):
        data = f.read()
        if not isinstance(data, bytes):
            raise TypeError(
                "load: `f` must be opened in binary mode ('rb'); read() gave "
                f"{type(data).__name__}"
            )
        return data, f"the file object {getattr(f, 'name', f)!r}"
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(
            "load: `f` must be a path or a binary file object opened for "
            f"reading, got {type(f).__name__}"
        )
    path = os.fspath(f)
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path!r} is a folder, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    with open(path, "rb") as handle:
        return handle.read(), repr(path)


def _header(data: bytes, where: str) -> dict:
    """The JSON header of safetensors bytes; ValueError when there is none."""
    header = None
    if len(data) >= 8:
        size = int.from_bytes(data[:8], "little")
        if 0 < size <= len(data) - 8:
            try:
                header = json.loads(data[8 : 8 + size])
            except (UnicodeDecodeError, ValueError):
                header = None
    if isinstance(header, dict):
        return header
    # PyTorch's torch.save writes a zip of pickles (or, before 1.6, a bare
    # pickle, which starts with the PROTO opcode 0x80 and a protocol number).
    zipped = data[:4] == b"PK\x03\x04"
    if zipped or (len(data) > 1 and data[0] == 0x80 and 2 <= data[1] <= 5):
        raise ValueError(
            f"load: {where} is a pickle file (PyTorch's torch.save writes "
            "these), not a plaingrad checkpoint; plaingrad never unpickles. In "
            "PyTorch, write the tensors with safetensors.torch.save_file("
            "state_dict, path) and load that"
        )
    raise ValueError(
        f"load: {where} is not a plaingrad checkpoint: expected a safetensors "
        "file written by plaingrad.save"
    )


def load(
    f: str | os.PathLike | BinaryIO,
    map_location: Any = None,
    weights_only: bool | None = True,
) -> Any:
    """Load a checkpoint written by ``save``, as ``torch.load``.

    Args:
        f: the file (a path, or a binary file object opened for reading).
        map_location: where tensors go: None, ``'cpu'``, ``device('cpu')``,
            a dict such as ``{'cuda:0': 'cpu'}``, or a function
            ``(tensor, 'cpu') -> tensor``. plaingrad has no GPU, so a GPU
            device raises ``NoGPUBackendError``.
        weights_only: accepted for PyTorch's sake. A plaingrad checkpoint
            holds only data, so loading never runs code either way.

    Returns:
        The saved object, as it was: dicts (int keys included), OrderedDicts,
        lists, tuples, numbers, strings and tensors with their dtypes and
        shapes (0-d included). A safetensors file written by another tool
        (or by ``save_safetensors``) gives its tensors by name, as
        ``load_safetensors`` does.

    Raises:
        FileNotFoundError: when ``f`` does not exist.
        ValueError: when ``f`` is not a safetensors file (a pickled PyTorch
            checkpoint, say) or its structure is damaged.
        NoGPUBackendError: when ``map_location`` names a GPU.
    """
    _check_map_location(map_location)
    data, where = _read(f)
    header = _header(data, where)
    try:
        arrays = load_bytes(data)
    except (SafetensorError, ValueError, TypeError) as error:
        raise ValueError(
            f"load: {where} is not a readable safetensors file ({error})"
        ) from None
    metadata = header.get("__metadata__") or {}
    version = metadata.get(_FORMAT_KEY)
    rebuild = _Rebuilder(arrays, where)
    if version is None:  # a plain safetensors file: its tensors by name
        names = _saved_order(metadata, list(arrays))
        return OrderedDict(
            (name, rebuild.tensor({"tensor": name}, map_location)) for name in names
        )
    if version != _FORMAT:
        raise ValueError(
            f"load: {where} is in the format {version!r}, which this plaingrad "
            f"does not read (it reads {_FORMAT!r}); a newer plaingrad wrote it?"
        )
    try:
        structure = json.loads(metadata[_STRUCTURE_KEY])
    except (KeyError, ValueError):
        raise rebuild.damaged(f"no readable {_STRUCTURE_KEY!r} entry") from None
    return rebuild.decode(structure, map_location)
