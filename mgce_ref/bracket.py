"""The bisection interval of eq. 26."""

import numpy as np

from . import _validate as V
from .numpy_backend import base


def interval(logits, beta):
    """Bracket ``[nu_lo, nu_hi]`` of the root of eq. 13 (eq. 26).

    ``nu_lo = b - max_c h_c`` and ``nu_hi = b - min_c h_c`` with ``b = beta * ((1/C)**(1/beta)
    - 1)``, computed as ``beta * expm1(-log(C) / beta)`` (so beta = 1e6 and inf lose nothing).
    At ``nu_lo`` every ``s_c <= C**(-1/beta)`` and ``f <= 0``; at ``nu_hi`` every
    ``s_c >= C**(-1/beta)`` and ``f >= 0``. A constant row gives ``nu_lo == nu_hi == nu``.

    Parameters
    ----------
    logits : array_like, shape (C,) or (B, C)
    beta : float in [1, inf]

    Returns
    -------
    nu_lo, nu_hi : scalars or arrays of shape (B,), in the logits' dtype (float32 or float64)
    """
    h, squeeze = V.logits(logits)
    b = V.beta(beta)
    off = base(h.shape[1], b)
    h64 = h.astype(np.float64, copy=False)
    lo = (off - h64.max(axis=1)).astype(h.dtype)
    hi = (off - h64.min(axis=1)).astype(h.dtype)
    return (lo[0], hi[0]) if squeeze else (lo, hi)
