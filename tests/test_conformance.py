"""The conformance kit judged on backends whose faults are known: wrong ones must fail exactly the
checks they break, right ones must pass everything."""

import importlib.util
import json
import math

import numpy as np
import pytest

from mgce_ref import _dispatch
from mgce_ref.cli import main
from mgce_ref.config import OUTPUTS
from mgce_ref.conformance import Case, assert_conforms, catalogue, check_backend, tolerances
from mgce_ref.conformance.adapters import resolve
from mgce_ref.conformance.check import reference_outputs
from mgce_ref.conformance.judge import conditioning

SMALL = ["two_classes", "ties", "dominant_class", "offset_1e6", "random_C10"]
BETAS = (1.0, 1.5, 10.0, math.inf)


def right(logits, labels, beta):
    """The numpy backend: correct to the last bits."""
    return dict(zip(OUTPUTS, _dispatch.run(logits, labels, beta, "numpy", OUTPUTS)))


def softmax_as_mgce(logits, labels, beta):
    """Cross-entropy passed off as MGCE: right at beta = inf only."""
    return right(logits, labels, math.inf)


def sign_error(logits, labels, beta):
    out = right(logits, labels, beta)
    out["grad"] = -out["grad"]  # e_y - q
    return out


def nan_link(logits, labels, beta):
    out = right(logits, labels, beta)
    out["link"] = out["link"].copy()
    out["link"][0, 0] = np.nan
    return out


def raises(logits, labels, beta):
    raise RuntimeError("backend exploded")


def nu_off(logits, labels, beta):
    out = right(logits, labels, beta)
    out["nu"] = out["nu"].astype(np.float64) + 1e-10
    return out


def _by(report, **where):
    return [r for r in report.results if all(getattr(r, k) == v for k, v in where.items())]


@pytest.mark.parametrize("backend, reference", [("numba", "auto"), ("numpy", "auto"),
                                                ("exact", "mpmath")])
def test_own_backends_pass_the_default_catalogue(backend, reference):
    """"exact" is the reference of the random cases under "auto", so it is judged by mpmath."""
    report = check_backend(backend, reference=reference)
    assert report.passed, report.table(by="row", failures_only=True)
    assert len(report.results) == 1330  # 5 quantities on every case, beta and dtype
    want = {"golden", "exact"} if reference == "auto" else {"mpmath"}
    assert {r.reference for r in report.results} == want


def test_softmax_passed_off_as_mgce_fails_the_link_at_finite_beta():
    report = check_backend(softmax_as_mgce, cases=SMALL, betas=BETAS)
    assert not report.passed
    assert all(r.passed for r in _by(report, beta=math.inf))
    for beta in (1.0, 1.5, 10.0):
        for dtype in ("float32", "float64"):
            (link,) = _by(report, case="ties", beta=beta, dtype=dtype, quantity="link")
            assert not link.passed and link.max_abs_err > 1e-3 and link.error is None


def test_sign_error_fails_grad_only():
    report = check_backend(sign_error, cases=SMALL, betas=BETAS)
    bad = {r.quantity for r in report.failures}
    assert bad == {"grad"}
    assert len(report.failures) == len(_by(report, quantity="grad"))


def test_nan_fails_the_quantity_that_holds_it():
    report = check_backend(nan_link, cases=["ties"], betas=(2.0,), dtypes=("float64",))
    (link,) = _by(report, quantity="link")
    assert not link.passed and link.max_abs_err is None
    assert link.error == "1 non-finite value(s), first NaN at (0, 0)"
    assert all(r.passed for r in report.results if r.quantity != "link")


def test_exception_is_recorded_and_the_run_goes_on():
    report = check_backend(raises, cases=["ties", "two_classes"], betas=(1.0, 2.0),
                           dtypes=("float64",))
    assert len(report.results) == 4  # one "*" check per call: the callable claims no quantities
    assert all(r.error == "RuntimeError: backend exploded" and r.quantity == "*"
               for r in report.results)
    raises.quantities = ("nu", "link")
    try:
        report = check_backend(raises, cases=["ties"], betas=(2.0,), dtypes=("float64",))
    finally:
        del raises.quantities
    assert [r.quantity for r in report.results] == ["nu", "link"]


def test_tolerance_follows_the_input_dtype():
    """nu off by 1e-10 is 4e5 float64 ulps but 1e-3 float32 ulps."""
    report = check_backend(nu_off, cases=["ties"], betas=(2.0,))
    assert not _by(report, dtype="float64", quantity="nu")[0].passed
    assert _by(report, dtype="float32", quantity="nu")[0].passed
    relaxed = check_backend(nu_off, cases=["ties"], betas=(2.0,), tol={"float64": {"nu_ulps": 1e6}})
    assert relaxed.passed


