"""The minimax classifier (eq. 14) and the worst-case distribution (eq. 17)."""

from ._dispatch import run


def link(logits, beta, *, backend="numba"):
    """Probabilities ``p_c = [(h_c + nu)/beta + 1]_+**beta`` of the minimax classifier (eq. 14).

    This is alpha-entmax with ``alpha = 1 + 1/beta``: sparsemax at beta = 1, softmax at
    beta = inf. Rows sum to 1.

    Parameters
    ----------
    logits : array_like, shape (C,) or (B, C)
    beta : float in [1, inf]
    backend : {"numba", "numpy", "exact", "cuda"}

    Returns
    -------
    p : ndarray of the logits' shape, float32 for float32 input, else float64
    """
    return run(logits, None, beta, backend, ("link",))[0]


def worst_case(logits, beta, *, backend="numba"):
    """Worst-case distribution ``q_c ∝ [s_c]_+**(beta - 1)`` (eq. 17, Theorem 1).

    ``q = p**((beta-1)/beta)`` normalized; uniform on the support at beta = 1 (the limit
    beta -> 1+, a subgradient choice), ``q = p = softmax`` at beta = inf.

    Parameters and returns as :func:`link`.
    """
    return run(logits, None, beta, backend, ("worst_case",))[0]
