"""Newton's relative stopping rule for float32 results (``config.NEWTON_RTOL``).

A float32 row stops one or two steps before float64 precision, as soon as the next iterate lies
provably within ``rtol |x|`` of the root (``_kernels.newton_error`` from the right,
``_kernels.left_error`` from the left). These tests pin that the bounds are bounds (against the
exact root, on the rows where they are tightest: classes crowding the edge of the support, and
classes entering it), that the early root is that close to the float64 one, that q is then
evaluated at the root returned, and that float32 results keep their accuracy target.
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_cpu_kernels import ROWS, collect, shifted_root

import mgce_ref
from mgce_ref import _kernels as K
from mgce_ref.config import NEWTON_RTOL, TOLERANCE
from mgce_ref.exact import mp_reference

RTOL = NEWTON_RTOL[np.dtype(np.float32)]
EPS = float(np.finfo(np.float64).eps)
BETAS = [1.0 + 1e-6, 1.02, 1.4, 2.0, 11.0, 1e4]


def edge_crowd(beta, gaps, copies, C_max=1, C=None):
    """A maximum (or ``C_max`` tied ones) and ``copies`` classes at each ``z = -beta (1 - g)``:
    near the root many classes sit at the edge of the support, where ``f''`` peaks (beta < 2)
    and the slope falls as they leave. Padded to ``C`` classes with ones far out of reach."""
    z = np.concatenate([np.zeros(C_max)] + [np.full(copies, -beta * (1.0 - g)) for g in gaps])
    if C is not None:
        z = np.concatenate([z, np.full(C - z.shape[0], -3.0 * beta)])
    return z + 0.25


def crowd_rows(beta, C=64):
    return [edge_crowd(beta, [1e-3], 40, C=C), edge_crowd(beta, [0.5, 1e-2, 1e-6], 10, C=C),
            edge_crowd(beta, [0.9, 1e-9], 30, C_max=3, C=C),
            edge_crowd(beta, list(10.0 ** -np.arange(1, 15)), 2, C=C)]


def rounding_floor(row, beta, root):
    """How far float64 evaluations of eq. 13 can place an iterate from the root: each term
    ``p_c = exp(beta log s_c)`` carries ``(beta |log s_c| + 4) eps`` relative error, over the
    slope ``f'``. (The bound is one of exact arithmetic; iterates carry this too.)"""
    with np.errstate(over="ignore"):
        t = row - row.max() + root
    s = 1.0 + t[t > -beta] / beta
    p = np.exp(beta * np.log(s))
    return np.finfo(float).eps * np.sum(p * (beta * np.abs(np.log(s)) + 4.0)) / np.sum(p / s)


def assert_bounds(row, beta):
    """Every finite bound holds against the exact root, up to the rounding floor, on the
    kernel's iterates and on plain Newton's."""
    root = shifted_root(row, beta)
    slack = 2.0 * rounding_floor(row, beta, root) + 4 * math.ulp(root)
    finite = 0
    for halley in (True, False):
        steps = newton_iterates(row, beta, halley)
        for x, xn, bound in steps:
            assert x >= root - slack and xn >= root - slack  # Newton from the right stays right
            if math.isfinite(bound):
                assert xn - root <= bound + slack, (row[:5], beta, x, xn, bound)
        finite += sum(math.isfinite(b) for _, _, b in steps)
    return finite


def rows_for(beta):
    """The CPU kernel tests' rows (adversarial and random) with more than one class and a
    finite ``h - max(h)`` (which the exact solver needs), and the crowded edges."""
    with np.errstate(over="ignore"):
        rows = [r for r in ROWS if r.shape[0] > 1 and np.isfinite(r - r.max()).all()]
    return rows + crowd_rows(beta)


