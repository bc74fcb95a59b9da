"""Reading ``torch.save`` checkpoints without PyTorch and without running them.

``torch.save`` writes a zip archive: ``<folder>/data.pkl`` is a pickle of the
saved object in which every tensor is a call to ``torch._utils.
_rebuild_tensor_v2(storage, offset, size, stride, ...)`` and every storage a
persistent id ``('storage', torch.FloatStorage, key, location, numel)`` whose
bytes are the archive member ``<folder>/data/<key>``; ``<folder>/byteorder``
says how those bytes are ordered.

A pickle is a program: a global named in it can be any importable callable
(``os.system`` included), called with arguments from the file. Here the
unpickler's ``find_class``, which every opcode that names a global goes
through, answers only from a fixed table of what rebuilding tensors needs
(rebuild functions, storage types, dtypes, ``torch.Size``, ``torch.device``,
``collections.OrderedDict``, a few plain builtin containers) and with
plaingrad's own stand-ins for them; it never imports anything. Anything else
raises ``pickle.UnpicklingError`` naming the refused global before it is
called. This is the guarantee of ``torch.load(weights_only=True)``. Before
unpickling, the opcodes are scanned (``pickletools.genops``) and a memo index
no pickle of that length can need is refused: the C unpickler would allocate
a table that large (gigabytes for a 139-byte file).

Tensors come back as plaingrad tensors owning copies of their values (views
into a shared storage become separate tensors with the same values); float16
and the integer and bool dtypes keep their dtype; bfloat16, which NumPy cannot
hold, becomes float32 with a ``PlaingradWarning``.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import zipfile
from collections import Counter, OrderedDict
from typing import Any

import numpy as np

from .. import _dtype
from ..tensor import Tensor
from .errors import CheckpointError, a_or_an
from .safetensors_file import bfloat16_to_float32, warn_bfloat16
from .structure import make_tensor, map_tensor

# The first object of a pre-1.6 (non-zip) torch.save file.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# torch storage type -> (NumPy dtype without byte order, plaingrad dtype name).
_STORAGES = {
    "DoubleStorage": ("f8", "float64"),
    "FloatStorage": ("f4", "float32"),
    "HalfStorage": ("f2", "float16"),
    "BFloat16Storage": ("u2", "bfloat16"),
    "LongStorage": ("i8", "int64"),
    "IntStorage": ("i4", "int32"),
    "ShortStorage": ("i2", "int16"),
    "CharStorage": ("i1", "int8"),
    "ByteStorage": ("u1", "uint8"),
    "BoolStorage": ("b1", "bool"),
}
_UNSUPPORTED_STORAGES = {
    "ComplexFloatStorage": "complex64",
    "ComplexDoubleStorage": "complex128",
    "QInt8Storage": "qint8",
    "QUInt8Storage": "quint8",
    "QInt32Storage": "qint32",
}
# torch dtype names (and aliases) -> plaingrad dtype name.
_DTYPES = {
    "float64": "float64",
    "double": "float64",
    "float32": "float32",
    "float": "float32",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "float32",
    "int64": "int64",
    "long": "int64",
    "int32": "int32",
    "int": "int32",
    "int16": "int16",
    "short": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}


# The opcodes whose argument is a memo index (MEMOIZE's is implicit: the
# memo's size, which is below the number of opcodes read so far).
_MEMO_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "GET", "BINGET", "LONG_BINGET"})


class UnsafeGlobalError(pickle.UnpicklingError):
    """A pickle named a global that the restricted unpickler does not allow."""


class _Unsupported(TypeError):
    pass


class _StorageType:
    """plaingrad's stand-in for ``torch.FloatStorage`` and its kin."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Storage:
    """The elements of one storage, as a 1-d native-endian array."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class _TensorType:
    """Stand-in for ``torch.Tensor`` / ``Parameter`` in ``_rebuild_from_type_v2``."""

    __slots__ = ("parameter",)

    def __init__(self, parameter: bool) -> None:
        self.parameter = parameter


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals come only from ``allowed``; see the module doc."""

    def __init__(self, file: Any, reader: TorchReader) -> None:
        super().__init__(file)
        self.reader = reader
        self.allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): OrderedDict,
            ("collections", "Counter"): Counter,
            ("torch._utils", "_rebuild_tensor_v2"): reader.rebuild_tensor,
            ("torch._utils", "_rebuild_tensor_v3"): reader.rebuild_tensor_v3,
            ("torch._utils", "_rebuild_parameter"): reader.rebuild_parameter,
            ("torch._utils", "_rebuild_parameter_with_state"): (
                reader.rebuild_parameter_with_state
            ),
            ("torch._tensor", "_rebuild_from_type_v2"): reader.rebuild_from_type,
            ("torch", "Tensor"): _TensorType(False),
            ("torch.nn.parameter", "Parameter"): _TensorType(True),
            ("torch", "Size"): reader.size,
            ("torch", "device"): reader.device,
            ("_codecs", "encode"): reader.encode,
        }
        for builtins in ("builtins", "__builtin__"):
            for name, value in (("set", set), ("frozenset", frozenset)):
                self.allowed[builtins, name] = value
            self.allowed[builtins, "bytearray"] = reader.bytearray

    def find_class(self, module: str, name: str) -> Any:
        found = self.allowed.get((module, name))
        if found is not None:
            return found
        if module in ("torch", "torch.storage") and name.endswith("Storage"):
            return self.reader.storage_type(name)
        if module == "torch" and name in _DTYPES:
            if name == "bfloat16":
                self.reader.bfloat16 = True
            return _dtype.BY_NAME[_DTYPES[name]]
        hint = ""
        if module.startswith("torch.nn.modules") or module.startswith("torch.optim"):
            hint = (
                " (the file holds a whole module or optimizer object: in PyTorch, "
                "save its state_dict() instead)"
            )
        elif module.split(".")[0] == "torch" and name.startswith("_rebuild"):
            hint = (
                " (a kind of tensor plaingrad does not rebuild: sparse, "
                "quantized, nested, or from an old torch)"
            )
        elif module.split(".")[0] == "numpy":
            hint = (
                " (the file holds NumPy objects: in PyTorch, save them as "
                "tensors, or as Python numbers with .item())"
            )
        raise UnsafeGlobalError(
            f"load: refused to load {self.reader.where}: its pickle asks for the "
            f"global {module}.{name}, which is not one of the tensors, storages, "
            "dtypes, OrderedDicts and plain containers a checkpoint is made of. "
            "plaingrad reads torch files as torch.load(weights_only=True) does "
            f"and never calls anything else, so nothing from the file was run{hint}"
        )

    def persistent_load(self, pid: Any) -> Any:
        return self.reader.storage(pid)


