"""``mgce-ref bench``: time every way of computing MGCE, check each answer, write JSON and figures.

Runs the cases of :func:`mgce_ref.benchmark.cases.suite` through the same runner as the
pytest-benchmark files in ``bench/``, prints a results table and the target ratios, and
optionally writes the JSON (``--json``) and the figures (``--plot``). Light at import: torch,
matplotlib and Numba load when the command runs.
"""

import json
import sys
import time

HELP = "time and check every MGCE backend against MRCpy, entmax and a softmax pass"


def add_arguments(parser):
    parser.add_argument("--quick", action="store_true",
                        help="the targets and a beta sweep only (under a minute on 2 cores)")
    parser.add_argument("--suite", choices=("smoke", "quick", "full"), default=None,
                        help="pick a suite by name (smoke: seconds, for tests; default: full, "
                             "or quick with --quick)")
    parser.add_argument("--json", metavar="PATH", help="write machine, results and extras here")
    parser.add_argument("--plot", metavar="DIR", help="write the bench_*.png figures here")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds of timing per case (default 0.15 quick, 0.5 full)")
    parser.add_argument("--replot", metavar="PATH",
                        help="time nothing: print and plot a saved JSON (ours, or pytest "
                             "bench/ --benchmark-json)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak-memory measurement (a child process, B x C = 1e8)")
    parser.add_argument("--no-training", action="store_true",
                        help="skip the training-step benchmark (an MLP's SGD step with MGCELoss, "
                             "MRCpy and cross-entropy; needs torch)")


_START = [None]


def _progress(i, n, case, row, reason):
    from .summary import fmt_seconds

    if i == 1 or _START[0] is None:
        _START[0] = time.perf_counter()
    head = f"[{i:>3}/{n} {time.perf_counter() - _START[0]:5.0f} s] {case.id}"
    if row is None:
        print(f"{head}: skipped ({reason})", file=sys.stderr, flush=True)
    else:
        print(f"{head}: {fmt_seconds(row['seconds'])}, max abs err {row['max_abs_err']:.1e}",
              file=sys.stderr, flush=True)


def _skip_notes(skipped):
    """One line per distinct reason, with how many cases it covers."""
    counts = {}
    for s in skipped:
        key = (s["backend"], s["reason"])
        counts[key] = counts.get(key, 0) + 1
    return [f"  {backend}: {n} case(s) skipped: {reason}" for (backend, reason), n in sorted(counts.items())]


def collect(suite_name, budget, memory=True, progress=_progress, training=True):
    """Run a suite and everything the JSON holds; returns the JSON-ready dict."""
    from . import cases, runner, summary
    from .memory import MEMORY_BACKENDS, measure_memory

    started = time.perf_counter()
    todo = cases.suite(suite_name)
    rows, skipped, over = runner.run(todo, budget=budget, progress=progress)
    sizes = ((16, 5),) if suite_name == "smoke" else cases.HEADLINE
    betas = (1.0, 2.0, float("inf")) if suite_name == "smoke" else summary.ITER_BETAS
    data = {
        "machine": runner.machine(),
        "suite": suite_name,
        "results": rows,
        "skipped": skipped,
        "over_tolerance": over,
        "ratios": summary.ratios(rows),
        "iterations": summary.iterations(sizes=sizes, betas=betas),
    }
    if progress:
        print("profile: where numba's loss_and_grad time goes, per beta", file=sys.stderr, flush=True)
    if suite_name == "smoke":
        data["profile"] = summary.profile(sizes=sizes, betas=(2.0,), budget=budget)
    elif suite_name == "quick":
        data["profile"] = summary.profile(budget=2 * budget)
    else:
        grid = tuple((cases.grid_batch(C), C) for C in cases.CLASSES)
        data["profile"] = summary.profile(sizes=grid, betas=cases.BETAS + cases.EXTRA_BETAS,
                                          budget=budget)
    if suite_name != "smoke":
        if progress:
            print("head to head: numba, MRCpy and torch.softmax in alternating rounds",
                  file=sys.stderr, flush=True)
        data["head_to_head"] = summary.head_to_head(budget=6 * budget)
        if progress:
            print("small batches: numba against F.cross_entropy in alternating rounds",
                  file=sys.stderr, flush=True)
        data["small_batch"] = summary.small_batch(budget=2 * budget)
    data["targets"] = [{"target": t, "measured": m, "met": ok}
                       for t, m, ok in summary.targets(data["ratios"], data.get("head_to_head", ()))
                       + summary.small_targets(data.get("small_batch", ()))]
    if memory:
        shape = (1000, 100) if suite_name == "smoke" else cases.MEMORY_SHAPE
        which = MEMORY_BACKENDS if suite_name == "full" else MEMORY_BACKENDS[:1]
        data["memory"] = []
        for backend in which:
            if progress:
                print(f"peak memory: {backend} loss_and_grad at B x C = {shape[0]} x {shape[1]} float32",
                      file=sys.stderr, flush=True)
            data["memory"].append(measure_memory(backend, shape))
    if training and suite_name != "smoke":
        data["training"] = _training(suite_name == "quick", progress)
    data["elapsed_seconds"] = time.perf_counter() - started
    return data


