"""``MultiheadAttention``, built on ``scaled_dot_product_attention``.

The layer is a composition of differentiable ops (``linear``, ``matmul``,
``softmax`` and ``plaingrad.ops.attention``), so autograd derives its backward
pass; nothing here has a backward rule of its own. It follows PyTorch's slow
path (``F.multi_head_attention_forward``) step by step, including its parameter
names and layout, so a PyTorch state dict loads into it key for key and the
same masks mean the same thing.

Two mask conventions meet here, as in PyTorch: in
``scaled_dot_product_attention`` a bool ``attn_mask`` is True where a query may
attend, while in ``MultiheadAttention`` a bool ``attn_mask`` or
``key_padding_mask`` is True where it may *not*. Float masks are added to the
scores in both.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from .. import _dtype
from ..creation import zeros
from ..ops.attention import scaled_dot_product_attention
from ..ops.binary import masked_fill
from ..ops.dropout import dropout
from ..ops.linalg import linear, matmul
from ..ops.reduction import softmax
from ..tensor import Tensor
from ..warnings import PlaingradWarning
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter


class NonDynamicallyQuantizableLinear(Linear):
    """A ``Linear`` under the name PyTorch gives ``MultiheadAttention.out_proj``.

    PyTorch uses the subclass to keep dynamic quantisation away from the
    output projection; here it only carries the name, so reprs match.
    """


def _canonical_mask(
    mask: Tensor | None,
    name: str,
    dtype: Any,
    other: Tensor | None = None,
    other_name: str = "",
) -> Tensor | None:
    """A bool mask (True = ignore) as a float mask of -inf and 0.

    As PyTorch, warns when ``other`` (the mask it will be merged with) is of
    another dtype.
    """
    if mask is None:
        return None
    if mask.dtype != _dtype.bool_ and not mask.dtype.is_floating_point:
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if other is not None and other.dtype != mask.dtype:
        warnings.warn(
            f"Support for mismatched {name} and {other_name} is deprecated. Use "
            f"same type for both instead (got {mask.dtype.name} and "
            f"{other.dtype.name}).",
            PlaingradWarning,
            stacklevel=4,
        )
    if mask.dtype == _dtype.bool_:
        return masked_fill(zeros(*mask.shape, dtype=dtype), mask, -math.inf)
    return mask


def _check_mha_shapes(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None,
    attn_mask: Tensor | None,
    num_heads: int,
) -> bool:
    """Check the ranks of the inputs; True when they are batched (3-D)."""
    if query.dim() not in (2, 3):
        raise AssertionError(
            "MultiheadAttention: query should be unbatched 2D or batched 3D tensor "
            f"but received {query.dim()}-D query tensor"
        )
    batched = query.dim() == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.dim() != query.dim() or value.dim() != query.dim():
        raise AssertionError(
            f"MultiheadAttention: for {kind} `query`, expected `key` and `value` to "
            f"be {query.dim()}-D but found {key.dim()}-D and {value.dim()}-D "
            "tensors respectively"
        )
    if key_padding_mask is not None and key_padding_mask.dim() != query.dim() - 1:
        raise AssertionError(
            f"MultiheadAttention: for {kind} `query`, expected `key_padding_mask` "
            f"to be `None` or {query.dim() - 1}-D but found "
            f"{key_padding_mask.dim()}-D tensor instead"
        )
    if attn_mask is not None and attn_mask.dim() not in (2, 3):
        raise AssertionError(
            f"MultiheadAttention: for {kind} `query`, expected `attn_mask` to be "
            f"`None`, 2-D or 3-D but found {attn_mask.dim()}-D tensor instead"
        )
    return batched


class MultiheadAttention(Module):
    """Attention over ``num_heads`` subspaces of the embedding, as PyTorch's.

    Parameters, in PyTorch's names: ``in_proj_weight`` (3E, E) stacks the
    query, key and value projections (or, when ``kdim`` or ``vdim`` differ from
    ``embed_dim``, ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim) and
    ``v_proj_weight`` (E, vdim)); ``in_proj_bias`` (3E); and ``out_proj``, a
    Linear (E, E). Projection weights start from ``xavier_uniform_``, biases
    from zero.

    Args:
        embed_dim: the model width E.
        num_heads: the number of heads; must divide ``embed_dim``.
        dropout: dropout on the attention weights (in training).
        bias: learn the projection biases.
        add_bias_kv: not supported yet.
        add_zero_attn: not supported yet.
        kdim: the width of ``key`` (default E).
        vdim: the width of ``value`` (default E).
        batch_first: inputs and outputs are (batch, seq, feature) instead of
            (seq, batch, feature).

    Shape:
        query: (L, N, E), or (N, L, E) with ``batch_first``, or (L, E);
        key: (S, N, kdim); value: (S, N, vdim); output: like ``query``;
        weights: (N, L, S), or (N, heads, L, S) with
        ``average_attn_weights=False``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.MultiheadAttention(4, 2)
        MultiheadAttention(
          (out_proj): NonDynamicallyQuantizableLinear(in_features=4, out_features=4, bias=True)
        )
    """  # noqa: E501

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(
                "MultiheadAttention: embed_dim and num_heads must be greater than "
                f"0, got embed_dim={embed_dim} and num_heads={num_heads} instead"
            )
        if add_bias_kv:
            raise NotImplementedError(
                "MultiheadAttention: `add_bias_kv=True` is not supported yet"
            )
        if add_zero_attn:
            raise NotImplementedError(
                "MultiheadAttention: `add_zero_attn=True` is not supported yet"
            )
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != embed_dim:
            raise AssertionError(
                f"MultiheadAttention: embed_dim must be divisible by num_heads, got "
                f"embed_dim={embed_dim} and num_heads={num_heads}"
            )
        dtype = dtype or _dtype.get_default_dtype()
        kw = {"dtype": dtype, "device": device}
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(zeros(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(zeros(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(zeros(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(zeros(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(zeros(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(
            embed_dim, embed_dim, bias=bias, **kw
        )
        self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)

    def _project(
        self, query: Tensor, key: Tensor, value: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        if self.in_proj_bias is None:
            b_q = b_k = b_v = None
        else:
            b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Attend from ``query`` to ``key``/``value``.

        Args:
            query: the queries.
            key: the keys.
            value: the values.
            key_padding_mask: (N, S); True (or -inf) marks keys to ignore.
            need_weights: also return the attention weights.
            attn_mask: (L, S) or (N * heads, L, S); True (or -inf) marks pairs
                that may not attend.
            average_attn_weights: average the returned weights over heads.
            is_causal: a hint that ``attn_mask`` is the causal mask; it must
                still be given.

        Returns:
            ``(output, weights)``; ``weights`` is None unless ``need_weights``.
        """
        batched = _check_mha_shapes(
            query, key, value, key_padding_mask, attn_mask, self.num_heads
        )
        if self.batch_first and batched:
            query, key, value = (x.transpose(0, 1) for x in (query, key, value))
        if not batched:
            query, key, value = (x.unsqueeze(1) for x in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        length, batch, embed_dim = query.shape
        source = key.shape[0]
        heads, head_dim = self.num_heads, self.head_dim
        if embed_dim != self.embed_dim:
            raise AssertionError(
                f"MultiheadAttention: was expecting embedding dimension of "
                f"{self.embed_dim}, but got {embed_dim}"
            )
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(
                f"MultiheadAttention: key's sequence and batch dims "
                f"{tuple(key.shape[:2])} do not match value's "
                f"{tuple(value.shape[:2])}"
            )
        mask = self._merged_mask(
            key_padding_mask,
            attn_mask,
            query.dtype,
            (length, batch, source),
            use_causal=is_causal,
            need_weights=need_weights,
        )
        use_causal = is_causal and mask is None

        q, k, v = self._project(query, key, value)  # (L, N, E), (S, N, E) x2
        q = q.reshape(length, batch * heads, head_dim).transpose(0, 1)
        k = k.reshape(source, batch * heads, head_dim).transpose(0, 1)
        v = v.reshape(source, batch * heads, head_dim).transpose(0, 1)
        dropout_p = self.dropout if self.training else 0.0

        if need_weights:
            # (batch * heads, L, S)
            scores = matmul(q * math.sqrt(1.0 / head_dim), k.transpose(-2, -1))
            if mask is not None:
                scores = scores + mask
            weights = softmax(scores, dim=-1)
            if dropout_p > 0.0:
                weights = dropout(weights, dropout_p)
            out = matmul(weights, v)  # (batch * heads, L, head_dim)
            out = out.transpose(0, 1).reshape(length * batch, embed_dim)
            weights = weights.reshape(batch, heads, length, source)
            if average_attn_weights:
                weights = weights.mean(dim=1)
        else:
            if mask is not None:
                if mask.shape[0] == 1:
                    mask = mask.unsqueeze(0)  # (1, 1, L, S)
                else:
                    mask = mask.reshape(batch, heads, -1, source)
            out = scaled_dot_product_attention(
                q.reshape(batch, heads, length, head_dim),
                k.reshape(batch, heads, source, head_dim),
                v.reshape(batch, heads, source, head_dim),
                mask,
                dropout_p,
                use_causal,
            )  # (batch, heads, L, head_dim)
            out = out.permute(2, 0, 1, 3).reshape(length * batch, embed_dim)
            weights = None

        # As in PyTorch, the output projection is applied as a function of
        # out_proj's parameters, not by calling the module: its hooks never
        # see the (L * batch, E) rows in (L, batch) order.
        proj = self.out_proj
        out = linear(out, proj.weight, proj.bias).reshape(length, batch, embed_dim)
        if not batched:
            out = out.squeeze(1)
            if weights is not None:
                weights = weights.squeeze(0)
        if self.batch_first and batched:
            out = out.transpose(0, 1)
        return out, weights

    def _merged_mask(
        self,
        key_padding_mask: Tensor | None,
        attn_mask: Tensor | None,
        dtype: Any,
        sizes: tuple[int, int, int],
        use_causal: bool,
        need_weights: bool,
    ) -> Tensor | None:
        """One float mask (1 or batch * heads, L, S) from the two given."""
        length, batch, source = sizes
        key_padding_mask = _canonical_mask(
            key_padding_mask, "key_padding_mask", dtype, attn_mask, "attn_mask"
        )
        if use_causal and attn_mask is None:
            raise RuntimeError(
                "MultiheadAttention: need `attn_mask` if specifying the is_causal "
                "hint. You may use the Transformer module method "
                "`generate_square_subsequent_mask` to create this mask."
            )
        if use_causal and key_padding_mask is None and not need_weights:
            # scaled_dot_product_attention builds the causal mask itself.
            return None
        attn_mask = _canonical_mask(attn_mask, "attn_mask", dtype)
        if attn_mask is not None:
            if attn_mask.dim() == 2:
                if tuple(attn_mask.shape) != (length, source):
                    raise RuntimeError(
                        f"MultiheadAttention: the shape of the 2D attn_mask is "
                        f"{tuple(attn_mask.shape)}, but should be {(length, source)}."
                    )
                attn_mask = attn_mask.unsqueeze(0)
            else:
                expected = (batch * self.num_heads, length, source)
                if tuple(attn_mask.shape) != expected:
                    raise RuntimeError(
                        f"MultiheadAttention: the shape of the 3D attn_mask is "
                        f"{tuple(attn_mask.shape)}, but should be {expected}."
                    )
        if key_padding_mask is None:
            return attn_mask
        if tuple(key_padding_mask.shape) != (batch, source):
            raise AssertionError(
                f"MultiheadAttention: expected `key_padding_mask` of shape "
                f"{(batch, source)}, but got {tuple(key_padding_mask.shape)}"
            )
        key_padding_mask = (
            key_padding_mask.reshape(batch, 1, 1, source)
            .expand(-1, self.num_heads, -1, -1)
            .reshape(batch * self.num_heads, 1, source)
        )
        if attn_mask is None:
            return key_padding_mask
        return attn_mask + key_padding_mask


__all__ = [
    "MultiheadAttention",
    "NonDynamicallyQuantizableLinear",
    "scaled_dot_product_attention",
]
