"""What is timed: one :class:`Case` per (backend, op, B, C, beta, dtype), and the suites.

Backends and their ops (the op names the work, so the same work groups side by side):

=================  ===============================================================
backend            ops
=================  ===============================================================
``numba``          ``loss_and_grad``, ``link``, ``worst_case``, ``nu`` (``mgce_ref`` public
                   API; ``worst_case`` in the small-batch cases only)
``numpy``          ``loss_and_grad``, ``link``
``exact``          ``loss_and_grad``, ``link`` (small sizes only: a Python loop)
``cuda``           ``loss_and_grad``, ``link`` (only when a GPU is present)
``mrcpy_torch``    ``loss_and_grad`` = ``mgce_loss.get_gradient``,
                   ``link`` = ``mgce_loss.get_probs``
``entmax_bisect``  ``link`` = ``entmax_bisect(h, alpha=1 + 1/beta)``
``softmax``        ``softmax_torch``, ``softmax_numpy``: one pass over the logits, the
                   floor; it is the beta = inf link, so its rows carry beta = inf
``torch_ce``       ``cross_entropy`` = ``torch.nn.functional.cross_entropy`` (forward,
                   per-sample losses): the small-batch floor, the beta = inf loss
=================  ===============================================================
"""

import math
from dataclasses import asdict, dataclass

OWN_BACKENDS = ("numba", "numpy", "exact", "cuda")
PEER_BACKENDS = ("mrcpy_torch", "entmax_bisect", "softmax", "torch_ce")
OPS = {
    "numba": ("loss_and_grad", "link", "worst_case", "nu"),
    "numpy": ("loss_and_grad", "link"),
    "exact": ("loss_and_grad", "link"),
    "cuda": ("loss_and_grad", "link"),
    "mrcpy_torch": ("loss_and_grad", "link"),
    "entmax_bisect": ("link",),
    "softmax": ("softmax_torch", "softmax_numpy"),
    "torch_ce": ("cross_entropy",),
}

#: The sizes of the speed targets, and the betas and class counts they are pushed to.
HEADLINE = ((8192, 100), (1024, 1000))
TARGET_BETA = 1.4
BETAS = (1.0, 1.02, 1.4, 2.0, 5.0, 11.0, 100.0, 1e4, 1e6, math.inf)
EXTRA_BETAS = (1e3,)  # for the time-against-beta figure
#: The paper's mini-batches: 128 samples of 10 or 100 classes, against
#: ``torch.nn.functional.cross_entropy`` on the same logits (target: within 3x).
SMALL = ((128, 10), (128, 100))
SMALL_BETAS = (1.4, 11.0, math.inf)
SMALL_OPS = ("loss_and_grad", "link", "worst_case", "nu")
CLASSES = (2, 10, 100, 1000, 10000)
BATCHES = (64, 256, 1024, 4096, 16384, 65536)
SCALING_B = 1024  # the batch of the time-against-C sweep
SCALING_C = 100  # the class count of the time-against-B sweep
#: The exact backend loops over rows in Python (brentq): time it only up to this many logits.
EXACT_MAX_ELEMENTS = 110_000
#: B x C of the peak-memory measurement (float32: 400 MB of logits).
MEMORY_SHAPE = (100_000, 1000)


@dataclass(frozen=True, order=True)
class Case:
    """One timed piece of work. ``beta`` is a float (``math.inf`` allowed)."""

    dtype: str
    B: int
    C: int
    beta: float
    op: str
    backend: str

    @property
    def id(self):
        return f"{self.backend}-{self.op}-B{self.B}-C{self.C}-beta{beta_str(self.beta)}-{self.dtype}"

    @property
    def group(self):
        """pytest-benchmark group: all work on the same logits sits together."""
        return f"{self.dtype} B={self.B} C={self.C}"

    def row(self, seconds, max_abs_err):
        """The JSON row of the issue's schema."""
        d = {k: v for k, v in asdict(self).items()}
        d["beta"] = beta_json(self.beta)
        d["seconds"] = seconds
        d["max_abs_err"] = max_abs_err
        return {k: d[k] for k in ("backend", "op", "B", "C", "beta", "dtype", "seconds", "max_abs_err")}


def beta_str(beta):
    return "inf" if math.isinf(beta) else f"{beta:g}"


def beta_json(beta):
    """A number, or the string "inf" (JSON has no infinity)."""
    return "inf" if math.isinf(beta) else float(beta)


def beta_from_json(value):
    return math.inf if value == "inf" else float(value)


