"""Pooling layers: max and average pooling (1-D and 2-D) and their adaptive forms.

Each layer keeps its arguments as given, as PyTorch does, so reprs match:
``MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)``.
A ``stride`` of None means the kernel size. The 1-D average pool stores its
arguments as 1-tuples, again as PyTorch.
"""

from __future__ import annotations

from typing import Any

from ..ops.fold import as_tuple
from ..ops.pooling import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from ..tensor import Tensor
from .module import Module


class _MaxPoolNd(Module):
    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        dilation: Any = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, "
            f"ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """The maximum of each window of a signal (see ``F.max_pool1d``).

    Shape:
        input: (N, C, L) or (C, L); output: (N, C, L_out).
    """

    def forward(self, input: Tensor) -> Any:
        return max_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )


class MaxPool2d(_MaxPoolNd):
    """The maximum of each window of an image (see ``F.max_pool2d``).

    Args:
        kernel_size: window size, int or (kH, kW).
        stride: step between windows; defaults to ``kernel_size``.
        padding: implicit -inf on each side, at most half the kernel.
        dilation: spacing between window elements.
        return_indices: also return the flat index of each maximum.
        ceil_mode: round the number of windows up.

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, H_out, W_out).

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.MaxPool2d(2)
        MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    """

    def forward(self, input: Tensor) -> Any:
        return max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            self.ceil_mode,
            self.return_indices,
        )


class AvgPool1d(Module):
    """The mean of each window of a signal (see ``F.avg_pool1d``).

    Shape:
        input: (N, C, L) or (C, L); output: (N, C, L_out).

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.AvgPool1d(3, stride=2)
        AvgPool1d(kernel_size=(3,), stride=(2,), padding=(0,))
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__()
        name = "AvgPool1d"
        self.kernel_size = as_tuple(kernel_size, 1, name, "kernel_size")
        stride = kernel_size if stride is None or stride == () else stride
        self.stride = as_tuple(stride, 1, name, "stride")
        self.padding = as_tuple(padding, 1, name, "padding")
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )


class AvgPool2d(Module):
    """The mean of each window of an image (see ``F.avg_pool2d``).

    Args:
        kernel_size: window size, int or (kH, kW).
        stride: step between windows; defaults to ``kernel_size``.
        padding: zeros on each side, at most half the kernel.
        ceil_mode: round the number of windows up.
        count_include_pad: count padding zeros in each window's size.
        divisor_override: divide every window's sum by this instead.

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, H_out, W_out).

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.AvgPool2d(2)
        AvgPool2d(kernel_size=2, stride=2, padding=0)
    """

    def __init__(
        self,
        kernel_size: Any,
        stride: Any = None,
        padding: Any = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        return avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (see ``F.adaptive_avg_pool2d``).

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, oH, oW).

    Example:
        >>> import plaingrad as torch
        >>> tuple(torch.nn.AdaptiveAvgPool2d((1, 1))(torch.ones(2, 3, 5, 7)).shape)
        (2, 3, 1, 1)
    """

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size (see ``F.adaptive_max_pool2d``).

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C, oH, oW).
    """

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
