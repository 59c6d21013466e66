"""Row kernels: the arithmetic of one sample, shared by the Numba CPU and CUDA backends.

Every function here works on one row of logits ``v`` (any float dtype, read as float64) and
scalars, allocates nothing and returns scalars, so the CPU batch kernels (``prange`` over rows)
and the CUDA kernels (a thread per row) run the same operations in the same order. The CPU
kernels also have scratch rows, which three functions here use (:func:`collect`,
:func:`residual_pruned`, :func:`newton_pruned`): the candidate classes are gathered once, and
Newton then runs on the few that can still be in the support (on CUDA, on the row itself).

Notation (MATH.md): ``z_c = v_c - max(v)`` and the *shifted* root ``x = nu + max(v)``, so that
``s_c = 1 + (z_c + x) / beta`` and ``x`` lies in ``[lo, 0]`` whatever the logits' offset, with
``lo = base(C, beta)`` the low end of the shifted eq. 26 bracket (the same for every row of a
batch: the batch kernels compute it once).
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from ._vmath import (_log_core, as_float, as_int, fma, lane_moments, lane_moments_all,
                     lane_moments_high, lane_sum, lane_totals, lane_totals_lo,
                     lane_totals_lo_nomin, lane_totals_nomin, lane_twosum, prefer_512, vexp,
                     vexpf)
from .config import (EDGE_MARGIN, INT_BETA_MAX, LANES, ROUGH_BETA_MAX, SERIES_CUTOFF,
                     SHORT_INT_BETA_MAX, SINGLE_START_RTOL, SOFTMAX_START_BETA, TANGENT_TABLE,
                     WHOLE_MIN, WIDE_SERIES, WIDE_MIN)

#: Without NRT's reference counts (``_nrt``, a Numba target option): the row functions
#: allocate nothing, and the atomic increment and decrement of every array passed, sliced or
#: viewed took 8-10% of a row's time. ``_alloc`` for the few that allocate; ``_inline`` for
#: small functions on the hot path, where a call (each array seven words on the stack) cost
#: more than the body.
_jit = njit(cache=True, error_model="numpy", _nrt=False)
_alloc = njit(cache=True, error_model="numpy")
_inline = njit(cache=True, error_model="numpy", inline="always", _nrt=False)


def at(x, c):
    """``x`` itself, or ``x[c]`` for an array: lets a SIMD loop take one ``x`` for its row
    (the row kernels) or one per entry (``_blocks``, a row per lane), compiled apart."""
    return x[c] if isinstance(x, np.ndarray) else x


@overload(at, inline="always")
def _at(x, c):
    if isinstance(x, types.Array):
        return lambda x, c: x[c]
    return lambda x, c: x


@_inline
def beta_s(z, x, beta):
    """``beta * s = beta + z + x`` with one rounding where it matters.

    Near the edge of the support (``s -> 0``) ``beta + (z + x)`` cancels; ``t = z + x`` is
    split exactly (two-sum), ``beta + t`` is then exact (Sterbenz) and the lost low part is
    added back, so a tiny ``s`` keeps its relative accuracy.
    """
    t = z + x
    bz = t - z
    t_lo = (z - (t - bz)) + (x - bz)
    return (beta + t) + t_lo


@_jit
def log_s(z, x, beta):
    """``log s = log1p((z + x) / beta)``: series for tiny ratios (beta up to 1e308 and inf
    neither underflow nor lose digits), ``log(beta_s / beta)`` for ``s < 1/2``."""
    r = (z + x) / beta
    if abs(r) < SERIES_CUTOFF:
        return r * (1.0 - r * (0.5 - r * (1.0 / 3.0)))
    if r < -0.5:
        return math.log(beta_s(z, x, beta) / beta)
    return math.log1p(r)


@_jit
def log_p(z, x, beta):
    """``beta * log s``, the log of ``p = s**beta`` (eq. 14); tends to ``z + x`` as beta -> inf."""
    return log_p_and_s(z, x, beta)[0]


@_jit
def log_p_and_s(z, x, beta):
    """``(log_p, log_s)`` with one ``log1p``; near ``s = 1`` (``|t/beta| < SERIES_CUTOFF``) both
    are series, so beta up to 1e308 and inf neither underflow nor lose digits."""
    t = z + x
    r = t / beta
    ls = log_s(z, x, beta)
    if abs(r) < SERIES_CUTOFF:
        return t * (1.0 - r * (0.5 - r * (1.0 / 3.0))), ls
    return beta * ls, ls


@_jit
def log_q(z, x, beta):
    """``(beta - 1) * log s`` = log of ``s**(beta - 1)``, the unnormalized eq. 17.

    Written with ``beta - 1`` (exact in floating point) rather than ``log_p - log_s``, which
    would cancel catastrophically for beta near 1. At beta = inf, where q = p = softmax, it is
    ``z``: the weights ``exp(z_c)`` that :func:`softmax` sums (a common factor ``exp(x)`` below
    ``p``, which normalizing q removes), so the CPU kernels reuse that sum's terms.
    """
    if math.isinf(beta):
        return z
    return (beta - 1.0) * log_s(z, x, beta)


@_jit
def base(n_classes, beta):
    """``beta * ((1/C)**(1/beta) - 1)``, the offset of the eq. 26 bracket, as an expm1."""
    a = -math.log(n_classes)
    x = a / beta
    if abs(x) < SERIES_CUTOFF:
        return a * (1.0 + x * (0.5 + x * (1.0 / 6.0)))
    return beta * math.expm1(x)


@_inline
def quotient(w, total, scale):
    """``w / total`` from ``scale = 1 / total`` without a division: the product, corrected
    once by its exact remainder (``fma``), is the quotient to within about half an ulp, as the
    division's (a bare product is off by up to 1.5 ulps, which Theorem 1's power maps amplify
    by ``beta / (beta - 1)``: ``mgce-ref verify`` saw it at beta = 1 + 1e-6)."""
    q = w * scale
    return fma(fma(-q, total, w), scale, q)


@_jit
def add(s, comp, term):
    """Compensated addition: returns the new ``(sum, compensation)``, the compensation gaining
    the exact rounding error of ``s + term`` (Knuth's TwoSum: the same error as Neumaier's
    two branches, without a branch to mispredict)."""
    t = s + term
    bp = t - s
    return t, comp + ((s - (t - bp)) + (term - bp))


@intrinsic
def _key(typingctx, x):
    """The bits of a float as a signed integer ordered like the float: ``-0.0`` just below
    ``+0.0``, and a NaN beyond the infinity of its sign. Integer min/max reductions vectorize
    to single instructions, unlike float ones that must propagate NaN."""
    if x not in (types.float32, types.float64):
        return None
    n = x.bitwidth

    def codegen(context, builder, signature, args):
        it = ir.IntType(n)
        b = builder.bitcast(args[0], it)
        sign = builder.ashr(b, ir.Constant(it, n - 1))
        return builder.xor(b, builder.and_(sign, ir.Constant(it, (1 << (n - 1)) - 1)))

    return types.int32(x) if n == 32 else types.int64(x), codegen


@intrinsic
def _unkey(typingctx, k):
    """The float whose :func:`_key` is ``k`` (the map is its own inverse on the bits)."""
    if k not in (types.int32, types.int64):
        return None
    n = k.bitwidth

    def codegen(context, builder, signature, args):
        it = ir.IntType(n)
        sign = builder.ashr(args[0], ir.Constant(it, n - 1))
        b = builder.xor(args[0], builder.and_(sign, ir.Constant(it, (1 << (n - 1)) - 1)))
        return builder.bitcast(b, ir.FloatType() if n == 32 else ir.DoubleType())

    return types.float32(k) if n == 32 else types.float64(k), codegen


def _compresses():
    """Whether Numba compiles for a CPU with AVX-512F, whose ``vcompresspd`` / ``vpcompressq``
    compress a vector in one instruction (:func:`collect_dense`). Without them (AVX2: a Zen
    3 core, 2026-12-06) LLVM spells it out lane by lane, and :func:`collect_dense` took 1.2-2.3x
    the time of :func:`collect`'s test per candidate (C = 100 and 1000, beta = 5 and 11)."""
    try:
        import llvmlite.binding as ll
        from numba.core import config

        if config.CPU_FEATURES:
            features = config.CPU_FEATURES
        elif config.CPU_NAME:  # a named target (e.g. "generic", for portable caches)
            return False
        else:
            features = ll.get_host_cpu_features().flatten()
        return "+avx512f" in features.split(",")
    except Exception:  # pragma: no cover - an llvmlite without these: the portable choice
        return False


#: :func:`_compresses`, once: the wide rows' gathering takes compresses only then.
COMPRESS = _compresses()

#: What :func:`solve_pruned` and :func:`solve_wide` leave in their scratch row, per class in
#: reach of the support.
LEFT_NOTHING, LEFT_LOG_S, LEFT_Q = 0, 1, 2

#: Entries of a row that :func:`collect` compares with its threshold at once.
BLOCK = 64
#: Entries of a row that :func:`collect_dense` stores at once (one 512-bit vector of float64).
CHUNK = 8


def _block_compare(op):
    def typer(typingctx, row, start, threshold):
        if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"
                and row.dtype in (types.float32, types.float64)):
            return None

        def codegen(context, builder, signature, args):
            ary, offset, thr = args
            data = context.make_array(signature.args[0])(context, builder, ary).data
            vt = ir.VectorType(context.get_value_type(row.dtype), BLOCK)
            v = builder.load(builder.bitcast(builder.gep(data, [offset]), vt.as_pointer()),
                             align=1)
            t = context.cast(builder, thr, types.float64, row.dtype)
            splat = ir.Constant(vt, ir.Undefined)
            for i in range(BLOCK):
                splat = builder.insert_element(splat, t, ir.Constant(ir.IntType(32), i))
            return builder.bitcast(builder.fcmp_ordered(op, v, splat), ir.IntType(BLOCK))

        return types.uint64(row, types.intp, types.float64), codegen

    return typer


#: ``_above(row, start, threshold)``: bit ``i`` set where ``row[start + i] > threshold`` (a
#: float64, rounded to the row's dtype) for the ``BLOCK`` entries from ``start`` of a
#: contiguous row: SIMD compares.
_above = intrinsic(_block_compare(">"))
#: ``_equal(row, start, value)``: :data:`_above` for ``row[start + i] == value``.
_equal = intrinsic(_block_compare("=="))


@intrinsic
def _lowest_bit(typingctx, mask):
    """Index of the lowest set bit of a nonzero ``mask``."""
    if mask != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = builder.module.declare_intrinsic(
            "llvm.cttz", [i64], ir.FunctionType(i64, [i64, ir.IntType(1)]))
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])

    return types.intp(types.uint64), codegen


@intrinsic
def _compress_block(typingctx, row, start, vmax, beta, skip, buf, idx, n):
    """``CHUNK`` entries of a contiguous row from ``start``: those with ``v - vmax > -beta``
    (as float64, the residual's test), bar column ``skip``, stored from ``buf[n]`` in column
    order with their columns from ``idx[n]``; returns the new ``n``. With :data:`COMPRESS`,
    AVX-512's compress in a register, then a store of all ``CHUNK`` lanes (``buf`` and
    ``idx`` need ``start + CHUNK + 1`` entries; those past the new ``n`` hold anything):
    the compress-store to memory, one instruction too, is microcoded on a Zen 4 core, where
    it made :func:`collect_dense` 3.1 us a row of 1000 float32 classes at beta = 11 against
    0.34 us this way (2026-12-07). Elsewhere LLVM's lowering of a compress-store."""
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"
            and row.dtype in (types.float32, types.float64)):
        return None

    def codegen(context, builder, signature, args):
        ary, off, vm, bt, sk, bufa, idxa, nn = args
        sig = signature.args
        i64 = ir.IntType(64)
        d = ir.DoubleType()
        vt = ir.VectorType(context.get_value_type(row.dtype), CHUNK)
        dv = ir.VectorType(d, CHUNK)
        iv = ir.VectorType(i64, CHUNK)
        mv = ir.VectorType(ir.IntType(1), CHUNK)
        off = context.cast(builder, off, sig[1], types.int64)
        sk = context.cast(builder, sk, sig[4], types.int64)
        nn = context.cast(builder, nn, sig[7], types.int64)
        data = context.make_array(sig[0])(context, builder, ary).data
        v = builder.load(builder.bitcast(builder.gep(data, [off]), vt.as_pointer()), align=1)
        if row.dtype == types.float32:
            v = builder.fpext(v, dv)

        def splat(val, t):
            out = ir.Constant(t, ir.Undefined)
            for i in range(CHUNK):
                out = builder.insert_element(out, val, ir.Constant(ir.IntType(32), i))
            return out

        z = builder.fsub(v, splat(vm, dv))
        keep = builder.fcmp_ordered(">", z, splat(builder.fneg(bt), dv))
        cols = builder.add(splat(off, iv), ir.Constant(iv, list(range(CHUNK))))
        keep = builder.and_(keep, builder.icmp_signed("!=", cols, splat(sk, iv)))
        bdata = context.make_array(sig[5])(context, builder, bufa).data
        idata = context.make_array(sig[6])(context, builder, idxa).data
        bptr = builder.gep(bdata, [nn])
        iptr = builder.gep(idata, [nn])
        for val, ptr, t in ((v, bptr, dv), (cols, iptr, iv)):
            kind = "v%d%s" % (CHUNK, "f64" if t is dv else "i64")
            if COMPRESS:  # compress in a register, then store all CHUNK lanes
                fnty = ir.FunctionType(t, [t, t, mv])
                name = "llvm.x86.avx512.mask.compress." + kind
                fn = builder.module.globals.get(name) or ir.Function(builder.module, fnty, name)
                packed = builder.call(fn, [val, ir.Constant(t, ir.Undefined), keep])
                builder.store(packed, builder.bitcast(ptr, t.as_pointer()), align=1)
            else:
                fnty = ir.FunctionType(ir.VoidType(), [t, ptr.type, mv])
                name = "llvm.masked.compressstore." + kind
                fn = builder.module.globals.get(name) or ir.Function(builder.module, fnty, name)
                builder.call(fn, [val, ptr, keep])
        bits = builder.zext(builder.bitcast(keep, ir.IntType(CHUNK)), i64)
        pc = builder.module.declare_intrinsic("llvm.ctpop", [i64], ir.FunctionType(i64, [i64]))
        return builder.add(nn, builder.call(pc, [bits]))

    return types.intp(row, types.intp, types.float64, types.float64, types.intp, buf, idx,
                      types.intp), codegen


@_jit
def first_max(row, vmax):
    """The first column where ``row`` holds its maximum ``vmax`` (a float64, exact in the
    row's dtype), ``BLOCK`` entries at a time by SIMD compares."""
    C = row.shape[0]
    c0 = 0
    while c0 + BLOCK <= C:
        mask = _equal(row, c0, vmax)
        if mask:
            return c0 + _lowest_bit(mask)
        c0 += BLOCK
    while row[c0] != vmax:
        c0 += 1
    return c0


@_jit
def extrema(row):
    """``(max, min)`` of a row as float64, by integer min/max on :func:`_key` (SIMD). A NaN or
    an infinity makes one of them non-finite (:func:`finite`)."""
    kmax = _key(row[0])
    kmin = kmax
    for c in range(row.shape[0]):
        k = _key(row[c])
        kmax = k if k > kmax else kmax
        kmin = k if k < kmin else kmin
    return np.float64(_unkey(kmax)), np.float64(_unkey(kmin))  # (float() keeps float32)


@_jit
def collect(row, beta, buf, idx):
    """Two passes over a row: max, min, and the classes that can be in the support.

    A class with ``z_c <= -beta`` has ``s_c(x) <= 0`` for every ``x <= 0``, hence ``p_c = 0``
    exactly; the others are copied to ``buf`` and their columns to ``idx``: the first maximum
    in ``buf[0]``, then the rest in column order. Returns ``(n, vmax, vmin)`` with the ``n``
    candidates in ``buf[:n]``. (The maximum first takes a data-dependent branch out of every
    residual evaluation.) The row is finite exactly when ``vmax`` and ``vmin`` are
    (:func:`finite`): the CPU kernels check the logits here, not in a pass of their own; a
    row that is not finite gets no candidates.

    The second pass compares ``BLOCK`` entries at a time with a threshold a little below
    ``vmax - beta`` and looks only at those above it, each tested as the residual computes it,
    ``v - vmax > -beta`` in float64 (not ``v > vmax - beta``, which rounds to ``v > vmax`` for
    huge logits). A candidate has ``v - vmax > -beta`` exactly (rounding is monotone and
    ``-beta`` is a float), so a threshold at most ``vmax - beta`` misses none; the margin,
    ``2**-20`` relative, exceeds the roundings of the threshold, down to the row's dtype.
    When ``vmin - vmax > -beta`` every class is a candidate and a row of 16 classes or more is
    copied as it is (the same ``buf``, without a test per class; on shorter rows the test costs
    less than the copy's setup), and only ``idx[0]`` is written: with ``n == C`` the columns
    are the first maximum's, then the others in order (:func:`fill_columns` writes them out,
    for the pruned path, which moves them).
    """
    vmax, vmin = extrema(row)
    if not finite(vmax, vmin):
        return 0, vmax, vmin
    return collect_from(row, beta, vmax, vmin, buf, idx)


