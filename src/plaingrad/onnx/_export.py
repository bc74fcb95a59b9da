"""``export``: trace the model, check the trace, convert it, write the file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..creation import from_numpy
from ..tensor import Tensor
from ._args import TrainingMode, check_keywords, check_target, place_weights
from ._trace import Const, Trace, Value, compare_traces, output_refs, run_traced
from .errors import OnnxExporterError

DEFAULT_OPSET = 17
MIN_OPSET = 13


def _import_onnx() -> Any:
    # here, not at the top: importing plaingrad must not need onnx (the
    # converters, which use it, are imported once it is there)
    try:
        import onnx
    except ImportError as error:
        raise ImportError(
            "plaingrad.onnx.export needs the `onnx` package, an optional extra: "
            "pip install 'plaingrad[onnx]'"
        ) from error
    return onnx


def _as_inputs(args: Any) -> tuple[Tensor, ...]:
    args = args if isinstance(args, (tuple, list)) else (args,)
    for i, a in enumerate(args):
        if not isinstance(a, Tensor):
            raise TypeError(
                f"onnx.export: `args` must be a Tensor or a tuple of Tensors, but "
                f"argument {i} is {type(a).__name__}"
            )
    return tuple(args)


def _names(given: Any, count: int, stem: str, what: str) -> list[str]:
    default = [stem] if count == 1 else [f"{stem}_{i}" for i in range(count)]
    if given is None:
        return default
    if isinstance(given, (str, bytes)) or not hasattr(given, "__iter__"):
        raise TypeError(
            f"onnx.export: `{what}` must be a list of str, got "
            f"{type(given).__name__} {given!r}"
        )
    given = list(given)
    for n in given:
        if not isinstance(n, str) or not n:
            raise TypeError(
                f"onnx.export: `{what}` must hold non-empty str names, got {n!r}"
            )
    if len(given) > count or len(set(given)) != len(given):
        raise ValueError(
            f"onnx.export: `{what}` has {len(given)} names (they must be distinct) "
            f"for {count} {stem}s"
        )
    return given + default[len(given) :]


def _dynamic(dynamic_axes: Any, ranks: dict[str, int]) -> dict[str, dict[int, str]]:
    """``{name: {axis: dim name}}`` from PyTorch's two forms (a dict or a list
    of axes per input or output name)."""
    result: dict[str, dict[int, str]] = {}
    if dynamic_axes is not None and not isinstance(dynamic_axes, dict):
        raise TypeError(
            "onnx.export: `dynamic_axes` must be a dict of input/output name to "
            f"axes, got {type(dynamic_axes).__name__}"
        )
    for name, axes in (dynamic_axes or {}).items():
        if name not in ranks:
            raise ValueError(
                f"onnx.export: `dynamic_axes` names {name!r}, which is not an "
                f"input or output name (they are {sorted(ranks)})"
            )
        if isinstance(axes, (str, bytes)) or not hasattr(axes, "__iter__"):
            raise TypeError(
                f"onnx.export: `dynamic_axes[{name!r}]` must be a dict of axis to "
                f"dim name or a list of axes, got {type(axes).__name__}"
            )
        if not isinstance(axes, dict):
            axes = {a: f"{name}_dynamic_axes_{k + 1}" for k, a in enumerate(axes)}
        rank = ranks[name]
        for axis, dim in axes.items():
            if not isinstance(axis, int) or isinstance(axis, bool):
                raise TypeError(
                    f"onnx.export: `dynamic_axes[{name!r}]` axes must be int, got "
                    f"{type(axis).__name__} {axis!r}"
                )
            if not isinstance(dim, str):
                raise TypeError(
                    f"onnx.export: `dynamic_axes[{name!r}][{axis}]` must be a str "
                    f"dim name, got {type(dim).__name__} {dim!r}"
                )
            if not -rank <= int(axis) < rank:
                raise ValueError(
                    f"onnx.export: `dynamic_axes[{name!r}]` has axis {axis}, but "
                    f"{name!r} has {rank} dimensions"
                )
        result[name] = {int(a) % rank: str(d) for a, d in axes.items()}
    return result


def _other_values(args: tuple[Tensor, ...], negate: bool) -> tuple[Tensor, ...]:
    """The inputs with other values (same shapes, valid indices): with
    ``negate``, floats negated (so a branch on a sign flips) and other arrays
    reversed; else floats scaled and noised and other arrays rolled."""
    rng = np.random.default_rng(12345)
    result = []
    for a in args:
        data = a.numpy()
        flat = data.reshape(-1)
        if data.dtype.kind in "fc":
            noise = rng.standard_normal(data.shape).astype(data.dtype)
            other = -data if negate else data * data.dtype.type(-0.75) + noise
        else:
            other = (flat[::-1] if negate else np.roll(flat, 1)).reshape(data.shape)
        result.append(from_numpy(np.ascontiguousarray(other)))
    return tuple(result)


def _doubled(args: tuple[Tensor, ...], where: list[tuple[int, int]]) -> tuple:
    """The inputs with each (input, axis) of ``where`` twice as long."""
    arrays = [a.numpy() for a in args]
    for i, axis in where:
        arrays[i] = np.concatenate([arrays[i], arrays[i]], axis=axis)
    return tuple(from_numpy(np.ascontiguousarray(a)) for a in arrays)


def _needed(calls: list, outputs: list) -> list:
    """The calls the outputs depend on, in order."""
    wanted = {r.vid for r in outputs if isinstance(r, Value)}
    kept = []
    for call in reversed(calls):
        if not wanted.intersection(call.outputs):
            continue
        kept.append(call)
        for ref in [*call.inputs, *call.options.values()]:
            if isinstance(ref, Value):
                wanted.add(ref.vid)
    return kept[::-1]


@contextmanager
def _eval_mode(model: Any) -> Iterator[None]:
    """Every module in eval mode, as PyTorch's export; the flags put back."""
    modes = (
        [(m, m.training) for m in model.modules()] if hasattr(model, "modules") else []
    )
    for m, _ in modes:
        m.__dict__["training"] = False
    try:
        yield
    finally:
        for m, mode in modes:
            m.__dict__["training"] = mode


