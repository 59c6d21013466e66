"""Inputs of backend="cuda": bad ones refused with the CPU's messages (host and device), empty
batches, and the choice of kernel shape."""

import numpy as np
import pytest
from cudasim_helpers import BLOCK_MIN_C, batch, to_host

import mgce_ref
from mgce_ref import _cuda_kernels, _dispatch, cuda_backend
from mgce_ref import config as mgce_config
from mgce_ref.config import OUTPUTS


def _device(a):
    from numba import cuda

    return cuda.to_device(np.asarray(a))


def _cpu_error(fn, *args):
    with pytest.raises((ValueError, TypeError)) as info:
        fn(*args)
    return info.type, str(info.value)


def test_the_simulator_counts_as_available():
    cuda_backend.require_available()  # no error: the simulator stands in for a GPU
    assert _dispatch.get_backend("cuda") is cuda_backend


@pytest.mark.parametrize("where", ["host", "device"])
@pytest.mark.parametrize("case", ["nan_row", "inf_row", "nan_1d", "inf_1d"])
def test_nonfinite_logits_name_the_first_bad_row(where, case):
    h, y = batch("block_per_row", np.float64)
    bad = np.nan if case.startswith("nan") else -np.inf
    h[2, 7] = bad
    h[4, 1] = bad  # a later one: the message names the first
    logits, labels = (h, y) if case.endswith("row") else (h[2], int(y[2]))
    kind, message = _cpu_error(mgce_ref.loss, logits, labels, 2.0)
    assert "7" in message and "every logit must be finite" in message
    arg = logits if where == "host" else _device(logits)
    with pytest.raises(kind, match="every logit must be finite") as got:
        mgce_ref.loss(arg, labels, 2.0, backend="cuda")
    assert str(got.value) == message


@pytest.mark.parametrize("where", ["host", "device"])
@pytest.mark.parametrize("bad_label", [-1, 21, 1000])
def test_labels_out_of_range_name_the_first_bad_row(where, bad_label):
    h, y = batch("block_per_row", np.float64)
    y[1] = bad_label
    y[3] = -5
    kind, message = _cpu_error(mgce_ref.grad, h, y, 1.4)
    assert "labels[1]" in message
    labels = y if where == "host" else _device(y)
    with pytest.raises(kind, match=r"labels\[1\] = ") as got:
        mgce_ref.grad(_device(h), labels, 1.4, backend="cuda")
    assert str(got.value) == message


def test_device_labels_of_the_wrong_shape_or_dtype():
    h, y = batch("thread_per_row", np.float64)
    d = _device(h)
    kind, message = _cpu_error(mgce_ref.loss, h, y[:-1], 2.0)
    with pytest.raises(kind, match=r"labels have shape \(20,\); logits with 21 rows") as got:
        mgce_ref.loss(d, _device(y[:-1]), 2.0, backend="cuda")
    assert str(got.value) == message
    with pytest.raises(ValueError, match="labels must be integers, got dtype float64"):
        mgce_ref.loss(d, _device(y.astype(np.float64)), 2.0, backend="cuda")
    with pytest.raises(ValueError, match=r"1-D logits take one integer label, got labels of shape \(1,\)"):
        mgce_ref.loss(_device(h[0]), _device(y[:1]), 2.0, backend="cuda")


@pytest.mark.parametrize("dtype, pattern", [
    (np.float16, "logits on the GPU must be float32 or float64, got float16"),
    (np.int64, "logits on the GPU must be float32 or float64, got int64"),
    (np.complex128, "logits must have a real numeric dtype, got complex128"),
])
def test_device_logits_of_other_dtypes_are_refused(dtype, pattern):
    with pytest.raises(TypeError, match=pattern):
        mgce_ref.link(_device(np.zeros((2, 3), dtype)), 2.0, backend="cuda")


def test_device_logits_of_the_wrong_shape_give_the_cpu_messages():
    for shape in [(2, 3, 4), (4, 0), (0,)]:
        kind, message = _cpu_error(mgce_ref.link, np.zeros(shape), 2.0)
        with pytest.raises(kind) as got:
            mgce_ref.link(_device(np.zeros(shape)), 2.0, backend="cuda")
        assert str(got.value) == message


def test_bad_beta_with_device_logits():
    d = _device(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"beta = 0.5 is below 1"):
        mgce_ref.link(d, 0.5, backend="cuda")
    with pytest.raises(ValueError, match="beta is NaN"):
        mgce_ref.solve_nu(d, float("nan"), backend="cuda")


@pytest.mark.parametrize("where", ["host", "device"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_empty_batch(where, dtype):
    h = np.zeros((0, 5), dtype)
    y = np.zeros(0, np.int64)
    logits = h if where == "host" else _device(h)
    got = _dispatch.run(logits, y, 2.0, "cuda", OUTPUTS)
    want = _dispatch.run(h, y, 2.0, "numba", OUTPUTS)
    for name, g, w in zip(OUTPUTS, got, want):
        g = to_host(g)
        assert g.shape == w.shape and g.dtype == w.dtype, f"{name}: {g.shape} {g.dtype}"
    nu, info = mgce_ref.solve_nu(logits, 2.0, backend="cuda", full_output=True)
    assert to_host(nu).shape == (0,) and to_host(info.iterations).shape == (0,)


def test_kernel_shape_follows_the_number_of_classes(monkeypatch):
    launched = []
    real = _cuda_kernels.block_kernels
    monkeypatch.setattr(_cuda_kernels, "block_kernels",
                        lambda tpb: launched.append(tpb) or real(tpb))
    mgce_ref.link(np.zeros((3, BLOCK_MIN_C - 1)), 2.0, backend="cuda")
    assert launched == []
    mgce_ref.link(np.zeros((3, BLOCK_MIN_C)), 2.0, backend="cuda")
    assert launched == [mgce_config.THREADS_PER_BLOCK]


def test_threads_per_block_must_be_a_power_of_two(monkeypatch):
    monkeypatch.setattr(mgce_config, "THREADS_PER_BLOCK", 12)
    with pytest.raises(ValueError, match="THREADS_PER_BLOCK = 12 must be a power of two"):
        mgce_ref.link(np.zeros((3, 4)), 2.0, backend="cuda")
