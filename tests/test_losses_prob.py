"""Loss modules of issue 4 (KLDivLoss, PoissonNLLLoss, GaussianNLLLoss,
CTCLoss, CrossEntropyLoss / NLLLoss with their new options) against their
functional forms and PyTorch's modules, and their errors against PyTorch's.

Values and gradients over generated cases are the conformance specs' job
(tests/conformance/specs_losses_prob.py); here each module is built with
non-default options in both libraries and must give torch's module's value and
input gradients, and the same value as the functional form; bad arguments
must raise torch's exception class with a message naming the op and argument.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg

torch = import_torch()

rng = np.random.default_rng(4)


def _run(lib, make, arrays, grads):
    """``make(lib)(*inputs)``: the value and the gradients of the float inputs."""
    inputs = []
    for a, g in zip(arrays, grads):
        if isinstance(a, np.ndarray):
            inputs.append(lib.tensor(a, requires_grad=g))
        else:
            inputs.append(a)
    out = make(lib)(*inputs)
    out.sum().backward()
    grads_out = [t.grad.numpy() for t, g in zip(inputs, grads) if g]
    return out.detach().numpy(), grads_out


def _check_module(make, functional, arrays, grads):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # KLDivLoss's 'mean' warns in both
        got, got_grads = _run(pg, make, arrays, grads)
        expected, expected_grads = _run(torch, make, arrays, grads)
        inputs = [pg.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays]
        plain = functional(pg.nn.functional, *inputs)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    for g, e in zip(got_grads, expected_grads):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(plain.numpy(), got)


LOG_P = np.log(rng.dirichlet(np.ones(4), 3))  # (3, 4) log-probabilities
P = rng.dirichlet(np.ones(4), 3)
COUNTS = rng.integers(0, 6, (3, 4)).astype(np.float64)
X = rng.standard_normal((3, 4))
Y = rng.standard_normal((3, 4))
VAR = rng.uniform(0.1, 2.0, (3, 1))

MODULE_CASES = {
    "KLDivLoss(batchmean)": (
        lambda lib: lib.nn.KLDivLoss(reduction="batchmean"),
        lambda F, x, t: F.kl_div(x, t, reduction="batchmean"),
        (LOG_P, P),
        (True, True),
    ),
    "KLDivLoss(mean, log_target)": (
        lambda lib: lib.nn.KLDivLoss(log_target=True),
        lambda F, x, t: F.kl_div(x, t, log_target=True),
        (LOG_P, np.log(P)),
        (True, True),
    ),
    "KLDivLoss(none)": (
        lambda lib: lib.nn.KLDivLoss(reduction="none"),
        lambda F, x, t: F.kl_div(x, t, reduction="none"),
        (LOG_P, P),
        (True, False),
    ),
    "PoissonNLLLoss(full)": (
        lambda lib: lib.nn.PoissonNLLLoss(full=True),
        lambda F, x, t: F.poisson_nll_loss(x, t, full=True),
        (X, COUNTS),
        (True, False),
    ),
    "PoissonNLLLoss(rate, eps, sum)": (
        lambda lib: lib.nn.PoissonNLLLoss(log_input=False, eps=0.1, reduction="sum"),
        lambda F, x, t: F.poisson_nll_loss(
            x, t, log_input=False, eps=0.1, reduction="sum"
        ),
        (np.abs(X), COUNTS + 0.5),
        (True, True),
    ),
    "GaussianNLLLoss(full, one var per row)": (
        lambda lib: lib.nn.GaussianNLLLoss(full=True),
        lambda F, x, t, v: F.gaussian_nll_loss(x, t, v, full=True),
        (X, Y, VAR),
        (True, True, True),
    ),
    "GaussianNLLLoss(eps, none)": (
        lambda lib: lib.nn.GaussianNLLLoss(eps=0.5, reduction="none"),
        lambda F, x, t, v: F.gaussian_nll_loss(x, t, v, eps=0.5, reduction="none"),
        (X, Y, VAR[:, 0]),
        (True, False, True),
    ),
    "CrossEntropyLoss(weight, label_smoothing)": (
        lambda lib: lib.nn.CrossEntropyLoss(
            weight=lib.tensor([1.0, 2.0, 0.5, 1.5], dtype=lib.float64),
            ignore_index=2,
            label_smoothing=0.2,
        ),
        lambda F, x, t: F.cross_entropy(
            x,
            t,
            pg.tensor([1.0, 2.0, 0.5, 1.5], dtype=pg.float64),
            ignore_index=2,
            label_smoothing=0.2,
        ),
        (X, np.array([0, 2, 3])),
        (True, False),
    ),
    "CrossEntropyLoss(probabilities, Nd)": (
        lambda lib: lib.nn.CrossEntropyLoss(label_smoothing=0.1, reduction="sum"),
        lambda F, x, t: F.cross_entropy(x, t, label_smoothing=0.1, reduction="sum"),
        (X.reshape(3, 2, 2), P.reshape(3, 2, 2)),
        (True, True),
    ),
    "NLLLoss(Nd, weight)": (
        lambda lib: lib.nn.NLLLoss(
            weight=lib.tensor([0.5, 2.0], dtype=lib.float64), reduction="none"
        ),
        lambda F, x, t: F.nll_loss(
            x, t, pg.tensor([0.5, 2.0], dtype=pg.float64), reduction="none"
        ),
        (LOG_P.reshape(3, 2, 2), np.array([[0, 1], [1, 1], [0, 0]])),
        (True, False),
    ),
}


@pytest.mark.parametrize("case", list(MODULE_CASES), ids=list(MODULE_CASES))
def test_module_matches_functional_and_torch(case):
    make, functional, arrays, grads = MODULE_CASES[case]
    _check_module(make, functional, arrays, grads)


CTC_LOGITS = rng.standard_normal((6, 2, 4))
CTC_TARGETS = np.array([[1, 1, 3], [2, 3, 0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("concatenated", [False, True])
def test_ctc_module_matches_functional_and_torch(reduction, concatenated):
    targets = CTC_TARGETS
    if concatenated:
        targets = np.array([1, 1, 3, 2, 3])

    def make(lib):
        loss = lib.nn.CTCLoss(blank=0, reduction=reduction)
        return lambda x, t: loss(
            x.log_softmax(2), t, lib.tensor([6, 5]), lib.tensor([3, 2])
        )

    def functional(F, x, t):
        return F.ctc_loss(x.log_softmax(2), t, [6, 5], [3, 2], reduction=reduction)

    _check_module(make, functional, (CTC_LOGITS, targets), (True, False))


def test_ctc_zero_infinity():
    # 'aa' needs three frames (a blank between the repeats): two give no path
    def make(lib):
        loss = lib.nn.CTCLoss(reduction="none", zero_infinity=True)
        return lambda x: loss(x.log_softmax(2), lib.tensor([[1, 1]]), [2], [2])

    got, (grad,) = _run(pg, make, (CTC_LOGITS[:2, :1],), (True,))
    np.testing.assert_array_equal(got, [0.0])
    np.testing.assert_array_equal(grad, np.zeros((2, 1, 4)))
    plain = pg.nn.CTCLoss(reduction="none")
    lp = pg.tensor(CTC_LOGITS[:2, :1]).log_softmax(2)
    assert plain(lp, pg.tensor([[1, 1]]), [2], [2]).item() == math.inf


def test_ctc_known_value():
    # two frames of p = 1/2 over {blank, a}, target 'a': the alignments aa,
    # _a, a_ have probability 3/4
    lp = pg.full((2, 1, 2), 0.5).log()
    loss = pg.nn.functional.ctc_loss(lp, pg.tensor([[1]]), [2], [1], reduction="none")
    np.testing.assert_allclose(loss.numpy(), [-math.log(0.75)], rtol=1e-6)


def test_known_values():
    F = pg.nn.functional
    # KL(p || q) = sum p log(p / q), for p = (1/2, 1/2), q = (1/4, 3/4)
    p, q = np.array([[0.5, 0.5]]), np.array([[0.25, 0.75]])
    kl = float(np.sum(p * np.log(p / q)))
    got = F.kl_div(pg.tensor(np.log(q)), pg.tensor(p), reduction="batchmean")
    np.testing.assert_allclose(got.item(), kl, rtol=1e-12)
    # Poisson with rate e^0 = 1 and target 2: 1 - 2 * 0 = 1; full adds
    # 2 log 2 - 2 + log(4 pi) / 2
    stirling = 2 * math.log(2) - 2 + 0.5 * math.log(4 * math.pi)
    got = F.poisson_nll_loss(pg.tensor([0.0]), pg.tensor([2.0]), full=True)
    np.testing.assert_allclose(got.item(), 1 + stirling, rtol=1e-6)
    # Gaussian: (log 4 + 4 / 4) / 2
    got = F.gaussian_nll_loss(pg.tensor([1.0]), pg.tensor([3.0]), pg.tensor([4.0]))
    np.testing.assert_allclose(got.item(), (math.log(4) + 1) / 2, rtol=1e-6)


def test_gaussian_var_below_eps_keeps_its_gradient():
    # the variance is clamped to eps as a constant shift: the gradient of
    # 0.5 (log v + d^2 / v) by v at v = eps, not the clamp's zero
    var = pg.tensor([1e-9, 1.0], dtype=pg.float64, requires_grad=True)
    x = pg.tensor([0.1, 0.1], dtype=pg.float64)
    loss = pg.nn.functional.gaussian_nll_loss(
        x, pg.zeros(2, dtype=pg.float64), var, eps=0.5, reduction="sum"
    )
    loss.backward()
    v = np.array([0.5, 1.0])
    np.testing.assert_allclose(var.grad.numpy(), 0.5 * (1 / v - 0.01 / v**2))


def test_kl_div_mean_warns_as_torch():
    x, t = pg.tensor(LOG_P), pg.tensor(P)
    with pytest.warns(pg.warnings.PlaingradWarning, match="batchmean"):
        pg.nn.functional.kl_div(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pg.nn.functional.kl_div(x, t, reduction="batchmean")


def _both_raise(call, error, *words):
    """``call(lib)`` raises ``error`` in torch and in plaingrad, and plaingrad's
    message holds each of ``words``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error):
            call(torch)
        with pytest.raises(error) as raised:
            call(pg)
    for word in words:
        assert word in str(raised.value), (word, str(raised.value))


