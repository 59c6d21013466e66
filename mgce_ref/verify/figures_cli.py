"""``mgce-ref figures``: draw the theory figures (see ``mgce_ref.verify.figures``)."""

import os

HELP = "draw the theory figures (alpha-loss, worst case, 3-class link, limits) as PNG"


def checkout_figures_dir():
    """The repository's ``figures/`` folder when the package is imported from a checkout
    (a ``pyproject.toml`` naming mgce_ref beside the package), else None."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../mgce_ref
    root = os.path.dirname(package)
    try:
        with open(os.path.join(root, "pyproject.toml")) as fh:
            is_checkout = 'name = "mgce_ref"' in fh.read()
    except OSError:
        return None
    return os.path.join(root, "figures") if is_checkout else None


def add_arguments(parser):
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="folder for the PNGs (default: the repository's figures/ folder "
                             "when mgce_ref runs from a source checkout, else the current "
                             "directory)")


def run(args):
    from .figures import make_figures

    out = args.out or checkout_figures_dir() or os.getcwd()
    for path in make_figures(out):
        print(path)
    return 0
