"""Branch-free ``exp``, ``log`` and ``log1p`` in float64 that LLVM can vectorize.

Numba calls glibc's scalar ``exp``/``log1p``, one element at a time: this llvmlite has no
vector math library. The functions here are straight-line arithmetic (an ``fma``, bit casts
between a float and its integer bits, selects instead of branches), so a loop over classes
that calls them compiles to SIMD code, several classes per instruction.

Design (written for this package; only the textbook methods are shared with other libraries):

- :func:`vexp`: Cody-Waite reduction ``x = k ln2 + r``, ``|r| <= ln2/2``, ``k`` rounded by
  adding and subtracting ``1.5 * 2**52`` (no float-to-int conversion, whose result is
  undefined on NaN), ``r`` by two ``fma`` with ``ln2`` split in two doubles (the first is
  exact); ``exp(r) = 1 + (r + r**2 P(r))`` with the Taylor coefficients to degree 13
  (truncation < 5e-18 relative), ``P`` by Estrin's scheme (short dependency chains, so that
  the vector units overlap them); ``2**k`` applied as two powers of two built from bits, so
  subnormal results are rounded once and ``k = 1024`` overflows to inf. Under 1 ulp.
- :func:`vlog`: ``x = 2**e m`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` by integer arithmetic on
  the bits (subnormal ``x`` scaled by ``2**52`` first), ``f = m - 1`` exact, ``s = f/(2 + f)``
  and ``log1p(f) = f - (f**2/2 - s (f**2/2 + R(s**2)))`` with ``R`` the series of ``2 atanh``
  less its first term (eleven terms, by Estrin's scheme; truncation < 1e-18 relative); ``e
  ln2`` added in two parts. Under 1 ulp.
- :func:`vlog1p`: :func:`vlog` of ``u = 1 + r`` plus the rounding lost in ``u``,
  ``(r - (u - 1)) / u``, the division replaced by a short series in ``f`` (the correction is
  below an ulp of the result, or exact where ``u = 1``).
- :func:`vexpf`: :func:`vexp` in float32 (Taylor to degree 6) on ``x <= 88``, within 3
  float32 ulps, 8 lanes to a 256-bit register: for the sums that only start Newton for
  float32 results.

Special values as C99: ``exp(nan) = nan``, ``exp(-inf) = 0``, ``exp(inf) = inf``, ``log(0)
= -inf``, ``log(x < 0) = nan``, ``log(inf) = inf``, ``log1p(-1) = -inf``. Tested against
mpmath over the whole domain (``tests/test_vmath.py``).

The CPU kernels use them in loops over many classes (``_kernels.residual_wide`` and the
softmax); the short rows and the CUDA kernels keep the scalar ``math`` functions.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_jit = njit(cache=True, error_model="numpy", inline="always")


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (``llvm.fma``; a hardware instruction here)."""
    if not (a == b == c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        d = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [d], ir.FunctionType(d, [d, d, d]))
        return builder.call(fn, list(args))

    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def as_int(typingctx, x):
    """The bits of a float64 as an int64."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def as_float(typingctx, i):
    """The float64 whose bits are the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


# ln2 = LN2_HI + LN2_LO to ~2**-106; 1.5 * 2**52 rounds to an integer when added.
LN2_HI = 0.6931471805599453
LN2_LO = 2.3190468138462996e-17
INV_LN2 = 1.4426950408889634
SHIFTER = 6755399441055744.0
# ln2 with its last 20 bits cleared (e * LN2_E_HI is exact for |e| < 2**20) and the rest.
LN2_E_HI = 0.6931471804855391
LN2_E_LO = 7.440617110012397e-11
SQRT_HALF_BITS = 0x3FE6A09E667F3BCD
EXP_HI = 710.0  # exp(710) overflows
EXP_LO = -746.0  # exp(-746) rounds to 0
TINY = 2.2250738585072014e-308  # the smallest normal float64
TWO52 = 4503599627370496.0


