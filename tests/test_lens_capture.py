"""plaingrad.lens.capture: which layers it records, in what order, with what
values, and that it leaves the model as it found it."""

from __future__ import annotations

import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad import nn
from plaingrad.lens import capture, select_modules
from plaingrad.utils.data import DataLoader, TensorDataset


def _mlp() -> nn.Module:
    pg.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def _inputs(n: int = 10, features: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, features)).astype(np.float32)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 5)
        self.act = nn.Tanh()
        self.fc2 = nn.Linear(5, 2)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class AutoEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        # Registered decoder first: the keys must follow the forward, not this.
        self.decoder = nn.Sequential(nn.Linear(2, 4), nn.Sigmoid())
        self.encoder = Encoder()

    def forward(self, x):
        return self.decoder(self.encoder(x))


# ---------------------------------------------------------------- keys and values


def test_mlp_keys_shapes_and_values_from_numpy():
    model = _mlp()
    x = _inputs()

    acts = capture(model, x)

    assert isinstance(acts, OrderedDict)
    assert list(acts) == ["input", "0", "1", "2"]
    assert {k: v.shape for k, v in acts.items()} == {
        "input": (10, 4),
        "0": (10, 6),
        "1": (10, 6),
        "2": (10, 3),
    }
    w1, b1 = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    w2, b2 = model[2].weight.detach().numpy(), model[2].bias.detach().numpy()
    hidden = x.astype(np.float64) @ w1.T + b1
    np.testing.assert_array_equal(acts["input"], x)
    np.testing.assert_allclose(acts["0"], hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["1"], np.maximum(hidden, 0), rtol=1e-5, atol=1e-6)
    out = np.maximum(hidden, 0) @ w2.T + b2
    np.testing.assert_allclose(acts["2"], out, rtol=1e-5, atol=1e-6)


def test_cnn_shapes_flattened_and_not_and_values_from_torch():
    torch = import_torch()
    pg.manual_seed(1)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 5),
    )
    x = np.random.default_rng(1).normal(size=(7, 1, 8, 8)).astype(np.float32)

    full = capture(model, x, flatten=False)
    flat = capture(model, x)

    shapes = {k: v.shape for k, v in full.items()}
    assert shapes == {
        "input": (7, 1, 8, 8),
        "0": (7, 3, 6, 6),
        "1": (7, 3, 6, 6),
        "2": (7, 3, 3, 3),
        "3": (7, 27),
        "4": (7, 5),
    }
    for name, array in full.items():
        np.testing.assert_array_equal(flat[name], array.reshape(7, -1))
    weight = torch.from_numpy(model[0].weight.detach().numpy().copy())
    bias = torch.from_numpy(model[0].bias.detach().numpy().copy())
    conv = torch.nn.functional.conv2d(torch.from_numpy(x), weight, bias)
    np.testing.assert_allclose(full["0"], conv.numpy(), rtol=1e-5, atol=1e-5)
    pooled = torch.nn.functional.max_pool2d(torch.relu(conv), 2)
    np.testing.assert_allclose(full["2"], pooled.numpy(), rtol=1e-5, atol=1e-5)


def test_nested_modules_keyed_by_path_in_forward_order():
    model = AutoEncoder()

    acts = capture(model, _inputs(6))

    assert list(acts) == [
        "input",
        "encoder.fc1",
        "encoder.act",
        "encoder.fc2",
        "decoder.0",
        "decoder.1",
    ]
    assert acts["encoder.fc2"].shape == (6, 2)
    assert acts["decoder.1"].shape == (6, 4)


def test_layers_by_path_type_and_type_name():
    model = AutoEncoder()
    x = _inputs(5)

    by_path = capture(model, x, layers=["encoder", "decoder.0"])
    by_type = capture(model, x, layers=nn.Linear)
    by_name = capture(model, x, layers="Linear")
    mixed = capture(model, x, layers=["encoder.act", "Sigmoid"])

    assert list(by_path) == ["input", "encoder", "decoder.0"]
    np.testing.assert_array_equal(by_path["encoder"], by_type["encoder.fc2"])
    assert list(by_type) == ["input", "encoder.fc1", "encoder.fc2", "decoder.0"]
    assert list(by_name) == list(by_type)
    assert list(mixed) == ["input", "encoder.act", "decoder.1"]


