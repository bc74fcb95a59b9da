"""Optimizer hooks (step, state_dict, load_state_dict; per optimizer and
global), state dicts refused because another optimizer saved them, and
LBFGS's option checks.

Where the behaviour is PyTorch's, the same program runs in both libraries
and the recorded events (or loaded options) must be equal.
"""

from __future__ import annotations

import copy
import importlib
import pickle
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import import_torch

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


@pytest.fixture(params=["plaingrad", "torch"])
def lib(request: pytest.FixtureRequest, torch: ModuleType) -> ModuleType:
    """Each library in turn, for tests whose expectation is written out."""
    return pg if request.param == "plaingrad" else torch


def _weight(lib: ModuleType, values: Any = (1.0, 2.0)) -> Any:
    w = lib.nn.Parameter(lib.tensor(list(values), dtype=lib.float64))
    w.grad = lib.ones_like(w)
    return w


def _snapshot(opt: Any) -> tuple:
    """Groups and state as plain values, to tell whether a load changed them."""
    groups = [
        {k: (v if k != "params" else [id(p) for p in v]) for k, v in g.items()}
        for g in opt.param_groups
    ]
    state = {
        id(p): {
            k: np.array(v.tolist()) if hasattr(v, "tolist") else v for k, v in s.items()
        }
        for p, s in opt.state.items()
    }
    return copy.deepcopy(groups), state


def _same(a: tuple, b: tuple) -> bool:
    if a[0] != b[0] or a[1].keys() != b[1].keys():
        return False
    for p in a[1]:
        if a[1][p].keys() != b[1][p].keys():
            return False
        for k in a[1][p]:
            if not np.array_equal(a[1][p][k], b[1][p][k]):
                return False
    return True


# ------------------------------------------------------------ step hooks


def _step_events(lib: ModuleType, name: str = "SGD") -> list:
    """What the step hooks see, global and per optimizer, in call order."""
    w = _weight(lib)
    opt = getattr(lib.optim, name)([w], lr=0.1)
    events: list = []

    def record(tag: str) -> Any:
        def hook(optimizer: Any, args: tuple, kwargs: dict) -> None:
            assert optimizer is opt and args[0] is opt
            events.append((tag, len(args), sorted(kwargs)))

        return hook

    # ``torch.optim.optimizer`` is imported but not an attribute of torch.optim.
    module = importlib.import_module(f"{lib.__name__}.optim.optimizer")
    handles = [
        module.register_optimizer_step_pre_hook(record("global pre")),
        module.register_optimizer_step_post_hook(record("global post")),
        opt.register_step_pre_hook(record("pre")),
        opt.register_step_post_hook(record("post")),
        opt.register_step_pre_hook(record("pre 2")),
    ]
    try:
        opt.step()
        opt.step(lambda: 1.0)  # NOTE: step(closure=f) shows it in args here
        handles[2].remove()
        handles[0].remove()
        opt.step()
    finally:
        for handle in handles:
            handle.remove()
    opt.step()  # no hooks left: nothing recorded
    return events


def test_step_hooks_run_in_torch_s_order(torch: ModuleType) -> None:
    ours = _step_events(pg)
    assert ours == _step_events(torch)
    assert ours[:5] == [
        ("global pre", 1, []),
        ("pre", 1, []),
        ("pre 2", 1, []),
        ("post", 1, []),
        ("global post", 1, []),
    ]


def test_step_hooks_of_a_subclass_with_its_own_step(lib: ModuleType) -> None:
    # LBFGS defines its own step, which calls the closure several times; the
    # hooks still run once per step.
    w = lib.nn.Parameter(lib.tensor([3.0, -1.0], dtype=lib.float64))
    opt = lib.optim.LBFGS([w], max_iter=4)
    calls: list = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))

    def closure() -> Any:
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert calls == ["pre", "post"], lib.__name__


def test_step_pre_hook_may_replace_the_arguments(lib: ModuleType) -> None:
    w = _weight(lib)
    opt = lib.optim.SGD([w], lr=0.5)
    seen: list = []

    def closure() -> float:
        seen.append("closure")
        return 7.0

    opt.register_step_pre_hook(lambda o, a, k: ((a[0],), {"closure": closure}))
    post: list = []
    opt.register_step_post_hook(lambda o, a, k: post.append(sorted(k)))
    assert opt.step() == 7.0
    assert seen == ["closure"] and post == [["closure"]]
    assert w.tolist() == [0.5, 1.5]


def test_step_pre_hook_with_a_bad_result_raises(lib: ModuleType) -> None:
    w = _weight(lib)
    opt = lib.optim.Adam([w])
    opt.register_step_pre_hook(lambda o, a, k: 5)
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        opt.step()
    assert w.tolist() == [1.0, 2.0]


def test_hooks_run_once_when_a_step_calls_super_step() -> None:
    # Written expectation: one pre and one post call per user-level step.
    class Counting(pg.optim.Adam):
        def step(self, closure: Any = None) -> Any:
            self.steps = getattr(self, "steps", 0) + 1
            return super().step(closure)

    w = _weight(pg)
    opt = Counting([w])
    calls: list = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    opt.step()
    opt.step()
    assert calls == ["pre", "post", "pre", "post"] and opt.steps == 2


def test_step_hooks_with_a_scheduler(lib: ModuleType) -> None:
    # The scheduler wraps the class's step to notice it ran; with hooks on
    # top, both must work (no "lr_scheduler.step() before optimizer.step()"
    # warning, and the hooks see every step).
    w = _weight(lib)
    opt = lib.optim.SGD([w], lr=1.0)
    calls: list = []
    opt.register_step_post_hook(lambda o, a, k: calls.append(o.param_groups[0]["lr"]))
    scheduler = lib.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            opt.step()
            scheduler.step()
    assert calls == ["pre", 1.0, "pre", 0.5, "pre", 0.25], lib.__name__


def test_hooks_are_not_copied_or_pickled(lib: ModuleType) -> None:
    w = _weight(lib)
    opt = lib.optim.SGD([w], lr=0.1)
    calls: list = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    twin = copy.deepcopy(opt)
    twin.step()
    assert calls == [], lib.__name__
    pickle.loads(pickle.dumps(opt)).step()
    assert calls == [], lib.__name__
    opt.step()
    assert calls == ["pre"], lib.__name__


# ------------------------------------------------------ state dict hooks


def _state_dict_events(lib: ModuleType) -> tuple:
    w = _weight(lib)
    opt = lib.optim.Adam([w], lr=0.1)
    opt.step()
    events: list = []
    opt.register_state_dict_pre_hook(lambda o: events.append("pre"))
    opt.register_state_dict_pre_hook(lambda o: events.append("pre first"), prepend=True)

    def replace(o: Any, state_dict: dict) -> dict:
        events.append("post")
        return {"replaced": sorted(state_dict)}

    opt.register_state_dict_post_hook(replace)
    opt.register_state_dict_post_hook(
        lambda o, sd: events.append(("post first", sorted(sd))), prepend=True
    )
    result = opt.state_dict()
    return events, result


def test_state_dict_hooks_as_torch(torch: ModuleType) -> None:
    ours = _state_dict_events(pg)
    assert ours == _state_dict_events(torch)
    assert ours[1] == {"replaced": ["param_groups", "state"]}


def _load_events(lib: ModuleType) -> tuple:
    w = _weight(lib)
    source = lib.optim.SGD([w], lr=0.1, momentum=0.9)
    source.step()
    saved = source.state_dict()
    target = lib.optim.SGD([_weight(lib)], lr=0.5, momentum=0.9)
    events: list = []

    def pre(o: Any, state_dict: dict) -> dict:
        events.append(("pre", state_dict is saved))
        state_dict["extra"] = 1  # a shallow copy: the caller's dict is untouched
        groups = copy.deepcopy(state_dict["param_groups"])
        groups[0]["lr"] = 0.25
        return {"state": state_dict["state"], "param_groups": groups}

    target.register_load_state_dict_pre_hook(pre)
    target.register_load_state_dict_pre_hook(
        lambda o, sd: events.append("pre first"), prepend=True
    )
    target.register_load_state_dict_post_hook(
        lambda o: events.append(("post", o.param_groups[0]["lr"]))
    )
    target.load_state_dict(saved)
    return events, sorted(saved), target.param_groups[0]["lr"]


