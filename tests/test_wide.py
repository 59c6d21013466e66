"""The CPU kernels' SIMD path for rows with many candidates (``_kernels.newton_wide`` and
friends) against the scalar path it replaces there: the same residual to a few ulps, the same
root to a few ulps, the same softmax, whatever the scratch rows hold past the candidates. Its
other evaluations (products at integer beta, a series at large beta) against the general one
and against 60-digit arithmetic, and the wide rows' gathering against ``collect``."""

import itertools
import math

import mpmath as mp
import numpy as np
import pytest

from mgce_ref import _kernels as K
from mgce_ref.config import (DENSE_MIN, INT_BETA_MAX, LANES, NEWTON_MAX_ITER, NEWTON_RTOL,
                             SHORT_INT_BETA_MAX, SINGLE_START_RTOL, WHOLE_MIN, WIDE_MIN,
                             WIDE_SERIES)

BETAS = (1.4, 2.0, 5.0, 11.0, 100.0, 1e4, 1e6)
EPS = float(np.finfo(np.float64).eps)


def candidates(row, beta, fill):
    """``collect``'s candidates, with ``fill`` in the LANES entries past them."""
    C = row.shape[0]
    buf = np.full(C + LANES, fill)
    idx = np.zeros(C + LANES, np.int64)
    n, vmax, vmin = K.collect(row, beta, buf, idx)
    K.fill_columns(idx, n, C)  # a row copied whole has only idx[0]
    buf[n:] = fill
    return buf, idx, n, vmax, vmin


def rows(C, seed=5):
    rng = np.random.default_rng(seed)
    out = [3.0 * rng.standard_normal(C), rng.standard_normal(C), 1e6 + rng.standard_normal(C)]
    spread = 30.0 * rng.standard_normal(C)  # a support much shorter than the candidates
    out.append(spread)
    return out


@pytest.mark.parametrize("fill", [0.0, np.nan, np.inf, -np.inf, 1e300])
@pytest.mark.parametrize("beta", BETAS)
def test_residual_wide_is_the_scalar_residual(beta, fill):
    for C in (WIDE_MIN, 37, 300):
        for row in rows(C):
            buf, idx, n, vmax, vmin = candidates(row, beta, fill)
            if n < 2:
                continue
            scr = K.wide_scratch(C)
            for x in (0.0, -0.5, K.base(C, beta) * 0.5, K.base(C, beta)):
                lw = np.full(C + LANES, fill)
                got = K.residual_wide(buf, lw, n, vmax, x, beta, scr)
                K.wide_q_max(lw, beta)  # the maximum's log s -> its q
                ls = np.empty(C + LANES)
                want = K.residual_pruned(buf.copy(), idx.copy(), ls, n, vmax, x, beta, False)
                assert all(math.isfinite(g) for g in got)
                np.testing.assert_allclose(got[0], want[0], rtol=1e-14, atol=1e-15)
                np.testing.assert_allclose(got[1], want[1], rtol=1e-13)
                # curv: s / s**2 near the edge, where the scalar path's 1 + t/beta is the
                # rougher of the two; it only scales the stopping bound's quadratic term
                np.testing.assert_allclose(got[2], want[2], rtol=1e-11)
                assert got[3] == want[3]
                # q = s**(beta - 1) = p / s of every class, 0 outside the support and past n
                q = np.array([K.q_from_log(v, beta) for v in ls[:n]])
                np.testing.assert_allclose(lw[:n], q, rtol=1e-13, atol=1e-300)
                assert np.all(lw[n:n + LANES] == 0.0)


