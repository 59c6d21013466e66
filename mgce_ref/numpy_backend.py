"""NumPy backend: the readable reference, vectorized over the batch.

Same mathematics as the Numba kernels (``_kernels``), written with whole-array operations:
Newton on ``phi(nu) = ||[s(nu)]_+||_beta - 1`` from the right of the eq. 26 bracket for every
row at once (rows freeze as they converge), bisection on the bracket, and the closed forms at
beta = 1 (sorting) and beta = inf. Works in float64 and rounds once to the input dtype.
"""

import math

import numpy as np

from .closed_forms import softmax_root, sparsemax_root
from .config import NEWTON_MAX_ITER, REFINE_Q_TOL, SERIES_CUTOFF


def beta_s(z, x, beta):
    """beta + z + x with the two-sum correction (see ``_kernels.beta_s``)."""
    t = z + x
    bz = t - z
    return (beta + t) + ((z - (t - bz)) + (x - bz))


def log_s(z, x, beta):
    """log s for s = 1 + (z + x)/beta: series for tiny ratios, log(beta_s/beta) below 1/2."""
    r = (z + x) / beta
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(r < -0.5, np.log(beta_s(z, x, beta) / beta), np.log1p(r))
    return np.where(np.abs(r) < SERIES_CUTOFF, r * (1.0 - r * (0.5 - r / 3.0)), out)


def log_p(z, x, beta):
    """beta * log s; ``z + x`` itself at beta = inf."""
    t = z + x
    if np.isinf(beta):
        return t
    r = t / beta
    return np.where(np.abs(r) < SERIES_CUTOFF, t * (1.0 - r * (0.5 - r / 3.0)), beta * log_s(z, x, beta))


def log_q(z, x, beta):
    """(beta - 1) * log s."""
    return z + x if np.isinf(beta) else (beta - 1.0) * log_s(z, x, beta)


def base(n_classes, beta):
    """beta * ((1/C)**(1/beta) - 1) as an expm1 (eq. 26), with ``math`` as ``_kernels.base``
    computes it (NumPy's SIMD ``expm1`` can differ in the last bit, and the bracket must hold
    the kernels' roots exactly)."""
    a = -math.log(n_classes)
    x = a / beta
    if abs(x) < SERIES_CUTOFF:
        return a * (1.0 + x * (0.5 + x * (1.0 / 6.0)))
    return beta * math.expm1(x)


def _shift(h):
    h = h.astype(np.float64)
    vmax = h.max(axis=1)
    with np.errstate(over="ignore"):  # a spread beyond 1.8e308 gives z = -inf: p = 0, rightly
        return h - vmax[:, None], vmax


def residual(z, x, beta):
    """f(x) and f'(x) of eq. 13 per row; the first maximum contributes expm1."""
    xb = x[:, None]
    live = z + xb > -beta
    zl = np.where(live, z, 0.0)  # keeps the logs finite; masked out below
    e = log_p(zl, xb, beta)
    terms = np.where(live, np.exp(e), 0.0)
    rows = np.arange(z.shape[0])
    first = np.argmax(z, axis=1)
    terms[rows, first] = np.expm1(e[rows, first])
    d = np.where(live, np.exp(log_q(zl, xb, beta)), 0.0).sum(axis=1)
    return terms.sum(axis=1), d


def _bracket(z, beta):
    lo = np.full(z.shape[0], base(z.shape[1], beta))
    return lo, lo - z.min(axis=1)


def newton(z, beta, tol, max_iter):
    lo, hi = _bracket(z, beta)
    x = np.where(hi < 0.0, hi, 0.0)
    iterations = np.zeros(len(x), np.int64)
    active = np.ones(len(x), bool)
    for _ in range(max_iter):
        if not active.any():
            break
        iterations[active] += 1
        f, d = residual(z[active], x[active], beta)
        phi = np.expm1(np.log1p(np.maximum(f, 0.0)) / beta)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(f > 0.0, beta * phi * (1.0 + f) / ((1.0 + phi) * d), 0.0)
        xn = np.maximum(x[active] - step, lo[active])
        moved = xn < x[active]
        idx = np.flatnonzero(active)
        x[idx[moved]] = xn[moved]
        done = ~moved
        if tol > 0.0:
            done |= step <= tol
        active[idx[done]] = False
    return x, iterations, ~active


