"""The paper's statements as named numerical checks (``mgce-ref verify``).

Each check sweeps rows, class counts and betas through the public API and reports one
:class:`CheckResult`: its name, the statement with its equation number, the number of cases
tried, the worst *slack* and whether it passed.

Slack convention
----------------
Every case yields a slack, a float written so that **slack >= 0 means the statement holds
there**: for an inequality ``a <= b`` the slack is ``b - a`` (scaled as the check's statement
says); for an identity ``a = b`` it is ``-|a - b|``, never positive. A check passes when its
worst (smallest) slack is at least ``-TOLERANCE[kind]``, the floating-point allowance of its
kind, and no slack is NaN. So a negative worst slack within the tolerance is rounding; one
beyond it is a violation of that size.

Modules (one per statement, each runnable alone as ``python -m mgce_ref.verify.<module>``):
``bracket`` (eq. 26), ``theorem1`` (eqs. 15-17), ``theorem2`` (eqs. 5, 18-19), ``theorem3``
(eq. 22), ``convexity`` (eq. 23), ``composite`` (Remark 1), ``corollary1``, ``limits``
(Appendix B and beta -> 1+), ``invariance``. This file stays light: modules are imported
when their checks run.
"""

import argparse
import functools
import importlib
import json
import math
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np

from ..config import TOLERANCE as _CORE_TOL

