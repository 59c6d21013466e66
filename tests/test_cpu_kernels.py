"""The CPU kernels' own steps: the candidate pass, Newton's start, and Newton on pruned classes.

The accuracy tests judge the end results; these pin the properties the speed rests on, each of
which could fail quietly (a wrong start or a dropped class would still often give a good nu).
"""

import math

import numpy as np
import pytest
from cases import BETAS, adversarial_rows, random_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mgce_ref
from mgce_ref import _kernels as K
from mgce_ref.config import ROWS_PER_CHUNK, SOFTMAX_START_BETA, TANGENT_TABLE

NEWTON_BETAS = [b for b in BETAS if 1.0 < b < math.inf] + [1.1, 3.0, 60.0]


def shifted_root(row, beta):
    """The exact shifted root ``x = nu + max(h)``, solved on ``h - max(h)`` as the kernels do
    (``nu + max(h)`` in float64 would lose ``x`` under logits of 1e308)."""
    return float(mgce_ref.solve_nu(row - row.max(), beta, backend="exact"))


def all_rows():
    rows = [row for _, h in adversarial_rows() for row in h]
    for seed, (C, scale) in enumerate([(5, 3.0), (100, 3.0), (30, 30.0), (30, 0.05), (1000, 3.0)]):
        rows.extend(random_rows(seed=100 + seed, B=3, C=C, scale=scale))
    ties = np.round(random_rows(seed=99, B=3, C=50, scale=2.0))
    return rows + list(ties)


ROWS = all_rows()


def collect(row, beta):
    """``K.collect``, with ``m = 0``: the first maximum is ``buf[0]``."""
    buf = np.empty(row.shape[0])
    idx = np.empty(row.shape[0], np.int64)
    n, vmax, vmin = K.collect(row, beta, buf, idx)
    K.fill_columns(idx, n, row.shape[0])  # a row copied whole has only idx[0]
    return buf, idx, n, 0, vmax, vmin


