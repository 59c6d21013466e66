"""Short rows in blocks: ``LANES`` rows at once, a row to each SIMD lane (CPU kernels).

A row of fewer than ``config.WIDE_MIN`` classes is too short for the SIMD path of
``_kernels``, which spreads one row's classes over the lanes: its loops end before the vectors
fill, and one scalar ``exp`` and ``log1p`` per class (glibc's) set its pace. Up to
``config.BLOCK_MAX_C`` classes (from beta = 3 on) that path's vectors are still mostly idle,
and its scalar start and steps are paid row by row: such rows take the blocks too. Where
:func:`takes_blocks` (Newton to machine precision, integer beta or beta from
``config.BLOCK_BETA_MIN``) the batch kernels instead take ``LANES`` rows at a time, transposed
so that lane ``l`` holds row ``l`` (:func:`load`). Each Newton evaluation is then one
branch-free loop over every class of every row of the block, as ``_kernels``'s SIMD path
evaluates one row: powers by products at an integer beta (:func:`evaluate_int`), ``beta
log1p(t / beta)`` by its series for a row that ``_kernels.takes_series``, else ``_vmath``'s
``exp`` and ``log`` (:func:`evaluate`). Each row's sums are its own lane's
(``_vmath.lane_twosum``), and its decisions ``_kernels.newton_next``'s, row by row
(:func:`solve`). No class is pruned: one outside the support costs a lane, not a branch.

A row's results never depend on the rest of its batch: its arithmetic is its lane's alone, in
the same order whatever the lane; what a block decides for all its rows (plain products) is
decided for the batch; a row that takes the series takes it in any block (:func:`series_mode`);
a block short of ``LANES`` rows is padded with rows of zeros, marked done from the start.
"""

import math

import numpy as np
from numba import njit

from . import _kernels as K
from ._vmath import lane_min, lane_sum, lane_twosum, prefer_512, vexp
from .config import BLOCK_BETA_MIN, BLOCK_MAX_C, LANES, ROUGH_BETA_MAX, WIDE_MIN

_jit = njit(cache=True, error_model="numpy", _nrt=False)  # no reference counts: see _kernels
_alloc = njit(cache=True, error_model="numpy")

#: Rows of ``lanes`` (:func:`scratch`): each row's first maximum, shifted root, bracket end,
#: and its maximum's ``log p`` and ``1 / s`` at the last evaluation.
VMAX, X, HI, LP0, INV_S0 = 0, 1, 2, 3, 4
#: Rows of ``flags``: the first maximum's column (-1 for a padding lane or a row that is not
#: finite), iterations, whether done, converged, Halley's step still to come, and whether the
#: iterate may lie left of the root, and whether the row takes the series
#: (``_kernels.takes_series``).
COL, ITS, DONE, OK, HALLEY, LEFT, SERIES = 0, 1, 2, 3, 4, 5, 6
#: How a block evaluates (:func:`series_mode`): every row by ``log`` and ``exp``, every row by
#: the series, or each row its own way.
WIDE, SERIES_ONLY, MIXED = 0, 1, 2


@_jit
def takes_blocks(C, beta, method, tol):
    """Whether a batch of ``C``-class rows is solved in blocks (Newton to machine precision,
    ``tol <= 0``; 2 to ``config.WIDE_MIN - 1`` classes, to ``config.BLOCK_MAX_C`` from beta =
    3 on; beta an integer from 2 to ``config.INT_BETA_MAX`` or from ``config.BLOCK_BETA_MIN``
    on, finite)."""
    most = BLOCK_MAX_C if beta >= 3.0 else WIDE_MIN - 1
    return (method == 0 and tol <= 0.0 and 2 <= C <= most and beta < math.inf
            and (BLOCK_BETA_MIN <= beta or K.int_power(beta) > 0))


@_alloc
def scratch(C):
    """``(work, lanes, flags)`` for blocks of ``C``-class rows: ``work`` holds the transposed
    rows (row 0), each row's iterate broadcast to its classes (row 1), the unnormalized q (row
    2), seven rows of per-class terms (rows 3-9, ``_kernels.wide_scratch``'s layout) and one of
    lane sums (row 10, ``7 LANES``) and each row's :func:`series_mode` flag broadcast to its
    classes (row 11), each ``LANES`` longer than the rows; ``lanes`` and ``flags`` the per-row
    state (``VMAX``..., ``COL``...)."""
    width = (max(C, 7) + 1) * LANES
    return (np.empty((12, width)), np.empty((5, LANES)),
            np.empty((7, LANES), np.int64))


