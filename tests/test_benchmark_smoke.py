"""The benchmark machinery on tiny inputs: suites, checking, the JSON schema, the CLI, the
figures and the memory probe, with torch present or hidden. No timing is asserted."""

import json
import math
import sys

import numpy as np
import pytest

from mgce_ref.benchmark import cases, runner, summary
from mgce_ref.benchmark.cases import Case

ROW_KEYS = ["backend", "op", "B", "C", "beta", "dtype", "seconds", "max_abs_err"]
TORCH_BACKENDS = {"mrcpy_torch", "entmax_bisect"}


@pytest.fixture(params=["torch present", "torch hidden"])
def torch_mode(request, monkeypatch):
    """Run once as installed and once as if torch (hence MRCpy and entmax) were absent."""
    if request.param == "torch present":
        pytest.importorskip("torch")
    else:
        monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    return request.param


def test_suites_are_sorted_unique_and_well_formed():
    for name in ("smoke", "quick", "full"):
        todo = cases.suite(name)
        assert todo == sorted(set(todo))
        for c in todo:
            assert c.op in cases.OPS[c.backend]
            assert c.backend != "exact" or c.B * c.C <= cases.EXACT_MAX_ELEMENTS
            assert c.backend != "softmax" or math.isinf(c.beta)
    full = cases.suite("full")
    assert {(c.C, c.beta) for c in full if c.backend == "numba"} >= {
        (C, b) for C in cases.CLASSES for b in cases.BETAS}
    assert set(cases.suite("quick")) <= set(full)


def test_unknown_suite_is_refused():
    with pytest.raises(ValueError, match="unknown suite 'huge'"):
        cases.suite("huge")


def test_case_row_follows_the_schema():
    row = Case(dtype="float32", B=4, C=3, beta=math.inf, op="link", backend="numba").row(1e-3, 2e-8)
    assert list(row) == ROW_KEYS
    assert row["beta"] == "inf"
    assert Case(dtype="float64", B=4, C=3, beta=1.4, op="link", backend="numba").row(1, 0)["beta"] == 1.4
    assert cases.grid_batch(100) == 8192 and cases.grid_batch(1000) == 1024


def test_inputs_are_seeded_and_agree_across_dtypes():
    h32, y32 = runner.inputs(7, 5, "float32")
    h64, y64 = runner.inputs(7, 5, "float64")
    np.testing.assert_array_equal(h32, h64.astype(np.float32))
    np.testing.assert_array_equal(y32, y64)
    assert h32.dtype == np.float32 and y32.min() >= 0 and y32.max() < 5


def test_prepare_checks_against_the_exact_solver():
    prep = runner.prepare(Case(dtype="float64", B=8, C=6, beta=2.0, op="loss_and_grad", backend="numba"))
    assert prep.ok and prep.max_abs_err <= 1e-15
    assert prep.tolerance == pytest.approx(1e-15)
    _, grad = prep.fn()
    assert grad.shape == (8, 6)
    floor = runner.prepare(Case(dtype="float64", B=8, C=6, beta=math.inf, op="softmax_numpy",
                                backend="softmax"))
    assert floor.tolerance is None and floor.max_abs_err < 1e-14


def test_prepare_refuses_an_op_a_backend_lacks():
    with pytest.raises(ValueError, match="backend 'entmax_bisect' has no op 'nu'"):
        runner.prepare(Case(dtype="float32", B=4, C=3, beta=2.0, op="nu", backend="entmax_bisect"))