def candidates(r64, beta):
    """The columns ``collect`` keeps, in its order: the first maximum, then the other
    candidates in column order."""
    with np.errstate(over="ignore"):
        keep = np.flatnonzero(r64 - r64.max() > -beta)
    first = np.argmax(r64)
    return np.concatenate([[first], keep[keep != first]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("beta", [1.0, 1.4, 11.0, 1e6, math.inf])
def test_collect_keeps_exactly_the_classes_that_can_be_in_the_support(beta, dtype):
    for row in ROWS:
        with np.errstate(over="ignore"):
            row = row.astype(dtype)
        if not np.all(np.isfinite(row)):  # 1e300 in float32
            continue
        buf, idx, n, m, vmax, vmin = collect(row, beta)
        r64 = row.astype(np.float64)
        want = candidates(r64, beta)
        np.testing.assert_array_equal(idx[:n], want)  # the maximum, then column order
        np.testing.assert_array_equal(buf[:n], r64[want])
        assert (vmax, vmin) == (r64.max(), r64.min())
        assert idx[0] == np.argmax(r64) and K.finite(vmax, vmin)


def check_collect(row, beta):
    """``collect`` against its definition, computed the slow way."""
    buf, idx, n, m, vmax, vmin = collect(row, beta)
    r64 = row.astype(np.float64)
    assert K.finite(vmax, vmin) == bool(np.all(np.isfinite(r64)))
    if not K.finite(vmax, vmin):
        return
    want = candidates(r64, beta)
    np.testing.assert_array_equal(idx[:n], want)  # the maximum, then column order
    np.testing.assert_array_equal(buf[:n], r64[want])
    assert (vmax, vmin) == (r64.max(), r64.min())
    assert idx[0] == np.argmax(r64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("C", [1, 2, 7, 63, 64, 65, 127, 128, 129, 1000])
def test_collect_on_every_block_boundary(C, dtype):
    """The candidate pass compares 64 entries at a time; short rows, partial last blocks and
    classes a hair either side of ``vmax - beta`` (where its prefilter's margin matters)."""
    rng = np.random.default_rng(C)
    for beta in (1.0, 1.4, 1e6, math.inf):
        for offset in (0.0, 1e6, -3e7):
            row = rng.standard_normal(C) * 3.0 + offset
            row[rng.integers(0, C, 3)] = row.max() - beta  # at the edge, as rounded
            row[rng.integers(0, C)] = np.nextafter(row.max() - beta, -np.inf)
            row[rng.integers(0, C)] = -0.0
            check_collect(row.astype(dtype), beta)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=150),
       st.sampled_from([np.float32, np.float64]), st.sampled_from([1.0, 1.4, 60.0, math.inf]))
def test_collect_on_any_row(values, dtype, beta):
    """Any values at all, NaN (of either sign), infinities and float32 overflow included."""
    with np.errstate(over="ignore"):
        check_collect(np.array(values).astype(dtype), beta)


@pytest.mark.parametrize("bad", [math.nan, -math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("where", [0, 3, 63, 64, 99])
def test_collect_finds_every_nonfinite_logit(bad, where):
    for dtype in (np.float64, np.float32):
        row = np.linspace(-1.0, 1.0, 100).astype(dtype)
        row[where] = bad  # (-nan has its sign bit set)
        assert not K.finite(*collect(row, 1.4)[4:])


@pytest.mark.parametrize("beta", NEWTON_BETAS)
def test_newton_start_is_right_of_the_root(beta):
    """f(start) >= 0: the tangent bounds are below f (and the root to the last bit is exact)."""
    for row in ROWS:
        with np.errstate(over="ignore"):
            spread_ok = np.all(np.isfinite(row - row.max()))
        if not spread_ok:  # a spread beyond 1.8e308
            continue
        buf, idx, n, m, vmax, vmin = collect(row, beta)
        x_exact = shifted_root(row, beta)
        start = K.newton_start(buf, n, vmax, beta)
        assert start >= x_exact, (row[:8], start, x_exact)
        assert start <= 1e-11  # x <= 0, plus the nudge


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), C=st.integers(2, 60), scale=st.floats(-2, 2),
       beta=st.floats(1.0 + 1e-9, 30.0), ties=st.booleans())
def test_newton_start_is_right_of_the_root_everywhere(seed, C, scale, beta, ties):
    row = np.random.default_rng(seed).normal(0.0, 10.0**scale, C)
    if ties:
        row = np.round(row / 10.0**scale) * 10.0**scale
    buf, idx, n, m, vmax, vmin = collect(row, beta)
    assert K.newton_start(buf, n, vmax, beta) >= shifted_root(row, beta)


@pytest.mark.parametrize("beta", NEWTON_BETAS)
def test_the_start_from_the_batch_table_is_the_start(beta):
    """``row_constants`` holds ``lo`` and room for the tangent points of small supports (NaN
    until the start first needs one, which it then writes there); the CPU start reads them
    there, the same bits as computing them, and computes the larger ones (all of them from
    SOFTMAX_START_BETA on, where Newton starts from the softmax instead)."""
    tangents = beta < SOFTMAX_START_BETA
    table = K.row_constants(200, beta)
    assert table.shape[0] == (min(201, TANGENT_TABLE) if tangents else 1)
    assert table[0, 0] == K.base(200, beta)
    assert np.isnan(table[1:]).all()
    assert K.row_constants(3, beta).shape[0] == (4 if tangents else 1)
    wide = [np.zeros(2 * TANGENT_TABLE), np.linspace(0.0, -1e-3, 3 * TANGENT_TABLE)]
    for row in ROWS + wide:
        buf, idx, n, m, vmax, vmin = collect(row, beta)
        want = K.newton_start(buf, n, vmax, beta)
        for C in (row.shape[0], 2):  # the table covers the support, or does not
            assert K.newton_start_table(buf, n, vmax, beta, K.row_constants(C, beta)) == want
        assert K.newton_start_table(buf, n, vmax, beta, table) == want  # filled in, or not
        assert K.newton_start_table(buf, n, vmax, beta, table) == want  # read back
    filled = ~np.isnan(table[1:, 1])
    assert filled.any() == tangents
    for k in 1 + np.flatnonzero(filled):
        assert tuple(table[k]) == K.tangent_mass(k, beta)


@pytest.mark.parametrize("beta", NEWTON_BETAS)
def test_pruned_newton_takes_the_plain_iterates_and_keeps_the_support(beta):
    """Pruning changes which classes are looked at, never the arithmetic: same iterates, same
    count, bit for bit; every class in the support at the root is kept, the maximum first."""
    for row in ROWS:
        buf, idx, n, m, vmax, vmin = collect(row, beta)
        lo = K.base(row.shape[0], beta)
        plain = K.newton(buf.copy(), n, m, vmax, vmin, lo, beta, 0.0, 0.0, 100)
        lbuf = np.empty(row.shape[0])
        table = K.row_constants(row.shape[0], beta)
        x, it, ok, k = K.newton_pruned(buf, idx, lbuf, n, vmax, vmin, table, beta, 0.0, 0.0, 100)
        assert (x, it, ok) == plain
        # the last evaluation's log s, as q_term would compute it (an integer beta leaves
        # nothing: q_term takes q afresh by products there)
        for j in range(k if not K.short_power(beta) else 0):
            want = K.q_term(buf[j] - vmax, x, beta)
            assert K.q_from_log(lbuf[j], beta) == want
        with np.errstate(over="ignore"):  # a spread of 2e308 is -inf: out of the support
            support = np.flatnonzero(row - vmax + x > -beta)
        assert set(support) <= set(idx[:k])
        assert np.all(np.diff(idx[1:k]) > 0)  # still the maximum, then column order
        assert buf[0] == vmax and idx[0] == np.argmax(row)
        assert sorted(idx[:n]) == sorted(collect(row, beta)[1][:n])  # a permutation, no loss


# Rows whose classes tie to within rounding of Michelot's threshold: the old iteration's support
# sizes cycled forever on them (a hypothesis run of the suite hung; found again by fuzzing).
CYCLING_ROWS = [
    ["-0x1.7fffffffffff0p-1", "-0x1.3fffffffffffap+0", "0x1.ffffffffffffep-1",
     "-0x1.0000000000003p+0", "-0x0.0p+0", "-0x1.0000000000005p-2", "-0x1.fffffffffffffp-2",
     "-0x1.0000000000000p-1", "0x0.0p+0", "0x0.0p+0"],
    ["-0x1.0000000000002p-1", "0x1.0000000000006p-2", "-0x1.7fffffffffff2p-1",
     "-0x1.7fffffffffffcp-1", "0x1.0000000000000p+0", "-0x1.0000000000002p-1",
     "-0x1.8000000000002p-1", "0x1.0000000000005p-1", "0x0.0p+0", "-0x1.0000000000004p-1"],
]


@pytest.mark.parametrize("beta", [1.0, 1.4, 2.0, 11.0])
def test_michelot_stops_on_classes_tied_within_rounding(beta):
    h = np.array([[float.fromhex(x) for x in row] for row in CYCLING_ROWS])
    for row in h:
        buf, idx, n, m, vmax, vmin = collect(row, beta)
        tau, k, it = K.threshold(buf, n, vmax, 1.0, -math.inf)
        assert it <= n + 1
        assert abs(np.maximum(row - vmax - tau, 0.0).sum() - 1.0) < 1e-14  # the threshold's sum
    nu = mgce_ref.solve_nu(h, beta)  # returns (it used to hang at beta = 1)
    want = mgce_ref.solve_nu(h, beta, backend="exact")
    assert np.all(np.abs(nu - want) <= 4 * np.spacing(1.0))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), C=st.integers(2, 30), beta=st.sampled_from([1.0, 1.4, 2.0]))
