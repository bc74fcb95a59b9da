"""Running a spec: hypothesis drives the cases, each checked against torch.

``run_spec`` draws the spec's inputs (derandomized, the profile's number of
examples plus the spec's explicit ``cases``) and for each case compares forward
values and gradients in every dtype, runs gradcheck in float64 and tries double
backward; the outcome of every spec run lands in ``RESULTS``, which
``conftest.py`` writes out for ``tools/conformance_table.py``.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import plaingrad as pg

from .compare import (
    array_of,
    assert_close,
    backpropagate,
    compare_grads,
    compare_outputs,
    compare_warnings,
    finite,
    flatten,
    make_inputs,
    run_catching,
)
from .harness import (
    ConformanceError,
    CustomSpec,
    ModuleSpec,
    OpSpec,
    Spec,
    examples_per_spec,
    profile,
    stage,
)


@dataclass
class SpecResult:
    name: str
    kind: str
    dtypes: list[str]
    cases: int = 0
    error_cases: int = 0
    gradcheck_cases: int = 0
    gradgradcheck_cases: int = 0
    backward: str = "pass"
    double_yes: int = 0
    double_no: str = ""
    double_torch_none: str = ""
    failed: str = ""
    message: str = ""
    xfail: str = ""
    note: str = ""
    seconds: float = 0.0  # for budgeting the CI run; not in the table

    def as_json(self) -> dict:
        stages = ["forward", "backward", "double backward"]
        status = {s: "pass" for s in stages}
        status["backward"] = self.backward
        if self.double_no:
            status["double backward"] = "no"
        elif self.double_yes:
            status["double backward"] = "yes"
        else:
            status["double backward"] = "n/a"
        if self.failed:
            column = "backward" if self.failed == "gradcheck" else self.failed
            hit = stages.index(column)
            status[column] = "fail"
            for later in stages[hit + 1 :]:
                status[later] = "not run"
        return {
            "name": self.name,
            "kind": self.kind,
            "forward": status["forward"],
            "backward": status["backward"],
            "double_backward": status["double backward"],
            "dtypes": self.dtypes,
            "cases": self.cases,
            "error_cases": self.error_cases,
            "gradcheck_cases": self.gradcheck_cases,
            "gradgradcheck_cases": self.gradgradcheck_cases,
            "double_backward_note": self.double_no or self.double_torch_none,
            "failure": self.message[:500],
            "xfail": self.xfail,
            "note": self.note,
            "seconds": self.seconds,
        }


# name -> result of every spec run in this session (written by conftest.py).
RESULTS: dict[str, SpecResult] = {}


# --------------------------------------------------------------- double backward


def _second_derivatives(lib: Any, outs: list, leaves: list, vs: list, ws: list):
    """The gradient of ``sum(w * vjp)``, ``vjp = d(outs . v)/d leaves``, with
    respect to the leaves and to the output gradients ``v`` (which require
    grad); None -> zeros."""
    firsts = lib.autograd.grad(outs, leaves, vs, create_graph=True, allow_unused=True)
    terms = [
        (g * w).sum() for g, w in zip(firsts, ws) if g is not None and g.requires_grad
    ]
    wrt = leaves + vs
    if not terms:
        return [np.zeros(tuple(x.shape)) for x in wrt]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    seconds = lib.autograd.grad(total, wrt, allow_unused=True)
    return [
        np.zeros(tuple(x.shape)) if g is None else array_of(g)
        for g, x in zip(seconds, wrt)
    ]


def check_double_backward(
    spec: Any,
    torch: Any,
    f_pg: Callable,
    f_t: Callable,
    p_in: list,
    t_in: list,
    leaf_idx: list[int],
    rng: np.random.Generator,
    fd_ok: bool,
) -> str:
    """ "yes", or the reason for "no"; raises ConformanceError on wrong numbers.

    ``f_pg(*p_in)`` / ``f_t(*t_in)`` compute the outputs; ``leaf_idx`` are the
    positions of the float64 leaves to differentiate twice.
    """
    gradgradcheck = getattr(pg.autograd, "gradgradcheck", None)
    if gradgradcheck is None:
        return "plaingrad.autograd.gradgradcheck does not exist"
    t_outs = [
        t
        for t in flatten(f_t(*t_in))
        if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    if not t_outs or all(t_in[i].numel() == 0 for i in leaf_idx):
        # nothing to differentiate twice (for empty inputs torch's derivative by
        # the output gradient is an empty sum that it reports as nan)
        return ""
    vs = [rng.standard_normal(tuple(t.shape)) for t in t_outs]
    ws = [rng.standard_normal(tuple(t_in[i].shape)) for i in leaf_idx]
    t_leaves = [t_in[i] for i in leaf_idx]
    try:
        expected = _second_derivatives(
            torch,
            t_outs,
            t_leaves,
            [torch.tensor(v, requires_grad=True) for v in vs],
            [torch.tensor(w) for w in ws],
        )
    except RuntimeError as error:
        if "not implemented" not in str(error):
            raise
        return f"torch: {error}"[:200]
    try:
        p_outs = [
            p
            for p in flatten(f_pg(*p_in))
            if isinstance(p, pg.Tensor) and p.requires_grad
        ]
        got = _second_derivatives(
            pg,
            p_outs,
            [p_in[i] for i in leaf_idx],
            [pg.tensor(v, requires_grad=True) for v in vs],
            [pg.tensor(w) for w in ws],
        )
    except NotImplementedError as error:
        return f"NotImplementedError: {error}"[:200]
    except Exception as error:
        raise ConformanceError(
            "double backward", f"{type(error).__name__}: {error}"
        ) from error
    tol = spec.tolerance("float64")
    labels = [f"input {i}" for i in leaf_idx] + [
        f"output gradient {k}" for k in range(len(vs))
    ]
    for label, g, e in zip(labels, got, expected):
        what = f"{spec.name}: double backward, derivative by {label}"
        assert_close(g, e, tol, what, "double backward")
    if fd_ok and all(np.all(np.isfinite(e)) for e in expected):
        try:
            ok = gradgradcheck(f_pg, tuple(p_in))
        except NotImplementedError as error:
            return f"NotImplementedError: {error}"[:200]
        except Exception as error:
            raise ConformanceError(
                "double backward", f"gradgradcheck: {error}"
            ) from error
        if ok is not True:
            raise ConformanceError("double backward", "gradgradcheck returned False")
        return "yes, gradgradcheck"
    return "yes"


# ------------------------------------------------------------ checking a case


def _grad_mask(spec: Any, args: Sequence[Any]) -> list[bool]:
    return [
        isinstance(a, np.ndarray)
        and a.dtype.kind == "f"
        and (spec.grad is None or bool(spec.grad[i]))
        for i, a in enumerate(args)
    ]


# Central differences in float64 lose too many digits beyond this magnitude.
FD_LIMIT = 1e3


def fd_valid(spec: Any, args: Sequence[Any]) -> bool:
    """Whether finite differences can judge this case: the spec's ``fd_ok`` and
    no float input above ``FD_LIMIT`` in magnitude."""
    for a in args:
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and a.size:
            if np.max(np.abs(a)) > FD_LIMIT:
                return False
    return spec.fd_ok is None or bool(spec.fd_ok(*args))


def _gradcheck(f: Callable, inputs: list, spec: Any) -> None:
    with stage("gradcheck"):
        ok = pg.autograd.gradcheck(f, tuple(inputs))
    if ok is not True:
        raise ConformanceError("gradcheck", f"{spec.name}: gradcheck returned False")


# gradgradcheck (finite differences of the backward pass in every input and
# output-gradient element) is the costliest check: per spec it runs on this
# many cases, while every case compares second derivatives with torch's.
GRADGRADCHECKS = {"ci": 1, "dev": 3}


def _wants_gradgradcheck(result: SpecResult) -> bool:
    return result.gradgradcheck_cases < GRADGRADCHECKS.get(profile(), 10**9)


def _record_double(result: SpecResult, outcome: str) -> None:
    if outcome.startswith("yes"):
        result.double_yes += 1
        result.gradgradcheck_cases += outcome.endswith("gradgradcheck")
    elif outcome.startswith("torch: "):
        result.double_torch_none = outcome
    elif outcome and not result.double_no:
        result.double_no = outcome


def check_op_case(spec: OpSpec, torch: Any, args: tuple, seed: int, result):
    rng = np.random.default_rng(seed)
    mask = _grad_mask(spec, args)
    for dtype in spec.dtypes:
        p_in = make_inputs(pg, args, dtype, mask)
        t_in = make_inputs(torch, args, dtype, mask)
        t_out, t_err, t_warns = run_catching(spec.fn, torch, *t_in)
        with stage("forward"):
            p_out, p_err, p_warns = run_catching(spec.fn, pg, *p_in)
        compare_warnings(p_warns, t_warns, f"{spec.name} ({dtype})")
        if t_err is not None:
            if p_err is None or not isinstance(p_err, type(t_err)):
                raise ConformanceError(
                    "forward",
                    f"{spec.name} ({dtype}): torch raises "
                    f"{type(t_err).__name__}({t_err}) but plaingrad "
                    + (
                        f"raises {type(p_err).__name__}({p_err})"
                        if p_err
                        else "returns a result"
                    ),
                )
            result.error_cases += 1
            return
        if p_err is not None:
            raise ConformanceError(
                "forward", f"{spec.name} ({dtype}): {type(p_err).__name__}: {p_err}"
            ) from p_err
        ps, ts = compare_outputs(p_out, t_out, torch, dtype, spec)
        if not spec.backward:
            continue
        with stage("backward"):
            ran = backpropagate(ps, ts, torch, rng)
        if ran:
            labels = [
                (f"input {i}", p_in[i], t_in[i]) for i in range(len(args)) if mask[i]
            ]
            compare_grads(labels, spec.tolerance(dtype), f"{spec.name} ({dtype})")
    if not spec.backward or not any(mask):
        return
    p64 = make_inputs(pg, args, "float64", mask)
    t64 = make_inputs(torch, args, "float64", mask)
    fd_ok = fd_valid(spec, args)
    with stage("gradcheck"):
        p_out = spec.fn(pg, *p64)
    t_out = spec.fn(torch, *t64)
    outs = [o for o in flatten(p_out) if isinstance(o, pg.Tensor)]
    t_grads = _torch_grads(torch, t_out, [t64[i] for i in range(len(args)) if mask[i]])
    if fd_ok and finite(outs) and finite(t_grads):
        _gradcheck(lambda *xs: spec.fn(pg, *xs), p64, spec)
        result.gradcheck_cases += 1
    if spec.gradgrad:
        leaf_idx = [i for i in range(len(args)) if mask[i]]
        outcome = check_double_backward(
            spec,
            torch,
            lambda *xs: spec.fn(pg, *xs),
            lambda *xs: spec.fn(torch, *xs),
            make_inputs(pg, args, "float64", mask),
            make_inputs(torch, args, "float64", mask),
            leaf_idx,
            rng,
            fd_ok and finite(outs) and finite(t_grads) and _wants_gradgradcheck(result),
        )
        _record_double(result, outcome)


def _torch_grads(torch: Any, out: Any, leaves: list) -> list:
    outs = [o for o in flatten(out) if isinstance(o, torch.Tensor) and o.requires_grad]
    if not outs or not leaves:
        return []
    total = sum(o.sum() for o in outs)
    return list(torch.autograd.grad(total, leaves, allow_unused=True))


# ---------------------------------------------------------------- modules


def _call(spec: ModuleSpec) -> Callable[..., Any]:
    if spec.call is not None:
        return spec.call
    return lambda module, *xs: module(*xs)


def build_modules(spec: ModuleSpec, torch: Any, seed: int, dtype: str):
    """The torch module (seeded) and the plaingrad one loaded with its state."""
    torch.manual_seed(seed)
    t_mod = spec.make(torch).to(getattr(torch, dtype))
    with stage("forward"):
        p_mod = spec.make(pg).to(getattr(pg, dtype))
    t_state = t_mod.state_dict()
    p_state = p_mod.state_dict()
    missing = sorted(set(t_state) - set(p_state))
    extra = sorted(set(p_state) - set(t_state))
    if missing or extra:
        raise ConformanceError(
            "forward",
            f"{spec.name}: state_dict names differ from torch's: missing "
            f"{missing}, unexpected {extra}",
        )
    for key, value in t_state.items():
        if tuple(p_state[key].shape) != tuple(value.shape):
            raise ConformanceError(
                "forward",
                f"{spec.name}: `{key}` has shape {tuple(p_state[key].shape)}, "
                f"torch {tuple(value.shape)}",
            )
    with stage("forward"):
        p_mod.load_state_dict(
            {k: pg.tensor(v.detach().numpy().copy()) for k, v in t_state.items()}
        )
        t_mod.train(spec.train)
        p_mod.train(spec.train)
    return t_mod, p_mod


def _parameters(spec: ModuleSpec, p_mod: Any, t_mod: Any) -> list[tuple]:
    t_params = dict(t_mod.named_parameters())
    p_params = dict(p_mod.named_parameters())
    if sorted(t_params) != sorted(p_params):
        raise ConformanceError(
            "forward",
            f"{spec.name}: named_parameters {sorted(p_params)}, torch "
            f"{sorted(t_params)}",
        )
    return [(f"parameter `{k}`", p_params[k], t_params[k]) for k in sorted(t_params)]


def _sample_parameters(params: list, k: int, rng: np.random.Generator) -> list:
    """``k`` parameter positions drawn with weights 1/numel: finite differences
    cost two calls per element, and every parameter's gradient is compared
    with torch's anyway."""
    if not params:
        return []
    weights = np.array([1.0 / max(p.numel(), 1) for _, p, _ in params])
    k = min(k, len(params))
    return sorted(rng.choice(len(params), k, replace=False, p=weights / weights.sum()))


