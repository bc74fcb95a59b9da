"""The conformance harness: one spec per op or module, checked against PyTorch.

A spec file ``tests/conformance/specs_<group>.py`` exposes ``SPECS: list`` of the
three spec forms below; ``test_conformance.py`` finds every such file, runs each
spec as one test and records its result for ``docs/conformance.md``. A spec's
``name`` is the row of the table: write it exactly as issue 3 does (``"atan2"``,
``"norm"``, ``"F.conv2d"``, ``"nn.LSTM"``); variants get rows of their own
(``"gelu(tanh)"``, ``"pad(reflect)"``) but the bare name needs a row too.

``OpSpec(name, fn, inputs)`` -- a function written once for both libraries::

    OpSpec("atan2", lambda lib, y, x: lib.atan2(y, x), broadcastable(2))
    OpSpec(
        "cumsum",
        lambda lib, x, dim: lib.cumsum(x, dim),
        with_dim(floats(min_dims=1, empty=True)),
    )

``inputs`` is a hypothesis strategy of a tuple of NumPy arrays and plain values
(or of a single array); ``fn(lib, *inputs)`` gets them as ``lib`` tensors: float
arrays become tensors of each dtype in ``dtypes`` that require grad (``grad``, one
bool per input, says which), integer and bool arrays plain tensors, other values
pass unchanged. Per generated case and dtype the harness compares with torch the
outputs (shape, dtype, ``requires_grad``, values) and, after a random output
gradient, every input's ``.grad``; then in float64 it runs
``plaingrad.autograd.gradcheck``, and, when ``gradgrad=True``, compares second
derivatives with torch's (``create_graph=True``) and runs
``plaingrad.autograd.gradgradcheck``. Double backward is recorded "yes" when that
passes, "no" when plaingrad raises ``NotImplementedError`` (or has no
``gradgradcheck``), "n/a" where torch itself has none, and fails the test when
it runs with wrong numbers. When torch raises on a case (an empty dim it
rejects, say), plaingrad must raise the same exception class; plaingrad may warn
(``PlaingradWarning``) only where torch warns too. When torch raises in
*backward* the spec fails, asking for inputs torch can differentiate.

``ModuleSpec(name, make, inputs)`` -- a module built by ``make(lib)`` in both::

    ModuleSpec("nn.Hardtanh", lambda lib: lib.nn.Hardtanh(-0.5, 2.0), floats())
    ModuleSpec("nn.Linear", lambda lib: lib.nn.Linear(3, 2), floats((4, 3)))

The torch module is built under a seeded ``torch.manual_seed``; its
``state_dict`` is copied into the plaingrad one by name (so names and shapes
must map 1:1), then outputs, input gradients, every parameter's gradient and
the buffers after the call (running statistics) are compared. gradcheck and
gradgradcheck run on the inputs and on ``params_checked`` parameters sampled per
case (small ones more often: every gradient is compared with torch's anyway).
``call(module, *inputs)`` replaces ``module(*inputs)`` when needed;
``train=False`` puts both modules in eval mode.

``CustomSpec(name, check, inputs, note=...)`` -- for random outputs (dropout,
bernoulli, multinomial) where values cannot match torch: ``check(torch, dtype,
*inputs)`` asserts what can be checked (shape, dtype, statistics, gradient =
mask * scale) with the arrays it is given; wrap its backward part in
``with stage("backward"):`` so a failure lands in the right column::

    def check_dropout(torch, dtype, x):
        t = pg.tensor(x.astype(dtype), requires_grad=True)
        out = pg.nn.functional.dropout(t, p=0.5)
        kept = out.detach().numpy() != 0
        np.testing.assert_allclose(out.detach().numpy()[kept], 2 * x[kept], 1e-6)
        with stage("backward"):
            out.sum().backward()
            np.testing.assert_array_equal(t.grad.numpy(), 2.0 * kept)

    CustomSpec("F.dropout", check_dropout, floats((50, 40), low=1, high=2),
               note="kept values and gradient scaled by 1/(1-p)")

Options common to the forms (all keywords): ``dtypes`` (default float32 and
float64), ``grad`` (which inputs require grad), ``backward`` (False for ops
without gradients: ``argmax``, ``all``), ``gradgrad`` (attempt double backward),
``fd_ok(*inputs) -> bool`` (whether central differences are valid at the case:
``away_from(0.0)`` for a kink at 0, ``distinct`` where ties make the function
non-differentiable; gradcheck also skips cases whose float64 output or torch
gradient is not finite, or with an input above 1e3 in magnitude, where central
differences lose their digits), ``cases`` (explicit input tuples run in every
profile: the ties and kinks CI's few examples may miss), ``examples_scale``
(fraction of the profile's example count for an expensive spec), ``tol``
(per-dtype ``(rtol, atol)`` override, only with ``tol_why`` saying why),
``xfail`` (a reason naming the disagreement with torch; strict, so a fix makes
the mark fail) and ``note``.

Tolerances are issue 3's: float64 rtol 1e-7 atol 1e-10, float32 rtol 1e-4 atol
1e-6; integer and bool outputs must be equal. The number of generated examples
per spec comes from the hypothesis profile's name (``HYPOTHESIS_PROFILE``: ci 3,
dev 10, full 40; ``CONFORMANCE_EXAMPLES=n`` overrides), always derandomized, so
CI is repeatable. Under the ci profile failures are not shrunk and
``gradgradcheck`` runs on one case per spec (dev: 3; full: every case); the
comparison of second derivatives with torch's runs on every case.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

from .strategies import (  # noqa: F401 (re-exported for spec files)
    EDGES,
    SMOOTH,
    bools,
    broadcastable,
    fill,
    floats,
    ints,
    matrices,
    with_dim,
)

TOLERANCE = {
    "float64": (1e-7, 1e-10),
    "float32": (1e-4, 1e-6),
    # Not in issue 3; half precision keeps 11 bits of mantissa.
    "float16": (1e-2, 1e-3),
    "bfloat16": (2e-2, 1e-2),
}
FLOATS = ("float32", "float64")

# Examples per spec for each hypothesis profile (see tests/conftest.py).
EXAMPLES = {"ci": 3, "dev": 10, "full": 40}


def profile() -> str:
    return os.environ.get("HYPOTHESIS_PROFILE", "ci")


def examples_per_spec() -> int:
    override = os.environ.get("CONFORMANCE_EXAMPLES")
    if override:
        return int(override)
    return EXAMPLES.get(profile(), EXAMPLES["ci"])


# ------------------------------------------------------------------ the specs


@dataclass(frozen=True, kw_only=True)
class _Common:
    """Options shared by the spec forms (see the module docstring)."""

    dtypes: tuple[str, ...] = FLOATS
    grad: tuple[bool, ...] | None = None
    backward: bool = True
    gradgrad: bool = True
    fd_ok: Callable[..., bool] | None = None
    cases: tuple[tuple, ...] = ()
    examples_scale: float = 1.0
    tol: Mapping[str, tuple[float, float]] | None = None
    tol_why: str = ""
    xfail: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        name = getattr(self, "name", "")
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"spec: bad name {name!r}")
        if self.tol and not self.tol_why:
            raise ValueError(f"spec {name}: `tol` needs `tol_why` saying why")
        unknown = set(self.dtypes) - set(TOLERANCE)
        if unknown:
            raise ValueError(f"spec {name}: unknown dtypes {sorted(unknown)}")
        for key in ("dtypes", "grad"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, tuple(value))
        cases = tuple(c if isinstance(c, tuple) else (c,) for c in self.cases)
        object.__setattr__(self, "cases", cases)

    def tolerance(self, dtype: str) -> tuple[float, float]:
        if self.tol and dtype in self.tol:
            return self.tol[dtype]
        return TOLERANCE[dtype]


@dataclass(frozen=True)
class OpSpec(_Common):
    """``fn(lib, *inputs)`` compared between plaingrad and torch."""

    name: str
    fn: Callable[..., Any]
    inputs: st.SearchStrategy
    kind = "op"


@dataclass(frozen=True)
class ModuleSpec(_Common):
    """``make(lib)`` built in both libraries with torch's weights copied over."""

    name: str
    make: Callable[[Any], Any]
    inputs: st.SearchStrategy
    call: Callable[..., Any] | None = field(default=None, kw_only=True)
    train: bool = field(default=True, kw_only=True)
    params_checked: int = field(default=2, kw_only=True)
    kind = "module"


