"""``mgce-ref gpu-check``: everything a machine with an NVIDIA GPU should measure, in one run.

1. ``machine``: GPU, driver, CUDA, torch, numba, numba-cuda, CPU model and cores.
2. ``conformance``: ``check_backend("cuda")`` on the whole catalogue (1330 checks).
3. ``copy``: a device-to-device copy of a (65536, 1000) float32 array, timed the same way, for
   the bandwidth that ``roofline`` divides by.
4. ``bench``: float32 ``loss_and_grad`` and ``link`` on numba device arrays (backend "cuda"),
   MRCpy's ``get_gradient``/``get_probs`` and ``torch.softmax`` on torch CUDA tensors, at
   (65536, 1000), (8192, 100) and (128, 10), beta in {1.4, 11, inf}; each timed with CUDA
   events around repeated calls after two warm-up calls; median of the rounds.
   Also the forward kernel alone (outputs allocated once, no validation kernels and their
   host round trips): impl "mgce_ref cuda kernel".
5. ``roofline``: each timing's minimal traffic (read the logits, write the (B, C) result, plus
   labels and loss) per second, as a fraction of the copy's bandwidth; ``targets``: the goals
   at (65536, 1000) (beta 1.4: >= 10x MRCpy and >= 50% of the copy; 11 and inf: >= 25%).
6. ``training``: ``benchmark.training.run_training_bench(device="cuda")`` if it is there.
7. ``cpu``: float32 ``loss_and_grad`` of the numba CPU backend (beta 1.4) against
   ``torch.softmax`` on the CPU, on 1, 2, 4, ... and all cores (both set to the same thread
   count; ``runner.measure``: the fastest of short rounds).
8. ``tests``: ``tests/cudasim`` (from a checkout) in a child process on the device itself
   (``MGCE_REF_CUDA_TESTS=device``), or on the simulator with ``--simulate``; last, and stopped
   at ``TIME_LIMIT`` seconds into the run.

Writes ``OUT/gpu_report.json`` (after every part, so a run cut short keeps its figures) and
``OUT/gpu_*.png`` (matplotlib, skipped without it); on a GPU (not ``--simulate``), run from a
checkout, the figures are also copied to its ``figures/``. Prints one table. ``--simulate``
re-runs itself under ``NUMBA_ENABLE_CUDASIM=1`` at tiny sizes and 8 threads per block (the
torch CUDA parts are then skipped with the reason). Exit status 0 when the conformance check
and the tests pass, 1 otherwise. Light at import: numba, torch and matplotlib load when the
command runs.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HELP = ("on a machine with an NVIDIA GPU: conformance, the CUDA tests on the device, GPU "
        "timings against MRCpy and torch, copy-bandwidth roofline, one report")

ROOT = Path(__file__).resolve().parents[2]  # the checkout, when run from one
SIZES = {"full": ((65536, 1000), (8192, 100), (128, 10)),
         "quick": ((65536, 1000), (8192, 100)),
         "simulate": ((4, 40), (16, 10))}
CPU_SIZES = {"full": ((65536, 1000), (8192, 100)), "quick": ((65536, 1000), (8192, 100)),
             "simulate": ((1024, 1000), (8192, 100))}
BETAS = (1.4, 11.0, float("inf"))
HEADLINE = (65536, 1000)
#: Goals at HEADLINE, float32 loss_and_grad: (least speed-up over MRCpy, least copy fraction).
TARGETS = {1.4: (10.0, 0.50), 11.0: (None, 0.25), float("inf"): (None, 0.25)}
#: Seconds into the run at which the tests, run last, are stopped (at least 60 s for them): a
#: command on a borrowed GPU machine may be cut at 10 minutes, and the report must be written.
TIME_LIMIT = {"full": 540.0, "quick": 240.0, "simulate": 240.0}
SIM_CASES = ("single_class", "ties", "dominant_class", "offset_1e6", "random_C10",
             "random_C100")
#: Launch settings under --simulate (as tests/cudasim's): 8 threads per block from 16 classes
#: on, so the tiny sizes run both kernel shapes in seconds.
SIM_LAUNCH = {"THREADS_PER_BLOCK": 8, "BLOCK_PER_ROW_MIN_C": 16}


def add_arguments(parser):
    parser.add_argument("--out", metavar="DIR", default="gpu_check",
                        help="where gpu_report.json and the gpu_*.png figures go "
                             "(default: ./gpu_check)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer sizes, shorter timings, a subset of the tests (<= 2 min)")
    parser.add_argument("--simulate", action="store_true",
                        help="Numba's CUDA simulator at tiny sizes, to prove the command runs "
                             "(no GPU needed; sets NUMBA_ENABLE_CUDASIM=1 in a child process)")
    parser.add_argument("--mrcpy-wheel", metavar="PATH",
                        help="an MRCpy wheel (or a folder holding one), for a machine without "
                             "MRCpy installed: its pytorch/mgce/loss.py is loaded from it")


# ----------------------------------------------------------------------------- helpers


def _mode(args):
    return "simulate" if args.simulate else "quick" if args.quick else "full"


def _argv(args):
    argv = ["gpu-check", "--out", args.out]
    argv += ["--quick"] if args.quick else []
    argv += ["--simulate"] if args.simulate else []
    argv += ["--mrcpy-wheel", args.mrcpy_wheel] if args.mrcpy_wheel else []
    return argv


def _child_env(**extra):
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _simulator_on():
    import numba

    return bool(numba.config.ENABLE_CUDASIM)


def _log(msg):
    print(f"[gpu-check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _step(report, key, fn, *a, **kw):
    """Run one part; an exception is recorded under ``key`` and the run goes on. The report is
    written after every part, so a run cut short still leaves what it measured."""
    t0 = time.perf_counter()
    _log(f"{key} ...")
    try:
        report[key] = fn(*a, **kw)
    except Exception as exc:  # noqa: BLE001 -- recorded in the report, the other parts still run
        report[key] = {"error": f"{type(exc).__name__}: {exc}"}
    report.setdefault("step_seconds", {})[key] = round(time.perf_counter() - t0, 1)
    _write(report)
    _log(f"{key}: {time.perf_counter() - t0:.1f} s")


def _write(report):
    with open(report["paths"]["json"], "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, default=str)
        f.write("\n")


# ----------------------------------------------------------------------------- 1. machine


def machine_info(sim):
    from . import runner

    info = runner.machine()
    info["simulator"] = sim
    info["gpu"] = info["driver"] = info["cuda_runtime"] = None
    from numba import cuda

    if sim:
        info["gpu"] = "Numba CUDA simulator (no GPU)"
    else:
        dev = cuda.get_current_device()
        name = dev.name
        info["gpu"] = name.decode() if isinstance(name, bytes) else str(name)
        info["compute_capability"] = list(dev.compute_capability)
        try:
            info["gpu_memory_gib"] = round(cuda.current_context().get_memory_info()[1] / 2**30, 1)
        except Exception:  # noqa: BLE001 -- a courtesy
            pass
        from numba.cuda.cudadrv.driver import driver
        from numba.cuda.cudadrv.runtime import runtime

        for key, get in (("driver", driver.get_version), ("cuda_runtime", runtime.get_version)):
            try:
                info[key] = ".".join(map(str, get()))
            except Exception as exc:  # noqa: BLE001
                info[key] = f"unknown ({type(exc).__name__})"
    try:
        import torch

        info["torch_cuda"] = torch.version.cuda
        info["torch_cuda_available"] = bool(torch.cuda.is_available())
    except ImportError:
        info["torch_cuda_available"] = False
    return info


# ----------------------------------------------------------------------------- 2. conformance


def conformance(mode):
    from ..conformance.check import check_backend

    cases = SIM_CASES if mode == "simulate" else None
    report = check_backend("cuda", cases=cases, name="cuda")
    out = {"passed": bool(report.passed), "checks": len(report.results),
           "failed": len(report.failures), "seconds": round(report.seconds, 1),
           "summary": report.summary(),
           "cases": "all" if cases is None else list(cases)}
    if report.failures:
        out["failures"] = report.table(failures_only=True)
    return out


# ----------------------------------------------------------------------------- 3. tests


def cuda_tests(mode, sim, timeout):
    tests = ROOT / "tests" / "cudasim"
    if not tests.is_dir():
        return {"skipped": f"{tests} not found: run gpu-check from a checkout for the tests"}
    env = _child_env(NUMBA_ENABLE_CUDASIM="1") if sim else _child_env(MGCE_REF_CUDA_TESTS="device")
    if not sim:
        env.pop("NUMBA_ENABLE_CUDASIM", None)
    import importlib.util

    if importlib.util.find_spec("pytest") is None:
        return {"skipped": "pytest is not installed here (the tests need pytest; hypothesis and "
                           "mpmath too)"}
    target = [str(tests)]
    if mode != "full":  # the double-double root, streams, and the agreement tests (not Hypothesis)
        target = [str(tests / "test_cuda_refine.py")]
        if mode == "quick":
            target += [str(tests / "test_cuda_agreement.py"), "-k", "not random"]
    left_out = None
    if importlib.util.find_spec("hypothesis") is None:
        agreement = tests / "test_cuda_agreement.py"
        target = [t for t in target if t != str(agreement)] + [f"--ignore={agreement}"]
        left_out = f"{agreement.name} left out: hypothesis is not installed"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *target]
    t0 = time.perf_counter()
    try:
        run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return {"passed": False, "where": "simulator" if sim else "device", "selection": target,
                "summary": f"stopped after {timeout:.0f} s (the run's time limit)",
                "tail": out[-4000:]}
    lines = (run.stdout + run.stderr).strip().splitlines()
    return {"passed": run.returncode == 0, "returncode": run.returncode,
            "where": "simulator" if sim else "device", "selection": target,
            "left_out": left_out,
            "summary": lines[-1] if lines else "", "seconds": round(time.perf_counter() - t0, 1),
            "tail": "\n".join(lines[-40:]) if run.returncode else None}


# ----------------------------------------------------------------------------- timing


class _Timer:
    """Median seconds per call of ``fn``: CUDA events around ``n`` calls per round, after two
    warm-up calls; wall clock on the simulator (its events do not time)."""

    def __init__(self, sim, budget):
        self.sim = sim
        self.budget = budget

    def __call__(self, fn, events="numba"):
        from numba import cuda

        sync = cuda.synchronize
        if events == "torch":
            import torch

            sync = torch.cuda.synchronize
        fn()
        if not self.sim:
            fn()
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        one = max(time.perf_counter() - t0, 1e-7)
        rounds = 1 if self.sim else 5
        n = 1 if self.sim else int(max(1, min(200, self.budget / rounds / one)))
        times = []
        for _ in range(rounds):
            if self.sim:
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
                continue
            if events == "torch":
                import torch

                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
            else:
                start = cuda.event(timing=True)
                end = cuda.event(timing=True)
            start.record()
            for _ in range(n):
                fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3 / n)
        return statistics.median(times), n, rounds


# ----------------------------------------------------------------------------- 4. copy


def copy_bandwidth(mode, timer):
    import numpy as np
    from numba import cuda

    B, C = SIZES["simulate"][0] if mode == "simulate" else HEADLINE
    src = cuda.to_device(np.ones((B, C), np.float32))
    dst = cuda.device_array_like(src)
    t, n, rounds = timer(lambda: dst.copy_to_device(src))
    nbytes = 2 * src.size * 4  # read once, written once
    return {"shape": [B, C], "dtype": "float32", "bytes": nbytes, "seconds": t,
            "bytes_per_second": nbytes / t, "calls_per_round": n, "rounds": rounds,
            "timer": "wall (simulator)" if timer.sim else "cuda events"}


# ----------------------------------------------------------------------------- 5. bench


def _torch_cuda_reason(sim):
    if sim:
        return "torch has no CUDA here: the simulator stands in for numba only"
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} sees no CUDA device"
    return None


def load_mrcpy(wheel, out):
    """Make ``peers.load_mrcpy_loss`` return MRCpy's loss module: installed, or from a wheel."""
    from .. import peers

    if not wheel:
        peers.load_mrcpy_loss()  # raises ImportError with the reason
        return "installed"
    import importlib.util
    import zipfile

    path = Path(wheel)
    if path.is_dir():
        found = sorted(p for p in path.glob("*.whl") if p.name.lower().startswith("mrcpy"))
        if not found:
            raise ImportError(f"no mrcpy-*.whl in {path}")
        path = found[-1]
    with zipfile.ZipFile(path) as z:
        name = next((n for n in z.namelist() if n.endswith("pytorch/mgce/loss.py")), None)
        if name is None:
            raise ImportError(f"{path.name} holds no pytorch/mgce/loss.py")
        dest = Path(out) / "_mrcpy_from_wheel" / "loss.py"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(z.read(name))
    spec = importlib.util.spec_from_file_location("_mgce_ref_peer_mrcpy_loss", dest)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    peers._MRCPY_MODULE = module
    return f"wheel {path.name}"