def _family(backends, B, C, beta, dtype, ops=("loss_and_grad", "link")):
    """Every competitor's version of ``ops`` on one set of logits, plus the softmax floor."""
    out = []
    for backend in backends:
        if backend == "exact" and B * C > EXACT_MAX_ELEMENTS:
            continue
        for op in OPS[backend]:
            if op in ops or backend in ("softmax", "torch_ce"):
                b = math.inf if backend in ("softmax", "torch_ce") else beta
                out.append(Case(dtype, B, C, b, op, backend))
    return out


ALL = OWN_BACKENDS + PEER_BACKENDS[:3]  # the torch_ce floor joins the small batches only


def small_cases():
    """numba's four ops at the paper's batch sizes, and ``F.cross_entropy`` beside them."""
    out = []
    for B, C in SMALL:
        out.append(Case("float32", B, C, math.inf, "cross_entropy", "torch_ce"))
        for beta in SMALL_BETAS:
            out += [Case("float32", B, C, beta, op, "numba") for op in SMALL_OPS]
    return out


def suite(name):
    """The sorted, de-duplicated cases of suite ``name``: "smoke", "quick" or "full".

    smoke: seconds, for the tests (numbers meaningless). quick: the targets at beta = 1.4,
    a small group with the exact backend, the small batches against ``F.cross_entropy``,
    numba against MRCpy over beta, and a thin sweep over B and C (about a minute on a
    2-core machine). full: the quick suite, every beta x every C (float32 with every
    competitor, float64 numba against a float64 softmax), time against B and C, float64 at
    the headline sizes, and beta = 1e3.
    """
    cases = []
    if name == "smoke":
        cases += _family(ALL, 16, 5, 2.0, "float32", ops=("loss_and_grad", "link", "nu"))
        cases += [Case("float32", 16, 5, 2.0, "worst_case", "numba"),
                  Case("float32", 16, 5, math.inf, "cross_entropy", "torch_ce")]
        cases += _family(("numba", "mrcpy_torch"), 16, 5, math.inf, "float64")
        return sorted(set(cases))
    if name not in ("quick", "full"):
        raise ValueError(f"unknown suite {name!r}; choose 'smoke', 'quick' or 'full'")
    for B, C in HEADLINE:
        cases += _family(ALL, B, C, TARGET_BETA, "float32", ops=("loss_and_grad", "link", "nu"))
    cases += _family(ALL, 64, 100, TARGET_BETA, "float32")
    cases += small_cases()
    B, C = HEADLINE[1]
    for beta in BETAS:
        cases += _family(("numba", "mrcpy_torch"), B, C, beta, "float32", ops=("loss_and_grad", "nu"))
    if name == "quick":  # a thin time-against-C and time-against-B sweep for the figures
        lean = ("numba", "mrcpy_torch", "softmax")
        for C in CLASSES:  # MRCpy takes seconds a call at C = 10000 (the full run has it)
            who = lean if C < 10_000 else ("numba", "softmax")
            cases += _family(who, SCALING_B, C, TARGET_BETA, "float32", ops=("loss_and_grad",))
        for B in BATCHES[::2]:
            cases += _family(lean, B, SCALING_C, TARGET_BETA, "float32", ops=("loss_and_grad",))
        return sorted(set(cases))
    for C in CLASSES:  # the push: every beta, every C, at about 2**20 logits
        B = grid_batch(C)
        for beta in BETAS:
            cases += _family(ALL, B, C, beta, "float32", ops=("loss_and_grad", "link", "nu"))
    for C in CLASSES:
        cases += _family(ALL, SCALING_B, C, TARGET_BETA, "float32")
    for B in BATCHES:
        cases += _family(ALL, B, SCALING_C, TARGET_BETA, "float32")
    for C in CLASSES:  # float64 over the grid, against a float64 softmax
        for beta in BETAS:
            cases += _family(("numba", "softmax"), grid_batch(C), C, beta, "float64",
                             ops=("loss_and_grad",))
    for B, C in HEADLINE:
        cases += _family(ALL, B, C, TARGET_BETA, "float64")
        for beta in EXTRA_BETAS:
            cases += _family(("numba", "mrcpy_torch"), B, C, beta, "float32", ops=("loss_and_grad", "nu"))
    return sorted(set(cases))


def grid_batch(C):
    """The batch paired with ``C`` in the beta x C grid: the power of two nearest below
    ``2**20 / C`` (8192 for C = 100 and 1024 for C = 1000, the headline sizes)."""
    return 1 << math.floor(math.log2(2**20 / C))
