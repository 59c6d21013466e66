"""The composite identity and Remark 1's chain of bounds.

With ``p = link(h)`` (eq. 14) and ``l_beta`` the alpha-loss (eq. 4):

- ``loss(h, y) = l_beta(p, y)`` whenever ``p_y > 0``: the margin loss is the alpha-loss of the
  minimax classifier (``-h_y - nu = beta * (1 - s_y)`` and ``p_y = s_y**beta``);
- ``loss(h, y) = beta * (1 - s_y) >= beta = l_beta(p, y)`` when ``p_y = 0``;
- hence (Remark 1, with eq. 18) ``loss(h, y) >= l_beta(p, y) >= 1 - p_y``: the margin loss
  bounds the MAE of the randomized rule, i.e. its probability of error.

Slacks are divided by ``max(1, |loss|, max|h|)``, the scale of the loss's rounding.
A float64 ``p_y`` can underflow to 0 while the exact ``p_y`` is positive (beta = 1e6 and a
margin of -740 give ``p_y ~ 1e-321``); then ``l_beta(0, y) = beta`` is not the alpha-loss of
the exact link, so such cases are skipped and counted, not judged.
"""

import math
import sys

import numpy as np

from .. import alpha_loss
from . import _sweep, check, module_main
from ._api import link, loss, solve_nu

TINY = np.finfo(np.float64).tiny


def _labels(g, h):
    """Three labels per row: the top class, a random one and the bottom class."""
    B, C = h.shape
    hh = np.concatenate([h, h, h])
    y = np.concatenate([h.argmax(axis=1), g.integers(0, C, size=B), h.argmin(axis=1)])
    return hh, y


def outside_rows(g, h, beta):
    """Rows of ``h`` with one more class placed below ``min(h) - beta - 1``: since
    ``nu <= nu_hi <= -min(h)`` (eq. 26), that class has ``s <= 0``, i.e. ``p = 0`` exactly."""
    below = h.min(axis=1, keepdims=True) - beta * (1.0 + g.random((h.shape[0], 1))) - 1.0
    return np.concatenate([h, below], axis=1)


def _evaluate(h, y, beta):
    """``(loss, l_beta(p, y), p_y, scale, underflow)`` per row."""
    value = loss(h, y, beta)
    py = link(h, beta)[np.arange(h.shape[0]), y]
    lb = alpha_loss(py[:, None], np.zeros(len(y), np.int64), beta)
    scale = np.maximum(np.maximum(1.0, np.abs(value)), np.abs(h).max(axis=1))
    if math.isinf(beta):
        live = np.ones(len(y), bool)
    else:  # the exact support test: s_y > 0
        live = h[np.arange(len(y)), y] + solve_nu(h, beta) + beta > 0.0
    underflow = live & (py < TINY)
    return value, lb, py, scale, underflow


@check("composite_identity", "loss(h, y) = l_beta(p(h), y) where p_y > 0 (eqs. 4, 14, 23; "
       "slack: -|difference| over max(1, |loss|, |h|))", "rel")
def check_identity(quick=False):
    g = _sweep.rng(4)
    slacks, skipped = [], 0
    for C in _sweep.class_counts(quick):
        h, y = _labels(g, _sweep.rows(g, C, 4 if quick else 16))
        for beta in _sweep.BETAS:
            value, lb, py, scale, underflow = _evaluate(h, y, beta)
            judged = py >= TINY
            skipped += int(underflow.sum())
            slacks.append(-np.abs(value[judged] - lb[judged]) / scale[judged])
    return (np.concatenate(slacks),
            f"{skipped} cases with p_y > 0 underflowing float64 skipped (not judged)")


@check("remark1_chain", "Remark 1: loss(h, y) >= l_beta(p(h), y) >= 1 - p_y, with loss >= beta "
       "= l_beta when p_y = 0 (slack: the smaller gap over max(1, |loss|, |h|))", "rel")
def check_chain(quick=False):
    g = _sweep.rng(20)
    slacks, skipped, zeros = [], 0, 0
    for C in _sweep.class_counts(quick):
        base = _sweep.rows(g, C, 4 if quick else 16)
        for beta in _sweep.BETAS:
            sets = [_labels(g, base)]
            if math.isfinite(beta):  # rows whose label is outside the support
                sets.append((outside_rows(g, base, beta), np.full(base.shape[0], C)))
            for h, y in sets:
                value, lb, py, scale, underflow = _evaluate(h, y, beta)
                judged = ~underflow
                skipped += int(underflow.sum())
                zeros += int((py[judged] == 0.0).sum())
                gap = np.minimum(value - lb, lb - (1.0 - py))
                slacks.append(gap[judged] / scale[judged])
    return (np.concatenate(slacks), f"{zeros} cases with p_y = 0 exactly (loss >= beta judged); "
            f"{skipped} with p_y > 0 underflowing float64 skipped")


CHECKS = (check_identity, check_chain)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