def _traffic(op, B, C):
    """Least bytes a kernel must move: read the float32 logits, write the (B, C) float32
    result; loss_and_grad also reads int64 labels and writes float32 losses."""
    return 8 * B * C + (12 * B if op == "loss_and_grad" else 0)


def bench(mode, timer, mrcpy_state, sim):
    import numpy as np
    from numba import cuda

    import mgce_ref

    from . import runner

    rows = []
    torch_reason = _torch_cuda_reason(sim)
    for B, C in SIZES[mode]:
        h, y = runner.inputs(B, C, np.float32)
        d, dy = cuda.to_device(h), cuda.to_device(y)
        check = np.unique(np.linspace(0, B - 1, min(B, 8)).astype(int))
        th = ty = None
        if torch_reason is None:
            import torch

            th, ty = torch.from_numpy(h).cuda(), torch.from_numpy(y).cuda()
        for op in ("loss_and_grad", "link"):
            for beta in BETAS:
                base = {"op": op, "B": B, "C": C, "beta": beta, "dtype": "float32"}
                if op == "loss_and_grad":
                    def fn(beta=beta):
                        return mgce_ref.loss_and_grad(d, dy, beta, backend="cuda")
                else:
                    def fn(beta=beta):
                        return mgce_ref.link(d, beta, backend="cuda")
                got = fn()
                got = (got[1] if op == "loss_and_grad" else got).copy_to_host()[check]
                want = (mgce_ref.loss_and_grad(h[check], y[check], beta)[1]
                        if op == "loss_and_grad" else mgce_ref.link(h[check], beta))
                t, n, rounds = timer(fn)
                rows.append(dict(base, impl="mgce_ref cuda", seconds=t, calls_per_round=n,
                                 rounds=rounds, max_abs_diff_vs_numba=float(
                                     np.abs(got.astype(np.float64) - want).max())))
                kernel = _kernel_only(d, dy, beta, op)
                t, n, rounds = timer(kernel)
                rows.append(dict(base, impl="mgce_ref cuda kernel", seconds=t,
                                 calls_per_round=n, rounds=rounds))
                rows.append(_mrcpy_row(base, th, ty, timer, mrcpy_state, torch_reason))
            # torch.softmax: the same pass for both ops and every beta; timed once per size
        rows.append(_softmax_row({"op": "softmax", "B": B, "C": C, "beta": None,
                                  "dtype": "float32"}, th, timer, torch_reason))
        del d, dy, th, ty
    return rows