@_jit
def vexp(x):
    """``exp(x)`` in float64, under 1 ulp (subnormal results: under 1 ulp of the smallest
    subnormal more), branch-free."""
    xc = EXP_HI if x > EXP_HI else x  # NaN falls through both selects
    # Below EXP_LO the result is 0: select it, and give the arithmetic a harmless 0 meanwhile.
    # (Computed, 2**k would underflow to 0 in the last product, and results that underflow
    # cost a microcode assist, ~12x the whole exp on recent Intel cores; the SIMD path feeds
    # -inf for every class outside the support.)
    zero = xc < EXP_LO
    xc = 0.0 if zero else xc
    kd = xc * INV_LN2 + SHIFTER
    ki = as_int(kd) - as_int(SHIFTER)
    kd = kd - SHIFTER
    r = fma(-kd, LN2_HI, xc)  # exact
    r = fma(-kd, LN2_LO, r)
    # q(r) = sum_j r**j / (j + 2)! for j = 0..11 by Estrin's scheme: pairs in r, then in r**2
    # and r**4 (a chain of 4 dependent operations where Horner's has 12).
    r2 = r * r
    r4 = r2 * r2
    q0 = fma(fma(1.0 / 120.0, r, 1.0 / 24.0), r2, fma(1.0 / 6.0, r, 0.5))
    q1 = fma(fma(1.0 / 362880.0, r, 1.0 / 40320.0), r2, fma(1.0 / 5040.0, r, 1.0 / 720.0))
    q2 = fma(fma(1.0 / 6227020800.0, r, 1.0 / 479001600.0), r2,
             fma(1.0 / 39916800.0, r, 1.0 / 3628800.0))
    q = fma(fma(q2, r4, q1), r4, q0)
    p = 1.0 + fma(r2, q, r)
    k1 = ki >> 1
    k2 = ki - k1
    y = p * as_float((k1 + 1023) << 52) * as_float((k2 + 1023) << 52)
    return 0.0 if zero else y


@intrinsic
def as_int32(typingctx, x):
    """The bits of a float32, as an int64 (sign-extended from their int32)."""
    if x != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.sext(builder.bitcast(args[0], ir.IntType(32)), ir.IntType(64))

    return types.int64(types.float32), codegen


