"""The packaged golden file: complete, in step with the catalogue, reproducible from its script."""

import math

import numpy as np
import pytest

from mgce_ref.config import MP_DPS, OUTPUTS
from mgce_ref.conformance import Case, check_backend
from mgce_ref.conformance import golden
from mgce_ref.conformance.cases import DEFAULT_BETAS, fixed_cases


def test_golden_covers_every_fixed_case_dtype_beta_and_output():
    data = golden.load()
    assert data, f"missing {golden.PATH}; run python -m mgce_ref.conformance.golden"
    meta = golden.meta()
    assert meta["dps"] == MP_DPS and meta["cases"] == [c.name for c in fixed_cases()]
    assert set(DEFAULT_BETAS) <= set(golden.GOLDEN_BETAS)
    for case in fixed_cases():
        for dtype in case.dtypes:
            for beta in golden.GOLDEN_BETAS:
                ref = golden.reference(case, dtype, beta)
                assert ref is not None, (case.name, dtype, beta)
                B, C = case.logits.shape
                assert ref["nu"].shape == ref["loss"].shape == (B,)
                assert ref["link"].shape == ref["worst_case"].shape == ref["grad"].shape == (B, C)


def test_golden_logits_are_the_catalogue_logits():
    """A stale file (the catalogue changed, the file did not) is caught here."""
    data = golden.load()
    for case in fixed_cases():
        np.testing.assert_array_equal(data[f"{case.name}|labels"], case.labels)
        for dtype in case.dtypes:
            np.testing.assert_array_equal(data[f"{case.name}|{dtype}|logits"],
                                          case.inputs(dtype)[0].astype(np.float64))


def test_regenerating_reproduces_the_file_bit_for_bit(tmp_path):
    path = golden.make(str(tmp_path / "golden.npz"))
    fresh, packaged = golden.load(path), golden.load()
    assert set(fresh) == set(packaged)
    for k in fresh:
        if k != "__meta__":
            np.testing.assert_array_equal(fresh[k], packaged[k], err_msg=k)


def test_golden_values_obey_the_identities():
    """p sums to 1, q sums to 1, grad = q - e_y, loss = -h_y - nu (to float64 rounding)."""
    for case in fixed_cases():
        h = case.inputs("float64")[0]
        rows = np.arange(len(h))
        for beta in golden.GOLDEN_BETAS:
            ref = golden.reference(case, "float64", beta)
            np.testing.assert_allclose(ref["link"].sum(axis=1), 1.0, rtol=0, atol=4e-16 * h.shape[1])
            np.testing.assert_allclose(ref["worst_case"].sum(axis=1), 1.0, rtol=0,
                                       atol=4e-16 * h.shape[1])
            e = np.zeros_like(h)
            e[rows, case.labels] = 1.0
            np.testing.assert_allclose(ref["grad"], ref["worst_case"] - e, rtol=0, atol=2.3e-16)
            if math.isfinite(h.max()) and np.abs(h).max() < 1e5:
                np.testing.assert_allclose(ref["loss"], -h[rows, case.labels] - ref["nu"],
                                           rtol=0, atol=1e-14)


def test_fixed_cases_keep_away_from_the_support_edge():
    assert golden.edge_distance(np.array([[1.0, 0.0]]), 1.0) == 0.0  # sparsemax: class 2 at the edge
    assert golden.edge_distance(np.array([[1.0, 1.0]]), 1.5) > 0.5
    for case in fixed_cases():
        for beta in (1.0, 1.000001, 1.1, 1.5):
            assert golden.edge_distance(case.logits, beta) >= golden.EDGE_MARGIN, (case.name, beta)


def test_a_renamed_or_changed_case_falls_back_to_the_exact_reference():
    ties = next(c for c in fixed_cases() if c.name == "ties")
    changed = Case("ties", ties.logits + 0.125, ties.labels, fixed=True)
    assert golden.reference(changed, "float64", 2.0) is None
    assert golden.reference(ties, "float64", 7.0) is None  # not a golden beta
    report = check_backend("numpy", cases=[changed], betas=(2.0, 7.0), dtypes=("float64",))
    assert report.passed and {r.reference for r in report.results} == {"exact"}


def test_golden_reference_is_independent_of_the_exact_backend():
    """The exact backend itself is judged against mpmath on the fixed cases."""
    report = check_backend("exact", cases=[c.name for c in fixed_cases()])
    assert report.passed, report.table(by="row", failures_only=True)
    assert {r.reference for r in report.results} == {"golden"}


@pytest.mark.parametrize("quantity", OUTPUTS)
def test_golden_matches_mpmath_at_more_digits(quantity):
    """50 digits are enough: 70 give the same float64 values on a sample of hard rows."""
    from mgce_ref.exact import mp_reference

    for name in ("ties", "offset_1e6", "dominant_class"):
        case = next(c for c in fixed_cases() if c.name == name)
        for beta in (1.000001, 1.5, 1e6):
            ref = golden.reference(case, "float64", beta)
            more = mp_reference(case.logits, case.labels, beta, dps=70)
            np.testing.assert_array_equal(ref[quantity], more[quantity], err_msg=f"{name} {beta}")
