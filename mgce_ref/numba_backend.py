"""Numba CPU backend: the row kernels of ``_kernels`` composed into ``prange`` batch kernels.

Each work item takes a chunk of rows (at most ``ROWS_PER_CHUNK``, fewer when that leaves a
thread idle: :func:`_chunk`) and one allocation of scratch rows: the candidate classes of
``_kernels.collect`` (float64), their columns (int64), and Newton's last ``log s`` of each,
turned into the unnormalized q (float64); no (B, C) temporary is made beyond the outputs. Two
SIMD passes read the row (an integer max/min that also finds NaN and infinities, then a
64-wide compare that picks the candidates), the
Newton solve runs on the candidates only, shrinking them to the support as it goes, and the
outputs are written as zeros plus the few support classes. float32 logits are read as float64
element by element and results rounded once, on store. Rows of fewer than ``WIDE_MIN`` classes
(up to ``BLOCK_MAX_C`` from beta = 3 on) at an integer beta or from ``BLOCK_BETA_MIN`` on skip
all this: ``_blocks`` solves them
``LANES`` at a time, a row to each SIMD lane (:func:`_solve_blocks`, :func:`_forward_blocks`),
and at beta = inf every row takes the closed form whole (:func:`_softmax_rows`).
"""

import math

import numpy as np
from numba import get_num_threads, njit, prange

from . import _blocks as Bk
from . import _kernels as K
from . import _refine as R
from . import _validate as V
from ._dispatch import MATRIX_OUTPUTS
from .config import (DENSE_MIN, EDGE_MARGIN, LANES, NEWTON_MAX_ITER, NEWTON_RTOL,
                     REFINE_Q_TOL, ROWS_PER_CHUNK, SERIAL_MAX_LOGITS, SINGLE_START_RTOL,
                     WIDE_MIN)

#: This backend checks the logits for NaN and infinity in its own first pass over each row,
#: and the labels' range as it reaches each row (``_validate.BadRows``).
CHECKS_FINITE = True
CHECKS_LABELS = True

#: Stand-ins, by dtype, for the outputs a call does not want: 0 rows tell the kernels to skip
#: them. Made once (allocating them took about a microsecond of a small batch's call) and never
#: written: the kernels write an output only at rows < B, and only if it has B rows.
_UNWANTED = {np.dtype(dt): (np.empty(0, dt), np.empty((0, 0), dt))
             for dt in (np.float32, np.float64)}
_NO_LABELS = np.empty(0, np.int64)

#: What :func:`forward` passes by dtype: Newton's ``rtol``, the refinement's ``q_tol`` and the
#: stand-ins of ``_UNWANTED`` (one lookup a call; a dtype's hash costs some 50 ns).
_BY_DTYPE = {dt: (NEWTON_RTOL[dt], REFINE_Q_TOL[dt]) + _UNWANTED[dt] for dt in _UNWANTED}

#: The loops over rows, which allocate nothing (their scratch rows come from their callers):
#: compiled without reference counts, as are the row kernels (``_kernels``), since NRT's
#: atomic increment and decrement of every array passed, sliced or viewed cost a row of 100
#: classes some 30 ns.
_rows = njit(cache=True, error_model="numpy", _nrt=False)