@intrinsic
def as_float32(typingctx, i):
    """The float32 whose bits are the low 32 of the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.trunc(args[0], ir.IntType(32)), ir.FloatType())

    return types.float32(types.int64), codegen


_F = np.float32
EXPF_LO = _F(-87.0)  # exp(-87) > 2**-126: results stay normal; below, 0 is selected
EXPF_HI = _F(88.0)
INV_LN2F = _F(1.4426950408889634)
SHIFTERF = _F(12582912.0)  # 1.5 * 2**23
LN2F_HI = _F(0.693359375)  # 9 bits: k * LN2F_HI is exact for |k| < 2**15
LN2F_LO = _F(-2.12194440e-4)
_F0 = _F(0.0)
_F1 = _F(1.0)


@_jit
def vexpf(x):
    """``exp(x)`` of a float32, in float32 lanes (8 to a 256-bit register, twice vexp's),
    within 3 float32 ulps (under 2**-21 relative) for ``x <= 88``, and 0 below -87 (where the
    true value is under 2**-125); branch-free. Cody-Waite reduction as :func:`vexp`, Taylor to
    degree 6 on ``|r| <= ln2/2`` (truncation < 2e-8 relative). For sums that only start an
    iteration (Newton's softmax start for float32 results), not for results."""
    zero = x < EXPF_LO
    xc = _F0 if zero else x
    xc = EXPF_HI if xc > EXPF_HI else xc
    kd = xc * INV_LN2F + SHIFTERF
    ki = as_int32(kd) - as_int32(SHIFTERF)
    kd = kd - SHIFTERF
    r = (xc - kd * LN2F_HI) - kd * LN2F_LO
    r2 = r * r
    q = (_F(0.5) + r * _F(1.0 / 6.0)) + r2 * ((_F(1.0 / 24.0) + r * _F(1.0 / 120.0))
                                              + r2 * _F(1.0 / 720.0))
    y = (_F1 + (r + r2 * q)) * as_float32((ki + 127) << 23)
    return _F0 if zero else y


@_jit
def _log_core(u, corr):
    """``log(u) + corr / u`` for ``u > 0`` finite and ``|corr| <= ulp(u)`` (no special
    values: :func:`vlog` and :func:`vlog1p` select those)."""
    sub = u < TINY
    us = u * TWO52 if sub else u
    ix = as_int(us)
    e = (ix - SQRT_HALF_BITS) >> 52
    m = as_float(ix - (e << 52))  # in [sqrt(1/2), sqrt(2))
    e = e - 52 if sub else e
    f = m - 1.0  # exact (Sterbenz)
    # corr / u = corr 2**-e / m, with 1/m = 1/(1 + f) ~ 1 - f + f**2 (corr is below an ulp of
    # the result unless f = 0, where this is exact); e is clamped where corr cannot matter.
    ec = 1000 if e > 1000 else e
    ec = -1000 if ec < -1000 else ec
    c = corr * as_float((1023 - ec) << 52) * (1.0 - f * (1.0 - f))
    s = f / (2.0 + f)
    z = s * s
    # R = z sum_j 2 z**j / (2 j + 3) for j = 0..10, by Estrin's scheme (as vexp's q)
    z2 = z * z
    z4 = z2 * z2
    R0 = fma(fma(2.0 / 9.0, z, 2.0 / 7.0), z2, fma(2.0 / 5.0, z, 2.0 / 3.0))
    R1 = fma(fma(2.0 / 17.0, z, 2.0 / 15.0), z2, fma(2.0 / 13.0, z, 2.0 / 11.0))
    R2 = fma(2.0 / 23.0, z2, fma(2.0 / 21.0, z, 2.0 / 19.0))
    R = fma(fma(R2, z4, R1), z4, R0) * z
    hfsq = 0.5 * f * f
    dk = float(e)
    return dk * LN2_E_HI - ((hfsq - (s * (hfsq + R) + (dk * LN2_E_LO + c))) - f)


@_jit
def vlog(x):
    """``log(x)`` in float64, under 1 ulp, branch-free."""
    u = x if x > 0.0 else 1.0
    u = u if u < math.inf else 1.0
    y = _log_core(u, 0.0)
    y = -math.inf if x == 0.0 else y
    y = math.inf if x == math.inf else y
    return y if x >= 0.0 else math.nan  # x < 0 and NaN


@_jit
def vlog1p(r):
    """``log1p(r)`` in float64, under 1 ulp, branch-free."""
    u = 1.0 + r
    corr = r - (u - 1.0)
    ok = (u > 0.0) & (u < math.inf)
    y = _log_core(u if ok else 1.0, corr if ok else 0.0)
    y = -math.inf if r == -1.0 else y
    y = math.inf if r == math.inf else y
    return y if r >= -1.0 else math.nan  # r < -1 and NaN


# ----------------------------------------------------------------------------- lane sums
#
# LLVM does not vectorize a float reduction without leave to reassociate it (and that leave
# would also undo the compensated sums). These loops are written in LLVM IR on vectors of
# LANES doubles: lane j accumulates entries j, j + LANES, j + 2 LANES, ..., in order.

LANES = 8


def _loop_head(builder, start, end, name):
    """Open a loop over ``[start, end)`` in LLVM IR: ``(pre, loop, after, o)``, the block
    before it, its body (the builder left there), the block after it and the offset's phi
    (its incoming values are the caller's to add, with the loop's own phis)."""
    pre = builder.block
    loop = builder.append_basic_block(name + ".loop")
    after = builder.append_basic_block(name + ".after")
    builder.cbranch(builder.icmp_signed("<", start, end), loop, after)
    builder.position_at_end(loop)
    return pre, loop, after, builder.phi(ir.IntType(64))


def _twosum_ir(builder, s, c, x):
    """Knuth's TwoSum of vectors, lane by lane (as ``_kernels.add``): ``(s + x, c + err)``."""
    t = builder.fadd(s, x)
    bp = builder.fsub(t, s)
    err = builder.fadd(builder.fsub(s, builder.fsub(t, bp)), builder.fsub(x, bp))
    return t, builder.fadd(c, err)


def _lane_loop(kind):
    def typer(typingctx, acc, a, start, end):
        ok = all(isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C"
                 and t.dtype == types.float64 for t in (acc, a))
        if not (ok and isinstance(start, types.Integer) and isinstance(end, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            acc_v, a_v, start_v, end_v = args
            i64 = ir.IntType(64)
            start_v = context.cast(builder, start_v, signature.args[2], types.int64)
            end_v = context.cast(builder, end_v, signature.args[3], types.int64)
            vt = ir.VectorType(ir.DoubleType(), LANES)
            vp = vt.as_pointer()
            acc_p = context.make_array(signature.args[0])(context, builder, acc_v).data
            a_p = context.make_array(signature.args[1])(context, builder, a_v).data
            s_ptr = builder.bitcast(acc_p, vp)
            c_ptr = builder.bitcast(builder.gep(acc_p, [ir.Constant(i64, LANES)]), vp)
            s0 = builder.load(s_ptr, align=8)
            c0 = builder.load(c_ptr, align=8) if kind == "twosum" else None
            pre, loop, after, o = _loop_head(builder, start_v, end_v, "lanes")
            s = builder.phi(vt)
            c = builder.phi(vt) if kind == "twosum" else None
            x = builder.load(builder.bitcast(builder.gep(a_p, [o]), vp), align=8)
            if kind == "twosum":
                t, c2 = _twosum_ir(builder, s, c, x)
            elif kind == "sum":
                t = builder.fadd(s, x)
            else:  # min of finite values
                t = builder.select(builder.fcmp_ordered("<", x, s), x, s)
            o2 = builder.add(o, ir.Constant(i64, LANES))
            o.add_incoming(start_v, pre)
            o.add_incoming(o2, loop)
            s.add_incoming(s0, pre)
            s.add_incoming(t, loop)
            if kind == "twosum":
                c.add_incoming(c0, pre)
                c.add_incoming(c2, loop)
            builder.cbranch(builder.icmp_signed("<", o2, end_v), loop, after)
            builder.position_at_end(after)
            sf = builder.phi(vt)
            sf.add_incoming(s0, pre)
            sf.add_incoming(t, loop)
            if kind == "twosum":
                cf = builder.phi(vt)
                cf.add_incoming(c0, pre)
                cf.add_incoming(c2, loop)
                builder.store(cf, c_ptr, align=8)
            builder.store(sf, s_ptr, align=8)
            return context.get_dummy_value()

        return types.void(acc, a, start, end), codegen

    return typer


#: ``lane_twosum(acc, a, start, end)``: ``acc[:LANES]`` += ``a[start:end]`` lane by lane,
#: compensated, the rounding errors added to ``acc[LANES:2 LANES]``; ``end - start`` a
#: multiple of ``LANES``.
lane_twosum = intrinsic(_lane_loop("twosum"))
#: ``lane_sum(acc, a, start, end)``: ``acc[:LANES]`` += ``a[start:end]`` lane by lane.
lane_sum = intrinsic(_lane_loop("sum"))
#: ``lane_min(acc, a, start, end)``: ``acc[:LANES]`` = min with ``a[start:end]`` lane by lane.
lane_min = intrinsic(_lane_loop("min"))


def _totals_loop(with_lo, with_min):
    def typer(typingctx, acc, p, lo, q, cv, z, start, end):
        arrays = (acc, p, lo, q, cv, z)
        ok = all(isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C"
                 and t.dtype == types.float64 for t in arrays)
        if not (ok and isinstance(start, types.Integer) and isinstance(end, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            i64 = ir.IntType(64)
            start_v = context.cast(builder, args[6], signature.args[6], types.int64)
            end_v = context.cast(builder, args[7], signature.args[7], types.int64)
            vt = ir.VectorType(ir.DoubleType(), LANES)
            vp = vt.as_pointer()
            data = [context.make_array(signature.args[k])(context, builder, args[k]).data
                    for k in range(6)]
            acc_p = data[0]
            ptrs = [builder.bitcast(builder.gep(acc_p, [ir.Constant(i64, k * LANES)]), vp)
                    for k in range(5)]
            init = [builder.load(ptr, align=8) for ptr in ptrs]
            pre, loop, after, o = _loop_head(builder, start_v, end_v, "totals")
            cur = [builder.phi(vt) for _ in range(5)]

            def load(k):
                return builder.load(builder.bitcast(builder.gep(data[k], [o]), vp), align=8)

            s, c, d, k2, m = cur
            t, c2 = _twosum_ir(builder, s, c, load(1))
            if with_lo:
                c2 = builder.fadd(c2, load(2))
            d2 = builder.fadd(d, load(3))
            k3 = builder.fadd(k2, load(4))
            if with_min:
                zv = load(5)
                m2 = builder.select(builder.fcmp_ordered("<", zv, m), zv, m)
            else:
                m2 = m
            new = [t, c2, d2, k3, m2]
            o2 = builder.add(o, ir.Constant(i64, LANES))
            o.add_incoming(start_v, pre)
            o.add_incoming(o2, loop)
            for j in range(5):
                cur[j].add_incoming(init[j], pre)
                cur[j].add_incoming(new[j], loop)
            builder.cbranch(builder.icmp_signed("<", o2, end_v), loop, after)
            builder.position_at_end(after)
            finals = [builder.phi(vt) for _ in range(5)]
            for j in range(5):
                finals[j].add_incoming(init[j], pre)
                finals[j].add_incoming(new[j], loop)
            for j in range(5):
                builder.store(finals[j], ptrs[j], align=8)
            return context.get_dummy_value()

        return types.void(acc, p, lo, q, cv, z, start, end), codegen

    return typer


#: ``lane_totals(acc, p, lo, q, c, z, start, end)`` (``end - start`` a multiple of ``LANES``),
#: in one loop with its sums in registers: ``lane_twosum`` of ``p`` into ``acc[:2 LANES]``,
#: ``lane_sum`` of ``q`` and of ``c`` into ``acc[2 LANES:3 LANES]`` and ``acc[3 LANES:4
#: LANES]``, ``lane_min`` of ``z`` into ``acc[4 LANES:5 LANES]``; ``lane_totals_lo`` adds
#: ``lo`` to the compensation lanes as it goes, and the ``_nomin`` forms leave the minima.
lane_totals = intrinsic(_totals_loop(False, True))
lane_totals_nomin = intrinsic(_totals_loop(False, False))
lane_totals_lo = intrinsic(_totals_loop(True, True))
lane_totals_lo_nomin = intrinsic(_totals_loop(True, False))


def _moments_loop(first, count):
    def typer(typingctx, acc, e, v, vmax, n, end):
        f64 = types.float64
        if not (isinstance(acc, types.Array) and acc.dtype == f64 and isinstance(e, types.Array)
                and e.dtype in (types.float32, f64) and isinstance(v, types.Array)
                and v.dtype == f64 and all(t.ndim == 1 and t.layout == "C" for t in (acc, e, v))
                and isinstance(n, types.Integer) and isinstance(end, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            acc_v, e_v, v_v, vmax_v, n_v, end_v = args
            i64 = ir.IntType(64)
            n_v = context.cast(builder, n_v, signature.args[4], types.int64)
            end_v = context.cast(builder, end_v, signature.args[5], types.int64)
            vmax_v = context.cast(builder, vmax_v, signature.args[3], f64)
            vt = ir.VectorType(ir.DoubleType(), LANES)
            et = ir.VectorType(context.get_value_type(signature.args[1].dtype), LANES)
            it = ir.VectorType(i64, LANES)
            acc_p = context.make_array(signature.args[0])(context, builder, acc_v).data
            e_p = context.make_array(signature.args[1])(context, builder, e_v).data
            v_p = context.make_array(signature.args[2])(context, builder, v_v).data
            ptrs = [builder.bitcast(builder.gep(acc_p, [ir.Constant(i64, k * LANES)]),
                                    vt.as_pointer()) for k in range(count)]
            init = [builder.load(q, align=8) for q in ptrs]

            def splat(x, t):
                out = ir.Constant(t, ir.Undefined)
                for i in range(LANES):
                    out = builder.insert_element(out, x, ir.Constant(ir.IntType(32), i))
                return out

            vmax_s = splat(vmax_v, vt)
            n_s = splat(n_v, it)
            iota = ir.Constant(it, list(range(LANES)))
            zero = ir.Constant(vt, [0.0] * LANES)
            pre, loop, after, o = _loop_head(builder, ir.Constant(i64, 0), end_v, "moments")
            sums = [builder.phi(vt) for _ in range(count)]
            ev = builder.load(builder.bitcast(builder.gep(e_p, [o]), et.as_pointer()), align=4)
            if signature.args[1].dtype == types.float32:
                ev = builder.fpext(ev, vt)
            z = builder.fsub(builder.load(builder.bitcast(builder.gep(v_p, [o]), vt.as_pointer()),
                                          align=8), vmax_s)
            live = builder.icmp_signed("<", builder.add(splat(o, it), iota), n_s)
            term = builder.select(live, ev, zero)
            z = builder.select(live, z, zero)
            terms = []
            for k in range(first + count):
                if k >= first:
                    terms.append(term)
                term = builder.fmul(term, z)
            new = [builder.fadd(sums[k], terms[k]) for k in range(count)]
            o2 = builder.add(o, ir.Constant(i64, LANES))
            o.add_incoming(ir.Constant(i64, 0), pre)
            o.add_incoming(o2, loop)
            for k in range(count):
                sums[k].add_incoming(init[k], pre)
                sums[k].add_incoming(new[k], loop)
            builder.cbranch(builder.icmp_signed("<", o2, end_v), loop, after)
            builder.position_at_end(after)
            finals = [builder.phi(vt) for _ in range(count)]  # the phis first, then the stores
            for k in range(count):
                finals[k].add_incoming(init[k], pre)
                finals[k].add_incoming(new[k], loop)
            for k in range(count):
                builder.store(finals[k], ptrs[k], align=8)
            return context.get_dummy_value()

        return types.void(acc, e, v, vmax, n, end), codegen

    return typer


#: ``lane_moments(acc, e, v, vmax, n, end)``: ``acc[:LANES] += e``, ``acc[LANES:2 LANES] +=
#: e z`` and ``acc[2 LANES:3 LANES] += (e z) z`` lane by lane over ``[0, end)`` (a multiple
#: of ``LANES``), ``z = v - vmax``, ``e`` float32 (widened) or float64, both taken as 0 from
#: ``n`` on (``v`` and ``e`` may hold anything there): the three :func:`lane_sum` of those
#: products, bit for bit, in one loop with its sums in registers, nothing stored per entry.
lane_moments = intrinsic(_moments_loop(0, 3))
#: ``lane_moments_high(acc, e, v, vmax, n, end)``: :func:`lane_moments` for the next four
#: products, ``((e z) z) z`` to ``e z**6`` (each the last times ``z``), into the first four
#: groups of ``LANES`` in ``acc``.
lane_moments_high = intrinsic(_moments_loop(3, 4))
#: ``lane_moments_all(acc, e, v, vmax, n, end)``: both in one loop, ``e`` to ``e z**6`` into
#: the first seven groups of ``LANES`` in ``acc``.
lane_moments_all = intrinsic(_moments_loop(0, 7))


_PREFER_512 = '"prefer-vector-width"="512"'


@intrinsic
def prefer_512(typingctx):
    """Mark the function being compiled as preferring 512-bit vectors. LLVM's cost model for
    recent Intel cores (sapphirerapids and others) picks 256-bit vectors unless a function
    says otherwise; the loops of the SIMD path run ~20% faster in 512-bit registers there
    (measured on exp and log, bit for bit the same results). Harmless without AVX-512.
    (llvmlite lists the function attributes it knows; this one is added to that list for the
    function at hand. Should a later llvmlite refuse it, the code is the same, in 256 bits.)"""

    def codegen(context, builder, signature, args):
        attrs = builder.function.attributes
        try:
            attrs._known = attrs._known | frozenset([_PREFER_512])
            attrs.add(_PREFER_512)
        except (AttributeError, TypeError, ValueError):  # pragma: no cover
            pass
        return context.get_dummy_value()

    return types.void(), codegen
