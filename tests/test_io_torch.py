"""``plaingrad.load`` of files written by ``torch.save``, and of hostile ones.

Every file here is written by real PyTorch; the right values are PyTorch's
own tensors. The restricted unpickler must rebuild tensors, storages and plain
containers exactly, and refuse everything else before it runs: each malicious
pickle tries to create a marker file, and the marker must not exist after the
refusal.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _same(got, expected, where: str = "obj") -> None:
    """``got`` (plaingrad) holds what ``expected`` (PyTorch) holds, exactly."""
    import torch

    if isinstance(expected, torch.Tensor):
        assert isinstance(got, pg.Tensor), where
        assert isinstance(got, pg.nn.Parameter) == isinstance(
            expected, torch.nn.Parameter
        ), where
        assert str(got.dtype).split(".")[-1] == str(expected.dtype).split(".")[-1]
        assert tuple(got.shape) == tuple(expected.shape), where
        assert got.requires_grad == expected.requires_grad, where
        np.testing.assert_array_equal(
            got.detach().numpy(), expected.detach().numpy(), err_msg=where
        )
    elif isinstance(expected, dict):
        assert type(got) is type(expected), where
        assert list(got) == list(expected), where
        for key in expected:
            _same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert type(got) is type(expected), where
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert type(got) is type(expected) and got == expected, where


def _models(lib: ModuleType) -> dict:
    nn = lib.nn
    lib.manual_seed(0)
    return {
        "mlp": nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)),
        "cnn": nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(4 * 5 * 5, 3),
        ),
        "lstm": nn.LSTM(4, 6, num_layers=2),
        "transformer": nn.TransformerEncoderLayer(8, 2, dim_feedforward=16),
    }


_INPUTS = {
    "mlp": (5, 4),
    "cnn": (2, 2, 5, 5),
    "lstm": (3, 2, 4),
    "transformer": (3, 2, 8),
}


def _input(name: str) -> np.ndarray:
    shape = _INPUTS[name]
    return np.sin(np.arange(np.prod(shape), dtype=np.float32)).reshape(shape)


def _output(model, x):
    out = model(x)
    return (out[0] if isinstance(out, tuple) else out).detach().numpy()


def _trained_torch(torch, name: str):
    model = _models(torch)[name]
    if name == "cnn":  # give the batch norm running statistics to carry
        model.train()
        model(torch.tensor(_input(name)) * 3 + 1)
    return model.eval()


# --------------------------------------------------------- models and states


@pytest.mark.parametrize("name", list(_INPUTS))
def test_torch_state_dicts_load_exactly_and_compute_the_same(
    tmp_path: Path, torch, name: str
):
    model = _trained_torch(torch, name)
    path = tmp_path / f"{name}.pt"
    torch.save(model.state_dict(), path)
    ours = _models(pg)[name].eval()

    state = pg.load(path)
    ours.load_state_dict(state)

    _same(state, model.state_dict())
    x = _input(name)
    np.testing.assert_allclose(
        _output(ours, pg.tensor(x)),
        _output(model, torch.tensor(x)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_an_adam_state_after_some_steps(tmp_path: Path, torch):
    model = _trained_torch(torch, "mlp").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    for _ in range(3):
        optimizer.zero_grad()
        model(torch.tensor(_input("mlp"))).square().mean().backward()
        optimizer.step()
    path = tmp_path / "adam.pt"
    torch.save(optimizer.state_dict(), path)

    loaded = pg.load(path)

    _same(loaded, optimizer.state_dict())
    assert list(loaded["state"]) == [0, 1, 2, 3]
    assert loaded["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["state"][0]["step"].dim() == 0
    assert loaded["state"][0]["step"].item() == 3.0


def test_a_checkpoint_of_everything(tmp_path: Path, torch):
    model = _trained_torch(torch, "mlp")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    checkpoint = {
        "epoch": 3,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "losses": [0.5, 0.25, float("inf")],
        "note": "résumé",
        (1, 2): None,
        7: (True, False),
        "milestones": Counter({3: 1, 6: 1}),
        "big": 2**100,
        "rng": torch.get_rng_state(),
    }
    torch.save(checkpoint, tmp_path / "all.pt")

    loaded = pg.load(tmp_path / "all.pt")

    _same(loaded, checkpoint)
    assert type(loaded["model"]) is OrderedDict


def test_views_offsets_strides_and_shared_storage(tmp_path: Path, torch):
    base = torch.arange(24.0).reshape(4, 6)
    obj = {
        "base": base,
        "transposed": base.t(),
        "slice": base[1:, ::2],
        "row": base[2],
        "element": base[3, 5],
        "same": base,
        "empty": base[:0],
    }
    torch.save(obj, tmp_path / "views.pt")

    loaded = pg.load(tmp_path / "views.pt")

    _same(loaded, obj)
    assert loaded["same"] is loaded["base"]  # one object, as in torch
    with zipfile.ZipFile(tmp_path / "views.pt") as archive:
        storages = [n for n in archive.namelist() if "/data/" in n]
    assert len(storages) == 1  # the views share one storage


@pytest.mark.parametrize(
    "dtype",
    ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8"],
)
def test_dtypes_and_shapes(tmp_path: Path, torch, dtype: str):
    kind = getattr(torch, dtype)
    obj = {
        "matrix": torch.arange(6).reshape(2, 3).to(kind),
        "scalar": torch.tensor(5).to(kind),
        "empty": torch.zeros(0, 2, dtype=kind),
    }
    torch.save(obj, tmp_path / "d.pt")

    _same(pg.load(tmp_path / "d.pt"), obj)


def test_bools_and_parameters(tmp_path: Path, torch):
    obj = {
        "mask": torch.tensor([True, False, True]),
        "weight": torch.nn.Parameter(torch.ones(2, 2)),
        "frozen": torch.nn.Parameter(torch.zeros(1), requires_grad=False),
        "leaf": torch.ones(2, requires_grad=True),
    }
    torch.save(obj, tmp_path / "p.pt")

    loaded = pg.load(tmp_path / "p.pt")

    _same(loaded, obj)
    assert type(loaded["weight"]) is pg.nn.Parameter
    assert loaded["weight"].requires_grad and not loaded["frozen"].requires_grad


def test_bfloat16_becomes_float32_with_a_warning(tmp_path: Path, torch):
    values = torch.tensor([1.5, -2.0, 3.140625, 1e30], dtype=torch.bfloat16)
    torch.save({"w": values}, tmp_path / "bf16.pt")

    with pytest.warns(pg.PlaingradWarning, match="bfloat16 .* as float32"):
        loaded = pg.load(tmp_path / "bf16.pt")

    assert loaded["w"].dtype == pg.float32
    np.testing.assert_array_equal(loaded["w"].numpy(), values.float().numpy())


def test_big_endian_storages_are_read(tmp_path: Path, torch):
    obj = {"w": torch.arange(5, dtype=torch.float64) / 3}
    torch.save(obj, tmp_path / "w.pt")
    flipped = tmp_path / "big.pt"
    with zipfile.ZipFile(tmp_path / "w.pt") as src:
        with zipfile.ZipFile(flipped, "w") as out:
            for info in src.infolist():
                data = src.read(info)
                if info.filename.endswith("/byteorder"):
                    data = b"big"
                elif "/data/" in info.filename:
                    data = np.frombuffer(data, "<f8").astype(">f8").tobytes()
                out.writestr(info, data)

    _same(pg.load(flipped), obj)


def test_map_location_and_weights_only_are_accepted(tmp_path: Path, torch):
    torch.save({"w": torch.ones(2)}, tmp_path / "w.pt")

    for map_location in ("cpu", {"cuda:0": "cpu"}, lambda t, loc: t * 2):
        loaded = pg.load(tmp_path / "w.pt", map_location=map_location)
        expected = 2.0 if callable(map_location) else 1.0
        assert loaded["w"].tolist() == [expected, expected]
    assert pg.load(tmp_path / "w.pt", weights_only=False)["w"].tolist() == [1.0] * 2


def test_torch_files_load_without_torch_installed(tmp_path: Path, torch):
    torch.save({"w": torch.arange(3.0), "n": 1}, tmp_path / "w.pt")
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any `import torch` fails
        "import plaingrad as pg\n"
        f"state = pg.load({str(tmp_path / 'w.pt')!r})\n"
        "print(state['w'].tolist(), state['n'])\n"
    )

    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )

    assert out.stdout.strip() == "[0.0, 1.0, 2.0] 1"


# ------------------------------------------------------------ hostile files


class _Payload:
    """Pickles as a call of ``func(*args)``: what a malicious file does."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path) -> dict:
    import builtins

    command = f"touch {marker}"
    return {
        "os.system": (_Payload(os.system, command), ".system"),
        "subprocess.call": (
            _Payload(subprocess.call, ["touch", str(marker)]),
            ".call",
        ),
        "subprocess.Popen": (
            _Payload(subprocess.Popen, ["touch", str(marker)]),
            ".Popen",
        ),
        "builtins.eval": (
            _Payload(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
            ".eval",
        ),
        "builtins.exec": (
            _Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
            ".exec",
        ),
        "open": (_Payload(open, str(marker), "w"), ".open"),  # touch, no shell
    }


@pytest.mark.parametrize(
    "payload",
    ["os.system", "subprocess.call", "subprocess.Popen", "builtins.eval"]
    + ["builtins.exec", "open"],
)
@pytest.mark.parametrize("container", ["torch_zip", "raw_pickle", "nested"])
def test_malicious_pickles_are_refused_and_never_run(
    tmp_path: Path, torch, payload: str, container: str
):
    marker = tmp_path / "MARKER"
    evil, refused = _payloads(marker)[payload]
    path = tmp_path / "evil.pt"
    if container == "torch_zip":
        torch.save({"x": evil}, path)
    elif container == "nested":  # hidden deep inside a real state dict
        state = torch.nn.Linear(2, 2).state_dict()
        torch.save({"model": state, "extra": [1, {"deep": evil}]}, path)
    else:
        path.write_bytes(pickle.dumps({"x": evil}, protocol=2))

    with pytest.raises(pickle.UnpicklingError) as info:
        pg.load(path)

    message = str(info.value)  # protocol 2 may spell modules the Python 2 way
    assert refused in message and "refused" in message and str(path) in message
    assert "nothing from the file was run" in message
    assert isinstance(info.value, pg.io.UnsafeGlobalError)
    assert not marker.exists()


@pytest.mark.parametrize(
    "global_name",
    [
        b"torch load",
        b"torch._utils _rebuild_tensor",
        b"collections defaultdict",
        b"numpy.core.multiarray _reconstruct",
        b"plaingrad.io load",
    ],
)
def test_other_globals_are_refused_even_from_allowed_modules(
    tmp_path: Path, global_name: bytes
):
    # PROTO 2, GLOBAL 'module name', EMPTY_TUPLE, REDUCE, STOP.
    data = b"\x80\x02c" + global_name.replace(b" ", b"\n") + b"\n)R."
    path = tmp_path / "g.pt"
    path.write_bytes(data)

    with pytest.raises(pickle.UnpicklingError, match="refused .* global"):
        pg.load(path)


def test_a_whole_saved_module_is_refused_with_a_hint(tmp_path: Path, torch):
    torch.save(torch.nn.Linear(2, 2), tmp_path / "model.pt")

    with pytest.raises(
        pickle.UnpicklingError,
        match=r"torch.nn.modules.linear.Linear.*save its state_dict\(\) instead",
    ):
        pg.load(tmp_path / "model.pt")


def test_tensor_attributes_and_pickle_protocol_4(tmp_path: Path, torch):
    # Attributes make torch pickle through _rebuild_from_type_v2 and
    # _rebuild_parameter_with_state; protocol 4 names globals by STACK_GLOBAL.
    tensor = torch.arange(4.0)
    tensor.note = "attribute"
    weight = torch.nn.Parameter(torch.ones(2))
    weight.tag = 1
    obj = {"t": tensor, "w": weight, "i": torch.arange(3, dtype=torch.int16)}
    torch.save(obj, tmp_path / "attrs.pt", pickle_protocol=4)

    _same(pg.load(tmp_path / "attrs.pt"), obj)


def test_legacy_torch_files_say_only_zip_is_read(tmp_path: Path, torch):
    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.ones(2)}, path, _use_new_zipfile_serialization=False)

    with pytest.raises(ValueError, match="legacy.*reads only the zip format"):
        pg.load(path)


