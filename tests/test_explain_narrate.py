"""explain.backward / explain.narrate: the backward pass told node by node.

Right values come from PyTorch (gradients of every intermediate value, via
retain_grad) or from mathematics (a value used twice gets the sum of two
known shares; a broadcast bias gets its gradient summed over the batch).
"""

from __future__ import annotations

import html.parser
import re
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
from plaingrad import autograd, explain, nn


def mlp(torch_module, sizes=(3, 5, 4, 2)):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append((f"fc{i + 1}", torch_module.nn.Linear(a, b)))
        if i < len(sizes) - 2:
            layers.append((f"act{i + 1}", torch_module.nn.Tanh()))
    return torch_module.nn.Sequential(OrderedDict(layers))


def copy_weights(model, reference):
    for (_, p), (_, q) in zip(model.named_parameters(), reference.named_parameters()):
        p.data = pg.tensor(q.detach().numpy().copy())


def test_every_gradient_matches_torch_and_names_come_from_modules():
    torch = import_torch()
    ref = mlp(torch)
    model = mlp(pg)
    copy_weights(model, ref)
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    target = np.random.default_rng(1).integers(0, 2, 6)

    with explain.narrate(model=model, values=None) as story:
        logits = model(pg.tensor(x))
        loss = nn.functional.cross_entropy(logits, pg.tensor(target))
        loss.backward()

    # torch: the gradient of every module's output, and of the loss
    outputs = {}

    def keep(name):
        def hook(module, inputs, output):
            output.retain_grad()
            outputs[name] = output

        return hook

    hooks = [m.register_forward_hook(keep(n)) for n, m in ref.named_children()]
    t_loss = torch.nn.functional.cross_entropy(
        ref(torch.tensor(x)), torch.tensor(target)
    )
    t_loss.backward()
    for h in hooks:
        h.remove()

    values = [step.value for step in story]
    assert values[0] == "loss"
    for name in ("fc1", "act1", "fc2", "act2", "fc3"):
        op = "linear" if name.startswith("fc") else "tanh"
        step = story[f"{name}.{op}"]
        assert step.module == name
        assert step.module_type == ("Linear" if op == "linear" else "Tanh")
        np.testing.assert_allclose(
            step.grad_in.values, outputs[name].grad.numpy(), rtol=1e-5, atol=1e-7
        )
        assert step.grad_in.norm == pytest.approx(
            float(outputs[name].grad.norm()), rel=1e-5
        )
    for name, p in ref.named_parameters():
        leaf = story[name]
        assert leaf.is_leaf and leaf.module == name.rpartition(".")[0]
        np.testing.assert_allclose(
            leaf.grad_in.values, p.grad.numpy(), rtol=1e-5, atol=1e-7
        )
    # the linear layers send their weights' gradients out by name
    fc2 = story["fc2.linear"]
    assert fc2.inputs == ["act1.tanh", "fc2.weight", "fc2.bias"]
    np.testing.assert_allclose(
        fc2.grads_out[1].values, ref.fc2.weight.grad.numpy(), rtol=1e-5, atol=1e-7
    )


def test_steps_are_in_reverse_topological_order():
    model = mlp(pg, (4, 8, 8, 8, 3))
    story = explain.backward(model(pg.randn(5, 4)).sum(), model=model)
    position = {step.value: step.index for step in story}
    for step in story:
        for name, g in zip(step.inputs, step.grads_out):
            if g is not None:
                # a value is told after every consumer that sent it a gradient
                assert position[name] > step.index


def test_a_value_used_twice_is_summed_from_its_consumers():
    w = pg.tensor([1.0, -2.0, 3.0, 0.5], requires_grad=True)
    h = w * 1.0  # one value ...
    loss = (h * 2.0 + h * 3.0).sum()  # ... with two consumers
    story = explain.backward(loss, params={"w": w})
    step = story["mul"]  # the value h
    assert len(step.summed) == 2
    # shares 2 and 3 per element; the total is 5 per element
    assert sorted(n for _, n in step.summed) == pytest.approx([2.0 * 2, 3.0 * 2])
    np.testing.assert_allclose(step.grad_in.values, [5.0] * 4)
    text = story.to_text(width=200)
    assert re.search(r"mul was used 2 times, by mul#[23] and mul#[23], so", text)