def newton_iterates(row, beta, halley=True):
    """The iterates of ``K.newton``'s loop at machine precision (Halley's first step, then
    Newton's), with ``newton_error`` of each Newton step from the right: ``(x, xn, bound)``;
    ``halley=False``: Newton's steps only."""
    buf, _, n, m, vmax, vmin = collect(row, beta)
    lo = K.base(row.shape[0], beta)
    x = min(K.newton_start(buf, n, vmax, beta), min(lo - (vmin - vmax), 0.0))
    steps = []
    after = False
    for _ in range(100):
        f, d, curv, zmin = K.residual(buf, n, m, vmax, x, beta, K.short_power(beta), False)
        if f <= 0.0 and not (after and f < 0.0):
            break
        xn, stop = K.newton_next(f, d, curv, zmin, x, lo, beta, 0.0, 0.0, halley, n)
        if f > 0.0 and not halley:
            steps.append((x, xn, K.newton_error(f, d, curv, x, xn, zmin, beta)))
        after, halley = halley, False
        if stop:
            break
        x = xn
    return steps


@pytest.mark.parametrize("beta", BETAS, ids=str)
def test_newton_error_bounds_the_distance_to_the_root(beta):
    rows = rows_for(beta)
    finite = sum(assert_bounds(row, beta) for row in rows)
    assert finite >= len(rows) // 2  # the bound is known on many steps, not just vacuous


@settings(max_examples=150, deadline=None, derandomize=True)
@given(beta=st.sampled_from(BETAS + [1.1, 1.7, 3.0]), seed=st.integers(0, 2**32 - 1),
       copies=st.integers(1, 60), gap_exp=st.floats(1.0, 15.0), C_max=st.integers(1, 3),
       spread=st.sampled_from([0.0, 0.1, 1.0]))
def test_newton_error_bounds_on_crowded_edges(beta, seed, copies, gap_exp, C_max, spread):
    rng = np.random.default_rng(seed)
    row = edge_crowd(beta, [10.0 ** -gap_exp], copies, C_max)
    row[C_max:] += spread * beta * 1e-3 * rng.standard_normal(row.shape[0] - C_max)
    assert_bounds(np.minimum(row, 0.25), beta)


@pytest.mark.parametrize("beta", BETAS, ids=str)
def test_the_relative_rule_stops_within_rtol_of_the_float64_root(beta):
    early = []
    for row in rows_for(beta):
        buf, idx, n, m, vmax, vmin = collect(row, beta)
        C = row.shape[0]
        lo = K.base(C, beta)
        full = K.newton(buf.copy(), n, m, vmax, vmin, lo, beta, 0.0, 0.0, 100)
        got = K.newton(buf.copy(), n, m, vmax, vmin, lo, beta, 0.0, RTOL, 100)
        assert got[2] and got[1] <= full[1]
        # float32's rule; where it takes plain products (an integer beta), within 1.5 rtol
        # max(1, |x|): a root near 0 to rtol absolute (K.plain_powers)
        unit = 1.5 * max(1.0, abs(full[0])) if K.short_power(beta) else abs(full[0])
        assert abs(got[0] - full[0]) <= RTOL * unit + 4 * math.ulp(full[0])
        early.append(got[1] < full[1])
        # The pruned CPU form takes the same iterates and leaves log s at the root it returns
        # (moved there from the last evaluation: each within about an ulp of the exact log s,
        # so a few ulps from a fresh evaluation, not bit for bit).
        lbuf = np.empty(C)
        table = K.row_constants(C, beta)
        x, it, ok, k = K.newton_pruned(buf, idx, lbuf, n, vmax, vmin, table, beta, 0.0, RTOL, 100)
        assert (x, it, ok) == got
        for j in range(k if not K.short_power(beta) else 0):  # integer beta: nothing left
            want = K.log_s(buf[j] - vmax, x, beta) if buf[j] - vmax + x > -beta else -math.inf
            assert lbuf[j] == want or abs(lbuf[j] - want) <= 4 * EPS * max(1.0, abs(want))
    assert any(early)