@pytest.mark.parametrize("rtol", [0.0, 2.0**-54, 2.0**-40])
@pytest.mark.parametrize("beta", BETAS)
def test_newton_wide_finds_the_scalar_root(beta, rtol):
    for C in (WIDE_MIN, 37, 300):
        table = K.row_constants(C, beta)
        for row in rows(C):
            buf, idx, n, vmax, vmin = candidates(row, beta, np.nan)
            if n < 2:
                continue
            lw = np.full(C + LANES, np.nan)
            x, it, ok, _ = K.solve_wide(buf, lw, n, vmax, vmin, table, beta, 0.0, rtol,
                                        NEWTON_MAX_ITER, K.wide_scratch(C), True)
            ls = np.empty(C + LANES)
            want, _, _, k = K.newton_pruned(buf.copy(), idx.copy(), ls, n, vmax, vmin, table, beta,
                                            0.0, rtol, NEWTON_MAX_ITER)
            assert ok and it <= 8
            # each within rtol |x| of the root but for its evaluations' rounding: f's terms
            # carry |log p| ulps on the scalar path (a few ulps of 1, absolute, at tiny |x|);
            # float32's rule, whose plain products and sums move the root by up to half of
            # rtol max(1, |x|) (K.plain_powers), within 1.5 rtol max(1, |x|)
            unit = max(1.0, abs(want)) if rtol >= SINGLE_START_RTOL else abs(want)
            tol = 4 * np.spacing(max(1.0, abs(want))) + 2 * rtol * unit
            assert abs(x - want) <= tol, (C, beta, x, want)
            # lbuf holds q = s**(beta - 1) at x, every class (0 outside the support); plain
            # powers (float32's rule) carry (2 beta + 8) eps of s**(beta - 2) = q / s
            plain = K.int_power(beta) and K.plain_powers(beta, rtol, x)
            for j in range(n):
                exact = K.q_term(buf[j] - vmax, x, beta)
                allow = 1e-13 * exact + 1e-300
                if plain:
                    allow += (2.0 * beta + 8.0) * EPS * exact ** ((beta - 2.0) / (beta - 1.0))
                assert abs(lw[j] - exact) <= allow, (j, lw[j], exact)
            assert np.all(lw[n:n + LANES] == 0.0)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_softmax_row_is_the_closed_form_in_column_order(dt):
    """beta = inf on a whole row (the CPU kernels' path there): x as the scalar closed form's,
    each exp(z) within an ulp of glibc's in its own column (exactly 1 at every maximum), zeros
    past C, and total = 1 + the others' sum, whose digits survive when it is tiny; a row with
    a NaN or an infinity comes back not finite."""
    assert not K.takes_wide(300, math.inf, 0)  # Newton's SIMD path is for a finite beta
    rng = np.random.default_rng(11)
    for C in (1, 2, 3, 5, 8, 9, 16, 37, 300):
        cases = [r.astype(dt) for r in rows(C)]
        tie = (3.0 * rng.standard_normal(C)).astype(dt)
        tie[C - 1] = tie[C // 2] = tie.max() + dt(1.0)
        cases.append(tie)
        dominant = np.full(C, -800.0, dt)  # the others' exp underflow: x = -0
        dominant[C // 2] = 0.0
        cases.append(dominant)
        close = np.full(C, -40.0, dt)  # the others' sum ~4e-18 (C - 1): below an ulp of 1
        close[0] = 0.0
        cases.append(close)
        for row in cases:
            z = np.full(C + LANES, np.nan)
            w = np.full(C + LANES, np.nan)
            x, vmax, vmin, total = K.softmax_row(row, z, w, K.wide_scratch(C))
            r64 = row.astype(np.float64)
            assert vmax == r64.max() and vmin == r64.min()
            buf, idx, n, _, _ = candidates(row, math.inf, 0.0)
            want = K.softmax(buf, n, 0, vmax)
            assert abs(x - want) <= 2 * np.spacing(max(1.0, abs(want))), (C, x, want)
            assert np.all(w[:C][r64 == vmax] == 1.0)
            exp = np.exp(r64 - vmax)
            np.testing.assert_allclose(w[:C], exp, rtol=2 * EPS, atol=1e-300)  # 1 ulp each
            end = -(-C // LANES) * LANES
            assert np.all(w[C:end] == 0.0)
            others = math.fsum(list(w[:C]) + [-1.0])  # exactly rounded
            assert abs(total - (1.0 + others)) <= 2 * EPS * total
            assert abs(x + math.log1p(others)) <= 2 * EPS * abs(x)  # relative, even at 1e-17
            if row is dominant:
                assert x == 0.0
        for bad in (np.nan, np.inf, -np.inf):
            row = rng.standard_normal(C).astype(dt)
            row[C // 3] = bad
            _, vmax, vmin, _ = K.softmax_row(row, np.empty(C + LANES), np.empty(C + LANES),
                                             K.wide_scratch(C))
            assert not K.finite(vmax, vmin)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_first_max_finds_the_first_of_tied_maxima_in_any_block(dt):
    """first_max compares BLOCK entries at a time, then the tail one by one."""
    rng = np.random.default_rng(8)
    for C in (5, 64, 200):
        for first in sorted({0, 1, 63, 64, 127, 128, 191, 192, C - 1}):
            if first >= C:
                continue
            row = rng.standard_normal(C).astype(dt)
            row[first:] = np.minimum(row[first:], dt(3.0))
            row[first] = row[C - 1] = dt(3.5)  # a tie: the first one counts
            row[:first] = np.minimum(row[:first], dt(-0.0))
            assert K.first_max(row, float(row.max())) == first


def test_collect_copies_a_row_whose_every_class_is_a_candidate():
    """The plain-copy path of collect gives what the compare path gives (the columns by
    fill_columns: the copy writes only the maximum's)."""
    rng = np.random.default_rng(3)
    for dt in (np.float32, np.float64):
        row = rng.standard_normal(200).astype(dt)
        row[7] = row[150] = row.max() + 1.0  # a tie for the maximum: the first one leads
        for beta in (100.0, math.inf):
            buf, idx, n, vmax, vmin = candidates(row, beta, 0.0)
            assert n == 200 and idx[0] == 7 and buf[0] == vmax
            order = [7] + [c for c in range(200) if c != 7]
            np.testing.assert_array_equal(idx[:n], order)
            np.testing.assert_array_equal(buf[:n], row.astype(np.float64)[order])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [2.0, 11.0, 100.0])
def test_collect_wide_copies_wide_supports_whole_with_two_places_traded(beta, dt):
    """With ``swap``, a row whose every class is a candidate, or whose first 64 classes hold
    WHOLE_MIN candidates or more, is copied whole: column order with the first maximum and
    column 0 traded; other rows as ``collect`` has them. ``put_swapped`` and ``copy_swapped``
    put such a row back in column order; the SIMD solve and evaluation give what the
    compacted candidates give (a class outside the support adds 0)."""
    rng = np.random.default_rng(11)
    whole = 0
    for C in (64, 100, 301):
        for scale in (0.5, 3.0, 30.0):
            for trial in range(4):
                row = (scale * rng.standard_normal(C)).astype(dt)
                if trial == 1:
                    row[0] = row.max() + 1.0  # the maximum in column 0
                if trial == 2:
                    row[C - 1] = row[5] = row.max() + 0.5  # a tie: the first one leads
                r64 = row.astype(np.float64)
                b1 = np.full(C + LANES, np.nan)
                i1 = np.zeros(C + LANES, np.int64)
                want = K.collect(row, beta, b1, i1)
                b2 = np.full(C + LANES, np.nan)
                i2 = np.zeros(C + LANES, np.int64)
                got = K.collect_wide(row, beta, b2, i2, True)
                assert got[1:] == want[1:]
                vmax = want[1]
                inside = int(np.sum(r64[:64] - vmax > -beta))
                if want[0] < C and inside < WHOLE_MIN:
                    assert got[0] == want[0]
                    continue
                whole += 1
                m = int(np.argmax(r64))
                assert got[0] == C and i2[0] == m
                order = np.arange(C)
                order[0], order[m] = m, 0
                np.testing.assert_array_equal(b2[:C], r64[order])
                out = np.empty(C)
                K.copy_swapped(out, b2, m)
                np.testing.assert_array_equal(out, r64)
                K.put_swapped(out, b2, m, 2.0, 0.5)
                np.testing.assert_array_equal(out, r64 / 2.0)
                # the same root and q either way
                K.fill_columns(i1, want[0], C)
                table = K.row_constants(C, beta)
                rtol = NEWTON_RTOL[np.dtype(dt)]
                q1 = np.zeros(C + LANES)
                q2 = np.zeros(C + LANES)
                x1 = K.solve_wide(b1, q1, want[0], vmax, want[2], table.copy(), beta, 0.0,
                                  rtol, NEWTON_MAX_ITER, K.wide_scratch(C), True)[0]
                x2 = K.solve_wide(b2, q2, C, vmax, want[2], table.copy(), beta, 0.0, rtol,
                                  NEWTON_MAX_ITER, K.wide_scratch(C), True)[0]
                # each within 1.5 rtol |x| of the root (float32's: 1.5 rtol max(1, |x|))
                unit = max(1.0, abs(x1)) if rtol >= SINGLE_START_RTOL else abs(x1)
                assert abs(x1 - x2) <= 4 * rtol * unit + 4 * EPS
                g1 = np.zeros(C)
                g1[i1[:want[0]]] = q1[:want[0]]
                g2 = np.empty(C)
                K.copy_swapped(g2, q2, m)
                np.testing.assert_allclose(g2, g1, rtol=1e-9, atol=1e-300)
    assert whole >= 6


def reference_candidates(row, beta):
    """What ``collect`` must return: the first maximum, then every other class with
    ``v - vmax > -beta`` in float64, in column order."""
    v = row.astype(np.float64)
    vmax = v.max()
    first = int(np.argmax(v))
    rest = [c for c in range(v.shape[0]) if c != first and v[c] - vmax > -beta]
    return [first] + rest


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [1.02, 2.0, 11.0, 100.0])
def test_collect_picks_the_candidates_in_column_order(beta, dt):
    """Rows of every length mod 8 and across the 64-wide compare's blocks (the last, partial
    block overlapping the one before it): ties for the maximum anywhere, candidates in the
    overlap, a huge offset."""
    rng = np.random.default_rng(7)
    for C in (16, 17, 23, 31, 37, 64, 65, 100, 301):
        for trial in range(6):
            row = beta * rng.standard_normal(C)
            if trial == 1:
                row[C - 1] = row[3] = row.max() + 0.5  # a tie, the later one in the last block
            if trial == 2:
                row[C - 3:] = row.max()  # every lane of the overlap a candidate
            if trial == 3:
                row += 1e7
            row = row.astype(dt)
            buf, idx, n, vmax, vmin = candidates(row, beta, np.nan)
            want = reference_candidates(row, beta)
            assert n == len(want)
            np.testing.assert_array_equal(idx[:n], want)
            np.testing.assert_array_equal(buf[:n], row.astype(np.float64)[want])


@pytest.mark.parametrize("beta", [1.4, 2.0, 11.0, 1e4])
def test_move_q_wide_is_a_fresh_evaluation(beta):
    """q moved by the series equals q evaluated at the new point, for steps either way, and
    the classes at the edge (moved afresh) or entering the support (xn > x) are right too."""
    rng = np.random.default_rng(9)
    C = 40
    for trial in range(20):
        row = 0.5 * beta * rng.standard_normal(C)
        buf, idx, n, vmax, vmin = candidates(row, beta, 0.0)
        if n < WIDE_MIN:
            continue
        x = K.base(C, beta) * rng.uniform(0.2, 0.8)
        step = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-9, -5)
        xn = x - step
        # a class just outside the support at x that enters at xn > x (inside, leaving, at
        # xn < x)
        j = n - 1
        buf[j] = vmax - beta - x - 0.5 * (xn - x)
        assert (buf[j] - vmax + xn > -beta) == (xn > x)
        scr = K.wide_scratch(C)
        q = np.full(C + LANES, np.nan)
        K.residual_wide(buf, q, n, vmax, x, beta, scr)
        K.wide_q_max(q, beta)
        K.move_q_wide(buf, q, n, vmax, x, xn, beta, scr)
        for c in range(n):
            want = K.q_term(buf[c] - vmax, xn, beta)
            # q = exp((beta - 1) log s) carries ~(beta - 1) |log s| eps of its own
            cond = 4.0 + 2.0 * (beta - 1.0) * abs(math.log(want)) if want > 0.0 else 0.0
            assert abs(q[c] - want) <= cond * EPS * want + 1e-300, (c, q[c], want, step)
        if beta < 100.0:  # (at beta = 1e4 an entering class's s**(beta - 1) underflows)
            assert (q[j] > 0.0) == (xn > x)


@pytest.mark.parametrize("beta", [2.5, 11.5, 1e4])
def test_move_q_near_is_a_fresh_evaluation_where_near_move_allows_it(beta):
    """The third-order move equals q evaluated at the new point wherever near_move takes it
    (small steps either way), and near_move refuses a step that a class crosses the edge on:
    one leaving the support (xn < x) or one entering it (xn > x)."""
    rng = np.random.default_rng(10)
    C = 40
    taken = 0
    for trial in range(40):
        row = 0.5 * min(beta, 30.0) * rng.standard_normal(C)
        buf, idx, n, vmax, vmin = candidates(row, beta, 0.0)
        if n < WIDE_MIN:
            continue
        x = K.base(C, beta) * rng.uniform(0.2, 0.8)
        xn = x - rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-12, -5)
        scr = K.wide_scratch(C)
        q = np.full(C + LANES, np.nan)
        f, d, curv, zmin = K.residual_wide(buf, q, n, vmax, x, beta, scr)
        K.wide_q_max(q, beta)
        if not K.near_move(x, xn, zmin, vmin - vmax, beta):
            continue
        taken += 1
        K.move_q_near(q, n, x, xn, beta, scr)
        for c in range(n):
            want = K.q_term(buf[c] - vmax, xn, beta)
            cond = 4.0 + 2.0 * (beta - 1.0) * abs(math.log(want)) if want > 0.0 else 0.0
            assert abs(q[c] - want) <= cond * EPS * want + 1e-300, (c, q[c], want, xn - x)
    assert taken >= 10
    # a class just inside the support at x leaves it at xn < x; one just outside enters at xn > x
    x = -1.0
    step = 1e-9
    zmin = -beta - x + 0.5 * step  # beta s = step / 2 at x
    assert not K.near_move(x, x - step, zmin, zmin, beta)
    assert K.near_move(x, x - step, -1.0, -1.0, beta)
    assert not K.near_move(x, x + step, -1.0, -beta - x - 0.5 * step, beta)


