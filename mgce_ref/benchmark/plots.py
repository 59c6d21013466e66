"""The benchmark figures, drawn from the JSON that ``mgce-ref bench --json`` writes.

Every function takes that dict (``machine``, ``results``, ``iterations``, ``profile``) and
returns a matplotlib figure, or None when the run holds too little data for it (a quick run
has no beta x C grid, for instance). matplotlib loads lazily with the Agg backend.
"""

import math
import os

from .cases import (
    HEADLINE,
    SCALING_B,
    SCALING_C,
    TARGET_BETA,
    beta_from_json,
    beta_json,
    beta_str,
    grid_batch,
)

SERIES = {  # (backend, op) -> (label, colour, marker, linestyle)
    ("numba", "loss_and_grad"): ("numba", "C0", "o", "-"),
    ("numba", "link"): ("numba", "C0", "o", "-"),
    ("numba", "nu"): ("numba nu only", "C0", ".", ":"),
    ("numpy", "loss_and_grad"): ("numpy", "C1", "s", "-"),
    ("numpy", "link"): ("numpy", "C1", "s", "-"),
    ("exact", "loss_and_grad"): ("exact", "C7", "x", "-"),
    ("exact", "link"): ("exact", "C7", "x", "-"),
    ("cuda", "loss_and_grad"): ("cuda", "C2", "D", "-"),
    ("cuda", "link"): ("cuda", "C2", "D", "-"),
    ("mrcpy_torch", "loss_and_grad"): ("MRCpy get_gradient", "C3", "^", "-"),
    ("mrcpy_torch", "link"): ("MRCpy get_probs", "C3", "^", "-"),
    ("entmax_bisect", "link"): ("entmax_bisect", "C4", "v", "-"),
    ("softmax", "softmax_torch"): ("torch.softmax (floor)", "k", None, "--"),
    ("softmax", "softmax_numpy"): ("NumPy softmax (floor)", "0.5", None, "--"),
}
OPS = (("loss_and_grad", "loss and gradient"), ("link", "link p (eq. 14)"))
FLOORS = (("softmax", "softmax_torch"), ("softmax", "softmax_numpy"))
BAR_SIZES = ((64, 100),) + HEADLINE  # where every competitor runs (exact only at the first)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend(ax, **kw):
    if ax.get_legend_handles_labels()[0]:  # an empty panel gets no empty legend box
        ax.legend(**kw)


def _subtitle(data):
    m = data["machine"]
    core = f" ({m['llvm_cpu']})" if m.get("llvm_cpu") else ""
    torch = f"torch {m['torch'] or 'absent'} ({m['torch_threads']} threads)"
    return f"{m['cpu']}{core}, {m['cores']} cores; {torch}"


def _rows(data, **want):
    out = []
    for r in data["results"]:
        if all(r[k] == v for k, v in want.items()):
            out.append(r)
    return out


def _series_rows(data, op, fixed, free):
    """``{(backend, op): [(x, seconds), ...]}`` for ``op`` (plus the floors) along ``free``."""
    out = {}
    for r in data["results"]:
        if (r["backend"], r["op"]) not in SERIES or r["dtype"] != "float32":
            continue
        floor = (r["backend"], r["op"]) in FLOORS
        if not floor and (r["op"] != op or r["beta"] != beta_json(TARGET_BETA)):
            continue
        if any(r[k] != v for k, v in fixed.items()):
            continue
        out.setdefault((r["backend"], r["op"]), []).append((r[free], r["seconds"]))
    return {k: sorted(v) for k, v in out.items() if len(v) >= 2}


