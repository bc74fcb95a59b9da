"""``export``'s arguments past the model: PyTorch's keywords, the target file,
and how the weights are written (initializers, graph inputs too, or only
graph inputs)."""

from __future__ import annotations

import enum
import os
from typing import Any


class TrainingMode(enum.IntEnum):
    """The mode the model is exported in, as ``torch.onnx.TrainingMode``."""

    EVAL = 0
    PRESERVE = 1
    TRAINING = 2


def check_keywords(
    unknown: dict,
    kwargs: Any,
    dynamo: Any,
    training: Any,
    model: Any,
) -> None:
    """Refuse what plaingrad's exporter does not do, naming it."""
    if unknown:
        names = ", ".join(f"`{k}`" for k in sorted(unknown))
        raise TypeError(
            f"onnx.export() got unexpected keyword argument(s) {names}; plaingrad "
            "takes kwargs, verbose, input_names, output_names, opset_version, "
            "dynamo, export_params, keep_initializers_as_inputs, dynamic_axes, "
            "training and do_constant_folding"
        )
    if dynamo:
        raise ValueError(
            "onnx.export: `dynamo=True` is not supported: plaingrad's exporter is "
            "the tracing one (torch's `dynamo=False`); leave `dynamo` out"
        )
    if kwargs:
        raise ValueError(
            "onnx.export: `kwargs` (keyword inputs to the model) is not "
            "supported; pass every input in `args`"
        )
    try:
        mode = TrainingMode(int(training))
    except (TypeError, ValueError):
        raise ValueError(
            "onnx.export: `training` must be a TrainingMode (EVAL, PRESERVE or "
            f"TRAINING), got {training!r}"
        ) from None
    training_now = getattr(model, "training", False)
    if mode is TrainingMode.TRAINING or (
        mode is TrainingMode.PRESERVE and training_now
    ):
        raise ValueError(
            "onnx.export: export in training mode is not supported (dropout and "
            "batch norm are written as in eval mode); use "
            "`training=TrainingMode.EVAL` or call `model.eval()` first"
        )
    if not callable(model):
        raise TypeError(
            "onnx.export: `model` must be a Module or a function of tensors, got "
            f"{type(model).__name__}"
        )


def check_target(f: Any) -> Any:
    """``f`` as a path (str) or a writable file object, checked before the
    model is traced so that a bad one fails fast and writes nothing."""
    if hasattr(f, "write"):
        return f
    if not isinstance(f, (str, bytes, os.PathLike)):
        raise TypeError(
            "onnx.export: `f` must be a path (str or os.PathLike) or a binary "
            f"file object, got {type(f).__name__}"
        )
    path = os.fsdecode(os.fspath(f))
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"onnx.export: `f` is a folder ({path!r}), expected a file path such "
            "as 'model.onnx'"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(
            f"onnx.export: the folder of `f` does not exist ({folder!r}); create "
            "it first"
        )
    return path


def place_weights(proto: Any, export_params: bool, as_inputs: bool) -> None:
    """The model's parameters and buffers (initializers named as in its
    state_dict) also as graph inputs (``keep_initializers_as_inputs``), or,
    without ``export_params``, only as graph inputs, to be fed at run time."""
    from onnx import helper

    if export_params and not as_inputs:
        return
    graph = proto.graph
    named = [t for t in graph.initializer if not t.name.startswith("/")]
    for t in named:
        graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, t.dims))
    if not export_params:
        keep = [t for t in graph.initializer if t.name.startswith("/")]
        del graph.initializer[:]
        graph.initializer.extend(keep)
