"""safetensors files, read and written through the ``safetensors`` package.

The package checks every file it opens (a truncated file, a header that is not
JSON, offsets outside the data, a size that does not match a shape); its
errors come back as a ``CheckpointError`` (a ``ValueError``) that names the
file. A path is opened
lazily with ``safetensors.safe_open``; the bytes of a file object are checked
by ``safetensors.deserialize``. plaingrad adds only what the package leaves
out:

- bfloat16, which NumPy cannot hold: those tensors are read from the bytes the
  header points at and widened to float32, with a ``PlaingradWarning``;
- the order the tensors were saved in, which the format does not keep, stored
  in the metadata under ``plaingrad.key_order``;
- a SHA-256 digest of every tensor's bytes, under ``plaingrad.sha256``,
  checked as each tensor is read (see ``integrity``);
- atomic writes: the bytes ``safetensors.numpy.save`` gives go to a temporary
  file beside the target, which replaces it only once complete, so an error or
  a crash midway leaves the previous file as it was.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np
import safetensors
import safetensors.numpy
from safetensors import SafetensorError

from .. import _dtype
from ..tensor import Tensor
from ..warnings import PlaingradWarning
from .atomic import write_atomically
from .errors import CheckpointError
from .integrity import INTEGRITY_KEY, Digests, record
from .structure import make_tensor

ORDER_KEY = "plaingrad.key_order"
FORMAT_KEY = "plaingrad.format"
STRUCTURE_KEY = "plaingrad.structure"
RESERVED = (ORDER_KEY, FORMAT_KEY, STRUCTURE_KEY, INTEGRITY_KEY)

# The safetensors codes of the dtypes NumPy holds, for `deserialize`'s bytes.
_NUMPY = dict(
    zip(
        "BOOL U8 I8 U16 I16 U32 I32 U64 I64 F16 F32 F64 C64".split(),
        map(np.dtype, "? u1 i1 <u2 <i2 <u4 <i4 <u8 <i8 <f2 <f4 <f8 <c8".split()),
    )
)


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """Widen raw bfloat16 bits (uint16) to float32: they are its top half."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def warn_bfloat16(op: str, where: str, stacklevel: int) -> None:
    """Say that bfloat16 tensors were widened; ``stacklevel`` reaches the user."""
    warnings.warn(
        f"{op}: {where} holds bfloat16 tensors, which NumPy cannot represent; "
        "they are loaded as float32 (every bfloat16 value is exact in float32)",
        PlaingradWarning,
        stacklevel=stacklevel,
    )


def _header(f: BinaryIO) -> tuple[int, dict]:
    """Where the data starts, and the JSON header, of a file already checked."""
    size = int.from_bytes(f.read(8), "little")
    return 8 + size, json.loads(f.read(size))


# ----------------------------------------------------------------- reading


