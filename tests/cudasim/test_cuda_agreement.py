"""Every output of backend="cuda" agrees with backend="numba" to 1e-12, on both kernel shapes.

The CUDA kernels call the CPU's row kernels, so the thread-per-row shape should match the CPU
to the last bit on the simulator; the block-per-row shape sums in a different order (a tree).
"""

import math

import numpy as np
import pytest
from cudasim_helpers import BETAS, ON_DEVICE, SHAPES, assert_agrees, batch, to_host
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mgce_ref
from mgce_ref import _blocks as Bk
from mgce_ref import _dispatch
from mgce_ref.config import OUTPUTS


@pytest.fixture(params=["host", "device"])
def where(request):
    return request.param


def _put(h, where):
    if where == "host":
        return h
    from numba import cuda

    return cuda.to_device(h)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("beta", BETAS)
def test_every_output_agrees_with_numba(shape, dtype, beta, where):
    h, y = batch(shape, dtype)
    want = _dispatch.run(h, y, beta, "numba", OUTPUTS)
    got = _dispatch.run(_put(h, where), y, beta, "cuda", OUTPUTS)
    for name, g, w in zip(OUTPUTS, got, want):
        if where == "device":
            assert hasattr(g, "copy_to_host"), f"{name}: device input should give a device array"
        else:
            assert isinstance(g, np.ndarray), f"{name}: host input should give a NumPy array"
        assert_agrees(g, w, f"{shape} {np.dtype(dtype)} beta={beta} {where} {name}")


def test_public_functions_route_to_the_kernels(shape):
    h, y = batch(shape, np.float64)
    beta = 1.4
    assert_agrees(mgce_ref.link(h, beta, backend="cuda"), mgce_ref.link(h, beta), "link")
    assert_agrees(mgce_ref.worst_case(h, beta, backend="cuda"), mgce_ref.worst_case(h, beta),
                  "worst_case")
    assert_agrees(mgce_ref.loss(h, y, beta, backend="cuda"), mgce_ref.loss(h, y, beta), "loss")
    assert_agrees(mgce_ref.grad(h, y, beta, backend="cuda"), mgce_ref.grad(h, y, beta), "grad")
    value, g = mgce_ref.loss_and_grad(h, y, beta, backend="cuda")
    want_value, want_g = mgce_ref.loss_and_grad(h, y, beta)
    assert_agrees(value, want_value, "loss_and_grad loss")
    assert_agrees(g, want_g, "loss_and_grad grad")


@pytest.mark.skipif(ON_DEVICE, reason="a GPU's exp, log and fmas round differently from the CPU's")
def test_thread_per_row_is_bitwise_the_cpu():
    # Same row kernels, same order of operations, the same iterates: no difference at all in
    # nu, p and the loss on the simulator. q (and grad) only agree where beta is not an
    # integer: the CPU moves the last evaluation's log s to the root of the relative stopping
    # rule by a series, the GPU takes q afresh there (at an integer beta both take it afresh,
    # by products); and for 1 < beta < 2 on the rows that both refine with a double-double
    # root (mgce_ref._refine), the CPU sums the normalizer over its candidates, max first.
    # float32 rows take plain products at integer beta where the stopping rule allows.
    # Where the CPU solves short rows in blocks (_blocks: integer beta, beta >= 4), or takes
    # beta = inf on whole rows (_kernels.softmax_row), SIMD paths the GPU does not take, the
    # two agree to 1e-12.
    for dtype, betas in ((np.float64, BETAS + (2.5, 5.0)), (np.float32, (2.5, 5.0, 11.0))):
        h, y = batch("thread_per_row", dtype)
        for beta in betas:
            got = _dispatch.run(h, y, beta, "cuda", OUTPUTS)
            want = _dispatch.run(h, y, beta, "numba", OUTPUTS)
            integer = 2.0 <= beta <= 32.0 and beta == math.floor(beta)  # SHORT_INT_BETA_MAX
            blocks = Bk.takes_blocks(h.shape[1], beta, 0, 0.0) or math.isinf(beta)
            for name, g, w in zip(OUTPUTS, got, want):
                what = f"{np.dtype(dtype)} beta={beta} {name}"
                if blocks:
                    assert_agrees(g, w, what, 1e-12)
                elif name in ("worst_case", "grad") and not integer:  # a few ulps, bar refined
                    assert_agrees(g, w, what, 1e-12 if 1.0 < beta < 2.0 else 1e-15)
                else:
                    np.testing.assert_array_equal(g, w, err_msg=what)


@pytest.mark.parametrize("where_1d", ["host", "device"])
def test_one_row_gives_scalars_and_vectors(shape, where_1d):
    h, y = batch(shape, np.float32)
    row, label = h[4], int(y[4])
    device_label = _put(np.asarray(label), where_1d)  # a 0-d device array on the device
    got = _dispatch.run(_put(row, where_1d), device_label, 11.0, "cuda", OUTPUTS)
    want = _dispatch.run(row, label, 11.0, "numba", OUTPUTS)
    for name, g, w in zip(OUTPUTS, got, want):
        if np.ndim(w) == 0:
            assert np.ndim(g) == 0 and not hasattr(g, "copy_to_host"), f"{name} should be a scalar"
            assert g.dtype == np.float32, f"{name}: dtype {g.dtype}"
        assert_agrees(g, w, f"1-D {where_1d} {name}")


def test_rows_sum_to_one_and_grad_to_zero(shape):
    h, y = batch(shape, np.float64)
    p, q, g = (to_host(a) for a in _dispatch.run(h, y, 2.0, "cuda", ("link", "worst_case", "grad")))
    B = SHAPES[shape][0]
    np.testing.assert_allclose(p.sum(axis=1), np.ones(B), rtol=0, atol=1e-14)
    np.testing.assert_allclose(q.sum(axis=1), np.ones(B), rtol=0, atol=1e-14)
    np.testing.assert_allclose(g.sum(axis=1), np.zeros(B), rtol=0, atol=1e-14)


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(B=st.integers(0, 12), C=st.integers(1, 40),
       scale=st.sampled_from([1e-9, 1.0, 30.0, 1e4]), offset=st.sampled_from([0.0, -1e5]),
       beta=st.sampled_from([1.0, 1.0 + 1e-6, 1.4, 2.0, 11.0, 1e6, math.inf]),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**32 - 1))
def test_random_batches_agree_with_numba(B, C, scale, offset, beta, dtype, seed):
    # C from 1 to 40 crosses the block-per-row threshold (16) with blocks of 8 threads.
    rng = np.random.default_rng(seed)
    h = (offset + scale * rng.standard_normal((B, C))).astype(dtype)
    y = rng.integers(0, C, B)
    got = _dispatch.run(h, y, beta, "cuda", OUTPUTS)
    want = _dispatch.run(h, y, beta, "numba", OUTPUTS)
    for name, g, w in zip(OUTPUTS, got, want):
        assert_agrees(g, w, f"B={B} C={C} beta={beta} {np.dtype(dtype)} {name}")
