"""Editing ``Sequential``, ``ModuleList`` and ``ModuleDict`` as PyTorch does.

Each scenario builds the same container in both libraries, applies the same
edits one by one, and after every edit compares the children's names (the
renumbering after ``insert`` / ``del`` / ``pop`` is PyTorch's), their reprs,
the ``state_dict`` keys and what the edit returned. Errors are compared by
class. Also here: ``Embedding``'s ``padding_idx`` range check.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from conftest import import_torch

import plaingrad as pg


@pytest.fixture(scope="module")
def torch() -> ModuleType:
    return import_torch()


def _layers(lib: ModuleType) -> list:
    nn = lib.nn
    return [nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 4), nn.ReLU()]


def _describe(value: Any) -> Any:
    # What an edit left or returned, in terms both libraries share.
    if isinstance(value, (pg.nn.Module,)) or type(value).__module__.startswith("torch"):
        children = [(name, repr(m)) for name, m in value.named_children()]
        keys = list(value.state_dict().keys())
        return type(value).__name__, children, keys, repr(value)
    return value


def _check_attributes(container: Any) -> None:
    # Each child is reachable as an attribute under its name, and the name one
    # past the end (left by a deletion) is gone.
    for name, child in container.named_children():
        assert getattr(container, name) is child
    assert not hasattr(container, str(len(container)))


def _run(lib: ModuleType, make: Callable, edits: list) -> list:
    container = make(lib)
    seen = [_describe(container)]
    for edit in edits:
        result = edit(lib, container)
        seen.append((_describe(result), _describe(container)))
        if lib is pg:
            _check_attributes(container)
    return seen


def _named(lib: ModuleType) -> Any:
    nn = lib.nn
    return nn.Sequential(
        OrderedDict([("inp", nn.Linear(2, 3)), ("act", nn.Tanh()), ("out", nn.ReLU())])
    )


def _sig(lib: ModuleType) -> Any:
    return lib.nn.Sigmoid()


SCENARIOS = {
    "ModuleList insert": (
        lambda lib: lib.nn.ModuleList(_layers(lib)),
        [
            lambda lib, c: c.insert(0, _sig(lib)),
            lambda lib, c: c.insert(2, lib.nn.Linear(5, 5)),
            lambda lib, c: c.insert(len(c), lib.nn.Identity()),
            lambda lib, c: c.insert(1, c.pop(3)),
        ],
    ),
    "ModuleList insert past the end": (
        lambda lib: lib.nn.ModuleList(_layers(lib)[:2]),
        [lambda lib, c: c.insert(10, _sig(lib))],
    ),
    "ModuleList del and pop": (
        lambda lib: lib.nn.ModuleList(_layers(lib) + [_sig(lib), lib.nn.Linear(4, 1)]),
        [
            lambda lib, c: c.__delitem__(1),
            lambda lib, c: c.__delitem__(-1),
            lambda lib, c: c.pop(0),
            lambda lib, c: c.pop(-1),
            lambda lib, c: c.append(lib.nn.Linear(1, 2)),
            lambda lib, c: c.__setitem__(1, _sig(lib)),
        ],
    ),
    "ModuleList slices": (
        lambda lib: lib.nn.ModuleList(_layers(lib) + [_sig(lib), lib.nn.Linear(4, 1)]),
        [
            lambda lib, c: c.__delitem__(slice(None, None, 2)),
            lambda lib, c: c.pop(slice(0, 1)),
            lambda lib, c: c.extend(_layers(lib)),
            lambda lib, c: c.__delitem__(slice(1, 3)),
            lambda lib, c: c[1:],
        ],
    ),
    "ModuleList + and +=": (
        lambda lib: lib.nn.ModuleList(_layers(lib)[:2]),
        [
            lambda lib, c: c + [_sig(lib)],
            lambda lib, c: c + lib.nn.ModuleList([lib.nn.Linear(4, 4)]),
            lambda lib, c: c.__iadd__((_sig(lib), lib.nn.Linear(1, 1))),
            lambda lib, c: c.extend(iter([lib.nn.Identity()])),
        ],
    ),
    "Sequential insert": (
        lambda lib: lib.nn.Sequential(*_layers(lib)),
        [
            lambda lib, c: c.insert(1, _sig(lib)),
            lambda lib, c: c.insert(-1, lib.nn.Linear(4, 4)),
            lambda lib, c: c.insert(-len(c), lib.nn.Identity()),
            lambda lib, c: c.insert(len(c), lib.nn.Linear(1, 1)),
        ],
    ),
    "Sequential del, pop, extend": (
        lambda lib: lib.nn.Sequential(*_layers(lib)),
        [
            lambda lib, c: c.__delitem__(0),
            lambda lib, c: c.pop(-1),
            lambda lib, c: c.extend([_sig(lib), lib.nn.Linear(4, 1)]),
            lambda lib, c: c.pop(slice(1, 3)),
            lambda lib, c: c.append(lib.nn.Identity()),
            lambda lib, c: c.__delitem__(slice(None, None, -2)),
        ],
    ),
    "Sequential + and +=": (
        lambda lib: lib.nn.Sequential(*_layers(lib)[:2]),
        [
            lambda lib, c: c + lib.nn.Sequential(_sig(lib)),
            lambda lib, c: c.__iadd__(lib.nn.Sequential(lib.nn.Linear(3, 3))),
            lambda lib, c: c.extend(lib.nn.Sequential(_sig(lib))),
        ],
    ),
    "Sequential with names": (
        _named,
        [
            lambda lib, c: c.append(_sig(lib)),
            lambda lib, c: c.__iadd__(_named(lib)),
            lambda lib, c: c + _named(lib),
            lambda lib, c: c.insert(len(c), lib.nn.Identity()),
            lambda lib, c: c.__delitem__(1),  # renames all: 0, 1, ...
            lambda lib, c: c.insert(0, _sig(lib)),  # now numbered: works
        ],
    ),
    "Sequential with names, pop": (_named, [lambda lib, c: c.pop(0)]),
    "ModuleDict edits": (
        lambda lib: lib.nn.ModuleDict({"b": lib.nn.ReLU(), "a": lib.nn.Linear(2, 3)}),
        [
            lambda lib, c: c.pop("b"),
            lambda lib, c: c.update({"z": _sig(lib), "c": lib.nn.Tanh()}),
            lambda lib, c: c.update([("y", lib.nn.Linear(1, 1)), ("a", _sig(lib))]),
            lambda lib, c: c.__delitem__("z"),
            lambda lib, c: c.__setitem__("b", c.pop("c")),
            lambda lib, c: c.update(lib.nn.ModuleDict({"q": lib.nn.Identity()})),
            lambda lib, c: (list(c.keys()), [repr(m) for m in c.values()]),
            lambda lib, c: [(k, repr(m)) for k, m in c.items()],
            lambda lib, c: ("b" in c, "c" in c, len(c), list(c)),
            lambda lib, c: c.clear(),
            lambda lib, c: c.update({"new": lib.nn.Tanh()}),
        ],
    ),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_container_edits_match_torch(torch: ModuleType, scenario: str) -> None:
    make, edits = SCENARIOS[scenario]
    ours = _run(pg, make, edits)
    theirs = _run(torch, make, edits)
    assert len(ours) == len(theirs)
    for step, (mine, expected) in enumerate(zip(ours, theirs, strict=True)):
        assert str(mine).replace("plaingrad", "torch") == str(expected), (
            f"{scenario}: step {step} differs"
        )


def test_named_children_in_a_parent_after_edits(torch: ModuleType) -> None:
    # The names reach the parent's state_dict keys, which checkpoints use.
    def build(lib: ModuleType) -> list:
        nn = lib.nn
        parent = nn.Module()
        parent.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 3)])
        parent.blocks.insert(1, nn.Linear(2, 2))
        del parent.blocks[0]
        parent.seq = nn.Sequential(nn.Linear(1, 1)) + nn.Sequential(nn.Linear(1, 2))
        parent.seq.insert(0, nn.Linear(3, 1))
        parent.heads = nn.ModuleDict({"x": nn.Linear(2, 1), "y": nn.Linear(2, 4)})
        parent.heads.pop("x")
        return [(k, tuple(v.shape)) for k, v in parent.state_dict().items()]

    assert build(pg) == build(torch)
    assert build(pg)[0] == ("blocks.0.weight", (2, 2))


ERRORS = {
    "ModuleList.insert(-1)": lambda lib, c: c.insert(-1, lib.nn.Tanh()),
    "ModuleList.pop(out of range)": lambda lib, c: c.pop(4),
    "ModuleList del [-5]": lambda lib, c: c.__delitem__(-5),
    "ModuleList [4]": lambda lib, c: c[4],
    "ModuleList.extend(int)": lambda lib, c: c.extend(3),
    "ModuleList + int": lambda lib, c: c + 3,
    "Sequential.insert(non-module)": lambda lib, c: lib.nn.Sequential().insert(0, 3),
    "Sequential.insert(out of range)": lambda lib, c: lib.nn.Sequential(*c).insert(
        5, lib.nn.Tanh()
    ),
    "Sequential.insert(-5)": lambda lib, c: lib.nn.Sequential(*c).insert(
        -5, lib.nn.Tanh()
    ),
    "Sequential.insert(named)": lambda lib, c: _named(lib).insert(0, lib.nn.Tanh()),
    "Sequential.pop(out of range)": lambda lib, c: lib.nn.Sequential(*c).pop(-5),
    "Sequential + list": lambda lib, c: lib.nn.Sequential() + [lib.nn.Tanh()],
    "Sequential += list": lambda lib, c: lib.nn.Sequential().__iadd__([]),
    "ModuleDict.pop(missing)": lambda lib, c: lib.nn.ModuleDict().pop("a"),
    "ModuleDict del missing": lambda lib, c: lib.nn.ModuleDict().__delitem__("a"),
    "ModuleDict.update(int)": lambda lib, c: lib.nn.ModuleDict().update(3),
    "ModuleDict.update(short pair)": lambda lib, c: lib.nn.ModuleDict().update(
        [("a",)]
    ),
    "ModuleDict.update(non-pair)": lambda lib, c: lib.nn.ModuleDict().update([3]),
}


def _error_class(lib: ModuleType, edit: Callable) -> str:
    container = lib.nn.ModuleList(_layers(lib))
    try:
        edit(lib, container)
    except Exception as error:  # the class is what is compared
        return type(error).__name__
    return "no error"


@pytest.mark.parametrize("case", list(ERRORS))
def test_container_errors_match_torch(torch: ModuleType, case: str) -> None:
    assert _error_class(pg, ERRORS[case]) == _error_class(torch, ERRORS[case])


def test_failed_edits_leave_the_container_alone() -> None:
    layers = pg.nn.ModuleList(_layers(pg))
    before = list(layers.named_children())
    with pytest.raises(KeyError, match="negative index -2"):
        layers.insert(-2, pg.nn.Tanh())  # PyTorch raises too, half-way through
    named = _named(pg)
    named_before = list(named.named_children())
    with pytest.raises(KeyError):
        named.insert(1, pg.nn.Tanh())
    with pytest.raises(IndexError, match="Index out of range: 4"):
        pg.nn.Sequential(*_layers(pg)[:3]).insert(4, pg.nn.Tanh())
    with pytest.raises(IndexError, match="index 4 is out of range"):
        layers.pop(4)
    assert list(layers.named_children()) == before
    assert list(named.named_children()) == named_before


# ------------------------------------------------------ Embedding padding_idx


@pytest.mark.parametrize("padding_idx", [3, -4, 7])
def test_embedding_padding_idx_out_of_range(
    torch: ModuleType, padding_idx: int
) -> None:
    with pytest.raises(AssertionError) as theirs:
        torch.nn.Embedding(3, 2, padding_idx=padding_idx)
    with pytest.raises(AssertionError) as ours:
        pg.nn.Embedding(3, 2, padding_idx=padding_idx)
    assert str(theirs.value) == "Padding_idx must be within num_embeddings"
    assert str(ours.value).startswith(str(theirs.value))
    assert f"padding_idx={padding_idx}" in str(ours.value)
    with pytest.raises(AssertionError, match="Padding_idx must be within"):
        pg.nn.Embedding.from_pretrained(pg.ones(3, 2), padding_idx=padding_idx)


@pytest.mark.parametrize("padding_idx", [2, -3, -1, 0])
def test_embedding_padding_idx_in_range(torch: ModuleType, padding_idx: int) -> None:
    ours = pg.nn.Embedding(3, 2, padding_idx=padding_idx)
    theirs = torch.nn.Embedding(3, 2, padding_idx=padding_idx)
    assert ours.padding_idx == theirs.padding_idx
    assert not ours.weight.detach().numpy()[ours.padding_idx].any()
