"""Every CPU backend against the 50-digit mpmath solve (MATH.md; issue: core accuracy targets).

float64: |dp|, |dq|, |dgrad| <= 1e-15 and |dnu| <= 4 ulp of max(1, max|h|); the loss within
4 ulp of max(1, |loss|). float32: within 2 float32 ulps of the exact value of the float32 input.
"""

import functools
import math

import numpy as np
import pytest
from cases import BETAS, adversarial_rows, random_rows

import mgce_ref
from mgce_ref.config import TOLERANCE
from mgce_ref.exact import mp_reference

F64 = TOLERANCE[np.dtype(np.float64)]
F32 = TOLERANCE[np.dtype(np.float32)]

CASES = dict(adversarial_rows())
CASES.update({
    "random_small": random_rows(seed=1, B=6, C=5, scale=3.0),
    "random_c100": random_rows(seed=2, B=4, C=100, scale=3.0),
    "random_wide": random_rows(seed=3, B=4, C=30, scale=30.0),
    "random_narrow": random_rows(seed=4, B=4, C=30, scale=0.05),
    "random_c1000": random_rows(seed=5, B=2, C=1000, scale=3.0),
    # flat rows: Newton starts from the expansion about equal logits there (spread_start)
    "flat_c100": random_rows(seed=6, B=4, C=100, scale=0.3),
    "flat_c1000": random_rows(seed=7, B=2, C=1000, scale=0.1),
})


def labels_for(h):
    return np.random.default_rng(h.shape[1]).integers(0, h.shape[1], h.shape[0])


@functools.lru_cache(maxsize=None)
def reference(case, beta, dtype="float64"):
    h = CASES[case].astype(dtype).astype(np.float64)
    return mp_reference(h, labels_for(h), beta)


def all_outputs(h, y, beta, backend):
    loss, grad = mgce_ref.loss_and_grad(h, y, beta, backend=backend)
    return {
        "nu": mgce_ref.solve_nu(h, beta, backend=backend),
        "link": mgce_ref.link(h, beta, backend=backend),
        "worst_case": mgce_ref.worst_case(h, beta, backend=backend),
        "loss": loss,
        "grad": grad,
    }


@pytest.mark.parametrize("beta", BETAS, ids=str)
@pytest.mark.parametrize("case", sorted(CASES))
def test_float64_matches_mpmath(case, beta, backend):
    h = CASES[case]
    ref = reference(case, beta)
    got = all_outputs(h, labels_for(h), beta, backend)
    scale = np.maximum(1.0, np.abs(h).max(axis=1))
    nu_ulps = np.abs(got["nu"] - ref["nu"]) / np.spacing(scale)
    assert nu_ulps.max() <= F64["nu_ulps"], f"nu off by {nu_ulps.max():.1f} ulp"
    for key in ("link", "worst_case", "grad"):
        err = np.abs(got[key] - ref[key]).max()
        assert err <= F64["prob"], f"{key}: max abs error {err:.2e}"
    same_inf = np.isinf(ref["loss"]) & (got["loss"] == ref["loss"])  # overflow is right
    with np.errstate(invalid="ignore"):
        loss_err = np.where(same_inf, 0.0, np.abs(got["loss"] - ref["loss"]))
    loss_ulps = loss_err / np.spacing(np.maximum(1.0, np.where(same_inf, 1.0, np.abs(ref["loss"]))))
    assert loss_ulps.max() <= 4.0, f"loss off by {loss_ulps.max():.1f} ulp"
    for key in got:
        assert np.asarray(got[key]).dtype == np.float64


@pytest.mark.parametrize("beta", (1.0, 1.02, 1.4, 2.0, 5.0, 11.0, 1e6, math.inf), ids=str)
@pytest.mark.parametrize("case", ["random_small", "random_c100", "offset_1e6", "ties", "dominant",
                                  "flat_c100"])
def test_float32_within_two_ulps(case, beta, backend):
    h = CASES[case].astype(np.float32)
    ref = reference(case, beta, "float32")
    got = all_outputs(h, labels_for(h), beta, backend)
    for key, want in ref.items():
        assert got[key].dtype == np.float32, key
        if key == "nu":
            unit = np.spacing(np.maximum(np.float32(1), np.abs(h).max(axis=1)))
            limit = F32["nu_ulps"]
        elif key == "loss":
            unit = np.spacing(np.maximum(np.float32(1), np.abs(want).astype(np.float32)))
            limit = 2.0
        else:  # probabilities: 2 ulp of the exact value, or F32["prob"] absolute near 0
            unit = np.maximum(np.spacing(np.abs(want).astype(np.float32)), F32["prob"] / 2.0)
            limit = 2.0
        err = np.abs(got[key].astype(np.float64) - want) / unit
        assert err.max() <= limit, f"{key}: {err.max():.2f} float32 ulps"


@pytest.mark.parametrize("beta, runner_up", [(2.0, -2.0 + 2e-5), (11.0, -11.0 + 1e-4),
                                              (1e6, -30.0), (math.inf, -30.0)], ids=str)
def test_dominant_class_loss_keeps_relative_accuracy(beta, runner_up, backend):
    """A confident right answer has a tiny loss (1e-56 .. 1e-10 here); it must keep its
    relative accuracy, not just 1e-16 absolute (what the expm1/log1p and two-sum forms buy).

    The runner-up's ``p = exp(beta * log s)`` carries a relative error of about
    ``(beta * |log s| + 4) * eps`` (the absolute error of ``log s``, scaled by beta), and so
    does the loss, which that term alone makes up.
    """
    h = np.array([[0.0, runner_up]])
    ref = mp_reference(h, np.array([0]), beta)
    got = mgce_ref.loss(h, np.array([0]), beta, backend=backend)[0]
    loss = ref["loss"][0]
    assert 0 < loss < 1e-9
    s = ref["link"][0, 1] ** (1 / beta) if math.isfinite(beta) else 1.0
    bound = (beta * abs(math.log(s)) + 4) * np.finfo(float).eps if math.isfinite(beta) else 4 * np.finfo(float).eps
    assert abs(got - loss) <= bound * loss, (got, loss, abs(got - loss) / loss)
