"""Hostile and awkward files: refused cheaply and clearly, saved where meant.

- a torch zip whose pickle names a huge memo index (which would make the C
  unpickler allocate gigabytes) is refused before unpickling;
- a damaged ``plaingrad.structure`` (nested too deep, a tensor entry with
  strange flags, a Counter counting strings, a key no ``save`` writes) is a
  ``CheckpointError`` naming the file, never a RecursionError or a wrong value;
- ``save`` through a symbolic link replaces the link's target and keeps the
  link, as ``torch.save`` does, and keeps an existing file's permission bits;
- text-mode file objects are refused naming the argument and the mode.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
import zipfile
from collections import Counter
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.io import CheckpointError, atomic, save_safetensors


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _torch_zip(path: Path, pickle_bytes: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle_bytes)
    return path


def _memo_bomb(opcode: bytes) -> bytes:
    # PROTO 2, EMPTY_DICT, then a 4-byte memo index of 2**28, STOP.
    return b"\x80\x02}" + opcode + (2**28).to_bytes(4, "little") + b"."


# ------------------------------------------------------------ memo indices


def test_memo_bomb_is_refused_quickly_and_cheaply(tmp_path: Path) -> None:
    bomb = _torch_zip(tmp_path / "bomb.pt", _memo_bomb(b"r"))  # LONG_BINPUT
    script = textwrap.dedent(
        f"""
        import resource, time
        import plaingrad
        from plaingrad.io import CheckpointError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        try:
            plaingrad.load({str(bomb)!r})
        except CheckpointError as error:
            assert "memo index 268435456" in str(error), error
        else:
            raise SystemExit("loaded")
        took = time.perf_counter() - start
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(took, grew * 1024)  # ru_maxrss is in KiB on Linux
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    took, grew = map(float, done.stdout.split())
    assert took < 1.0
    assert grew < 200e6


@pytest.mark.parametrize("opcode", [b"r", b"j"])  # LONG_BINPUT, LONG_BINGET
def test_memo_index_past_the_pickle_is_a_checkpoint_error(
    tmp_path: Path, opcode: bytes
) -> None:
    bomb = _torch_zip(tmp_path / "bomb.pt", _memo_bomb(opcode))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="bomb.pt.*memo index"):
        pg.load(bomb)
    assert time.perf_counter() - start < 1.0


def test_bare_pickle_with_a_memo_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.pkl"
    path.write_bytes(_memo_bomb(b"r"))
    with pytest.raises(CheckpointError, match="bare.pkl"):
        pg.load(path)


def test_real_torch_state_dict_with_memo_entries_still_loads(
    torch: ModuleType, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Linear(4, 3))
    state = model.state_dict()
    state["tied"] = state["0.weight"]  # a BINGET of an earlier memo entry
    torch.save(state, tmp_path / "m.pt")
    loaded = pg.load(tmp_path / "m.pt")
    assert list(loaded) == list(state)
    for name, value in state.items():
        np.testing.assert_array_equal(loaded[name].numpy(), value.numpy())


# ------------------------------------------------------ damaged structures


def _with_structure(path: Path, structure: str) -> None:
    """Replace the structure and drop the digests that would catch it."""
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + size])
    header["__metadata__"].pop("plaingrad.sha256", None)
    header["__metadata__"]["plaingrad.structure"] = structure
    encoded = json.dumps(header).encode()
    path.write_bytes(len(encoded).to_bytes(8, "little") + encoded + data[8 + size :])


@pytest.mark.parametrize(
    "structure",
    [
        "[" * 100000 + "]" * 100000,
        '{"list": [' * 5000 + "1" + "]}" * 5000,
        json.dumps({"dict": [["w", {"tensor": "w", "parameter": "yes"}]]}),
        json.dumps({"dict": [["w", {"tensor": "w", "requires_grad": 1}]]}),
        json.dumps({"dict": [["w", {"tensor": "w", "other": True}]]}),
        json.dumps({"counter": [["a", "x"]]}),
        json.dumps({"counter": [["a", True]]}),
        json.dumps({"counter": [["a", 1.5]]}),
        json.dumps({"dict": [[{"tensor": "w"}, 1]]}),
        json.dumps({"dict": [[{"list": [1]}, 1]]}),
        json.dumps({"dict": [[{"float": "1.0"}, 1]]}),
        json.dumps({"float": "1e400"}),
        json.dumps([1, 2]),
    ],
    ids=[
        "deep-json",
        "deep-containers",
        "parameter-yes",
        "requires-grad-1",
        "unknown-flag",
        "counter-str",
        "counter-bool",
        "counter-float",
        "tensor-key",
        "list-key",
        "float-key",
        "float-text",
        "bare-list",
    ],
)
def test_damaged_structure_is_a_checkpoint_error(
    tmp_path: Path, structure: str
) -> None:
    path = tmp_path / "c.pt"
    pg.save({"w": pg.ones(2)}, path)
    _with_structure(path, structure)
    with pytest.raises(CheckpointError, match="c.pt"):
        pg.load(path)


def test_well_formed_edited_structure_still_loads(tmp_path: Path) -> None:
    # The strict decoder still takes every form save writes.
    path = tmp_path / "c.pt"
    pg.save({"w": pg.ones(2)}, path)
    structure = {
        "dict": [
            ["w", {"tensor": "w", "parameter": True, "requires_grad": True}],
            [{"tuple": [1, {"float": "nan"}]}, {"counter": [["a", 3]]}],
            [None, {"tuple": [{"float": "-inf"}]}],
        ]
    }
    _with_structure(path, json.dumps(structure))
    loaded = pg.load(path)
    assert isinstance(loaded["w"], pg.nn.Parameter) and loaded["w"].requires_grad
    ((key, counts),) = [(k, v) for k, v in loaded.items() if type(k) is tuple]
    assert key[0] == 1 and np.isnan(key[1])
    assert type(counts) is Counter and counts == Counter(a=3)
    assert loaded[None] == (float("-inf"),)


