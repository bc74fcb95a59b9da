"""``plaingrad.io``: state dicts through safetensors files.

Round trips must give back every tensor bit for bit, with its dtype, shape
(0-d included) and the order it was saved in. Files are checked against real
PyTorch both ways: a plaingrad file loads in torch, and a torch model's file
loads into the same plaingrad model and computes the same outputs.

``save`` / ``load`` (``torch.save`` / ``torch.load`` without pickle) must give
back the whole checkpoint structure with every type as it was, so that a run
resumed from a checkpoint ends exactly where an uninterrupted run does.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch
from safetensors.numpy import save_file

import plaingrad as pg
from plaingrad.io import load_safetensors, load_safetensors_metadata, save_safetensors


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _model(lib: ModuleType) -> object:
    nn = lib.nn
    return nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))


def _assert_same(loaded: OrderedDict, expected: dict) -> None:
    assert list(loaded) == list(expected)
    for name, value in expected.items():
        got = loaded[name]
        assert isinstance(got, pg.Tensor), name
        assert got.dtype == value.dtype, name
        assert tuple(got.shape) == tuple(value.shape), name
        np.testing.assert_array_equal(got.numpy(), value.numpy(), err_msg=name)


# ------------------------------------------------------------ round trips


def test_model_state_dict_round_trip(tmp_path: Path):
    pg.manual_seed(0)
    model = _model(pg)
    path = tmp_path / "model.safetensors"

    save_safetensors(model.state_dict(), path)
    loaded = load_safetensors(path)

    assert list(loaded) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    _assert_same(loaded, model.state_dict())
    assert not any(t.requires_grad for t in loaded.values())


def test_loaded_weights_rebuild_the_same_model(tmp_path: Path):
    pg.manual_seed(1)
    model = _model(pg)
    save_safetensors(model.state_dict(), tmp_path / "m.safetensors")
    pg.manual_seed(2)
    fresh = _model(pg)
    x = pg.randn(4, 3)

    fresh.load_state_dict(load_safetensors(tmp_path / "m.safetensors"))

    np.testing.assert_array_equal(fresh(x).detach().numpy(), model(x).detach().numpy())


@pytest.mark.parametrize(
    "dtype",
    [
        pg.float16,
        pg.float32,
        pg.float64,
        pg.int8,
        pg.int16,
        pg.int32,
        pg.int64,
        pg.uint8,
        pg.bool,
    ],
)
def test_every_dtype_round_trips(tmp_path: Path, dtype):
    values = pg.tensor([[0, 1, 2], [3, 0, 1]]).to(dtype)

    save_safetensors({"x": values}, tmp_path / "x.safetensors")
    loaded = load_safetensors(tmp_path / "x.safetensors")

    _assert_same(loaded, {"x": values})


def test_shapes_round_trip_including_zero_d_and_empty(tmp_path: Path):
    # A 0-d tensor is what BatchNorm's num_batches_tracked is.
    state = {
        "scalar": pg.tensor(3.5),
        "count": pg.tensor(7),
        "empty": pg.zeros(0, 3),
        "cube": pg.arange(24, dtype=pg.float64).reshape(2, 3, 4),
    }

    save_safetensors(state, tmp_path / "s.safetensors")
    loaded = load_safetensors(tmp_path / "s.safetensors")

    _assert_same(loaded, state)
    assert loaded["scalar"].dim() == 0 and loaded["scalar"].item() == 3.5
    assert loaded["count"].item() == 7


def test_non_contiguous_and_grad_tensors_are_saved_as_they_look(tmp_path: Path):
    weight = pg.arange(6, dtype=pg.float32).reshape(2, 3).requires_grad_()
    state = {"transposed": weight.t(), "flipped": pg.arange(5)[1::2]}

    save_safetensors(state, tmp_path / "v.safetensors")
    loaded = load_safetensors(tmp_path / "v.safetensors")

    assert loaded["transposed"].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert loaded["flipped"].tolist() == [1, 3]


def test_save_order_is_kept_not_sorted(tmp_path: Path):
    names = ["z", "10.weight", "2.weight", "a"]
    state = OrderedDict((name, pg.tensor([float(i)])) for i, name in enumerate(names))

    save_safetensors(state, str(tmp_path / "o.safetensors"))

    assert list(load_safetensors(str(tmp_path / "o.safetensors"))) == names


def test_loaded_tensors_own_their_memory(tmp_path: Path):
    original = pg.tensor([1.0, 2.0])
    path = tmp_path / "own.safetensors"
    save_safetensors({"w": original}, path)
    loaded = load_safetensors(path)["w"]

    original.mul_(10)
    loaded.add_(1)

    assert loaded.tolist() == [2.0, 3.0]
    assert load_safetensors(path)["w"].tolist() == [1.0, 2.0]


def test_numpy_arrays_are_accepted(tmp_path: Path):
    save_safetensors({"a": np.array([[1, 2]], dtype=np.int32)}, tmp_path / "n.st")

    loaded = load_safetensors(tmp_path / "n.st")["a"]

    assert loaded.dtype == pg.int32 and loaded.tolist() == [[1, 2]]


def test_empty_state_dict(tmp_path: Path):
    save_safetensors({}, tmp_path / "e.safetensors")

    assert load_safetensors(tmp_path / "e.safetensors") == OrderedDict()


# --------------------------------------------------------------- metadata


def test_metadata_round_trips_without_the_reserved_key(tmp_path: Path):
    path = tmp_path / "meta.safetensors"
    config = json.dumps({"layer_sizes": [3, 5, 2]})

    save_safetensors({"w": pg.zeros(1)}, path, metadata={"config": config})

    assert load_safetensors_metadata(path) == {"config": config}


def test_metadata_is_empty_when_none_was_given(tmp_path: Path):
    save_safetensors({"w": pg.zeros(1)}, tmp_path / "m.safetensors")
    save_file({"w": np.zeros(1, np.float32)}, str(tmp_path / "plain.safetensors"))

    assert load_safetensors_metadata(tmp_path / "m.safetensors") == {}
    assert load_safetensors_metadata(tmp_path / "plain.safetensors") == {}


def test_files_from_other_writers_load_in_file_order(tmp_path: Path):
    path = str(tmp_path / "other.safetensors")
    save_file({"b": np.ones(2, np.float32), "a": np.arange(3)}, path)

    loaded = load_safetensors(path)

    assert list(loaded) == ["a", "b"]
    assert loaded["a"].tolist() == [0, 1, 2] and loaded["a"].dtype == pg.int64


@pytest.mark.parametrize(
    "record",
    ["not json", "[1, 2]", '[1, "a"]', '{"a": 1}', '["a"]', '["a", "a"]', '["a", "c"]'],
)
def test_a_bad_order_record_is_ignored(tmp_path: Path, record: str):
    path = str(tmp_path / "odd.safetensors")
    arrays = {"b": np.ones(1, np.float32), "a": np.zeros(1, np.float32)}
    save_file(arrays, path, metadata={"plaingrad.key_order": record})

    assert list(load_safetensors(path)) == ["a", "b"]


# ------------------------------------------------------------ with PyTorch


def test_plaingrad_file_loads_in_pytorch(tmp_path: Path, torch):
    from safetensors.torch import load_file

    pg.manual_seed(3)
    model = _model(pg)
    path = tmp_path / "pg.safetensors"
    save_safetensors(model.state_dict(), path)
    twin = _model(torch)

    twin.load_state_dict(load_file(str(path)))

    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    ours = model(pg.tensor(x)).detach().numpy()
    theirs = twin(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


def test_pytorch_file_loads_in_plaingrad(tmp_path: Path, torch):
    from safetensors.torch import save_file as torch_save_file

    torch.manual_seed(0)
    twin = _model(torch)
    batchnorm = torch.nn.BatchNorm1d(2)
    state = {
        **twin.state_dict(),
        **{f"bn.{k}": v for k, v in batchnorm.state_dict().items()},
    }
    path = tmp_path / "torch.safetensors"
    torch_save_file(state, str(path))
    model = _model(pg)

    loaded = load_safetensors(path)
    model.load_state_dict({k: v for k, v in loaded.items() if not k.startswith("bn.")})

    assert loaded["bn.num_batches_tracked"].dim() == 0
    assert loaded["bn.num_batches_tracked"].dtype == pg.int64
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    ours = model(pg.tensor(x)).detach().numpy()
    theirs = twin(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------- bad input


def test_bad_names_values_and_metadata_are_type_errors(tmp_path: Path):
    path = tmp_path / "bad.safetensors"

    with pytest.raises(TypeError, match="tensor names must be str, got int 0"):
        save_safetensors({0: pg.zeros(1)}, path)
    with pytest.raises(
        TypeError, match=r"`state_dict\['w'\]` must be a Tensor, got list"
    ):
        save_safetensors({"w": [1.0]}, path)
    with pytest.raises(TypeError, match="`state_dict` must be a mapping.*got list"):
        save_safetensors([pg.zeros(1)], path)
    with pytest.raises(TypeError, match="metadata must map str to str.*-> int"):
        save_safetensors({"w": pg.zeros(1)}, path, metadata={"epochs": 3})
    with pytest.raises(TypeError, match="`metadata` must be a mapping.*got list"):
        save_safetensors({"w": pg.zeros(1)}, path, metadata=[("a", "b")])
    with pytest.raises(ValueError, match="'plaingrad.key_order' is reserved"):
        save_safetensors({"w": pg.zeros(1)}, path, metadata={"plaingrad.key_order": ""})
    assert not path.exists()


def test_unwritable_paths_are_os_errors(tmp_path: Path):
    state = {"w": pg.zeros(1)}
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")

    with pytest.raises(FileNotFoundError, match="folder .*missing.* does not exist"):
        save_safetensors(state, tmp_path / "missing" / "m.safetensors")
    with pytest.raises(IsADirectoryError, match="is a folder, not a file"):
        save_safetensors(state, tmp_path)
    with pytest.raises(NotADirectoryError, match="a_file' is a file, not a folder"):
        save_safetensors(state, blocker / "m.safetensors")


def test_loading_a_missing_or_broken_file(tmp_path: Path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")

    with pytest.raises(FileNotFoundError, match="load_safetensors: no such file"):
        load_safetensors(tmp_path / "absent.safetensors")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_safetensors(tmp_path)
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        load_safetensors(garbage)
    with pytest.raises(ValueError, match="is not a readable safetensors file"):
        load_safetensors(empty)
    with pytest.raises(
        ValueError, match="load_safetensors_metadata: .* not a readable"
    ):
        load_safetensors_metadata(garbage)


def test_unsupported_dtype_names_the_tensor(tmp_path: Path):
    path = str(tmp_path / "u16.safetensors")
    save_file({"pixels": np.zeros(2, np.uint16)}, path)

    with pytest.raises(TypeError, match="tensor 'pixels' .* dtype uint16"):
        load_safetensors(path)