@_inline
def collect_from(row, beta, vmax, vmin, buf, idx):
    """:func:`collect`'s second pass, from the row's finite ``vmax`` and ``vmin``. (Inlined
    in Numba's IR, so that :func:`collect` stays one small function that LLVM inlines into the
    short rows' loops: a call here made rows of 2 classes take 1.4x as long.)"""
    C = row.shape[0]
    if C >= 16 and vmin - vmax > -beta:  # every class a candidate (rounding is monotone): copies
        m = first_max(row, vmax)
        buf[0] = vmax
        idx[0] = m
        for c in range(m):
            buf[c + 1] = row[c]
        for c in range(m + 1, C):
            buf[c] = row[c]
        return C, vmax, vmin
    n = 1  # buf[0] is kept for the first maximum
    found = False
    t = vmax - beta
    thr = t - (abs(t) + 1.0) * 2.0**-20
    for c0 in range(0, C, BLOCK):
        if C < BLOCK:  # a short row: every class is looked at
            mask = (np.uint64(1) << np.uint64(C)) - np.uint64(1)
        elif c0 + BLOCK <= C:
            mask = _above(row, c0, thr)
        else:  # the last, partial block: the final BLOCK entries, less those already seen
            mask = _above(row, C - BLOCK, thr) >> np.uint64(c0 + BLOCK - C)
        while mask:
            c = c0 + _lowest_bit(mask)
            mask &= mask - np.uint64(1)
            v = np.float64(row[c])
            if v - vmax > -beta:
                first = v == vmax and not found  # once per row, at no telling which: no branch
                found = found or first
                slot = 0 if first else n
                buf[slot] = v
                idx[slot] = c
                n += not first
    return n, vmax, vmin


@_jit
def fill_columns(idx, n, C):
    """``idx[:n]`` of a row that :func:`collect` copied whole (``n == C``; only ``idx[0]``, the
    first maximum's column, was written): the other columns, in order."""
    if n != C:
        return
    m = idx[0]
    for c in range(m):
        idx[c + 1] = c
    for c in range(m + 1, C):
        idx[c] = c


@_jit
def collect_wide(row, beta, buf, idx, swap):
    """:func:`collect` for the CPU kernels' rows of ``config.DENSE_MIN`` classes or more: the
    same ``(n, vmax, vmin)``, ``buf`` and ``idx``, with two differences.

    With ``swap`` (a row for the SIMD path, whose sums do not depend on the order and whose
    evaluations give 0 to a class outside the support), a row whose every class is a
    candidate, or whose first ``BLOCK`` classes hold ``config.WHOLE_MIN`` candidates or more,
    is copied whole (then ``n = C``, and ``buf`` may hold classes with ``z <= -beta``): in
    column order, then the first maximum and column 0 trade places (``buf[0] = vmax``,
    ``buf[m] = row[0]``, ``idx[0] = m``). One straight copy, where two split at ``m`` took 40
    ns more at C = 100 (each ends in a scalar remainder); :func:`put_swapped` and
    :func:`copy_swapped` write such rows out.

    Where the first ``BLOCK`` classes hold ``BLOCK / 4`` candidates or more (a wide support),
    the second pass is :func:`collect_dense`'s compresses, whose cost does not grow with
    the candidates (0.3-0.8 ns a class, against 1.7-2.3 for the test per candidate at beta =
    11, C = 100 and 1000; at beta = 1.4, with 3-4 candidates a row, the test costs 0.2-0.6).
    Only where the CPU compresses in one instruction (:data:`COMPRESS`): elsewhere LLVM spells
    a compress-store out lane by lane, and :func:`collect_compact` takes its place from
    ``BLOCK / 2`` candidates in the first block (it touches every class, 1-2 ns each on a Zen
    3 core, where the test costs ~5 ns a candidate)."""
    vmax, vmin = extrema(row)
    if not finite(vmax, vmin):
        return 0, vmax, vmin
    t = vmax - beta
    thr = t - (abs(t) + 1.0) * 2.0**-20
    dense = _popcount(_above(row, 0, thr))
    if swap and (vmin - vmax > -beta or dense >= WHOLE_MIN):
        C = row.shape[0]
        m = first_max(row, vmax)
        for c in range(C):
            buf[c] = row[c]
        buf[m] = buf[0]
        buf[0] = vmax
        idx[0] = m
        return C, vmax, vmin
    if not vmin - vmax > -beta:
        if dense >= (BLOCK // 4 if COMPRESS else BLOCK // 2):
            if COMPRESS:
                return collect_dense(row, beta, vmax, vmin, buf, idx)
            return collect_compact(row, beta, vmax, vmin, buf, idx)
    return collect_from(row, beta, vmax, vmin, buf, idx)


@_inline
def put_swapped(out, w, m, total, scale):
    """``out[c] = w[c] / total`` (:func:`quotient`, with ``scale = 1 / total``) for a row
    that :func:`collect_wide` copied with ``swap``: in column order but for entries 0 and
    ``m``, which trade places back."""
    for c in range(out.shape[0]):
        out[c] = quotient(w[c], total, scale)
    out[0] = quotient(w[m], total, scale)
    out[m] = quotient(w[0], total, scale)


@_inline
def copy_swapped(out, w, m):
    """:func:`put_swapped` without the quotient."""
    for c in range(out.shape[0]):
        out[c] = w[c]
    out[0] = w[m]
    out[m] = w[0]


@_jit
def collect_compact(row, beta, vmax, vmin, buf, idx):
    """:func:`collect_dense` without compress instructions: every class is stored at the next
    free slot and the slot advances only for a candidate (no branch per class; ``buf`` and
    ``idx`` need ``C + 1`` entries). The same ``n``, ``buf`` and ``idx``."""
    C = row.shape[0]
    m = first_max(row, vmax)
    buf[0] = vmax
    idx[0] = m
    n = 1
    for c in range(C):
        v = np.float64(row[c])
        buf[n] = v
        idx[n] = c
        n += (c != m) & (v - vmax > -beta)
    return n, vmax, vmin


@_jit
def collect_dense(row, beta, vmax, vmin, buf, idx):
    """:func:`collect_from` by compresses, ``CHUNK`` classes at a time (no test per
    class, :func:`_compress_block`): the same ``n``, ``buf`` and ``idx`` (which need ``C + 1``
    entries)."""
    C = row.shape[0]
    m = first_max(row, vmax)
    buf[0] = vmax
    idx[0] = m
    n = 1
    c0 = 0
    while c0 + CHUNK <= C:
        n = _compress_block(row, c0, vmax, beta, m, buf, idx, n)
        c0 += CHUNK
    for c in range(c0, C):
        v = np.float64(row[c])
        if c != m and v - vmax > -beta:
            buf[n] = v
            idx[n] = c
            n += 1
    return n, vmax, vmin


@intrinsic
def _popcount(typingctx, mask):
    """Set bits of ``mask``."""
    if mask != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = builder.module.declare_intrinsic("llvm.ctpop", [i64], ir.FunctionType(i64, [i64]))
        return builder.call(fn, [args[0]])

    return types.intp(types.uint64), codegen


@_inline
def finite(vmax, vmin):
    """Whether :func:`collect` found every logit of its row finite."""
    return math.isfinite(vmax) and math.isfinite(vmin)


@_jit
def residual(v, n, m, vmax, x, beta, ipow, plain):
    """``f(x) = sum_c [s_c]_+**beta - 1``, ``f'(x) = sum_c [s_c]_+**(beta - 1)`` (eq. 13), and
    for :func:`newton_error` ``sum_c s_c**(beta - 2)`` over the support and its smallest ``z_c``.

    The first maximum ``v[m]`` contributes ``expm1`` (its term is ``1 + O(x)``), so ``f`` keeps
    its relative accuracy when one class dominates; it is summed first, then the others in
    order, as :func:`residual_pruned` does with the maximum in ``v[0]``. Both sums are
    compensated (:func:`add`). ``ipow = short_power(beta)`` and ``plain``: see
    :func:`int_residual_term` (an integer beta's terms by products).
    """
    # z = 0 and x > -beta: always in the support
    f, d = any_residual_term(0.0, x, beta, True, ipow, plain)
    comp = 0.0
    dcomp = 0.0
    curv = d / (1.0 + x / beta)
    zmin = 0.0
    for c in range(n):
        z = float(v[c]) - vmax
        if z + x > -beta and c != m:
            term, dq = any_residual_term(z, x, beta, False, ipow, plain)
            f, comp = add(f, comp, term)
            # f' sets the Newton step: over thousands of near-equal terms a plain sum drifts
            # by ~n eps and the last step overshoots the root by that many ulps.
            d, dcomp = add(d, dcomp, dq)
            curv += dq / (1.0 + (z + x) / beta)
            zmin = min(zmin, z)
    return f + comp, d + dcomp, curv, zmin


@_jit
def residual_term(z, x, beta, first):
    """One class's ``(term of f, s**(beta - 1), log s)`` in :func:`residual`, for a class in
    the support; ``expm1`` for the first maximum. (``log s`` gives q by :func:`q_from_log`.)"""
    e, ls = log_p_and_s(z, x, beta)
    if first:
        term = math.expm1(e)
        p = term + 1.0
    else:
        term = math.exp(e)
        p = term
    return term, p / (1.0 + (z + x) / beta), ls  # s**(beta - 1) = p / s: a division, not an exp


@_jit
def int_residual_term(z, x, beta, first, ipow, plain):
    """:func:`residual_term`'s ``(term of f, s**(beta - 1))`` at an integer beta (``ipow =
    short_power(beta) > 0``), by products (:func:`int_term`, no ``log`` or ``exp``): ``plain``
    as :func:`plain_powers` says, else in double-double, where the maximum's ``p - 1`` is exact
    (Sterbenz) as ``expm1`` made it."""
    p, p_lo, q = int_term(z, x, beta, ipow, plain)
    if first:
        return (p - 1.0) + p_lo, q
    return p + p_lo, q


@_jit
def any_residual_term(z, x, beta, first, ipow, plain):
    """:func:`int_residual_term` where ``ipow``, else :func:`residual_term` (without ``log
    s``)."""
    if ipow:
        return int_residual_term(z, x, beta, first, ipow, plain)
    term, dq, _ = residual_term(z, x, beta, first)
    return term, dq


@_jit
def short_power(beta):
    """``beta - 1`` where the scalar row functions take their powers by products
    (:func:`int_term`): an integer beta from 2 to ``config.SHORT_INT_BETA_MAX``; else 0
    (``log`` and ``exp``)."""
    return int_power(beta) if beta <= SHORT_INT_BETA_MAX else 0


@_jit
def int_term(z, x, beta, ipow, plain):
    """``(p, p_lo, q)`` of a class in the support at an integer ``beta = ipow + 1``: ``q =
    s**(beta - 1)`` and ``p = s**beta = p + p_lo`` by binary powering, most significant bit
    first, the scalar form of :func:`residual_int`'s passes. ``plain``: ``s = 1 + t / beta``
    and its powers in float64 (``p_lo = 0``; :func:`plain_powers`). Else ``s`` is the
    double-double of :func:`wide_s` and so are the powers (:func:`power_step`): ``p`` and q
    are then good to a few units of 2**-100 before their last rounding, where
    ``exp(beta log s)`` carries ``|log p|`` ulps."""
    ib = 1.0 / beta
    top = 0
    while (ipow >> (top + 1)) > 0:
        top += 1
    if plain:
        s = fma(z + x, ib, 1.0)
        a = s
        for k in range(top - 1, -1, -1):
            a = plain_step(a, s, ((ipow >> k) & 1) == 1)
        return a * s, 0.0, a
    _, s, s_lo = wide_s(z, x, beta, ib)
    a = s
    b = s_lo
    for k in range(top - 1, -1, -1):
        a, b = power_step(a, b, s, s_lo, ((ipow >> k) & 1) == 1)
    h = a * s
    return h, fma(a, s, -h) + fma(a, s_lo, b * s), a + b


@_jit
def q_from_log(ls, beta):
    """``s**(beta - 1)`` from ``log s`` for finite beta (but :func:`short_power`'s integers,
    where :func:`q_term` takes products): :func:`q_term`'s value, bit for bit."""
    return math.exp((beta - 1.0) * ls)


@_jit
def newton(v, n, m, vmax, vmin, lo, beta, tol, rtol, max_iter):
    """Root of eq. 13 by Newton on ``phi(x) = ||[s(x)]_+||_beta - 1`` from the right.

    ``phi`` is convex and nondecreasing (a norm of the convex map ``[s(x)]_+``), so Newton
    started at a point with ``phi >= 0`` (:func:`newton_start`) decreases monotonically to the
    root: no overshoot, no bracketing needed. It is nearly linear (exactly so at beta = 1, where
    this is Michelot's sparsemax iteration, and as beta -> inf), so 2-6 steps suffice. The first
    step is Halley's (:func:`halley_step`), which may pass the root; Newton's step from there
    lands right of it, and the iteration is monotone from then on (:func:`newton_next`).
    From ``config.SOFTMAX_START_BETA`` on the start is :func:`softmax_start_short`, the
    softmax root corrected for beta, far closer there, which may lie left of the root (Newton's
    step from the left comes first then).
    ``tol > 0``: stop once a step is at most ``tol``. ``tol <= 0`` and ``rtol <= 0``: machine
    precision, stop when a step no longer decreases ``x`` or the residual is no longer positive.
    ``tol <= 0 < rtol`` (``config.NEWTON_RTOL``: 2**-40 for float32 results, 2**-54 for
    float64): stop as soon as the new iterate lies provably within ``rtol |x|`` of the root
    (:func:`newton_error`), which spares the one or two steps that only confirm it. Returns
    ``(x, iterations, converged)`` for the shifted root ``x = nu + vmax``. The CPU kernels run
    :func:`newton_pruned`, the same iteration on fewer classes.
    """
    hi = lo - (vmin - vmax)  # eq. 26, shifted
    if not hi < 0.0:  # p_max <= 1 gives x <= 0 (also catches an overflowed spread)
        hi = 0.0
    near = beta >= SOFTMAX_START_BETA  # see newton_pruned
    x = softmax_start_short(v, n, m, vmax, beta, rtol) if near else newton_start(v, n, vmax,
                                                                                 beta)
    if not x < hi:
        x = hi
    if not x > lo:
        x = lo
    halley = True  # the first step is Halley's
    after = near  # x may lie left of the root: f < 0 is no stop there
    ipow = short_power(beta)
    for it in range(1, max_iter + 1):
        plain = ipow > 0 and tol <= 0.0 and plain_powers(beta, rtol, x)
        f, d, curv, zmin = residual(v, n, m, vmax, x, beta, ipow, plain)
        if f <= 0.0 and not (after and f < 0.0):
            if it == 1 and x < hi and not near:  # see newton_pruned
                x = hi
                continue
            return x, it, True
        x, stop = newton_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley and f > 0.0,
                              n)
        after = halley and f > 0.0  # Halley's step may pass the root (from the left, Newton's)
        halley = halley and not f > 0.0
        if stop:
            return x, it, True
    return x, max_iter, False


@_jit
def newton_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley, n):
    """The next iterate from an evaluation of eq. 13 at ``x``, and whether to stop there:
    ``(x_next, stop)``.

    ``f > 0`` (``x`` right of the root): Newton's step on ``phi``, which stays right of the
    root; if ``halley`` (the first step) and Newton's iterate is not already
    :func:`close_enough`, Halley's (:func:`halley_step`), which may pass it. ``f < 0`` (just
    after Halley's step, or at a start left of it): Newton's step from the left, which lands
    right of the root (``phi`` is convex). Stop when the step no longer moves ``x`` (``x_next =
    x``), when Newton's iterate from the right is :func:`close_enough`, when Newton's iterate
    from the left lies within ``rtol |x_next|`` of the root (``tol <= 0 < rtol``: the step, as
    the root lies between ``x`` and ``x_next``, or :func:`left_error`, quadratic in the step;
    ``n`` bounds the classes that may enter the support on the way), or once a step is at
    most ``tol > 0``.
    """
    step = newton_step(f, d, beta)
    # Newton's iterate from the right may be close enough, even at the first step (from a
    # close start): then Halley's is not taken. (phi is nearly linear at large beta: the bound
    # can be far below step**2, so it is always tried.)
    near = f > 0.0 and close_enough(f, d, curv, x, x - step, zmin, beta, tol, rtol)
    if halley and not near:
        step = halley_step(step, f, d, curv, beta)
    xn = x - step
    if xn < lo:  # unreachable in exact arithmetic; a guard against rounding
        xn = lo
    if not (xn < x if f > 0.0 else xn > x):
        return x, True
    if near:
        return xn, True
    if f < 0.0 and tol <= 0.0 < rtol and (abs(step) <= -rtol * xn or left_error(
            d, curv, x, xn, zmin, beta, n) <= -rtol * xn):
        # From the left, Newton's iterate lies right of the root (phi is convex): the two
        # bracket it, so the step bounds the distance, and so does left_error.
        return xn, True
    return xn, tol > 0.0 and abs(step) <= tol


@_inline
def upper_end(lo, vmin, vmax):
    """Eq. 26's upper end of the bracket, shifted: ``lo - (vmin - vmax)``, at most 0 (``p_max
    <= 1`` gives ``x <= 0``; also catches an overflowed spread)."""
    hi = lo - (vmin - vmax)
    return hi if hi < 0.0 else 0.0


