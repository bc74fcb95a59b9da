"""The suite's workloads in MyGrad, as an ordinary MyGrad user writes them.

Parameters are ``mygrad.tensor``s made from the suite's NumPy weights; the
data stay NumPy arrays (MyGrad takes them as constants). Layers come from
MyGrad where it has them: ``mygrad.matmul`` for the linear layers,
``mygrad.nnet.relu``, ``mygrad.nnet.conv_nd`` (its filter bank has no bias, so
the bias is broadcast on), ``mygrad.nnet.max_pool`` (it needs windows that
tile the input, so W5's 11x11 map is cropped to 10x10 first, which is what
PyTorch's floor mode drops), ``mygrad.nnet.softmax`` and
``mygrad.nnet.softmax_crossentropy`` (a mean, like PyTorch's). MyGrad has no
layer norm or attention layer, so the transformer's are written with
``mygrad.mean``, ``mygrad.var``, ``mygrad.sqrt`` and ``mygrad.matmul``.

``loss.backward()`` leaves every parameter's gradient in ``.grad`` as a NumPy
array and clears the graph; MyGrad replaces gradients rather than adding to
them, so W2 adds them up by hand. The optimizers (``others``) update each
tensor's ``.data`` in place. Python float constants are avoided in the graph
(MyGrad would turn a float32 result into float64); the few scalars are
``np.float32``.
"""

from __future__ import annotations

from typing import Any

import mygrad as mg
import numpy as np
from mygrad.nnet import conv_nd, max_pool, relu, softmax, softmax_crossentropy

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

_EPS: Any = np.float32(1e-5)  # LayerNorm's eps


def _tensors(weights: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: mg.tensor(v) for k, v in weights.items()}


def _data(params: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: p.data for k, p in params.items()}


def _grads(params: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: p.grad for k, p in params.items()}


def _linear(x: Any, params: dict[str, Any], name: str) -> Any:
    return mg.matmul(x, params[f"{name}.weight"].T) + params[f"{name}.bias"]


def mlp(params: dict[str, Any], x: Any) -> Any:
    """Linear, ReLU, ..., Linear over the layers ``0``, ``2``, ``4``, ..."""
    layers = len(params) // 2
    for i in range(layers):
        x = _linear(x, params, str(2 * i))
        if i < layers - 1:
            x = relu(x)
    return x


def mse(out: Any, target: np.ndarray) -> Any:
    return mg.mean((out - target) ** 2)


def xor_program(steps: int, repeats: int) -> dict[str, float]:
    """W1: the 2-8-1 MLP learns XOR with MSE and Adam."""
    x, y = xor_data()
    params = _tensors(init_weights(XOR_SIZES))
    optimizer = Adam(_data(params), XOR_LR)

    def step() -> Any:
        loss = mse(mlp(params, x), y)
        loss.backward()
        optimizer.step(_grads(params))
        return loss

    with mg.no_autodiff:
        first = mse(mlp(params, x), y).item()
    seconds, loss = timed_blocks(step, steps, repeats)
    return result(seconds, first, loss.item())


def small_program(steps: int, repeats: int) -> dict[str, float]:
    """W2: ``(a * b + c).sum()`` and its backward; gradients added up by hand."""
    leaves = [mg.tensor(v) for v in small_data()]
    totals = [np.zeros_like(t.data) for t in leaves]
    a, b, c = leaves

    def step() -> Any:
        loss = (a * b + c).sum()
        loss.backward()
        for total, leaf in zip(totals, leaves):
            total += leaf.grad
        return loss

    seconds, loss = timed_blocks(step, steps, repeats)
    grad_sum = sum(float(total.sum()) for total in totals)
    return result(seconds, loss.item(), loss.item(), grad_sum=grad_sum)


def digits_program(steps: int, repeats: int) -> dict[str, float]:
    """W3: the digits MLP 64-128-64-10, batch 64, Adam; seconds per epoch."""
    x, y = digits_data()
    params = _tensors(init_weights(DIGITS_SIZES))
    optimizer = Adam(_data(params), DIGITS_LR)
    sampler = Permutations(len(x))

    def epoch() -> None:
        order = sampler.rng.permutation(sampler.n)  # the loaders' draw
        for i in range(0, len(x), DIGITS_BATCH):
            batch = order[i : i + DIGITS_BATCH]
            loss = softmax_crossentropy(mlp(params, x[batch]), y[batch])
            loss.backward()
            optimizer.step(_grads(params))

    with mg.no_autodiff:
        first = softmax_crossentropy(mlp(params, x), y).item()
    seconds, _ = timed_blocks(epoch, steps, repeats)
    with mg.no_autodiff:
        last = softmax_crossentropy(mlp(params, x), y).item()
    return result(seconds, first, last)


