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
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .creation import from_numpy
from .tensor import Tensor

__all__ = ["load_safetensors", "load_safetensors_metadata", "save_safetensors"]

_ORDER_KEY = "plaingrad.key_order"


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
        ValueError: when ``metadata`` uses the reserved key
            ``plaingrad.key_order``.
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
        if key == _ORDER_KEY:
            raise ValueError(
                f"save_safetensors: metadata key {_ORDER_KEY!r} is reserved for "
                "plaingrad's own use"
            )
        header[key] = text
    header[_ORDER_KEY] = json.dumps(list(arrays))

    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"save_safetensors: {path!r} is a folder, not a file")
    folder = os.path.dirname(path) or "."
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise NotADirectoryError(
            f"save_safetensors: cannot write {path!r}: {folder!r} is a file, not a "
            "folder"
        )
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"save_safetensors: cannot write {path!r}: the folder {folder!r} does "
            "not exist"
        )
    try:
        save_file(arrays, path, metadata=header)
    except SafetensorError as error:
        raise OSError(f"save_safetensors: cannot write {path!r} ({error})") from None


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
    metadata.pop(_ORDER_KEY, None)
    return metadata