def _t(lib, a):
    return lib.tensor(np.asarray(a))


ERRORS = {
    "cross_entropy: label_smoothing above 1": (
        lambda lib: lib.nn.CrossEntropyLoss(label_smoothing=1.5)(
            _t(lib, X), _t(lib, [0, 1, 2])
        ),
        RuntimeError,
        ("cross_entropy", "label_smoothing", "1.5"),
    ),
    "cross_entropy: ignore_index with probabilities": (
        lambda lib: lib.nn.functional.cross_entropy(
            _t(lib, X), _t(lib, P), ignore_index=1
        ),
        RuntimeError,
        ("cross_entropy", "ignore_index"),
    ),
    "cross_entropy: int target of the input's shape": (
        lambda lib: lib.nn.functional.cross_entropy(
            _t(lib, X), _t(lib, np.zeros((3, 4), dtype=np.int64))
        ),
        RuntimeError,
        ("cross_entropy", "floating point", "int64"),
    ),
    "cross_entropy: probabilities of the wrong shape": (
        lambda lib: lib.nn.functional.cross_entropy(_t(lib, X), _t(lib, P[:, :3])),
        RuntimeError,
        ("cross_entropy", "target", "(3, 4)", "(3, 3)"),
    ),
    "cross_entropy: probabilities with a bad weight": (
        lambda lib: lib.nn.functional.cross_entropy(
            _t(lib, X), _t(lib, P), weight=_t(lib, [1.0, 2.0])
        ),
        RuntimeError,
        ("cross_entropy", "4 classes", "[2]"),
    ),
    "nll_loss: target of the wrong shape": (
        lambda lib: lib.nn.NLLLoss()(_t(lib, LOG_P), _t(lib, [0, 1])),
        (ValueError, RuntimeError),
        ("nll_loss", "target", "(3,)", "(2,)"),
    ),
    "kl_div: bad reduction": (
        lambda lib: lib.nn.functional.kl_div(
            _t(lib, LOG_P), _t(lib, P), reduction="average"
        ),
        ValueError,
        ("kl_div", "average", "reduction"),
    ),
    "poisson_nll_loss: bad reduction": (
        lambda lib: lib.nn.functional.poisson_nll_loss(
            _t(lib, X), _t(lib, COUNTS), reduction="avg"
        ),
        ValueError,
        ("poisson_nll_loss", "avg", "reduction"),
    ),
    "gaussian_nll_loss: var of the wrong shape": (
        lambda lib: lib.nn.GaussianNLLLoss()(
            _t(lib, X), _t(lib, Y), _t(lib, np.ones((3, 2)))
        ),
        ValueError,
        ("gaussian_nll_loss", "var is of incorrect size", "(3, 4)", "(3, 2)"),
    ),
    "gaussian_nll_loss: a last-dim var": (
        lambda lib: lib.nn.functional.gaussian_nll_loss(
            _t(lib, X), _t(lib, Y), _t(lib, np.ones(4))
        ),
        ValueError,
        ("gaussian_nll_loss", "(4,)"),
    ),
    "gaussian_nll_loss: negative var": (
        lambda lib: lib.nn.functional.gaussian_nll_loss(
            _t(lib, X), _t(lib, Y), _t(lib, -np.ones((3, 4)))
        ),
        ValueError,
        ("gaussian_nll_loss", "negative"),
    ),
    "gaussian_nll_loss: negative float var": (
        lambda lib: lib.nn.functional.gaussian_nll_loss(_t(lib, X), _t(lib, Y), -1.0),
        ValueError,
        ("gaussian_nll_loss", "negative"),
    ),
    "gaussian_nll_loss: int var": (
        lambda lib: lib.nn.functional.gaussian_nll_loss(_t(lib, X), _t(lib, Y), 1),
        TypeError,
        ("gaussian_nll_loss", "var", "int"),
    ),
    "gaussian_nll_loss: bad reduction": (
        lambda lib: lib.nn.functional.gaussian_nll_loss(
            _t(lib, X), _t(lib, Y), _t(lib, VAR), reduction="avg"
        ),
        ValueError,
        ("gaussian_nll_loss", "avg"),
    ),
}


