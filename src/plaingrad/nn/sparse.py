"""``Embedding``: a lookup table of learnable vectors, one row per index.

The weight (num_embeddings, embedding_dim) starts from N(0, 1), as in
PyTorch, with the ``padding_idx`` row zeroed; that row receives no gradient.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype
from ..autograd.grad_mode import no_grad
from ..creation import empty
from ..ops import embedding as F
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Embedding(Module):
    """A table of ``num_embeddings`` vectors of size ``embedding_dim``.

    Args:
        num_embeddings: the number of rows (the vocabulary size).
        embedding_dim: the size of each vector.
        padding_idx: a row that stays zero and gets no gradient.
        max_norm: rows looked up with a larger norm are rescaled, in place, to
            this norm.
        norm_type: the p of the p-norm for ``max_norm`` (default 2).
        scale_grad_by_freq: divide gradients by the indices' batch frequency.
        sparse: sparse gradients; not supported (must be False).

    Shape:
        input: (*) int64 indices; output: (*, embedding_dim).

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.Embedding(10, 3, padding_idx=0)
        Embedding(10, 3, padding_idx=0)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Tensor | None = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None and not (
            -num_embeddings <= padding_idx < num_embeddings
        ):
            # PyTorch's class (it asserts), with its message first.
            raise AssertionError(
                "Padding_idx must be within num_embeddings: Embedding got "
                f"padding_idx={padding_idx} for num_embeddings={num_embeddings} "
                f"(expected -{num_embeddings} <= padding_idx < {num_embeddings})"
            )
        self.padding_idx = F._padding_idx(padding_idx, num_embeddings, "Embedding")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        if _weight is None:
            dtype = dtype or _dtype.get_default_dtype()
            self.weight = Parameter(
                empty(num_embeddings, embedding_dim, dtype=dtype, device=device),
                requires_grad=not _freeze,
            )
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(
                    "Embedding: the shape of `_weight` must be (num_embeddings, "
                    f"embedding_dim) = ({num_embeddings}, {embedding_dim}), got "
                    f"{tuple(_weight.shape)}"
                )
            self.weight = Parameter(_weight, requires_grad=not _freeze)
        self.sparse = sparse

    def reset_parameters(self) -> None:
        """Redraw the weight from N(0, 1) and zero the padding row."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight._data[self.padding_idx] = 0
                self.weight._version += 1

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(
            input,
            self.weight,
            self.padding_idx,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.sparse,
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse is not False:
            s += ", sparse=True"
        return s

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (shared, not copied).

        Args:
            embeddings: the (num_embeddings, embedding_dim) table.
            freeze: keep the weight fixed (``requires_grad=False``).

        Example:
            >>> import plaingrad as torch
            >>> table = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
            >>> torch.nn.Embedding.from_pretrained(table)(torch.tensor([1]))
            tensor([[3., 4.]])
        """
        if embeddings.dim() != 2:
            raise ValueError(
                "Embedding.from_pretrained: `embeddings` must be 2-D, got shape "
                f"{tuple(embeddings.shape)}"
            )
        rows, cols = embeddings.shape
        return cls(
            rows,
            cols,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
            _weight=embeddings,
            _freeze=freeze,
        )