@njit(parallel=True, cache=True, error_model="numpy")
def _solve_batch(h, beta, method, tol, rtol, max_iter, nu, iterations, converged, chunk):
    """Returns the first row with a non-finite logit, or -1. Work items of ``chunk`` rows
    (:func:`_chunk`)."""
    B, C = h.shape
    table = K.row_constants(C, beta)
    bad = np.empty(B, np.bool_)
    for k in prange((B + chunk - 1) // chunk):
        _solve_rows(h, beta, method, tol, rtol, max_iter, nu, iterations, converged, bad, table,
                    k * chunk, min(B, (k + 1) * chunk))
    return _first_bad(bad)


@njit(cache=True, error_model="numpy")
def _solve_serial(h, beta, method, tol, rtol, max_iter, nu, iterations, converged, chunk):
    """:func:`_solve_batch` on the calling thread: a batch of one work item (:func:`_chunk`)."""
    bad = np.empty(h.shape[0], np.bool_)
    _solve_rows(h, beta, method, tol, rtol, max_iter, nu, iterations, converged, bad,
                K.row_constants(h.shape[1], beta), 0, h.shape[0])
    return _first_bad(bad)


@njit(cache=True, error_model="numpy")
def _solve_rows(h, beta, method, tol, rtol, max_iter, nu, iterations, converged, bad, table,
                r0, r1):
    """Rows ``r0:r1`` of :func:`_solve_batch`, with their own scratch rows and ``table``."""
    C = h.shape[1]
    if Bk.takes_blocks(C, beta, method, tol):
        work, lanes, flags = Bk.scratch(C)
        _solve_blocks(h, beta, rtol, max_iter, nu, iterations, converged, bad, table[0, 0], r0,
                      r1, work, lanes, flags)
        return
    if method == 0 and beta == 1.0 and C == 2:
        none = np.empty((0, 0))  # the outputs but nu, unwanted
        _sparsemax_pairs(h, np.empty(0, np.int64), nu, none, none, np.empty(0), none, bad, r0,
                         r1)
        for r in range(r0, r1):
            iterations[r] = 1  # _kernels.threshold's single pass on one or two candidates
            converged[r] = True
        return
    if method == 0 and math.isinf(beta):  # the closed form, on whole rows
        none = np.empty((0, 0))  # the outputs but nu, unwanted
        _softmax_rows(h, np.empty(0, np.int64), nu, none, none, np.empty(0), none, bad, r0, r1,
                      K.row_scratch(C))
        for r in range(r0, r1):
            iterations[r] = 1
            converged[r] = True
        return
    # newton_start_table fills the table in; one allocation of scratch rows per chunk
    _solve_loop(h, beta, method, tol, rtol, max_iter, nu, iterations, converged, bad,
                table.copy(), K.row_scratch(C), np.empty(C + LANES, np.int64), r0, r1)


@_rows
def _solve_loop(h, beta, method, tol, rtol, max_iter, nu, iterations, converged, bad, table,
                work, idx, r0, r1):
    """:func:`_solve_rows`' loop over rows by candidates, with its scratch rows (``work``,
    ``idx``)."""
    C = h.shape[1]
    buf = work[0]
    lbuf = work[1]
    scr = work[2:]
    swap = K.takes_wide(C, beta, method)  # rows copied whole may trade places
    for r in range(r0, r1):
        n, vmax, vmin = (K.collect_wide(h[r], beta, buf, idx, swap) if C >= DENSE_MIN
                         else K.collect(h[r], beta, buf, idx))
        bad[r] = not K.finite(vmax, vmin)
        if bad[r]:
            continue
        if K.takes_wide(n, beta, method):
            x, it, ok, _ = K.solve_wide(buf, lbuf, n, vmax, vmin, table, beta, tol, rtol,
                                        max_iter, scr, False)
        else:
            K.fill_columns(idx, n, C)  # the pruned path moves them
            x, it, ok, _, _ = K.solve_pruned(buf, idx, lbuf, n, vmax, vmin, table, beta,
                                             method, tol, rtol, max_iter)
        nu[r] = x - vmax
        iterations[r] = it
        converged[r] = ok


@_rows
def _solve_blocks(h, beta, rtol, max_iter, nu, iterations, converged, bad, lo, r0, r1, work,
                  lanes, flags):
    """:func:`_solve_rows` for short rows, ``LANES`` at a time (``_blocks``; scratch from
    ``_blocks.scratch``)."""
    C = h.shape[1]
    zt = work[0]
    xb = work[1]
    qb = work[2]
    w = work[3:10]
    acc = work[10]
    sel = work[11]
    end = C * LANES
    for b0 in range(r0, r1, LANES):
        b1 = min(r1, b0 + LANES)
        Bk.load(h, b0, b1, lo, beta, zt, lanes, flags)
        Bk.solve(zt, end, xb, beta, rtol, lo, max_iter, qb, w, acc, sel, lanes, flags)
        for l in range(b1 - b0):
            r = b0 + l
            bad[r] = flags[Bk.COL, l] < 0
            if not bad[r]:
                nu[r] = lanes[Bk.X, l] - lanes[Bk.VMAX, l]
                iterations[r] = flags[Bk.ITS, l]
                converged[r] = flags[Bk.OK, l] != 0


@njit(parallel=True, cache=True, error_model="numpy")
def _forward_batch(h, labels, beta, rtol, q_tol, nu, p, q, loss, grad, chunk):
    """One solve per row (``tol=None``, Newton's ``rtol``), then the wanted outputs from the
    classes in reach of the support.

    An output is wanted when its array has B rows (unwanted ones are passed with 0 rows), and
    so are labels (B of them with loss or grad, else none). Work items are ``chunk`` rows each
    (:func:`_chunk`). Returns the first row with a non-finite logit or a label outside [0, C),
    or -1; such rows are skipped.
    """
    B, C = h.shape
    table = K.row_constants(C, beta)
    bad = np.empty(B, np.bool_)
    for k in prange((B + chunk - 1) // chunk):
        _forward_rows(h, labels, beta, rtol, q_tol, nu, p, q, loss, grad, bad, table,
                      k * chunk, min(B, (k + 1) * chunk))
    return _first_bad(bad)


@njit(cache=True, error_model="numpy")
def _forward_serial(h, labels, beta, rtol, q_tol, nu, p, q, loss, grad, chunk):
    """:func:`_forward_batch` on the calling thread, a batch of one work item
    (:func:`_chunk`)."""
    bad = np.empty(h.shape[0], np.bool_)
    _forward_rows(h, labels, beta, rtol, q_tol, nu, p, q, loss, grad, bad,
                  K.row_constants(h.shape[1], beta), 0, h.shape[0])
    return _first_bad(bad)


@njit(cache=True)
def _first_bad(bad):
    """The first row flagged in ``bad``, or -1."""
    for r in range(bad.shape[0]):
        if bad[r]:
            return r
    return -1


@njit(cache=True, error_model="numpy")
def _forward_rows(h, labels, beta, rtol, q_tol, nu, p, q, loss, grad, bad, table, r0, r1):
    """Rows ``r0:r1`` of :func:`_forward_batch`, with their own scratch rows and ``table``."""
    B, C = h.shape
    if Bk.takes_blocks(C, beta, 0, 0.0):
        work, lanes, flags = Bk.scratch(C)
        _forward_blocks(h, labels, beta, rtol, nu, p, q, loss, grad, bad, table[0, 0], r0, r1,
                        work, lanes, flags)
        return
    if beta == 1.0 and C == 2:
        _sparsemax_pairs(h, labels, nu, p, q, loss, grad, bad, r0, r1)
        return
    if math.isinf(beta):  # the closed form, on whole rows
        _softmax_rows(h, labels, nu, p, q, loss, grad, bad, r0, r1, K.row_scratch(C))
        return
    # newton_start_table fills the table in; one allocation of scratch rows per chunk
    _forward_loop(h, labels, beta, rtol, q_tol, nu, p, q, loss, grad, bad, table.copy(),
                  K.row_scratch(C), np.empty(C + LANES, np.int64), r0, r1)


@_rows
def _forward_loop(h, labels, beta, rtol, q_tol, nu, p, q, loss, grad, bad, table, work, idx,
                  r0, r1):
    """:func:`_forward_rows`' loop over rows by candidates, with its scratch rows (``work``,
    ``idx``)."""
    B, C = h.shape
    want_q = q.shape[0] == B
    want_grad = grad.shape[0] == B
    has_labels = labels.shape[0] == B
    buf = work[0]
    wbuf = work[1]
    scr = work[2:]
    swap = C >= DENSE_MIN and K.takes_wide(C, beta, 0)  # rows copied whole trade two places
    for r in range(r0, r1):
        if has_labels and not 0 <= labels[r] < C:  # the caller names the label (BadRows)
            bad[r] = True
            continue
        row = h[r]
        n, vmax, vmin = (K.collect_wide(row, beta, buf, idx, swap) if C >= DENSE_MIN
                         else K.collect(row, beta, buf, idx))
        swapped = swap and n == C  # written out by K.put_swapped and K.copy_swapped
        bad[r] = not K.finite(vmax, vmin)
        if bad[r]:
            continue
        wide = K.takes_wide(n, beta, 0)  # the SIMD path, solve and outputs
        if wide:
            x, _, _, left = K.solve_wide(buf, wbuf, n, vmax, vmin, table, beta, 0.0, rtol,
                                         NEWTON_MAX_ITER, scr, want_q or want_grad)
        else:
            K.fill_columns(idx, n, C)  # the pruned path moves them
            x, _, _, n, left = K.solve_pruned(buf, idx, wbuf, n, vmax, vmin, table, beta, 0,
                                              0.0, rtol, NEWTON_MAX_ITER)
        # Every class outside buf[:n] has p_c = q_c = 0.
        if nu.shape[0] == B:
            nu[r] = x - vmax
        if p.shape[0] == B:
            p[r] = 0.0
            if wide:
                if not swapped:
                    K.fill_columns(idx, n, C)
                pw = scr[0]
                m = K.int_power(beta)
                if m and K.plain_powers(beta, rtol, x):  # p afresh at the root: s**beta
                    K.q_plain(buf, pw, n, vmax, x, beta, m + 1)
                elif m:  # p (and q, in wbuf) afresh, in double-double
                    K.residual_int(buf, wbuf, n, vmax, x, beta, m, False, scr)
                    for j in range(n):
                        pw[j] += scr[5, j]  # p's low part
                else:
                    K.p_wide(buf, n, vmax, x, beta, pw,
                             K.takes_series(vmax, vmin, table[0, 0], beta))
                if swapped:
                    K.copy_swapped(p[r], pw, idx[0])
                else:
                    for j in range(n):
                        p[r, idx[j]] = pw[j]
            else:
                for j in range(n):
                    p[r, idx[j]] = K.p_term(buf[j] - vmax, x, beta)
        if want_q or want_grad:
            if wide:  # LEFT_Q, zeros past n
                end = ((n + LANES - 1) // LANES) * LANES
                total = (K.sum_wide_plain(wbuf, 0, end, scr) if rtol >= SINGLE_START_RTOL
                         else K.sum_wide(wbuf, 0, end, scr))
            else:
                total = 0.0
                comp = 0.0
                for j in range(n):  # from Newton's last log s, the softmax terms, or afresh
                    if left == K.LEFT_LOG_S:
                        wbuf[j] = K.q_from_log(wbuf[j], beta)
                    elif left == K.LEFT_NOTHING:
                        wbuf[j] = K.q_term(buf[j] - vmax, x, beta)
                    total, comp = K.add(total, comp, wbuf[j])
                total += comp
            # For 1 < beta < 2 a class at the edge of the support makes q ill-conditioned
            # in nu: those rows (refine_needed) use the double-double root of _refine. (Its
            # own first test, the beta range, is repeated here: it spares other rows the call.)
            if 1.0 < beta < 2.0 and R.refine_needed(buf, n, vmax, x, beta, q_tol, wbuf,
                                                     -rtol * x):
                x_lo = R.refine(buf, n, 0, vmax, x, beta)  # the maximum is buf[0]
                total = 0.0
                comp = 0.0
                for j in range(n):
                    wbuf[j] = 0.0
                    if buf[j] - vmax + x > -beta * (1.0 + EDGE_MARGIN):
                        wbuf[j] = R.q_term_dd(buf[j], vmax, x, x_lo, beta)
                    total, comp = K.add(total, comp, wbuf[j])
                total += comp
            out = q if want_q else grad
            scale = 1.0 / total  # q = w / total by K.quotient: a product and two fma, no division
            if swapped:
                K.put_swapped(out[r], wbuf, idx[0], total, scale)
            elif n == C:  # every class a candidate: the first maximum, then column order
                m = idx[0]
                for c in range(m):
                    out[r, c] = K.quotient(wbuf[c + 1], total, scale)
                out[r, m] = K.quotient(wbuf[0], total, scale)
                for c in range(m + 1, C):
                    out[r, c] = K.quotient(wbuf[c], total, scale)
            else:
                out[r] = 0.0
                for j in range(n):
                    out[r, idx[j]] = K.quotient(wbuf[j], total, scale)
            if want_q and want_grad:
                _copy_row(grad, q, r)
            if want_grad:
                grad[r, labels[r]] -= 1.0
        if loss.shape[0] == B:
            loss[r] = -((np.float64(row[labels[r]]) - vmax) + x)


@_rows
def _sparsemax_pairs(h, labels, nu, p, q, loss, grad, bad, r0, r1):
    """:func:`_forward_rows` at beta = 1 on rows of 2 classes, bit for bit (its arithmetic,
    written out for a pair; the outputs and labels as there, wanted when they have B rows).

    ``_kernels.collect`` keeps the other class when ``d = z > -1``; ``_kernels.threshold``
    then ends in one pass with ``tau = (d - 1) / 2`` (``d > tau`` for every ``d > -1``: the
    rounding of ``d - 1`` is at most half the spacing of the floats above -1), else with
    ``tau = -1``, the maximum alone; ``x = -(1 + tau)``. p is ``beta s`` (``p_term``) and q
    is 1 on the support (``q_term``), normalized by ``quotient``. ``(524288, 2)`` float32 on
    2 threads: 58 ns a row by the general path (a call per step), 9 here; MRCpy's closed form
    in torch 24-42."""
    B = h.shape[0]
    want_p = p.shape[0] == B
    want_q = q.shape[0] == B
    want_grad = grad.shape[0] == B
    has_labels = labels.shape[0] == B
    for r in range(r0, r1):
        if has_labels and not 0 <= labels[r] < 2:  # the caller names the label (BadRows)
            bad[r] = True
            continue
        row = h[r]
        vmax, vmin = K.extrema(row)
        bad[r] = not K.finite(vmax, vmin)
        if bad[r]:
            continue
        m = 0 if row[0] == vmax else 1  # the first maximum
        d = np.float64(row[1 - m]) - vmax
        both = d > -1.0  # collect's test, v - vmax > -beta
        tau = (d - 1.0) / 2.0 if both else -1.0
        x = -(1.0 + tau)
        if nu.shape[0] == B:
            nu[r] = x - vmax
        if want_p:
            p[r, m] = K.p_term(0.0, x, 1.0)
            p[r, 1 - m] = K.p_term(d, x, 1.0) if both else 0.0
        if want_q or want_grad:
            w0 = K.q_term(0.0, x, 1.0)
            w1 = K.q_term(d, x, 1.0) if both else 0.0
            total = w0 + w1  # 1 or 2, exactly as the general rows' compensated sum
            scale = 1.0 / total
            out = q if want_q else grad
            out[r, m] = K.quotient(w0, total, scale)
            out[r, 1 - m] = K.quotient(w1, total, scale) if both else 0.0
            if want_q and want_grad:
                _copy_row(grad, q, r)
            if want_grad:
                grad[r, labels[r]] -= 1.0
        if loss.shape[0] == B:
            loss[r] = -((np.float64(row[labels[r]]) - vmax) + x)


@_rows
def _forward_blocks(h, labels, beta, rtol, nu, p, q, loss, grad, bad, lo, r0, r1, work, lanes,
                    flags):
    """:func:`_forward_rows` for short rows, ``LANES`` at a time (``_blocks``; scratch from
    ``_blocks.scratch``): the solve, then p and q afresh at each row's root, written out in
    column order."""
    B, C = h.shape
    want_p = p.shape[0] == B
    want_q = q.shape[0] == B
    want_grad = grad.shape[0] == B
    has_labels = labels.shape[0] == B
    zt = work[0]
    xb = work[1]
    qw = work[2]
    w = work[3:10]
    pw = w[0]
    acc = work[10]
    sel = work[11]
    end = C * LANES
    for b0 in range(r0, r1, LANES):
        b1 = min(r1, b0 + LANES)
        Bk.load(h, b0, b1, lo, beta, zt, lanes, flags)
        Bk.solve(zt, end, xb, beta, rtol, lo, NEWTON_MAX_ITER, qw, w, acc, sel, lanes, flags)
        if want_p or want_q or want_grad:
            Bk.at_root(zt, end, xb, beta, rtol, qw, w, acc, sel, lanes, flags, want_p)
        for l in range(b1 - b0):
            r = b0 + l
            m = flags[Bk.COL, l]
            bad[r] = m < 0 or (has_labels and not 0 <= labels[r] < C)
            if bad[r]:  # the caller names the row, or the label (BadRows)
                continue
            x = lanes[Bk.X, l]
            vmax = lanes[Bk.VMAX, l]
            if nu.shape[0] == B:
                nu[r] = x - vmax
            if want_p:
                p[r, m] = pw[l]
                for j in range(1, C):
                    p[r, Bk.column(j, m)] = pw[j * LANES + l]
            if want_q or want_grad:
                out = q if want_q else grad
                total = acc[l] + acc[LANES + l]
                scale = 1.0 / total
                out[r, m] = K.quotient(qw[l], total, scale)
                for j in range(1, C):
                    out[r, Bk.column(j, m)] = K.quotient(qw[j * LANES + l], total, scale)
                if want_q and want_grad:
                    _copy_row(grad, q, r)
                if want_grad:
                    grad[r, labels[r]] -= 1.0
            if loss.shape[0] == B:
                loss[r] = -((np.float64(h[r, labels[r]]) - vmax) + x)


@_rows
def _softmax_rows(h, labels, nu, p, q, loss, grad, bad, r0, r1, work):
    """:func:`_forward_rows` at beta = inf: the closed form on whole rows
    (``_kernels.softmax_row``: ``exp`` in SIMD, no candidates), p = q = the softmax, written
    in column order; the outputs and labels as there (wanted when they have B rows). Faster
    than the scalar path from 2 classes on."""
    B, C = h.shape
    want_p = p.shape[0] == B
    want_q = q.shape[0] == B
    want_grad = grad.shape[0] == B
    has_labels = labels.shape[0] == B
    z = work[0]
    w = work[1]
    scr = work[2:]
    for r in range(r0, r1):
        if has_labels and not 0 <= labels[r] < C:  # the caller names the label (BadRows)
            bad[r] = True
            continue
        row = h[r]
        x, vmax, vmin, total = K.softmax_row(row, z, w, scr)
        bad[r] = not K.finite(vmax, vmin)
        if bad[r]:
            continue
        if nu.shape[0] == B:
            nu[r] = x - vmax
        if want_p or want_q or want_grad:
            scale = 1.0 / total  # K.quotient: a product and two fma, no division
            out = q if want_q else (p if want_p else grad)
            for c in range(C):
                out[r, c] = K.quotient(w[c], total, scale)
            if want_p and want_q:
                _copy_row(p, q, r)
            if want_grad:
                if want_q or want_p:
                    _copy_row(grad, out, r)
                grad[r, labels[r]] -= 1.0
        if loss.shape[0] == B:
            loss[r] = -((np.float64(row[labels[r]]) - vmax) + x)


@njit(cache=True, error_model="numpy", inline="always", _nrt=False)
def _copy_row(dst, src, r):
    """``dst[r] = src[r]`` by elements (the slice assignment may allocate a copy)."""
    for c in range(dst.shape[1]):
        dst[r, c] = src[r, c]


def _chunk(B, C):
    """Rows per work item of a (B, C) batch: all ``B`` for a batch of at most
    ``config.SERIAL_MAX_LOGITS`` logits, where the parallel region's start (about a
    microsecond) is not worth it; else at most ``config.ROWS_PER_CHUNK``, fewer when that
    leaves a thread idle (64 rows of 10000 classes are work for every core). A batch of one
    item (``chunk >= B``: one row, or one thread) runs on the calling thread, without the
    parallel region (``_forward_serial``, ``_solve_serial``)."""
    if B * C <= SERIAL_MAX_LOGITS:
        return B
    return max(1, min(ROWS_PER_CHUNK, -(-B // _num_threads())))


@njit
def _num_threads():
    """``numba.get_num_threads()``, read from compiled code: the same thread-local setting in
    0.06 us instead of 0.7 (the Python function makes sure the thread pool is up each call).
    (Not cached, nor called from the cached kernels: that would make them uncacheable.)"""
    return get_num_threads()


def solve(h, beta, method, tol, max_iter):
    """Shifted-and-restored root nu per row, with iteration counts and convergence flags."""
    B = h.shape[0]
    nu = np.empty(B)
    iterations = np.empty(B, dtype=np.int64)
    converged = np.empty(B, dtype=np.bool_)
    rtol = NEWTON_RTOL[h.dtype] if tol <= 0.0 else 0.0
    chunk = _chunk(B, h.shape[1])
    first_bad = (_solve_serial if chunk >= B else _solve_batch)(
        h, beta, 0 if method == "newton" else 1, tol, rtol, max_iter, nu, iterations, converged,
        chunk)
    if first_bad >= 0:
        raise V.BadRows(first_bad)
    return nu, iterations, converged


def forward(h, labels, beta, outputs):
    """The requested subset of nu, link, worst_case, loss, grad, in ``h.dtype``."""
    B, C = h.shape
    dt = h.dtype
    if labels is None and ("loss" in outputs or "grad" in outputs):
        raise ValueError("the loss and its gradient need labels")  # the kernels index them
    rtol, q_tol, vec, mat = _BY_DTYPE[dt]
    out = {}
    for name in outputs:  # (a loop: a comprehension's own frame cost ~0.1 us a call)
        out[name] = np.empty((B, C) if name in MATRIX_OUTPUTS else B, dt)
    get = out.get
    chunk = _chunk(B, C)
    first_bad = (_forward_serial if chunk >= B else _forward_batch)(
        h, _NO_LABELS if labels is None else labels, beta, rtol, q_tol, get("nu", vec),
        get("link", mat), get("worst_case", mat), get("loss", vec), get("grad", mat), chunk)
    if first_bad >= 0:
        raise V.BadRows(first_bad)
    return out
