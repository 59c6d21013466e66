"""Short rows solved ``LANES`` at a time, a row to each SIMD lane (``_blocks``): against the
50-digit solve on random and adversarial rows at every kind of beta (products in plain float64
or double-double, ``exp`` and ``log``), each row's results the same bits whatever the batch
around it, bad rows named, and the choice of path."""

import math

import numpy as np
import pytest

import mgce_ref
from mgce_ref import _blocks as Bk
from mgce_ref.config import BLOCK_BETA_MIN, BLOCK_MAX_C, LANES, NEWTON_RTOL, TOLERANCE, WIDE_MIN
from mgce_ref.exact import mp_reference

BETAS = (2.0, 2.5, 3.0, 4.5, 5.0, 11.0, 37.3, 100.0, 200.0, 1e4, 1e6)
F64 = TOLERANCE[np.dtype(np.float64)]
F32 = TOLERANCE[np.dtype(np.float32)]


def short_rows(C, beta, seed):
    """Random rows and the traps of a short row: ties, a dominant class, classes just inside,
    at and just outside the support's edge (``z = -beta``), huge offsets and spreads."""
    rng = np.random.default_rng(seed)
    rows = list(3.0 * rng.standard_normal((9, C)))
    rows.append(np.zeros(C))
    rows.append(np.r_[1.0, 1.0, np.zeros(C - 2)])
    edge = np.full(C, -2.0 * beta if math.isfinite(2.0 * beta) else -1e308)
    edge[0] = 0.0
    edge[1] = -beta * (1.0 - 1e-12)
    if C > 2:
        edge[2] = -beta
    if C > 3:
        edge[3] = -beta * (1.0 + 1e-12)
    rows.append(edge)
    dominant = np.full(C, -min(beta, 1e3) / 2.0)
    dominant[C // 2] = min(beta, 1e3) / 2.0
    rows.append(dominant)
    rows.append(1e6 + rng.standard_normal(C))
    rows.append(np.r_[0.0, -1e-15, 1e-300, 30.0 * rng.standard_normal(max(C - 3, 0))][:C])
    return np.array(rows)


def labels_for(h):
    return np.random.default_rng(h.shape[1]).integers(0, h.shape[1], h.shape[0])


def outputs(h, y, beta):
    loss, grad = mgce_ref.loss_and_grad(h, y, beta)
    return {"nu": mgce_ref.solve_nu(h, beta), "link": mgce_ref.link(h, beta),
            "worst_case": mgce_ref.worst_case(h, beta), "loss": loss, "grad": grad}


@pytest.mark.parametrize("beta", BETAS, ids=str)
@pytest.mark.parametrize("C", [2, 3, 10, WIDE_MIN - 1, BLOCK_MAX_C])
def test_float64_blocks_match_mpmath(C, beta):
    h = short_rows(C, beta, seed=C)
    y = labels_for(h)
    ref = mp_reference(h, y, beta)
    got = outputs(h, y, beta)
    scale = np.maximum(1.0, np.abs(h).max(axis=1))
    nu_ulps = np.abs(got["nu"] - ref["nu"]) / np.spacing(scale)
    assert nu_ulps.max() <= F64["nu_ulps"], f"nu off by {nu_ulps.max():.1f} ulp"
    for key in ("link", "worst_case", "grad"):
        err = np.abs(got[key] - ref[key]).max()
        assert err <= F64["prob"], f"{key}: max abs error {err:.2e}"
    loss_ulps = np.abs(got["loss"] - ref["loss"]) / np.spacing(np.maximum(1.0, np.abs(ref["loss"])))
    assert loss_ulps.max() <= 4.0, f"loss off by {loss_ulps.max():.1f} ulp"


@pytest.mark.parametrize("beta", BETAS, ids=str)
@pytest.mark.parametrize("C", [2, 10, BLOCK_MAX_C])
def test_float32_blocks_within_two_ulps(C, beta):
    h = short_rows(C, beta, seed=10 + C).astype(np.float32)
    y = labels_for(h)
    ref = mp_reference(h.astype(np.float64), y, beta)
    got = outputs(h, y, beta)
    for key, want in ref.items():
        assert got[key].dtype == np.float32, key
        if key == "nu":
            unit = np.spacing(np.maximum(np.float32(1), np.abs(h).max(axis=1)))
            limit = F32["nu_ulps"]
        elif key == "loss":
            unit = np.spacing(np.maximum(np.float32(1), np.abs(want).astype(np.float32)))
            limit = 2.0
        else:
            unit = np.maximum(np.spacing(np.abs(want).astype(np.float32)), F32["prob"] / 2.0)
            limit = 2.0
        err = np.abs(got[key].astype(np.float64) - want) / unit
        assert err.max() <= limit, f"{key}: {err.max():.2f} float32 ulps"


@pytest.mark.parametrize("C", [2, 10])
def test_beta_1e300_is_the_softmax(C):
    """Beyond what 50 digits resolve (``1 + t / beta``), the limit itself: beta = inf."""
    h = short_rows(C, 1e6, seed=5)
    y = labels_for(h)
    got, want = outputs(h, y, 1e300), outputs(h, y, math.inf)
    for key in ("link", "worst_case", "grad"):
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=F64["prob"], err_msg=key)
    np.testing.assert_allclose(got["nu"], want["nu"], rtol=4e-16, atol=0)


