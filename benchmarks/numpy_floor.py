"""The floor: the benchmark networks written directly in NumPy.

Forward, backward and Adam by hand, with no graph, no tensors and no checks:
the NumPy calls the maths needs and nothing else. Whatever a NumPy-based
engine adds on top of this is its overhead.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
from workloads import (
    DIGITS_BATCH,
    DIGITS_LR,
    DIGITS_SIZES,
    SEED,
    XOR_LR,
    XOR_SIZES,
    XOR_STEPS,
    digits_data,
    init_weights,
    xor_data,
)


class NumpyMLP:
    """An MLP with ReLU written directly in NumPy: forward, backward and Adam.

    No graph and no checks; every step is the NumPy calls the maths needs, with
    Adam's moments updated in place as PyTorch's Adam does (same formula).
    """

    def __init__(self, weights: dict[str, np.ndarray], lr: float) -> None:
        n = len(weights) // 2
        self.params = []
        for i in range(n):
            self.params += [weights[f"{2 * i}.weight"].copy()]
            self.params += [weights[f"{2 * i}.bias"].copy()]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.lr, self.beta1, self.beta2, self.eps = lr, 0.9, 0.999, 1e-8
        self.t = 0

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        """Logits, and the input of every layer (kept for backward)."""
        inputs = []
        for i in range(0, len(self.params), 2):
            if i:
                x = np.maximum(x, 0)
            inputs.append(x)
            x = x @ self.params[i].T
            x += self.params[i + 1]
        return x, inputs

    def backward(self, grad: np.ndarray, inputs: list) -> list[np.ndarray]:
        """Gradients of every parameter, given d(loss)/d(logits)."""
        grads: list = [None] * len(self.params)
        for i in range(len(self.params) - 2, -1, -2):
            x = inputs[i // 2]
            grads[i] = grad.T @ x
            grads[i + 1] = np.add.reduce(grad, axis=0)
            if i:
                grad = grad @ self.params[i]
                grad *= x > 0
        return grads

    def adam(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1 - b1**self.t)
        root_bias = np.sqrt(1 - b2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= root_bias
            denom += self.eps
            p -= step_size * (m / denom)


def numpy_mse(out: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """Mean squared error (a NumPy scalar) and its gradient."""
    diff = out - y
    loss = np.add.reduce(diff * diff, axis=None) / diff.size
    return loss, diff * (2.0 / diff.size)


def numpy_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Mean cross-entropy of (n, classes) logits (a NumPy scalar), its gradient."""
    shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = np.add.reduce(exp, axis=1, keepdims=True)  # (n, 1)
    rows = np.arange(len(y))
    loss = np.add.reduce(np.log(total[:, 0]) - shifted[rows, y]) / len(y)
    # d(mean CE)/d logits = (softmax - onehot) / n
    grad = exp / total
    grad[rows, y] -= 1
    grad /= len(y)
    return loss, grad


def numpy_xor(steps: int = XOR_STEPS) -> dict[str, float]:
    x, y = xor_data()
    net = NumpyMLP(init_weights(XOR_SIZES), XOR_LR)
    first = numpy_mse(net.forward(x)[0], y)[0]

    start = time.perf_counter()
    for _ in range(steps):
        out, inputs = net.forward(x)
        loss, grad = numpy_mse(out, y)
        net.adam(net.backward(grad, inputs))
    elapsed = time.perf_counter() - start

    return {
        "us_per_step": elapsed / steps * 1e6,
        "loss_first": float(first),
        "loss_last": float(loss),
    }


def numpy_digits(epochs: int) -> dict[str, Any]:
    x, y = digits_data()
    net = NumpyMLP(init_weights(DIGITS_SIZES), DIGITS_LR)
    rng = np.random.default_rng(SEED)
    first = numpy_cross_entropy(net.forward(x)[0], y)[0]

    def epoch() -> float:
        start = time.perf_counter()
        order = rng.permutation(len(x))
        for i in range(0, len(x), DIGITS_BATCH):
            batch = order[i : i + DIGITS_BATCH]
            out, inputs = net.forward(x[batch])
            _, grad = numpy_cross_entropy(out, y[batch])
            net.adam(net.backward(grad, inputs))
        return time.perf_counter() - start

    epoch()
    times = [epoch() for _ in range(epochs)]
    return {
        "ms_per_epoch": statistics.median(times) * 1e3,
        "loss_first": float(first),
        "loss_last": float(numpy_cross_entropy(net.forward(x)[0], y)[0]),
    }