class TorchReader:
    """Rebuilds one ``torch.save`` file; the stand-ins' methods live here."""

    def __init__(self, where: str, map_location: Any = None) -> None:
        self.where = where
        self.map_location = map_location
        self.archive: zipfile.ZipFile | None = None
        self.prefix = ""
        self.byteorder = "<"
        self.storages: dict[str, _Storage] = {}
        self.bfloat16 = False

    def damaged(self, detail: str) -> CheckpointError:
        return CheckpointError(
            f"load: {self.where} is a damaged torch.save checkpoint: {detail}"
        )

    # ------------------------------------------------------------ the archive

    def load_zip(self, data: bytes) -> Any:
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
            names = self.archive.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise CheckpointError(
                f"load: {self.where} is a truncated or corrupted zip file ({error})"
            ) from None
        records = [n for n in names if re.fullmatch(r"[^/]+/data\.pkl", n)]
        if len(records) != 1:
            raise CheckpointError(
                f"load: {self.where} is a zip file but not a torch.save "
                f"checkpoint: it has no single <folder>/data.pkl (found "
                f"{len(records)})"
            )
        self.prefix = records[0][: -len("data.pkl")]
        order = self.maybe_member("byteorder")
        if order is not None:
            if order.strip() not in (b"little", b"big"):
                raise self.damaged(f"its byteorder record is {order[:20]!r}")
            self.byteorder = "<" if order.strip() == b"little" else ">"
        version = self.maybe_member("version")
        if version is not None and not version.strip().isdigit():
            raise self.damaged(f"its version record is {version[:20]!r}")
        record = self.member("data.pkl")
        unpickler = _RestrictedUnpickler(io.BytesIO(record), self)
        return self.finish(unpickler, record)

    def load_raw(self, data: bytes) -> Any:
        """A bare pickle: say what it is, without running anything from it."""
        unpickler = _RestrictedUnpickler(io.BytesIO(data), self)
        first = self.finish(unpickler, data, raw=True)
        if type(first) is int and first == _LEGACY_MAGIC:
            raise CheckpointError(
                f"load: {self.where} was written by torch.save in its legacy "
                "(pre-1.6, or _use_new_zipfile_serialization=False) format; "
                "plaingrad reads only the zip format. In PyTorch, re-save it: "
                "torch.save(torch.load(path), new_path)"
            )
        raise CheckpointError(
            f"load: {self.where} is a bare pickle file, not a torch.save zip "
            "archive or a plaingrad checkpoint; plaingrad never unpickles "
            "arbitrary pickles"
        )

    def check_memo(self, data: bytes) -> None:
        """Refuse memo indices no real pickle needs, before unpickling.

        The C unpickler grows its memo table to the largest index a PUT names,
        so a few bytes asking for index 2**28 would cost gigabytes. A pickle
        stores at most one memo entry per opcode, so an index at least the
        number of opcodes can only come from a hostile or damaged file.
        """
        ops = pickletools.genops(data)
        indices = []
        count = 0
        for opcode, arg, _ in ops:
            count += 1
            if opcode.name in _MEMO_OPS:
                indices.append(arg)
        largest = max(indices, default=-1)
        if type(largest) is not int or largest >= count:
            raise pickle.UnpicklingError(
                f"a memo index {largest!r} in a pickle of {count} opcodes"
            )

    def finish(
        self, unpickler: _RestrictedUnpickler, data: bytes, raw: bool = False
    ) -> Any:
        try:
            self.check_memo(data)
            result = unpickler.load()
        except (UnsafeGlobalError, _Unsupported, CheckpointError):
            raise
        except Exception as error:  # any way a broken pickle can fail
            if raw:
                raise CheckpointError(
                    f"load: {self.where} is not a plaingrad checkpoint, a "
                    "safetensors file or a torch.save zip archive (it starts "
                    f"like a pickle, which fails to read: {error})"
                ) from None
            raise self.damaged(
                f"its data.pkl does not unpickle ({type(error).__name__}: {error})"
            ) from None
        if self.bfloat16 and not raw:
            warn_bfloat16("load", self.where, stacklevel=5)
        return result

    def member(self, name: str) -> bytes:
        found = self.maybe_member(name)
        if found is None:
            raise self.damaged(f"the archive has no {self.prefix + name}")
        return found

    def maybe_member(self, name: str) -> bytes | None:
        if self.archive is None:  # a bare pickle has no members
            return None
        try:
            info = self.archive.getinfo(self.prefix + name)
        except KeyError:
            return None
        try:
            return self.archive.read(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
            raise self.damaged(
                f"{self.prefix + name} is unreadable ({error})"
            ) from None

    # ------------------------------------------------------------- storages

    def storage_type(self, name: str) -> _StorageType:
        if name in _STORAGES or name == "UntypedStorage":
            return _StorageType(name)
        dtype = _UNSUPPORTED_STORAGES.get(name)
        if dtype is None:
            raise self.damaged(f"it names an unknown storage type torch.{name}")
        raise _Unsupported(
            f"load: {self.where} holds a tensor of dtype torch.{dtype}, which "
            "plaingrad does not support"
        )

    def storage(self, pid: Any) -> _Storage:
        if self.archive is None:
            raise self.damaged("a bare pickle refers to storages")
        if (
            not isinstance(pid, tuple)
            or len(pid) != 5
            or pid[0] != "storage"
            or not isinstance(pid[1], _StorageType)
            or not isinstance(pid[2], str)
            or type(pid[4]) is not int
            or pid[4] < 0
        ):
            raise self.damaged(f"a storage reference is {pid!r}")
        _, kind, key, _location, numel = pid
        if key in self.storages:
            return self.storages[key]
        code, name = _STORAGES.get(kind.name, ("u1", "uint8"))
        dtype = np.dtype(self.byteorder + code)
        name_in_zip = f"data/{key}"
        try:
            size = self.archive.getinfo(self.prefix + name_in_zip).file_size
        except KeyError:
            raise self.damaged(f"the storage {name_in_zip} is missing") from None
        if size < numel * dtype.itemsize:
            raise self.damaged(
                f"the storage {name_in_zip} holds {size} bytes, fewer than its "
                f"{numel} elements of {dtype.itemsize} bytes"
            )
        raw = self.member(name_in_zip)
        array = np.frombuffer(raw, dtype=dtype, count=numel)
        if name == "bfloat16":
            self.bfloat16 = True
            array = bfloat16_to_float32(array)
        else:
            array = array.astype(dtype.newbyteorder("="))
        self.storages[key] = _Storage(array)
        return self.storages[key]

    # ---------------------------------------------------------- the stand-ins

    def rebuild_tensor(
        self,
        storage: Any,
        storage_offset: Any,
        size: Any,
        stride: Any,
        requires_grad: Any = False,
        backward_hooks: Any = None,
        metadata: Any = None,
    ) -> Tensor:
        """``torch._utils._rebuild_tensor_v2``: a strided view, copied."""
        if not isinstance(storage, _Storage):
            raise self.damaged(f"a tensor's storage is {type(storage).__name__}")
        shape, steps = self.ints(size, "size"), self.ints(stride, "stride")
        if len(shape) != len(steps) or type(storage_offset) is not int:
            raise self.damaged(
                f"a tensor has size {size!r}, stride {stride!r} and offset "
                f"{storage_offset!r}"
            )
        elements = storage.array
        if 0 not in shape:
            last = storage_offset + sum((n - 1) * s for n, s in zip(shape, steps))
            if storage_offset < 0 or last >= elements.size:
                raise self.damaged(
                    f"a tensor of size {shape} and stride {steps} at offset "
                    f"{storage_offset} reaches past its storage of "
                    f"{elements.size} elements"
                )
            itemsize = elements.itemsize
            view = np.lib.stride_tricks.as_strided(
                elements[storage_offset:],
                shape=shape,
                strides=tuple(s * itemsize for s in steps),
                writeable=False,
            )
            array = np.array(view, copy=True)
        else:
            array = np.zeros(shape, dtype=elements.dtype)
        floating = array.dtype.kind == "f"
        tensor = make_tensor(
            array, requires_grad is True and floating, False, "?", self.where
        )
        return map_tensor(tensor, self.map_location)

    def rebuild_tensor_v3(
        self,
        storage: Any,
        storage_offset: Any,
        size: Any,
        stride: Any,
        requires_grad: Any,
        backward_hooks: Any,
        dtype: Any,
        metadata: Any = None,
    ) -> Tensor:
        """``_rebuild_tensor_v3``: as v2, with the dtype given apart."""
        if isinstance(storage, _Storage) and isinstance(dtype, _dtype.dtype):
            if storage.array.dtype != dtype.np and storage.array.dtype == np.uint8:
                # An untyped (byte) storage: read its bytes as `dtype`.
                wanted = np.dtype(self.byteorder + dtype.np.str[1:])
                storage = _Storage(
                    storage.array.view(wanted).astype(dtype.np, copy=False)
                )
        return self.rebuild_tensor(
            storage, storage_offset, size, stride, requires_grad, backward_hooks
        )

    def rebuild_parameter(
        self, data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None
    ) -> Tensor:
        """``torch._utils._rebuild_parameter``: a ``Parameter`` around data."""
        from ..nn import Parameter

        if type(data) is not Tensor:
            raise self.damaged(f"a Parameter wraps {a_or_an(type(data).__name__)}")
        floating = data.dtype.is_floating_point
        return Parameter(data, requires_grad=requires_grad is True and floating)

    def rebuild_parameter_with_state(
        self, data: Any, requires_grad: Any, backward_hooks: Any, state: Any
    ) -> Tensor:
        # The state is the Python attributes set on the Parameter: not restored.
        return self.rebuild_parameter(data, requires_grad, backward_hooks)

    def rebuild_from_type(self, func: Any, new_type: Any, args: Any, state: Any) -> Any:
        """``torch._tensor._rebuild_from_type_v2`` for Tensor and Parameter."""
        rebuilders = (
            self.rebuild_tensor,
            self.rebuild_tensor_v3,
            self.rebuild_parameter,
            self.rebuild_parameter_with_state,
        )
        if func not in rebuilders or not isinstance(new_type, _TensorType):
            raise self.damaged("a tensor of another type than Tensor or Parameter")
        if not isinstance(args, tuple):
            raise self.damaged(f"rebuild arguments are {type(args).__name__}")
        tensor = func(*args)
        if new_type.parameter and type(tensor) is Tensor:
            return self.rebuild_parameter(tensor, tensor.requires_grad, None)
        return tensor

    def ints(self, values: Any, what: str) -> tuple[int, ...]:
        if not isinstance(values, (tuple, list)) or not all(
            type(n) is int and n >= 0 for n in values
        ):
            raise self.damaged(f"a tensor's {what} is {values!r}")
        return tuple(values)

    def size(self, values: Any = ()) -> tuple[int, ...]:
        """``torch.Size``: a tuple of ints."""
        return self.ints(values, "torch.Size")

    def device(self, kind: Any, index: Any = None) -> Any:
        from ..device import device

        if not isinstance(kind, str) or not (index is None or type(index) is int):
            raise self.damaged(f"a torch.device is {kind!r}, {index!r}")
        return device(kind if index is None else f"{kind}:{index}")

    def encode(self, text: Any, encoding: Any = "utf-8") -> bytes:
        """``_codecs.encode``: how protocol-2 pickles spell bytes objects."""
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
            raise self.damaged(f"_codecs.encode of {type(text).__name__}")
        return text.encode("latin1")

    def bytearray(self, data: Any = b"") -> bytearray:
        if not isinstance(data, (bytes, bytearray)):
            raise self.damaged(f"bytearray of {type(data).__name__}")
        return bytearray(data)
