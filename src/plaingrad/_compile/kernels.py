"""Kernels that write a replayed op's results into arrays allocated once.

A kernel does what its op's ``forward`` and ``backward`` do, with the same
NumPy calls in the same order (so the results are bitwise the same), but
writes every array it makes into a buffer of its own, allocated at its first
call: shapes and dtypes cannot change, since they are part of the guard. It
is used for the ops of a multilayer perceptron (``Linear``, ``Relu``,
``Tanh``, ``Sigmoid``, ``MseLoss``) in the common case (a 2-D input, no
broadcasting); any other op or case runs its own rules.

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
from ..ops.loss import MseLoss


class Kernel:
    """Base: ``buffers`` lists every array the kernel owns."""

    def __init__(self, refs: list, needs: tuple | None) -> None:
        self.refs = refs
        self.needs = needs or ()
        self.buffers: list = []

    def buffer(self, shape: tuple, dtype: Any) -> np.ndarray:
        array = np.empty(shape, dtype)
        self.buffers.append(array)
        return array

    def param_grad(self, j: int) -> bool:
        """May input ``j``'s gradient go into a buffer? (See the module
        docstring.)"""
        ref = self.refs[j]
        return ref[0] == "ext" and ref[1]._grad is not None and not engine.capturing


class LinearKernel(Kernel):
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
            # Relu's g * keep + 0.0, without casting the mask (a NumPy buffer)
            grad.fill(0)
            return np.add(grad_output, 0.0, out=grad, where=keep)
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


def find(step: Any, refs: list) -> Kernel | None:
    """The kernel for recorded ``step``, or None (its own rules run)."""
    cls = step.cls
    shapes = [t._data.shape for t in step.tensors]
    dtypes = {t._data.dtype for t in step.tensors}
    if len(dtypes) != 1 or next(iter(dtypes)).kind != "f":
        return None
    if cls is Linear or cls is LinearNoBias:
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
