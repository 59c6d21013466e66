"""What the results say: target ratios, solver iterations against beta, where numba's time goes,
and the printed tables. Everything reads the JSON rows, so the CLI, the plots and a reader of a
saved file compute the same numbers.
"""

import functools
import math

import numpy as np

from .cases import HEADLINE, TARGET_BETA, beta_json, beta_str

#: Betas of the iteration sweep (1 and inf are the closed forms for Newton).
ITER_BETAS = (1.0, 1.001, 1.02, 1.1, 1.4, 2.0, 3.0, 5.0, 11.0, 30.0, 100.0, 1e3, 1e4, 1e5, 1e6,
              math.inf)
#: (method, tol) pairs of the sweep: ours, machine-precision bisection, MRCpy's rule.
SOLVERS = (("newton", None), ("bisect", None), ("bisect", 1e-4))
TARGET_SPEEDUP = 30.0  # numba loss_and_grad over MRCpy get_gradient, at least
TARGET_SOFTMAX = 8.0  # numba loss_and_grad over one torch.softmax pass, at most
TARGET_SMALL = 3.0  # numba's ops over one F.cross_entropy forward at the small batches, at most


def _index(rows):
    return {(r["backend"], r["op"], r["B"], r["C"], r["beta"], r["dtype"]): r["seconds"] for r in rows}


def ratios(rows):
    """Per (B, C, beta, dtype) where numba ``loss_and_grad`` ran: its seconds, the speed-up
    over MRCpy's ``get_gradient`` and its cost in torch / NumPy softmax passes."""
    t = _index(rows)
    out = []
    for (backend, op, B, C, beta, dtype), sec in sorted(t.items(), key=lambda kv: str(kv[0])):
        if (backend, op) != ("numba", "loss_and_grad"):
            continue
        mrcpy = t.get(("mrcpy_torch", "loss_and_grad", B, C, beta, dtype))
        st = t.get(("softmax", "softmax_torch", B, C, "inf", dtype))
        sn = t.get(("softmax", "softmax_numpy", B, C, "inf", dtype))
        out.append({"B": B, "C": C, "beta": beta, "dtype": dtype, "numba_seconds": sec,
                    "speedup_vs_mrcpy": mrcpy / sec if mrcpy else None,
                    "softmax_torch_passes": sec / st if st else None,
                    "softmax_numpy_passes": sec / sn if sn else None})
    return out


def targets(ratio_rows, interleaved=()):
    """The issue's targets at the headline sizes: ``[(text, measured, met), ...]``, from the
    interleaved head-to-head measurement where there is one, else from the suite's rows."""
    out = []
    done = {(r["B"], r["C"]) for r in interleaved}
    for r in list(interleaved) + [r for r in ratio_rows if (r["B"], r["C"]) not in done]:
        if (r["B"], r["C"]) in HEADLINE and r["beta"] == beta_json(TARGET_BETA) and r["dtype"] == "float32":
            where = f"(B, C) = ({r['B']}, {r['C']}), beta = {beta_str(TARGET_BETA)}, float32"
            s, p = r["speedup_vs_mrcpy"], r["softmax_torch_passes"]
            if s is not None:
                out.append((f"numba loss_and_grad vs MRCpy get_gradient {where}: >= {TARGET_SPEEDUP:g}x faster",
                            f"{s:.1f}x", s >= TARGET_SPEEDUP))
            if p is not None:
                out.append((f"numba loss_and_grad vs torch.softmax {where}: <= {TARGET_SOFTMAX:g} passes",
                            f"{p:.1f} passes", p <= TARGET_SOFTMAX))
    return out


def head_to_head(budget=3.0, sizes=HEADLINE, beta=TARGET_BETA, dtype="float32"):
    """The targets measured in alternating rounds (``runner.measure_interleaved``): numba
    ``loss_and_grad``, MRCpy ``get_gradient`` and ``torch.softmax`` on the same logits.
    Returns one dict per size, or an empty list when torch or MRCpy is missing."""
    from .cases import Case
    from .runner import Unavailable, measure_interleaved, prepare

    out = []
    for B, C in sizes:
        try:
            fns = {key: prepare(Case(dtype, B, C, b, op, backend)).fn for key, backend, op, b in (
                ("numba", "numba", "loss_and_grad", beta),
                ("mrcpy", "mrcpy_torch", "loss_and_grad", beta),
                ("softmax_torch", "softmax", "softmax_torch", math.inf))}
        except Unavailable:
            return []
        t = measure_interleaved(fns, budget=budget)
        out.append({"B": B, "C": C, "beta": beta_json(beta), "dtype": dtype, "seconds": t,
                    "speedup_vs_mrcpy": t["mrcpy"] / t["numba"],
                    "softmax_torch_passes": t["numba"] / t["softmax_torch"]})
    return out


