"""Build, check, then time each competitor: the code both ``mgce-ref bench`` and ``bench/`` run.

For every :class:`~mgce_ref.benchmark.cases.Case`, :func:`prepare` makes seeded logits
(``3 * N(0, 1)``, the same values in float32 and float64), builds a zero-argument callable
doing the work as a user would call it, runs it once (the warm-up: Numba compilation and
torch's first call stay out of the timings) and compares that output with the exact solver
(``backend="exact"``: brentq in float64 plus a last-bit polish, itself checked against a
50-digit mpmath solve in the tests) on up to 16 rows spread over the batch. Only then is it
timed, by :func:`measure` here or by pytest-benchmark in ``bench/``.

What is compared: ``loss_and_grad`` the per-sample gradient ``q - e_y`` (MRCpy's
``get_gradient`` returns the batch mean, multiplied back by B), ``link`` the
probabilities ``p`` (eq. 14), ``nu`` the root of eq. 13, the softmax rows the beta = inf
link. A competitor that raises or returns NaN/inf is reported as skipped with the reason.
"""

import functools
import gc
import importlib
import importlib.metadata
import math
import os
import platform
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..config import TOLERANCE
from .cases import OPS

SEED = 20260
CHECK_ROWS = 16  # rows compared with the exact solver (the exact solver is a Python loop)


class Unavailable(Exception):
    """This competitor cannot run here (a missing package, no GPU, an error, NaN output)."""


class Prepared(NamedTuple):
    fn: Callable[[], object]  # the timed call
    max_abs_err: float  # against the exact solver, on the checked rows
    tolerance: float | None  # mgce_ref's own accuracy target, None for peers

    @property
    def ok(self):
        return self.tolerance is None or self.max_abs_err <= self.tolerance


# ----------------------------------------------------------------------------- inputs


@functools.lru_cache(maxsize=6)
def inputs(B, C, dtype):
    """Seeded logits ``3 * N(0, 1)`` of shape (B, C) in ``dtype`` and labels in [0, C)."""
    rng = np.random.default_rng([SEED, B, C])
    h = (3.0 * rng.standard_normal((B, C))).astype(dtype)
    y = rng.integers(0, C, size=B)
    # Shared by every competitor and left writeable (as a user's arrays are: Numba compiles a
    # separate specialization for read-only ones); no competitor writes to its input.
    return h, y


