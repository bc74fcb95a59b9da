"""Every spec of every ``specs_*.py`` file in this folder, names checked unique."""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from .harness import CustomSpec, ModuleSpec, OpSpec, Spec

HERE = Path(__file__).parent


def spec_files() -> list[str]:
    return sorted(p.stem for p in HERE.glob("specs_*.py"))


@cache
def all_specs() -> tuple[Spec, ...]:
    """The specs in file order; raises on a bad ``SPECS`` or a repeated name."""
    seen: dict[str, str] = {}
    specs: list[Spec] = []
    for stem in spec_files():
        module = importlib.import_module(f"{__package__}.{stem}")
        group = getattr(module, "SPECS", None)
        if not isinstance(group, list):
            raise TypeError(f"{stem}.py: `SPECS` must be a list of specs")
        for spec in group:
            if not isinstance(spec, (OpSpec, ModuleSpec, CustomSpec)):
                raise TypeError(f"{stem}.py: {spec!r} is not a spec")
            if spec.name in seen:
                raise ValueError(
                    f"spec name {spec.name!r} is in both {seen[spec.name]}.py "
                    f"and {stem}.py"
                )
            seen[spec.name] = stem
            specs.append(spec)
    return tuple(specs)


def spec_names() -> list[str]:
    return [s.name for s in all_specs()]


@cache
def groups() -> dict[str, str]:
    """Spec name -> its group (the file's name after ``specs_``)."""
    out = {}
    for stem in spec_files():
        module = importlib.import_module(f"{__package__}.{stem}")
        for spec in module.SPECS:
            out[spec.name] = stem.removeprefix("specs_")
    return out
