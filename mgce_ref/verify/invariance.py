"""Shift and permutation invariance (MATH.md, "Invariances").

- Shift: ``nu(h + t) = nu(h) - t``; ``p``, ``q``, ``loss`` and ``grad`` are unchanged. The
  logits lie on the grid ``2**-20 * Z`` and ``t`` is a multiple of ``2**-20`` below ``2**30``,
  so ``h + t`` is exact in float64 and any difference is the library's own.
- Permutation: permuting the classes (and the label with them) permutes ``p``, ``q`` and
  ``grad`` and leaves ``nu`` and ``loss`` unchanged. Sums then run in another order, so
  agreement is to rounding, not bitwise.

Slack: ``-max |difference|`` in units of ``eps * scale``, with scale 1 for ``p``, ``q``,
``grad`` and ``max(1, |h|, |t|)`` for ``nu`` and ``loss``: i.e. in ulps of the quantity's
natural magnitude. Each result may be ``nu_ulps`` from the exact value, so two of them may
differ by twice that (``TOLERANCE["pair_ulps"]``).
"""

import sys

import numpy as np

from . import _sweep, check, module_main
from ._api import link, loss_and_grad, solve_nu, worst_case

EPS = np.finfo(np.float64).eps


def outputs(h, y, beta):
    """``{"nu", "p", "q", "loss", "grad"}`` for rows ``h`` and labels ``y``."""
    value, g = loss_and_grad(h, y, beta)
    return {"nu": solve_nu(h, beta), "p": link(h, beta), "q": worst_case(h, beta),
            "loss": value, "grad": g}


def _ulps(a, b, scale):
    """Per-row max |a - b| / (eps * scale)."""
    d = np.abs(a - b)
    if d.ndim == 2:
        d = d.max(axis=1)
    return d / (EPS * scale)


@check("shift_invariance", "nu(h + t) = nu(h) - t; p, q, loss, grad unchanged (exact shifts; "
       "slack: -max difference in ulps of max(1,|h|,|t|) for nu and loss, of 1 for the rest)",
       "pair_ulps")
def check_shift(quick=False):
    g = _sweep.rng(7)
    slacks = []
    for C in _sweep.class_counts(quick):
        h = np.round(_sweep.rows(g, C, 4 if quick else 16) * 2.0**20) / 2.0**20
        B = h.shape[0]
        t = g.uniform(-1, 1, size=(B, 1)) * 2.0 ** g.integers(0, 30, size=(B, 1))
        t = np.round(t * 2.0**20) / 2.0**20
        y = g.integers(0, C, size=h.shape[0])
        big = np.maximum(1.0, np.maximum(np.abs(h).max(axis=1), np.abs(h + t).max(axis=1)))
        for beta in _sweep.BETAS:
            a, b = outputs(h, y, beta), outputs(h + t, y, beta)
            worst = _ulps(b["nu"], a["nu"] - t[:, 0], big)
            worst = np.maximum(worst, _ulps(a["loss"], b["loss"], big))
            for k in ("p", "q", "grad"):
                worst = np.maximum(worst, _ulps(a[k], b[k], 1.0))
            slacks.append(-worst)
    return np.concatenate(slacks), "h on the grid 2**-20 Z, |t| < 2**30: h + t exact"


@check("permutation_invariance", "permuting classes permutes p, q, grad and keeps nu, loss "
       "(slack: -max difference in ulps of max(1,|h|) for nu and loss, of 1 for the rest)",
       "pair_ulps")
def check_permutation(quick=False):
    g = _sweep.rng(8)
    slacks = []
    for C in _sweep.class_counts(quick):
        h = _sweep.rows(g, C, 4 if quick else 16)
        B = h.shape[0]
        perm = np.argsort(g.random((B, C)), axis=1)
        hp = np.take_along_axis(h, perm, axis=1)
        y = g.integers(0, C, size=B)
        yp = np.argmax(perm == y[:, None], axis=1)  # the label's new position
        big = np.maximum(1.0, np.abs(h).max(axis=1))
        for beta in _sweep.BETAS:
            a, b = outputs(h, y, beta), outputs(hp, yp, beta)
            worst = np.maximum(_ulps(a["nu"], b["nu"], big), _ulps(a["loss"], b["loss"], big))
            for k in ("p", "q", "grad"):
                worst = np.maximum(worst, _ulps(np.take_along_axis(a[k], perm, axis=1), b[k], 1.0))
            slacks.append(-worst)
    return np.concatenate(slacks), "ties, constant rows and offsets included"


CHECKS = (check_shift, check_permutation)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
