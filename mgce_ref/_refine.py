"""Double-double refinement of the root: full relative precision for classes at the support's edge.

For 1 < beta < 2 the worst case (eq. 17) ``q_c ∝ s_c**(beta - 1)`` has
``dq_c/dx ∝ s_c**(beta - 2)``, unbounded as ``s_c -> 0+``: with the shifted root ``x`` exact to
the last bit (``|dx| ~ 1e-16``), a class at ``s_c = 1e-9`` gets ``|dq_c| ~ 2e-10`` at beta = 1.02.
The cure is to carry the root as a double-double ``x + x_lo`` (:func:`refine`: eq. 13 evaluated
in double-double, one Chebyshev step) and to form ``s_c = 1 + (v_c - vmax + x + x_lo)/beta`` with
error-free transformations (:func:`s_dd`, :func:`q_term_dd`), so that ``s_c`` keeps its relative
precision down to ``s_c ~ 1e-16``. :func:`refine_needed` tells, in one cheap pass, which rows need it.

Every function here is a Numba kernel on scalars and 1-D arrays that allocates nothing, raises
nothing and uses only ``math``, so the CPU kernels and (later) the CUDA kernels can share them;
on CUDA, whose compiler contracts ``a*b + c`` into fmas by default, :func:`two_prod` must become
``cuda.fma``-based (see its docstring).
A double-double ``(hi, lo)`` is the unevaluated sum ``hi + lo`` with ``|lo| <= ulp(hi) / 2``;
``u = 2**-53``. References: Dekker (1971), Knuth TAOCP vol. 2 (two_sum), Hida, Li and Bailey's
QD library (exp by range reduction and squaring), Joldes, Muller and Popescu, ACM TOMS 44 (2017)
(error bounds of the double-double sum, ``<= 3 u**2`` relative).
"""

import math
from fractions import Fraction

import numpy as np
from numba import njit

from .config import REFINE_MAX_PASSES as _MAX_PASSES
from .config import REFINE_ROOT_TOL as _ROOT_TOL
from .config import REFINE_SQUARINGS as _SQUARINGS

_jit = njit(cache=True, error_model="numpy", _nrt=False)  # no reference counts: see _kernels

#: Dekker's splitter 2**27 + 1: ``a * _SPLIT`` separates a double into two 26-bit halves.
_SPLIT = 134217729.0
#: ln 2 = _LN2_A + _LN2_B + _LN2_C (80-digit mpmath; tests/test_refine.py checks it). _LN2_A
#: has 42 significant bits, so ``k * _LN2_A`` is exact for |k| < 2**11 (all non-overflowing k).
_LN2_A = 0.6931471805598903
_LN2_B = 5.497923018708371e-14
_LN2_C = 1.94704509238075e-31


def _dd_const(frac):
    hi = float(frac)
    return hi, float(frac - Fraction(hi))


_NO_W = np.empty(0)  # refine_needed's "w not given"

# Taylor coefficients 1/(j+1)! of expm1(r) / r = sum_j r**j / (j + 1)!; those multiplying
# r**2..r**5 need a low part, the higher ones multiply r**6 < 3e-14 and are fine as doubles.
_C2_HI, _C2_LO = _dd_const(Fraction(1, 6))
_C3_HI, _C3_LO = _dd_const(Fraction(1, 24))
_C4_HI, _C4_LO = _dd_const(Fraction(1, 120))
_C5_HI, _C5_LO = _dd_const(Fraction(1, 720))
_C6 = 1.0 / 5040.0
_C7 = 1.0 / 40320.0
_C8 = 1.0 / 362880.0
_C9 = 1.0 / 3628800.0
_C10 = 1.0 / 39916800.0


# ----------------------------------------------------------------------------- building blocks


@_jit
def two_sum(a, b):
    """Knuth's error-free sum: ``s + e == a + b`` exactly, ``s = fl(a + b)``."""
    s = a + b
    bb = s - a
    e = (a - (s - bb)) + (b - bb)
    return s, e


