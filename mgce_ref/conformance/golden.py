"""Frozen 50-digit references for the fixed cases, and the script that regenerates them.

As ``scipy.special`` keeps mpmath data with the script that made it, the golden file
``mgce_ref/data/conformance_golden.npz`` holds, for every fixed case of ``cases.py``, every
dtype it runs at and every beta of :data:`GOLDEN_BETAS`, the outputs of
``mgce_ref.exact.mp_reference`` (mpmath, ``MP_DPS`` = 50 digits, rounded once to float64) on
the logits cast to that dtype and promoted back to float64. Regenerate it with::

    python -m mgce_ref.conformance.golden            # writes the packaged file
    python -m mgce_ref.conformance.golden --out X.npz

Keys are ``"{case}|{dtype}|{beta}|{quantity}"`` plus ``"{case}|{dtype}|logits"`` and
``"{case}|labels"`` (so a stale file is detected: the stored logits must equal the case's), and
``"__meta__"``, a JSON string (digits, mpmath version, betas, the conditioning margin).
"""

import argparse
import functools
import json
import os
import sys

import numpy as np

from ..config import MP_DPS, OUTPUTS
from .cases import DEFAULT_BETAS, beta_key, fixed_cases

PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "conformance_golden.npz")
#: The default betas plus a few more, so ``--beta 1.1`` etc. also get frozen references.
GOLDEN_BETAS = tuple(sorted(set(DEFAULT_BETAS) | {1.1, 3.0}))
#: The smallest distance |s_c| from the support edge a fixed case may have for beta in [1, 2).
EDGE_MARGIN = 1e-6


def key(case, dtype, beta, quantity):
    return f"{case}|{dtype}|{beta_key(beta)}|{quantity}"


@functools.lru_cache(maxsize=4)
def load(path=PATH):
    """The golden file as a dict of read-only arrays (cached); ``{}`` if it is absent."""
    if not os.path.exists(path):
        return {}
    with np.load(path, allow_pickle=False) as data:
        out = {k: data[k] for k in data.files}
    for v in out.values():
        v.setflags(write=False)
    return out


def reference(case, dtype, beta, path=PATH):
    """The frozen outputs of ``case`` at ``dtype`` and ``beta``, or None if the file lacks them
    (or holds other logits under that name: a stale or user-defined case)."""
    data = load(path)
    stored = data.get(f"{case.name}|{dtype}|logits")
    if stored is None or key(case.name, dtype, beta, "nu") not in data:
        return None
    if not np.array_equal(stored, _promoted(case, dtype)):
        return None
    return {q: data[key(case.name, dtype, beta, q)] for q in OUTPUTS}


def meta(path=PATH):
    data = load(path)
    return json.loads(str(data["__meta__"])) if "__meta__" in data else {}


def _promoted(case, dtype):
    return case.inputs(dtype)[0].astype(np.float64)


def edge_distance(h, beta, dps=MP_DPS):
    """``min_c |s_c|`` over the rows of ``h`` at the root, ``s_c = (h_c + nu)/beta + 1``, in
    mpmath (float64 would lose it). Constant rows have every ``s_c = C**(-1/beta)``."""
    import mpmath

    from ..exact import mp_nu

    with mpmath.workdps(dps + 10):
        worst = mpmath.inf
        b = mpmath.mpf(beta)
        for row in h:
            root = mp_nu(row, beta, dps)
            if isinstance(root, tuple):  # (shifted root x = nu + max h, shifted row z)
                x, z = root
            else:
                x, z = root, [mpmath.mpf(float(v)) for v in row]
            for zc in z:
                worst = min(worst, abs((zc + x) / b + 1))
        return float(worst)


def make(path=PATH, betas=GOLDEN_BETAS, dps=MP_DPS, verbose=False):
    """Compute every reference with ``mp_reference`` and write them to ``path``.

    Raises
    ------
    AssertionError
        If a fixed case puts a class within :data:`EDGE_MARGIN` of the support edge at a beta
        in [1, 2) (an ill-conditioned ``q``: change the case, not the tolerance).
    """
    import mpmath

    from ..exact import mp_reference

    out = {}
    for case in fixed_cases():
        out[f"{case.name}|labels"] = case.labels
        for dtype in case.dtypes:
            h = _promoted(case, dtype)
            out[f"{case.name}|{dtype}|logits"] = h
            for beta in betas:
                if 1.0 <= beta < 2.0:
                    d = edge_distance(h, beta, dps)
                    assert d >= EDGE_MARGIN, (f"{case.name} ({dtype}) has a class {d:.3g} from "
                                              f"the support edge at beta={beta}")
                ref = mp_reference(h, case.labels, beta, dps)
                for q in OUTPUTS:
                    out[key(case.name, dtype, beta, q)] = ref[q]
            if verbose:
                print(f"{case.name:>16} {dtype}: {len(betas)} betas", file=sys.stderr)
    out["__meta__"] = np.array(json.dumps({
        "dps": dps, "mpmath": mpmath.__version__, "betas": [beta_key(b) for b in betas],
        "edge_margin": EDGE_MARGIN, "cases": [c.name for c in fixed_cases()],
        "made_by": "python -m mgce_ref.conformance.golden"}))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, **out)
    load.cache_clear()
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mgce_ref.conformance.golden",
                                     description="Regenerate the conformance golden file (mpmath).")
    parser.add_argument("--out", default=PATH, help=f"where to write (default: {PATH})")
    parser.add_argument("--dps", type=int, default=MP_DPS, help="mpmath digits (default %(default)s)")
    args = parser.parse_args(argv)
    path = make(args.out, dps=args.dps, verbose=True)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
