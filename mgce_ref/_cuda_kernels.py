"""CUDA kernels (numba-cuda) built from the row kernels of ``_kernels``.

Imported only by ``cuda_backend`` once a GPU (or the simulator) is known to be there. The CPU
``@njit`` row kernels are called from here as they are: numba-cuda compiles them for the CUDA
target, so CPU and GPU run the same arithmetic in the same order.

Two kernel shapes, chosen by the host from the number of classes C:

* **thread per row** (small C): each thread takes whole rows (grid-stride loop), finds their
  max, first argmax and min, and calls ``K.solve`` on the row itself. No scratch buffer is
  needed: the row kernels read only ``v[:n]`` and skip every class with ``s_c <= 0``, so
  passing ``n = C`` and the row gives the sums of ``K.collect``'s candidate buffer exactly.
* **block per row** (large C): the threads of a block stride over the columns of one row.
  Each sum of a row kernel becomes per-thread partial sums, compensated as in
  ``K.residual``, combined by a shared-memory tree; the iteration (Newton, bisection, Michelot,
  logsumexp) repeats ``K.newton``, ``K.bisect``, ``K.sparsemax`` and ``K.softmax`` step for step
  on the reduced values. Every thread computes the same scalars from the same shared slots, so
  control flow stays uniform and all threads reach every ``syncthreads``.

Logits of either float dtype are read as float64 (``float(v)``); results round once, on store.

For 1 < beta < 2, the forward kernels refine the root in double-double (``_refine``) on the
rows where ``_refine.refine_needed`` says the float64 root would move some q_c by more than
``config.REFINE_Q_TOL`` (the CPU's rule), and evaluate q from it, as the numba backend does.
``R`` holds CUDA device copies of ``_refine``'s functions that differ from the CPU's in one
place, the error-free product ``two_prod`` (see :func:`_device_refine`).
"""

import functools
import math
import types

from numba import cuda, float64, int64
from numba.cuda import libdevice

from . import _kernels, _refine
from .config import EDGE_MARGIN, REFINE_MAX_PASSES

if cuda.config.ENABLE_CUDASIM:
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray, FakeWithinKernelCUDAArray

    def _unwrap(a):
        if isinstance(a, FakeWithinKernelCUDAArray):
            a = a._item
        return a._ary if isinstance(a, FakeCUDAArray) else a

    class _SimulatorRowKernels:
        """Simulator only: kernels run as Python and see FakeCUDAArray views, which the CPU
        ``@njit`` row kernels cannot unbox; hand them the NumPy array underneath."""

        def __getattr__(self, name):
            f = getattr(_kernels, name)

            def call(*args):
                return f(*[_unwrap(a) for a in args])

            setattr(self, name, call)
            return call

    K = _SimulatorRowKernels()
else:
    K = _kernels


def _two_prod_fma(a, b):
    """The error-free product by a fused multiply-add: ``p + e == a * b`` exactly, ``p =
    fl(a * b)``, ``e = fma(a, b, -p)`` rounded once (exact: the error of a product is a
    double). The CUDA compiler contracts ``a*b + c`` into fmas, which breaks Dekker's split
    in ``_refine.two_prod``; ``cuda.fma`` is immune to that, and cheaper. ``p`` is formed by
    ``dmul_rn`` (PTX ``mul.rn``), which the compiler may not fuse into a later add such as
    ``quick_two_sum(p, e)``'s: that sum must see the rounded ``p``."""
    p = libdevice.dmul_rn(a, b)
    return p, cuda.fma(a, b, -p)


