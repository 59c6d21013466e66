"""solve_nu(backend="cuda"): both methods, tolerances, reports and the non-convergence error."""

import math

import numpy as np
import pytest
from cudasim_helpers import BETAS, ON_DEVICE, assert_agrees, batch, to_host

import mgce_ref
from mgce_ref import _blocks as Bk


def _device(h):
    from numba import cuda

    return cuda.to_device(h)


def _same_iterations(shape, got, want, blocks=False):
    """Thread per row runs the CPU's sums exactly; block per row sums in a tree, and the
    machine-precision stopping rule (a step no longer decreases x) may then come one step
    earlier or later. On a GPU, whose exp and log round differently, so may thread per row; and
    so may a row the CPU solves in a block of rows (``blocks``: ``_blocks``, whose sums and
    start differ in the last bits)."""
    slack = 0 if shape == "thread_per_row" and not ON_DEVICE and not blocks else 1
    assert np.abs(got - want).max() <= slack, f"iterations {got}, CPU {want}"


@pytest.mark.parametrize("beta", BETAS)
def test_newton_agrees_with_numba_with_the_same_iterations(shape, beta):
    h, _ = batch(shape, np.float64)
    nu, info = mgce_ref.solve_nu(h, beta, backend="cuda", full_output=True)
    want, want_info = mgce_ref.solve_nu(h, beta, full_output=True)
    assert_agrees(nu, want, f"{shape} beta={beta} nu")
    assert info.converged.all()
    blocks = Bk.takes_blocks(h.shape[1], beta, 0, 0.0)
    _same_iterations(shape, info.iterations, want_info.iterations, blocks)


@pytest.mark.parametrize("beta", [1.0, 1.4, math.inf])
def test_bisection_to_machine_precision_agrees(beta):
    # Thread per row, every row; machine-precision bisection costs ~100 residuals a row, so the
    # block-per-row shape (slow on the simulator) gets its own, smaller test below.
    h, _ = batch("thread_per_row", np.float64)
    nu, info = mgce_ref.solve_nu(h, beta, method="bisect", backend="cuda", full_output=True)
    want, want_info = mgce_ref.solve_nu(h, beta, method="bisect", full_output=True)
    assert_agrees(nu, want, f"bisect beta={beta} nu")
    _same_iterations("thread_per_row", info.iterations, want_info.iterations)


def test_bisection_block_per_row_on_two_rows():
    h, _ = batch("block_per_row", np.float64)
    rows = h[2:4]  # the dominant class and the 1e6 offset
    nu, info = mgce_ref.solve_nu(rows, 11.0, method="bisect", backend="cuda", full_output=True)
    want, want_info = mgce_ref.solve_nu(rows, 11.0, method="bisect", full_output=True)
    assert_agrees(nu, want, "block bisect nu")
    _same_iterations("block_per_row", info.iterations, want_info.iterations)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mrcpy_tolerance_stops_where_the_cpu_stops(shape, dtype):
    h, _ = batch(shape, dtype)
    nu, info = mgce_ref.solve_nu(h, 1.4, method="bisect", tol=1e-4, backend="cuda",
                                 full_output=True)
    want, want_info = mgce_ref.solve_nu(h, 1.4, method="bisect", tol=1e-4, full_output=True)
    assert_agrees(nu, want, f"{shape} tol=1e-4 nu")
    np.testing.assert_array_equal(info.iterations, want_info.iterations)  # a fixed halving count


def test_device_input_gives_device_results_in_its_dtype(shape):
    h, _ = batch(shape, np.float32)
    nu, info = mgce_ref.solve_nu(_device(h), 2.0, backend="cuda", full_output=True)
    assert hasattr(nu, "copy_to_host") and hasattr(info.iterations, "copy_to_host")
    assert_agrees(nu, mgce_ref.solve_nu(h, 2.0), f"{shape} device nu")
    assert to_host(info.converged).dtype == np.bool_ and to_host(info.converged).all()


def test_one_row_gives_scalars():
    h, _ = batch("block_per_row", np.float64)
    nu, info = mgce_ref.solve_nu(_device(h[0]), 1.4, backend="cuda", full_output=True)
    want, want_info = mgce_ref.solve_nu(h[0], 1.4, full_output=True)
    assert np.ndim(nu) == 0 and np.ndim(info.iterations) == 0 and bool(info.converged)
    assert_agrees(nu, want, "1-D nu")
    _same_iterations("block_per_row", info.iterations, want_info.iterations)


@pytest.mark.parametrize("where", ["host", "device"])
def test_no_convergence_raises_as_the_cpu_does(shape, where):
    h, _ = batch(shape, np.float64)
    with pytest.raises(RuntimeError) as cpu:
        mgce_ref.solve_nu(h, 1.4, method="bisect", max_iter=3)
    logits = h if where == "host" else _device(h)
    with pytest.raises(RuntimeError, match=r"row\(s\) did not converge within max_iter=3") as gpu:
        mgce_ref.solve_nu(logits, 1.4, method="bisect", max_iter=3, backend="cuda")
    assert str(gpu.value) == str(cpu.value)
    _, info = mgce_ref.solve_nu(logits, 1.4, method="bisect", max_iter=3, backend="cuda",
                                full_output=True)
    _, want = mgce_ref.solve_nu(h, 1.4, method="bisect", max_iter=3, full_output=True)
    np.testing.assert_array_equal(to_host(info.converged), want.converged)
    np.testing.assert_array_equal(to_host(info.iterations), want.iterations)
    assert not want.converged.all()
