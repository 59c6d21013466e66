"""Every numerical setting of mgce_ref, in one place: nothing else retypes these numbers."""

import numpy as np

#: Below this |t / beta|, ``beta * log1p(t / beta)`` is evaluated by its series
#: ``t * (1 - x/2 + x**2/3)`` (truncation < 1e-32 relative), so that beta up to 1e308 and
#: beta = inf neither underflow nor lose digits.
SERIES_CUTOFF = 1e-8

#: A class with ``z_c + x > -beta * (1 + EDGE_MARGIN)`` at the float64 root is "at or in" the
#: support: Newton's pruning keeps it, and the double-double worst case (``_refine``)
#: evaluates it, since the exact root may put it inside by far less than the margin.
EDGE_MARGIN = 1e-9

#: Newton on phi(nu) = ||[s(nu)]_+||_beta - 1 converges in 3-8 steps from the right; this
#: limit is a guard, never reached on finite input (the iteration is monotone).
NEWTON_MAX_ITER = 100

#: Newton's stopping rule at ``tol=None``, by the results' dtype (numba and cuda backends): a
#: row stops as soon as its next iterate lies provably within NEWTON_RTOL * |x| of the root
#: (``_kernels.newton_error`` for a step from the right; a step from the left brackets the
#: root, and ``_kernels.left_error`` bounds it quadratically), or when a step no longer moves
#: it (plus, where float32 results take plain products, up to half of NEWTON_RTOL * max(1,
#: |x|) from their rounding, so a root near 0 to 1.5 NEWTON_RTOL absolute, as float32's
#: targets count nu in ulps of max(1, max |h|): ``_kernels.plain_powers``). float32: 2**-40,
#: 2**-17 of a float32 ulp: its results keep all that float32 can hold, and the one or two
#: last steps, which only float64 could see, are not taken. float64: 2**-54, a quarter of an
#: ulp: the step that would only confirm the root is not taken.
#: (numpy and exact always solve until a step no longer moves the root.)
NEWTON_RTOL = {np.dtype(np.float64): 2.0**-54, np.dtype(np.float32): 2.0**-40}

#: Machine-precision bisection (tol=None) splits geometrically while the bracket spans
#: binades and arithmetically after, so it needs at most ~140 steps from any bracket.
BISECT_MAX_ITER = 300

#: Iteration limit of the exact backend's brentq (it ignores ``method``): above twice the
#: bisection steps from the widest bracket (|x| <= 745) down to ``xtol = 1e-300`` (~1010), since
#: a root of 1e-160, next to classes ~370 below the max at beta = 1e4, took 150.
EXACT_MAX_ITER = 4000

#: Interval width at which MRCpy's bisection stops; ``tol=MRCPY_TOL`` reproduces its rule.
MRCPY_TOL = 1e-4

#: Most rows per ``prange`` work item in the Numba kernels (one set of scratch rows per item);
#: a batch of fewer rows than threads x this is cut into one item per thread.
ROWS_PER_CHUNK = 64

#: A batch of at most this many logits runs on one thread: the parallel region's start (about
#: a microsecond) is not worth it. Measured on 2 cores, float32, beta in {1.4, 11, inf}: one
#: thread wins at (8, 10), two at (32, 10) (10.8 -> 9.5 us at beta = 1.4, 26.4 -> 17.7 at 11).
SERIAL_MAX_LOGITS = 256

#: Rows with at least this many candidate classes take the CPU kernels' SIMD path
#: (``_kernels.newton_wide``, ``_vmath``'s exp and log over all
#: candidates at once); shorter rows, latency bound, keep glibc's scalar functions, and so
#: does the GPU.
WIDE_MIN = 12