def _device_refine(two_prod):
    """CUDA device copies of every Numba kernel of ``_refine``, calling one another and
    ``two_prod`` in place of ``_refine.two_prod``; returned as a module (``R.refine`` ...).

    The copies share a globals dict built from ``_refine``'s, so a name resolves to its device
    copy when the kernels are compiled. On hardware ``two_prod`` is :func:`_two_prod_fma`. On
    the simulator it stays Dekker's split: there ``cuda.fma`` rounds twice (``fma(a, a,
    -(a*a))`` gives 0 for ``a = 1 + 2**-30``), while plain Python arithmetic never contracts,
    so the split is exact.
    """
    ns = dict(vars(_refine))
    names = []
    for name, obj in vars(_refine).items():
        f = getattr(obj, "py_func", None)
        if f is not None and f.__module__ == _refine.__name__:
            copy = types.FunctionType(f.__code__, ns, f.__name__, f.__defaults__, f.__closure__)
            copy.__doc__ = f.__doc__
            ns[name] = cuda.jit(device=True)(copy)
            names.append(name)
    if two_prod is not None:
        ns["two_prod"] = cuda.jit(device=True)(two_prod)
    module = types.ModuleType(f"{__name__}.R", "CUDA device copies of mgce_ref._refine")
    for name in names:  # a module: Numba types attribute access on modules, not on namespaces
        setattr(module, name, ns[name])
    return module


#: The product by the build target: Dekker's split on the simulator, an fma on hardware.
R = _device_refine(None if cuda.config.ENABLE_CUDASIM else _two_prod_fma)


@cuda.jit(device=True)
def _q_term_refined(v, vmax, x, x_lo, beta):
    """``R.q_term_dd`` for a class within ``EDGE_MARGIN`` of the support, else 0 (as the
    numba backend's refined rows)."""
    if v - vmax + x > -beta * (1.0 + EDGE_MARGIN):
        return R.q_term_dd(v, vmax, x, x_lo, beta)
    return 0.0


# --------------------------------------------------------------------------- thread per row

@cuda.jit(device=True)
def _row_stats(row):
    """``(m, vmax, vmin)``: the first argmax, max and min of a row (``K.collect`` without the
    copy; ``m`` is then an index into the row itself)."""
    vmax = -math.inf
    vmin = math.inf
    m = 0
    for c in range(row.shape[0]):
        v = float(row[c])
        if v > vmax:
            vmax = v
            m = c
        if v < vmin:
            vmin = v
    return m, vmax, vmin


@cuda.jit
def solve_rows(h, beta, method, tol, rtol, max_iter, nu, iterations, converged):
    """Thread per row: the shifted root of eq. 13 by ``K.solve``, shifted back to ``nu``."""
    B, C = h.shape
    lo = K.base(C, beta)
    for r in range(cuda.grid(1), B, cuda.gridsize(1)):
        row = h[r]
        m, vmax, vmin = _row_stats(row)
        x, it, ok = K.solve(row, C, m, vmax, vmin, lo, beta, method, tol, rtol, max_iter)
        nu[r] = x - vmax
        iterations[r] = it
        converged[r] = ok


@cuda.jit
def forward_rows(h, labels, beta, rtol, q_tol, max_iter, nu, p, q, loss, grad):
    """Thread per row: one solve (``tol=None``, Newton's ``rtol``), then each wanted output
    (eqs. 14, 17, 22, 23); unwanted outputs are passed with 0 rows, as in the CPU
    ``_forward_batch``. q (and grad) come from the double-double root on the rows where
    ``R.refine_needed`` asks for it at ``q_tol``."""
    B, C = h.shape
    lo = K.base(C, beta)
    for r in range(cuda.grid(1), B, cuda.gridsize(1)):
        row = h[r]
        m, vmax, vmin = _row_stats(row)
        x = K.solve(row, C, m, vmax, vmin, lo, beta, 0, 0.0, rtol, max_iter)[0]
        if nu.shape[0] == B:
            nu[r] = x - vmax
        if p.shape[0] == B:
            for c in range(C):
                p[r, c] = K.p_term(float(row[c]) - vmax, x, beta)
        if q.shape[0] == B or grad.shape[0] == B:
            x_lo = 0.0
            refined = R.refine_needed(row, C, vmax, x, beta, q_tol, row[:0], -rtol * x)
            if refined:
                x_lo = R.refine(row, C, m, vmax, x, beta)
                total = 0.0
                comp = 0.0
                for c in range(C):
                    total, comp = K.add(total, comp,
                                        _q_term_refined(float(row[c]), vmax, x, x_lo, beta))
                total += comp
            else:
                total = K.q_total(row, C, m, vmax, x, beta)
            for c in range(C):
                if refined:
                    qc = _q_term_refined(float(row[c]), vmax, x, x_lo, beta) / total
                else:
                    qc = K.q_term(float(row[c]) - vmax, x, beta) / total
                if q.shape[0] == B:
                    q[r, c] = qc
                if grad.shape[0] == B:
                    grad[r, c] = qc
            if grad.shape[0] == B:
                grad[r, labels[r]] -= 1.0  # after the store, as on the CPU (same rounding)
        if loss.shape[0] == B:
            loss[r] = -((float(row[labels[r]]) - vmax) + x)


