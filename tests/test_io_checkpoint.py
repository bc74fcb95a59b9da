"""``plaingrad.save`` / ``load``: ``torch.save`` / ``torch.load`` without pickle.

They must give back the whole checkpoint structure with every type as it was,
so that a run resumed from a checkpoint ends exactly where an uninterrupted
run does; refuse what they cannot store before touching the file; and never
leave a half-written file behind.
"""

from __future__ import annotations

import io
import json
import math
import os
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


def test_the_same_tensor_twice_is_loaded_once_and_readable_under_each_name(
    tmp_path: Path,
):
    shared = pg.arange(4.0)

    pg.save({"a": shared, "b": [shared]}, tmp_path / "tied.pt")
    loaded = pg.load(tmp_path / "tied.pt")
    plain = load_safetensors(tmp_path / "tied.pt")

    assert loaded["a"] is loaded["b"][0]
    # A plain reader (no structure) finds the tensor under both of its names.
    assert list(plain) == ["a", "b.0"]
    assert plain["b.0"].tolist() == [0.0, 1.0, 2.0, 3.0]


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


# ------------------------------------------------- atomic, all-or-nothing saves


def _old_checkpoint(tmp_path: Path) -> tuple[Path, bytes]:
    path = tmp_path / "checkpoint.pt"
    pg.save({"epoch": 1, "w": pg.arange(3.0)}, path)
    return path, path.read_bytes()


def _assert_untouched(path: Path, before: bytes) -> None:
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]  # no temporary file left
    assert pg.load(path)["epoch"] == 1


def test_a_value_refused_late_leaves_the_old_file_intact(tmp_path: Path):
    path, before = _old_checkpoint(tmp_path)
    late = {"epoch": 2, "w": pg.ones(1000), "last": [1, 2, {"oops": object()}]}

    with pytest.raises(TypeError, match=r"obj\['last'\]\[2\]\['oops'\]"):
        pg.save(late, path)

    _assert_untouched(path, before)


@pytest.mark.parametrize(
    "failure", [OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_a_write_that_fails_midway_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch, failure
):
    path, before = _old_checkpoint(tmp_path)
    written = []

    def fail(fileno: int) -> None:  # runs after every byte went to the temp file
        written.append(os.fstat(fileno).st_size)
        raise failure

    monkeypatch.setattr(os, "fsync", fail)

    with pytest.raises(type(failure)):
        pg.save({"epoch": 2, "w": pg.ones(1000)}, path)

    assert written and written[0] > 4000  # the new file was mostly written
    monkeypatch.undo()
    _assert_untouched(path, before)


def test_a_failed_rename_leaves_the_old_file_intact(tmp_path: Path, monkeypatch):
    path, before = _old_checkpoint(tmp_path)

    def fail(src, dst) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)

    with pytest.raises(PermissionError, match="save: cannot write .*checkpoint.pt"):
        pg.save({"epoch": 2}, path)

    monkeypatch.undo()
    _assert_untouched(path, before)


def test_save_safetensors_is_atomic_too(tmp_path: Path, monkeypatch):
    path = tmp_path / "m.safetensors"
    save_safetensors({"w": pg.zeros(2)}, path)
    before = path.read_bytes()

    with pytest.raises(TypeError, match="must be a Tensor"):
        save_safetensors({"w": pg.ones(2), "z": 3}, path)
    monkeypatch.setattr(os, "replace", lambda src, dst: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        save_safetensors({"w": pg.ones(2)}, path)

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.safetensors"]


def test_a_successful_save_replaces_the_file_and_leaves_nothing_else(tmp_path: Path):
    path, _ = _old_checkpoint(tmp_path)

    pg.save({"epoch": 2}, path)

    assert pg.load(path) == {"epoch": 2}
    assert os.listdir(tmp_path) == ["checkpoint.pt"]


def test_a_saved_file_gets_the_permissions_of_a_new_file(tmp_path: Path):
    umask = os.umask(0o022)
    try:
        pg.save({"w": pg.zeros(1)}, tmp_path / "c.pt")
    finally:
        os.umask(umask)

    assert os.stat(tmp_path / "c.pt").st_mode & 0o777 == 0o644  # not 0o600
