"""Loss edge cases checked against PyTorch: the deprecated ``size_average`` /
``reduce`` arguments, a silent Stirling term at zero Poisson targets, and the
dtype rules of class-index targets and class weights."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

rng = np.random.default_rng(7)
X = rng.normal(size=(4, 3))
Y = rng.normal(size=(4, 3))
Z = rng.normal(size=(4, 3))
PROBS = rng.uniform(0.05, 0.95, (4, 3))
BITS = rng.integers(0, 2, (4, 3)).astype(np.float64)
SIGNS = np.array([[1.0, -1.0, -1.0], [1.0, 1.0, -1.0], [-1.0, 1.0, 1.0], [1, -1, 1]])
ROW_SIGNS = np.array([1.0, -1.0, 1.0, -1.0])
CLASSES = np.array([0, 2, 1, 2])
LABELS = np.array([[2, -1, 0], [0, 1, -1], [1, -1, 0], [2, 0, 1]])
LOG_P = X - np.log(np.exp(X).sum(1, keepdims=True))
P = np.exp(Y) / np.exp(Y).sum(1, keepdims=True)
COUNTS = rng.poisson(2.0, (4, 3)).astype(np.float64)

# name: (module name, functional name, inputs, extra keyword arguments)
CASES = {
    "mse": ("MSELoss", "mse_loss", (X, Y), {}),
    "l1": ("L1Loss", "l1_loss", (X, Y), {}),
    "smooth_l1": ("SmoothL1Loss", "smooth_l1_loss", (X, Y), {"beta": 0.5}),
    "bce": ("BCELoss", "binary_cross_entropy", (PROBS, BITS), {}),
    "bce_logits": (
        "BCEWithLogitsLoss",
        "binary_cross_entropy_with_logits",
        (X, BITS),
        {},
    ),
    "kl_div": ("KLDivLoss", "kl_div", (LOG_P, P), {}),
    "poisson_nll": ("PoissonNLLLoss", "poisson_nll_loss", (X, COUNTS), {}),
    "nll": ("NLLLoss", "nll_loss", (LOG_P, CLASSES), {}),
    "cross_entropy": ("CrossEntropyLoss", "cross_entropy", (X, CLASSES), {}),
    "cross_entropy_probabilities": (
        "CrossEntropyLoss",
        "cross_entropy",
        (X, P),
        {"label_smoothing": 0.1},
    ),
    "hinge_embedding": (
        "HingeEmbeddingLoss",
        "hinge_embedding_loss",
        (X, SIGNS),
        {"margin": 0.5},
    ),
    "multi_margin": ("MultiMarginLoss", "multi_margin_loss", (X, CLASSES), {}),
    "multilabel_margin": (
        "MultiLabelMarginLoss",
        "multilabel_margin_loss",
        (X, LABELS),
        {},
    ),
    "margin_ranking": (
        "MarginRankingLoss",
        "margin_ranking_loss",
        (X, Y, SIGNS),
        {"margin": 0.2},
    ),
    "cosine_embedding": (
        "CosineEmbeddingLoss",
        "cosine_embedding_loss",
        (X, Y, ROW_SIGNS),
        {"margin": 0.1},
    ),
    "triplet_margin": ("TripletMarginLoss", "triplet_margin_loss", (X, Y, Z), {}),
    "soft_margin": ("SoftMarginLoss", "soft_margin_loss", (X, SIGNS), {}),
    "multilabel_soft_margin": (
        "MultiLabelSoftMarginLoss",
        "multilabel_soft_margin_loss",
        (X, BITS),
        {},
    ),
}

# (size_average, reduce) and the reduction PyTorch maps them to
LEGACY = [
    (False, None, "sum"),
    (None, False, "none"),
    (True, None, "mean"),
    (False, True, "sum"),
    (True, False, "none"),
]


def _tensors(lib, arrays):
    return [lib.tensor(a.copy()) for a in arrays]


def _torch_run(make):
    """PyTorch's result (as NumPy) and the warning messages it issued."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = make()
    return out.detach().numpy(), [str(w.message) for w in caught]