def test_shared_parameter_gradient_is_summed_and_said_so():
    w = pg.tensor([[2.0]], requires_grad=True)
    x = pg.tensor([[3.0]])
    loss = ((x @ w) @ w).sum()  # d/dw (x w w) = 2 x w = 12
    story = explain.backward(loss, params={"w": w})
    leaf = story["w"]
    assert len(leaf.summed) == 2
    assert leaf.grad_in.values.item() == pytest.approx(12.0)
    assert sorted(n for _, n in leaf.summed) == pytest.approx([6.0, 6.0])


def test_broadcasting_undone_by_summing_is_reported():
    x = pg.randn(3, 4, requires_grad=True)
    b = pg.randn(4, requires_grad=True)
    c = pg.randn(3, 1, requires_grad=True)
    loss = ((x + b) * c).sum()
    story = explain.backward(loss, params={"x": x, "b": b, "c": c})
    add, mul = story["add"], story["mul"]
    assert add.broadcast == [("b", (4,), (3, 4), (0,))]
    assert mul.broadcast == [("c", (3, 1), (3, 4), (1,))]
    # and the summed gradient is right: d/db = sum_rows c, d/dc = sum_cols (x + b)
    np.testing.assert_allclose(
        story["b"].grad_in.values,
        np.broadcast_to(c.detach().numpy(), (3, 4)).sum(0),
        rtol=1e-6,
    )
    assert "Broadcast undone: b of shape (4,)" in story.to_text(width=200)

    lin = nn.Linear(4, 2)
    story = explain.backward(lin(pg.randn(5, 4)).sum(), model=lin)
    assert story["linear"].broadcast == [("bias", (2,), (5, 2), (0,))]


def test_module_names_without_forward_hooks_come_from_parameters():
    model = mlp(pg)
    loss = model(pg.randn(2, 3)).sum()  # forward outside narrate
    story = explain.backward(loss, model=model)
    assert story["fc1.linear"].module == "fc1"
    assert story["tanh"].module is None  # reads no parameters: no module known


def test_long_graphs_are_summarised_by_module_and_expand_on_request():
    model = mlp(pg, (4,) + (6,) * 12 + (2,))
    with explain.narrate(model=model) as story:
        model(pg.randn(3, 4)).pow(2).mean().backward()
    assert len(story) > 40
    short = story.to_text(width=100)
    assert "module fc3 (Linear): 1 op, 2 parameters" in short
    assert "[" not in "".join(
        line for line in short.splitlines() if "fc3.linear =" in line
    )
    assert "to_text(expand=True)" in short
    some = story.to_text(width=100, expand=["fc3"])
    assert "fc3.linear = linear(act2.tanh, fc3.weight, fc3.bias)" in some
    assert "fc4.linear = linear(" not in some
    full = story.to_text(width=100, expand=True)
    assert all(f"fc{k}.linear = linear(" in full for k in range(1, 14))
    markdown = story.to_markdown()
    assert "- module fc3 (Linear)" in markdown and "### [1] loss" in markdown
    page = story.to_html()
    assert (
        page.count("<details>") + page.count("<details open>") == 25
    )  # 13 fc + 12 act