def test_a_bare_pickle_of_data_is_not_read(tmp_path: Path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2]}, protocol=4))

    with pytest.raises(ValueError, match="bare pickle .* never unpickles"):
        pg.load(path)


def test_truncated_or_damaged_torch_files(tmp_path: Path, torch):
    torch.save({"w": torch.arange(100.0)}, tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    no_storage = tmp_path / "no_storage.pt"
    with zipfile.ZipFile(tmp_path / "good.pt") as src:
        with zipfile.ZipFile(no_storage, "w") as out:
            for info in src.infolist():
                if "/data/" not in info.filename:
                    out.writestr(info, src.read(info))
    not_torch = tmp_path / "other.zip"
    with zipfile.ZipFile(not_torch, "w") as out:
        out.writestr("readme.txt", "hello")

    with pytest.raises(ValueError, match="truncated.pt.* truncated or corrupted zip"):
        pg.load(truncated)
    with pytest.raises(ValueError, match="no_storage.pt.* storage data/0 is missing"):
        pg.load(no_storage)
    with pytest.raises(ValueError, match="other.zip.* not a torch.save checkpoint"):
        pg.load(not_torch)


@pytest.mark.parametrize("payload", ["os.system", "builtins.eval", "open"])
def test_the_payloads_do_run_under_a_plain_unpickler(tmp_path: Path, payload: str):
    # The control for the test above: these files are really dangerous.
    marker = tmp_path / "MARKER"
    evil, _ = _payloads(marker)[payload]

    result = pickle.loads(pickle.dumps(evil, protocol=2))

    if hasattr(result, "close"):
        result.close()
    assert marker.exists()
