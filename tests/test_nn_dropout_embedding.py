"""Dropout (``dropout``, ``dropout2d``, ``Dropout``, ``Dropout2d``), ``embedding``,
``one_hot``, ``Embedding``, ``Identity`` and ``Unflatten``.

Dropout's masks are random, so its tests check statistics on a large tensor
(the fraction kept is 1 - p, kept values are scaled by 1/(1 - p)), that the
gradient is the mask times the scale, and that ``plaingrad.manual_seed``
reproduces a mask. Embedding is compared with real PyTorch: values, gradients
(repeated indices, ``padding_idx``, ``scale_grad_by_freq``), the in-place
``max_norm`` renormalisation, initialisation, state dicts and reprs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

F = pg.nn.functional


# ---------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_mask_statistics(p: float) -> None:
    pg.manual_seed(0)
    out = F.dropout(pg.ones(400, 500), p=p).numpy()
    kept = out != 0
    # 200_000 Bernoulli draws: the standard error of the fraction is < 0.0012
    assert abs(kept.mean() - (1 - p)) < 0.006
    np.testing.assert_allclose(out[kept], 1 / (1 - p), rtol=1e-6)


def test_dropout_gradient_is_mask_times_scale() -> None:
    pg.manual_seed(1)
    x = pg.randn(50, 40, requires_grad=True)
    y = F.dropout(x, p=0.3)
    assert y.grad_fn.name() == "MulBackward0"
    y.sum().backward()
    mask = (y.detach().numpy() != 0) | (x.detach().numpy() == 0)
    np.testing.assert_allclose(x.grad.numpy(), mask / 0.7, rtol=1e-6)
    np.testing.assert_allclose(
        y.detach().numpy(), x.detach().numpy() * mask / 0.7, rtol=1e-6
    )


def test_dropout_reproducible_under_manual_seed() -> None:
    pg.manual_seed(123)
    a = F.dropout(pg.ones(64, 64)).numpy()
    b = F.dropout(pg.ones(64, 64)).numpy()
    pg.manual_seed(123)
    np.testing.assert_array_equal(F.dropout(pg.ones(64, 64)).numpy(), a)
    np.testing.assert_array_equal(F.dropout(pg.ones(64, 64)).numpy(), b)
    assert not np.array_equal(a, b)
    pg.manual_seed(123)
    layer = pg.nn.Dropout()
    np.testing.assert_array_equal(layer(pg.ones(64, 64)).numpy(), a)


def test_dropout_eval_and_p_zero_are_identity() -> None:
    x = pg.randn(5, 4, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    layer = pg.nn.Dropout(0.5).eval()
    assert layer(x) is x
    planes = pg.randn(2, 3, 4, 4)
    assert pg.nn.Dropout2d(0.5).eval()(planes) is planes


def test_dropout_p_one_gives_zeros() -> None:
    x = pg.randn(5, 4, requires_grad=True)
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(force=True), np.zeros((5, 4)))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((5, 4)))
    z = F.dropout2d(pg.randn(2, 3, 4, 4), 1.0)
    np.testing.assert_array_equal(z.numpy(), np.zeros((2, 3, 4, 4)))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_p_outside_unit_interval_raises(p: float) -> None:
    x = pg.randn(3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout2d(pg.randn(2, 3, 4, 4), p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        pg.nn.Dropout(p)
    with pytest.raises(ValueError, match="between 0 and 1"):
        pg.nn.Dropout2d(p)


def test_dropout_inplace_writes_into_input() -> None:
    pg.manual_seed(2)
    x = pg.ones(20, 20)
    y = F.dropout(x, 0.5, inplace=True)
    assert y is x
    values = np.unique(x.numpy())
    np.testing.assert_array_equal(values, [0.0, 2.0])
    layer = pg.nn.Dropout(0.5, inplace=True)
    z = pg.ones(20, 20)
    assert layer(z) is z


def test_dropout2d_drops_whole_channels() -> None:
    pg.manual_seed(3)
    p = 0.4
    out = F.dropout2d(pg.ones(100, 50, 3, 3), p).numpy()
    planes = out.reshape(100, 50, 9)
    kept = planes[..., 0] != 0
    # every plane is all zeros or all 1/(1-p)
    expected = np.repeat(kept[..., None], 9, -1) / (1 - p)
    np.testing.assert_allclose(planes, expected, rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.03
    x = pg.randn(4, 6, 2, 2, requires_grad=True)
    y = F.dropout2d(x, 0.5)
    y.sum().backward()
    grad = x.grad.numpy()
    assert set(np.unique(grad)) <= {0.0, 2.0}
    assert (grad.reshape(4, 6, 4).std(axis=-1) == 0).all()


def test_dropout2d_other_ranks_warn_as_pytorch() -> None:
    with pytest.warns(pg.warnings.PlaingradWarning, match="3-D input"):
        out = F.dropout2d(pg.ones(2, 3, 5), 0.5)
    planes = out.numpy()
    assert ((planes == 0).all(-1) | (planes == 2).all(-1)).all()
    with pytest.warns(pg.warnings.PlaingradWarning, match="2-D input"):
        F.dropout2d(pg.ones(2, 3), 0.5)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.dropout2d(pg.ones(3), 0.5)


def test_dropout_module_reprs() -> None:
    for cls in ("Dropout", "Dropout2d"):
        for kwargs in ({}, {"p": 0.3, "inplace": True}):
            ours = getattr(pg.nn, cls)(**kwargs)
            assert repr(ours) == repr(getattr(torch.nn, cls)(**kwargs))
            assert list(ours.state_dict()) == []


def test_dropout_refuses_integer_input() -> None:
    with pytest.raises(RuntimeError, match="floating"):
        F.dropout(pg.tensor([1, 2, 3]), 0.5)


# -------------------------------------------------------------------- embedding


def _pair(shape: tuple, seed: int = 0):
    w = np.random.default_rng(seed).standard_normal(shape)
    ours = pg.tensor(w, requires_grad=True)
    theirs = torch.tensor(w, requires_grad=True)
    return w, ours, theirs


INDICES = [[1, 2, 4, 4], [4, 3, 2, 0]]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"padding_idx": 4}, {"padding_idx": -1}, {"scale_grad_by_freq": True}],
)
def test_embedding_values_and_gradients_against_torch(kwargs: dict) -> None:
    _, w, wt = _pair((6, 3))
    idx = pg.tensor(INDICES)
    out = F.embedding(idx, w, **kwargs)
    expected = torch.nn.functional.embedding(torch.tensor(INDICES), wt, **kwargs)
    assert out.grad_fn.name() == "EmbeddingBackward0"
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy())
    seed = np.random.default_rng(1).standard_normal((2, 4, 3))
    out.backward(pg.tensor(seed))
    expected.backward(torch.tensor(seed))
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)


def test_embedding_int32_indices_and_float32_weight() -> None:
    _, w, wt = _pair((5, 2))
    idx = np.array([0, 3, 3], dtype=np.int32)
    w32, wt32 = pg.tensor(w.detach().numpy(), dtype=pg.float32), wt.detach().float()
    out = F.embedding(pg.tensor(idx), w32)
    assert out.dtype == pg.float32
    np.testing.assert_array_equal(
        out.numpy(), torch.nn.functional.embedding(torch.tensor(idx), wt32).numpy()
    )


@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_embedding_max_norm_renormalises_rows_in_place(norm_type: float) -> None:
    w = np.random.default_rng(2).standard_normal((6, 4)) * 2
    ours, theirs = pg.tensor(w), torch.tensor(w)
    idx = [[0, 2], [2, 5]]
    out = F.embedding(pg.tensor(idx), ours, max_norm=1.0, norm_type=norm_type)
    expected = torch.nn.functional.embedding(
        torch.tensor(idx), theirs, max_norm=1.0, norm_type=norm_type
    )
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    # rows not looked up are untouched
    np.testing.assert_array_equal(ours.numpy()[[1, 3, 4]], w[[1, 3, 4]])


def test_embedding_module_max_norm_with_gradient() -> None:
    ours = pg.nn.Embedding(8, 3, max_norm=0.5)
    theirs = torch.nn.Embedding(8, 3, max_norm=0.5)
    ours.load_state_dict({"weight": theirs.weight.detach().numpy()})
    idx = [1, 1, 6]
    a = ours(pg.tensor(idx))
    b = theirs(torch.tensor(idx))
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-6)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
    np.testing.assert_allclose(
        ours.weight.detach().numpy(), theirs.weight.detach().numpy(), rtol=1e-6
    )


def test_embedding_module_init_and_padding() -> None:
    pg.manual_seed(0)
    layer = pg.nn.Embedding(2000, 50, padding_idx=3)
    w = layer.weight.detach().numpy()
    np.testing.assert_array_equal(w[3], np.zeros(50))
    rest = np.delete(w, 3, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01
    assert layer.weight.shape == (2000, 50) and layer.weight.dtype == pg.float32
    out = layer(pg.tensor([3, 5, 3]))
    out.sum().backward()
    grad = layer.weight.grad.numpy()
    np.testing.assert_array_equal(grad[3], np.zeros(50))
    np.testing.assert_array_equal(grad[5], np.ones(50))


def test_embedding_state_dict_loads_from_torch() -> None:
    theirs = torch.nn.Embedding(7, 4, padding_idx=0)
    ours = pg.nn.Embedding(7, 4, padding_idx=0)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    idx = [[0, 6], [2, 2]]
    np.testing.assert_array_equal(
        ours(pg.tensor(idx)).detach().numpy(),
        theirs(torch.tensor(idx)).detach().numpy(),
    )


def test_embedding_from_pretrained() -> None:
    table = pg.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    frozen = pg.nn.Embedding.from_pretrained(table)
    assert not frozen.weight.requires_grad
    assert repr(frozen) == "Embedding(3, 2)"
    np.testing.assert_array_equal(frozen(pg.tensor([2])).numpy(), [[5.0, 6.0]])
    trainable = pg.nn.Embedding.from_pretrained(table, freeze=False, padding_idx=1)
    assert trainable.weight.requires_grad
    # from_pretrained keeps the given padding row as it is, as PyTorch
    np.testing.assert_array_equal(trainable.weight.detach().numpy()[1], [3.0, 4.0])
    with pytest.raises(ValueError, match="2-D"):
        pg.nn.Embedding.from_pretrained(pg.ones(3))


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((10, 3), {}),
        ((10, 3), {"padding_idx": 0, "max_norm": 1.0}),
        ((10, 3), {"padding_idx": -2}),
        (
            (10, 3),
            {"max_norm": 2.0, "norm_type": 3.0, "scale_grad_by_freq": True},
        ),
    ],
)
def test_embedding_reprs(args: tuple, kwargs: dict) -> None:
    ours = pg.nn.Embedding(*args, **kwargs)
    theirs = torch.nn.Embedding(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert ours.padding_idx == theirs.padding_idx


def test_embedding_errors() -> None:
    w = pg.randn(3, 2)
    with pytest.raises(RuntimeError, match="int64 or int32"):
        F.embedding(pg.tensor([1.0]), w)
    with pytest.raises(IndexError, match="index out of range"):
        F.embedding(pg.tensor([3]), w)
    with pytest.raises(IndexError, match="index out of range"):
        F.embedding(pg.tensor([-1]), w)
    with pytest.raises(AssertionError, match="Padding_idx must be within"):
        pg.nn.Embedding(3, 2, padding_idx=3)
    with pytest.raises(NotImplementedError, match="sparse"):
        F.embedding(pg.tensor([1]), w, sparse=True)


# ---------------------------------------------------------------------- one_hot


@pytest.mark.parametrize("num_classes", [-1, 5])
def test_one_hot_against_torch(num_classes: int) -> None:
    idx = [[0, 3], [1, 1]]
    ours = F.one_hot(pg.tensor(idx), num_classes)
    theirs = torch.nn.functional.one_hot(torch.tensor(idx), num_classes)
    assert ours.dtype == pg.int64
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    empty = F.one_hot(pg.tensor(np.zeros(0, dtype=np.int64)), 3)
    assert tuple(empty.shape) == (0, 3)


def test_one_hot_errors() -> None:
    with pytest.raises(RuntimeError, match="int64"):
        F.one_hot(pg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="int64"):
        F.one_hot(pg.tensor(np.array([1], dtype=np.int32)))
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(pg.tensor([1, -1]))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(pg.tensor([1, 5]), 3)
    with pytest.raises(RuntimeError, match="empty"):
        F.one_hot(pg.tensor(np.zeros(0, dtype=np.int64)))


# ------------------------------------------------------------ Identity, Unflatten


def test_identity_and_unflatten_as_torch() -> None:
    assert repr(pg.nn.Identity()) == repr(torch.nn.Identity())
    assert repr(pg.nn.Identity(3, key=1)) == "Identity()"
    x = pg.randn(2, 10)
    assert pg.nn.Identity()(x) is x
    ours, theirs = pg.nn.Unflatten(1, (2, 5)), torch.nn.Unflatten(1, (2, 5))
    assert repr(ours) == repr(theirs)
    assert tuple(ours(x).shape) == (2, 2, 5)


def test_no_warnings_from_plain_use() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(pg.ones(2, 3, 4, 4), 0.5)
        pg.nn.Dropout2d()(pg.ones(2, 3, 4, 4))
