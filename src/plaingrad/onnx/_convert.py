"""Converters from plaingrad ops to ONNX nodes: the registry, and the ops on
tensors (arithmetic, elementwise functions, linear algebra, reductions).

A converter is ``fn(ctx)`` registered for one or more ``Op`` classes; it reads
the call's inputs and options through ``ctx`` and writes nodes whose results are
named ``ctx.out(j)``. An op class without a converter of its own uses its
parent's, but only when it inherits the parent's ``forward`` unchanged (so it
computes the same thing). Shapes and indexing are in ``_convert_shape.py``;
layers (linear, convolution, normalization, pooling, activations) in
``_convert_nn.py``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..ops import binary as B
from ..ops import elementwise as E
from ..ops import linalg as L
from ..ops import math as M
from ..ops import reduction as R
from ..ops import variance as V
from ._graph import Graph
from ._trace import Call, Const, Value
from .errors import OnnxExporterError, UnsupportedOperatorError

CONVERTERS: dict[type, Any] = {}


def converts(*ops: type) -> Any:
    def register(fn: Any) -> Any:
        for op in ops:
            CONVERTERS[op] = fn
        return fn

    return register


def find_converter(op: type) -> Any:
    """The converter for ``op``, or None (see the module docstring)."""
    for cls in op.__mro__:
        fn = CONVERTERS.get(cls)
        if fn is not None:
            return fn
        if "forward" in cls.__dict__:
            return None
    return None


class Ctx:
    """What a converter sees of one call: its inputs, options and outputs."""

    def __init__(self, graph: Graph, call: Call, names: dict, meta: dict, dims: dict):
        self.g = graph
        self.call = call
        self.options = call.options
        self.names = names  # vid -> ONNX name (or an OnnxExporterError for a gap)
        self.meta = meta  # vid -> (shape, dtype) in the first trace
        self.dims = dims  # dynamic dim name -> (graph input name, axis, size)
        self.op = call.op.__name__
        self.handled: set[str] = set()  # varying options the converter wrote

    def _ref(self, ref: Value | Const) -> str:
        if isinstance(ref, Const):
            return self.g.const(ref.array, ref.name)
        name = self.names[ref.vid]
        if isinstance(name, OnnxExporterError):
            raise name
        return name

    def input(self, i: int) -> str:
        ref = self.call.inputs[i]
        shapes = self.call.const_shapes.get(i)
        if shapes is not None and isinstance(ref, Const):
            # a tensor of one value made in forward, its shape following
            # dynamic axes (zeros_like, torch.zeros(x.shape[0], ...))
            value = self.g.const(ref.array.reshape(-1)[:1].reshape(()))
            shape = self.shape_tensor(
                list(ref.array.shape), shapes, False, f"input {i}"
            )
            return self.g.node("Expand", [value, shape])
        return self._ref(ref)

    def option_input(self, key: str) -> str:
        """An option that is a traced tensor or an array, as a graph value."""
        value = self.options[key]
        if isinstance(value, Value):
            return self._ref(value)
        return self.g.const(np.asarray(value))

    def n_inputs(self) -> int:
        return len(self.call.inputs)

    def shape(self, i: int) -> tuple:
        ref = self.call.inputs[i]
        if isinstance(ref, Const):
            return tuple(ref.array.shape)
        return self.meta[ref.vid][0]

    def dtype(self, i: int) -> Any:
        ref = self.call.inputs[i]
        if isinstance(ref, Const):
            return ref.array.dtype
        return self.meta[ref.vid][1]

    def out(self, j: int = 0) -> str:
        return self.names[self.call.outputs[j]]

    def out_shape(self, j: int = 0) -> tuple:
        return self.meta[self.call.outputs[j]][0]

    def out_dtype(self, j: int = 0) -> Any:
        return self.meta[self.call.outputs[j]][1]

    def static(self) -> None:
        """Refuse options that change with a dynamic axis and that the
        converter did not handle (``handled``)."""
        for key in self.call.varying:
            if key not in self.handled:
                raise OnnxExporterError(
                    f"onnx.export: option `{key}` of `{self.op}` changes with a "
                    "dynamic axis; it can only be exported with a fixed size"
                )

    def gap(self, j: int, why: str) -> None:
        """Output ``j`` is not exported: using it raises, saying ``why``."""
        self.names[self.call.outputs[j]] = OnnxExporterError(
            f"onnx.export: output {j} of `{self.op}` is used, but {why}"
        )

    def fail(self, why: str) -> OnnxExporterError:
        where = f" (in {self.call.where})" if self.call.where else ""
        return OnnxExporterError(f"onnx.export: `{self.op}`{where}: {why}")

    def shape_input(self, key: str, infer: bool, like: tuple | None = None) -> str:
        """The int64 shape tensor for option ``key`` (a tuple of ints), whose
        entries may follow dynamic axes (see ``shape_tensor``). ``like``: the
        input's shape (Expand), whose equal entries can be 1."""
        self.handled.add(key)
        base = list(self.options[key])
        varying = self.call.varying.get(key, {})
        if like is not None:
            offset = len(base) - len(like)
            for j in range(offset, len(base)):
                if all(
                    varying[d][j] == self.call.in_shapes[d][0][j - offset]
                    for d in varying
                ) and any(v[j] != base[j] for v in varying.values()):
                    base[j] = 1
                    varying = {
                        d: v[:j] + (1,) + tuple(v[j + 1 :]) for d, v in varying.items()
                    }
        return self.shape_tensor(base, varying, infer, f"`{key}`")

    def shape_tensor(self, base: list, varying: dict, infer: bool, what: str) -> str:
        """A shape, ``base`` in the first trace and ``varying[dim]`` with
        ``dim`` doubled: entries that moved are computed from the graph
        input's size as ``a * size + c``, or, when ``infer`` and only one
        moved, written -1 (Reshape)."""
        base = list(base)
        moving = [
            j
            for j in range(len(base))
            if any(v[j] != base[j] for v in varying.values())
        ]
        if not moving:
            return self.g.ints(base)
        if infer and len(moving) == 1:
            base[moving[0]] = -1
            return self.g.ints(base)
        parts = []
        for j, size in enumerate(base):
            if j not in moving:
                parts.append(self.g.ints([size]))
                continue
            changed = [d for d, v in varying.items() if v[j] != size]
            if len(changed) != 1:
                raise self.fail(f"entry {j} of {what} depends on several dynamic axes")
            dim = changed[0]
            source, axis, n = self.dims[dim]
            a, rest = divmod(varying[dim][j] - size, n)
            if rest:
                raise self.fail(f"entry {j} of {what} is not a multiple of `{dim}`")
            c = size - a * n
            shape = self.g.node("Shape", [source])
            value = self.g.node("Gather", [shape, self.g.ints([axis])], axis=0)
            if a != 1:
                value = self.g.node("Mul", [value, self.g.ints([a])])
            if c != 0:
                value = self.g.node("Add", [value, self.g.ints([c])])
            parts.append(value)
        return self.g.node("Concat", parts, axis=0)


