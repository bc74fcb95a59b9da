"""Integrity of plaingrad's files: a tensor damaged after saving is refused.

``save`` and ``save_safetensors`` record a SHA-256 of every tensor's bytes
(and of ``save``'s structure) in the metadata; loading checks them and names
the file and the tensor that does not match. Files without the record load
as before, and the files stay plain safetensors for other readers. The right
digests come from ``hashlib`` over the bytes PyTorch reads from the file.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch
from safetensors.numpy import save_file

import plaingrad as pg
from plaingrad.io import (
    CheckpointError,
    load_safetensors,
    load_safetensors_metadata,
    save_safetensors,
)


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _header(data: bytes) -> tuple[int, dict]:
    size = int.from_bytes(data[:8], "little")
    return 8 + size, json.loads(data[8 : 8 + size])


def _flip(path: Path, name: str, at: int = 0) -> None:
    """Flip the lowest bit of byte ``at`` of tensor ``name``'s data."""
    data = bytearray(path.read_bytes())
    start, header = _header(bytes(data))
    begin, _ = header[name]["data_offsets"]
    data[start + begin + at] ^= 0x01
    path.write_bytes(bytes(data))


def _checkpoint() -> dict:
    pg.manual_seed(0)
    model = pg.nn.Linear(4, 3)
    return {"epoch": 3, "model": model.state_dict(), "rng": pg.get_rng_state()}


# ------------------------------------------------ a flipped byte is refused


@pytest.mark.parametrize("name", ["rng", "model.weight", "model.bias"])
def test_a_flipped_byte_in_any_tensor_of_a_save_file_is_refused(
    tmp_path: Path, name: str
):
    path = tmp_path / "ckpt.safetensors"
    pg.save(_checkpoint(), path)
    pg.load(path)  # intact: loads
    _flip(path, name, at=5)

    with pytest.raises(CheckpointError) as raised:
        pg.load(path)
    message = str(raised.value)
    assert str(path) in message and repr(name) in message
    assert "SHA-256" in message
    with pytest.raises(CheckpointError, match=f"tensor {name!r}"):
        pg.load(io.BytesIO(path.read_bytes()))  # file objects are checked too
    with pytest.raises(CheckpointError, match=f"tensor {name!r}"):
        load_safetensors(path)


def test_a_flipped_byte_in_a_save_safetensors_file_is_refused(tmp_path: Path):
    path = tmp_path / "model.safetensors"
    state = {"weight": pg.arange(12.0).reshape(3, 4), "steps": pg.tensor(7)}
    save_safetensors(state, path)
    _flip(path, "steps")

    with pytest.raises(CheckpointError, match=r"model\.safetensors.*'steps'"):
        load_safetensors(path)
    with pytest.raises(ValueError, match="'steps' do not match the SHA-256"):
        pg.load(path)


def test_the_other_names_of_a_tied_weight_are_checked_too(tmp_path: Path):
    shared = pg.ones(4)
    path = tmp_path / "tied.safetensors"
    pg.save({"encoder": shared, "decoder": shared}, path)
    _flip(path, "decoder")  # the alias, which load does not otherwise read

    with pytest.raises(CheckpointError, match="tensor 'decoder'"):
        pg.load(path)


def test_a_changed_structure_is_refused(tmp_path: Path):
    path = tmp_path / "ckpt.safetensors"
    pg.save({"epoch": 3, "w": pg.zeros(2)}, path)
    data = path.read_bytes()
    # The structure is JSON inside a JSON string: `"epoch", 3` appears as is.
    assert data.count(b'\\"epoch\\", 3') == 1
    path.write_bytes(data.replace(b'\\"epoch\\", 3', b'\\"epoch\\", 7'))

    with pytest.raises(CheckpointError, match="its structure .* does not match"):
        pg.load(path)


def test_a_damaged_integrity_record_is_refused(tmp_path: Path):
    arrays = {"w": np.zeros(2, np.float32)}
    bad = {
        "not json": "{",
        "no tensors": json.dumps({"structure": "ab"}),
        "wrong names": json.dumps({"tensors": {"v": "00"}}),
        "not strings": json.dumps({"tensors": {"w": 1}}),
    }
    for case, text in bad.items():
        path = tmp_path / f"{case}.safetensors"
        save_file(arrays, str(path), metadata={"plaingrad.sha256": text})
        with pytest.raises(CheckpointError, match="integrity record"):
            load_safetensors(path)


# ------------------------------------------------ files stay what they were


def test_digests_are_sha256_of_the_bytes_pytorch_reads(tmp_path: Path, torch):
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = tmp_path / "ckpt.safetensors"
    checkpoint = _checkpoint()
    pg.save(checkpoint, path)

    theirs = load_file(str(path))  # still a plain safetensors file
    assert sorted(theirs) == ["model.bias", "model.weight", "rng"]
    with safe_open(str(path), framework="pt") as f:
        record = json.loads(f.metadata()["plaingrad.sha256"])
    for name, tensor in theirs.items():
        expected = hashlib.sha256(tensor.numpy().tobytes()).hexdigest()
        assert record["tensors"][name] == expected
    np.testing.assert_array_equal(
        theirs["model.weight"].numpy(), checkpoint["model"]["weight"].numpy()
    )


