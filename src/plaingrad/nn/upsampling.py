"""Upsampling layers: ``Upsample`` (and its fixed-mode forms) and the pixel
shuffles.

The layers hold their arguments and call ``F.interpolate`` /
``F.pixel_shuffle``; they keep them as PyTorch does (a scale factor becomes a
float, or a tuple of floats), so reprs and attributes match:
``Upsample(scale_factor=2.0, mode='nearest')``.
"""

from __future__ import annotations

from typing import Any

from ..ops.pixel_shuffle import pixel_shuffle, pixel_unshuffle
from ..ops.resample import interpolate
from ..tensor import Tensor
from .module import Module


class Upsample(Module):
    """Resize the spatial dimensions of (N, C, ...) input (see ``F.interpolate``).

    Args:
        size: the output's spatial size, an int or one per dimension.
        scale_factor: multiplier(s) of the spatial size (give this or ``size``).
        mode: ``'nearest'`` (default), ``'nearest-exact'``, ``'linear'``,
            ``'bilinear'``, ``'bicubic'``, ``'trilinear'`` or ``'area'``.
        align_corners: for the linear and cubic modes; see ``F.interpolate``.
        recompute_scale_factor: compute positions from the sizes.

    Shape:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W); output: the same
        with the new spatial size.

    Example:
        >>> import plaingrad as torch
        >>> up = torch.nn.Upsample(scale_factor=2)
        >>> up
        Upsample(scale_factor=2.0, mode='nearest')
        >>> up(torch.tensor([[[1., 2.]]])).tolist()
        [[[1.0, 1.0, 2.0, 2.0]]]
    """

    def __init__(
        self,
        size: Any = None,
        scale_factor: Any = None,
        mode: str = "nearest",
        align_corners: bool | None = None,
        recompute_scale_factor: bool | None = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(factor) for factor in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` for (N, C, H, W) input.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.UpsamplingNearest2d(scale_factor=2)
        UpsamplingNearest2d(scale_factor=2.0, mode='nearest')
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.UpsamplingBilinear2d(size=3)
        UpsamplingBilinear2d(size=3, mode='bilinear')
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r), r = ``upscale_factor``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.PixelShuffle(2)(torch.zeros(1, 8, 3, 3)).shape
        plaingrad.Size([1, 2, 6, 6])
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W), r = ``downscale_factor``.

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.PixelUnshuffle(2)(torch.zeros(1, 2, 6, 6)).shape
        plaingrad.Size([1, 8, 3, 3])
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"