def time_vs(data, free):
    """Seconds against C (at B = SCALING_B) or against B (at C = SCALING_C), log-log."""
    fixed = {"B": SCALING_B} if free == "C" else {"C": SCALING_C}
    panels = [(op, title, _series_rows(data, op, fixed, free)) for op, title in OPS]
    panels = [p for p in panels if sum(k not in FLOORS for k in p[2]) >= 1]
    if not panels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 4.6), squeeze=False)
    for ax, (op, title, series) in zip(axes[0], panels):
        for key, pts in series.items():
            label, colour, marker, ls = SERIES[key]
            xs, ys = zip(*pts)
            ax.plot(xs, ys, ls, color=colour, marker=marker, label=label)
        # A slope-1 guide through the torch floor's last point: linear growth looks like it.
        pts = series.get(FLOORS[0]) or next(iter(series.values()))
        x1, y1 = pts[-1]
        x0 = pts[0][0]
        ax.plot([x0, x1], [y1 * x0 / x1, y1], ":", color="0.7", lw=3, label=f"∝ {free} (guide)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(free)
        ax.set_ylabel("seconds per call")
        other = f"B = {SCALING_B}" if free == "C" else f"C = {SCALING_C}"
        ax.set_title(f"{title}: {other}, beta = {TARGET_BETA:g}, float32")
        ax.grid(True, which="major", alpha=0.3)
        _legend(ax, fontsize=8)
    fig.suptitle(f"Time against {free} ({_subtitle(data)})", fontsize=10)
    fig.tight_layout()
    return fig


def speedup(data):
    """Speed-up over MRCpy torch at beta = 1.4 (bars per backend) and numba's against beta."""
    mrcpy = _rows(data, backend="mrcpy_torch", dtype="float32", beta=beta_json(TARGET_BETA))
    if not mrcpy:
        return None
    t = {(r["backend"], r["op"], r["B"], r["C"], r["beta"]): r["seconds"]
         for r in data["results"] if r["dtype"] == "float32"}
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    b = beta_json(TARGET_BETA)
    for ax, (op, title) in zip(axes[:2], OPS):
        sizes = [sz for sz in BAR_SIZES if any((r["B"], r["C"], r["op"]) == (*sz, op) for r in mrcpy)]
        ref = {s: t.get(("mrcpy_torch", op, *s, b)) for s in sizes}
        keys = [k for k in SERIES if k[1] == op and k[0] != "mrcpy_torch"] + list(FLOORS)
        width = 0.8 / len(keys)
        for j, key in enumerate(keys):
            label, colour = SERIES[key][:2]
            beta_k = "inf" if key in FLOORS else b
            xs, ys = [], []
            for i, s in enumerate(sizes):
                if ref[s] and (key[0], key[1], *s, beta_k) in t:
                    xs.append(i + (j - (len(keys) - 1) / 2) * width)
                    ys.append(ref[s] / t[(key[0], key[1], *s, beta_k)])
            if xs:
                bars = ax.bar(xs, ys, width, color=colour, label=label, edgecolor="k", lw=0.3)
                ax.bar_label(bars, labels=[f"{v:.0f}" if v >= 10 else f"{v:.2g}" for v in ys], fontsize=6)
        ax.axhline(1.0, color="C3", lw=0.8)
        if op == "loss_and_grad":
            ax.axhline(30.0, color="C3", ls=":", lw=1, label="30x target")
        ax.set_xticks(range(len(sizes)), [f"B={B}\nC={C}" for B, C in sizes], fontsize=7)
        ax.set_yscale("log")
        method = "get_gradient" if op == "loss_and_grad" else "get_probs"
        ax.set_ylabel(f"MRCpy {method} time / time")
        ax.set_title(f"{title}: speed-up over MRCpy, beta = {TARGET_BETA:g}, float32", fontsize=10)
        _legend(ax, fontsize=7)
    ax = axes[2]
    for k, (B, C) in enumerate(s for s in sorted({(r["B"], r["C"]) for r in data["ratios"]})):
        pts = sorted((_bx(beta_from_json(r["beta"])), r["speedup_vs_mrcpy"]) for r in data["ratios"]
                     if (r["B"], r["C"]) == (B, C) and r["dtype"] == "float32" and r["speedup_vs_mrcpy"])
        if len(pts) >= 2:
            ax.plot(*zip(*pts), "o-", color=f"C{k}", label=f"B={B}, C={C}")
    ax.axhline(30.0, color="C3", ls=":", lw=1, label="30x target")
    _beta_axis(ax)
    ax.set_yscale("log")
    ax.set_ylabel("MRCpy get_gradient time / numba time")
    ax.set_title("numba loss_and_grad: speed-up over MRCpy against beta", fontsize=10)
    _legend(ax, fontsize=7)
    fig.suptitle(f"Speed-up over MRCpy's torch mgce_loss ({_subtitle(data)})", fontsize=10)
    fig.tight_layout()
    return fig


def targets_grid(data):
    """Heatmaps over beta x C of numba's speed-up over MRCpy and its cost in softmax passes."""
    rat = [r for r in data["ratios"] if r["dtype"] == "float32" and r["B"] == grid_batch(r["C"])]
    Cs = sorted({r["C"] for r in rat})
    betas = sorted({beta_from_json(r["beta"]) for r in rat})
    cells = {(r["C"], beta_from_json(r["beta"])): r for r in rat}
    if len(Cs) < 3 or len(betas) < 3:
        return None
    import numpy as np

    nan_cells = {(sk["C"], beta_from_json(sk["beta"])): "MRCpy\nreturns NaN"
                 for sk in data.get("skipped", []) if sk["backend"] == "mrcpy_torch"
                 and sk["op"] == "loss_and_grad" and "NaN" in sk["reason"]}
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    spec = (("speedup_vs_mrcpy", "speed-up over MRCpy get_gradient (target >= 30)", "RdYlGn", 30.0, True),
            ("softmax_torch_passes", "time in torch.softmax passes (target <= 8)", "RdYlGn_r", 8.0, False))
    for ax, (key, title, cmap, goal, higher) in zip(axes, spec):
        grid = np.full((len(betas), len(Cs)), np.nan)
        for i, b in enumerate(betas):
            for j, C in enumerate(Cs):
                v = cells.get((C, b), {}).get(key)
                grid[i, j] = np.nan if v is None else v
        im = ax.imshow(np.log10(grid), cmap=cmap, aspect="auto",
                       vmin=math.log10(goal) - 1.0, vmax=math.log10(goal) + 1.0)
        for i in range(len(betas)):
            for j in range(len(Cs)):
                if not np.isnan(grid[i, j]):
                    met = grid[i, j] >= goal if higher else grid[i, j] <= goal
                    ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=8,
                            fontweight="bold" if met else "normal")
                elif (Cs[j], betas[i]) in cells:  # numba ran, the other side did not
                    why = nan_cells.get((Cs[j], betas[i]), "no MRCpy\nresult")
                    ax.text(j, i, why if higher else "-", ha="center", va="center",
                            fontsize=6, color="0.4")
        ax.set_xticks(range(len(Cs)), [f"C={C}\nB={grid_batch(C)}" for C in Cs], fontsize=8)
        ax.set_yticks(range(len(betas)), ["inf" if math.isinf(b) else f"{b:g}" for b in betas])
        ax.set_ylabel("beta")
        ax.set_title(title + " (bold: met)", fontsize=10)
        fig.colorbar(im, ax=ax, label="log10")
    fig.suptitle(f"numba loss_and_grad, float32 ({_subtitle(data)})", fontsize=10)
    fig.tight_layout()
    return fig


