"""The conformance catalogue: fixed hard cases and seeded random rows, deterministic.

A :class:`Case` is a batch of float64 logits (B, C) with one label per row and the dtypes it is
run at. Fixed cases pin the known traps (ties, constant rows, one class, a dominant class,
huge spreads, large offsets) and have frozen 50-digit references in the golden file
(``golden.py``); random cases cover sizes C = 1 ... 1200 and scales 1e-2 ... 1e2 and are judged
against the "exact" backend. The beta grid covers 1, just above 1, moderate, huge and inf.

Every fixed case is *well-conditioned* at the default betas: no class lies within 1e-6 of the
support edge (``s_c = (h_c + nu)/beta + 1 = 0``) for beta in [1, 2), where ``q`` is
discontinuous (beta = 1) or has an unbounded derivative (``q_c ∝ s_c**(beta-1)``).
``golden.py`` asserts this when it regenerates the file.
"""

import math
from dataclasses import dataclass, field

import numpy as np

#: 1 (sparsemax, the 0-1 loss), just above 1, moderate, huge (log1p range), inf (softmax).
DEFAULT_BETAS = (1.0, 1.000001, 1.5, 2.0, 10.0, 1e6, math.inf)
DTYPES = ("float32", "float64")
#: The seed of the default catalogue; ``catalogue(seed=...)`` draws other random rows.
DEFAULT_SEED = 20260423
#: Random sizes (C, rows); big C is costly for the exact reference, so those get few rows.
RANDOM_SIZES = ((1, 4), (2, 8), (3, 8), (10, 8), (100, 8), (1200, 4))
RANDOM_SCALES = (1e-2, 1.0, 10.0, 100.0)


@dataclass(frozen=True, eq=False)
class Case:
    """One batch of the catalogue.

    Attributes
    ----------
    name : str
    logits : ndarray, shape (B, C), float64
        Cast to each dtype in ``dtypes`` before the backend sees them; the reference for a
        float32 run is the solve on the float32 values promoted back to float64.
    labels : ndarray, shape (B,), int64
    dtypes : tuple of str
        Dtypes this case runs at ("float32" is left out where the values overflow it).
    fixed : bool
        True for the hand-written hard cases that the golden file covers.
    """

    name: str
    logits: np.ndarray
    labels: np.ndarray
    dtypes: tuple = DTYPES
    fixed: bool = False
    note: str = field(default="", compare=False)

    def __post_init__(self):
        h = np.ascontiguousarray(self.logits, dtype=np.float64)
        y = np.ascontiguousarray(self.labels, dtype=np.int64)
        if h.ndim != 2 or y.shape != (h.shape[0],):
            raise ValueError(f"case {self.name!r}: logits must be (B, C) and labels (B,), "
                             f"got {h.shape} and {y.shape}")
        for dtype in self.dtypes:
            if dtype not in DTYPES:
                raise ValueError(f"case {self.name!r}: dtype {dtype!r} is not float32 or float64")
            with np.errstate(over="ignore"):
                finite = np.isfinite(h.astype(dtype)).all()
            if not finite:
                raise ValueError(f"case {self.name!r}: logits are not finite in {dtype}; "
                                 f"leave {dtype} out of dtypes")
        h.setflags(write=False)
        y.setflags(write=False)
        object.__setattr__(self, "logits", h)
        object.__setattr__(self, "labels", y)

    def inputs(self, dtype):
        """``(logits, labels)`` as the backend receives them at ``dtype``."""
        return np.ascontiguousarray(self.logits, dtype=np.dtype(dtype)), self.labels.copy()


def _case(name, rows, labels, dtypes=DTYPES, note=""):
    return Case(name, np.array(rows, dtype=np.float64), np.array(labels), dtypes, True, note)