@_inline
def into_bracket(x, lo, hi):
    """A start ``x`` drawn into ``[lo, hi]`` (NaN to ``hi``)."""
    if not x < hi:
        x = hi
    if not x > lo:
        x = lo
    return x


@_inline
def wide_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley, n):
    """The SIMD path's step after an evaluation that is no stop at ``x``: ``(x_next, stop,
    left, halley)``. ``f < 0`` (left of the root): Newton's step, which lands right of it;
    else Halley's if ``halley`` (the first step), which may pass the root (``left``), else
    Newton's (:func:`newton_next`)."""
    if f < 0.0:
        xn, stop = newton_next(f, d, curv, zmin, x, lo, beta, tol, rtol, False, n)
        return xn, stop, False, halley
    xn, stop = newton_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley, n)
    return xn, stop, halley, False


@_inline
def halley_step(step, f, d, curv, beta):
    """Halley's step on ``phi`` from Newton's ``step = phi / phi'``, drawn back towards Newton's
    so as to stay right of the root: ``step (1 - L**2/2) / (1 - L/2)``, where
    ``step / (1 - L/2)`` is Halley's and ``L = phi phi'' / phi'**2 = step (F''/F' - (1 -
    1/beta) F'/F)``, ``F = 1 + f``, ``F' = f'``, ``F'' = (beta - 1)/beta sum_c s_c**(beta -
    2)``; Newton's when ``L`` is outside ``[0, 1]``.

    Halley's iterate lies left of Newton's by ``~L/2`` of the step and misses the root by a
    term cubic in the start's error, of either sign; moving it back a fraction ``L`` of that
    gap (a term of the same cubic order) lands it right of the root on most rows, where the
    next evaluation's Newton iterate can be :func:`close_enough` at once. Its error stays cubic
    in the start's, which spares a Newton step on most rows.
    """
    L = step * (beta - 1.0) / beta * (curv / d - d / (1.0 + f))
    if 0.0 <= L <= 1.0:
        return step * (1.0 - 0.5 * L * L) / (1.0 - 0.5 * L)
    return step


@_inline
def newton_error(f, d, curv, x, xn, zmin, beta):
    """A bound on ``xn - root`` for an iterate ``xn < x`` right of the root, from ``f``,
    ``f'``, ``curv = sum_c s_c**(beta - 2)`` over the support and its smallest ``z_c``, all at
    ``x`` (:func:`residual`); ``inf`` when the step may reach the edge of the support.

    ``f`` is convex: ``xn - root = f(xn) / f'(u)`` for some ``u`` in ``[root, xn]``, where
    ``f' >= f'(root) >= 1`` (at the root ``sum_c s_c**beta = 1`` with every ``s_c <= 1``, so
    ``sum_c s_c**(beta - 1) >= 1``). Over a span of at most half the smallest ``beta s_c``
    (``rho = span / (beta s_min) <= 1/2``) no class leaves the support, and ``f''`` is at most
    ``M = (beta - 1)/beta sum_c s_c**(beta - 2) (1 + 2 (2 - beta)_+ rho)`` (``(1 - rho)**(beta
    - 2) <= 1 + 2 (2 - beta) rho`` for beta < 2). So ``f' >= f'(x) - M (x - u)`` there, which
    gives ``f(xn) <= f(x) - f'(x) step + M step**2 / 2 = F`` (quadratic in the step), hence
    ``xn - root <= F``, and then ``f'(root) >= f'(x) - M (step + F)``: the bound is ``F`` over
    the larger of that and 1 (near the root ``f'`` is often several times 1).
    """
    step = x - xn
    bs = beta_s(zmin, x, beta)  # beta * s_min
    if not step <= 0.5 * bs:
        return math.inf
    bend = 2.0 * max(0.0, 2.0 - beta) / bs
    top = (beta - 1.0) / beta * curv
    fn = max(0.0, f - d * step + 0.5 * step * step * top * (1.0 + bend * step))
    span = step + fn  # x - root
    if not span <= 0.5 * bs:
        return fn
    return fn / max(1.0, d - span * top * (1.0 + bend * span))


@_inline
def left_error(d, curv, x, xn, zmin, beta, n):
    """A bound on ``xn - root`` for Newton's iterate ``xn > x`` from a point ``x`` left of the
    root, from ``f'``, ``curv`` and ``zmin`` at ``x`` (as :func:`newton_error`), where at most
    ``n`` classes lie outside the support; ``inf`` below beta = 2 or over too long a step.

    ``phi = F**(1/beta) - 1`` with ``F = 1 + f``: Taylor at ``x`` gives ``xn - root =
    phi''(u) (root - x)**2 / (2 phi'(x))`` for some ``u`` in ``[x, root]``, and ``root - x <=
    step = xn - x``. ``phi'' <= F**(1/beta - 1) F'' / beta`` and ``F(u) >= F(x)``, so
    ``phi''(u) / phi'(x) <= F''(u) / F'(x)``, with ``F'' = (beta - 1)/beta sum_c s_c**(beta -
    2)``. From beta = 2 on, ``s**(beta - 2)`` grows with ``s``: a class in the support at
    ``x`` gains at most the factor ``(1 + a / (beta - 2))**(beta - 2) <= exp(a) <= 1 + 2 a``
    for ``a = (beta - 2) step / (beta s_min) <= 1``, and a class entering the support has ``s
    <= step / beta``, so a term at most ``(step / beta)**(beta - 2)``: at most ``e = step /
    beta`` from beta = 3 on, and 1 below. Hence ``xn - root <= step**2 (beta - 1) / (2 beta)
    (curv (1 + 2 a) + n e) / f'``. (Below beta = 2, ``s**(beta - 2)`` is unbounded at the
    edge: no bound.)"""
    step = xn - x
    if not (beta >= 2.0 and step > 0.0):
        return math.inf
    bs = beta_s(zmin, x, beta)  # beta * s_min
    a = (beta - 2.0) * step / bs
    if not (bs > 0.0 and a <= 1.0):
        return math.inf
    # (step / beta)**(beta - 2) <= step / beta from beta = 3 on (a <= 1 gives step <= beta)
    enter = n * (step / beta if beta >= 3.0 else 1.0)
    return 0.5 * step * step * (beta - 1.0) / beta * (curv * (1.0 + 2.0 * a) + enter) / d


@_inline
def close_enough(f, d, curv, x, xn, zmin, beta, tol, rtol):
    """Newton's relative stopping rule (``tol <= 0 < rtol``): ``xn`` within ``rtol |xn|`` of
    the root by :func:`newton_error` (``x, xn <= 0``)."""
    return tol <= 0.0 < rtol and newton_error(f, d, curv, x, xn, zmin, beta) <= -rtol * xn


@_inline
def newton_step(f, d, beta):
    """Newton's step ``phi / phi'`` for ``phi = (1 + f)**(1/beta) - 1`` from ``f > 0`` and
    ``f'`` of eq. 13: ``beta (1 + f) (1 - (1 + f)**(-1/beta)) / f'`` (``f / f'`` at beta = 1).
    Near the root (``|f| < 1e-4``) the binomial series replaces the ``log1p`` and ``expm1``;
    its truncation, ``< f**4``, is far below what a Newton step needs. Up to ``|f| <
    2**-5`` (the first step from a softmax start) the series to ``f**11``, truncation below
    ``f**12 <= 2**-60``: eleven fma in a chain, against the latency of two library calls.
    (``f < 0`` after Halley's step went past the root: the step is then negative.)"""
    u = 1.0 / beta
    if abs(f) < 1e-4:
        g = u * f * (1.0 - (u + 1.0) * f * (0.5 - (u + 2.0) * f * (
            (1.0 / 6.0) - (u + 3.0) * f * (1.0 / 24.0))))
    elif abs(f) < 2.0**-5:
        # 1 - (1 + f)**-u = u f (1 - (u + 1)/2 f (1 - (u + 2)/3 f (1 - ...)))
        a = 1.0
        for k in range(11, 0, -1):
            a = fma(-(u + k) * (1.0 / (k + 1)) * f, a, 1.0)
        g = u * f * a
    else:
        g = -math.expm1(-u * math.log1p(f))
    return beta * (1.0 + f) * g / d


@_jit
def newton_start(v, n, vmax, beta):
    """A point right of the root (``f >= 0``), close to it, without a transcendental per class.

    For any ``a > 0`` the tangent of ``s**beta`` at ``a`` bounds it below, so
    ``f(x) >= g_a(x) = a**(beta-1) sum_c [beta + z_c + x - (beta-1) a]_+ - 1`` and the root
    of ``g_a``, ``x_a = -tau_a - 1 - (beta-1)(1 - a)`` with ``sum_c [z_c - tau_a]_+ = a**(1-beta)``
    (:func:`threshold`), lies right of the root of ``f``; so does the root of the same bound
    over only the classes with ``z_c > -beta``. ``a = 1`` is the sparsemax root; the best
    ``a`` is ``K**(-1/beta)`` for the ``K`` classes above ``tau_a``, taken here from the
    sparsemax support (exact when those classes tie). The smaller bound, nudged right by far
    more than its rounding error, is returned.
    """
    tau, k, _ = threshold(v, n, vmax, 1.0, -beta)
    if k == 1:  # a = 1 is already the best
        return tangent_start(tau, tau, 0.0, beta)
    mass, one_minus_a = tangent_mass(k, beta)
    return tangent_start(tau, threshold(v, n, vmax, mass, -beta)[0], one_minus_a, beta)


@_jit
def newton_start_table(v, n, vmax, beta, table):
    """:func:`newton_start` bit for bit, the CPU kernels' form: :func:`tangent_mass` (a log
    and an expm1) is read from ``table`` (:func:`row_constants`) for the supports it holds,
    and written there on its first use (NaN marks an entry not yet made)."""
    tau, k, _ = threshold(v, n, vmax, 1.0, -beta)
    if k == 1:
        return tangent_start(tau, tau, 0.0, beta)
    if k < table.shape[0]:
        if math.isnan(table[k, 1]):
            table[k, 0], table[k, 1] = tangent_mass(k, beta)
        mass, one_minus_a = table[k, 0], table[k, 1]
    else:
        mass, one_minus_a = tangent_mass(k, beta)
    return tangent_start(tau, threshold(v, n, vmax, mass, -beta)[0], one_minus_a, beta)


@_alloc
def row_constants(n_classes, beta):
    """What the rows of a ``(B, n_classes)`` batch share, for the CPU kernels (one table to a
    work item, :func:`newton_start_table` writes to it): row 0 holds ``lo = base(n_classes,
    beta)``, row ``k >= 1`` :func:`tangent_mass` of ``k`` (``TANGENT_TABLE`` rows at most,
    fewer for fewer classes; none where Newton does not start from the tangents: beta <= 1,
    and from ``SOFTMAX_START_BETA`` on), made where first needed: NaN until then. (Made for
    every ``k`` at once, their ``log`` and ``expm1`` took 1.7 us of each call at 100 classes,
    where a row's support holds 1-4 classes.)"""
    tangents = 1.0 < beta < SOFTMAX_START_BETA
    table = np.full((min(n_classes + 1, TANGENT_TABLE) if tangents else 1, 2), np.nan)
    table[0, 0] = base(n_classes, beta)
    table[0, 1] = 0.0
    return table


@_jit
def tangent_mass(k, beta):
    """``(a**(1-beta), 1 - a)`` for :func:`newton_start`'s tangent point ``a = k**(-1/beta)``."""
    one_minus_a = -math.expm1(-math.log(k) / beta)
    return k * (1.0 - one_minus_a), one_minus_a


@_jit
def tangent_start(tau, tau_a, one_minus_a, beta):
    """:func:`newton_start` from the thresholds of its two bounds."""
    x0 = -(1.0 + tau)
    xa = -(1.0 + tau_a) - (beta - 1.0) * one_minus_a
    if xa < x0:
        x0 = xa
    return x0 + 1e-12 * (2.0 + abs(x0))


@_jit
def residual_pruned(v, idx, lbuf, n, vmax, x, beta, prune):
    """:func:`residual` with the first maximum in ``v[0]`` (as :func:`collect` leaves it),
    moving the classes that stay in reach of the support to the front of ``v`` and ``idx`` (a
    swap, so ``v[:n]`` keeps every candidate) and leaving their ``log s`` in ``lbuf``
    (``-inf`` outside the support). Returns ``(f, f', curv, zmin, k)``: the kept classes
    are ``v[:k]``, the maximum still first and the others in their order; ``curv`` and
    ``zmin`` as in :func:`residual`.

    Kept: ``z_c + x > -beta (1 + EDGE_MARGIN)``, or every class when not ``prune`` (where
    ``x`` may lie left of the root). Right of the root a dropped class has ``s_c <= 0`` at the
    root too, and the margin keeps those at the edge within rounding of the root, which the
    double-double refinement of ``_refine`` needs. The maximum is always kept (``x > -beta``),
    and evaluated before the loop: no test of which class it is. (At an integer beta,
    :func:`residual_pruned_int`.)
    """
    f, d, lbuf[0] = residual_term(0.0, x, beta, True)
    comp = 0.0
    dcomp = 0.0
    curv = d / (1.0 + x / beta)
    edge = -beta * (1.0 + EDGE_MARGIN) if prune else -math.inf
    k = 1
    zmin = 0.0
    for c in range(1, n):
        vc = v[c]
        z = vc - vmax
        t = z + x
        if t > edge:
            ls = -math.inf
            if t > -beta:
                term, dq, ls = residual_term(z, x, beta, False)
                f, comp = add(f, comp, term)
                d, dcomp = add(d, dcomp, dq)
                curv += dq / (1.0 + t / beta)
                zmin = min(zmin, z)
            ic = idx[c]
            v[c] = v[k]
            idx[c] = idx[k]
            v[k] = vc
            idx[k] = ic
            lbuf[k] = ls
            k += 1
    return f + comp, d + dcomp, curv, zmin, k


@_jit
def residual_pruned_int(v, idx, n, vmax, x, beta, prune, ipow, plain):
    """:func:`residual_pruned` at an integer beta (``ipow = short_power(beta) > 0``), each
    term by :func:`int_residual_term`; no ``log s`` is left (q is taken afresh at the root).
    (A function of its own, not a flag of :func:`residual_pruned`: a branch per class there
    made the rows at every other beta 2-6% slower.)"""
    f, d = int_residual_term(0.0, x, beta, True, ipow, plain)
    comp = 0.0
    dcomp = 0.0
    curv = d / (1.0 + x / beta)
    edge = -beta * (1.0 + EDGE_MARGIN) if prune else -math.inf
    k = 1
    zmin = 0.0
    for c in range(1, n):
        vc = v[c]
        z = vc - vmax
        t = z + x
        if t > edge:
            if t > -beta:
                term, dq = int_residual_term(z, x, beta, False, ipow, plain)
                f, comp = add(f, comp, term)
                d, dcomp = add(d, dcomp, dq)
                curv += dq / (1.0 + t / beta)
                zmin = min(zmin, z)
            ic = idx[c]
            v[c] = v[k]
            idx[c] = idx[k]
            v[k] = vc
            idx[k] = ic
            k += 1
    return f + comp, d + dcomp, curv, zmin, k


@_jit
def newton_pruned(v, idx, lbuf, n, vmax, vmin, table, beta, tol, rtol, max_iter):
    """:func:`newton` for the CPU kernels, which have scratch rows: the same iterates, each
    evaluated on the candidates still in reach of the support (:func:`residual_pruned`),
    which the monotone iteration only ever shrinks. The first maximum is ``v[0]``; ``table``
    is :func:`row_constants` (``lo`` and the start's tangent points).

    Returns ``(x, iterations, converged, k)``: ``v[:k]`` holds every class in reach of the
    support at ``x``, the maximum first; with ``tol <= 0``, but for :func:`short_power`'s
    integer beta, ``lbuf[:k]`` holds their ``log s`` at ``x`` (from the last evaluation, moved
    to ``x`` by :func:`move_log_s` when the relative rule stopped one step after it). At those
    integer beta q costs a few products afresh (:func:`q_term`), and nothing is left.
    """
    if n == 1:  # the maximum alone: s = 1 at x = 0 (where newton's first evaluation stops)
        lbuf[0] = 0.0
        return 0.0, 1, True, 1
    lo = table[0, 0]
    hi = lo - (vmin - vmax)
    if not hi < 0.0:
        hi = 0.0
    near = beta >= SOFTMAX_START_BETA  # as newton_wide
    x = softmax_start_short(v, n, 0, vmax, beta, rtol) if near else newton_start_table(
        v, n, vmax, beta, table)
    if not x < hi:
        x = hi
    if not x > lo:
        x = lo
    halley = True
    # x may lie left of the root after Halley's step, or at the softmax start: no pruning there
    after = near
    ipow = short_power(beta)
    for it in range(1, max_iter + 1):
        if ipow:
            plain = tol <= 0.0 and plain_powers(beta, rtol, x)
            f, d, curv, zmin, k = residual_pruned_int(v, idx, n, vmax, x, beta, not after, ipow,
                                                      plain)
        else:
            f, d, curv, zmin, k = residual_pruned(v, idx, lbuf, n, vmax, x, beta, not after)
        if f <= 0.0 and not (after and f < 0.0):
            if it == 1 and x < hi and not near:
                # The start is right of the root in exact arithmetic, and its nudge exceeds
                # its rounding: never seen, but if it were left, start over from eq. 26's
                # end. The swap left every candidate in v[:n].
                x = hi
                continue
            return x, it, True, k
        n = k
        xn, stop = newton_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley and f > 0.0,
                               n)
        after = halley and f > 0.0  # Halley's step may pass the root (from the left, Newton's)
        halley = halley and not f > 0.0
        if stop:
            if tol <= 0.0 and xn != x and not ipow:  # the relative rule: one step past
                move_log_s(v, lbuf, k, vmax, x, xn, beta)
            return xn, it, True, k
        x = xn
    return x, max_iter, False, n


