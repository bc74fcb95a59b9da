"""The timed workloads, written once against a PyTorch-like ``lib``.

``lib`` is the module a user would ``import ... as torch``: plaingrad and
PyTorch run the same source. Weights come from NumPy with a fixed seed and go in
through ``load_state_dict``, and the data are the same arrays, so every library
starts from the same point and their losses can be compared.

Every program has the signature ``program(lib, steps, repeats)``: it builds its
model and data, runs one untimed block of ``steps`` steps (first calls, caches,
lazy imports), then ``repeats`` timed blocks, and returns the median seconds
per step with the losses before and after all the steps. This module imports
nothing of plaingrad, so a PyTorch worker can load it without plaingrad.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

SEED = 0
XOR_SIZES = (2, 8, 1)
XOR_LR = 0.01
SMALL_SHAPE = (1, 8)
DIGITS_SIZES = (64, 128, 64, 10)
DIGITS_BATCH = 64
DIGITS_LR = 1e-3
MLP_SIZES = (784, 1024, 1024, 10)
MLP_BATCH = 256
MLP_LR = 0.01
CNN_BATCH = 32
CNN_LR = 0.01
TRANSFORMER_SHAPE = (16, 64, 128)  # (batch, seq, d_model)
TRANSFORMER_HEADS = 4
TRANSFORMER_FF = 256
TRANSFORMER_LR = 1e-3

# ------------------------------------------------------------------ shared data


def init_weights(sizes: tuple, seed: int = SEED) -> dict[str, np.ndarray]:
    """Weights of an MLP ``sizes[0] -> ... -> sizes[-1]`` as a state dict.

    Drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default range for
    ``nn.Linear``; the keys are those of ``mlp(lib, sizes).state_dict()``
    (Linear layers at even indices of the Sequential, ReLUs between them).
    """
    rng = np.random.default_rng(seed)
    weights = {}
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        bound = 1.0 / np.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        bias = rng.uniform(-bound, bound, size=(fan_out,))
        weights[f"{2 * i}.weight"] = weight.astype(np.float32)
        weights[f"{2 * i}.bias"] = bias.astype(np.float32)
    return weights


def init_like(shapes: dict[str, tuple], seed: int = SEED) -> dict[str, np.ndarray]:
    """Weights for any state dict, given its keys and shapes, drawn in key order.

    A weight of two or more dimensions is U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    ``fan_in`` being the product of all but its first dimension; a bias takes
    the range of its weight (``in_proj_bias`` that of ``in_proj_weight``). A
    one-dimensional weight is a norm's scale: ones, and its bias zeros.
    """
    rng = np.random.default_rng(seed)
    weights = {}
    for key, shape in shapes.items():
        partner = shapes.get(key.replace("bias", "weight"), shape)
        if len(partner) < 2:
            value = np.ones(shape) if key.endswith("weight") else np.zeros(shape)
        else:
            bound = 1.0 / np.sqrt(np.prod(partner[1:]))
            value = rng.uniform(-bound, bound, size=shape)
        weights[key] = value.astype(np.float32)
    return weights


def xor_data() -> tuple[np.ndarray, np.ndarray]:
    """The four XOR points (4, 2) and their targets (4, 1), float32."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)
    return x, y


def small_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """W2's ``a``, ``b``, ``c``: three (1, 8) float32 arrays."""
    rng = np.random.default_rng(SEED)
    a, b, c = rng.standard_normal((3, *SMALL_SHAPE)).astype(np.float32)
    return a, b, c


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, 80% stratified train split: (1437, 64), (1437,)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    pixels = (images / 16.0).astype(np.float32)
    x_train, _, y_train, _ = train_test_split(
        pixels, labels, test_size=0.2, random_state=SEED, stratify=labels
    )
    return np.ascontiguousarray(x_train), y_train.astype(np.int64)


def mlp_data() -> tuple[np.ndarray, np.ndarray]:
    """W4's batch: (256, 784) standard normal inputs and (256,) labels 0..9."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((MLP_BATCH, MLP_SIZES[0])).astype(np.float32)
    return x, rng.integers(0, MLP_SIZES[-1], size=MLP_BATCH)


def cnn_data() -> tuple[np.ndarray, np.ndarray]:
    """W5's batch: (32, 1, 28, 28) standard normal images and (32,) labels."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((CNN_BATCH, 1, 28, 28)).astype(np.float32)
    return x, rng.integers(0, 10, size=CNN_BATCH)


