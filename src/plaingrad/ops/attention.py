"""``scaled_dot_product_attention``: softmax(Q K^T * scale + mask) V.

A composition of differentiable ops (``matmul``, ``where``, ``softmax``,
``dropout``), so autograd derives the backward pass. It follows PyTorch's
reference ("math") implementation, including its "safe softmax": a query whose
every score is masked gets zero weights rather than NaN. ``MultiheadAttention``
(in ``plaingrad.nn``) calls it when no attention weights are wanted.
"""

from __future__ import annotations

import math

from .. import _dtype
from ..creation import ones
from ..tensor import Tensor
from .binary import masked_fill
from .dropout import dropout
from .elementwise import where
from .linalg import matmul
from .reduction import softmax


def _check_sdpa_args(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None,
    dropout_p: float,
    is_causal: bool,
) -> None:
    op = "scaled_dot_product_attention"
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise RuntimeError(
            f"{op}: expected `query`, `key` and `value` to all be at least 2 "
            f"dimensional, but got query.dim: {query.dim()} key.dim: {key.dim()} "
            f"and value.dim: {value.dim()} instead"
        )
    if not query.dtype == key.dtype == value.dtype:
        raise RuntimeError(
            f"{op}: expected `query`, `key` and `value` to have the same dtype, but "
            f"got query.dtype: {query.dtype.name} key.dtype: {key.dtype.name} and "
            f"value.dtype: {value.dtype.name} instead"
        )
    if not query.dtype.is_floating_point:
        raise RuntimeError(
            f"{op}: expected floating point `query`, `key` and `value`, got "
            f"{query.dtype.name}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(
            f"{op}: `query.shape[-1]` is {query.shape[-1]} but `key.shape[-1]` is "
            f"{key.shape[-1]} (the embedding size E must match)"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"{op}: `key.shape[-2]` is {key.shape[-2]} but `value.shape[-2]` is "
            f"{value.shape[-2]} (the source length S must match)"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise RuntimeError(
            f"{op}: dropout probability has to be between 0 and 1, but got {dropout_p}"
        )
    if attn_mask is not None:
        if is_causal:
            raise RuntimeError(
                f"{op}: explicit `attn_mask` should not be set when is_causal=True"
            )
        if attn_mask.dtype != _dtype.bool_ and attn_mask.dtype != query.dtype:
            raise RuntimeError(
                f"{op}: expected `attn_mask` dtype to be bool or to match query "
                f"dtype, but got attn_mask.dtype: {attn_mask.dtype.name} and "
                f"query.dtype: {query.dtype.name} instead"
            )


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value``, as PyTorch's.

    Args:
        query: the queries.
        key: the keys.
        value: the values.
        attn_mask: a bool mask, True where a query may attend to a key, or a
            float mask of ``query``'s dtype added to the scores; broadcasts
            with (..., L, S).
        dropout_p: the probability of dropping an attention weight.
        is_causal: attend only to keys at or before the query's position (the
            mask ``ones(L, S).tril()``); excludes ``attn_mask``.
        scale: the factor on the scores; default ``1 / sqrt(E)``.
        enable_gqa: grouped-query attention; not supported yet.

    Returns:
        The attended values. A query whose every score is masked gets zeros
        (PyTorch's "safe softmax"), not NaN.

    Shape:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev);
        output: (..., L, Ev). Leading dimensions broadcast.

    Example:
        >>> import plaingrad as torch
        >>> import plaingrad.nn.functional as F
        >>> q = k = v = torch.ones(1, 2, 3, 4)
        >>> tuple(F.scaled_dot_product_attention(q, k, v, is_causal=True).shape)
        (1, 2, 3, 4)
    """
    if enable_gqa:
        raise NotImplementedError(
            "scaled_dot_product_attention: `enable_gqa=True` is not supported yet"
        )
    _check_sdpa_args(query, key, value, attn_mask, dropout_p, is_causal)
    length, source = query.shape[-2], key.shape[-2]
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])

    scores = matmul(query, key.transpose(-2, -1)) * scale  # (..., L, S)
    if is_causal:
        allowed = ones(length, source, dtype=_dtype.bool_).tril()
        scores = where(allowed, scores, -math.inf)
    if attn_mask is not None:
        if attn_mask.dtype == _dtype.bool_:
            scores = where(attn_mask, scores, -math.inf)
        else:
            scores = scores + attn_mask

    # A row of -inf has no softmax; PyTorch gives it zero weights (and zero
    # gradients) instead of the NaN a plain softmax would.
    dead = scores.eq(-math.inf).all(dim=-1, keepdim=True)
    if bool(dead.any()):
        scores = masked_fill(scores, dead, 0.0)
        weights = masked_fill(softmax(scores, dim=-1), dead, 0.0)
    else:
        weights = softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return matmul(weights, value)