def test_run_records_rows_and_skips(torch_mode):
    todo = [Case(dtype="float32", B=8, C=5, beta=1.4, op=op, backend=backend)
            for backend, op in (("numba", "loss_and_grad"), ("numpy", "link"),
                                ("mrcpy_torch", "loss_and_grad"), ("entmax_bisect", "link"))]
    todo.append(Case(dtype="float32", B=8, C=5, beta=math.inf, op="softmax_torch", backend="softmax"))
    seen = []
    rows, skipped, over = runner.run(todo, budget=1e-3, progress=lambda *a: seen.append(a[0]))
    assert seen == [1, 2, 3, 4, 5] and over == []
    assert all(list(r) == ROW_KEYS and r["seconds"] > 0 for r in rows)
    ran = {r["backend"] for r in rows}
    assert {"numba", "numpy"} <= ran
    if torch_mode == "torch hidden":
        assert {s["backend"] for s in skipped} == TORCH_BACKENDS | {"softmax"}
        assert all("torch" in s["reason"] for s in skipped)
    else:
        assert "softmax" in ran


def test_nan_output_is_skipped_with_its_reason():
    pytest.importorskip("torch")
    from mgce_ref import peers

    try:
        peers.load_mrcpy_loss()
    except ImportError:
        pytest.skip("MRCpy is not installed")
    _, skipped, _ = runner.run([Case(dtype="float64", B=4, C=3, beta=math.inf, op="link",
                                     backend="mrcpy_torch")], budget=1e-3)
    assert skipped[0]["reason"] == "returned NaN or inf on finite logits"


def test_ratios_and_targets_from_rows():
    def row(backend, op, sec, beta=1.4):
        return Case(dtype="float32", B=8192, C=100, beta=beta, op=op, backend=backend).row(sec, 0.0)

    rows = [row("numba", "loss_and_grad", 1e-3), row("mrcpy_torch", "loss_and_grad", 4e-2),
            row("softmax", "softmax_torch", 2e-4, math.inf)]
    (r,) = summary.ratios(rows)
    assert r["speedup_vs_mrcpy"] == pytest.approx(40.0)
    assert r["softmax_torch_passes"] == pytest.approx(5.0) and r["softmax_numpy_passes"] is None
    met = [ok for _, _, ok in summary.targets([r])]
    assert met == [True, True]
    assert "40.0x" in summary.ratios_table([r])


def _synthetic(tmp_path):
    """A full-run-shaped result set with made-up seconds: exercises every figure quickly."""
    rows = []
    for C in cases.CLASSES:
        B = cases.grid_batch(C)
        for beta in cases.BETAS:
            for backend, op, k in (("numba", "loss_and_grad", 1.0), ("numba", "nu", 0.7),
                                   ("mrcpy_torch", "loss_and_grad", 40.0), ("numba", "link", 1.1),
                                   ("mrcpy_torch", "link", 30.0), ("entmax_bisect", "link", 35.0)):
                rows.append(Case("float32", B, C, beta, op, backend).row(k * 1e-9 * B * C, 1e-8))
        for op in ("softmax_torch", "softmax_numpy"):
            rows.append(Case("float32", B, C, math.inf, op, "softmax").row(2e-10 * B * C, 1e-8))
    for C in cases.CLASSES:
        for backend, op, k in (("numba", "loss_and_grad", 1.0), ("mrcpy_torch", "loss_and_grad", 40.0)):
            rows.append(Case("float32", cases.SCALING_B, C, 1.4, op, backend).row(k * 1e-9 * C * 1024, 0.0))
        rows.append(Case("float32", cases.SCALING_B, C, math.inf, "softmax_torch", "softmax").row(1e-6 * C, 0.0))
    its = [{"B": 8192, "C": 100, "beta": cases.beta_json(b), "dtype": "float32", "method": m, "tol": t,
            "mean": 4.0, "max": 7, "converged": True} for b in summary.ITER_BETAS for m, t in summary.SOLVERS]
    prof = [{"B": 8192, "C": 100, "beta": cases.beta_json(b), "dtype": "float32", "candidates_mean": 10.0,
             "iterations_mean": 4.0, "validate": 3e-4, "candidate_pass": 1e-3, "solve": 1e-3,
             "output_pass": 1e-3, "loss_and_grad": 3e-3}
            for b in cases.BETAS]
    machine = {"cpu": "test CPU", "cores": 2, "torch": None, "torch_threads": 2}
    return {"machine": machine, "results": rows, "ratios": summary.ratios(rows), "iterations": its,
            "profile": prof}


