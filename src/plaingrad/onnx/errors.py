"""The errors of ONNX export, under PyTorch's names (``torch.onnx.errors``)."""

from __future__ import annotations


class OnnxExporterError(RuntimeError):
    """The model cannot be written as ONNX (a use of an op or tensor that the
    export cannot express); the message names it."""


class UnsupportedOperatorError(OnnxExporterError):
    """An op the model applies has no ONNX converter yet."""
