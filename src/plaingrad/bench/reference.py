"""The hand-written NumPy reference: the least work any NumPy library can do.

W1 to W4 written directly in NumPy: forward, backward and the optimizer by
hand, with no graph, no tensors and no checks, only the NumPy calls the maths
needs. Whatever a NumPy-based engine adds on top of this is its overhead; W4
and W6 (peak memory running W4) are targeted against it. Each program has the
signature of those in ``workloads`` and computes the same losses from the same
weights and data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .workloads import (
    DIGITS_BATCH,
    DIGITS_LR,
    DIGITS_SIZES,
    MLP_LR,
    MLP_SIZES,
    XOR_LR,
    XOR_SIZES,
    Permutations,
    digits_data,
    init_weights,
    mlp_data,
    small_data,
    timed_blocks,
    xor_data,
)


class NumpyMLP:
    """An MLP with ReLU in plain NumPy: forward, backward, Adam and SGD.

    Adam's moments are updated in place with PyTorch's formula; SGD is
    ``p -= lr * grad``.
    """

    def __init__(self, weights: dict[str, np.ndarray], lr: float) -> None:
        self.params = []
        for i in range(len(weights) // 2):
            self.params += [weights[f"{2 * i}.weight"].copy()]
            self.params += [weights[f"{2 * i}.bias"].copy()]
        self.lr = lr
        self.m: list = []
        self.v: list = []
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
        """Every parameter's gradient, given d(loss)/d(logits)."""
        grads: list = [None] * len(self.params)
        for i in range(len(self.params) - 2, -1, -2):
            x = inputs[i // 2]
            grads[i] = grad.T @ x  # d/dW (x W^T) = grad^T x
            grads[i + 1] = np.add.reduce(grad, axis=0)
            if i:
                grad = grad @ self.params[i]
                grad *= x > 0  # relu' = 1 where its output was positive
        return grads

    def sgd(self, grads: list[np.ndarray]) -> None:
        for p, g in zip(self.params, grads):
            g *= self.lr
            p -= g

    def adam(self, grads: list[np.ndarray]) -> None:
        if not self.m:
            self.m = [np.zeros_like(p) for p in self.params]
            self.v = [np.zeros_like(p) for p in self.params]
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        step_size = self.lr / (1 - b1**self.t)
        root_bias = np.sqrt(1 - b2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            denom = np.sqrt(v)
            denom /= root_bias
            denom += eps
            p -= step_size * (m / denom)


def mse(out: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """Mean squared error (a NumPy scalar) and its gradient."""
    diff = out - y
    loss = np.add.reduce(diff * diff, axis=None) / diff.size
    return loss, diff * (2.0 / diff.size)  # d mean(d^2) / d out = 2 d / n


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[Any, np.ndarray]:
    """Mean cross-entropy of (n, classes) logits (a NumPy scalar), its gradient."""
    shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = np.add.reduce(exp, axis=1, keepdims=True)  # (n, 1)
    rows = np.arange(len(y))
    loss = np.add.reduce(np.log(total[:, 0]) - shifted[rows, y]) / len(y)
    # d(mean CE)/d logits = (softmax - onehot) / n
    grad = exp
    grad /= total
    grad[rows, y] -= 1
    grad /= len(y)
    return loss, grad


def _result(seconds: float, first: Any, last: Any, **extra: float) -> dict:
    return {
        "seconds": seconds,
        "loss_first": float(first),
        "loss_last": float(last),
        **extra,
    }


def xor_reference(steps: int, repeats: int) -> dict[str, float]:
    """W1 by hand: forward, MSE, backward, Adam."""
    x, y = xor_data()
    net = NumpyMLP(init_weights(XOR_SIZES), XOR_LR)
    first = mse(net.forward(x)[0], y)[0]

    def step() -> Any:
        out, inputs = net.forward(x)
        loss, grad = mse(out, y)
        net.adam(net.backward(grad, inputs))
        return loss

    seconds, loss = timed_blocks(step, steps, repeats)
    return _result(seconds, first, loss)


def small_reference(steps: int, repeats: int) -> dict[str, float]:
    """W2 by hand: the sum, and gradients accumulated into float32 buffers."""
    a, b, c = small_data()
    grads = [np.zeros_like(a), np.zeros_like(b), np.zeros_like(c)]

    def step() -> Any:
        loss = np.add.reduce(a * b + c, axis=None)
        grads[0] += b  # d/da = b
        grads[1] += a  # d/db = a
        grads[2] += 1  # d/dc = 1
        return loss

    seconds, loss = timed_blocks(step, steps, repeats)
    grad_sum = sum(float(g.sum()) for g in grads)
    return _result(seconds, loss, loss, grad_sum=grad_sum)


def digits_reference(steps: int, repeats: int) -> dict[str, float]:
    """W3 by hand: the same batches in the same orders, Adam."""
    x, y = digits_data()
    net = NumpyMLP(init_weights(DIGITS_SIZES), DIGITS_LR)
    sampler = Permutations(len(x))
    first = cross_entropy(net.forward(x)[0], y)[0]

    def epoch() -> None:
        order = sampler.rng.permutation(sampler.n)  # the loaders' draw
        for i in range(0, len(x), DIGITS_BATCH):
            batch = order[i : i + DIGITS_BATCH]
            out, inputs = net.forward(x[batch])
            _, grad = cross_entropy(out, y[batch])
            net.adam(net.backward(grad, inputs))

    seconds, _ = timed_blocks(epoch, steps, repeats)
    last = cross_entropy(net.forward(x)[0], y)[0]
    return _result(seconds, first, last)


def mlp_reference(steps: int, repeats: int) -> dict[str, float]:
    """W4 by hand: forward, cross-entropy, backward, SGD."""
    x, y = mlp_data()
    net = NumpyMLP(init_weights(MLP_SIZES), MLP_LR)
    first = cross_entropy(net.forward(x)[0], y)[0]

    def step() -> Any:
        out, inputs = net.forward(x)
        loss, grad = cross_entropy(out, y)
        net.sgd(net.backward(grad, inputs))
        return loss

    seconds, loss = timed_blocks(step, steps, repeats)
    return _result(seconds, first, loss)


# The reference each workload has; W5 and the transformer have none yet.
REFERENCES = {
    "W1": xor_reference,
    "W2": small_reference,
    "W3": digits_reference,
    "W4": mlp_reference,
}