def _kernel_only(d, dy, beta, op):
    """The forward kernel alone on validated device arrays, into outputs allocated once: no
    validation kernels, no host round trips, no allocation (what the roofline is about)."""
    import numpy as np
    from numba import cuda

    from .. import cuda_backend
    from .._dispatch import output_shapes

    outputs = ("loss", "grad") if op == "loss_and_grad" else ("link",)
    B, C = d.shape
    out = {name: cuda.device_array(shape, np.dtype(d.dtype))
           for name, shape in output_shapes(B, C, outputs).items()}
    y = dy if op == "loss_and_grad" else cuda.device_array(0, np.int64)
    return lambda: cuda_backend._forward_device(d, y, beta, outputs, out=out)


def _mrcpy_row(base, th, ty, timer, mrcpy_state, torch_reason):
    row = dict(base, impl="MRCpy torch")
    reason = torch_reason or mrcpy_state.get("skipped")
    if reason is None and base["beta"] == float("inf"):
        reason = "MRCpy's mgce_loss does not take beta = inf"
    if reason:
        return dict(row, skipped=reason)
    from ..peers import mrcpy_torch_ops

    try:
        ops = mrcpy_torch_ops(base["C"], base["beta"])
        if base["op"] == "loss_and_grad":
            def fn():
                return ops["get_gradient"](th, ty)
        else:
            def fn():
                return ops["get_probs"](th)
        t, n, rounds = timer(fn, events="torch")
    except Exception as exc:  # noqa: BLE001
        return dict(row, skipped=f"{type(exc).__name__}: {exc}")
    return dict(row, seconds=t, calls_per_round=n, rounds=rounds)