@pytest.mark.parametrize("beta", [1.0 + 1e-6, 1.02, 1.4, 1.9])
def test_wide_q_below_beta_2_is_good_to_an_ulp_or_two(beta):
    """Below beta = 2 q (near 1 as beta -> 1) is taken afresh at the root: ``p / s`` would carry
    ``beta |log s|`` ulps, which Theorem 1's map ``q -> p`` amplifies by ``beta / (beta - 1)``."""
    rng = np.random.default_rng(4)
    C = 64
    table = K.row_constants(C, beta)
    for _ in range(10):
        row = 0.3 * beta * rng.standard_normal(C)  # most classes candidates: the SIMD path
        buf, idx, n, vmax, vmin = candidates(row, beta, np.nan)
        assert n >= WIDE_MIN
        q = np.full(C + LANES, np.nan)
        x, _, ok, _ = K.solve_wide(buf, q, n, vmax, vmin, table, beta, 0.0, 2.0**-54,
                                   NEWTON_MAX_ITER, K.wide_scratch(C), True)
        assert ok
        for j in range(n):
            want = K.q_term(buf[j] - vmax, x, beta)
            # each of the two carries |log q| = (beta - 1) |log s| eps from log s, plus exp's
            cond = 2.0 + 2.0 * abs(math.log(want)) if want else 0.0
            assert abs(q[j] - want) <= cond * EPS * want, (j, q[j], want)