# ---------------------------------------------------------------------------- block per row

@cuda.jit(device=True)
def _tree_sum(f, comp, d, sf, sc, sd):
    """Block-wide ``(f + comp, d)`` from per-thread partials: a compensated sum ``(f, comp)``
    and a plain sum ``d``, combined pairwise in shared memory (blockDim a power of two)."""
    t = cuda.threadIdx.x
    sf[t] = f
    sc[t] = comp
    sd[t] = d
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            a, b = K.add(sf[t], sc[t], sf[t + s])
            sf[t] = a
            sc[t] = b + sc[t + s]
            sd[t] += sd[t + s]
        cuda.syncthreads()
        s //= 2
    total = sf[0] + sc[0]
    dsum = sd[0]
    cuda.syncthreads()  # every thread has read slot 0 before the slots are reused
    return total, dsum


@cuda.jit(device=True)
def _tree_min(value, s):
    """Block-wide minimum of the threads' ``value`` in the shared slots ``s``."""
    t = cuda.threadIdx.x
    s[t] = value
    cuda.syncthreads()
    h = cuda.blockDim.x // 2
    while h > 0:
        if t < h:
            s[t] = min(s[t], s[t + h])
        cuda.syncthreads()
        h //= 2
    out = s[0]
    cuda.syncthreads()
    return out


@cuda.jit(device=True)
def _block_stats(row, sv, sw, si):
    """Block-wide ``(m, vmax, vmin)``; ties in the max go to the lowest index (first max)."""
    t = cuda.threadIdx.x
    vmax = -math.inf
    vmin = math.inf
    m = row.shape[0]
    for c in range(t, row.shape[0], cuda.blockDim.x):
        v = float(row[c])
        if v > vmax:
            vmax = v
            m = c
        if v < vmin:
            vmin = v
    sv[t] = vmax
    sw[t] = vmin
    si[t] = m
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            o = t + s
            if sv[o] > sv[t] or (sv[o] == sv[t] and si[o] < si[t]):
                sv[t] = sv[o]
                si[t] = si[o]
            if sw[o] < sw[t]:
                sw[t] = sw[o]
        cuda.syncthreads()
        s //= 2
    m = si[0]
    vmax = sv[0]
    vmin = sw[0]
    cuda.syncthreads()
    return m, vmax, vmin


@cuda.jit(device=True)
def _residual(row, m, vmax, x, beta, ipow, plain, sf, sc, sd):
    """``K.residual`` over the block: ``(f(x), f'(x), curv, zmin)`` of eq. 13, from the same
    per-class ``K.any_residual_term``, combined by shared-memory trees."""
    f = 0.0
    comp = 0.0
    d = 0.0
    dcomp = 0.0
    curv = 0.0
    zmin = 0.0
    for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
        z = float(row[c]) - vmax
        if z + x > -beta:
            term, dq = K.any_residual_term(z, x, beta, c == m, ipow, plain)
            f, comp = K.add(f, comp, term)
            d, dcomp = K.add(d, dcomp, dq)
            curv += dq / (1.0 + (z + x) / beta)
            zmin = min(zmin, z)
    f, d = _tree_sum(f, comp, d + dcomp, sf, sc, sd)
    return f, d, _tree_sum(curv, 0.0, 0.0, sf, sc, sd)[0], _tree_min(zmin, sd)


