"""plaingrad.onnx.export of tensor ops (checked against PyTorch), and its
errors: unsupported ops and uses, bad arguments, onnx missing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from conftest import import_torch
from onnxcheck import ATOL, RTOL, check, run, session_of

import plaingrad as torch
import plaingrad.nn as nn
from plaingrad.autograd.node import Op
from plaingrad.onnx import (
    OnnxExporterError,
    TrainingMode,
    UnsupportedOperatorError,
    export,
)


class Fn(nn.Module):
    """A module around ``fn(lib, x)``, so a table of tensor ops can be exported."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(torch, x)


TENSOR_OPS = {
    "arithmetic": lambda t, x: (2 - x) * x / (x.abs() + 1) + x**2 - (-x) ** 3,
    "exp_log_sqrt": lambda t, x: x.exp().log1p() + x.expm1() + x.abs().sqrt(),
    "log": lambda t, x: (x.abs() + 1).log() * x.abs().sqrt(),
    "rsqrt_reciprocal": lambda t, x: (x.abs() + 1).rsqrt() + (x + 5).reciprocal(),
    "erf_rounding": lambda t, x: t.erf(x) + x.floor() + x.ceil() + x.sign(),
    "clamp_pow": lambda t, x: x.clamp(-0.5, 0.7) + x.clamp(min=0) + x.abs().pow(1.5),
    "reductions": lambda t, x: x.sum(1, keepdim=True) + x.mean() - x.amax(-1)[:, None],
    "max_min_dim": lambda t, x: x.max(dim=1)[0] * x.min(dim=0)[0][0] + x.max(),
    "logsumexp": lambda t, x: t.logsumexp(x, dim=1) + x.sum(),
    "var_std": lambda t, x: x.var(1, keepdim=True) + x.std() + x.var(0, correction=0),
    "softmaxes": lambda t, x: t.softmax(x, 0) + t.log_softmax(x, -1),
    "cat_stack": lambda t, x: t.cat([x, x * 2], 1) @ t.stack([x, x], 1).reshape(6, 4),
    "indexing": lambda t, x: x[1:, ::2][..., None][:, -1] + x[0] + x[-1, 1:2],
    "unsqueeze_expand": lambda t, x: x.unsqueeze(0).expand(2, 4, 3).squeeze() * 1.5,
    "transpose_flatten": lambda t, x: (
        x.t().flatten().unsqueeze(1) * x.mT.reshape(-1, 1)
    ),
    "dtype_clone": lambda t, x: (
        x.double().float().clone() + x.to(t.float64).sum().float()
    ),
    "addmm_baddbmm": lambda t, x: (
        t.addmm(x[0], x.T, x, beta=0.5, alpha=2)
        + t.baddbmm(x[:, :1][None], x[None], x.T[None], beta=2).sum()
    ),
    "where_comparisons": lambda t, x: (
        t.where(x > 0, x, 0.1 * x)
        + (x >= 1).float()
        - (x.round() == 0).float() * 2
        + (x < -1).to(t.float32) * 3
        + t.where(x <= 0.5, 1.0, 0.0)
    ),
    "masked_fill_compare": lambda t, x: x.masked_fill(x < 0, -1.0) * x.ne(1.5),
    "logical_ops": lambda t, x: (
        (((x > 0) & (x < 1)) | ~(x != x.round()))
        ^ t.logical_not(x <= -1).logical_and(x < 2).logical_or(x > 3)
    ),
    "argmax_argmin": lambda t, x: (
        x.argmax(1) * 10 + x.argmin(0).sum() + x.argmax() + x.argmin(1, keepdim=True)
    ),
    "activations": lambda t, x: (
        t.nn.functional.silu(x)
        + t.nn.functional.elu(x, 0.7)
        + t.nn.functional.selu(x)
        + t.nn.functional.celu(x, 1.3)
        + t.nn.functional.softplus(x, beta=2.0, threshold=1.0)
        + t.nn.functional.hardtanh(x, -0.3, 0.4)
        + t.nn.functional.hardsigmoid(x)
        + t.nn.functional.hardswish(x)
        + t.nn.functional.mish(x)
        + t.nn.functional.logsigmoid(x)
    ),
}