INT_BETAS = (2.0, 3.0, 5.0, 11.0, 100.0, INT_BETA_MAX)


def test_int_power_picks_the_integer_betas():
    assert [K.int_power(b) for b in (2.0, 3.0, 11.0, INT_BETA_MAX)] == [1, 2, 10,
                                                                        int(INT_BETA_MAX) - 1]
    for beta in (1.0, 1.5, 2.5, 10.999999999, INT_BETA_MAX + 1.0, 1e300, math.inf, math.nan):
        assert K.int_power(beta) == 0


@pytest.mark.parametrize("fill", [0.0, np.nan, np.inf, 1e300])
@pytest.mark.parametrize("beta", INT_BETAS)
def test_residual_int_is_the_residual_wide(beta, fill):
    """The powers by multiplication give what exp(beta log s) gives, to its accuracy."""
    m = K.int_power(beta)
    for C in (WIDE_MIN, 37, 300):
        for row in rows(C):
            buf, idx, n, vmax, vmin = candidates(row, beta, fill)
            if n < 2:
                continue
            for x in (0.0, -0.5, K.base(C, beta) * 0.5, K.base(C, beta)):
                scr = K.wide_scratch(C)
                q = np.full(C + LANES, fill)
                got = K.residual_int(buf, q, n, vmax, x, beta, m, False, scr)
                inv_s = scr[1, :n].copy()
                qw = np.full(C + LANES, fill)
                want = K.residual_wide(buf, qw, n, vmax, x, beta, K.wide_scratch(C))
                K.wide_q_max(qw, beta)
                np.testing.assert_allclose(got[0], want[0], rtol=1e-14, atol=1e-15)
                np.testing.assert_allclose(got[1:3], want[1:3], rtol=1e-13)
                assert got[3] == want[3]
                # exp(beta log s) carries |log q| ulps, the powers an ulp or two; powers below
                # 2**-900 may be 0 (K.POWER_FLUSH)
                cond = 4.0 + 2.0 * np.abs(np.log(np.where(qw[:n] > 0, qw[:n], 1.0)))
                assert np.all(np.abs(q[:n] - qw[:n]) <= cond * EPS * qw[:n] + 2.0**-900)
                assert np.all(q[n:n + LANES] == 0.0)
                live = q[:n] > 2.0**-800  # (1 / s where a power is left)
                np.testing.assert_allclose(inv_s[live] * q[:n][live] ** (1.0 / (beta - 1.0)),
                                           1.0, rtol=1e-13)