def small_batch(budget=1.0):
    """The small-batch target in alternating rounds (``runner.measure_interleaved``): each of
    numba's ops (``cases.SMALL_OPS``) at the paper's batch sizes (``cases.SMALL``) and betas,
    against ``torch.nn.functional.cross_entropy`` (forward) on the same float32 logits.
    Returns one dict per (B, C, beta), or an empty list when torch is missing."""
    from .cases import SMALL, SMALL_BETAS, SMALL_OPS, Case
    from .runner import Unavailable, measure_interleaved, prepare

    out = []
    for B, C in SMALL:
        for beta in SMALL_BETAS:
            try:
                fns = {"cross_entropy": prepare(Case("float32", B, C, math.inf, "cross_entropy",
                                                     "torch_ce")).fn}
            except Unavailable:
                return []
            for op in SMALL_OPS:
                fns[op] = prepare(Case("float32", B, C, beta, op, "numba")).fn
            t = measure_interleaved(fns, budget=budget)
            out.append({"B": B, "C": C, "beta": beta_json(beta), "dtype": "float32", "seconds": t,
                        "vs_cross_entropy": {op: t[op] / t["cross_entropy"] for op in SMALL_OPS}})
    return out


def small_targets(rows):
    """``[(text, measured, met), ...]`` of the small-batch target, from :func:`small_batch`."""
    out = []
    for r in rows:
        for op, ratio in r["vs_cross_entropy"].items():
            out.append((f"numba {op} vs F.cross_entropy at (B, C) = ({r['B']}, {r['C']}), "
                        f"beta = {beta_str(r['beta'] if r['beta'] != 'inf' else math.inf)}, "
                        f"float32: <= {TARGET_SMALL:g}x", f"{ratio:.2f}x", ratio <= TARGET_SMALL))
    return out


# ----------------------------------------------------------------------------- solver work


def iterations(sizes=HEADLINE, betas=ITER_BETAS, dtype="float32", rows=1024):
    """Residual evaluations per row of numba's solvers against beta, on the first ``rows``
    rows of the bench logits (counts are per row: more rows would only cost time)."""
    import mgce_ref

    from .runner import inputs

    out = []
    for B, C in sizes:
        h = inputs(B, C, dtype)[0][:rows]
        for beta in betas:
            for method, tol in SOLVERS:
                _, info = mgce_ref.solve_nu(h, beta, method=method, tol=tol, full_output=True)
                it = info.iterations
                out.append({"B": B, "C": C, "beta": beta_json(beta), "dtype": dtype,
                            "method": method, "tol": tol, "mean": float(it.mean()),
                            "max": int(it.max()), "converged": bool(info.converged.all())})
    return out