@dataclass
class _Traced:
    """The model's trace, checked, with its names and dynamic axes."""

    trace: Trace
    outs: list  # Value or Const per output
    needed: list  # the calls the outputs depend on
    in_names: list[str]
    out_names: list[str]
    dynamic: dict[str, dict[int, str]]  # graph input/output name -> axis -> dim
    groups: dict[str, list[tuple[int, int]]]  # dim -> (input, axis) pairs
    out_shapes: dict[str, list]  # dim -> output shapes with it doubled


def _same_outputs(base: list, again: list) -> None:
    for k, (a, b) in enumerate(zip(base, again)):
        same = isinstance(a, Value) and isinstance(b, Value) and a.vid == b.vid
        if isinstance(a, Const) and isinstance(b, Const):
            same = a.array.shape == b.array.shape and np.array_equal(a.array, b.array)
        if not same:
            raise OnnxExporterError(
                f"onnx.export: output {k} changes with the model's input but was "
                "not made by an op the export can see (`.item()`, `float(x)`, "
                "`.numpy()` or a NumPy computation)"
            )


def _trace_model(
    model: Any, inputs: tuple, input_names: Any, output_names: Any, dynamic_axes: Any
) -> _Traced:
    # (these register their converters)
    from . import _convert_logic, _convert_nn, _convert_shape  # noqa: F401
    from ._convert import unsupported

    named: dict[int, str] = {}
    if hasattr(model, "state_dict"):
        for name, t in model.state_dict(keep_vars=True).items():
            named.setdefault(id(t), name)
            named.setdefault(id(t._data), name)
    trace, out = run_traced(model, inputs, named)
    outs = output_refs(trace, out)
    needed = _needed(trace.calls, outs)
    unsupported(needed)
    in_names = _names(input_names, len(inputs), "input", "input_names")
    out_names = _names(output_names, len(outs), "output", "output_names")
    both = sorted(set(in_names) & set(out_names))
    if both:
        raise ValueError(
            f"onnx.export: {both} are both input and output names; ONNX values "
            "need distinct names (change `input_names` or `output_names`)"
        )
    ranks = {n: len(a.shape) for n, a in zip(in_names, inputs)}
    for n, r in zip(out_names, outs):
        ranks[n] = len(trace.meta[r.vid][0] if isinstance(r, Value) else r.array.shape)
    dynamic = _dynamic(dynamic_axes, ranks)

    for negate in (False, True):
        other, other_out = run_traced(model, _other_values(inputs, negate), named)
        compare_traces(trace, other, None)
        _same_outputs(outs, output_refs(other, other_out))
    groups: dict[str, list[tuple[int, int]]] = {}
    for i, name in enumerate(in_names):
        for axis, dim in dynamic.get(name, {}).items():
            groups.setdefault(dim, []).append((i, axis))
    out_shapes: dict[str, list] = {}
    for dim, where in groups.items():
        doubled, doubled_out = run_traced(model, _doubled(inputs, where), named)
        compare_traces(trace, doubled, dim)
        out_shapes[dim] = [
            doubled.meta[r.vid][0] if isinstance(r, Value) else r.array.shape
            for r in output_refs(doubled, doubled_out)
        ]
    return _Traced(
        trace, outs, needed, in_names, out_names, dynamic, groups, out_shapes
    )


