"""Bad input is refused with a message that names what is wrong; odd but valid input works."""

import math

import numpy as np
import pytest

import mgce_ref

H = np.array([[0.5, -1.0, 2.0], [0.0, 0.0, 1.0]])
Y = np.array([2, 0])

ALL = {
    "interval": lambda h, y, beta, be: mgce_ref.interval(h, beta),
    "solve_nu": lambda h, y, beta, be: mgce_ref.solve_nu(h, beta, backend=be),
    "link": lambda h, y, beta, be: mgce_ref.link(h, beta, backend=be),
    "worst_case": lambda h, y, beta, be: mgce_ref.worst_case(h, beta, backend=be),
    "loss": lambda h, y, beta, be: mgce_ref.loss(h, y, beta, backend=be),
    "grad": lambda h, y, beta, be: mgce_ref.grad(h, y, beta, backend=be),
    "loss_and_grad": lambda h, y, beta, be: mgce_ref.loss_and_grad(h, y, beta, backend=be),
}
WITH_LABELS = ("loss", "grad", "loss_and_grad")


@pytest.fixture(params=sorted(ALL))
def fn(request):
    return ALL[request.param]


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "an infinite value"),
                                       (-np.inf, "an infinite value")])
def test_nonfinite_logits_name_the_row(fn, backend, bad, what):
    h = np.zeros((4, 3))
    h[2, 1] = bad
    with pytest.raises(ValueError, match=rf"logits row 2 contains {what} \(column 1\)"):
        fn(h, np.zeros(4, int), 2.0, backend)


@pytest.mark.parametrize("C", [3, 10, 100])
def test_beta_inf_names_the_row_and_the_label(fn, backend, C):
    """beta = inf takes its own path in the numba kernels (whole rows): the same errors as
    elsewhere."""
    h = np.zeros((300, C))
    h[130, C - 1] = np.nan
    with pytest.raises(ValueError, match=rf"^logits row 130 contains NaN \(column {C - 1}\)"):
        fn(h, np.zeros(300, int), math.inf, backend)
    if fn in [ALL[name] for name in WITH_LABELS]:
        h[130, C - 1] = 0.0
        y = np.zeros(300, int)
        y[[70, 250]] = [C, -1]
        with pytest.raises(ValueError, match=rf"^labels\[70\] = {C} is out of range for {C} classes"):
            fn(h, y, math.inf, backend)


def test_nonfinite_1d_logits_name_the_index():
    with pytest.raises(ValueError, match=r"logits contain NaN at index 2"):
        mgce_ref.link([0.0, 1.0, np.nan], beta=2.0)


def test_finite_logits_whose_sum_overflows_are_accepted():
    p = mgce_ref.link(np.array([1e308, 1e308, -1e308]), beta=2.0)
    np.testing.assert_allclose(p, [0.5, 0.5, 0.0], rtol=0, atol=1e-16)


@pytest.mark.parametrize("beta, match", [
    (0.5, r"beta = 0.5 is below 1"), (-math.inf, r"beta = -inf is below 1"),
    (np.nan, r"beta is NaN"), (0.999999, r"below 1")])
def test_bad_beta(fn, backend, beta, match):
    with pytest.raises(ValueError, match=match):
        fn(H, Y, beta, backend)


@pytest.mark.parametrize("beta", ["2", None, [2.0], np.array([2.0, 3.0]), True])
def test_beta_of_wrong_type(beta):
    with pytest.raises(TypeError, match=r"beta must be a real number"):
        mgce_ref.link(H, beta=beta)


def test_beta_accepts_numpy_scalars_and_ints():
    want = mgce_ref.link(H, beta=2.0)
    for beta in (2, np.float32(2.0), np.int64(2), np.array(2.0)):
        np.testing.assert_array_equal(mgce_ref.link(H, beta=beta), want)


@pytest.mark.parametrize("labels, match", [
    (np.array([2, 3]), r"labels\[1\] = 3 is out of range for 3 classes; labels must lie in \[0, 2\]"),
    (np.array([-1, 0]), r"labels\[0\] = -1 is negative"),
    (np.array([2.0, 0.0]), r"labels must be integers, got dtype float64; cast them with .astype\(int\)"),
    (np.array([1.5, 0.0]), r"labels must be integers, got dtype float64$"),
    (np.array([2, 0, 1]), r"labels have shape \(3,\); logits with 2 rows need shape \(2,\)"),
    (np.array([[2, 0]]), r"labels have shape \(1, 2\)"),
    (np.array([True, False]), r"labels must be integers, got dtype bool"),
    (np.array(["a", "b"]), r"labels must be integers, got dtype <U1"),
])
def test_bad_labels(backend, labels, match):
    for name in WITH_LABELS:
        with pytest.raises(ValueError, match=match):
            ALL[name](H, labels, 2.0, backend)