@_jit
def int_plain(beta, rtol):
    """``(m, plain)``: ``m = _kernels.int_power(beta)`` (powers by products, 0 for none) and
    whether they are taken in plain float64 (:func:`_kernels.plain_powers` at ``|x| = 1``:
    float32 results up to beta = 124). Decided for the batch, never by a row or a block: the
    root is then within ``rtol max(1, |x|)`` of the exact one (plain powers carry an error
    ``(2 beta + 8) eps`` in ``x``, absolute), which float32 results cannot show."""
    m = K.int_power(beta)
    return m, m > 0 and K.plain_powers(beta, rtol, 1.0)


@_jit
def load(h, r0, r1, lo, beta, zt, lanes, flags):
    """Rows ``r0:r1`` (at most ``LANES``) into ``zt``, transposed: ``zt[l]`` is row ``l``'s
    first maximum (``z = 0``), ``zt[j LANES + l]`` for ``j = 1..C-1`` its other classes in
    column order, as ``v - vmax`` in float64. A padding lane (past ``r1 - r0``) or a row with
    a NaN or an infinity holds zeros and is marked done, with column -1.
    Also sets each row's first maximum, eq. 26's upper end, shifted (``HI``), and whether it
    takes the series (``SERIES``)."""
    C = h.shape[1]
    for l in range(LANES):
        r = r0 + l
        m = -1
        vmax = 0.0
        vmin = 0.0
        if r < r1:  # max, its first column, min, and whether all are finite, in one pass
            row = h[r]
            vmax = float(row[0])
            vmin = vmax
            m = 0
            finite = abs(vmax) < math.inf  # false for NaN too
            for c in range(1, C):
                v = float(row[c])
                if v > vmax:
                    vmax = v
                    m = c
                vmin = min(vmin, v)
                finite = finite & (abs(v) < math.inf)
            if not finite:
                m = -1
        ok = m >= 0
        if ok:
            row = h[r]
            j = LANES + l
            for c in range(C):
                if c != m:
                    zt[j] = float(row[c]) - vmax
                    j += LANES
            hi = lo - (vmin - vmax)
            if not hi < 0.0:  # p_max <= 1 gives x <= 0 (also catches an overflowed spread)
                hi = 0.0
        else:
            for j in range(LANES + l, C * LANES, LANES):
                zt[j] = 0.0
            vmax = 0.0
            hi = 0.0
        zt[l] = 0.0
        lanes[VMAX, l] = vmax
        lanes[HI, l] = hi
        flags[COL, l] = m
        flags[DONE, l] = not ok
        flags[OK, l] = ok
        flags[SERIES, l] = ok and K.takes_series(vmax, vmin, lo, beta)
        flags[ITS, l] = 0
        flags[HALLEY, l] = True
        flags[LEFT, l] = True


@_jit
def start(zt, end, beta, rtol, lo, w, acc, lanes):
    """Newton's start for every lane: ``_kernels.start_from_moments`` (the softmax root
    corrected for beta, to the first order where that is close enough, else the third) from
    the sums of ``exp(z) z**k``, ``k = 0..6``, over each row's classes with ``z > -beta``
    (``_kernels.softmax_start_short``'s sums, in lanes), in ``[lo, HI]``."""
    prefer_512()
    w0 = w[0]
    w1 = w[1]
    w2 = w[2]
    w3 = w[3]
    w4 = w[4]
    w5 = w[5]
    w6 = w[6]
    for k in range(end):
        z = zt[k]
        live = (z > -beta) & (k >= LANES)  # the maxima (k < LANES) are s0's 1
        e = vexp(z)  # e first: exp(z) = 0 keeps every term 0, however large z**k
        e = e if live else 0.0
        z = z if live else 0.0  # z = -inf (an overflowed spread): no 0 * inf
        e1 = e * z
        e2 = e1 * z
        e3 = e2 * z
        e4 = e3 * z
        e5 = e4 * z
        w0[k] = e
        w1[k] = e1
        w2[k] = e2
        w3[k] = e3
        w4[k] = e4
        w5[k] = e5
        w6[k] = e5 * z
    for j in range(7 * LANES):
        acc[j] = 0.0
    for i in range(7):
        lane_sum(acc[i * LANES:], w[i], 0, end)
    for l in range(LANES):
        x = K.start_from_moments(1.0 + acc[l], acc[LANES + l], acc[2 * LANES + l],
                                 acc[3 * LANES + l], acc[4 * LANES + l], acc[5 * LANES + l],
                                 acc[6 * LANES + l], beta, rtol)
        if not x < lanes[HI, l]:
            x = lanes[HI, l]
        if not x > lo:
            x = lo
        lanes[X, l] = x