@dataclass(frozen=True)
class CustomSpec(_Common):
    """``check(torch, dtype, *inputs)`` asserts what can be checked."""

    name: str
    check: Callable[..., None]
    inputs: st.SearchStrategy
    gradgrad: bool = field(default=False, kw_only=True)
    kind = "custom"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.note:
            raise ValueError(f"CustomSpec {self.name}: `note` must say what is checked")


Spec = OpSpec | ModuleSpec | CustomSpec


def away_from(*points: float, margin: float = 1e-3) -> Callable[..., bool]:
    """An ``fd_ok`` that is False when a float input lies within ``margin`` of a
    kink: ``fd_ok=away_from(-1.0, 1.0)`` for ``hardtanh``."""

    def ok(*inputs: Any) -> bool:
        for x in _float_arrays(inputs):
            for p in points:
                if np.any(np.abs(x - p) < margin):
                    return False
        return True

    return ok


def distinct(*inputs: Any, margin: float = 1e-3) -> bool:
    """An ``fd_ok``: every float input's values are pairwise ``margin`` apart
    (sort, max, median are not differentiable at ties)."""
    for x in _float_arrays(inputs):
        v = np.sort(x.reshape(-1))
        if v.size > 1 and np.min(np.diff(v)) < margin:
            return False
    return True


def _float_arrays(inputs: Sequence[Any]) -> Iterator[np.ndarray]:
    for x in inputs:
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            yield x


# ---------------------------------------------------------------- stages


class ConformanceError(AssertionError):
    """A disagreement with torch, tagged with the stage (table column) it hit."""

    def __init__(self, stage: str, message: str):
        super().__init__(f"[{stage}] {message}")
        self.stage = stage


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """Tag any failure inside the block with ``name`` (forward, backward, ...)."""
    try:
        yield
    except ConformanceError:
        raise
    except Exception as error:
        raise ConformanceError(name, f"{type(error).__name__}: {error}") from error
