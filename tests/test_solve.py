"""The nu solve: methods, tolerances, iteration reports, the bracket (eqs. 12-13, 26)."""

import math

import numpy as np
import pytest
from cases import BETAS

import mgce_ref
from mgce_ref.config import MRCPY_TOL


def f_exact(h, nu, beta):
    """Eq. 13 residual of one row, with math.fsum (the test's own evaluation)."""
    if math.isinf(beta):
        return math.fsum(math.exp(v + nu) for v in h) - 1.0
    return math.fsum(max((v + nu) / beta + 1.0, 0.0) ** beta for v in h) - 1.0


@pytest.fixture
def rows(rng):
    return rng.normal(0.0, 3.0, size=(40, 12))


@pytest.mark.parametrize("beta", BETAS, ids=str)
def test_bracket_contains_the_root(rows, beta):
    lo, hi = mgce_ref.interval(rows, beta=beta)
    assert np.all(lo <= hi)
    nu = mgce_ref.solve_nu(rows, beta=beta, backend="exact")
    assert np.all((lo <= nu) & (nu <= hi))
    for r in range(5):
        assert f_exact(rows[r], lo[r], beta) <= 1e-15
        assert f_exact(rows[r], hi[r], beta) >= -1e-15


def test_constant_row_bracket_is_the_answer():
    h = np.full((2, 5), 3.25)
    for beta in (1.0, 1.4, 11.0, math.inf):
        lo, hi = mgce_ref.interval(h, beta=beta)
        np.testing.assert_array_equal(lo, hi)
        for method in ("newton", "bisect"):
            nu = mgce_ref.solve_nu(h, beta=beta, method=method)
            np.testing.assert_allclose(nu, lo, rtol=0, atol=4 * np.spacing(3.25))
        np.testing.assert_allclose(mgce_ref.link(h, beta=beta), 0.2, rtol=0, atol=1e-16)


@pytest.mark.parametrize("beta", BETAS, ids=str)
def test_methods_and_backends_agree_to_machine_precision(rows, beta):
    want = mgce_ref.solve_nu(rows, beta=beta, backend="exact")
    for backend in ("numba", "numpy"):
        for method in ("newton", "bisect"):
            got = mgce_ref.solve_nu(rows, beta=beta, method=method, backend=backend)
            err = np.abs(got - want) / np.spacing(np.maximum(1.0, np.abs(rows).max(axis=1)))
            assert err.max() <= 4, (backend, method, err.max())


@pytest.mark.parametrize("beta", (1.0, 1.02, 1.4, 2.0, 11.0, math.inf), ids=str)
def test_bisect_with_tol_stops_at_that_width(rows, beta, backend):
    """tol=1e-4 with method="bisect" is MRCpy's rule: the midpoint of an interval of width
    <= 1e-4 around the root, so |nu - exact| <= 5e-5."""
    if backend == "exact":
        pytest.skip("the exact backend always returns the exact root")
    nu, info = mgce_ref.solve_nu(rows, beta=beta, method="bisect", tol=MRCPY_TOL, backend=backend,
                                 full_output=True)
    exact = mgce_ref.solve_nu(rows, beta=beta, backend="exact")
    assert np.abs(nu - exact).max() <= MRCPY_TOL / 2
    assert np.all(info.converged)
    lo, hi = mgce_ref.interval(rows, beta=beta)
    assert np.all(info.iterations == np.ceil(np.log2((hi - lo) / MRCPY_TOL)))


def test_newton_converges_in_few_steps(rows, backend):
    if backend == "exact":
        pytest.skip("brentq reports its own counts")
    for beta in (1.0 + 1e-6, 1.02, 1.4, 2.0, 11.0, 1e6):
        _, info = mgce_ref.solve_nu(rows, beta=beta, backend=backend, full_output=True)
        assert np.all(info.converged) and info.iterations.max() <= 12, (beta, info.iterations.max())