def _ctc(lib, targets=CTC_TARGETS, input_lengths=(6, 5), target_lengths=(3, 2), **kw):
    lp = lib.tensor(CTC_LOGITS).log_softmax(2)
    return lib.nn.functional.ctc_loss(
        lp, _t(lib, targets), input_lengths, target_lengths, **kw
    )


ERRORS.update(
    {
        "ctc_loss: input length above T": (
            lambda lib: _ctc(lib, input_lengths=(7, 5)),
            RuntimeError,
            ("ctc_loss", "input_lengths", "at most 6", "7"),
        ),
        "ctc_loss: negative target length": (
            lambda lib: _ctc(lib, target_lengths=(3, -1)),
            RuntimeError,
            ("ctc_loss", "target_lengths", "at least 0", "-1"),
        ),
        "ctc_loss: padded targets too short": (
            lambda lib: _ctc(lib, target_lengths=(4, 2)),
            RuntimeError,
            ("ctc_loss", "targets", "at least 4", "3"),
        ),
        "ctc_loss: concatenated targets of the wrong size": (
            lambda lib: _ctc(lib, targets=[1, 1, 3, 2]),
            RuntimeError,
            ("ctc_loss", "targets", "size 5", "size 4"),
        ),
        "ctc_loss: lengths not one per sequence": (
            lambda lib: _ctc(lib, input_lengths=(6,)),
            RuntimeError,
            ("ctc_loss", "input_lengths", "batch_size"),
        ),
        "ctc_loss: blank out of range": (
            lambda lib: _ctc(lib, blank=4),
            RuntimeError,
            ("ctc_loss", "blank", "4"),
        ),
        "ctc_loss: bad reduction": (
            lambda lib: _ctc(lib, reduction="avg"),
            ValueError,
            ("ctc_loss", "avg"),
        ),
        "ctc_loss: float lengths": (
            lambda lib: _ctc(lib, input_lengths=(6.0, 5)),
            TypeError,
            ("ctc_loss", "input_lengths"),
        ),
    }
)


@pytest.mark.parametrize("case", list(ERRORS), ids=list(ERRORS))
def test_errors_as_torch(case):
    call, error, words = ERRORS[case]
    _both_raise(call, error, *words)


def test_huber_second_derivative_at_delta():
    # |input - target| = delta counts as the linear part, where PyTorch's
    # second derivative is 0 (a bug fixed: it was 1 here)
    x = pg.tensor([3.0, 3.0, 3.0, 3.0], dtype=pg.float64, requires_grad=True)
    t = pg.tensor([4.0, 2.0, 3.5, 3.0], dtype=pg.float64)
    loss = pg.nn.functional.huber_loss(x, t, reduction="sum")
    (grad,) = pg.autograd.grad(loss, x, create_graph=True)
    np.testing.assert_array_equal(grad.detach().numpy(), [-1.0, 1.0, -0.5, 0.0])
    (second,) = pg.autograd.grad(grad.sum(), x)
    np.testing.assert_array_equal(second.numpy(), [0.0, 0.0, 1.0, 1.0])