def check_module_case(spec: ModuleSpec, torch: Any, args: tuple, seed: int, result):
    rng = np.random.default_rng(seed)
    mask = _grad_mask(spec, args)
    call = _call(spec)
    for dtype in spec.dtypes:
        t_mod, p_mod = build_modules(spec, torch, seed, dtype)
        params = _parameters(spec, p_mod, t_mod)
        p_in = make_inputs(pg, args, dtype, mask)
        t_in = make_inputs(torch, args, dtype, mask)
        t_out = call(t_mod, *t_in)
        with stage("forward"):
            p_out = call(p_mod, *p_in)
        ps, ts = compare_outputs(p_out, t_out, torch, dtype, spec)
        tol = spec.tolerance(dtype)
        p_state = p_mod.state_dict()
        for key, value in t_mod.state_dict().items():  # running statistics
            assert_close(
                p_state[key],
                value,
                tol,
                f"{spec.name}: `{key}` after the call ({dtype})",
                "forward",
            )
        if not spec.backward:
            continue
        with stage("backward"):
            ran = backpropagate(ps, ts, torch, rng)
        if ran:
            labels = [
                (f"input {i}", p_in[i], t_in[i]) for i in range(len(args)) if mask[i]
            ]
            compare_grads(labels + params, tol, f"{spec.name} ({dtype})")
    if not spec.backward:
        return
    t_mod, p_mod = build_modules(spec, torch, seed, "float64")
    params = _parameters(spec, p_mod, t_mod)
    picked = _sample_parameters(params, spec.params_checked, rng)
    n = len(args)
    leaf_idx = [i for i in range(n) if mask[i]] + [n + j for j in range(len(picked))]
    if not leaf_idx:
        return

    def f_pg(*xs: Any) -> Any:
        return call(p_mod, *xs[:n])

    def f_t(*xs: Any) -> Any:
        return call(t_mod, *xs[:n])

    p64 = make_inputs(pg, args, "float64", mask) + [params[j][1] for j in picked]
    t64 = make_inputs(torch, args, "float64", mask) + [params[j][2] for j in picked]
    fd_ok = fd_valid(spec, args)
    with stage("gradcheck"):
        outs = [o for o in flatten(f_pg(*p64)) if isinstance(o, pg.Tensor)]
    t_grads = _torch_grads(torch, f_t(*t64), [t64[i] for i in leaf_idx])
    smooth = finite(outs) and finite(t_grads)
    if fd_ok and smooth:
        _gradcheck(f_pg, p64, spec)
        result.gradcheck_cases += 1
    if spec.gradgrad:
        outcome = check_double_backward(
            spec,
            torch,
            f_pg,
            f_t,
            p64,
            t64,
            leaf_idx,
            rng,
            fd_ok and smooth and _wants_gradgradcheck(result),
        )
        _record_double(result, outcome)


