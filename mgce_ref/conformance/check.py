"""``check_backend``: run a backend over the catalogue and judge every output it returns."""

import hashlib
import math
import numbers
import time

import numpy as np

from ..config import OUTPUTS
from . import golden
from .adapters import backend_name, resolve
from .cases import DEFAULT_BETAS, DEFAULT_SEED, DTYPES, Case, beta_key, catalogue
from .judge import compare, tolerances
from .report import Report, Result

REFERENCES = ("auto", "exact", "mpmath")
_CACHE = {}  # references are pure functions of (logits, labels, beta, kind): keep them


def reference_outputs(case, dtype, beta, kind="auto"):
    """Reference outputs for ``case`` run at ``dtype``, and where they came from.

    ``kind="auto"``: the golden file (mpmath, 50 digits) for fixed cases at golden betas, else
    the "exact" backend (brentq + last-bit polish) on the same float64 values. "exact" and
    "mpmath" force one source. A float32 run's reference is computed on the float32 logits
    promoted to float64, so it measures the backend, not the rounding of its input.

    Returns
    -------
    ref : dict of float64 arrays ("nu", "link", "worst_case", "loss", "grad")
    source : {"golden", "exact", "mpmath"}
    """
    if kind == "auto" and case.fixed:
        ref = golden.reference(case, dtype, beta)
        if ref is not None:
            return ref, "golden"
    h = case.inputs(dtype)[0].astype(np.float64)
    source = "mpmath" if kind == "mpmath" else "exact"
    digest = hashlib.sha1(h.tobytes() + case.labels.tobytes() + str(h.shape).encode()).hexdigest()
    key = (digest, beta_key(beta), source)
    if key not in _CACHE:
        if source == "mpmath":
            from ..exact import mp_reference

            ref = mp_reference(h, case.labels, beta)
        else:
            from .._dispatch import run

            ref = dict(zip(OUTPUTS, run(h, case.labels, beta, "exact", OUTPUTS)))
        for v in ref.values():
            v.setflags(write=False)
        _CACHE[key] = ref
    return _CACHE[key], source


def _betas(betas):
    out = []
    for b in betas:
        if isinstance(b, bool) or not isinstance(b, numbers.Real) or math.isnan(b) or b < 1:
            raise ValueError(f"beta {b!r} is not a number in [1, inf]")
        out.append(float(b))
    return tuple(dict.fromkeys(out))


def _cases(cases, seed):
    if cases is None:
        return catalogue(seed)
    names = [c for c in cases if isinstance(c, str)]
    by_name = {c.name: c for c in catalogue(seed, names)} if names else {}
    out = []
    for c in cases:
        if isinstance(c, str):
            out.append(by_name[c])
        elif isinstance(c, Case):
            out.append(c)
        else:
            raise TypeError(f"cases must be Case objects or case names, got {type(c).__name__}")
    return out


def check_backend(fn, *, betas=DEFAULT_BETAS, dtypes=DTYPES, cases=None, tol=None,
                  quantities=None, reference="auto", seed=DEFAULT_SEED, name=None):
    """Run ``fn`` on every case, beta and dtype, and judge each output against the reference.

    Parameters
    ----------
    fn : callable or str
        ``fn(logits, labels, beta) -> dict`` given NumPy arrays (B, C) (float32 or float64) and
        (B,) int64, returning any subset of "nu" (B,), "link" (B, C), "worst_case" (B, C),
        "loss" (B,), "grad" (B, C) as per-sample arrays. A key that is missing is not judged.
        A str is resolved by :func:`mgce_ref.conformance.adapters.resolve` ("numba", "mrcpy",
        "MODULE:CALLABLE", ...).
    betas : iterable of float
        Defaults to 1, 1.000001, 1.5, 2, 10, 1e6, inf.
    dtypes : iterable of {"float32", "float64"}
    cases : None or iterable of Case or str
        None: the whole catalogue (:func:`cases.catalogue`); names select from it.
    tol : dict or None
        Tolerance overrides, see :func:`judge.tolerances`.
    quantities : iterable of str or None
        Judge only these (a requested one that is missing from the output fails); None judges
        whatever the backend returns.
    reference : {"auto", "exact", "mpmath"}
        Where reference values come from, see :func:`reference_outputs`.
    seed : int
        Seed of the random cases.
    name : str or None
        The backend's name in the report.

    Returns
    -------
    Report
        ``.passed``, ``.table()``, ``.to_json()``. An exception raised by ``fn`` is recorded as
        a failed check (one per quantity) with its text, and the run goes on.
    """
    if isinstance(fn, str):
        name = name or fn
    fn = resolve(fn)
    name = name or backend_name(fn)
    betas = _betas(betas)
    dtypes = tuple(dict.fromkeys(np.dtype(d).name for d in dtypes))
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise ValueError(f"dtype {bad[0]!r} is not supported; use 'float32' or 'float64'")
    if reference not in REFERENCES:
        raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
    wanted = None if quantities is None else tuple(quantities)
    if wanted is not None and not set(wanted) <= set(OUTPUTS):
        raise ValueError(f"unknown quantity in {wanted}; valid: {', '.join(OUTPUTS)}")
    claimed = wanted or tuple(getattr(fn, "quantities", ()) or ("*",))
    tols = {d: tolerances(d, tol) for d in dtypes}
    start = time.perf_counter()
    results = []
    for case in _cases(cases, seed):
        for dtype in (d for d in dtypes if d in case.dtypes):
            h, labels = case.inputs(dtype)
            h64 = h.astype(np.float64)
            for beta in betas:
                ref, source = reference_outputs(case, dtype, beta, reference)
                row = dict(case=case.name, beta=beta, dtype=dtype, reference=source)
                try:
                    out = fn(h.copy(), labels.copy(), beta)
                    if not isinstance(out, dict):
                        raise TypeError(f"backend returned {type(out).__name__}, not a dict")
                except Exception as exc:  # noqa: BLE001 -- recorded, and the run goes on
                    text = f"{type(exc).__name__}: {exc}"
                    results += [Result(quantity=q, passed=False, error=text, **row) for q in claimed]
                    continue
                for q in wanted or [k for k in OUTPUTS if k in out]:
                    if q not in out:
                        results.append(Result(quantity=q, passed=False,
                                              error="missing from the output", **row))
                        continue
                    passed, err, ulps, ratio, error = compare(q, out[q], h64, ref, beta, dtype,
                                                              tols[dtype])
                    results.append(Result(quantity=q, passed=passed, max_abs_err=err, ulps=ulps,
                                          ratio=ratio, error=error, **row))
    return Report(name, results, time.perf_counter() - start)


def assert_conforms(fn, **kwargs):
    """Pytest helper: :func:`check_backend`, raising AssertionError with the failures' table.

    Example
    -------
    >>> from mgce_ref.conformance import assert_conforms
    >>> def test_my_backend():
    ...     assert_conforms(my_backend, betas=(1.5, 2.0), dtypes=("float64",))

    Returns
    -------
    Report
        When everything passed.
    """
    report = check_backend(fn, **kwargs)
    if not report.passed:
        raise AssertionError(f"{report.summary()}\n{report.table(by='row', failures_only=True)}")
    return report
