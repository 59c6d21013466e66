"""``mgce-ref verify``: run the paper's statements as numerical checks (see ``mgce_ref.verify``)."""

HELP = "check the paper's statements numerically (eqs. 5, 15-19, 22-23, 26, Cor. 1, limits)"

EPILOG = """Each row: check name, cases tried, worst slack, tolerance, pass/FAIL, seconds,
statement.
Slack >= 0 means the statement holds in that case; a check passes when its worst slack is
>= -tolerance (floating-point allowance). Exit status 0 only when every check passes.
JSON: {"results": [{"name", "statement", "cases", "worst_slack", "passed", "tolerance",
"note", "seconds"}]}."""


def add_arguments(parser):
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("--quick", action="store_true",
                        help="the small sweep (under a minute on 2 cores once Numba's cache "
                             "is warm)")
    parser.add_argument("--json", metavar="PATH", help="also write the results to PATH as JSON")
    parser.add_argument("--check", metavar="NAME", action="append",
                        help="run only this check (repeatable); see --list")
    parser.add_argument("--backend", default="numba", choices=("numba", "numpy", "exact", "cuda"),
                        help="the backend whose outputs are judged (default: numba; exact is "
                             "slow)")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")


def run(args):
    import sys

    from . import HEADER, all_checks, format_row, report, run_checks, write_json

    if args.list:
        for c in all_checks():
            print(f"{c.check_name:<24} {c.statement}")
        return 0
    print(HEADER, flush=True)
    try:
        results = run_checks(quick=args.quick, names=args.check, backend=args.backend,
                             progress=lambda r: print(format_row(r), flush=True))
    except ValueError as exc:
        print(f"mgce-ref verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        write_json(results, args.json)
    return report(results, header=False)
