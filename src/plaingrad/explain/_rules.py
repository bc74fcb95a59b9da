"""The local derivative rule of each op, in words and as a formula.

``RULES`` maps an op's class name (``Linear``, ``Relu``...; several grad_fn
names are shared by different ops, the class is not) to ``(words, formula)``.
In both, ``{0}``, ``{1}``... stand for the names of the op's inputs, ``out``
for its result and ``g`` for the gradient arriving at it (dLoss/d out); the
formula gives the gradient sent to each input. ``rule(node, names)`` fills
them in; an op missing from the table gets a generic sentence, never an error.
"""

from __future__ import annotations

import re
import string
from typing import Any

_SAME = "the gradient passes through unchanged"

RULES: dict[str, tuple[str, str]] = {
    # linear algebra
    "Linear": (
        "a linear layer, out = {0} @ {1}ᵀ + {2}: the input's gradient is g "
        "mapped back through the weights, the weight's is g times the input, "
        "the bias's is g summed over the batch",
        "d{0} = g @ {1};  d{1} = gᵀ @ {0};  d{2} = Σ_rows g",
    ),
    "LinearNoBias": (
        "a linear layer without bias, out = {0} @ {1}ᵀ",
        "d{0} = g @ {1};  d{1} = gᵀ @ {0}",
    ),
    "Matmul": (
        "a matrix product, out = {0} @ {1}: each factor's gradient is g times "
        "the other factor, transposed",
        "d{0} = g @ {1}ᵀ;  d{1} = {0}ᵀ @ g",
    ),
    "Addmm": (
        "a matrix product plus a matrix, out = {0} + {1} @ {2}",
        "d{0} = g;  d{1} = g @ {2}ᵀ;  d{2} = {1}ᵀ @ g",
    ),
    "Bmm": (
        "a batch of matrix products, out[b] = {0}[b] @ {1}[b]",
        "d{0}[b] = g[b] @ {1}[b]ᵀ;  d{1}[b] = {0}[b]ᵀ @ g[b]",
    ),
    "Baddbmm": (
        "a batch of matrix products plus a tensor, out = {0} + {1} @ {2}",
        "d{0} = g;  d{1} = g @ {2}ᵀ;  d{2} = {1}ᵀ @ g",
    ),
    "Mv": (
        "a matrix times a vector, out = {0} @ {1}",
        "d{0} = g ⊗ {1};  d{1} = {0}ᵀ @ g",
    ),
    "Dot": ("a dot product, out = Σ {0}·{1}", "d{0} = g · {1};  d{1} = g · {0}"),
    "Einsum": (
        "an einsum contraction",
        "each operand gets g contracted with the others",
    ),
    # elementwise arithmetic
    "Add": (
        "a sum, out = {0} + {1}: a sum passes its gradient to both terms unchanged",
        "d{0} = g;  d{1} = g",
    ),
    "Sub": (
        "a difference, out = {0} - {1}: the first term gets g, the second -g",
        "d{0} = g;  d{1} = -g",
    ),
    "Mul": (
        "a product, out = {0} * {1}: each factor's gradient is g times the other",
        "d{0} = g * {1};  d{1} = g * {0}",
    ),
    "Div": (
        "a quotient, out = {0} / {1}",
        "d{0} = g / {1};  d{1} = -g * {0} / {1}²",
    ),
    "Neg": ("a negation, out = -{0}", "d{0} = -g"),
    "PowScalar": (
        "a power with a constant exponent p, out = {0}ᵖ",
        "d{0} = g * p * {0}ᵖ⁻¹",
    ),
    "Pow": (
        "a power, out = {0}^{1}",
        "d{0} = g * {1} * {0}^({1}-1);  d{1} = g * out * log {0}",
    ),
    "Exp": (
        "an exponential, out = exp({0}): its derivative is itself",
        "d{0} = g * out",
    ),
    "Log": ("a natural logarithm, out = log {0}", "d{0} = g / {0}"),
    "Sqrt": ("a square root, out = √{0}", "d{0} = g / (2 out)"),
    "Rsqrt": ("a reciprocal square root, out = 1/√{0}", "d{0} = -g * out³ / 2"),
    "Reciprocal": ("a reciprocal, out = 1/{0}", "d{0} = -g * out²"),
    "Abs": ("an absolute value", "d{0} = g * sign({0})"),
    "Clamp": (
        "a clamp: values inside the bounds pass their gradient, clipped ones get 0",
        "d{0} = g * [lo ≤ {0} ≤ hi]",
    ),
    "ClampTensor": (
        "a clamp between tensors",
        "d{0} = g where {0} was inside the bounds",
    ),
    "Maximum": (
        "an elementwise maximum: the larger input gets the gradient",
        "d{0} = g * [{0} > {1}]",
    ),
    "Minimum": (
        "an elementwise minimum: the smaller input gets the gradient",
        "d{0} = g * [{0} < {1}]",
    ),
    "Where": ("a selection by a condition", "d{1} = g where cond;  d{2} = g elsewhere"),
    "MaskedFill": (
        "a masked fill: filled positions get no gradient",
        "d{0} = g * [not mask]",
    ),
    "Clone": ("a copy: " + _SAME, "d{0} = g"),
    "ToCopy": ("a dtype or device copy: " + _SAME, "d{0} = g"),
    # activations
    "Relu": (
        "a ReLU, out = max({0}, 0): it passes the gradient where its input was "
        "positive and blocks it elsewhere",
        "d{0} = g * [{0} > 0]",
    ),
    "LeakyRelu": (
        "a leaky ReLU: slope 1 for positive inputs, the negative slope elsewhere",
        "d{0} = g * (1 if {0} > 0 else slope)",
    ),
    "Sigmoid": (
        "a sigmoid, out = 1/(1 + e^-{0}): its slope out(1 - out) is at most "
        "0.25, so each sigmoid shrinks the gradient",
        "d{0} = g * out * (1 - out)",
    ),
    "Tanh": ("a tanh: its slope 1 - out² is at most 1", "d{0} = g * (1 - out²)"),
    "Gelu": ("a GELU, out = {0} Φ({0})", "d{0} = g * (Φ({0}) + {0} φ({0}))"),
    "Silu": ("a SiLU, out = {0} σ({0})", "d{0} = g * σ({0}) (1 + {0} (1 - σ({0})))"),
    "Elu": ("an ELU", "d{0} = g * (1 if {0} > 0 else out + α)"),
    "Softplus": ("a softplus, out = log(1 + e^{0})", "d{0} = g * σ({0})"),
    "Hardtanh": ("a hard tanh", "d{0} = g * [min < {0} < max]"),
    "LogSigmoid": ("a log-sigmoid", "d{0} = g * (1 - σ({0}))"),
    # reductions and normalisations
    "Sum": (
        "a sum of all elements: every element gets g",
        "d{0} = g (copied to every element)",
    ),
    "SumDim": (
        "a sum over dimensions: g is copied back along them",
        "d{0} = g (copied along the summed dims)",
    ),
    "Mean": ("a mean of all n elements: every element gets g / n", "d{0} = g / n"),
    "MeanDim": (
        "a mean over dimensions",
        "d{0} = g / n (copied along the averaged dims)",
    ),
    "Softmax": (
        "a softmax",
        "d{0} = out * (g - Σ(g * out))",
    ),
    "LogSoftmax": (
        "a log-softmax",
        "d{0} = g - softmax({0}) * Σg",
    ),
    "LogSumExp": ("a log-sum-exp", "d{0} = g * softmax({0})"),
    "MaxAll": (
        "a maximum: only the largest element gets the gradient",
        "d{0} = g at the argmax",
    ),
    "MaxDim": (
        "a maximum along a dim: the argmax gets the gradient",
        "d{0} = g at each argmax",
    ),
    "Amax": (
        "a maximum: the largest elements share the gradient",
        "d{0} = g at the maxima",
    ),
    "NativeLayerNorm": (
        "a layer norm, out = (x - mean)/std * w + b",
        "d{0} = w/std * (g - mean(g) - x̂ mean(g x̂));  d{1} = Σ g x̂;  d{2} = Σ g",
    ),
    "NativeBatchNorm": (
        "a batch norm over the batch",
        "d{0} = w/std * (g - mean(g) - x̂ mean(g x̂));  d{1} = Σ g x̂;  d{2} = Σ g",
    ),
    # losses
    "MseLoss": (
        "a mean squared error, mean(({0} - {1})²): the gradient is the error, "
        "doubled and divided by the number of elements",
        "d{0} = g * 2 ({0} - {1}) / n",
    ),
    "NllLoss": (
        "a negative log-likelihood, -mean({0}[target]): each row's target "
        "column gets -g / n, every other column 0",
        "d{0}[i, target_i] = -g / n",
    ),
    "BinaryCrossEntropy": (
        "a binary cross-entropy on probabilities",
        "d{0} = g * ({0} - y) / ({0} (1 - {0}) n)",
    ),
    "BinaryCrossEntropyWithLogits": (
        "a binary cross-entropy on logits",
        "d{0} = g * (σ({0}) - y) / n",
    ),
    "L1Loss": ("a mean absolute error", "d{0} = g * sign({0} - {1}) / n"),
    "SmoothL1Loss": ("a smooth L1 loss", "d{0} = g * clip(({0} - {1})/β, -1, 1) / n"),
    "HuberLoss": ("a Huber loss", "d{0} = g * clip({0} - {1}, -δ, δ) / n"),
    "MultiMarginLoss": (
        "a multi-class hinge loss, mean over rows of Σ_j max(0, 1 - x_y + x_j) / C: "
        "each class inside the margin gets +g/(nC), the target class -g/(nC) "
        "for each of them",
        "d{0}[i, j] = g/(nC) * [1 - x_iy + x_ij > 0];  d{0}[i, y] = -Σ_j of those",
    ),
    "HingeEmbeddingLoss": (
        "a hinge embedding loss",
        "d{0} = g/n where y = 1, -g/n where the margin is violated",
    ),
    "SoftMarginLoss": ("a soft margin loss", "d{0} = -g * y σ(-y {0}) / n"),
    "MarginRankingLoss": (
        "a margin ranking loss",
        "d{0} = -g y / n where violated;  d{1} = -d{0}",
    ),
    # shapes and indexing
    "View": (
        "a reshape: the gradient is reshaped back",
        "d{0} = g reshaped to {0}'s shape",
    ),
    "Reshape": (
        "a reshape: the gradient is reshaped back",
        "d{0} = g reshaped to {0}'s shape",
    ),
    "TransposeT": ("a transpose: the gradient is transposed back", "d{0} = gᵀ"),
    "Transpose": (
        "a transpose of two dims: the gradient is transposed back",
        "d{0} = g with the dims swapped back",
    ),
    "Permute": (
        "a permutation of dims: the gradient is permuted back",
        "d{0} = g permuted back",
    ),
    "Expand": (
        "a broadcast copy: the gradient is summed over the copies",
        "d{0} = g summed over the expanded dims",
    ),
    "Squeeze": ("a squeeze: the gradient gets the dims back", "d{0} = g unsqueezed"),
    "SqueezeDim": ("a squeeze: the gradient gets the dim back", "d{0} = g unsqueezed"),
    "Unsqueeze": ("an unsqueeze: the gradient loses the new dim", "d{0} = g squeezed"),
    "Select": (
        "a selection: the chosen slice gets g, the rest 0",
        "d{0} = zeros with g at the index",
    ),
    "Slice": (
        "a slice: the sliced part gets g, the rest 0",
        "d{0} = zeros with g in the slice",
    ),
    "Index": (
        "an indexing: g goes back to the indexed positions (summed if repeated)",
        "d{0} = zeros, index_add g",
    ),
    "Gather": (
        "a gather: g is scattered back to where values came from",
        "d{0} = scatter_add(g)",
    ),
    "SplitPiece": (
        "one piece of a split: its gradient goes back into its slice of the "
        "input (the other pieces fill the rest)",
        "d{0}[its slice] += g",
    ),
    "SplitWithSizesPiece": (
        "one piece of a split: its gradient goes back into its slice of the input",
        "d{0}[its slice] += g",
    ),
    "UnbindPiece": (
        "one piece of an unbind: its gradient goes back into its index of the input",
        "d{0}[its index] += g",
    ),
    "Cat": (
        "a concatenation: the gradient is cut into the pieces",
        "d{k} = g's slice for input k",
    ),
    "Stack": ("a stack: the gradient is unstacked", "d{k} = g[k]"),
    "Flip": ("a flip: the gradient is flipped back", "d{0} = flip(g)"),
    "Repeat": (
        "a repeat: the copies' gradients are summed",
        "d{0} = Σ over the copies of g",
    ),
    "Embedding": (
        "an embedding lookup: each looked-up row of the table gets the gradient "
        "of its output rows, summed when an index repeats",
        "d{0}[k] = Σ_(i: {1}_i = k) g_i",
    ),
    # convolution and pooling
    "Convolution": (
        "a convolution: the input's gradient is g convolved back with the "
        "flipped kernels, the kernel's is the input correlated with g",
        "d{0} = conv_transpose(g, {1});  d{1} = correlate({0}, g);  d{2} = Σ g",
    ),
    "MaxPool2D": (
        "a max pool: each window's maximum gets the gradient",
        "d{0} = g at each window's argmax",
    ),
    "AvgPool2D": (
        "an average pool: g is spread evenly over each window",
        "d{0} = g / window size",
    ),
    "AdaptiveAvgPool2DMean": ("a global average pool", "d{0} = g / (H·W)"),
    "AdaptiveAvgPool2D": (
        "an adaptive average pool",
        "d{0} = g spread over each window",
    ),
}