@_jit
def quick_two_sum(a, b):
    """``two_sum`` for ``|a| >= |b|`` (or ``a == 0``), three flops instead of six."""
    s = a + b
    return s, b - (s - a)


@_jit
def two_prod(a, b):
    """Dekker's error-free product: ``p + e == a * b`` exactly, ``p = fl(a * b)``.

    Splitting, not ``fma``: Python 3.11's ``math`` has none for Numba to compile (an LLVM
    ``fma`` intrinsic made ``dd_exp`` only ~25% faster). Exact for ``|a|, |b| < 2**996``. Where
    the compiler contracts ``a*b - c`` into an fma (CUDA's default) the split is not guaranteed:
    there use ``p = a*b; e = cuda.fma(a, b, -p)``.
    """
    p = a * b
    t = _SPLIT * a
    ah = t - (t - a)
    al = a - ah
    t = _SPLIT * b
    bh = t - (t - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


@_jit
def dd_add(ah, al, bh, bl):
    """Double-double sum, the accurate variant (relative error <= 3 u**2 even under cancellation)."""
    s, e = two_sum(ah, bh)
    t, f = two_sum(al, bl)
    e += t
    s, e = quick_two_sum(s, e)
    e += f
    return quick_two_sum(s, e)


@_jit
def _dd_add_same(ah, al, bh, bl):
    """Double-double sum without cancellation (same signs, or ``|b| >> |a|``), one two_sum less."""
    s, e = two_sum(ah, bh)
    e += al + bl
    return quick_two_sum(s, e)


@_jit
def dd_add_d(ah, al, b):
    """Double-double plus double (relative error <= 2 u**2)."""
    s, e = two_sum(ah, b)
    e += al
    return quick_two_sum(s, e)


@_jit
def dd_mul(ah, al, bh, bl):
    """Double-double product (relative error a few ``u**2``)."""
    p, e = two_prod(ah, bh)
    e += ah * bl + al * bh
    return quick_two_sum(p, e)


@_jit
def dd_mul_d(ah, al, b):
    """Double-double times double."""
    p, e = two_prod(ah, b)
    e += al * b
    return quick_two_sum(p, e)


@_jit
def dd_div_d(ah, al, b):
    """Double-double over double: one correction of the double quotient."""
    q = ah / b
    p, e = two_prod(q, b)
    r = ((ah - p) - e) + al  # ah - p is exact: q * b is within an ulp of ah
    return quick_two_sum(q, r / b)


# ----------------------------------------------------------------------------- exp and log


@_jit
def _expm1_reduced(rh, rl):
    """``expm1(r)`` for ``|r| <= ln2/2``, relative error ~1e-32.

    Scale ``r`` by ``2**-6`` (exact), sum eleven Taylor terms (truncation 3e-34 relative; the
    six leading ones in double-double, the tail, below ``r**6/7! < 5e-18``, in double), and
    undo the scaling with ``expm1(2y) = expm1(y) * (expm1(y) + 2)``, which keeps the relative
    error: no ``1 + ...`` is ever formed, so tiny ``r`` keep all their digits.
    """
    scale = 2.0**-_SQUARINGS
    rh *= scale
    rl *= scale
    acc = ((((_C10 * rh + _C9) * rh + _C8) * rh + _C7) * rh + _C6)
    ah, al = dd_mul_d(rh, rl, acc)
    ah, al = _dd_add_same(ah, al, _C5_HI, _C5_LO)
    ah, al = dd_mul(ah, al, rh, rl)
    ah, al = _dd_add_same(ah, al, _C4_HI, _C4_LO)
    ah, al = dd_mul(ah, al, rh, rl)
    ah, al = _dd_add_same(ah, al, _C3_HI, _C3_LO)
    ah, al = dd_mul(ah, al, rh, rl)
    ah, al = _dd_add_same(ah, al, _C2_HI, _C2_LO)
    ah, al = dd_mul(ah, al, rh, rl)
    ah, al = dd_add_d(ah, al, 0.5)
    ah, al = dd_mul(ah, al, rh, rl)
    ah, al = dd_add_d(ah, al, 1.0)
    eh, el = dd_mul(ah, al, rh, rl)
    for _ in range(_SQUARINGS):
        th, tl = dd_add_d(eh, el, 2.0)
        eh, el = dd_mul(eh, el, th, tl)
    return eh, el


@_jit
def dd_exp(yh, yl):
    """``exp(y)`` of a double-double, relative error ~1e-32 (and ``2**-106 |y|`` from ``y`` itself).

    ``y = k ln2 + r`` with ``|r| <= ln2/2`` (ln2 as a triple-double), ``exp(y) = 2**k (1 +
    expm1(r))``. Returns ``(0, 0)`` below exp's underflow and ``(inf, 0)`` above its overflow.
    """
    if yh < -745.2:
        return 0.0, 0.0
    if yh > 709.78:
        return math.inf, 0.0
    k = math.floor(yh / _LN2_A + 0.5)
    # y - k ln2 in pieces: yh - k*A is exact (Sterbenz), k*B by two_prod; (yh - k*A, yl) is
    # renormalized first, since dd_add's error bound holds for normalized operands only.
    rh, rl = two_sum(yh - k * _LN2_A, yl)
    ph, pl = two_prod(k, _LN2_B)
    rh, rl = dd_add(rh, rl, -ph, -(pl + k * _LN2_C))
    eh, el = _expm1_reduced(rh, rl)
    eh, el = dd_add_d(eh, el, 1.0)
    ik = int(k)
    return math.ldexp(eh, ik), math.ldexp(el, ik)


@_jit
def dd_expm1(yh, yl):
    """``exp(y) - 1`` of a double-double with relative precision, also for tiny ``y``."""
    if abs(yh) <= 0.5 * _LN2_A:
        return _expm1_reduced(yh, yl)
    eh, el = dd_exp(yh, yl)
    return dd_add_d(eh, el, -1.0)  # |exp(y) - 1| > 0.29 here: no cancellation to fear


@_jit
def _log_s(th, tl, ah, al, beta):
    """``log(s)`` for ``s = 1 + t/beta = a/beta > 0``, given ``t`` and ``a = beta + t``.

    One Newton step from the double logarithm ``L0``: with ``u = s exp(-L0) - 1`` the exact
    correction is ``log1p(u) = u - u**2/2 + ...`` (``|u| ~ 1e-16``). Near ``s = 1`` it is
    written on ``w = t/beta`` (``u = (w - expm1(L0)) / exp(L0)``), so ``log s ~ w`` keeps its
    relative precision; for ``s <= 1/2`` on ``s`` itself, which ``a`` carries to full relative
    precision however small (``a = beta + t`` is formed without cancellation error).
    """
    if ah > 0.5 * beta:
        wh, wl = dd_div_d(th, tl, beta)
        l0 = math.log1p(wh)
        eh, el = dd_expm1(l0, 0.0)
        rh, rl = dd_add(wh, wl, -eh, -el)
        u = rh / (1.0 + eh)
    else:
        sh, sl = dd_div_d(ah, al, beta)
        l0 = math.log(sh)
        eh, el = dd_exp(l0, 0.0)
        rh, rl = dd_add(sh, sl, -eh, -el)
        u = rh / eh
    return two_sum(l0, u - 0.5 * u * u)


@_jit
def dd_log1p_ratio(th, tl, beta):
    """``log1p(t / beta)`` for a double-double ``t > -beta``, relative error ~1e-31: the log
    of ``s`` (eq. 12), and ``beta`` times it the log of ``p = s**beta`` (eq. 14)."""
    ah, al = dd_add_d(th, tl, beta)
    return _log_s(th, tl, ah, al, beta)


@_jit
def t_dd(v, vmax, x, x_lo):
    """``t = (v - vmax) + (x + x_lo)`` as a double-double, from exact ``two_sum``s.

    ``v - vmax`` is itself rounded in float64 (``1.3 - (-0.2)``), hence the logit and the
    maximum are passed separately, never their difference.
    """
    zh, zl = two_sum(v, -vmax)
    return dd_add(zh, zl, x, x_lo)


# ----------------------------------------------------------------------------- the refinement


@_jit
def residual_dd_term(vc, vmax, x, x_lo, beta, is_max):
    """One class's share of :func:`_residual_dd`: ``(ph, pl, d1, d2, d3, edge)``: its term of
    ``f`` as a double-double, its terms of ``f'``, ``f'' / (beta - 1)`` and ``f''' / ((beta -
    1)(beta - 2))``, and its ``|beta s_c|`` (``inf`` for a class surely outside; all terms 0
    for a class outside). Shared with the CUDA block-per-row refinement."""
    if not (vc - vmax) + x > -2.0 * beta:  # surely outside; also skips inf - inf
        return 0.0, 0.0, 0.0, 0.0, 0.0, math.inf
    th, tl = t_dd(vc, vmax, x, x_lo)
    ah, al = dd_add_d(th, tl, beta)  # beta * s_c to ~u**2 relative, however small
    edge = abs(ah)
    if not ah > 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, edge
    lh, ll = _log_s(th, tl, ah, al, beta)
    yh, yl = dd_mul_d(lh, ll, beta)
    if is_max:
        ph, pl = dd_expm1(yh, yl)
        p = ph + 1.0
    else:
        ph, pl = dd_exp(yh, yl)
        p = ph
    w = p * beta / ah  # s**(beta - 1) = p / s
    w2 = w / ah  # s**(beta - 2) / beta
    return ph, pl, w, w2, w2 / ah, edge  # the last: s**(beta - 3) / beta**2


@_jit
def _residual_dd(v, n, m, vmax, x, x_lo, beta):
    """Eq. 13 at ``x + x_lo``: ``f`` as a double-double; ``f'``, ``f'' / (beta - 1)`` and
    ``f''' / ((beta - 1)(beta - 2))`` as doubles; ``min_c |beta s_c|`` over the candidates (how
    close the nearest kink ``s_c = 0`` is).

    Mirrors ``_kernels.residual``: candidates ``v[:n]``, first maximum ``v[m]``, whose term
    ``p_m - 1`` is an ``expm1`` (relative precision when one class dominates). The support test
    ``s_c > 0`` is made on the double-double ``beta * s_c``: a class at ``s_c = 1e-17`` still
    adds ``~1e-17**beta`` to ``f``, far above the 1e-32 aimed at.
    """
    fh = 0.0
    fl = 0.0
    d1 = 0.0
    d2 = 0.0
    d3 = 0.0
    edge = math.inf
    for c in range(n):
        ph, pl, w1, w2, w3, e = residual_dd_term(float(v[c]), vmax, x, x_lo, beta, c == m)
        edge = min(edge, e)
        if w1 > 0.0:
            fh, fl = dd_add(fh, fl, ph, pl)
            d1 += w1
            d2 += w2
            d3 += w3
    return fh, fl, d1, d2, d3, edge


@_jit
def refine_next(fh, fl, d1, d2, d3, edge, x_lo, beta):
    """One pass of :func:`refine_info`, from :func:`_residual_dd` at ``x + x_lo``: returns
    ``(x_lo, status)``, status 0 (make another pass), 1 (converged) or 2 (no class in the
    support: ``x`` is not a root estimate). Shared with the CUDA block-per-row refinement."""
    if not d1 > 0.0:
        return x_lo, 2
    step = -(fh + fl) / d1
    if not edge > 2.0 * abs(step):
        # A kink s_c = 0 (f'' jumps there) within reach: plain Newton, and another pass.
        return x_lo + step, 0
    # Chebyshev's step, the root of the quadratic Taylor model of f. Its error is about
    # (f''**2 / (2 f'**2) + |f'''| / (6 f')) |step|**3, with f'' and f''' as large as
    # s_c**(beta - 2) and s_c**(beta - 3) for a class near the edge.
    h2 = (beta - 1.0) * d2 / d1
    x_lo += step - 0.5 * h2 * step * step
    h3 = (beta - 1.0) * abs(beta - 2.0) * d3 / d1
    if (0.5 * h2 * h2 + h3 / 6.0) * abs(step) ** 3 <= _ROOT_TOL:
        return x_lo, 1
    return x_lo, 0


@_jit
def refine_info(v, n, m, vmax, x, beta):
    """:func:`refine` with its pass count: returns ``(x_lo, passes, converged)``."""
    if math.isinf(beta) or not x == x:
        return 0.0, 0, True
    x_lo = 0.0
    for it in range(1, _MAX_PASSES + 1):
        fh, fl, d1, d2, d3, edge = _residual_dd(v, n, m, vmax, x, x_lo, beta)
        x_lo, status = refine_next(fh, fl, d1, d2, d3, edge, x_lo, beta)
        if status:
            return x_lo, it, status == 1
    return x_lo, _MAX_PASSES, False


@_jit
def refine(v, n, m, vmax, x, beta):
    """Low part ``x_lo`` of the shifted root of eq. 13, so that ``x + x_lo`` is exact to ~1e-31.

    Eq. 13 is evaluated in double-double at the float64 root ``x`` and corrected by one
    Chebyshev step ``d = -f/f' - f'' f**2 / (2 f'**3)`` (``f'`` and ``f''`` in double are
    plenty for a correction of ~1e-16). The second-order term matters: ``f'' = (beta - 1)/beta
    sum_c s_c**(beta - 2)`` is unbounded as a class nears the edge ``s_c -> 0+``, and a plain
    Newton step would leave ``f''/(2 f') d**2 ~ 1e-21`` at ``s_c = 1e-12``, beta = 1.02. While
    the step's estimated third-order error exceeds ``2**-104``, or a class's edge lies within
    twice the step, another pass is made (``f`` is convex: Newton is monotone after its first
    step). One pass unless a class sits within ~1e-9 of the edge; at most ``_MAX_PASSES``.

    Parameters
    ----------
    v : 1-D float array
        Candidate logits ``v[:n]`` as left by ``_kernels.collect`` (raw, not shifted).
    n, m : int
        Number of candidates; index of the first maximum.
    vmax : float
        ``v[m]`` as float64.
    x : float
        The float64 shifted root ``nu + vmax`` (``_kernels.newton``), within a few ulps.
    beta : float
        Finite, >= 1 (the refinement matters for 1 < beta < 2). ``inf`` returns 0.

    Returns
    -------
    x_lo : float
        ``nu = (x + x_lo) - vmax``; 0 where there is nothing to refine (beta = inf, NaN x).
    """
    return refine_info(v, n, m, vmax, x, beta)[0]


@_jit
def refine_needed(v, n, vmax, x, beta, q_tol, w, x_err):
    """Whether the float64 root leaves some ``q_c`` (eq. 17) off by more than ``q_tol``
    (``config.REFINE_Q_TOL`` for the output dtype). ``w[:n]`` are the classes' ``s_c**(beta-1)``
    if the caller has them (the numba backend makes them from the ``log s`` that
    ``_kernels.residual_pruned`` leaves), else ``w`` is empty. ``x_err`` bounds the error of
    ``x`` beyond its rounding (Newton's relative stopping rule for float32 rows; else 0).

    ``t_c = v_c - vmax + x`` is known to ``dt ~ 2**-52 beta + x_err`` (roundings of ``x`` and
    of ``v_c - vmax``), which moves ``q_c = w_c / S`` (``w_c = s_c**(beta - 1)``) by about
    ``(beta - 1) w_c / s_c * dt / (beta S)``; unbounded as ``s_c -> 0`` for beta < 2, at most
    ``~2e-16 (beta - 1)`` for beta >= 2, where the answer is always no. One pass, one ``exp``
    and ``log`` per class (none given ``w``), plain double: cheap enough to decide per row
    before :func:`refine`.
    """
    if not (1.0 < beta < 2.0):
        return False
    have_w = w.shape[0] > 0
    dt = 2.0**-52 * beta + x_err
    total = 0.0
    worst = 0.0
    for c in range(n):
        z = float(v[c]) - vmax
        a = (beta + z) + x  # beta * s_c to ~dt
        if a <= -2.0 * dt:
            continue
        if a <= 2.0 * dt:  # at the edge within rounding: only double-double can tell
            return True
        wc = w[c] if have_w else math.exp((beta - 1.0) * math.log(a / beta))
        total += wc
        worst = max(worst, wc * beta / a)
    return (beta - 1.0) * worst * dt > q_tol * beta * total


# ----------------------------------------------------------------------------- outputs


@_jit
def s_dd(v, vmax, x, x_lo, beta):
    """``s = 1 + (v - vmax + x + x_lo) / beta`` rounded from a double-double (eq. 12).

    ``beta * s`` is formed as ``beta + t`` in double-double, so ``s`` is within ~1 ulp however
    small, as far as ``x + x_lo`` (exact to ~1e-32) allows: ``s >= 1e-16`` or so. Pass
    ``vmax = 0`` and ``v = z`` where ``z = v - vmax`` is known to be exact. May be <= 0.
    """
    th, tl = t_dd(v, vmax, x, x_lo)
    ah, al = dd_add_d(th, tl, beta)
    return dd_div_d(ah, al, beta)[0]


@_jit
def q_term_dd(v, vmax, x, x_lo, beta):
    """``[s]_+**(beta - 1)``, the unnormalized worst case of eq. 17, from the double-double root.

    The log is a ``log1p(t/beta)`` near ``s = 1`` (so large beta loses nothing) and ``log(s)``
    of the accurate ``s`` below 1/2; ``beta - 1`` is exact.
    """
    th, tl = t_dd(v, vmax, x, x_lo)
    if math.isinf(beta):
        return math.exp(th)
    ah, al = dd_add_d(th, tl, beta)
    if not ah > 0.0:
        return 0.0
    if beta == 1.0:
        return 1.0
    if ah > 0.5 * beta:
        lg = math.log1p(dd_div_d(th, tl, beta)[0])
    else:
        lg = math.log(dd_div_d(ah, al, beta)[0])
    return math.exp((beta - 1.0) * lg)


@_jit
def p_term_dd(v, vmax, x, x_lo, beta):
    """``[s]_+**beta`` (eq. 14) evaluated in double-double and rounded (~0.5 ulp), tens of times
    a double ``p_term``. The link is well conditioned (``dp/dx = s**(beta-1) <= 1``): this is
    for checks rather than for speed."""
    th, tl = t_dd(v, vmax, x, x_lo)
    if math.isinf(beta):
        return dd_exp(th, tl)[0]
    ah, al = dd_add_d(th, tl, beta)
    if not ah > 0.0:
        return 0.0
    lh, ll = _log_s(th, tl, ah, al, beta)
    yh, yl = dd_mul_d(lh, ll, beta)
    return dd_exp(yh, yl)[0]


@_jit
def nu_dd(x, x_lo, vmax):
    """``nu = (x + x_lo) - vmax`` rounded once from a double-double."""
    return dd_add(x, x_lo, -vmax, 0.0)[0]


@_jit
def refine_worst_case(h, vmax, x, beta, q, q_tol):
    """Recompute, in place, the rows of ``q`` (eq. 17) whose float64 root is not enough.

    For the NumPy and exact backends, which solve row-vectorized and then call this: rows of
    ``h`` (B, C) with maxima ``vmax`` and float64 shifted roots ``x``; only rows where
    :func:`refine_needed` says so (with ``q_tol``) are touched (never for beta outside (1, 2)).
    """
    B, C = h.shape
    for r in range(B):
        row = h[r]
        if not refine_needed(row, C, vmax[r], x[r], beta, q_tol, _NO_W, 0.0):
            continue
        m = 0
        for c in range(C):
            if row[c] > row[m]:
                m = c
        x_lo = refine(row, C, m, vmax[r], x[r], beta)
        total = 0.0
        for c in range(C):
            q[r, c] = q_term_dd(row[c], vmax[r], x[r], x_lo, beta)
            total += q[r, c]
        for c in range(C):
            q[r, c] /= total

