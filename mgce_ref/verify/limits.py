"""The two ends of the beta range, with observed rates of convergence.

- beta -> inf (Appendix B, eqs. 27-28): the link tends to softmax and ``nu`` to ``-logsumexp(h)``.
  Expanding ``beta * log1p(t/beta) = t - t**2/(2 beta) + ...`` gives an O(1/beta) error.
- beta -> 1+: the link tends to sparsemax and ``nu`` to ``-(1 + tau)``. At a fixed support the
  map is smooth in beta (``s**beta = s * exp((beta-1) log s)`` and ``s |log s| <= 1/e``), so the
  error is O(beta - 1); rows whose sparsemax support is one class converge exactly
  (``p = e_max``, ``nu = -max h`` for every beta).

The limits are computed independently of the library (``scipy.special.softmax`` and
``logsumexp``; sparsemax by sorting, below). Per row, the observed order is the least-squares
slope of ``log(error)`` against ``log(1/beta)`` (resp. ``log(beta - 1)``) over six decades,
``1/beta`` and ``beta - 1`` in 1e-3 ... 1e-8, using the points whose error exceeds a rounding
floor (1e-13 for p, ``1e3 * eps * max(1, |h|)`` for nu); rows with fewer than 3 such points
have converged to rounding (or exactly) and are counted, not fitted. Slack: observed order - 1.
"""

import sys

import numpy as np

from . import _sweep, check, module_main
from ._api import link, solve_nu

#: 1/beta (beta -> inf) and beta - 1 (beta -> 1+): the abscissae of the rate fits.
STEPS = 10.0 ** -np.arange(3, 9)
KINDS = ("normal", "wide", "huge spread", "near tie", "ties", "dominant", "constant", "offset 1e6")


def sparsemax(h):
    """Sparsemax rows and their ``nu = -(1 + tau)``, by sorting (independent of the library).

    Works on ``h - max(h)`` (exact), so an offset of 1e6 costs no digits of ``p``.
    """
    top = h.max(axis=1)
    z = h - top[:, None]
    zs = -np.sort(-z, axis=1)
    k = np.arange(1, h.shape[1] + 1)
    cs = np.cumsum(zs, axis=1)
    K = (1.0 + k * zs > cs).sum(axis=1)
    tau = (cs[np.arange(h.shape[0]), K - 1] - 1.0) / K
    return np.maximum(z - tau[:, None], 0.0), -(1.0 + tau) - top


def limit_errors(h, end, steps=STEPS):
    """Errors of p (max abs) and nu (abs) against the limit, (B, len(steps)) each.

    ``end`` is "inf" (beta = 1/step, against softmax) or "one" (beta = 1 + step, against
    sparsemax).
    """
    from scipy.special import logsumexp, softmax

    if end == "inf":
        p_lim, nu_lim = softmax(h, axis=1), -logsumexp(h, axis=1)
        betas = 1.0 / steps
    elif end == "one":
        p_lim, nu_lim = sparsemax(h)
        betas = 1.0 + steps
    else:
        raise ValueError(f"end must be 'inf' or 'one', got {end!r}")
    ep = np.empty((h.shape[0], len(steps)))
    en = np.empty_like(ep)
    for j, beta in enumerate(betas):
        ep[:, j] = np.abs(link(h, beta) - p_lim).max(axis=1)
        en[:, j] = np.abs(solve_nu(h, beta) - nu_lim)
    return ep, en


def observed_orders(err, floor, steps=STEPS):
    """Per-row slope of log(err) against log(step) over the points above ``floor`` (per row);
    NaN where fewer than 3 points remain (converged to rounding)."""
    out = np.full(err.shape[0], np.nan)
    for r in range(err.shape[0]):
        keep = err[r] > floor[r]
        if keep.sum() >= 3:
            out[r] = _sweep.fit_order(steps[keep], err[r, keep])
    return out


def _run(end, quick):
    g = _sweep.rng(27 if end == "inf" else 99)
    orders, exact = {"p": [], "nu": []}, 0
    for C in (2, 3, 10, 100) if quick else (2, 3, 5, 10, 100, 1000):
        h = _sweep.rows(g, C, 3 if quick else 10, KINDS)
        ep, en = limit_errors(h, end)
        floors = {"p": np.full(h.shape[0], 1e-13), "nu": 1e3 * _sweep.ulp_scale(h)}
        for name, err in (("p", ep), ("nu", en)):
            o = observed_orders(err, floors[name])
            exact += int(np.isnan(o).sum())
            orders[name].append(o[~np.isnan(o)])
    orders = {k: np.concatenate(v) for k, v in orders.items()}
    note = "; ".join(f"order of {k}: min {v.min():.3f}, median {np.median(v):.3f}, "
                     f"max {v.max():.3f} ({v.size} rows)" for k, v in orders.items())
    note += f"; {exact} row fits skipped (error zero or at rounding level throughout)"
    return np.concatenate([orders["p"], orders["nu"]]) - 1.0, note


@check("limit_softmax", "App. B, eqs. 27-28: beta -> inf gives p -> softmax, nu -> -logsumexp "
       "at O(1/beta) (slack: observed order - 1, 1/beta in 1e-3..1e-8)", "order")
def check_softmax_limit(quick=False):
    return _run("inf", quick)


@check("limit_sparsemax", "beta -> 1+ gives p -> sparsemax, nu -> -(1 + tau) at O(beta - 1) "
       "(slack: observed order - 1, beta - 1 in 1e-3..1e-8)", "order")
def check_sparsemax_limit(quick=False):
    return _run("one", quick)


CHECKS = (check_softmax_limit, check_sparsemax_limit)

if __name__ == "__main__":
    sys.exit(module_main(CHECKS))
