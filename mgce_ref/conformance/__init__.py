"""The conformance kit: judge any MGCE backend against the reference.

A backend is any callable ``fn(logits, labels, beta) -> dict`` of per-sample outputs ("nu",
"link", "worst_case", "loss", "grad"; any subset). :func:`check_backend` runs it on a seeded
catalogue of hard and random cases (``cases.py``) at several betas and both float dtypes, and
compares every output with a 50-digit mpmath golden file (fixed cases) or the "exact" backend
(random cases) at the precision of the input dtype (``judge.py``). ``mgce-ref check`` is the
command-line face of the same code, ``mgce-ref solve`` writes reference values for files.

>>> from mgce_ref.conformance import check_backend
>>> report = check_backend("numpy", betas=(2.0,), cases=["ties"])
>>> report.passed
True
"""

from .adapters import resolve
from .cases import DEFAULT_BETAS, DTYPES, Case, catalogue
from .check import assert_conforms, check_backend, reference_outputs
from .judge import tolerances
from .report import Report, Result

__all__ = ["check_backend", "assert_conforms", "Report", "Result", "Case", "catalogue",
           "resolve", "tolerances", "reference_outputs", "DEFAULT_BETAS", "DTYPES"]
