"""The result of a conformance run: one :class:`Result` per (case, beta, dtype, quantity)."""

import json
import math
from dataclasses import dataclass

from .cases import beta_key


@dataclass(frozen=True)
class Result:
    """One check. ``max_abs_err``/``ulps``/``ratio`` are None when nothing could be compared
    (an exception, a wrong shape, NaN); ``error`` then says why."""

    case: str
    quantity: str
    beta: float
    dtype: str
    passed: bool
    max_abs_err: float = None
    ulps: float = None
    ratio: float = None
    error: str = None
    reference: str = "exact"

    def to_dict(self):
        """The JSON record of the issue's schema (nothing more)."""
        return {"case": self.case, "quantity": self.quantity,
                "beta": "inf" if math.isinf(self.beta) else self.beta, "dtype": self.dtype,
                "passed": bool(self.passed),
                "max_abs_err": _finite_or_none(self.max_abs_err), "error": self.error}


def _finite_or_none(v):
    return None if v is None or not math.isfinite(v) else float(v)


def _num(v, fmt="{:.2e}"):
    return "-" if v is None else fmt.format(v)


def _ulps(v):
    if v is None:
        return "-"
    return f"{v:.1f}" if v < 1e5 else f"{v:.1e}"


class Report:
    """What :func:`check_backend` found.

    Attributes
    ----------
    backend : str
    results : list of Result
    seconds : float
        Wall time of the run, references included.
    """

    def __init__(self, backend, results, seconds=0.0):
        self.backend = backend
        self.results = list(results)
        self.seconds = seconds

    @property
    def passed(self):
        """True when every check passed (and there was at least one)."""
        return bool(self.results) and all(r.passed for r in self.results)

    @property
    def failures(self):
        return [r for r in self.results if not r.passed]

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return f"<Report {self.summary()}>"

    def to_dict(self):
        return {"backend": self.backend, "results": [r.to_dict() for r in self.results]}

    def to_json(self, indent=1):
        """``{"backend": str, "results": [{"case", "quantity", "beta", "dtype", "passed",
        "max_abs_err", "error"}]}``; beta is a number or "inf", a missing error is null."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def summary(self):
        """One line, SciPy style: "k out of N bad" with the worst check."""
        n = len(self.results)
        bad = self.failures
        t = f" in {self.seconds:.1f} s" if self.seconds else ""
        if not n:
            return f"{self.backend}: no checks ran"
        if not bad:
            worst = max(self.results, key=lambda r: r.ratio or 0.0)
            return (f"{self.backend}: all {n} checks pass{t} (closest: {_where(worst)} at "
                    f"{_num(worst.ratio, '{:.2f}')} of its tolerance)")
        worst = _worst(bad)
        what = worst.error or f"max abs err {_num(worst.max_abs_err)}, {_ulps(worst.ulps)} ulps"
        return f"{self.backend}: {len(bad)} out of {n} checks fail{t}; worst: {_where(worst)}: {what}"

    def table(self, by="case", failures_only=False):
        """A text table.

        Parameters
        ----------
        by : {"case", "beta", "row"}
            "case": one line per (case, quantity), over betas and dtypes, with the worst check.
            "beta": one line per (dtype, beta, quantity), over cases (the per-setting findings).
            "row": one line per check.
        failures_only : bool
            Only lines with a failing check.
        """
        results = self.failures if failures_only else self.results
        if by == "row":
            head = ("case", "quantity", "beta", "dtype", "result", "max abs err", "ulps", "x tol",
                    "ref", "error")
            lines = [(r.case, r.quantity, beta_key(r.beta), r.dtype, "pass" if r.passed else "FAIL",
                      _num(r.max_abs_err), _ulps(r.ulps), _num(r.ratio, "{:.2g}"), r.reference,
                      _short(r.error)) for r in results]
            return _format(head, lines)
        if by == "case":
            keyf = lambda r: (r.case, r.quantity)  # noqa: E731
            head = ("case", "quantity")
        elif by == "beta":
            keyf = lambda r: (r.dtype, _beta_sort(r.beta), r.quantity)  # noqa: E731
            head = ("dtype", "beta", "quantity")
        else:
            raise ValueError(f"by must be 'case', 'beta' or 'row', got {by!r}")
        head += ("passed", "no number", "max abs err", "ulps", "x tol", "worst at", "first error")
        groups = {}
        for r in self.results:
            groups.setdefault(keyf(r), []).append(r)
        shown = {keyf(r) for r in results}
        lines = []
        for k in (k for k in groups if k in shown):
            g = groups[k]
            ok = sum(r.passed for r in g)
            measured = [r for r in g if r.max_abs_err is not None]
            worst = max(measured, key=lambda r: r.ratio) if measured else None
            first = next((r for r in g if r.error), None)
            label = (k[0], k[1]) if by == "case" else (k[0], beta_key(k[1][1]), k[2])
            at = "-" if worst is None else (f"{beta_key(worst.beta)} {worst.dtype}" if by == "case"
                                            else worst.case)
            where = "" if first is None else (f"[{beta_key(first.beta)} {first.dtype}] " if by == "case"
                                              else f"[{first.case}] ")
            lines.append((*label, f"{ok}/{len(g)}" + ("" if ok == len(g) else " FAIL"),
                          str(len(g) - len(measured)) if len(measured) < len(g) else "",
                          _num(max(r.max_abs_err for r in measured) if measured else None),
                          _ulps(max(r.ulps for r in measured if r.ulps is not None)
                                if any(r.ulps is not None for r in measured) else None),
                          _num(worst.ratio if worst else None, "{:.2g}"), at,
                          _short(where + first.error) if first else ""))
        return _format(head, lines)


def _beta_sort(beta):
    return (math.isinf(beta), beta)


def _worst(results):
    """The check furthest from passing: failures without a number first, then the ratio."""
    return max(results, key=lambda r: (not r.passed, r.ratio is None and not r.passed,
                                       r.ratio if r.ratio is not None else 0.0))


def _where(r):
    return f"{r.case} {r.quantity} beta={beta_key(r.beta)} {r.dtype}"


def _short(text, n=70):
    if not text:
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _format(head, lines):
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)] if lines else map(len, head)
    widths = list(widths)
    fmt = "  ".join("{:<%d}" % w for w in widths)
    out = [fmt.format(*head).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    out += [fmt.format(*map(str, line)).rstrip() for line in lines]
    return "\n".join(out)
