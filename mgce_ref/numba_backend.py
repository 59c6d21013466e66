"""Numba CPU backend: the row kernels of ``_kernels`` composed into ``prange`` batch kernels.

Each work item takes ``ROWS_PER_CHUNK`` rows and two float64 scratch rows (the candidate
classes of ``_kernels.collect``, the unnormalized q), so no (B, C) temporary is made beyond the outputs. float32
logits are read as float64 element by element and results rounded once, on store.
"""

import numpy as np
from numba import njit, prange

from . import _kernels as K
from ._dispatch import output_shapes
from . import _refine as R
from .config import NEWTON_MAX_ITER, ROWS_PER_CHUNK


@njit(parallel=True, cache=True, error_model="numpy")
def _solve_batch(h, beta, method, tol, max_iter, nu, iterations, converged):
    B, C = h.shape
    for k in prange((B + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK):
        buf = np.empty(C)
        for r in range(k * ROWS_PER_CHUNK, min(B, (k + 1) * ROWS_PER_CHUNK)):
            n, m, vmax, vmin = K.collect(h[r], beta, buf)
            x, it, ok = K.solve(buf, n, m, vmax, vmin, C, beta, method, tol, max_iter)
            nu[r] = x - vmax
            iterations[r] = it
            converged[r] = ok


@njit(parallel=True, cache=True, error_model="numpy")
def _forward_batch(h, labels, beta, nu, p, q, loss, grad):
    """One solve per row, then one pass over the row writing each wanted output.

    An output is wanted when its array has B rows (unwanted ones are passed with 0 rows).
    """
    B, C = h.shape
    want_q = q.shape[0] == B
    want_grad = grad.shape[0] == B
    for k in prange((B + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK):
        buf = np.empty(C)
        wbuf = np.empty(C)
        for r in range(k * ROWS_PER_CHUNK, min(B, (k + 1) * ROWS_PER_CHUNK)):
            row = h[r]
            n, m, vmax, vmin = K.collect(row, beta, buf)
            x = K.solve(buf, n, m, vmax, vmin, C, beta, 0, 0.0, NEWTON_MAX_ITER)[0]
            if nu.shape[0] == B:
                nu[r] = x - vmax
            if p.shape[0] == B:
                for c in range(C):
                    p[r, c] = K.p_term(float(row[c]) - vmax, x, beta)
            if want_q or want_grad:
                # One pass computing s**(beta - 1) per class into a float64 scratch row and
                # summing it, one pass normalizing. For 1 < beta < 2 a class at the edge of the
                # support makes q ill-conditioned in nu: those rows (refine_needed) use the
                # double-double root of _refine.
                out = q if want_q else grad
                refined = R.refine_needed(buf, n, vmax, x, beta)
                x_lo = R.refine(buf, n, m, vmax, x, beta) if refined else 0.0
                total = 0.0
                comp = 0.0
                for c in range(C):
                    z = float(row[c]) - vmax
                    if not refined:
                        w = K.q_term(z, x, beta)
                    elif z + x > -beta * (1.0 + 1e-9):  # near or in the support
                        w = R.q_term_dd(row[c], vmax, x, x_lo, beta)
                    else:
                        w = 0.0
                    wbuf[c] = w
                    total, comp = K.add(total, comp, w)
                total += comp
                for c in range(C):
                    out[r, c] = wbuf[c] / total
                if want_q and want_grad:
                    grad[r] = q[r]
                if want_grad:
                    grad[r, labels[r]] -= 1.0
            if loss.shape[0] == B:
                loss[r] = -((float(row[labels[r]]) - vmax) + x)


def solve(h, beta, method, tol, max_iter):
    """Shifted-and-restored root nu per row, with iteration counts and convergence flags."""
    B = h.shape[0]
    nu = np.empty(B)
    iterations = np.empty(B, dtype=np.int64)
    converged = np.empty(B, dtype=np.bool_)
    _solve_batch(h, beta, 0 if method == "newton" else 1, tol, max_iter, nu, iterations, converged)
    return nu, iterations, converged


def forward(h, labels, beta, outputs):
    """The requested subset of nu, link, worst_case, loss, grad, in ``h.dtype``."""
    B, C = h.shape
    dt = h.dtype
    out = {name: np.empty(shape, dt) for name, shape in output_shapes(B, C, outputs).items()}
    if labels is None:
        labels = np.zeros(0, np.int64)
    _forward_batch(h, labels, beta, out["nu"], out["link"], out["worst_case"], out["loss"], out["grad"])
    return {name: out[name] for name in outputs}
