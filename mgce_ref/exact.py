"""Exact solvers: the "exact" backend (SciPy, full float64) and the mpmath ground truth.

``backend="exact"`` finds each row's root with ``scipy.optimize.brentq`` on eq. 13, evaluated
with ``math.fsum`` (correctly rounded sums), then polishes it to the float whose residual is
smallest among its neighbours: the last bit float64 allows. ``mp_reference`` solves the same
equation in arbitrary precision (``dps`` digits, 50 by default) with its own algorithm (Newton
on ``f`` itself from the right, certified by its residual); the tests use it as ground truth.
"""

import math

import numpy as np

from . import numpy_backend as npb
from .closed_forms import softmax_root, sparsemax_root
from .config import EXACT_MAX_ITER, MP_DPS


def _f(x, z, m, beta):
    """Eq. 13 residual of one row at shifted x, correctly rounded sum of float64 terms."""
    terms = []
    for c, zc in enumerate(z):
        if zc + x > -beta:
            e = float(npb.log_p(np.float64(zc), np.float64(x), beta))
            terms.append(math.expm1(e) if c == m else math.exp(e))
    return math.fsum(terms)


def _root_row(z, beta, tol, max_iter):
    from scipy.optimize import brentq

    m = int(np.argmax(z))
    lo = float(npb.base(len(z), beta))
    hi = min(lo - float(z.min()), 0.0)
    f_hi = _f(hi, z, m, beta)
    if f_hi <= 0.0 or lo == hi:
        return hi, 0, True
    if _f(lo, z, m, beta) >= 0.0:
        return lo, 0, True
    xtol = tol if tol > 0.0 else 1e-300
    x, res = brentq(_f, lo, hi, args=(z, m, beta), xtol=xtol, rtol=4 * np.finfo(float).eps,
                    maxiter=max_iter, full_output=True, disp=False)
    if tol <= 0.0:  # polish: the float with the smallest |f| among x and its neighbours
        cands = [x]
        for direction in (-math.inf, math.inf):
            y = x
            for _ in range(4):
                y = math.nextafter(y, direction)
                cands.append(y)
        x = min(cands, key=lambda c: (abs(_f(c, z, m, beta)), c))
    return x, res.iterations, res.converged


def _roots(z, beta, tol, max_iter):
    B = z.shape[0]
    if beta == 1.0:
        return sparsemax_root(z), np.ones(B, np.int64), np.ones(B, bool)
    if math.isinf(beta):
        return softmax_root(z), np.ones(B, np.int64), np.ones(B, bool)
    x = np.empty(B)
    iterations = np.zeros(B, np.int64)
    converged = np.ones(B, bool)
    for r in range(B):
        x[r], iterations[r], converged[r] = _root_row(z[r], beta, tol, max_iter or EXACT_MAX_ITER)
    return x, iterations, converged


def solve(h, beta, method, tol, max_iter):
    """The exact root whatever ``method`` says: brentq (``tol`` is its ``xtol``), or the
    closed forms at beta = 1 and inf."""
    z, vmax = npb._shift(h)
    x, iterations, converged = _roots(z, beta, tol, max_iter)
    return x - vmax, iterations, converged


def forward(h, labels, beta, outputs):
    z, vmax = npb._shift(h)
    x, _, converged = _roots(z, beta, 0.0, None)
    if not converged.all():  # never seen within EXACT_MAX_ITER; never a silent wrong root
        raise RuntimeError(f"brentq did not converge on row {int(np.argmin(converged))} "
                           f"within {EXACT_MAX_ITER} iterations")
    out = npb.outputs_from_root(z, labels, beta, x, outputs, h, vmax)
    if "nu" in out:
        out["nu"] = x - vmax
    return {k: out[k].astype(h.dtype, copy=False) for k in outputs}


# ----------------------------------------------------------------------------- mpmath


