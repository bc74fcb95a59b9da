"""Helpers for the ONNX export tests: export a model, check the file with
onnx's checker, run it in onnxruntime and compare with the model's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime

import plaingrad as torch
from plaingrad.onnx import export

RTOL, ATOL = 1e-5, 1e-6


def session_of(path: Path) -> onnxruntime.InferenceSession:
    """Check the file with onnx's full checker and open it in onnxruntime."""
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(session: onnxruntime.InferenceSession, *arrays: np.ndarray) -> list:
    """The outputs for ``arrays``, given to the graph inputs in order."""
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, arrays)))


def check(model, args, tmp_path, **options) -> onnxruntime.InferenceSession:
    """Export ``model`` on ``args`` (``options`` go to export) and compare
    onnxruntime's outputs with the model's in eval mode."""
    args = args if isinstance(args, tuple) else (args,)
    path = tmp_path / "model.onnx"
    export(model, args, path, **options)
    session = session_of(path)
    got = run(session, *[a.numpy() for a in args])
    model.eval()
    with torch.no_grad():
        want = model(*args)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), rtol=RTOL, atol=ATOL)
    return session


def randomise_batch_norm(model) -> None:
    """Running statistics and affine parameters away from their defaults."""
    rng = np.random.default_rng(1)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.copy_(torch.tensor(rng.normal(size=c).astype("f4")))
            m.running_var.copy_(torch.tensor(rng.uniform(0.5, 2, c).astype("f4")))
            m.weight.data.copy_(torch.tensor(rng.uniform(0.5, 1.5, c).astype("f4")))
            m.bias.data.copy_(torch.tensor(rng.normal(size=c).astype("f4")))