def _build(t: _Traced, inputs: tuple, opset: int) -> Any:
    """The ModelProto of a checked trace."""
    from ._convert import Ctx, convert
    from ._graph import Graph, make_model, value_info

    graph = Graph(opset)
    names: dict[int, Any] = dict(zip(t.trace.inputs, t.in_names))
    for k, call in enumerate(t.trace.calls):
        stem = f"{call.op.__name__}_{k}"
        for j, vid in enumerate(call.outputs):
            names[vid] = stem if j == 0 else f"{stem}_{j}"
    dims = {
        dim: (t.in_names[i], axis, inputs[i].shape[axis])
        for dim, ((i, axis), *_) in t.groups.items()
    }
    for call in t.needed:
        convert(Ctx(graph, call, names, t.trace.meta, dims))

    graph_inputs = []
    for name, a in zip(t.in_names, inputs):
        shape: list = list(a.shape)
        for axis, dim in t.dynamic.get(name, {}).items():
            shape[axis] = dim
        graph_inputs.append(value_info(name, a._data.dtype, shape))
    graph_outputs = []
    for k, (name, ref) in enumerate(zip(t.out_names, t.outs)):
        if isinstance(ref, Const):
            source = graph.const(ref.array)
            base, dtype = ref.array.shape, ref.array.dtype
        else:
            source = names[ref.vid]
            if isinstance(source, OnnxExporterError):
                raise source
            base, dtype = t.trace.meta[ref.vid]
        shape = list(base)
        for dim, shapes in t.out_shapes.items():
            for axis, (a, b) in enumerate(zip(base, shapes[k])):
                if a != b:
                    shape[axis] = dim
        for axis, dim in t.dynamic.get(name, {}).items():
            shape[axis] = dim
        graph.node("Identity", [source], [name])
        graph_outputs.append(value_info(name, dtype, shape))
    return make_model(graph, graph_inputs, graph_outputs, opset)


def export(
    model: Any,
    args: Any = (),
    f: Any = None,
    *,
    kwargs: dict | None = None,
    verbose: bool | None = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    opset_version: int | None = None,
    dynamo: bool = False,
    export_params: bool = True,
    keep_initializers_as_inputs: bool = False,
    dynamic_axes: dict | None = None,
    training: Any = TrainingMode.EVAL,
    do_constant_folding: bool = True,
    **unknown: Any,
) -> None:
    """Write ``model`` as an ONNX file, traced on the example input ``args``.

    The model runs in eval mode (dropout off, batch norm on its running
    statistics) and its training flags are restored afterwards; every op it
    applies is recorded and written as ONNX nodes, its parameters and buffers
    as initializers named as in its ``state_dict``. The model is also run on
    inputs of other values, and of other sizes along ``dynamic_axes``, to check
    that the recorded graph does not depend on them.

    Args:
        model: a ``Module`` (any ``forward`` of layers and tensor ops) or a
            function of tensors.
        args: the example input: a Tensor or a tuple of Tensors.
        f: a path, or a binary file object, to write the model to.
        input_names: names of the graph inputs (default ``input`` or
            ``input_0``, ``input_1``, ...).
        output_names: names of the graph outputs (default ``output``...).
        dynamic_axes: axes whose size may change, as in PyTorch:
            ``{"input": {0: "batch"}, "output": {0: "batch"}}`` or
            ``{"input": [0]}``.
        opset_version: the ONNX opset, 13 or later (default 17).
        export_params: with False, the parameters and buffers are graph inputs
            (to be fed at run time) rather than stored in the file.
        keep_initializers_as_inputs: the parameters and buffers are stored and
            also listed as graph inputs (so they can be overridden).
        verbose: print the graph once written.
        training: ``TrainingMode.EVAL`` (the default), or ``PRESERVE`` for a
            model in eval mode; export in training mode is refused.
        do_constant_folding: accepted for PyTorch's sake (ops on constants
            alone are always folded).
        kwargs, dynamo: PyTorch's; only their defaults are accepted (this is
            the tracing exporter, torch's ``dynamo=False``).

    Raises:
        ImportError: the ``onnx`` package is not installed.
        OnnxExporterError: a use that cannot be exported (the message names
            it); ``UnsupportedOperatorError`` for an op without a converter.

    Example:
        >>> import io
        >>> import plaingrad as torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU())
        >>> buffer = io.BytesIO()
        >>> torch.onnx.export(model, torch.randn(4, 2), buffer)
        >>> import onnx
        >>> graph = onnx.load_from_string(buffer.getvalue()).graph
        >>> [node.op_type for node in graph.node]
        ['Gemm', 'Relu', 'Identity']
    """
    check_keywords(unknown, kwargs, dynamo, training, model)
    target = check_target(f)
    onnx = _import_onnx()
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    newest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
        raise ValueError(
            f"onnx.export: `opset_version` must be an int from {MIN_OPSET} to "
            f"{newest}, got {opset_version!r}"
        )
    inputs = _as_inputs(args)
    with _eval_mode(model):
        traced = _trace_model(model, inputs, input_names, output_names, dynamic_axes)
    proto = _build(traced, inputs, opset)
    place_weights(proto, export_params, keep_initializers_as_inputs)
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.printer.to_text(proto.graph))
    if hasattr(target, "write"):
        target.write(proto.SerializeToString())
    else:
        onnx.save(proto, target)