def test_float32_rows_take_fewer_steps_and_round_to_the_same_nu(rng):
    h = (3.0 * rng.standard_normal((400, 100))).astype(np.float32)
    nu32, info32 = mgce_ref.solve_nu(h, 1.4, full_output=True)
    nu64, info64 = mgce_ref.solve_nu(h.astype(np.float64), 1.4, full_output=True)
    assert nu32.dtype == np.float32
    assert info32.iterations.mean() < info64.iterations.mean() - 0.25
    assert np.all(info32.iterations <= info64.iterations)
    ulps = np.abs(nu32.astype(np.float64) - nu64) / np.spacing(np.abs(nu32))
    assert ulps.max() <= 0.5 + 1e-3  # nu64 rounded, but for a hair
    # A tolerance of the caller's own turns the relative rule off: float64 rows then run
    # until a step no longer moves the root, a step or more past the rule, to within an ulp.
    nu_tol, info_tol = mgce_ref.solve_nu(h.astype(np.float64), 1.4, tol=1e-300,
                                         full_output=True)
    assert np.all(info_tol.iterations >= info64.iterations)
    assert info_tol.iterations.mean() > info64.iterations.mean() + 0.25
    assert np.all(np.abs(nu_tol - nu64) <= 2 * np.spacing(np.abs(nu64)))


@pytest.mark.parametrize("beta", BETAS, ids=str)
def test_float32_results_on_crowded_edges_stay_within_two_ulps(beta):
    h = np.stack(crowd_rows(beta) + [crowd_rows(beta)[0][::-1]]).astype(np.float32)
    y = np.array([0, 5, 33, 14, 63])
    ref = mp_reference(h.astype(np.float64), y, beta)
    loss, grad = mgce_ref.loss_and_grad(h, y, beta)
    got = {"nu": mgce_ref.solve_nu(h, beta), "link": mgce_ref.link(h, beta),
           "worst_case": mgce_ref.worst_case(h, beta), "loss": loss, "grad": grad}
    floor = TOLERANCE[np.dtype(np.float32)]["prob"] / 2.0
    for key, g in got.items():
        want = ref[key]
        if key == "nu":
            unit = np.spacing(np.maximum(np.float32(1), np.abs(h).max(axis=1)))
        elif key == "loss":
            unit = np.spacing(np.maximum(np.float32(1), np.abs(want).astype(np.float32)))
        else:
            unit = np.maximum(np.spacing(np.abs(want).astype(np.float32)), floor)
        err = np.abs(g.astype(np.float64) - want) / unit
        assert err.max() <= 2.0, f"{key}: {err.max():.2f} float32 ulps"


def overshoots(row, beta):
    """Whether Halley's first step lands left of the root (``f < 0`` at the next evaluation)."""
    buf, _, n, m, vmax, vmin = collect(row, beta)
    lo = K.base(row.shape[0], beta)
    x = min(K.newton_start(buf, n, vmax, beta), min(lo - (vmin - vmax), 0.0))
    f, d, curv, zmin = K.residual(buf, n, m, vmax, x, beta, K.short_power(beta), False)
    if f <= 0.0:
        return False
    x, stop = K.newton_next(f, d, curv, zmin, x, lo, beta, 0.0, 0.0, True, n)
    return not stop and K.residual(buf, n, m, vmax, x, beta, K.short_power(beta), False)[0] < 0.0


@pytest.mark.parametrize("beta", [2.0, 3.0])
def test_halley_past_the_root_steps_back(beta):
    """Halley's first step can pass the root (1% of random rows at beta = 1.4, 7% at 2, 40%
    at 3); Newton's step from the left then lands right of it, and the iteration ends on the
    float64 root, with the pruned CPU form on the plain one's iterates bit for bit."""
    h = 3.0 * np.random.default_rng(11).standard_normal((200, 50))
    rows = [r for r in h if overshoots(r, beta)]
    assert len(rows) >= 5
    for row in rows:
        buf, idx, n, m, vmax, vmin = collect(row, beta)
        lo = K.base(row.shape[0], beta)
        plain = K.newton(buf.copy(), n, m, vmax, vmin, lo, beta, 0.0, 0.0, 100)
        x, it, ok, k = K.newton_pruned(buf, idx, np.empty(row.shape[0]), n, vmax, vmin,
                                       K.row_constants(row.shape[0], beta), beta, 0.0, 0.0, 100)
        assert (x, it, ok) == plain and ok
        assert abs(x - shifted_root(row, beta)) <= 4 * np.spacing(1.0)


