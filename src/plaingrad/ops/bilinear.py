"""``bilinear``: the bilinear form ``x1^T A x2 + b`` of ``nn.Bilinear``.

It is one ``einsum`` (``'...i,oij,...j->...o'``) plus the bias, so its gradients
are einsum's; the leading dimensions of both inputs must match exactly, as in
PyTorch (they do not broadcast).
"""

from __future__ import annotations

from ..tensor import Tensor
from . import elementwise
from .einsum import einsum

_C_NAMES = {"float16": "c10::Half", "float32": "float", "float64": "double"}


def bilinear(
    input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None
) -> Tensor:
    """``y[..., o] = sum_ij input1[..., i] weight[o, i, j] input2[..., j] + bias[o]``.

    Args:
        input1: (*, in1_features).
        input2: (*, in2_features), the same leading dimensions as input1.
        weight: (out_features, in1_features, in2_features).
        bias: (out_features) or None.

    Returns:
        (*, out_features).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.ones(1, 2, 2)
        >>> x = torch.tensor([1., 2.])
        >>> torch.nn.functional.bilinear(x, x, w).tolist()
        [9.0]
    """
    s1, s2 = input1._data.shape, input2._data.shape
    if len(s1) != len(s2):
        raise RuntimeError(
            f"bilinear(): input dimensions do not match: got {len(s1)} and {len(s2)}"
        )
    for dim, (a, b) in enumerate(zip(s1[:-1], s2[:-1])):
        if a != b:
            raise RuntimeError(
                f"bilinear(): input batch dimensions do not match at dim {dim}: got "
                f"{a} and {b}"
            )
    if weight._data.ndim != 3:
        raise RuntimeError(
            "bilinear(): expected a 3-D weight (out_features, in1_features, "
            f"in2_features), got shape {list(weight._data.shape)}"
        )
    out_features, in1, in2 = weight._data.shape
    for name, got, expected in (("input1", s1, in1), ("input2", s2, in2)):
        if not got or got[-1] != expected:
            raise RuntimeError(
                f"bilinear(): {name} size does not match weight size: got "
                f"{got[-1] if got else 0} but expected {expected}"
            )
    if bias is not None and (bias._data.ndim == 0 or bias.shape[0] != out_features):
        raise RuntimeError(
            "bilinear(): bias size does not match weight size: got "
            f"{bias.shape[0] if bias._data.ndim else 0} but expected {out_features}"
        )
    operands = [("input1", input1), ("input2", input2), ("weight", weight)]
    if bias is not None:
        operands.append(("bias", bias))
    if len({t._data.dtype for _, t in operands}) > 1:
        listed = ", ".join(
            f"{name}: {_C_NAMES.get(t.dtype.name, t.dtype.name)}"
            for name, t in operands
        )
        raise RuntimeError(f"All tensors must have the same dtype, got {listed}")
    out = einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else elementwise.add(out, bias)
