"""Softmax passes per (beta, C) cell of the bench target grid, float32 and float64.

    PYTHONPATH=$PWD python bench/passes_grid.py [--dtype float32,float64] [--betas 5,11,inf]
        [--classes 100,1000] [--rounds 5] [--small]

Each cell: ``loss_and_grad`` (backend "numba") against one ``torch.softmax`` pass over the same
logits (float64 against a float64 softmax), in alternating rounds on the same thread count
(torch set to Numba's). Prints the median ratio and its range over the rounds. ``--small``
times the small-batch cases against ``torch.nn.functional.cross_entropy`` (forward) instead.
Not a test: a quick look at the whole grid while working on speed.
"""

import argparse
import math
import time

import numpy as np


def _best(fn, budget=0.02):
    fn()
    best = math.inf
    t_end = time.perf_counter() + budget
    n = 0
    while n < 3 or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        n += 1
    return best


def main():
    import numba
    import torch
    import torch.nn.functional as F

    import mgce_ref
    from mgce_ref.benchmark.cases import grid_batch

    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="float32,float64")
    ap.add_argument("--betas", default="1,1.02,1.4,2,5,11,100,1e4,1e6,inf")
    ap.add_argument("--classes", default="2,10,100,1000,10000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--small", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    betas = [float(b) for b in a.betas.split(",")]
    rng = np.random.default_rng(1)
    if a.small:
        ops = {"loss_and_grad": lambda h, y, b: mgce_ref.loss_and_grad(h, y, b),
               "link": lambda h, y, b: mgce_ref.link(h, b),
               "worst_case": lambda h, y, b: mgce_ref.worst_case(h, b),
               "solve_nu": lambda h, y, b: mgce_ref.solve_nu(h, b)}
        for C in (10, 100):
            h = (3.0 * rng.standard_normal((128, C))).astype(np.float32)
            y = rng.integers(0, C, 128)
            th, ty = torch.from_numpy(h), torch.from_numpy(y)
            for beta in betas:
                for name, op in ops.items():
                    r = []
                    for _ in range(a.rounds):
                        t_ce = _best(lambda: F.cross_entropy(th, ty))
                        t_us = _best(lambda: op(h, y, beta))
                        r.append((t_us / t_ce, t_us, t_ce))
                    ratios = sorted(x[0] for x in r)
                    print(f"(128, {C}) beta={beta:g} {name:14s} {np.median([x[1] for x in r]) * 1e6:7.1f} us"
                          f"  CE {np.median([x[2] for x in r]) * 1e6:6.1f} us  ratio {np.median(ratios):5.2f}"
                          f" [{ratios[0]:.2f}-{ratios[-1]:.2f}]", flush=True)
        return
    for dt in a.dtype.split(","):
        print(f"--- {dt}: loss_and_grad / torch.softmax ({dt}), median [min-max] over {a.rounds} rounds")
        for C in (int(c) for c in a.classes.split(",")):
            B = grid_batch(C)
            h = (3.0 * rng.standard_normal((B, C))).astype(dt)
            y = rng.integers(0, C, B)
            th = torch.from_numpy(h)
            cells = []
            for beta in betas:
                r = []
                for _ in range(a.rounds):
                    t_s = _best(lambda: torch.softmax(th, dim=1))
                    t_us = _best(lambda: mgce_ref.loss_and_grad(h, y, beta))
                    r.append(t_us / t_s)
                r.sort()
                cells.append(f"b={beta:g}: {np.median(r):6.1f} [{r[0]:.1f}-{r[-1]:.1f}]")
            print(f"C={C:5d} B={B:6d} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