@cuda.jit(device=True)
def _newton(row, m, vmax, vmin, beta, tol, rtol, max_iter, sf, sc, sd):
    """``K.newton`` with the block residual: monotone Newton on ``||[s]_+||_beta - 1``."""
    lo = K.base(row.shape[0], beta)
    hi = lo - (vmin - vmax)
    if not hi < 0.0:
        hi = 0.0
    x = _newton_start(row, vmax, beta, sf, sc, sd)
    if not x < hi:
        x = hi
    halley = True
    after = False
    ipow = K.short_power(beta)
    for it in range(1, max_iter + 1):
        plain = ipow > 0 and tol <= 0.0 and K.plain_powers(beta, rtol, x)
        f, d, curv, zmin = _residual(row, m, vmax, x, beta, ipow, plain, sf, sc, sd)
        if f <= 0.0 and not (after and f < 0.0):
            if it == 1 and x < hi:  # see K.newton_pruned
                x = hi
                continue
            return x, it, True
        x, stop = K.newton_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley,
                                row.shape[0])
        after = halley
        halley = False
        if stop:
            return x, it, True
    return x, max_iter, False


@cuda.jit(device=True)
def _bisect(row, m, vmax, vmin, beta, tol, max_iter, sf, sc, sd):
    """``K.bisect`` with the block residual: eq. 26 bracket, width ``tol`` or machine precision."""
    lo = K.base(row.shape[0], beta)
    hi = lo - (vmin - vmax)
    ipow = K.short_power(beta)
    if tol > 0.0:
        if math.isinf(hi):
            hi = 0.0
        for it in range(max_iter):
            if hi - lo <= tol:
                return 0.5 * (lo + hi), it, True
            mid = 0.5 * (lo + hi)
            if _residual(row, m, vmax, mid, beta, ipow, False, sf, sc, sd)[0] > 0.0:
                hi = mid
            else:
                lo = mid
        return 0.5 * (lo + hi), max_iter, hi - lo <= tol
    if not hi < 0.0:
        hi = 0.0
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
        if _residual(row, m, vmax, -y, beta, ipow, False, sf, sc, sd)[0] > 0.0:
            a = y
        else:
            b = y
    return -0.5 * (a + b), max_iter, False


@cuda.jit(device=True)
def _threshold(row, vmax, mass, floor, sf, sc, sd):
    """``K.threshold`` over the block (stops when the set no longer shrinks); the support size
    is summed as a float (exact below 2**53). It keeps the last pass that finds the set
    unchanged, which ``K.threshold`` skips (that needs a block minimum): the same ``tau`` and
    ``k``, one more pass counted."""
    k_prev = row.shape[0] + 1.0
    tau = -mass
    it = 0
    while True:
        it += 1
        s = 0.0
        comp = 0.0
        k = 0.0
        for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
            z = float(row[c]) - vmax
            if z > tau and z > floor:
                k += 1.0
                s, comp = K.add(s, comp, z)
        total, k = _tree_sum(s, comp, k, sf, sc, sd)
        if k >= k_prev:
            return tau, k_prev, it
        tau = (total - mass) / k
        k_prev = k


@cuda.jit(device=True)
def _sparsemax(row, vmax, sf, sc, sd):
    """``K.sparsemax`` over the block."""
    tau, _, it = _threshold(row, vmax, 1.0, -math.inf, sf, sc, sd)
    return -(1.0 + tau), it


@cuda.jit(device=True)
def _newton_start(row, vmax, beta, sf, sc, sd):
    """``K.newton_start`` over the block."""
    tau, k, _ = _threshold(row, vmax, 1.0, -beta, sf, sc, sd)
    if k == 1.0:
        return K.tangent_start(tau, tau, 0.0, beta)
    mass, one_minus_a = K.tangent_mass(k, beta)
    return K.tangent_start(tau, _threshold(row, vmax, mass, -beta, sf, sc, sd)[0], one_minus_a,
                           beta)


@cuda.jit(device=True)
def _softmax(row, m, vmax, sf, sc, sd):
    """``K.softmax`` over the block: ``-log1p`` of the compensated sum of the non-max terms."""
    s = 0.0
    comp = 0.0
    for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
        if c != m:
            s, comp = K.add(s, comp, math.exp(float(row[c]) - vmax))
    return -math.log1p(_tree_sum(s, comp, 0.0, sf, sc, sd)[0])


