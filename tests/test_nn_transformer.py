"""Transformer layers, stacks and ``nn.Transformer`` against PyTorch.

Each model is built by one function for either library, in PyTorch first; its
state dict is copied into plaingrad through NumPy (so the keys must map one to
one), and outputs and the gradients of every parameter and input are compared
in float64. Dropout is switched off by ``eval()`` or ``dropout=0``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch
from opcheck import assert_close

import plaingrad as pg
from plaingrad.warnings import PlaingradWarning


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _compare(
    torch: ModuleType,
    build: Callable[[ModuleType], Any],
    arrays: list,
    masks: dict | None = None,
    train: bool = False,
    call: Callable[..., Any] | None = None,
) -> None:
    """Build, copy weights, run on ``arrays`` (+ ``masks``) and compare."""
    torch.manual_seed(0)
    theirs = build(torch).double().train(train)
    with torch.no_grad():
        for p in theirs.parameters():  # LayerNorm starts at 1 and 0: perturb
            p.add_(0.1 * torch.randn(p.shape, dtype=p.dtype))
    ours = build(pg).double().train(train)
    ours.load_state_dict(
        {k: pg.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    )
    call = call or (lambda model, *xs, **kw: model(*xs, **kw))
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    p_in = [pg.tensor(a, requires_grad=True) for a in arrays]
    t_masks = {k: torch.tensor(v) for k, v in (masks or {}).items()}
    p_masks = {k: pg.tensor(v) for k, v in (masks or {}).items()}
    t_out = call(theirs, *t_in, **t_masks)
    p_out = call(ours, *p_in, **p_masks)
    assert_close(p_out, t_out, "float64", "output")
    seed = _randn(*t_out.shape, seed=99)
    (t_out * torch.tensor(seed)).sum().backward()
    (p_out * pg.tensor(seed)).sum().backward()
    mine = dict(ours.named_parameters())
    assert list(mine) == [n for n, _ in theirs.named_parameters()]
    for name, param in theirs.named_parameters():
        assert_close(mine[name].grad, param.grad, "float64", f"grad of {name}")
    for i, (p, t) in enumerate(zip(p_in, t_in)):
        assert_close(p.grad, t.grad, "float64", f"grad of input {i}")


S, T, N, E = 5, 4, 3, 8


def _padding(batch: int, length: int, seed: int) -> np.ndarray:
    mask = np.random.default_rng(seed).random((batch, length)) > 0.7  # True = pad
    mask[:, 0] = False
    return mask


def _float(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, -np.inf, 0.0)


def _causal(length: int) -> np.ndarray:
    return np.triu(np.full((length, length), -np.inf), 1)


# --------------------------------------------------------------- encoder layer


@pytest.mark.parametrize("train", [False, True])
def test_encoder_layer_post_norm(torch: ModuleType, train: bool) -> None:
    dropout = 0.0 if train else 0.1  # eval switches dropout off
    _compare(
        torch,
        lambda lib: lib.nn.TransformerEncoderLayer(E, 2, 16, dropout),
        [_randn(S, N, E)],
        # a float padding mask: -inf = pad
        {"src_mask": _causal(S), "src_key_padding_mask": _float(_padding(N, S, 1))},
        train=train,
    )


def test_encoder_layer_pre_norm_batch_first_gelu_no_bias(torch: ModuleType) -> None:
    _compare(
        torch,
        lambda lib: lib.nn.TransformerEncoderLayer(
            E,
            4,
            dim_feedforward=12,
            activation="gelu",
            batch_first=True,
            norm_first=True,
            bias=False,
        ),
        [_randn(N, S, E)],
        {"src_key_padding_mask": _padding(N, S, 2)},
    )


def test_encoder_layer_module_activation_and_causal_hint(torch: ModuleType) -> None:
    _compare(
        torch,
        lambda lib: lib.nn.TransformerEncoderLayer(E, 2, 16, activation=lib.nn.Tanh()),
        [_randn(S, N, E)],
        {"src_mask": _causal(S)},
        call=lambda model, x, **kw: model(x, is_causal=True, **kw),
    )


def test_encoder_layer_unbatched(torch: ModuleType) -> None:
    _compare(
        torch, lambda lib: lib.nn.TransformerEncoderLayer(E, 2, 16), [_randn(S, E)]
    )


# --------------------------------------------------------------- decoder layer


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer(torch: ModuleType, norm_first: bool) -> None:
    _compare(
        torch,
        lambda lib: lib.nn.TransformerDecoderLayer(E, 2, 16, norm_first=norm_first),
        [_randn(T, N, E), _randn(S, N, E, seed=1)],
        {
            "tgt_mask": np.isinf(_causal(T)),  # bool: True = may not attend
            "tgt_key_padding_mask": _padding(N, T, 3),
            "memory_key_padding_mask": _padding(N, S, 4),
        },
    )


# ------------------------------------------------------------------- the stacks


@pytest.mark.parametrize("padding", [False, True])
def test_encoder_stack_detects_causal_mask(torch: ModuleType, padding: bool) -> None:
    def build(lib: ModuleType) -> Any:
        layer = lib.nn.TransformerEncoderLayer(E, 2, 16)
        return lib.nn.TransformerEncoder(
            layer, 2, lib.nn.LayerNorm(E), enable_nested_tensor=False
        )

    masks: dict = {"mask": _causal(S)}
    if not padding:
        _compare(torch, build, [_randn(S, N, E)], masks)
        return
    # A bool padding mask with a float mask: PyTorch warns, and so do we.
    masks["src_key_padding_mask"] = _padding(N, S, 5)
    with pytest.warns(PlaingradWarning, match="mismatched src_key_padding_mask"):
        _compare(torch, build, [_randn(S, N, E)], masks)


def test_decoder_stack(torch: ModuleType) -> None:
    def build(lib: ModuleType) -> Any:
        layer = lib.nn.TransformerDecoderLayer(E, 2, 16, batch_first=True)
        return lib.nn.TransformerDecoder(layer, 2)

    _compare(
        torch,
        build,
        [_randn(N, T, E), _randn(N, S, E, seed=1)],
        {"tgt_mask": _causal(T)},
    )


def test_transformer(torch: ModuleType) -> None:
    def build(lib: ModuleType) -> Any:
        return lib.nn.Transformer(E, 2, 2, 1, dim_feedforward=16)

    _compare(
        torch,
        build,
        [_randn(S, N, E), _randn(T, N, E, seed=1)],
        {
            "tgt_mask": _causal(T),
            "src_key_padding_mask": _float(_padding(N, S, 6)),
            "memory_key_padding_mask": _padding(N, S, 6),
        },
    )


# ------------------------------------------------------ structure and defaults


def test_module_trees_match_torch(torch: ModuleType) -> None:
    builders = [
        lambda lib: lib.nn.TransformerEncoderLayer(E, 2),
        lambda lib: lib.nn.TransformerDecoderLayer(E, 2, 16, activation=lib.nn.GELU()),
        lambda lib: lib.nn.Transformer(E, 2, 1, 2, 16, bias=False),
    ]
    for build in builders:
        theirs, ours = build(torch), build(pg)
        assert repr(ours) == repr(theirs)
        shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == shapes
        assert list(ours.state_dict()) == list(theirs.state_dict())


def test_defaults() -> None:
    layer = pg.nn.TransformerEncoderLayer(E, 2)
    assert layer.linear1.out_features == 2048
    assert layer.dropout.p == 0.1 and layer.self_attn.dropout == 0.1
    assert layer.norm1.eps == 1e-5
    assert layer.self_attn.batch_first is False and layer.norm_first is False
    assert layer.activation is pg.nn.functional.relu
    model = pg.nn.Transformer(E, 2, 1, 1, 16)
    # Transformer re-draws every matrix with xavier_uniform_ (bound 0.5 here).
    bound = np.sqrt(6.0 / (E + 16))
    assert (
        np.abs(model.encoder.layers[0].linear1.weight.detach().numpy()).max() <= bound
    )
    layers = model.encoder.layers
    assert layers[0].linear1.weight is not layers[0].linear2.weight


def test_stack_layers_are_independent_copies() -> None:
    layer = pg.nn.TransformerEncoderLayer(E, 2, 16)
    encoder = pg.nn.TransformerEncoder(layer, 3)
    weights = [m.linear1.weight for m in encoder.layers]
    assert len({id(w) for w in weights}) == 3 and all(
        w is not layer.linear1.weight for w in weights
    )
    np.testing.assert_array_equal(
        weights[0].detach().numpy(), weights[2].detach().numpy()
    )


def test_square_subsequent_mask(torch: ModuleType) -> None:
    ours = pg.nn.Transformer.generate_square_subsequent_mask(4)
    theirs = torch.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.dtype == pg.float32


def test_dropout_in_training_is_seeded() -> None:
    layer = pg.nn.TransformerEncoderLayer(E, 2, 16, dropout=0.5)
    x = pg.tensor(_randn(S, N, E), dtype=pg.float32)
    pg.manual_seed(3)
    first = layer(x)
    pg.manual_seed(3)
    np.testing.assert_array_equal(first.detach().numpy(), layer(x).detach().numpy())
    layer.eval()
    assert not np.allclose(layer(x).detach().numpy(), first.detach().numpy())


def test_errors() -> None:
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        pg.nn.TransformerEncoderLayer(E, 2, activation="tanh")
    model = pg.nn.Transformer(E, 2, 1, 1, 16)
    with pytest.raises(RuntimeError, match="batch number of src and tgt"):
        model(pg.zeros(S, 2, E), pg.zeros(T, 3, E))
    with pytest.raises(RuntimeError, match="feature number of src and tgt"):
        model(pg.zeros(S, N, E), pg.zeros(T, N, E + 1))
