"""Double-double refinement (mgce_ref/_refine.py) against 60-digit mpmath and the 50-digit solve.

The trap: for 1 < beta < 2, ``q_c ∝ s_c**(beta - 1)`` has ``dq_c/dx ∝ s_c**(beta - 2)``, so a
class at the edge of the support (``s_c -> 0+``) turns the last-bit error of the float64 root into
``|dq| ~ 1e-10``. With ``x + x_lo`` exact to ~1e-31 and ``s_c`` formed from it without
cancellation, ``|dq| <= 1e-15`` again.
"""

import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from cases import adversarial_rows
from numba import njit

import mgce_ref
from mgce_ref import _kernels as K
from mgce_ref import _refine as R
from mgce_ref.config import REFINE_Q_TOL
from mgce_ref.exact import mp_reference

Q_TOL = REFINE_Q_TOL[np.dtype(np.float64)]

EDGE_BETAS = (1.0 + 1e-6, 1.02, 1.4, 1.9)
DPS = 60


@pytest.fixture(autouse=True)
def mp_digits():
    """Every mpmath number and operation in these tests at DPS digits (mp_dd sums included)."""
    with mpmath.workdps(DPS):
        yield


def mp_dd(hi, lo):
    return mpmath.mpf(float(hi)) + mpmath.mpf(float(lo))


# ----------------------------------------------------------------------------- building blocks


def test_constants_match_mpmath():
    with mpmath.workdps(80):
        ln2 = mpmath.mpf(R._LN2_A) + mpmath.mpf(R._LN2_B) + mpmath.mpf(R._LN2_C)
        assert abs(ln2 - mpmath.log(2)) < mpmath.mpf(2) ** -150
    assert Fraction(R._LN2_A).denominator <= 2**43  # 42 bits: k * _LN2_A is exact for |k| < 2**11
    for k, (hi, lo) in {3: (R._C2_HI, R._C2_LO), 4: (R._C3_HI, R._C3_LO),
                        5: (R._C4_HI, R._C4_LO), 6: (R._C5_HI, R._C5_LO)}.items():
        assert abs(Fraction(hi) + Fraction(lo) - Fraction(1, math.factorial(k))) < Fraction(1, 2**110)


def test_two_sum_and_two_prod_are_exact(rng):
    a = rng.standard_normal(500) * 10.0 ** rng.integers(-30, 30, 500)
    b = rng.standard_normal(500) * 10.0 ** rng.integers(-30, 30, 500)
    for x, y in zip(a, b, strict=True):
        s, e = R.two_sum(a=x, b=y)
        assert Fraction(s) + Fraction(e) == Fraction(x) + Fraction(y)
        p, f = R.two_prod(a=x, b=y)
        assert Fraction(p) + Fraction(f) == Fraction(x) * Fraction(y)
        assert p == x * y


@njit
def _many(kind, ah, al, beta, out_h, out_l):
    """A user's own @njit loop over the scalar kernels (they compose like any Numba function)."""
    for i in range(ah.shape[0]):
        if kind == 0:
            out_h[i], out_l[i] = R.dd_exp(ah[i], al[i])
        elif kind == 1:
            out_h[i], out_l[i] = R.dd_expm1(ah[i], al[i])
        elif kind == 2:
            out_h[i], out_l[i] = R.dd_log1p_ratio(ah[i], al[i], beta)
        else:
            lh, ll = R.dd_log1p_ratio(ah[i], al[i], beta)
            yh, yl = R.dd_mul_d(lh, ll, beta)
            out_h[i], out_l[i] = R.dd_exp(yh, yl)


def run_many(kind, hi, lo, beta=1.0):
    out_h = np.empty_like(hi)
    out_l = np.empty_like(hi)
    _many(kind, hi, lo, beta, out_h, out_l)
    return out_h, out_l


def with_low_parts(rng, hi):
    """Random double-double arguments: ``hi`` plus up to half an ulp."""
    return hi, rng.uniform(-0.5, 0.5, hi.shape) * np.spacing(np.abs(hi))