@cuda.jit(device=True)
def _solve(row, m, vmax, vmin, beta, method, tol, rtol, max_iter, sf, sc, sd):
    """``K.solve`` over the block: closed forms, Newton (method 0) or bisection (1)."""
    if method == 0:
        if beta == 1.0:
            x, it = _sparsemax(row, vmax, sf, sc, sd)
            return x, it, True
        if math.isinf(beta):
            return _softmax(row, m, vmax, sf, sc, sd), 1, True
        return _newton(row, m, vmax, vmin, beta, tol, rtol, max_iter, sf, sc, sd)
    return _bisect(row, m, vmax, vmin, beta, tol, max_iter, sf, sc, sd)


@cuda.jit(device=True)
def _q_total(row, vmax, x, beta, sf, sc, sd):
    """``K.q_total`` over the block: the normalizer of eq. 17."""
    s = 0.0
    comp = 0.0
    for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
        s, comp = K.add(s, comp, K.q_term(float(row[c]) - vmax, x, beta))
    return _tree_sum(s, comp, 0.0, sf, sc, sd)[0]


@cuda.jit(device=True)
def _q_total_refined(row, vmax, x, x_lo, beta, sf, sc, sd):
    """The normalizer of eq. 17 from the double-double root, over the block."""
    s = 0.0
    comp = 0.0
    for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
        s, comp = K.add(s, comp, _q_term_refined(float(row[c]), vmax, x, x_lo, beta))
    return _tree_sum(s, comp, 0.0, sf, sc, sd)[0]


@cuda.jit(device=True)
def _tree_dd(hi, lo, sf, sc):
    """Block-wide double-double sum of the threads' ``(hi, lo)`` by ``R.dd_add``."""
    t = cuda.threadIdx.x
    sf[t] = hi
    sc[t] = lo
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            a, b = R.dd_add(sf[t], sc[t], sf[t + s], sc[t + s])
            sf[t] = a
            sc[t] = b
        cuda.syncthreads()
        s //= 2
    hi = sf[0]
    lo = sc[0]
    cuda.syncthreads()
    return hi, lo


@cuda.jit(device=True)
def _refine_needed(row, vmax, x, beta, q_tol, x_err, sf, sc, sd):
    """``R.refine_needed`` (without ``w``) over the block: the sum of the ``w_c`` and a count
    of the classes at the edge within rounding by a tree, the largest ``w_c beta / a`` as
    minus the minimum of its negatives."""
    if not (1.0 < beta < 2.0):
        return False
    dt = 2.0**-52 * beta + x_err
    total = 0.0
    worst = 0.0
    at_edge = 0.0
    for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
        a = (beta + (float(row[c]) - vmax)) + x  # beta * s_c to ~dt
        if a <= -2.0 * dt:
            continue
        if a <= 2.0 * dt:  # at the edge within rounding: only double-double can tell
            at_edge += 1.0
            continue
        wc = math.exp((beta - 1.0) * math.log(a / beta))
        total += wc
        worst = max(worst, wc * beta / a)
    total, at_edge = _tree_sum(total, 0.0, at_edge, sf, sc, sd)
    worst = -_tree_min(-worst, sd)
    return at_edge > 0.0 or (beta - 1.0) * worst * dt > q_tol * beta * total


@cuda.jit(device=True)
def _refine_block(row, m, vmax, x, beta, sf, sc, sd):
    """``R.refine`` over the block: each pass sums ``R.residual_dd_term`` of the threads'
    columns, combines them by trees, and takes ``R.refine_next``'s step, the same in every
    thread (so all threads leave the loop together)."""
    if math.isinf(beta) or not x == x:
        return 0.0
    x_lo = 0.0
    for _ in range(REFINE_MAX_PASSES):
        fh = 0.0
        fl = 0.0
        d1 = 0.0
        d2 = 0.0
        d3 = 0.0
        edge = math.inf
        for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
            ph, pl, w1, w2, w3, e = R.residual_dd_term(float(row[c]), vmax, x, x_lo, beta,
                                                       c == m)
            edge = min(edge, e)
            if w1 > 0.0:
                fh, fl = R.dd_add(fh, fl, ph, pl)
                d1 += w1
                d2 += w2
                d3 += w3
        fh, fl = _tree_dd(fh, fl, sf, sc)
        d1, d2 = _tree_sum(d1, 0.0, d2, sf, sc, sd)
        d3 = _tree_sum(d3, 0.0, 0.0, sf, sc, sd)[0]
        edge = _tree_min(edge, sd)
        x_lo, status = R.refine_next(fh, fl, d1, d2, d3, edge, x_lo, beta)
        if status:
            break
    return x_lo


