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

import io
import json
import math
from collections import OrderedDict, defaultdict
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


# ------------------------------------- save / load: torch.save's replacement


def _same_structure(got, expected, where: str = "obj") -> None:
    """``got`` is ``expected``: same types all the way down, equal leaves."""
    assert type(got) is type(expected), where
    if isinstance(expected, pg.Tensor):
        assert got.dtype == expected.dtype, where
        assert tuple(got.shape) == tuple(expected.shape), where
        assert got.requires_grad == expected.requires_grad, where
        np.testing.assert_array_equal(
            got.detach().numpy(), expected.detach().numpy(), err_msg=where
        )
    elif isinstance(expected, dict):
        assert list(got) == list(expected), where
        for key in expected:
            assert type(next(k for k in got if k == key)) is type(key), where
            _same_structure(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected)):
            _same_structure(a, b, f"{where}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), where
    elif isinstance(expected, float):
        assert got == expected and math.copysign(1, got) == math.copysign(
            1, expected
        ), where
    else:
        assert got == expected, where


def _trained(optimizer_name: str, steps: int, seed: int = 0):
    pg.manual_seed(seed)
    model = _model(pg)
    if optimizer_name == "adam":
        optimizer = pg.optim.Adam(model.parameters(), lr=0.01)
    else:
        optimizer = pg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _steps(model, optimizer, range(steps))
    return model, optimizer


def _steps(model, optimizer, steps) -> None:
    x = pg.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(8, 3))
    y = pg.tensor(np.cos(np.arange(16, dtype=np.float32)).reshape(8, 2))
    for step in steps:
        loss = ((model(x + 0.1 * step) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_checkpoint_of_model_and_optimizer_round_trips(tmp_path: Path):
    model, optimizer = _trained("adam", steps=3)
    checkpoint = {
        "epoch": 3,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
    }
    path = tmp_path / "checkpoint.pt"

    pg.save(checkpoint, path)
    loaded = pg.load(path)

    _same_structure(loaded, checkpoint)
    assert type(loaded["model"]) is OrderedDict
    assert list(loaded["optimizer"]["state"]) == [0, 1, 2, 3]  # ints, not "0"
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["optimizer"]["state"][0]["step"].dim() == 0


@pytest.mark.parametrize("optimizer_name", ["adam", "sgd"])
def test_resuming_from_a_checkpoint_matches_an_uninterrupted_run(
    tmp_path: Path, optimizer_name: str
):
    model, optimizer = _trained(optimizer_name, steps=3)
    path = tmp_path / "checkpoint.pt"
    pg.save(
        {"epoch": 3, "model": model.state_dict(), "optimizer": optimizer.state_dict()},
        path,
    )
    _steps(model, optimizer, range(3, 6))  # the uninterrupted run goes on
    resumed, resumed_optimizer = _trained(optimizer_name, steps=0, seed=1)

    checkpoint = pg.load(path)
    resumed.load_state_dict(checkpoint["model"])
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    _steps(resumed, resumed_optimizer, range(checkpoint["epoch"], 6))

    _same_structure(resumed.state_dict(), model.state_dict())
    _same_structure(resumed_optimizer.state_dict(), optimizer.state_dict())


def test_every_kind_of_leaf_and_container_round_trips(tmp_path: Path):
    weight = pg.nn.Parameter(pg.ones(2, 3))
    frozen = pg.nn.Parameter(pg.zeros(1), requires_grad=False)
    obj = {
        "none": None,
        "bools": [True, False],
        "ints": (0, -7, 2**70),
        "floats": [1.0, -0.0, 1e-300, float("inf"), float("-inf"), float("nan")],
        "text": "héllo ✓",
        "empty": ([], (), {}, OrderedDict()),
        "nested": [[(1, [2, (3,)])]],
        "order": OrderedDict([("z", 1), ("a", 2)]),
        "keys": {0: "int", 1.5: "float", True: "bool", None: "none", (1, "a"): "t"},
        "0-d": [pg.tensor(3.5), pg.tensor(7), pg.tensor(True)],
        "empty_tensor": pg.zeros(0, 3),
        "dtypes": [pg.zeros(2, dtype=d) for d in (pg.float16, pg.float64, pg.int8)],
        "parameters": [weight, frozen],
        "requires_grad": pg.ones(2).requires_grad_(),
        "view": pg.arange(6).reshape(2, 3).t(),
    }

    pg.save(obj, tmp_path / "all.pt")
    loaded = pg.load(tmp_path / "all.pt")

    _same_structure(loaded, obj)
    assert type(loaded["parameters"][0]) is pg.nn.Parameter
    assert not loaded["parameters"][1].requires_grad
    assert loaded["ints"][2] == 2**70


def test_a_single_tensor_and_plain_values_round_trip(tmp_path: Path):
    for obj in (pg.arange(5), 3, "just text", None, [1, 2]):
        pg.save(obj, tmp_path / "one.pt")

        _same_structure(pg.load(tmp_path / "one.pt"), obj)


def test_the_same_tensor_twice_is_stored_once_and_loaded_once(tmp_path: Path):
    shared = pg.arange(4.0)

    pg.save({"a": shared, "b": [shared]}, tmp_path / "tied.pt")
    loaded = pg.load(tmp_path / "tied.pt")

    assert loaded["a"] is loaded["b"][0]
    assert list(load_safetensors(tmp_path / "tied.pt")) == ["a"]


def test_loaded_tensors_are_new_and_writable(tmp_path: Path):
    original = pg.zeros(3)
    pg.save({"x": original}, tmp_path / "x.pt")

    loaded = pg.load(tmp_path / "x.pt")["x"]
    loaded.add_(1)

    assert original.tolist() == [0.0, 0.0, 0.0]
    assert loaded.tolist() == [1.0, 1.0, 1.0]


def test_save_and_load_through_file_objects(tmp_path: Path):
    model, optimizer = _trained("sgd", steps=2)
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
    buffer = io.BytesIO()

    pg.save(checkpoint, buffer)
    buffer.seek(0)
    loaded = pg.load(buffer)

    _same_structure(loaded, checkpoint)
    with open(tmp_path / "c.pt", "wb") as handle:
        pg.save(checkpoint, handle)
    with open(tmp_path / "c.pt", "rb") as handle:
        _same_structure(pg.load(handle), checkpoint)


def test_saved_file_is_safetensors_with_dotted_names(tmp_path: Path):
    model, optimizer = _trained("adam", steps=1)

    pg.save(
        {"model": model.state_dict(), "opt": optimizer.state_dict()}, tmp_path / "c"
    )
    names = list(load_safetensors(tmp_path / "c"))

    assert names[:4] == [
        "model.0.weight",
        "model.0.bias",
        "model.2.weight",
        "model.2.bias",
    ]
    assert "opt.state.0.exp_avg" in names
    assert load_safetensors_metadata(tmp_path / "c") == {}  # plaingrad's own keys


def test_load_reads_a_plain_state_dict_file_by_name(tmp_path: Path):
    model = _model(pg)
    save_safetensors(model.state_dict(), tmp_path / "model.safetensors")
    fresh = _model(pg)

    state = pg.load(tmp_path / "model.safetensors")
    fresh.load_state_dict(state)

    _same_structure(fresh.state_dict(), model.state_dict())
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]


@pytest.mark.parametrize(
    "map_location",
    [None, "cpu", pg.device("cpu"), {"cuda:0": "cpu"}, lambda storage, loc: storage],
)
def test_map_location_to_the_cpu_is_accepted(tmp_path: Path, map_location):
    state = {"w": pg.arange(3.0)}
    pg.save(state, tmp_path / "w.pt")

    loaded = pg.load(tmp_path / "w.pt", map_location=map_location, weights_only=True)

    _same_structure(loaded, state)


@pytest.mark.parametrize("map_location", ["cuda", "cuda:0", {"cpu": "cuda"}])
def test_map_location_to_a_gpu_is_refused_clearly(tmp_path: Path, map_location):
    pg.save({"w": pg.zeros(1)}, tmp_path / "w.pt")

    with pytest.raises(
        pg.NoGPUBackendError, match="load: device 'cuda.*no GPU backend"
    ):
        pg.load(tmp_path / "w.pt", map_location=map_location)


def test_python_values_come_back_as_pytorch_gives_them_back(tmp_path: Path, torch):
    obj = {"epoch": 3, 0: (1.5, [True, None]), "loss": [0.25], (1, 2): "t"}
    torch.save(obj, tmp_path / "torch.pt")

    pg.save(obj, tmp_path / "pg.pt")

    _same_structure(pg.load(tmp_path / "pg.pt"), torch.load(tmp_path / "torch.pt"))


# ---------------------------------------------------- save / load: bad input


@pytest.mark.parametrize(
    ("obj", "pieces"),
    [
        (_model(pg), ["cannot save a plaingrad.nn", "at `obj`", "state_dict()"]),
        ({"a": {1, 2}}, ["cannot save a set at `obj['a']`"]),
        ({"acc": np.float64(0.5)}, ["numpy.float64 at `obj['acc']`", ".item()"]),
        ({"x": np.zeros(2)}, ["numpy.ndarray", "from_numpy"]),
        ([1, [lambda: 0]], ["cannot save a function at `obj[1][0]`"]),
        (defaultdict(int), ["collections.defaultdict", "plain dict"]),
        ({"m": {pg.ones(1): 1}}, ["dict key tensor", "at `obj['m']`", "keys must"]),
        (1j, ["cannot save a complex at `obj`", "never pickles"]),
    ],
)
def test_unsupported_objects_are_type_errors_that_say_where(
    tmp_path: Path, obj, pieces
):
    path = tmp_path / "bad.pt"

    with pytest.raises(TypeError) as info:
        pg.save(obj, path)

    for piece in pieces:
        assert piece in str(info.value)
    assert not path.exists()  # refused before the file is touched


def test_a_structure_that_contains_itself_is_refused(tmp_path: Path):
    loop: list = [1]
    loop.append({"again": loop})

    with pytest.raises(ValueError, match=r"`obj\[1\]\['again'\]` contains itself"):
        pg.save(loop, tmp_path / "loop.pt")


def test_save_to_a_path_that_cannot_be_written(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="save: .*folder .* does not exist"):
        pg.save({}, tmp_path / "missing" / "c.pt")
    with pytest.raises(IsADirectoryError, match="save: .* is a folder, not a file"):
        pg.save({}, tmp_path)
    with pytest.raises(TypeError, match="save: `f` must be a path .* got int"):
        pg.save({}, 3)


def test_loading_a_missing_or_foreign_file(tmp_path: Path):
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")

    with pytest.raises(FileNotFoundError, match="load: no such file: .*absent.pt"):
        pg.load(tmp_path / "absent.pt")
    with pytest.raises(IsADirectoryError, match="load: .* is a folder"):
        pg.load(tmp_path)
    for path in (text, empty):
        with pytest.raises(ValueError, match="is not a plaingrad checkpoint"):
            pg.load(path)
    with pytest.raises(TypeError, match="opened in binary mode"):
        with open(text, encoding="utf-8") as handle:
            pg.load(handle)


def test_loading_a_pytorch_pickle_says_so(tmp_path: Path, torch):
    torch.save({"w": torch.ones(2)}, tmp_path / "torch.pt")

    with pytest.raises(ValueError, match="is a pickle file.*never unpickles"):
        pg.load(tmp_path / "torch.pt")


def test_a_damaged_or_newer_checkpoint_is_a_value_error(tmp_path: Path):
    array = {"w": np.zeros(1, np.float32)}
    cases = {
        "bad_json": ({"plaingrad.format": "plaingrad.save/1"}, "damaged"),
        "bad_ref": (
            {
                "plaingrad.format": "plaingrad.save/1",
                "plaingrad.structure": json.dumps({"tensor": "missing"}),
            },
            "no tensor named 'missing'",
        ),
        "bad_tag": (
            {
                "plaingrad.format": "plaingrad.save/1",
                "plaingrad.structure": json.dumps({"set": [1]}),
            },
            "unknown entry",
        ),
        "newer": ({"plaingrad.format": "plaingrad.save/9"}, "plaingrad.save/9"),
    }
    for name, (metadata, message) in cases.items():
        save_file(array, str(tmp_path / name), metadata=metadata)

        with pytest.raises(ValueError, match=message):
            pg.load(tmp_path / name)


def test_save_safetensors_reserves_the_checkpoint_keys(tmp_path: Path):
    for key in ("plaingrad.format", "plaingrad.structure"):
        with pytest.raises(ValueError, match=f"'{key}' is reserved"):
            save_safetensors({"w": pg.zeros(1)}, tmp_path / "w", metadata={key: ""})
