"""Theorem 1 (eqs. 15-17): the worst-case distribution q and the minimax classifier p.

With ``a = (beta - 1) / beta``:
``q_c = p_c**a / sum_k p_k**a`` (eq. 15, = eq. 17 in terms of the margins) and
``p_c = q_c**(1/a) / sum_k q_k**(1/a)`` (eq. 16). The threshold
``t = (sum_k p_k**a)**(-beta)`` splits the classes: ``q_c >= p_c`` exactly when ``p_c <= t``
(low-confidence classes gain mass in the worst case, high-confidence ones lose it).

Both maps are ill-conditioned where it matters: ``q_c ∝ p_c**a`` has an unbounded slope at
``p_c = 0`` and ``p_c ∝ q_c**(1/a)`` amplifies relative errors by ``1/a`` (1e6 at beta = 1 +
1e-6), so each class's error is divided by the condition number of its map, built from
:func:`sensitivity`: ``a q_c (g_c + sum_k q_k g_k)`` for eq. 15 and
``p_c (g_c + sum_k p_k g_k + 2/a)`` for eq. 16 (the class's own error plus the normalizer's),
floored at 1. ``theorem1_power_maps``'s note reports the worst scaled error per beta.

``p`` and ``q`` come from the public :func:`mgce_ref.link` and :func:`mgce_ref.worst_case`
(Numba backend), so the check tests the library's outputs against the theorem.
"""

import math
import sys

import numpy as np

from . import _sweep, check, module_main
from ._api import link, worst_case


def power_map(x, a):
    """``x**a / sum x**a`` per row, in the log domain (rows of ``x`` are probabilities; zeros
    stay zero, so ``a = 0`` gives the uniform distribution on the support)."""
    with np.errstate(divide="ignore", invalid="ignore"):  # log(0); 0 * -inf off the support
        lx = np.log(x)
        top = lx.max(axis=1, keepdims=True)
        w = np.where(x > 0, np.exp(a * (lx - top)), 0.0)
    return w / w.sum(axis=1, keepdims=True)


def threshold(p, beta):
    """``t = (sum_k p_k**a)**(-beta)`` per row, with ``a = 1 - 1/beta``.

    ``log sum p**a = log1p(sum_k p_k * expm1(-log(p_k) / beta))`` keeps the digits that
    ``1 + O(1/beta)`` would lose at beta = 1e6; at beta = inf ``t = 1`` (q = p).
    """
    if math.isinf(beta):
        return np.ones(p.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(p)
        excess = np.where(p > 0, p * np.expm1(-lp / beta), 0.0).sum(axis=1)
    return np.exp(-beta * np.log1p(excess))


def _sweep_rows(quick):
    g = _sweep.rng(15)
    n = 20 if quick else 100
    for C in _sweep.class_counts(quick):
        yield _sweep.rows(g, C, max(1, n // (1 + C // 100)))


def sensitivity(p, beta):
    """``g_c = max(1, |t_c|) / s_c`` per class (0 off the support), with ``s_c = p_c**(1/beta)``
    and ``t_c = h_c + nu = beta * (s_c - 1)``.

    One rounding of ``t_c`` (relative eps, absolute eps * max(1, |t_c|)) moves ``log p_c`` by
    about ``eps * g_c``: near the support edge (``s_c -> 0``) no float64 ``p_c`` has full
    relative accuracy, and the power maps of Theorem 1 amplify exactly that.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        lp = np.log(p)
        if math.isinf(beta):
            s, t = np.ones_like(p), lp
        else:
            s, t = np.exp(lp / beta), beta * np.expm1(lp / beta)
        return np.where(p > 0, np.maximum(1.0, np.abs(t)) / s, 0.0)


@check("theorem1_power_maps", "Thm 1, eqs. 15-17: q = p**a/sum p**a and p = q**(1/a)/sum "
       "q**(1/a), a = (beta-1)/beta (slack: -max abs error over the map's condition number, "
       "from g_c = max(1,|h_c + nu|)/s_c; see theorem1.py)", "prob")
def check_power_maps(quick=False):
    slacks = []
    worst = {}
    for h in _sweep_rows(quick):
        for beta in _sweep.BETAS:
            p, q = link(h, beta), worst_case(h, beta)
            a = 1.0 if math.isinf(beta) else (beta - 1.0) / beta
            g = sensitivity(p, beta)
            # d log(map_c) = a (d log p_c - sum_k q_k d log p_k): the class's own error and
            # the normalizer's, each d log p_k ~ eps * g_k
            k15 = a * q * (g + (q * g).sum(axis=1, keepdims=True))
            e15 = np.abs(power_map(p, a) - q) / np.maximum(1.0, k15)
            e = e15.max(axis=1)
            if beta > 1.0:  # eq. 16 has exponent 1/a = inf at beta = 1
                # d log q_k ~ eps * (a g_k + 1) (its own rounding), amplified by 1/a
                k16 = p * (g + (p * g).sum(axis=1, keepdims=True) + 2.0 / a)
                e16 = np.abs(power_map(q, 1.0 / a) - p) / np.maximum(1.0, k16)
                e = np.maximum(e, e16.max(axis=1))
            slacks.append(-e)
            worst[beta] = max(worst.get(beta, 0.0), float(e.max()))
    note = "worst scaled error per beta: " + ", ".join(
        f"{b:.7g}: {e:.1e}" for b, e in worst.items())
    return np.concatenate(slacks), note


@check("theorem1_threshold", "Thm 1: q_c >= p_c exactly when p_c <= t = (sum_k p_k**a)**(-beta) "
       "(slack: (q_c - p_c) * sign(t - p_c) per class)", "prob")
def check_threshold(quick=False):
    slacks = []
    gain = lose = 0
    for h in _sweep_rows(quick):
        for beta in _sweep.BETAS:
            p, q = link(h, beta), worst_case(h, beta)
            t = threshold(p, beta)[:, None]
            slacks.append(((q - p) * np.sign(t - p)).ravel())
            gain += int(((q > p) & (p > 0)).sum())
            lose += int((q < p).sum())
    note = f"{gain} classes gain mass (p <= t), {lose} lose it (p > t)"
    return np.concatenate(slacks), note


CHECKS = (check_power_maps, check_threshold)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
