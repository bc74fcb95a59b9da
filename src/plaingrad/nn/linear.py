"""``Linear`` (``y = x W^T + b``), ``Bilinear`` (``y = x1^T A x2 + b``) and
``Identity``."""

from __future__ import annotations

import math
from typing import Any

from .. import _dtype
from ..creation import empty
from ..ops.bilinear import bilinear
from ..ops.linalg import linear
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """A fully connected layer: ``y = x @ weight.T + bias``.

    Weight and bias start from U(-1/sqrt(in_features), 1/sqrt(in_features)),
    PyTorch's default (``kaiming_uniform_`` with ``a=sqrt(5)``).

    Args:
        in_features: size of each input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).

    Shape:
        input: (*, in_features); output: (*, out_features).

    Example:
        >>> import plaingrad as torch
        >>> torch.nn.Linear(2, 3)
        Linear(in_features=2, out_features=3, bias=True)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_features", in_features),
            ("out_features", out_features),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(
                    f"Linear: `{name}` must be an int, got "
                    f"{type(value).__name__} {value!r}"
                )
            if value < 0:
                raise ValueError(
                    f"Linear: `{name}` must be a non-negative int, got {value!r}"
                )
        self.in_features = in_features
        self.out_features = out_features
        dtype = dtype or _dtype.get_default_dtype()
        self.weight = Parameter(
            empty(out_features, in_features, dtype=dtype, device=device)
        )
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight and bias from PyTorch's default distribution."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        return linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Bilinear(Module):
    """A bilinear layer: ``y[..., o] = x1 @ weight[o] @ x2 + bias[o]``.

    Weight and bias start from U(-1/sqrt(in1_features), 1/sqrt(in1_features)),
    PyTorch's default.

    Args:
        in1_features: size of each first input sample (> 0).
        in2_features: size of each second input sample.
        out_features: size of each output sample.
        bias: learn an additive bias (default True).

    Shape:
        input1: (*, in1_features); input2: (*, in2_features) with the same
        leading dimensions; output: (*, out_features). ``weight`` is
        (out_features, in1_features, in2_features).

    Example:
        >>> import plaingrad as torch
        >>> m = torch.nn.Bilinear(2, 3, 4)
        >>> m(torch.ones(5, 2), torch.ones(5, 3)).shape
        plaingrad.Size([5, 4])
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in1_features = in1_features
        self.in2_features = in2_features
        self.out_features = out_features
        dtype = dtype or _dtype.get_default_dtype()
        shape = (out_features, in1_features, in2_features)
        self.weight = Parameter(empty(shape, dtype=dtype, device=device))
        if bias:
            self.bias = Parameter(empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw weight and bias from U(-1/sqrt(in1), 1/sqrt(in1))."""
        if self.in1_features <= 0:
            raise ValueError(
                f"in1_features must be > 0, but got (in1_features={self.in1_features})"
            )
        bound = 1 / math.sqrt(self.in1_features)
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        return bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class Identity(Module):
    """Returns its input unchanged (a placeholder layer)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input