def fixed_cases():
    """The hand-written hard cases (values exact in float32 unless the name says otherwise)."""
    spread = np.linspace(2.0, -6.0, 200)  # many classes, a few in the support at small beta
    return [
        _case("single_class", [[0.0], [3.5], [-1e6]], [0, 0, 0],
              note="C = 1: p = q = 1, nu = -h, loss 0"),
        _case("two_classes", [[0.0, 0.375], [1.0, -1.0], [0.25, -4.0], [-3.0, 3.0]], [1, 1, 0, 0]),
        _case("constant_rows", [[2.0] * 5, [-7.5] * 5, [0.0] * 5], [0, 3, 4],
              note="nu_lo == nu_hi: the bracket is the answer"),
        _case("constant_wide", [[1.25] * 64], [17]),
        _case("ties", [[1.0, 1.0, 0.25, 0.25, -2.0], [0.25, 0.25, 0.25, -0.75, -0.75],
                       [3.0, 3.0, 3.0, 3.0, 2.5]], [0, 3, 4]),
        _case("dominant_class", [[40.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, -40.0, -40.0, -41.0, -39.0, -40.5]],
              [0, 2], note="one class takes all the mass for beta < 40"),
        _case("huge_spread", [[1e300, 0.0, -1e300, 1.0], [0.0, -1e300, 1.0, 0.5]], [1, 2],
              dtypes=("float64",), note="1e300 overflows float32"),
        _case("huge_spread_f32", [[1e30, 0.0, -1e30, 1.0], [0.0, -1e30, 1.0, 0.5]], [1, 2]),
        _case("offset_1e6", [[1e6, 1e6 + 0.5, 1e6 - 0.25, 1e6 + 1.0, 1e6 - 2.0],
                             [-1e6, -1e6 - 0.75, -1e6 + 1.5, -1e6 + 0.0625, -1e6 - 3.0]], [0, 4],
              note="values exact in float32 (spacing 0.0625 at 1e6)"),
        _case("offset_1e12", [[1e12, 1e12 + 0.5, 1e12 - 0.25, 1e12 + 1.0]], [2],
              dtypes=("float64",), note="float32 would collapse the row to a constant"),
        _case("tiny_spread", [[0.0, 2.0**-40, -(2.0**-41), 3 * 2.0**-42]], [3],
              note="near-constant: nu close to the bracket"),
        _case("negative_block", [[-100.0, -101.0, -99.5, -130.0], [-0.5, -60.0, -61.0, -62.0]], [1, 0]),
        _case("wide_200", [spread, spread[::-1].copy()], [0, 5],
              note="C = 200, a linear ramp"),
    ]


def random_cases(seed=DEFAULT_SEED):
    """Seeded random rows: for each size, rows at scales 1e-2, 1, 10, 100 in turn.

    Normal draws; the offset case adds row offsets up to 1e5. Values are rounded to float32
    once, so the float64 and float32 runs see the same numbers where float32 can hold them.
    """
    rng = np.random.default_rng(seed)
    cases = []
    for C, B in RANDOM_SIZES:
        scale = np.resize(RANDOM_SCALES, B)[:, None]
        h = (scale * rng.standard_normal((B, C))).astype(np.float32).astype(np.float64)
        cases.append(Case(f"random_C{C}", h, rng.integers(0, C, B), note="normal rows"))
    B, C = 8, 16
    offset = rng.choice([-1e5, -1e3, 1e3, 1e5], B)[:, None]
    h = (offset + rng.standard_normal((B, C))).astype(np.float32).astype(np.float64)
    cases.append(Case(f"random_offset_C{C}", h, rng.integers(0, C, B), note="offsets to 1e5"))
    return cases


def catalogue(seed=DEFAULT_SEED, names=None):
    """Fixed cases then random ones; ``names`` (an iterable of str) selects by name.

    Raises
    ------
    ValueError
        If a name is not in the catalogue (the message lists the valid names).
    """
    cases = fixed_cases() + random_cases(seed)
    if names is None:
        return cases
    by_name = {c.name: c for c in cases}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown case(s) {', '.join(map(repr, unknown))}; "
                         f"valid cases: {', '.join(by_name)}")
    return [by_name[n] for n in dict.fromkeys(names)]


def beta_key(beta):
    """The string a beta is stored and reported under: "inf", else ``repr(float(beta))``."""
    beta = float(beta)
    return "inf" if math.isinf(beta) else repr(beta)
