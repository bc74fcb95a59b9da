"""Matrix products: matmul (1-D, 2-D, batched) and linear (``x @ W.T + b``).

``matmul`` follows NumPy's (and PyTorch's) rules: a 1-D operand is treated as a
row or column vector and that dimension is removed from the result; batch
dimensions broadcast. The backward rule promotes 1-D operands to matrices so a
single formula covers every case, then sums the gradient over broadcast batch
dimensions.
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor
from ._util import binary_operands, unbroadcast


class Matmul(Op):
    _name = "MmBackward0"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad_output):
        # d(AB)/dA = G B^T, d(AB)/dB = A^T G (1-D operands promoted to matrices)
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g = grad_output
        # b's column first, so that a 1-D @ 1-D (0-d) gradient becomes (1, 1)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        grad_a = grad_b = None
        if ctx._next[0] is not None:
            grad_a = g @ xp.swapaxes(b2, -1, -2)
            grad_a = unbroadcast(grad_a, a2.shape).reshape(a.shape)
        if ctx._next[1] is not None:
            grad_b = xp.swapaxes(a2, -1, -2) @ g
            grad_b = unbroadcast(grad_b, b2.shape).reshape(b.shape)
        return grad_a, grad_b


class Linear(Op):
    _name = "AddmmBackward0"

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        # x: (..., in), weight: (out, in), bias: (out,)
        ctx.save_for_backward(x, weight)
        out = x @ weight.T
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # y = x W^T + b: dy/dx = G W, dy/dW = G^T x, dy/db = sum of G over rows
        x, weight = ctx.saved_tensors
        next_x, next_w = ctx._next[0], ctx._next[1]
        grad_x = grad_w = grad_b = None
        if next_x is not None:
            grad_x = grad_output @ weight
        if next_w is not None or len(ctx._next) > 2:
            g2 = grad_output.reshape(-1, grad_output.shape[-1])
            if next_w is not None:
                grad_w = g2.T @ x.reshape(-1, x.shape[-1])
            if len(ctx._next) > 2 and ctx._next[2] is not None:
                grad_b = xp.add.reduce(g2, axis=0)
        if len(ctx._next) > 2:
            return grad_x, grad_w, grad_b
        return grad_x, grad_w


class LinearNoBias(Linear):
    _name = "MmBackward0"


def matmul(input: Any, other: Any) -> Tensor:
    """Matrix product with NumPy/PyTorch broadcasting rules."""
    a, b = binary_operands(input, other, "matmul")
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError(
            "matmul: both arguments to matmul need to be at least 1D, but they "
            f"are {a._data.ndim}D and {b._data.ndim}D"
        )
    ka = a._data.shape[-1]
    kb = b._data.shape[-2] if b._data.ndim > 1 else b._data.shape[0]
    if ka != kb:
        raise RuntimeError(
            f"matmul: `input.shape[-1]` is {ka} but `other` has {kb} rows: shapes "
            f"{tuple(a._data.shape)} and {tuple(b._data.shape)} cannot be "
            "multiplied"
        )
    return Matmul.apply(a, b)


def mm(input: Tensor, mat2: Tensor) -> Tensor:
    """Product of two matrices (both 2-D)."""
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(
            f"mm: expected 2-D tensors, got {input._data.ndim}-D and "
            f"{mat2._data.ndim}-D"
        )
    return matmul(input, mat2)


def bmm(input: Tensor, mat2: Tensor) -> Tensor:
    """Batched product of two 3-D tensors."""
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(
            f"bmm: expected 3-D tensors, got {input._data.ndim}-D and "
            f"{mat2._data.ndim}-D"
        )
    return matmul(input, mat2)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``, as ``nn.Linear`` computes it.

    Shape:
        input: (*, in_features); weight: (out_features, in_features);
        bias: (out_features,); output: (*, out_features).
    """
    x = input._data
    w = weight._data
    if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise RuntimeError(
            f"linear: `input.shape[-1]` is {x.shape[-1] if x.ndim else None} but "
            f"`weight.shape[1]` is {w.shape[1] if w.ndim == 2 else None} "
            f"(in_features); input shape {tuple(x.shape)}, weight shape "
            f"{tuple(w.shape)}"
        )
    if x.dtype != w.dtype:
        raise RuntimeError(
            f"linear: `input` is {input.dtype.name} but `weight` is "
            f"{weight.dtype.name}; convert one (e.g. input.float() or "
            "model.double())"
        )
    if bias is None:
        return LinearNoBias.apply(input, weight)
    return Linear.apply(input, weight, bias)
