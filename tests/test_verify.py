"""Tests for ``mgce_ref.verify``: the paper's statements as checks, the CLI and the figures.

The quick sweep runs once (module fixture) and every check must pass; mutation tests break
the library's outputs on purpose and assert that the check notices.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mgce_ref
from mgce_ref import verify
from mgce_ref.cli import main
from mgce_ref.verify import TOLERANCE, CheckResult, check, run_checks


@pytest.fixture(scope="module")
def quick_results():
    return run_checks(quick=True)


def test_quick_sweep_passes(quick_results):
    failed = [(r.name, r.worst_slack, r.tolerance) for r in quick_results if not r.passed]
    assert failed == []
    assert len(quick_results) >= 10


def test_results_are_well_formed(quick_results):
    names = [r.name for r in quick_results]
    assert len(set(names)) == len(names)
    assert names == [c.check_name for c in verify.all_checks()]
    for r in quick_results:
        assert r.cases > 0
        assert "eq." in r.statement or "Thm" in r.statement or "Cor." in r.statement \
            or "Remark" in r.statement or "permut" in r.statement or "shift" in r.statement \
            or "beta" in r.statement
        assert r.passed == (r.worst_slack >= -r.tolerance)


def test_every_paper_statement_has_a_check(quick_results):
    text = " ".join(r.statement for r in quick_results)
    for ref in ("eq. 26", "eqs. 15-17", "eqs. 18-19", "eq. 5", "eq. 22", "eq. 23",
                "Remark 1", "Cor. 1", "App. B", "beta -> 1+"):
        assert ref in text, ref


# ------------------------------------------------------------------ slack convention


@pytest.mark.parametrize(("slacks", "passed"), [
    ([1.0, 0.0], True),
    ([1.0, -0.5 * TOLERANCE["prob"]], True),
    ([1.0, -2.0 * TOLERANCE["prob"]], False),
    ([1.0, math.nan], False),
])
def test_pass_rule(slacks, passed):
    @check("demo", "a statement", "prob")
    def demo(quick):
        return slacks, "a note"

    r = demo(quick=True)
    assert isinstance(r, CheckResult)
    assert r.passed is passed
    assert r.cases == len(slacks)
    assert r.tolerance == TOLERANCE["prob"]
    assert r.note == "a note"


def test_a_check_must_try_cases():
    @check("empty", "nothing", "prob")
    def empty(quick):
        return [], ""

    with pytest.raises(RuntimeError, match="check empty tried no cases"):
        empty(quick=True)


def test_unknown_check_name_is_refused():
    with pytest.raises(ValueError, match="unknown check.*'nope'.*valid checks: bracket_eq26"):
        run_checks(quick=True, names=["nope"])


def test_json_writes_inf_as_text(tmp_path):
    r = CheckResult("x", "s", 1, math.inf, True, 1e-15)
    verify.write_json([r], tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["results"][0]["worst_slack"] == "inf"


# ------------------------------------------------------------------ mutations are caught


def test_bracket_check_catches_a_short_bracket(monkeypatch):
    from mgce_ref.verify import bracket

    def short(h, beta):
        lo, hi = mgce_ref.interval(h, beta)
        return lo, lo + 0.25 * (hi - lo)  # may cut the root off

    monkeypatch.setattr(bracket, "interval", short)
    r = bracket.check_bracket(quick=True)
    assert not r.passed
    assert r.worst_slack < -1e6


def test_theorem1_check_catches_q_equal_p(monkeypatch):
    from mgce_ref.verify import theorem1

    monkeypatch.setattr(theorem1, "worst_case", mgce_ref.link)
    assert not theorem1.check_power_maps(quick=True).passed


def test_gradient_checks_catch_a_biased_gradient(monkeypatch):
    from mgce_ref.verify import theorem3

    monkeypatch.setattr(theorem3, "grad", lambda h, y, beta: mgce_ref.grad(h, y, beta) + 1e-6)
    assert not theorem3.check_finite_differences(quick=True).passed
    assert not theorem3.check_implicit(quick=True).passed


def test_composite_check_catches_a_shifted_loss(monkeypatch):
    from mgce_ref.verify import composite

    monkeypatch.setattr(composite, "loss", lambda h, y, beta: mgce_ref.loss(h, y, beta) + 1e-9)
    assert not composite.check_identity(quick=True).passed


def test_limit_check_catches_a_slower_rate(monkeypatch):
    from mgce_ref.verify import limits

    # a link whose error against softmax decays like beta**-0.5 instead of 1/beta
    def slow(h, beta):
        from scipy.special import softmax

        return softmax(h, axis=1) + (beta ** -0.5 if math.isfinite(beta) else 0.0)

    monkeypatch.setattr(limits, "link", slow)
    r = limits.check_softmax_limit(quick=True)
    assert not r.passed
    assert r.worst_slack == pytest.approx(-0.5, abs=0.01)


# ------------------------------------------------------------------ helpers


def test_sparsemax_reference_matches_the_closed_form():
    from mgce_ref.verify.limits import sparsemax

    h = np.random.default_rng(3).normal(size=(20, 7)) + 1e6
    p, nu = sparsemax(h)
    np.testing.assert_allclose(p, mgce_ref.link(h, 1.0), atol=1e-15, rtol=0)
    np.testing.assert_allclose(nu, mgce_ref.solve_nu(h, 1.0), rtol=1e-15)


@given(order=st.floats(0.25, 3.0), scale=st.floats(1e-6, 1e6))
@settings(max_examples=30, deadline=None)
def test_fit_order_recovers_a_power_law(order, scale):
    from mgce_ref.verify._sweep import fit_order

    x = 10.0 ** -np.arange(3, 9)
    assert fit_order(x, scale * x**order) == pytest.approx(order, abs=1e-9)


def test_threshold_at_the_ends():
    from mgce_ref.verify.theorem1 import threshold

    p = np.array([[0.5, 0.3, 0.2, 0.0]])
    assert threshold(p, beta=math.inf)[0] == 1.0
    assert threshold(p, beta=1.0)[0] == pytest.approx(1.0 / 3.0, rel=1e-15)  # 1 / |support|


def test_sum_bounds_limit():
    from mgce_ref.verify.theorem2 import sum_bounds

    lo, hi = sum_bounds(C=10, beta=1e9)
    assert lo == pytest.approx(10 * math.log(10), rel=1e-8)
    assert sum_bounds(C=10, beta=math.inf) == (10 * math.log(10), math.inf)
    lo, hi = sum_bounds(C=10, beta=1.0)  # the MAE summed over classes is exactly C - 1
    assert (lo, hi) == (pytest.approx(9.0, rel=1e-15), 9.0)


# ------------------------------------------------------------------ command line


def test_cli_verify_json(tmp_path, capsys):
    path = tmp_path / "out.json"
    rc = main(["verify", "--quick", "--check", "theorem2_mae_bounds", "--check", "eq5_sum_bounds",
               "--json", str(path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "2 of 2 checks passed" in out
    data = json.loads(path.read_text())
    assert [r["name"] for r in data["results"]] == ["theorem2_mae_bounds", "eq5_sum_bounds"]
    for r in data["results"]:
        assert {"name", "statement", "cases", "worst_slack", "passed"} <= set(r)
        assert r["passed"] is True


def test_cli_verify_exit_status_on_failure(monkeypatch, capsys):
    from mgce_ref.verify import theorem1

    monkeypatch.setattr(theorem1, "worst_case", mgce_ref.link)
    assert main(["verify", "--quick", "--check", "theorem1_power_maps"]) == 1
    assert "FAILED: theorem1_power_maps" in capsys.readouterr().out


def test_cli_verify_unknown_check(capsys):
    assert main(["verify", "--check", "no_such_check"]) == 2
    assert "unknown check(s) 'no_such_check'" in capsys.readouterr().err


def test_cli_verify_other_backend(capsys):
    assert main(["verify", "--quick", "--backend", "numpy", "--check", "limit_sparsemax"]) == 0
    assert "1 of 1 checks passed" in capsys.readouterr().out


def test_unknown_backend_is_refused():
    from mgce_ref.verify._api import use_backend

    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        with use_backend("gpu"):
            pass


def test_cli_verify_list(capsys):
    assert main(["verify", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(c.check_name in out for c in verify.all_checks())


def test_module_runs_alone():
    proc = subprocess.run([sys.executable, "-m", "mgce_ref.verify.theorem2", "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "2 of 2 checks passed" in proc.stdout


def test_cli_modules_import_lightly():
    code = ("import sys, mgce_ref.verify.cli, mgce_ref.verify.figures_cli; "
            "heavy = ('matplotlib', 'mpmath', 'scipy', 'torch'); "
            "print(sorted(m for m in heavy if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


# ------------------------------------------------------------------ figures


def test_figures(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from mgce_ref.verify.figures import NAMES

    assert main(["figures", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert [os.path.basename(p) for p in written] == list(NAMES)
    for name in NAMES:
        assert name.startswith("theory_")
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_default_figure_folder_is_the_checkout():
    from mgce_ref.verify.figures_cli import checkout_figures_dir

    here = checkout_figures_dir()
    root = os.path.dirname(os.path.dirname(os.path.abspath(mgce_ref.__file__)))
    if not os.path.exists(os.path.join(root, "pyproject.toml")):
        assert here is None  # an installed package: the current directory is used
    else:
        assert here == os.path.join(root, "figures")