def test_michelot_stops_on_near_ties(seed, C, beta):
    rng = np.random.default_rng(seed)
    row = np.round(rng.standard_normal(C) * 4) / 4 * (1 + 1e-15 * rng.standard_normal(C))
    buf, idx, n, m, vmax, vmin = collect(row, beta)
    for mass in (1.0, 1.7, 5.0):
        assert K.threshold(buf, n, vmax, mass, -beta)[2] <= n + 1


def michelot_with_every_pass(z, mass, floor):
    """Michelot's iteration as first written, in plain Python: it stops only on a pass that
    finds the set no smaller (sums compensated in the same order as the kernel's)."""
    k_prev, tau, passes = len(z) + 1, -mass, 0
    while True:
        passes += 1
        s = comp = 0.0
        k = 0
        for zc in z:
            if zc > tau and zc > floor:
                k += 1
                t = s + zc
                bp = t - s
                s, comp = t, comp + ((s - (t - bp)) + (zc - bp))
        if k >= k_prev:
            return tau, k_prev, passes
        tau, k_prev = ((s + comp) - mass) / k, k


def test_michelot_skips_only_a_pass_that_would_change_nothing():
    """``K.threshold`` stops one pass early when the next set is provably the same: its tau and
    support size equal those of the iteration that makes that pass, bit for bit, on random,
    adversarial, tied and rounding-tied rows."""
    rows = ROWS + [np.array([float.fromhex(x) for x in row]) for row in CYCLING_ROWS]
    rng = np.random.default_rng(7)
    rows += [np.round(rng.standard_normal(C) * 4) / 4 * (1 + 1e-15 * rng.standard_normal(C))
             for C in rng.integers(2, 40, 300)]
    cases = skipped = 0
    for row in rows:
        for beta, mass in [(1.0, 1.0), (1.4, 1.0), (1.4, 1.6), (3.0, 2.5), (60.0, 9.0)]:
            buf, idx, n, m, vmax, vmin = collect(row, beta)
            floor = -math.inf if beta == 1.0 else -beta
            tau, k, it = K.threshold(buf, n, vmax, mass, floor)
            z = [float(v) - vmax for v in buf[:n]]
            want_tau, want_k, passes = michelot_with_every_pass(z, mass, floor)
            assert (tau, k) == (want_tau, want_k), (row, beta, mass)
            assert it in (passes, passes - 1)
            cases += 1
            skipped += it < passes
    assert skipped > cases // 2  # the shortcut is taken, not just harmless


