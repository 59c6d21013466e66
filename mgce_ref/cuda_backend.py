"""CUDA backend (numba-cuda): ``backend="cuda"`` on every public function.

The kernels live in ``_cuda_kernels`` and reuse the row kernels of ``_kernels``, so the GPU
runs the CPU's arithmetic in the CPU's order (up to the last bits of the GPU's ``exp``/``log1p``
and fused multiply-adds). Rows with fewer than ``config.BLOCK_PER_ROW_MIN_C`` classes get one
thread each; wider rows get a block of ``config.THREADS_PER_BLOCK`` threads each.

Inputs and outputs:

* NumPy (or anything ``np.asarray`` takes): validated by ``_validate`` exactly as on the CPU,
  copied to the GPU, results copied back as NumPy arrays.
* Arrays already on the GPU (anything with ``__cuda_array_interface__``: torch CUDA tensors,
  CuPy arrays, numba device arrays) are viewed in place with ``numba.cuda.as_cuda_array``, no
  host copy. Shape and dtype (float32/float64) are checked on the host, finiteness and the
  label range by a reduction kernel (same messages as the CPU path, naming the first bad row).
  Results are numba ``DeviceNDArray``s in the logits' dtype: ``torch.as_tensor(out,
  device="cuda")`` or ``cupy.asarray(out)`` wrap them without a copy. 1-D logits give
  ``(C,)`` device arrays, and scalars (nu, loss, SolveInfo fields) as NumPy scalars.

Streams: :func:`run` and :func:`run_solve` take ``stream``, a numba CUDA stream (for torch:
``numba.cuda.external_stream(torch.cuda.current_stream().cuda_stream)``). Outputs are allocated,
inputs copied and every kernel launched on it, so the results are ordered after the work
already queued there; host results are copied back on it and the stream is synchronized
before they are returned. ``None`` (the default) is numba's default stream.

Without numba-cuda or a GPU, :func:`require_available` raises a RuntimeError that says so and
points to the simulator (``NUMBA_ENABLE_CUDASIM=1``, set before numba is imported).
"""

import numpy as np

from . import _validate as V
from . import config
from ._dispatch import output_shapes
from .solve import SolveInfo

#: Most blocks one launch asks for; the kernels' grid-stride loops cover any further rows.
MAX_BLOCKS = config.CUDA_MAX_BLOCKS

_NO_NUMBA_CUDA = (
    "backend='cuda' needs numba-cuda, which is not installed: pip install 'mgce_ref[cuda]' "
    "(on a GPU machine, also the CUDA toolkit wheels: pip install 'numba-cuda[cu12]' or "
    "'numba-cuda[cu13]' to match the driver). To run the CUDA kernels without a GPU, on "
    "Numba's CUDA simulator (slow; for tests), set NUMBA_ENABLE_CUDASIM=1 before numba is "
    "imported. Otherwise use backend='numba' (CPU).")
_NO_GPU = (
    "backend='cuda' found no CUDA GPU: numba.cuda.is_available() is False (no NVIDIA GPU, or no "
    "working driver). To run the CUDA kernels without a GPU, on Numba's CUDA simulator (slow; "
    "for tests), set NUMBA_ENABLE_CUDASIM=1 before numba is imported. Otherwise use "
    "backend='numba' (CPU).")
_ready = False


def require_available():
    """Raise RuntimeError unless numba-cuda is installed and a GPU (or the simulator) is there."""
    global _ready
    if _ready:
        return
    try:
        from numba import cuda
    except ImportError as exc:  # numba-cuda without its CUDA bindings also lands here
        raise RuntimeError(f"{_NO_NUMBA_CUDA} ({exc})") from None
    if getattr(cuda, "implementation", None) != "NVIDIA":  # numba's deprecated built-in target
        raise RuntimeError(_NO_NUMBA_CUDA)
    if not cuda.is_available():
        raise RuntimeError(_NO_GPU)
    _ready = True


def _kernels():
    from . import _cuda_kernels
    return _cuda_kernels


def _cuda():
    from numba import cuda
    return cuda


# ----------------------------------------------------------------------------- launching