def _softmax_row(base, th, timer, torch_reason):
    row = dict(base, impl="torch.softmax")
    if torch_reason:
        return dict(row, skipped=torch_reason)
    import torch

    t, n, rounds = timer(lambda: torch.softmax(th, dim=1), events="torch")
    return dict(row, seconds=t, calls_per_round=n, rounds=rounds)


# ----------------------------------------------------------------------------- 6. roofline


def roofline(rows, copy):
    bw = copy.get("bytes_per_second") if isinstance(copy, dict) else None
    out = []
    for r in rows:
        if r.get("seconds") is None:
            continue
        op = "link" if r["op"] == "softmax" else r["op"]
        moved = _traffic(op, r["B"], r["C"])
        out.append({"op": r["op"], "impl": r["impl"], "B": r["B"], "C": r["C"], "beta": r["beta"],
                    "bytes": moved, "bytes_per_second": moved / r["seconds"],
                    "fraction_of_copy": moved / r["seconds"] / bw if bw else None})
    return out


def speedups(rows):
    out = []
    for r in rows:
        if r["impl"] != "mgce_ref cuda" or r.get("seconds") is None:
            continue
        peer = next((p for p in rows if p["impl"] == "MRCpy torch" and p["op"] == r["op"]
                     and (p["B"], p["C"], p["beta"]) == (r["B"], r["C"], r["beta"])), None)
        if peer and peer.get("seconds"):
            out.append({"op": r["op"], "B": r["B"], "C": r["C"], "beta": r["beta"],
                        "speedup_over_mrcpy": peer["seconds"] / r["seconds"]})
    return out


