"""``mgce-ref solve``: reference outputs for logits in a file, for backends in other languages.

Reads logits (B, C) or (C,) from .npy or .csv (comma-separated, one row per sample, ``#``
comments), optional integer labels (B,) from .npy or .csv, and writes nu, link, worst_case (and
loss, grad with labels) to .npz (one array each) or .csv (one line per sample, header
``nu,link_0,...,worst_case_0,...[,loss,grad_0,...]``), so a C++ or JAX implementation can be
diffed against the reference without Python glue. Without ``--out`` the CSV goes to stdout.

Exit status: 0 on success, 2 on a usage error (unreadable file, bad beta, invalid input).
"""

import os
import sys

HELP = "write nu, link, worst_case (and loss, grad) for logits in a .npy/.csv file"
READS = (".npy", ".csv")
WRITES = (".npz", ".csv")


def add_arguments(parser):
    from .cli_check import beta_arg

    parser.add_argument("file", metavar="FILE", help="logits, .npy or .csv, shape (B, C) or (C,)")
    parser.add_argument("--beta", required=True, type=beta_arg, metavar="B",
                        help="loss parameter in [1, inf] ('inf' for cross-entropy)")
    parser.add_argument("--labels", metavar="FILE", help="integer labels (B,), .npy or .csv")
    parser.add_argument("--out", metavar="FILE", help="output .npz or .csv (default: CSV on stdout)")
    parser.add_argument("--backend", default="numba", choices=("numba", "numpy", "exact", "cuda"),
                        help="numba (default, <= 1 ulp on nu) or exact (the last bit, slower)")
    parser.add_argument("--dtype", choices=("float32", "float64"),
                        help="compute at this dtype (default: the file's; CSV is float64)")


def _read(path, what):
    import numpy as np

    ext = os.path.splitext(path)[1].lower()
    if ext not in READS:
        raise ValueError(f"{what} file {path!r} must end in .npy or .csv")
    if not os.path.isfile(path):
        raise ValueError(f"{what} file {path!r} does not exist")
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        return np.loadtxt(path, delimiter=",", ndmin=1 if what == "labels" else 2, comments="#")
    except (ValueError, OSError) as exc:
        raise ValueError(f"cannot read {what} from {path!r}: {exc}") from None


def _labels(y):
    import numpy as np

    if y.dtype.kind == "f" and y.size and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        return y.astype(np.int64)  # CSV integers are read as floats
    return y


def solve(logits, labels, beta, backend="numba"):
    """``{name: array}`` for nu, link, worst_case (and loss, grad when ``labels`` is given)."""
    from .._dispatch import run
    from ..config import OUTPUTS

    outputs = OUTPUTS if labels is not None else ("nu", "link", "worst_case")
    values = run(logits, labels, beta, backend, outputs)
    return dict(zip(outputs, values))


PER_CLASS = ("link", "worst_case", "grad")


def _write_csv(stream, out, dtype):
    """One line per sample: ``nu, link_0.., worst_case_0.., [loss, grad_0..]``."""
    import numpy as np

    C = np.shape(out["link"])[-1]
    cols, names = [], []
    for k, v in out.items():
        per_class = k in PER_CLASS
        cols.append(np.asarray(v, dtype=np.float64).reshape(-1, C if per_class else 1))
        names += [f"{k}_{c}" for c in range(C)] if per_class else [k]
    fmt = "%.9g" if dtype == np.float32 else "%.17g"  # enough digits to round-trip the dtype
    np.savetxt(stream, np.hstack(cols), delimiter=",", fmt=fmt, header=",".join(names), comments="")


def run(args):
    import numpy as np

    try:
        h = _read(args.file, "logits")
        if args.dtype:
            h = h.astype(args.dtype)
        y = _labels(_read(args.labels, "labels")) if args.labels else None
        if y is not None and h.ndim == 1 and y.shape == (1,):
            y = y.reshape(())
        out = solve(h, y, args.beta, args.backend)
        if args.out:
            ext = os.path.splitext(args.out)[1].lower()
            if ext not in WRITES:
                raise ValueError(f"output file {args.out!r} must end in .npz or .csv")
    except (ValueError, TypeError, ImportError, RuntimeError) as exc:
        print(f"mgce-ref solve: error: {exc}", file=sys.stderr)
        return 2
    dtype = np.asarray(out["nu"]).dtype
    if not args.out:
        _write_csv(sys.stdout, out, dtype)
    elif ext == ".npz":
        np.savez(args.out, **{k: np.asarray(v) for k, v in out.items()})
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            _write_csv(f, out, dtype)
    return 0
