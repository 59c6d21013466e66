"""Hypothesis sweeps of the invariants in MATH.md over dtype, shape, scale and beta."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mgce_ref

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
betas = st.one_of(st.sampled_from([1.0, 1.0 + 1e-6, 1.02, 1.4, 2.0, 11.0, 1e6, math.inf]),
                  st.floats(1.0, 60.0))


@st.composite
def logits(draw, max_c=40):
    B = draw(st.integers(1, 4))
    C = draw(st.integers(1, max_c))
    scale = 10.0 ** draw(st.floats(-3, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    h = np.random.default_rng(seed).normal(0.0, scale, (B, C))
    if draw(st.booleans()):  # ties
        h = np.round(h / scale) * scale
    return h.astype(dtype)


@SETTINGS
@given(h=logits(), beta=betas)
def test_probabilities_are_distributions(h, beta):
    eps = np.finfo(h.dtype).eps
    C = h.shape[1]
    p = mgce_ref.link(h, beta)
    q = mgce_ref.worst_case(h, beta)
    for a in (p, q):
        assert a.dtype == h.dtype
        assert np.all(a >= 0) and np.all(a <= 1)
        np.testing.assert_allclose(a.sum(axis=1, dtype=np.float64), 1.0, rtol=0, atol=(C + 2) * eps)
    assert np.all((p > 0) <= (q > 0))  # same support (q > 0 exactly where s > 0)
    lo, hi = mgce_ref.interval(h, beta)
    nu = mgce_ref.solve_nu(h, beta)
    assert np.all(lo <= nu) and np.all(nu <= hi)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), C=st.integers(1, 30), shift=st.integers(-2**20, 2**20),
       beta=betas)
def test_shift_invariance_is_exact(seed, C, shift, beta):
    """On a 2**-20 grid, h + t is exact, so z = h - max h is identical and so is every output."""
    h = np.round(np.random.default_rng(seed).normal(0, 4, (3, C)) * 2**20) / 2**20
    y = np.arange(3) % C
    a = mgce_ref.loss_and_grad(h, y, beta)
    b = mgce_ref.loss_and_grad(h + shift, y, beta)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(mgce_ref.link(h, beta), mgce_ref.link(h + shift, beta))
    nu_a, nu_b = mgce_ref.solve_nu(h, beta), mgce_ref.solve_nu(h + shift, beta)
    assert np.all(np.abs((nu_a - shift) - nu_b) <= np.spacing(np.abs(nu_b) + abs(shift)))


@SETTINGS
@given(h=logits(max_c=25), beta=betas, seed=st.integers(0, 1000))
def test_permutation_equivariance(h, beta, seed):
    perm = np.random.default_rng(seed).permutation(h.shape[1])
    atol = 8 * np.finfo(h.dtype).eps
    for fn in (mgce_ref.link, mgce_ref.worst_case):
        np.testing.assert_allclose(fn(h[:, perm], beta), fn(h, beta)[:, perm], rtol=0, atol=atol)
    nu = mgce_ref.solve_nu(h, beta).astype(np.float64)
    scale = np.maximum(1.0, np.abs(h).max(axis=1)).astype(h.dtype)
    assert np.all(np.abs(mgce_ref.solve_nu(h[:, perm], beta) - nu) <= 4 * np.spacing(scale))


@SETTINGS
@given(h=logits(), beta=betas, seed=st.integers(0, 1000))
def test_composite_identity(h, beta, seed):
    """loss = l_beta(p, y) when p_y > 0; loss >= beta = l_beta(p, y) when p_y = 0 (Remark 1)."""
    h = h.astype(np.float64)
    y = np.random.default_rng(seed).integers(0, h.shape[1], h.shape[0])
    loss = mgce_ref.loss(h, y, beta)
    p = mgce_ref.link(h, beta)
    py = p[np.arange(len(y)), y]
    alpha = mgce_ref.alpha_loss(p, y, beta)
    pos = py > 1e-6
    np.testing.assert_allclose(loss[pos], alpha[pos], rtol=1e-12, atol=1e-13)
    # A p_y that is positive but underflows float64 (log p_y < -690: s_y**beta at beta = 1e6,
    # exp(-loss) at beta = inf) is exempt below: alpha_loss of the p_y = 0 it became is beta.
    with np.errstate(invalid="ignore", divide="ignore"):
        log_py = -loss if math.isinf(beta) else beta * np.log1p(-loss / beta)
    underflow = (loss < beta) & (log_py < -690)
    if math.isfinite(beta):
        # loss = beta (1 - s_y) identically, so p_y = 0 exactly when loss >= beta.
        zero = py == 0
        assert np.all((loss[zero] >= beta * (1 - 1e-15)) | underflow[zero])
    assert np.all(loss >= -1e-15) and np.all((alpha <= loss + 1e-12) | underflow)
    assert np.all(1 - py <= alpha + 1e-12)  # eqs. 18-19, lower end


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), C=st.integers(2, 12),
       beta=st.sampled_from([1.4, 2.0, 3.5, 11.0, 1e3, math.inf]))
def test_grad_matches_central_differences(seed, C, beta):
    """Theorem 3: d loss / d h = q - e_y (no kink for beta > 1 away from the support edge)."""
    rng = np.random.default_rng(seed)
    h = rng.normal(0, 1.5, C)
    y = int(rng.integers(C))
    s = (h + mgce_ref.solve_nu(h, beta)) / beta + 1 if math.isfinite(beta) else np.ones(C)
    assume(np.all(np.abs(s) > 1e-2))  # central differences straddle no edge of the support
    step = 1e-6
    fd = np.empty(C)
    for c in range(C):
        e = np.zeros(C)
        e[c] = step
        fd[c] = (mgce_ref.loss(h + e, y, beta) - mgce_ref.loss(h - e, y, beta)) / (2 * step)
    np.testing.assert_allclose(mgce_ref.grad(h, y, beta), fd, rtol=0, atol=1e-7)


@SETTINGS
@given(h=logits(), beta=betas)
def test_numba_and_numpy_twins_agree(h, beta):
    C = h.shape[1]
    eps = float(np.finfo(h.dtype).eps)
    for fn in (mgce_ref.link,):
        np.testing.assert_allclose(fn(h, beta, backend="numba"), fn(h, beta, backend="numpy"),
                                   rtol=0, atol=4 * eps)
    a = mgce_ref.solve_nu(h, beta, backend="numba").astype(np.float64)
    b = mgce_ref.solve_nu(h, beta, backend="numpy").astype(np.float64)
    scale = np.maximum(1.0, np.abs(h).max(axis=1)).astype(h.dtype)
    assert np.all(np.abs(a - b) <= 8 * np.spacing(scale)), C


def test_user_njit_function_can_call_the_row_kernels():
    """The row kernels compose into a user's own @njit code (as numba-stats promises)."""
    from numba import njit

    from mgce_ref import _kernels as K

    @njit
    def my_nu(row, beta):
        buf = np.empty(row.shape[0])
        idx = np.empty(row.shape[0], np.int64)
        n, vmax, vmin = K.collect(row, beta, buf, idx)
        m = 0  # collect leaves the first maximum in buf[0]
        x, it, ok = K.newton(buf, n, m, vmax, vmin, K.base(row.shape[0], beta), beta, 0.0, 0.0, 100)
        return x - vmax

    h = np.array([0.3, -1.0, 2.0, 0.5])
    assert my_nu(h, 1.4) == pytest.approx(mgce_ref.solve_nu(h, 1.4), abs=4e-16)