def test_every_dtype_and_shape_round_trips_with_its_digest(tmp_path: Path):
    arrays = {
        "bool": np.array([True, False, True]),
        "int8": np.arange(-3, 3, dtype=np.int8),
        "float16": np.linspace(0, 1, 5, dtype=np.float16),
        "scalar": np.array(2.5),
        "empty": np.zeros((0, 3), np.float32),
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "strided": np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2],
    }
    path = tmp_path / "all.safetensors"
    save_safetensors(arrays, path)
    loaded = load_safetensors(path)
    for name, array in arrays.items():
        np.testing.assert_array_equal(loaded[name].numpy(), array)
        assert loaded[name].shape == array.shape

    _, header = _header(path.read_bytes())
    record = json.loads(header["__metadata__"]["plaingrad.sha256"])
    stored = np.ascontiguousarray(arrays["big_endian"], dtype="<i4").tobytes()
    assert record["tensors"]["big_endian"] == hashlib.sha256(stored).hexdigest()


def test_files_without_the_record_load_as_before(tmp_path: Path):
    # Another tool's file, and one as an older plaingrad wrote it.
    plain = tmp_path / "plain.safetensors"
    save_file({"w": np.arange(3, dtype=np.int32)}, str(plain))
    _flip(plain, "w")  # nothing to check it against: loads
    np.testing.assert_array_equal(load_safetensors(plain)["w"].numpy(), [1, 1, 2])

    new = tmp_path / "new.safetensors"
    pg.save({"epoch": 2, "w": pg.ones(2)}, new)
    data = new.read_bytes()
    start, header = _header(data)
    metadata = header.pop("__metadata__")
    del metadata["plaingrad.sha256"]
    arrays = {
        name: np.frombuffer(
            data[start + e["data_offsets"][0] : start + e["data_offsets"][1]],
            {"F32": "<f4"}[e["dtype"]],
        ).reshape(e["shape"])
        for name, e in header.items()
    }
    old = tmp_path / "old.safetensors"
    save_file(arrays, str(old), metadata=metadata)
    loaded = pg.load(old)
    assert loaded["epoch"] == 2
    np.testing.assert_array_equal(loaded["w"].numpy(), [1.0, 1.0])


def test_the_record_is_reserved_and_hidden_from_user_metadata(tmp_path: Path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match="'plaingrad.sha256' is reserved"):
        save_safetensors({"w": pg.zeros(1)}, path, metadata={"plaingrad.sha256": ""})
    save_safetensors({"w": pg.zeros(1)}, path, metadata={"note": "hi"})
    assert load_safetensors_metadata(path) == {"note": "hi"}


def test_metadata_is_written_in_sorted_order(tmp_path: Path):
    # safetensors keeps metadata in a hash map whose order differs between
    # processes; plaingrad sorts it so the same state gives the same bytes.
    metadata = {key: key.upper() for key in ("zeta", "alpha", "mu", "beta", "pi")}
    path = tmp_path / "sorted.safetensors"
    save_safetensors({"w": pg.zeros(1)}, path, metadata=metadata)
    _, header = _header(path.read_bytes())
    keys = list(header["__metadata__"])
    assert keys == sorted(keys) and len(keys) == 7
    assert load_safetensors_metadata(path) == metadata


# ------------------------------------------ one public class for bad files


def test_every_damaged_or_foreign_file_raises_checkpoint_error(tmp_path: Path, torch):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a checkpoint")
    zipped = tmp_path / "model.pt"
    torch.save({"w": torch.ones(3)}, str(zipped))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(zipped.read_bytes()[:-40])
    cut = tmp_path / "cut.safetensors"
    pg.save({"w": pg.ones(3)}, cut)
    cut.write_bytes(cut.read_bytes()[:-4])

    for path in (text, truncated, cut):
        with pytest.raises(CheckpointError) as raised:
            pg.load(path)
        assert type(raised.value).__name__ == "CheckpointError"
        assert isinstance(raised.value, ValueError)
        assert str(path) in str(raised.value)
    assert CheckpointError.__module__.startswith("plaingrad.io")


@pytest.mark.parametrize(
    "obj, message",
    [
        (object(), "cannot save an object at `obj`"),
        ({"a": ...}, r"cannot save an ellipsis at `obj\['a'\]`"),
        ({object(): 1}, "dict key .* \\(an object\\) at `obj`"),
        ([{1, 2}], "cannot save a set at `obj\\[0\\]`"),
    ],
)
def test_refusals_use_the_right_article(tmp_path: Path, obj, message):
    with pytest.raises(TypeError, match=message):
        pg.save(obj, tmp_path / "x")