LEFT_BETAS = [2.0, 2.5, 3.0, 5.0, 11.0, 100.0, 1e4]


def straddling(beta, base, gaps):
    """``base`` plus one class at each ``gap`` from the edge of the support at ``base``'s root
    (``z = -beta - root + gap``, either side): a step from the left can bring them in."""
    root = shifted_root(base, beta)
    z = base - base.max()
    return np.concatenate([z, -beta - root + np.asarray(gaps) * beta])


def left_rows(beta):
    rng = np.random.default_rng(21)
    rows = [3.0 * rng.standard_normal(C) for C in (2, 3, 10, 10, 30, 100)]
    rows += [straddling(beta, 0.5 * beta * rng.standard_normal(8), g)
             for g in ([1e-3, -1e-3], [1e-9, -1e-9, 1e-6], [-1e-12] * 5 + [1e-12] * 5)]
    return rows + crowd_rows(beta)[:2]


def left_steps(row, beta):
    """Newton's step from points left of the exact root, ``root - o max(1, |root|)`` for
    offsets ``o`` from 1e-1 down to 1e-12: ``(x, xn, left_error, root)``."""
    buf, _, n, m, vmax, vmin = collect(row, beta)
    lo = K.base(row.shape[0], beta)
    root = shifted_root(row, beta)
    steps = []
    for o in 10.0 ** -np.arange(1, 13):
        x = max(root - o * max(1.0, abs(root)), lo)
        f, d, curv, zmin = K.residual(buf, n, m, vmax, x, beta, K.short_power(beta), False)
        if not f < 0.0:
            continue
        xn, _ = K.newton_next(f, d, curv, zmin, x, lo, beta, 0.0, 0.0, False, n)
        steps.append((x, xn, K.left_error(d, curv, x, xn, zmin, beta, n), root))
    return steps


@pytest.mark.parametrize("beta", LEFT_BETAS, ids=str)
def test_left_error_bounds_a_step_from_the_left(beta):
    """Newton's iterate from the left lands right of the root, within ``left_error`` of it
    (up to the rounding floor), classes entering the support on the way included; and the
    bound is quadratic: far below the step once the step is small."""
    tight = 0
    for row in left_rows(beta):
        for x, xn, bound, root in left_steps(row, beta):
            slack = 2.0 * rounding_floor(row, beta, root) + 4 * math.ulp(root)
            assert xn >= root - slack
            assert xn - root <= bound + slack, (row[:4], beta, x, xn, bound, root)
            tight += bound <= 1e-3 * (xn - x)
    assert tight >= 20


def test_left_error_has_no_bound_below_beta_2_or_over_long_steps():
    assert K.left_error(1.0, 1.0, -1.0, -0.9, -0.5, 1.9, 3) == math.inf
    # the step spans more than (beta s_min) / (beta - 2) from the edge: no bound
    assert K.left_error(1.0, 1.0, -1.0, -0.5, -9.9, 11.0, 3) == math.inf
    assert K.left_error(1.0, 1.0, -1.0, -0.999, -0.5, 11.0, 3) < 1e-6


@pytest.mark.parametrize("beta", [5.0, 100.0, 1e4])
def test_starts_left_of_the_root_end_in_one_evaluation_for_float32(beta):
    """Rows of 10 classes mostly start left of the root from beta ~ 5 on; from beta = 100
    on one evaluation and Newton's step from there end them (float32 results), and the root
    is the one of float64 within the relative rule."""
    h = 3.0 * np.random.default_rng(5).standard_normal((300, 10))
    nu32, info = mgce_ref.solve_nu(h.astype(np.float32), beta, full_output=True)
    nu64 = mgce_ref.solve_nu(h, beta)
    x = nu64 + h.max(axis=1)
    assert np.all(np.abs(nu32.astype(np.float64) - nu64)
                  <= np.spacing(np.abs(nu32)) + RTOL * np.abs(x))
    if beta >= 100.0:
        assert info.iterations.mean() <= 1.05