@pytest.mark.parametrize("beta", INT_BETAS)
def test_residual_int_is_exact_but_for_roundings(beta):
    """Against 60-digit arithmetic at the same x and z: every q = s**(beta - 1) within 2 ulps
    (one rounding of a double-double good to ~2**-100), f within a few ulps of 1, classes
    at the edge of the support (s ~ 1e-12) included, and powers below 2**-900 taken as 0."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    m = K.int_power(beta)
    rng = np.random.default_rng(11)
    C = 50
    for trial in range(4):
        row = 0.3 * beta * rng.standard_normal(C)
        row[0] = 0.3 * beta * 4.0  # the maximum
        x = K.base(C, beta) * rng.uniform(0.3, 0.9)
        row[1] = row[0] - beta - x + beta * 1e-12  # at the edge of the support
        row[2] = row[0] - beta - x - beta * 1e-12  # just outside
        buf, idx, n, vmax, vmin = candidates(row, beta, np.nan)
        scr = K.wide_scratch(C)
        q = np.full(C + LANES, np.nan)
        f, d, curv, zmin = K.residual_int(buf, q, n, vmax, x, beta, m, False, scr)
        total = mpmath.mpf(0)
        for j in range(n):
            # z = v - max(v) is rounded to float64 first, as in every kernel (the shift)
            s = 1 + (mpmath.mpf(float(buf[j]) - float(vmax)) + mpmath.mpf(x)) / int(beta)
            s = max(s, 0)
            want = s ** (int(beta) - 1)
            total += want * s
            if want < mpmath.mpf(2) ** -800:
                assert q[j] <= float(want) + 1e-300
            else:
                assert abs(q[j] - want) <= EPS * want, (j, q[j], float(want))
        assert abs(f - float(total - 1)) <= 4 * EPS
        assert d > 0.0 and curv > 0.0


@pytest.mark.parametrize("beta", [2.0, 3.0, 5.0, 11.0, 16.0, 17.0, 100.0, 124.0])
def test_int_sums_plain_are_residual_ints_sums(beta):
    """The sums-only evaluation (nothing stored, reassociated sums) gives residual_int's
    plain f, f' and curv to the sums' rounding, ``(n + 1) eps`` of ``sum p`` (what
    plain_sums budgets), and its least z in the support exactly; q_plain gives its q, bit
    for bit, with zeros past n."""
    m = K.int_power(beta)
    for C, buf, n, vmax, x in wide_points(beta):
        got = K.int_sums_plain(buf, n, vmax, x, beta, m)
        q = np.full(C + LANES, np.nan)
        want = K.residual_int(buf, q, n, vmax, x, beta, m, True, K.wide_scratch(C))
        assert abs(got[0] - want[0]) <= (n + 1) * EPS * (1.0 + want[0]) + 4 * EPS
        np.testing.assert_allclose(got[1:3], want[1:3], rtol=(n + 1) * EPS)
        assert got[3] == want[3]
        q2 = np.full(C + LANES, np.nan)
        K.q_plain(buf, q2, n, vmax, x, beta, m)
        np.testing.assert_array_equal(q2[:n], q[:n])
        assert not q2[n:n + LANES].any()


def test_series_plain_sums_only_for_float32_rules():
    rtol32 = NEWTON_RTOL[np.dtype(np.float32)]
    for n in (12, 100, 10000):
        edge = (n + 4.0) * 2.0**-11  # (n + 4) eps <= rtol max(1, |x|) / 2
        if edge > 1.0:
            assert K.series_plain_sums(rtol32, -edge, n)
            assert not K.series_plain_sums(rtol32, -0.99 * edge, n)
        else:  # at every x, a root near 0 to rtol absolute
            assert K.series_plain_sums(rtol32, 0.0, n) and K.series_plain_sums(rtol32, -1e-9, n)
        # never at float64's rule: |x| <= log C
        assert not K.series_plain_sums(NEWTON_RTOL[np.dtype(np.float64)], -math.log(n), n)


def test_plain_sums_add_the_sums_rounding_to_plain_powers():
    rtol32 = NEWTON_RTOL[np.dtype(np.float32)]
    for beta, n in ((11.0, 100), (100.0, 12), (124.0, 1000)):
        edge = (2.0 * beta + 2.0 * n + 10.0) * 2.0**-11  # (...) eps <= rtol max(1, |x|) / 2
        if edge > 1.0:
            assert K.plain_sums(beta, rtol32, -edge, n)
            assert not K.plain_sums(beta, rtol32, -0.99 * edge, n)
        else:  # at every x, a root near 0 to rtol absolute
            assert K.plain_sums(beta, rtol32, 0.0, n) and K.plain_sums(beta, rtol32, -1e-9, n)
        assert K.plain_powers(beta, rtol32, -edge)  # a stricter test than plain_powers'
    assert not K.plain_sums(125.0, rtol32, -100.0, 12)  # beyond ROUGH_BETA_MAX
    assert not K.plain_sums(11.0, NEWTON_RTOL[np.dtype(np.float64)], -100.0, 12)


def test_newton_step_series_is_the_closed_form():
    """Newton's step from the binomial series (|f| < 2**-5) is the closed form's, against
    mpmath, to a few ulps at every beta."""
    mp.mp.dps = 40
    for beta in (1.0001, 1.4, 2.0, 11.0, 100.0, 1e4, 1e8):
        fs = np.geomspace(1e-6, 2.0**-5 * 0.999, 60)
        for f in np.concatenate([fs, -fs, [2.0**-5, -2.0**-5, 0.1]]):
            got = K.newton_step(f, 1.7, beta)
            ff, u = mp.mpf(f), 1 / mp.mpf(beta)
            want = mp.mpf(beta) * (1 + ff) * (1 - (1 + ff) ** (-u)) / mp.mpf(1.7)
            assert abs(mp.mpf(got) - want) <= 8 * EPS * abs(want), (beta, f)


def wide_points(beta):
    """``(C, buf, n, vmax, x)``: rows of every kind with two candidates or more, collected,
    at points across the bracket."""
    for C in (WIDE_MIN, 37, 300):
        for row in rows(C):
            buf, idx, n, vmax, vmin = candidates(row, beta, np.nan)
            if n >= 2:
                for x in (0.0, -0.5, K.base(C, beta) * 0.5, K.base(C, beta)):
                    yield C, buf, n, vmax, x


@pytest.mark.parametrize("beta", [2.0, 5.0, 11.0, 100.0, 124.0])
def test_plain_powers_stay_within_their_bound(beta):
    """float32 results at moderate beta take the powers in plain float64: s good to 3 eps / 2,
    each power to (2 beta + 8) eps of s**(beta - 2) = q / s, f to that much of f', and only
    where that is half of float32's rule or less, up to beta = 124."""
    rtol32 = NEWTON_RTOL[np.dtype(np.float32)]
    assert K.plain_powers(beta, rtol32, -1.0)
    assert not K.plain_powers(beta + 1.0, rtol32, -1.0) or beta < 124.0
    # at every x up to beta = 124, a dominant class's root near 0 too (to rtol absolute)
    assert K.plain_powers(beta, rtol32, -1e-3) and K.plain_powers(beta, rtol32, 0.0)
    # the test scales rtol by max(1, |x|): at a tighter rtol, plain from |x| = edge > 1 on,
    # and below |x| = 1 as at 1
    rtol = 2.0**-48
    edge = (2.0 * beta + 8.0) * 2.0**-52 / (0.5 * rtol)
    assert edge > 1.0
    assert K.plain_powers(beta, rtol, -edge) and not K.plain_powers(beta, rtol, -0.99 * edge)
    assert K.plain_powers(beta, 1.01 * edge * rtol, -1e-3)
    assert not K.plain_powers(beta, 0.99 * edge * rtol, -1e-3)
    assert not K.plain_powers(beta, NEWTON_RTOL[np.dtype(np.float64)], -10.0)
    assert not K.plain_powers(beta, 0.0, -10.0)
    bound = (2.0 * beta + 8.0) * EPS
    m = K.int_power(beta)
    for C, buf, n, vmax, x in wide_points(beta):
        q = np.full(C + LANES, np.nan)
        got = K.residual_int(buf, q, n, vmax, x, beta, m, True, K.wide_scratch(C))
        qe = np.full(C + LANES, np.nan)
        want = K.residual_int(buf, qe, n, vmax, x, beta, m, False, K.wide_scratch(C))
        assert abs(got[0] - want[0]) <= bound * want[1]
        assert abs(got[1] - want[1]) <= bound * want[2]
        np.testing.assert_allclose(got[2], want[2], rtol=1e-6)  # the bound's scale only
        assert got[3] == want[3]
        q_over_s = qe[:n] ** ((beta - 2.0) / (beta - 1.0))
        assert np.all(np.abs(q[:n] - qe[:n]) <= bound * q_over_s + 2.0**-900)
        assert np.all(q[n:n + LANES] == 0.0)