class SafetensorsFile:
    """A safetensors file checked by the package, and its tensors on demand.

    ``source`` is a path or the bytes of a file object; ``where`` names it in
    errors. Use it as a context manager, so that a path's file is closed.
    Every tensor read is checked against the file's digests, if it has them.
    """

    def __init__(self, source: str | bytes, where: str, op: str = "load") -> None:
        self.source, self.where, self.op = source, where, op
        self.bfloat16 = False
        try:
            if isinstance(source, bytes):
                self.raw = dict(safetensors.deserialize(source))
                metadata = _header(io.BytesIO(source))[1].get("__metadata__")
                self.entries = set(self.raw)
            else:
                self.handle = safetensors.safe_open(source, framework="numpy")
                metadata = self.handle.metadata()
                self.entries = set(self.handle.keys())
        except SafetensorError as error:
            raise CheckpointError(
                f"{op}: {where} is not a readable safetensors file: {error}"
            ) from error
        self.metadata: dict[str, str] = metadata or {}
        self.digests = Digests(
            self.metadata.get(INTEGRITY_KEY), self.entries, op, where
        )
        self.digests.check_structure(self.metadata.get(STRUCTURE_KEY))
        self.checked: set[str] = set()

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if not isinstance(self.source, bytes):
            self.handle.__exit__(None, None, None)

    def names(self) -> list[str]:
        """The tensors' names, in the order ``save`` recorded or else sorted."""
        names = sorted(self.entries)
        try:
            order = json.loads(self.metadata.get(ORDER_KEY, "null"))
        except ValueError:
            return names
        # Another tool's key of the same name, or a hand-edited header: ignored.
        if isinstance(order, list) and all(isinstance(n, str) for n in order):
            if sorted(order) == names:
                return order
        return names

    def array(self, name: str) -> np.ndarray:
        """A new, native-endian, writable array with the tensor's values."""
        self.checked.add(name)
        if isinstance(self.source, bytes):
            info = self.raw[name]
            code, shape, raw = info["dtype"], info["shape"], info["data"]
        else:
            try:
                array = np.array(self.handle.get_tensor(name))  # a copy, off the mmap
            except (TypeError, AttributeError):  # NumPy lacks it: BF16, F8_E4M3...
                view = self.handle.get_slice(name)
                code, shape = view.get_dtype(), view.get_shape()
                raw = self.bytes_of(name) if code == "BF16" else b""
            else:
                self.digests.check_tensor(name, array)
                if array.dtype.name != "bfloat16":
                    return array
                # With ml_dtypes installed (onnx brings it) NumPy can hold
                # bfloat16, but plaingrad has no such dtype: widen it all the same.
                self.bfloat16 = True
                return array.astype(np.float32)
        if code == "BF16" or code in _NUMPY:
            self.digests.check_tensor(name, raw)
        if code == "BF16":
            self.bfloat16 = True
            return bfloat16_to_float32(np.frombuffer(raw, "<u2")).reshape(shape)
        if code not in _NUMPY:
            raise TypeError(
                f"{self.op}: tensor {name!r} in {self.where} has dtype {code}, "
                "which plaingrad does not support"
            )
        dtype = _NUMPY[code]
        return np.frombuffer(raw, dtype).astype(dtype.newbyteorder("=")).reshape(shape)

    def bytes_of(self, name: str) -> bytes:
        """The raw bytes of one tensor of a path, where the header puts them."""
        with open(self.source, "rb") as f:
            start, header = _header(f)
            begin, end = header[name]["data_offsets"]
            f.seek(start + begin)
            return f.read(end - begin)

    def check_rest(self) -> None:
        """Check the tensors not read yet (the other names of a tied weight)."""
        if self.digests.tensors is None:
            return
        for name in sorted(self.entries - self.checked):
            self.array(name)

    def tensors(self) -> OrderedDict[str, Tensor]:
        out = OrderedDict(
            (
                name,
                make_tensor(self.array(name), False, False, name, self.where, self.op),
            )
            for name in self.names()
        )
        if self.bfloat16:
            warn_bfloat16(self.op, self.where, stacklevel=4)
        return out


def source_of(f: Any, op: str) -> tuple[str | bytes, str]:
    """A path to ``f``, or the bytes of a binary file object, and how to name it."""
    if hasattr(f, "read"):
        if isinstance(f, io.TextIOBase):
            raise TypeError(
                f"{op}: `f` must be opened in binary mode ('rb'), got a text "
                f"file {getattr(f, 'name', f)!r}"
            )
        try:
            data = f.read()
        except UnicodeDecodeError:
            raise TypeError(
                f"{op}: `f` must be opened in binary mode ('rb'); reading it "
                "decoded text"
            ) from None
        if not isinstance(data, bytes):
            raise TypeError(
                f"{op}: `f` must be opened in binary mode ('rb'); read() gave "
                f"{type(data).__name__}"
            )
        return data, f"the file object {getattr(f, 'name', f)!r}"
    if not isinstance(f, (str, os.PathLike)):
        raise TypeError(
            f"{op}: `f` must be a path or a binary file object opened for "
            f"reading, got {type(f).__name__}"
        )
    path = os.fsdecode(f)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{op}: {path!r} is a folder, not a file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{op}: no such file: {path!r}")
    return path, repr(path)


# ----------------------------------------------------------------- writing


