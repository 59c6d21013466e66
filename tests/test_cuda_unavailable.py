"""backend="cuda" on a machine without a GPU (the normal test process, no simulator).

The package imports and runs without numba-cuda or a GPU; asking for the CUDA backend raises
one clear error that says why and points to the simulator. Where NVIDIA's compiler libraries
(NVVM, NVRTC) are installed, every kernel is also compiled to PTX for real: the simulator runs
kernels as Python and checks no types, so this is what shows they are valid CUDA Python.
"""

import os
import subprocess
import sys
import types

import numpy as np
import pytest

import mgce_ref


def _cuda_state():
    """"sim", "gpu", "no-gpu" or "no-numba-cuda" for this process."""
    import numba

    if numba.config.ENABLE_CUDASIM:
        return "sim"
    try:
        from numba import cuda
    except ImportError:
        return "no-numba-cuda"
    if getattr(cuda, "implementation", None) != "NVIDIA":
        return "no-numba-cuda"
    return "gpu" if cuda.is_available() else "no-gpu"


@pytest.fixture(scope="module")
def state():
    s = _cuda_state()
    if s in ("sim", "gpu"):
        pytest.skip(f"this process has a CUDA target ({s}); the no-GPU error cannot occur")
    return s


def test_the_package_imports_without_touching_numba_cuda():
    code = ("import sys, mgce_ref, mgce_ref.cuda_backend, mgce_ref.cli, mgce_ref.conformance; "
            "print(sorted(m for m in sys.modules if m.startswith(('numba.cuda', 'numba_cuda'))))")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("call", [
    lambda h: mgce_ref.link(h, 2.0, backend="cuda"),
    lambda h: mgce_ref.loss_and_grad(h, np.array([0, 1]), 1.0, backend="cuda"),
    lambda h: mgce_ref.solve_nu(h, np.inf, method="bisect", backend="cuda"),
], ids=["link", "loss_and_grad", "solve_nu"])
def test_cuda_backend_says_why_and_points_to_the_simulator(state, call):
    h = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])
    why = "found no CUDA GPU" if state == "no-gpu" else "needs numba-cuda, which is not installed"
    with pytest.raises(RuntimeError, match=why) as info:
        call(h)
    assert "NUMBA_ENABLE_CUDASIM=1" in str(info.value)
    assert "backend='numba'" in str(info.value)


def test_everything_else_still_runs(state):
    h = np.array([[0.0, 1.0, 2.0]])
    np.testing.assert_allclose(mgce_ref.link(h, 1.0), [[0.0, 0.0, 1.0]], rtol=0, atol=0)


# --------------------------------------------------------------------------- real PTX compile

@pytest.fixture(scope="module")
def compile_ptx(state):
    """``cuda.compile_ptx`` for sm_90 with no GPU, or a skip saying what is missing."""
    if state != "no-gpu":
        pytest.skip("needs numba-cuda")
    from numba import cuda
    from numba.cuda import dispatcher

    if not hasattr(dispatcher, "get_current_device"):
        pytest.skip("this numba-cuda compiles device functions differently; PTX check not wired")
    # Device functions ask the current device for its compute capability; there is none, so
    # answer for the target being compiled (H100, sm_90). Kernels take ``cc`` directly.
    mp = pytest.MonkeyPatch()
    mp.setattr(dispatcher, "get_current_device",
               lambda: types.SimpleNamespace(compute_capability=(9, 0)))

    def probe(x):
        x[0] = 1.0

    try:
        cuda.compile_ptx(probe, "void(float64[::1])", cc=(9, 0))
    except Exception as exc:  # noqa: BLE001 (no NVVM/NVRTC/libdevice: a toolchain question)
        mp.undo()
        pytest.skip(f"no CUDA compiler libraries (NVVM, NVRTC) found: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]}; install numba-cuda[cu12] or [cu13]")
    yield lambda fn, sig: cuda.compile_ptx(fn.py_func, sig, cc=(9, 0))[0]
    mp.undo()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_every_kernel_compiles_to_ptx(compile_ptx, dtype):
    from numba import boolean, float32, float64, int64

    from mgce_ref import _cuda_kernels as CK

    f = {"float64": float64, "float32": float32}[dtype]
    h, v, ints = f[:, ::1], f[::1], int64[::1]
    solve_sig = (h, float64, int64, float64, float64, int64, v, ints, boolean[::1])
    forward_sig = (h, ints, float64, float64, float64, int64, v, h, h, v, h)
    solve_blocks, forward_blocks = CK.block_kernels(128)
    kernels = [(CK.solve_rows, solve_sig), (CK.forward_rows, forward_sig),
               (solve_blocks, solve_sig), (forward_blocks, forward_sig),
               (CK.first_nonfinite, (h, ints)), (CK.first_bad_label, (ints, int64, ints)),
               (CK.forward_rows,  # strided input
                (f[:, :], int64[:], float64, float64, float64, int64, v, h, h, v, h))]
    for kernel, sig in kernels:
        ptx = compile_ptx(kernel, sig)
        assert ".target sm_90" in ptx and ".entry" in ptx, kernel.py_func.__name__


def test_the_kernels_error_free_product_is_an_fma_in_ptx(compile_ptx):
    # On a GPU the double-double root forms a product's error by one fma (Dekker's split is
    # broken by the compiler's contraction of a*b + c): the device copy of _refine.two_prod
    # must compile to mul.rn.f64 (a rounding no later add may fuse with) and fma.rn.f64.
    from numba import cuda, float64

    from mgce_ref import _cuda_kernels as CK

    def kernel(a, b, out):
        p, e = CK.R.two_prod(a[0], b[0])
        out[0] = p
        out[1] = e

    v = float64[::1]
    ptx = cuda.compile_ptx(kernel, (v, v, v), cc=(9, 0))[0]
    body = [line.split()[0] for line in ptx.splitlines()
            if line.strip().startswith(("mul.", "fma.", "add.", "sub.", "neg."))]
    assert body.count("fma.rn.f64") == 1 and body.count("mul.rn.f64") == 1, body
    assert "mul.f64" not in body, body
    assert CK.R.two_prod.py_func is CK._two_prod_fma
