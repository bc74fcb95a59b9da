"""``scaled_dot_product_attention`` and ``MultiheadAttention`` against PyTorch.

The functional form goes through ``opcheck`` (values and input gradients in
float32 and float64, plus finite differences). ``MultiheadAttention`` is built
in PyTorch, its state dict copied into plaingrad through NumPy, and the
outputs, the attention weights and the gradients of every parameter and input
compared.
"""

from __future__ import annotations

import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch
from opcheck import assert_close, check_against_torch, check_gradients

import plaingrad as pg
import plaingrad.nn.functional as F


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _randn(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------- scaled_dot_product_attention


def _sdpa(**kwargs: Any) -> Any:
    def fn(lib: ModuleType, q: Any, k: Any, v: Any, *mask: Any) -> Any:
        attn_mask = mask[0] if mask else None
        return lib.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, **kwargs
        )

    return fn


SDPA_SHAPES = [
    ((2, 3, 4, 5), (2, 3, 6, 5), (2, 3, 6, 7)),  # (batch, heads, time, head_dim)
    ((4, 5), (6, 5), (6, 3)),  # no batch
    ((2, 1, 4, 5), (1, 3, 6, 5), (1, 3, 6, 5)),  # leading dims broadcast
]


@pytest.mark.parametrize("shapes", SDPA_SHAPES)
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"is_causal": True}, {"scale": 0.3}],
    ids=["plain", "causal", "scale"],
)
def test_sdpa_matches_torch(torch: ModuleType, shapes: Any, kwargs: dict) -> None:
    q, k, v = (_randn(*s, seed=i) for i, s in enumerate(shapes))
    check_against_torch(torch, _sdpa(**kwargs), q, k, v)


def test_sdpa_bool_mask_broadcasts(torch: ModuleType) -> None:
    q, k, v = _randn(2, 3, 4, 5), _randn(2, 3, 6, 5, seed=1), _randn(2, 3, 6, 5, seed=2)
    mask = np.random.default_rng(3).random((4, 6)) > 0.4  # True = take part
    mask[:, 0] = True
    check_against_torch(torch, _sdpa(), q, k, v, mask)


def test_sdpa_float_mask_is_added(torch: ModuleType) -> None:
    q, k, v = _randn(2, 4, 5), _randn(2, 6, 5, seed=1), _randn(2, 6, 5, seed=2)
    mask = _randn(2, 1, 6, seed=3)
    check_against_torch(
        torch, _sdpa(), q, k, v, mask, requires_grad=[True, True, True, False]
    )


def test_sdpa_fully_masked_row_gives_zeros(torch: ModuleType) -> None:
    q, k, v = _randn(1, 3, 4), _randn(1, 5, 4, seed=1), _randn(1, 5, 4, seed=2)
    mask = np.ones((3, 5), dtype=bool)
    mask[1] = False  # query 1 may attend to nothing
    check_against_torch(torch, _sdpa(), q, k, v, mask)
    out = _sdpa()(pg, *(pg.tensor(a) for a in (q, k, v)), pg.tensor(mask))
    np.testing.assert_array_equal(out.numpy()[0, 1], 0.0)


@pytest.mark.parametrize("kwargs", [{}, {"is_causal": True}])
def test_sdpa_finite_differences(kwargs: dict) -> None:
    q, k, v = _randn(2, 3, 4), _randn(2, 3, 4, seed=1), _randn(2, 3, 2, seed=2)
    check_gradients(_sdpa(**kwargs), q, k, v)


def test_sdpa_matches_numpy() -> None:
    q, k, v = _randn(3, 4), _randn(5, 4, seed=1), _randn(5, 2, seed=2)
    scores = q @ k.T / math.sqrt(4)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = F.scaled_dot_product_attention(pg.tensor(q), pg.tensor(k), pg.tensor(v))
    np.testing.assert_allclose(out.numpy(), weights @ v, rtol=1e-12)


def test_sdpa_dropout() -> None:
    q = k = pg.zeros(1, 200, 4)  # uniform weights 1/200
    v = pg.ones(1, 200, 1)
    assert bool((F.scaled_dot_product_attention(q, k, v, dropout_p=1.0) == 0).all())
    pg.manual_seed(0)
    first = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    pg.manual_seed(0)
    second = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    np.testing.assert_array_equal(first.numpy(), second.numpy())
    # Inverted dropout keeps the expectation: mean of 200 rows near 1.
    assert abs(float(first.mean()) - 1.0) < 0.1


