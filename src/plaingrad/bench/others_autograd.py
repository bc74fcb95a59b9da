"""The suite's workloads in HIPS autograd, as an ordinary autograd user writes them.

A model is a plain function of a dict of NumPy parameter arrays and the data,
written with ``autograd.numpy``; ``autograd.value_and_grad`` gives the loss
and a dict of gradients with the same keys, and the optimizers (``others``)
update the arrays in place. Cross-entropy takes ``logsumexp`` from
``autograd.scipy.special``, as autograd's own examples do; softmax and layer
norm are written out with ``autograd.numpy`` functions.

autograd has no convolution or pooling for NumPy arrays (its
``autograd.scipy.signal.convolve`` is a plain full/valid convolution without
channels or batching), and it cannot differentiate through
``np.lib.stride_tricks``. So W5's 3x3 convolution gathers its windows by
slicing: the nine shifted slices ``x[:, :, i:i+h, j:j+w]`` are stacked into
(batch, channels, 9, h, w) and contracted with the filters by
``autograd.numpy.tensordot`` (one BLAS product per layer, where ``einsum``
would loop in C without BLAS). The 2x2 max pool reshapes the map into 2x2
blocks and takes ``autograd.numpy.max`` over them, after cropping an odd size
to even, which is what PyTorch's floor mode drops. (autograd splits a max's
gradient among tied entries; after a ReLU the only ties are zeros, whose
gradient the ReLU stops, so the results are PyTorch's.)
"""

from __future__ import annotations

from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.scipy.special import logsumexp

from .others import CNN_SHAPES, TRANSFORMER_SHAPES, Adam, Program, result, sgd
from .workloads import (
    CNN_LR,
    DIGITS_BATCH,
    DIGITS_LR,
    DIGITS_SIZES,
    MLP_LR,
    MLP_SIZES,
    SEED,
    TRANSFORMER_HEADS,
    TRANSFORMER_LR,
    TRANSFORMER_SHAPE,
    XOR_LR,
    XOR_SIZES,
    Permutations,
    cnn_data,
    digits_data,
    init_like,
    init_weights,
    mlp_data,
    small_data,
    timed_blocks,
    xor_data,
)

_EPS = 1e-5  # LayerNorm's eps


def _linear(x: Any, params: dict[str, Any], name: str) -> Any:
    return anp.dot(x, params[f"{name}.weight"].T) + params[f"{name}.bias"]


def mlp(params: dict[str, Any], x: Any) -> Any:
    """Linear, ReLU, ..., Linear over the layers ``0``, ``2``, ``4``, ..."""
    layers = len(params) // 2
    for i in range(layers):
        x = _linear(x, params, str(2 * i))
        if i < layers - 1:
            x = anp.maximum(x, 0.0)
    return x


def mse(out: Any, target: np.ndarray) -> Any:
    return anp.mean((out - target) ** 2)


def cross_entropy(logits: Any, labels: np.ndarray) -> Any:
    """Mean cross-entropy of (n, classes) logits against integer labels."""
    log_probs = logits - logsumexp(logits, axis=1, keepdims=True)
    return -anp.mean(log_probs[anp.arange(len(labels)), labels])


def _copy(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in weights.items()}


def _adam_program(
    model: Any, loss_fn: Any, weights: dict, x: Any, y: Any, lr: float
) -> Program:
    """A program that trains ``model`` on one batch with ``loss_fn`` and Adam."""
    params = _copy(weights)
    optimizer = Adam(params, lr)
    loss_and_grads = value_and_grad(lambda p: loss_fn(model(p, x), y))

    def step() -> Any:
        loss, grads = loss_and_grads(params)
        optimizer.step(grads)
        return loss

    def run(steps: int, repeats: int) -> dict[str, float]:
        first = loss_fn(model(params, x), y)
        seconds, loss = timed_blocks(step, steps, repeats)
        return result(seconds, first, loss)

    return run


def _sgd_program(model: Any, weights: dict, x: Any, y: Any, lr: float) -> Program:
    """A program that trains ``model`` on one batch with cross-entropy and SGD."""
    params = _copy(weights)
    loss_and_grads = value_and_grad(lambda p: cross_entropy(model(p, x), y))

    def step() -> Any:
        loss, grads = loss_and_grads(params)
        sgd(params, grads, lr)
        return loss

    def run(steps: int, repeats: int) -> dict[str, float]:
        first = cross_entropy(model(params, x), y)
        seconds, loss = timed_blocks(step, steps, repeats)
        return result(seconds, first, loss)

    return run


def xor_program(steps: int, repeats: int) -> dict[str, float]:
    """W1: the 2-8-1 MLP learns XOR with MSE and Adam."""
    x, y = xor_data()
    weights = init_weights(XOR_SIZES)
    return _adam_program(mlp, mse, weights, x, y, XOR_LR)(steps, repeats)


def small_program(steps: int, repeats: int) -> dict[str, float]:
    """W2: ``(a * b + c).sum()`` and its gradients, added up by hand."""
    leaves = small_data()
    totals = [np.zeros_like(v) for v in leaves]
    loss_and_grads = value_and_grad(lambda abc: anp.sum(abc[0] * abc[1] + abc[2]))

    def step() -> Any:
        loss, grads = loss_and_grads(leaves)
        for total, grad in zip(totals, grads):
            total += grad
        return loss

    seconds, loss = timed_blocks(step, steps, repeats)
    grad_sum = sum(float(total.sum()) for total in totals)
    return result(seconds, loss, loss, grad_sum=grad_sum)