def _sgd_program(
    model: Any, params: dict, x: np.ndarray, y: np.ndarray, lr: float
) -> Program:
    """A cross-entropy SGD program's timings and losses for ``model``."""

    def step() -> Any:
        loss = softmax_crossentropy(model(params, x), y)
        loss.backward()
        sgd(_data(params), _grads(params), lr)
        return loss

    def run(steps: int, repeats: int) -> dict[str, float]:
        with mg.no_autodiff:
            first = softmax_crossentropy(model(params, x), y).item()
        seconds, loss = timed_blocks(step, steps, repeats)
        return result(seconds, first, loss.item())

    return run


def mlp_program(steps: int, repeats: int) -> dict[str, float]:
    """W4: MLP 784-1024-1024-10 on one batch of 256, cross-entropy, SGD."""
    x, y = mlp_data()
    params = _tensors(init_weights(MLP_SIZES))
    return _sgd_program(mlp, params, x, y, MLP_LR)(steps, repeats)


def cnn(params: dict[str, Any], x: Any) -> Any:
    """W5: conv 1->16, pool, conv 16->32, pool, linear to 10 classes."""
    x = conv_nd(x, params["0.weight"], stride=1)  # (b, 16, 26, 26)
    x = relu(x + params["0.bias"].reshape(1, -1, 1, 1))
    x = max_pool(x, (2, 2), 2)  # (b, 16, 13, 13)
    x = conv_nd(x, params["3.weight"], stride=1)  # (b, 32, 11, 11)
    x = relu(x + params["3.bias"].reshape(1, -1, 1, 1))
    x = max_pool(x[:, :, :10, :10], (2, 2), 2)  # (b, 32, 5, 5)
    return _linear(x.reshape(x.shape[0], -1), params, "7")


def cnn_program(steps: int, repeats: int) -> dict[str, float]:
    """W5: the small CNN on one batch of 32 images, cross-entropy, SGD."""
    x, y = cnn_data()
    params = _tensors(init_like(CNN_SHAPES))
    return _sgd_program(cnn, params, x, y, CNN_LR)(steps, repeats)


def _layer_norm(x: Any, params: dict[str, Any], name: str) -> Any:
    mean = mg.mean(x, axis=-1, keepdims=True)
    var = mg.var(x, axis=-1, keepdims=True)
    normed = (x - mean) / mg.sqrt(var + _EPS)
    return normed * params[f"{name}.weight"] + params[f"{name}.bias"]


def encoder_layer(params: dict[str, Any], x: Any) -> Any:
    """A post-norm encoder layer: self-attention, then ReLU feed-forward."""
    batch, seq, d_model = x.shape
    heads = TRANSFORMER_HEADS
    head_dim = d_model // heads
    qkv = mg.matmul(x, params["self_attn.in_proj_weight"].T)
    qkv = qkv + params["self_attn.in_proj_bias"]  # (b, s, 3d)
    qkv = qkv.reshape(batch, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]  # (b, h, s, head_dim)
    scale: Any = np.float32(head_dim**-0.5)
    scores = mg.matmul(q, k.transpose(0, 1, 3, 2)) * scale
    attn = mg.matmul(softmax(scores, axis=-1), v)  # (b, h, s, head_dim)
    attn = attn.transpose(0, 2, 1, 3).reshape(batch, seq, d_model)
    x = _layer_norm(x + _linear(attn, params, "self_attn.out_proj"), params, "norm1")
    hidden = relu(_linear(x, params, "linear1"))  # (b, s, ff)
    return _layer_norm(x + _linear(hidden, params, "linear2"), params, "norm2")


def transformer_program(steps: int, repeats: int) -> dict[str, float]:
    """One encoder layer learns a fixed random target with MSE and Adam."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32)
    y = rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32)
    params = _tensors(init_like(TRANSFORMER_SHAPES))
    optimizer = Adam(_data(params), TRANSFORMER_LR)

    def step() -> Any:
        loss = mse(encoder_layer(params, x), y)
        loss.backward()
        optimizer.step(_grads(params))
        return loss

    with mg.no_autodiff:
        first = mse(encoder_layer(params, x), y).item()
    seconds, loss = timed_blocks(step, steps, repeats)
    return result(seconds, first, loss.item())


PROGRAMS: dict[str, Program] = {
    "W1": xor_program,
    "W2": small_program,
    "W3": digits_program,
    "W4": mlp_program,
    "W5": cnn_program,
    "transformer": transformer_program,
}