class _Names(string.Formatter):
    """Fills ``{0}``... with input names, ``?`` where the op has fewer."""

    def get_value(self, key: Any, args: Any, kwargs: Any) -> Any:
        if isinstance(key, int):
            return args[key] if key < len(args) else "?"
        return "{" + key + "}"


_FORMATTER = _Names()


def rule(
    node: Any, names: list[str], needs: list[bool] | None = None
) -> tuple[str, str]:
    """``(words, formula)`` for ``node``, with its inputs' ``names``; the
    formula leaves out the inputs that need no gradient (``needs``)."""
    kind = type(node).__name__
    words, formula = RULES.get(kind, _generic(node))
    if needs is not None:
        skip = {f"d{{{i}}}" for i, need in enumerate(needs) if not need}
        kept = [
            c for c in formula.split(";  ") if not c.startswith(tuple(skip) or "\0")
        ]
        formula = ";  ".join(kept) or "(no input needs a gradient)"
    formula = formula.replace("d{", "∂L/∂{")
    return _FORMATTER.format(words, *names), _FORMATTER.format(formula, *names)


def _generic(node: Any) -> tuple[str, str]:
    op = op_name(node)
    return (
        f"{op}: its backward rule maps g to each input's gradient",
        "d{0} = (∂out/∂{0})ᵀ g",
    )


def op_name(node: Any) -> str:
    """A short snake_case name for the op: ``Linear`` -> ``linear``,
    ``MseLoss`` -> ``mse_loss``, ``MaxPool2D`` -> ``max_pool2d``; a custom
    ``autograd.Function`` by its class, without ``Backward``."""
    kind = type(node).__name__
    if kind == "AccumulateGrad":
        return "leaf"
    if kind in ("Op", "Node") or not kind[:1].isupper():
        kind = node.name()
    kind = re.sub(r"Backward\d*$", "", kind) or kind
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", kind).lower()
