"""Shared, seeded fixtures for the core tests."""

import math

import numpy as np
import pytest

CPU_BACKENDS = ("numba", "numpy", "exact")
BETAS = (1.0, 1.0 + 1e-6, 1.02, 1.4, 2.0, 11.0, 1e4, 1e6, math.inf)


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20260423)


def ulps(got, want, scale=None):
    """|got - want| in units of the float64 spacing at ``scale`` (default: |want|)."""
    ref = np.abs(want) if scale is None else scale
    return np.abs(np.asarray(got, np.float64) - want) / np.spacing(np.maximum(ref, np.finfo(float).tiny))