def mp_nu(row, beta, dps=MP_DPS):
    """The shifted root ``x = nu + max(h)`` of eq. 13 for one row of float64 logits, as an
    mpmath number with ``dps`` digits, and the shifted row ``z = h - max(h)`` it refers to.

    Shifting is exact math and keeps the digits where they matter (``nu`` itself may be
    -1e308 while the loss is 1e-20). beta = 1 and inf use the closed forms in exact
    arithmetic; otherwise Newton on ``f`` itself from the upper end of the eq. 26 bracket
    (``f`` is convex and increasing, so the iterates fall monotonically to the root), stopped
    when the step is below ``10**-(dps + 5)`` and checked by the residual.
    """
    import mpmath

    # s**beta amplifies the rounding of s by beta: carry log10(beta) more digits.
    extra = int(math.log10(beta)) + 1 if math.isfinite(beta) else 0
    with mpmath.workdps(dps + 10 + extra):
        h = [mpmath.mpf(float(v)) for v in row]
        hmax = max(h)
        z = [v - hmax for v in h]
        C = len(z)
        if beta == 1.0:
            s = mpmath.mpf(0)
            best = None
            for k, v in enumerate(sorted(z, reverse=True), start=1):
                s += v
                tau = (s - 1) / k
                best = tau if best is None or tau > best else best
            return -(1 + best), z
        if math.isinf(beta):
            return -mpmath.log(mpmath.fsum(mpmath.exp(v) for v in z)), z
        b = mpmath.mpf(beta)

        def f_and_d(x):
            f = mpmath.mpf(-1)
            d = mpmath.mpf(0)
            for v in z:
                s = (v + x) / b + 1
                if s > 0:
                    f += s**b
                    d += s ** (b - 1)
            return f, d

        base = b * mpmath.expm1(-mpmath.log(C) / b)
        x = min(base - min(z), mpmath.mpf(0))
        eps = mpmath.mpf(10) ** (-(dps + 5))
        for _ in range(10_000):
            f, d = f_and_d(x)
            if f <= 0:
                break
            step = f / d
            x -= step
            if step <= eps * max(1, abs(x)):
                break
        f, _ = f_and_d(x)
        if abs(f) > mpmath.mpf(10) ** (-dps):
            raise ArithmeticError(f"mpmath solve did not converge (residual {f})")
        return x, z


def mp_reference(logits, labels=None, beta=2.0, dps=MP_DPS):
    """Ground truth for every output, computed with ``dps`` digits and rounded to float64.

    Independent of the fast paths: its own root finder (:func:`mp_nu`), plain formulas.

    Returns a dict with "nu" (B,), "link" (B, C), "worst_case" (B, C) and, with labels,
    "loss" (B,) and "grad" (B, C). ``logits`` is a (B, C) float array, ``labels`` (B,) ints.
    """
    import mpmath

    h = np.asarray(logits, dtype=np.float64)
    B, C = h.shape
    out = {k: np.empty((B, C)) for k in ("link", "worst_case")}
    out["nu"] = np.empty(B)
    if labels is not None:
        out["loss"] = np.empty(B)
        out["grad"] = np.empty((B, C))
    with mpmath.workdps(dps + 10):
        for r in range(B):
            x, z = mp_nu(h[r], beta, dps)
            if math.isinf(beta):
                p = [mpmath.exp(v + x) for v in z]
                w = p
            else:
                b = mpmath.mpf(beta)
                s = [(v + x) / b + 1 for v in z]
                p = [si**b if si > 0 else mpmath.mpf(0) for si in s]
                w = [(si ** (b - 1) if beta > 1 else mpmath.mpf(1)) if si > 0 else mpmath.mpf(0) for si in s]
            total = mpmath.fsum(w)
            q = [wi / total for wi in w]
            out["nu"][r] = float(x - max(mpmath.mpf(float(v)) for v in h[r]))
            out["link"][r] = [float(v) for v in p]
            out["worst_case"][r] = [float(v) for v in q]
            if labels is not None:
                y = int(labels[r])
                out["loss"][r] = float(-z[y] - x)
                out["grad"][r] = [float(q[c] - (1 if c == y else 0)) for c in range(C)]
    return out