def test_labels_of_1d_logits():
    assert mgce_ref.loss([0.0, 1.0], 1, beta=2.0) >= 0
    with pytest.raises(ValueError, match=r"1-D logits take one integer label, got labels of shape \(1,\)"):
        mgce_ref.loss([0.0, 1.0], [1], beta=2.0)
    with pytest.raises(ValueError, match=r"label = 2 is out of range for 2 classes"):
        mgce_ref.loss([0.0, 1.0], 2, beta=2.0)
    with pytest.raises(TypeError, match=r"labels must be integers, got str"):
        mgce_ref.loss([0.0, 1.0], "1", beta=2.0)


# numba_backend checks the labels' range in its kernels (CHECKS_LABELS): (4, 10) runs on one
# thread, (300, 10) in work items of several rows on every thread (numba_backend._chunk).
@pytest.mark.parametrize("shape", [(4, 10), (300, 10)])
@pytest.mark.parametrize("row", ["first", "middle", "last"])
@pytest.mark.parametrize("value, kind, label_dtype", [
    (10, "is out of range for 10 classes", np.int64), (-1, "is negative", np.int64),
    (2**40, "is out of range for 10 classes", np.int64), (-2**62, "is negative", np.int64),
    (10, "is out of range for 10 classes", np.int32), (-1, "is negative", np.int8),
    (255, "is out of range for 10 classes", np.uint8)])
def test_a_bad_label_names_its_row(backend, shape, row, value, kind, label_dtype):
    B, C = shape
    r = {"first": 0, "middle": B // 2 + 1, "last": B - 1}[row]
    rng = np.random.default_rng(B + r)
    h = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, C, B).astype(label_dtype)
    y[r] = value
    y[-1 if r == 0 else 0] = C - 1  # a valid label at the edge, next to the bad one
    for name in WITH_LABELS:
        with pytest.raises(ValueError, match=rf"^labels\[{r}\] = {value} {kind}; labels must lie in \[0, 9\]$"):
            ALL[name](h, y, 2.0, backend)
    for beta in (1.0, 11.0, math.inf):  # only the loss and the gradient read the labels
        mgce_ref.link(h, beta, backend=backend)


def test_the_first_of_several_bad_labels_is_named(backend):
    """Rows in different work items of the parallel kernel; the lower row is named."""
    h = np.zeros((300, 10))
    y = np.zeros(300, np.int64)
    y[[7, 130, 299]] = [-5, 10, 11]
    with pytest.raises(ValueError, match=r"^labels\[7\] = -5 is negative"):
        mgce_ref.loss(h, y, 2.0, backend=backend)
    y[7] = 0
    with pytest.raises(ValueError, match=r"^labels\[130\] = 10 is out"):
        mgce_ref.loss(h, y, 2.0, backend=backend)


@pytest.mark.parametrize("value, kind", [(5, "is out of range for 5 classes"), (-2, "is negative")])
def test_a_bad_label_of_1d_logits(backend, value, kind):
    for name in WITH_LABELS:
        for y in (value, np.int64(value), np.array(value), np.array(value, np.int16)):
            with pytest.raises(ValueError, match=rf"^label = {value} {kind}; labels must lie in \[0, 4\]$"):
                ALL[name](np.arange(5.0), y, 2.0, backend)


def test_uint64_labels_are_named_as_given(backend):
    """A uint64 label above 2**63 has no int64 copy: it is checked before the kernel."""
    y = np.array([1, 2**63 + 5, 0], np.uint64)
    with pytest.raises(ValueError, match=rf"^labels\[1\] = {2**63 + 5} is out of range for 3 classes"):
        mgce_ref.loss(np.zeros((3, 3)), y, 2.0, backend=backend)


def test_a_bad_label_and_a_nonfinite_logit():
    """numba checks both in its kernel, numpy and exact refuse non-finite logits before reading
    the labels: each backend names the same problem as it did before the kernel checked labels."""
    h = np.zeros((300, 10))
    h[3, 4] = np.nan
    y = np.zeros(300, np.int64)
    y[200] = 10
    for name in WITH_LABELS:
        with pytest.raises(ValueError, match=r"^labels\[200\] = 10 is out of range"):
            ALL[name](h, y, 2.0, "numba")
        for backend in ("numpy", "exact"):
            with pytest.raises(ValueError, match=r"^logits row 3 contains NaN \(column 4\)"):
                ALL[name](h, y, 2.0, backend)
    y[200] = 0  # the NaN alone, after the kernel has checked every label
    with pytest.raises(ValueError, match=r"^logits row 3 contains NaN \(column 4\)") as info:
        mgce_ref.loss(h, y, 2.0)
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_labels_in_any_layout_and_integer_dtype(backend):
    rng = np.random.default_rng(3)
    h = rng.standard_normal((300, 10))
    y = rng.integers(0, 10, 300)
    want = mgce_ref.loss_and_grad(h, y, 2.0, backend=backend)
    for other in (y.astype(np.int8), y.astype(np.uint8), y.astype(np.uint32), y.astype(np.uint64),
                  np.repeat(y, 2)[::2], y.tolist(), y.astype(">i8")):
        for got, ref in zip(mgce_ref.loss_and_grad(h, other, 2.0, backend=backend), want):
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("logits, exc, match", [
    (np.zeros((2, 2, 2)), ValueError, r"logits must have shape \(C,\) or \(B, C\), got shape \(2, 2, 2\)"),
    (np.float64(1.0), ValueError, r"got shape \(\)"),
    (np.zeros((3, 0)), ValueError, r"logits have zero classes \(shape \(3, 0\)\); MGCE needs C >= 1"),
    (np.zeros(0), ValueError, r"zero classes"),
    ("0.5, 1.0", TypeError, r"logits must be a numeric array, got str"),
    (np.array(["a", "b"]), TypeError, r"logits must have a real numeric dtype, got <U1"),
    (np.array([1 + 1j, 2]), TypeError, r"got complex128"),
    (np.array([object(), 1.0]), TypeError, r"got object"),
    (np.array([True, False]), TypeError, r"got bool"),
    ([[1.0, 2.0], [3.0]], ValueError, r"logits must be a rectangular array"),
])
def test_bad_logits(fn, backend, logits, exc, match):
    with pytest.raises(exc, match=match):
        fn(logits, 0, 2.0, backend)


