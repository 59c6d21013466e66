"""Every numerical setting of mgce_ref, in one place: nothing else retypes these numbers."""

import numpy as np

#: Below this |t / beta|, ``beta * log1p(t / beta)`` is evaluated by its series
#: ``t * (1 - x/2 + x**2/3)`` (truncation < 1e-32 relative), so that beta up to 1e308 and
#: beta = inf neither underflow nor lose digits.
SERIES_CUTOFF = 1e-8

#: Newton on phi(nu) = ||[s(nu)]_+||_beta - 1 converges in 3-8 steps from the right; this
#: limit is a guard, never reached on finite input (the iteration is monotone).
NEWTON_MAX_ITER = 100

#: Machine-precision bisection (tol=None) splits geometrically while the bracket spans
#: binades and arithmetically after, so it needs at most ~140 steps from any bracket.
BISECT_MAX_ITER = 300

#: Interval width at which MRCpy's bisection stops; ``tol=MRCPY_TOL`` reproduces its rule.
MRCPY_TOL = 1e-4

#: Rows per ``prange`` work item in the Numba kernels (one scratch row per item).
ROWS_PER_CHUNK = 64

#: CUDA launch settings (tests patch THREADS_PER_BLOCK down so tiny inputs span blocks).
THREADS_PER_BLOCK = 128
BLOCK_PER_ROW_MIN_C = 256  # from this many classes on, a block per row instead of a thread

#: Digits for the mpmath ground truth.
MP_DPS = 50

#: Accuracy targets against the 50-digit solve (max abs error of p, q, grad; nu in ulps of
#: max(1, max|h|)). float32 results are judged in float32 ulps of the exact value.
TOLERANCE = {
    np.dtype(np.float64): {"prob": 1e-15, "nu_ulps": 4.0},
    np.dtype(np.float32): {"prob": 2.0 * float(np.finfo(np.float32).eps), "nu_ulps": 2.0},
}

BACKENDS = ("numba", "numpy", "exact", "cuda")
METHODS = ("newton", "bisect")
OUTPUTS = ("nu", "link", "worst_case", "loss", "grad")
