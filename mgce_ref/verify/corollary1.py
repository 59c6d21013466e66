"""Corollary 1 (Appendix F): the margin loss is classification-calibrated.

For a class distribution ``eta``, SciPy's BFGS minimizes the expected margin loss
``R(h) = sum_y eta_y loss(h, y)`` (eq. 42) from ``h = 0``, with the gradient
``sum_y eta_y (q(h) - e_y) = q(h) - eta`` of Theorem 3. At the minimizer ``h*``:

- ``q(h*) = eta`` (eqs. 43-44), judged to the optimizer's reach: ``q(h*) - eta`` is the
  gradient, and a minimizer that judges progress by ``R(h)`` (known to ~eps relative) stalls
  where ``|grad| ~ sqrt(eps)``, about 1e-8;
- ``p(h*) ∝ eta**(beta/(beta-1))`` (eq. 45), so ``p(h*)`` ranks the classes as ``eta`` does
  and its argmax is eta's (eq. 41): judged by the smallest ``p_i - p_j`` over the pairs with
  ``eta_i > eta_j``.

``eta`` is drawn from Dirichlet(1) with entries >= 0.02 and gaps >= 1e-3 between entries
(so the ranking is well posed). beta runs over {1.4, 2, 11, 1e6, inf}: near beta = 1 the
minimizer needs ``s_c = s_max * (eta_c/eta_max)**(1/(beta-1))``, below float64's resolution
of ``s`` (about eps) once ``1/(beta-1)`` is large, so ``h*`` is not representable there.
"""

import functools
import math
import sys

import numpy as np

from . import _sweep, check, module_main
from ._api import link, loss_and_grad, one_thread, worst_case

BETAS = (1.4, 2.0, 11.0, 1e6, math.inf)


def draw_eta(g, C):
    """A class distribution with entries >= 0.02 and pairwise gaps >= 1e-3."""
    while True:
        eta = 0.02 + (1.0 - 0.02 * C) * g.dirichlet(np.ones(C))
        if C == 1 or np.diff(np.sort(eta)).min() >= 1e-3:
            return eta


def minimize_risk(eta, beta):
    """``h*`` minimizing ``sum_y eta_y loss(h, y)`` by BFGS, and SciPy's result object."""
    from scipy.optimize import minimize

    C = len(eta)
    labels = np.arange(C)

    def risk(h):
        value, g = loss_and_grad(np.broadcast_to(h, (C, C)), labels, beta)
        return float(eta @ value), eta @ g

    with one_thread():  # thousands of calls on C rows each
        res = minimize(risk, np.zeros(C), jac=True, method="BFGS",
                       options={"gtol": 1e-12, "maxiter": 2000})
    return res.x, res


@functools.lru_cache(maxsize=2)  # both checks read the same minimizers
def _solutions(quick):
    g = _sweep.rng(41)
    out = []
    for C in (2, 3, 5, 10) if quick else (2, 3, 4, 5, 10, 20):
        for _ in range(3 if quick else 10):
            eta = draw_eta(g, C)
            out.extend((eta, beta, minimize_risk(eta, beta)[0]) for beta in BETAS)
    return tuple(out)


@check("corollary1_stationarity", "Cor. 1, eqs. 42-44: argmin_h sum_y eta_y loss(h, y) "
       "(SciPy BFGS) has q(h*) = eta (slack: -max|q(h*) - eta|)", "optimizer")
def check_stationarity(quick=False):
    solutions = _solutions(quick)
    with one_thread():
        slacks = [-np.abs(worst_case(h, beta) - eta).max() for eta, beta, h in solutions]
    return slacks, f"betas {BETAS}"


@check("corollary1_ranking", "Cor. 1, eqs. 41, 45: p(h*) ranks classes as eta (so argmax p(h*) "
       "= argmax eta) (slack: min p_i - p_j over eta_i > eta_j)", "prob")
def check_ranking(quick=False):
    slacks = []
    for eta, beta, h in _solutions(quick):
        with one_thread():
            p = link(h, beta)
        order = np.argsort(eta)  # ascending eta: p must ascend too
        slacks.append(np.diff(p[order]).min())
    return slacks, f"betas {BETAS}; eta entries >= 0.02, gaps >= 1e-3"


CHECKS = (check_stationarity, check_ranking)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