def test_collect_wide_only_for_rows_of_a_block_or_more():
    assert DENSE_MIN >= K.BLOCK  # collect_wide samples the first BLOCK classes


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [1.02, 2.0, 11.0, 100.0, math.inf])
def test_collect_wide_is_collect(beta, dt):
    """The wide rows' gathering (compress-stores or the branch-free compaction where
    candidates are many, collect's test per candidate where few) gives what collect gives:
    rows of every length mod 8 from 64 on, ties for the maximum in any chunk, the last one,
    huge offsets, NaN and infinities."""
    rng = np.random.default_rng(8)
    for C in (64, 65, 71, 72, 100, 257, 1000):
        for trial in range(7):
            row = (beta if math.isfinite(beta) else 3.0) * rng.standard_normal(C)
            if trial == 1:
                row[C - 1] = row[5] = row.max() + 0.5
            if trial == 2:
                row += 1e7
            if trial == 3:
                row[: C // 2] = row.max() + 1.0  # every other class far below: few candidates
                row[C // 2:] -= 10.0 * (beta if math.isfinite(beta) else 3.0)
            if trial == 4:
                row[C // 3] = np.nan
            if trial == 5:
                row[C - 2] = np.inf
            row = row.astype(dt)
            b1 = np.full(C + LANES, np.nan)
            i1 = np.zeros(C + LANES, np.int64)
            b2 = np.full(C + LANES, np.nan)
            i2 = np.zeros(C + LANES, np.int64)
            got = K.collect_wide(row, beta, b2, i2, False)
            want = K.collect(row, beta, b1, i1)
            K.fill_columns(i1, want[0], C)  # a row copied whole has only idx[0]
            K.fill_columns(i2, got[0], C)
            assert got[0] == want[0]
            np.testing.assert_array_equal(got[1:], want[1:])
            n = got[0]
            np.testing.assert_array_equal(b2[:n], b1[:n])
            np.testing.assert_array_equal(i2[:n], i1[:n])
            if not K.finite(want[1], want[2]):
                continue
            # both ways of gathering a wide support, whichever this CPU's collect_wide takes
            for gather in (K.collect_dense, K.collect_compact):
                b3 = np.full(C + LANES, np.nan)
                i3 = np.zeros(C + LANES, np.int64)
                got = gather(row, beta, want[1], want[2], b3, i3)
                assert got == want
                assert np.isnan(b3[C + 1:]).all() and not i3[C + 1:].any()  # C + 1 at most
                np.testing.assert_array_equal(b3[:n], b1[:n])
                np.testing.assert_array_equal(i3[:n], i1[:n])


@pytest.mark.parametrize("fill", [0.0, np.nan, np.inf])
@pytest.mark.parametrize("beta", [600.5, 1e4, 1e6, 1e12])
def test_residual_series_is_the_residual_wide(beta, fill):
    """Rows whose every class stays within WIDE_SERIES of s = 1 over the bracket take
    beta log1p(t / beta) by its series: what the double-double and the log give, to their
    accuracy (|log p| ulps); given exp(z), by exp(z) exp(x) exp(d) where d is small, and
    there with plain sums (float32's rule, residual_series_plain) too: the same q and 1 / s,
    the sums to (n + 4) eps of sum p."""
    taken = 0
    small = 0
    plains = 0
    for C in (WIDE_MIN, 37, 300):
        lo = K.base(C, beta)
        for row in rows(C):
            buf, idx, n, vmax, vmin = candidates(row, beta, fill)
            if not K.takes_series(vmax, vmin, lo, beta):
                continue
            taken += 1
            for x, given, plain in itertools.product((0.0, -0.5, lo * 0.5, lo), (False, True),
                                                     (False, True)):
                scr = K.wide_scratch(C)
                e = scr[6, :0]
                if given:  # exp(z) as softmax_start leaves it, anything past n
                    scr[6] = fill
                    K.softmax_start(buf, n, vmax, beta, 2.0**-40, scr, True)
                    np.testing.assert_allclose(scr[6, :n], np.exp(buf[:n] - vmax), rtol=2 * EPS)
                    e = scr[6]
                    small += K.takes_exp_small(vmin - vmax, x, beta)
                q = np.full(C + LANES, fill)
                plain = plain and given and K.takes_exp_small(vmin - vmax, x, beta)
                plains += plain
                got = (K.residual_series_plain if plain else K.residual_series)(
                    buf, q, n, vmax, x, beta, vmin - vmax, scr, e)
                inv_s = scr[1, :n].copy()
                qw = np.full(C + LANES, fill)
                want = K.residual_wide(buf, qw, n, vmax, x, beta, K.wide_scratch(C))
                sums = (n + 4) * EPS * (1.0 + want[0]) if plain else 0.0
                assert abs(got[0] - want[0]) <= 1e-14 * abs(want[0]) + 2e-15 + sums
                np.testing.assert_allclose(got[1:3], want[1:3],
                                           rtol=1e-14 + (n + 4) * EPS * plain)
                assert got[3] == want[3]
                K.wide_q_max(q, beta)
                K.wide_q_max(qw, beta)
                cond = 4.0 + 2.0 * np.abs(np.log(qw[:n]))
                assert np.all(np.abs(q[:n] - qw[:n]) <= cond * EPS * qw[:n])
                assert np.all(q[n:n + LANES] == 0.0)
                np.testing.assert_allclose(inv_s, 1.0 / (1.0 + (buf[:n] - vmax + x) / beta),
                                           rtol=2 * EPS)
    assert taken >= 3 and small >= 3 and plains >= 3
    # and not where a class may come within (1 - WIDE_SERIES) beta of the edge
    assert not K.takes_series(0.0, -1e4 * WIDE_SERIES * 1.01, 0.0, 1e4)
    assert K.takes_series(0.0, -1e4 * WIDE_SERIES * 0.99, 0.0, 1e4)
    assert not K.takes_series(0.0, -1.0, 0.0, math.inf)  # the softmax has its own path


@pytest.mark.parametrize("terms, bound", [(5, K.SERIES_R5), (9, K.SERIES_R9),
                                          (12, WIDE_SERIES)])
def test_log1p_ratio_is_good_to_an_ulp_with_the_terms_it_is_given(terms, bound):
    """``log1p(r) / r`` to 5, 9 and 12 terms, each over its whole range of ``r`` (the ends
    included), against mpmath: within an ulp or so; and :func:`series_terms` hands out the
    fewest terms whose range covers every ``r`` of the row."""
    mp.mp.dps = 50
    r = np.concatenate([-bound * np.geomspace(1e-12, 1.0, 400), bound * np.geomspace(
        1e-12, 1.0, 400), [0.0, -bound, bound]])
    for ri in r:
        got = K.log1p_ratio(ri, terms)
        want = mp.mpf(1) if ri == 0.0 else mp.log1p(mp.mpf(ri)) / mp.mpf(ri)
        assert abs(mp.mpf(got) - want) <= 1.5 * EPS * abs(want), (terms, ri)
    beta = 1e4
    assert K.series_terms(-beta * K.SERIES_R5 * 0.5, -beta * K.SERIES_R5 * 0.49, beta) == 5
    assert K.series_terms(-beta * K.SERIES_R5, -1.0, beta) == 9
    assert K.series_terms(-beta * K.SERIES_R9 * 0.9, -1.0, beta) == 9
    assert K.series_terms(-beta * K.SERIES_R9, -1.0, beta) == 12


def test_exp_small_is_good_to_an_ulp_over_its_range():
    """``exp(d)`` by eleven Taylor terms over ``|d| <= EXP_SMALL`` (the ends included),
    against mpmath; and :func:`takes_exp_small` keeps every class's ``d`` in that range."""
    mp.mp.dps = 50
    b = K.EXP_SMALL
    d = np.concatenate([-b * np.geomspace(1e-20, 1.0, 500), b * np.geomspace(1e-20, 1.0, 500),
                        [0.0, -0.0]])
    for di in d:
        got = K.exp_small(di)
        want = mp.exp(mp.mpf(di))
        assert abs(mp.mpf(got) - want) <= EPS * want, di
    for beta in (1e3, 1e4, 1e6):
        for zlow in (-0.5, -5.0, -20.0, -40.0):
            for x in (0.0, -1.0, -7.0):
                if not K.takes_exp_small(zlow, x, beta):
                    continue
                t = np.linspace(zlow + x, 0.0, 2001)
                r = t / beta
                dd = beta * np.log1p(r) - t
                assert np.all(np.abs(dd) <= K.EXP_SMALL), (beta, zlow, x)
    assert K.takes_exp_small(-20.0, -1.0, 1e4) and not K.takes_exp_small(-20.0, -1.0, 1e3)


def test_short_power_picks_the_small_integer_betas():
    assert [K.short_power(b) for b in (2.0, 5.0, 11.0, SHORT_INT_BETA_MAX)] == [
        1, 4, 10, int(SHORT_INT_BETA_MAX) - 1]
    for beta in (1.0, 1.5, 10.5, SHORT_INT_BETA_MAX + 1.0, 100.0, math.inf, math.nan):
        assert K.short_power(beta) == 0


@pytest.mark.parametrize("beta", [2.0, 3.0, 5.0, 11.0, SHORT_INT_BETA_MAX])
def test_scalar_products_are_exact_but_for_roundings(beta):
    """The short rows' and the GPU's powers (``int_term``, and ``p_term``, ``q_term`` and
    ``int_residual_term`` through it) against 60-digit arithmetic at the same z and x: in
    double-double p and q within an ulp (one rounding of ~2**-100) or below 2**-900, the
    maximum's ``p - 1`` too, classes at the edge of the support (s ~ 1e-12) included; plain,
    within ``(2 beta + 8) eps`` of ``s**(beta - 2)``."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    ipow = K.short_power(beta)
    rng = np.random.default_rng(7)
    zs = list(-beta * rng.uniform(0.0, 1.0, 200)) + [0.0]
    for x in (0.0, -1e-9, -0.3, K.base(10, beta), K.base(1000, beta)):
        edge = -beta - x
        for z in zs + [edge + beta * 1e-12, edge + beta * 1e-6]:
            z = float(z)
            if not z + x > -beta:
                continue
            s = 1 + (mpmath.mpf(z) + mpmath.mpf(x)) / int(beta)
            q, p = s ** ipow, s ** (ipow + 1)
            ph, pl, qg = K.int_term(z, x, beta, ipow, False)
            # (powers below 2**-900 may be 0: K.POWER_FLUSH)
            assert abs(ph + pl - p) <= EPS * p + 2.0**-900, (z, x)
            assert abs(qg - q) <= EPS * q + 2.0**-900, (z, x)
            assert K.p_term(z, x, beta) == ph + pl and K.q_term(z, x, beta) == qg
            if z == 0.0:
                term, dq = K.int_residual_term(z, x, beta, True, ipow, False)
                assert abs(term - (p - 1)) <= 2 * EPS * abs(p - 1) + 1e-300
            ph, pl, qg = K.int_term(z, x, beta, ipow, True)
            bound = (2.0 * beta + 8.0) * EPS * s ** (ipow - 1) + 2.0**-900  # (underflow)
            assert pl == 0.0 and abs(ph - p) <= bound and abs(qg - q) <= bound, (z, x)


@pytest.mark.parametrize("beta", [2.0, 5.0, 11.0, 100.0, 124.0])
def test_float64_rough_first_evaluation_keeps_the_root(beta):
    """float64 results at an integer beta take their first SIMD evaluation in plain products
    (``config.ROUGH_BETA_MAX``) and only its step: the roots are those of the solve run to
    machine precision (``tol=1e-300``, no plain products), with at most one evaluation more on
    any row (the step from the plain one can leave the iterate an ulp or two from the root,
    which the next cannot certify within a quarter ulp) and 0.1 more on average."""
    import mgce_ref

    h = 3.0 * np.random.default_rng(7).standard_normal((300, 100))
    nu, info = mgce_ref.solve_nu(h, beta, full_output=True)
    nu_full, info_full = mgce_ref.solve_nu(h, beta, tol=1e-300, full_output=True)
    assert np.all(np.abs(nu - nu_full) <= 2 * np.spacing(np.abs(nu_full)))
    assert np.all(info.iterations <= info_full.iterations + 1)
    assert info.iterations.mean() <= info_full.iterations.mean() + 0.1


@pytest.mark.parametrize("beta", [2.0, 5.0, 11.0, 16.0, 17.0, 100.0, 124.0])
def test_newton_int_plain_is_newton_wide(beta):
    """A row that takes_int_plain (float32's rule, an integer beta up to 124, every x in
    plain sums' reach) is newton_int_plain's: the same iterates as newton_wide's loop, bit
    for bit (rows of one dominant class too, whose root lies near 0), and solve_wide leaves
    q_plain's q at that root."""
    rtol = NEWTON_RTOL[np.dtype(np.float32)]
    m = K.int_power(beta)
    taken = 0
    for C in (WIDE_MIN, 37, 300, 1100):
        rng = np.random.default_rng(int(beta) + C)
        dominant = rng.standard_normal(C)
        dominant[3] += 40.0
        for row in rows(C) + [dominant]:
            buf, idx, n, vmax, vmin = candidates(row, beta, 0.0)
            if n < WIDE_MIN:
                continue
            table = K.row_constants(C, beta)
            if not K.takes_int_plain(m, beta, 0.0, rtol, n):
                assert n > 1019 - beta  # plain sums out of reach at x = 0
                continue
            taken += 1
            want = K.newton_wide(buf, np.zeros(C + LANES), n, vmax, vmin, table.copy(), beta,
                                 0.0, rtol, NEWTON_MAX_ITER, K.wide_scratch(C), True)
            got = K.newton_int_plain(buf, n, vmax, vmin, table[0, 0], beta, m, rtol,
                                     NEWTON_MAX_ITER, K.wide_scratch(C))
            assert got == want[:3] and want[3]  # newton_wide stored no q either
            q = np.full(C + LANES, np.nan)
            x = K.solve_wide(buf, q, n, vmax, vmin, table.copy(), beta, 0.0, rtol,
                             NEWTON_MAX_ITER, K.wide_scratch(C), True)[0]
            qe = np.full(C + LANES, np.nan)
            K.q_plain(buf, qe, n, vmax, got[0], beta, m)
            assert x == got[0]
            np.testing.assert_array_equal(q[:n + LANES], qe[:n + LANES])
    assert taken >= 5


@pytest.mark.parametrize("start", [0, LANES, 3 * LANES])
def test_sum_wide_plain_sums_every_entry(start):
    """Its two chains (over the halves) and their tree cover ``a[start:end]`` exactly once,
    whether the span holds one, two or many groups of ``LANES``: within the bound of its
    docstring of the exact sum, and blind to the entries outside."""
    rng = np.random.default_rng(start)
    for groups in (1, 2, 3, 13, 126):
        end = start + groups * LANES
        a = np.full(end + LANES, 1e30)  # outside the span: would swamp a sum that read them
        a[start:end] = rng.random(groups * LANES)
        exact = math.fsum(a[start:end])
        got = K.sum_wide_plain(a, start, end, K.wide_scratch(end))
        assert abs(got - exact) <= (groups + LANES) * 2.0**-53 * exact
