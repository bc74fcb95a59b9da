"""The Transformer of "Attention Is All You Need", with PyTorch's module tree.

``TransformerEncoderLayer`` and ``TransformerDecoderLayer`` are residual
blocks of ``MultiheadAttention`` and a two-layer feed-forward network, each
followed (or, with ``norm_first``, preceded) by ``LayerNorm``;
``TransformerEncoder`` and ``TransformerDecoder`` stack deep copies of one
layer; ``Transformer`` joins an encoder and a decoder. Submodules carry
PyTorch's names (``self_attn``, ``linear1``, ``norm1``, ``dropout1``,
``multihead_attn``, ``layers.0`` ...), so state dicts map one to one.

Only PyTorch's reference ("slow") path exists here: there is no fused
inference kernel and no nested-tensor packing of padded batches, so
``enable_nested_tensor`` is accepted and ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _dtype
from ..creation import tensor
from ..ops.activation import gelu
from ..ops.elementwise import relu
from ..tensor import Tensor
from . import init
from .attention import MultiheadAttention, _canonical_mask
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm


def _activation_fn(activation: str | Callable[[Tensor], Tensor]) -> Any:
    if not isinstance(activation, str):
        return activation
    if activation == "relu":
        return relu
    if activation == "gelu":
        return gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _square_subsequent_mask(size: int, dtype: Any = None) -> Tensor:
    dtype = dtype or _dtype.get_default_dtype()
    upper = np.triu(np.full((size, size), -np.inf), k=1)
    return tensor(upper.astype(dtype.np), dtype=dtype)


def _seq_len(src: Tensor, batch_first: bool) -> int:
    if src.dim() == 2:
        return src.shape[0]  # unbatched: (S, E)
    return src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(
    mask: Tensor | None, is_causal: bool | None, size: int | None
) -> bool:
    """``is_causal``, or when None, whether ``mask`` is the causal mask."""
    if is_causal is not None or mask is None:
        return is_causal is True
    size = size if size is not None else mask.shape[-2]
    causal = _square_subsequent_mask(size).numpy().astype(mask.dtype.np)
    if tuple(mask.shape) != causal.shape:
        return False
    return bool((mask.numpy() == causal).all())


def _check_layer_args(d_model: int, nhead: int, dropout: float, op: str) -> None:
    if not 0.0 <= dropout <= 1.0:
        raise ValueError(
            f"{op}: dropout probability has to be between 0 and 1, but got {dropout}"
        )
    if d_model <= 0 or nhead <= 0:
        raise ValueError(
            f"{op}: d_model and nhead must be greater than 0, got d_model={d_model} "
            f"and nhead={nhead}"
        )


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward network, each in a residual block.

    Args:
        d_model: the model width.
        nhead: the number of attention heads.
        dim_feedforward: the hidden width of the feed-forward network.
        dropout: the dropout probability everywhere in the layer.
        activation: ``"relu"``, ``"gelu"`` or a callable (a Module is
            registered as the child ``activation``).
        layer_norm_eps: the LayerNorms' eps.
        batch_first: inputs are (batch, seq, feature).
        norm_first: normalise before each block (pre-LN) instead of after.
        bias: learn biases in the linear layers and LayerNorms.

    Shape:
        src: (S, N, E), or (N, S, E) with ``batch_first``, or (S, E);
        output: the same.

    Example:
        >>> import plaingrad as torch
        >>> layer = torch.nn.TransformerEncoderLayer(d_model=8, nhead=2)
        >>> tuple(layer(torch.zeros(5, 3, 8)).shape)
        (5, 3, 8)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        _check_layer_args(d_model, nhead, dropout, "TransformerEncoderLayer")
        kw = {"device": device, "dtype": dtype}
        super().__init__()
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation_fn(activation)

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        """Encode ``src``; masks as in ``MultiheadAttention`` (True = ignore)."""
        src_key_padding_mask = _canonical_mask(
            src_key_padding_mask,
            "src_key_padding_mask",
            src.dtype,
            src_mask,
            "src_mask",
        )
        src_mask = _canonical_mask(src_mask, "src_mask", src.dtype)
        x = src
        if self.norm_first:
            x = x + self._sa_block(
                self.norm1(x), src_mask, src_key_padding_mask, is_causal
            )
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(
                x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal)
            )
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(
        self,
        x: Tensor,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        is_causal: bool,
    ) -> Tensor:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention, attention to the encoder's memory, then a feed-forward net.

    Args are those of ``TransformerEncoderLayer``.

    Shape:
        tgt: (T, N, E); memory: (S, N, E); output: (T, N, E) (batch first
        with ``batch_first``).

    Example:
        >>> import plaingrad as torch
        >>> layer = torch.nn.TransformerDecoderLayer(d_model=8, nhead=2)
        >>> tuple(layer(torch.zeros(4, 3, 8), torch.zeros(6, 3, 8)).shape)
        (4, 3, 8)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        _check_layer_args(d_model, nhead, dropout, "TransformerDecoderLayer")
        kw = {"device": device, "dtype": dtype}
        super().__init__()
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **kw
        )
        self.multihead_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, batch_first=batch_first, bias=bias, **kw
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation_fn(activation)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Decode ``tgt`` against ``memory``; masks True (or -inf) = ignore."""
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(
                self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal
            )
            x = x + self._mha_block(
                self.norm2(x),
                memory,
                memory_mask,
                memory_key_padding_mask,
                memory_is_causal,
            )
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(
                x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            )
            x = self.norm2(
                x
                + self._mha_block(
                    x, memory, memory_mask, memory_key_padding_mask, memory_is_causal
                )
            )
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(
        self,
        x: Tensor,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        is_causal: bool,
    ) -> Tensor:
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout1(x)

    def _mha_block(
        self,
        x: Tensor,
        memory: Tensor,
        attn_mask: Tensor | None,
        key_padding_mask: Tensor | None,
        is_causal: bool,
    ) -> Tensor:
        x = self.multihead_attn(
            x,
            memory,
            memory,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


def _clones(module: Module, n: int) -> ModuleList:
    import copy

    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer``, then an optional norm.

    Args:
        encoder_layer: the layer to copy (each copy has its own weights).
        num_layers: the number of layers.
        norm: a final normalisation module, or None.
        enable_nested_tensor: accepted for PyTorch compatibility; ignored.
        mask_check: accepted for PyTorch compatibility; ignored.

    NOTE: PyTorch in eval mode under ``no_grad`` with ``batch_first`` and a
    ``src_key_padding_mask`` packs the batch into a nested tensor and returns
    zeros at padded positions; this reference path returns their (unused)
    values, as PyTorch does in training.

    Example:
        >>> import plaingrad as torch
        >>> layer = torch.nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
        >>> encoder = torch.nn.TransformerEncoder(layer, num_layers=2)
        >>> tuple(encoder(torch.zeros(5, 3, 8)).shape)
        (5, 3, 8)
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        # No nested-tensor fast path here (see the module docstring).
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        """Run ``src`` through every layer; ``is_causal=None`` detects a causal
        ``mask`` (``Transformer.generate_square_subsequent_mask``)."""
        src_key_padding_mask = _canonical_mask(
            src_key_padding_mask, "src_key_padding_mask", src.dtype, mask, "mask"
        )
        mask = _canonical_mask(mask, "mask", src.dtype)
        batch_first = self.layers[0].self_attn.batch_first
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        output = src
        for layer in self.layers:
            output = layer(
                output,
                src_mask=mask,
                is_causal=is_causal,
                src_key_padding_mask=src_key_padding_mask,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer``, then an optional norm.

    Example:
        >>> import plaingrad as torch
        >>> layer = torch.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16)
        >>> decoder = torch.nn.TransformerDecoder(layer, num_layers=2)
        >>> tuple(decoder(torch.zeros(4, 3, 8), torch.zeros(6, 3, 8)).shape)
        (4, 3, 8)
    """

    def __init__(
        self, decoder_layer: Module, num_layers: int, norm: Module | None = None
    ) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Run ``tgt`` through every layer, each attending to ``memory``."""
        batch_first = self.layers[0].self_attn.batch_first
        seq_len = _seq_len(tgt, batch_first)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq_len)
        output = tgt
        for layer in self.layers:
            output = layer(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=tgt_is_causal,
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """An encoder-decoder Transformer, as PyTorch's ``nn.Transformer``.

    Every parameter with more than one dimension is re-initialised with
    ``xavier_uniform_`` after construction, as PyTorch does.

    Args:
        d_model: the model width.
        nhead: the number of attention heads.
        num_encoder_layers: encoder depth.
        num_decoder_layers: decoder depth.
        dim_feedforward: the feed-forward hidden width.
        dropout: the dropout probability.
        activation: ``"relu"``, ``"gelu"`` or a callable.
        custom_encoder: use this module as the encoder.
        custom_decoder: use this module as the decoder.
        layer_norm_eps: the LayerNorms' eps.
        batch_first: inputs are (batch, seq, feature).
        norm_first: pre-LN layers.
        bias: learn biases in linear layers and LayerNorms.

    Shape:
        src: (S, N, E); tgt: (T, N, E); output: (T, N, E) (batch first with
        ``batch_first``).

    Example:
        >>> import plaingrad as torch
        >>> model = torch.nn.Transformer(8, 2, 1, 1, dim_feedforward=16)
        >>> tuple(model(torch.zeros(5, 3, 8), torch.zeros(4, 3, 8)).shape)
        (4, 3, 8)
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = relu,
        custom_encoder: Any = None,
        custom_decoder: Any = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        layer_args = (
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, **kw),
                num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw),
            )
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, **kw),
                num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw),
            )
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Tensor | None = None,
        tgt_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        tgt_key_padding_mask: Tensor | None = None,
        memory_key_padding_mask: Tensor | None = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Encode ``src``, then decode ``tgt`` against the encoding."""
        batch_dim = 0 if self.batch_first else 1
        if src.dim() == 3 and src.shape[batch_dim] != tgt.shape[batch_dim]:
            raise RuntimeError(
                "Transformer: the batch number of src and tgt must be equal, got "
                f"src of shape {tuple(src.shape)} and tgt of shape "
                f"{tuple(tgt.shape)} (batch_first={self.batch_first})"
            )
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError(
                "Transformer: the feature number of src and tgt must be equal to "
                f"d_model={self.d_model}, got {src.shape[-1]} and {tgt.shape[-1]}"
            )
        memory = self.encoder(
            src,
            mask=src_mask,
            src_key_padding_mask=src_key_padding_mask,
            is_causal=src_is_causal,
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(
        sz: int, device: Any = None, dtype: Any = None
    ) -> Tensor:
        """The causal mask: -inf above the diagonal, 0 elsewhere.

        Example:
            >>> import plaingrad as torch
            >>> torch.nn.Transformer.generate_square_subsequent_mask(3)
            tensor([[0., -inf, -inf],
                    [0., 0., -inf],
                    [0., 0., 0.]])
        """
        return _square_subsequent_mask(sz, dtype)

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)