def digits_program(steps: int, repeats: int) -> dict[str, float]:
    """W3: the digits MLP 64-128-64-10, batch 64, Adam; seconds per epoch."""
    x, y = digits_data()
    params = _copy(init_weights(DIGITS_SIZES))
    optimizer = Adam(params, DIGITS_LR)
    sampler = Permutations(len(x))
    loss_and_grads = value_and_grad(lambda p, xb, yb: cross_entropy(mlp(p, xb), yb))

    def epoch() -> None:
        order = sampler.rng.permutation(sampler.n)  # the loaders' draw
        for i in range(0, len(x), DIGITS_BATCH):
            batch = order[i : i + DIGITS_BATCH]
            _, grads = loss_and_grads(params, x[batch], y[batch])
            optimizer.step(grads)

    first = cross_entropy(mlp(params, x), y)
    seconds, _ = timed_blocks(epoch, steps, repeats)
    last = cross_entropy(mlp(params, x), y)
    return result(seconds, first, last)


def mlp_program(steps: int, repeats: int) -> dict[str, float]:
    """W4: MLP 784-1024-1024-10 on one batch of 256, cross-entropy, SGD."""
    x, y = mlp_data()
    weights = init_weights(MLP_SIZES)
    return _sgd_program(mlp, weights, x, y, MLP_LR)(steps, repeats)


def conv3x3(x: Any, weight: Any, bias: Any) -> Any:
    """A 3x3 convolution, stride 1, no padding: stacked slices and tensordot."""
    out_h, out_w = x.shape[2] - 2, x.shape[3] - 2
    windows = [
        x[:, :, i : i + out_h, j : j + out_w] for i in range(3) for j in range(3)
    ]
    columns = anp.stack(windows, axis=2)  # (b, c, 9, out_h, out_w)
    filters = anp.reshape(weight, (weight.shape[0], weight.shape[1], 9))  # (o, c, 9)
    out = anp.tensordot(columns, filters, axes=([1, 2], [1, 2]))  # (b, h, w, o)
    return anp.transpose(out, (0, 3, 1, 2)) + anp.reshape(bias, (1, -1, 1, 1))


def max_pool2x2(x: Any) -> Any:
    """2x2 max pooling, stride 2, dropping an odd last row and column."""
    b, c, h, w = x.shape
    x = x[:, :, : h // 2 * 2, : w // 2 * 2]
    blocks = anp.reshape(x, (b, c, h // 2, 2, w // 2, 2))
    return anp.max(blocks, axis=(3, 5))


def cnn(params: dict[str, Any], x: Any) -> Any:
    """W5: conv 1->16, pool, conv 16->32, pool, linear to 10 classes."""
    x = anp.maximum(conv3x3(x, params["0.weight"], params["0.bias"]), 0.0)
    x = max_pool2x2(x)  # (b, 16, 13, 13)
    x = anp.maximum(conv3x3(x, params["3.weight"], params["3.bias"]), 0.0)
    x = max_pool2x2(x)  # (b, 32, 5, 5)
    return _linear(anp.reshape(x, (x.shape[0], -1)), params, "7")


def cnn_program(steps: int, repeats: int) -> dict[str, float]:
    """W5: the small CNN on one batch of 32 images, cross-entropy, SGD."""
    x, y = cnn_data()
    weights = init_like(CNN_SHAPES)
    return _sgd_program(cnn, weights, x, y, CNN_LR)(steps, repeats)


def _softmax(x: Any) -> Any:
    exp = anp.exp(x - anp.max(x, axis=-1, keepdims=True))
    return exp / anp.sum(exp, axis=-1, keepdims=True)


def _layer_norm(x: Any, params: dict[str, Any], name: str) -> Any:
    mean = anp.mean(x, axis=-1, keepdims=True)
    var = anp.var(x, axis=-1, keepdims=True)
    normed = (x - mean) / anp.sqrt(var + _EPS)
    return normed * params[f"{name}.weight"] + params[f"{name}.bias"]


def encoder_layer(params: dict[str, Any], x: Any) -> Any:
    """A post-norm encoder layer: self-attention, then ReLU feed-forward."""
    batch, seq, d_model = x.shape
    heads = TRANSFORMER_HEADS
    head_dim = d_model // heads
    qkv = anp.dot(x, params["self_attn.in_proj_weight"].T)
    qkv = qkv + params["self_attn.in_proj_bias"]  # (b, s, 3d)
    qkv = anp.transpose(
        anp.reshape(qkv, (batch, seq, 3, heads, head_dim)), (2, 0, 3, 1, 4)
    )
    q, k, v = qkv[0], qkv[1], qkv[2]  # (b, h, s, head_dim)
    scores = anp.matmul(q, anp.swapaxes(k, -1, -2)) * head_dim**-0.5
    attn = anp.matmul(_softmax(scores), v)  # (b, h, s, head_dim)
    attn = anp.reshape(anp.transpose(attn, (0, 2, 1, 3)), (batch, seq, d_model))
    x = _layer_norm(x + _linear(attn, params, "self_attn.out_proj"), params, "norm1")
    hidden = anp.maximum(_linear(x, params, "linear1"), 0.0)  # (b, s, ff)
    return _layer_norm(x + _linear(hidden, params, "linear2"), params, "norm2")


def transformer_program(steps: int, repeats: int) -> dict[str, float]:
    """One encoder layer learns a fixed random target with MSE and Adam."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32)
    y = rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32)
    weights = init_like(TRANSFORMER_SHAPES)
    program = _adam_program(encoder_layer, mse, weights, x, y, TRANSFORMER_LR)
    return program(steps, repeats)


PROGRAMS: dict[str, Program] = {
    "W1": xor_program,
    "W2": small_program,
    "W3": digits_program,
    "W4": mlp_program,
    "W5": cnn_program,
    "transformer": transformer_program,
}