def targets(rows, roof, ups):
    out = []
    for beta, (least_up, least_bw) in TARGETS.items():
        key = ("loss_and_grad", *HEADLINE, beta)
        frac = next((x["fraction_of_copy"] for x in roof if x["impl"] == "mgce_ref cuda"
                     and (x["op"], x["B"], x["C"], x["beta"]) == key), None)
        up = next((x["speedup_over_mrcpy"] for x in ups
                   if (x["op"], x["B"], x["C"], x["beta"]) == key), None)
        t = {"beta": beta, "fraction_of_copy": frac, "least_fraction": least_bw,
             "speedup_over_mrcpy": up, "least_speedup": least_up}
        checks = [frac is not None and frac >= least_bw]
        if least_up is not None:
            checks.append(up is not None and up >= least_up)
        t["met"] = None if frac is None else all(checks)
        out.append(t)
    return out


# ----------------------------------------------------------------------------- 7. training


def training(mode, sim):
    reason = _torch_cuda_reason(sim)
    if reason:
        return {"skipped": reason}
    try:
        from .training import run_training_bench
    except ImportError as exc:
        return {"skipped": f"mgce_ref.benchmark.training is not there ({exc})"}
    try:
        import mgce_ref.torch  # noqa: F401
    except ImportError as exc:
        return {"skipped": f"mgce_ref.torch is not importable ({exc})"}
    return {"rows": run_training_bench(device="cuda", quick=mode != "full")}


# ----------------------------------------------------------------------------- 8. cpu


def _thread_counts(cores):
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    return counts + [cores] if cores > 1 else counts