def _grid(n, tpb):
    return max(1, min(-(-n // tpb), MAX_BLOCKS))


def _shape(C):
    """``(block_per_row, threads_per_block)``, read from ``config`` at each call."""
    tpb = config.THREADS_PER_BLOCK
    if tpb < 1 or tpb & (tpb - 1):
        raise ValueError(f"config.THREADS_PER_BLOCK = {tpb} must be a power of two "
                         "(the block reductions halve)")
    return C >= config.BLOCK_PER_ROW_MIN_C, tpb


def _stream(stream):
    """numba's stream argument: 0 (its default stream) for None."""
    return 0 if stream is None else stream


def _synchronize(stream):
    if stream is not None:
        stream.synchronize()


def _solve_device(d, beta, method, tol, max_iter, nu_dtype, stream=None):
    """Device arrays ``(nu, iterations, converged)`` for validated (B, C) device logits,
    computed on ``stream`` (None: the default stream)."""
    cuda = _cuda()
    s = _stream(stream)
    B, C = d.shape
    nu = cuda.device_array(B, nu_dtype, stream=s)
    iterations = cuda.device_array(B, np.int64, stream=s)
    converged = cuda.device_array(B, np.bool_, stream=s)
    if B:
        code = 0 if method == "newton" else 1
        rtol = config.NEWTON_RTOL[np.dtype(d.dtype)] if tol <= 0.0 else 0.0
        args = (d, beta, code, tol, rtol, max_iter, nu, iterations, converged)
        block, tpb = _shape(C)
        if block:
            _kernels().block_kernels(tpb)[0][min(B, MAX_BLOCKS), tpb, s](*args)
        else:
            _kernels().solve_rows[_grid(B, tpb), tpb, s](*args)
    return nu, iterations, converged


def _forward_device(d, y, beta, outputs, stream=None, out=None):
    """Device arrays for the requested outputs, computed on ``stream``; unwanted ones are
    passed with 0 rows. q (and grad) use the double-double root on the rows that need it
    (``config.REFINE_Q_TOL`` of the logits' dtype), as on the CPU. ``out``: the five arrays
    (``output_shapes``), allocated beforehand (``mgce-ref gpu-check`` times the kernel alone
    this way); None allocates them."""
    cuda = _cuda()
    s = _stream(stream)
    B, C = d.shape
    dt = np.dtype(d.dtype)
    if out is None:
        shapes = output_shapes(B, C, outputs)
        out = {name: cuda.device_array(shape, dt, stream=s) for name, shape in shapes.items()}
    if y is None:
        y = cuda.device_array(0, np.int64, stream=s)
    if B:
        args = (d, y, beta, config.NEWTON_RTOL[dt], config.REFINE_Q_TOL[dt],
                config.NEWTON_MAX_ITER, out["nu"], out["link"], out["worst_case"], out["loss"],
                out["grad"])
        block, tpb = _shape(C)
        if block:
            _kernels().block_kernels(tpb)[1][min(B, MAX_BLOCKS), tpb, s](*args)
        else:
            _kernels().forward_rows[_grid(B, tpb), tpb, s](*args)
    return {name: out[name] for name in outputs}


# ------------------------------------------------------------- host NumPy (backend contract)

def solve(h, beta, method, tol, max_iter, stream=None):
    """As ``numba_backend.solve`` for validated host logits: float64 ``nu``, iteration counts,
    convergence flags, as NumPy arrays."""
    s = _stream(stream)
    d = _cuda().to_device(h, stream=s)
    out = _solve_device(d, beta, method, tol, max_iter, np.float64, stream)
    out = tuple(a.copy_to_host(stream=s) for a in out)
    _synchronize(stream)
    return out


def forward(h, labels, beta, outputs, stream=None):
    """As ``numba_backend.forward`` for validated host logits and int64 labels (or None)."""
    cuda = _cuda()
    s = _stream(stream)
    y = None if labels is None else cuda.to_device(labels, stream=s)
    out = _forward_device(cuda.to_device(h, stream=s), y, beta, outputs, stream)
    out = {name: a.copy_to_host(stream=s) for name, a in out.items()}
    _synchronize(stream)
    return out


# ------------------------------------------------------------------------ device inputs

def _device_view(x):
    """A numba device array viewing ``x`` if ``x`` lives on the GPU, else None."""
    if getattr(x, "__cuda_ndarray__", False):  # numba's (or the simulator's) device arrays
        return x
    if hasattr(x, "__cuda_array_interface__"):
        return _cuda().as_cuda_array(x)
    return None


def _device_logits(d, stream=None):
    """``(d2, squeeze)``: (B, C) float32/float64 device logits, checked as ``V.logits`` does
    (the finiteness kernel runs on ``stream``)."""
    dt = np.dtype(d.dtype)
    if dt.kind not in "fiu":
        raise TypeError(f"logits must have a real numeric dtype, got {dt}")
    if dt not in (np.float32, np.float64):
        raise TypeError(f"logits on the GPU must be float32 or float64, got {dt}; convert them "
                        "on the device first (e.g. tensor.double())")
    shape = tuple(d.shape)  # a plain tuple: the simulator's refuses negative indices
    if len(shape) not in (1, 2):
        raise ValueError(f"logits must have shape (C,) or (B, C), got shape {shape}")
    if shape[-1] == 0:
        raise ValueError(f"logits have zero classes (shape {shape}); MGCE needs C >= 1")
    squeeze = len(shape) == 1
    if squeeze:
        try:
            d = d.reshape(1, shape[0])
        except NotImplementedError:  # numba reshapes only contiguous device arrays
            raise ValueError("1-D logits on the GPU must be contiguous; pass a contiguous "
                             "copy (e.g. tensor.contiguous())") from None
    B, C = d.shape
    if B * C:
        k = _first_bad(_kernels().first_nonfinite, d, B * C, stream=stream)
        if k < B * C:
            r, c = divmod(k, C)
            what = "NaN" if np.isnan(d[r, c]) else "an infinite value"
            where = (f"logits contain {what} at index {c}" if squeeze
                     else f"logits row {r} contains {what} (column {c})")
            raise ValueError(f"{where}; every logit must be finite")
    return d, squeeze


def _first_bad(kernel, a, n, *args, stream=None):
    """Launch a validation kernel over ``n`` items on ``stream`` and return its flag (``n``:
    none bad); waits for the stream."""
    cuda = _cuda()
    s = _stream(stream)
    bad = cuda.to_device(np.array([n], np.int64), stream=s)
    tpb = config.THREADS_PER_BLOCK
    kernel[_grid(n, tpb), tpb, s](a, *args, bad)
    flag = bad.copy_to_host(stream=s)
    _synchronize(stream)
    return int(flag[0])


def _device_labels(y, d, squeeze, stream=None):
    """int labels on the GPU for device logits ``d``, checked as ``V.labels`` does. Host labels
    are validated on the host and copied; device labels are range-checked by a kernel."""
    B, C = d.shape
    dy = _device_view(y)
    if dy is None:
        # V.labels reads only h.shape; no need to bring the logits back.
        host = V.labels(y, np.broadcast_to(np.empty(1, np.int8), (B, C)), squeeze)
        return _cuda().to_device(host, stream=_stream(stream))
    dt = np.dtype(dy.dtype)
    if dt.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {dt}")
    shape = tuple(dy.shape)
    if squeeze:
        if len(shape) != 0:
            raise ValueError(f"1-D logits take one integer label, got labels of shape {shape}")
        dy = dy.reshape(1)
    elif shape != (B,):
        raise ValueError(f"labels have shape {shape}; logits with {B} rows need shape ({B},)")
    r = _first_bad(_kernels().first_bad_label, dy, B, C, stream=stream) if B else B
    if r < B:
        value = int(dy[r])
        where = "label" if squeeze else f"labels[{r}]"
        kind = "is negative" if value < 0 else f"is out of range for {C} classes"
        raise ValueError(f"{where} = {value} {kind}; labels must lie in [0, {C - 1}]")
    return dy


# ----------------------------------------------------------------------- public entry points

def run(logits, labels, beta, outputs, stream=None):
    """Forward pass for ``_dispatch.run``: one entry per name in ``outputs``.

    Host input gives NumPy results (scalars and (C,) arrays for 1-D logits), device input gives
    device arrays (scalar outputs of 1-D logits as NumPy scalars). ``stream``: a numba CUDA
    stream to allocate, copy and launch on (None: numba's default stream).
    """
    need_labels = "loss" in outputs or "grad" in outputs
    d = _device_view(logits)
    if d is None:
        h, squeeze = V.logits(logits)
        b = V.beta(beta)
        y = V.labels(labels, h, squeeze) if need_labels else None
        out = forward(h, y, b, outputs, stream)
    else:
        d, squeeze = _device_logits(d, stream)
        b = V.beta(beta)
        y = _device_labels(labels, d, squeeze, stream) if need_labels else None
        out = _forward_device(d, y, b, outputs, stream)
        if squeeze:
            _synchronize(stream)  # indexing below reads on the default stream
    return [out[k][0] if squeeze else out[k] for k in outputs]


def run_solve(logits, beta, method, tol, max_iter, full_output, stream=None):
    """``solve_nu`` for backend="cuda" (method, tol, max_iter already validated); ``stream`` as
    in :func:`run`."""
    d = _device_view(logits)
    if d is None:
        h, squeeze = V.logits(logits)
        b = V.beta(beta)
        nu, iterations, converged = solve(h, b, method, tol, max_iter, stream)
        nu = nu.astype(h.dtype)
        ok = converged
    else:
        d, squeeze = _device_logits(d, stream)
        b = V.beta(beta)
        nu, iterations, converged = _solve_device(d, b, method, tol, max_iter, d.dtype, stream)
        if not full_output:
            ok = converged.copy_to_host(stream=_stream(stream))
            _synchronize(stream)
    if not full_output and not ok.all():
        bad = np.flatnonzero(~ok)
        raise RuntimeError(f"{len(bad)} row(s) did not converge within max_iter={max_iter} "
                           f"(first: row {bad[0]}); raise max_iter or loosen tol")
    if squeeze:
        _synchronize(stream)  # indexing reads on the default stream
        nu, iterations, converged = nu[0], iterations[0], converged[0]
    return (nu, SolveInfo(iterations, converged)) if full_output else nu