@functools.cache
def block_kernels(tpb):
    """``(solve_blocks, forward_blocks)`` for blocks of ``tpb`` threads, a power of two (the
    shared-memory slots are sized at compile time)."""

    @cuda.jit
    def solve_blocks(h, beta, method, tol, rtol, max_iter, nu, iterations, converged):
        """Block per row: as ``solve_rows``."""
        sf = cuda.shared.array(tpb, float64)
        sc = cuda.shared.array(tpb, float64)
        sd = cuda.shared.array(tpb, float64)
        si = cuda.shared.array(tpb, int64)
        for r in range(cuda.blockIdx.x, h.shape[0], cuda.gridDim.x):
            row = h[r]
            m, vmax, vmin = _block_stats(row, sf, sd, si)
            x, it, ok = _solve(row, m, vmax, vmin, beta, method, tol, rtol, max_iter, sf, sc,
                               sd)
            if cuda.threadIdx.x == 0:
                nu[r] = x - vmax
                iterations[r] = it
                converged[r] = ok

    @cuda.jit
    def forward_blocks(h, labels, beta, rtol, q_tol, max_iter, nu, p, q, loss, grad):
        """Block per row: as ``forward_rows``; the threads split the columns of each output."""
        sf = cuda.shared.array(tpb, float64)
        sc = cuda.shared.array(tpb, float64)
        sd = cuda.shared.array(tpb, float64)
        si = cuda.shared.array(tpb, int64)
        B, C = h.shape
        t = cuda.threadIdx.x
        for r in range(cuda.blockIdx.x, B, cuda.gridDim.x):
            row = h[r]
            m, vmax, vmin = _block_stats(row, sf, sd, si)
            x = _solve(row, m, vmax, vmin, beta, 0, 0.0, rtol, max_iter, sf, sc, sd)[0]
            if t == 0 and nu.shape[0] == B:
                nu[r] = x - vmax
            if t == 0 and loss.shape[0] == B:
                loss[r] = -((float(row[labels[r]]) - vmax) + x)
            if p.shape[0] == B:
                for c in range(t, C, tpb):
                    p[r, c] = K.p_term(float(row[c]) - vmax, x, beta)
            if q.shape[0] == B or grad.shape[0] == B:
                x_lo = 0.0
                refined = _refine_needed(row, vmax, x, beta, q_tol, -rtol * x, sf, sc, sd)
                if refined:
                    x_lo = _refine_block(row, m, vmax, x, beta, sf, sc, sd)
                    total = _q_total_refined(row, vmax, x, x_lo, beta, sf, sc, sd)
                else:
                    total = _q_total(row, vmax, x, beta, sf, sc, sd)
                for c in range(t, C, tpb):
                    if refined:
                        qc = _q_term_refined(float(row[c]), vmax, x, x_lo, beta) / total
                    else:
                        qc = K.q_term(float(row[c]) - vmax, x, beta) / total
                    if q.shape[0] == B:
                        q[r, c] = qc
                    if grad.shape[0] == B:
                        grad[r, c] = qc
                        if c == labels[r]:
                            grad[r, c] -= 1.0  # after the store, as on the CPU

    return solve_blocks, forward_blocks


# ------------------------------------------------------------------------ device validation

@cuda.jit
def first_nonfinite(h, bad):
    """``bad[0] = min(bad[0], flat index of the first NaN/inf in h)``."""
    B, C = h.shape
    for k in range(cuda.grid(1), B * C, cuda.gridsize(1)):
        r = k // C
        v = h[r, k - r * C]
        if math.isinf(v) or math.isnan(v):
            cuda.atomic.min(bad, 0, k)


@cuda.jit
def first_bad_label(labels, n_classes, bad):
    """``bad[0] = min(bad[0], first row whose label lies outside [0, n_classes))``."""
    for r in range(cuda.grid(1), labels.shape[0], cuda.gridsize(1)):
        y = labels[r]
        if y < 0 or y >= n_classes:
            cuda.atomic.min(bad, 0, r)