@_jit
def broadcast(lanes, xb, end):
    """Each lane's iterate ``lanes[X]`` to every class of its row in ``xb[:end]``."""
    for k in range(end):
        xb[k] = lanes[X, k % LANES]


@_jit
def series_mode(flags, sel, end):
    """:data:`WIDE`, :data:`SERIES_ONLY` or :data:`MIXED` for a loaded block, by its rows'
    ``SERIES`` flags (padding and bad rows count for neither), which ``sel[:end]`` receives
    for every class (1.0 or 0.0). Each row is evaluated its own way, so its bits do not depend
    on the block."""
    some = False
    every = True
    for l in range(LANES):
        if flags[COL, l] >= 0:
            some = some or flags[SERIES, l] != 0
            every = every and flags[SERIES, l] != 0
    for k in range(end):
        sel[k] = 1.0 if flags[SERIES, k % LANES] != 0 else 0.0
    return SERIES_ONLY if some and every else (MIXED if some else WIDE)


@_jit
def evaluate(zt, end, xb, beta, w, acc, lanes, mode, sel):
    """:func:`_kernels.residual_wide` for every row of the block at its own ``x`` (``xb``):
    per class ``p`` (0 for the maxima, ``k < LANES``, and outside the support) in ``w[0]``,
    ``s**(beta - 1) = p / s`` in ``w[1]``, that over ``s`` in ``w[2]``, ``z`` in the support (else
    0) in ``w[3]``; each lane's sums of them in ``acc`` (``p`` compensated:
    :func:`totals`), and the maxima's ``log p`` and ``1 / s`` in ``lanes`` (their ``p - 1`` is
    an ``expm1``, so that ``f`` keeps its relative accuracy when one class dominates)."""
    prefer_512()
    ib = 1.0 / beta
    pw = w[0]
    qw = w[1]
    cw = w[2]
    zw = w[3]
    if mode != SERIES_ONLY:
        for k in range(end):
            z = zt[k]
            _, lp, s, inside = K.wide_log_s(z, xb[k], beta, ib)
            live = inside & (k >= LANES)
            p = vexp(lp)
            p = p if live else 0.0
            inv_s = 1.0 / (s if live else 1.0)  # no 0 * inf
            dq = p * inv_s
            pw[k] = p
            qw[k] = dq
            cw[k] = dq * inv_s
            zw[k] = z if live else 0.0
    if mode == SERIES_ONLY:  # _kernels.residual_series's terms
        for k in range(end):
            pw[k], qw[k], cw[k], zw[k] = series_terms(zt[k], xb[k], ib, k >= LANES)
    elif mode == MIXED:  # the same for the rows that take it (a select per class: rare blocks,
        for k in range(end):  # and the loop no longer vectorizes)
            p, dq, c, z = series_terms(zt[k], xb[k], ib, k >= LANES)
            use = sel[k] != 0.0
            pw[k] = p if use else pw[k]
            qw[k] = dq if use else qw[k]
            cw[k] = c if use else cw[k]
            zw[k] = z if use else zw[k]
    for l in range(LANES):  # the maxima: z = 0, always in the support (x > -beta)
        _, lp, s, _ = K.wide_log_s(0.0, xb[l], beta, ib)
        lanes[LP0, l] = lp
        lanes[INV_S0, l] = 1.0 / s
    for j in range(5 * LANES):
        acc[j] = 0.0
    lane_twosum(acc, pw, 0, end)
    lane_sum(acc[2 * LANES:], qw, 0, end)
    lane_sum(acc[3 * LANES:], cw, 0, end)
    lane_min(acc[4 * LANES:], zw, 0, end)