@_jit
def move_log_s(v, lbuf, k, vmax, x, xn, beta):
    """``lbuf[:k]``, each class's ``log s`` at ``x`` (``-inf`` outside the support), moved to
    ``xn`` (a step of the relative rule, either way): ``s`` changes by the factor ``1 - u``
    with ``u = (x - xn) / (beta s)``, so ``log s`` gains ``log1p(-u)``, a four-term series for
    ``|u| < 1e-4`` (truncation < 2e-21; the step of the relative rule is ~1e-7) and the
    logarithm afresh otherwise, as for a class that enters the support (``xn > x``)."""
    step = x - xn
    for j in range(k):
        z = v[j] - vmax
        if lbuf[j] == -math.inf:
            if xn > x and z + xn > -beta:
                lbuf[j] = log_s(z, xn, beta)
            continue
        u = step / beta_s(z, x, beta)
        if abs(u) < 1e-4:
            lbuf[j] -= u * (1.0 + u * (0.5 + u * ((1.0 / 3.0) + u * 0.25)))
        else:
            lbuf[j] = log_s(z, xn, beta)


@_jit
def solve_pruned(v, idx, lbuf, n, vmax, vmin, table, beta, method, tol, rtol, max_iter):
    """:func:`solve` for the CPU kernels (Newton by :func:`newton_pruned`) on the candidates of
    :func:`collect`, the first maximum in ``v[0]``, with :func:`row_constants`. Returns ``(x,
    iterations, converged, k, left)``: the classes in reach of the support in ``v[:k]`` (all
    ``n`` candidates but for Newton), the maximum first, and what ``lbuf[:k]`` holds at ``x``:
    ``LEFT_LOG_S`` (Newton with ``tol <= 0``, but for :func:`short_power`'s integer beta) or
    ``LEFT_NOTHING``. (Rows of ``config.WIDE_MIN`` candidates or more take :func:`solve_wide`
    instead, and Newton at beta = inf ``softmax_row``: the batch kernels choose, so that this
    function stays small enough to inline.)"""
    if method == 0 and 1.0 < beta < math.inf:
        x, it, ok, k = newton_pruned(v, idx, lbuf, n, vmax, vmin, table, beta, tol, rtol,
                                     max_iter)
        return x, it, ok, k, LEFT_LOG_S if tol <= 0.0 and not short_power(beta) else LEFT_NOTHING
    x, it, ok = solve(v, n, 0, vmax, vmin, table[0, 0], beta, method, tol, rtol, max_iter)
    return x, it, ok, n, LEFT_NOTHING


@_jit
def bisect(v, n, m, vmax, vmin, lo, beta, tol, max_iter):
    """Root of eq. 13 by bisection on the eq. 26 bracket (the paper's Algorithm 1).

    With ``tol > 0`` this is the paper's rule: halve ``[nu_lo, nu_hi]`` until its width is at
    most ``tol`` and return the midpoint (``tol=1e-4`` is MRCpy's stopping rule). With
    ``tol <= 0`` it runs to machine precision: the bracket is first cut to ``x <= 0``, split
    geometrically while it spans binades and arithmetically after, until no float lies
    strictly inside. Returns ``(x, iterations, converged)``.
    """
    hi = lo - (vmin - vmax)
    ipow = short_power(beta)
    if tol > 0.0:
        if math.isinf(hi):
            hi = 0.0
        for it in range(max_iter):
            if hi - lo <= tol:
                return 0.5 * (lo + hi), it, True
            mid = 0.5 * (lo + hi)
            if residual(v, n, m, vmax, mid, beta, ipow, False)[0] > 0.0:
                hi = mid
            else:
                lo = mid
        return 0.5 * (lo + hi), max_iter, hi - lo <= tol
    if not hi < 0.0:
        hi = 0.0
    # Work with magnitudes a = -hi <= b = -lo, both >= 0.
    a = -hi
    b = -lo
    for it in range(max_iter):
        if a == 0.0:
            y = b * 1e-12
        elif b > 4.0 * a:
            y = math.sqrt(a) * math.sqrt(b)
        else:
            y = 0.5 * (a + b)
        if not (a < y < b):
            return -a if a == b else -0.5 * (a + b), it, True
        if residual(v, n, m, vmax, -y, beta, ipow, False)[0] > 0.0:
            a = y
        else:
            b = y
    return -0.5 * (a + b), max_iter, False


@_jit
def threshold(v, n, vmax, mass, floor):
    """Michelot's iteration: ``tau`` with ``sum_c [z_c - tau]_+ = mass`` over the classes of
    ``v[:n]`` with ``z_c > floor`` (``mass > 0``), from the superset ``{z_c > -mass}``.
    Returns ``(tau, k, iterations)`` with ``k`` the classes above ``tau``.

    In exact arithmetic the set ``{z_c > tau}`` shrinks at every pass until it stays put. With
    classes tied to within rounding of ``tau``, rounding can let one back in and the sizes
    cycle; so the iteration stops as soon as the set does not shrink, with the ``tau`` of the
    last set (at most ``n + 1`` passes, never a hang). A pass that could only stop is not
    made: when the new ``tau`` lies below every class of the set it came from, the next set
    holds them all, is no smaller, and the iteration would return this ``tau`` and size.
    """
    k_prev = n + 1
    tau = -mass
    it = 0
    while True:
        it += 1
        s = 0.0
        comp = 0.0
        k = 0
        lowest = math.inf
        for c in range(n):
            z = float(v[c]) - vmax
            inside = z > tau and z > floor
            k += inside
            s, comp = add(s, comp, z if inside else 0.0)  # adding 0.0 is exact: no branch
            lowest = min(lowest, z if inside else math.inf)
        if k >= k_prev:
            return tau, k_prev, it
        tau = ((s + comp) - mass) / k
        if lowest > tau:
            return tau, k, it
        k_prev = k


@_jit
def sparsemax(v, n, vmax):
    """beta = 1 closed form: ``tau = (S_K - 1) / K`` on the support (:func:`threshold` with
    mass 1); returns the shifted root ``x = -(1 + tau)`` and the iteration count."""
    tau, _, it = threshold(v, n, vmax, 1.0, -math.inf)
    return -(1.0 + tau), it


@_jit
def softmax(v, n, m, vmax):
    """beta = inf closed form: ``x = -log(sum_c exp(z_c))`` as ``-log1p`` of the non-max terms."""
    s = 0.0
    comp = 0.0
    for c in range(n):
        if c != m:
            s, comp = add(s, comp, math.exp(float(v[c]) - vmax))
    return -math.log1p(s + comp)


@_jit
def solve(v, n, m, vmax, vmin, lo, beta, method, tol, rtol, max_iter):
    """Dispatch one row (``lo = base(C, beta)``): closed forms at beta = 1 and inf (method 0),
    else Newton (0, with :func:`newton`'s ``tol`` and ``rtol``) or bisection (1, ``tol``).
    Returns ``(x, iterations, converged)``."""
    if method == 0:
        if beta == 1.0:
            x, it = sparsemax(v, n, vmax)
            return x, it, True
        if math.isinf(beta):
            return softmax(v, n, m, vmax), 1, True
        return newton(v, n, m, vmax, vmin, lo, beta, tol, rtol, max_iter)
    return bisect(v, n, m, vmax, vmin, lo, beta, tol, max_iter)


@_jit
def p_term(z, x, beta):
    """``[s]_+**beta`` (eq. 14) for ``s = 1 + (z + x) / beta``; ``s`` itself at beta = 1, a
    product of powers at an integer beta (:func:`int_term`)."""
    if not z + x > -beta:
        return 0.0
    if beta == 1.0:
        return beta_s(z, x, 1.0)
    ipow = short_power(beta)
    if ipow:
        p, p_lo, _ = int_term(z, x, beta, ipow, False)
        return p + p_lo
    return math.exp(log_p(z, x, beta))


@_jit
def q_term(z, x, beta):
    """``[s]_+**(beta - 1)`` (unnormalized eq. 17); 1 on the support at beta = 1, a product of
    powers at an integer beta (:func:`int_term`)."""
    if not z + x > -beta:
        return 0.0
    if beta == 1.0:  # exp(0 log s), log s finite on the support: no log1p and exp a class
        return 1.0
    ipow = short_power(beta)
    if ipow:
        return int_term(z, x, beta, ipow, False)[2]
    return math.exp(log_q(z, x, beta))


@_jit
def q_total(v, n, m, vmax, x, beta):
    """``sum_c [s_c]_+**(beta - 1)``, the normalizer of eq. 17 (compensated), the first maximum
    ``v[m]`` first as in the CPU kernels (where it is ``v[0]``)."""
    s = q_term(0.0, x, beta)
    comp = 0.0
    for c in range(n):
        if c != m:
            s, comp = add(s, comp, q_term(float(v[c]) - vmax, x, beta))
    return s + comp


# ----------------------------------------------------------------------------- wide rows
#
# The CPU kernels' path for rows with many candidates (config.WIDE_MIN): the same iteration
# as newton_pruned, every class of the row evaluated in one loop without branches (selects),
# so that LLVM runs it on SIMD vectors, with _vmath's exp and log in place of glibc's. Sums are
# kept in LANES independent partial sums, the residual's compensated in each lane. Candidates
# are not pruned (a class outside the support costs a lane, not a branch). The sums run on
# LLVM vectors (_vmath.lane_twosum and friends). The GPU keeps the scalar functions above.


@_inline
def wide_s(z, x, beta, ib):
    """``(t, s, s_lo)``: ``t = z + x`` and ``s = 1 + t / beta`` as the double-double ``s +
    s_lo`` (:func:`wide_log_s`), with ``ib = 1/beta``."""
    t = z + x
    bz = t - z
    t_lo = (z - (t - bz)) + (x - bz)
    B = beta + t
    B_lo = (t - (B - beta)) + t_lo
    Bn = B + B_lo  # renormalized (t_lo can exceed B's ulp at the edge): a two-sum
    bb = Bn - B
    Bn_lo = (B - (Bn - bb)) + (B_lo - bb)
    s = Bn * ib
    return t, s, (fma(-s, beta, Bn) + Bn_lo) * ib


@_inline
def wide_log_s(z, x, beta, ib):
    """``(log s, log p, s, in support)`` of one class, branch-free, with ``ib = 1/beta``:
    :func:`log_p_and_s`'s values within about an ulp (``-inf`` outside the support), and
    ``s`` to a rounding.

    ``beta s = beta + z + x`` is formed as a double-double, ``z + x`` and ``beta + (z + x)``
    by two-sums (the second a fast one: ``|z + x| < beta`` in the support), so ``s = s_hi +
    s_lo`` keeps its relative accuracy near the edge (``s -> 0``, where ``beta + t`` cancels)
    and its distance to 1 near 1; ``s_hi`` is ``B / beta`` without a division (``B * ib``),
    ``s_lo`` the rest, and ``log s = log(s_hi) + s_lo / s_hi`` (``_vmath._log_core``). Where
    ``|r| = |t / beta| < SERIES_CUTOFF`` (beta beyond ~1e8) the double-double cannot hold
    ``s - 1`` to full relative accuracy, and both logs are series in ``r``, as in
    :func:`log_p_and_s`.
    """
    t, s, s_lo = wide_s(z, x, beta, ib)
    inside = t > -beta
    ls = _log_core(s if inside else 1.0, s_lo if inside else 0.0)
    r = t * ib
    r = fma(fma(-r, beta, t), ib, r)
    series = abs(r) < SERIES_CUTOFF
    poly = 1.0 - r * (0.5 - r * (1.0 / 3.0))
    lp = t * poly if series else beta * ls
    ls = r * poly if series else ls
    return (ls if inside else -math.inf), (lp if inside else -math.inf), s, inside


@_alloc
def row_scratch(C):
    """The CPU kernels' float64 scratch rows for rows of ``C`` classes, in one allocation: the
    candidates (row 0), their ``log s`` or q (row 1) and :func:`wide_scratch` (rows 2-8)."""
    return np.empty((9, max(C, 6 * LANES) + LANES))


@_alloc
def wide_scratch(C):
    """The scratch rows of the SIMD path for rows of ``C`` classes: four rows of per-class
    terms, one of the lanes' sums (``7 LANES``: :func:`softmax_start`'s moments) and two more
    for :func:`residual_int`, each of ``C + LANES`` entries at least (``LANES`` past ``C``
    each, and ``7 LANES`` in all for the sums); the candidate rows need ``C + LANES`` entries
    too."""
    return np.empty((7, max(C, 6 * LANES) + LANES))