#: On the SIMD path an integer beta from 2 to this takes its powers by multiplication
#: (``_kernels.residual_int``: ``s**(beta - 1)`` and ``s**beta`` by binary powering, in
#: double-double, or in plain float64 for float32 results up to beta = 124; no ``log`` or
#: ``exp``): more accurate than ``exp(beta log s)`` and 2-4x cheaper per class at beta = 11.
#: Each bit of beta is a step over every class, and from beta ~ 1000 on the powers cost more
#: than the ``log`` and ``exp`` (measured at C = 100 and 1000, 2026-12-03).
INT_BETA_MAX = 512.0

#: The scalar row functions (short rows, and every row on the GPU) take an integer beta's
#: powers by multiplication too, up to this beta (``_kernels.int_term``): in plain float64
#: where ``_kernels.plain_powers`` allows (float32 results), else in double-double. Above it
#: ``exp(beta log s)`` costs less than the double-double products (one evaluation of 10
#: classes on a Zen 3 core: 62 vs 107 ns at beta = 2, 340 vs 470 at 11, 420 vs 290 at 100;
#: 2026-12-06).
SHORT_INT_BETA_MAX = 32.0

#: From this beta on (finite), and at every integer beta from 2 to ``INT_BETA_MAX``, rows of
#: fewer than ``WIDE_MIN`` classes (up to ``BLOCK_MAX_C`` from beta = 3 on) are solved
#: ``LANES`` rows at a time, a row to each SIMD lane (``_blocks``), when Newton runs to
#: machine precision; otherwise one at a time
#: (``_kernels``'s scalar functions), which prune the classes outside the support: below
#: beta = 4 few classes of a short row are in it, and the pruned row wins where ``log`` and
#: ``exp`` are taken (C = 10, float64, 1 thread: 574 vs 751 ns a row at beta = 2.5, 829 vs 704
#: at 4.5; float32 528 vs 630 at 2.5; AMD EPYC Zen 3, 2026-12-06).
BLOCK_BETA_MIN = 4.0

#: From beta = 3 on, rows of up to this many classes take the blocks (``_blocks``) rather
#: than the SIMD path of one row, whose loops over 12 to 30 classes leave most of the vector
#: idle and whose scalar start and steps are paid row by row. ``loss_and_grad``, 1 thread,
#: ns a row, SIMD path -> blocks, float32 (float64): C = 12, beta = 5 504 -> 231 (653 -> 307);
#: C = 24, beta = 3 409 -> 306 (531 -> 487), 5 540 -> 312 (747 -> 467), 37.5 598 -> 547
#: (829 -> 671), 1e6 378 -> 318 (447 -> 395); C = 28, the first loss, float64 beta = 1e6
#: 440 -> 465 and beta = 3 560 -> 563; C = 31 float32 beta = 37.5 618 -> 634. At beta = 2,
#: where a few classes are in the support, the pruned and SIMD paths keep rows from
#: ``WIDE_MIN`` on (C = 16: 343 -> 388 float64; AMD EPYC Zen 4, 2026-12-07).
BLOCK_MAX_C = 24

#: Rows of at least this many classes are gathered by ``_kernels.collect_wide``, which picks
#: compress-stores where the first 64 classes hold 16 candidates or more and the CPU has
#: AVX-512 (else a branch-free compaction, from 32; 64 is the compare's block; shorter rows
#: keep ``_kernels.collect``, small enough to inline into the row loops).
DENSE_MIN = 64

#: Rows of the SIMD path whose first 64 classes hold at least this many candidates are copied
#: whole, the few classes outside the support with them (each evaluation gives them 0), and
#: written out in one straight loop (``_kernels.collect_wide``), not compacted and scattered:
#: float32, 1 thread, C = 100, beta = 11 1.10x and 37.5 1.05x faster; C = 1000, beta = 11
#: 1.02x slower, within the noise (AMD EPYC, Zen 3, 2026-12-07).
WHOLE_MIN = 48

#: A wide row whose every class keeps ``|t / beta| <= WIDE_SERIES`` over the whole bracket
#: (large beta: ``t = z + x >= min(z) + lo``) takes ``beta log1p(t / beta)`` by its series in
#: ``t / beta`` (``_kernels.residual_series``, twelve terms), not a double-double and a ``log``.
WIDE_SERIES = 2.0**-5

