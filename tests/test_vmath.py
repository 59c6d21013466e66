"""The branch-free exp, log and log1p of ``mgce_ref._vmath`` against mpmath, over their whole
domain: normal and subnormal results, the overflow and underflow thresholds, +-0, tiny and
huge arguments, infinities and NaN. Each must be within 1 ulp of the exact value (an ulp of
the smallest subnormal for subnormal results), and its loop must compile to SIMD code."""

import math

import mpmath
import numpy as np
import pytest
from numba import njit

from mgce_ref import _vmath as M

mpmath.mp.dps = 40
TINY = np.finfo(np.float64).tiny
SUB = 5e-324


@njit(error_model="numpy")
def _exp(x, out):
    for i in range(x.shape[0]):
        out[i] = M.vexp(x[i])


@njit(error_model="numpy")
def _log(x, out):
    for i in range(x.shape[0]):
        out[i] = M.vlog(x[i])


@njit(error_model="numpy")
def _log1p(x, out):
    for i in range(x.shape[0]):
        out[i] = M.vlog1p(x[i])


FUNCS = {"exp": (_exp, mpmath.exp), "log": (_log, mpmath.log), "log1p": (_log1p, mpmath.log1p)}


def run(name, xs):
    xs = np.asarray(xs, dtype=np.float64)
    out = np.empty_like(xs)
    FUNCS[name][0](xs, out)
    return out


def ulp_errors(name, xs):
    """The error of each result in ulps of the exact value (rounded to float64)."""
    got = run(name, xs)
    errs = []
    for x, g in zip(xs, got):
        exact = FUNCS[name][1](mpmath.mpf(float(x)))
        e = float(exact)
        if math.isinf(e):
            assert g == e, (name, x, g, e)
            errs.append(0.0)
            continue
        unit = math.ulp(e) if abs(e) >= TINY else SUB
        errs.append(float(abs(mpmath.mpf(float(g)) - exact) / unit))
    return np.array(errs)


def _rng():
    return np.random.default_rng(20261203)


def test_exp_within_one_ulp_over_its_domain():
    rng = _rng()
    xs = np.concatenate([
        rng.uniform(-745.13, 709.78, 4000),
        rng.uniform(-1.0, 1.0, 1000),
        rng.uniform(-745.13, -708.4, 1000),  # subnormal results
        rng.uniform(709.0, 709.782, 200),  # near overflow
        np.ldexp(rng.uniform(-1, 1, 300), rng.integers(-1074, -1, 300)),  # tiny arguments
        [0.0, -0.0, SUB, -SUB, 709.782712893384, -708.3964185322641, -745.1332191019411,
         -745.1332191019412, 1e-300, -1e-300, 0.34657359027997264, -0.34657359027997264],
    ])
    assert ulp_errors("exp", xs).max() <= 1.0


def test_exp_limits_and_special_values():
    got = run("exp", [710.0, 1e308, math.inf, -746.0, -1e308, -math.inf, 0.0, -0.0, math.nan])
    assert got[0] == got[1] == got[2] == math.inf
    assert got[3] == got[4] == got[5] == 0.0
    assert got[6] == got[7] == 1.0
    assert math.isnan(got[8])
    assert run("exp", [-745.1332191019411])[0] == SUB  # the smallest subnormal


def test_log_within_one_ulp_over_its_domain():
    rng = _rng()
    xs = np.concatenate([
        np.exp(rng.uniform(-744.0, 709.0, 4000)),
        rng.uniform(0.5, 2.0, 1000),  # near 1, where log is small
        1.0 + np.ldexp(rng.uniform(-1, 1, 300), rng.integers(-52, -1, 300)),
        np.ldexp(rng.uniform(0.5, 1, 300), rng.integers(-1074, -1022, 300)),  # subnormal x
        [SUB, TINY, np.nextafter(TINY, 0), 1.0, np.nextafter(1.0, 2), np.nextafter(1.0, 0),
         np.finfo(np.float64).max, math.sqrt(0.5), math.sqrt(2.0), 2.0, 0.5],
    ])
    assert ulp_errors("log", xs).max() <= 1.0


def test_log_special_values():
    got = run("log", [0.0, -0.0, -1.0, -SUB, -math.inf, math.inf, math.nan, 1.0])
    assert got[0] == got[1] == -math.inf
    assert all(math.isnan(g) for g in got[2:5])
    assert got[5] == math.inf and math.isnan(got[6]) and got[7] == 0.0


def test_log1p_within_one_ulp_over_its_domain():
    rng = _rng()
    xs = np.concatenate([
        -np.exp(rng.uniform(-744.0, -1e-3, 2000)),  # (-1, 0): where the kernels use it
        np.exp(rng.uniform(-744.0, 709.0, 2000)),
        rng.uniform(-1.0, 1.0, 1000),
        -1.0 + np.ldexp(rng.uniform(0.5, 1, 200), rng.integers(-53, -1, 200)),  # near -1
        np.ldexp(rng.uniform(-1, 1, 300), rng.integers(-1074, -20, 300)),  # tiny r
        [SUB, -SUB, 1e-17, -1e-17, 2.0**-53, -(2.0**-54), -0.5, 0.5, -1.0 + 2.0**-53,
         np.finfo(np.float64).max],
    ])
    assert ulp_errors("log1p", xs).max() <= 1.0


def test_log1p_special_values():
    got = run("log1p", [-1.0, -1.5, -math.inf, math.inf, math.nan, 0.0, -0.0])
    assert got[0] == -math.inf
    assert math.isnan(got[1]) and math.isnan(got[2])
    assert got[3] == math.inf and math.isnan(got[4])
    assert got[5] == 0.0 and got[6] == 0.0


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_loops_compile_to_simd(name):
    fn = FUNCS[name][0]
    run(name, [1.0])
    asm = fn.inspect_asm(fn.signatures[0])
    assert "ymm" in asm or "zmm" in asm, f"{name}: the loop was not vectorized"


