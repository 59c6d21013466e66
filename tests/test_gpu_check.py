"""``mgce-ref gpu-check``'s parts that need no GPU: registration, the no-GPU message, MRCpy from
a wheel, and the arithmetic of the roofline, speed-ups, targets and table.

The whole command runs end to end on Numba's CUDA simulator in CI (``.ci/run``:
``NUMBA_ENABLE_CUDASIM=1 mgce-ref gpu-check --simulate``, ~2 minutes), not here, since the
simulator needs a process of its own and the run would add its time to every test run.
"""

import argparse
import os
import subprocess
import sys
import zipfile

import pytest

from mgce_ref import cli, peers
from mgce_ref.benchmark import gpu_check as G


def test_registered_and_light_at_import():
    parser = cli.build_parser()
    args = parser.parse_args(["gpu-check", "--quick", "--out", "x", "--mrcpy-wheel", "w"])
    assert args._run is G.run and args.quick and args.out == "x" and args.mrcpy_wheel == "w"
    assert G._argv(args) == ["gpu-check", "--out", "x", "--quick", "--mrcpy-wheel", "w"]
    code = ("import sys, mgce_ref.cli; mgce_ref.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'matplotlib', 'numba_cuda') or m.startswith('numba.cuda')))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_without_a_gpu_it_says_so_and_points_to_simulate(capsys):
    import numba

    from mgce_ref import cuda_backend

    if numba.config.ENABLE_CUDASIM:
        pytest.skip("this process runs the simulator")
    try:
        cuda_backend.require_available()
        pytest.skip("a GPU is there")
    except RuntimeError:
        pass
    args = argparse.Namespace(out="unused", quick=False, simulate=False, mrcpy_wheel=None)
    assert G.run(args) == 2
    err = capsys.readouterr().err
    assert "backend='cuda'" in err and "--simulate" in err


def test_mrcpy_loss_from_a_carried_wheel(tmp_path, monkeypatch):
    monkeypatch.setattr(peers, "_MRCPY_MODULE", None)
    try:
        installed = peers.load_mrcpy_loss()
    except ImportError as exc:
        pytest.skip(f"needs MRCpy's loss.py to build the wheel from: {exc}")
    monkeypatch.setattr(peers, "_MRCPY_MODULE", None)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    with zipfile.ZipFile(wheels / "mrcpy-3.0.0-py3-none-any.whl", "w") as z:
        z.writestr("MRCpy/__init__.py", "raise ImportError('never imported')\n")
        z.write(installed.__file__, "MRCpy/pytorch/mgce/loss.py")
    assert G.load_mrcpy(str(wheels), tmp_path / "out") == "wheel mrcpy-3.0.0-py3-none-any.whl"
    module = peers.load_mrcpy_loss()
    assert module is not installed and hasattr(module, "mgce_loss")
    assert (tmp_path / "out" / "_mrcpy_from_wheel" / "loss.py").read_bytes() == \
        open(installed.__file__, "rb").read()
    with pytest.raises(ImportError, match="no mrcpy-"):
        G.load_mrcpy(str(tmp_path), tmp_path / "out")


def _rows():
    B, C = G.HEADLINE
    rows = []
    for beta, ours, theirs in ((1.4, 2e-3, 30e-3), (11.0, 1e-3, 10e-3), (float("inf"), 4e-3, None)):
        rows.append({"op": "loss_and_grad", "impl": "mgce_ref cuda", "B": B, "C": C,
                     "beta": beta, "seconds": ours})
        if beta == 1.4:
            rows.append({"op": "loss_and_grad", "impl": "mgce_ref cuda kernel", "B": B, "C": C,
                         "beta": beta, "seconds": ours / 2})
        peer = {"op": "loss_and_grad", "impl": "MRCpy torch", "B": B, "C": C, "beta": beta}
        rows.append(dict(peer, seconds=theirs) if theirs else dict(peer, skipped="beta = inf"))
    rows.append({"op": "softmax", "impl": "torch.softmax", "B": B, "C": C, "beta": None,
                 "seconds": 0.5e-3})
    return rows


def test_roofline_speedups_and_targets():
    B, C = G.HEADLINE
    rows = _rows()
    bw = 1e12  # bytes per second of the copy
    roof = G.roofline(rows, {"bytes_per_second": bw})
    moved = 8 * B * C + 12 * B
    ours = {r["beta"]: r for r in roof if r["impl"] == "mgce_ref cuda"}
    assert ours[1.4]["bytes"] == moved
    assert ours[1.4]["fraction_of_copy"] == pytest.approx(moved / 2e-3 / bw)  # 0.26
    soft = next(r for r in roof if r["impl"] == "torch.softmax")
    assert soft["fraction_of_copy"] == pytest.approx(8 * B * C / 0.5e-3 / bw)
    ups = {u["beta"]: u["speedup_over_mrcpy"] for u in G.speedups(rows)}
    assert ups == {1.4: pytest.approx(15.0), 11.0: pytest.approx(10.0)}
    met = {t["beta"]: t["met"] for t in G.targets(rows, roof, G.speedups(rows))}
    # 1.4: 15x but 26% < 50%; 11: 53% >= 25%; inf: 13% < 25%
    assert met == {1.4: False, 11.0: True, float("inf"): False}
    assert [t["met"] for t in G.targets([], [], [])] == [None, None, None]  # not measured


def test_table_names_the_machine_and_every_timing():
    rows = _rows()
    roof = G.roofline(rows, {"bytes_per_second": 1e12})
    report = {"mode": "full", "machine": {"gpu": "NVIDIA H200", "driver": "13.0",
                                          "cuda_runtime": "12.8", "torch": "2.13.0",
                                          "numba": "0.68.1", "numba_cuda": "0.30.4",
                                          "cpu": "Some CPU", "cores": 16, "date": "2026-12-03"},
              "conformance": {"summary": "cuda: all 1330 checks pass"},
              "tests": {"where": "device", "summary": "107 passed"},
              "copy": {"bytes_per_second": 1e12, "timer": "cuda events"},
              "bench": rows, "roofline": roof, "speedups": G.speedups(rows),
              "targets": G.targets(rows, roof, G.speedups(rows)),
              "training": {"skipped": "no torch"}, "cpu": {}, "paths": {"json": "r.json"}}
    text = G.table(report)
    assert "NVIDIA H200" in text and "all 1330 checks pass" in text and "1000.0 GB/s" in text
    assert "| loss_and_grad | (65536, 1000) | 1.4 | 2.000 ms | 26% | 1.000 ms | 53% | " \
           "30.000 ms | 15.0x | 500.0 us |" in text
    assert "| inf | 4.000 ms | 13% | - | - | skipped | - |" in text
    assert "target beta=1.4 at (65536, 1000): NOT met" in text
    assert "target beta=11 at (65536, 1000): met" in text


@pytest.mark.parametrize("cores, want", [(1, [1]), (2, [1, 2]), (12, [1, 2, 4, 8, 12]),
                                         (16, [1, 2, 4, 8, 16])])
def test_thread_counts(cores, want):
    assert G._thread_counts(cores) == want