def _pg_run(make, reduction):
    """plaingrad's result, checking that it warns as PyTorch does: one
    ``UserWarning`` (not a plaingrad warning) naming ``reduction``."""
    text = (
        "size_average and reduce args will be deprecated, please use "
        f"reduction='{reduction}' instead."
    )
    with pytest.warns(UserWarning, match=re.escape(text)) as caught:
        out = make()
    legacy = [w for w in caught if "size_average" in str(w.message)]
    assert len(legacy) == 1
    assert type(legacy[0].message) is UserWarning
    return out.detach().numpy(), str(legacy[0].message)


@pytest.mark.parametrize("size_average, reduce, reduction", LEGACY)
@pytest.mark.parametrize("name", CASES)
def test_functional_legacy_arguments(name, size_average, reduce, reduction):
    _, fn_name, arrays, extra = CASES[name]
    legacy = {"size_average": size_average, "reduce": reduce}

    def run(lib):
        fn = getattr(lib.nn.functional, fn_name)
        return lambda: fn(*_tensors(lib, arrays), **legacy, **extra)

    expected, torch_messages = _torch_run(run(torch))
    got, message = _pg_run(run(pg), reduction)
    assert message in torch_messages
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("size_average, reduce, reduction", LEGACY)
@pytest.mark.parametrize("name", CASES)
def test_module_legacy_arguments(name, size_average, reduce, reduction):
    cls_name, _, arrays, extra = CASES[name]
    legacy = {"size_average": size_average, "reduce": reduce}

    def build(lib):
        return lambda: getattr(lib.nn, cls_name)(**legacy, **extra)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch_loss = build(torch)()
    torch_messages = [str(w.message) for w in caught]
    with pytest.warns(UserWarning) as record:
        pg_loss = build(pg)()
    assert [str(w.message) for w in record] == torch_messages
    assert all(type(w.message) is UserWarning for w in record)
    assert pg_loss.reduction == torch_loss.reduction == reduction
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected = torch_loss(*_tensors(torch, arrays)).detach().numpy()
    if caught:
        # KLDivLoss's 'mean' warns when called, in both libraries
        with pytest.warns(UserWarning, match="batchmean"):
            got = pg_loss(*_tensors(pg, arrays)).detach().numpy()
    else:
        got = pg_loss(*_tensors(pg, arrays)).detach().numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_legacy_arguments_override_reduction():
    # size_average=False means 'sum' whatever reduction says, as in PyTorch
    x, y = X, Y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = torch.nn.functional.l1_loss(
            *_tensors(torch, (x, y)), size_average=False, reduction="none"
        )
    with pytest.warns(UserWarning, match="reduction='sum'"):
        got = pg.nn.functional.l1_loss(
            *_tensors(pg, (x, y)), size_average=False, reduction="none"
        )
    assert got.shape == ()
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got.numpy(), np.abs(x - y).sum(), rtol=1e-12)


@pytest.mark.parametrize("size_average, reduce, reduction", LEGACY)
def test_kl_div_legacy_arguments_with_batchmean(size_average, reduce, reduction):
    # PyTorch reduces as the legacy arguments say, then still divides by the
    # batch size because reduction='batchmean' was passed
    legacy = {"size_average": size_average, "reduce": reduce}

    def run(lib):
        fn = lib.nn.functional.kl_div
        return lambda: fn(*_tensors(lib, (LOG_P, P)), reduction="batchmean", **legacy)

    expected, _ = _torch_run(run(torch))
    got, _ = _pg_run(run(pg), reduction)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_no_legacy_arguments_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pg.nn.MSELoss()(pg.tensor(X), pg.tensor(Y))
        pg.nn.functional.nll_loss(pg.tensor(LOG_P), pg.tensor(CLASSES))


# ---- poisson_nll_loss(full=True) at zero targets --------------------------------


