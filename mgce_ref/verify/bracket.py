"""Eq. 26: the bisection interval ``[nu_lo, nu_hi]`` contains the root of eq. 13.

``f(nu) = sum_c [(h_c + nu)/beta + 1]_+**beta - 1`` is evaluated in mpmath (50 digits) at
the float64 endpoints that :func:`mgce_ref.interval` returns, so the check judges the
bracket the library hands to a bisection, not a rounded re-computation of it.

Slack: the Newton distance from an endpoint to the root, signed so that it is >= 0 when the
root lies inside, in units of ``eps * max(1, max|h|, |nu_lo|, |nu_hi|)`` (the spacing of floats
near the ends):
``-f(nu_lo) / f'(nu_lo)`` and ``f(nu_hi) / f'(nu_hi)`` (``f' > 0`` at both ends: every
``s_c`` is ``>= C**(-1/beta)`` at ``nu_hi`` and the largest is ``C**(-1/beta)`` at ``nu_lo``).
A constant row has ``nu_lo = nu_hi = nu``, so its slack is rounding alone.
"""

import math
import sys

import numpy as np

from .. import interval
from ..config import MP_DPS
from . import _sweep, check, module_main


def f_and_slope(row, nu, beta, dps=MP_DPS):
    """``f(nu)`` of eq. 13 and ``f'(nu) = sum_c [s_c]_+**(beta-1)``, in ``dps`` digits, at the
    exact float values ``row`` and ``nu``; returned as mpmath numbers."""
    import mpmath

    with mpmath.workdps(dps):
        nu = mpmath.mpf(float(nu))
        if math.isinf(beta):
            terms = [mpmath.exp(mpmath.mpf(float(v)) + nu) for v in row]
            return mpmath.fsum(terms) - 1, mpmath.fsum(terms)
        b = mpmath.mpf(beta)
        f, d = [], []
        for v in row:
            s = (mpmath.mpf(float(v)) + nu) / b + 1
            if s > 0:
                f.append(s if beta == 1.0 else s**b)
                d.append(mpmath.mpf(1) if beta == 1.0 else s ** (b - 1))
        return mpmath.fsum(f) - 1, mpmath.fsum(d)


@check("bracket_eq26", "eq. 26: f(nu_lo) <= 0 <= f(nu_hi), f of eq. 13 in 50 digits at the "
       "float64 ends (slack: Newton distance to the root, in ulps of max(1,|h|,|nu|))", "nu_ulps")
def check_bracket(quick=False):
    g = _sweep.rng(26)
    slacks = []
    f_lo_max, f_hi_min = -math.inf, math.inf
    outside = outside_nonconstant = 0
    for C in _sweep.class_counts(quick):
        n = 1 if C >= 1000 else (2 if quick else 4)
        h = _sweep.rows(g, C, n)
        for beta in _sweep.BETAS:
            lo, hi = interval(h, beta)
            unit = np.maximum(_sweep.ulp_scale(h), np.finfo(np.float64).eps
                              * np.maximum(np.abs(lo), np.abs(hi)))
            for r in range(h.shape[0]):
                f_lo, d_lo = f_and_slope(h[r], lo[r], beta)
                f_hi, d_hi = f_and_slope(h[r], hi[r], beta)
                pair = (float(-f_lo / d_lo) / unit[r], float(f_hi / d_hi) / unit[r])
                slacks.extend(pair)
                if min(pair) < 0:  # rounding put the root a hair outside the float bracket
                    outside += 1
                    outside_nonconstant += bool(h[r].min() != h[r].max())
                f_lo_max = max(f_lo_max, float(f_lo))
                f_hi_min = min(f_hi_min, float(f_hi))
    note = (f"betas {_sweep.BETAS}, C in {_sweep.class_counts(quick)}; largest f(nu_lo) = "
            f"{f_lo_max:.2e}, smallest f(nu_hi) = {f_hi_min:.2e}; rounding puts the root outside "
            f"the float bracket on {outside} rows, {outside_nonconstant} of them non-constant")
    return slacks, note


CHECKS = (check_bracket,)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
