"""``capture``: the activations of a model's layers, recorded by forward hooks.

A forward hook on each chosen module copies its output to NumPy as the model
runs. The model runs in evaluation mode (dropout off, batch norm on its running
statistics) and under ``no_grad``, one batch at a time, so a large dataset never
holds more than one batch of graph-free activations in plaingrad tensors; the
per-batch arrays are joined at the end. Whatever happens in the forward, the
hooks are removed and every module's training flag is put back as it was.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..creation import as_tensor
from ..nn.module import Module
from ..tensor import Tensor

LayerSpec = str | type
"""A module path (``"0"``, ``"encoder.fc1"``), a class name (``"ReLU"``) or a
class (``nn.ReLU``)."""

_LISTED_PATHS = 30  # how many module paths an error message lists at most


def capture(
    model: Module,
    inputs: Any,
    layers: LayerSpec | Sequence[LayerSpec] | None = None,
    batch_size: int = 256,
    *,
    flatten: bool = True,
) -> OrderedDict[str, np.ndarray]:
    """Run ``model`` on ``inputs`` and return the outputs of the chosen layers.

    The first entry, ``"input"``, holds the inputs themselves; then comes one
    entry per chosen module, keyed by its path in ``model.named_modules()``
    (``"0"``, ``"encoder.fc1"``), in the order the modules ran in the first
    batch. A module that runs more than once per forward (one ``nn.ReLU``
    used after two layers) gives one entry per call: ``"act"``, ``"act#2"``,
    ... (and a module whose path is ``input`` is keyed ``"input#2"``). A
    module whose output is a tuple (``nn.LSTM``, ``nn.MultiheadAttention``)
    contributes its first element.

    The model runs under ``no_grad`` and in evaluation mode; each module's
    ``training`` flag is restored afterwards, and the hooks are removed even
    when the forward raises.

    Args:
        model: the ``nn.Module`` to run.
        inputs: a Tensor or NumPy array whose first dimension indexes samples
            (floating arrays are cast to the dtype of the model's parameters),
            or an iterable of batches such as a ``DataLoader``: each batch is a
            Tensor/array or a tuple/list whose first element is the input
            (``(x, y)``; the labels are ignored).
        layers: which modules to record. ``None`` records every leaf module
            (one without submodules; a model without submodules is recorded
            itself, as ``"output"``). Otherwise one or a list of: a module path
            (``"0"``, ``"encoder.fc1"``), a class (``nn.ReLU``: every module
            that is an instance of it) or a class name (``"ReLU"``).
        batch_size: samples per forward pass when ``inputs`` is a Tensor or an
            array; ignored for an iterable of batches.
        flatten: reshape every activation (and the input) to
            ``(N, features)``; with ``False`` each keeps its own shape.

    Returns:
        An ``OrderedDict`` from names to NumPy arrays with ``N`` rows each.

    Raises:
        ValueError: a layer names no module (the message lists the module
            paths), or a layer selects no module, or ``batch_size`` < 1, or
            a batch records different layers than the first batch did.
        TypeError: ``model`` is not a Module, or ``inputs`` or ``layers`` has
            an unsupported type.

    Example:
        >>> import plaingrad as torch
        >>> from plaingrad import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> acts = capture(model, torch.randn(10, 4))
        >>> [(name, a.shape) for name, a in acts.items()]
        [('input', (10, 4)), ('0', (10, 8)), ('1', (10, 8)), ('2', (10, 3))]
    """
    if not isinstance(model, Module):
        raise TypeError(
            f"capture: `model` must be an nn.Module, got {type(model).__name__}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(
            f"capture: `batch_size` must be an int, got {type(batch_size).__name__}"
        )
    if batch_size < 1:
        raise ValueError(f"capture: `batch_size` must be at least 1, got {batch_size}")
    chosen = select_modules(model, layers)
    _check_batch_first(model)
    dtype = _parameter_dtype(model)

    per_batch: OrderedDict[str, list[np.ndarray]] = OrderedDict(input=[])
    order: list[str] | None = None
    calls: list[tuple[str, np.ndarray]] = []
    handles = []
    modes = [(module, module.training) for module in model.modules()]
    try:
        for path, module in chosen:
            handles.append(module.register_forward_hook(_recorder(path, calls)))
        model.eval()
        with no_grad():
            for batch in _batches(inputs, batch_size, dtype):
                calls.clear()
                given = np.array(_to_numpy(batch))  # before an in-place op on it
                model(batch)
                names = _call_names(calls)
                if order is None:
                    order = names
                    per_batch.update((name, []) for name in names)
                elif names != order:
                    raise ValueError(
                        f"capture: the layers recorded changed between batches: "
                        f"the first batch recorded {order}, a later one {names}"
                    )
                per_batch["input"].append(given)
                for name, (_, array) in zip(names, calls):
                    _check_rows(name, array, len(given))
                    per_batch[name].append(array)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.__dict__["training"] = training
    if order is None:
        raise ValueError("capture: `inputs` holds no batches")

    result: OrderedDict[str, np.ndarray] = OrderedDict()
    for name, arrays in per_batch.items():
        joined = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        result[name] = joined.reshape(len(joined), -1) if flatten else joined
    return result


def select_modules(
    model: Module, layers: LayerSpec | Sequence[LayerSpec] | None = None
) -> list[tuple[str, Module]]:
    """The ``(path, module)`` pairs that ``layers`` names, in ``named_modules``
    order, each once. See ``capture`` for what ``layers`` may hold.

    Example:
        >>> from plaingrad import nn
        >>> model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
        >>> [path for path, _ in select_modules(model, "Linear")]
        ['0', '2']
    """
    named = [(path, module) for path, module in model.named_modules() if path]
    if layers is None:
        if not named:
            return [("output", model)]  # the model is a single layer
        return [(path, m) for path, m in named if not any(True for _ in m.children())]
    specs = [layers] if isinstance(layers, (str, type)) else layers
    if not isinstance(specs, Iterable):
        raise TypeError(
            f"capture: `layers` must be None, a module path, a module class or a "
            f"list of them, got {type(layers).__name__}"
        )
    by_path = dict(named)
    picked: set[str] = set()
    for spec in specs:
        if isinstance(spec, str) and spec in by_path:
            picked.add(spec)
        elif isinstance(spec, str) or isinstance(spec, type):
            matches = [path for path, m in named if _is_kind(m, spec)]
            if not matches:
                raise ValueError(_unknown_layer(spec, named))
            picked.update(matches)
        else:
            raise TypeError(
                f"capture: each entry of `layers` must be a module path (str) or a "
                f"module class, got {type(spec).__name__}"
            )
    if not picked:
        raise ValueError("capture: `layers` is empty; pass None to record every leaf")
    return [(path, m) for path, m in named if path in picked]


def _is_kind(module: Module, spec: str | type) -> bool:
    if isinstance(spec, type):
        return isinstance(module, spec)
    return any(cls.__name__ == spec for cls in type(module).__mro__)


def _unknown_layer(spec: str | type, named: list[tuple[str, Module]]) -> str:
    listed = ", ".join(
        f"{path!r} ({type(m).__name__})" for path, m in named[:_LISTED_PATHS]
    )
    if len(named) > _LISTED_PATHS:
        listed += f", ... ({len(named) - _LISTED_PATHS} more)"
    what = spec if isinstance(spec, str) else spec.__name__
    return (
        f"capture: `layers` entry {what!r} is neither a module path nor the type "
        f"of any module in the model; module paths are: {listed or '(none)'}"
    )


def _check_batch_first(model: Module) -> None:
    """``capture`` cuts the inputs into batches along dim 0, the samples; a
    sequence-first RNN or attention layer would read that dim as time."""
    for path, module in model.named_modules():
        if getattr(module, "batch_first", None) is False:
            raise ValueError(
                f"capture: module {path or '(model)'!r} ({type(module).__name__}) "
                "is sequence-first (batch_first=False), but capture takes dim 0 "
                "of the inputs as the samples; build it with batch_first=True"
            )


def _check_rows(name: str, array: np.ndarray, samples: int) -> None:
    """Every recorded output must have one row per sample of the batch: a
    sequence-first layer (time on dim 0) or a layer that folds the batch
    into another dim would pair rows with the wrong samples."""
    rows = len(array) if array.ndim else 0
    if rows != samples:
        raise ValueError(
            f"capture: layer {name!r} returned {rows} rows for a batch of "
            f"{samples} samples; capture needs outputs whose first dim indexes "
            "the samples (for an RNN or transformer use batch_first=True, or "
            "leave such layers out with `layers=`)"
        )


def _recorder(path: str, calls: list[tuple[str, np.ndarray]]) -> Any:
    def hook(module: Module, args: tuple, output: Any) -> None:
        # Copy now: an in-place op later in the forward (ReLU(inplace=True))
        # would otherwise change what was recorded.
        calls.append((path, np.array(_to_numpy(_first_tensor(path, output)))))

    return hook


def _first_tensor(path: str, output: Any) -> Any:
    while isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not isinstance(output, (Tensor, np.ndarray)):
        raise TypeError(
            f"capture: module {path!r} returned {type(output).__name__}, not a "
            f"Tensor (or a tuple starting with one)"
        )
    return output


def _call_names(calls: list[tuple[str, np.ndarray]]) -> list[str]:
    seen = {"input": 1}  # the raw inputs' key: a module named "input" gets "input#2"
    names = []
    for path, _ in calls:
        seen[path] = seen.get(path, 0) + 1
        names.append(path if seen[path] == 1 else f"{path}#{seen[path]}")
    return names


def _parameter_dtype(model: Module) -> Any:
    for param in model.parameters():
        if param.is_floating_point():
            return param.dtype
    return None


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _as_batch(value: Any, dtype: Any) -> Tensor:
    if isinstance(value, (tuple, list)) and value:
        value = value[0]  # (x, y) from a DataLoader: the labels are not needed
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        floating = np.issubdtype(value.dtype, np.floating)
        return as_tensor(value, dtype=dtype if floating else None)
    raise TypeError(
        f"capture: each batch of `inputs` must be a Tensor, a NumPy array or a "
        f"tuple (x, y), got {type(value).__name__}"
    )


def _batches(inputs: Any, batch_size: int, dtype: Any) -> Iterable[Tensor]:
    if isinstance(inputs, (Tensor, np.ndarray)):
        if inputs.ndim == 0:
            raise ValueError(
                "capture: `inputs` must have a first dimension indexing samples, "
                "got a 0-d value"
            )
        samples: Any = inputs  # Tensor gets __getitem__ from ops at import
        for start in range(0, len(samples), batch_size):
            yield _as_batch(samples[start : start + batch_size], dtype)
    elif isinstance(inputs, Iterable) and not isinstance(inputs, (str, bytes)):
        for batch in inputs:
            yield _as_batch(batch, dtype)
    else:
        raise TypeError(
            f"capture: `inputs` must be a Tensor, a NumPy array or an iterable "
            f"of batches (a DataLoader), got {type(inputs).__name__}"
        )