def worst_rel_error(got_h, got_l, want):
    return max(float(abs(mp_dd(h, lo) - w) / abs(w)) for h, lo, w in zip(got_h, got_l, want, strict=True))


def test_dd_exp_and_expm1_to_1e31(rng):
    yh, yl = with_low_parts(rng, np.concatenate([rng.uniform(-60.0, 5.0, 1500),
                                                 -(10.0 ** rng.uniform(-30.0, 0.0, 300)),
                                                 10.0 ** rng.uniform(-30.0, 0.0, 300)]))
    y = [mp_dd(h, lo) for h, lo in zip(yh, yl, strict=True)]
    assert worst_rel_error(*run_many(0, yh, yl), [mpmath.exp(v) for v in y]) < 1e-31  # measured 2.5e-32
    assert worst_rel_error(*run_many(1, yh, yl), [mpmath.expm1(v) for v in y]) < 2e-31  # measured 7.4e-32


@pytest.mark.parametrize("beta", EDGE_BETAS, ids=str)
def test_log1p_ratio_and_p_to_1e30(beta, rng):
    """``log1p(t/beta)`` and ``p = exp(beta log1p(t/beta))`` for t in (-beta (1 - 1e-12), 0]."""
    s = np.concatenate([10.0 ** rng.uniform(-12.0, 0.0, 700), 1.0 - 10.0 ** rng.uniform(-16.0, 0.0, 300)])
    th, tl = with_low_parts(rng, np.minimum(-beta * (1.0 - s), -1e-300))
    logs = [mpmath.log1p(mp_dd(h, lo) / beta) for h, lo in zip(th, tl, strict=True)]
    assert worst_rel_error(*run_many(2, th, tl, beta), logs) < 2e-31  # measured 6.6e-32
    # p carries the double-double rounding of y = beta log s (|y| <= 53 here): ~2**-106 |y|.
    ph, pl = run_many(3, th, tl, beta)
    rel = [float(abs(mp_dd(h, lo) / mpmath.exp(beta * g) - 1)) / (1.0 - beta * float(g))
           for h, lo, g in zip(ph, pl, logs, strict=True)]
    assert max(rel) < 1e-31  # measured 1.8e-32 (9.5e-31 relative in p at |y| = 52)


# ----------------------------------------------------------------------------- end to end


def shifted_root(row, beta):
    buf = np.empty(row.shape[0])
    n, vmax, vmin = K.collect(row, beta, buf, np.empty(row.shape[0], np.int64))
    m = 0  # collect leaves the first maximum in buf[0]
    x, _, ok = K.newton(buf, n, m, vmax, vmin, K.base(row.shape[0], beta), beta, 0.0, 0.0, 100)
    assert ok
    return buf, n, m, vmax, x


def rows_with_edge_class(beta, s_edge, seed, B=6, C=8):
    """Seeded rows whose last class sits at ``s ~ s_edge``: ``h_C = beta (s - 1) - nu``,
    iterated because moving ``h_C`` moves ``nu`` (by ``-q_C`` per unit, so it contracts)."""
    h = np.random.default_rng(seed).standard_normal((B, C))
    for r in range(B):
        h[r, -1] = h[r].min() - 10.0
        for _ in range(40):
            _, _, _, vmax, x = shifted_root(h[r], beta)
            new = beta * (s_edge - 1.0) - (x - vmax)
            if new == h[r, -1]:
                break
            h[r, -1] = new
    return h


