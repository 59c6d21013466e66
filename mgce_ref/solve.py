"""The nu solve of eqs. 12-13: the one scalar per row that every output hangs on."""

from typing import NamedTuple

import numpy as np

from . import _validate as V
from ._dispatch import call, get_backend, validated_logits
from .config import BISECT_MAX_ITER, EXACT_MAX_ITER, NEWTON_MAX_ITER


class SolveInfo(NamedTuple):
    """Per-row report of ``solve_nu(..., full_output=True)``."""

    iterations: np.ndarray  # residual evaluations (closed forms count 1)
    converged: np.ndarray  # bool


def solve_nu(logits, beta, *, method="newton", tol=None, max_iter=None, backend="numba",
             full_output=False):
    """Root ``nu`` of ``f(nu) = sum_c [(h_c + nu)/beta + 1]_+**beta - 1`` (eqs. 12-13, 37).

    ``f`` is continuous, convex and nondecreasing; its root is unique. Every method works on
    ``h - max(h)`` and shifts back, so offsets of 1e6 or spreads of 1e300 lose nothing.

    Parameters
    ----------
    logits : array_like, shape (C,) or (B, C)
    beta : float in [1, inf]
        1 and inf use the closed forms (sparsemax, -logsumexp) with ``method="newton"``.
    method : {"newton", "bisect"}
        "newton": Newton on ``||[s(nu)]_+||_beta - 1``, convex and nearly linear (numba and
        cuda: from the root of a tangent lower bound of eq. 13, ``_kernels.newton_start``, or
        for beta >= 2 the softmax root corrected for beta; numpy: from the upper end of the
        eq. 26 bracket); 1-8 residual evaluations. "bisect": the paper's Algorithm 1,
        bisection on the eq. 26 bracket.
    tol : float or None
        None: to machine precision. Newton (numba and cuda) stops once the root is provably
        within ``config.NEWTON_RTOL`` relative: 2**-54 (a quarter ulp) for float64 logits,
        2**-40 for float32 logits, whose ``nu`` is rounded to float32 (one or two steps
        fewer: cast the logits to float64 for a float64 root). A number: stop when the Newton
        step, or the bisection interval's width, is at most ``tol`` (``tol=1e-4`` with
        "bisect" is MRCpy's rule).
    max_iter : int or None
        Limit on residual evaluations (default 100 for Newton, 300 for bisection; brentq
        iterations for "exact", default ``config.EXACT_MAX_ITER``).
    backend : {"numba", "numpy", "exact", "cuda"}
        "exact" ignores ``method`` and returns the root to the last bit (brentq + polish).
    full_output : bool
        Also return a :class:`SolveInfo` with per-row iteration counts and convergence flags.
        Without it, a row that does not converge within ``max_iter`` raises RuntimeError.

    Returns
    -------
    nu : scalar or array of shape (B,), in the logits' dtype
    info : SolveInfo, only with ``full_output=True``
    """
    m = V.method(method)
    t = V.tol(tol)
    if backend == "exact":  # brentq whatever the method: its own limit
        n = V.max_iter(max_iter, EXACT_MAX_ITER)
    else:
        n = V.max_iter(max_iter, NEWTON_MAX_ITER if m == "newton" else BISECT_MAX_ITER)
    if backend == "cuda":
        return get_backend("cuda").run_solve(logits, beta, m, t, n, full_output)
    mod = get_backend(backend)
    h, squeeze = validated_logits(logits, mod)
    b = V.beta(beta)
    nu, iterations, converged = call(mod.solve, h, squeeze, b, m, t, n)
    if not full_output and not converged.all():
        bad = np.flatnonzero(~converged)
        raise RuntimeError(f"{len(bad)} row(s) did not converge within max_iter={n} "
                           f"(first: row {bad[0]}); raise max_iter or loosen tol")
    nu = nu.astype(h.dtype, copy=False)
    if squeeze:
        nu, iterations, converged = nu[0], iterations[0], converged[0]
    return (nu, SolveInfo(iterations, converged)) if full_output else nu
