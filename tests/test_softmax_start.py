"""Newton's start at large beta (``_kernels.start_from_moments``): the softmax root expanded
in ``1/beta`` to the third order, and the first-order shortcut (``first_order_start``)."""

import numpy as np
import pytest

import mgce_ref
from mgce_ref import _kernels as K
from mgce_ref.config import LANES, NEWTON_RTOL


def start(h, beta, rtol=0.0):
    """The short rows' start for one row of logits, shifted (``x = nu + max``)."""
    v = np.asarray(h, np.float64)
    return K.softmax_start_short(v, v.shape[0], int(np.argmax(v)), float(v.max()), beta, rtol)


def root(h, beta):
    return float(mgce_ref.solve_nu(np.asarray(h, np.float64)[None, :], beta)[0] + np.max(h))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("C", [3, 10, 40])
def test_the_start_misses_the_root_by_beta_to_the_minus_4(seed, C):
    """The error of a k-th order expansion falls as ``beta**-(k + 1)``: from beta = 100 to 1000
    a third-order start gains 1e4 (a wrong third-order term would leave 1e3)."""
    h = np.random.default_rng(seed).normal(0.0, 1.5, C)
    err = [abs(start(h, b) - root(h, b)) for b in (100.0, 1000.0)]
    assert err[1] < 1e-9
    assert err[0] / err[1] > 4e3


@pytest.mark.parametrize("beta", [11.0, 100.0])
def test_the_third_order_start_is_closer_than_the_first(beta):
    rng = np.random.default_rng(7)
    closer = 0
    for _ in range(40):
        h = rng.normal(0.0, 3.0, 10)
        v = h.astype(np.float64)
        z = v - v.max()
        e = np.exp(z[z > -beta])
        u = z[z > -beta] - np.log(e.sum())
        first = -np.log(e.sum()) + (e * u * u).sum() / e.sum() / (2.0 * beta)
        r = root(h, beta)
        closer += abs(start(h, beta) - r) < abs(first - r)
    assert closer >= 36


def test_the_first_order_is_kept_where_it_is_close_enough():
    """At beta = 1e6 the first order suffices for float32 and float64 results, at 100 for
    neither, and with ``rtol = 0`` (a fixed tolerance) never."""
    h = np.random.default_rng(3).normal(0.0, 3.0, 10)
    v = h - h.max()
    e = np.exp(v)
    s = [float((e * v**k).sum()) for k in range(3)]
    r32, r64 = NEWTON_RTOL[np.dtype(np.float32)], NEWTON_RTOL[np.dtype(np.float64)]
    assert K.first_order_start(*s, 1e6, r32)[1] and K.first_order_start(*s, 1e6, r64)[1]
    assert not K.first_order_start(*s, 100.0, r32)[1]
    assert not K.first_order_start(*s, 100.0, r64)[1]
    assert not K.first_order_start(*s, 1e6, 0.0)[1]
    # where kept, it is the first-order start itself
    x, _, xs, _ = K.first_order_start(*s, 1e6, r32)
    assert xs == pytest.approx(-np.log(s[0]), rel=1e-15)
    assert start(h, 1e6, r32) == pytest.approx(x, rel=1e-14)


@pytest.mark.parametrize("beta", [8.0, 11.0, 100.0, 1e4])
@pytest.mark.parametrize("C", [12, 100, 1000])
def test_the_simd_start_agrees_with_the_short_rows(beta, C):
    """``softmax_start`` (lanes, ``_vmath.vexp``, two passes) and ``softmax_start_short``
    (glibc, in order) are the same expansion: equal to rounding; for float32 results the
    SIMD start's ``exp`` is ``_vmath.vexpf`` (float32 lanes, relative error < 2**-21), and
    the two agree to that."""
    rng = np.random.default_rng(C)
    h = rng.normal(0.0, 3.0, C)
    cand = np.sort(h[h - h.max() > -beta])[::-1]  # the candidates, as collect leaves them
    n = cand.shape[0]
    v = np.full(C + LANES, -np.inf)
    v[:n] = cand
    scr = K.wide_scratch(C)
    for rtol, keep in ((0.0, False), (0.0, True), (NEWTON_RTOL[np.dtype(np.float32)], False),
                       (NEWTON_RTOL[np.dtype(np.float32)], True)):
        wide = K.softmax_start(v, n, v[0], beta, rtol, scr, keep)[0]
        short = start(h, beta, rtol)
        bound = 1e-12 if rtol == 0.0 or keep else 2.0**-20
        assert abs(wide - short) <= bound * (1.0 + abs(short))
        if rtol == 0.0 or keep:  # exp(z) left for residual_series
            np.testing.assert_allclose(scr[6, :n], np.exp(v[:n] - v[0]), rtol=4.5e-16)