@pytest.mark.parametrize("beta", [1.4, 11.0, math.inf])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_work_items_of_any_size_give_the_same_bits(beta, dtype):
    """The batch kernels' rows are independent: one thread or many, items of 1 to 64 rows,
    every output is bit for bit the same (numba_backend._chunk picks the size)."""
    from mgce_ref import numba_backend as NB
    from mgce_ref.config import NEWTON_RTOL, REFINE_Q_TOL

    rng = np.random.default_rng(7)
    h = (3 * rng.standard_normal((67, 40))).astype(dtype)
    h[5] = 0.0  # a constant row among them
    y = rng.integers(0, 40, 67)

    def run(kernel, chunk):
        out = [np.empty(67, dtype), np.empty((67, 40), dtype), np.empty((67, 40), dtype),
               np.empty(67, dtype), np.empty((67, 40), dtype)]
        assert kernel(h, y, beta, NEWTON_RTOL[h.dtype], REFINE_Q_TOL[h.dtype], *out, chunk) == -1
        return out

    want = run(NB._forward_serial, 67)
    for chunk in (1, 3, 34, 64):
        for got, ref in zip(run(NB._forward_batch, chunk), want):
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("kind", ["label", "nan"])
def test_the_batch_kernels_return_the_first_bad_row(kind):
    """A bad label or a non-finite logit marks its row; every kernel returns the lowest such row
    (numba_backend.forward raises _validate.BadRows with it), over work items of any size."""
    from mgce_ref import numba_backend as NB
    from mgce_ref.config import NEWTON_RTOL, REFINE_Q_TOL

    rng = np.random.default_rng(8)
    h = rng.standard_normal((67, 10))
    y = rng.integers(0, 10, 67)
    for r in (41, 5, 60):
        if kind == "label":
            y[r] = 10 if r != 5 else -1
        else:
            h[r, 3] = np.nan
    out = [np.empty(67), np.empty((67, 10)), np.empty((67, 10)), np.empty(67), np.empty((67, 10))]
    args = (h, y, 2.0, NEWTON_RTOL[h.dtype], REFINE_Q_TOL[h.dtype], *out)
    assert NB._forward_serial(*args, 67) == 5
    sargs = (h, 2.0, 0, 0.0, 0.0, 100, np.empty(67), np.empty(67, np.int64), np.empty(67, bool))
    assert NB._solve_serial(*sargs, 67) == (5 if kind == "nan" else -1)
    for chunk in (1, 3, 34, 64):
        assert NB._forward_batch(*args, chunk) == 5
        assert NB._solve_batch(*sargs, chunk) == (5 if kind == "nan" else -1)
    # labels are passed, and checked, only with loss or grad wanted
    out = [np.empty(67), np.empty((67, 10)), np.empty((67, 10)), np.empty(0), np.empty((0, 10))]
    args = (h, np.zeros(0, np.int64), 2.0, NEWTON_RTOL[h.dtype], REFINE_Q_TOL[h.dtype], *out)
    assert NB._forward_serial(*args, 67) == (5 if kind == "nan" else -1)
    assert NB._forward_batch(*args, 3) == (5 if kind == "nan" else -1)