@functools.lru_cache(maxsize=1)
def _collect_kernel():
    """A prange batch running only the candidate pass on every row, as the numba backend runs
    it (``_kernels.collect``, or ``collect_wide`` for rows of ``config.DENSE_MIN`` classes;
    a row that it copies whole for the SIMD path counts all its classes)."""
    from numba import njit, prange

    from .. import _kernels as K
    from ..config import DENSE_MIN, LANES, ROWS_PER_CHUNK

    @njit(parallel=True, cache=False)
    def collect_batch(h, beta, counts):
        B, C = h.shape
        for k in prange((B + ROWS_PER_CHUNK - 1) // ROWS_PER_CHUNK):
            buf = np.empty(C + LANES)
            idx = np.empty(C + LANES, np.int64)
            swap = K.takes_wide(C, beta, 0)
            for r in range(k * ROWS_PER_CHUNK, min(B, (k + 1) * ROWS_PER_CHUNK)):
                if C >= DENSE_MIN:
                    counts[r] = K.collect_wide(h[r], beta, buf, idx, swap)[0]
                else:
                    counts[r] = K.collect(h[r], beta, buf, idx)[0]

    return collect_batch


def profile(sizes=HEADLINE, betas=(1.0, 1.02, TARGET_BETA, 2.0, 11.0, 100.0, math.inf),
            dtype="float32", budget=0.5):
    """Where numba's ``loss_and_grad`` time goes, per (B, C, beta), from one interleaved
    measurement (``runner.measure_interleaved``) of: input validation (``_validate.logits`` as
    the numba backend calls it: shapes and dtypes; the candidate pass checks finiteness), the
    candidate pass alone (:func:`_collect_kernel`),
    ``solve_nu`` and ``loss_and_grad``. Reported: validation, candidate pass, solve (``nu``
    minus both), output pass (``loss_and_grad`` minus ``nu``), with the mean number of
    candidate classes and of Newton residual evaluations per row, and the path the rows take
    (``"rows"``, or ``"blocks"``: ``_blocks``, which has no candidate pass, its rows loaded in
    its solve; the candidate pass is then reported as 0 and the count as every class)."""
    import mgce_ref

    from .. import _blocks, _validate
    from .runner import inputs, measure_interleaved

    kernel = _collect_kernel()
    out = []
    for B, C in sizes:
        h, y = inputs(B, C, dtype)
        counts = np.empty(B, np.int64)
        for beta in betas:
            kernel(h, beta, counts)  # compile, and count the candidates
            fns = {"validate": lambda h=h: _validate.logits(h, check_finite=False),
                   "candidate_pass": lambda h=h, b=beta, n=counts: kernel(h, b, n),
                   "nu": lambda h=h, b=beta: mgce_ref.solve_nu(h, b),
                   "loss_and_grad": lambda h=h, y=y, b=beta: mgce_ref.loss_and_grad(h, y, b)}
            blocks = bool(_blocks.takes_blocks(C, beta, 0, 0.0))
            if blocks:
                del fns["candidate_pass"]
            t = measure_interleaved(fns, budget=budget)
            if blocks:
                t["candidate_pass"] = 0.0
            _, info = mgce_ref.solve_nu(h, beta, full_output=True)
            out.append({"B": B, "C": C, "beta": beta_json(beta), "dtype": dtype,
                        "path": "blocks" if blocks else "rows",
                        "candidates_mean": float(C if blocks else counts.mean()),
                        "iterations_mean": float(info.iterations.mean()),
                        "validate": t["validate"], "candidate_pass": t["candidate_pass"],
                        "solve": max(t["nu"] - t["candidate_pass"] - t["validate"], 0.0),
                        "output_pass": max(t["loss_and_grad"] - t["nu"], 0.0),
                        "nu": t["nu"], "loss_and_grad": t["loss_and_grad"]})
    return out


def from_pytest_benchmark(saved):
    """Our JSON dict from a ``pytest bench/ --benchmark-json`` file: each benchmark's
    ``extra_info`` holds its row, its fastest round (``stats.min``) its seconds."""
    mi = saved.get("machine_info", {})
    cpu = mi.get("cpu", {})
    machine = {"cpu": cpu.get("brand_raw") or mi.get("processor") or "unknown CPU",
               "cores": cpu.get("count"), "python": mi.get("python_version"),
               "numpy": None, "numba": None, "torch": None, "torch_threads": None,
               "date": saved.get("datetime")}
    rows = []
    for b in saved.get("benchmarks", []):
        row = dict(b["extra_info"])
        row["seconds"] = b["stats"]["min"]
        rows.append({k: row[k] for k in ("backend", "op", "B", "C", "beta", "dtype", "seconds",
                                          "max_abs_err")})
    rat = ratios(rows)
    return {"machine": machine, "suite": "pytest-benchmark", "results": rows, "skipped": [],
            "over_tolerance": [], "ratios": rat, "iterations": [], "profile": [],
            "targets": [{"target": t, "measured": m, "met": ok} for t, m, ok in targets(rat)]}


# ----------------------------------------------------------------------------- tables


def fmt_seconds(s):
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def results_table(rows):
    """One line per row, grouped by logits (dtype, B, C) then beta, fastest first."""
    header = (f"{'dtype':8} {'B':>7} {'C':>6} {'beta':>6}  {'backend':14} {'op':14} "
              f"{'time':>10} {'max_abs_err':>11}")
    lines = [header]
    for r in sorted(rows, key=lambda r: (r["dtype"], r["B"], r["C"], str(r["beta"]), r["seconds"])):
        lines.append(f"{r['dtype']:8} {r['B']:>7} {r['C']:>6} {r['beta']!s:>6}  {r['backend']:14} "
                     f"{r['op']:14} {fmt_seconds(r['seconds']):>10} {r['max_abs_err']:>11.2e}")
    return "\n".join(lines)


def ratios_table(ratio_rows):
    header = (f"{'dtype':8} {'B':>7} {'C':>6} {'beta':>6}  {'numba l&g':>10} {'vs MRCpy':>9} "
              f"{'torch softmax passes':>21} {'numpy softmax passes':>21}")
    lines = [header]

    def f(v, spec):
        return "-" if v is None else format(v, spec)

    for r in sorted(ratio_rows, key=lambda r: (r["dtype"], r["C"], r["B"], str(r["beta"]))):
        lines.append(f"{r['dtype']:8} {r['B']:>7} {r['C']:>6} {r['beta']!s:>6}  "
                     f"{fmt_seconds(r['numba_seconds']):>10} {f(r['speedup_vs_mrcpy'], '.1f'):>8}x "
                     f"{f(r['softmax_torch_passes'], '.1f'):>21} {f(r['softmax_numpy_passes'], '.1f'):>21}")
    return "\n".join(lines)
