"""Convexity of the margin loss ``loss(h, y) = -h_y - nu(h)`` (eq. 23).

1. Midpoint inequality on pairs ``(h1, h2)``: ``loss((h1 + h2)/2) <= (loss(h1) + loss(h2))/2``.
   Pairs are independent draws, nearby draws, and shifts ``h2 = h1 + t`` (the loss is flat
   along the all-ones direction, so these pairs are tight). Slack: the gap over
   ``max(1, max|h1|, max|h2|)``, the scale of the loss's rounding.
2. The Hessian, the Jacobian ``J = dq/dh`` of the worst-case distribution (the gradient is
   ``q - e_y``, eq. 22), is symmetric positive semidefinite. ``J`` is taken by central
   differences of :func:`mgce_ref.worst_case` (Richardson-extrapolated, as in ``theorem3``),
   so no formula for it is assumed. Slack:
   ``min(lambda_min((J + J^T)/2), -max|J - J^T|) / max(1, lambda_max)``. Rows with a class within
   1e-3 of the support edge are skipped and counted, as in ``theorem3``.
"""

import sys

import numpy as np

from . import _sweep, check, module_main
from ._api import loss, worst_case
from .theorem3 import SMOOTH_KINDS, richardson, support_margin


def pairs(g, C, n):
    """``(h1, h2)`` stacks: independent, nearby (1e-3 apart) and shifted pairs."""
    h1 = _sweep.rows(g, C, n)
    far = _sweep.rows(g, C, n)
    near = h1 + 1e-3 * g.normal(size=h1.shape)
    shift = h1 + g.normal(size=(h1.shape[0], 1)) * 4.0
    return np.concatenate([h1] * 3), np.concatenate([far, near, shift])


@check("convexity_midpoint", "eq. 23 convex: loss((h1+h2)/2, y) <= (loss(h1, y) + loss(h2, y))/2 "
       "(slack: the gap over max(1, |h|))", "rel")
def check_midpoint(quick=False):
    g = _sweep.rng(23)
    slacks = []
    for C in _sweep.class_counts(quick):
        h1, h2 = pairs(g, C, 4 if quick else 16)
        y = g.integers(0, C, size=h1.shape[0])
        scale = np.maximum(1.0, np.maximum(np.abs(h1).max(axis=1), np.abs(h2).max(axis=1)))
        for beta in _sweep.BETAS:
            l1, l2 = loss(h1, y, beta), loss(h2, y, beta)
            lm = loss(0.5 * (h1 + h2), y, beta)
            slacks.append((0.5 * (l1 + l2) - lm) / scale)
    return np.concatenate(slacks), "independent, nearby and shifted (tight) pairs"


def jacobian_q(h, beta, step):
    """``J[b, c, k] = d q_c / d h_k`` by central differences of :func:`worst_case`, (B, C, C)."""
    B, C = h.shape
    E = np.eye(C)
    hp, hm = h[:, None, :] + step * E, h[:, None, :] - step * E
    taken = (hp - hm)[:, np.arange(C), np.arange(C)]
    qp = worst_case(hp.reshape(-1, C), beta).reshape(B, C, C)  # [b, k, c]
    qm = worst_case(hm.reshape(-1, C), beta).reshape(B, C, C)
    return np.swapaxes((qp - qm) / taken[:, :, None], 1, 2)


@check("convexity_hessian_psd", "eq. 23 convex: Hessian = dq/dh (central differences, "
       "Richardson) is symmetric PSD (slack: min(lambda_min, -asymmetry) / max(1, lambda_max))",
       "fd")
def check_hessian(quick=False):
    g = _sweep.rng(24)
    slacks, skipped, total = [], 0, 0
    for C in (2, 3, 10, 50) if quick else (2, 3, 5, 10, 50, 100):
        h = _sweep.rows(g, C, 3 if quick else 8, SMOOTH_KINDS)
        for beta in _sweep.BETAS:
            ok = support_margin(h, beta) >= 1e-3
            total += ok.size
            skipped += int((~ok).sum())
            if not ok.any():
                continue
            J = richardson(jacobian_q, h[ok], beta)
            asym = np.abs(J - np.swapaxes(J, 1, 2)).max(axis=(1, 2))
            lam = np.linalg.eigvalsh(0.5 * (J + np.swapaxes(J, 1, 2)))
            slacks.append(np.minimum(lam[:, 0], -asym) / np.maximum(1.0, lam[:, -1]))
    return (np.concatenate(slacks),
            f"{skipped} of {total} rows skipped (a class within 1e-3 of the support edge)")


CHECKS = (check_midpoint, check_hessian)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