def cpu_scaling(mode):
    import numba
    import numpy as np

    import mgce_ref

    from . import runner

    try:
        import torch
    except ImportError:
        torch = None
    cores = numba.config.NUMBA_NUM_THREADS
    counts = _thread_counts(cores) if mode == "full" else sorted({1, cores})
    budget = 0.3 if mode == "full" else 0.15
    rows = []
    saved = (numba.get_num_threads(), torch.get_num_threads() if torch else None)
    try:
        for B, C in CPU_SIZES[mode]:
            h, y = runner.inputs(B, C, np.float32)
            th = torch.from_numpy(h) if torch else None
            for n in counts:
                numba.set_num_threads(n)
                fns = {"mgce_ref numba loss_and_grad beta=1.4":
                       lambda: mgce_ref.loss_and_grad(h, y, 1.4)}
                if torch:
                    torch.set_num_threads(n)
                    fns["torch.softmax"] = lambda: torch.softmax(th, dim=1)
                for impl, fn in fns.items():
                    fn()
                    t = runner.measure(fn, budget=budget)  # the fastest of short rounds
                    rows.append({"impl": impl, "B": B, "C": C, "threads": n, "seconds": t})
    finally:
        numba.set_num_threads(saved[0])
        if torch:
            torch.set_num_threads(saved[1])
    return {"cores": cores, "threads": counts,
            "torch": torch.__version__ if torch else "not installed", "rows": rows}


# ----------------------------------------------------------------------------- figures


