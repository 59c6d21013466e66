"""The closed forms at the two ends of the beta range (MATH.md, "Closed forms").

beta = 1 (0-1 loss): the link is sparsemax, ``tau = max_k (S_k - 1) / k`` over the sorted
logits, ``nu = -(1 + tau)``, ``p = [h - tau]_+``, ``q`` uniform on the support.
beta = inf (cross-entropy, Appendix B): ``nu = -logsumexp(h)``, ``p = q = softmax(h)``.
Both act on float64 rows of ``z = h - max(h)`` and return the *shifted* root ``x = nu + max(h)``.
"""

import numpy as np


def sparsemax_root(z):
    """Shifted root at beta = 1 for rows ``z`` (B, C) with ``max(z) = 0``: ``-(1 + tau)``."""
    B, C = z.shape
    zs = -np.sort(-z, axis=1)
    k = np.arange(1, C + 1)
    with np.errstate(over="ignore", invalid="ignore"):  # huge |z| only where z is out anyway
        cs = np.cumsum(zs, axis=1)
        support = 1.0 + k * zs > cs  # a prefix of the sorted row: k <= K exactly
    K = support.sum(axis=1)
    tau = (cs[np.arange(B), K - 1] - 1.0) / K
    return -(1.0 + tau)


def softmax_root(z):
    """Shifted root at beta = inf: ``-log(sum exp z)`` as ``-log1p`` of the non-max terms,
    so a dominant class keeps the relative accuracy of its (tiny) loss."""
    e = np.exp(z)
    first = np.argmax(z, axis=1)
    e[np.arange(z.shape[0]), first] = 0.0
    return -np.log1p(e.sum(axis=1))
