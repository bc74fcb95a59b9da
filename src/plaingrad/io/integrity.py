"""SHA-256 digests that let ``load`` notice a file damaged after it was saved.

The safetensors format checks that a file is well formed (a header that
parses, offsets inside the data) but not that the bytes of its tensors are
the ones written: a flipped bit in a weight or in a saved RNG state loads
silently. ``save`` and ``save_safetensors`` therefore record, in the header's
metadata under ``plaingrad.sha256``, the SHA-256 of each tensor's bytes as
stored (and, for ``save``, of the JSON structure), and every tensor read from
such a file is checked against its digest. The record is one more metadata
string, so the file stays plain safetensors for every other reader; a file
without it (another tool's, an older plaingrad's) is read unchecked, as
before.

The digests guard against damage (a bad disk, a truncated copy, a flipped
bit), not against tampering: whoever can change the tensors can change the
record beside them.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from .errors import CheckpointError

INTEGRITY_KEY = "plaingrad.sha256"


def digest(data: bytes | np.ndarray) -> str:
    """The SHA-256 (hex) of raw bytes, or of an array's bytes as safetensors
    stores them (little-endian, C order)."""
    if isinstance(data, np.ndarray):
        if data.dtype.byteorder == ">" or (
            data.dtype.byteorder == "=" and np.little_endian is False
        ):
            data = data.astype(data.dtype.newbyteorder("<"))
        # uint8 bytes: a buffer hashlib takes for any dtype and 0-d arrays too.
        data = np.require(data, requirements="C").reshape(-1).view(np.uint8)
    return hashlib.sha256(data).hexdigest()


def record(arrays: dict[str, np.ndarray], structure: str | None = None) -> str:
    """The metadata value of ``INTEGRITY_KEY`` for these tensors (and structure)."""
    entry: dict[str, object] = {
        "tensors": {name: digest(array) for name, array in arrays.items()}
    }
    if structure is not None:
        entry["structure"] = digest(structure.encode("utf-8"))
    return json.dumps(entry)


class Digests:
    """The digests a file records, checked against what is read from it.

    ``text`` is the metadata value (None for a file without one, which then
    checks nothing); ``names`` are the file's tensors; ``op`` and ``where``
    name the operation and the file in errors.
    """

    def __init__(self, text: str | None, names: set[str], op: str, where: str):
        self.op, self.where = op, where
        self.tensors: dict[str, str] | None = None
        self.structure: str | None = None
        if text is None:
            return
        try:
            entry = json.loads(text)
            tensors, structure = entry["tensors"], entry.get("structure")
        except (ValueError, TypeError, KeyError, AttributeError):
            raise self._damaged("is not readable") from None
        if not (
            isinstance(tensors, dict)
            and all(isinstance(value, str) for value in tensors.values())
            and (structure is None or isinstance(structure, str))
        ):
            raise self._damaged("is not readable")
        if set(tensors) != names:
            missing = sorted(names - set(tensors))[:3]
            extra = sorted(set(tensors) - names)[:3]
            raise self._damaged(
                f"does not list the same tensors as the file (tensors not "
                f"listed: {missing}, listed but absent: {extra})"
            )
        self.tensors, self.structure = tensors, structure

    def _damaged(self, detail: str) -> CheckpointError:
        return CheckpointError(
            f"{self.op}: {self.where} is damaged: its integrity record "
            f"{INTEGRITY_KEY!r} {detail}"
        )

    def check_tensor(self, name: str, data: bytes | np.ndarray) -> None:
        """Refuse a tensor whose bytes are not the ones that were saved."""
        if self.tensors is not None and digest(data) != self.tensors[name]:
            raise CheckpointError(
                f"{self.op}: {self.where} is corrupted: the bytes of tensor "
                f"{name!r} do not match the SHA-256 digest recorded when the "
                "file was saved"
            )

    def check_structure(self, text: str | None) -> None:
        """Refuse a ``save`` structure that is not the one that was saved."""
        if self.structure is None:
            return
        if text is None or digest(text.encode("utf-8")) != self.structure:
            raise CheckpointError(
                f"{self.op}: {self.where} is corrupted: its structure (the "
                "'plaingrad.structure' metadata) does not match the SHA-256 "
                "digest recorded when the file was saved"
            )