def check_rows(B, C):
    n = min(B, CHECK_ROWS if C < 10_000 else CHECK_ROWS // 2)
    return np.unique(np.linspace(0, B - 1, n).round().astype(np.int64))


@functools.lru_cache(maxsize=64)
def reference(B, C, dtype, beta, quantity):
    """``(rows, exact values)`` of "grad", "link" or "nu" on the checked rows, in float64."""
    import mgce_ref

    h, y = inputs(B, C, dtype)
    rows = check_rows(B, C)
    h64 = h[rows].astype(np.float64)  # the very values the competitor sees
    if quantity == "grad":
        return rows, mgce_ref.grad(h64, y[rows], beta, backend="exact")
    if quantity == "link":
        return rows, mgce_ref.link(h64, beta, backend="exact")
    if quantity == "worst_case":
        return rows, mgce_ref.worst_case(h64, beta, backend="exact")
    if quantity == "loss":
        return rows, mgce_ref.loss(h64, y[rows], beta, backend="exact")
    return rows, mgce_ref.solve_nu(h64, beta, backend="exact")


# ----------------------------------------------------------------------------- competitors


def torch_threads():
    """Threads given to torch: as many as Numba uses, so both get the same cores."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def _torch():
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        raise Unavailable("torch is not installed (pip install torch==2.13.0)") from None
    if torch.get_num_threads() != torch_threads():
        torch.set_num_threads(torch_threads())
    return torch


def cuda_status():
    """``(available, reason)``: does ``mgce_ref.cuda_backend`` report a usable GPU?"""
    try:
        mod = importlib.import_module("mgce_ref.cuda_backend")
    except ImportError as exc:
        return False, f"mgce_ref.cuda_backend cannot be imported ({exc})"
    probe = getattr(mod, "is_available", None)
    try:
        if probe is not None:
            return (True, "") if probe() else (False, "no CUDA GPU")
        mod.require_available()
        return True, ""
    except Exception as exc:  # noqa: BLE001  (whatever it raises, its message says why)
        return False, str(exc) or "no CUDA GPU"


def _numpy_softmax(h):
    """The NumPy floor: one max, one exp, one sum, one divide per row."""
    e = np.exp(h - h.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _own(case, h, y):
    import mgce_ref

    if case.backend == "cuda":
        ok, why = cuda_status()
        if not ok:
            raise Unavailable(why)
    kw = {"backend": case.backend}
    if case.op == "loss_and_grad":
        return (lambda: mgce_ref.loss_and_grad(h, y, case.beta, **kw)), (lambda out: out[1]), "grad"
    if case.op == "link":
        return (lambda: mgce_ref.link(h, case.beta, **kw)), np.asarray, "link"
    if case.op == "worst_case":
        return (lambda: mgce_ref.worst_case(h, case.beta, **kw)), np.asarray, "worst_case"
    return (lambda: mgce_ref.solve_nu(h, case.beta, **kw)), np.asarray, "nu"


def _peer(case, h, y):
    from .. import peers

    torch = _torch()
    ht, yt = torch.from_numpy(h), torch.from_numpy(y)
    if case.backend == "mrcpy_torch":
        try:
            ops = peers.mrcpy_torch_ops(case.C, case.beta)
        except ImportError as exc:
            raise Unavailable(str(exc)) from None
        if case.op == "loss_and_grad":
            grad_fn = ops["get_gradient"]
            # get_gradient returns the batch mean: B * it is the per-sample gradient.
            return (lambda: grad_fn(ht, yt)), (lambda out: out[0].numpy() * case.B), "grad"
        probs_fn = ops["get_probs"]
        return (lambda: probs_fn(ht)), (lambda out: out.numpy()), "link"
    if case.backend == "torch_ce":  # per-sample losses: checked against the beta = inf loss
        ce = torch.nn.functional.cross_entropy
        return (lambda: ce(ht, yt, reduction="none")), (lambda out: out.numpy()), "loss"
    if case.backend == "entmax_bisect":
        try:
            op = peers.entmax_torch_op(case.beta)
        except ImportError as exc:
            raise Unavailable(str(exc)) from None
        return (lambda: op(ht)), (lambda out: out.numpy()), "link"
    return (lambda: torch.softmax(ht, dim=-1)), (lambda out: out.numpy()), "link"


def build(case):
    """``(fn, extract, quantity)``: the timed call, how to read its output as NumPy, and
    which exact quantity it is compared with."""
    if case.op not in OPS.get(case.backend, ()):
        raise ValueError(f"backend {case.backend!r} has no op {case.op!r}")
    h, y = inputs(case.B, case.C, case.dtype)
    if case.backend in ("numba", "numpy", "exact", "cuda"):
        return _own(case, h, y)
    if case.op == "softmax_numpy":
        return (lambda: _numpy_softmax(h)), np.asarray, "link"
    return _peer(case, h, y)


def tolerance(case, quantity):
    """mgce_ref's own accuracy target (``config.TOLERANCE``) for this output; None for peers."""
    if case.backend not in ("numba", "numpy", "exact", "cuda"):
        return None
    tol = TOLERANCE[np.dtype(case.dtype)]
    if quantity == "nu":  # nu in ulps of max(1, max|h|) of the checked rows
        h, _ = inputs(case.B, case.C, case.dtype)
        scale = max(1.0, float(np.abs(h[check_rows(case.B, case.C)]).max()))
        return tol["nu_ulps"] * float(np.finfo(case.dtype).eps) * scale
    return tol["prob"]


def prepare(case):
    """Build ``case``, run it once (warm-up) and check that output against the exact solver.

    Raises :class:`Unavailable` (with the reason) when the competitor cannot run here,
    raises an error, or returns non-finite values.
    """
    fn, extract, quantity = build(case)
    try:
        out = extract(fn())  # warm-up: JIT compilation and torch's first call happen here
    except Unavailable:
        raise
    except Exception as exc:  # noqa: BLE001  (a peer's failure is reported, not fatal)
        raise Unavailable(f"raised {type(exc).__name__}: {exc}") from None
    out = np.asarray(out)
    if not np.isfinite(out.sum(dtype=np.float64)):
        raise Unavailable("returned NaN or inf on finite logits")
    rows, exact = reference(case.B, case.C, case.dtype, case.beta, quantity)
    err = float(np.max(np.abs(out[rows].astype(np.float64) - exact)))
    return Prepared(fn, err, tolerance(case, quantity))


# ----------------------------------------------------------------------------- timing


def measure(fn, budget=0.5, round_time=0.01, min_rounds=3, max_rounds=200):
    """Seconds per call: the fastest of many short rounds (timeit's advice: on a shared
    machine the minimum is the estimate least disturbed by other processes).

    Each round repeats ``fn`` until it lasts about ``round_time``; rounds continue until
    ``budget`` seconds are spent (at least ``min_rounds``). The garbage collector is off.
    """
    best = math.inf  # the first calls estimate the cost and count as rounds of one
    for done in range(1, 4):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if best > budget / 3:
            break
    single = max(best, 1e-9)
    loops = max(1, int(round_time / single))
    rounds = int(min(max_rounds, max(min_rounds - done, budget / (loops * single))))
    enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(loops):
                fn()
            best = min(best, (time.perf_counter() - t0) / loops)
    finally:
        if enabled:
            gc.enable()
    return best


def measure_interleaved(fns, budget=2.0, round_time=0.01):
    """``{name: seconds per call}`` for several callables timed in alternating rounds, so that
    a change in the machine's load strikes them all alike: the ratios of these minima are
    steadier than ratios of separate measurements on a shared machine.

    Each round of a callable starts with one untimed call. The first call after another
    callable's round pays for thread pools that round left parked or still spinning (torch's
    and Numba's OpenMP runtimes are separate): 0.2-0.3 ms on this 2-core machine, which would
    be charged to whichever callable makes the fewest calls per round."""
    loops = {}
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        loops[name] = max(1, int(round_time / max(time.perf_counter() - t0, 1e-9)))
    best = dict.fromkeys(fns, math.inf)
    spent = 0.0
    enabled = gc.isenabled()
    gc.disable()
    try:
        rounds = 0
        while rounds < 3 or (spent < budget and rounds < 500):
            for name, fn in fns.items():
                fn()
                t0 = time.perf_counter()
                for _ in range(loops[name]):
                    fn()
                dt = time.perf_counter() - t0
                spent += dt
                best[name] = min(best[name], dt / loops[name])
            rounds += 1
    finally:
        if enabled:
            gc.enable()
    return best


def run(cases, budget=0.5, progress=None):
    """Prepare, check and time every case.

    Returns ``(rows, skipped, over)``: the result rows of the JSON schema, the skipped cases
    with their reason, and the mgce_ref rows whose error exceeds ``config.TOLERANCE``.
    ``progress(i, n, case, row_or_None, reason_or_None)`` is called after each case.
    """
    rows, skipped, over = [], [], []
    for i, case in enumerate(cases, start=1):
        try:
            prep = prepare(case)
        except Unavailable as exc:
            skip = {k: v for k, v in case.row(None, None).items() if k not in ("seconds", "max_abs_err")}
            skip["reason"] = str(exc)
            skipped.append(skip)
            if progress:
                progress(i, len(cases), case, None, str(exc))
            continue
        row = case.row(measure(prep.fn, budget=budget), prep.max_abs_err)
        rows.append(row)
        if not prep.ok:
            over.append({"case": case.id, "max_abs_err": prep.max_abs_err, "tolerance": prep.tolerance})
        if progress:
            progress(i, len(cases), case, row, None)
    return rows, skipped, over


# ----------------------------------------------------------------------------- context


def _version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def llvm_cpu():
    """The CPU as Numba's LLVM compiles for it (``znver3``, ``znver4``, ``sapphirerapids``...):
    a model name such as "AMD EPYC" covers cores with and without AVX-512, whose figures
    differ."""
    try:
        import llvmlite.binding as ll

        return ll.get_host_cpu_name()
    except Exception:  # noqa: BLE001  (a courtesy, as the GPU's name)
        return None


def machine():
    """The machine and software the numbers belong to."""
    from .._kernels import COMPRESS

    info = {
        "cpu": cpu_model(),
        "llvm_cpu": llvm_cpu(),
        "avx512": COMPRESS,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "numba_threads": torch_threads(),
        "torch_threads": torch_threads(),
    }
    from .. import __version__

    info["mgce_ref"] = __version__  # the code that ran (an editable install's metadata can lag)
    for pkg in ("numpy", "numba", "scipy", "torch", "entmax", "MRCpy", "numba-cuda"):
        info[pkg.lower().replace("-", "_")] = _version(pkg)
    ok, _ = cuda_status()
    info["gpu"] = _gpu_name() if ok else None
    return info


def _gpu_name():
    try:
        from numba import cuda

        return cuda.get_current_device().name.decode()
    except Exception:  # noqa: BLE001  (the name is a courtesy)
        return "CUDA GPU"