def test_sdpa_errors() -> None:
    q = pg.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match="should not be set when is_causal"):
        F.scaled_dot_product_attention(
            q, q, q, attn_mask=pg.ones(3, 3, dtype=pg.bool), is_causal=True
        )
    with pytest.raises(RuntimeError, match="attn_mask.dtype: int64"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=pg.ones(3, 3).long())
    with pytest.raises(RuntimeError, match="between 0 and 1, but got 1.5"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q, q, q.double())
    with pytest.raises(RuntimeError, match=r"`key.shape\[-1\]` is 5"):
        F.scaled_dot_product_attention(q, pg.zeros(2, 3, 5), q)
    with pytest.raises(RuntimeError, match="at least 2 dimensional"):
        F.scaled_dot_product_attention(pg.zeros(4), q, q)


# ----------------------------------------------------------- MultiheadAttention


def _pair(torch: ModuleType, seed: int = 0, **kwargs: Any) -> tuple[Any, Any]:
    """The same MultiheadAttention in torch and plaingrad (weights copied)."""
    torch.manual_seed(seed)
    reference = torch.nn.MultiheadAttention(**kwargs).double()
    with torch.no_grad():
        for p in reference.parameters():  # non-zero biases, to test them too
            p.add_(0.1 * torch.randn(p.shape, dtype=p.dtype))
    ours = pg.nn.MultiheadAttention(**kwargs).double()
    ours.load_state_dict(
        {k: pg.tensor(v.numpy()) for k, v in reference.state_dict().items()}
    )
    return reference, ours


def _compare_mha(
    torch: ModuleType,
    module_kwargs: dict,
    shapes: tuple,
    call_kwargs: dict | None = None,
    masks: dict | None = None,
    self_attention: bool = False,
) -> None:
    reference, ours = _pair(torch, **module_kwargs)
    arrays = [_randn(*s, seed=10 + i) for i, s in enumerate(shapes)]
    if self_attention:
        arrays = arrays[:1]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    p_in = [pg.tensor(a, requires_grad=True) for a in arrays]
    if self_attention:
        t_in, p_in = t_in * 3, p_in * 3
    call_kwargs = dict(call_kwargs or {})
    t_kw, p_kw = dict(call_kwargs), dict(call_kwargs)
    for name, mask in (masks or {}).items():
        t_kw[name] = torch.tensor(mask)
        p_kw[name] = pg.tensor(mask)
    t_out, t_w = reference(*t_in, **t_kw)
    p_out, p_w = ours(*p_in, **p_kw)
    assert_close(p_out, t_out, "float64", "output")
    if t_w is None:
        assert p_w is None
    else:
        assert_close(p_w, t_w, "float64", "weights")
    seed = _randn(*t_out.shape, seed=99)
    loss_t = (t_out * torch.tensor(seed)).sum()
    loss_p = (p_out * pg.tensor(seed)).sum()
    if t_w is not None:
        seed_w = _randn(*t_w.shape, seed=98)
        loss_t = loss_t + (t_w * torch.tensor(seed_w)).sum()
        loss_p = loss_p + (p_w * pg.tensor(seed_w)).sum()
    loss_t.backward()
    loss_p.backward()
    p_params = dict(ours.named_parameters())
    for name, param in reference.named_parameters():
        assert_close(p_params[name].grad, param.grad, "float64", f"grad of {name}")
    for i, (p, t) in enumerate(zip(p_in, t_in)):
        assert_close(p.grad, t.grad, "float64", f"grad of input {i}")


L, S, N, E = 4, 5, 3, 6


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("average", [True, False])
def test_mha_self_attention(
    torch: ModuleType, need_weights: bool, average: bool
) -> None:
    _compare_mha(
        torch,
        {"embed_dim": E, "num_heads": 2},
        [(L, N, E)],
        {"need_weights": need_weights, "average_attn_weights": average},
        self_attention=True,
    )


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_cross_attention_with_masks(torch: ModuleType, need_weights: bool) -> None:
    rng = np.random.default_rng(5)
    padding = rng.random((N, S)) > 0.7  # True = ignore
    padding[:, 0] = False
    causal_like = rng.random((L, S)) > 0.7
    causal_like[:, 0] = False
    _compare_mha(
        torch,
        {"embed_dim": E, "num_heads": 3},
        [(L, N, E), (S, N, E), (S, N, E)],
        {"need_weights": need_weights},
        {"key_padding_mask": padding, "attn_mask": causal_like},
    )