@pytest.mark.parametrize("beta", [2.0, 5.0, 11.0, 100.0])
@pytest.mark.parametrize("C", [12, 100, 1000])
def test_the_float32_start_agrees_with_the_short_rows(beta, C):
    """``start_single`` (float32 results below ``MOMENTS_AT_ONCE_BETA``: ``z``, ``exp`` and
    the moments all in float32 lanes) is the same expansion as ``softmax_start_short``, to
    float32's roundings: ``vexpf``'s 2**-21 and, per lane sum, ``2**-24`` for each of its
    ``n / 16`` terms and for the reduction across lanes; four times that bounds what reaches
    the start. Whatever the scratch rows hold (NaN here), the padding past ``n`` adds
    nothing."""
    rng = np.random.default_rng(C + int(beta))
    r32 = NEWTON_RTOL[np.dtype(np.float32)]
    assert beta < K.MOMENTS_AT_ONCE_BETA
    for h in (rng.normal(0.0, 3.0, C), rng.normal(0.0, 1.0, C), rng.normal(0.0, 30.0, C)):
        cand = np.sort(h[h - h.max() > -beta])[::-1]
        n = cand.shape[0]
        v = np.full(C + LANES, np.nan)
        v[:n] = cand
        scr = np.full_like(K.wide_scratch(C), np.nan)
        got = K.start_single(v, n, v[0], beta, r32, scr)[0]
        short = start(h, beta, r32)
        bound = 4.0 * (2.0**-21 + (n / K.SINGLE_LANES + 8) * 2.0**-24)
        assert abs(got - short) <= bound * (1.0 + abs(short))


def test_the_float32_start_is_finite_where_z_leaves_float32s_range():
    """A class whose ``z`` lies below float32's range (a spread beyond 3.4e38, possible with
    float32 logits of both signs) has ``exp(z) = 0``; its ``0 z**k`` must stay 0, not NaN:
    the start equals the one without that class."""
    h = np.random.default_rng(3).normal(0.0, 3.0, 40)
    h[0] = 3.0e38
    v = np.full(40 + LANES, np.nan)
    v[0] = h[0]
    v[1:40] = h[1:] + 3.0e38  # every other class within beta of the maximum ...
    v[39] = -3.0e38  # ... but this one: z = -6e38
    r32 = NEWTON_RTOL[np.dtype(np.float32)]
    scr = np.full_like(K.wide_scratch(40), np.nan)
    got = K.start_single(v, 40, v[0], 11.0, r32, scr)[0]
    want = K.start_single(v, 39, v[0], 11.0, r32, scr)[0]
    assert np.isfinite(got)
    assert got == want


def f_at(z, x, beta):
    """eq. 13's ``f`` at ``x`` over the shifted logits ``z``, in float64."""
    s = 1.0 + (z + x) / beta
    return np.sum(np.where(s > 0.0, np.abs(s) ** beta, 0.0)) - 1.0


def wide_starts(h, beta):
    """``(softmax start, g, spread_start's start)`` for one row of candidates, as the wide
    rows have them (the maximum first)."""
    cand = np.sort(h[h - h.max() > -beta])[::-1]
    n = cand.shape[0]
    v = np.full(h.shape[0] + LANES, np.nan)
    v[:n] = cand
    x, g = K.softmax_start(v, n, v[0], beta, 0.0, K.wide_scratch(h.shape[0]), False)
    return x, g, K.spread_start(x, g, v, n, v[0], beta)


