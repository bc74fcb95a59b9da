"""Views and in-place ops through them, against real PyTorch.

Views share memory and the version counter with their base; an in-place op
on a view writes into the base and gives it a ``CopySlices`` history; index
assignment is an in-place copy into a view (or an index_put). Every expected
value, gradient, name and version comes from torch (or from finite
differences). The in-place ops themselves are in ``test_inplace_ops.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import import_torch
from hypothesis import given
from hypothesis import strategies as st
from opcheck import check_against_torch, check_gradients

import plaingrad as pg

torch = import_torch()


def both(fn: Any) -> tuple:
    """``fn(lib)`` for plaingrad and torch."""
    return fn(pg), fn(torch)


def same_error(fn: Any, error: type = RuntimeError) -> str:
    """``fn(lib)`` raises the same error with the same message in both."""
    messages = []
    for lib in (torch, pg):
        with pytest.raises(error) as info:
            fn(lib)
        messages.append(str(info.value).replace("torch.", "plaingrad."))
    assert messages[0] in messages[1], messages  # ours may name the op first
    return messages[1]


RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
Y = RNG.standard_normal((3, 4))

# -------------------------------------------------------------------- views

VIEWS = {
    "slice": lambda x: x[1:],
    "slice of slice": lambda x: x[1:][0],
    "int index": lambda x: x[1, 2],
    "ellipsis": lambda x: x[..., 1],
    "none": lambda x: x[None, 0],
    "view": lambda x: x.view(12),
    "view_as": lambda x: x.view_as(x),
    "reshape": lambda x: x.reshape(2, 6),
    "reshape same": lambda x: x.reshape(3, 4),
    "flatten": lambda x: x.flatten(),
    "transpose": lambda x: x.transpose(0, 1),
    "t": lambda x: x.t(),
    "T": lambda x: x.T,
    "mT": lambda x: x.mT,
    "permute": lambda x: x.permute(1, 0),
    "expand no repeat": lambda x: x.expand(3, 4),
    "squeeze": lambda x: x.unsqueeze(0).squeeze(0),
    "unsqueeze": lambda x: x.unsqueeze(1),
    "narrow": lambda x: x.narrow(1, 1, 2),
    "select": lambda x: x.select(1, 2),
    "diagonal": lambda x: x.diagonal(),
    "diagonal offset": lambda x: x.diagonal(1),
    "unfold": lambda x: x.unfold(1, 2, 2),
    "split piece": lambda x: x.split(2, 1)[1],
    "chunk piece": lambda x: x.chunk(2)[0],
    "unbind piece": lambda x: x.unbind(1)[3],
    "movedim": lambda x: x.movedim(0, 1),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "t then reshape (view)": lambda x: x.t().reshape(2, 2, 3),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views_share_memory_version_and_base_as_torch(name: str) -> None:
    def fn(lib):
        x = lib.tensor(np.arange(12.0).reshape(3, 4))
        v = VIEWS[name](x)
        v.mul_(-1)  # through the view ...
        x.add_(100)  # ... and the base
        return x.tolist(), v.tolist(), v._version, x._version, v._base is x

    assert fn(pg) == fn(torch)


@pytest.mark.parametrize(
    "copy",
    [
        lambda x: x.t().reshape(12),
        lambda x: x.t().flatten(),
        lambda x: x.t().contiguous(),
        lambda x: x[[0, 2]],
        lambda x: x[x > 3],
        lambda x: x.flip(0),
        lambda x: x.repeat(1, 1),
        lambda x: x.clone(),
    ],
)
def test_copies_do_not_share_memory_or_version(copy) -> None:
    def fn(lib):
        x = lib.tensor(np.arange(12.0).reshape(3, 4))
        c = copy(x)
        c.mul_(-1)
        return x.tolist(), x._version, c._base is None

    ours, theirs = both(fn)
    assert ours == theirs and ours[1] == 0


def test_view_of_a_non_contiguous_tensor_raises_as_torch() -> None:
    message = same_error(lambda lib: lib.ones(2, 3).t().view(6))
    assert "Use .reshape(...) instead." in message
    # a view that the strides allow is fine in both
    for lib in (pg, torch):
        assert lib.ones(2, 3).t().view(3, 1, 2)._base is not None


def test_flatten_of_one_dimension_returns_the_tensor_itself() -> None:
    for lib in (pg, torch):
        x = lib.ones(2, 3)
        assert x.flatten(1, 1) is x and x.flatten()._base is x


def test_detach_shares_the_version_counter_and_data_does_not() -> None:
    def fn(lib):
        x = lib.ones(3, requires_grad=True) * 2
        d = x.detach()
        d.add_(1)
        data = x.data
        data.add_(1)
        return x.tolist(), x._version, d._version, data._version, d._base is None

    assert fn(pg) == fn(torch)
    same_error(lambda lib: (lib.ones(3, requires_grad=True) * 2)[1:].detach_())


def test_writes_to_an_expanded_tensor_raise_as_torch() -> None:
    same_error(lambda lib: lib.ones(3, 1).expand(3, 3).mul_(2))
    same_error(lambda lib: lib.ones(3).expand(2, 3).__setitem__((slice(None), 0), 1))


# ----------------------------------------------- in-place through a view


VIEW_EDITS = {
    "slice mul_": lambda lib, b, c: b[1:].mul_(c[1:]),
    "select add_": lambda lib, b, c: b[0].add_(c[2]),
    "int index": lambda lib, b, c: b[1, 2].mul_(c[0, 0]),
    "column": lambda lib, b, c: b[:, 1].sub_(c[:, 3], alpha=2),
    "transpose": lambda lib, b, c: b.t().mul_(c.t()),
    "diagonal": lambda lib, b, c: b.diagonal().copy_(c[0, :3]),
    "view of view": lambda lib, b, c: b.view(12)[2:8].view(2, 3)[1].mul_(3),
    "unsqueeze": lambda lib, b, c: b.unsqueeze(0).mul_(c),
    "narrow": lambda lib, b, c: b.narrow(1, 1, 2).div_(c[:, :2] ** 2 + 1),
    "zero_": lambda lib, b, c: b[1].zero_(),
    "fill_": lambda lib, b, c: b[:, 0].fill_(c[1, 1]),
    "sigmoid_": lambda lib, b, c: b[2:].sigmoid_(),
    "twice": lambda lib, b, c: (b[0].mul_(c[0]), b[:, 0].mul_(c[:, 1])),
    "unfold": lambda lib, b, c: b.unfold(1, 2, 2).mul_(c.unfold(1, 2, 2)),
}


@pytest.mark.parametrize("name", sorted(VIEW_EDITS))
def test_in_place_through_a_view_matches_torch(name: str) -> None:
    def fn(lib, x, c):
        b = x * 1.0
        VIEW_EDITS[name](lib, b, c)
        return b

    check_against_torch(torch, fn, X, Y)
    check_gradients(fn, X, Y)


@pytest.mark.parametrize("name", sorted(VIEW_EDITS))
def test_in_place_through_a_view_names_and_versions_match_torch(name: str) -> None:
    def fn(lib):
        b = lib.tensor(X, requires_grad=True) * 1.0
        VIEW_EDITS[name](lib, b, lib.tensor(Y, requires_grad=True))
        return b.grad_fn.name(), b._version

    assert fn(pg) == fn(torch)


def test_the_modified_view_reads_from_the_new_history() -> None:
    def fn(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = x * 2
        v = b[1:]
        v.mul_(3)
        (v * lib.tensor([1.0, 10.0])).sum().backward()
        return x.grad.tolist(), v.grad_fn.name(), v.grad_fn.next_functions[0][0].name()

    assert fn(pg) == fn(torch)


def test_an_older_view_of_a_changed_base_reads_the_new_values() -> None:
    # w overlaps the region v.mul_ changed: its gradient must go through it
    def fn(lib):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = x * 2
        w = b[:2]
        b[1:].mul_(3)
        (w * lib.tensor([1.0, 10.0])).sum().backward()
        return x.grad.tolist()

    assert fn(pg) == fn(torch) == [2.0, 60.0, 0.0]


def test_view_of_a_base_without_grad_gives_the_base_a_history() -> None:
    def fn(lib):
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        z = lib.zeros(2, 3)
        z[0].add_(w)
        z[1].copy_(w * w)
        (z * lib.arange(6.0).reshape(2, 3)).sum().backward()
        return z.grad_fn.name(), z.is_leaf, w.grad.tolist()

    assert fn(pg) == fn(torch)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: (lib.ones(4, requires_grad=True) * 2).split(2)[1].mul_(2),
        lambda lib: (lib.ones(4, requires_grad=True) * 2).split([1, 3])[1].add_(1),
        lambda lib: (lib.ones(4, requires_grad=True) * 2).chunk(2)[0][1:].add_(1),
        lambda lib: (lib.ones(2, 2, requires_grad=True) * 2).unbind(1)[1].add_(1),
        lambda lib: lib.zeros(4).split(2)[1].add_(lib.ones(2, requires_grad=True)),
    ],
)
def test_in_place_on_views_of_a_multi_output_op_raises_as_torch(fn) -> None:
    assert "returns multiple views" in same_error(fn)


def test_in_place_on_a_view_made_in_no_grad_raises_as_torch() -> None:
    def direct(lib):
        b = lib.ones(4, requires_grad=True) * 2
        with lib.no_grad():
            v = b[1:]
        v.add_(1)

    def nested(lib):
        b = lib.ones(4, requires_grad=True) * 2
        with lib.no_grad():
            v = b[1:]
        v[1:].add_(1)

    same_error(direct)
    same_error(nested)
    # both inside no_grad is fine
    b = pg.ones(4, requires_grad=True) * 2
    with pg.no_grad():
        b[1:].add_(1)
        b.split(2)[0].mul_(3)
    assert b.tolist() == [6.0, 9.0, 3.0, 3.0]


# -------------------------------------------------------- index assignment


SETITEM = {
    "int": (lambda b: 0, lambda lib, c: c[0, 0]),
    "row from a tensor": (lambda b: 1, lambda lib, c: c[0]),
    "row broadcast": (lambda b: (slice(None), 2), lambda lib, c: c[0, 0]),
    "number": (lambda b: (1, slice(1, 3)), lambda lib, c: 7.0),
    "leading ones dropped": (lambda b: slice(0, 2), lambda lib, c: c[:2].unsqueeze(0)),
    "whole": (lambda b: slice(None), lambda lib, c: c[2]),
    "whole number": (lambda b: Ellipsis, lambda lib, c: 1.5),
    "list": (lambda b: [0, 2], lambda lib, c: c[1]),
    "int and list": (lambda b: (1, [0, 3]), lambda lib, c: c[2, :2]),
    "mask": (lambda b: b > 0, lambda lib, c: c[0, 0] * 2),
    "mask number": (lambda b: b < 0, lambda lib, c: 0.0),
    "tensor index": (lambda b: pg.tensor([2, 0]) if b.__class__ is pg.Tensor
                     else torch.tensor([2, 0]), lambda lib, c: c[:2]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_index_assignment_is_differentiable_as_in_torch(name: str) -> None:
    index, value = SETITEM[name]

    def fn(lib, x, c):
        b = x * 1.0
        b[index(b)] = value(lib, c)
        return b * 2

    check_against_torch(torch, fn, X, Y)
    check_gradients(fn, X, Y)


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_index_assignment_names_and_versions_match_torch(name: str) -> None:
    index, value = SETITEM[name]

    def fn(lib):
        b = lib.tensor(X, requires_grad=True) * 1.0
        b[index(b)] = value(lib, lib.tensor(Y, requires_grad=True))
        return b.grad_fn.name(), b._version

    assert fn(pg) == fn(torch)


def test_index_assignment_outside_the_graph_and_its_errors() -> None:
    def fn(lib):
        x = lib.zeros(2, 3)
        x[0] = lib.tensor([1.0, 2.0, 3.0])
        x[1, [0, 2]] = 5
        x[x > 4] = -1.0
        return x.tolist(), x._version

    assert fn(pg) == fn(torch)
    same_error(lambda lib: lib.zeros(3).__setitem__(slice(0, 2), lib.ones(3)))
    requires = [
        lambda lib: (lib.ones(3, requires_grad=True) * 1).__setitem__(
            [0, 1], lib.ones(3, requires_grad=True)
        ),
        lambda lib: (lib.ones(3, requires_grad=True) * 1).__setitem__(
            slice(0, 2), lib.ones(3, requires_grad=True)
        ),
    ]
    for fn in requires:
        same_error(fn)


# ----------------------------------------------------------------- unfold


@pytest.mark.parametrize("size, step", [(2, 1), (2, 2), (3, 2), (1, 3), (4, 1)])
def test_unfold_matches_torch(size: int, step: int) -> None:
    check_against_torch(torch, lambda lib, x: x.unfold(1, size, step), X)
    check_against_torch(torch, lambda lib, x: x.unfold(0, 2, 1) * 1, X)
    check_gradients(lambda lib, x: x.unfold(1, size, step), X)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib: lib.arange(6.0).unfold(0, 7, 1),
        lambda lib: lib.arange(6.0).unfold(0, 2, 0),
        lambda lib: lib.arange(6.0).unfold(0, -1, 1),
    ],
)
def test_unfold_errors_match_torch(fn) -> None:
    same_error(fn)


# ------------------------------------------------- random views and edits


@st.composite
def view_chains(draw: Any) -> list:
    """A few view steps that apply to any 2-D or larger tensor of size >= 2."""
    steps = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["slice", "t", "select", "unsqueeze"]))
        steps.append((kind, draw(st.integers(0, 1))))
    return steps


def _apply_chain(t: Any, steps: list) -> Any:
    for kind, k in steps:
        if t.dim() == 0:
            break
        if kind == "slice":
            t = t[k:] if t.shape[0] > 1 else t
        elif kind == "t" and t.dim() >= 2:
            t = t.transpose(0, t.dim() - 1)
        elif kind == "select" and t.dim() >= 2:
            t = t[min(k, t.shape[0] - 1)]
        elif kind == "unsqueeze":
            t = t.unsqueeze(k % (t.dim() + 1))
    return t


@given(steps=view_chains(), op=st.sampled_from(["mul_", "add_", "copy_", "sig"]))
def test_random_view_chains_and_edits_match_torch(steps: list, op: str) -> None:
    def fn(lib, x, c):
        b = x * 1.0
        v = _apply_chain(b, steps)
        other = _apply_chain(c, steps)
        if op == "sig":
            v.sigmoid_()
        else:
            getattr(v, op)(other)
        return b.tanh()

    check_against_torch(torch, fn, X, Y, dtypes=("float64",))


def test_select_matches_torch() -> None:
    check_against_torch(torch, lambda lib, x: x.select(1, -1) * lib.select(x, 1, 0), X)
    same_error(lambda lib: lib.ones(2, 3).select(1, 3), IndexError)
    same_error(lambda lib: lib.ones(2, 3).select(2, 0), IndexError)


# ------------------------------------------- refusals before anything is written

LEAF_VIEWS = {
    # a leaf that requires grad and is itself a view of a plain tensor
    "reshaped arange": lambda lib: lib.arange(6.0).reshape(2, 3).requires_grad_(),
    "slice of zeros": lambda lib: lib.zeros(2, 3)[:2].requires_grad_(),
}
WRITES = {
    "setitem basic": lambda lib, x: x.__setitem__((0, 0), 9.0),
    "setitem row": lambda lib, x: x.__setitem__(0, 9.0),
    "setitem tensor value": lambda lib, x: x.__setitem__(0, lib.ones(3)),
    "setitem advanced": lambda lib, x: x.__setitem__(lib.tensor([0]), 9.0),
    "setitem bool mask": lambda lib, x: x.__setitem__(x.detach() > 1, 9.0),
    "copy_": lambda lib, x: x.copy_(lib.ones(2, 3)),
    "fill_": lambda lib, x: x.fill_(1.0),
    "fill_ tensor": lambda lib, x: x.fill_(lib.tensor(1.0)),
    "zero_": lambda lib, x: x.zero_(),
    "add_": lambda lib, x: x.add_(1.0),
    "mul_ tensor": lambda lib, x: x.mul_(lib.ones(3)),
    "+=": lambda lib, x: x.__iadd__(1.0),
    "exp_": lambda lib, x: x.exp_(),
    "masked_fill_": lambda lib, x: x.masked_fill_(x.detach() > 1, 0.0),
    "index_put_": lambda lib, x: x.index_put_((lib.tensor([1]),), lib.tensor(5.0)),
    "clamp_": lambda lib, x: x.clamp_(0, 1),
    "row add_": lambda lib, x: x[0].add_(1.0),
}


@pytest.mark.parametrize("make", LEAF_VIEWS.values(), ids=LEAF_VIEWS.keys())
@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_leaf_view_refuses_before_writing(make: Any, write: Any) -> None:
    results = []
    for lib in (torch, pg):
        x = make(lib)
        before = x.detach().numpy().copy()
        with pytest.raises(RuntimeError) as info:
            write(lib, x)
        results.append((str(info.value), x._version))
        np.testing.assert_array_equal(x.detach().numpy(), before)
    assert results[1] == results[0]
    assert results[0][0] == (
        "a view of a leaf Variable that requires grad is being used in an "
        "in-place operation."
    )


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_leaf_refuses_before_writing(write: Any) -> None:
    results = []
    for lib in (torch, pg):
        x = lib.tensor([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], requires_grad=True)
        with pytest.raises(RuntimeError) as info:
            write(lib, x)
        results.append((str(info.value), x._version, x.detach().tolist()))
    assert results[1] == results[0]


def test_leaf_view_writes_under_no_grad() -> None:
    # the refusal is only for recorded writes, as in PyTorch
    def fn(lib: Any) -> tuple:
        x = lib.arange(6.0).reshape(2, 3).requires_grad_()
        with lib.no_grad():
            x[0, 0] = 9.0
            x.add_(1.0)
        return x.detach().tolist(), x._version

    ours, theirs = both(fn)
    assert ours == theirs
