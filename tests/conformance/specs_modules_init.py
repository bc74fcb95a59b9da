"""Default initialisation of the nn modules of issue 3, against torch's.

The other module specs copy torch's state into plaingrad, so they never see
plaingrad's own initial values; here each module is built fresh in both
libraries and compared: the same parameter and buffer names, in the same order,
with the same shapes, dtypes and ``requires_grad``, buffers with equal values,
and every parameter drawn from the distribution torch documents. A rule names
that distribution (``uniform(b)``, ``normal(s)``, a constant) and is asserted
on torch's module as well as plaingrad's, so a wrong rule fails on torch's side
rather than passing a wrong plaingrad. Modules are built larger than in the
other specs (a few hundred values per weight) so that the statistical checks
-- every value within the bound, the largest near it, mean and standard
deviation within six standard errors -- are sharp without being flaky.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import CustomSpec

Rule = tuple  # ("uniform", bound) | ("normal", std) | ("const", value) | ...
ONES = ("const", 1.0)
ZEROS = ("const", 0.0)


def kaiming(fan_in: int) -> Rule:
    """kaiming_uniform_(a=sqrt(5)) and the matching bias: U(-1/sqrt(fan_in), +)."""
    return ("uniform", 1.0 / math.sqrt(fan_in))


def xavier(shape: tuple) -> Rule:
    """xavier_uniform_: U(-b, b) with b = sqrt(6 / (fan_in + fan_out))."""
    receptive = int(np.prod(shape[2:]))
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    return ("uniform", math.sqrt(6.0 / (fan_in + fan_out)))


def _check_values(rule: Rule, values: np.ndarray, what: str) -> None:
    v = values.astype(np.float64).reshape(-1)
    kind = rule[0]
    if kind == "const":
        assert np.all(v == rule[1]), f"{what}: expected all {rule[1]}, got {v[:6]}"
        return
    if kind == "padded normal":  # Embedding: N(0, 1) but the padding row is 0
        rows = values.reshape(values.shape[0], -1)
        assert np.all(rows[rule[2]] == 0), f"{what}: padding row {rule[2]} not 0"
        v = np.delete(rows, rule[2], axis=0).reshape(-1)
        kind, rule = "normal", ("normal", rule[1])
    n = v.size
    if kind == "uniform":
        bound = rule[1]
        assert np.all(np.abs(v) <= bound * (1 + 1e-6)), (
            f"{what}: values up to {np.abs(v).max():.4g} exceed U(-{bound:.4g}, "
            f"{bound:.4g})"
        )
        if n >= 30:  # P(max |v| < 0.7 b) = 0.7 ** n
            assert np.abs(v).max() >= 0.7 * bound, (
                f"{what}: max |value| {np.abs(v).max():.4g} is far inside the "
                f"bound {bound:.4g}"
            )
        std, rel_se = bound / math.sqrt(3.0), math.sqrt(0.8 / (4 * n))
    elif kind == "normal":
        std, rel_se = rule[1], math.sqrt(2.0 / (4 * n))
        if n >= 200:  # tails: kurtosis 3 +- sqrt(24 / n); a uniform's is 1.8
            kurtosis = np.mean((v - v.mean()) ** 4) / v.var() ** 2
            assert 2.0 <= kurtosis <= 4.5, f"{what}: kurtosis {kurtosis:.3g}, not 3"
    else:
        raise ValueError(f"{what}: unknown rule {rule}")
    assert abs(v.mean()) <= 6 * std / math.sqrt(n), f"{what}: mean {v.mean():.4g}"
    if n >= 20:
        ratio = v.std() / std
        assert abs(ratio - 1) <= 6 * rel_se, (
            f"{what}: std {v.std():.4g}, expected {std:.4g} ({rule})"
        )


def _check_init(
    make: Callable[[Any], Any],
    rule: Callable[[str, dict], Rule],
    extra: Callable[[Any, Any], None] | None,
    torch: Any,
) -> None:
    torch.manual_seed(0)
    modules = {"torch": make(torch), "plaingrad": make(pg)}
    listing = {}
    for lib, module in modules.items():
        params = [(k, tuple(p.shape)) for k, p in module.named_parameters()]
        buffers = [(k, tuple(b.shape)) for k, b in module.named_buffers()]
        listing[lib] = (params, buffers)
    assert listing["plaingrad"][0] == listing["torch"][0], (
        f"parameters (name, shape) {listing['plaingrad'][0]}, torch "
        f"{listing['torch'][0]}"
    )
    assert listing["plaingrad"][1] == listing["torch"][1], (
        f"buffers (name, shape) {listing['plaingrad'][1]}, torch {listing['torch'][1]}"
    )
    t_buffers = dict(modules["torch"].named_buffers())
    for name, value in modules["plaingrad"].named_buffers():
        expected = t_buffers[name]
        assert value.dtype.name == str(expected.dtype).removeprefix("torch."), name
        np.testing.assert_array_equal(value.numpy(), expected.numpy(), err_msg=name)
    shapes = dict(listing["torch"][0])
    for lib, module in modules.items():
        for name, value in module.named_parameters():
            assert value.requires_grad, f"{lib}: `{name}` does not require grad"
            dtype = str(value.dtype).removeprefix("torch.").removeprefix("plaingrad.")
            assert dtype == "float32", f"{lib}: `{name}` is {dtype}"
            values = np.asarray(value.detach().numpy())
            _check_values(rule(name, shapes), values, f"{lib}: `{name}`")
    if extra is not None:
        extra(modules["torch"], modules["plaingrad"])


def init_spec(
    name: str,
    make: Callable[[Any], Any],
    rule: Callable[[str, dict], Rule],
    note: str,
    extra: Callable[[Any, Any], None] | None = None,
) -> CustomSpec:
    base, _, variant = name.partition("(")
    return CustomSpec(
        f"nn.{base}(init, {variant}" if variant else f"nn.{name}(init)",
        lambda torch, dtype: _check_init(make, rule, extra, torch),
        st.just(()),
        dtypes=("float32",),
        examples_scale=0.34,
        note=note,
    )


def _leaf(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _linear_rule(name: str, shapes: dict) -> Rule:
    """weight (out, in) and bias: U(-1/sqrt(in), +); Conv: fan_in from weight."""
    weight = shapes[name[: len(name) - len(_leaf(name))] + "weight"]
    return kaiming(int(np.prod(weight[1:])))


def _norm_rule(name: str, shapes: dict) -> Rule:
    return ONES if _leaf(name) == "weight" else ZEROS


def _recurrent_rule(hidden: int) -> Callable[[str, dict], Rule]:
    return lambda name, shapes: kaiming(hidden)


def _attention_rule(name: str, shapes: dict) -> Rule:
    leaf = _leaf(name)
    if leaf.endswith("proj_weight"):  # in_proj_weight or q/k/v_proj_weight
        return xavier(shapes[name])
    if leaf == "in_proj_bias" or name.endswith("out_proj.bias"):
        return ZEROS
    return kaiming(shapes[name][1])  # out_proj.weight keeps Linear's


def _layer_rule(name: str, shapes: dict) -> Rule:
    """Transformer layers: attention, two Linear layers, LayerNorms."""
    owner = name.rsplit(".", 2)[-2]
    if owner.startswith("norm"):
        return _norm_rule(name, shapes)
    if owner.startswith("linear"):
        return _linear_rule(name, shapes)
    return _attention_rule(name, shapes)


def _transformer_rule(name: str, shapes: dict) -> Rule:
    """nn.Transformer re-initialises every matrix with xavier_uniform_."""
    if len(shapes[name]) > 1:
        return xavier(shapes[name])
    return _layer_rule(name, shapes)


def _embedding_rule(name: str, shapes: dict) -> Rule:
    return ("padded normal", 1.0, 3)


def _same_layers(t_mod: Any, p_mod: Any) -> None:
    """TransformerEncoder deep-copies its layer: both start with equal values."""
    for lib, module in (("torch", t_mod), ("plaingrad", p_mod)):
        first, second = (dict(m.named_parameters()) for m in module.layers)
        for key, value in first.items():
            np.testing.assert_array_equal(
                value.detach().numpy(),
                second[key].detach().numpy(),
                err_msg=f"{lib}: layers.0.{key} != layers.1.{key}",
            )


RECURRENT = "all weights and biases U(-1/sqrt(hidden), 1/sqrt(hidden))"

SPECS = [
    init_spec(
        "Linear",
        lambda lib: lib.nn.Linear(20, 30),
        _linear_rule,
        "weight and bias U(-1/sqrt(in_features), +)",
    ),
    init_spec(
        "Bilinear",
        lambda lib: lib.nn.Bilinear(5, 6, 7),
        lambda name, shapes: kaiming(5),
        "weight (out, in1, in2) and bias U(-1/sqrt(in1_features), +)",
    ),
    init_spec(
        "Conv1d",
        lambda lib: lib.nn.Conv1d(4, 30, 3, groups=2),
        _linear_rule,
        "U(-1/sqrt(fan_in), +), fan_in = in/groups * kernel",
    ),
    init_spec(
        "Conv2d",
        lambda lib: lib.nn.Conv2d(4, 16, (3, 2), groups=2),
        _linear_rule,
        "U(-1/sqrt(fan_in), +), fan_in = in/groups * kH * kW",
    ),
    init_spec(
        "ConvTranspose2d",
        lambda lib: lib.nn.ConvTranspose2d(4, 6, 3, groups=2),
        _linear_rule,
        "weight (in, out/groups, kH, kW); fan_in from weight.shape[1:] as torch",
    ),
    init_spec(
        "BatchNorm1d",
        lambda lib: lib.nn.BatchNorm1d(6),
        _norm_rule,
        "weight 1, bias 0; running_mean 0, running_var 1, num_batches_tracked 0",
    ),
    init_spec(
        "BatchNorm2d",
        lambda lib: lib.nn.BatchNorm2d(6, affine=False),
        _norm_rule,
        "affine=False: no parameters, buffers as torch's",
    ),
    init_spec(
        "BatchNorm2d(no running stats)",
        lambda lib: lib.nn.BatchNorm2d(6, track_running_stats=False),
        _norm_rule,
        "track_running_stats=False: no buffers",
    ),
    init_spec(
        "LayerNorm",
        lambda lib: lib.nn.LayerNorm((4, 5)),
        _norm_rule,
        "weight 1, bias 0, of normalized_shape",
    ),
    init_spec(
        "LayerNorm(no bias)",
        lambda lib: lib.nn.LayerNorm(5, bias=False),
        _norm_rule,
        "bias=False: weight only",
    ),
    init_spec("GroupNorm", lambda lib: lib.nn.GroupNorm(2, 6), _norm_rule, "1 and 0"),
    init_spec("RMSNorm", lambda lib: lib.nn.RMSNorm(5), _norm_rule, "weight 1"),
    init_spec(
        "Embedding",
        lambda lib: lib.nn.Embedding(60, 5, padding_idx=3),
        _embedding_rule,
        "N(0, 1), the padding_idx row 0",
    ),
    init_spec(
        "RNN",
        lambda lib: lib.nn.RNN(4, 5, num_layers=2, bidirectional=True),
        _recurrent_rule(5),
        RECURRENT + "; _l{k} and _reverse names",
    ),
    init_spec(
        "LSTM",
        lambda lib: lib.nn.LSTM(4, 5, num_layers=2, bidirectional=True),
        _recurrent_rule(5),
        RECURRENT + "; (4H, ...) gate blocks",
    ),
    init_spec(
        "GRU",
        lambda lib: lib.nn.GRU(4, 5, num_layers=2, batch_first=True),
        _recurrent_rule(5),
        RECURRENT + "; (3H, ...) gate blocks",
    ),
    init_spec(
        "RNNCell", lambda lib: lib.nn.RNNCell(4, 5), _recurrent_rule(5), RECURRENT
    ),
    init_spec(
        "LSTMCell", lambda lib: lib.nn.LSTMCell(4, 5), _recurrent_rule(5), RECURRENT
    ),
    init_spec(
        "GRUCell", lambda lib: lib.nn.GRUCell(4, 5), _recurrent_rule(5), RECURRENT
    ),
    init_spec(
        "MultiheadAttention",
        lambda lib: lib.nn.MultiheadAttention(8, 2),
        _attention_rule,
        "in_proj_weight xavier_uniform, biases 0, out_proj.weight as Linear's",
    ),
    init_spec(
        "MultiheadAttention(kdim, vdim)",
        lambda lib: lib.nn.MultiheadAttention(8, 2, kdim=5, vdim=3),
        _attention_rule,
        "separate q/k/v_proj_weight, each xavier_uniform",
    ),
    init_spec(
        "TransformerEncoderLayer",
        lambda lib: lib.nn.TransformerEncoderLayer(8, 2, 16),
        _layer_rule,
        "its attention, Linear and LayerNorm parts as initialised alone",
    ),
    init_spec(
        "TransformerDecoderLayer",
        lambda lib: lib.nn.TransformerDecoderLayer(8, 2, 16),
        _layer_rule,
        "self and cross attention, Linear layers, three LayerNorms",
    ),
    init_spec(
        "TransformerEncoder",
        lambda lib: lib.nn.TransformerEncoder(
            lib.nn.TransformerEncoderLayer(8, 2, 16), 2, enable_nested_tensor=False
        ),
        _layer_rule,
        "layers are deep copies of the one given: equal initial values",
        extra=_same_layers,
    ),
    init_spec(
        "Transformer",
        lambda lib: lib.nn.Transformer(8, 2, 1, 1, 16),
        _transformer_rule,
        "every matrix xavier_uniform; vectors as in the layers",
    ),
]
