"""Weights moving between PyTorch and plaingrad through safetensors files.

A torch model's state dict, written by ``safetensors.torch.save_file`` (or
``torch.save``), loads into the same plaingrad architecture, which then gives
the torch model's outputs; and ``plaingrad.save`` of a state dict writes a
plain safetensors file that ``safetensors.torch.load_file`` reads into the
torch model. Damaged files must fail with errors that name the file and say
what is wrong.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch
from test_io_torch import _INPUTS, _input, _models, _output, _trained_torch

import plaingrad as pg
from plaingrad.io import load_safetensors


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _outputs_match(ours, theirs, torch, name: str) -> None:
    x = _input(name)
    np.testing.assert_allclose(
        _output(ours, pg.tensor(x)),
        _output(theirs, torch.tensor(x)),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("metadata", [None, {"format": "pt"}])
@pytest.mark.parametrize("name", list(_INPUTS))
def test_a_torch_safetensors_file_loads_into_plaingrad(
    tmp_path: Path, torch, name: str, metadata
):
    from safetensors.torch import save_file

    theirs = _trained_torch(torch, name)
    path = tmp_path / f"{name}.safetensors"
    save_file(theirs.state_dict(), str(path), metadata=metadata)
    ours = _models(pg)[name].eval()

    state = pg.load(path)
    ours.load_state_dict(state)

    assert sorted(state) == sorted(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        np.testing.assert_array_equal(state[key].numpy(), value.numpy(), key)
    _outputs_match(ours, theirs, torch, name)


@pytest.mark.parametrize("name", list(_INPUTS))
def test_a_plaingrad_checkpoint_loads_into_torch(tmp_path: Path, torch, name: str):
    from safetensors.torch import load_file

    donor = _trained_torch(torch, name)
    ours = _models(pg)[name].eval()
    # Different weights from the torch model's own, so the test can fail.
    ours.load_state_dict(
        {k: pg.tensor(v.numpy() * 0.5 + 0.25) for k, v in donor.state_dict().items()}
    )
    path = tmp_path / f"{name}.safetensors"
    pg.save(ours.state_dict(), path)
    theirs = _models(torch)[name].eval()

    state = load_file(str(path))
    theirs.load_state_dict(state)

    assert sorted(state) == sorted(ours.state_dict())
    for key, value in ours.state_dict().items():
        assert str(state[key].dtype).endswith(str(value.dtype).split(".")[-1])
        np.testing.assert_array_equal(state[key].numpy(), value.numpy(), key)
    _outputs_match(ours, theirs, torch, name)


def test_a_nested_checkpoint_is_still_plain_safetensors(tmp_path: Path, torch):
    from safetensors.torch import load_file

    model = _models(pg)["mlp"]
    pg.save({"epoch": 2, "model": model.state_dict()}, tmp_path / "c.safetensors")

    state = load_file(str(tmp_path / "c.safetensors"))

    assert sorted(state) == sorted(f"model.{k}" for k in model.state_dict())


def test_safetensors_bfloat16_becomes_float32_with_a_warning(tmp_path: Path, torch):
    from safetensors.torch import save_file

    values = torch.tensor([[1.5, -2.0], [3.140625, -1e-30]], dtype=torch.bfloat16)
    save_file({"w": values, "b": torch.ones(2)}, str(tmp_path / "bf.safetensors"))

    with pytest.warns(pg.PlaingradWarning, match="bfloat16"):
        loaded = pg.load(tmp_path / "bf.safetensors")
    with pytest.warns(pg.PlaingradWarning, match="bfloat16"):
        plain = load_safetensors(tmp_path / "bf.safetensors")

    for state in (loaded, plain):
        assert state["w"].dtype == pg.float32
        np.testing.assert_array_equal(state["w"].numpy(), values.float().numpy())
        assert state["b"].tolist() == [1.0, 1.0]


def test_a_file_object_gets_bfloat16_and_dtype_errors_too(tmp_path: Path, torch):
    from safetensors.torch import save, save_file

    values = torch.tensor([[1.5, -2.0], [3.140625, -1e-30]], dtype=torch.bfloat16)
    data = save({"w": values, "b": torch.ones(2)})
    with pytest.warns(pg.PlaingradWarning, match="bfloat16"):
        state = pg.load(io.BytesIO(data))
    np.testing.assert_array_equal(state["w"].numpy(), values.float().numpy())
    assert state["b"].tolist() == [1.0, 1.0]

    for dtype, name in [(torch.float8_e4m3fn, "F8_E4M3"), (torch.uint16, "uint16")]:
        path = tmp_path / f"{name}.safetensors"
        save_file({"f": torch.zeros(2, dtype=dtype)}, str(path))
        for load in (
            pg.load,
            load_safetensors,
            lambda p: pg.load(io.BytesIO(p.read_bytes())),
        ):
            with pytest.raises(TypeError, match=f"tensor 'f' .* dtype {name}, which"):
                load(path)


# --------------------------------------------------------- damaged files


def _good_file(tmp_path: Path) -> bytes:
    pg.save({"w": pg.arange(10.0), "n": 3}, tmp_path / "good.safetensors")
    return (tmp_path / "good.safetensors").read_bytes()


def _with_header(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + body


_DAMAGE = {
    "truncated data": lambda d: d[: len(d) - 8],
    "truncated header": lambda d: d[:20],
    "header not utf-8": lambda d: d[:8] + b"{" + b"\xff" * (len(d) - 9),
    "no data_offsets": lambda d: _with_header(
        {"w": {"dtype": "F32", "shape": [3]}}, b""
    ),
    "size not the shape's": lambda d: _with_header(
        {"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8
    ),
    "unknown dtype": lambda d: _with_header(
        {"w": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4
    ),
    "header a list": lambda d: _with_header([1, 2], b""),
}


@pytest.mark.parametrize("damage", list(_DAMAGE))
def test_truncated_or_corrupted_files_say_what_is_wrong(tmp_path: Path, damage):
    import safetensors

    path = tmp_path / "bad.safetensors"
    data = _DAMAGE[damage](_good_file(tmp_path))
    path.write_bytes(data)
    # What is wrong is the safetensors package's to say, for a path and bytes.
    with pytest.raises(safetensors.SafetensorError) as from_path:
        safetensors.safe_open(str(path), framework="numpy")
    with pytest.raises(safetensors.SafetensorError) as from_bytes:
        safetensors.deserialize(data)

    for load, name, reason in [
        (lambda: pg.load(path), "bad.safetensors", from_path),
        (lambda: load_safetensors(path), "bad.safetensors", from_path),
        (lambda: pg.load(io.BytesIO(data)), "BytesIO", from_bytes),
    ]:
        with pytest.raises(ValueError, match="not a readable safetensors file") as info:
            load()
        assert name in str(info.value)
        assert str(reason.value) in str(info.value)


def test_a_file_too_short_for_a_header_is_not_a_checkpoint(tmp_path: Path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(_good_file(tmp_path)[:5])

    with pytest.raises(ValueError, match="bad.safetensors.*not a plaingrad checkpoint"):
        pg.load(path)