def figures(report, out, copy_to):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return {"skipped": f"matplotlib is not installed ({exc})"}
    m = report.get("machine", {})
    title = f"{m.get('gpu')} · {m.get('date', '')[:10]}"
    written = []
    rows = [r for r in report.get("bench", []) if isinstance(r, dict) and r.get("seconds")]
    if rows:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, op in zip(axes, ("loss_and_grad", "link")):
            labels, series = [], {}
            for r in rows:
                if r["op"] != op:
                    continue
                key = f"({r['B']}, {r['C']})\nβ={r['beta']:g}"
                if key not in labels:
                    labels.append(key)
                series.setdefault(r["impl"], {})[key] = r["seconds"] * 1e3
            soft = {(r["B"], r["C"]): r["seconds"] * 1e3 for r in rows if r["op"] == "softmax"}
            width = 0.8 / (len(series) + 1)
            for i, (impl, vals) in enumerate(series.items()):
                ax.bar([j + i * width for j in range(len(labels))],
                       [vals.get(k, float("nan")) for k in labels], width, label=impl)
            if soft:
                ax.bar([j + len(series) * width for j in range(len(labels))],
                       [soft.get(tuple(int(v) for v in k.split("\n")[0][1:-1].split(", ")),
                                 float("nan")) for k in labels], width, label="torch.softmax")
            ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], labels, fontsize=7)
            ax.set_yscale("log")
            ax.set_ylabel("ms per call (wall clock on the simulator)" if m.get("simulator")
                          else "ms per call (CUDA events)")
            ax.set_title(f"float32 {op}")
            ax.legend(fontsize=8)
        fig.suptitle(title)
        fig.tight_layout()
        written.append(_save(fig, out, "gpu_bench.png", plt))
    roof = [r for r in report.get("roofline", []) if r.get("fraction_of_copy") is not None]
    if roof:
        fig, ax = plt.subplots(figsize=(10, 4.5))
        names = [f"{r['impl']}\n{r['op']} ({r['B']}, {r['C']})"
                 + (f" β={r['beta']:g}" if r["beta"] is not None else "") for r in roof]
        ax.barh(range(len(roof)), [100 * r["fraction_of_copy"] for r in roof])
        ax.set_yticks(range(len(roof)), names, fontsize=6)
        ax.axvline(50, color="k", ls=":", lw=1)
        ax.axvline(25, color="k", ls="--", lw=1)
        ax.set_xlabel("least bytes moved per second, % of a device-to-device copy")
        ax.set_title(title)
        fig.tight_layout()
        written.append(_save(fig, out, "gpu_roofline.png", plt))
    cpu = report.get("cpu", {})
    if cpu.get("rows"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for (impl, B, C) in dict.fromkeys((r["impl"], r["B"], r["C"]) for r in cpu["rows"]):
            pts = [r for r in cpu["rows"] if (r["impl"], r["B"], r["C"]) == (impl, B, C)]
            ax.plot([r["threads"] for r in pts], [r["seconds"] * 1e3 for r in pts], "o-",
                    label=f"{impl} ({B}, {C})")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("threads")
        ax.set_ylabel("ms per call")
        ax.set_title(f"{m.get('cpu')} · {cpu.get('cores')} cores")
        ax.legend(fontsize=7)
        fig.tight_layout()
        written.append(_save(fig, out, "gpu_cpu_scaling.png", plt))
    copied = []
    if copy_to is not None:
        copy_to.mkdir(exist_ok=True)
        for p in written:
            shutil.copy(p, copy_to / Path(p).name)
            copied.append(str(copy_to / Path(p).name))
    return {"written": written, "copied_to_checkout": copied}


def _save(fig, out, name, plt):
    path = str(Path(out) / name)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- the table


def _ms(s):
    return "-" if s is None else f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


def table(report):
    m = report.get("machine", {})
    lines = [f"mgce-ref gpu-check ({report['mode']}) on {m.get('gpu')} (driver {m.get('driver')}, "
             f"CUDA {m.get('cuda_runtime')}), torch {m.get('torch')}, numba {m.get('numba')}, "
             f"numba-cuda {m.get('numba_cuda')}; {m.get('cpu')}, {m.get('cores')} cores; "
             f"{m.get('date')}"]
    c = report.get("conformance", {})
    lines.append(f"conformance (cuda): {c.get('summary') or c.get('error')}")
    t = report.get("tests", {})
    lines.append(f"tests/cudasim on the {t.get('where', '?')}: "
                 f"{t.get('summary') or t.get('skipped') or t.get('error')}")
    cp = report.get("copy", {})
    if cp.get("bytes_per_second"):
        lines.append(f"device-to-device copy: {cp['bytes_per_second'] / 1e9:.1f} GB/s "
                     f"({cp['timer']})")
    rows = [r for r in report.get("bench", []) if isinstance(r, dict)]
    roof = {(r["op"], r["impl"], r["B"], r["C"], r["beta"]): r["fraction_of_copy"]
            for r in report.get("roofline", [])}
    ups = {(u["op"], u["B"], u["C"], u["beta"]): u["speedup_over_mrcpy"]
           for u in report.get("speedups", [])}
    if rows:
        lines.append("")
        lines.append("| op | (B, C) | beta | mgce_ref cuda | % of copy | kernel alone | % of copy "
                     "| MRCpy torch | speed-up | torch.softmax |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        soft = {(r["B"], r["C"]): r for r in rows if r["op"] == "softmax"}
        for r in rows:
            if r["impl"] != "mgce_ref cuda":
                continue
            key = (r["op"], r["B"], r["C"], r["beta"])
            peer = next((p for p in rows if p["impl"] == "MRCpy torch"
                         and (p["op"], p["B"], p["C"], p["beta"]) == key), {})
            frac = roof.get((r["op"], r["impl"], r["B"], r["C"], r["beta"]))
            kern = next((k for k in rows if k["impl"] == "mgce_ref cuda kernel"
                         and (k["op"], k["B"], k["C"], k["beta"]) == key), {})
            kfrac = roof.get((r["op"], "mgce_ref cuda kernel", r["B"], r["C"], r["beta"]))
            up = ups.get(key)
            sm = soft.get((r["B"], r["C"]), {})
            lines.append(
                f"| {r['op']} | ({r['B']}, {r['C']}) | {r['beta']:g} | {_ms(r.get('seconds'))} | "
                f"{'-' if frac is None else f'{100 * frac:.0f}%'} | {_ms(kern.get('seconds'))} | "
                f"{'-' if kfrac is None else f'{100 * kfrac:.0f}%'} | "
                f"{_ms(peer.get('seconds')) if peer.get('seconds') else 'skipped'} | "
                f"{'-' if up is None else f'{up:.1f}x'} | "
                f"{_ms(sm.get('seconds')) if sm.get('seconds') else 'skipped'} |")
        skipped = sorted({r["skipped"] for r in rows if r.get("skipped")})
        for s in skipped:
            lines.append(f"  skipped: {s}")
    for tg in report.get("targets", []):
        verdict = "not measured" if tg["met"] is None else "met" if tg["met"] else "NOT met"
        lines.append(f"target beta={tg['beta']:g} at {HEADLINE}: {verdict}")
    tr = report.get("training", {})
    done = f"{len(tr.get('rows', []))} rows in the report"
    lines.append(f"training step on the GPU: {tr.get('skipped') or tr.get('error') or done}")
    cpu = report.get("cpu", {})
    if cpu.get("rows"):
        best = {}
        for r in cpu["rows"]:
            if r["threads"] == cpu["threads"][-1]:
                best[(r["impl"], r["B"], r["C"])] = r["seconds"]
        lines.append(f"CPU, {cpu['threads'][-1]} threads: " + "; ".join(
            f"{impl} ({B}, {C}) {_ms(s)}" for (impl, B, C), s in best.items()))
    elif cpu.get("error"):
        lines.append(f"CPU: {cpu['error']}")
    lines.append(f"report: {report['paths']['json']}; figures: "
                 f"{', '.join(report.get('figures', {}).get('written', [])) or 'none'}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- run


def run(args):
    if args.simulate and os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        # numba reads the variable when it is first imported, so the simulator needs a fresh
        # interpreter; this one only waits for it.
        cmd = [sys.executable, "-m", "mgce_ref.cli", *_argv(args)]
        return subprocess.run(cmd, env=_child_env(NUMBA_ENABLE_CUDASIM="1")).returncode
    started = time.perf_counter()
    sim = _simulator_on()
    if args.simulate and not sim:
        print("mgce-ref gpu-check: NUMBA_ENABLE_CUDASIM=1 was set after numba was imported",
              file=sys.stderr)
        return 2
    from .. import cuda_backend

    try:
        cuda_backend.require_available()
    except RuntimeError as exc:
        print(f"mgce-ref gpu-check: {exc}\n(use --simulate to run it on Numba's CUDA simulator)",
              file=sys.stderr)
        return 2
    mode = _mode(args)
    if sim:
        from .. import config

        for name, value in SIM_LAUNCH.items():
            setattr(config, name, value)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"mode": mode, "command": "mgce-ref " + " ".join(_argv(args)),
              "launch_settings": SIM_LAUNCH if sim else None,
              "paths": {"json": str(out / "gpu_report.json")}}
    # Measurements first, the device tests last (their time is the least predictable: each
    # test process compiles its kernels afresh), so that a run cut short keeps the figures.
    _step(report, "machine", machine_info, sim)
    _step(report, "conformance", conformance, mode)
    timer = _Timer(sim, budget=0.3 if mode == "full" else 0.12)
    _step(report, "copy", copy_bandwidth, mode, timer)
    mrcpy = {}
    try:
        mrcpy["source"] = load_mrcpy(args.mrcpy_wheel, out)
    except Exception as exc:  # noqa: BLE001 -- MRCpy is optional
        mrcpy["skipped"] = f"MRCpy not available ({type(exc).__name__}: {exc})"
    report["mrcpy"] = mrcpy
    _step(report, "bench", bench, mode, timer, mrcpy, sim)
    rows = report["bench"] if isinstance(report["bench"], list) else []
    report["roofline"] = roofline(rows, report["copy"])
    report["speedups"] = speedups(rows)
    report["targets"] = targets(rows, report["roofline"], report["speedups"])
    _step(report, "training", training, mode, sim)
    _step(report, "cpu", cpu_scaling, mode)
    checkout_figures = ROOT / "figures" if not sim and (ROOT / "pyproject.toml").is_file() else None
    _step(report, "figures", figures, report, out, checkout_figures)
    left = TIME_LIMIT[mode] - (time.perf_counter() - started)
    _step(report, "tests", cuda_tests, mode, sim, max(60.0, left))
    report["seconds"] = round(time.perf_counter() - started, 1)
    _write(report)
    print(table(report))
    print(f"total {report['seconds']:.0f} s")
    ok = (report["conformance"].get("passed") is True
          and report["tests"].get("passed", "skipped" in report["tests"]) is True)
    return 0 if ok else 1