def test_mha_float_3d_mask_batch_first(torch: ModuleType) -> None:
    heads = 2
    _compare_mha(
        torch,
        {"embed_dim": E, "num_heads": heads, "batch_first": True},
        [(N, L, E), (N, S, E), (N, S, E)],
        masks={"attn_mask": _randn(N * heads, L, S, seed=7)},
    )


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_kdim_vdim_no_bias(torch: ModuleType, need_weights: bool) -> None:
    _compare_mha(
        torch,
        {"embed_dim": E, "num_heads": 2, "kdim": 4, "vdim": 3, "bias": False},
        [(L, N, E), (S, N, 4), (S, N, 3)],
        {"need_weights": need_weights},
    )


def test_mha_unbatched(torch: ModuleType) -> None:
    padding = np.zeros(S, dtype=bool)
    padding[-2:] = True
    _compare_mha(
        torch,
        {"embed_dim": E, "num_heads": 2},
        [(L, E), (S, E), (S, E)],
        masks={"key_padding_mask": padding},
    )


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_is_causal_hint(torch: ModuleType, need_weights: bool) -> None:
    causal = np.triu(np.ones((L, L), dtype=bool), 1)  # True = may not attend
    _compare_mha(
        torch,
        {"embed_dim": E, "num_heads": 2},
        [(L, N, E)],
        {"need_weights": need_weights, "is_causal": True},
        {"attn_mask": causal},
        self_attention=True,
    )


def test_mha_parameters_match_torch(torch: ModuleType) -> None:
    for kwargs in ({}, {"kdim": 4, "vdim": 3}, {"bias": False}):
        reference = torch.nn.MultiheadAttention(E, 2, **kwargs)
        ours = pg.nn.MultiheadAttention(E, 2, **kwargs)
        assert repr(ours) == repr(reference)
        theirs = {k: tuple(v.shape) for k, v in reference.state_dict().items()}
        mine = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
        assert list(mine.items()) == list(theirs.items())
        names = [n for n, _ in reference.named_parameters()]
        assert [n for n, _ in ours.named_parameters()] == names


def test_mha_init() -> None:
    pg.manual_seed(0)
    mha = pg.nn.MultiheadAttention(64, 4)
    bound = math.sqrt(6.0 / (64 + 3 * 64))  # xavier_uniform_ on (3E, E)
    weight = mha.in_proj_weight.detach().numpy()
    assert np.abs(weight).max() <= bound
    assert np.abs(weight).max() > 0.9 * bound
    np.testing.assert_array_equal(mha.in_proj_bias.detach().numpy(), 0.0)
    np.testing.assert_array_equal(mha.out_proj.bias.detach().numpy(), 0.0)
    assert mha.batch_first is False
    assert mha.head_dim == 16


def test_mha_errors() -> None:
    with pytest.raises(NotImplementedError, match="add_bias_kv"):
        pg.nn.MultiheadAttention(4, 2, add_bias_kv=True)
    with pytest.raises(AssertionError, match="divisible by num_heads"):
        pg.nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError, match="greater than 0"):
        pg.nn.MultiheadAttention(0, 2)
    mha = pg.nn.MultiheadAttention(4, 2)
    x = pg.zeros(3, 2, 4)
    with pytest.raises(RuntimeError, match="need `attn_mask`"):
        mha(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask is"):
        mha(x, x, x, attn_mask=pg.zeros(2, 2))
    with pytest.raises(AssertionError, match="embedding dimension of 4"):
        mha(pg.zeros(3, 2, 5), x, x)
    with pytest.raises(AssertionError, match="key_padding_mask"):
        mha(x, x, x, key_padding_mask=pg.zeros(3, dtype=pg.bool))


def test_mha_dropout_only_in_training() -> None:
    mha = pg.nn.MultiheadAttention(E, 2, dropout=0.5)
    x = pg.tensor(_randn(L, N, E), dtype=pg.float32)
    pg.manual_seed(0)
    _, weights = mha(x, x, x, average_attn_weights=False)
    sums = weights.detach().numpy().sum(-1)
    assert not np.allclose(sums, 1.0)  # dropped weights, the rest scaled by 2
    mha.eval()
    _, weights = mha(x, x, x)
    np.testing.assert_allclose(weights.detach().numpy().sum(-1), 1.0, rtol=1e-6)
