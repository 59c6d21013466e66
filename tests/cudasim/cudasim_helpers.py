"""Shared data and checks of the simulator tests (a module, not conftest, so tests can import it)."""

import math
import os

import numpy as np
import pytest

THREADS = 8  # a power of two below every C used here, so blocks hold several threads' columns
BLOCK_MIN_C = 16
MAX_BLOCKS = 2
BETAS = (1.0, 1.4, 11.0, math.inf)
#: The two kernel shapes: (B, C) of the test batch for each.
SHAPES = {"thread_per_row": (21, 5), "block_per_row": (5, 21)}
#: On a GPU (``MGCE_REF_CUDA_TESTS=device``) rather than the simulator: exp, log and fused
#: multiply-adds then round in their own way, so the CPU's last bits (and, where a stopping rule
#: looks at the last bit, its exact iteration count) are not expected.
ON_DEVICE = os.environ.get("MGCE_REF_CUDA_TESTS") == "device"


def batch(kind, dtype, seed=20260423):
    """Seeded (B, C) logits of one kernel shape, with the known traps in the first rows (ties
    for the max, a constant row, a dominant class, an offset of 1e6), and labels."""
    B, C = SHAPES[kind]
    rng = np.random.default_rng(seed)
    h = 3.0 * rng.standard_normal((B, C))
    h[0, :3] = h[0].max() + 1.0  # the max three times: the first one is the argmax
    h[1] = -2.5
    h[2, C // 2] += 40.0
    h[3] += 1e6
    labels = rng.integers(0, C, B)
    return h.astype(dtype), labels


def to_host(x):
    return x.copy_to_host() if hasattr(x, "copy_to_host") else np.asarray(x)


def assert_agrees(got, want, what, rtol=1e-12):
    """``got`` (NumPy or device) equals ``want`` in dtype and shape and to ``rtol`` relative to
    ``max(1, |want|)``; a failure names how many entries are off and the worst one."""
    got = to_host(got)
    want = np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, want {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    err = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want.astype(np.float64)))
    bad = ~(err <= rtol)
    if bad.any():
        i = np.unravel_index(np.argmax(np.where(np.isnan(err), np.inf, err)), err.shape)
        pytest.fail(f"{what}: {bad.sum()} of {err.size} entries off by more than {rtol:g}; "
                    f"worst at {i}: got {got[i]!r}, want {want[i]!r}")