def test_text_fits_the_width_and_every_rendering_is_well_formed():
    model = mlp(pg)
    with explain.narrate(model=model) as story:
        model(pg.randn(2, 3)).sum().backward()
    text = story.to_text(width=60)
    assert max(len(line) for line in text.splitlines()) <= 60
    assert "Rule: ∂L/∂act2.tanh = g @ fc3.weight" in story.to_text(width=200)

    class Check(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack = []

        def handle_starttag(self, tag, attrs):
            assert tag != "script"
            self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack.pop() == tag

    checker = Check()
    checker.feed(story.to_html())
    assert checker.stack == []


def test_hooks_and_observer_are_gone_after_the_block_even_on_error():
    w = pg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    node = loss.grad_fn
    with pytest.raises(RuntimeError):
        with explain.narrate(params={"w": w}):
            loss.backward()
            loss.backward()  # a second pass through freed buffers fails
    assert autograd.backward_observers == []
    assert not node._pre_hooks and not node._post_hooks
    assert not node.next_functions[0][0]._pre_hooks


def test_create_graph_and_values_limit():
    x = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    story = explain.backward((x**3).sum(), params={"x": x}, values=2)
    assert story["x"].grad_in.values is None  # 3 entries > values=2
    assert story["x"].grad_in.norm == pytest.approx(np.linalg.norm([3.0, 12.0, 27.0]))
    with explain.narrate(params={"x": x}) as story:
        (x**2).sum().backward(create_graph=True)
    np.testing.assert_allclose(story["x"].grad_in.values, [2.0, 4.0, 6.0])


def test_node_post_hook_matches_torch():
    torch = import_torch()
    seen = {}
    for lib in (torch, pg):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0], requires_grad=True)
        out = a * b
        got = []

        def hook(grad_inputs, grad_outputs, got=got):
            sent = [g.tolist() for g in grad_inputs]
            got.append((sent, [g.tolist() for g in grad_outputs]))
            return (grad_inputs[0] * 10, grad_inputs[1])

        handle = out.grad_fn.register_hook(hook)
        out.backward(lib.tensor([1.0, -1.0]))
        handle.remove()
        seen[lib.__name__] = (got, a.grad.tolist(), b.grad.tolist())
    assert seen["plaingrad"] == seen["torch"]


def test_errors_name_the_call_and_the_argument():
    with pytest.raises(
        ValueError, match="explain.backward: expected a tensor with a grad_fn"
    ):
        explain.backward(pg.tensor(1.0))
    with pytest.raises(ValueError, match="narrate: `values` must be None or an int"):
        explain.narrate(values=-1)
    with pytest.raises(TypeError, match="narrate: `model` must be"):
        explain.narrate(model=object())
    story = explain.backward((pg.ones(2, requires_grad=True) * 2).sum())
    with pytest.raises(TypeError, match="`expand` must be"):
        story.to_text(expand=3)
    with pytest.raises(ValueError, match="`width` must be an int >= 40"):
        story.to_text(width=10)
    with pytest.raises(KeyError, match="no step produced a value named 'nope'"):
        story["nope"]


