"""Seeded sweeps shared by the checks: betas, class counts and kinds of logit rows."""

import math

import numpy as np

#: The betas every sweep visits: both closed-form ends, just above 1, the paper's range,
#: and a large finite beta that must behave like the softmax end.
BETAS = (1.0, 1.0 + 1e-6, 1.02, 1.4, 2.0, 11.0, 1e6, math.inf)
#: The betas where q is a smooth function of h (beta > 1 finite or inf): derivative checks.
SMOOTH_BETAS = (1.02, 1.4, 2.0, 11.0, 1e6, math.inf)

SEED = 20260101


def rng(salt):
    """A generator seeded from the module's own salt, so checks do not share streams."""
    return np.random.default_rng([SEED, salt])


def class_counts(quick, small=False):
    if small:
        return (2, 3, 5, 10) if quick else (2, 3, 4, 5, 10, 20)
    return (1, 2, 3, 10, 100, 1000) if quick else (1, 2, 3, 5, 10, 100, 1000, 4096)


#: Kinds of rows: each a function (generator, n, C) -> (n, C) float64 logits.
KINDS = {
    "normal": lambda g, n, C: g.normal(size=(n, C)),
    "wide": lambda g, n, C: 10.0 * g.normal(size=(n, C)),
    "huge spread": lambda g, n, C: 100.0 * g.normal(size=(n, C)),
    "near tie": lambda g, n, C: 1e-3 * g.normal(size=(n, C)),
    "ties": lambda g, n, C: g.integers(-2, 3, size=(n, C)).astype(np.float64),
    "dominant": lambda g, n, C: g.normal(size=(n, C)) + 50.0 * (np.arange(C) == 0),
    "constant": lambda g, n, C: np.repeat(g.normal(size=(n, 1)), C, axis=1),
    "offset 1e6": lambda g, n, C: 1e6 + g.normal(size=(n, C)),
}


def rows(g, C, n, kinds=None):
    """``n`` rows of each kind (all kinds by default), stacked: an (n * kinds, C) array."""
    names = KINDS if kinds is None else kinds
    return np.concatenate([KINDS[k](g, n, C) for k in names], axis=0)


def ulp_scale(h):
    """Per-row ``eps * max(1, max|h|)``: the unit in which nu errors are judged."""
    return np.finfo(np.float64).eps * np.maximum(1.0, np.abs(h).max(axis=1))


def fit_order(x, err):
    """Least-squares slope of ``log(err)`` against ``log(x)``: the observed order of
    convergence (err ~ x**order as x -> 0)."""
    lx, le = np.log(np.asarray(x)), np.log(np.asarray(err))
    return float(np.polyfit(lx, le, 1)[0])