@_jit
def residual_wide(v, qbuf, n, vmax, x, beta, scr):
    """:func:`residual_pruned` without pruning, in SIMD: ``(f, f', curv, zmin)`` at ``x`` over
    ``v[:n]`` (the first maximum in ``v[0]``, its term by ``expm1`` first), each class's
    unnormalized q, ``s**(beta - 1) = p / s``, left in ``qbuf`` and its ``1 / s`` in ``scr[1]``
    (0 and anything outside the support; :func:`move_q_wide` moves them), but for the maximum,
    whose ``log s`` is left in ``qbuf[0]`` (:func:`wide_q_max` makes its q, when wanted: its
    ``p = 1 + expm1`` loses digits when p is small). ``f`` is summed in
    ``LANES`` compensated partial sums (:func:`add` lane by lane), ``f'`` and ``curv`` plainly
    (they only set the step and the bound's quadratic term: a relative error of ``n eps``
    there moves neither the root nor the rule's decision). ``v``, ``qbuf`` and ``scr``
    (:func:`wide_scratch`) have ``LANES`` entries past ``n``; ``qbuf`` is 0 there."""
    prefer_512()
    f0, d0, ls0 = residual_term(0.0, x, beta, True)
    ib = 1.0 / beta
    pw = scr[0]
    sw = scr[1]
    cw = scr[2]
    zw = scr[3]
    qbuf[0] = ls0  # the maximum's log s: its q (see newton_wide) is wanted after the last
    sw[0] = beta / beta_s(0.0, x, beta)
    end = 1 + ((n - 1 + LANES - 1) // LANES) * LANES
    for c in range(1, end):
        z = v[c] - vmax
        _, lp, s, inside = wide_log_s(z, x, beta, ib)
        live = inside & (c < n)
        p = vexp(lp)
        p = p if live else 0.0
        inv_s = 1.0 / (s if live else 1.0)  # lanes past n hold anything: no 0 * inf
        dq = p * inv_s
        pw[c] = p
        qbuf[c] = dq
        sw[c] = inv_s
        cw[c] = dq * inv_s
        zw[c] = z if live else 0.0
    qbuf[end:n + LANES] = 0.0
    return wide_totals(qbuf, scr, 1, end, f0, d0, d0 / (1.0 + x / beta), False)


@_jit
def wide_totals(qbuf, scr, start, end, f, d, curv, with_lo, with_min=True):
    """The sums of a SIMD evaluation over ``[start, end)`` (a multiple of ``LANES`` long),
    added to ``f``, ``f'``, ``curv`` and ``zmin = 0``: ``f`` over ``p`` in ``scr[0]``, in
    ``LANES`` compensated partial sums (:func:`add` lane by lane), plus the low parts of ``p``
    in ``scr[5]`` (``with_lo``); ``f'`` over ``qbuf``, ``curv`` over ``scr[2]`` and the
    minimum over ``scr[3]`` (``with_min``, else 0), plainly (they only set the step and the
    bound's quadratic term: a relative error of ``n eps`` there moves neither the root nor the
    rule's decision)."""
    acc = scr[4]
    for j in range(5 * LANES):
        acc[j] = 0.0
    # one loop, its sums in registers (the low parts added to the compensation lanes)
    if with_lo and with_min:
        lane_totals_lo(acc, scr[0], scr[5], qbuf, scr[2], scr[3], start, end)
    elif with_lo:
        lane_totals_lo_nomin(acc, scr[0], scr[5], qbuf, scr[2], scr[3], start, end)
    elif with_min:
        lane_totals(acc, scr[0], scr[5], qbuf, scr[2], scr[3], start, end)
    else:
        lane_totals_nomin(acc, scr[0], scr[5], qbuf, scr[2], scr[3], start, end)
    comp = 0.0
    zmin = 0.0
    for j in range(LANES):
        f, comp = add(f, comp, acc[j])
        comp += acc[LANES + j]
        d += acc[2 * LANES + j]
        curv += acc[3 * LANES + j]
        zmin = min(zmin, acc[4 * LANES + j])
    return f + comp, d, curv, zmin


#: ``|r|`` up to which :func:`log1p_ratio` takes 5 and 9 terms of its series (truncations
#: below ``2**-62``: ``r**5 / 6`` and ``r**9 / 10``); 12 up to ``config.WIDE_SERIES``.
SERIES_R5 = 2.0**-12
SERIES_R9 = 2.0**-7


@_inline
def log1p_ratio(r, terms):
    """``log1p(r) / r`` by its series, ``1 - r/2 + r**2/3 - ...``, to ``terms`` terms (5, 9 or
    12) for ``|r|`` up to ``SERIES_R5``, ``SERIES_R9`` and ``WIDE_SERIES`` (truncation below
    ``2**-60`` relative), branch-free in ``r``: ``1 + r g(r)`` (:func:`log1p_ratio_g`), the 1
    added last (one rounding near 1). ``terms`` is the same for a whole row."""
    return fma(log1p_ratio_g(r, terms), r, 1.0)


@_inline
def log1p_ratio_g(r, terms):
    """``g(r) = (log1p(r) / r - 1) / r = -1/2 + r/3 - r**2/4 + ...`` to ``terms - 1`` terms
    (:func:`log1p_ratio`), by Estrin's scheme (short dependency chains, as
    ``_vmath.vexp``'s)."""
    r2 = r * r
    g0 = fma(fma(1.0 / 5.0, r, -1.0 / 4.0), r2, fma(1.0 / 3.0, r, -0.5))
    if terms == 5:
        return g0
    r4 = r2 * r2
    g1 = fma(fma(1.0 / 9.0, r, -1.0 / 8.0), r2, fma(1.0 / 7.0, r, -1.0 / 6.0))
    if terms == 9:
        return fma(g1, r4, g0)
    g2 = fma(-1.0 / 12.0, r2, fma(1.0 / 11.0, r, -1.0 / 10.0))
    return fma(fma(g2, r4, g1), r4, g0)


#: ``|d|`` up to which :func:`exp_small` holds (truncation ``d**11 / 11! < 2**-69``).
EXP_SMALL = 2.0**-4


@_inline
def exp_small(d):
    """``exp(d)`` for ``|d| <= EXP_SMALL`` by its Taylor series to ``d**10`` (Estrin's scheme,
    no range reduction): within an ulp or so."""
    d2 = d * d
    d4 = d2 * d2
    a0 = fma(1.0 / 6.0, d, 0.5)
    a1 = fma(1.0 / 120.0, d, 1.0 / 24.0)
    a2 = fma(1.0 / 5040.0, d, 1.0 / 720.0)
    a3 = fma(1.0 / 362880.0, d, 1.0 / 40320.0)
    q = fma(fma(1.0 / 3628800.0, d4, fma(a3, d2, a2)), d4, fma(a1, d2, a0))
    return 1.0 + fma(d2, q, d)


@_inline
def series_log_p(z, x, ib, terms):
    """``(log p, r)`` of one class of a row that :func:`takes_series`: ``r = t / beta`` and
    ``log p = beta log1p(r) = t log1p_ratio(r)`` (to ``terms`` terms, :func:`series_terms`),
    ``t = z + x`` by a two-sum whose rounding is added back; with ``ib = 1/beta``."""
    t = z + x
    bz = t - z
    t_lo = (z - (t - bz)) + (x - bz)
    r = t * ib
    return fma(t, log1p_ratio(r, terms), t_lo), r


@_inline
def takes_series(vmax, vmin, lo, beta):
    """Whether every class of a row keeps ``|t / beta| <= WIDE_SERIES`` at every ``x`` in the
    bracket (``t = z + x >= vmin - vmax + lo``), for a finite beta: then
    :func:`residual_series` evaluates it."""
    return vmin - vmax + lo >= -WIDE_SERIES * beta and not math.isinf(beta)


@_jit
def series_terms(zlow, x, beta):
    """The terms :func:`log1p_ratio` needs on a row that :func:`takes_series`, whose least
    ``z`` is ``zlow``, at ``x``: every ``|r| = |z + x| / beta`` is at most ``(|zlow| + |x|) /
    beta`` (``z, x <= 0``; a margin for the roundings)."""
    bound = (abs(zlow) + abs(x)) / beta * (1.0 + 2.0**-40)
    if bound <= SERIES_R5:
        return 5
    if bound <= SERIES_R9:
        return 9
    return 12


@_jit
def takes_exp_small(zlow, x, beta):
    """Whether :func:`residual_series` may take ``p = exp(z) exp(x) exp(d)`` at ``x`` on a row
    whose least ``z`` is ``zlow``: ``d = beta log1p(r) - t = t r g(r)`` (``r = t / beta``,
    :func:`log1p_ratio_g`, ``|g| <= 0.52`` for ``|r| <= WIDE_SERIES``) within
    :data:`EXP_SMALL` for every class (a margin for the roundings)."""
    t = abs(zlow) + abs(x)
    return 0.53 * t * t / beta <= EXP_SMALL


@_jit
def residual_series(v, qbuf, n, vmax, x, beta, zlow, scr, e):
    """:func:`residual_wide` for a row that :func:`takes_series` (large beta, every class near
    ``s = 1``), whose least ``z`` is ``zlow``: ``beta log s = beta log1p(t / beta)`` as ``t``
    times :func:`log1p_ratio` (as many terms as the row needs, :func:`series_terms`), with
    ``t``'s rounding added back (``t = z + x`` by a two-sum), instead of :func:`wide_log_s`'s
    double-double and logarithm; the same sums, the same q and ``1 / s`` left behind (every
    class is in the support, so the least ``z`` there is ``zlow``).

    Given ``e[:n] = exp(z)`` (``_vmath.vexp``, from :func:`softmax_start`; else ``e`` is
    empty) and where :func:`takes_exp_small`, ``p = exp(z) exp(x) exp(d)``, ``d = beta
    log1p(r) - t = t r g(r)`` small (:func:`exp_small`, no range reduction): no ``exp`` per
    class, and ``p`` within a few ulps, where ``exp(t log1p_ratio(r))`` carries ``|log p|``
    ulps."""
    prefer_512()
    f0, d0, ls0 = residual_term(0.0, x, beta, True)
    ib = 1.0 / beta
    terms = series_terms(zlow, x, beta)
    pw = scr[0]
    sw = scr[1]
    cw = scr[2]
    qbuf[0] = ls0  # the maximum's log s, as residual_wide leaves it
    sw[0] = beta / beta_s(0.0, x, beta)
    end = 1 + ((n - 1 + LANES - 1) // LANES) * LANES
    if e.shape[0] > 0 and takes_exp_small(zlow, x, beta):
        ex = math.exp(x)
        for c in range(1, end):
            t = (v[c] - vmax) + x
            r = t * ib
            p = (e[c] * ex) * exp_small(t * r * log1p_ratio_g(r, terms))
            _series_store(c, p, r, c < n, pw, qbuf, sw, cw)
    else:
        for c in range(1, end):
            lp, r = series_log_p(v[c] - vmax, x, ib, terms)
            _series_store(c, vexp(lp), r, c < n, pw, qbuf, sw, cw)
    qbuf[end:n + LANES] = 0.0
    f, d, curv, _ = wide_totals(qbuf, scr, 1, end, f0, d0, d0 / (1.0 + x / beta), False,
                                False)
    return f, d, curv, zlow


@_jit
def residual_series_plain(v, qbuf, n, vmax, x, beta, zlow, scr, e):
    """:func:`residual_series` by ``p = exp(z) exp(x) exp(d)`` (where it
    :func:`takes_exp_small`, given ``e = exp(z)``) with plain sums in the loop, where
    :func:`series_plain_sums` allows (float32 results, :func:`series_sums_plain`): the same
    ``(f, f', curv, zmin)`` but for the sums' rounding, and the same q and ``1 / s`` left
    behind; nothing else stored. (A function of its own: a flag in :func:`residual_series`
    cost its other loops 8% at C = 10000.)"""
    f0, d0, ls0 = residual_term(0.0, x, beta, True)
    sw = scr[1]
    qbuf[0] = ls0  # the maximum's log s, as residual_wide leaves it
    sw[0] = beta / beta_s(0.0, x, beta)
    end = 1 + ((n - 1 + LANES - 1) // LANES) * LANES
    sp, sq, sc = series_sums_plain(v, qbuf, sw, n, end, vmax, x, 1.0 / beta,
                                   series_terms(zlow, x, beta), e, math.exp(x))
    qbuf[end:n + LANES] = 0.0
    return f0 + sp, d0 + sq, d0 / (1.0 + x / beta) + sc, zlow


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "nsz"}, _nrt=False)
def series_sums_plain(v, qbuf, sw, n, end, vmax, x, ib, terms, e, ex):
    """:func:`residual_series`'s loop by ``p = exp(z) exp(x) exp(d)`` (``e = exp(z)``, ``ex =
    exp(x)``) over ``[1, end)`` with its sums in the loop, plain: ``(sum p, sum q, sum q /
    s)``, q in ``qbuf`` and ``1 / s`` in ``sw`` (0 and 1 past ``n``). The function may be
    reassociated, so that LLVM vectorizes the sums: they are then good to ``(n + 1) eps`` of
    ``sum_c p_c`` (:func:`series_plain_sums`)."""
    prefer_512()
    sp = 0.0
    sq = 0.0
    sc = 0.0
    for c in range(1, end):
        t = (v[c] - vmax) + x
        r = t * ib
        p = (e[c] * ex) * exp_small(t * r * log1p_ratio_g(r, terms))
        live = c < n
        p = p if live else 0.0
        inv_s = 1.0 / (1.0 + (r if live else 0.0))
        dq = p * inv_s
        qbuf[c] = dq
        sw[c] = inv_s
        sp += p
        sq += dq
        sc += dq * inv_s
    return sp, sq, sc


@_jit
def series_plain_sums(rtol, x, n):
    """Whether :func:`residual_series` may sum plainly at ``x`` over ``n`` candidates
    (:func:`series_sums_plain`): its sums' rounding, ``(n + 1) eps`` of ``sum_c p_c = 1 +
    f``, and the few ulps of each ``p``, at most ``(n + 4) eps`` of ``f'`` where a stop is
    decided (near the root, ``f' >= 1``), move the root by at most ``rtol max(1, |x|) / 2``
    (float32 results: ``n <= 2044`` or ``|x| >= (n + 4) 2**-11``; never at float64's
    ``rtol``, as ``|x| <= log C``). The root is then within ``1.5 rtol max(1, |x|)``, as with
    :func:`plain_powers`."""
    return (n + 4.0) * 2.0**-52 <= rtol * max(1.0, abs(x)) * 0.5


@_inline
def _series_store(c, p, r, live, pw, qbuf, sw, cw):
    """:func:`residual_series`'s terms of class ``c`` from its ``p`` and ``r = t / beta``
    (zeros where not ``live``: lanes past ``n`` hold anything)."""
    p = p if live else 0.0
    inv_s = 1.0 / (1.0 + (r if live else 0.0))
    dq = p * inv_s
    pw[c] = p
    qbuf[c] = dq
    sw[c] = inv_s
    cw[c] = dq * inv_s


@_inline
def int_power(beta):
    """``beta - 1`` when beta is an integer from 2 to ``config.INT_BETA_MAX`` (the SIMD path
    then evaluates by :func:`residual_int`), else 0."""
    if 2.0 <= beta <= INT_BETA_MAX and beta == math.floor(beta):
        return int(beta) - 1
    return 0


#: Below this a power's base is taken as 0 in :func:`power_step`: its square and every later
#: power are below 2**-900, far under any term that counts against the sum 1 (and subnormal
#: products, or low parts, would cost a microcode assist each).
POWER_FLUSH = 2.0**-450
#: Bits of ``beta - 1`` per pass over the classes in :func:`residual_int`.
POWER_BITS = 4


@_inline
def power_step(a, b, s, s_lo, bit):
    """One step of binary powering, most significant bit first, on the double-double ``a +
    b``: its square, times ``s + s_lo`` if ``bit``; left unnormalized (``|b|`` stays within a
    few ulps of ``a``). Branch-free."""
    small = a < POWER_FLUSH
    a = 0.0 if small else a
    b = 0.0 if small else b
    h = a * a
    l = fma(a, a, -h) + 2.0 * a * b
    h2 = h * s
    l2 = fma(h, s, -h2) + fma(h, s_lo, l * s)
    return (h2 if bit else h), (l2 if bit else l)


@_jit
def power_bits(m, top):
    """The bits ``top - 1`` to ``top - POWER_BITS`` of ``m`` (:func:`residual_int`)."""
    return ((m >> (top - 1)) & 1) == 1, ((m >> (top - 2)) & 1) == 1, \
        ((m >> (top - 3)) & 1) == 1, ((m >> (top - 4)) & 1) == 1


@_jit
def residual_int(v, qbuf, n, vmax, x, beta, m, plain, scr):
    """:func:`residual_wide` for an integer ``beta = m + 1`` (:func:`int_power`): the same
    ``(f, f', curv, zmin)`` and the same q left in ``qbuf`` (the maximum's too) with ``1 / s``
    in ``scr[1]``, but ``s**(beta - 1)`` and ``s**beta`` by multiplication, ``POWER_BITS`` bits
    of ``m`` per pass over the classes, most significant first (no ``log``, no ``exp``).

    By default (``plain`` false, :func:`powers_dd`) ``s`` is the double-double of
    :func:`wide_s` and the powers are double-doubles too (:func:`power_step`), good to a few
    units of 2**-100: ``p`` and q are correctly rounded but for one rounding, at any beta
    (``exp(beta log s)`` carries ``|log p|`` ulps), and ``f`` is ``-1`` plus the compensated
    lane sums of ``p``'s high parts plus its low parts. ``plain`` (:func:`plain_powers`:
    float32 results at moderate beta; :func:`powers_plain`) takes ``s = 1 + t / beta`` and its
    powers in plain float64, about half the work: ``s`` is then good to ``3 eps / 2``
    absolute, so each power to ``(2 beta + 8) eps`` of ``s**(beta - 2)``, and ``f`` to that
    much of ``f'``. (Two functions, not one with a flag: LLVM compiles each loop better alone,
    by a quarter at C = 100.)"""
    end = int_terms(v, qbuf, n, vmax, x, beta, m, plain, scr)
    return wide_totals(qbuf, scr, 0, end, -1.0, 0.0, 0.0, not plain)


@_jit
def int_terms(v, qbuf, n, vmax, x, beta, m, plain, scr):
    """:func:`residual_int`'s terms, without their sums: :func:`powers_plain` or
    :func:`powers_dd`, and zeros in ``qbuf`` from there to ``n + LANES``. Returns the end of
    the terms (``n`` rounded up to ``LANES``). ``x`` is the row's, or an array of one per
    entry (:func:`at`; ``_blocks``, where ``v`` holds ``LANES`` rows, transposed)."""
    end = ((n + LANES - 1) // LANES) * LANES
    nbits = 0
    while (m >> nbits) > 0:
        nbits += 1
    top = POWER_BITS * ((nbits + POWER_BITS - 1) // POWER_BITS)
    if plain:
        powers_plain(v, qbuf, n, end, vmax, x, beta, m, top, scr)
    else:
        powers_dd(v, qbuf, n, end, vmax, x, beta, m, top, scr)
    qbuf[end:n + LANES] = 0.0
    return end


@_jit
def powers_plain(v, qbuf, n, end, vmax, x, beta, m, top, scr):
    """:func:`residual_int`'s terms in plain float64: q in ``qbuf``, ``p`` in ``scr[0]``,
    ``1 / s`` in ``scr[1]``, ``q / s`` in ``scr[2]``, ``z`` in ``scr[3]`` (0 outside the
    support and past ``n``, up to ``end``)."""
    prefer_512()
    ib = 1.0 / beta
    pw = scr[0]
    sw = scr[1]
    cw = scr[2]
    zw = scr[3]
    sh = scr[6]
    b0, b1, b2, b3 = power_bits(m, top)
    for c in range(end):  # s, and the first bits from 1 (leading zero bits keep it 1)
        z = v[c] - vmax
        t = z + at(x, c)
        live = (t > -beta) & (c < n)
        s = fma(t, ib, 1.0)
        s = s if live else 0.0
        sh[c] = s
        a = plain_step(1.0, s, b0)
        a = plain_step(a, s, b1)
        a = plain_step(a, s, b2)
        qbuf[c] = plain_step(a, s, b3)
        sw[c] = 1.0 / (s if live else 1.0)
        zw[c] = z if live else 0.0
    for top in range(top - POWER_BITS, 0, -POWER_BITS):
        b0, b1, b2, b3 = power_bits(m, top)
        for c in range(end):
            s = sh[c]
            a = plain_step(qbuf[c], s, b0)
            a = plain_step(a, s, b1)
            a = plain_step(a, s, b2)
            qbuf[c] = plain_step(a, s, b3)
    for c in range(end):
        q = qbuf[c]
        pw[c] = q * sh[c]
        cw[c] = q * sw[c]


@_jit
def powers_dd(v, qbuf, n, end, vmax, x, beta, m, top, scr):
    """:func:`powers_plain` in double-double, ``p``'s low parts in ``scr[5]``."""
    prefer_512()
    ib = 1.0 / beta
    pw = scr[0]
    sw = scr[1]
    cw = scr[2]  # the powers' low parts until the last pass
    zw = scr[3]
    lw = scr[5]  # s's low part, then p's
    sh = scr[6]
    b0, b1, b2, b3 = power_bits(m, top)
    for c in range(end):
        z = v[c] - vmax
        t, s, s_lo = wide_s(z, at(x, c), beta, ib)
        live = (t > -beta) & (c < n)
        s = s if live else 0.0
        s_lo = s_lo if live else 0.0
        sh[c] = s
        lw[c] = s_lo
        a, b = power_step(1.0, 0.0, s, s_lo, b0)
        a, b = power_step(a, b, s, s_lo, b1)
        a, b = power_step(a, b, s, s_lo, b2)
        a, b = power_step(a, b, s, s_lo, b3)
        qbuf[c] = a
        cw[c] = b
        sw[c] = 1.0 / (s if live else 1.0)
        zw[c] = z if live else 0.0
    for top in range(top - POWER_BITS, 0, -POWER_BITS):
        b0, b1, b2, b3 = power_bits(m, top)
        for c in range(end):
            s = sh[c]
            s_lo = lw[c]
            a, b = power_step(qbuf[c], cw[c], s, s_lo, b0)
            a, b = power_step(a, b, s, s_lo, b1)
            a, b = power_step(a, b, s, s_lo, b2)
            a, b = power_step(a, b, s, s_lo, b3)
            qbuf[c] = a
            cw[c] = b
    for c in range(end):  # p = s**(beta - 1) s, its low part in lw; q rounded
        a = qbuf[c]
        b = cw[c]
        s = sh[c]
        h = a * s
        pw[c] = h
        lw[c] = fma(a, s, -h) + fma(a, lw[c], b * s)
        q = a + b
        qbuf[c] = q
        cw[c] = q * sw[c]


#: Bits of ``m`` that :func:`int_sums_plain` takes: integer betas up to ``2**SUMS_BITS``.
SUMS_BITS = 2 * POWER_BITS


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "nsz"}, _nrt=False)
def int_sums_plain(v, n, vmax, x, beta, m):
    """``(f, f', curv, zmin)`` of :func:`residual_int` in plain float64 for ``beta = m + 1 <=
    2**SUMS_BITS``, summed plainly, nothing stored: one loop, which LLVM vectorizes (the
    function may be reassociated; ``zmin``'s bits are compared as integers, ``z <= 0``).
    The sums are then good to ``(n + 1) eps`` of ``sum_c p_c`` besides the powers' ``(2 beta
    + 8) eps`` of ``f'``: an evaluation that sets a step (``rough`` in :func:`newton_wide`),
    or that decides a stop where :func:`plain_sums` allows; q is then made afresh at the root
    (:func:`q_plain`)."""
    prefer_512()
    ib = 1.0 / beta
    end = ((n + LANES - 1) // LANES) * LANES
    f = -1.0
    d = 0.0
    curv = 0.0
    far = 0  # the largest |z| in the support, by its bits (a min of floats does not vectorize)
    k = m - 1  # s**(beta - 2) by binary powering, then q and p by a product each: no division
    b4, b5, b6, b7 = power_bits(k, POWER_BITS)
    if k < 1 << POWER_BITS:  # one pass of bits: a loop of its own, which LLVM keeps shorter
        for c in range(end):
            z, live, s = _sums_class(v, c, n, vmax, x, beta, ib)
            a = plain_step(plain_step(plain_step(1.0, s, b4), s, b5), s, b6)
            f, d, curv, far = _sums_add(plain_step(a, s, b7), s, z, live, f, d, curv, far)
    else:
        b0, b1, b2, b3 = power_bits(k, SUMS_BITS)
        for c in range(end):
            z, live, s = _sums_class(v, c, n, vmax, x, beta, ib)
            a = plain_step(plain_step(plain_step(plain_step(1.0, s, b0), s, b1), s, b2), s, b3)
            a = plain_step(plain_step(plain_step(a, s, b4), s, b5), s, b6)
            f, d, curv, far = _sums_add(plain_step(a, s, b7), s, z, live, f, d, curv, far)
    return f, d, curv, -as_float(far)


@_inline
def _sums_class(v, c, n, vmax, x, beta, ib):
    """:func:`int_sums_plain`'s class ``c``: ``(z, live, s)``, ``s = 1`` outside the support
    and past ``n``."""
    z = v[c] - vmax
    t = z + x
    live = (t > -beta) & (c < n)
    s = fma(t, ib, 1.0)
    return z, live, s if live else 1.0


@_inline
def _sums_add(a, s, z, live, f, d, curv, far):
    """:func:`int_sums_plain`'s sums with one class's ``a = s**(beta - 2)`` (0 where not
    ``live``): ``q = a s`` and ``p = q s``."""
    a = a if live else 0.0
    q = a * s
    return f + q * s, d + q, curv + a, max(far, as_int(abs(z)) if live else 0)


@_inline
def plain_sums(beta, rtol, x, n):
    """Whether :func:`int_sums_plain` may decide a stop at ``x`` for a row of ``n``
    candidates: :func:`plain_powers`' test with the sums' rounding added, ``(n + 1) eps``
    of ``sum_c p_c = 1 + f``, which is at most ``f'`` where a stop is decided (near the
    root; ``f' >= 1`` there): ``(2 beta + 2 n + 10) eps <= rtol max(1, |x|) / 2``, up to
    beta = ``2**SUMS_BITS``."""
    return beta <= min(ROUGH_BETA_MAX, 2.0**SUMS_BITS) and (
        2.0 * beta + 2.0 * n + 10.0) * 2.0**-52 <= rtol * max(1.0, abs(x)) * 0.5


@_jit
def q_plain(v, qbuf, n, vmax, x, beta, m):
    """Each class's unnormalized q, ``s**(beta - 1)``, at ``x`` in plain float64 (as
    :func:`powers_plain`: ``(2 beta + 8) eps`` relative; float32 results, where
    :func:`plain_powers` holds at ``x``), in ``qbuf[:n]``, zeros from there to ``n +
    LANES``; ``beta = m + 1 <= 2**SUMS_BITS``. (With ``m = beta`` it gives p, ``s**beta``:
    the numba backend's link.)"""
    prefer_512()
    ib = 1.0 / beta
    b0, b1, b2, b3 = power_bits(m, SUMS_BITS)  # all False below m = 16
    b4, b5, b6, b7 = power_bits(m, POWER_BITS)
    high = m >= 1 << POWER_BITS
    for c in range(n):
        t = (v[c] - vmax) + x
        live = t > -beta
        s = fma(t, ib, 1.0)
        s = s if live else 0.0
        a = 1.0
        if high:
            a = plain_step(a, s, b0)
            a = plain_step(a, s, b1)
            a = plain_step(a, s, b2)
            a = plain_step(a, s, b3)
        a = plain_step(a, s, b4)
        a = plain_step(a, s, b5)
        a = plain_step(a, s, b6)
        qbuf[c] = plain_step(a, s, b7)
    qbuf[n:n + LANES] = 0.0


@_inline
def plain_powers(beta, rtol, x):
    """Whether :func:`residual_int` may take its powers at ``x`` in plain float64: up to beta =
    ``config.ROUGH_BETA_MAX`` (beyond it the powers of classes near the support's edge
    underflow), where their rounding, ``(2 beta + 8) eps`` of ``f'`` in ``f``, moves the root
    by at most ``rtol max(1, |x|) / 2``, half the relative rule's tolerance where ``|x| >= 1``
    (float32 results, at every ``x`` up to beta = 124; never at float64's ``rtol``), so that
    the root stays within ``1.5 rtol max(1, |x|)``: a root near 0 (one class dominating) to
    ``1.5 rtol`` absolute, ``2**-39.4``, as float32's targets count nu's error (in ulps of
    ``max(1, max |h|)``) and as q moves with x (``|dq_c / dx| <= 1``)."""
    return beta <= ROUGH_BETA_MAX and (2.0 * beta + 8.0) * 2.0**-52 <= rtol * max(
        1.0, abs(x)) * 0.5


@_inline
def plain_step(a, s, bit):
    """:func:`power_step` in plain float64, without the flush: a power that underflows is
    still right (0 or subnormal), only slow, and at beta <= 124 that takes ``s < 2**-8``, a
    class within 1/256 of the support's edge."""
    h = a * a
    return h * s if bit else h


@_jit
def move_q_wide(v, qbuf, n, vmax, x, xn, beta, scr):
    """``qbuf[:n]``, each class's ``s**(beta - 1)`` at ``x`` with its ``1 / s`` in ``scr[1]``
    (:func:`residual_wide`), moved to ``xn`` (a step of the relative rule, either way): ``s``
    changes by the factor ``1 - u``, ``u = (x - xn) / (beta s)``, so q by ``exp(a)``, ``a =
    (beta - 1) log1p(-u)``: series in ``u`` and in ``a`` (five and six terms, truncations
    below 1e-20) where ``|u| < 1e-4`` and ``|a| < 1e-3`` (the step of the relative rule is
    ~1e-7), :func:`q_term` afresh, one by one, for the few other classes (at the edge of the
    support) and for those that enter it (marked in ``scr[0]``)."""
    prefer_512()
    inv_s = scr[1]
    again = scr[0]
    k = (x - xn) / beta
    bm1 = beta - 1.0
    far = 0
    for j in range(n):
        u = k * inv_s[j]
        a = -bm1 * u * (1.0 + u * (0.5 + u * ((1.0 / 3.0) + u * 0.25)))
        e = 1.0 + a * (1.0 + a * (0.5 + a * (
            (1.0 / 6.0) + a * ((1.0 / 24.0) + a * (1.0 / 120.0)))))
        q = qbuf[j]
        big = (abs(u) >= 1e-4) | (abs(a) >= 1e-3)
        qbuf[j] = q if big else q * e
        redo = ((q > 0.0) & big) | ((q == 0.0) & (v[j] - vmax + xn > -beta))
        again[j] = 1.0 if redo else 0.0
        far += redo
    if far:
        for j in range(n):
            if again[j] != 0.0:
                qbuf[j] = q_term(v[j] - vmax, xn, beta)


@_inline
def takes_wide(n, beta, method):
    """Whether a row of ``n`` candidates takes the SIMD path (:func:`solve_wide`): Newton at a
    finite beta > 1 (the batch kernels take beta = inf on whole rows, :func:`softmax_row`)."""
    return method == 0 and n >= WIDE_MIN and 1.0 < beta < math.inf


@_jit
def solve_wide(v, qbuf, n, vmax, vmin, table, beta, tol, rtol, max_iter, scr, want_q):
    """:func:`solve_pruned` for a row that :func:`takes_wide`, in SIMD (:func:`newton_wide`,
    with the scratch ``scr`` of :func:`wide_scratch`; the rows need ``LANES`` entries past
    ``n``). Returns ``(x, iterations, converged, left)``; every candidate
    stays in ``v[:n]``. With ``want_q`` (and ``tol <= 0``), ``qbuf[:n]`` is left holding each
    class's unnormalized q at ``x`` (``LEFT_Q``), zeros up to ``n + LANES``. A row that
    :func:`takes_series` at a beta with no :func:`int_power` goes to :func:`newton_series`,
    the others to :func:`newton_wide`."""
    left = LEFT_Q if tol <= 0.0 and want_q else LEFT_NOTHING
    m = int_power(beta)
    if not m and takes_series(vmax, vmin, table[0, 0], beta):
        x, it, ok = newton_series(v, qbuf, n, vmax, vmin, table, beta, tol, rtol, max_iter,
                                  scr, want_q)
        return x, it, ok, left
    if takes_int_plain(m, beta, tol, rtol, n):
        x, it, ok = newton_int_plain(v, n, vmax, vmin, table[0, 0], beta, m, rtol, max_iter,
                                     scr)
        if want_q:
            q_plain(v, qbuf, n, vmax, x, beta, m)
        return x, it, ok, left
    x, it, ok, fresh = newton_wide(v, qbuf, n, vmax, vmin, table, beta, tol, rtol, max_iter,
                                   scr, want_q)
    if fresh:  # here, not in newton_wide: LLVM compiles newton_wide's other paths better
        q_afresh(v, qbuf, n, vmax, x, beta, m, rtol, scr)
    return x, it, ok, left


@_inline
def takes_int_plain(m, beta, tol, rtol, n):
    """Whether :func:`solve_wide` hands a row of ``n`` candidates to :func:`newton_int_plain`:
    an integer beta (``m = beta - 1 > 0``, :func:`int_power`) from
    ``config.SOFTMAX_START_BETA`` to ``config.ROUGH_BETA_MAX`` under float32's rule, where
    :func:`plain_sums` holds at every ``x`` (it does at ``x = 0``, as it scales ``rtol`` by
    ``max(1, |x|)``: up to ``1019 - beta`` candidates at float32's ``rtol``)."""
    return (m > 0 and tol <= 0.0 and rtol >= SINGLE_START_RTOL
            and SOFTMAX_START_BETA <= beta <= ROUGH_BETA_MAX and plain_sums(beta, rtol, 0.0, n))


@_inline
def newton_int_plain(v, n, vmax, vmin, lo, beta, m, rtol, max_iter, scr):
    """:func:`newton_wide` for a row that :func:`takes_int_plain`, where every evaluation is
    :func:`int_sums_plain` (plain sums, nothing stored; q is then made at the root by
    :func:`q_plain`, in :func:`solve_wide`), with the bracket's lower end ``lo``: the same
    start (:func:`start_single`), steps and stops, hence the same root, in a function that
    holds nothing else (in newton_wide a row took ~35 ns more: C = 100, beta = 11, a Zen 4
    core). Returns ``(x, iterations, converged)``."""
    x, g = start_single(v, n, vmax, beta, rtol, scr)
    x = into_bracket(spread_start(x, g, v, n, vmax, beta), lo, upper_end(lo, vmin, vmax))
    halley = True
    left = True  # x may lie left of the root (f < 0 is no stop there)
    rough = m < 16  # the first evaluation only sets a step (see newton_wide)
    for it in range(1, max_iter + 1):
        f, d, curv, zmin = int_sums_plain(v, n, vmax, x, beta, m)
        if rough and it == 1:
            x, _ = newton_next(f, d, curv, zmin, x, lo, beta, 0.0, 0.0, f > 0.0, n)
            halley = False
            continue
        if f <= 0.0 and not (left and f < 0.0):
            return x, it, True
        xn, stop, left, halley = wide_next(f, d, curv, zmin, x, lo, beta, 0.0, rtol, halley, n)
        if stop:
            return xn, it, True
        x = xn
    return x, max_iter, False


@_jit
def newton_series(v, qbuf, n, vmax, vmin, table, beta, tol, rtol, max_iter, scr, want_q):
    """:func:`newton_wide` for a row that :func:`takes_series` at a beta with no
    :func:`int_power`: every evaluation :func:`residual_series_plain` or
    :func:`residual_series`, with the same start, steps, stops and q (moved to the root as
    :func:`finish_q_wide` moves it), hence the same results, in a function that holds
    nothing else. Returns ``(x, iterations, converged)``. (Within newton_wide, beside the
    other evaluations, and with finish_q_wide called, a row took ~50 ns more: C = 100, beta =
    1e4, float32, one Zen 4 core.)"""
    lo = table[0, 0]
    hi = upper_end(lo, vmin, vmax)
    zlow = vmin - vmax
    near = beta >= SOFTMAX_START_BETA
    # the evaluations take the start's exp(z) (float64, in scr[6]) where exp_small serves
    # them at every x of the bracket (|x| <= |lo|); else the start need not keep it
    keep = near and takes_exp_small(zlow, lo, beta)
    if not near:
        x = newton_start_table(v, n, vmax, beta, table)
    else:
        if rtol >= SINGLE_START_RTOL and not keep and beta < MOMENTS_AT_ONCE_BETA:
            x, g = start_single(v, n, vmax, beta, rtol, scr)
        else:
            x, g = softmax_start(v, n, vmax, beta, rtol, scr, keep)
        x = spread_start(x, g, v, n, vmax, beta)
    e = scr[6] if keep else scr[6, :0]
    x = into_bracket(x, lo, hi)
    halley = True
    left = near  # x may lie left of the root (f < 0 is no stop there)
    for it in range(1, max_iter + 1):
        if tol <= 0.0 and keep and series_plain_sums(rtol, x, n) and takes_exp_small(
                zlow, x, beta):
            f, d, curv, zmin = residual_series_plain(v, qbuf, n, vmax, x, beta, zlow, scr, e)
        else:
            f, d, curv, zmin = residual_series(v, qbuf, n, vmax, x, beta, zlow, scr, e)
        if f <= 0.0 and not (left and f < 0.0):
            if it == 1 and x < hi and not near:  # see newton_pruned
                x = hi
                continue
            xn = x
            stop = True
        else:
            xn, stop, left, halley = wide_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley,
                                               n)
        if stop:
            finish_q_series(v, qbuf, n, vmax, x, xn, zmin, zlow, beta, tol, want_q, scr)
            return xn, it, True
        x = xn
    wide_q_max(qbuf, beta)
    return x, max_iter, False


@_inline
def finish_q_series(v, qbuf, n, vmax, x, xn, zmin, zlow, beta, tol, want_q, scr):
    """:func:`finish_q_wide` at a beta with no integer power (``zlow = vmin - vmax``): its
    whole work for :func:`newton_series`, inlined there (a call cost the row ~25 ns)."""
    if tol <= 0.0 and want_q and beta < 2.0:
        q_fresh_wide(v, qbuf, n, vmax, xn, beta)
        return
    wide_q_max(qbuf, beta)
    if tol <= 0.0 and want_q and xn != x:
        if near_move(x, xn, zmin, zlow, beta):
            move_q_near(qbuf, n, x, xn, beta, scr)
        else:
            move_q_wide(v, qbuf, n, vmax, x, xn, beta, scr)


@_jit
def newton_wide(v, qbuf, n, vmax, vmin, table, beta, tol, rtol, max_iter, scr, want_q):
    """:func:`newton_pruned` on a row with many candidates (``config.WIDE_MIN``): the same
    steps and stopping rules, each evaluation :func:`residual_wide` over all ``n`` candidates
    (no pruning; at an integer beta :func:`residual_int` or :func:`int_sums_plain`; a row
    that takes the large-beta series is :func:`newton_series`'s). Returns ``(x, iterations,
    converged, fresh)``; with ``want_q`` and ``tol <= 0``, ``qbuf[:n]`` holds each class's
    ``s**(beta - 1)`` at ``x`` (from the last evaluation, moved to ``x`` by
    :func:`move_q_wide` when the relative rule stopped one step after it), unless ``fresh``:
    then the last evaluation stored none, and :func:`solve_wide` makes it.

    From ``config.SOFTMAX_START_BETA`` on, Newton starts at :func:`softmax_start` (the
    softmax root corrected for beta to the third order, 1e-2 to 1e-10 from the root where the
    tangent start of :func:`newton_start` is 0.2-1 away; for float32 results below
    ``MOMENTS_AT_ONCE_BETA``, :func:`start_single`), which may lie left of the root:
    ``phi`` is convex, so Newton's step from the left lands right of it, and the monotone
    iteration goes on from there (Halley's step first, as from any start right of the root).
    For float64 results at an integer beta up to ``config.ROUGH_BETA_MAX`` the first evaluation
    takes plain products, and only its step is taken from it (no stop). At an integer beta,
    an evaluation whose plain sums may decide a stop (:func:`plain_sums`: float32 results)
    is :func:`int_sums_plain`, which stores nothing; q is then made at the root
    (:func:`q_afresh`, in :func:`solve_wide`): 0.9 ns a class against 2.3 for the stored
    evaluation and the move (C = 100, beta = 11, a Zen 4 core).
    """
    lo = table[0, 0]
    hi = upper_end(lo, vmin, vmax)
    near = beta >= SOFTMAX_START_BETA
    m = int_power(beta)
    if not near:
        x = newton_start_table(v, n, vmax, beta, table)
    else:
        if rtol >= SINGLE_START_RTOL and beta < MOMENTS_AT_ONCE_BETA:
            x, g = start_single(v, n, vmax, beta, rtol, scr)
        else:
            x, g = softmax_start(v, n, vmax, beta, rtol, scr, False)
        x = spread_start(x, g, v, n, vmax, beta)
    x = into_bracket(x, lo, hi)
    halley = True
    left = near  # x may lie left of the root (f < 0 is no stop there)
    # float64 results at an integer beta: the first evaluation from the softmax start (two or
    # more are needed there) takes plain products, as float32 results do
    rough = near and m > 0 and beta <= ROUGH_BETA_MAX and tol <= 0.0 and (
        m < 16 or not plain_powers(beta, rtol, x))
    stored = True  # whether the last evaluation left q in qbuf
    for it in range(1, max_iter + 1):
        if m:
            plain = tol <= 0.0 and plain_powers(beta, rtol, x)
            rough = rough and it == 1
            # the sums alone, nothing stored: for a step only, or where a stop may be
            # decided on them (float32 results; q is then made afresh at the root)
            stored = not ((rough and m < 16) or (plain and plain_sums(beta, rtol, x, n)))
            if not stored:
                f, d, curv, zmin = int_sums_plain(v, n, vmax, x, beta, m)
            else:
                f, d, curv, zmin = residual_int(v, qbuf, n, vmax, x, beta, m, plain or rough,
                                                scr)
        else:
            f, d, curv, zmin = residual_wide(v, qbuf, n, vmax, x, beta, scr)
        if rough:
            # f is good to ~(2 beta + 8) eps of f' only: no stop is decided on it. Its step
            # (Newton's from the left, Halley's from the right) lands within ~1e-13 of the
            # root, on either side, and the next evaluation, in double-double, goes on.
            x, _ = newton_next(f, d, curv, zmin, x, lo, beta, 0.0, 0.0, f > 0.0, n)
            halley = False
            left = True
            continue
        if f <= 0.0 and not (left and f < 0.0):
            if it == 1 and x < hi and not near:  # see newton_pruned
                x = hi
                continue
            if not m or (want_q and stored):  # else finish_q_wide has nothing to do
                finish_q_wide(v, qbuf, n, vmax, vmin, x, x, zmin, beta, tol, rtol, want_q, scr)
            return x, it, True, want_q and not stored
        xn, stop, left, halley = wide_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley, n)
        if stop:
            if not m or (want_q and stored):  # (a call not made costs a row ~15 ns)
                finish_q_wide(v, qbuf, n, vmax, vmin, x, xn, zmin, beta, tol, rtol, want_q, scr)
            return xn, it, True, want_q and not stored
        x = xn
    if not m:
        wide_q_max(qbuf, beta)
    return x, max_iter, False, want_q and not stored