def test_select_modules_defaults_to_leaves_in_registration_order():
    paths = [path for path, _ in select_modules(AutoEncoder())]

    assert paths == [
        "decoder.0",
        "decoder.1",
        "encoder.fc1",
        "encoder.act",
        "encoder.fc2",
    ]


def test_a_model_without_submodules_is_recorded_as_output():
    model = nn.Linear(4, 2)
    x = _inputs(5)

    acts = capture(model, x)

    assert list(acts) == ["input", "output"]
    w, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    np.testing.assert_allclose(acts["output"], x @ w.T + b, rtol=1e-5, atol=1e-6)


def test_module_called_twice_gives_one_entry_per_call():
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(4, 4)
            self.fc2 = nn.Linear(4, 4)
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.fc2(self.act(self.fc1(x))))

    acts = capture(Shared(), _inputs(3))

    assert list(acts) == ["input", "fc1", "act", "fc2", "act#2"]
    np.testing.assert_array_equal(acts["act"], np.maximum(acts["fc1"], 0))
    np.testing.assert_array_equal(acts["act#2"], np.maximum(acts["fc2"], 0))


def test_a_module_named_input_does_not_replace_the_inputs():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.input = nn.Linear(4, 3)

        def forward(self, x):
            return self.input(x)

    x = _inputs(5)

    acts = capture(Net(), x)

    assert list(acts) == ["input", "input#2"]
    np.testing.assert_array_equal(acts["input"], x)
    assert acts["input#2"].shape == (5, 3)


def test_an_inplace_first_layer_does_not_change_the_recorded_input():
    class AddOneInPlace(nn.Module):
        def forward(self, x):
            return x.add_(1.0)

    x = pg.from_numpy(_inputs(5))
    original = x.numpy().copy()

    acts = capture(nn.Sequential(AddOneInPlace()), x)

    np.testing.assert_array_equal(acts["input"], original)
    np.testing.assert_array_equal(acts["0"], original + 1.0)


def test_inplace_op_later_does_not_change_what_was_recorded():
    class AddOneInPlace(nn.Module):
        def forward(self, x):
            return x.add_(1.0)

    model = nn.Sequential(nn.Linear(4, 6), AddOneInPlace())
    x = _inputs(8)

    acts = capture(model, x)

    w, b = model[0].weight.detach().numpy(), model[0].bias.detach().numpy()
    np.testing.assert_allclose(acts["0"], x @ w.T + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["1"], acts["0"] + 1.0, rtol=1e-6)


# ------------------------------------------------------------------- batching


@pytest.mark.parametrize("batch_size", [1, 3, 7, 256])
def test_batches_give_the_result_of_one_batch(batch_size):
    model = _mlp().double()
    x = _inputs(20).astype(np.float64)

    whole = capture(model, x, batch_size=len(x))
    batched = capture(model, x, batch_size=batch_size)

    assert list(batched) == list(whole)
    for name in whole:
        np.testing.assert_allclose(batched[name], whole[name], rtol=0, atol=1e-12)


def test_tensor_array_and_dataloader_inputs_agree():
    model = _mlp()
    x = _inputs(9)
    loader = DataLoader(
        TensorDataset(pg.from_numpy(x), pg.arange(9)), batch_size=4, shuffle=False
    )

    from_array = capture(model, x)
    from_tensor = capture(model, pg.from_numpy(x), batch_size=2)
    from_loader = capture(model, loader)

    for name in from_array:
        np.testing.assert_allclose(from_tensor[name], from_array[name], atol=1e-6)
        np.testing.assert_allclose(from_loader[name], from_array[name], atol=1e-6)


def test_float64_array_is_cast_to_the_model_dtype():
    acts = capture(_mlp(), _inputs(3).astype(np.float64))

    assert all(a.dtype == np.float32 for a in acts.values())