def bisect(z, beta, tol, max_iter):
    lo, hi = _bracket(z, beta)
    B = z.shape[0]
    iterations = np.zeros(B, np.int64)
    if tol > 0.0:
        hi = np.where(np.isinf(hi), 0.0, hi)
        for _ in range(max_iter):
            active = hi - lo > tol
            if not active.any():
                break
            iterations[active] += 1
            mid = 0.5 * (lo + hi)
            pos = residual(z[active], mid[active], beta)[0] > 0.0
            idx = np.flatnonzero(active)
            hi[idx[pos]] = mid[idx[pos]]
            lo[idx[~pos]] = mid[idx[~pos]]
        return 0.5 * (lo + hi), iterations, hi - lo <= tol
    a = -np.minimum(hi, 0.0)  # magnitudes a <= b
    b = -lo
    converged = np.zeros(B, bool)
    for _ in range(max_iter):
        y = np.where(a == 0.0, b * 1e-12, np.where(b > 4.0 * a, np.sqrt(a) * np.sqrt(b), 0.5 * (a + b)))
        converged |= ~((a < y) & (y < b))
        active = ~converged
        if not active.any():
            break
        iterations[active] += 1
        idx = np.flatnonzero(active)
        pos = residual(z[active], -y[active], beta)[0] > 0.0
        a[idx[pos]] = y[idx[pos]]
        b[idx[~pos]] = y[idx[~pos]]
    return -np.where(a == b, a, 0.5 * (a + b)), iterations, converged


def root(z, beta, method="newton", tol=0.0, max_iter=NEWTON_MAX_ITER):
    """Shifted root x = nu + max(h) per row, with iteration counts and convergence flags."""
    B = z.shape[0]
    if method == "newton" and beta == 1.0:
        return sparsemax_root(z), np.ones(B, np.int64), np.ones(B, bool)
    if method == "newton" and np.isinf(beta):
        return softmax_root(z), np.ones(B, np.int64), np.ones(B, bool)
    return (newton if method == "newton" else bisect)(z, beta, tol, max_iter)


def solve(h, beta, method, tol, max_iter):
    z, vmax = _shift(h)
    x, iterations, converged = root(z, beta, method, tol, max_iter)
    return x - vmax, iterations, converged


def outputs_from_root(z, labels, beta, x, outputs, h, vmax):
    """Evaluate the wanted outputs (eqs. 14, 17, 22, 23) at the shifted root ``x`` of the rows
    ``h`` (maxima ``vmax``, ``z = h - vmax``).

    For 1 < beta < 2, q is ill-conditioned in nu when a class sits at the edge of the support
    (dq_c/dnu ∝ s_c**(beta - 2)); those rows are redone from the double-double root of
    ``_refine`` (the same kernel the Numba backend calls).
    """
    xb = x[:, None]
    live = z + xb > -beta
    zl = np.where(live, z, 0.0)
    rows = np.arange(z.shape[0])
    out = {}
    if "link" in outputs:
        p = beta_s(zl, xb, 1.0) if beta == 1.0 else np.exp(log_p(zl, xb, beta))
        out["link"] = np.where(live, p, 0.0)
    if "worst_case" in outputs or "grad" in outputs:
        w = np.where(live, np.exp(log_q(zl, xb, beta)), 0.0)
        q = w / w.sum(axis=1, keepdims=True)
        if 1.0 < beta < 2.0:
            from ._refine import refine_worst_case

            refine_worst_case(np.ascontiguousarray(h, dtype=np.float64), vmax, x, beta, q,
                              REFINE_Q_TOL[h.dtype])
        if "worst_case" in outputs:
            out["worst_case"] = q
        if "grad" in outputs:
            g = q.copy()
            g[rows, labels] -= 1.0
            out["grad"] = g
    if "loss" in outputs:
        out["loss"] = -(z[rows, labels] + x)
    if "nu" in outputs:
        out["nu"] = x
    return out


def forward(h, labels, beta, outputs):
    z, vmax = _shift(h)
    x = root(z, beta)[0]
    out = outputs_from_root(z, labels, beta, x, outputs, h, vmax)
    if "nu" in out:
        out["nu"] = x - vmax
    return {k: out[k].astype(h.dtype, copy=False) for k in outputs}