@pytest.mark.parametrize("name", sorted(TENSOR_OPS))
def test_tensor_ops_match_torch(tmp_path, name):
    real = import_torch()
    fn = TENSOR_OPS[name]
    x = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32) * 2
    path = tmp_path / "model.onnx"
    export(Fn(fn), torch.tensor(x), path)
    (got,) = run(session_of(path), x)
    want = fn(real, real.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------- errors


class Sorted(nn.Module):
    def forward(self, x):
        return torch.sort(x, dim=1)[0]


class UsesItem(nn.Module):
    def forward(self, x):
        return x * float(x.sum())


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.act(self.fc(x))
        h += 1
        h.mul_(x)
        g = self.fc(h)
        g.tanh_()
        return g


@pytest.mark.parametrize("frozen", [False, True])
def test_in_place_ops_on_whole_tensors(tmp_path, frozen):
    torch.manual_seed(0)
    model = InPlace().requires_grad_(not frozen)
    with torch.no_grad():
        check(model, torch.randn(4, 3), tmp_path)


class WritesSlice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        h = self.fc(x)
        h[:, 0] += 1
        return h * 2


class NumpyOutput(nn.Module):
    def forward(self, x):
        return torch.from_numpy(x.detach().numpy() > 0)


class Double(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * 2


class UsesFunction(nn.Module):
    def forward(self, x):
        return Double.apply(x)


@pytest.mark.parametrize(
    "model, match",
    [
        (Sorted(), r"`Pick` \(grad_fn SortBackward0\), applied in Sorted,"),
        (UsesItem(), r"`\.item\(\)`, `float\(x\)`"),
        (WritesSlice(), "changed in place"),
        (NumpyOutput(), "output 0 changes with the model's input"),
        (UsesFunction(), "autograd.Function `Double`"),
    ],
)
def test_unsupported_raises_naming_it(tmp_path, model, match):
    recorder_off = Op.__dict__["apply"]
    with pytest.raises(OnnxExporterError, match=match) as error:
        export(model, torch.randn(4, 3), tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
    assert Op.__dict__["apply"] is recorder_off, "Op.apply is put back"
    unsupported = isinstance(model, (Sorted, UsesFunction))
    assert isinstance(error.value, UnsupportedOperatorError) == unsupported


def test_bad_arguments(tmp_path):
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="opset_version"):
        export(model, x, tmp_path / "m.onnx", opset_version=9)
    with pytest.raises(ValueError, match="'batch'"):
        export(model, x, tmp_path / "m.onnx", dynamic_axes={"batch": [0]})
    with pytest.raises(TypeError, match="argument 0 is ndarray"):
        export(model, x.numpy(), tmp_path / "m.onnx")


def test_import_error_without_onnx(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'plaingrad\[onnx\]'"):
        export(nn.Linear(3, 2), torch.randn(4, 3), tmp_path / "m.onnx")


def test_importing_plaingrad_does_not_import_onnx():
    code = "import sys, plaingrad; print('onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_torch_keywords(tmp_path, capsys):
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    want = (x.numpy() @ model.weight.detach().numpy().T) + model.bias.detach().numpy()
    path = tmp_path / "m.onnx"
    export(
        model,
        (x,),
        path,
        export_params=True,
        do_constant_folding=True,
        verbose=False,
        training=TrainingMode.EVAL,
        dynamo=False,
        keep_initializers_as_inputs=False,
        kwargs=None,
        opset_version=17,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
    )
    assert capsys.readouterr().out == ""
    np.testing.assert_allclose(run(session_of(path), x.numpy())[0], want, 1e-5, 1e-6)


def test_export_params_false_makes_weights_inputs(tmp_path):
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    w, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    export(model, x, tmp_path / "m.onnx", export_params=False)
    graph = onnx.load(str(tmp_path / "m.onnx")).graph
    assert [i.name for i in graph.input] == ["input", "weight", "bias"]
    assert not [t.name for t in graph.initializer if not t.name.startswith("/")]
    w2, b2 = 2 * w, b - 1
    got = run(session_of(tmp_path / "m.onnx"), x.numpy(), w2, b2)[0]
    np.testing.assert_allclose(got, x.numpy() @ w2.T + b2, 1e-5, 1e-6)


def test_keep_initializers_as_inputs_and_verbose(tmp_path, capsys):
    model = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    w, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    path = tmp_path / "m.onnx"
    export(model, x, path, keep_initializers_as_inputs=True, verbose=True)
    assert "Gemm" in capsys.readouterr().out
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["input", "weight", "bias"]
    session = session_of(path)
    got = session.run(None, {"input": x.numpy()})[0]  # the stored weights
    np.testing.assert_allclose(got, x.numpy() @ w.T + b, 1e-5, 1e-6)
    got = session.run(None, {"input": x.numpy(), "bias": b + 3})[0]
    np.testing.assert_allclose(got, x.numpy() @ w.T + b + 3, 1e-5, 1e-6)


@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"dynamo": True}, ValueError, "tracing one"),
        ({"training": TrainingMode.TRAINING}, ValueError, "training mode"),
        ({"kwargs": {"y": 1}}, ValueError, "`kwargs`"),
        ({"operator_export_type": 0, "foo": 1}, TypeError, "`foo`, `operator"),
        ({"input_names": "abc"}, TypeError, "`input_names` must be a list"),
        ({"input_names": ["x"], "output_names": ["x"]}, ValueError, r"\['x'\]"),
        ({"dynamic_axes": {"input": {"0": "n"}}}, TypeError, "axes must be int"),
        ({"dynamic_axes": {"input": {0: 5}}}, TypeError, "str dim name"),
        ({"dynamic_axes": [0]}, TypeError, "must be a dict"),
    ],
)
def test_bad_keywords(tmp_path, options, error, match):
    with pytest.raises(error, match=match):
        export(nn.Linear(3, 2), torch.randn(4, 3), tmp_path / "m.onnx", **options)
    assert not list(tmp_path.iterdir())


def test_preserve_mode(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    with pytest.raises(ValueError, match="training mode"):
        export(model, torch.randn(4, 3), tmp_path / "m.onnx", training=1)
    model.eval()
    export(model, torch.randn(4, 3), tmp_path / "m.onnx", training=1)
    assert (tmp_path / "m.onnx").exists()


def test_bad_target_and_model(tmp_path):
    x = torch.randn(4, 3)
    with pytest.raises(IsADirectoryError, match="`f` is a folder"):
        export(nn.Linear(3, 2), x, tmp_path)
    with pytest.raises(FileNotFoundError, match="folder of `f` does not exist"):
        export(nn.Linear(3, 2), x, tmp_path / "no" / "m.onnx")
    for f in (5, None):
        with pytest.raises(TypeError, match="`f` must be a path"):
            export(nn.Linear(3, 2), x, f)
    with pytest.raises(TypeError, match="`model` must be a Module"):
        export(object(), x, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())