def errors(data):
    """Max abs error against the exact solver, every run of every backend (log scale)."""
    keys = [k for k in SERIES if any((r["backend"], r["op"]) == k for r in data["results"])]
    if not keys:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(7.0, 0.75 * len(keys) + 2), 4.8))
    floor = 1e-18
    for i, key in enumerate(keys):
        for dtype, dx, colour in (("float32", -0.12, "C0"), ("float64", 0.12, "C1")):
            errs = [r["max_abs_err"] for r in data["results"]
                    if (r["backend"], r["op"]) == key and r["dtype"] == dtype]
            ys = [max(e, floor) for e in errs]
            if ys:
                ax.plot([i + dx] * len(ys), ys, "o", color=colour, alpha=0.55, ms=4,
                        label=dtype if i == keys.index(next(k for k in keys if any(
                            (r["backend"], r["op"]) == k and r["dtype"] == dtype
                            for r in data["results"]))) else None)
    for eps, name in ((2.0**-23, "float32 eps"), (2.0**-52, "float64 eps")):
        ax.axhline(eps, color="0.5", ls=":", lw=1)
        ax.text(len(keys) - 0.5, eps * 1.5, name, ha="right", fontsize=7, color="0.4")
    ax.set_yscale("log")
    ax.set_ylim(floor / 3, 3.0)
    ax.set_xticks(range(len(keys)), [f"{SERIES[k][0]}\n{k[1]}" if k[0] not in ("mrcpy_torch", "entmax_bisect",
                                     "softmax") else SERIES[k][0].replace(" (floor)", "") for k in keys],
                  rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"max abs error vs exact solver ({floor:g} = exactly 0)")
    ax.set_title(f"Accuracy of every timed run ({_subtitle(data)})", fontsize=10)
    _legend(ax, fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def _bx(beta):
    """x position of beta on the beta axis: beta - 1 on a log scale, 1 and inf at the ends."""
    if beta == 1.0:
        return 1e-4
    if math.isinf(beta):
        return 1e8
    return beta - 1.0


def _beta_axis(ax):
    ax.set_xscale("log")
    ticks = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e8]
    labels = ["1", "1.001", "1.01", "1.1", "2", "11", "101", "1e3", "1e4", "1e5", "1e6", "inf"]
    ax.set_xticks(ticks, labels, fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("beta (axis: beta - 1, log; beta = 1 and inf at the ends)")
    ax.grid(True, alpha=0.3)


def beta_sweep(data):
    """Residual evaluations per row against beta (Newton vs bisection), and time against beta."""
    its = data.get("iterations") or []
    if not its:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    ax = axes[0]
    styles = {("newton", None): ("numba Newton (machine precision)", "C0"),
              ("bisect", None): ("bisection (machine precision)", "C1"),
              ("bisect", 1e-4): ("bisection, width 1e-4 (MRCpy's rule)", "C3")}
    sizes = sorted({(r["B"], r["C"]) for r in its})
    for (method, tol), (label, colour) in styles.items():
        for k, (B, C) in enumerate(sizes):
            pts = sorted((_bx(beta_from_json(r["beta"])), r["mean"], r["max"]) for r in its
                         if (r["method"], r["tol"], r["B"], r["C"]) == (method, tol, B, C))
            if pts:
                x, mean, mx = zip(*pts)
                ls = "-" if k == 0 else "--"
                ax.plot(x, mean, ls, marker="o", ms=3, color=colour,
                        label=f"{label}, B={B} C={C}: mean")
                ax.plot(x, mx, ls, color=colour, alpha=0.35, lw=1)
    _beta_axis(ax)
    ax.set_ylabel("residual evaluations per row (faint: max)")
    ax.set_yscale("log")
    ax.set_title("Solver iterations against beta (float32 logits 3 N(0, 1))", fontsize=10)
    _legend(ax, fontsize=6)
    ax = axes[1]
    for k, (B, C) in enumerate(HEADLINE):
        ls = "-" if k == 0 else "--"
        for key in (("numba", "loss_and_grad"), ("numba", "nu"), ("mrcpy_torch", "loss_and_grad")):
            pts = sorted((_bx(beta_from_json(r["beta"])), r["seconds"]) for r in data["results"]
                         if (r["backend"], r["op"], r["B"], r["C"], r["dtype"]) == (*key, B, C, "float32"))
            if len(pts) >= 2:
                label, colour, marker = SERIES[key][:3]
                label = label if key[0] != "numba" else f"numba {key[1]}"
                ax.plot(*zip(*pts), ls, color=colour, marker=marker, ms=4, label=f"{label}, B={B} C={C}")
        floor = _rows(data, backend="softmax", op="softmax_torch", B=B, C=C, dtype="float32")
        if floor:
            ax.axhline(floor[0]["seconds"], color="k", ls=ls, lw=0.8, label=f"torch.softmax, B={B} C={C}")
    _beta_axis(ax)
    ax.set_yscale("log")
    ax.set_ylabel("seconds per call")
    ax.set_title("Time against beta, float32", fontsize=10)
    _legend(ax, fontsize=6)
    fig.suptitle(_subtitle(data), fontsize=9)
    fig.tight_layout()
    return fig


def profile(data):
    """Where numba's loss_and_grad time goes, per beta: candidate pass, solve, output pass."""
    prof = data.get("profile") or []
    sizes = [s for s in HEADLINE if sum((p["B"], p["C"]) == s for p in prof) >= 2]
    if not sizes:
        return None
    plt = _plt()
    width = max(6.5, 0.75 * max(sum((p["B"], p["C"]) == s for p in prof) for s in sizes) + 1.5)
    fig, axes = plt.subplots(1, len(sizes), figsize=(width * len(sizes), 4.6), squeeze=False)
    for ax, (B, C) in zip(axes[0], sizes):
        ps = sorted((p for p in prof if (p["B"], p["C"]) == (B, C)), key=lambda p: beta_from_json(p["beta"]))
        x = range(len(ps))
        bottom = [0.0] * len(ps)
        for part, colour in (("validate", "C7"), ("candidate_pass", "C0"), ("solve", "C1"),
                             ("output_pass", "C2")):
            v = [p.get(part, 0.0) * 1e3 for p in ps]
            ax.bar(x, v, 0.7, bottom=bottom, color=colour, label=part.replace("_", " "))
            bottom = [b + w for b, w in zip(bottom, v)]
        floor = _rows(data, backend="softmax", op="softmax_torch", B=B, C=C, dtype="float32")
        if floor:
            ax.axhline(floor[0]["seconds"] * 1e3, color="k", ls="--", lw=1, label="one torch.softmax")
            ax.axhline(8 * floor[0]["seconds"] * 1e3, color="k", ls=":", lw=1, label="8 torch.softmax")
        ax.set_xticks(list(x), [f"{beta_str(beta_from_json(p['beta']))}\n{p['candidates_mean']:.0f} cand.\n"
                                f"{p.get('iterations_mean', float('nan')):.2g} it." for p in ps], fontsize=7)
        ax.set_xlabel("beta (mean candidate classes, residual evaluations per row)")
        ax.set_ylabel("milliseconds")
        ax.set_title(f"numba loss_and_grad, B={B}, C={C}, float32", fontsize=10)
        _legend(ax, fontsize=7)
    fig.suptitle(f"Where the time goes ({_subtitle(data)})", fontsize=9)
    fig.tight_layout()
    return fig


FIGURES = {"bench_time_vs_C.png": lambda d: time_vs(d, "C"), "bench_time_vs_B.png": lambda d: time_vs(d, "B"),
           "bench_speedup.png": speedup, "bench_targets.png": targets_grid, "bench_error.png": errors,
           "bench_beta.png": beta_sweep, "bench_profile.png": profile}


def plot_all(data, outdir):
    """Write every figure the data supports to ``outdir``; returns the paths written."""
    os.makedirs(outdir, exist_ok=True)
    plt = _plt()
    paths = []
    for name, make in FIGURES.items():
        fig = make(data)
        if fig is None:
            continue
        path = os.path.join(outdir, name)
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
