"""Convolution layers (``Conv1d``, ``Conv2d``, ``ConvTranspose2d``) and the
sliding-block layers ``Unfold`` and ``Fold``.

Parameter names, shapes, defaults and reprs are PyTorch's, so a PyTorch
``state_dict`` loads one to one: ``weight`` is (out, in / groups, *kernel) for a
convolution and (in, out / groups, *kernel) for a transposed one, and both it
and ``bias`` start from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in read off
the weight (``kaiming_uniform_`` with ``a=sqrt(5)``).
"""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype
from ..creation import empty
from ..ops.conv import conv1d, conv2d, conv_transpose2d
from ..ops.fold import as_tuple, fold, unfold
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class _ConvNd(Module):
    """What every convolution layer shares: checks, parameters, init, repr."""

    _dims = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        transposed: bool,
        output_padding: Any,
        groups: int,
        bias: bool,
        padding_mode: str,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        name, n = type(self).__name__, self._dims
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(
                f"{name}: groups must be a positive integer, got {groups!r}"
            )
        for arg, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
        ):
            if value % groups:
                raise ValueError(
                    f"{name}: {arg} must be divisible by groups, got {arg}={value} "
                    f"and groups={groups}"
                )
        stride = as_tuple(stride, n, name, "stride")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: Invalid padding string {padding!r}, should be one of "
                    "{'valid', 'same'}"
                )
            if padding == "same" and any(s != 1 for s in stride):
                raise ValueError(
                    f"{name}: padding='same' is not supported for strided "
                    f"convolutions (got stride={stride})"
                )
        else:
            padding = as_tuple(padding, n, name, "padding")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(
                f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                f"{padding_mode!r}"
            )
        if padding_mode != "zeros":
            raise NotImplementedError(
                f"{name}: `padding_mode={padding_mode!r}` is not supported yet"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = as_tuple(kernel_size, n, name, "kernel_size")
        self.stride = stride
        self.padding = padding
        self.dilation = as_tuple(dilation, n, name, "dilation")
        self.transposed = transposed
        self.output_padding = as_tuple(output_padding, n, name, "output_padding")
        self.groups = groups
        self.padding_mode = padding_mode
        if transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        dtype = dtype or _dtype.get_default_dtype()
        self.weight = Parameter(empty(*shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_channels, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight and bias from PyTorch's default distribution."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        n = self._dims
        text = (
            f"{self.in_channels}, {self.out_channels}, "
            f"kernel_size={self.kernel_size}, stride={self.stride}"
        )
        if self.padding != (0,) * n:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            text += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text


class Conv1d(_ConvNd):
    """1-D convolution (cross-correlation) over signals of ``in_channels``.

    Args:
        in_channels: channels of the input.
        out_channels: channels (filters) of the output.
        kernel_size: filter length.
        stride: step between windows.
        padding: zeros on both sides (int), or 'valid' or 'same'.
        dilation: spacing between filter taps.
        groups: independent groups of channels.
        bias: learn one additive value per output channel.
        padding_mode: only 'zeros' for now.

    Shape:
        input: (N, C_in, L) or (C_in, L); output: (N, C_out, L_out) with
        L_out = (L + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.Conv1d(2, 4, 3)
        Conv1d(2, 4, kernel_size=(3,), stride=(1,))
    """

    _dims = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            False,
            0,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def forward(self, input: Tensor) -> Tensor:
        return conv1d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation) over images of ``in_channels``.

    Args:
        in_channels: channels of the input.
        out_channels: channels (filters) of the output.
        kernel_size: filter size, int or (kH, kW).
        stride: step between windows.
        padding: zeros on each side (int or pair), or 'valid' or 'same'.
        dilation: spacing between filter taps.
        groups: independent groups of channels.
        bias: learn one additive value per output channel.
        padding_mode: only 'zeros' for now.

    Shape:
        input: (N, C_in, H, W) or (C_in, H, W); output: (N, C_out, H_out,
        W_out) with H_out = (H + 2 * pH - dH * (kH - 1) - 1) // sH + 1.

    Example:
        >>> import plaingrad as torch
        >>> conv = torch.nn.Conv2d(1, 16, 3)
        >>> conv
        Conv2d(1, 16, kernel_size=(3, 3), stride=(1, 1))
        >>> tuple(conv(torch.zeros(8, 1, 28, 28)).shape)
        (8, 16, 26, 26)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        dilation: Any = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            False,
            0,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def forward(self, input: Tensor) -> Tensor:
        return conv2d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
        )


class ConvTranspose2d(_ConvNd):
    """2-D transposed convolution (the gradient of ``Conv2d`` w.r.t. its input).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: filter size, int or (kH, kW).
        stride: stride of the convolution this layer transposes.
        padding: padding of that convolution, taken off the output.
        output_padding: rows/columns added at the bottom and right.
        groups: independent groups of channels.
        bias: learn one additive value per output channel.
        dilation: spacing between filter taps.
        padding_mode: only 'zeros'.

    Shape:
        input: (N, C_in, H, W) or (C_in, H, W); output: (N, C_out, H_out,
        W_out) with H_out = (H - 1) * sH - 2 * pH + dH * (kH - 1) +
        output_padding + 1.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.ConvTranspose2d(16, 1, 3, stride=2)
        ConvTranspose2d(16, 1, kernel_size=(3, 3), stride=(2, 2))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Any,
        stride: Any = 1,
        padding: Any = 0,
        output_padding: Any = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Any = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if isinstance(padding, str):
            raise TypeError(
                f"ConvTranspose2d: `padding` must be an int or a pair of ints, got "
                f"{padding!r}"
            )
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            True,
            output_padding,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )

    def _output_padding(self, input: Tensor, output_size: Any) -> tuple:
        """The output_padding that makes the output ``output_size`` (PyTorch's rule)."""
        if output_size is None:
            return self.output_padding
        output_size = tuple(output_size)
        lead = 2 if input.dim() == 4 else 1
        if len(output_size) == lead + 2:
            output_size = output_size[lead:]
        if len(output_size) != 2:
            raise ValueError(
                f"ConvTranspose2d: for {input.dim()}D input, output_size must have "
                f"2 or {lead + 2} elements (got {len(output_size)})"
            )
        extra = []
        for d in range(2):
            smallest = (
                (input.shape[d + lead] - 1) * self.stride[d]
                - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1)
                + 1
            )
            largest = smallest + self.stride[d] - 1
            if not smallest <= output_size[d] <= largest:
                raise ValueError(
                    f"ConvTranspose2d: requested an output size of {output_size}, "
                    f"but valid sizes range from {smallest} to {largest} (for an "
                    f"input of {tuple(input.shape[lead:])})"
                )
            extra.append(output_size[d] - smallest)
        return tuple(extra)

    def forward(self, input: Tensor, output_size: Any = None) -> Tensor:
        return conv_transpose2d(
            input,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self._output_padding(input, output_size),
            self.groups,
            self.dilation,
        )


class Unfold(Module):
    """Extract sliding blocks: ``F.unfold`` as a layer (im2col).

    Shape:
        input: (N, C, H, W) or (C, H, W); output: (N, C * kH * kW, L).

    Example:
        >>> import plaingrad as torch
        >>> tuple(torch.nn.Unfold(kernel_size=2)(torch.zeros(1, 3, 4, 4)).shape)
        (1, 12, 9)
    """

    def __init__(
        self, kernel_size: Any, dilation: Any = 1, padding: Any = 0, stride: Any = 1
    ) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )


class Fold(Module):
    """Sum sliding blocks back into an image: ``F.fold`` as a layer (col2im).

    Shape:
        input: (N, C * kH * kW, L) or (C * kH * kW, L); output: (N, C, H, W)
        with (H, W) = ``output_size``.
    """

    def __init__(
        self,
        output_size: Any,
        kernel_size: Any,
        dilation: Any = 1,
        padding: Any = 0,
        stride: Any = 1,
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return fold(
            input,
            self.output_size,
            self.kernel_size,
            self.dilation,
            self.padding,
            self.stride,
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )
