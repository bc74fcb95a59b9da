"""The states a training run checkpoints, through ``plaingrad.save`` / ``load``.

Random states, every optimizer's and scheduler's ``state_dict()``: each must
come back exactly (types, int keys, tuples, None, 128-bit integers, float32
step counters) and, loaded into fresh objects, carry on exactly where the
originals go.
"""

from __future__ import annotations

import io
import math
from collections import Counter, OrderedDict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import import_torch
from hypothesis import given
from hypothesis import strategies as st

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _round_trip(obj, tmp_path: Path):
    pg.save(obj, tmp_path / "state.pt")
    return pg.load(tmp_path / "state.pt")


def _identical(got, expected, where: str = "obj") -> None:
    """Same types all the way down (int keys stay ints), bitwise-equal leaves."""
    assert type(got) is type(expected), where
    if isinstance(expected, pg.Tensor):
        assert got.dtype == expected.dtype and got.shape == expected.shape, where
        assert got.detach().numpy().tobytes() == expected.detach().numpy().tobytes()
    elif isinstance(expected, dict):
        assert [type(k) for k in got] == [type(k) for k in expected], where
        assert list(got) == list(expected), where
        for key in expected:
            _identical(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected)):
            _identical(a, b, f"{where}[{i}]")
    elif isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got), where
    else:
        assert got == expected, where


# ------------------------------------------------------- any nested structure

_KEYS = st.one_of(
    st.text(max_size=5),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.tuples(st.integers(0, 3), st.text(max_size=2)),
)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**130), 2**130),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.lists(st.floats(width=32), max_size=4).map(
        lambda values: pg.tensor(values, dtype=pg.float32)
    ),
    st.integers(-5, 5).map(pg.tensor),  # 0-d int64
)
_STRUCTURES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=3).map(OrderedDict),
    ),
    max_leaves=12,
)


@given(_STRUCTURES)
def test_any_nested_structure_round_trips_exactly(obj):
    buffer = io.BytesIO()

    pg.save(obj, buffer)
    buffer.seek(0)

    _identical(pg.load(buffer), obj)


# ------------------------------------------------------------- random states


def test_the_global_rng_state_round_trips_and_restores_the_stream(tmp_path: Path):
    pg.manual_seed(11)
    pg.rand(5)  # somewhere in the middle of the stream
    state = pg.get_rng_state()
    expected = pg.rand(100).numpy()

    loaded = _round_trip({"rng": state}, tmp_path)["rng"]
    pg.manual_seed(0)
    pg.set_rng_state(loaded)

    _identical(loaded, state)
    np.testing.assert_array_equal(pg.rand(100).numpy(), expected)


def test_a_generator_state_round_trips(tmp_path: Path):
    generator = pg.Generator().manual_seed(5)
    pg.randn(7, generator=generator)
    state = generator.get_state()
    expected = pg.randperm(50, generator=generator).tolist()

    fresh = pg.Generator().set_state(_round_trip(state, tmp_path))

    assert pg.randperm(50, generator=fresh).tolist() == expected
    assert fresh.initial_seed() == 5


def test_numpy_bit_generator_states_keep_their_big_integers(tmp_path: Path):
    bit_generator = np.random.PCG64(2**100 + 3)
    np.random.Generator(bit_generator).random(3)
    state = bit_generator.state
    assert state["state"]["state"] > 2**64  # a 128-bit integer

    loaded = _round_trip(state, tmp_path)
    restored = np.random.PCG64()
    restored.state = loaded

    _identical(loaded, state)
    assert (
        np.random.Generator(restored).random()
        == np.random.Generator(bit_generator).random()
    )


# -------------------------------------------------------------- optimizers


_OPTIMIZERS = {
    "SGD": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    "Adam": {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1},
    "AdamW": {"lr": 0.01},
    "RMSprop": {"lr": 0.01, "centered": True, "momentum": 0.5},
    "Adagrad": {"lr": 0.1, "lr_decay": 0.01},
    "Adadelta": {},
    "Adamax": {},
    "NAdam": {},
    "RAdam": {},
    "LBFGS": {"lr": 0.5, "history_size": 3},
}


def _fit(name: str, steps, model=None, optimizer=None):
    """A model and optimizer after ``steps`` steps on a fixed problem."""
    if model is None:
        pg.manual_seed(0)
        model = pg.nn.Sequential(pg.nn.Linear(3, 4), pg.nn.Tanh(), pg.nn.Linear(4, 2))
        groups = [
            {"params": model[0].parameters()},
            {"params": model[2].parameters(), "lr": 0.05},
        ]
        if name == "LBFGS":  # it takes a single group
            groups = list(model.parameters())
        optimizer = getattr(pg.optim, name)(groups, **_OPTIMIZERS[name])
    x = pg.tensor(np.linspace(-1, 1, 15, dtype=np.float32).reshape(5, 3))
    y = pg.tensor(np.cos(np.arange(10, dtype=np.float32)).reshape(5, 2))
    for step in steps:

        def closure(shift: float = 0.1 * step):
            optimizer.zero_grad()
            loss = ((model(x + shift) - y) ** 2).mean()
            loss.backward()
            return loss

        optimizer.step(closure)
    return model, optimizer


@pytest.mark.parametrize("name", list(_OPTIMIZERS))
def test_optimizer_states_round_trip_and_resume_exactly(tmp_path: Path, name: str):
    if not hasattr(pg.optim, name):
        pytest.skip(f"plaingrad.optim.{name} does not exist yet")
    model, optimizer = _fit(name, range(3))
    checkpoint = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}

    loaded = _round_trip(checkpoint, tmp_path)
    _identical(loaded, checkpoint)  # before training goes on and changes it
    _fit(name, range(3, 6), model, optimizer)  # the uninterrupted run
    fresh, fresh_optimizer = _fit(name, range(0))
    fresh.load_state_dict(loaded["model"])
    fresh_optimizer.load_state_dict(loaded["optimizer"])
    _fit(name, range(3, 6), fresh, fresh_optimizer)

    _identical(fresh.state_dict(), model.state_dict())
    _identical(fresh_optimizer.state_dict(), optimizer.state_dict())


# -------------------------------------------------------------- schedulers


def _schedulers(lib: ModuleType, optimizer) -> dict:
    s = lib.optim.lr_scheduler
    return {
        "StepLR": lambda: s.StepLR(optimizer, 2, gamma=0.5),
        "MultiStepLR": lambda: s.MultiStepLR(optimizer, [2, 4]),
        "ExponentialLR": lambda: s.ExponentialLR(optimizer, 0.9),
        "CosineAnnealingLR": lambda: s.CosineAnnealingLR(optimizer, 5),
        "LinearLR": lambda: s.LinearLR(optimizer, total_iters=5),
        "ConstantLR": lambda: s.ConstantLR(optimizer, total_iters=5),
        "PolynomialLR": lambda: s.PolynomialLR(optimizer, total_iters=5),
        "MultiplicativeLR": lambda: s.MultiplicativeLR(optimizer, lambda e: 0.95),
        "ChainedScheduler": lambda: s.ChainedScheduler(
            [s.ConstantLR(optimizer), s.ExponentialLR(optimizer, 0.9)]
        ),
        "CosineAnnealingWarmRestarts": lambda: s.CosineAnnealingWarmRestarts(
            optimizer, 3
        ),
        "OneCycleLR": lambda: s.OneCycleLR(optimizer, 1.0, total_steps=10),
        "CyclicLR": lambda: s.CyclicLR(optimizer, 0.01, 0.1, step_size_up=3),
        "LambdaLR": lambda: s.LambdaLR(optimizer, lambda epoch: 0.9**epoch),
        "SequentialLR": lambda: s.SequentialLR(
            optimizer,
            [s.ConstantLR(optimizer), s.ExponentialLR(optimizer, 0.9)],
            [2],
        ),
        "ReduceLROnPlateau": lambda: s.ReduceLROnPlateau(optimizer, patience=0),
    }


def _scheduled(lib: ModuleType, name: str):
    weight = lib.nn.Parameter(lib.ones(2))
    optimizer = lib.optim.SGD([weight], lr=0.1, momentum=0.9)
    scheduler = _schedulers(lib, optimizer)[name]()
    return optimizer, scheduler


def _advance(optimizer, scheduler, steps: int) -> None:
    for _ in range(steps):
        optimizer.step()
        if scheduler.__class__.__name__ == "ReduceLROnPlateau":
            scheduler.step(1.0)
        else:
            scheduler.step()


@pytest.mark.parametrize("name", list(_schedulers(pg, None)))
def test_torch_scheduler_states_round_trip(tmp_path: Path, torch, name: str):
    # PyTorch's own state dicts as data: plain numbers, lists, None, nested
    # dicts of other schedulers, a Counter (MultiStepLR's milestones), inf.
    optimizer, scheduler = _scheduled(torch, name)
    _advance(optimizer, scheduler, 3)
    state = scheduler.state_dict()

    loaded = _round_trip(state, tmp_path)

    _identical(loaded, state)
    assert type(loaded.get("milestones", Counter())) is Counter


@pytest.mark.parametrize("name", list(_schedulers(pg, None)))
def test_plaingrad_schedulers_resume_exactly(tmp_path: Path, name: str):
    if not hasattr(pg.optim, "lr_scheduler"):
        pytest.skip("plaingrad.optim.lr_scheduler does not exist yet")
    optimizer, scheduler = _scheduled(pg, name)
    _advance(optimizer, scheduler, 3)
    checkpoint = {"optimizer": optimizer.state_dict(), "sched": scheduler.state_dict()}

    loaded = _round_trip(checkpoint, tmp_path)
    _identical(loaded, checkpoint)
    _advance(optimizer, scheduler, 4)
    fresh_optimizer, fresh = _scheduled(pg, name)
    fresh_optimizer.load_state_dict(loaded["optimizer"])
    fresh.load_state_dict(loaded["sched"])
    _advance(fresh_optimizer, fresh, 4)

    assert fresh.get_last_lr() == scheduler.get_last_lr()
    _identical(fresh.state_dict(), scheduler.state_dict())
