"""``mgce-ref``: one command per job.

Each subcommand lives in its own module with ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int`` (the exit status); this file only wires them together. Modules are
imported when the parser is built, so they must stay light at import (no torch, no pyplot).
"""

import argparse
import importlib
import sys

COMMANDS = {
    "check": "mgce_ref.conformance.cli_check",
    "solve": "mgce_ref.conformance.cli_solve",
    "verify": "mgce_ref.verify.cli",
    "figures": "mgce_ref.verify.figures_cli",
    "bench": "mgce_ref.benchmark.cli",
    "gpu-check": "mgce_ref.benchmark.gpu_check",
}


def build_parser():
    parser = argparse.ArgumentParser(prog="mgce-ref", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, path in COMMANDS.items():
        mod = importlib.import_module(path)
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