def test_unknown_backend_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'torch'; valid backends: 'numba', 'numpy', 'exact', 'cuda'"):
        mgce_ref.link(H, beta=2.0, backend="torch")


def test_empty_batch_gives_empty_results(fn, backend):
    h = np.zeros((0, 4))
    out = fn(h, np.zeros(0, int), 2.0, backend)
    for a in out if isinstance(out, tuple) else (out,):
        assert a.shape[0] == 0 and a.dtype == np.float64


@pytest.mark.parametrize("make", [
    lambda a: np.asfortranarray(a),
    lambda a: np.repeat(a, 2, axis=1)[:, ::2],  # strided columns
    lambda a: a[::-1][::-1],
    lambda a: a.astype(">f8"),  # big-endian
])
def test_layouts_give_identical_results(backend, make):
    h = np.random.default_rng(3).normal(size=(5, 7))
    y = np.arange(5)
    want = mgce_ref.loss_and_grad(h, y, 1.4, backend=backend)
    got = mgce_ref.loss_and_grad(make(h), y, 1.4, backend=backend)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("dtype, out", [(np.float32, np.float32), (np.float64, np.float64),
                                        (np.float16, np.float64), (np.int32, np.float64),
                                        (np.uint8, np.float64)])
def test_output_dtype_follows_input(backend, dtype, out):
    h = np.array([[1, 2, 3], [0, 0, 7]], dtype=dtype)
    for value in (mgce_ref.link(h, 2.0, backend=backend), mgce_ref.solve_nu(h, 2.0, backend=backend),
                  *mgce_ref.loss_and_grad(h, np.array([0, 2]), 2.0, backend=backend),
                  *mgce_ref.interval(h, 2.0)):
        assert value.dtype == out


def test_1d_logits_give_scalars_and_vectors():
    h = [0.2, -0.4, 1.0]
    nu = mgce_ref.solve_nu(h, beta=2.0)
    assert np.ndim(nu) == 0 and isinstance(nu, np.floating)
    loss, g = mgce_ref.loss_and_grad(h, 2, beta=2.0)
    assert np.ndim(loss) == 0 and g.shape == (3,)
    lo, hi = mgce_ref.interval(h, beta=2.0)
    assert np.ndim(lo) == 0 and lo <= nu <= hi


@pytest.mark.parametrize("kw, exc, match", [
    ({"method": "brent"}, ValueError, r"unknown method 'brent'; valid methods: 'newton', 'bisect'"),
    ({"tol": 0.0}, ValueError, r"tol = 0.0 is not a positive finite number; pass None"),
    ({"tol": -1e-3}, ValueError, r"tol = -0.001 is not a positive finite number"),
    ({"tol": np.nan}, ValueError, r"tol = nan is not a positive finite number"),
    ({"tol": "1e-4"}, TypeError, r"tol must be a positive number or None, got str"),
    ({"max_iter": 0}, ValueError, r"max_iter must be a positive integer or None, got 0"),
    ({"max_iter": 2.5}, ValueError, r"max_iter must be a positive integer or None, got 2.5"),
])
def test_bad_solver_options(backend, kw, exc, match):
    with pytest.raises(exc, match=match):
        mgce_ref.solve_nu(H, 2.0, backend=backend, **kw)


def test_labels_leave_the_range_to_a_backend_that_checks_it():
    """``check_range=False`` (numba_backend.CHECKS_LABELS): int64 labels pass as they are; labels
    whose int64 copy would change (uint64 above 2**63) are still checked here."""
    from mgce_ref import _validate as V

    h = np.zeros((2, 3))
    y = np.array([0, 3])
    assert V.labels(y, h, False, check_range=False) is y
    assert V.labels(y.astype(np.int8), h, False, check_range=False).dtype == np.int64
    with pytest.raises(ValueError, match=r"labels\[1\] = 3 is out of range"):
        V.labels(y, h, False)
    with pytest.raises(ValueError, match=rf"labels\[1\] = {2**63 + 1} is out of range"):
        V.labels(np.array([0, 2**63 + 1], np.uint64), h, False, check_range=False)