@njit(cache=True, error_model="numpy", inline="always", _nrt=False)
def series_terms(z, x, ib, live):
    """One class's ``(p, q, q / s, z)`` by ``_kernels.series_log_p`` (every class of a row
    that takes the series is in the support); zeros where not ``live`` (the maxima)."""
    lp, r = K.series_log_p(z, x, ib, 12)
    p = vexp(lp)
    p = p if live else 0.0
    inv_s = 1.0 / (1.0 + (r if live else 0.0))
    dq = p * inv_s
    return p, dq, dq * inv_s, z if live else 0.0


@_jit
def evaluate_int(zt, end, xb, beta, m, plain, qb, scr, acc):
    """:func:`evaluate` at an integer ``beta = m + 1``: every class's powers by products
    (``_kernels.int_terms``, each entry at its own ``x``), plain or in double-double as
    ``plain`` says, the maxima's among them (``-1`` plus their sum is ``f``: :func:`totals`
    with ``m``); q in ``qb``, p, its low parts (double-double), ``q / s`` and ``z`` in ``scr``
    as ``_kernels.residual_int`` leaves them; each lane's sums in ``acc``."""
    K.int_terms(zt, qb, end, 0.0, xb, beta, m, plain, scr)
    for j in range(5 * LANES):
        acc[j] = 0.0
    lane_twosum(acc, scr[0], 0, end)
    if not plain:
        lane_sum(acc[LANES:], scr[5], 0, end)  # p's low parts, into the compensation lanes
    lane_sum(acc[2 * LANES:], qb, 0, end)
    lane_sum(acc[3 * LANES:], scr[2], 0, end)
    lane_min(acc[4 * LANES:], scr[3], 0, end)


@_jit
def totals_int(acc, l):
    """Lane ``l``'s ``(f, f', curv, zmin)`` from :func:`evaluate_int`: ``-1`` plus the lane's
    compensated sum of ``p``, the maximum's included."""
    f, comp = K.add(-1.0, 0.0, acc[l])
    return (f + (comp + acc[LANES + l]), acc[2 * LANES + l], acc[3 * LANES + l],
            min(0.0, acc[4 * LANES + l]))


@_jit
def totals(acc, lanes, l):
    """Lane ``l``'s ``(f, f', curv, zmin)`` from :func:`evaluate`: the maximum's term
    ``expm1(log p)`` first, then the lane's compensated sum of the others."""
    f0 = math.expm1(lanes[LP0, l])
    d0 = (f0 + 1.0) * lanes[INV_S0, l]
    f, comp = K.add(f0, 0.0, acc[l])
    return (f + (comp + acc[LANES + l]), d0 + acc[2 * LANES + l],
            d0 * lanes[INV_S0, l] + acc[3 * LANES + l], min(0.0, acc[4 * LANES + l]))


