"""Every competitor on the same seeded logits: checked against the exact solver, then timed.

Run with ``pytest bench/`` (pytest-benchmark). Groups hold all the work on one set of logits
(dtype, B, C), so numba, numpy, MRCpy's torch ``mgce_loss``, ``entmax_bisect`` and the softmax
floor sit side by side; ``extra_info`` records each run's max abs error against the exact
solver, so a fast wrong answer shows as such. Warm-up (Numba compilation, torch's first call)
happens in ``prepare``, before timing.
"""

import pytest

from mgce_ref.benchmark import runner
from mgce_ref.benchmark.cases import Case


def test_mgce(benchmark, backend, op, B, C, beta, dtype):
    case = Case(dtype=dtype, B=B, C=C, beta=beta, op=op, backend=backend)
    try:
        prepared = runner.prepare(case)  # builds, warms up, checks against the exact solver
    except runner.Unavailable as exc:
        pytest.skip(f"{case.id}: {exc}")
    benchmark.group = case.group
    benchmark.extra_info.update(case.row(None, prepared.max_abs_err))
    benchmark.extra_info["tolerance"] = prepared.tolerance
    # mgce_ref's own backends must be right before their speed means anything; peers are
    # reported as they are.
    assert prepared.ok, (f"{case.id}: max abs error {prepared.max_abs_err:.3e} exceeds "
                         f"mgce_ref's tolerance {prepared.tolerance:.3e}")
    benchmark(prepared.fn)
