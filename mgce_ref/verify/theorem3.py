"""Theorem 3 (eq. 22): the gradient of the margin loss ``-h_y - nu(h)`` is ``q - e_y``.

Two independent routes to the derivative, both compared with :func:`mgce_ref.grad`:

1. Central finite differences of :func:`mgce_ref.loss` (float64, steps ``2**-16`` and
   ``2**-17`` in each logit, divided by the step actually taken, Richardson-extrapolated so
   the truncation error is O(step**4)). Rows with a class within ``1e-3`` of the support
   boundary (``|s_c| < 1e-3``) are skipped and counted: there the loss is not smooth on the
   scale of the step (a kink at beta = 1, an unbounded second derivative for beta < 2).
2. Implicit differentiation of the root equation ``F(nu, h) = sum_c [s_c]_+**beta - 1 = 0``
   (eq. 37 and Appendix E): ``d nu / d h_c = -(dF/dh_c) / (dF/dnu)``, with both partial
   derivatives taken numerically by ``mpmath.diff`` at the 50-digit root, so the formula
   ``q_c = s_c**(beta-1) / sum_k s_k**(beta-1)`` is never used. Rows with a class exactly on
   the support boundary (F not differentiable there) are skipped and counted.
"""

import math
import sys

import numpy as np

from ..config import MP_DPS
from ..exact import mp_nu
from . import _sweep, check, module_main
from ._api import grad, loss, solve_nu

STEP = 2.0**-16  # Richardson on steps 2**-16, 2**-17: truncation ~step**4, cancellation ~eps/step
SMOOTH_KINDS = ("normal", "wide", "near tie", "ties", "dominant", "constant")


def support_margin(h, beta):
    """``min_c |s_c|`` per row at the root: the distance (in s) to the nearest support edge."""
    if math.isinf(beta):
        return np.full(h.shape[0], np.inf)
    nu = solve_nu(h, beta)
    return np.abs((h + nu[:, None]) / beta + 1.0).min(axis=1)


def richardson(diff, *args, step=STEP):
    """``(4 D(step/2) - D(step)) / 3`` for a central difference ``D = diff(*args, step)``: the
    step**2 term of the truncation error cancels."""
    return (4.0 * diff(*args, 0.5 * step) - diff(*args, step)) / 3.0


def central_differences(h, y, beta, step):
    """``d loss / d h_k`` for every row and class by central differences, (B, C)."""
    B, C = h.shape
    E = np.eye(C)
    hp, hm = h[:, None, :] + step * E, h[:, None, :] - step * E
    taken = (hp - hm)[:, np.arange(C), np.arange(C)]  # the step the floats really took
    yy = np.repeat(y, C)
    lp = loss(hp.reshape(-1, C), yy, beta).reshape(B, C)
    lm = loss(hm.reshape(-1, C), yy, beta).reshape(B, C)
    return (lp - lm) / taken


@check("theorem3_finite_diff", "Thm 3, eq. 22: grad loss = q - e_y, against central finite "
       "differences of the loss (Richardson) (slack: -max abs difference)", "fd")
def check_finite_differences(quick=False):
    g = _sweep.rng(22)
    slacks, skipped, total = [], 0, 0
    for C in (2, 3, 10, 100) if quick else (2, 3, 5, 10, 100, 300):
        h = _sweep.rows(g, C, 4 if quick else 12, SMOOTH_KINDS)
        y = g.integers(0, C, size=h.shape[0])
        for beta in _sweep.BETAS:
            ok = support_margin(h, beta) >= 1e-3
            total += ok.size
            skipped += int((~ok).sum())
            if ok.any():
                fd = richardson(central_differences, h[ok], y[ok], beta)
                err = np.abs(fd - grad(h[ok], y[ok], beta))
                slacks.append(-err.max(axis=1))
    note = (f"steps 2**-16, 2**-17; {skipped} of {total} rows skipped (a class within 1e-3 of "
            "the support edge)")
    return np.concatenate(slacks), note


def mp_root(row, beta, dps=MP_DPS):
    """``(x, z)``: the 50-digit root ``x`` of eq. 13 for the shifted row ``z = h - max(h)``
    (as mpmath numbers). Shifting changes no derivative with respect to the logits."""
    import mpmath

    out = mp_nu(row, beta, dps)
    if isinstance(out, tuple):  # (shifted root, shifted row)
        return out
    with mpmath.workdps(dps + 10):  # an unshifted root
        top = mpmath.mpf(float(np.max(row)))
        return out + top, [mpmath.mpf(float(v)) - top for v in row]


def implicit_gradient(row, y, beta, dps=MP_DPS):
    """``d loss / d h`` from the implicit function theorem on eq. 37, in ``dps`` digits, or None
    when a class sits exactly on the support boundary. Returns a list of mpmath numbers."""
    import mpmath

    with mpmath.workdps(dps + 10):
        nu, h = mp_root(row, beta, dps)
        b = None if math.isinf(beta) else mpmath.mpf(beta)

        def term(v, n):
            if b is None:
                return mpmath.exp(v + n)
            s = (v + n) / b + 1
            return s**b if s > 0 else mpmath.mpf(0)

        def F(n, *hs):
            return mpmath.fsum(term(v, n) for v in hs) - 1

        if b is not None and min(abs((v + nu) / b + 1) for v in h) < mpmath.mpf(10) ** (-20):
            return None
        F_nu = mpmath.diff(lambda n: F(n, *h), nu)
        out = []
        for c in range(len(h)):
            F_hc = mpmath.diff(lambda v: term(v, nu), h[c])  # F depends on h_c through one term
            out.append(F_hc / F_nu - (1 if c == y else 0))  # -d nu/dh_c - e_y
        return out


@check("theorem3_implicit", "Thm 3, eq. 22 (App. E): grad = q - e_y equals -d nu/dh - e_y from "
       "implicit differentiation of eq. 37, partials by mpmath.diff (slack: -max abs "
       "difference)", "prob")
def check_implicit(quick=False):
    g = _sweep.rng(38)
    slacks, skipped = [], 0
    for C in (2, 3, 5, 10) if quick else (2, 3, 4, 5, 10, 20):
        h = _sweep.rows(g, C, 1 if quick else 3)
        y = g.integers(0, C, size=h.shape[0])
        for beta in _sweep.BETAS:
            gr = grad(h, y, beta)
            for r in range(h.shape[0]):
                ref = implicit_gradient(h[r], int(y[r]), beta)
                if ref is None:
                    skipped += 1
                    continue
                slacks.append(-max(abs(float(gr[r, c] - ref[c])) for c in range(C)))
    return slacks, f"{skipped} rows skipped (a class exactly on the support edge: a kink)"


CHECKS = (check_finite_differences, check_implicit)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