def unsupported(calls: list[Call]) -> None:
    """Raise for the first call whose op has no converter."""
    for call in calls:
        if find_converter(call.op) is None:
            where = f", applied in {call.where}," if call.where else ""
            raise UnsupportedOperatorError(
                f"onnx.export: the op `{call.op.__name__}` (grad_fn "
                f"{call.op._name}){where} has no ONNX converter; it is not "
                "supported yet"
            )


def convert(ctx: Ctx) -> None:
    unsupported([ctx.call])
    find_converter(ctx.call.op)(ctx)
    ctx.static()


# ------------------------------------------------------------- arithmetic


def same_dtype(ctx: Ctx, indices: range | list) -> list[str]:
    """The inputs, cast to the output's dtype where they differ."""
    names = []
    for i in indices:
        name = ctx.input(i)
        if np.dtype(ctx.dtype(i)) != np.dtype(ctx.out_dtype()):
            name = ctx.g.cast(name, ctx.out_dtype())
        names.append(name)
    return names


_BINARY: dict[Any, str] = {
    E.Add: "Add",
    E.Sub: "Sub",
    E.Mul: "Mul",
    E.Div: "Div",
    E.Pow: "Pow",
}


@converts(*_BINARY)
def _binary(ctx: Ctx) -> None:
    ctx.g.node(_BINARY[ctx.call.op], same_dtype(ctx, range(2)), [ctx.out()])