def test_every_figure_is_drawn_from_full_shaped_data(tmp_path):
    from mgce_ref.benchmark.plots import FIGURES, plot_all

    paths = plot_all(_synthetic(tmp_path), str(tmp_path))
    assert sorted(p.rsplit("/", 1)[-1] for p in paths) == sorted(FIGURES)
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_writes_json_and_figures(torch_mode, tmp_path, capsys):
    from mgce_ref.cli import main

    out = tmp_path / "out.json"
    status = main(["bench", "--suite", "smoke", "--budget", "0.001", "--no-memory",
                   "--json", str(out), "--plot", str(tmp_path / "fig")])
    assert status == 0
    data = json.loads(out.read_text())
    assert {"cpu", "cores", "python", "numpy", "numba", "torch"} <= set(data["machine"])
    assert data["results"] and all(list(r) == ROW_KEYS for r in data["results"])
    assert all(isinstance(r["beta"], float) or r["beta"] == "inf" for r in data["results"])
    assert data["over_tolerance"] == []
    hidden = {s["backend"] for s in data["skipped"] if "torch" in s["reason"]}
    assert (hidden == TORCH_BACKENDS | {"softmax", "torch_ce"}) == (torch_mode == "torch hidden")
    assert sorted(p.name for p in (tmp_path / "fig").iterdir())[:1] == ["bench_beta.png"]
    assert "max_abs_err" in capsys.readouterr().out


def test_memory_probe_on_a_small_batch():
    from mgce_ref.benchmark.memory import measure_memory

    mem = measure_memory("numba", (2000, 50))
    assert "reason" not in mem, mem.get("reason")
    assert mem["output_bytes"] == 2000 * 50 * 4 + 2000 * 4
    assert mem["tracemalloc_peak_bytes"] >= mem["output_bytes"]


def test_replot_reads_a_pytest_benchmark_file(tmp_path, capsys):
    from mgce_ref.cli import main

    def bench(backend, op, beta, seconds):
        row = Case("float32", 8192, 100, beta, op, backend).row(None, 1e-8)
        return {"extra_info": {**row, "tolerance": None}, "stats": {"min": seconds, "median": 2 * seconds}}

    saved = {"machine_info": {"cpu": {"brand_raw": "test CPU", "count": 2}, "python_version": "3.11"},
             "datetime": "2026-01-01", "benchmarks": [
                 bench("numba", "loss_and_grad", 1.4, 1e-3), bench("mrcpy_torch", "loss_and_grad", 1.4, 2e-2),
                 bench("softmax", "softmax_torch", math.inf, 1e-4)]}
    path = tmp_path / "pb.json"
    path.write_text(json.dumps(saved))
    assert main(["bench", "--replot", str(path), "--plot", str(tmp_path / "fig")]) == 0
    out = capsys.readouterr().out
    assert "NOT MET" in out and "20.0x" in out and "10.0 passes" in out
    assert (tmp_path / "fig" / "bench_speedup.png").exists()


def test_profile_names_the_path_and_gives_blocks_no_candidate_pass():
    """Rows solved in blocks (``_blocks``) have no candidate pass of their own: the profile
    says so rather than subtract one they never run."""
    prof = summary.profile(sizes=((16, 10), (16, 100)), betas=(1.4, 11.0), budget=0.005)
    by = {(p["C"], p["beta"]): p for p in prof}
    assert by[(10, 11.0)]["path"] == "blocks" and by[(10, 11.0)]["candidate_pass"] == 0.0
    assert by[(10, 11.0)]["candidates_mean"] == 10.0
    for key in ((10, 1.4), (100, 1.4), (100, 11.0)):
        assert by[key]["path"] == "rows" and by[key]["candidate_pass"] > 0.0, key
    for p in prof:
        assert p["iterations_mean"] >= 1.0 and p["loss_and_grad"] > 0.0