#: Floating-point allowance per kind of slack; the one place these numbers live.
TOLERANCE = {
    # nu compared in units of eps * max(1, max|h|), the core's own accuracy target.
    "nu_ulps": _CORE_TOL[np.dtype(np.float64)]["nu_ulps"],
    # two library results compared with each other (shift, permutation): each may sit
    # nu_ulps from the exact value, so they may differ by twice that.
    "pair_ulps": 2.0 * _CORE_TOL[np.dtype(np.float64)]["nu_ulps"],
    # absolute error of probabilities, gradients and q - p gaps (the core's target).
    "prob": _CORE_TOL[np.dtype(np.float64)]["prob"],
    # relative error of loss values and their bounds, in units of max(1, |value|): a few
    # roundings of -h_y - nu, of beta * expm1(log(p)/beta) and of a sum over <= 4096 classes.
    "rel": 1e-13,
    # Richardson-extrapolated central differences (steps 2**-16, 2**-17) of float64
    # functions: cancellation eps / step ~ 1e-11 times the function's scale, truncation
    # ~ step**4; measured worst ~6e-10 (theorem3, convexity), so 1e-8 leaves room.
    "fd": 1e-8,
    # |q(h*) - eta| after SciPy's BFGS: that is the gradient of the expected loss, and a
    # minimizer that compares float64 values of it stalls near sqrt(eps) ~ 1.5e-8 (measured
    # worst 1.1e-8; trust-ncg and Newton-CG do no better).
    "optimizer": 1e-7,
    # observed convergence order minus the claimed one (log-log slope fitted over 6 decades).
    "order": 0.05,
}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; ``passed`` is ``worst_slack >= -tolerance`` (see module doc)."""

    name: str
    statement: str
    cases: int
    worst_slack: float
    passed: bool
    tolerance: float
    note: str = ""
    seconds: float = 0.0

    def to_dict(self):
        d = asdict(self)
        # JSON has no inf/nan: write them as strings so the file stays standard JSON.
        for k in ("worst_slack", "tolerance"):
            if not math.isfinite(d[k]):
                d[k] = repr(d[k])
        return d


def check(name, statement, kind):
    """Decorator: a function ``f(quick) -> (slacks, note)`` becomes a check returning a
    :class:`CheckResult` judged against ``TOLERANCE[kind]``."""
    tol = TOLERANCE[kind]

    def wrap(f):
        @functools.wraps(f)
        def run(quick=False):
            t0 = time.perf_counter()
            slacks, note = f(quick)
            s = np.asarray(slacks, dtype=np.float64).ravel()
            if s.size == 0:
                raise RuntimeError(f"check {name} tried no cases")
            worst = float(np.nan if np.isnan(s).any() else s.min())
            passed = bool(worst >= -tol)  # False for NaN
            return CheckResult(name, statement, int(s.size), worst, passed, tol, note,
                               round(time.perf_counter() - t0, 3))

        run.check_name = name
        run.statement = statement
        return run

    return wrap


#: Modules holding the checks, in the order the report lists them; each has ``CHECKS``.
MODULES = ("bracket", "theorem1", "theorem2", "theorem3", "convexity", "composite",
           "corollary1", "limits", "invariance")


def all_checks():
    """Every check function, in report order (imports the check modules)."""
    out = []
    for m in MODULES:
        out.extend(importlib.import_module(f"{__name__}.{m}").CHECKS)
    return out


def run_checks(quick=False, names=None, progress=None, backend="numba"):
    """Run the checks (all, or those named) and return their :class:`CheckResult` list.

    Parameters
    ----------
    quick : bool
        The small sweep (under a minute on 2 cores once Numba's cache is warm).
    names : iterable of str or None
        Check names to run; an unknown name raises ValueError listing the valid ones.
    progress : callable or None
        Called with each result as it completes (the CLI prints rows as they come).
    backend : {"numba", "numpy", "exact", "cuda"}
        The backend whose outputs are judged ("exact" is slow: minutes even for the quick
        sweep).
    """
    from ._api import use_backend

    checks = all_checks()
    if names is not None:
        known = {c.check_name: c for c in checks}
        bad = [n for n in names if n not in known]
        if bad:
            raise ValueError(f"unknown check(s) {', '.join(map(repr, bad))}; valid checks: "
                             f"{', '.join(known)}")
        checks = [c for c in checks if c.check_name in set(names)]
    results = []
    with use_backend(backend):
        for c in checks:
            r = c(quick=quick)
            results.append(r)
            if progress is not None:
                progress(r)
    return results


def format_row(r):
    status = "pass" if r.passed else "FAIL"
    return (f"{r.name:<24} {r.cases:>8} {r.worst_slack:>11.3e} {r.tolerance:>8.1e} "
            f"{status:<4} {r.seconds:>6.1f}s  {r.statement}")


HEADER = (f"{'check':<24} {'cases':>8} {'worst slack':>11} {'tol':>8} {'':<4} {'time':>7}  "
          "statement")


def write_json(results, path):
    with open(path, "w") as fh:
        json.dump({"results": [r.to_dict() for r in results]}, fh, indent=2)
        fh.write("\n")


def report(results, stream=None, header=True):
    """Print a table of results and their notes; returns the exit status (0: all passed)."""
    stream = stream or sys.stdout
    if header:
        print(HEADER, file=stream)
        for r in results:
            print(format_row(r), file=stream)
    notes = [r for r in results if r.note]
    if notes:
        print("\nnotes:", file=stream)
        for r in notes:
            print(f"  {r.name}: {r.note}", file=stream)
    failed = [r.name for r in results if not r.passed]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""), file=stream)
    return 1 if failed else 0


def module_main(checks, argv=None):
    """``python -m mgce_ref.verify.<module> [--quick] [--json PATH]``: run one module's checks."""
    parser = argparse.ArgumentParser(description="Run this module's checks of the MGCE paper.")
    parser.add_argument("--quick", action="store_true", help="the small sweep")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--backend", default="numba", choices=("numba", "numpy", "exact", "cuda"),
                        help="backend under test (default numba)")
    args = parser.parse_args(argv)
    from ._api import use_backend

    print(HEADER)
    results = []
    with use_backend(args.backend):
        for c in checks:
            r = c(quick=args.quick)
            print(format_row(r), flush=True)
            results.append(r)
    if args.json:
        write_json(results, args.json)
    return report(results, header=False)