@_jit
def q_afresh(v, qbuf, n, vmax, x, beta, m, rtol, scr):
    """Each class's q at ``x`` afresh, zeros from ``n`` to ``n + LANES``, after a last
    evaluation that stored none (:func:`int_sums_plain`): by plain products where
    :func:`plain_powers` allows (:func:`q_plain`), else in double-double
    (:func:`int_terms`)."""
    if plain_powers(beta, rtol, x):
        q_plain(v, qbuf, n, vmax, x, beta, m)
    else:
        int_terms(v, qbuf, n, vmax, x, beta, m, False, scr)


@_jit
def finish_q_wide(v, qbuf, n, vmax, vmin, x, xn, zmin, beta, tol, rtol, want_q, scr):
    """``qbuf[:n]`` at the root ``xn`` from the last evaluation at ``x`` (:func:`residual_wide`,
    whose least ``z`` in the support was ``zmin``; the row's least logit is ``vmin``), when q
    is wanted (``want_q``, ``tol <= 0``): the maximum's from its ``log s``
    (:func:`wide_q_max`), all moved to ``xn``: by :func:`move_q_near` where
    :func:`near_move` allows, else afresh by plain products where :func:`residual_int` took
    them at ``x`` (:func:`powers_plain`: cheaper than the general move, 1.3 against 2.0 ns a
    class on a Zen 3 core), else by :func:`move_q_wide`; below beta = 2 afresh
    (:func:`q_fresh_wide`). (After an evaluation that stored no q, :func:`q_afresh` makes
    it at the root instead.)"""
    m = int_power(beta)
    if not m:  # (residual_int leaves the maximum's q too; integer betas are 2 or more)
        finish_q_series(v, qbuf, n, vmax, x, xn, zmin, vmin - vmax, beta, tol, want_q, scr)
    elif tol <= 0.0 and want_q and xn != x:
        if near_move(x, xn, zmin, vmin - vmax, beta):
            move_q_near(qbuf, n, x, xn, beta, scr)
        elif plain_powers(beta, rtol, x) and plain_powers(beta, rtol, xn):
            int_terms(v, qbuf, n, vmax, xn, beta, m, True, scr)
        else:
            move_q_wide(v, qbuf, n, vmax, x, xn, beta, scr)


