"""Shared, seeded fixtures for the core tests."""

import os

import numpy as np
import pytest

from cases import CPU_BACKENDS

# tests/cudasim needs NUMBA_ENABLE_CUDASIM=1 before numba is imported: test_cudasim_process.py
# runs it in its own interpreter.
collect_ignore = [] if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else ["cudasim"]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20260423)