@_jit
def solve(zt, end, xb, beta, rtol, lo, max_iter, qb, w, acc, sel, lanes, flags):
    """Newton on every row of a loaded block (:func:`load`), from :func:`start`: the steps and
    stopping rules of ``_kernels.newton_wide`` (a start on either side of the root, Halley's
    step first from the right, the relative rule ``rtol``), one :func:`evaluate` for the whole
    block per step, until every row is done. Leaves each row's shifted root in
    ``lanes[X]``, its evaluations in ``flags[ITS]`` and ``flags[OK]`` false where
    ``max_iter`` ran out. (``n`` of ``newton_next``, the classes that may enter the support on
    a step from the left, is taken as every class.) Where plain products serve (float32
    results, :func:`int_plain`) and ``|x| < 1``, a step of at most ``rtol`` also ends a row."""
    n = end // LANES
    m, plain = int_plain(beta, rtol)
    mode = WIDE if m else series_mode(flags, sel, end)
    # float64 results at an integer beta: the first evaluation in plain products, its step
    # only (as _kernels.newton_wide's)
    rough = m > 0 and not plain and beta <= ROUGH_BETA_MAX
    start(zt, end, beta, rtol, lo, w, acc, lanes)
    for it in range(1, max_iter + 1):
        broadcast(lanes, xb, end)
        if m:
            evaluate_int(zt, end, xb, beta, m, plain or rough, qb, w, acc)
        else:
            evaluate(zt, end, xb, beta, w, acc, lanes, mode, sel)
        busy = False
        for l in range(LANES):
            if flags[DONE, l]:
                continue
            f, d, curv, zmin = totals_int(acc, l) if m else totals(acc, lanes, l)
            x = lanes[X, l]
            flags[ITS, l] = it
            if rough:  # no stop decided on it: see _kernels.newton_wide
                lanes[X, l], _ = K.newton_next(f, d, curv, zmin, x, lo, beta, 0.0, 0.0, f > 0.0,
                                               n)
                flags[HALLEY, l] = False
                flags[LEFT, l] = True
                busy = True
                continue
            if f <= 0.0 and not (flags[LEFT, l] != 0 and f < 0.0):
                flags[DONE, l] = True
                continue
            if f < 0.0:  # left of the root: Newton's step, which lands right of it
                xn, stop = K.newton_next(f, d, curv, zmin, x, lo, beta, 0.0, rtol, False, n)
                flags[LEFT, l] = False
            else:
                halley = flags[HALLEY, l] != 0
                xn, stop = K.newton_next(f, d, curv, zmin, x, lo, beta, 0.0, rtol, halley, n)
                flags[LEFT, l] = halley  # Halley's step may pass the root
                flags[HALLEY, l] = False
            # Plain products cannot resolve a root near 0 to rtol |x| (one class dominating:
            # s = 1 + x / beta rounds): there the row stops at a step of at most rtol, its
            # root within rtol max(1, |x|) (int_plain); else it would crawl on, f's rounding
            # setting each step. An iterate past eq. 26's upper end is drawn back to it.
            stop = stop or (plain and abs(x) < 1.0 and abs(xn - x) <= rtol)
            lanes[X, l] = min(xn, lanes[HI, l])
            flags[DONE, l] = stop
            busy = busy or not stop
        rough = False
        if not busy:
            return
    for l in range(LANES):
        if not flags[DONE, l]:
            flags[OK, l] = False


@_jit
def at_root(zt, end, xb, beta, rtol, qb, w, acc, sel, lanes, flags, want_p):
    """The unnormalized q, ``s**(beta - 1)`` (0 outside the support), of every class at its
    row's root (``lanes[X]``) afresh into ``qb``, each lane's compensated sum in ``acc[l] +
    acc[LANES + l]``; with ``want_p``, ``p = s**beta`` into ``w[0]``. At an integer beta by
    products (``_kernels.int_terms``, as the solve took them: :func:`int_plain`), else as
    ``exp((beta - 1) log s)`` and ``exp(beta log s)``, or for a row that takes the series
    (:func:`series_mode`) ``p`` by ``_kernels.series_log_p`` and q as ``p / s``."""
    prefer_512()
    broadcast(lanes, xb, end)
    m, plain = int_plain(beta, rtol)
    pw = w[0]
    if m:
        K.int_terms(zt, qb, end, 0.0, xb, beta, m, plain, w)
        if want_p and not plain:
            lw = w[5]
            for k in range(end):
                pw[k] += lw[k]  # p's low part
    else:
        ib = 1.0 / beta
        bm1 = beta - 1.0
        mode = series_mode(flags, sel, end)
        if mode != SERIES_ONLY:
            for k in range(end):
                ls, _, _, inside = K.wide_log_s(zt[k], xb[k], beta, ib)
                q = vexp(bm1 * ls)
                qb[k] = q if inside else 0.0
            if want_p:
                for k in range(end):
                    _, lp, _, inside = K.wide_log_s(zt[k], xb[k], beta, ib)
                    p = vexp(lp)
                    pw[k] = p if inside else 0.0
        if mode == SERIES_ONLY:
            for k in range(end):
                pw[k], qb[k], _, _ = series_terms(zt[k], xb[k], ib, True)
        elif mode == MIXED:
            for k in range(end):
                p, q, _, _ = series_terms(zt[k], xb[k], ib, True)
                use = sel[k] != 0.0
                qb[k] = q if use else qb[k]
                pw[k] = p if use else pw[k]
    for j in range(2 * LANES):
        acc[j] = 0.0
    lane_twosum(acc, qb, 0, end)


@njit(cache=True, error_model="numpy", inline="always", _nrt=False)
def column(j, m):
    """The column of slot ``j >= 1`` of a row whose first maximum is column ``m``
    (:func:`load`)."""
    return j - 1 if j - 1 < m else j