def test_newton_with_tol_stops_early_but_within_tol(rows):
    nu, info = mgce_ref.solve_nu(rows, beta=1.4, tol=1e-3, full_output=True)
    _, full = mgce_ref.solve_nu(rows, beta=1.4, full_output=True)
    exact = mgce_ref.solve_nu(rows, beta=1.4, backend="exact")
    assert info.iterations.sum() < full.iterations.sum()
    assert np.abs(nu - exact).max() <= 1e-3


def test_too_few_iterations_is_reported_not_hidden(rows, backend):
    if backend == "exact":
        pytest.skip("brentq needs no more than its bracket")
    with pytest.raises(RuntimeError, match=r"row\(s\) did not converge within max_iter=2 \(first: row \d+\)"):
        mgce_ref.solve_nu(rows, beta=1.4, method="bisect", max_iter=2, backend=backend)
    nu, info = mgce_ref.solve_nu(rows, beta=1.4, method="bisect", max_iter=2, backend=backend,
                                 full_output=True)
    assert not info.converged.any() and np.all(info.iterations == 2) and np.all(np.isfinite(nu))


def test_one_class_has_nu_minus_h():
    h = np.array([[2.5], [-1e6]])
    for beta in (1.0, 1.4, math.inf):
        np.testing.assert_array_equal(mgce_ref.solve_nu(h, beta=beta), -h[:, 0])
        np.testing.assert_array_equal(mgce_ref.link(h, beta=beta), 1.0)
        np.testing.assert_array_equal(mgce_ref.grad(h, np.zeros(2, int), beta=beta), 0.0)


def test_closed_forms_at_the_ends(rows):
    """beta = 1: sparsemax by sorting; beta = inf: softmax and -logsumexp (MATH.md)."""
    zs = -np.sort(-rows, axis=1)
    k = np.arange(1, rows.shape[1] + 1)
    tau = ((np.cumsum(zs, axis=1) - 1.0) / k).max(axis=1)
    np.testing.assert_allclose(mgce_ref.solve_nu(rows, beta=1.0), -(1.0 + tau), rtol=0, atol=1e-14)
    np.testing.assert_allclose(mgce_ref.link(rows, beta=1.0), np.maximum(rows - tau[:, None], 0.0),
                               rtol=0, atol=1e-15)
    lse = np.log(np.exp(rows).sum(axis=1))
    np.testing.assert_allclose(mgce_ref.solve_nu(rows, beta=math.inf), -lse, rtol=1e-15)
    np.testing.assert_allclose(mgce_ref.link(rows, beta=math.inf), np.exp(rows - lse[:, None]),
                               rtol=1e-14)


@pytest.mark.parametrize("beta", (1.02, 1.4, 2.0, 11.0), ids=str)
def test_wide_rows_of_equal_logits_stay_within_ulps(backend, beta):
    """Thousands of exactly equal terms: a plain sum of f' drifts by ~C eps and made Newton's
    last step overshoot by up to 18 ulps (found by mgce-ref verify); f' is now compensated."""
    h = np.random.default_rng(0).integers(-2, 3, size=(6, 4096)).astype(float)
    got = mgce_ref.solve_nu(h, beta=beta, backend=backend)
    want = mgce_ref.solve_nu(h, beta=beta, backend="exact")
    assert (np.abs(got - want) / np.spacing(2.0)).max() <= 4


def test_exact_backend_is_not_held_to_newtons_iteration_limit():
    """A root of ~1e-160 (classes ~370 below the max, beta = 1e4) takes brentq 150 iterations:
    the exact backend used to stop at Newton's default 100 and raise on valid input."""
    h = np.array([-179.46323356, -98.57356165, 756.20047257, 387.07231651, -472.04779744])
    nu, info = mgce_ref.solve_nu(h, 1e4, backend="exact", full_output=True)
    assert info.converged and info.iterations > 100
    assert abs(nu - mgce_ref.solve_nu(h, 1e4)) <= 4 * np.spacing(np.abs(h).max())  # numba's
    q = mgce_ref.worst_case(h, 1e4, backend="exact")
    np.testing.assert_allclose(q, mgce_ref.worst_case(h, 1e4), rtol=0, atol=1e-15)
