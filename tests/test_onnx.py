"""plaingrad.onnx.export of whole models: the exported file, run in
onnxruntime, gives the model's outputs (and PyTorch's, for weights copied from
PyTorch)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from conftest import import_torch
from onnxcheck import ATOL, RTOL, check, randomise_batch_norm, run, session_of

import plaingrad as torch
import plaingrad.nn as nn
import plaingrad.nn.functional as F
from plaingrad.onnx import OnnxExporterError, export


def digits_cnn(dropout: float = 0.2) -> nn.Module:
    """The network of examples/cnn_digits.py (``build_model``), written out
    here so that the tests need not import scikit-learn."""
    return nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(64 * 2 * 2, 10),
    )


# ------------------------------------------------------------- models


def test_mlp_with_every_activation(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(5, 16),
        nn.ReLU(),
        nn.Linear(16, 16),
        nn.Tanh(),
        nn.Linear(16, 16),
        nn.GELU(),
        nn.Linear(16, 16),
        nn.GELU(approximate="tanh"),
        nn.LeakyReLU(0.2),
        nn.Sigmoid(),
        nn.Linear(16, 8, bias=False),
        nn.Dropout(0.5),
        nn.Softmax(dim=-1),
    )
    check(model, torch.randn(6, 5), tmp_path)
    check(nn.Sequential(nn.Linear(5, 4), nn.LogSoftmax(1)), torch.randn(6, 5), tmp_path)


class XorNet(nn.Module):
    """The seed article's network, written as a Module subclass."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(2, 8)
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(F.relu(self.hidden(x)))


def test_seed_backprop_model_after_training(tmp_path):
    torch.manual_seed(0)
    model = XorNet()
    x = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
    y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(50):
        loss = F.mse_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    session = check(model, x, tmp_path)
    initializers = {
        i.name for i in onnx.load(str(tmp_path / "model.onnx")).graph.initializer
    }
    assert {"hidden.weight", "hidden.bias", "out.weight", "out.bias"} <= initializers
    assert [i.name for i in session.get_inputs()] == ["input"]


class Composed(nn.Module):
    """Functional ops, residuals and shape changes in a forward."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6)
        self.scale = nn.Parameter(torch.randn(6))

    def forward(self, x):  # x: (batch, 4, 6)
        h = x + torch.tanh(self.a(x))  # residual
        h = self.norm(h) * self.scale - 0.5
        scores = torch.bmm(h, h.transpose(1, 2)) / 6**0.5  # (batch, 4, 4)
        mixed = torch.matmul(F.softmax(scores, dim=-1), self.b(h))
        flat = mixed.permute(0, 2, 1).reshape(x.shape[0], -1)  # (batch, 24)
        pieces = flat.view(-1, 4, 6)[:, 1:3].sum(1) + flat[:, :6].abs()
        return torch.cat([pieces, pieces.mean(-1, keepdim=True)], dim=1).exp()


def test_module_subclass_with_functional_ops(tmp_path):
    torch.manual_seed(0)
    check(Composed(), torch.randn(3, 4, 6), tmp_path)


def test_cnn_digits_example_model(tmp_path):
    torch.manual_seed(0)
    model = digits_cnn()
    randomise_batch_norm(model)
    model.train()
    export(model, torch.rand(5, 1, 8, 8), tmp_path / "train.onnx")
    assert all(m.training for m in model.modules()), "training flags restored"
    check(model, torch.rand(5, 1, 8, 8), tmp_path)


def test_cnn_options(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(2, 6, 3, stride=2, padding=2, dilation=2),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1, groups=3, bias=False),
        nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
        nn.AvgPool2d(2, stride=1, padding=1, count_include_pad=False),
        nn.Conv2d(6, 4, (1, 2), stride=(1, 2)),
        nn.GroupNorm(2, 4),
        nn.AdaptiveAvgPool2d((2, 3)),
        nn.Flatten(),
        nn.Linear(24, 5),
        nn.BatchNorm1d(5),
    )
    randomise_batch_norm(model)
    check(model, torch.randn(3, 2, 13, 11), tmp_path)


class Classifier(nn.Module):
    """A small transformer classifier: embedding, encoder layer, mean, head."""

    def __init__(self, norm_first: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.position = nn.Parameter(torch.randn(1, 5, 8) * 0.1)
        self.layer = nn.TransformerEncoderLayer(
            8, 2, 16, dropout=0.1, batch_first=True, norm_first=norm_first
        )
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):  # tokens: (batch, 5)
        h = self.layer(self.embed(tokens) + self.position)
        return self.head(h.mean(dim=1))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer(tmp_path, norm_first):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(
        8,
        2,
        32,
        dropout=0.1,
        activation="gelu",
        batch_first=True,
        norm_first=norm_first,
    )
    check(layer, torch.randn(2, 5, 8), tmp_path)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_classifier_dynamic_batch(tmp_path, norm_first):
    torch.manual_seed(0)
    model = Classifier(norm_first)
    tokens = torch.randint(0, 20, (2, 5))
    session = check(model, tokens, tmp_path, dynamic_axes={"input": {0: "batch"}})
    assert session.get_inputs()[0].shape == ["batch", 5]
    assert session.get_outputs()[0].shape == ["batch", 3]
    other = torch.randint(0, 20, (7, 5))
    (got,) = run(session, other.numpy())
    with torch.no_grad():
        want = model.eval()(other).numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


class PaddingMaskClassifier(nn.Module):
    """Token 0 is padding: the key padding mask is computed from the tokens
    inside forward, and the mean is taken over the other positions."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 8)
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):
        padding = tokens == 0
        h = self.layer(self.embed(tokens), src_key_padding_mask=padding)
        keep = (~padding).float().unsqueeze(-1)
        logits = self.head((h * keep).sum(1) / keep.sum(1))
        return logits, logits.argmax(-1)


