"""The benchmark workloads, written once against a PyTorch-like ``lib``.

``lib`` is the module a user would ``import ... as torch``: plaingrad or PyTorch
run the same source. Weights come from NumPy with a fixed seed and are loaded
through ``load_state_dict``, and the data is the same arrays, so both libraries
start from the same point and their losses can be compared.
"""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any

import numpy as np

XOR_SIZES = (2, 8, 1)
XOR_STEPS = 1000
XOR_LR = 0.01
DIGITS_SIZES = (64, 128, 64, 10)
DIGITS_BATCH = 64
DIGITS_LR = 1e-3
CONV_BATCH = 32
CONV_STEPS = 5
TRANSFORMER_SHAPE = (16, 64, 128)  # (batch, seq, d_model)
TRANSFORMER_HEADS = 4
TRANSFORMER_FF = 256
TRANSFORMER_STEPS = 5
TRANSFORMER_LR = 1e-3
SEED = 0

# ------------------------------------------------------------------ shared data


def init_weights(sizes: tuple, seed: int = SEED) -> dict[str, np.ndarray]:
    """Weights of an MLP ``sizes[0] -> ... -> sizes[-1]`` as a state dict.

    Drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default range for
    ``nn.Linear``; the keys are those of ``mlp(lib, sizes).state_dict()``
    (Linear layers sit at even indices of the Sequential, ReLUs between them).
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
    the range of the weight it goes with (``in_proj_bias`` that of
    ``in_proj_weight``). A one-dimensional weight is a norm's scale: ones, and
    its bias zeros. Both libraries list the same keys in the same order, so
    this gives them the same numbers.
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


# ------------------------------------------- workloads, one source for each lib


def mlp(lib: Any, sizes: tuple) -> Any:
    """``Sequential(Linear, ReLU, Linear, ..., Linear)`` with ``sizes``' widths."""
    nn = lib.nn
    layers = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def conv_net(lib: Any) -> Any:
    """``Conv2d(1, 16, 3) -> ReLU -> Conv2d(16, 32, 3) -> ReLU``."""
    nn = lib.nn
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU()
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


def load_same_weights(lib: Any, model: Any) -> None:
    """Load ``init_like`` weights for the model's own keys and shapes."""
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    load_weights(lib, model, init_like(shapes))


def load_weights(lib: Any, model: Any, weights: dict[str, np.ndarray]) -> None:
    model.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in weights.items()})


def xor_program(lib: Any, steps: int = XOR_STEPS) -> dict[str, float]:
    """The seed program: an 2-8-1 MLP learns XOR with MSE and Adam.

    Returns:
        ``us_per_step`` (the timed loop only) and the loss before and after.
    """
    nn = lib.nn
    x_np, y_np = xor_data()
    X = lib.tensor(x_np.tolist(), dtype=lib.float32)
    y = lib.tensor(y_np.tolist(), dtype=lib.float32)
    model = mlp(lib, XOR_SIZES)
    load_weights(lib, model, init_weights(XOR_SIZES))
    loss_fn = nn.MSELoss()
    optimizer = lib.optim.Adam(model.parameters(), lr=XOR_LR)
    with lib.no_grad():
        first = loss_fn(model(X), y).item()

    start = time.perf_counter()
    for _ in range(steps):
        loss = loss_fn(model(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start

    return {
        "us_per_step": elapsed / steps * 1e6,
        "loss_first": first,
        "loss_last": loss.item(),
    }


def digits_setup(lib: Any) -> tuple:
    """Model, optimizer, loss and shuffling loader of the digits MLP."""
    nn = lib.nn
    x_np, y_np = digits_data()
    X, y = lib.from_numpy(x_np), lib.from_numpy(y_np)
    lib.manual_seed(SEED)
    model = mlp(lib, DIGITS_SIZES)
    load_weights(lib, model, init_weights(DIGITS_SIZES))
    optimizer = lib.optim.Adam(model.parameters(), lr=DIGITS_LR)
    loss_fn = nn.CrossEntropyLoss()
    dataset = lib.utils.data.TensorDataset(X, y)
    loader = lib.utils.data.DataLoader(dataset, batch_size=DIGITS_BATCH, shuffle=True)
    with lib.no_grad():
        first = loss_fn(model(X), y).item()
    return model, optimizer, loss_fn, loader, (X, y), first


def digits_epoch(model: Any, optimizer: Any, loss_fn: Any, loader: Any) -> float:
    """One pass over the training set, as a user writes it; returns seconds."""
    start = time.perf_counter()
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def digits_program(lib: Any, epochs: int) -> dict[str, Any]:
    """Train ``1 + epochs`` epochs (the first warms up); time each of the rest."""
    model, optimizer, loss_fn, loader, (X, y), first = digits_setup(lib)
    digits_epoch(model, optimizer, loss_fn, loader)
    times = [digits_epoch(model, optimizer, loss_fn, loader) for _ in range(epochs)]
    with lib.no_grad():
        last = loss_fn(model(X), y).item()
    return {
        "ms_per_epoch": statistics.median(times) * 1e3,
        "loss_first": first,
        "loss_last": last,
    }


def conv_program(lib: Any, steps: int = CONV_STEPS) -> dict[str, float]:
    """Two 3x3 convolutions on a batch of 28x28 images: forward and backward.

    The loss is the sum of the outputs; nothing is updated, so every step does
    the same work and the loss stays the same.

    Returns:
        ``ms_per_step`` (the timed loop only) and the loss before and after.
    """
    rng = np.random.default_rng(SEED)
    x = lib.from_numpy(
        rng.standard_normal((CONV_BATCH, 1, 28, 28)).astype(np.float32)
    )  # (batch, channels, height, width)
    model = conv_net(lib)
    load_same_weights(lib, model)
    with lib.no_grad():
        first = model(x).sum().item()

    start = time.perf_counter()
    for _ in range(steps):
        model.zero_grad()
        loss = model(x).sum()  # output (batch, 32, 24, 24)
        loss.backward()
    elapsed = time.perf_counter() - start

    return {
        "ms_per_step": elapsed / steps * 1e3,
        "loss_first": first,
        "loss_last": loss.item(),
    }


def transformer_program(lib: Any, steps: int = TRANSFORMER_STEPS) -> dict[str, float]:
    """One encoder layer learns a fixed random target with MSE and Adam.

    Returns:
        ``ms_per_step`` (the timed loop only) and the loss before and after.
    """
    nn = lib.nn
    rng = np.random.default_rng(SEED)
    # (batch, seq, d_model), both
    x = lib.from_numpy(rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32))
    y = lib.from_numpy(rng.standard_normal(TRANSFORMER_SHAPE).astype(np.float32))
    model = transformer_layer(lib)
    load_same_weights(lib, model)
    loss_fn = nn.MSELoss()
    optimizer = lib.optim.Adam(model.parameters(), lr=TRANSFORMER_LR)
    with lib.no_grad():
        first = loss_fn(model(x), y).item()

    start = time.perf_counter()
    for _ in range(steps):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    elapsed = time.perf_counter() - start

    return {
        "ms_per_step": elapsed / steps * 1e3,
        "loss_first": first,
        "loss_last": loss.item(),
    }
