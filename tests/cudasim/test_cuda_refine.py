"""q at the support's edge (double-double root on the GPU), the error-free product the kernels
were built with, and launches on a given CUDA stream."""

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from cudasim_helpers import BLOCK_MIN_C, assert_agrees, batch, to_host
from numba import cuda

from mgce_ref import _cuda_kernels, _dispatch, _refine, cuda_backend
from mgce_ref.config import OUTPUTS, REFINE_Q_TOL
from mgce_ref.exact import mp_reference

EDGE_BETAS = (1.02, 1.2, 1.5, 1.9)
EDGE_DEPTHS = (1e-6, 1e-9, 1e-12)


def edge_rows(beta, shape):
    """Rows ``[0, 0, a]`` whose third class has ``s = depth`` (1e-6, 1e-9, 1e-12 inside the
    support's edge): with two classes tied at the max, the root is about ``beta (2**(-1/beta)
    - 1)``, and the third class's ``p = depth**beta`` barely moves it. For the block-per-row
    shape, padded with classes far outside the support."""
    rows = []
    with mpmath.workdps(60):
        b = mpmath.mpf(beta)
        x = b * (mpmath.mpf(2) ** (-1 / b) - 1)
        for depth in EDGE_DEPTHS:
            rows.append([0.0, 0.0, float(b * (depth - 1) - x)])
    h = np.array(rows)
    if shape == "block_per_row":
        h = np.hstack([h, np.full((len(rows), BLOCK_MIN_C), -50.0)])
    return h


@pytest.mark.parametrize("beta", EDGE_BETAS)
def test_q_at_the_support_edge_within_1e_15_of_the_50_digit_solve(shape, beta):
    h = edge_rows(beta, shape)
    y = np.arange(3)
    ref = mp_reference(h, y, beta)
    s_third = 1.0 + (h[:, 2] + (ref["nu"] + 0.0)) / beta
    assert np.all((s_third > 0) & (s_third < 2e-6)), s_third  # the rows are what they claim
    q, g = (to_host(a) for a in _dispatch.run(h, y, beta, "cuda", ("worst_case", "grad")))
    assert np.abs(q - ref["worst_case"]).max() <= 1e-15, np.abs(q - ref["worst_case"]).max()
    assert np.abs(g - ref["grad"]).max() <= 1e-15, np.abs(g - ref["grad"]).max()
    # and the float64 root alone is not enough there (the rows take the refined path)
    assert any(_refine.refine_needed(row, row.size, row.max(), nu + row.max(), beta,
                                     REFINE_Q_TOL[np.dtype(np.float64)], np.empty(0), 0.0)
               for row, nu in zip(h, ref["nu"]))


def test_edge_rows_from_device_input_and_in_float32(shape):
    h = edge_rows(1.2, shape)
    y = np.arange(3)
    want = _dispatch.run(h, y, 1.2, "numba", OUTPUTS)
    got = _dispatch.run(cuda.to_device(h), cuda.to_device(y), 1.2, "cuda", OUTPUTS)
    for name, gv, w in zip(OUTPUTS, got, want):
        assert_agrees(gv, w, f"edge rows, device input, {name}", rtol=1e-15)
    h32 = h.astype(np.float32)
    want = _dispatch.run(h32, y, 1.2, "numba", OUTPUTS)
    got = _dispatch.run(h32, y, 1.2, "cuda", OUTPUTS)
    for name, gv, w in zip(OUTPUTS, got, want):
        assert_agrees(gv, w, f"edge rows, float32, {name}")


def _two_prod_kernel():
    @cuda.jit
    def kernel(a, b, out):
        i = cuda.grid(1)
        if i < a.shape[0]:
            p, e = _cuda_kernels.R.two_prod(a[i], b[i])
            out[i, 0] = p
            out[i, 1] = e

    return kernel


def test_the_kernels_error_free_product_is_exact():
    # On the simulator the kernels use Dekker's split (its cuda.fma rounds twice: fma(a, a,
    # -(a*a)) is 0 there for a = 1 + 2**-30), on a GPU cuda.fma: either way p + e == a * b.
    rng = np.random.default_rng(7)
    a = np.concatenate([[1.0 + 2.0**-30, 3.0, 0.1, -1e300, 1e-300],
                        rng.standard_normal(27) * 10.0 ** rng.integers(-200, 200, 27)])
    b = np.concatenate([[1.0 + 2.0**-30, 1.0 / 3.0, 0.7, 1e-8, 3e290], rng.standard_normal(27)])
    out = np.zeros((a.size, 2))
    _two_prod_kernel()[1, a.size](a, b, out)
    for i in range(a.size):
        assert out[i, 0] == a[i] * b[i]
        assert Fraction(out[i, 0]) + Fraction(out[i, 1]) == Fraction(a[i]) * Fraction(b[i]), i
    assert out[0, 1] == 2.0**-60


class _Launches:
    """``cuda_backend._kernels()`` with every launch's configuration recorded."""

    def __init__(self, real):
        self.real = real
        self.configs = []

    def _wrap(self, kernel):
        outer = self

        class Launch:
            def __getitem__(self, config):
                outer.configs.append(config)
                return kernel[config]

        return Launch()

    def block_kernels(self, tpb):
        return tuple(self._wrap(k) for k in self.real.block_kernels(tpb))

    def __getattr__(self, name):
        return self._wrap(getattr(self.real, name))


@pytest.mark.parametrize("where", ["host", "device"])
def test_a_given_stream_runs_every_kernel_and_gives_the_same_results(monkeypatch, shape, where):
    launches = _Launches(_cuda_kernels)
    monkeypatch.setattr(cuda_backend, "_kernels", lambda: launches)
    h, y = batch(shape, np.float64)
    stream = cuda.stream()
    args = (h, y) if where == "host" else (cuda.to_device(h, stream=stream),
                                          cuda.to_device(y, stream=stream))
    got = cuda_backend.run(*args, 1.4, OUTPUTS, stream=stream)
    nu, info = cuda_backend.run_solve(args[0], 1.4, "newton", 0.0, 100, True, stream=stream)
    assert launches.configs, "no kernel was launched"
    assert all(len(c) == 3 and c[2] is stream for c in launches.configs), launches.configs
    want = _dispatch.run(h, y, 1.4, "numba", OUTPUTS)
    for name, g, w in zip(OUTPUTS, got, want):
        assert_agrees(g, w, f"{shape} {where} stream {name}")
    assert_agrees(nu, want[0], f"{shape} {where} stream solve nu")
    assert to_host(info.converged).all()
    one = cuda_backend.run(args[0][1] if where == "device" else h[1], int(y[1]), 1.4,
                           ("loss",), stream=stream)[0]
    assert_agrees(one, want[3][1], "1-D loss on a stream")