def test_padding_mask_from_tokens_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = PaddingMaskClassifier()
    tokens = torch.tensor([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5]])
    batch = {0: "batch"}
    dynamic = {"tokens": batch, "logits": batch, "label": batch}
    session = check(
        model,
        tokens,
        tmp_path,
        input_names=["tokens"],
        output_names=["logits", "label"],
        dynamic_axes=dynamic,
    )
    other = torch.randint(1, 20, (7, 5))
    other[torch.arange(7), torch.randint(1, 5, (7,))] = 0
    other[0, 1:] = 0
    got = run(session, other.numpy())
    with torch.no_grad():
        want = model.eval()(other)
    np.testing.assert_allclose(got[0], want[0].numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(got[1], want[1].numpy())
    assert got[1].dtype == np.int64


class Causal(nn.Module):
    """A causal encoder layer: the mask is made inside forward, as in
    examples/char_transformer.py."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.layer(x, src_mask=mask, is_causal=True)


def test_causal_mask_made_in_forward(tmp_path):
    torch.manual_seed(0)
    model = Causal()
    session = check(model, torch.randn(2, 5, 8), tmp_path, dynamic_axes={"input": [0]})
    x = torch.randn(4, 5, 8)
    (got,) = run(session, x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=RTOL, atol=ATOL)
    # the mask's size follows the sequence length: not a dynamic axis
    with pytest.raises(OnnxExporterError, match="shape follows dynamic axis `seq`"):
        export(model, x, tmp_path / "m.onnx", dynamic_axes={"input": {1: "seq"}})


class Padded(nn.Module):
    """An encoder layer with a key padding mask, a second (bool) input."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)

    def forward(self, x, padding):
        return self.layer(x, src_key_padding_mask=padding)


def test_key_padding_mask_input(tmp_path):
    torch.manual_seed(0)
    model = Padded()
    padding = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
    batch = {0: "batch"}
    dynamic = {"input_0": batch, "input_1": batch}
    args = (torch.randn(2, 5, 8), padding)
    session = check(model, args, tmp_path, dynamic_axes=dynamic)
    x = torch.randn(3, 5, 8)
    padding = torch.tensor([[False] * 4 + [True], [False] * 5, [False] + [True] * 4])
    (got,) = run(session, x.numpy(), padding.numpy())
    with torch.no_grad():
        want = model(x, padding).numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


class Recurrent(nn.Module):
    """An LSTM over the sequence, a linear head on its last step: its initial
    state is zeros made in forward with the batch's size."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(2, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_lstm_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = Recurrent()
    session = check(model, torch.randn(2, 4, 2), tmp_path, dynamic_axes={"input": [0]})
    x = torch.randn(5, 4, 2)
    (got,) = run(session, x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("opset", [13, 18])
def test_dynamic_batch_and_sequence_at_other_opsets(tmp_path, opset):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 4, 16, batch_first=True)
    session = check(
        layer,
        torch.randn(2, 5, 8),
        tmp_path,
        input_names=["tokens"],
        output_names=["features"],
        dynamic_axes={"tokens": {0: "batch", 1: "seq"}},
        opset_version=opset,
    )
    assert onnx.load(str(tmp_path / "model.onnx")).opset_import[0].version == opset
    assert session.get_outputs()[0].name == "features"
    x = torch.randn(3, 9, 8)
    (got,) = run(session, x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(got, layer(x).numpy(), rtol=RTOL, atol=ATOL)


def test_cnn_dynamic_batch(tmp_path):
    torch.manual_seed(0)
    model = digits_cnn()
    randomise_batch_norm(model)
    session = check(
        model, torch.rand(4, 1, 8, 8), tmp_path, dynamic_axes={"input": [0]}
    )
    x = torch.rand(9, 1, 8, 8)
    (got,) = run(session, x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(got, model.eval()(x).numpy(), rtol=RTOL, atol=ATOL)


class TwoOutputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x, y):
        h = self.fc(x) * y
        return h, h.max(dim=1)[1]


def test_several_inputs_and_outputs(tmp_path):
    torch.manual_seed(0)
    check(TwoOutputs(), (torch.randn(5, 3), torch.randn(5, 4)), tmp_path)


# ------------------------------------------------------------- PyTorch weights


def _from_torch(theirs, ours) -> None:
    ours.load_state_dict(
        {k: torch.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
    )


def test_weights_from_torch_give_torch_outputs(tmp_path):
    real = import_torch()
    real.manual_seed(0)
    rng = np.random.default_rng(0)

    def cnn(lib):
        return lib.nn.Sequential(
            lib.nn.Conv2d(1, 4, 3, padding=1),
            lib.nn.BatchNorm2d(4),
            lib.nn.ReLU(),
            lib.nn.MaxPool2d(2),
            lib.nn.Flatten(),
            lib.nn.Linear(4 * 4 * 4, 3),
        )

    def mlp(lib):
        return lib.nn.Sequential(
            lib.nn.Linear(4, 8),
            lib.nn.Tanh(),
            lib.nn.Linear(8, 2),
            lib.nn.LogSoftmax(1),
        )

    def layer(lib):
        return lib.nn.TransformerEncoderLayer(
            8, 2, 16, batch_first=True, norm_first=True
        )

    cases = [
        (mlp, rng.normal(size=(5, 4))),
        (cnn, rng.normal(size=(3, 1, 8, 8))),
        (layer, rng.normal(size=(2, 6, 8))),
    ]
    for build, data in cases:
        data = data.astype(np.float32)
        theirs = build(real)
        with real.no_grad():
            theirs(real.tensor(data * 3 + 1))  # train-mode pass: running stats move
        theirs.eval()
        ours = build(torch)
        _from_torch(theirs, ours)
        path = tmp_path / f"{build.__name__}.onnx"
        export(ours, torch.tensor(data), path)
        (got,) = run(session_of(path), data)
        with real.no_grad():
            want = theirs(real.tensor(data)).numpy()
        np.testing.assert_allclose(
            got, want, rtol=RTOL, atol=ATOL, err_msg=build.__name__
        )


class PicksLayer(nn.Module):
    """A Python branch choosing between layers, on the input's size or values."""

    def __init__(self, on) -> None:
        super().__init__()
        self.on = on
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.register_buffer("p", torch.ones(4))
        self.register_buffer("q", torch.zeros(4))

    def forward(self, x):
        if self.on == "size":
            return self.a(x) if x.shape[0] > 4 else self.b(x)
        if self.on == "buffer":
            return x + (self.p if x.shape[0] > 4 else self.q)
        return self.a(x) if float(x.sum()) > 0 else self.b(x)


@pytest.mark.parametrize(
    "on, match",
    [
        (
            "size",
            "`b.weight` on the example input but `a.weight` on an input of "
            "other size along `n`",
        ),
        ("buffer", "`q` on the example input but `p`"),
        (
            "values",
            "`[ab].weight` on the example input but `[ab].weight` on an "
            "input of other values",
        ),
    ],
)
def test_python_branch_between_parameters_raises(tmp_path, on, match):
    x = torch.randn(3, 4)
    for sign in (1, -1):  # either branch taken on the example input
        with pytest.raises(OnnxExporterError, match=match):
            export(
                PicksLayer(on),
                x * sign,
                tmp_path / "m.onnx",
                input_names=["x"],
                dynamic_axes={"x": {0: "n"}},
            )
    assert not (tmp_path / "m.onnx").exists()
