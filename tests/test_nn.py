"""``plaingrad.nn``: Module bookkeeping, containers, layers, losses, functional.

Most tests build the same model in plaingrad and in real PyTorch (the two share
an API, so one builder takes either library) and compare names, state-dict keys,
reprs, values and gradients.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections import OrderedDict
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg
import plaingrad.nn.functional as F


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _to_pg_state(torch_state: Any) -> OrderedDict:
    """A torch state dict as plaingrad tensors (through NumPy)."""
    return OrderedDict(
        (k, pg.tensor(v.detach().numpy())) for k, v in torch_state.items()
    )


def _snapshot(model: pg.nn.Module) -> dict:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def _assert_same_state(model: pg.nn.Module, snapshot: dict) -> None:
    state = model.state_dict()
    assert list(state) == list(snapshot)
    for key, value in state.items():
        np.testing.assert_array_equal(value.numpy(), snapshot[key], err_msg=key)


# ------------------------------------------------------------ architectures


def _nested_sequential(lib: ModuleType) -> Any:
    nn = lib.nn
    return nn.Sequential(
        nn.Linear(3, 4),
        nn.ReLU(),
        nn.Sequential(nn.Linear(4, 4), nn.Tanh()),
        nn.Linear(4, 2, bias=False),
    )


def _custom_net(lib: ModuleType) -> Any:
    """A custom module mixing a Parameter, children and containers."""
    nn = lib.nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer1 = nn.Linear(3, 5)
            self.scale = nn.Parameter(lib.ones(5))
            self.blocks = nn.ModuleList([nn.Linear(5, 5), nn.Linear(5, 5)])
            self.heads = nn.ModuleDict({"a": nn.Linear(5, 2), "b": nn.Sigmoid()})
            self.plain = lib.zeros(2)  # a plain tensor attribute: not registered
            self.width = 5

        def forward(self, x: Any) -> Any:
            h = self.layer1(x) * self.scale
            for block in self.blocks:
                h = lib.tanh(block(h))
            return self.heads["b"](self.heads["a"](h))

    return Net()


# ---------------------------------------------------------------- Module


def test_assignment_registers_parameters_and_submodules() -> None:
    net = _custom_net(pg)
    assert list(net._parameters) == ["scale"]
    assert list(net._modules) == ["layer1", "blocks", "heads"]
    assert "plain" not in net._parameters and "plain" not in net._buffers
    assert net.width == 5
    assert isinstance(net.scale, pg.nn.Parameter)
    assert net.layer1.weight is net.layer1._parameters["weight"]

    # Reassigning a registered parameter to None keeps the name declared.
    net.scale = None
    assert "scale" in net._parameters
    assert all(name != "scale" for name, _ in net.named_parameters())
    # A non-Parameter for a registered parameter name is a clear TypeError.
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'scale'"):
        net.scale = pg.ones(5)


def test_assignment_before_init_is_refused() -> None:
    class Broken(pg.nn.Module):
        def __init__(self) -> None:
            self.fc = pg.nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Broken()


def test_parameter_names_and_traversal_match_torch(torch: ModuleType) -> None:
    for build in (_custom_net, _nested_sequential):
        ours, theirs = build(pg), build(torch)
        assert [n for n, _ in ours.named_parameters()] == [
            n for n, _ in theirs.named_parameters()
        ]
        assert [tuple(p.shape) for p in ours.parameters()] == [
            tuple(p.shape) for p in theirs.parameters()
        ]
        assert [n for n, _ in ours.named_modules()] == [
            n for n, _ in theirs.named_modules()
        ]
        assert [type(m).__name__ for m in ours.modules()] == [
            type(m).__name__ for m in theirs.modules()
        ]
        assert [n for n, _ in ours.named_children()] == [
            n for n, _ in theirs.named_children()
        ]
        assert [type(m).__name__ for m in ours.children()] == [
            type(m).__name__ for m in theirs.children()
        ]
    names = [n for n, _ in _custom_net(pg).named_parameters()]
    assert "layer1.weight" in names and "blocks.1.bias" in names


def test_state_dict_keys_match_torch(torch: ModuleType) -> None:
    for build in (_custom_net, _nested_sequential):
        assert list(build(pg).state_dict()) == list(build(torch).state_dict())
    assert list(_nested_sequential(pg).state_dict()) == [
        "0.weight",
        "0.bias",
        "2.0.weight",
        "2.0.bias",
        "3.weight",
    ]


def test_state_dict_of_a_shared_submodule_lists_every_path(torch: ModuleType) -> None:
    # PyTorch's state dict walks every attribute path, so a module used under
    # two names appears twice; parameters() still lists each tensor once.
    def tied(lib: ModuleType) -> Any:
        shared = lib.nn.Linear(2, 2)
        return lib.nn.Sequential(shared, lib.nn.ReLU(), shared)

    ours, theirs = tied(pg), tied(torch)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 2
    ours.load_state_dict(_to_pg_state(theirs.state_dict()))
    x = np.random.default_rng(0).standard_normal((4, 2)).astype(np.float32)
    np.testing.assert_allclose(
        ours(pg.tensor(x)).detach().numpy(),
        theirs(torch.tensor(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_state_dict_values_are_detached_views() -> None:
    lin = pg.nn.Linear(2, 3)
    state = lin.state_dict()
    assert not state["weight"].requires_grad
    np.testing.assert_array_equal(state["weight"].numpy(), lin.weight.detach().numpy())
    assert lin.state_dict(keep_vars=True)["weight"] is lin.weight


def test_train_eval_set_flags_recursively() -> None:
    net = _custom_net(pg)
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.train(False)
    assert not any(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_zero_grad_sets_none_by_default_or_zeros() -> None:
    net = _nested_sequential(pg)
    net(pg.randn(5, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    for p in net.parameters():
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros(tuple(p.shape)))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_call_runs_forward() -> None:
    class Doubler(pg.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x: pg.Tensor, scale: float = 2.0) -> pg.Tensor:
            self.calls += 1
            return x * scale

    m = Doubler()
    np.testing.assert_array_equal(m(pg.tensor([1.0, 2.0])).numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(m(pg.tensor([1.0]), scale=3.0).numpy(), [3.0])
    assert m.calls == 2
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        pg.nn.Module()(pg.zeros(1))


# ----------------------------------------------------------- load_state_dict


def test_load_state_dict_from_torch_gives_identical_outputs(torch: ModuleType) -> None:
    torch.manual_seed(0)
    theirs = _custom_net(torch).double()
    ours = _custom_net(pg).double()
    result = ours.load_state_dict(_to_pg_state(theirs.state_dict()))
    assert result.missing_keys == [] and result.unexpected_keys == []
    x = np.random.default_rng(1).standard_normal((7, 3))
    np.testing.assert_allclose(
        ours(pg.tensor(x)).detach().numpy(),
        theirs(torch.tensor(x)).detach().numpy(),
        rtol=1e-12,
        atol=1e-14,
    )


def test_load_state_dict_copies_values_into_the_same_parameters() -> None:
    src, dst = _nested_sequential(pg), _nested_sequential(pg)
    weight = dst[0].weight
    dst.load_state_dict(src.state_dict())
    assert dst[0].weight is weight  # optimizers keep pointing at it
    _assert_same_state(dst, _snapshot(src))
    # The copy is not shared with the source.
    src[0].weight.data.numpy()[...] = 7.0
    assert not np.any(dst[0].weight.detach().numpy() == 7.0)


@pytest.mark.parametrize("problem", ["missing", "unexpected", "shape"])
def test_load_state_dict_strict_errors_load_nothing(problem: str) -> None:
    src, dst = _nested_sequential(pg), _nested_sequential(pg)
    before = _snapshot(dst)
    state = src.state_dict()
    if problem == "missing":
        del state["2.0.bias"]
        pattern = r'Missing key\(s\) in state_dict: "2\.0\.bias"'
    elif problem == "unexpected":
        state["9.weight"] = pg.zeros(1)
        pattern = r'Unexpected key\(s\) in state_dict: "9\.weight"'
    else:
        state["3.weight"] = pg.zeros(3, 4)
        pattern = (
            r"size mismatch for 3\.weight: copying a param with shape \(3, 4\) "
            r"from checkpoint, the shape in current model is \(2, 4\)"
        )
    with pytest.raises(RuntimeError, match=pattern) as info:
        dst.load_state_dict(state)
    assert "Sequential" in str(info.value)
    _assert_same_state(dst, before)


def test_load_state_dict_reports_every_problem_at_once() -> None:
    dst = _nested_sequential(pg)
    before = _snapshot(dst)
    state = _nested_sequential(pg).state_dict()
    del state["0.bias"]
    state["extra"] = pg.zeros(1)
    state["0.weight"] = pg.zeros(1, 1)
    with pytest.raises(RuntimeError) as info:
        dst.load_state_dict(state)
    message = str(info.value)
    assert '"0.bias"' in message and '"extra"' in message
    assert "size mismatch for 0.weight" in message
    _assert_same_state(dst, before)


def test_load_state_dict_with_uncastable_values_loads_nothing() -> None:
    dst = _nested_sequential(pg)
    before = _snapshot(dst)
    state = _nested_sequential(pg).state_dict()
    # The last key holds values that cannot become floats: the earlier keys
    # must not have been copied when the error is raised.
    state["3.weight"] = np.full((2, 4), "x", dtype=object)
    with pytest.raises((RuntimeError, TypeError, ValueError), match="3.weight"):
        dst.load_state_dict(state)
    _assert_same_state(dst, before)


def test_load_state_dict_non_strict_returns_missing_and_unexpected() -> None:
    src, dst = _nested_sequential(pg), _nested_sequential(pg)
    state = src.state_dict()
    del state["0.bias"]
    state["extra.weight"] = pg.zeros(2)
    before = _snapshot(dst)
    result = dst.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias"]
    assert result.unexpected_keys == ["extra.weight"]
    assert result == (["0.bias"], ["extra.weight"])
    np.testing.assert_array_equal(dst[0].bias.detach().numpy(), before["0.bias"])
    np.testing.assert_array_equal(
        dst[0].weight.detach().numpy(), src[0].weight.detach().numpy()
    )
    # Shapes are still checked when strict is off.
    state["0.weight"] = pg.zeros(5, 5)
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        dst.load_state_dict(state, strict=False)


def test_load_state_dict_keeps_the_parameter_dtype() -> None:
    dst = pg.nn.Linear(2, 2)
    dst.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert dst.weight.dtype == pg.float32
    np.testing.assert_array_equal(dst.weight.detach().numpy(), np.ones((2, 2)))


# ----------------------------------------------------------------- repr


def test_repr_matches_torch(torch: ModuleType) -> None:
    def layers(lib: ModuleType) -> Any:
        nn = lib.nn
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(4, 3),
            nn.ReLU(),
            nn.Tanh(),
            nn.Sigmoid(),
            nn.Linear(3, 1, bias=False),
            nn.Softmax(dim=1),
            nn.LogSoftmax(dim=-1),
            nn.Identity(),
            nn.Flatten(0, 1),
            nn.Unflatten(1, (2, 2)),
        )

    for build in (layers, _custom_net, _nested_sequential):
        assert repr(build(pg)) == repr(build(torch))
    for name in ("MSELoss", "CrossEntropyLoss", "NLLLoss", "ReLU"):
        assert repr(getattr(pg.nn, name)()) == repr(getattr(torch.nn, name)())
    assert (
        repr(pg.nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    )


def test_repr_of_multiline_extra_repr_without_children(torch: ModuleType) -> None:
    def build(lib: ModuleType) -> Any:
        class Config(lib.nn.Module):
            def extra_repr(self) -> str:
                return "a=1\nb=2"

        return Config()

    assert repr(build(pg)) == repr(build(torch))


# ------------------------------------------------------------- deepcopy


def test_deepcopy_of_tensor_is_independent() -> None:
    x = pg.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    y = copy.deepcopy(x)
    assert y is not x and y.requires_grad and y.is_leaf
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    x.detach().numpy()[0] = 10.0
    x.grad.numpy()[0] = 10.0
    np.testing.assert_array_equal(y.detach().numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x * 2)


def test_deepcopy_of_module_is_an_independent_snapshot() -> None:
    pg.manual_seed(0)
    model = _custom_net(pg)
    snapshot = copy.deepcopy(model)
    frozen = _snapshot(snapshot)
    _assert_same_state(model, frozen)
    assert [n for n, _ in snapshot.named_parameters()] == [
        n for n, _ in model.named_parameters()
    ]
    for a, b in zip(model.parameters(), snapshot.parameters()):
        assert a is not b and isinstance(b, pg.nn.Parameter) and b.requires_grad

    opt = pg.optim.SGD(model.parameters(), lr=0.5)
    x, y = pg.randn(8, 3), pg.rand(8, 2)
    for _ in range(3):
        opt.zero_grad()
        F.mse_loss(model(x), y).backward()
        opt.step()
    _assert_same_state(snapshot, frozen)
    assert all(p.grad is None for p in snapshot.parameters())
    assert not np.array_equal(
        model.layer1.weight.detach().numpy(), frozen["layer1.weight"]
    )


def test_deepcopy_keeps_tied_parameters_tied() -> None:
    shared = pg.nn.Linear(2, 2)
    model = pg.nn.Sequential(shared, shared)
    clone = copy.deepcopy(model)
    assert clone[0] is clone[1] and clone[0] is not shared
    assert clone[0].weight is clone[1].weight


# ------------------------------------------------------------- Parameter


def test_parameter_basics(torch: ModuleType) -> None:
    data = pg.tensor([1.0, 2.0])
    p = pg.nn.Parameter(data)
    assert isinstance(p, pg.Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p.detach().numpy(), data.numpy())  # as torch's
    assert not pg.nn.Parameter(data, requires_grad=False).requires_grad
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))
    assert tuple(pg.nn.Parameter().shape) == (0,)
    with pytest.raises(RuntimeError, match="floating point"):
        pg.nn.Parameter(pg.tensor([1, 2]))
    with pytest.raises(TypeError, match="Parameter: expected `data` to be a Tensor"):
        pg.nn.Parameter([1.0, 2.0])


def test_register_parameter_and_add_module_validate() -> None:
    m = pg.nn.Module()
    with pytest.raises(TypeError, match="register_parameter.*'w'"):
        m.register_parameter("w", pg.ones(1))
    with pytest.raises(TypeError, match="add_module"):
        m.add_module("child", pg.ones(1))
    m.register_parameter("w", pg.nn.Parameter(pg.ones(1)))
    m.register_buffer("running", pg.zeros(2))
    m.register_buffer("scratch", pg.zeros(2), persistent=False)
    assert list(m.state_dict()) == ["w", "running"]
    assert [n for n, _ in m.named_buffers()] == ["running", "scratch"]


# ------------------------------------------------------------ containers


def test_sequential_indexing_len_and_iteration(torch: ModuleType) -> None:
    ours, theirs = _nested_sequential(pg), _nested_sequential(torch)
    assert len(ours) == len(theirs) == 4
    assert [type(m).__name__ for m in ours] == [type(m).__name__ for m in theirs]
    assert ours[0] is list(ours)[0]
    assert ours[-1] is list(ours)[3] and isinstance(ours[-1], pg.nn.Linear)
    assert ours[-4] is ours[0]
    for index in (slice(1, None), slice(None, -1), slice(None, None, 2)):
        part, ref = ours[index], theirs[index]
        assert isinstance(part, pg.nn.Sequential)
        assert list(part.state_dict()) == list(ref.state_dict())
        assert repr(part) == repr(ref)
    assert ours[1:][0] is ours[1]  # the slice shares its modules
    for index in (4, -5):
        with pytest.raises(IndexError, match="out of range"):
            ours[index]
    with pytest.raises(TypeError, match="argument 1"):
        pg.nn.Sequential(pg.nn.ReLU(), "relu")


def test_sequential_from_ordered_dict_and_append() -> None:
    model = pg.nn.Sequential(
        OrderedDict([("fc", pg.nn.Linear(2, 3)), ("act", pg.nn.ReLU())])
    )
    assert list(model.state_dict()) == ["fc.weight", "fc.bias"]
    assert model[0] is model.fc
    model.append(pg.nn.Linear(3, 1))
    assert len(model) == 3 and tuple(model(pg.zeros(4, 2)).shape) == (4, 1)


def test_sequential_delitem_renumbers(torch: ModuleType) -> None:
    ours, theirs = _nested_sequential(pg), _nested_sequential(torch)
    del ours[1]
    del theirs[1]
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_module_list_and_dict() -> None:
    blocks = pg.nn.ModuleList([pg.nn.Linear(2, 2) for _ in range(3)])
    assert len(blocks) == 3 and blocks[-1] is list(blocks)[2]
    assert isinstance(blocks[1:], pg.nn.ModuleList) and len(blocks[1:]) == 2
    with pytest.raises(IndexError):
        blocks[3]
    heads = pg.nn.ModuleDict({"a": pg.nn.ReLU()})
    heads["b"] = pg.nn.Tanh()
    assert list(heads) == ["a", "b"] and "b" in heads and len(heads) == 2


# --------------------------------------------------------------- Linear


def test_linear_default_init_is_uniform_within_the_bound() -> None:
    pg.manual_seed(1234)
    fan_in = 256
    layer = pg.nn.Linear(fan_in, 400)
    bound = 1 / math.sqrt(fan_in)
    for name, values, n in (
        ("weight", layer.weight.detach().numpy().ravel().astype(np.float64), 102400),
        ("bias", layer.bias.detach().numpy().astype(np.float64), 400),
    ):
        assert values.size == n
        assert np.all(np.abs(values) <= bound), name
        # U(-b, b): mean 0, variance b^2 / 3. Allow five standard errors
        # (the standard error of the sample variance uses the fourth moment
        # of the uniform, b^4 / 5).
        mean_se = math.sqrt(bound**2 / 3 / n)
        var_se = math.sqrt((bound**4 / 5 - (bound**2 / 3) ** 2) / n)
        assert abs(values.mean()) < 5 * mean_se, name
        assert abs(values.var() - bound**2 / 3) < 5 * var_se, name
        try:
            from scipy import stats
        except ImportError:
            continue
        test = stats.kstest(values, "uniform", args=(-bound, 2 * bound))
        assert test.pvalue > 1e-3, (name, test)
    # A wrong scale (say 1/fan_in or sqrt(6/fan_in)) would fail the variance
    # check above; the extremes also reach close to the bound.
    assert np.abs(layer.weight.detach().numpy()).max() > 0.99 * bound


def test_linear_forward_matches_torch_and_validates(torch: ModuleType) -> None:
    ours, theirs = pg.nn.Linear(3, 2).double(), torch.nn.Linear(3, 2).double()
    ours.load_state_dict(_to_pg_state(theirs.state_dict()))
    x = np.random.default_rng(0).standard_normal((2, 5, 3))
    np.testing.assert_allclose(
        ours(pg.tensor(x)).detach().numpy(),
        theirs(torch.tensor(x)).detach().numpy(),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="Linear: `in_features` must be"):
        pg.nn.Linear(-1, 2)
    with pytest.raises(RuntimeError, match=r"linear: `input.shape\[-1\]` is 4"):
        ours(pg.zeros(2, 4, dtype=pg.float64))
    no_bias = pg.nn.Linear(3, 2, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == [
        "weight"
    ]


# --------------------------------------------------------------- Flatten


@pytest.mark.parametrize("dims", [(), (0,), (1, 2), (2, -1), (0, -2)])
def test_flatten_matches_torch(torch: ModuleType, dims: tuple) -> None:
    x = np.arange(120, dtype=np.float64).reshape(2, 3, 4, 5)
    ours = pg.nn.Flatten(*dims)(pg.tensor(x, requires_grad=True))
    theirs = torch.nn.Flatten(*dims)(torch.tensor(x))
    assert tuple(ours.shape) == tuple(theirs.shape)
    np.testing.assert_array_equal(ours.detach().numpy(), theirs.numpy())


def test_flatten_gradient_has_the_input_shape() -> None:
    x = pg.randn(2, 3, 4, requires_grad=True)
    pg.nn.Flatten()(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3, 4)))


# ----------------------------------------------------------------- hooks


def test_forward_hooks_and_pre_hooks_with_remove() -> None:
    layer = pg.nn.Linear(2, 2)
    pg.nn.init.zeros_(layer.bias)
    pg.nn.init.ones_(layer.weight)
    x = pg.tensor([[1.0, 2.0]])
    seen = []

    def pre(module: pg.nn.Module, inputs: tuple) -> Any:
        seen.append(("pre", module, len(inputs)))
        return inputs[0] * 10  # not a tuple: becomes the single input

    def post(module: pg.nn.Module, inputs: tuple, output: pg.Tensor) -> Any:
        seen.append(("post", module, tuple(output.shape)))
        return output + 1

    def observe(module: pg.nn.Module, inputs: tuple, output: pg.Tensor) -> None:
        seen.append(("observe", float(inputs[0].sum()), output.tolist()))

    handles = [
        layer.register_forward_pre_hook(pre),
        layer.register_forward_hook(post),
        layer.register_forward_hook(observe),
    ]
    np.testing.assert_array_equal(layer(x).detach().numpy(), [[31.0, 31.0]])
    assert seen == [
        ("pre", layer, 1),
        ("post", layer, (1, 2)),
        ("observe", 30.0, [[31.0, 31.0]]),
    ]
    for handle in handles:
        handle.remove()
    handles[0].remove()  # removing twice is harmless
    seen.clear()
    np.testing.assert_array_equal(layer(x).detach().numpy(), [[3.0, 3.0]])
    assert seen == []

    with layer.register_forward_hook(post):
        np.testing.assert_array_equal(layer(x).detach().numpy(), [[4.0, 4.0]])
    np.testing.assert_array_equal(layer(x).detach().numpy(), [[3.0, 3.0]])


# ------------------------------------------------------------ functional


def _pair(torch: ModuleType, shape: tuple, seed: int = 0) -> tuple:
    values = np.random.default_rng(seed).standard_normal(shape)
    return (
        pg.tensor(values, requires_grad=True),
        torch.tensor(values, requires_grad=True),
    )


def _check(ours: pg.Tensor, theirs: Any, torch: ModuleType, leaves: list) -> None:
    """Compare values, then gradients under a random upstream gradient."""
    np.testing.assert_allclose(
        ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12
    )
    upstream = np.random.default_rng(9).standard_normal(tuple(theirs.shape))
    ours.backward(pg.tensor(upstream))
    theirs.backward(torch.tensor(upstream))
    for a, b in leaves:
        np.testing.assert_allclose(
            a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12
        )


@pytest.mark.parametrize("name", ["relu", "softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_activations_match_torch(torch: ModuleType, name: str, dim: int) -> None:
    a, b = _pair(torch, (4, 5))
    if name == "relu":
        ours, theirs = F.relu(a), torch.nn.functional.relu(b)
    else:
        ours = getattr(F, name)(a, dim=dim)
        theirs = getattr(torch.nn.functional, name)(b, dim=dim)
    _check(ours, theirs, torch, [(a, b)])


def test_activation_modules_match_torch(torch: ModuleType) -> None:
    for name, args in (
        ("ReLU", ()),
        ("Tanh", ()),
        ("Sigmoid", ()),
        ("Softmax", (1,)),
        ("LogSoftmax", (0,)),
    ):
        a, b = _pair(torch, (3, 4), seed=len(name))
        ours = getattr(pg.nn, name)(*args)(a)
        theirs = getattr(torch.nn, name)(*args)(b)
        _check(ours, theirs, torch, [(a, b)])


def test_relu_gradient_at_zero_is_zero() -> None:
    x = pg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


def test_softmax_is_stable_for_large_logits() -> None:
    out = F.softmax(pg.tensor([[1000.0, 0.0, -1000.0]]), dim=1)
    np.testing.assert_allclose(out.numpy(), [[1.0, 0.0, 0.0]])
    out = F.log_softmax(pg.tensor([[1000.0, 0.0]]), dim=1)
    np.testing.assert_allclose(out.numpy(), [[0.0, -1000.0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(torch: ModuleType, reduction: str) -> None:
    a, b = _pair(torch, (3, 4), seed=1)
    t_ours, t_theirs = _pair(torch, (3, 4), seed=2)
    _check(
        F.mse_loss(a, t_ours, reduction=reduction),
        torch.nn.functional.mse_loss(b, t_theirs, reduction=reduction),
        torch,
        [(a, b), (t_ours, t_theirs)],
    )
    a, b = _pair(torch, (3, 4), seed=1)
    t_ours, t_theirs = _pair(torch, (3, 4), seed=2)
    _check(
        pg.nn.MSELoss(reduction=reduction)(a, t_ours),
        torch.nn.MSELoss(reduction=reduction)(b, t_theirs),
        torch,
        [(a, b), (t_ours, t_theirs)],
    )


def test_mse_loss_known_value() -> None:
    loss = F.mse_loss(pg.tensor([1.0, 2.0, 3.0]), pg.tensor([1.0, 0.0, 0.0]))
    assert loss.item() == pytest.approx((0 + 4 + 9) / 3)


def test_mse_loss_with_a_different_target_shape_warns(torch: ModuleType) -> None:
    a, b = _pair(torch, (3, 1), seed=3)
    t_values = np.array([0.5, -1.0, 2.0])
    with pytest.warns(pg.PlaingradWarning, match="target size"):
        ours = F.mse_loss(a, pg.tensor(t_values))
    with pytest.warns(UserWarning, match="target size"):
        theirs = torch.nn.functional.mse_loss(b, torch.tensor(t_values))
    _check(ours, theirs, torch, [(a, b)])
    with pytest.warns(pg.PlaingradWarning, match="target size"):
        pg.nn.MSELoss()(pg.zeros(3, 1), pg.zeros(3))
    # Same shapes: no warning at all.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(pg.zeros(3), pg.zeros(3))


def test_mse_loss_with_shapes_that_do_not_broadcast_raises() -> None:
    with pytest.warns(pg.PlaingradWarning):
        with pytest.raises(RuntimeError, match=r"mse_loss.*\(3,\).*\(4,\)"):
            F.mse_loss(pg.zeros(3), pg.zeros(4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch(
    torch: ModuleType, reduction: str, weighted: bool
) -> None:
    a, b = _pair(torch, (6, 4), seed=4)
    target = np.array([0, 3, 1, 1, 2, 3])
    weight = np.array([0.5, 1.0, 2.0, 0.25]) if weighted else None
    kwargs = dict(reduction=reduction)
    ours = F.cross_entropy(
        a,
        pg.tensor(target),
        weight=None if weight is None else pg.tensor(weight),
        **kwargs,
    )
    theirs = torch.nn.functional.cross_entropy(
        b,
        torch.tensor(target),
        weight=None if weight is None else torch.tensor(weight),
        **kwargs,
    )
    _check(ours, theirs, torch, [(a, b)])

    a, b = _pair(torch, (6, 4), seed=4)
    ours = pg.nn.CrossEntropyLoss(
        weight=None if weight is None else pg.tensor(weight), **kwargs
    )(a, pg.tensor(target))
    theirs = torch.nn.CrossEntropyLoss(
        weight=None if weight is None else torch.tensor(weight), **kwargs
    )(b, torch.tensor(target))
    _check(ours, theirs, torch, [(a, b)])


def test_cross_entropy_ignore_index_and_extra_dims_match_torch(
    torch: ModuleType,
) -> None:
    a, b = _pair(torch, (5, 3), seed=5)
    target = np.array([2, -100, 0, 1, -100])
    _check(
        F.cross_entropy(a, pg.tensor(target)),
        torch.nn.functional.cross_entropy(b, torch.tensor(target)),
        torch,
        [(a, b)],
    )
    a, b = _pair(torch, (2, 3, 4), seed=6)
    target = np.array([[0, 1, 2, 1], [2, 2, 0, 7]])
    _check(
        F.cross_entropy(a, pg.tensor(target), ignore_index=7),
        torch.nn.functional.cross_entropy(b, torch.tensor(target), ignore_index=7),
        torch,
        [(a, b)],
    )


def test_cross_entropy_known_value() -> None:
    loss = F.cross_entropy(pg.tensor([[0.0, 0.0]]), pg.tensor([1]))
    assert loss.item() == pytest.approx(math.log(2))
    loss = F.cross_entropy(pg.tensor([[1e8, 1e8]]), pg.tensor([1]))
    assert loss.item() == pytest.approx(math.log(2))


def test_nll_loss_module_matches_torch(torch: ModuleType) -> None:
    a, b = _pair(torch, (4, 3), seed=7)
    target = np.array([0, 2, 1, 2])
    _check(
        pg.nn.NLLLoss()(F.log_softmax(a, dim=1), pg.tensor(target)),
        torch.nn.NLLLoss()(
            torch.nn.functional.log_softmax(b, dim=1), torch.tensor(target)
        ),
        torch,
        [(a, b)],
    )


def test_loss_bad_input_is_explained() -> None:
    logits = pg.zeros(2, 3)
    with pytest.raises(IndexError, match=r"Target 3 is out of bounds.*\[0, 3\)"):
        F.cross_entropy(logits, pg.tensor([0, 3]))
    with pytest.raises(
        RuntimeError, match="cross_entropy: expected `input` to be a floating"
    ):
        F.cross_entropy(pg.tensor([[1000, 0, -1000]]), pg.tensor([0]))
    with pytest.raises(ValueError, match=r"expected `target` of shape \(2,\).*\(3,\)"):
        F.cross_entropy(logits, pg.tensor([0, 1, 2]))
    with pytest.raises(
        ValueError, match="`reduction` must be 'mean', 'sum' or 'none', got 'avg'"
    ):
        F.mse_loss(pg.zeros(2), pg.zeros(2), reduction="avg")
    with pytest.raises(ValueError, match="MSELoss: `reduction`"):
        pg.nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: `reduction`"):
        pg.nn.CrossEntropyLoss(reduction="max")
    with pytest.raises(TypeError, match="mse_loss: expected Tensors"):
        F.mse_loss(pg.zeros(2), [0.0, 0.0])


def test_linear_sizes_are_checked_as_torch() -> None:
    empty = pg.nn.Linear(0, 2)  # PyTorch builds it (and warns)
    assert empty.weight.shape == (2, 0)
    assert empty(pg.ones(3, 0)).tolist() == [[0.0, 0.0]] * 3
    with pytest.raises(TypeError, match="Linear: `in_features` must be an int"):
        pg.nn.Linear(2.5, 2)
    with pytest.raises(ValueError, match="`out_features` must be a non-negative"):
        pg.nn.Linear(2, -1)


def test_load_state_dict_needs_a_mapping() -> None:
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        pg.nn.Linear(2, 2).load_state_dict([1, 2])


def test_integer_division_by_zero_raises_as_torch() -> None:
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        pg.tensor([1, 2]) // 0
    assert pg.tensor([1.0, -1.0]).div(0.0, rounding_mode="floor").tolist() == [
        float("inf"),
        float("-inf"),
    ]


@pytest.mark.parametrize(("features_in", "features_out"), [(4, 0), (0, 3)])
def test_a_zero_width_linear_runs_forward_and_backward_as_torch(
    features_in, features_out
):
    torch = import_torch()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, features_in)).astype(np.float32)
    weight = rng.normal(size=(features_out, features_in)).astype(np.float32)
    bias = rng.normal(size=(features_out,)).astype(np.float32)
    grads = []
    for lib in (pg, torch):
        inputs = [lib.tensor(a, requires_grad=True) for a in (x, weight, bias)]
        out = lib.nn.functional.linear(*inputs)
        (out * 2.0).sum().backward()
        grads.append([out.detach().numpy()] + [t.grad.numpy() for t in inputs])
    for ours, theirs in zip(*grads, strict=True):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)
