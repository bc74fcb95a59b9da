"""The gradient of a piecewise-linear op, recorded for double backward.

``relu``, ``hardtanh``, ``leaky_relu`` and ``abs`` have a local derivative that
is constant on pieces chosen by a saved tensor (the input or the output).
PyTorch records their backward (``threshold_backward(grad, result)`` and the
like) as a node that takes the saved tensor as an input with a zero
derivative, so under ``create_graph=True`` the first-order gradient requires
grad whenever the saved tensor does, even if the incoming gradient is a
constant; its own gradient is then zero. ``MaskedGrad`` is that node.
"""

from __future__ import annotations

from typing import Any

from ..autograd.node import Op
from ..backend import errstate, xp
from ..tensor import Tensor, _wrap


def _masked(grad: Any, keep: Any, scale: Any, slope: Any) -> Any:
    # where(), not a product with the mask: NaN in a dropped entry must not pass
    kept = grad if scale == 1 else grad * scale
    if isinstance(slope, (int, float)) and slope == 0:
        other = xp.zeros((), dtype=grad.dtype)
    else:
        with errstate(invalid="ignore"):
            other = grad * slope
    return xp.where(keep, kept, other).astype(grad.dtype, copy=False)


class MaskedGrad(Op):
    _name = "MaskedGradBackward0"

    @staticmethod
    def forward(ctx, grad, saved, keep, scale, slope):
        ctx.save_for_backward(saved)
        ctx.pieces = (keep, scale, slope)
        return _masked(grad, keep, scale, slope)

    @staticmethod
    def backward(ctx, grad_output):
        # linear in grad with the same pieces; d/dsaved = 0 (the pieces are
        # locally constant), which PyTorch reports as zeros, not None
        keep, scale, slope = ctx.pieces
        (saved,) = ctx.saved_tensors
        return _masked(grad_output, keep, scale, slope), xp.zeros_like(saved)

    @staticmethod
    def backward_graph(ctx, grad_output):
        (saved,) = ctx.saved_graph_tensors
        keep, scale, slope = ctx.pieces
        grad_saved = _wrap(xp.zeros_like(saved._data), None)
        again = type(ctx).apply(grad_output, saved, keep=keep, scale=scale, slope=slope)
        return again, grad_saved


# PyTorch's names for the same node after each op
class ThresholdBackward(MaskedGrad):
    _name = "ThresholdBackwardBackward0"


class HardtanhBackward(MaskedGrad):
    _name = "HardtanhBackwardBackward0"


class LeakyReluBackward(MaskedGrad):
    _name = "LeakyReluBackwardBackward0"


class HardsigmoidBackward(MaskedGrad):
    _name = "HardsigmoidBackwardBackward0"


def masked_grad(
    grad: Tensor,
    saved: Tensor,
    keep: Any,
    scale: Any = 1,
    slope: Any = 0,
    op: type[MaskedGrad] = MaskedGrad,
) -> Tensor:
    """``where(keep, scale * grad, slope * grad)``, recorded as ``op`` with
    ``saved`` as an input of zero derivative (``keep`` is a boolean array
    computed from it; ``scale`` and ``slope`` are numbers or arrays)."""
    return op.apply(grad, saved, keep=keep, scale=scale, slope=slope)
