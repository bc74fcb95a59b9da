"""Trigonometric and hyperbolic ops: sin, cos, tan, asin, acos, atan, sinh, cosh.

Each op class holds its forward rule and, right under it, its backward rule and
its Tensor-level rule for double backward. The inverse functions follow
PyTorch where they are undefined: NaN outside [-1, 1], and a gradient of inf at
+-1. These are the op classes only; the public functions (``sin``, ...), which
first turn integer and bool inputs into the default float dtype, are built in
``math`` with the other one-tensor functions, so that every public name stays
where it was.
"""

from __future__ import annotations

from ..autograd.node import Op
from ..backend import errstate, xp

# ------------------------------------------------------------------ trigonometry


class Sin(Op):
    _name = "SinBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.sin(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(sin a)/da = cos a
        (a,) = ctx.saved_tensors
        return grad_output * xp.cos(a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output * a.cos()


class Cos(Op):
    _name = "CosBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.cos(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(cos a)/da = -sin a
        (a,) = ctx.saved_tensors
        return grad_output * -xp.sin(a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output * -a.sin()


class Tan(Op):
    _name = "TanBackward0"

    @staticmethod
    def forward(ctx, a):
        out = xp.tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        # d(tan a)/da = 1 + tan(a)^2
        (out,) = ctx.saved_tensors
        return grad_output * (1 + out * out)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (out,) = ctx.saved_graph_tensors
        return grad_output * (1 + out * out)


class Asin(Op):
    _name = "AsinBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(invalid="ignore"):
            return xp.arcsin(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(asin a)/da = 1 / sqrt(1 - a^2): inf at +-1, NaN outside, as PyTorch
        (a,) = ctx.saved_tensors
        with errstate(divide="ignore", invalid="ignore"):
            return grad_output / xp.sqrt(1 - a * a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output / (1 - a * a).sqrt()


class Acos(Op):
    _name = "AcosBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(invalid="ignore"):
            return xp.arccos(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(acos a)/da = -1 / sqrt(1 - a^2)
        (a,) = ctx.saved_tensors
        with errstate(divide="ignore", invalid="ignore"):
            return -grad_output / xp.sqrt(1 - a * a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return -grad_output / (1 - a * a).sqrt()


class Atan(Op):
    _name = "AtanBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp.arctan(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(atan a)/da = 1 / (1 + a^2)
        (a,) = ctx.saved_tensors
        return grad_output / (1 + a * a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output / (1 + a * a)


class Sinh(Op):
    _name = "SinhBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(over="ignore"):
            return xp.sinh(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(sinh a)/da = cosh a
        (a,) = ctx.saved_tensors
        with errstate(over="ignore"):
            return grad_output * xp.cosh(a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output * a.cosh()


class Cosh(Op):
    _name = "CoshBackward0"

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        with errstate(over="ignore"):
            return xp.cosh(a)

    @staticmethod
    def backward(ctx, grad_output):
        # d(cosh a)/da = sinh a
        (a,) = ctx.saved_tensors
        with errstate(over="ignore"):
            return grad_output * xp.sinh(a)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (a,) = ctx.saved_graph_tensors
        return grad_output * a.sinh()