def test_integer_inputs_go_to_an_embedding_unchanged():
    model = nn.Sequential(nn.Embedding(10, 3), nn.Flatten())
    tokens = np.array([[1, 2], [3, 4], [9, 0]], dtype=np.int64)

    acts = capture(model, tokens)

    weight = model[0].weight.detach().numpy()
    np.testing.assert_array_equal(acts["0"], weight[tokens].reshape(3, 6))


# ------------------------------------------------------- the model left intact


def test_eval_mode_and_no_grad_during_and_modes_restored_after():
    seen = {}

    class Probe(nn.Module):
        def forward(self, x):
            seen["grad"] = pg.is_grad_enabled()
            seen["training"] = self.training
            return x

    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.9), Probe(), nn.BatchNorm1d(4))
    model.train()
    model[3].eval()  # a mixed state must come back exactly

    acts = capture(model, _inputs(16))

    assert seen == {"grad": False, "training": False}
    np.testing.assert_array_equal(acts["1"], acts["0"])  # dropout is off
    assert [m.training for m in model.modules()] == [True, True, True, True, False]
    assert pg.is_grad_enabled()


def test_batchnorm_uses_running_statistics_and_they_stay_put():
    model = nn.Sequential(nn.BatchNorm1d(4))
    before = model[0].running_mean.numpy().copy()

    acts = capture(model, _inputs(12) + 5.0)

    # Running mean 0 and variance 1: the output is x / sqrt(1 + eps).
    np.testing.assert_allclose(acts["0"], acts["input"] / np.sqrt(1 + 1e-5), rtol=1e-6)
    np.testing.assert_array_equal(model[0].running_mean.numpy(), before)


def test_hooks_removed_and_mode_restored_when_the_forward_raises():
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            self.fc(x)
            raise RuntimeError("boom")

    model = Broken()
    model.train()

    with pytest.raises(RuntimeError, match="boom"):
        capture(model, _inputs(4))

    assert all(not m._forward_hooks for m in model.modules())
    assert all(m.training for m in model.modules())


def test_hooks_removed_after_success():
    model = AutoEncoder()

    capture(model, _inputs(4))

    assert all(not m._forward_hooks for m in model.modules())


def test_hooks_of_the_user_are_kept():
    model = _mlp()
    calls = []
    handle = model[0].register_forward_hook(lambda m, i, o: calls.append(1))

    capture(model, _inputs(4), batch_size=2)

    assert len(calls) == 2 and len(model[0]._forward_hooks) == 1
    handle.remove()


# --------------------------------------------------------------------- errors


def test_unknown_layer_lists_the_module_paths():
    with pytest.raises(ValueError) as info:
        capture(AutoEncoder(), _inputs(2), layers="encoder.fc3")

    message = str(info.value)
    assert "'encoder.fc3'" in message
    for path in ["'encoder.fc1' (Linear)", "'encoder' (Encoder)", "'decoder.1'"]:
        assert path in message


def test_unknown_type_is_a_clear_error():
    with pytest.raises(ValueError, match="Conv2d"):
        capture(_mlp(), _inputs(2), layers=nn.Conv2d)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"batch_size": 2.0}, TypeError, "batch_size"),
        ({"layers": []}, ValueError, "empty"),
        ({"layers": [3]}, TypeError, "module path"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        capture(_mlp(), _inputs(2), **kwargs)


def test_bad_model_and_inputs():
    with pytest.raises(TypeError, match="nn.Module"):
        capture(lambda x: x, _inputs(2))
    with pytest.raises(TypeError, match="inputs"):
        capture(_mlp(), 3.0)
    with pytest.raises(TypeError, match="batch"):
        capture(_mlp(), [["a"]])
    with pytest.raises(ValueError, match="no batches"):
        capture(_mlp(), np.zeros((0, 4), dtype=np.float32))


# ------------------------------------------------------------------- imports


def test_lens_loads_on_first_use_and_without_the_extras():
    code = (
        "import sys, plaingrad\n"
        "assert 'plaingrad.lens' not in sys.modules\n"
        "lens = plaingrad.lens\n"
        "assert lens.capture is not None\n"
        "loaded = [m for m in ('sklearn', 'matplotlib', 'umap') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )

    subprocess.run([sys.executable, "-c", code], check=True)
