"""Normalisation layers: ``BatchNorm1d/2d``, ``LayerNorm``, ``GroupNorm``, ``RMSNorm``.

Parameter and buffer names, shapes, defaults and reprs are PyTorch's, so a
PyTorch ``state_dict`` loads one to one: ``weight`` (ones) and ``bias``
(zeros) when affine; batch norm's buffers ``running_mean`` (zeros),
``running_var`` (ones) and ``num_batches_tracked`` (int64 0) when it tracks
running statistics.
"""

from __future__ import annotations

from typing import Any

from .. import _dtype
from ..creation import empty, ones, tensor, zeros
from ..ops import normalization as F
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


def _float_dtype(dtype: Any) -> Any:
    return dtype or _dtype.get_default_dtype()


class _BatchNorm(Module):
    """Shared body of the batch norm layers; subclasses check the input's rank."""

    weight: Parameter | None
    bias: Parameter | None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        dtype = _float_dtype(dtype)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(empty(num_features, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", tensor(0))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen."""
        for buffer, value in (
            (self.running_mean, 0),
            (self.running_var, 1),
            (self.num_batches_tracked, 0),
        ):
            if buffer is not None:
                init.constant_(buffer, value)

    def reset_parameters(self) -> None:
        """Reset the running statistics; weight to ones and bias to zeros."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            if self.num_batches_tracked is not None:
                self.num_batches_tracked._data += 1
                self.num_batches_tracked._version += 1
                if self.momentum is None:
                    # a cumulative average: the n-th batch gets weight 1/n
                    factor = 1.0 / float(self.num_batches_tracked._data)
        use_batch = self.training or (
            self.running_mean is None and self.running_var is None
        )
        track = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if track else None,
            self.running_var if track else None,
            self.weight,
            self.bias,
            use_batch,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input, per channel C.

    In training, each channel is normalised with the batch's mean and biased
    variance, and the running statistics are updated (``momentum`` 0.1 by
    default; None keeps a cumulative average). In evaluation the running
    statistics are used.

    Args:
        num_features: C, the number of channels.
        eps: added to the variance (default 1e-5).
        momentum: the weight of each new batch in the running averages.
        affine: learn a per-channel ``weight`` and ``bias``.
        track_running_stats: keep running statistics (else use the batch's
            statistics in evaluation too).
        bias: learn the bias (when affine).

    Shape:
        input: (N, C) or (N, C, L); output: the same.

    Example:
        >>> import plaingrad as torch
        >>> list(torch.nn.BatchNorm1d(3).state_dict())
        ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() not in (2, 3):
            raise ValueError(
                f"BatchNorm1d: expected 2D or 3D input (got {input.dim()}D input)"
            )


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input, per channel C.

    See ``BatchNorm1d`` for the arguments.

    Shape:
        input: (N, C, H, W); output: the same.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(
                f"BatchNorm2d: expected 4D input (got {input.dim()}D input)"
            )


def _shape_tuple(normalized_shape: Any) -> tuple:
    if isinstance(normalized_shape, int):
        return (normalized_shape,)
    return tuple(normalized_shape)


class LayerNorm(Module):
    """Layer normalisation over the trailing ``normalized_shape`` dimensions.

    Args:
        normalized_shape: an int or a tuple of ints: the trailing shape.
        eps: added to the variance (default 1e-5).
        elementwise_affine: learn ``weight`` (ones) and ``bias`` (zeros) of
            shape ``normalized_shape``.
        bias: learn the bias (when elementwise_affine).

    Shape:
        input: (*, *normalized_shape); output: the same.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.LayerNorm(4)
        LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    """

    def __init__(
        self,
        normalized_shape: Any,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        dtype = _float_dtype(dtype)
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            shape = self.normalized_shape
            self.weight = Parameter(empty(shape, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(empty(shape, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight to ones, bias to zeros."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(
            input, self.normalized_shape, self.weight, self.bias, self.eps
        )

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, "
            f"bias={self.bias is not None}"
        )


class GroupNorm(Module):
    """Group normalisation: each sample over groups of channels.

    Args:
        num_groups: the number of groups; it must divide ``num_channels``.
        num_channels: C.
        eps: added to the variance (default 1e-5).
        affine: learn per-channel ``weight`` (ones) and ``bias`` (zeros).
        bias: learn the bias (when affine).

    Shape:
        input: (N, C, *); output: the same.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.GroupNorm(2, 4)
        GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if num_channels % num_groups != 0:
            raise ValueError(
                f"GroupNorm: `num_channels` ({num_channels}) must be divisible by "
                f"`num_groups` ({num_groups})"
            )
        dtype = _float_dtype(dtype)
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = Parameter(empty(num_channels, dtype=dtype, device=device))
            if bias:
                self.bias = Parameter(empty(num_channels, dtype=dtype, device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight to ones, bias to zeros."""
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
            f"affine={self.affine}, bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing dimensions.

    Args:
        normalized_shape: an int or a tuple of ints: the trailing shape.
        eps: added to the mean square; None (the default) is the machine
            epsilon of the input's dtype.
        elementwise_affine: learn a ``weight`` (ones) of shape
            ``normalized_shape``.

    Shape:
        input: (*, *normalized_shape); output: the same.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.RMSNorm(4)
        RMSNorm((4,), eps=None, elementwise_affine=True)
    """

    def __init__(
        self,
        normalized_shape: Any,
        eps: float | None = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape_tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(
                empty(self.normalized_shape, dtype=_float_dtype(dtype), device=device)
            )
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight to ones."""
        if self.elementwise_affine:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}"
        )
