"""Shared test set-up: hypothesis profiles and access to real PyTorch.

Comparison tests get PyTorch through ``import_torch()``: without torch they
skip, unless ``PLAINGRAD_REQUIRE_TORCH=1`` (set by CI), where a missing torch is
a failure.
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=100, deadline=None)
# Local runs that search harder (the conformance suite reads the profile's name:
# see tests/conformance/harness.py).
settings.register_profile(
    "full",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def import_torch() -> ModuleType:
    """Real PyTorch, or skip the calling test module (fail when CI needs it)."""
    if os.environ.get("PLAINGRAD_REQUIRE_TORCH") == "1":
        import torch

        return torch
    return pytest.importorskip("torch")


@pytest.fixture
def one_thread():
    """PyTorch, with one BLAS thread for every library while a test runs:
    steady timings on a shared machine (the benchmark references' tests)."""
    torch = import_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield torch
    else:
        with threadpool_limits(1):
            yield torch
    torch.set_num_threads(threads)