def test_the_engine_never_imports_the_explain_tools():
    code = (
        "import sys, plaingrad as pg\n"
        "x = pg.ones(3, requires_grad=True)\n"
        "(x * x).sum().backward()\n"
        "print(any(m.startswith('plaingrad.explain') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr


def test_inputs_without_a_gradient_are_told_as_such():
    w = pg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = pg.tensor([0.5, 0.5, 0.5])
    story = explain.backward((x + w + 1.0).sum(), params={"w": w})
    for step in story:
        if step.op == "add":
            assert step.broadcast == []
            for name, g, need in zip(step.inputs, step.grads_out, step.needs):
                assert (g is None) == (not need), name
    text = story.to_text(width=200)
    assert "Sends to (constant)" not in text and "∂L/∂(constant)" not in text
    assert "Sends nothing to (constant): it needs no gradient." in text

    class Half(pg.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g, None  # b requires grad, but gets none

    a = pg.ones(2, requires_grad=True)
    b = pg.ones(2, requires_grad=True)
    story = explain.backward(Half.apply(a, b).sum(), params={"a": a, "b": b})
    assert "Sends no gradient to b: the rule gave none." in story.to_text(width=200)
    assert story[1].op == "half"


def test_backward_inputs_leaves_other_leaves_alone_and_says_so():
    a = pg.tensor([1.0, 2.0], requires_grad=True)
    b = pg.tensor([3.0, 4.0], requires_grad=True)
    with explain.narrate(params={"a": a, "b": b}) as story:
        (a * b).sum().backward(inputs=[a])
    assert b.grad is None and not story["a"].left_alone and story["b"].left_alone
    assert "b is not among backward's inputs=, so b.grad is left as it was" in (
        story.to_text(width=200)
    )


def nested(depth=12):
    layers = OrderedDict()
    for k in range(depth):
        layers[str(k)] = pg.nn.Sequential(pg.nn.Linear(4, 4), pg.nn.Tanh())
    return pg.nn.Sequential(OrderedDict(encoder=pg.nn.Sequential(layers)))


def test_expand_names_exactly_the_modules_asked_for():
    model = nested()
    with explain.narrate(model=model) as story:
        model(pg.randn(2, 4)).sum().backward()
    assert len(story) > 40
    short = story.to_text(width=100)
    assert "module encoder (Sequential): 24 ops, 24 parameters" in short
    some = story.to_text(width=100, expand=["encoder.3"])
    told = [line for line in some.splitlines() if "in module" in line]
    assert told and all("encoder.3." in line for line in told)
    assert "module encoder.2 (Sequential): 2 ops, 2 parameters" in some
    assert "module encoder.4 (Sequential)" in some
    with pytest.raises(
        ValueError, match="`expand` names 'encoder.99', which ran no op"
    ):
        story.to_text(expand=["encoder.99"])


def test_several_passes_are_told_one_after_the_other():
    net = pg.nn.Sequential(pg.nn.Linear(3, 4), pg.nn.ReLU(), pg.nn.Linear(4, 1))
    with explain.narrate(model=net) as story:
        for _ in range(10):
            net(pg.randn(2, 3)).sum().backward()
    assert story.passes == 10 and len(story) == 80
    short = story.to_text(width=100, expand=False)
    assert short.count("module 2 (Linear): 1 op, 2 parameters;") == 10
    assert "Backward pass 3 of 10" in short
    assert [s.pass_index for s in story if s.value == "loss"] == list(range(1, 11))


def test_markdown_keeps_html_in_names_as_text():
    model = pg.nn.Module()
    setattr(model, "<b>x</b>", pg.nn.Linear(2, 1))
    out = getattr(model, "<b>x</b>")(pg.ones(1, 2)).sum()
    story = explain.backward(out, model=model)
    markdown = story.to_markdown()
    assert "<b>" not in markdown and "&lt;b&gt;x&lt;/b&gt;.weight" in markdown


def test_broadcasts_of_batched_products_and_per_channel_parameters():
    a = pg.randn(2, 3, 4, requires_grad=True)
    b = pg.randn(4, 5, requires_grad=True)
    story = explain.backward((a @ b).sum(), params={"a": a, "b": b})
    (matmul,) = [s for s in story if s.op == "matmul"]
    assert matmul.broadcast == [("b", (4, 5), (2, 3, 5), (0,))]
    conv = pg.nn.Conv2d(1, 3, 3)
    story = explain.backward(conv(pg.randn(2, 1, 5, 5)).sum(), model=conv)
    assert story["convolution"].broadcast == [("bias", (3,), (2, 3, 3, 3), (0, 2, 3))]
    assert "summed over dims 0, 2 and 3" in story.to_text(width=200)
    lerp_a = pg.randn(2, 3, requires_grad=True)
    lerp_b = pg.randn(3, requires_grad=True)
    story = explain.backward(
        pg.lerp(lerp_a, lerp_b, 0.3).sum(), params={"a": lerp_a, "b": lerp_b}
    )
    assert [s.broadcast for s in story if s.broadcast] == [[("b", (3,), (2, 3), (0,))]]


def test_long_runs_outside_modules_are_summarised():
    x = pg.ones(3, requires_grad=True)
    y = x
    for _ in range(200):
        y = y * 1.0001
    story = explain.backward(y.sum(), params={"x": x})
    short = story.to_text(width=80)
    assert "202 steps outside any module (mul ×200, sum ×1)" in short
    assert len(short.splitlines()) < 20
    assert all(len(line) <= 40 for line in story.to_text(width=40).splitlines())


def test_named_intermediates_and_values_must_be_an_int():
    x = pg.ones(3, requires_grad=True)
    h = x * 2.0
    story = explain.backward(h.sum(), params={"x": x, "h": h})
    assert [s.value for s in story] == ["loss", "h", "x"]
    with pytest.raises(ValueError, match="`values` must be None or an int"):
        explain.narrate(values=True)