def test_load_state_dict_hooks_as_torch(torch: ModuleType) -> None:
    ours = _load_events(pg)
    assert ours == _load_events(torch)
    assert ours == (
        ["pre first", ("pre", False), ("post", 0.25)],
        ["param_groups", "state"],
        0.25,
    )


# ------------------------------------ state dicts of another optimizer


def test_sgd_refuses_an_adam_state_dict() -> None:
    w, v = _weight(pg), _weight(pg)
    adam = pg.optim.Adam([w], lr=1e-3)
    adam.step()
    sgd = pg.optim.SGD([v], lr=0.5, momentum=0.9)
    sgd.step()
    before = _snapshot(sgd)
    with pytest.raises(ValueError) as error:
        sgd.load_state_dict(adam.state_dict())
    message = str(error.value)
    assert message.startswith("SGD.load_state_dict: parameter group 0")
    for key in ("'momentum'", "'dampening'", "'betas'", "'eps'", "another optimizer"):
        assert key in message
    assert _same(_snapshot(sgd), before)
    assert sgd.param_groups[0]["lr"] == 0.5 and "betas" not in sgd.param_groups[0]


def test_adam_refuses_an_sgd_state_dict() -> None:
    w, v = _weight(pg), _weight(pg)
    sgd = pg.optim.SGD([w], lr=0.5, momentum=0.9)
    sgd.step()
    adam = pg.optim.Adam([v], lr=1e-3)
    adam.step()
    before = _snapshot(adam)
    with pytest.raises(ValueError, match=r"Adam.load_state_dict.*'betas'.*'eps'"):
        adam.load_state_dict(sgd.state_dict())
    assert _same(_snapshot(adam), before)
    adam.step()  # still works


def test_foreign_state_buffers_are_refused() -> None:
    w, v = _weight(pg), _weight(pg)
    source = pg.optim.Adam([w])
    source.step()
    saved = source.state_dict()
    saved["state"][0]["momentum_buffer"] = saved["state"][0]["exp_avg"]
    target = pg.optim.Adam([v], lr=0.5)
    before = _snapshot(target)
    with pytest.raises(ValueError, match="'momentum_buffer', which Adam never"):
        target.load_state_dict(saved)
    assert _same(_snapshot(target), before)


def test_state_of_an_unknown_parameter_is_refused() -> None:
    w, v = _weight(pg), _weight(pg)
    source = pg.optim.SGD([w], lr=0.1, momentum=0.9)
    source.step()
    saved = source.state_dict()
    saved["state"] = {5: saved["state"][0]}
    target = pg.optim.SGD([v], lr=0.2, momentum=0.9)
    target.step()
    before = _snapshot(target)
    with pytest.raises(ValueError, match=r"parameter 5, which none.*\[0\]"):
        target.load_state_dict(saved)
    assert _same(_snapshot(target), before)


def test_a_failed_load_changes_no_group() -> None:
    # The first group fits, the second belongs to another optimizer.
    a, b = _weight(pg), _weight(pg)
    target = pg.optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.5)
    saved = target.state_dict()
    saved["param_groups"][0]["lr"] = 0.125
    saved["param_groups"][1]["betas"] = (0.9, 0.99)
    before = _snapshot(target)
    with pytest.raises(ValueError, match="parameter group 1.*'betas'"):
        target.load_state_dict(saved)
    assert _same(_snapshot(target), before)