@pytest.mark.parametrize("beta", [2.0, 3.0, 5.0, 11.0])
@pytest.mark.parametrize("C", [100, 1000])
def test_flat_rows_start_from_the_uniform_expansion(beta, C):
    """On rows whose logits lie close together (``0.1 N(0, 1)``) the softmax expansion fails
    (``g`` grows as ``(log C)**2 / beta``): from ``g = SPREAD_G sqrt(|x|)`` on (``x`` the
    softmax start) ``spread_start`` takes the expansion about equal logits, at least ten
    times closer to the root where the softmax start is not already within 1e-4, and within
    5e-3 of it (median 9e-4 at beta = 2, where it is farthest). Below (beta = 11), the
    softmax start, within 1e-2, is kept as it is."""
    rng = np.random.default_rng(C + int(beta))
    for _ in range(5):
        h = 0.1 * rng.standard_normal(C)
        xs, g, x = wide_starts(h, beta)
        want = root(h, beta)
        if g < K.SPREAD_G * np.sqrt(abs(xs)):
            assert x == xs and abs(xs - want) <= 1e-2 * abs(want)
            continue
        assert abs(x - want) <= 5e-3 * abs(want)
        if abs(xs - want) > 1e-4 * abs(want):
            assert abs(x - want) <= 0.1 * abs(xs - want)


@pytest.mark.parametrize("beta", [2.0, 5.0, 11.0, 100.0])
def test_spread_rows_keep_the_softmax_start(beta):
    """On the benchmark's rows (``3 N(0, 1)``, 100 classes) the softmax start is the closer,
    and is kept: the same start, bit for bit."""
    rng = np.random.default_rng(int(beta))
    for _ in range(20):
        xs, _, x = wide_starts(3.0 * rng.standard_normal(100), beta)
        assert x == xs


@pytest.mark.parametrize("beta", [2.0, 3.0, 7.5, 50.0])
def test_the_uniform_bound_is_right_of_the_root(beta):
    """``beta (a - 1) - zbar`` (``a = n**(-1/beta)``, ``zbar`` the candidates' mean ``z``) has
    ``f >= 0`` on any row, by the power mean. A start far right of the root (``x = 1``, ``g``
    taken large) that ``spread_start`` weighs comes back at that bound, or at the uniform
    start left of it; only a row whose first classes already rule the uniform start out (a
    spread row of more than ``2 SPREAD_SAMPLE`` candidates) keeps it."""
    rng = np.random.default_rng(int(beta * 10))
    weighed = 0
    for scale in (0.3, 1.0, 3.0):
        for C in (12, 100, 1000):
            h = scale * rng.standard_normal(C)
            cand = np.sort(h[h - h.max() > -beta])[::-1]
            n = cand.shape[0]
            zbar = np.mean(cand - cand[0])
            bound = K.base(n, beta) - zbar
            assert f_at(cand - cand[0], bound, beta) >= -1e-12
            v = np.full(C + LANES, np.nan)
            v[:n] = cand
            got = K.spread_start(1.0, 1e3, v, n, v[0], beta)
            if got == 1.0 and bound < 1.0:
                assert n > 2 * K.SPREAD_SAMPLE
                continue
            weighed += 1
            assert got <= bound + 1e-12 * abs(bound)
    assert weighed >= 6


def test_flat_rows_take_fewer_evaluations():
    """What the uniform start is for: float32 rows of 1000 classes ``0.1 N(0, 1)`` at beta =
    3 took four evaluations from the softmax start; two from the uniform one."""
    h = (0.1 * np.random.default_rng(11).standard_normal((64, 1000))).astype(np.float32)
    _, info = mgce_ref.solve_nu(h, 3.0, full_output=True)
    assert info.iterations.mean() <= 2.1