@pytest.mark.parametrize("C", [7, BLOCK_MAX_C])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("beta", [2.0, 11.0, 37.3, 1e6])
def test_a_row_gets_the_same_bits_in_any_batch(beta, dtype, C):
    """Alone, in any lane of any block, beside rows that take many steps or none: the same
    outputs, bit for bit (padding lanes and neighbours never reach a row's arithmetic)."""
    h = short_rows(C, beta, seed=3).astype(dtype)
    y = labels_for(h)
    want = outputs(h, y, beta)
    order = np.random.default_rng(1).permutation(h.shape[0])
    shuffled = outputs(h[order], y[order], beta)
    for key in want:
        np.testing.assert_array_equal(shuffled[key], want[key][order], err_msg=key)
    for r in (0, 5, h.shape[0] - 1):
        alone = outputs(h[r:r + 1], y[r:r + 1], beta)
        for key in want:
            np.testing.assert_array_equal(alone[key][0], want[key][r], err_msg=f"{key} row {r}")


@pytest.mark.parametrize("beta", [2.0, 11.0, 1e4])
def test_blocks_report_iterations_and_convergence(beta):
    h = short_rows(5, beta, seed=4)
    nu, info = mgce_ref.solve_nu(h, beta, full_output=True)
    assert np.all(info.converged) and np.all(info.iterations >= 1)
    assert np.all(info.iterations <= 6)
    np.testing.assert_array_equal(nu, mgce_ref.solve_nu(h, beta))


@pytest.mark.parametrize("kind", ["nan", "inf", "label"])
def test_a_bad_row_in_a_block_is_named(kind):
    h = np.random.default_rng(0).standard_normal((13, 6))
    y = np.zeros(13, np.int64)
    if kind == "label":
        y[9] = 6
        with pytest.raises(ValueError, match="9"):
            mgce_ref.loss_and_grad(h, y, 11.0)
        return
    h[9, 2] = np.nan if kind == "nan" else np.inf
    with pytest.raises(ValueError, match="9"):
        mgce_ref.loss_and_grad(h, y, 11.0)
    with pytest.raises(ValueError, match="9"):
        mgce_ref.solve_nu(h, 11.0)