def test_custom_group_keys_still_load() -> None:
    # Keys that are no optimizer's option (a name, a scheduler's initial_lr)
    # are not taken for another optimizer's.
    w, v = _weight(pg), _weight(pg)
    source = pg.optim.SGD([{"params": [w], "name": "head", "initial_lr": 0.1}])
    target = pg.optim.SGD([v], lr=0.5)
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["name"] == "head"
    assert target.param_groups[0]["initial_lr"] == 0.1


@pytest.mark.parametrize(
    "name, options, dropped",
    [
        (
            "SGD",
            {"momentum": 0.9, "maximize": True},
            ["nesterov", "maximize", "foreach", "differentiable", "fused"],
        ),
        (
            "Adam",
            {"amsgrad": True},
            ["amsgrad", "capturable", "decoupled_weight_decay", "fused"],
        ),
        ("AdamW", {}, ["decoupled_weight_decay", "maximize"]),
        (
            "RMSprop",
            {"momentum": 0.5, "centered": True},
            ["momentum", "centered", "capturable"],
        ),
        ("NAdam", {}, ["decoupled_weight_decay", "capturable"]),
    ],
)
def test_old_state_dicts_get_torch_s_filled_options(
    torch: ModuleType, name: str, options: dict, dropped: list
) -> None:
    # A state dict of an older PyTorch lacks newer options: both libraries
    # fill them in with the same values and go on stepping identically.
    results = []
    for lib in (pg, torch):
        target = getattr(lib.optim, name)([_weight(lib)], **options)
        source = getattr(lib.optim, name)([_weight(lib)], lr=0.01)
        source.step()
        saved = source.state_dict()
        for key in dropped:
            del saved["param_groups"][0][key]
        target.load_state_dict(saved)
        target.step()
        group = {k: v for k, v in target.param_groups[0].items() if k != "params"}
        results.append((group, target.param_groups[0]["params"][0].tolist()))
    ours, theirs = results
    assert ours[0] == {k: theirs[0][k] for k in ours[0]}
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-10)


def test_a_torch_state_dict_of_the_same_optimizer_loads(torch: ModuleType) -> None:
    theirs = torch.optim.Adam([_weight(torch)], lr=0.01, amsgrad=True)
    theirs.step()
    saved = theirs.state_dict()
    ours = pg.optim.Adam([_weight(pg, theirs.param_groups[0]["params"][0].tolist())])
    converted = {
        "state": {
            i: {k: pg.tensor(v.numpy()) for k, v in s.items()}
            for i, s in saved["state"].items()
        },
        "param_groups": saved["param_groups"],
    }
    ours.load_state_dict(converted)
    assert ours.param_groups[0]["lr"] == 0.01
    assert ours.param_groups[0]["amsgrad"]
    ours.step()
    theirs.step()
    np.testing.assert_allclose(
        ours.param_groups[0]["params"][0].tolist(),
        theirs.param_groups[0]["params"][0].tolist(),
        rtol=1e-10,
    )


# ---------------------------------------------------------- LBFGS options


@pytest.mark.parametrize(
    "options, message",
    [
        ({"history_size": 0}, "`history_size` must be an integer >= 1, got 0"),
        ({"history_size": 2.5}, "`history_size` must be an integer >= 1, got 2.5"),
        ({"max_iter": 0}, "`max_iter` must be a number >= 1, got 0"),
        ({"max_eval": 0}, "`max_eval` must be a number >= 1, got 0"),
    ],
)
def test_lbfgs_refuses_options_that_cannot_work(
    torch: ModuleType, options: dict, message: str
) -> None:
    if "history_size" in options and options["history_size"] == 0:
        # PyTorch takes it and fails in step.
        w = torch.nn.Parameter(torch.tensor([3.0, -1.0], dtype=torch.float64))
        opt = torch.optim.LBFGS([w], **options)

        def closure() -> Any:
            opt.zero_grad()
            loss = (w * w).sum()
            loss.backward()
            return loss

        with pytest.raises(IndexError):
            opt.step(closure)
    with pytest.raises(ValueError) as error:
        pg.optim.LBFGS([_weight(pg)], **options)
    assert str(error.value) == f"LBFGS: {message}"
