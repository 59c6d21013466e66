"""``mgce-ref check``: judge a backend against the reference and say what passes.

Exit status: 0 when every check passes, 1 when any fails, 2 on a usage error (a bad option, an
unknown backend or case, a backend whose dependencies are missing).
"""

import math
import sys

HELP = "judge an MGCE backend (numba, numpy, exact, cuda, mrcpy, entmax, MODULE:CALLABLE) against the reference"


def beta_arg(text):
    """argparse type for --beta: a float in [1, inf]; "inf" is accepted."""
    import argparse

    try:
        b = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid beta {text!r}: not a number") from None
    if math.isnan(b) or b < 1:
        raise argparse.ArgumentTypeError(f"invalid beta {text!r}: beta must lie in [1, inf]")
    return b


def add_arguments(parser):
    parser.add_argument("--backend", metavar="NAME",
                        help="numba, numpy, exact, cuda, mrcpy, entmax, or MODULE:CALLABLE "
                             "(a function fn(logits, labels, beta) -> dict)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--dtype", action="append", choices=("float32", "float64"),
                        help="input dtype (repeatable; default: both)")
    parser.add_argument("--beta", nargs="+", type=beta_arg, metavar="B",
                        help="betas to run (default: 1 1.000001 1.5 2 10 1e6 inf)")
    parser.add_argument("--case", nargs="+", metavar="NAME",
                        help="only these cases (default: the whole catalogue; see --list-cases)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random cases")
    parser.add_argument("--reference", choices=("auto", "exact", "mpmath"), default="auto",
                        help="auto: golden file for fixed cases, exact backend for random ones")
    parser.add_argument("--by", choices=("case", "beta", "row"), default="case",
                        help="table lines per (case, quantity), per (dtype, beta, quantity), "
                             "or per check (default: case)")
    parser.add_argument("--failures-only", action="store_true", help="only lines with a failure")
    parser.add_argument("--list-cases", action="store_true", help="list the catalogue and exit")


def _usage_error(message):
    print(f"mgce-ref check: error: {message}", file=sys.stderr)
    return 2


def run(args):
    from .cases import DEFAULT_BETAS, DEFAULT_SEED, DTYPES, catalogue
    from .check import check_backend

    seed = DEFAULT_SEED if args.seed is None else args.seed
    if args.list_cases:
        for c in catalogue(seed):
            B, C = c.logits.shape
            print(f"{c.name:<18} B={B:<3} C={C:<5} {'fixed' if c.fixed else 'random':<6}  "
                  f"{'/'.join(c.dtypes):<16} {c.note}")
        return 0
    if not args.backend:
        return _usage_error("--backend NAME is required (numba, numpy, exact, cuda, mrcpy, "
                            "entmax or MODULE:CALLABLE)")
    try:
        cases = catalogue(seed, args.case) if args.case else catalogue(seed)
        from .adapters import resolve

        fn = resolve(args.backend)
    except (ValueError, ImportError, RuntimeError) as exc:
        return _usage_error(str(exc))
    report = check_backend(fn, betas=args.beta or DEFAULT_BETAS, dtypes=args.dtype or DTYPES,
                           cases=cases, reference=args.reference, seed=seed, name=args.backend)
    print(report.table(by=args.by, failures_only=args.failures_only))
    print()
    print(report.summary())
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(report.to_json())
            f.write("\n")
    return 0 if report.passed else 1