@pytest.mark.parametrize("log_input", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_poisson_full_zero_target_is_silent(log_input, reduction):
    rate = np.array([0.5, 1.0, 2.0, 3.0, 1.5, 0.25])
    target = np.array([0.0, 1.0, 0.5, 4.0, 2.5, 0.0])
    results = {}
    for lib in (torch, pg):
        x = lib.tensor(rate, requires_grad=True)
        t = lib.tensor(target, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            loss = lib.nn.functional.poisson_nll_loss(
                x, t, log_input=log_input, full=True, reduction=reduction
            )
            grad_x, grad_t = lib.autograd.grad(loss.sum(), (x, t), create_graph=True)
            (grad_tt,) = lib.autograd.grad(grad_t[1:5].sum(), t)
        results[lib.__name__] = [
            a.detach().numpy() for a in (loss, grad_x, grad_t, grad_tt)
        ]
    for got, expected in zip(results["plaingrad"], results["torch"]):
        np.testing.assert_allclose(got, expected, rtol=1e-10, equal_nan=True)
    # the Stirling term is 0 at targets of at most 1 and finite above
    loss = results["plaingrad"][0]
    assert np.isfinite(loss).all()


def test_poisson_full_zero_target_value():
    # log rate 0 (rate 1): the loss is 1 - t * 0 plus, for t = 4, the Stirling
    # term 4 log 4 - 4 + log(8 pi) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pg.nn.functional.poisson_nll_loss(
            pg.zeros(2, dtype=pg.float64),
            pg.tensor([0.0, 4.0], dtype=pg.float64),
            full=True,
            reduction="none",
        )
    stirling = 4 * np.log(4) - 4 + 0.5 * np.log(8 * np.pi)
    np.testing.assert_allclose(got.numpy(), [1.0, 1.0 + stirling], rtol=1e-12)


# ---- dtypes of class-index targets and class weights ---------------------------


def _raises_like_torch(make):
    """Run ``make(lib)`` in both; both must raise the same class, and
    plaingrad's message must contain PyTorch's."""
    with pytest.raises(Exception) as expected:
        make(torch)
    with pytest.raises(expected.type) as got:
        make(pg)
    assert str(expected.value) in str(got.value)
    return str(got.value)


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("dtype", ["int32", "int16", "int8", "bool", "float32"])
def test_class_target_dtype_as_torch(fn, dtype):
    def make(lib):
        target = lib.tensor(CLASSES).to(getattr(lib, dtype))
        x = lib.tensor(LOG_P.astype(np.float32))
        return getattr(lib.nn.functional, fn)(x, target)

    message = _raises_like_torch(make)
    assert message.startswith(f"{fn}: ")


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
def test_uint8_class_target_as_torch(fn):
    def make(lib, x, target):
        f = getattr(lib.nn.functional, fn)
        return f(lib.tensor(x), lib.tensor(target).to(lib.uint8))

    for x, target in ((LOG_P, CLASSES), (LOG_P[0], CLASSES[0])):
        expected = make(torch, x, target).numpy()
        np.testing.assert_allclose(make(pg, x, target).numpy(), expected, rtol=1e-12)
    # with dims past the class dim PyTorch wants int64
    spatial = LOG_P.reshape(2, 3, 2)
    _raises_like_torch(lambda lib: make(lib, spatial, np.zeros((2, 2), np.int64)))


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("dtypes", [("float32", "float64"), ("float64", "float32")])
@pytest.mark.parametrize("spatial", [False, True])
def test_weight_dtype_as_torch(fn, dtypes, spatial):
    input_dtype, weight_dtype = dtypes
    x = LOG_P.reshape(2, 3, 2) if spatial else LOG_P
    target = np.zeros((2, 2), np.int64) if spatial else CLASSES

    def make(lib):
        f = getattr(lib.nn.functional, fn)
        weight = lib.tensor([1.0, 2.0, 0.5], dtype=getattr(lib, weight_dtype))
        return f(
            lib.tensor(x).to(getattr(lib, input_dtype)), lib.tensor(target), weight
        )

    message = _raises_like_torch(make)
    assert "`weight`" in message and weight_dtype in message and input_dtype in message


def test_weight_dtype_with_label_smoothing_as_torch():
    def make(lib):
        weight = lib.tensor([1.0, 2.0, 0.5], dtype=lib.float64)
        x = lib.tensor(X.astype(np.float32))
        return lib.nn.functional.cross_entropy(
            x, lib.tensor(CLASSES), weight, label_smoothing=0.1
        )

    _raises_like_torch(make)


def test_probability_target_weight_dtype_promotes_as_torch():
    # with class probabilities PyTorch accepts the weight and promotes
    def make(lib):
        weight = lib.tensor([1.0, 2.0, 0.5], dtype=lib.float64)
        x = lib.tensor(X.astype(np.float32))
        return lib.nn.functional.cross_entropy(
            x, lib.tensor(P.astype(np.float32)), weight
        )

    expected, got = make(torch), make(pg)
    assert str(got.dtype).endswith("float64") and str(expected.dtype).endswith(
        "float64"
    )
    np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-6)