def refined_outputs(h, beta):
    """(nu, p, q, s of the last class, passes) from ``refine`` and the double-double terms."""
    B, C = h.shape
    nu = np.empty(B)
    p = np.empty((B, C))
    q = np.empty((B, C))
    s_last = np.empty(B)
    passes = np.empty(B, np.int64)
    for r in range(B):
        buf, n, m, vmax, x = shifted_root(h[r], beta)
        x_lo, passes[r], ok = R.refine_info(v=buf, n=n, m=m, vmax=vmax, x=x, beta=beta)
        assert ok
        assert x_lo == R.refine(v=buf, n=n, m=m, vmax=vmax, x=x, beta=beta)
        nu[r] = R.nu_dd(x=x, x_lo=x_lo, vmax=vmax)
        w = np.array([R.q_term_dd(v=h[r, c], vmax=vmax, x=x, x_lo=x_lo, beta=beta) for c in range(C)])
        q[r] = w / math.fsum(w)
        p[r] = [R.p_term_dd(v=h[r, c], vmax=vmax, x=x, x_lo=x_lo, beta=beta) for c in range(C)]
        s_last[r] = R.s_dd(v=h[r, -1], vmax=vmax, x=x, x_lo=x_lo, beta=beta)
    return nu, p, q, s_last, passes


@pytest.mark.parametrize("s_edge", (1e-3, 1e-6, 1e-9, 1e-12), ids=str)
@pytest.mark.parametrize("beta", EDGE_BETAS, ids=str)
def test_refined_worst_case_to_1e15_at_the_edge(beta, s_edge):
    h = rows_with_edge_class(beta=beta, s_edge=s_edge, seed=int(-math.log10(s_edge)))
    ref = mp_reference(h, None, beta)
    nu, p, q, s_last, passes = refined_outputs(h, beta)
    assert np.all(np.abs(s_last / s_edge - 1.0) < 1e-3)  # the construction did put it there
    err_q = np.abs(q - ref["worst_case"])
    assert err_q.max() <= 1e-15, f"{int((err_q > 1e-15).sum())} out of {q.size} bad, worst {err_q.max():.1e}"
    assert passes.max() <= 2
    # nu and p: no worse than the float64 root gives (numba backend), element by element.
    nu0 = mgce_ref.solve_nu(h, beta, backend="numba")
    p0 = mgce_ref.link(h, beta, backend="numba")
    assert np.all(np.abs(nu - ref["nu"]) <= np.abs(nu0 - ref["nu"]))
    assert np.all(np.abs(p - ref["link"]) <= np.abs(p0 - ref["link"]))


@pytest.mark.parametrize("case", ["ties", "constant", "single_class", "two_classes", "offset_1e6",
                                  "spread_1e300", "huge_logits", "tiny_spread", "near_tie"])
def test_refine_on_adversarial_rows(case):
    h = dict(adversarial_rows())[case]
    beta = 1.4
    ref = mp_reference(h, None, beta)
    nu, p, q, _, passes = refined_outputs(h, beta)
    assert np.abs(q - ref["worst_case"]).max() <= 1e-15
    assert np.abs(p - ref["link"]).max() <= 1e-15
    assert np.all(nu == ref["nu"])  # rounded once from ~1e-31: the correctly rounded nu
    assert passes.max() <= 2


def mp_shifted_root(row, beta, x0):
    """The shifted root of eq. 13 in 60 digits: Newton on ``f`` from the float64 root ``x0``
    (f is convex and x0 is within ~1e-16; checked by the residual)."""
    b = mpmath.mpf(beta)
    z = [mpmath.mpf(float(v)) - mpmath.mpf(float(row.max())) for v in row]
    x = mpmath.mpf(x0)
    for _ in range(20):
        s = [1 + (zc + x) / b for zc in z]
        f = mpmath.fsum(sc**b for sc in s if sc > 0) - 1
        x -= f / mpmath.fsum(sc ** (b - 1) for sc in s if sc > 0)
    assert abs(f) < mpmath.mpf(10) ** -(DPS - 5)
    return x


@pytest.mark.parametrize("s_edge", (1e-9, 1e-12), ids=str)
@pytest.mark.parametrize("beta", EDGE_BETAS, ids=str)
def test_refined_root_to_1e31(beta, s_edge):
    """``x + x_lo`` itself, not just q: exact to ~2**-104 even next to the edge."""
    for row in rows_with_edge_class(beta=beta, s_edge=s_edge, seed=5, B=3):
        buf, n, m, vmax, x = shifted_root(row, beta)
        x_lo = R.refine(v=buf, n=n, m=m, vmax=vmax, x=x, beta=beta)
        assert abs(mp_dd(x, x_lo) - mp_shifted_root(row, beta, x)) < 2e-31


