"""``plaingrad.compile``: replayed calls give bitwise the eager results, build
no graph nodes and allocate no new buffers; what cannot be replayed runs
eagerly, with the reason in ``explain()``.

The right answers are the eager steps of the same program (whose ops are
tested against PyTorch elsewhere), run from the same seed.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import plaingrad as torch
from plaingrad import nn
from plaingrad.autograd.node import Node, Op

RNG = np.random.default_rng(0)


def batches(shape, n=3, classes=None, target_shape=None):
    xs = [torch.tensor(RNG.normal(size=shape).astype(np.float32)) for _ in range(n)]
    if classes is not None:
        ys = [torch.tensor(RNG.integers(0, classes, size=shape[0])) for _ in range(n)]
    else:
        ys = [
            torch.tensor(RNG.normal(size=target_shape).astype(np.float32))
            for _ in range(n)
        ]
    return xs, ys


def mlp(sizes, act=nn.ReLU):
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def train(make, data, criterion, compiled, steps=12, optim="adam", **options):
    """Losses, final parameters and the step function of a short run."""
    torch.manual_seed(0)
    model = make()
    if optim == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def step(x, y):
        return criterion(model(x), y)

    fn = torch.compile(step, **options) if compiled else step
    xs, ys = data
    losses = []
    for i in range(steps):
        opt.zero_grad()
        loss = fn(xs[i % len(xs)], ys[i % len(ys)])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()], fn


def assert_same_run(make, data, criterion, **kwargs):
    eager = train(make, data, criterion, False, **kwargs)
    compiled = train(make, data, criterion, True, **kwargs)
    assert eager[0] == compiled[0]
    for a, b in zip(eager[1], compiled[1]):
        np.testing.assert_array_equal(a, b)
    return compiled[2]


@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid])
def test_mlp_regression_bitwise_equal(act):
    data = batches((16, 5), target_shape=(16, 3))
    fn = assert_same_run(lambda: mlp((5, 32, 16, 3), act), data, nn.MSELoss())
    assert fn.replays == 10 and fn.eager_calls == 2
    assert "replayed (6 ops)" in fn.explain()[0]


def test_mlp_classification_sgd_momentum_bitwise_equal():
    data = batches((32, 8), classes=4)
    fn = assert_same_run(
        lambda: mlp((8, 64, 4)), data, nn.CrossEntropyLoss(), optim="sgd"
    )
    assert fn.replays == 10


def test_large_relu_uses_the_product_path_bitwise():
    # 64 x 128 = 8192 elements: Relu's backward takes its product branch
    data = batches((64, 20), target_shape=(64, 2))
    fn = assert_same_run(lambda: mlp((20, 128, 2)), data, nn.MSELoss(), steps=6)
    assert fn.replays == 4


def test_cnn_and_embedding_steps_bitwise_equal():
    cnn = lambda: nn.Sequential(  # noqa: E731
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    fn = assert_same_run(cnn, batches((5, 1, 8, 8), classes=10), nn.CrossEntropyLoss())
    assert fn.replays == 10
    emb = lambda: nn.Sequential(  # noqa: E731
        nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2)
    )
    xs = [torch.tensor(RNG.integers(0, 10, size=(6, 3))) for _ in range(3)]
    ys = [torch.tensor(RNG.normal(size=(6, 2)).astype(np.float32)) for _ in range(3)]
    fn = assert_same_run(emb, (xs, ys), nn.MSELoss())
    assert fn.replays == 10


def test_dropout_draws_its_mask_outside_the_graph_so_runs_eagerly():
    make = lambda: nn.Sequential(  # noqa: E731
        nn.Linear(6, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 2)
    )
    fn = assert_same_run(make, batches((8, 6), target_shape=(8, 2)), nn.MSELoss())
    assert fn.replays == 0 and "draws random numbers" in fn.explain()[0]


def count_nodes() -> int:
    gc.collect()
    return sum(isinstance(o, Node) for o in gc.get_objects())


def test_replayed_steps_build_no_graph_nodes(monkeypatch):
    torch.manual_seed(0)
    model = mlp((4, 16, 2))
    fn = torch.compile(lambda x, y: nn.functional.mse_loss(model(x), y))
    x, y = torch.randn(8, 4), torch.randn(8, 2)
    for _ in range(3):
        fn(x, y).backward()
    applied = []
    original = Op.__dict__["apply"].__func__
    monkeypatch.setattr(
        Op,
        "apply",
        classmethod(lambda cls, *a, **k: applied.append(cls) or original(cls, *a, **k)),
    )
    before = count_nodes()
    loss = fn(x, y)
    during = count_nodes()
    loss.backward()
    assert applied == [] and during == before
    # the same count in an eager step sees the nodes (the test can fail)
    eager = nn.functional.mse_loss(model(x), y)
    assert count_nodes() >= before + 4 and len(applied) == 4
    eager.backward()


def test_replayed_steps_allocate_no_new_buffers():
    torch.manual_seed(0)
    model = mlp((64, 256, 256, 8))
    fn = torch.compile(lambda x, y: nn.functional.mse_loss(model(x), y))
    x, y = torch.randn(128, 64), torch.randn(128, 8)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        opt.zero_grad(set_to_none=False)
        loss = fn(x, y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step()
    program = next(iter(fn._cache.values()))
    buffers = [b.ctypes.data for k in program.kernels if k for b in k.buffers]
    activations = 128 * (256 + 256 + 8) * 4
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        opt.zero_grad(set_to_none=False)
        loss = fn(x, y)
        loss.backward()
        replay_peak = tracemalloc.get_traced_memory()[1] - start
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        opt.zero_grad(set_to_none=False)
        eager = nn.functional.mse_loss(model(x), y)
        eager.backward()
        eager_peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    # Python objects, the 0-d loss and NumPy's own iteration buffer (8192
    # elements, 32 KB, for the bias's broadcast add, as in the eager step),
    # against every activation
    assert replay_peak < 48_000 < activations < eager_peak
    assert [b.ctypes.data for k in program.kernels if k for b in k.buffers] == buffers
    assert len(buffers) >= 12


def test_cross_entropy_kernels_ignore_index_and_bad_targets():
    torch.manual_seed(0)
    model = mlp((6, 16, 5))
    crit = nn.CrossEntropyLoss(ignore_index=2)
    fn = torch.compile(lambda x, y: crit(model(x), y))
    x = torch.randn(7, 6)
    for y in ([0, 2, 4, 1, 2, 3, 0], [2] * 7, [1, 1, 2, 0, 4, 3, 3]):
        y = torch.tensor(y)
        for _ in range(3):
            model.zero_grad()
            loss = fn(x, y)
            loss.backward()
            got = [loss.item()] + [p.grad.numpy().copy() for p in model.parameters()]
            model.zero_grad()
            eager = crit(model(x), y)
            eager.backward()
            np.testing.assert_array_equal(got[0], eager.item())  # NaN when all ignored
            for g, p in zip(got[1:], model.parameters()):
                np.testing.assert_array_equal(g, p.grad.numpy())
    assert fn.replays == 7  # one key: the first two calls are recorded
    program = next(iter(fn._cache.values()))
    assert all(program.kernels)  # every op of the step has a kernel
    bad = torch.tensor([0, 1, 9, 1, 0, 3, 0])
    with pytest.raises(IndexError) as eager_error:
        crit(model(x), bad)
    with pytest.raises(IndexError) as compiled_error:
        fn(x, bad)
    assert str(compiled_error.value) == str(eager_error.value)


def test_shape_change_records_again_and_stays_equal():
    torch.manual_seed(0)
    model = mlp((3, 8, 1))
    fn = torch.compile(model)
    shapes = [4, 4, 4, 7, 7, 7, 4, 2]
    for n in shapes:
        x = torch.randn(n, 3)
        np.testing.assert_array_equal(fn(x).detach().numpy(), model(x).detach().numpy())
    lines = fn.explain()
    assert len(lines) == 3 and lines[0].endswith("replayed (3 ops)")
    assert "recorded once" in lines[2]
    assert fn._compiled.replays == 3  # the third 4 and 7, and the 4 after them


def test_data_dependent_control_flow_runs_eagerly():
    torch.manual_seed(0)
    lin = nn.Linear(3, 3)

    def f(x):
        h = lin(x)
        if h.sum().item() > 0:
            return h.relu()
        return -h

    fn = torch.compile(f)
    for _ in range(4):
        x = torch.randn(2, 3)
        np.testing.assert_array_equal(fn(x).detach().numpy(), f(x).detach().numpy())
    assert fn.replays == 0
    assert "data-dependent control flow" in fn.explain()[0]
    with pytest.raises(RuntimeError, match="fullgraph=True.*Tensor.item"):
        torch.compile(f, fullgraph=True)(torch.randn(2, 3))


def test_python_state_that_changes_the_ops_is_caught():
    lin = nn.Linear(2, 2)
    calls = []

    def f(x):
        calls.append(1)
        return lin(x) * 2.0 if len(calls) % 2 else lin(x).tanh()

    fn = torch.compile(f)
    for _ in range(4):
        fn(torch.randn(1, 2))
    assert fn.replays == 0 and "differs between two calls" in fn.explain()[0]


def test_tensors_made_inside_the_function_run_eagerly():
    torch.manual_seed(0)
    lin = nn.Linear(4, 4)

    def noisy(x):
        return lin(x + torch.randn(x.shape))

    fn = torch.compile(noisy)
    torch.manual_seed(5)
    got = [fn(torch.ones(2, 4)).detach().numpy() for _ in range(4)]
    torch.manual_seed(5)
    want = [noisy(torch.ones(2, 4)).detach().numpy() for _ in range(4)]
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert fn.replays == 0 and "draws random numbers" in fn.explain()[0]


def test_numbers_wrapped_by_the_function_are_constants():
    lin = nn.Linear(2, 2)
    fn = torch.compile(lambda x: lin(x) * 3.0 + 1.0)
    for _ in range(4):
        x = torch.randn(3, 2)
        want = (lin(x) * 3.0 + 1.0).detach().numpy()
        np.testing.assert_array_equal(fn(x).detach().numpy(), want)
    assert fn.replays == 2


def test_parameters_are_read_afresh_and_reassignment_is_guarded():
    lin = nn.Linear(2, 2)
    fn = torch.compile(lin)
    x = torch.randn(3, 2)
    for _ in range(3):
        fn(x)
    with torch.no_grad():
        lin.weight.mul_(2.0)
    np.testing.assert_array_equal(fn(x).detach().numpy(), lin(x).detach().numpy())
    lin.weight.requires_grad_(False)  # frozen: that key records afresh
    for _ in range(3):
        out = fn(x)
        assert out.requires_grad  # the bias still needs a gradient
        np.testing.assert_array_equal(out.detach().numpy(), lin(x).detach().numpy())
        out.sum().backward()
    assert lin.weight.grad is None
    replays = fn._compiled.replays
    lin.weight.requires_grad_(True)
    for _ in range(3):
        fn(x)
    assert fn._compiled.replays == replays + 1


def test_replaced_modules_parameters_and_globals_record_afresh():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    fn = torch.compile(model)
    x = torch.randn(5, 3)

    def check():
        for _ in range(3):
            np.testing.assert_array_equal(
                fn(x).detach().numpy(), model(x).detach().numpy()
            )

    check()
    model[2] = nn.Linear(4, 2)
    check()
    model[0].weight = nn.Parameter(torch.randn(4, 3))
    check()
    globals()["_scale"] = 2.0
    h = torch.compile(lambda x: x * _scale)  # noqa: F821
    for _ in range(3):
        h(x)
    globals()["_scale"] = -0.0
    np.testing.assert_array_equal(h(x).numpy(), (x * -0.0).numpy())
    import copy

    ema = copy.deepcopy(fn)
    with torch.no_grad():
        ema._orig_mod[0].weight.mul_(0.5)
    for _ in range(3):
        np.testing.assert_array_equal(
            ema(x).detach().numpy(), ema._orig_mod(x).detach().numpy()
        )
    check()  # the original is untouched


def test_detached_values_are_read_each_call():
    fn = torch.compile(lambda x: x - x.mean().detach())
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 20.0, 30.0])
    for x in (a, a, b, b, a):
        np.testing.assert_array_equal(fn(x).numpy(), (x - x.mean()).numpy())
    assert fn.replays == 3


def test_in_place_change_before_backward_is_an_error_as_in_eager():
    lin = nn.Linear(3, 3)
    fn = torch.compile(lambda x: lin(x).tanh())
    x = torch.randn(2, 3)
    for _ in range(3):
        fn(x).sum().backward()
    y = fn(x)
    y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    eager = lin(x).tanh()
    eager.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        eager.sum().backward()


def test_nested_compiled_functions_and_methods():
    inner = torch.compile(nn.Sequential(nn.Linear(2, 3), nn.Tanh()))
    outer = torch.compile(lambda x: inner(x).sum())
    x = torch.randn(4, 2)
    for _ in range(4):
        np.testing.assert_array_equal(
            outer(x).detach().numpy(), inner._orig_mod(x).sum().detach().numpy()
        )
    assert outer.replays == 2

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

        @torch.compile
        def forward(self, x):
            return self.fc(x).relu()

    net = Net()
    for _ in range(3):
        np.testing.assert_array_equal(
            net(x).detach().numpy(), net.fc(x).relu().detach().numpy()
        )
    assert Net.forward.__get__(net).replays == 1


def test_enable_grad_inside_and_double_backward():
    lin = nn.Linear(2, 1)

    def f(x):
        with torch.enable_grad():
            return lin(x).sum()

    fn = torch.compile(f)
    x = torch.randn(3, 2)
    with torch.no_grad():
        for _ in range(3):
            assert fn(x).requires_grad
    xr = torch.randn(3, 2, requires_grad=True)
    g = torch.compile(lambda x: (lin(x) ** 2).sum())
    for _ in range(2):
        g(xr)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(g(xr), xr, create_graph=True)


def test_in_place_changes_hooks_and_custom_functions_run_eagerly():
    lin = nn.Linear(2, 2)

    def in_place(x):
        h = lin(x)
        h.mul_(2.0)
        return h

    class Twice(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    cases = [
        (in_place, "in place"),
        (lambda x: Twice.apply(lin(x)), "custom autograd.Function Twice"),
        (lambda x: lin(x).eq(0).float() + lin(x), "'eq', an op outside the graph"),
    ]
    for f, reason in cases:
        fn = torch.compile(f)
        for _ in range(3):
            x = torch.randn(2, 2)
            np.testing.assert_array_equal(fn(x).detach().numpy(), f(x).detach().numpy())
        assert fn.replays == 0 and reason in fn.explain()[0], fn.explain()
    compiled = torch.compile(lin)
    seen = []
    handle = lin.register_forward_hook(lambda m, i, o: seen.append(1))
    for _ in range(3):
        compiled(torch.randn(1, 2))
    assert len(seen) == 3 and compiled._compiled.replays == 0
    handle.remove()
    for _ in range(3):
        compiled(torch.randn(1, 2))
    assert compiled._compiled.replays == 1


def test_train_and_eval_are_separate_programs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    fn = torch.compile(model)
    x = torch.randn(3, 4)
    for mode in ("train", "eval", "train", "eval"):
        getattr(model, mode)()
        for _ in range(3):
            torch.manual_seed(1)
            got = fn(x).detach().numpy()
            torch.manual_seed(1)
            np.testing.assert_array_equal(got, model(x).detach().numpy())
    train, evaluate = fn.explain()
    assert "runs eagerly" in train and "replayed" in evaluate
    assert fn._compiled.replays == 4


def test_two_forwards_before_backward_and_autograd_grad():
    torch.manual_seed(0)
    lin = nn.Linear(3, 1)
    fn = torch.compile(lambda x: (lin(x) ** 2).mean())
    x1, x2 = torch.randn(4, 3), torch.randn(4, 3)
    for _ in range(3):
        fn(x1).backward()
    lin.zero_grad()
    (fn(x1) + fn(x2)).backward()
    got = [p.grad.numpy().copy() for p in lin.parameters()]
    lin.zero_grad()
    ((lin(x1) ** 2).mean() + (lin(x2) ** 2).mean()).backward()
    for a, p in zip(got, lin.parameters()):
        np.testing.assert_array_equal(a, p.grad.numpy())
    before = [p.grad.numpy().copy() for p in lin.parameters()]
    grads = torch.autograd.grad(fn(x1), list(lin.parameters()))
    want = torch.autograd.grad((lin(x1) ** 2).mean(), list(lin.parameters()))
    for g, w, b, p in zip(grads, want, before, lin.parameters()):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
        np.testing.assert_array_equal(p.grad.numpy(), b)  # .grad untouched


def test_second_backward_needs_retain_graph():
    lin = nn.Linear(2, 1)
    fn = torch.compile(lambda x: lin(x).sum())
    x = torch.randn(3, 2)
    for _ in range(3):
        fn(x).backward()
    loss = fn(x)
    assert loss.grad_fn.name() == "CompiledFunctionBackward"
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second"):
        loss.backward()
    lin.zero_grad()
    loss = fn(x)
    loss.backward(retain_graph=True)
    loss.backward()
    got = lin.weight.grad.numpy().copy()
    lin.zero_grad()
    eager = lin(x).sum()
    eager.backward(retain_graph=True)
    eager.backward()
    np.testing.assert_array_equal(got, lin.weight.grad.numpy())


def test_outputs_kept_by_the_caller_do_not_change():
    lin = nn.Linear(2, 3)
    inputs = [torch.full((1, 2), float(i)) for i in range(5)]
    wants = [lin(x).relu().detach().numpy() for x in inputs]
    fn = torch.compile(lambda x: lin(x).relu())
    # recorded twice, then one replay: its output is kept and has not gone
    # backward, so the next calls (whose replay would overwrite what that
    # backward reads) run eagerly
    outs = [fn(x) for x in inputs]
    assert fn.replays == 1
    with torch.no_grad():
        outs += [fn(x) for x in inputs]  # another key: replays from the third
    assert fn.replays == 4
    for out, want in zip(outs, wants + wants):
        np.testing.assert_array_equal(out.detach().numpy(), want)
    # on the CPU PyTorch's reduce-overhead mode has no CUDA graphs: its
    # outputs are the caller's, as in the default mode
    static = torch.compile(lambda x: lin(x).relu(), mode="reduce-overhead")
    with torch.no_grad():
        outs = [static(x) for x in inputs]
    assert static.replays == 3
    for out, want in zip(outs, wants):
        np.testing.assert_array_equal(out.numpy(), want)


def test_module_wrapper_follows_pytorch():
    from conftest import import_torch

    pt = import_torch()
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    compiled = torch.compile(model)
    ref = pt.compile(pt.nn.Sequential(pt.nn.Linear(2, 3), pt.nn.ReLU()))
    assert list(compiled.state_dict()) == list(ref.state_dict())
    assert compiled._orig_mod is model
    assert [id(p) for p in compiled.parameters()] == [id(p) for p in model.parameters()]
    compiled.eval()
    assert not model.training and not model[0].training
    assert torch.compile(nn.Linear(2, 3)).in_features == 3 - 1  # the wrapped one's
    assert torch.compile(model, disable=True) is model


def test_decorator_forms_and_bad_arguments():
    @torch.compile
    def f(x):
        return x * 2

    @torch.compile(mode="reduce-overhead", fullgraph=True)
    def g(x):
        return x + 1

    x = torch.ones(2)
    for _ in range(3):
        np.testing.assert_array_equal(f(x).numpy(), [2, 2])
        np.testing.assert_array_equal(g(x).numpy(), [2, 2])
    assert f.replays == 1 and g.replays == 1
    with pytest.raises(RuntimeError, match="Unrecognized mode=fast, should be"):
        torch.compile(f, mode="fast")
    with pytest.raises(RuntimeError, match="Invalid backend: 'nope'"):
        torch.compile(f, backend="nope")
    with pytest.raises(RuntimeError, match="Either mode or options"):
        torch.compile(f, mode="default", options={})
    with pytest.raises(TypeError, match="expected a Module or a callable, got int"):
        torch.compile(3)
    with pytest.raises(TypeError, match="`backend` must be a string"):
        torch.compile(f, backend=3)
    fn = torch.compile(lambda x, opts: x * 2)
    fn(x, [1])
    assert fn.eager_calls == 1 and fn.replays == 0


@pytest.mark.parametrize("name", ["W1", "W2", "W3", "W5"])
def test_benchmark_workloads_compiled_give_the_eager_losses(name):
    from plaingrad.bench.workloads import PROGRAMS, Compiling

    steps = {"W1": 20, "W2": 20, "W3": 1, "W5": 3}[name]
    eager = PROGRAMS[name](torch, steps, 1)
    compiled = PROGRAMS[name](Compiling(torch), steps, 1)
    for key in ("loss_first", "loss_last", "grad_sum"):
        assert eager.get(key) == compiled.get(key)
    # (W2 never steps: its gradients pile up instead)
    assert eager["loss_last"] != eager["loss_first"] or eager["grad_sum"]


def test_modules_reached_through_other_objects_are_guarded():
    class Trainer:
        def __init__(self):
            self.model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5))

        def forward(self, x):
            return self.model(x)

    torch.manual_seed(0)
    trainer = Trainer()
    fn = torch.compile(trainer.forward)
    trainer.model.eval()
    x = torch.randn(4, 3)
    for _ in range(4):
        fn(x)
    assert fn.replays == 1  # one call found the modules, two recorded
    trainer.model.train()  # dropout is on now: no eval program may replay
    torch.manual_seed(3)
    got = fn(x).detach().numpy()
    torch.manual_seed(3)
    np.testing.assert_array_equal(got, trainer.model(x).detach().numpy())
    assert fn.replays == 1


def test_the_same_tensor_twice_is_another_program():
    lin = nn.Linear(2, 2)
    fn = torch.compile(lambda a, b: lin(a) * lin(b))
    x = torch.randn(3, 2)
    for _ in range(3):
        fn(x, x)
    a, b = torch.randn(3, 2), torch.randn(3, 2)
    for _ in range(3):
        np.testing.assert_array_equal(
            fn(a, b).detach().numpy(), (lin(a) * lin(b)).detach().numpy()
        )
    assert fn.replays == 2 and len(fn.explain()) == 2


def test_a_hook_on_one_steps_grad_fn_does_not_reach_the_next():
    lin = nn.Linear(2, 1)
    fn = torch.compile(lambda x: lin(x).sum())
    x = torch.randn(3, 2)
    for _ in range(3):
        fn(x).backward()
    seen = []
    loss = fn(x)
    loss.grad_fn.register_prehook(lambda g: seen.append(1))
    loss.backward()
    fn(x).backward()
    assert seen == [1] and fn.replays == 3


def test_a_sum_of_two_temporary_outputs_goes_backward_right():
    torch.manual_seed(0)
    model = mlp((3, 8, 2))
    crit = nn.MSELoss()
    cm = torch.compile(model)
    x1, x2, y1, y2 = (torch.randn(4, n) for n in (3, 3, 2, 2))
    for _ in range(4):
        model.zero_grad()
        (crit(cm(x1), y1) + crit(cm(x2), y2)).backward()
        got = [p.grad.numpy().copy() for p in model.parameters()]
        model.zero_grad()
        (crit(model(x1), y1) + crit(model(x2), y2)).backward()
        for g, p in zip(got, model.parameters()):
            np.testing.assert_array_equal(g, p.grad.numpy())
    assert cm._compiled.replays >= 2


def test_hooks_keep_their_own_gradients():
    lin = nn.Linear(3, 4)
    fn = torch.compile(lambda x: lin(x).relu().sum())
    logs = {"compiled": [], "eager": []}
    current = []
    lin.weight.register_hook(lambda g: current[0].append(g))
    lin.weight.grad = torch.zeros(4, 3)  # .grad exists: the kernel's own path
    for i in range(5):
        for name, run in (("compiled", fn), ("eager", lambda x: lin(x).relu().sum())):
            current[:] = [logs[name]]
            x = torch.full((2, 3), float(i + 1), requires_grad=True)
            x.register_hook(lambda g: current[0].append(g))
            run(x).backward()
    assert fn.replays == 3 and len(logs["compiled"]) == 10
    for a, b in zip(logs["compiled"], logs["eager"]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_threads_do_not_share_a_replay():
    import threading

    torch.manual_seed(0)
    model = mlp((4, 32, 3))
    fn = torch.compile(model)
    inputs = [torch.randn(6, 4) for _ in range(4)]
    with torch.no_grad():
        wants = [model(x).numpy() for x in inputs]
        for _ in range(3):
            fn(inputs[0])
    wrong = []

    def work(k):
        with torch.no_grad():
            for _ in range(40):
                if not np.array_equal(fn(inputs[k]).numpy(), wants[k]):
                    wrong.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_python_values_made_into_tensors_and_reseeding_run_eagerly():
    temp = [0.5]
    fn = torch.compile(lambda x: x * torch.tensor(temp[0]))
    x = torch.ones(3)
    for _ in range(3):
        fn(x)
    temp[0] = 4.0
    np.testing.assert_array_equal(fn(x).numpy(), [4.0, 4.0, 4.0])
    assert "torch.tensor" in fn.explain()[0]

    def g(a):
        torch.manual_seed(0)
        return a + torch.randn(1)

    after = {}
    for tag, f in (("eager", g), ("compiled", torch.compile(g))):
        for _ in range(3):
            f(x)
        torch.manual_seed(1)
        f(x)
        after[tag] = float(torch.rand(1))
    assert after["eager"] == after["compiled"]


def test_an_old_output_cannot_go_backward_after_the_next_replay():
    lin = nn.Linear(2, 1)
    fn = torch.compile(lambda x: lin(x).sum())
    x = torch.randn(3, 2)
    for _ in range(3):
        fn(x).backward()
    old = fn(x)
    old.backward()
    new = fn(x * 2)  # replays, on new arrays
    assert fn.replays == 3
    with pytest.raises(RuntimeError, match="backward through the graph a second"):
        old.backward()
    lin.zero_grad()
    new.backward()
    got = lin.weight.grad.numpy().copy()
    lin.zero_grad()
    lin(x * 2).sum().backward()
    np.testing.assert_array_equal(got, lin.weight.grad.numpy())


def test_views_repeated_and_named_tuple_outputs_run_as_eager():
    from collections import namedtuple

    Pair = namedtuple("Pair", "a b")
    x = torch.randn(3, 2, requires_grad=True)
    view = torch.compile(lambda t: (t * 2).T)
    for _ in range(3):
        out = view(x)
        assert out._base is not None  # still a view, as in eager mode
    assert "view" in view.explain()[0]

    twice = torch.compile(lambda t: (lambda y: (y, y))(t + 1))
    for _ in range(3):
        a, b = twice(x.detach())
        assert a is b

    named = torch.compile(lambda t: Pair(t + 1, t - 1))
    for _ in range(3):
        out = named(x.detach())
        assert isinstance(out, Pair)
    assert "Pair" in named.explain()[0]


def test_replays_check_argument_values_as_the_eager_functions_do():
    emb = nn.Embedding(5, 3)
    embed = torch.compile(lambda i: emb(i).sum())
    good = torch.tensor([0, 4, 2])
    for _ in range(3):
        embed(good)
    assert embed.replays == 1
    with pytest.raises(IndexError, match="index out of range"):
        embed(torch.tensor([0, -1, 2]))  # NumPy would give the last row

    lin = nn.Linear(4, 3)
    loss = torch.compile(lambda x, y: nn.functional.cross_entropy(lin(x), y))
    x = torch.randn(2, 4)
    for _ in range(3):
        loss(x, torch.tensor([0, 2]))
    assert loss.replays == 1
    with pytest.raises(IndexError, match="out of bounds"):
        loss(x, torch.tensor([0, -2]))

    bce = torch.compile(lambda p, t: nn.functional.binary_cross_entropy(p, t))
    t = torch.tensor([1.0, 0.0])
    for _ in range(3):
        bce(torch.tensor([0.2, 0.7]), t)
    assert bce.replays == 1
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        bce(torch.tensor([1.5, 0.7]), t)

    gather = torch.compile(lambda a, i: a.gather(0, i))
    a = torch.tensor([1.0, 2.0, 3.0])
    for _ in range(3):
        gather(a, torch.tensor([2, 0]))
    assert gather.replays == 0 and "checks its arguments' values" in gather.explain()[0]
    with pytest.raises(RuntimeError, match="out of bounds"):
        gather(a, torch.tensor([-1]))

    mod = torch.compile(lambda a, b: a % b)
    ints = torch.tensor([4, 5])
    for _ in range(3):
        mod(ints, torch.tensor([3, 2]))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        mod(ints, torch.tensor([3, 0]))


def test_tensor_indices_and_aliases_of_kept_tensors_are_not_baked_in():
    table = torch.tensor([10.0, 20.0, 30.0])
    pick = torch.compile(lambda t, i: t[i] * 1)
    for i in ([0, 1], [0, 1], [2, 0], [1, 1]):
        np.testing.assert_array_equal(
            pick(table, torch.tensor(i)).numpy(), table.numpy()[i]
        )

    w = torch.ones(2, requires_grad=True)
    scaled = torch.compile(lambda x: x * w.detach() + x * w.data)
    x = torch.tensor([1.0, 2.0])
    for _ in range(3):
        scaled(x)
    with torch.no_grad():
        w.mul_(3)
    np.testing.assert_array_equal(scaled(x).numpy(), [6.0, 12.0])


def test_default_dtype_numpy_floats_and_names_in_comprehensions_are_guarded():
    fn = torch.compile(lambda x: x + torch.zeros(2))
    ints = torch.tensor([1, 2])
    for _ in range(3):
        assert fn(ints).dtype == torch.float32
    try:
        torch.set_default_dtype(torch.float64)
        for _ in range(3):
            assert fn(ints).dtype == torch.float64
    finally:
        torch.set_default_dtype(torch.float32)

    shift = torch.compile(lambda x, s: x + s)
    for _ in range(3):
        shift(torch.ones(1), np.float64(-0.0))
    out = shift(torch.ones(1), np.float64(1.5))
    np.testing.assert_array_equal(out.numpy(), [2.5])

    global SCALES
    SCALES = 2.0

    def comprehension(x):
        return sum(x * SCALES for _ in range(1))

    compiled = torch.compile(comprehension)
    for _ in range(3):
        compiled(torch.ones(1))
    SCALES = 5.0
    np.testing.assert_array_equal(compiled(torch.ones(1)).numpy(), [5.0])


def test_reduce_overhead_output_fed_back_is_not_overwritten_while_read():
    lin = nn.Linear(3, 3)
    eager = []
    x = torch.randn(2, 3)
    with torch.no_grad():
        y = x
        for _ in range(5):
            y = torch.relu(lin(y))
            eager.append(y.numpy().copy())
    fn = torch.compile(lambda t: torch.relu(lin(t)), mode="reduce-overhead")
    with torch.no_grad():
        y = x
        for expected in eager:
            y = fn(y)
            np.testing.assert_array_equal(y.numpy(), expected)


def test_explain_counts_calls_that_got_no_program():
    lin = nn.Linear(2, 2)
    lin.register_forward_hook(lambda module, inputs, output: None)
    fn = torch.compile(lambda x: lin(x))
    for _ in range(3):
        fn(torch.ones(1, 2))
    assert fn.explain() == [
        "3 calls with no program: runs eagerly: " + torch._compile._UNKEYED
    ]
    many = torch.compile(lambda x: x * 2)
    for n in range(1, 11):
        many(torch.ones(n))
    lines = many.explain()
    assert len(lines) == 9
    assert lines[-1] == (
        "2 calls with no program: runs eagerly: more than 8 guard keys "
        "(shapes, dtypes, flags)"
    )


def test_explain_counts_calls_kept_eager_by_an_output_not_gone_backward():
    lin = nn.Linear(3, 2)
    fn = torch.compile(lambda x: lin(x).relu())
    x = torch.randn(4, 3)
    kept = [fn(x) for _ in range(8)]  # grad mode, no backward: evaluation
    assert fn.replays + fn.eager_calls == 8 and fn.eager_calls > 2
    line = fn.explain()[0]
    assert "replayed (2 ops)" in line
    assert f"{fn.eager_calls - 2} calls ran eagerly" in line
    assert "without going backward" in line
    assert all(
        np.array_equal(k.detach().numpy(), kept[0].detach().numpy()) for k in kept
    )


def test_compiler_and_dynamo_functions_follow_pytorch():
    from conftest import import_torch

    pt = import_torch()
    assert torch._dynamo.list_backends() == pt._dynamo.list_backends()
    assert set(torch._dynamo.list_backends(exclude_tags=())) <= set(
        pt._dynamo.list_backends(exclude_tags=())
    )

    seen = []

    def inner(t):
        seen.append(torch.compiler.is_compiling())
        return t * 2

    fn = torch.compile(lambda x: inner(x) + 1)
    for _ in range(4):
        fn(torch.ones(2))
    assert seen == [True, True] and fn.replays == 2
    assert not torch.compiler.is_compiling()

    torch.compiler.reset()
    fn(torch.ones(2))
    assert seen == [True, True, True]  # recorded afresh
    torch._dynamo.reset()
    fn(torch.ones(2))
    assert len(seen) == 4

    calls = []

    @torch.compiler.disable
    def logged(t):
        calls.append(1)
        return t + 1

    uses = torch.compile(lambda x: logged(x) * 3)
    for _ in range(4):
        np.testing.assert_array_equal(uses(torch.ones(2)).numpy(), [6.0, 6.0])
    assert len(calls) == 4 and uses.replays == 0
    assert "torch.compiler.disable" in uses.explain()[0]


def test_module_compile_compiles_forward_in_place():
    torch.manual_seed(0)
    model = mlp([4, 8, 3])
    x = torch.randn(5, 4)
    want = model(x).detach().numpy()
    assert model.compile() is None
    for _ in range(4):
        np.testing.assert_array_equal(model(x).detach().numpy(), want)
    assert model.forward.replays == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    model.compile(fullgraph=True)  # again: a fresh compiled forward
    assert model.forward.replays == 0
    with pytest.raises(RuntimeError, match="Unrecognized mode"):
        model.compile(mode="fast")
