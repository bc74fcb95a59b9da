"""The hinge and margin losses: errors, modules, unbatched shapes, double backward.

Values and gradients over generated cases are in
tests/conformance/specs_losses_margin.py; these tests cover what the
conformance rows do not: bad arguments raise PyTorch's exception class with a
message naming the op and the argument, each module agrees with PyTorch's
module (and with its functional form), unbatched inputs give PyTorch's
shapes, and the double backward that PyTorch lacks for ``multi_margin_loss``
and ``multilabel_margin_loss`` is checked by finite differences.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad.autograd import gradcheck, gradgradcheck


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _f(lib):
    return lib.nn.functional


rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4))
Y = rng.standard_normal((3, 4))
Z = rng.standard_normal((3, 4))
LONG = np.array([0, 1, 3])


def _t(lib, a, **kw):
    return lib.tensor(a, **kw)


# ------------------------------------------------------------------ errors

# (op named in the message, the argument named, a call that is wrong)
BAD_CALLS = {
    "multi_margin_loss: p=3": (
        "p",
        lambda lib: _f(lib).multi_margin_loss(_t(lib, X), _t(lib, LONG), p=3),
    ),
    "multi_margin_loss: 2-D weight": (
        "weight",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, X), _t(lib, LONG), weight=_t(lib, np.ones((1, 4)))
        ),
    ),
    "multi_margin_loss: weight of the wrong size": (
        "weight",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, X), _t(lib, LONG), weight=_t(lib, np.ones(3))
        ),
    ),
    "multi_margin_loss: weight requires grad": (
        "weight",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, X), _t(lib, LONG), weight=_t(lib, np.ones(4), requires_grad=True)
        ),
    ),
    "multi_margin_loss: target too long": (
        "target",
        lambda lib: _f(lib).multi_margin_loss(_t(lib, X), _t(lib, np.array([0, 1]))),
    ),
    "multi_margin_loss: target out of range": (
        "target",
        lambda lib: _f(lib).multi_margin_loss(_t(lib, X), _t(lib, np.array([0, 1, 4]))),
    ),
    "multi_margin_loss: negative target": (
        "target",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, X), _t(lib, np.array([0, -1, 2]))
        ),
    ),
    "multi_margin_loss: float target": (
        "target",
        lambda lib: _f(lib).multi_margin_loss(_t(lib, X), _t(lib, LONG * 1.0)),
    ),
    "multi_margin_loss: 3-D input": (
        "input",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, np.zeros((2, 3, 4))), _t(lib, np.array([0, 1]))
        ),
    ),
    "multi_margin_loss: no classes": (
        "input",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, np.zeros((2, 0))), _t(lib, np.array([0, 0]))
        ),
    ),
    "multi_margin_loss: bad reduction": (
        "reduction",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, X), _t(lib, LONG), reduction="avg"
        ),
    ),
    "multilabel_margin_loss: target shape": (
        "target",
        lambda lib: _f(lib).multilabel_margin_loss(
            _t(lib, X), _t(lib, np.array([[1, -1, 0, 0]]))
        ),
    ),
    "multilabel_margin_loss: target out of range": (
        "target",
        lambda lib: _f(lib).multilabel_margin_loss(
            _t(lib, X), _t(lib, np.array([[1, 4, 0, 0]] * 3))
        ),
    ),
    "multilabel_margin_loss: target below -1": (
        "target",
        lambda lib: _f(lib).multilabel_margin_loss(
            _t(lib, X), _t(lib, np.array([[1, -2, 0, 0]] * 3))
        ),
    ),
    "multilabel_margin_loss: float target": (
        "target",
        lambda lib: _f(lib).multilabel_margin_loss(
            _t(lib, X), _t(lib, np.zeros((3, 4)))
        ),
    ),
    "hinge_embedding_loss: shapes": (
        "target",
        lambda lib: _f(lib).hinge_embedding_loss(_t(lib, X[0]), _t(lib, np.ones(3))),
    ),
    "margin_ranking_loss: ndim": (
        "input2",
        lambda lib: _f(lib).margin_ranking_loss(
            _t(lib, X[0]), _t(lib, X[:, :1]), _t(lib, np.ones(4))
        ),
    ),
    "margin_ranking_loss: shapes": (
        "input2",
        lambda lib: _f(lib).margin_ranking_loss(
            _t(lib, X[0]), _t(lib, X[0, :3]), _t(lib, np.ones(4))
        ),
    ),
    "soft_margin_loss: target larger than input": (
        "target",
        lambda lib: _f(lib).soft_margin_loss(_t(lib, X[:, :1]), _t(lib, np.ones(4))),
    ),
    "soft_margin_loss: target requires grad": (
        "target",
        lambda lib: _f(lib).soft_margin_loss(
            _t(lib, X), _t(lib, np.ones((3, 4)), requires_grad=True)
        ),
    ),
    "cosine_embedding_loss: 2-D target": (
        "target",
        lambda lib: _f(lib).cosine_embedding_loss(
            _t(lib, X), _t(lib, Y), _t(lib, np.ones((3, 1)))
        ),
    ),
    "cosine_embedding_loss: 1-D target, 1-D inputs": (
        "target",
        lambda lib: _f(lib).cosine_embedding_loss(
            _t(lib, X[0]), _t(lib, Y[0]), _t(lib, np.ones(1))
        ),
    ),
    "cosine_embedding_loss: 0-D target, 2-D inputs": (
        "target",
        lambda lib: _f(lib).cosine_embedding_loss(
            _t(lib, X), _t(lib, Y), _t(lib, np.array(1.0))
        ),
    ),
    "triplet_margin_loss: ndim": (
        "positive",
        lambda lib: _f(lib).triplet_margin_loss(_t(lib, X), _t(lib, Y[0]), _t(lib, Z)),
    ),
    "triplet_margin_loss: margin 0": (
        "margin",
        lambda lib: _f(lib).triplet_margin_loss(
            _t(lib, X), _t(lib, Y), _t(lib, Z), margin=0.0
        ),
    ),
    "triplet_margin_with_distance_loss: margin -1": (
        "margin",
        lambda lib: _f(lib).triplet_margin_with_distance_loss(
            _t(lib, X), _t(lib, Y), _t(lib, Z), margin=-1.0
        ),
    ),
    "multi_margin_loss: integer input": (
        "input",
        lambda lib: _f(lib).multi_margin_loss(
            _t(lib, np.ones((3, 4), dtype=np.int64)), _t(lib, LONG)
        ),
    ),
    "hinge_embedding_loss: integer input": (
        "input",
        lambda lib: _f(lib).hinge_embedding_loss(
            _t(lib, np.ones(3, dtype=np.int64)), _t(lib, np.ones(3))
        ),
    ),
    "MultiMarginLoss: p=3": ("p", lambda lib: lib.nn.MultiMarginLoss(p=3)),
    "TripletMarginLoss: margin 0": (
        "margin",
        lambda lib: lib.nn.TripletMarginLoss(margin=0.0),
    ),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_bad_arguments_raise_like_pytorch(case, torch):
    argument, call = BAD_CALLS[case]
    with pytest.raises(Exception) as expected:
        call(torch)

    with pytest.raises(type(expected.value)) as got:
        call(pg)

    message = str(got.value)
    op = case.split(":")[0]
    if argument != "reduction" and "not differentiable" not in message:
        assert message.startswith(op), message
    assert argument in message or (argument == "input2" and "size" in message), message


# ------------------------------------------------------ modules and functions

# (module name, constructor keywords, the functional form, inputs)
MODULES = [
    ("HingeEmbeddingLoss", {"margin": 0.5}, "hinge_embedding_loss", (X, np.sign(Y))),
    ("MultiMarginLoss", {"p": 2, "margin": 0.7}, "multi_margin_loss", (X, LONG)),
    (
        "MultiLabelMarginLoss",
        {"reduction": "sum"},
        "multilabel_margin_loss",
        (X, np.array([[3, 0, -1, 1], [1, -1, 0, 0], [0, 1, 2, 3]])),
    ),
    ("MarginRankingLoss", {"margin": 0.3}, "margin_ranking_loss", (X, Y, np.sign(Z))),
    (
        "CosineEmbeddingLoss",
        {"margin": 0.2, "reduction": "none"},
        "cosine_embedding_loss",
        (X, Y, np.array([1.0, -1.0, -1.0])),
    ),
    (
        "TripletMarginLoss",
        {"margin": 2.0, "p": 1, "swap": True},
        "triplet_margin_loss",
        (X, Y, Z),
    ),
    (
        "TripletMarginWithDistanceLoss",
        {"margin": 0.5, "swap": True},
        "triplet_margin_with_distance_loss",
        (X, Y, Z),
    ),
    ("SoftMarginLoss", {"reduction": "none"}, "soft_margin_loss", (X, np.sign(Y))),
    (
        "MultiLabelSoftMarginLoss",
        {},
        "multilabel_soft_margin_loss",
        (X, (Y > 0).astype(float)),
    ),
]


def _run(lib, make, inputs):
    tensors = [
        lib.tensor(a, requires_grad=a.dtype.kind == "f" and i == 0)
        for i, a in enumerate(inputs)
    ]
    out = make(lib)(*tensors)
    out.sum().backward()
    return out.detach().numpy(), tensors[0].grad.numpy()


@pytest.mark.parametrize("name, kwargs, function, inputs", MODULES)
def test_module_matches_pytorch_and_its_function(name, kwargs, function, inputs, torch):
    out, grad = _run(pg, lambda lib: getattr(lib.nn, name)(**kwargs), inputs)
    t_out, t_grad = _run(torch, lambda lib: getattr(lib.nn, name)(**kwargs), inputs)

    def functional(lib):
        return lambda *xs: getattr(_f(lib), function)(*xs, **kwargs)

    f_out, f_grad = _run(pg, functional, inputs)
    np.testing.assert_allclose(out, t_out, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-7, atol=1e-10)
    np.testing.assert_array_equal(out, f_out)
    np.testing.assert_array_equal(grad, f_grad)


def test_multi_margin_weight_is_a_buffer(torch):
    weight = np.array([1.0, 2.0, 0.5, 3.0])
    loss = pg.nn.MultiMarginLoss(weight=pg.tensor(weight))
    twin = torch.nn.MultiMarginLoss(weight=torch.tensor(weight))

    assert list(loss.state_dict()) == list(twin.state_dict()) == ["weight"]
    value = loss.double()(pg.tensor(X), pg.tensor(LONG))
    expected = twin(torch.tensor(X), torch.tensor(LONG))
    np.testing.assert_allclose(value.item(), expected.item(), rtol=1e-12)


def test_triplet_with_a_cosine_distance_matches_pytorch(torch):
    def run(lib):
        def distance(a, b):
            return 1.0 - _f(lib).cosine_similarity(a, b)

        a = lib.tensor(X, requires_grad=True)
        out = _f(lib).triplet_margin_with_distance_loss(
            a, lib.tensor(Y), lib.tensor(Z), distance_function=distance, margin=1.5
        )
        out.backward()
        return out.item(), a.grad.numpy()

    (value, grad), (t_value, t_grad) = run(pg), run(torch)
    np.testing.assert_allclose(value, t_value, rtol=1e-10)
    np.testing.assert_allclose(grad, t_grad, rtol=1e-7, atol=1e-12)


# ------------------------------------------------------------ unbatched shapes

UNBATCHED = {
    "multi_margin_loss, target ()": lambda lib: _f(lib).multi_margin_loss(
        lib.tensor(X[0]), lib.tensor(2), reduction="none"
    ),
    "multi_margin_loss, target (1,)": lambda lib: _f(lib).multi_margin_loss(
        lib.tensor(X[0]), lib.tensor([2]), reduction="none"
    ),
    "multi_margin_loss, 0-d input": lambda lib: _f(lib).multi_margin_loss(
        lib.tensor(1.5), lib.tensor(0), reduction="none"
    ),
    "multilabel_margin_loss": lambda lib: _f(lib).multilabel_margin_loss(
        lib.tensor(X[0]), lib.tensor([1, -1, 0, 0]), reduction="none"
    ),
    "cosine_embedding_loss": lambda lib: _f(lib).cosine_embedding_loss(
        lib.tensor(X[0]), lib.tensor(Y[0]), lib.tensor(-1.0), reduction="none"
    ),
    "triplet_margin_loss": lambda lib: _f(lib).triplet_margin_loss(
        lib.tensor(X[0]), lib.tensor(Y[0]), lib.tensor(Z[0]), reduction="none"
    ),
    "multilabel_soft_margin_loss": lambda lib: _f(lib).multilabel_soft_margin_loss(
        lib.tensor(X[0]), lib.tensor([0.0, 1.0, 1.0, 0.0]), reduction="none"
    ),
}


@pytest.mark.parametrize("case", list(UNBATCHED))
def test_unbatched_inputs_give_pytorchs_shape(case, torch):
    out, expected = UNBATCHED[case](pg), UNBATCHED[case](torch)

    assert tuple(out.shape) == tuple(expected.shape)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-6)


# ------------------------------------------------------------- known values


def test_values_from_pytorchs_documentation():
    x = pg.tensor([[0.1, 0.2, 0.4, 0.8]])

    # (1 - 0.8 + 0.1) + (1 - 0.8 + 0.2) + (1 - 0.8 + 0.4) over 4 classes
    assert pg.nn.MultiMarginLoss()(x, pg.tensor([3])).item() == pytest.approx(0.325)
    # right classes 3 and 0, wrong 1 and 2: 0.85 in PyTorch's docs
    loss = pg.nn.MultiLabelMarginLoss()(x, pg.tensor([[3, 0, -1, 1]]))
    assert loss.item() == pytest.approx(0.85)


def test_multi_margin_has_no_gradient_on_the_hinge():
    # z = 1 - x[0] + x[1] = 0 exactly: PyTorch's kernel counts only z > 0
    x = pg.tensor([[1.0, 0.0, 0.5]], requires_grad=True)
    pg.nn.functional.multi_margin_loss(x, pg.tensor([0])).backward()

    np.testing.assert_allclose(x.grad.numpy(), [[-1 / 3, 0.0, 1 / 3]])


def test_hinge_embedding_passes_the_gradient_on_the_hinge():
    # margin - x = 0 with target -1: PyTorch's clamp_min gives slope -1 there
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    out = pg.nn.functional.hinge_embedding_loss(x, pg.tensor([-1.0, -1.0]), 1.0)
    out.backward()

    np.testing.assert_allclose(x.grad.numpy(), [-0.5, 0.0])


# ----------------------------------------- double backward PyTorch does not have


def _double(x):
    return pg.tensor(x, dtype=pg.float64, requires_grad=True)


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multi_margin_double_backward(p, reduction):
    weight = pg.tensor([1.0, 2.0, 0.5, 3.0], dtype=pg.float64)

    def f(x):
        return pg.nn.functional.multi_margin_loss(
            x, pg.tensor(LONG), p=p, margin=0.8, weight=weight, reduction=reduction
        )

    assert gradcheck(f, (_double(X),))
    assert gradgradcheck(f, (_double(X),))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multilabel_margin_double_backward(reduction):
    target = pg.tensor(np.array([[3, 0, -1, 1], [1, -1, 0, 0], [0, 1, 2, 3]]))

    def f(x):
        return pg.nn.functional.multilabel_margin_loss(x, target, reduction=reduction)

    assert gradcheck(f, (_double(X),))
    assert gradgradcheck(f, (_double(X),))


def test_squared_hinge_second_derivative_by_hand():
    # one wrong class in the margin: l = (m - x0 + x1)^2 / C, so d2l/dx1^2 = 2 / C
    x = _double(np.array([[1.0, 0.5]]))
    loss = pg.nn.functional.multi_margin_loss(x, pg.tensor([0]), p=2, reduction="sum")
    (grad,) = pg.autograd.grad(loss, x, create_graph=True)
    (second,) = pg.autograd.grad(grad[0, 1], x)

    np.testing.assert_allclose(second.numpy(), [[-1.0, 1.0]])


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_graph_gradient_equals_the_plain_one(p, reduction):
    # gradgradcheck differentiates the create_graph gradient against itself,
    # so check that gradient is the ordinary one first
    target = pg.tensor(np.array([[3, 0, -1, 1], [1, -1, 0, 0], [0, 1, 2, 3]]))
    cases = [
        lambda x: pg.nn.functional.multi_margin_loss(
            x, pg.tensor(LONG), p=p, reduction=reduction
        ),
        lambda x: pg.nn.functional.multilabel_margin_loss(x, target, reduction),
    ]
    for f in cases:
        x = _double(X)
        out = f(x)
        g = pg.tensor(np.linspace(0.5, 1.5, out.numel()).reshape(tuple(out.shape)))
        (plain,) = pg.autograd.grad(f(x), x, g)
        (graph,) = pg.autograd.grad(f(x), x, g, create_graph=True)
        np.testing.assert_allclose(graph.detach().numpy(), plain.numpy(), rtol=1e-12)


def test_mixed_dtypes_promote_as_in_pytorch(torch):
    def run(lib):
        x32 = lib.tensor(X.astype(np.float32))
        ints = lib.tensor(np.sign(Y).astype(np.int64))
        return [
            _f(lib).margin_ranking_loss(x32, lib.tensor(Y), lib.tensor(np.sign(Z))),
            _f(lib).margin_ranking_loss(x32, x32 * 2, ints),
            _f(lib).hinge_embedding_loss(x32, lib.tensor(np.sign(Y))),
            _f(lib).soft_margin_loss(
                lib.tensor(X), lib.tensor(np.sign(Y), dtype=lib.float32)
            ),
            _f(lib).cosine_embedding_loss(x32, lib.tensor(Y), lib.tensor(np.ones(3))),
        ]

    for ours, theirs in zip(run(pg), run(torch)):
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1]
        np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-6)
