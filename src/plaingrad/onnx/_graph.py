"""The ONNX graph being built: nodes, initializers and fresh names.

Converters (``_convert_*.py``) add nodes through ``Graph``; it hides the few
places where ONNX operators changed between opsets (reductions take their axes
as an input from opset 18, as Squeeze and Unsqueeze do from 13).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import helper, numpy_helper

# ONNX's Slice end meaning "to the end of the axis"
INT64_MAX = np.iinfo(np.int64).max


class Graph:
    """Nodes and initializers of one graph, for opset ``opset``."""

    def __init__(self, opset: int) -> None:
        self.opset = opset
        self.nodes: list[Any] = []
        self.initializers: dict[str, Any] = {}
        self._count = 0

    def fresh(self, hint: str) -> str:
        """A name no other value of the graph has."""
        self._count += 1
        # the leading "/" keeps them apart from the traced values' names
        return f"/{hint}_{self._count}"

    def node(
        self, op_type: str, inputs: list[str], outputs: Any = 1, **attrs: Any
    ) -> Any:
        """Add a node; ``outputs`` is a list of names or a count of fresh ones.
        Returns the output name (or the list of names, for several)."""
        if isinstance(outputs, int):
            outputs = [self.fresh(op_type) for _ in range(outputs)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        name = self.fresh(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def const(self, array: Any, name: str | None = None) -> str:
        """An initializer holding ``array`` (named ``name`` when given)."""
        array = np.asarray(array)
        if name is None:
            name = self.fresh("const")
        elif name in self.initializers:
            return name
        self.initializers[name] = numpy_helper.from_array(array, name)
        return name

    def ints(self, values: Any) -> str:
        """A 1-D int64 initializer (shapes, axes, slice bounds)."""
        return self.const(np.asarray(list(values), dtype=np.int64))

    def scalar(self, value: Any, dtype: Any) -> str:
        """A 0-d initializer of ``dtype``."""
        return self.const(np.asarray(value, dtype=dtype))

    def reduce(self, op: str, x: str, axes: Any, keepdims: bool, out: Any = 1) -> Any:
        """``ReduceSum/Mean/Max/Min/LogSumExp`` over ``axes`` (None: all)."""
        keep = int(bool(keepdims))
        if axes is None:
            return self.node(op, [x], out, keepdims=keep)
        axes = [int(a) for a in axes]
        if op == "ReduceSum" or self.opset >= 18:
            return self.node(op, [x, self.ints(axes)], out, keepdims=keep)
        return self.node(op, [x], out, axes=axes, keepdims=keep)

    def squeeze(self, x: str, axes: list[int], out: Any = 1) -> Any:
        return self.node("Squeeze", [x, self.ints(axes)], out)

    def unsqueeze(self, x: str, axes: list[int], out: Any = 1) -> Any:
        return self.node("Unsqueeze", [x, self.ints(axes)], out)

    def cast(self, x: str, dtype: Any, out: Any = 1) -> Any:
        return self.node("Cast", [x], out, to=elem_type(dtype))


def elem_type(dtype: Any) -> int:
    """ONNX's element type number for a NumPy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def value_info(name: str, dtype: Any, shape: list) -> Any:
    """A graph input or output: ``shape`` holds ints and dim names."""
    return helper.make_tensor_value_info(name, elem_type(dtype), shape)


def make_model(
    graph: Graph, inputs: list, outputs: list, opset: int, name: str = "plaingrad"
) -> Any:
    """The ModelProto, with the IR version that goes with ``opset``."""
    body = helper.make_graph(
        graph.nodes, name, inputs, outputs, list(graph.initializers.values())
    )
    return helper.make_model_gen_version(
        body,
        producer_name="plaingrad",
        opset_imports=[helper.make_opsetid("", opset)],
    )