def _training(quick, progress):
    """The rows of :func:`mgce_ref.benchmark.training.run_training_bench` on the CPU, or one
    row saying why not (torch missing)."""
    from .training import run_training_bench

    if progress:
        print("training step: MLP SGD step with MGCELoss, MRCpy and CrossEntropyLoss",
              file=sys.stderr, flush=True)
    try:
        return run_training_bench(device="cpu", quick=quick)
    except ImportError as exc:
        return [{"loss": "all", "skipped": f"torch is not installed ({exc})"}]


def report(data, out=None):
    """Print the tables a person reads after a run."""
    from .summary import fmt_seconds, ratios_table, results_table

    out = out or sys.stdout
    m = data["machine"]
    core = f" ({m['llvm_cpu']})" if m.get("llvm_cpu") else ""
    print(f"machine: {m['cpu']}{core}, {m['cores']} cores, Python {m['python']}, "
          f"numpy {m['numpy']}, numba {m['numba']}, "
          f"torch {m['torch'] or 'absent'} ({m['torch_threads']} threads)", file=out)
    print(results_table(data["results"]), file=out)
    if data["ratios"]:
        print("\nnumba loss_and_grad against MRCpy get_gradient and one softmax pass:", file=out)
        print(ratios_table(data["ratios"]), file=out)
    for h in data.get("head_to_head", []):
        t = h["seconds"]
        print(f"head to head, B={h['B']} C={h['C']} beta={h['beta']} {h['dtype']} (alternating rounds): "
              f"numba {fmt_seconds(t['numba'])}, MRCpy {fmt_seconds(t['mrcpy'])}, "
              f"torch.softmax {fmt_seconds(t['softmax_torch'])}", file=out)
    for r in data.get("small_batch", []):
        t = r["seconds"]
        print(f"small batch, B={r['B']} C={r['C']} beta={r['beta']} float32 (alternating rounds): "
              f"F.cross_entropy {fmt_seconds(t['cross_entropy'])}, "
              + ", ".join(f"{op} {fmt_seconds(t[op])} ({x:.2f}x)"
                          for op, x in r["vs_cross_entropy"].items()), file=out)
    for t in data["targets"]:
        print(f"{'MET    ' if t['met'] else 'NOT MET'}  {t['target']}: {t['measured']}", file=out)
    for mem in data.get("memory", []):
        if "reason" in mem:
            print(f"peak memory, {mem['backend']}: not measured ({mem['reason']})", file=out)
        else:
            print(f"peak memory, {mem['backend']} loss_and_grad, {mem['B']} x {mem['C']} float32: "
                  f"input {mem['input_bytes'] / 1e6:.0f} MB, outputs {mem['output_bytes'] / 1e6:.0f} MB, "
                  f"peak rise {mem['peak_rss_rise_bytes'] / 1e6:.0f} MB, "
                  f"temporaries {mem['temporaries_bytes'] / 1e6:.0f} MB", file=out)
    if data.get("training"):
        from .training import format_table

        rows = data["training"]
        if rows[0].get("loss") == "all":
            print(f"\ntraining step: skipped ({rows[0]['skipped']})", file=out)
        else:
            print("\ntraining step (forward, loss, backward, SGD step; loss share = loss alone / "
                  "step):", file=out)
            print(format_table(rows), file=out)
    notes = _skip_notes(data["skipped"])
    if notes:
        print("skipped:", *notes, sep="\n", file=out)
    for o in data["over_tolerance"]:
        print(f"OVER TOLERANCE: {o['case']}: max abs err {o['max_abs_err']:.2e} > {o['tolerance']:.2e}",
              file=out)


def run(args):
    if args.replot:
        from .summary import from_pytest_benchmark

        with open(args.replot) as f:
            data = json.load(f)
        if "benchmarks" in data:
            data = from_pytest_benchmark(data)
    else:
        name = args.suite or ("quick" if args.quick else "full")
        budget = args.budget if args.budget is not None else (0.5 if name == "full" else 0.15)
        data = collect(name, budget, memory=not args.no_memory, training=not args.no_training)
    report(data)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
        print(f"wrote {args.json}", file=sys.stderr)
    if args.plot:
        from .plots import plot_all

        for path in plot_all(data, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    return 1 if data["over_tolerance"] else 0
