"""``save`` and ``load``: ``torch.save`` and ``torch.load`` without pickle.

``save`` writes a safetensors file: the tensors under their dotted paths, the
structure around them as JSON in the header (see ``structure``). ``load``
looks at the first bytes of the file and reads, in turn, a plaingrad
checkpoint, any other safetensors file (as a dict of tensors) or a PyTorch
``torch.save`` zip archive (through the restricted unpickler of
``torch_file``); anything else is refused with an error that says what the
file looks like.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, BinaryIO

from .atomic import write_atomically
from .errors import CheckpointError
from .safetensors_file import (
    FORMAT_KEY,
    ORDER_KEY,
    STRUCTURE_KEY,
    SafetensorsFile,
    source_of,
    to_bytes,
    warn_bfloat16,
)
from .structure import Flattener, Rebuilder
from .torch_file import TorchReader

# The value of plaingrad.format in files written by ``save``; the number goes
# up if the structure's encoding ever changes.
_FORMAT = "plaingrad.save/1"


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Save a checkpoint, as ``torch.save``, without pickle.

    The whole file is prepared before anything is written, and a path is
    written through a temporary file in the same folder that replaces it only
    when complete: a refused value or a crash midway leaves an existing
    checkpoint as it was. A flat state dict gives a plain safetensors file
    that ``safetensors.torch.load_file`` reads with the same names. The file
    records a SHA-256 digest of every tensor and of the structure, which
    ``load`` checks.

    Args:
        obj: a tensor, number, string, bool or None, or dicts (``dict``,
            ``OrderedDict``), lists and tuples of them, nested as deep as
            needed: a model's, optimizer's or scheduler's ``state_dict()``,
            ``get_rng_state()``, or a dict such as ``{'epoch': 3, 'model':
            ..., 'optimizer': ...}``. Tensors are saved detached, as they are
            now; ``Parameter`` and ``requires_grad`` are kept, gradients are
            not. Python ints of any size are kept exactly.
        f: the file to write (its folder must exist and be writable; a
            symbolic link is followed, an existing file keeps its permission
            bits), or a binary file object opened for writing.

    Raises:
        TypeError: naming the value and where it is in ``obj`` when it is
            anything else (a Module, a NumPy scalar, a set, ...).
        ValueError: when ``obj`` contains itself or nests containers more
            than 300 deep.
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
    flat = Flattener()
    structure = flat.encode(obj, ())
    metadata = {
        FORMAT_KEY: _FORMAT,
        STRUCTURE_KEY: json.dumps(structure, allow_nan=False),
        ORDER_KEY: json.dumps(list(flat.arrays)),
    }
    write_atomically(to_bytes(flat.arrays, metadata), f, "save")


def _check_map_location(map_location: Any) -> None:
    """Accept the CPU in every spelling PyTorch takes; refuse a GPU clearly."""
    from ..device import check_device

    if map_location is None or callable(map_location):
        return
    if isinstance(map_location, Mapping):
        # {saved location: new location}: tensors all load on the CPU, so only
        # where 'cpu' goes matters ({'cuda:0': 'cpu'} changes nothing).
        check_device(map_location.get("cpu"), "load")
        return
    check_device(map_location, "load")


def _read(source: str | bytes, size: int = -1) -> bytes:
    """The first ``size`` bytes (all of them if -1) of a path or of bytes."""
    if isinstance(source, bytes):
        return source if size < 0 else source[:size]
    with open(source, "rb") as handle:
        return handle.read(size)


def _is_pickle(data: bytes) -> bool:
    # The PROTO opcode and a protocol number: how pickles of protocol 2+ start.
    return len(data) > 1 and data[0] == 0x80 and 2 <= data[1] <= 5


def load(
    f: str | os.PathLike | BinaryIO,
    map_location: Any = None,
    weights_only: bool | None = True,
    **kwargs: Any,
) -> Any:
    """Load a checkpoint, as ``torch.load``, without running code from it.

    Args:
        f: the file (a path, or a binary file object opened for reading): a
            checkpoint written by ``save``, any safetensors file, or a
            ``.pt``/``.pth`` file written by ``torch.save``.
        map_location: where tensors go: None, ``'cpu'``, ``device('cpu')``,
            a dict such as ``{'cuda:0': 'cpu'}``, or a function
            ``(tensor, 'cpu') -> tensor``. plaingrad has no GPU, so a GPU
            device raises ``NoGPUBackendError``.
        weights_only: accepted for PyTorch's sake. Loading never runs code
            either way: torch files are always read as with
            ``weights_only=True``.
        **kwargs: ``torch.load``'s other options (``mmap``,
            ``pickle_module``, ...), accepted and ignored.

    Returns:
        The saved object, as it was: dicts (int keys included), OrderedDicts,
        lists, tuples, numbers, strings and tensors with their dtypes and
        shapes (0-d included). A safetensors file written by another tool
        gives its tensors by name. A torch file gives what ``torch.load``
        would, with plaingrad tensors; bfloat16 tensors, from either kind of
        file, come back as float32 with a ``PlaingradWarning``.

    Raises:
        FileNotFoundError: when ``f`` does not exist.
        CheckpointError: (a ``ValueError``) when ``f`` is truncated,
            corrupted, or in no format that plaingrad reads (a legacy non-zip
            torch file, a bare pickle, a text file), the message naming the
            file and what is wrong; for a file written by ``save`` or
            ``save_safetensors``, when a tensor's bytes or the structure do
            not match the digests recorded at saving, naming the tensor.
        pickle.UnpicklingError: when a torch file asks for anything other
            than tensors and plain containers (code to run, an arbitrary
            class), naming the global it refused; nothing from it runs.
        TypeError: when a tensor's dtype has no plaingrad equivalent, or
            ``f`` is a file object opened in text mode.
        NoGPUBackendError: when ``map_location`` names a GPU.
    """
    _check_map_location(map_location)
    source, where = source_of(f, "load")  # a path, or a file object's bytes
    head = _read(source, 9)
    if head[:4] == b"PK\x03\x04":  # a zip archive: torch.save's format
        return TorchReader(where, map_location).load_zip(_read(source))
    # safetensors: a little-endian header length, then a JSON object.
    size = int.from_bytes(head[:8], "little") if len(head) >= 8 else 0
    if head[8:9] != b"{" and _is_pickle(head):
        return TorchReader(where).load_raw(_read(source))
    length = len(source) if isinstance(source, bytes) else os.path.getsize(source)
    if head[8:9] != b"{" and not 0 < size <= length - 8:
        raise CheckpointError(
            f"load: {where} is not a plaingrad checkpoint: expected a "
            "safetensors file written by plaingrad.save, another safetensors "
            "file or a torch.save zip archive"
        )
    with SafetensorsFile(source, where) as tensors:
        result = _rebuild(tensors, where, map_location)
        tensors.check_rest()
    if tensors.bfloat16:
        warn_bfloat16("load", where, stacklevel=3)
    return result


def _rebuild(tensors: SafetensorsFile, where: str, map_location: Any) -> Any:
    """What ``save`` was given (or a plain file's tensors by name)."""
    metadata = tensors.metadata
    version = metadata.get(FORMAT_KEY)
    rebuild = Rebuilder(tensors.array, tensors.entries, where)
    if version is None:  # a plain safetensors file: its tensors by name
        return OrderedDict(
            (name, rebuild.tensor({"tensor": name}, map_location))
            for name in tensors.names()
        )
    if version != _FORMAT:
        raise CheckpointError(
            f"load: {where} is in the format {version!r}, which this plaingrad "
            f"does not read (it reads {_FORMAT!r}); a newer plaingrad wrote it?"
        )
    try:
        structure = json.loads(metadata[STRUCTURE_KEY])
    except (KeyError, ValueError, RecursionError):  # RecursionError: too deep
        raise rebuild.damaged(f"no readable {STRUCTURE_KEY!r} entry") from None
    try:
        return rebuild.decode(structure, map_location)
    except RecursionError:  # only if called with little stack left
        raise rebuild.damaged("containers nested too deep") from None
