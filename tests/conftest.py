"""Shared test helpers.

PyTorch (float64, CPU) is the oracle for gradients. Outside CI a missing torch skips the
oracle tests; with CI=true it fails them, so a broken install can never pass silently.
"""

from __future__ import annotations

import os
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=40, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


def require_torch() -> ModuleType:
    """Import torch for an oracle test: skip locally when missing, fail under CI=true."""
    try:
        import torch
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("torch is required for oracle tests in CI (pip install torch==2.13.0)")
        pytest.skip("torch not installed (make test installs torch==2.13.0)")
    torch.set_default_dtype(torch.float64)
    return torch


@pytest.fixture
def torch() -> ModuleType:
    return require_torch()