def test_which_rows_take_blocks():
    assert Bk.takes_blocks(2, BLOCK_BETA_MIN, 0, 0.0)
    assert Bk.takes_blocks(10, 2.0, 0, 0.0) and Bk.takes_blocks(10, 3.0, 0, 0.0)  # products
    assert not Bk.takes_blocks(10, 2.5, 0, 0.0)  # pruned rows, log and exp
    assert Bk.takes_blocks(WIDE_MIN - 1, 1e300, 0, 0.0)
    assert Bk.takes_blocks(BLOCK_MAX_C, 1e300, 0, 0.0)
    assert Bk.takes_blocks(BLOCK_MAX_C, 3.0, 0, 0.0)
    assert not Bk.takes_blocks(BLOCK_MAX_C + 1, 11.0, 0, 0.0)  # the SIMD path of one row
    assert Bk.takes_blocks(WIDE_MIN - 1, 2.0, 0, 0.0)
    assert not Bk.takes_blocks(WIDE_MIN, 2.0, 0, 0.0)  # beta = 2: few classes in the support
    assert not Bk.takes_blocks(1, 11.0, 0, 0.0)
    assert not Bk.takes_blocks(10, math.inf, 0, 0.0)  # a softmax
    assert not Bk.takes_blocks(10, 1.4, 0, 0.0)
    assert not Bk.takes_blocks(10, 11.0, 1, 0.0)  # bisection
    assert not Bk.takes_blocks(10, 11.0, 0, 1e-4)  # a tolerance


def test_plain_products_only_for_float32_results_up_to_beta_124():
    f32, f64 = NEWTON_RTOL[np.dtype(np.float32)], NEWTON_RTOL[np.dtype(np.float64)]
    assert Bk.int_plain(11.0, f32) == (10, True)
    assert Bk.int_plain(124.0, f32) == (123, True)
    assert Bk.int_plain(125.0, f32) == (124, False)
    assert Bk.int_plain(11.0, f64) == (10, False)
    assert Bk.int_plain(11.5, f32) == (0, False)


def test_padding_lanes_do_not_count():
    """A batch of one row still fills a block: ``LANES - 1`` padding lanes, done at once."""
    assert LANES > 1
    h = np.array([[0.5, -0.25, 3.0]])
    _, info = mgce_ref.solve_nu(h, 11.0, full_output=True)
    assert info.converged[0] and 1 <= info.iterations[0] <= 3


@pytest.mark.parametrize("beta", [2.0, 5.0, 11.0, 100.0, 124.0])
def test_float32_root_near_zero_converges_with_plain_products(beta):
    """One class dominating, another just inside the support: the root lies within 1e-17 of 0,
    where plain products cannot resolve ``s = 1 + x / beta``. Newton from the left overshoots
    past 0; the row must still stop (a step of at most rtol, ``_blocks.solve``), not crawl on
    to max_iter (found by the benchmark's profile: (524288, 2) at beta = 5)."""
    rng = np.random.default_rng(int(beta))
    rows = [np.array([2.955079, -2.0448616] + [-40.0] * 8)]  # the benchmark's row, padded
    for delta in (1e-5, 1e-4, 1e-3, 3e-2):
        row = np.full(10, -3.0 * beta)
        row[rng.integers(10)] = 1.5
        row[(rng.integers(9) + 1) % 10 if row[0] != 1.5 else 1] = 1.5 - beta + delta
        rows.append(row)
    h = np.array(rows).astype(np.float32)
    y = labels_for(h)
    nu, info = mgce_ref.solve_nu(h, beta, full_output=True)
    assert info.converged.all() and info.iterations.max() <= 8, info.iterations
    ref = mp_reference(h.astype(np.float64), y, beta)
    got = outputs(h, y, beta)
    for key in ("link", "worst_case", "grad"):
        unit = np.maximum(np.spacing(np.abs(ref[key]).astype(np.float32)), F32["prob"] / 2.0)
        err = np.abs(got[key].astype(np.float64) - ref[key]) / unit
        assert err.max() <= 2.0, f"{key}: {err.max():.2f} float32 ulps"
    unit = np.spacing(np.maximum(np.float32(1), np.abs(h).max(axis=1)))
    assert (np.abs(got["nu"] - ref["nu"]) / unit).max() <= F32["nu_ulps"]