def test_one_ulp_off_passes_and_missing_keys_are_not_judged():
    def link_only(logits, labels, beta):
        p = right(logits, labels, beta)["link"]
        return {"link": np.nextafter(p, np.inf, dtype=p.dtype)}

    report = check_backend(link_only, cases=SMALL, betas=BETAS)
    assert report.passed
    assert {r.quantity for r in report.results} == {"link"}


def test_requested_quantity_missing_and_bad_outputs_fail_with_a_reason():
    report = check_backend(lambda h, y, b: {"link": right(h, y, b)["link"][:, :1]},
                           cases=["ties"], betas=(2.0,), dtypes=("float64",),
                           quantities=("nu", "link"))
    nu, link = report.results
    assert nu.error == "missing from the output"
    assert link.error == "shape (3, 1), expected (3, 5)"
    report = check_backend(lambda h, y, b: [1.0], cases=["ties"], betas=(2.0,), dtypes=("float64",))
    assert report.results[0].error == "TypeError: backend returned list, not a dict"


def test_near_edge_class_is_judged_with_its_conditioning():
    """At beta = 1.5 a class with s_c ~ 1e-9 makes q_c sensitive (dq/ds ∝ s**-0.5): the allowance
    grows there and only there, and the right backends still pass."""
    h = np.array([[0.0, -1.5 * (1 - 1e-9)], [0.0, -0.5]])
    case = Case("near_edge", h, np.array([1, 0]))
    ref, _ = reference_outputs(case, "float64", 1.5)
    assert 1e-10 < ref["link"][0, 1] ** (1 / 1.5) < 1e-8  # s_c of the class at the edge
    allow = conditioning(h, ref, 1.5, "worst_case", np.finfo(float).eps, 2.0)
    assert allow[0, 1] > 1e-13 and allow[1].max() < 1e-15
    for backend in ("numba", "numpy"):
        assert check_backend(backend, cases=[case], betas=(1.5,)).passed


@pytest.mark.parametrize("beta", [1.5, 2.0, math.inf])
def test_conditioning_allowance_stays_small_on_huge_logits(beta):
    """Logits of ±1e300 leave the allowance at the float64 level (it scales with |h_c - max h|
    only for classes that are out of the support, where it is not used)."""
    case = next(c for c in catalogue() if c.name == "huge_spread")
    ref, _ = reference_outputs(case, "float64", beta)
    for quantity in ("link", "worst_case"):
        allow = conditioning(case.logits, ref, beta, quantity, np.finfo(float).eps, 2.0)
        assert np.max(allow) < 1e-14


def test_report_json_has_exactly_the_schema():
    report = check_backend(raises, cases=["ties"], betas=(2.0, math.inf), dtypes=("float32",))
    data = json.loads(report.to_json())
    assert set(data) == {"backend", "results"}
    assert data["backend"].endswith("test_conformance:raises")
    assert [r["beta"] for r in data["results"]] == [2.0, "inf"]
    for r in data["results"]:
        assert set(r) == {"case", "quantity", "beta", "dtype", "passed", "max_abs_err", "error"}
        assert r["passed"] is False and r["max_abs_err"] is None and r["dtype"] == "float32"


def test_table_and_summary_name_the_failures():
    report = check_backend(sign_error, cases=["ties", "two_classes"], betas=(2.0,),
                           dtypes=("float64",), name="signs")
    assert report.summary().startswith("signs: 2 out of 10 checks fail")
    assert "worst: " in report.summary() and "grad" in report.summary()
    by_case = report.table()
    assert "ties" in by_case and "0/1 FAIL" in by_case
    assert report.table(by="row", failures_only=True).count("FAIL") == 2
    assert "float64  2.0   grad" in report.table(by="beta")
    with pytest.raises(ValueError, match="by must be 'case', 'beta' or 'row', got 'x'"):
        report.table(by="x")


def test_assert_conforms_raises_with_the_table_and_returns_the_report():
    with pytest.raises(AssertionError, match=r"(?s)1 out of 5 checks fail.*grad.*FAIL"):
        assert_conforms(sign_error, cases=["ties"], betas=(2.0,), dtypes=("float64",))
    report = assert_conforms(right, cases=["ties"], betas=(2.0,), dtypes=("float64",))
    assert report.passed and len(report.results) == 5