@_jit
def near_move(x, xn, zmin, zlow, beta):
    """Whether :func:`move_q_near` may move q from ``x`` to ``xn``, given the least ``z`` in
    the support at ``x`` (``zmin``) and in the row (``zlow = vmin - vmax``): no class enters
    the support (``xn <= x``, where every ``s`` shrinks, or every class inside at ``x``), and
    ``|a| ~ (beta - 1) |x - xn| / (beta s)`` is at most ``2**-16`` for every class in it
    (``beta s >= beta + x + zmin``, less a bound on that sum's rounding). A class that leaves
    the support has ``beta s <= |x - xn|``, hence ``|a| >= 1/2``: the test keeps those rows
    off this path."""
    if xn > x and not zlow + x > -beta:
        return False
    bs_min = (beta + x) + zmin
    bs_min -= 2.0**-50 * (beta + abs(x) + abs(zmin))
    return (beta - 1.0) * abs(x - xn) <= 2.0**-16 * bs_min


@_jit
def move_q_near(qbuf, n, x, xn, beta, scr):
    """:func:`move_q_wide` for a small step (:func:`near_move`): each ``q`` times ``exp(a)``,
    ``a = (beta - 1) log1p(-u)``, ``u = (x - xn) / (beta s)`` (``1 / s`` in ``scr[1]``), both
    by their series to the third order. With ``|a| <= 2**-16`` (so ``|u| <= 2**-16``: beta >=
    2 here, as q is taken afresh below) the truncations, ``|a| u**3 / 4`` and ``a**4 / 24``,
    are below ``2**-66``, under the roundings of the product. One pass, no tests: no class
    crosses the support's edge."""
    prefer_512()
    inv_s = scr[1]
    k = (x - xn) / beta
    bm1 = beta - 1.0
    for j in range(n):
        u = k * inv_s[j]
        a = -bm1 * u * fma(fma(1.0 / 3.0, u, 0.5), u, 1.0)
        qbuf[j] *= fma(a, fma(fma(1.0 / 6.0, a, 0.5), a, 1.0), 1.0)


@_jit
def q_fresh_wide(v, qbuf, n, vmax, x, beta):
    """``s**(beta - 1)`` of ``v[:n]`` at ``x`` afresh, as ``exp((beta - 1) log s)``, for
    beta < 2: there ``p / s`` (:func:`residual_wide`) carries ``beta |log s|`` ulps where q
    itself (near 1 as beta -> 1) is good to one, and Theorem 1's map ``q -> p`` amplifies q's
    error by ``beta / (beta - 1)``. (Rows of 12 candidates or more are rare below beta = 2.)"""
    prefer_512()
    ib = 1.0 / beta
    bm1 = beta - 1.0
    for c in range(n):
        ls = wide_log_s(v[c] - vmax, x, beta, ib)[0]
        qbuf[c] = vexp(bm1 * ls)


@_jit
def wide_q_max(qbuf, beta):
    """The maximum's q from its ``log s``, which :func:`residual_wide` leaves in ``qbuf[0]``
    (one ``exp`` per row, not per evaluation)."""
    qbuf[0] = q_from_log(qbuf[0], beta)


#: The largest ``rho`` at which :func:`spread_start` takes the uniform start: beyond it
#: neither start is close, and the uniform one, often left of the root, cost rows of 1000
#: classes ``N(0, 1)`` at beta = 5 an evaluation more (3 -> 4), where a cap of 4 kept 94% of
#: the evaluations the rule spares over rows of 30 to 1000 classes (``s N(0, 1)``, ``s`` from
#: 0.1 to 3, beta = 2 to 100, both dtypes).
RHO_MAX = 4.0
#: :func:`spread_start` weighs the uniform start only where ``g >= SPREAD_G sqrt(|x|)`` (``x``
#: the softmax start, whose distance to the root went as ``(g / |x|**0.47)**3.9`` over rows
#: of ``s N(0, 1)``): below, it is close enough for the fewest evaluations, and the uniform
#: start, where taken, spared none but cost its passes and a ``log``. On flat rows ``g``
#: grows as ``(log n)**2 / beta``: ``g / sqrt(|x|)`` is 2.8 for 30 classes at beta = 3, where
#: it spares evaluations, and 1.9 for 1000 classes at beta = 11, where it cost float32 rows
#: 1.10x the time from ``g = 3`` on, a threshold tried first. The benchmark's rows
#: (``3 N(0, 1)``, ``g`` 0.6-2.3 at the median) seldom reach it.
SPREAD_G = 2.5
#: Classes :func:`spread_start` looks at first on a wide row (a whole number of its loop's
#: 32-class steps: 25 ns for 32 classes, where the loop's vector body never ran).
SPREAD_SAMPLE = 64


@_inline
def spread_start(x, g, v, n, vmax, beta):
    """The softmax start ``x`` (:func:`softmax_start`, with its parameter ``g``) or, on rows
    whose logits lie close together, the uniform start, whichever is likely closer.

    The softmax expansion runs in ``g = m_2 / beta``, which grows with ``log n`` on a flat row
    (every ``u = z + x_inf`` near ``-log n``): at beta = 3 on 1000 classes ``0.3 N(0, 1)`` the
    start is 0.6 of the root away, and Newton takes five evaluations. There the expansion
    about equal logits holds instead: with ``a = n**(-1/beta)`` (the root of ``n`` equal
    logits), ``zbar`` and ``m`` the mean and the variance of the candidates' ``z``, ``sum_c
    (s_c)**beta = 1`` to second order in ``z - zbar`` gives ``x = beta (a - 1) - zbar - (beta
    - 1) m / (2 beta a)``, and its parameter is ``rho = (beta - 1) m / (2 beta a**2)``. It is
    taken where ``rho < g**3 / 64``: over rows of ``s N(0, 1)`` (``s`` from 0.03 to 3, 12 to
    1000 classes, beta = 2 to 1000) the two starts' errors go as ``rho**1.5`` and ``g**4``,
    and of the rules ``rho**p < k g**q`` tried this one came closest to the better start:
    0.03 decades from it on average, 10 times farther on 0.6% of the rows; and where ``rho
    <= RHO_MAX``. Else ``x`` is kept, but never right of ``beta (a - 1) - zbar``, where ``f
    >= 0`` on every row (the power mean: ``sum_c [s_c]_+**beta >= n**(1 - beta) (sum_c
    s_c)**beta = 1`` there). Weighed only from ``g = SPREAD_G sqrt(|x|)`` on, and on a row of
    more than ``2 SPREAD_SAMPLE`` candidates only where its first ``SPREAD_SAMPLE`` do not
    already rule the uniform start out; ``a`` (a ``log`` and an ``expm1``, :func:`base`) is
    made only where ``rho`` might pass, as ``a <= 1`` bounds it below. (The first test is
    inlined where it is called: on most rows it is all there is, and the call cost them
    ~8 ns.)"""
    if not g >= SPREAD_G * math.sqrt(abs(x)):  # the softmax start is close enough
        return x
    return spread_weighed(x, g, v, n, vmax, beta)


@_jit
def spread_weighed(x, g, v, n, vmax, beta):
    """:func:`spread_start` past its first test."""
    gate = min(g * g * g * (1.0 / 64.0), RHO_MAX)
    half = (beta - 1.0) / (2.0 * beta)
    # a look at the first classes (the maximum, then the others in column order): a spread
    # row ends here, without a pass over the rest; the sample's variance only estimates the
    # row's, hence the margin of 4
    if n > 2 * SPREAD_SAMPLE:
        if not half * plain_moments(v, SPREAD_SAMPLE, vmax)[1] < 4.0 * gate:
            return x
    zbar, m = plain_moments(v, n, vmax)
    low = half * m  # rho at a = 1, its least
    if not low < gate:
        return x
    b = base(n, beta)  # beta (a - 1)
    a = 1.0 + b / beta
    if low < gate * (a * a):
        return b - zbar - low / a
    return min(x, b - zbar)


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "nsz"}, _nrt=False)
def plain_moments(v, n, vmax):
    """The mean and the variance of ``z = v[:n] - vmax`` (for a start, in lanes)."""
    prefer_512()
    t1 = 0.0
    t2 = 0.0
    for c in range(n):
        z = v[c] - vmax
        t1 += z
        t2 += z * z
    mean = t1 / n
    return mean, max(0.0, t2 / n - mean * mean)


#: Below this beta :func:`softmax_start` takes its seven moments in one pass: its first order
#: is close enough (:func:`first_order_start`) only where ``(m_2 / beta)**4 <= 256 rtol
#: |x_inf|``, ``m_2 <= 0.004 beta`` or so for float32 results (a row nearly all in one class).
MOMENTS_AT_ONCE_BETA = 256.0