@converts(E.PowScalar)
def _pow_scalar(ctx: Ctx) -> None:
    exponent = ctx.g.scalar(ctx.options["exponent"], ctx.out_dtype())
    ctx.g.node("Pow", [same_dtype(ctx, [0])[0], exponent], [ctx.out()])


_UNARY: dict[Any, str] = {
    E.Neg: "Neg",
    E.Exp: "Exp",
    E.Log: "Log",
    E.Sqrt: "Sqrt",
    E.Abs: "Abs",
    E.Tanh: "Tanh",
    E.Sigmoid: "Sigmoid",
    E.Relu: "Relu",
    E.Clone: "Identity",
    M.Erf: "Erf",
    M.Reciprocal: "Reciprocal",
    M.Sign: "Sign",
    M.Floor: "Floor",
    M.Ceil: "Ceil",
    M.Round: "Round",
}


@converts(*_UNARY)
def _unary(ctx: Ctx) -> None:
    ctx.g.node(_UNARY[ctx.call.op], [ctx.input(0)], [ctx.out()])


@converts(M.Log1p, M.Expm1)
def _log1p_expm1(ctx: Ctx) -> None:
    # ONNX has neither: log(1 + x) and e^x - 1 lose digits only next to 0,
    # where the absolute error stays about one float32 epsilon
    one = ctx.g.scalar(1, ctx.dtype(0))
    x = ctx.input(0)
    if ctx.call.op is M.Log1p:
        ctx.g.node("Log", [ctx.g.node("Add", [x, one])], [ctx.out()])
    else:
        ctx.g.node("Sub", [ctx.g.node("Exp", [x]), one], [ctx.out()])


@converts(M.Rsqrt)
def _rsqrt(ctx: Ctx) -> None:
    ctx.g.node("Reciprocal", [ctx.g.node("Sqrt", [ctx.input(0)])], [ctx.out()])


@converts(E.ToCopy)
def _to_copy(ctx: Ctx) -> None:
    ctx.g.cast(ctx.input(0), ctx.out_dtype(), [ctx.out()])


@converts(E.Clamp)
def _clamp(ctx: Ctx) -> None:
    bounds = []
    for key in ("min", "max"):
        value = ctx.options[key]
        if value is None:
            bounds.append("")
        elif np.ndim(value):
            raise ctx.fail(f"a tensor `{key}` is not supported, only a number")
        else:
            bounds.append(ctx.g.scalar(value, ctx.out_dtype()))
    ctx.g.node("Clip", [ctx.input(0), *bounds], [ctx.out()])


@converts(E.Where)
def _where(ctx: Ctx) -> None:
    condition = ctx.input(0)
    if np.dtype(ctx.dtype(0)) != np.bool_:
        condition = ctx.g.cast(condition, np.bool_)
    ctx.g.node("Where", [condition, *same_dtype(ctx, [1, 2])], [ctx.out()])


@converts(B.MaskedFill, B.MaskedFillTensor)
def _masked_fill(ctx: Ctx) -> None:
    # where(mask, value, a); the value is an option or a 0-d tensor input
    mask = ctx.input(1)
    if np.dtype(ctx.dtype(1)) != np.bool_:
        mask = ctx.g.cast(mask, np.bool_)
    if ctx.call.op is B.MaskedFill:
        value = ctx.g.scalar(ctx.options["value"], ctx.out_dtype())
    else:
        value = same_dtype(ctx, [2])[0]
    ctx.g.node("Where", [mask, value, ctx.input(0)], [ctx.out()])


# ------------------------------------------------------------- linear algebra


@converts(L.Matmul)
def _matmul(ctx: Ctx) -> None:
    ctx.g.node("MatMul", [ctx.input(0), ctx.input(1)], [ctx.out()])