def test_save_refuses_non_int_counter_counts() -> None:
    with pytest.raises(TypeError, match=r"obj\['m'\]\['a'\].*counts must be ints"):
        pg.save({"m": Counter({"a": 1.5})}, io.BytesIO())


def test_nesting_limit_is_the_same_for_save_and_load() -> None:
    from plaingrad.io.structure import MAX_DEPTH

    nested: object = 1
    for _ in range(MAX_DEPTH):
        nested = [nested]
    buffer = io.BytesIO()
    pg.save(nested, buffer)
    buffer.seek(0)
    assert pg.load(buffer) == nested
    with pytest.raises(ValueError, match=f"more than {MAX_DEPTH} deep"):
        pg.save([nested], io.BytesIO())


# ---------------------------------------------------------- where save goes


def test_save_through_a_symlink_replaces_its_target(
    torch: ModuleType, tmp_path: Path
) -> None:
    for lib, folder in ((torch, tmp_path / "torch"), (pg, tmp_path / "pg")):
        folder.mkdir()
        lib.save({"a": lib.tensor([1.0])}, folder / "ckpt_10.pt")
        os.symlink("ckpt_10.pt", folder / "latest.pt")
        lib.save({"a": lib.tensor([2.0])}, folder / "latest.pt")
        assert os.path.islink(folder / "latest.pt")
        assert os.readlink(folder / "latest.pt") == "ckpt_10.pt"
        assert lib.load(folder / "ckpt_10.pt")["a"].tolist() == [2.0]
        assert sorted(os.listdir(folder)) == ["ckpt_10.pt", "latest.pt"]


def test_save_through_a_link_in_another_folder(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "links").mkdir()
    pg.save({"a": 1}, tmp_path / "runs" / "c.pt")
    os.symlink(tmp_path / "runs" / "c.pt", tmp_path / "links" / "latest.pt")
    pg.save({"a": 2}, tmp_path / "links" / "latest.pt")
    assert os.path.islink(tmp_path / "links" / "latest.pt")
    assert pg.load(tmp_path / "runs" / "c.pt") == {"a": 2}
    assert os.listdir(tmp_path / "links") == ["latest.pt"]
    assert os.listdir(tmp_path / "runs") == ["c.pt"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_replacing_a_file_keeps_its_permission_bits(
    torch: ModuleType, tmp_path: Path
) -> None:
    for lib in (torch, pg):
        path = tmp_path / f"{lib.__name__}.pt"
        lib.save({"a": 1}, path)
        os.chmod(path, 0o640)
        lib.save({"a": 2}, path)
        assert os.stat(path).st_mode & 0o777 == 0o640
        assert lib.load(path) == {"a": 2}


def test_save_removes_only_stale_temporary_files_of_its_target(
    tmp_path: Path,
) -> None:
    old = time.time() - 2 * 3600
    stale = tmp_path / ".c.pt.0123abcd.tmp"  # a save killed two hours ago
    fresh = tmp_path / ".c.pt.89abcdef.tmp"  # maybe a save in progress
    other = tmp_path / ".d.pt.0123abcd.tmp"  # another target's
    unlike = tmp_path / ".c.pt.backup.tmp"  # not a name save makes
    for path in (stale, fresh, other, unlike):
        path.write_bytes(b"partial")
    for path in (stale, other, unlike):
        os.utime(path, (old, old))
    link = tmp_path / ".c.pt.deadbeef.tmp"
    os.symlink(other, link)
    os.utime(link, (old, old), follow_symlinks=False)
    pg.save({"a": 1}, tmp_path / "c.pt")
    left = sorted(os.listdir(tmp_path))
    assert left == sorted(["c.pt", fresh.name, other.name, unlike.name, link.name])


def test_folder_refusing_temporary_files_is_a_permission_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Decided: no in-place fallback (torch.save would write the file in place):
    # the file is left as it was, and the error says why.
    path = tmp_path / "c.pt"
    pg.save({"a": 1}, path)
    before = path.read_bytes()

    def refuse(folder: str, base: str) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic, "_temporary_file", refuse)
    with pytest.raises(PermissionError, match="c.pt.*its folder is not"):
        pg.save({"a": 2}, path)
    assert path.read_bytes() == before


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions"
)
def test_read_only_folder_is_a_permission_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    pg.save({"a": 1}, folder / "c.pt")
    os.chmod(folder, 0o555)
    try:
        with pytest.raises(PermissionError, match="c.pt"):
            pg.save({"a": 2}, folder / "c.pt")
        assert pg.load(folder / "c.pt") == {"a": 1}
    finally:
        os.chmod(folder, 0o755)


# ---------------------------------------------------------- text-mode files


def test_load_from_a_text_file_names_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "c.pt"
    pg.save({"w": pg.ones(3)}, path)
    with open(path) as text, pytest.raises(TypeError, match=r"`f`.*'rb'"):
        pg.load(text)
    with pytest.raises(TypeError, match=r"`f`.*'rb'"):
        pg.load(io.StringIO("text"))


def test_save_to_a_text_file_names_the_mode(tmp_path: Path) -> None:
    with open(tmp_path / "c.pt", "w") as text:
        with pytest.raises(TypeError, match=r"`f`.*'wb'"):
            pg.save({"w": pg.ones(3)}, text)
    with pytest.raises(TypeError, match=r"`f`.*'wb'"):
        save_safetensors({"w": pg.ones(3)}, io.StringIO())
