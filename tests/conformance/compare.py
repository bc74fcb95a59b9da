"""Comparing plaingrad's results with torch's, for the conformance runner."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import plaingrad as pg

from .harness import ConformanceError


def dtype_name(dtype: Any) -> str:
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return str(dtype).removeprefix("torch.")


def flatten(out: Any) -> list:
    """Tensors and values of a (nested) tuple / list / namedtuple result."""
    if isinstance(out, (tuple, list)):
        return [leaf for item in out for leaf in flatten(item)]
    return [out]


def array_of(t: Any) -> np.ndarray:
    t = t.detach()
    if type(t).__module__.startswith("torch"):
        return np.asarray(t.numpy(force=True))  # torch's ZeroTensor gradients too
    return np.asarray(t.numpy())


def assert_close(
    got: Any, expected: Any, tol: tuple[float, float], what: str, stage_: str
) -> None:
    g = array_of(got) if hasattr(got, "detach") else np.asarray(got)
    e = array_of(expected) if hasattr(expected, "detach") else np.asarray(expected)
    if g.shape != e.shape:
        raise ConformanceError(stage_, f"{what}: shape {g.shape}, torch {e.shape}")
    if e.dtype.kind in "fc":
        try:
            np.testing.assert_allclose(
                g.astype(np.float64),
                e.astype(np.float64),
                rtol=tol[0],
                atol=tol[1],
                err_msg=what,
            )
        except AssertionError as error:
            raise ConformanceError(stage_, str(error)) from None
    elif not np.array_equal(g, e):
        raise ConformanceError(stage_, f"{what}: {g!r} but torch gives {e!r}")


def make_inputs(lib: Any, args: Sequence[Any], dtype: str, grad: Any) -> list:
    """``lib`` tensors from NumPy arrays (see the module docstring)."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, np.generic):
            a = np.asarray(a)
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            wants = True if grad is None else bool(grad[i])
            out.append(lib.tensor(a.astype(dtype), requires_grad=wants))
        elif isinstance(a, np.ndarray):
            out.append(lib.tensor(a.copy()))
        else:
            out.append(copy.deepcopy(a))
    return out


def run_catching(fn: Callable[..., Any], *args: Any) -> tuple[Any, Any, list]:
    """``fn(*args)``: its result, the exception it raised, the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return fn(*args), None, caught
        except Exception as error:  # compared with the other library's behaviour
            return None, error, caught


def compare_warnings(p_warns: list, t_warns: list, what: str) -> None:
    """plaingrad may warn (PlaingradWarning) only where torch warns too."""
    ours = [w for w in p_warns if issubclass(w.category, pg.PlaingradWarning)]
    if ours and not t_warns:
        raise ConformanceError(
            "forward", f"{what}: plaingrad warns ({ours[0].message}), torch does not"
        )


def compare_outputs(p_out: Any, t_out: Any, torch: Any, dtype: str, spec: Any):
    tol = spec.tolerance(dtype)
    ps, ts = flatten(p_out), flatten(t_out)
    if len(ps) != len(ts):
        raise ConformanceError("forward", f"{len(ps)} outputs, torch {len(ts)}")
    for k, (p, t) in enumerate(zip(ps, ts)):
        what = f"{spec.name}: output {k} ({dtype})"
        if not isinstance(t, torch.Tensor):
            if p != t:
                raise ConformanceError("forward", f"{what}: {p!r}, torch {t!r}")
            continue
        if not isinstance(p, pg.Tensor):
            raise ConformanceError("forward", f"{what}: got {type(p).__name__}")
        if dtype_name(p.dtype) != dtype_name(t.dtype):
            raise ConformanceError(
                "forward", f"{what}: dtype {p.dtype}, torch {dtype_name(t.dtype)}"
            )
        if p.requires_grad != t.requires_grad:
            raise ConformanceError(
                "forward",
                f"{what}: requires_grad {p.requires_grad}, torch {t.requires_grad}",
            )
        assert_close(p, t, tol, what, "forward")
    return ps, ts


def backpropagate(ps: list, ts: list, torch: Any, rng: np.random.Generator) -> bool:
    """The same random output gradients into both graphs; False if none needs."""
    pairs = [
        (p, t)
        for p, t in zip(ps, ts)
        if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    if not pairs:
        return False
    seeds = [rng.standard_normal(tuple(t.shape)) for _, t in pairs]
    pg.autograd.backward(
        [p for p, _ in pairs],
        [pg.tensor(s.astype(p.dtype.np)) for s, (p, _) in zip(seeds, pairs)],
    )
    try:
        torch.autograd.backward(
            [t for _, t in pairs],
            [torch.tensor(s, dtype=t.dtype) for s, (_, t) in zip(seeds, pairs)],
        )
    except RuntimeError as error:
        raise ConformanceError(
            "backward",
            f"torch itself raises in backward ({error}); narrow the spec's inputs "
            "to what torch can differentiate",
        ) from error
    return True


def compare_grads(named: list[tuple[str, Any, Any]], tol: Any, what: str) -> None:
    """``named``: (label, plaingrad leaf, torch leaf) triples."""
    for label, p, t in named:
        where = f"{what}: gradient of {label}"
        if t.grad is None:
            if p.grad is not None:
                raise ConformanceError("backward", f"{where}: torch gives None")
            continue
        if p.grad is None:
            raise ConformanceError("backward", f"{where}: None, torch has one")
        if dtype_name(p.grad.dtype) != dtype_name(t.grad.dtype):
            raise ConformanceError("backward", f"{where}: dtype {p.grad.dtype}")
        assert_close(p.grad, t.grad, tol, where, "backward")


def finite(values: list) -> bool:
    return all(np.all(np.isfinite(array_of(v))) for v in values if v is not None)