@converts(L.Addmm)
def _addmm(ctx: Ctx) -> None:
    beta, alpha = ctx.options["beta"], ctx.options["alpha"]
    if len(ctx.shape(1)) == 2 and len(ctx.shape(2)) == 2:
        names = [ctx.input(1), ctx.input(2), ctx.input(0)]
        ctx.g.node("Gemm", names, [ctx.out()], alpha=float(alpha), beta=float(beta))
        return
    # baddbmm: beta * input + alpha * (m1 @ m2)
    product = ctx.g.node("MatMul", [ctx.input(1), ctx.input(2)])
    dtype = ctx.out_dtype()
    product = ctx.g.node("Mul", [product, ctx.g.scalar(alpha, dtype)])
    scaled = ctx.g.node("Mul", [ctx.input(0), ctx.g.scalar(beta, dtype)])
    ctx.g.node("Add", [scaled, product], [ctx.out()])


# ------------------------------------------------------------- reductions


@converts(R.Sum, R.Mean)
def _sum_mean(ctx: Ctx) -> None:
    op = "ReduceSum" if issubclass(ctx.call.op, R.Sum) else "ReduceMean"
    x = ctx.input(0)
    if np.dtype(ctx.dtype(0)) != np.dtype(ctx.out_dtype()):
        x = ctx.g.cast(x, ctx.out_dtype())
    axes = ctx.options["axes"]
    ctx.g.reduce(op, x, axes, ctx.options["keepdim"], [ctx.out()])


@converts(R.Amax, R.Amin, R.LogSumExp)
def _amax(ctx: Ctx) -> None:
    ops: dict[Any, str] = {
        R.Amax: "ReduceMax",
        R.Amin: "ReduceMin",
        R.LogSumExp: "ReduceLogSumExp",
    }
    op = ops[ctx.call.op]
    axes = ctx.options["axes"]
    ctx.g.reduce(op, ctx.input(0), axes, ctx.options["keepdim"], [ctx.out()])


@converts(R.MaxAll, R.MinAll)
def _max_all(ctx: Ctx) -> None:
    op = "ReduceMin" if ctx.call.op is R.MinAll else "ReduceMax"
    ctx.g.reduce(op, ctx.input(0), None, False, [ctx.out()])


@converts(R.MaxDim, R.MinDim)
def _max_dim(ctx: Ctx) -> None:
    # values and indices (the first extreme, as PyTorch)
    small = ctx.call.op is R.MinDim
    axis, keep = ctx.options["axis"], bool(ctx.options["keepdim"])
    x = ctx.input(0)
    ctx.g.reduce("ReduceMin" if small else "ReduceMax", x, [axis], keep, [ctx.out(0)])
    arg = "ArgMin" if small else "ArgMax"
    ctx.g.node(arg, [x], [ctx.out(1)], axis=axis, keepdims=int(keep))


@converts(V.Var, V.Std)
def _var_std(ctx: Ctx) -> None:
    # sum of squared deviations / max(0, count - correction), over fixed sizes
    axes, keep = ctx.options["axes"], bool(ctx.options["keepdim"])
    ndim = len(ctx.shape(0))
    reduced = list(range(ndim)) if axes is None else [a % ndim for a in axes]
    sizes = {tuple(s[0][a] for a in reduced) for s in ctx.call.in_shapes.values()}
    if len(sizes) > 1:
        raise ctx.fail("the variance over a dynamic axis is not supported")
    count = math.prod(ctx.shape(0)[a] for a in reduced)
    dtype, x = ctx.dtype(0), ctx.input(0)
    mean = ctx.g.reduce("ReduceMean", x, reduced, True)
    dev = ctx.g.node("Sub", [x, mean])
    squares = ctx.g.reduce("ReduceSum", ctx.g.node("Mul", [dev, dev]), reduced, keep)
    dof = ctx.g.scalar(max(0, count - ctx.options["correction"]), dtype)
    if ctx.call.op is V.Var:
        ctx.g.node("Div", [squares, dof], [ctx.out()])
    else:
        ctx.g.node("Sqrt", [ctx.g.node("Div", [squares, dof])], [ctx.out()])


@converts(R.Softmax, R.LogSoftmax)
def _softmax(ctx: Ctx) -> None:
    op = "Softmax" if ctx.call.op is R.Softmax else "LogSoftmax"
    ctx.g.node(op, [ctx.input(0)], [ctx.out()], axis=ctx.options["axis"])
