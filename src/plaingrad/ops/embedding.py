"""Lookup tables: ``embedding`` (rows of a weight matrix) and ``one_hot``.

``embedding`` is one op (``EmbeddingBackward0``) whose backward rule scatters
the incoming rows back into a zero matrix shaped like the weight, adding where
an index repeats. The ``padding_idx`` row receives no gradient, and
``scale_grad_by_freq`` divides each row's gradient by how often its index
occurs in the batch. ``max_norm`` rescales, in place and outside autograd, each
looked-up row whose norm exceeds it, as PyTorch's ``embedding_renorm_`` does.

For double backward the scatter is an op of its own, ``EmbeddingGrad``, whose
adjoint (a row lookup) is ``Embedding`` itself.
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import Op
from ..backend import xp
from ..tensor import Tensor, _wrap


class Embedding(Op):
    _name = "EmbeddingBackward0"

    @staticmethod
    def forward(ctx, weight, indices, padding_idx, scale_grad_by_freq):
        ctx.indices = indices
        ctx.options = (weight.shape, padding_idx, scale_grad_by_freq)
        return weight[indices]

    @staticmethod
    def backward(ctx, grad_output):
        # d(weight[indices])/dweight: scatter-add the rows back to their indices
        return _embedding_grad(grad_output, ctx.indices, ctx.options)

    @staticmethod
    def backward_graph(ctx, grad_output):
        # the same scatter, as an op (it is linear in the output gradient)
        return EmbeddingGrad.apply(
            grad_output, indices=ctx.indices, options=ctx.options
        )


def _embedding_grad(grad_output: Any, indices: Any, options: tuple) -> Any:
    """The weight gradient: rows scatter-added to their indices (S(G))."""
    shape, padding_idx, scale_grad_by_freq = options
    flat = indices.reshape(-1)
    rows = grad_output.reshape(-1, shape[1])
    if scale_grad_by_freq:
        counts = xp.bincount(flat, minlength=shape[0])
        rows = rows / counts[flat][:, None].astype(rows.dtype)
    grad_weight = xp.zeros(shape, dtype=grad_output.dtype)
    xp.add.at(grad_weight, flat, rows)
    if padding_idx is not None and padding_idx >= 0:
        grad_weight[padding_idx] = 0
    return grad_weight


class EmbeddingGrad(Op):
    """``embedding``'s weight gradient S(G) as an op, for double backward. Its
    adjoint reads rows back: S^T(U) = U[indices], the padding row zeroed.

    NOTE: under ``scale_grad_by_freq`` the true adjoint also divides each row
    by its index's frequency; PyTorch's double backward does not (it reads
    U[indices] unscaled), and plaingrad follows PyTorch (DESIGN.md).
    """

    _name = "EmbeddingDenseBackwardBackward0"

    @staticmethod
    def forward(ctx, grad, *, indices, options):
        ctx.indices, ctx.options = indices, options
        return _embedding_grad(grad, indices, options)

    @staticmethod
    def backward(ctx, grad_output):
        # <S(G), U> = <G, S^T(U)>
        padding_idx = ctx.options[1]
        if padding_idx is not None:
            grad_output = grad_output.copy()
            grad_output[padding_idx] = 0
        return grad_output[ctx.indices]

    @staticmethod
    def backward_graph(ctx, grad_output):
        shape, padding_idx, _ = ctx.options
        if padding_idx is not None:
            keep = xp.ones((shape[0], 1), dtype=grad_output._data.dtype)
            keep[padding_idx] = 0
            grad_output = grad_output * _wrap(keep, None)
        return Embedding.apply(
            grad_output,
            indices=ctx.indices,
            padding_idx=None,
            scale_grad_by_freq=False,
        )


def _padding_idx(padding_idx: int | None, num_embeddings: int, op: str) -> Any:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise ValueError(
            f"{op}: `padding_idx` must be within num_embeddings "
            f"[-{num_embeddings}, {num_embeddings}), got {padding_idx}"
        )
    return padding_idx % num_embeddings


def embedding_renorm_(
    weight: Tensor, input: Tensor, max_norm: float, norm_type: float = 2.0
) -> Tensor:
    """Rescale, in place, each row of ``weight`` indexed by ``input`` whose
    ``norm_type``-norm exceeds ``max_norm`` to norm ``max_norm``."""
    w = weight._data
    rows = xp.unique(input._data.reshape(-1))
    norms = xp.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        # PyTorch's scale: max_norm / (norm + 1e-7)
        scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
        w[rows[big]] *= scale[:, None]
        weight._version += 1
    return weight


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """The rows of ``weight`` at the indices ``input``.

    Args:
        input: an int64 or int32 tensor of indices into ``weight``'s rows.
        weight: the (num_embeddings, embedding_dim) table.
        padding_idx: a row that receives no gradient (it is not zeroed here;
            ``nn.Embedding`` zeroes it at construction).
        max_norm: rescale, in place, each looked-up row whose norm exceeds it.
        norm_type: the p of the p-norm for ``max_norm`` (default 2).
        scale_grad_by_freq: divide gradients by the indices' batch frequency.
        sparse: PyTorch's sparse gradients are not supported (must be False).

    Shape:
        input: (*); weight: (V, D); output: (*, D).

    Example:
        >>> import plaingrad as torch
        >>> w = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
        >>> torch.nn.functional.embedding(torch.tensor([1, 1, 0]), w)
        tensor([[2., 3.],
                [2., 3.],
                [0., 1.]])
    """
    op = "embedding"
    if sparse:
        raise NotImplementedError(
            f"{op}: `sparse=True` (sparse gradients) is not supported"
        )
    indices = input._data
    if indices.dtype.name not in ("int64", "int32"):
        raise RuntimeError(
            f"{op}: expected `input` (the indices) to have dtype int64 or int32, "
            f"got {input.dtype.name}"
        )
    w = weight._data
    if w.ndim != 2:
        raise RuntimeError(
            f"{op}: `weight` must be 2-D (num_embeddings, embedding_dim), got "
            f"shape {tuple(w.shape)}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= w.shape[0]):
        bad = indices.min() if indices.min() < 0 else indices.max()
        raise IndexError(
            f"{op}: index out of range in self: index {int(bad)} for a weight of "
            f"{w.shape[0]} rows"
        )
    padding_idx = _padding_idx(padding_idx, w.shape[0], op)
    if max_norm is not None:
        embedding_renorm_(weight, input, max_norm, norm_type)
    return Embedding.apply(
        weight,
        indices=indices,
        padding_idx=padding_idx,
        scale_grad_by_freq=scale_grad_by_freq,
    )


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """An int64 tensor (*, num_classes) with a 1 at each index of ``tensor``.

    Args:
        tensor: an int64 tensor of class indices.
        num_classes: the number of classes; -1 (the default) takes
            ``tensor.max() + 1``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.functional.one_hot(torch.tensor([0, 2]))
        tensor([[1, 0, 0],
                [0, 0, 1]])
    """
    op = "one_hot"
    a = tensor._data
    if a.dtype.name != "int64":
        raise RuntimeError(
            f"{op}: only applicable to index tensors of type int64 (LongTensor), "
            f"got {tensor.dtype.name}"
        )
    if num_classes == -1:
        if a.size == 0:
            raise RuntimeError(
                f"{op}: can not infer the total number of classes from an empty "
                "tensor; pass `num_classes`"
            )
        num_classes = int(a.max()) + 1
    if a.size and a.min() < 0:
        raise RuntimeError(f"{op}: class values must be non-negative, got {a.min()}")
    if a.size and a.max() >= num_classes:
        raise RuntimeError(
            f"{op}: class values must be smaller than num_classes ({num_classes}), "
            f"got {a.max()}"
        )
    out = (a[..., None] == xp.arange(num_classes)).astype(xp.int64)
    return _wrap(out, None)