class Permutations:
    """A sampler: a fresh NumPy permutation of ``range(n)`` on every pass.

    Every library (and the NumPy reference) draws the same orders from the same
    seed, so the digits losses agree after training, not only before it.
    """

    def __init__(self, n: int, seed: int = SEED) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)

    def __iter__(self) -> Iterator[int]:
        return iter(self.rng.permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def timed_blocks(step: Callable[[], Any], steps: int, repeats: int) -> tuple:
    """One untimed block of ``steps`` calls, then ``repeats`` timed blocks.

    Returns:
        The median seconds per call over the timed blocks, and the last
        call's result.
    """
    for _ in range(steps):
        out = step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            out = step()
        times.append((time.perf_counter() - start) / steps)
    return statistics.median(times), out


# ------------------------------------------------------------------ the models


def mlp(lib: Any, sizes: tuple) -> Any:
    """``Sequential(Linear, ReLU, Linear, ..., Linear)`` with ``sizes``' widths."""
    nn = lib.nn
    layers = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def cnn(lib: Any) -> Any:
    """W5: conv 1->16, pool, conv 16->32, pool, linear to 10 classes."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3),  # (b, 16, 26, 26)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (b, 16, 13, 13)
        nn.Conv2d(16, 32, 3),  # (b, 32, 11, 11)
        nn.ReLU(),
        nn.MaxPool2d(2),  # (b, 32, 5, 5)
        nn.Flatten(),
        nn.Linear(32 * 5 * 5, 10),
    )


def transformer_layer(lib: Any) -> Any:
    """One post-norm encoder layer, d_model 128, 4 heads, no dropout."""
    return lib.nn.TransformerEncoderLayer(
        d_model=TRANSFORMER_SHAPE[2],
        nhead=TRANSFORMER_HEADS,
        dim_feedforward=TRANSFORMER_FF,
        dropout=0.0,
        batch_first=True,
    )


def load_weights(lib: Any, model: Any, weights: dict[str, np.ndarray]) -> None:
    model.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in weights.items()})


def load_same_weights(lib: Any, model: Any) -> None:
    """Load ``init_like`` weights for the model's own keys and shapes."""
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    load_weights(lib, model, init_like(shapes))


class Compiling:
    """``lib`` whose steps' forward and loss go through ``lib.compile``
    (``plaingrad bench --compile``); anything else is ``lib``'s."""

    compile_steps = True

    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


def maybe_compiled(lib: Any, fn: Callable) -> Callable:
    """``fn``, through ``lib.compile`` when ``lib`` is ``Compiling``."""
    return lib.compile(fn) if getattr(lib, "compile_steps", False) else fn


def loss_function(lib: Any, model: Any, loss_fn: Any) -> Callable:
    """``f(x, y) = loss_fn(model(x), y)``, compiled for ``Compiling``."""
    return maybe_compiled(lib, lambda x, y: loss_fn(model(x), y))


def training_step(
    lib: Any, model: Any, optimizer: Any, loss_fn: Any, x: Any, y: Any
) -> tuple[Any, float]:
    """A training-step function and the loss before any step."""
    forward = loss_function(lib, model, loss_fn)

    def step() -> Any:
        loss = forward(x, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    with lib.no_grad():
        first = loss_fn(model(x), y).item()
    return step, first


def _result(seconds: float, first: float, last: float, **extra: float) -> dict:
    return {"seconds": seconds, "loss_first": first, "loss_last": last, **extra}


# ---------------------------------------------------------------- the programs


def xor_program(lib: Any, steps: int, repeats: int) -> dict[str, float]:
    """W1, the seed program: a 2-8-1 MLP learns XOR with MSE and Adam."""
    x_np, y_np = xor_data()
    x = lib.tensor(x_np.tolist(), dtype=lib.float32)
    y = lib.tensor(y_np.tolist(), dtype=lib.float32)
    model = mlp(lib, XOR_SIZES)
    load_weights(lib, model, init_weights(XOR_SIZES))
    optimizer = lib.optim.Adam(model.parameters(), lr=XOR_LR)
    step, first = training_step(lib, model, optimizer, lib.nn.MSELoss(), x, y)
    seconds, loss = timed_blocks(step, steps, repeats)
    return _result(seconds, first, loss.item())


def small_program(lib: Any, steps: int, repeats: int) -> dict[str, float]:
    """W2: ``(a * b + c).sum()`` and its backward on (1, 8) leaves.

    The gradients accumulate over the steps, as they do without ``zero_grad``;
    ``grad_sum`` (the sum of the three ``.grad``) checks that they did.
    """
    a, b, c = (lib.from_numpy(v).requires_grad_() for v in small_data())
    forward = maybe_compiled(lib, lambda a, b, c: (a * b + c).sum())

    def step() -> Any:
        loss = forward(a, b, c)
        loss.backward()
        return loss

    seconds, loss = timed_blocks(step, steps, repeats)
    grad_sum = sum(t.grad.sum().item() for t in (a, b, c))
    return _result(seconds, loss.item(), loss.item(), grad_sum=grad_sum)


def digits_program(lib: Any, steps: int, repeats: int) -> dict[str, float]:
    """W3: the digits MLP 64-128-64-10, batch 64, Adam; seconds per epoch."""
    nn = lib.nn
    x_np, y_np = digits_data()
    x, y = lib.from_numpy(x_np), lib.from_numpy(y_np)
    model = mlp(lib, DIGITS_SIZES)
    load_weights(lib, model, init_weights(DIGITS_SIZES))
    optimizer = lib.optim.Adam(model.parameters(), lr=DIGITS_LR)
    loss_fn = nn.CrossEntropyLoss()
    dataset = lib.utils.data.TensorDataset(x, y)
    loader = lib.utils.data.DataLoader(
        dataset, batch_size=DIGITS_BATCH, sampler=Permutations(len(x_np))
    )

    forward = loss_function(lib, model, loss_fn)

    def epoch() -> None:
        for inputs, targets in loader:
            loss = forward(inputs, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    with lib.no_grad():
        first = loss_fn(model(x), y).item()
    seconds, _ = timed_blocks(epoch, steps, repeats)
    with lib.no_grad():
        last = loss_fn(model(x), y).item()
    return _result(seconds, first, last)


def mlp_program(lib: Any, steps: int, repeats: int) -> dict[str, float]:
    """W4: MLP 784-1024-1024-10 on one batch of 256, cross-entropy, SGD."""
    x_np, y_np = mlp_data()
    model = mlp(lib, MLP_SIZES)
    load_weights(lib, model, init_weights(MLP_SIZES))
    optimizer = lib.optim.SGD(model.parameters(), lr=MLP_LR)
    x, y = lib.from_numpy(x_np), lib.from_numpy(y_np)
    step, first = training_step(lib, model, optimizer, lib.nn.CrossEntropyLoss(), x, y)
    seconds, loss = timed_blocks(step, steps, repeats)
    return _result(seconds, first, loss.item())


def cnn_program(lib: Any, steps: int, repeats: int) -> dict[str, float]:
    """W5: the small CNN on one batch of 32 images, cross-entropy, SGD."""
    x_np, y_np = cnn_data()
    model = cnn(lib)
    load_same_weights(lib, model)
    optimizer = lib.optim.SGD(model.parameters(), lr=CNN_LR)
    x, y = lib.from_numpy(x_np), lib.from_numpy(y_np)
    step, first = training_step(lib, model, optimizer, lib.nn.CrossEntropyLoss(), x, y)
    seconds, loss = timed_blocks(step, steps, repeats)
    return _result(seconds, first, loss.item())


def transformer_program(lib: Any, steps: int, repeats: int) -> dict[str, float]:
    """One encoder layer learns a fixed random target with MSE and Adam."""
    rng = np.random.default_rng(SEED)
    x = lib.from_numpy(rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32))
    y = lib.from_numpy(rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32))
    model = transformer_layer(lib)
    load_same_weights(lib, model)
    optimizer = lib.optim.Adam(model.parameters(), lr=TRANSFORMER_LR)
    step, first = training_step(lib, model, optimizer, lib.nn.MSELoss(), x, y)
    seconds, loss = timed_blocks(step, steps, repeats)
    return _result(seconds, first, loss.item())


# The program each timed workload runs, by the suite's names.
PROGRAMS = {
    "W1": xor_program,
    "W2": small_program,
    "W3": digits_program,
    "W4": mlp_program,
    "W5": cnn_program,
    "transformer": transformer_program,
}
