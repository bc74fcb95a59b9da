"""One test per conformance spec (see harness.py): plaingrad against PyTorch.

Test ids are ``<group>:<name>``, so ``pytest tests/conformance -k elementwise``
runs one spec file's specs.
"""

from __future__ import annotations

import pytest
from conftest import import_torch

from .registry import all_specs, groups
from .runner import run_spec

torch = import_torch()


def _param(spec):
    marks = [pytest.mark.xfail(reason=spec.xfail, strict=True)] if spec.xfail else []
    return pytest.param(spec, id=f"{groups()[spec.name]}:{spec.name}", marks=marks)


@pytest.mark.parametrize("spec", [_param(s) for s in all_specs()])
def test_conformance(spec) -> None:
    run_spec(spec, torch)
