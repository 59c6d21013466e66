"""The margin loss (eq. 23), its gradient (eq. 22, Theorem 3) and the alpha-loss (eq. 4)."""

import numpy as np

from ._dispatch import run


def loss(logits, labels, beta, *, backend="numba"):
    """Per-sample MGCE margin loss ``-h_y - nu(h)`` (eq. 23), convex in ``h``.

    Equals the alpha-loss ``beta * (1 - p_y**(1/beta))`` of the link when ``p_y > 0``.

    Parameters
    ----------
    logits : array_like, shape (C,) or (B, C)
    labels : int or array_like of ints, shape () or (B,)
    beta : float in [1, inf]
    backend : {"numba", "numpy", "exact", "cuda"}

    Returns
    -------
    loss : scalar or array of shape (B,), in the logits' dtype
    """
    return run(logits, labels, beta, backend, ("loss",))[0]


def grad(logits, labels, beta, *, backend="numba"):
    """Per-sample gradient ``q - e_y`` of :func:`loss` (eq. 22; ``d nu / d h_c = -q_c``).

    Not divided by the batch size (MRCpy's torch backend returns the batch mean).
    """
    return run(logits, labels, beta, backend, ("grad",))[0]


def loss_and_grad(logits, labels, beta, *, backend="numba"):
    """``(loss, grad)`` from one solve per row; see :func:`loss` and :func:`grad`."""
    value, g = run(logits, labels, beta, backend, ("loss", "grad"))
    return value, g


def alpha_loss(p, y, beta):
    """The alpha-loss on probabilities (eq. 4): ``beta * (1 - p_y**(1/beta))``.

    ``1 - p_y`` at beta = 1 (MAE, the 0-1 loss of randomized rules), ``-log p_y`` at beta = inf.
    ``p`` (..., C) probabilities, ``y`` integer labels broadcastable to ``p.shape[:-1]``.
    """
    p = np.asarray(p, dtype=np.float64)
    py = np.take_along_axis(p, np.asarray(y)[..., None], axis=-1)[..., 0]
    if np.isinf(beta):
        with np.errstate(divide="ignore"):
            return -np.log(py)
    with np.errstate(divide="ignore"):
        return -beta * np.expm1(np.log(py) / beta)
