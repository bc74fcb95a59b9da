"""The autograd engine's final callbacks (``autograd.engine.queue_callback``,
PyTorch's ``Variable._execution_engine.queue_callback``): queued during a
backward, called once the whole graph has been walked and every leaf's
``.grad`` and post-accumulate-grad hooks are done. DistributedDataParallel
ends its gradient reduction there. Each test runs the same program on
plaingrad and on real PyTorch and compares what the callbacks saw."""

from __future__ import annotations

import pytest
from conftest import import_torch

import plaingrad
from plaingrad.autograd.engine import queue_callback


def _queue(lib):
    if lib is plaingrad:
        return queue_callback
    return lib.autograd.Variable._execution_engine.queue_callback


def _two_leaves_program(lib, backward):
    """Two leaves; a post-accumulate hook on ``a`` queues a callback that
    reads both leaves' gradients. Returns the events in order."""
    queue = _queue(lib)
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0], requires_grad=True)
    events = []

    def callback():
        events.append(("callback", a.grad.tolist(), b.grad.tolist()))
        queue(lambda: events.append(("queued by a callback",)))

    def hook(t):
        events.append(("post a", t.grad.tolist()))
        queue(callback)

    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(lambda t: events.append(("post b",)))
    loss = (a * a).sum() * b.sum() + (b * 2).sum()
    backward(loss, a, b)
    events.append(("after backward",))
    return events


@pytest.mark.parametrize(
    "how",
    ["plain", "inputs", "create_graph"],
)
def test_callbacks_run_after_every_leaf_as_in_pytorch(how):
    torch = import_torch()

    def backward(loss, a, b):
        if how == "plain":
            loss.backward()
        elif how == "inputs":
            loss.backward(inputs=[a, b])
        else:
            loss.backward(create_graph=True)

    ours = _two_leaves_program(plaingrad, backward)
    theirs = _two_leaves_program(torch, backward)
    # the leaves' hooks come first, in the walk's order for a plain backward;
    # with inputs= plaingrad accumulates the leaves in the order given, torch
    # in the order its walk reaches them, so there only the set is compared
    if how == "inputs":
        assert sorted(ours[:2]) == sorted(theirs[:2])
        assert ours[2:] == theirs[2:]
    else:
        assert ours == theirs
    # the callback saw both gradients: d/da = 2a * 3, d/db = 5 + 2
    assert ("callback", [6.0, 12.0], [7.0]) in ours
    assert ours[-2:] == [("queued by a callback",), ("after backward",)]


def test_callbacks_belong_to_their_own_backward():
    """A callback queued in one backward is not carried into the next."""
    x = plaingrad.tensor([1.0], requires_grad=True)
    calls = []
    handle = x.register_post_accumulate_grad_hook(
        lambda t: queue_callback(lambda: calls.append(t.grad.item()))
    )
    (x * 2).sum().backward()
    handle.remove()
    (x * 3).sum().backward()
    assert calls == [2.0]


def test_a_backward_that_raises_runs_no_callback():
    x = plaingrad.tensor([1.0], requires_grad=True)
    calls = []

    def hook(grad):
        queue_callback(lambda: calls.append("called"))
        raise ValueError("a hook failed")

    y = x * 2
    y.register_hook(hook)
    with pytest.raises(ValueError, match="a hook failed"):
        y.sum().backward()
    assert calls == []
    (x * 2).sum().backward()  # the next backward is unaffected
    assert calls == [] and x.grad.item() == 2.0


def test_queue_callback_outside_backward_is_pytorchs_error():
    torch = import_torch()
    with pytest.raises(RuntimeError) as theirs:
        _queue(torch)(lambda: None)
    with pytest.raises(RuntimeError) as ours:
        queue_callback(lambda: None)
    assert str(ours.value) == str(theirs.value)