@njit(error_model="numpy")
def _expf(x, out):
    for i in range(x.shape[0]):
        out[i] = M.vexpf(x[i])


def run_expf(xs):
    xs = np.asarray(xs, dtype=np.float32)
    out = np.empty_like(xs)
    _expf(xs, out)
    return out


def test_expf_within_three_float32_ulps_over_its_domain():
    """``vexpf`` (float32 lanes, for Newton's start of float32 results) stays within 3 float32
    ulps of the exact value from -87 to 88, its relative error under 2**-21."""
    rng = np.random.default_rng(3)
    xs = np.concatenate([rng.uniform(-87.0, 88.0, 3000), np.linspace(-1.0, 1.0, 2001),
                         [-87.0, -86.99, -0.3465736, 0.3465736, 88.0, 1e-30, -1e-30]])
    xs = xs.astype(np.float32)
    got = run_expf(xs)
    assert got.dtype == np.float32
    worst = 0.0
    for x, g in zip(xs, got):
        exact = mpmath.exp(mpmath.mpf(float(x)))
        err = abs(mpmath.mpf(float(g)) - exact)
        worst = max(worst, float(err / float(np.spacing(np.float32(float(exact))))))
        assert err <= exact * 2.0**-21, (x, g)
    assert worst <= 3.0


def test_expf_limits_and_special_values():
    got = run_expf([-87.01, -100.0, -1e30, -math.inf, 0.0, -0.0, math.nan])
    assert np.all(got[:4] == 0.0)
    assert got[4] == 1.0 and got[5] == 1.0 and math.isnan(got[6])


def test_expf_loop_compiles_to_simd():
    run_expf([1.0])
    asm = _expf.inspect_asm(_expf.signatures[0])
    assert "ymm" in asm or "zmm" in asm, "the loop was not vectorized"


@njit(cache=True)
def _moments_both_ways(e, v, vmax, n, end):
    L = M.LANES
    got = np.zeros(7 * L)
    M.lane_moments(got, e, v, vmax, n, end)
    M.lane_moments_high(got[3 * L:], e, v, vmax, n, end)
    w = np.zeros((7, end))
    for c in range(end):
        ec = np.float64(e[c]) if c < n else 0.0
        z = v[c] - vmax if c < n else 0.0
        w[0, c] = ec
        for k in range(1, 7):
            w[k, c] = w[k - 1, c] * z
    want = np.zeros(7 * L)
    for k in range(7):
        acc = np.zeros(L)
        M.lane_sum(acc, w[k], 0, end)
        want[k * L:(k + 1) * L] = acc
    return got, want


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_lane_moments_are_the_lane_sums_bit_for_bit(dt):
    """One loop, sums in registers: the same lanes as lane_sum over e, e z, (e z) z, and on
    to e z**6 (lane_moments_high), with whatever lies past n (NaN, inf) taken as 0."""
    rng = np.random.default_rng(2)
    L = M.LANES
    for n in (1, 7, 8, 9, 100, 1000):
        end = -(-n // L) * L
        v = np.full(end + L, np.nan)
        v[:n] = 3.0 * rng.standard_normal(n)
        e = np.full(end + L, np.inf, dt)
        e[:n] = np.exp(v[:n] - v[:n].max()).astype(dt)
        got, want = _moments_both_ways(e, v, v[:n].max(), n, end)
        np.testing.assert_array_equal(got, want)
        assert np.all(np.isfinite(got)) and got[0] > 0.0


@njit(cache=True)
def _totals_both_ways(a, end, with_lo, with_min):
    L = M.LANES
    got = np.zeros(5 * L)
    want = np.zeros(5 * L)
    got[4 * L:] = np.inf
    want[4 * L:] = np.inf
    if with_lo and with_min:
        M.lane_totals_lo(got, a[0], a[1], a[2], a[3], a[4], L, end)
    elif with_lo:
        M.lane_totals_lo_nomin(got, a[0], a[1], a[2], a[3], a[4], L, end)
    elif with_min:
        M.lane_totals(got, a[0], a[1], a[2], a[3], a[4], L, end)
    else:
        M.lane_totals_nomin(got, a[0], a[1], a[2], a[3], a[4], L, end)
    M.lane_twosum(want, a[0], L, end)
    M.lane_sum(want[2 * L:], a[2], L, end)
    M.lane_sum(want[3 * L:], a[3], L, end)
    if with_min:
        M.lane_min(want[4 * L:], a[4], L, end)
    lo = np.zeros(L)
    if with_lo:
        M.lane_sum(lo, a[1], L, end)
    return got, want, lo


@pytest.mark.parametrize("with_lo", [False, True])
@pytest.mark.parametrize("with_min", [False, True])
def test_lane_totals_are_the_separate_lane_loops(with_lo, with_min):
    """One loop, five groups of lanes in registers: the compensated sum, the two plain sums
    and the minimum bit for bit as lane_twosum, lane_sum and lane_min leave them; with the
    low parts, the compensation lanes hold the same total (added as the loop goes)."""
    rng = np.random.default_rng(5)
    L = M.LANES
    for n in (0, 8, 104, 1000):
        a = rng.standard_normal((5, n + 2 * L))
        a[1] *= 1e-17
        got, want, lo = _totals_both_ways(a, n + L, with_lo, with_min)
        np.testing.assert_array_equal(got[:L], want[:L])
        np.testing.assert_array_equal(got[2 * L:], want[2 * L:])
        np.testing.assert_allclose(got[L:2 * L], want[L:2 * L] + lo, rtol=0, atol=1e-28)
