"""Theorem 2 (eqs. 18-19) and eq. 5: how the alpha-loss ``l_beta`` bounds the MAE.

``l_beta(p, y) = beta * (1 - p_y**(1/beta))`` (eq. 4) is evaluated by the public
:func:`mgce_ref.alpha_loss` on probability vectors drawn from Dirichlet laws of several
concentrations, on the links of the shared logit sweep, and on the extreme points where the
bounds are tight (one-hot rows, ``p_y = 0``, the uniform distribution).

- eqs. 18-19: ``0 <= l_beta(p, y) - (1 - p_y) <= beta - 1`` (tight at ``p_y = 1`` and ``p_y = 0``).
- eq. 5: ``beta * (C - C**(1 - 1/beta)) <= sum_c l_beta(p, c) <= beta * (C - 1)`` (tight at the
  uniform distribution and at a one-hot row); at beta = inf the lower bound is ``C log C`` and the
  upper bound is vacuous.
Slacks are divided by ``max(1, |bound|)``, so the tolerance is relative.
"""

import math
import sys

import numpy as np

from .. import alpha_loss
from . import _sweep, check, module_main
from ._api import link


def probabilities(g, C, n):
    """Rows on the simplex: Dirichlet(0.1, 1, 10) draws, links of the logit sweep, one-hot
    rows, rows with a zero, the uniform row, and a row with one tiny entry (1e-300)."""
    parts = [g.dirichlet(np.full(C, a), size=n) for a in (0.1, 1.0, 10.0)]
    parts.append(link(_sweep.rows(g, C, 1), 1.4))
    parts.append(np.eye(C)[: min(C, 8)])
    parts.append(np.full((1, C), 1.0 / C))
    if C > 1:
        z = g.dirichlet(np.ones(C), size=1)
        z[0, 0] = 0.0
        parts.append(z / z.sum())
        tiny = np.full((1, C), (1.0 - 1e-300) / (C - 1))
        tiny[0, 0] = 1e-300
        parts.append(tiny)
    return np.concatenate(parts, axis=0)


def _cases(quick):
    g = _sweep.rng(18)
    n = 10 if quick else 50
    for C in _sweep.class_counts(quick):
        yield probabilities(g, C, max(2, n // (1 + C // 100)))


@check("theorem2_mae_bounds", "Thm 2, eqs. 18-19: 0 <= l_beta(p,y) - (1 - p_y) <= beta - 1 "
       "(slack: the smaller gap over max(1, beta))", "rel")
def check_mae_bounds(quick=False):
    slacks = []
    for p in _cases(quick):
        C = p.shape[1]
        for beta in _sweep.BETAS:
            for y in range(min(C, 8)):
                labels = np.full(p.shape[0], y)
                gap = alpha_loss(p, labels, beta) - (1.0 - p[:, y])
                low = gap / max(1.0, min(beta, 1e300))
                if math.isinf(beta):  # upper bound is inf - 1: vacuous
                    slacks.append(np.where(np.isinf(gap), np.inf, low))
                else:
                    slacks.append(np.minimum(low, ((beta - 1.0) - gap) / beta))
    return np.concatenate(slacks), "tight cases (one-hot rows, p_y = 0) included"


def sum_bounds(C, beta):
    """The eq. 5 bounds ``(beta*(C - C**(1-1/beta)), beta*(C - 1))``; the lower one as
    ``-beta*C*expm1(-log(C)/beta)`` so that it tends to ``C log C`` without cancellation."""
    if math.isinf(beta):
        return C * math.log(C), math.inf
    return -beta * C * math.expm1(-math.log(C) / beta), beta * (C - 1.0)


@check("eq5_sum_bounds", "eq. 5: beta*(C - C**(1-1/beta)) <= sum_c l_beta(p,c) <= beta*(C-1) "
       "(slack: the smaller gap over max(1, bound))", "rel")
def check_sum_bounds(quick=False):
    slacks = []
    for p in _cases(quick):
        B, C = p.shape
        for beta in _sweep.BETAS:
            terms = np.stack([alpha_loss(p, np.full(B, c), beta) for c in range(C)], axis=1)
            total = np.array([math.fsum(row) for row in terms])  # only the terms' own rounding
            lo, hi = sum_bounds(C, beta)
            s = (total - lo) / max(1.0, lo)
            if math.isfinite(hi):
                s = np.minimum(s, (hi - total) / max(1.0, hi))
            slacks.append(s)
    return np.concatenate(slacks), "uniform (lower bound tight) and one-hot (upper) rows included"


CHECKS = (check_mae_bounds, check_sum_bounds)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