def to_bytes(arrays: Mapping[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """A whole safetensors file (tensors of plaingrad's dtypes), as bytes.

    The metadata gains the tensors' digests (and the structure's, if it has
    one) under ``INTEGRITY_KEY``.
    """
    # The package copies raw memory, so C order (np.require keeps 0-d arrays 0-d).
    contiguous = {name: np.require(a, requirements="C") for name, a in arrays.items()}
    metadata = {
        **metadata,
        INTEGRITY_KEY: record(contiguous, metadata.get(STRUCTURE_KEY)),
    }
    return _sorted_metadata(safetensors.numpy.save(contiguous, metadata=metadata))


def _sorted_metadata(data: bytes) -> bytes:
    """The package's file with the metadata's keys in sorted order.

    The package keeps metadata in a hash map whose order changes from one
    process to the next, so the same state would give different bytes; runs
    that resume are checked bitwise against runs that did not stop. Only the
    order changes: the header is re-encoded as compactly as the package
    wrote it, and if that does not give the same length (a string escaped
    differently) the package's bytes are kept as they are.
    """
    size = int.from_bytes(data[:8], "little")
    written = data[8 : 8 + size]
    header = json.loads(written)
    metadata = header.get("__metadata__") or {}
    if len(metadata) < 2:
        return data
    header["__metadata__"] = dict(sorted(metadata.items()))
    text = json.dumps(header, ensure_ascii=False, separators=(",", ":"))
    encoded = text.encode("utf-8")
    if len(encoded) != len(written.rstrip(b" ")):
        return data
    return data[:8] + encoded.ljust(size) + data[8 + size :]


def save_safetensors(
    state_dict: Mapping[str, Tensor],
    path: str | os.PathLike | BinaryIO,
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write named tensors (e.g. ``model.state_dict()``) to a safetensors file.

    The file is plain safetensors, readable by ``safetensors.torch.load_file``.
    Its metadata records a SHA-256 digest of each tensor's bytes, which
    ``load_safetensors`` and ``plaingrad.load`` check. It is written to a
    temporary file that replaces ``path`` only once complete.

    Args:
        state_dict: tensor names mapped to tensors (NumPy arrays are accepted
            too). Values are saved detached, as they are now.
        path: the file to write (its folder must exist), or a binary file
            object opened for writing.
        metadata: optional ``str -> str`` pairs stored in the file's header
            (read them back with ``load_safetensors_metadata``).

    Raises:
        TypeError: when ``state_dict`` is not a mapping, a name is not a
            string, a value is not a tensor, or the metadata is not made of
            strings.
        ValueError: when ``metadata`` uses a reserved key
            (``plaingrad.key_order``, ``plaingrad.format``,
            ``plaingrad.structure``, ``plaingrad.sha256``).
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
            arrays[name] = value._data
        elif isinstance(value, np.ndarray):
            if value.dtype.newbyteorder("=") not in _dtype.FROM_NP:
                raise TypeError(
                    f"save_safetensors: `state_dict[{name!r}]` has dtype "
                    f"{value.dtype}, which plaingrad does not support"
                )
            arrays[name] = value
        else:
            raise TypeError(
                f"save_safetensors: `state_dict[{name!r}]` must be a Tensor, got "
                f"{type(value).__name__}"
            )
    header: dict[str, str] = {}
    for key, text in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise TypeError(
                f"save_safetensors: metadata must map str to str, got "
                f"{type(key).__name__} {key!r} -> {type(text).__name__}"
            )
        if key in RESERVED:
            raise ValueError(
                f"save_safetensors: metadata key {key!r} is reserved for "
                "plaingrad's own use"
            )
        header[key] = text
    header[ORDER_KEY] = json.dumps(list(arrays))
    data = to_bytes(arrays, header)  # refuse before writing
    write_atomically(data, path, "save_safetensors")


def _open(path: str | os.PathLike, op: str) -> SafetensorsFile:
    path = os.fsdecode(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{op}: no such file: {path!r}")
    return SafetensorsFile(path, repr(path), op)


def load_safetensors(path: str | os.PathLike) -> OrderedDict[str, Tensor]:
    """Read every tensor of a safetensors file.

    Args:
        path: a file written by ``save_safetensors`` or any safetensors writer.

    Returns:
        Names mapped to new tensors (owning their memory, not requiring grad),
        in the order they were saved when the file records it, else sorted by
        name. bfloat16 tensors come back as float32, with a warning.

    Raises:
        FileNotFoundError: when ``path`` is not a file.
        CheckpointError: (a ``ValueError``) when the file is not valid
            safetensors (truncated, corrupted, another format), with the
            ``safetensors`` package's reason, or when a tensor's bytes do not
            match the digest recorded by ``save_safetensors``, naming it.
        TypeError: when a tensor's dtype has no plaingrad equivalent.
    """
    with _open(path, "load_safetensors") as file:
        return file.tensors()


def load_safetensors_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The user metadata stored in a safetensors file's header.

    Args:
        path: a safetensors file.

    Returns:
        The ``str -> str`` pairs given to ``save_safetensors`` (plaingrad's
        reserved keys left out); empty when there are none.
    """
    with _open(path, "load_safetensors_metadata") as file:
        metadata = dict(file.metadata)
    for key in RESERVED:
        metadata.pop(key, None)
    return metadata
