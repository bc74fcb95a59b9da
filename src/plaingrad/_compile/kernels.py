"""Kernels that write a replayed op's results into arrays allocated once.

A kernel does what its op's ``forward`` and ``backward`` do, with the same
NumPy calls in the same order (so the results are bitwise the same), but
writes every array it makes into a buffer of its own, allocated at its first
call: shapes and dtypes cannot change, since they are part of the guard. It
is used for the ops of a multilayer perceptron (``Linear``, ``Relu``,
``Tanh``, ``Sigmoid``, ``MseLoss``, and ``LogSoftmax`` and ``NllLoss``, which
make ``cross_entropy``) in the common case (2-D inputs, no broadcasting, no
class weights); any other op or case runs its own rules.

Gradients for a parameter go into a buffer only while the parameter already
has a ``.grad`` (which the engine then adds it into, in place) and no
``autograd.grad`` is collecting them; otherwise a new array is returned, which
becomes ``.grad`` as in an eager step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import engine
from ..ops.elementwise import Relu, Sigmoid, Tanh
from ..ops.linalg import Linear, LinearNoBias
from ..ops.loss import MseLoss, NllLoss
from ..ops.reduction import LogSoftmax


class Kernel:
    """Base: ``buffers`` lists every array the kernel owns. ``lends``: the
    kernel decides itself which gradients it may hand out in its buffers."""

    lends = False

    def __init__(self, refs: list, needs: tuple | None) -> None:
        self.refs = refs
        self.needs = needs or ()
        self.buffers: list = []

    def buffer(self, shape: tuple, dtype: Any) -> np.ndarray:
        array = np.empty(shape, dtype)
        self.buffers.append(array)
        return array

    def param_grad(self, j: int) -> bool:
        """May parameter input ``j``'s gradient go into a buffer? (See the
        module docstring; a hook on it would keep the buffer.)"""
        ref = self.refs[j]
        if ref[0] != "ext" or ref[1]._grad is None or engine.capturing:
            return False
        accumulator = ref[1]._accumulator
        return accumulator is None or not accumulator._pre_hooks


class LinearKernel(Kernel):
    lends = True
    out = gx = gw = gb = None

    def forward(self, ctx: Any, x: Any, weight: Any, bias: Any = None) -> Any:
        out = self.out
        if out is None:
            out = self.out = self.buffer((x.shape[0], weight.shape[0]), x.dtype)
        np.matmul(x, weight.T, out=out)
        if bias is not None:
            out += bias
        self.x, self.weight = x, weight
        return out

    def backward(self, ctx: Any, grad: Any) -> tuple:
        # y = x W^T + b: dy/dx = G W, dy/dW = G^T x, dy/db = sum of G over rows
        needs = self.needs
        grad_x = grad_w = grad_b = None
        if needs[0]:
            if self.refs[0][0] != "slot":
                grad_x = grad @ self.weight  # an argument's: the caller keeps it
            else:
                if self.gx is None:
                    self.gx = self.buffer(self.x.shape, grad.dtype)
                grad_x = np.matmul(grad, self.weight, out=self.gx)
        if needs[1]:
            if self.param_grad(1):
                if self.gw is None:
                    self.gw = self.buffer(self.weight.shape, grad.dtype)
                grad_w = np.matmul(grad.T, self.x, out=self.gw)
            else:
                grad_w = grad.T @ self.x
        if len(needs) > 2:
            if needs[2]:
                if self.param_grad(2):
                    if self.gb is None:
                        self.gb = self.buffer(grad.shape[1:], grad.dtype)
                    grad_b = np.add.reduce(grad, axis=0, out=self.gb)
                else:
                    grad_b = np.add.reduce(grad, axis=0)
            return grad_x, grad_w, grad_b
        return grad_x, grad_w


class ReluKernel(Kernel):
    out = keep = finite = grad = None

    def forward(self, ctx: Any, a: Any) -> Any:
        if self.out is None:
            self.out = self.buffer(a.shape, a.dtype)
            self.keep = self.buffer(a.shape, bool)
        return np.maximum(a, 0, out=self.out)

    def backward(self, ctx: Any, grad_output: Any) -> Any:
        # d(max(a, 0))/da = 1 where a > 0, else 0 (as Relu.backward, bit for bit)
        keep = np.greater(self.out, 0, out=self.keep)
        if self.grad is None:
            self.grad = self.buffer(grad_output.shape, grad_output.dtype)
            self.finite = self.buffer(grad_output.shape, bool)
        grad = self.grad
        if (
            grad_output.size >= 4096
            and grad_output.dtype.kind == "f"
            and np.isfinite(grad_output, out=self.finite).all()
        ):
            # (the mask's cast to float goes through NumPy's own 32 KB
            # iteration buffer; a masked add would avoid it, 12x slower)
            np.multiply(grad_output, keep, out=grad)
            return np.add(grad, 0.0, out=grad)
        grad.fill(0)
        np.copyto(grad, grad_output, where=keep)
        return grad


class TanhKernel(Kernel):
    out = grad = None

    def forward(self, ctx: Any, a: Any) -> Any:
        if self.out is None:
            self.out = self.buffer(a.shape, a.dtype)
        return np.tanh(a, out=self.out)

    def backward(self, ctx: Any, grad_output: Any) -> Any:
        # d(tanh a)/da = 1 - tanh(a)^2
        if self.grad is None:
            self.grad = self.buffer(self.out.shape, grad_output.dtype)
        grad = np.multiply(self.out, self.out, out=self.grad)
        np.subtract(1, grad, out=grad)
        return np.multiply(grad_output, grad, out=grad)


class SigmoidKernel(Kernel):
    out = e = top = keep = grad = None

    def forward(self, ctx: Any, a: Any) -> Any:
        if self.out is None:
            self.out = self.buffer(a.shape, a.dtype)
            self.e = self.buffer(a.shape, a.dtype)
            self.top = self.buffer(a.shape, a.dtype)
            self.keep = self.buffer(a.shape, bool)
        # exp(-|a|), then (a >= 0 ? 1 : e) / (1 + e), as Sigmoid.forward
        e = np.exp(np.negative(np.abs(a, out=self.e), out=self.e), out=self.e)
        top = self.top
        np.copyto(top, e)
        np.copyto(top, 1, where=np.greater_equal(a, 0, out=self.keep))
        np.add(1, e, out=e)
        return np.divide(top, e, out=self.out)

    def backward(self, ctx: Any, grad_output: Any) -> Any:
        # d(sigma a)/da = sigma(a) (1 - sigma(a))
        out = self.out
        if self.grad is None:
            self.grad = self.buffer(out.shape, grad_output.dtype)
        grad = np.multiply(grad_output, out, out=self.grad)
        one_minus = np.subtract(1, out, out=self.top)
        return np.multiply(grad, one_minus, out=grad)


class MseKernel(Kernel):
    diff = squared = grad = grad_target = None

    def __init__(self, refs: list, needs: tuple | None, reduction: str) -> None:
        super().__init__(refs, needs)
        self.reduction = reduction

    def forward(self, ctx: Any, input: Any, target: Any) -> Any:
        if self.diff is None:
            self.diff = self.buffer(input.shape, input.dtype)
            self.squared = self.buffer(input.shape, input.dtype)
        diff = np.subtract(input, target, out=self.diff)
        np.multiply(diff, diff, out=self.squared)
        total = np.add.reduce(self.squared, axis=None)
        if self.reduction == "mean":
            total = total / diff.size
        return np.asarray(total)

    def backward(self, ctx: Any, grad_output: Any) -> tuple:
        # d(mean (x - y)^2)/dx = 2 (x - y) / n; d/dy is its negative
        diff = self.diff
        scale = 2.0 / max(diff.size, 1) if self.reduction == "mean" else 2.0
        if self.grad is None:
            self.grad = self.buffer(diff.shape, diff.dtype)
        grad = np.multiply(grad_output * scale, diff, out=self.grad)
        grad_target = None
        if self.needs[1]:
            if self.grad_target is None:
                self.grad_target = self.buffer(diff.shape, diff.dtype)
            grad_target = np.negative(grad, out=self.grad_target)
        return (grad if self.needs[0] else None), grad_target


class LogSoftmaxKernel(Kernel):
    """Over dim 1 of a (N, C) input, C > 0 (so no log of 0 to hide)."""

    peak = shifted = total = out = grad = None

    def forward(self, ctx: Any, a: Any) -> Any:
        if self.out is None:
            column = (a.shape[0], 1)
            self.peak = self.buffer(column, a.dtype)
            self.total = self.buffer(column, a.dtype)
            self.shifted = self.buffer(a.shape, a.dtype)
            self.exp = self.buffer(a.shape, a.dtype)
            self.out = self.buffer(a.shape, a.dtype)
        # a - max, then minus log(sum(exp)), as LogSoftmax.forward
        shifted = np.subtract(
            a, np.max(a, axis=1, keepdims=True, out=self.peak), out=self.shifted
        )
        total = np.sum(
            np.exp(shifted, out=self.exp), axis=1, keepdims=True, out=self.total
        )
        return np.subtract(shifted, np.log(total, out=total), out=self.out)

    def backward(self, ctx: Any, grad_output: Any) -> Any:
        # d log_softmax_i / d a_j = delta_ij - softmax_j
        if self.grad is None:
            self.grad = self.buffer(self.out.shape, grad_output.dtype)
        total = np.sum(grad_output, axis=1, keepdims=True, out=self.peak)
        product = np.multiply(np.exp(self.out, out=self.exp), total, out=self.exp)
        return np.subtract(grad_output, product, out=self.grad)


class NllKernel(Kernel):
    """(N, C) log-probabilities, (N,) class indices, no class weights."""

    valid = safe = flat = picked = w = losses = grad = scale = None

    def __init__(self, refs: list, needs: tuple | None, options: dict) -> None:
        super().__init__(refs, needs)
        self.ignore_index = options["ignore_index"]
        self.reduction = options["reduction"]

    def forward(self, ctx: Any, log_probs: Any, target: Any) -> Any:
        n, classes = log_probs.shape
        if self.valid is None:
            self.valid = self.buffer((n,), bool)
            self.safe = self.buffer((n,), target.dtype)
            self.flat = self.buffer((n,), np.intp)
            self.rows = np.arange(n, dtype=np.intp) * classes
            self.picked = self.buffer((n,), log_probs.dtype)
            self.w = self.buffer((n,), log_probs.dtype)
            self.losses = self.buffer((n,), log_probs.dtype)
        valid = np.not_equal(target, self.ignore_index, out=self.valid)
        safe = self.safe
        safe.fill(0)
        np.copyto(safe, target, where=valid)
        if n and (safe.min() < 0 or safe.max() >= classes):
            # the eager call's own error (the caller runs it eagerly)
            raise IndexError("nll_loss: target out of range")
        np.add(self.rows, safe, out=self.flat)
        picked = np.take(log_probs.reshape(-1), self.flat, out=self.picked, mode="clip")
        w = self.w
        np.copyto(w, valid)
        # -picked * w, summed; the mean divides by the weights' sum
        losses = np.multiply(np.negative(picked, out=self.losses), w, out=self.losses)
        total = losses.sum()
        self.shape = log_probs.shape
        if self.reduction == "sum":
            return np.asarray(total)
        self.denominator = w.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.asarray(total / self.denominator)

    def backward(self, ctx: Any, grad_output: Any) -> tuple:
        # d(-w_n log p[n, t_n]) / d log p[n, c] = -w_n if c == t_n else 0
        if self.grad is None:
            self.grad = self.buffer(self.shape, self.w.dtype)
            self.scale = self.buffer(self.w.shape, self.w.dtype)
        scale = self.scale
        if self.reduction == "sum":
            np.multiply(grad_output, self.w, out=scale)
        elif self.denominator:
            np.multiply(grad_output / self.denominator, self.w, out=scale)
        else:
            scale.fill(0)
        grad = self.grad
        grad.fill(0)
        np.put(grad, self.flat, np.negative(scale, out=scale))
        return grad, None


def find(step: Any, refs: list) -> Kernel | None:
    """The kernel for recorded ``step``, or None (its own rules run)."""
    cls = step.cls
    shapes = [t._data.shape for t in step.tensors]
    if cls is NllLoss:
        log_probs, target = step.tensors
        options = step.options
        if (
            len(shapes[0]) == 2
            and len(shapes[1]) == 1
            and log_probs._data.dtype.kind == "f"
            and target._data.dtype.kind == "i"
            and options.get("weight") is None
            and options.get("reduction") in ("mean", "sum")
        ):
            return NllKernel(refs, step.needs, options)
        return None
    dtypes = {t._data.dtype for t in step.tensors}
    if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
        return None
    if cls is LogSoftmax:
        if len(shapes[0]) == 2 and shapes[0][1] and step.options.get("axis") in (1, -1):
            return LogSoftmaxKernel(refs, step.needs)
    elif cls is Linear or cls is LinearNoBias:
        if len(shapes[0]) == 2 and not step.options:
            return LinearKernel(refs, step.needs)
    elif cls is Relu or cls is Tanh or cls is Sigmoid:
        kernel = {Relu: ReluKernel, Tanh: TanhKernel, Sigmoid: SigmoidKernel}[cls]
        return kernel(refs, step.needs)
    elif cls is MseLoss:
        reduction = step.options.get("reduction")
        if shapes[0] == shapes[1] and reduction in ("mean", "sum"):
            return MseKernel(refs, step.needs, reduction)
    return None


def owns(kernels: list, array: Any) -> bool:
    """Is ``array`` (or the array it views) one of the kernels' buffers?"""
    root = array if array.base is None else array.base
    for kernel in kernels:
        if kernel is not None:
            for buffer in kernel.buffers:
                if buffer is root or buffer is array:
                    return True
    return False
