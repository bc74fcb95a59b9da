"""nn modules of issue 3 with parameters: linear, convolution, pooling,
normalisation and embedding (the rest: specs_modules_misc.py for shapes,
containers, activations, dropout and upsampling, specs_modules_seq.py for
recurrent, attention and transformer modules, specs_modules_init.py for default
initialisation; the helpers here are shared by all four).

Every ModuleSpec builds its module in both libraries, copies torch's seeded
``state_dict`` into plaingrad's by name (so names and shapes must map 1:1) and
compares outputs, the input's and every parameter's gradient, and the state
after the call (BatchNorm's running statistics, a weight renormalised by
``Embedding(max_norm=...)``). Hyperparameters other than the defaults get rows
of their own ("nn.Conv2d(same, dilation, groups)"), so each row names what it
covers. Modules whose parameters start as constants (norm layers: weight 1,
bias 0, running mean 0 and variance 1) are perturbed in ``make``
(``_perturbed``) so that the affine part and eval-mode statistics are tested;
torch's perturbed values are what both libraries run with.

Cost: gradgradcheck's finite differences take two backward passes per element
of the inputs, sampled parameters and output gradients, so the variant rows of
costly modules compare first and second derivatives with torch only
(``fd_ok=torch_only``) and the main rows run finite differences on small cases
(``small``); every row still compares second derivatives with torch's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import plaingrad as pg

from .harness import (
    CustomSpec,
    ModuleSpec,
    distinct,
    floats,
    ints,
)

# Inputs of contractions (Linear, Conv, recurrences, attention): no "large". A
# float32 sum of products of 1e4-sized inputs with weights that cancels leaves
# absolute errors near 1e-3 in either library's order of summation, far above
# issue 3's atol, and says nothing about agreement.
CONTRACTION = ("normal", "zeros", "ties")
# Norm layers: no "ties", whose constant channels have a float32 variance of
# pure rounding noise that 1/sqrt(var + eps) amplifies (zeros are exact).
NORM_EDGES = ("normal", "zeros", "large")
# Normalisation in training: the input's gradient is the output's minus two
# means over the group, so entries that cancel to 1e-3 keep the float32
# rounding of O(10) terms times 1/std: a few 1e-6. rtol stays issue 3's.
NORM_TOL = {
    "tol": {"float32": (1e-4, 1e-5)},
    "tol_why": "float32 rounding of the means subtracted in the input gradient",
}


def no_fd(*inputs: Any) -> bool:
    """fd_ok where finite differences do not apply (see the spec's comment)."""
    return False


def small(limit: int) -> Any:
    """fd_ok of costly main rows: finite differences on cases whose float inputs
    have at most ``limit`` elements in all (the smallest case always does);
    larger cases are compared with torch, first and second derivatives."""

    def ok(*inputs: Any) -> bool:
        sizes = [x.size for x in inputs if isinstance(x, np.ndarray)]
        return sum(sizes) <= limit

    return ok


def torch_only(*inputs: Any) -> bool:
    """fd_ok of the variant rows of costly modules: their first and second
    derivatives are compared with torch's, and gradcheck / gradgradcheck (whose
    finite differences cost a forward per input element) run on the main row."""
    return False


@st.composite
def shaped(draw: Any, *dims: Any, **options: Any) -> np.ndarray:
    """One float array; each dim is an int or an inclusive ``(low, high)`` range."""
    shape = tuple(draw(st.integers(*d)) if isinstance(d, tuple) else d for d in dims)
    return draw(floats(shape, **options))


@st.composite
def leading(draw: Any, *tail: int, max_dims: int = 2, **options: Any) -> np.ndarray:
    """A float array ``(*batch, *tail)`` with 0 to ``max_dims`` batch dims of 1-3."""
    batch = draw(st.lists(st.integers(1, 3), max_size=max_dims))
    return draw(floats((*batch, *tail), **options))


def _perturbed(lib: Any, module: Any) -> Any:
    """Move constant-initialised affine parameters and running statistics off
    their starting values (in both libraries; torch's values are copied over)."""
    with lib.no_grad():
        for name, value in module.named_parameters():
            if name.endswith("weight"):
                value.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                value.uniform_(-0.5, 0.5)
        for name, value in module.named_buffers():
            if name.endswith("running_mean"):
                value.uniform_(-1.0, 1.0)
            elif name.endswith("running_var"):
                value.uniform_(0.5, 2.0)
    return module


def _norm(factory: Any) -> Any:
    return lambda lib: _perturbed(lib, factory(lib))


@st.composite
def _batchnorm_input(draw: Any, channels: int, spatial: int) -> np.ndarray:
    """(N, C, *spatial) with at least three values per channel; ``spatial=-1``
    draws either (N, C) or (N, C, L).

    One value raises in training (``_check_single_value``); with two, x_hat is
    +-1 up to eps and the input's gradient is O(eps / var), all float32 rounding.
    """
    if spatial < 0:
        spatial = draw(st.integers(0, 1))
    sizes = tuple(draw(st.integers(1, 3)) for _ in range(spatial))
    low = -(-3 // int(np.prod(sizes)))  # ceil(3 / values per sample)
    shape = (draw(st.integers(low, 4)), channels, *sizes)
    return draw(floats(shape, edges=NORM_EDGES))


def _rms_above(floor: float, dims: int) -> Any:
    """fd_ok for RMSNorm with eps=None (machine epsilon): every normalised group's
    root mean square is above ``floor``; at 0 the curvature scale is sqrt(eps),
    far below the finite-difference step."""

    def ok(x: np.ndarray) -> bool:
        axes = tuple(range(x.ndim - dims, x.ndim))
        return bool(np.all(np.sqrt(np.mean(x**2, axis=axes)) > floor))

    return ok


def _twice(module: Any, x: Any) -> Any:
    """Two training steps: the running statistics move twice by ``momentum``."""
    # x * 2 keeps a zeros channel exactly 0: a constant channel of 1s would have
    # a float32 mean one ulp off, which 1/sqrt(eps) turns into 1e-5
    return module(x), module(x * 2.0)


def _check_single_value(torch: Any, dtype: str) -> None:
    """BatchNorm in training raises ValueError when a channel has one value."""
    cases = [
        ("BatchNorm1d", (1, 3), True),
        ("BatchNorm1d", (1, 3, 1), True),
        ("BatchNorm1d", (1, 3), False),
        ("BatchNorm1d", (1, 3, 2), True),
        ("BatchNorm2d", (1, 3, 1, 1), True),
        ("BatchNorm2d", (1, 3, 2, 1), True),
    ]
    for name, shape, training in cases:
        x = np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape).astype(dtype)
        outcome = {}
        for lib in (torch, pg):
            module = getattr(lib.nn, name)(3).to(getattr(lib, dtype))
            module.train(training)
            try:
                outcome[lib] = np.asarray(module(lib.tensor(x)).detach().numpy())
            except ValueError as error:
                outcome[lib] = ValueError
                if lib is pg:
                    assert "value per channel" in str(error), str(error)
        what = f"{name} on {shape} (training={training})"
        if outcome[torch] is ValueError:
            assert outcome[pg] is ValueError, f"{what}: torch raises ValueError"
        else:
            assert outcome[pg] is not ValueError, f"{what}: torch does not raise"
            np.testing.assert_allclose(outcome[pg], outcome[torch], 1e-4, 1e-6)


def images(c: int, h: tuple = (1, 4), w: tuple = (1, 4), **options: Any) -> Any:
    """(N, C, H, W) with N in 1-2."""
    return shaped((1, 2), c, h, w, **options)


SPECS = [
    # ---------------------------------------------------------------- linear
    ModuleSpec(
        "nn.Linear", lambda lib: lib.nn.Linear(3, 2), leading(3, edges=CONTRACTION)
    ),
    ModuleSpec(
        "nn.Linear(no bias, empty)",
        lambda lib: lib.nn.Linear(3, 2, bias=False),
        shaped((0, 2), 3, edges=CONTRACTION),
    ),
    ModuleSpec(
        "nn.Bilinear",
        lambda lib: lib.nn.Bilinear(3, 2, 4),
        st.tuples(floats((2, 3), edges=CONTRACTION), floats((2, 2), edges=CONTRACTION)),
    ),
    # ----------------------------------------------------------- convolution
    ModuleSpec(
        "nn.Conv1d",
        lambda lib: lib.nn.Conv1d(2, 4, 3, stride=2, padding=1, groups=2),
        shaped((1, 2), 2, (2, 5), edges=CONTRACTION),
    ),
    ModuleSpec(
        "nn.Conv1d(same, dilation, unbatched)",
        lambda lib: lib.nn.Conv1d(2, 3, 3, padding="same", dilation=2, bias=False),
        shaped(2, (1, 5), edges=CONTRACTION),
        fd_ok=torch_only,
    ),
    ModuleSpec(
        "nn.Conv2d",
        lambda lib: lib.nn.Conv2d(2, 4, (2, 3), stride=(2, 1), padding=(1, 0)),
        images(2, w=(3, 5), edges=CONTRACTION),
        examples_scale=0.67,
    ),
    ModuleSpec(
        "nn.Conv2d(same, dilation, groups)",
        lambda lib: lib.nn.Conv2d(2, 4, 3, padding="same", dilation=(1, 2), groups=2),
        images(2, edges=CONTRACTION),
        examples_scale=0.67,
        fd_ok=torch_only,
    ),
    ModuleSpec(
        "nn.ConvTranspose2d",
        lambda lib: lib.nn.ConvTranspose2d(
            2, 4, 3, stride=2, padding=1, output_padding=1, groups=2
        ),
        images(2, (1, 3), (1, 3), edges=CONTRACTION),
        examples_scale=0.67,
    ),
    ModuleSpec(
        "nn.ConvTranspose2d(dilation, output_size)",
        lambda lib: lib.nn.ConvTranspose2d(
            3, 2, (2, 3), stride=(2, 1), dilation=(1, 2), bias=False
        ),
        images(3, (1, 3), (1, 3), edges=CONTRACTION),
        # the larger of the two valid heights needs output_padding 1
        call=lambda m, x: m(x, output_size=[2 * x.shape[2] + 1, x.shape[3] + 4]),
        examples_scale=0.67,
        fd_ok=torch_only,
    ),
    # --------------------------------------------------------------- pooling
    ModuleSpec(
        "nn.MaxPool1d",
        lambda lib: lib.nn.MaxPool1d(3, stride=2, padding=1),
        shaped((1, 2), 2, (2, 6)),
        fd_ok=distinct,  # ties send the gradient to torch's index
    ),
    ModuleSpec(
        "nn.MaxPool1d(dilation, ceil, indices)",
        lambda lib: lib.nn.MaxPool1d(
            2, stride=2, dilation=2, ceil_mode=True, return_indices=True
        ),
        shaped(2, (3, 7)),
        fd_ok=distinct,
    ),
    ModuleSpec(
        "nn.MaxPool2d",
        lambda lib: lib.nn.MaxPool2d(2),
        images(2, (2, 5), (2, 5)),
        fd_ok=distinct,
    ),
    ModuleSpec(
        "nn.MaxPool2d(padding, ceil, indices)",
        lambda lib: lib.nn.MaxPool2d(
            (3, 2), stride=(2, 1), padding=1, ceil_mode=True, return_indices=True
        ),
        images(2, (2, 5), (2, 4)),
        fd_ok=distinct,
    ),
    ModuleSpec(
        "nn.AvgPool1d",
        lambda lib: lib.nn.AvgPool1d(3, stride=2, padding=1),
        shaped((1, 2), 2, (2, 6)),
    ),
    ModuleSpec(
        "nn.AvgPool1d(ceil, exclude pad)",
        lambda lib: lib.nn.AvgPool1d(
            2, stride=2, padding=1, ceil_mode=True, count_include_pad=False
        ),
        shaped(2, (1, 6)),
    ),
    ModuleSpec(
        "nn.AvgPool2d",
        lambda lib: lib.nn.AvgPool2d(2, stride=1),
        images(2, (2, 4), (2, 4)),
    ),
    ModuleSpec(
        "nn.AvgPool2d(ceil, divisor_override)",
        lambda lib: lib.nn.AvgPool2d(
            3, stride=2, padding=1, ceil_mode=True, divisor_override=2
        ),
        images(2, (2, 5), (2, 5)),
    ),
    ModuleSpec(
        "nn.AdaptiveAvgPool2d",
        lambda lib: lib.nn.AdaptiveAvgPool2d((2, 3)),
        images(2, (1, 5), (1, 5)),
    ),
    ModuleSpec(
        "nn.AdaptiveAvgPool2d(None, unbatched)",
        lambda lib: lib.nn.AdaptiveAvgPool2d((None, 2)),
        shaped(2, (1, 3), (1, 5)),
    ),
    # --------------------------------------------------------- normalisation
    ModuleSpec(
        "nn.BatchNorm1d",
        _norm(lambda lib: lib.nn.BatchNorm1d(3)),
        _batchnorm_input(3, -1),
        note="training: biased variance normalises, unbiased goes to running_var",
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.BatchNorm1d(eval)",
        _norm(lambda lib: lib.nn.BatchNorm1d(3)),
        _batchnorm_input(3, -1),
        train=False,
        fd_ok=torch_only,
    ),
    ModuleSpec(
        "nn.BatchNorm1d(no running stats, eval)",
        lambda lib: lib.nn.BatchNorm1d(3, affine=False, track_running_stats=False),
        _batchnorm_input(3, -1),
        train=False,
        note="without running statistics eval mode uses the batch's",
        fd_ok=torch_only,
        **NORM_TOL,
    ),
    CustomSpec(
        "nn.BatchNorm1d(batch of 1)",
        _check_single_value,
        st.just(()),
        examples_scale=0.34,
        note="ValueError when a channel has one value in training, as torch",
    ),
    ModuleSpec(
        "nn.BatchNorm2d",
        _norm(lambda lib: lib.nn.BatchNorm2d(2)),
        _batchnorm_input(2, 2),
        call=_twice,
        note="two steps: momentum 0.1 twice, num_batches_tracked 2",
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.BatchNorm2d(eval)",
        _norm(lambda lib: lib.nn.BatchNorm2d(2)),
        _batchnorm_input(2, 2),
        train=False,
        fd_ok=torch_only,
    ),
    ModuleSpec(
        "nn.BatchNorm2d(momentum=None)",
        _norm(lambda lib: lib.nn.BatchNorm2d(2, momentum=None, eps=1e-3)),
        _batchnorm_input(2, 2),
        call=_twice,
        note="momentum None: running statistics are the cumulative average",
        fd_ok=torch_only,
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.LayerNorm",
        _norm(lambda lib: lib.nn.LayerNorm((2, 3))),
        leading(2, 3, edges=NORM_EDGES),
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.LayerNorm(no affine, eps)",
        lambda lib: lib.nn.LayerNorm(3, eps=1e-3, elementwise_affine=False),
        leading(3, edges=NORM_EDGES),
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.LayerNorm(no bias)",
        _norm(lambda lib: lib.nn.LayerNorm(4, bias=False)),
        leading(4, max_dims=1, edges=NORM_EDGES),
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.GroupNorm",
        _norm(lambda lib: lib.nn.GroupNorm(2, 4)),
        # groups of 2 channels of 2-6 values (two would be degenerate, as above)
        st.one_of(
            shaped((1, 2), 4, (2, 3), edges=NORM_EDGES),
            shaped((1, 2), 4, (1, 3), (2, 3), edges=NORM_EDGES),
        ),
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.GroupNorm(no affine)",
        lambda lib: lib.nn.GroupNorm(3, 3, eps=1e-3, affine=False),
        shaped((1, 2), 3, (3, 4), edges=NORM_EDGES),  # 3+ values per group
        **NORM_TOL,
    ),
    ModuleSpec(
        "nn.RMSNorm",
        _norm(lambda lib: lib.nn.RMSNorm((2, 3))),
        leading(2, 3),
        fd_ok=_rms_above(1e-3, 2),
    ),
    ModuleSpec(
        "nn.RMSNorm(eps, no affine)",
        lambda lib: lib.nn.RMSNorm(3, eps=1e-3, elementwise_affine=False),
        leading(3),
    ),
    # ------------------------------------------------------------- embedding
    ModuleSpec(
        "nn.Embedding",
        lambda lib: lib.nn.Embedding(5, 3),
        ints(low=0, high=4, max_dims=2),
        note="repeated indices accumulate into the weight's gradient",
    ),
    ModuleSpec(
        "nn.Embedding(padding_idx)",
        lambda lib: lib.nn.Embedding(5, 3, padding_idx=-2),
        ints(low=0, high=4, max_dims=2),
        # the padding row's output depends on it but its gradient is 0 by design
        fd_ok=lambda idx: not np.any(idx == 3),
        note="row padding_idx (3) gets no gradient",
    ),
    ModuleSpec(
        "nn.Embedding(max_norm)",
        lambda lib: lib.nn.Embedding(5, 3, max_norm=1.0, norm_type=2.0),
        ints(low=0, high=4, max_dims=2),
        fd_ok=no_fd,  # the forward renormalises the weight in place
        note="looked-up rows renormalised in place to norm <= 1",
    ),
    ModuleSpec(
        "nn.Embedding(scale_grad_by_freq)",
        lambda lib: lib.nn.Embedding(4, 2, scale_grad_by_freq=True),
        ints((2, 3), low=0, high=3),
        fd_ok=no_fd,  # the gradient is divided by each index's count on purpose
    ),
]
