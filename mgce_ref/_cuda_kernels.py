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
"""

import functools
import math

from numba import cuda, float64, int64

from . import _kernels

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
def forward_rows(h, labels, beta, rtol, max_iter, nu, p, q, loss, grad):
    """Thread per row: one solve (``tol=None``, Newton's ``rtol``), then each wanted output
    (eqs. 14, 17, 22, 23); unwanted outputs are passed with 0 rows, as in the CPU
    ``_forward_batch``."""
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
            total = K.q_total(row, C, m, vmax, x, beta)
            for c in range(C):
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
def _residual(row, m, vmax, x, beta, sf, sc, sd):
    """``K.residual`` over the block: ``(f(x), f'(x), curv, zmin)`` of eq. 13, from the same
    per-class ``K.residual_term``, combined by shared-memory trees."""
    f = 0.0
    comp = 0.0
    d = 0.0
    dcomp = 0.0
    curv = 0.0
    zmin = 0.0
    for c in range(cuda.threadIdx.x, row.shape[0], cuda.blockDim.x):
        z = float(row[c]) - vmax
        if z + x > -beta:
            term, dq, _ = K.residual_term(z, x, beta, c == m)
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
    for it in range(1, max_iter + 1):
        f, d, curv, zmin = _residual(row, m, vmax, x, beta, sf, sc, sd)
        if f <= 0.0 and not (after and f < 0.0):
            if it == 1 and x < hi:  # see K.newton_pruned
                x = hi
                continue
            return x, it, True
        x, stop = K.newton_next(f, d, curv, zmin, x, lo, beta, tol, rtol, halley)
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
    if tol > 0.0:
        if math.isinf(hi):
            hi = 0.0
        for it in range(max_iter):
            if hi - lo <= tol:
                return 0.5 * (lo + hi), it, True
            mid = 0.5 * (lo + hi)
            if _residual(row, m, vmax, mid, beta, sf, sc, sd)[0] > 0.0:
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
        if _residual(row, m, vmax, -y, beta, sf, sc, sd)[0] > 0.0:
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
    def forward_blocks(h, labels, beta, rtol, max_iter, nu, p, q, loss, grad):
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
                total = _q_total(row, vmax, x, beta, sf, sc, sd)
                for c in range(t, C, tpb):
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