def test_bad_arguments_are_refused_with_a_reason():
    with pytest.raises(ValueError, match=r"beta 0.5 is not a number in \[1, inf\]"):
        check_backend(right, betas=(0.5,))
    with pytest.raises(ValueError, match="dtype 'float16' is not supported"):
        check_backend(right, dtypes=("float16",))
    with pytest.raises(ValueError, match="unknown case\\(s\\) 'nope'"):
        check_backend(right, cases=["nope"])
    with pytest.raises(ValueError, match="reference must be one of"):
        check_backend(right, reference="golden")
    with pytest.raises(ValueError, match="unknown tolerance 'ulps'"):
        tolerances("float64", {"ulps": 3})
    with pytest.raises(ValueError, match="tolerance prob = -1 must be a finite number >= 0"):
        tolerances("float32", {"float32": {"prob": -1}})


def test_case_refuses_logits_its_dtypes_cannot_hold():
    with pytest.raises(ValueError, match="logits are not finite in float32; leave float32 out"):
        Case("big", np.array([[1e300, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match=r"logits must be \(B, C\) and labels \(B,\)"):
        Case("flat", np.zeros(3), np.array([0]))
    assert Case("big", np.array([[1e300, 0.0]]), np.array([0]), dtypes=("float64",)).dtypes == ("float64",)


def test_tolerances_default_to_the_core_targets_and_merge_overrides():
    t64 = tolerances("float64")
    assert t64["prob"] == 1e-15 and t64["nu_ulps"] == 4.0
    t = tolerances("float32", {"prob": 1e-3, "float32": {"nu_ulps": 9}, "float64": {"prob": 0}})
    assert t["prob"] == 1e-3 and t["nu_ulps"] == 9


def test_catalogue_is_deterministic_and_covers_the_traps():
    a, b = catalogue(), catalogue()
    assert [c.name for c in a] == [c.name for c in b]
    assert all(np.array_equal(x.logits, y.logits) for x, y in zip(a, b))
    sizes = {c.logits.shape[1] for c in a}
    assert min(sizes) == 1 and max(sizes) >= 1000
    other = {c.name: c for c in catalogue(seed=1)}
    assert not np.array_equal(other["random_C10"].logits, {c.name: c for c in a}["random_C10"].logits)


def test_resolve_module_callable_and_file(tmp_path, monkeypatch):
    (tmp_path / "my_mgce.py").write_text("def fn(h, y, b):\n    return {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert resolve("my_mgce:fn").__module__ == "my_mgce"
    assert resolve(f"{tmp_path / 'my_mgce.py'}:fn").__name__ == "fn"
    assert resolve(right) is right
    with pytest.raises(ValueError, match="neither a known name .* nor of the form MODULE:CALLABLE"):
        resolve("numbaa")
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        resolve("my_mgce:nope")
    with pytest.raises(ValueError, match="cannot import 'no_such_module_xyz'"):
        resolve("no_such_module_xyz:fn")


def test_cli_check_exit_status_and_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["check", "--backend", "numpy", "--case", "ties", "random_C3", "--beta", "2", "inf",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["backend"] == "numpy" and len(data["results"]) == 40
    assert "numpy: all 40 checks pass" in capsys.readouterr().out
    assert main(["check", "--backend", f"{__file__}:sign_error", "--case", "ties",
                 "--dtype", "float64", "--beta", "2"]) == 1
    assert "1 out of 5 checks fail" in capsys.readouterr().out
    assert main(["check", "--backend", "nope"]) == 2
    assert "neither a known name" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["check", "--backend", "numpy", "--beta", "0.5"])
    assert exc.value.code == 2
    assert "beta must lie in [1, inf]" in capsys.readouterr().err


def test_mrcpy_runs_to_the_end_and_records_what_it_cannot_do():
    pytest.importorskip("torch")
    if importlib.util.find_spec("MRCpy") is None:  # never import MRCpy itself (cvxpy, gurobipy)
        pytest.skip("MRCpy is not installed")
    report = check_backend("mrcpy", cases=["single_class", "two_classes"], betas=(2.0, math.inf),
                           dtypes=("float64",))
    single = _by(report, case="single_class")
    assert single and all("num_classes >= 2" in r.error for r in single)
    at_inf = _by(report, case="two_classes", beta=math.inf)
    assert at_inf and all(r.error.startswith("PeerUnsupportedError") for r in at_inf)
    assert {r.quantity for r in report.results} == {"nu", "link", "loss", "grad"}


def test_entmax_is_judged_on_the_link_only():
    pytest.importorskip("torch")
    pytest.importorskip("entmax")
    report = check_backend("entmax", cases=["two_classes"], betas=(1.5,), dtypes=("float64",))
    assert [r.quantity for r in report.results] == ["link"]
    assert report.results[0].max_abs_err is not None