def test_refine_from_a_root_a_few_ulps_off():
    h = rows_with_edge_class(beta=1.02, s_edge=1e-9, seed=9, B=1)[0]
    buf, n, m, vmax, x = shifted_root(h, 1.02)
    exact = []
    for k in (-4, -1, 0, 1, 4):
        x_k = x + k * math.ulp(x)
        x_lo, passes, ok = R.refine_info(v=buf, n=n, m=m, vmax=vmax, x=x_k, beta=1.02)
        assert ok and passes <= 3
        exact.append(mp_dd(x_k, x_lo))
    assert max(exact) - min(exact) < 1e-31


def test_refine_float32_row_matches_float64():
    h64 = rows_with_edge_class(beta=1.4, s_edge=1e-6, seed=3, B=1)[0]
    h32 = h64.astype(np.float32)
    b32 = np.empty(h32.shape[0], np.float32)
    n, vmax, vmin = K.collect(h32, 1.4, b32, np.empty(h32.shape[0], np.int64))
    m = 0  # collect leaves the first maximum in buf[0]
    x, _, _ = K.newton(b32, n, m, vmax, vmin, K.base(h32.shape[0], 1.4), 1.4, 0.0, 0.0, 100)
    b64, n64, m64, vmax64, x64 = shifted_root(h32.astype(np.float64), 1.4)
    assert abs(mp_dd(x, R.refine(v=b32, n=n, m=m, vmax=vmax, x=x, beta=1.4))
               - mp_dd(x64, R.refine(v=b64, n=n64, m=m64, vmax=vmax64, x=x64, beta=1.4))) < 1e-31


def test_refine_has_nothing_to_do_without_a_root():
    buf, n, m, vmax, x = shifted_root(np.array([0.5, -0.2, 0.1]), 1.4)
    assert R.refine(v=buf, n=n, m=m, vmax=vmax, x=x, beta=math.inf) == 0.0
    assert R.refine(v=buf, n=n, m=m, vmax=vmax, x=math.nan, beta=1.4) == 0.0
    x_lo, _, ok = R.refine_info(v=buf, n=n, m=m, vmax=vmax, x=-5.0, beta=1.4)  # no class in support
    assert (x_lo, ok) == (0.0, False)


def test_refine_needed_flags_the_rows_that_need_it(rng):
    """No for beta outside (1, 2); yes at the edge; and where it says no, the float64 root
    already gives |dq| <= REFINE_Q_TOL (random rows, beta = 1.4 where the effect peaks)."""
    h = rng.standard_normal((30, 8))
    for beta in (1.0, 2.0, 11.0, math.inf):
        buf, n, m, vmax, x = shifted_root(h[0], min(beta, 1e300))
        assert not R.refine_needed(v=buf, n=n, vmax=vmax, x=x, beta=beta, q_tol=Q_TOL,
                                   w=np.empty(0), x_err=0.0)
    edge = rows_with_edge_class(beta=1.4, s_edge=1e-9, seed=4, B=2)
    for row in edge:
        buf, n, m, vmax, x = shifted_root(row, 1.4)
        assert R.refine_needed(v=buf, n=n, vmax=vmax, x=x, beta=1.4, q_tol=Q_TOL, w=np.empty(0),
                               x_err=0.0)
    q0 = mgce_ref.worst_case(h, 1.4, backend="numba")
    ref = mp_reference(h, None, 1.4)["worst_case"]
    needed = np.array([R.refine_needed(v=b, n=n, vmax=vm, x=x, beta=1.4, q_tol=Q_TOL,
                                       w=np.empty(0), x_err=0.0)
                       for b, n, _, vm, x in (shifted_root(row, 1.4) for row in h)])
    assert 0 < needed.sum() < len(h)
    assert np.abs(q0 - ref)[~needed].max() <= Q_TOL