def check_custom_case(spec: CustomSpec, torch: Any, args: tuple, seed: int, result):
    for dtype in spec.dtypes:
        pg.manual_seed(seed)
        torch.manual_seed(seed)
        with stage("forward"):
            spec.check(torch, dtype, *copy.deepcopy(args))


# ------------------------------------------------------------- running a spec

_CHECKS = {
    "op": check_op_case,
    "module": check_module_case,
    "custom": check_custom_case,
}


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def run_spec(
    spec: Spec, torch: Any, record: dict[str, SpecResult] | None = RESULTS
) -> SpecResult:
    """Run every generated and explicit case of ``spec``; record the result in
    ``record`` (the session's ``RESULTS`` unless told otherwise)."""
    result = SpecResult(
        name=spec.name,
        kind=spec.kind,
        dtypes=list(spec.dtypes),
        backward="pass" if spec.backward else "n/a",
        xfail=spec.xfail or "",
        note=spec.note,
    )
    if record is not None:
        record[spec.name] = result
    check = _CHECKS[spec.kind]
    phases = [Phase.explicit, Phase.generate]
    # Shrinking a failure can take minutes for a module; CI reports the failing
    # case unshrunk, and so does an expected failure on every run.
    if not spec.xfail and profile() != "ci":
        phases.append(Phase.shrink)

    @settings(
        max_examples=max(1, round(examples_per_spec() * spec.examples_scale)),
        derandomize=True,
        database=None,
        deadline=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        print_blob=False,
    )
    @given(args=spec.inputs.map(_as_tuple), seed=st.integers(0, 2**31 - 1))
    def run(args: tuple, seed: int) -> None:
        result.cases += 1
        with warnings.catch_warnings():
            # plaingrad's warnings are compared with torch's at the forward call;
            # elsewhere (gradcheck's repeated calls, torch's own) they repeat.
            warnings.simplefilter("ignore")
            check(spec, torch, args, seed, result)

    for case in reversed(spec.cases):
        run = example(args=case, seed=0)(run)
    start = time.perf_counter()
    try:
        run()
    except ConformanceError as error:
        result.failed, result.message = error.stage, str(error)
        raise
    except BaseException as error:
        result.failed, result.message = "forward", f"{type(error).__name__}: {error}"
        raise
    finally:
        result.seconds = round(time.perf_counter() - start, 3)
    return result
