"""ONNX export: ``plaingrad.onnx.export(model, args, f)``, as ``torch.onnx``.

Export traces: the model runs once on the example input while ``Op.apply``
records each op it applies (the recorder is put in place only for the export,
so training pays nothing for it). Tensors that the recorded ops read but did
not make are constants: the model's parameters and buffers, written as
initializers under their ``state_dict`` names, or tensors made inside
``forward`` (ops on those alone, such as building a causal mask, are folded
into constants). Any ``Module`` whose ``forward`` composes layers and tensor
ops is covered this way, not only ``nn.Sequential``; each recorded op then
becomes one or a few ONNX nodes (``_convert.py`` for arithmetic and
reductions, ``_convert_shape.py`` for shapes and indexing, ``_convert_nn.py``
for the layers' ops; multi-head attention and LSTM arrive already decomposed
into matrix products, softmax, reshapes and elementwise ops). In-place ops on
whole tensors (``ReLU(inplace=True)``, ``+=``) are followed to the value they
leave. Comparisons, logical ops and argmax/argmin, which give no gradient and
so skip ``Op.apply``, report to the trace through ``autograd.node.observed``
(``_convert_logic.py``).

A trace only sees ops, so the model is run again on inputs of other values and,
for each dynamic axis, of twice the size: a value that changed without an op
the trace saw (``.item()``, NumPy code) or a graph that changed
shape is an error rather than a silently wrong file, and shapes that follow a
dynamic axis (a reshape to ``(batch * heads, ...)``, zeros of the batch's size)
are written as computed from the input's size. Ops without a converter raise
``UnsupportedOperatorError`` and other uses that cannot be written
``OnnxExporterError``, naming the op and the module that applied it.

The ``onnx`` package is an optional extra (``pip install 'plaingrad[onnx]'``);
it is imported only when ``export`` runs.
"""

from . import errors
from ._args import TrainingMode
from ._export import export
from .errors import OnnxExporterError, UnsupportedOperatorError

__all__ = [
    "OnnxExporterError",
    "TrainingMode",
    "UnsupportedOperatorError",
    "errors",
    "export",
]