@_jit
def softmax_start(v, n, vmax, beta, rtol, scr, keep):
    """``(x, g)``: Newton's start for large beta, the softmax root ``x_inf = -log sum_c
    exp(z_c)`` plus its expansion in ``1/beta`` (:func:`start_from_moments`; ``g`` is its
    parameter, :func:`start_and_spread`), from the sums of ``exp(z)
    z**k`` in lanes (a start needs no compensation), each pass one loop with its sums in
    registers (``_vmath.lane_moments``): ``k = 0..2`` in one, and ``k = 3..6`` in a second
    where the first order is not already close enough (:func:`first_order_start`); below
    beta = ``MOMENTS_AT_ONCE_BETA``, where it seldom is, all seven in one. Newton takes a
    start on either side of the root (:func:`newton_wide`). For float32 results (``rtol >=
    config.SINGLE_START_RTOL``) the ``exp`` is ``_vmath.vexpf``, in float32 lanes (in
    ``scr[5]``), unless ``keep``; else ``_vmath.vexp``, ``exp(z)`` left in ``scr[6]``
    (:func:`residual_series` takes it). Below ``MOMENTS_AT_ONCE_BETA`` float32 results,
    unless ``keep``, take :func:`start_single` (:func:`newton_wide` calls it directly: a call
    layer less, ~15 ns a row)."""
    # below MOMENTS_AT_ONCE_BETA the first order is seldom close enough: all seven at once
    at_once = beta < MOMENTS_AT_ONCE_BETA
    single = rtol >= SINGLE_START_RTOL and not keep
    if single and at_once:
        return start_single(v, n, vmax, beta, rtol, scr)
    prefer_512()
    end = ((n + LANES - 1) // LANES) * LANES
    acc = scr[4]
    for j in range(7 * LANES):
        acc[j] = 0.0
    ef = scr[5].view(np.float32)
    e64 = scr[6]
    if single:  # float32 results from MOMENTS_AT_ONCE_BETA on: exp in float32 lanes
        for c in range(end):  # a loop of float32 alone, so that LLVM takes 8 lanes
            ef[c] = np.float32(v[c] - vmax)
        for c in range(end):
            ef[c] = vexpf(ef[c])
        lane_moments(acc, ef[:end], v, vmax, n, end)
    else:
        for c in range(end):
            e64[c] = vexp(v[c] - vmax)
        if at_once:
            lane_moments_all(acc, e64, v, vmax, n, end)
        else:
            lane_moments(acc, e64, v, vmax, n, end)
    s0, s1, s2, _ = _lane_totals4(acc)
    x, close, xs, g = first_order_start(s0, s1, s2, beta, rtol)
    if close:
        return x, g
    high = acc[3 * LANES:]
    if not at_once:
        if single:
            lane_moments_high(high, ef[:end], v, vmax, n, end)
        else:
            lane_moments_high(high, e64, v, vmax, n, end)
    s3, s4, s5, s6 = _lane_totals4(high)
    return third_order_start(xs, s0, s1, s2, s3, s4, s5, s6, beta), g


#: float32 lanes to a 512-bit register: :func:`start_single` pads its rows to a multiple.
SINGLE_LANES = 2 * LANES


@_jit
def start_single(v, n, vmax, beta, rtol, scr):
    """:func:`softmax_start` (``(x, g)``) for float32 results below ``MOMENTS_AT_ONCE_BETA``:
    ``z`` and
    ``exp(z)`` (``_vmath.vexpf``) in float32 (in ``scr[5]`` and ``scr[6]``, zeros from ``n``
    to a multiple of ``SINGLE_LANES``) and the seven moments summed in float32 lanes too
    (:func:`single_moments`), twice the lanes of float64. Their rounding, about ``1e-7`` of
    the start (3e-7 at most over ``3 N(0, 1)`` rows of 100 and 1000 classes), is below the
    third order's own error there (``2e-4`` to ``4e-7`` of the root): Newton takes as many
    steps. 160 -> 141 ns a row at C = 100 and 864 -> 600 at C = 1000 (a Zen 4 core)."""
    prefer_512()
    end = ((n + SINGLE_LANES - 1) // SINGLE_LANES) * SINGLE_LANES
    zf = scr[5].view(np.float32)
    ef = scr[6].view(np.float32)
    for c in range(n):  # z below float32's range: its exp is 0, and 0 z**k must stay 0
        z = v[c] - vmax
        zf[c] = np.float32(z if z > -1e30 else -1e30)
    zf[n:end] = 0.0
    for c in range(end):
        ef[c] = vexpf(zf[c])
    ef[n:end] = 0.0
    s0, s1, s2, s3, s4, s5, s6 = single_moments(zf, ef, end)
    return start_and_spread(s0, s1, s2, s3, s4, s5, s6, beta, rtol)


@njit(cache=True, error_model="numpy", fastmath={"reassoc", "nsz"}, _nrt=False)
def single_moments(zf, ef, end):
    """The sums of ``ef zf**k``, ``k = 0..6``, over ``[0, end)``, in float32 (the function may
    be reassociated, so that LLVM sums in lanes; it holds no ``exp``, whose bit tricks would
    not survive that), returned as float64."""
    prefer_512()
    s0 = np.float32(0.0)
    s1 = s0
    s2 = s0
    s3 = s0
    s4 = s0
    s5 = s0
    s6 = s0
    for c in range(end):
        s0, s1, s2, s3, s4, s5, s6 = _moments_add(ef[c], zf[c], s0, s1, s2, s3, s4, s5, s6)
    return (np.float64(s0), np.float64(s1), np.float64(s2), np.float64(s3), np.float64(s4),
            np.float64(s5), np.float64(s6))


@_inline
def _moments_add(e, z, s0, s1, s2, s3, s4, s5, s6):
    """The sums of ``e z**k``, ``k = 0..6``, with one more term (``e`` first: ``e = 0`` keeps
    every term 0, however large ``z**k``), in the type of ``e`` and ``z``."""
    e1 = e * z
    e2 = e1 * z
    e3 = e2 * z
    e4 = e3 * z
    e5 = e4 * z
    return s0 + e, s1 + e1, s2 + e2, s3 + e3, s4 + e4, s5 + e5, s6 + e5 * z


@_jit
def _lane_totals4(acc):
    """The totals of the first four groups of ``LANES`` lane sums in ``acc``."""
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    for j in range(LANES):
        t0 += acc[j]
        t1 += acc[LANES + j]
        t2 += acc[2 * LANES + j]
        t3 += acc[3 * LANES + j]
    return t0, t1, t2, t3


@_jit
def softmax_start_short(v, n, m, vmax, beta, rtol):
    """:func:`softmax_start` for a short row (:func:`newton_pruned`, :func:`newton`), with
    ``math.exp``, in one pass: the first maximum ``v[m]`` first, then the other candidates
    (``z > -beta``) in order: the same sums whether the row was collected (:func:`collect`)
    or not."""
    s0 = 1.0
    s1 = 0.0
    s2 = 0.0
    s3 = 0.0
    s4 = 0.0
    s5 = 0.0
    s6 = 0.0
    for c in range(n):
        z = float(v[c]) - vmax
        if c != m and z > -beta:
            s0, s1, s2, s3, s4, s5, s6 = _moments_add(math.exp(z), z, s0, s1, s2, s3, s4, s5,
                                                      s6)
    return start_from_moments(s0, s1, s2, s3, s4, s5, s6, beta, rtol)


@_inline
def first_order_start(s0, s1, s2, beta, rtol):
    """``(x, close, x_inf, g)``: the softmax root corrected to first order in ``1/beta``,
    ``x_inf + m_2 / (2 beta)`` (:func:`start_from_moments`), from the sums ``s_k`` of ``exp(z)
    z**k``; whether it is close enough that the higher orders would not spare an evaluation;
    the softmax root itself (for :func:`third_order_start`); and the expansion's parameter
    ``g = m_2 / beta`` (for :func:`spread_start`).

    Its error is about ``x_2 / beta**2``, some ``g**2 / 4`` with ``g = m_2 / beta`` (median
    over ``3 N(0, 1)`` logits; 1/9 to 9 times that over 99% of them), and one evaluation there
    ends Newton (:func:`close_enough`: the next iterate within ``rtol |x|``) when that error
    squared is below ``rtol |x|`` or so: ``close`` is ``(g**2 / 4)**2 <= rtol |x_inf|``. (It
    holds at beta = 1e6, and at 1e4 for float32 results; ``rtol <= 0``: never.)"""
    xs = -math.log(s0)
    r = 1.0 / s0
    m2 = s2 * r + xs * (2.0 * (s1 * r) + xs)  # E_w[(z + x_inf)**2]: terms of one sign
    g = m2 / beta
    return xs + 0.5 * g, (g * g) * (g * g) <= -16.0 * rtol * xs, xs, g


@_jit
def start_from_moments(s0, s1, s2, s3, s4, s5, s6, beta, rtol):
    """:func:`softmax_start` from the sums ``s_k`` of ``exp(z) z**k``: the first order where
    it is close enough (:func:`first_order_start`), else the third.

    With ``w`` the softmax, ``u_c = z_c + x_inf`` and ``m_k = E_w[u**k]``, the root of eq. 13
    is ``x_inf + x_1/beta + x_2/beta**2 + x_3/beta**3 + O(beta**-4)``: ``log p_c = beta
    log1p(y_c / beta)`` expanded in ``1/beta`` (``y_c = z_c + x``) and ``sum_c p_c = 1``
    solved order by order give ``x_1 = m_2/2``, ``x_2 = m_1 m_2/2 + m_2**2/8 - m_3/3 -
    m_4/8`` and ``x_3`` (derived with sympy; :func:`third_order_start` sums them as a
    polynomial in ``x_inf``).
    Measured on ``3 N(0, 1)`` logits, median relative error to the root, first order ->
    third: beta = 11 3.5e-2 -> 2.3e-4 at C = 10, 1.1e-1 -> 2.4e-3 at C = 100; beta = 100
    3.7e-4 -> 2.4e-8 and 1.2e-3 -> 3.6e-7. The third-order start lies right of the root on
    most rows of 100 classes or more, left of it on most rows of 10."""
    return start_and_spread(s0, s1, s2, s3, s4, s5, s6, beta, rtol)[0]


@_inline
def start_and_spread(s0, s1, s2, s3, s4, s5, s6, beta, rtol):
    """``(x, g)``: :func:`start_from_moments`' start and its expansion's parameter ``g = m_2 /
    beta`` (:func:`first_order_start`), which :func:`spread_start` weighs."""
    x, close, xs, g = first_order_start(s0, s1, s2, beta, rtol)
    if close:
        return x, g
    return third_order_start(xs, s0, s1, s2, s3, s4, s5, s6, beta), g


@_inline
def third_order_start(xs, s0, s1, s2, s3, s4, s5, s6, beta):
    """:func:`start_from_moments`'s third order, from ``xs = x_inf = -log s0``: ``x_inf + x_1 /
    beta + x_2 / beta**2 + x_3 / beta**3`` as a polynomial of degree 4 in ``x_inf`` (``x_k``
    has degree ``k + 1``; coefficients from sympy), whose coefficients come from the raw
    moments ``a_k = s_k / s0`` alone: they are made while the ``log`` runs, and four ``fma``
    follow it (44 -> 35 ns of latency on a Zen 4 core). In the ``m_k`` of
    :func:`start_from_moments`, ``x_3 = m_1**2 m_2/2 + 3 m_1 m_2**2/8 - m_1 m_3/3 - m_1 m_4/8 +
    m_2**3/24 - 3 m_2**2/8 - 5 m_2 m_3/12 - m_2 m_4/16 + m_4/4 + m_5/6 + m_6/48``; expanded in
    ``x_inf`` with ``m_k = sum_j C(k, j) a_j x_inf**(k - j)``. Within 6e-15 of a 50-digit
    evaluation of the ``m_k`` form over ``3 N(0, 1)``, ``N(0, 1)`` and ``30 N(0, 1)`` rows of
    10 to 10000 classes, where the ``m_k`` form, in float64, was within 1e-13."""
    r = 1.0 / s0
    a1 = s1 * r
    a2 = s2 * r
    a3 = s3 * r
    a4 = s4 * r
    a5 = s5 * r
    a6 = s6 * r
    a11 = a1 * a1
    a12 = a1 * a2
    a22 = a2 * a2
    # x_2 = x20 + x21 xs + x22 xs**2 + xs**3 / 6, x_3 = x30 + ... + x33 xs**3 + xs**4 / 24
    x20 = (12.0 * a12 + 3.0 * a22 - 8.0 * a3 - 3.0 * a4) * (1.0 / 24.0)
    x21 = (2.0 * a11 + a12 - a2 - a3) * 0.5
    x22 = (a11 + a1 - a2) * 0.5
    x30 = (24.0 * a11 * a2 + 18.0 * a12 * a2 - 16.0 * a1 * a3 - 6.0 * a1 * a4 + 2.0 * a22 * a2
           - 18.0 * a22 - 20.0 * a2 * a3 - 3.0 * a2 * a4 + 12.0 * a4 + 8.0 * a5 + a6) * (
               1.0 / 48.0)
    x31 = (24.0 * a11 * a1 + 36.0 * a11 * a2 + 6.0 * a12 * a2 - 36.0 * a12 - 32.0 * a1 * a3
           - 3.0 * a1 * a4 - 21.0 * a22 - 6.0 * a2 * a3 + 16.0 * a3 + 17.0 * a4 + 3.0 * a5) * (
               1.0 / 24.0)
    x32 = (6.0 * a11 * a1 + 2.0 * a11 * a2 - 9.0 * a12 - 2.0 * a1 * a3 - a22 + a2 + 3.0 * a3
           + a4) * 0.25
    x33 = (2.0 * a11 * a1 - 3.0 * a12 + a1 + a3) * (1.0 / 6.0)
    ib = 1.0 / beta  # x_1 = a2 / 2 + a1 xs + xs**2 / 2
    c0 = ib * (0.5 * a2 + ib * (x20 + ib * x30))
    c1 = 1.0 + ib * (a1 + ib * (x21 + ib * x31))
    c2 = ib * (0.5 + ib * (x22 + ib * x32))
    c3 = ib * ib * ((1.0 / 6.0) + ib * x33)
    c4 = ib * ib * ib * (1.0 / 24.0)
    return fma(fma(fma(fma(c4, xs, c3), xs, c2), xs, c1), xs, c0)


@_jit
def softmax_row(row, z, w, scr):
    """beta = inf on a whole row, without candidates (the CPU kernels' path there): ``(x,
    vmax, vmin, total)`` with ``x = -log1p(S)``, ``S = sum_c exp(z_c)`` over every class but
    the first maximum, as :func:`softmax` has it, and ``total = 1 + S``, the normalizer of
    ``w``; ``z[:C] = row - vmax`` and ``w[:C] = exp(z)`` by ``_vmath.vexp`` in column order
    (exactly 1 at each maximum), zeros up to the next multiple of ``LANES`` (``z`` and ``w``
    need ``LANES`` entries past ``C``). The sum is :func:`sum_wide`'s, every class included,
    kept as a double-double ``hi + lo``: ``hi >= 1`` (one term is 1, none negative), so ``S =
    (hi - 1) + lo`` with ``hi - 1`` exact, and a tiny ``S`` keeps its digits with no class set
    apart (no search for the maximum's column, which cost 10-40 ns a row). A row that is not
    :func:`finite` returns at once, with its ``vmax`` and ``vmin``."""
    prefer_512()
    C = row.shape[0]
    vmax, vmin = extrema(row)
    if not finite(vmax, vmin):
        return 0.0, vmax, vmin, 0.0
    end = ((C + LANES - 1) // LANES) * LANES
    for c in range(C):
        z[c] = np.float64(row[c]) - vmax
    for c in range(C, end):
        z[c] = -math.inf  # exp gives 0
    for c in range(end):
        w[c] = vexp(z[c])
    hi, lo = sum_wide_parts(w, 0, end, scr)
    s = (hi - 1.0) + lo
    return -math.log1p(s), vmax, vmin, 1.0 + s


@_jit
def sum_wide(a, start, end, scr):
    """``sum(a[start:end])`` (``end - start`` a multiple of ``LANES``) in ``LANES`` compensated
    partial sums, then one compensated sum of those."""
    total, comp = sum_wide_parts(a, start, end, scr)
    return total + comp


@_jit
def sum_wide_parts(a, start, end, scr):
    """:func:`sum_wide` before its last rounding: ``(total, comp)``, the running sum and its
    compensation."""
    acc = scr[4]
    for j in range(2 * LANES):
        acc[j] = 0.0
    lane_twosum(acc, a, start, end)
    total = 0.0
    comp = 0.0
    for j in range(LANES):
        total, comp = add(total, comp, acc[j])
        comp += acc[LANES + j]
    return total, comp


@_jit
def sum_wide_plain(a, start, end, scr):
    """:func:`sum_wide` without compensation (``a >= 0``), for float32 results: its error, at
    most ``(end - start) / LANES + LANES`` units of ``2**-53`` of the sum (``1e-13`` at 10000
    classes), stays far below a float32 ulp, at a quarter of the cost. Two chains of lane
    sums, over the two halves, and a tree of the last sums: their adds' latency, not their
    count, bounds it (one chain took a row of 100 classes ~15 ns)."""
    acc = scr[4]
    for j in range(2 * LANES):
        acc[j] = 0.0
    mid = start + (end - start) // (2 * LANES) * LANES
    lane_sum(acc, a, start, mid)
    lane_sum(acc[LANES:], a, mid, end)
    for j in range(LANES):
        acc[j] += acc[LANES + j]
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))


@_jit
def p_wide(v, n, vmax, x, beta, w, series):
    """``p_c`` (eq. 14) of ``v[:n]`` into ``w[:n]`` in SIMD (0 outside the support); by
    :func:`series_log_p` where the row :func:`takes_series` (``series``)."""
    prefer_512()
    ib = 1.0 / beta
    if series:
        for c in range(n):
            w[c] = vexp(series_log_p(v[c] - vmax, x, ib, 12)[0])
        return
    for c in range(n):
        w[c] = vexp(wide_log_s(v[c] - vmax, x, beta, ib)[1])