#: Independent partial sums that the SIMD path keeps per row (each compensated where the row's
#: sum is): one per float64 lane of a 512-bit vector.
LANES = 8  # _vmath.LANES, the width of its vector loops

#: From this beta on, Newton starts at the softmax root corrected for beta to the third order
#: (``_kernels.softmax_start``, ``softmax_start_short``); below it, at the tangent start
#: (``_kernels.newton_start``), which costs no ``exp``. Evaluations per row, float32, C = 10
#: / 100 / 1000, tangent -> softmax start: beta = 2 2.15 / 2.54 / 2.78 -> 1.75 / 2.20 / 2.49,
#: beta = 5 2.62 / 2.85 / 2.95 -> 2.14 / 2.14 / 2.13; at beta = 1.4 a draw, at 1.02 the
#: tangent start wins (AMD EPYC, Zen 3, 2026-12-06).
SOFTMAX_START_BETA = 2.0

#: float64 results at an integer beta up to this, on the SIMD path: the first evaluation
#: from the softmax start takes plain float64 products (``_kernels.powers_plain``, 1-2 ns a
#: class against 3-7 for double-double at beta = 11 and 100), as float32 results do (plain
#: powers stay clear of underflow but within 2**-8 of the support's edge up to beta = 124).
#: No stop is decided on it: ``f`` is good to ``(2 beta + 8) eps`` of ``f'`` only, so its
#: step lands within ~1e-13 of the root, and the next evaluation, in double-double, goes on
#: from there (a third on 2-6% of rows at beta = 100, where that step left the iterate an
#: ulp or two from the root).
ROUGH_BETA_MAX = 124.0

#: Newton's stopping rule at least this loose (``NEWTON_RTOL`` of float32 results): the SIMD
#: path's softmax start takes its ``exp`` in float32 lanes (``_vmath.vexpf``, 8 to a 256-bit
#: register), whose error (under 2**-21 relative) moves the start far less than the start's
#: own error, and whose square stays below rtol (one Newton step from the start still ends a
#: row).
SINGLE_START_RTOL = 2.0**-44

#: Sparsemax support sizes whose tangent point (``_kernels.tangent_mass``, a log and an expm1)
#: the CPU kernels look up in a table made once per batch (``_kernels.row_constants``).
TANGENT_TABLE = 64

#: CUDA launch settings (tests patch THREADS_PER_BLOCK down so tiny inputs span blocks).
THREADS_PER_BLOCK = 128
BLOCK_PER_ROW_MIN_C = 256  # from this many classes on, a block per row instead of a thread
CUDA_MAX_BLOCKS = 65536  # most blocks one launch requests (grid-stride loops cover the rest)

#: Double-double refinement of the root (``_refine``), for 1 < beta < 2 where q (eq. 17) is
#: ill-conditioned at the edge of the support (dq_c/dnu ∝ s_c**(beta - 2)).
#: exp's argument is reduced to |r| <= ln2/2 and then scaled by 2**-REFINE_SQUARINGS, so that
#: eleven Taylor terms of expm1 are exact to 3e-34 relative; the squarings undo the scaling.
REFINE_SQUARINGS = 6
#: At most this many double-double passes; more than one only when a class sits so close to
#: the edge (s_c < ~1e-9) that the first step's error shows.
REFINE_MAX_PASSES = 6
#: Absolute accuracy aimed at for ``x + x_lo`` (x lies in [-beta, 0]).
REFINE_ROOT_TOL = 2.0**-104

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

#: Refine a row when the float64 root's rounding may move some q_c by more than this: a
#: quarter of the output dtype's accuracy target (the rest is q's own rounding). So a float32
#: row needs the double-double root only for a class within ~1e-7 of the support's edge.
REFINE_Q_TOL = {dt: tol["prob"] / 4.0 for dt, tol in TOLERANCE.items()}