def test_a_wide_batch_of_few_rows_is_cut_for_every_thread():
    from numba import get_num_threads

    from mgce_ref import numba_backend as NB

    assert NB._chunk(4, 10) == 4 and NB._chunk(1, 100000) == 1  # one item: the serial kernel
    assert -(-64 // NB._chunk(64, 10000)) >= min(64, get_num_threads())
    assert NB._chunk(10**6, 10) == ROWS_PER_CHUNK


def pair_rows(dtype):
    """Rows of 2 classes for beta = 1: random ones, ties (signed zeros too), the other class
    at, just above and just below the edge of the support (``d = -1``), a large offset."""
    rng = np.random.default_rng(21)
    rows = list(rng.standard_normal((200, 2)))
    one = dtype(1.0)
    for d in (0.0, -1.0, -np.nextafter(one, dtype(2.0)), -np.nextafter(one, dtype(0.0)), -0.5,
              -1e-30, -2.0, -1e3):
        rows += [[0.0, d], [d, 0.0], [3.0, 3.0 + d], [1e6, 1e6 + d]]
    rows += [[0.0, -0.0], [-0.0, 0.0], [-0.0, -0.0], [5.0, 5.0]]
    return np.array(rows, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairs_at_beta_1_are_the_general_rows(dtype):
    """beta = 1 on rows of 2 classes takes its own loop (``numba_backend._sparsemax_pairs``):
    the same bits as the general row path, which a third class far below the others (never a
    candidate) sends them through, for every output and ``solve_nu`` (one pass each)."""
    h = pair_rows(dtype)
    y = np.random.default_rng(22).integers(0, 2, h.shape[0])
    h3 = np.c_[h, h.min(axis=1) - dtype(10.0)]
    loss, grad = mgce_ref.loss_and_grad(h, y, 1.0)
    loss3, grad3 = mgce_ref.loss_and_grad(h3, y, 1.0)
    np.testing.assert_array_equal(loss, loss3)
    np.testing.assert_array_equal(grad, grad3[:, :2])
    assert np.all(grad3[:, 2] == 0.0)
    for op in (mgce_ref.link, mgce_ref.worst_case):
        np.testing.assert_array_equal(op(h, 1.0), op(h3, 1.0)[:, :2], err_msg=op.__name__)
    nu, info = mgce_ref.solve_nu(h, 1.0, full_output=True)
    nu3, info3 = mgce_ref.solve_nu(h3, 1.0, full_output=True)
    np.testing.assert_array_equal(nu, nu3)
    assert np.all(info.iterations == 1) and np.all(info3.iterations == 1)
    assert info.converged.all()
    # signs of zero too: assert_array_equal takes -0.0 == 0.0
    assert np.array_equal(np.signbit(nu), np.signbit(nu3))
    assert np.array_equal(np.signbit(loss), np.signbit(loss3))
    bad = h.copy()
    bad[7, 1] = np.nan
    with pytest.raises(ValueError, match="row 7"):
        mgce_ref.loss_and_grad(bad, y, 1.0)
    with pytest.raises(ValueError, match="row 7"):
        mgce_ref.solve_nu(bad, 1.0)
    with pytest.raises(ValueError, match=r"labels\[5\] = 2"):
        mgce_ref.loss_and_grad(h, np.where(np.arange(h.shape[0]) == 5, 2, y), 1.0)


def test_q_at_beta_1_is_one_on_the_support():
    """beta = 1: ``q_term`` answers 1 on the support without the ``exp(0 log s)`` it took
    before, the same value: ``log s`` is finite wherever ``z + x > -1`` (there ``1 + t`` is
    exact and positive, its two-sum low part smaller), down to the edge."""
    rng = np.random.default_rng(5)
    edge = -1.0 + np.array([2.0**-53, 2.0**-52, 1e-15, 1e-9, 0.25, 0.5, 0.75, 1.0])
    for t in np.r_[edge, rng.uniform(-1.0, 0.0, 200), -1.0, -1.5]:
        for z in (0.0, t / 3.0, -1e-300, t):  # t split as z + x several ways
            x = t - z
            if not z + x > -1.0:
                assert K.q_term(z, x, 1.0) == 0.0
                continue
            assert K.q_term(z, x, 1.0) == 1.0 == math.exp(0.0 * K.log_s(z, x, 1.0))
