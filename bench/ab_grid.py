"""A/B of two versions of mgce_ref in one process: softmax passes per (beta, C) cell.

    cp -r <old checkout>/mgce_ref <dir>/mgce_main          # the old version, renamed
    PYTHONPATH=$PWD:<dir> python bench/ab_grid.py [--dtype float32] [--betas ...] [--classes ...]
    PYTHONPATH=$PWD:<dir> python bench/ab_grid.py --small   # (128, 10), (128, 100) vs F.cross_entropy

``loss_and_grad`` of both versions (backend "numba") and one ``torch.softmax`` pass on the same
logits, timed in alternating rounds (``runner.measure_interleaved``), torch on Numba's thread
count. Prints old and new passes per cell. Not a test: a before/after look at the whole grid.
"""

import argparse
import importlib

import numpy as np


def main():
    import numba
    import torch

    import mgce_ref
    from mgce_ref.benchmark.cases import grid_batch
    from mgce_ref.benchmark.runner import measure_interleaved

    ap = argparse.ArgumentParser()
    ap.add_argument("--old", default="mgce_main")
    ap.add_argument("--dtype", default="float32,float64")
    ap.add_argument("--betas", default="1,1.02,1.4,2,5,11,100,1e4,1e6,inf")
    ap.add_argument("--classes", default="2,10,100,1000,10000")
    ap.add_argument("--budget", type=float, default=0.6)
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args()
    old = importlib.import_module(a.old)
    torch.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    rng = np.random.default_rng(20260)
    if a.small:
        ce = torch.nn.functional.cross_entropy
        for C in (10, 100):
            h = (3.0 * rng.standard_normal((128, C))).astype(np.float32)
            y = rng.integers(0, C, 128)
            th, ty = torch.from_numpy(h), torch.from_numpy(y)
            for beta in (1.4, 11.0, float("inf")):
                fns = {"ce": lambda: ce(th, ty)}
                for name, mod in (("old", old), ("new", mgce_ref)):
                    fns[f"{name} loss_and_grad"] = lambda mod=mod: mod.loss_and_grad(h, y, beta)
                    fns[f"{name} link"] = lambda mod=mod: mod.link(h, beta)
                    fns[f"{name} worst_case"] = lambda mod=mod: mod.worst_case(h, beta)
                    fns[f"{name} solve_nu"] = lambda mod=mod: mod.solve_nu(h, beta)
                t = measure_interleaved(fns, budget=a.budget)
                ops = ("loss_and_grad", "link", "worst_case", "solve_nu")
                print(f"(128, {C}) beta={beta:g}: F.cross_entropy {t['ce'] * 1e6:.1f} us; " + "; ".join(
                    f"{op} {t['old ' + op] / t['ce']:.1f}x -> {t['new ' + op] / t['ce']:.1f}x"
                    f" ({t['new ' + op] * 1e6:.0f} us)" for op in ops), flush=True)
        return
    for dt in a.dtype.split(","):
        print(f"--- {dt}, {numba.config.NUMBA_NUM_THREADS} threads: torch.softmax passes, old -> new")
        for C in (int(c) for c in a.classes.split(",")):
            B = grid_batch(C)
            h = (3.0 * rng.standard_normal((B, C))).astype(dt)
            y = rng.integers(0, C, B)
            th = torch.from_numpy(h)
            cells = []
            for beta in (float(b) for b in a.betas.split(",")):
                t = measure_interleaved({
                    "softmax": lambda: torch.softmax(th, dim=1),
                    "old": lambda: old.loss_and_grad(h, y, beta),
                    "new": lambda: mgce_ref.loss_and_grad(h, y, beta)}, budget=a.budget)
                cells.append(f"b={beta:g}: {t['old'] / t['softmax']:.1f} -> {t['new'] / t['softmax']:.1f}")
            print(f"C={C:5d} B={B:6d} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
