"""Peak memory of one ``loss_and_grad`` call, measured in a fresh child process.

The child makes float32 logits (generated in float32, so no float64 copy ever exists), warms
the competitor up on a small batch, resets the process's peak resident memory (``VmHWM``, via
``/proc/self/clear_refs``; ``ru_maxrss`` elsewhere) and reads it after one call on the large
batch, with ``tracemalloc`` tracing NumPy's allocations during the call. The rise of the peak (or NumPy's traced peak, if larger), minus
the outputs the call must return, is what the call needed on top: its temporaries.
"""

import json
import resource
import subprocess
import sys

from .cases import MEMORY_SHAPE

#: Competitors measured: (backend, op). MRCpy needs torch and MRCpy, or is skipped.
MEMORY_BACKENDS = ("numba", "mrcpy_torch")


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise OSError(field)


def _reset_peak():
    """Reset the peak to the current resident size (Linux >= 4.0); returns the new baseline.

    Without it, a transient peak before the call (Numba compiling, say) would hide the
    call's own. Elsewhere the baseline is the peak so far (``ru_maxrss``).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_bytes("VmHWM")
    except OSError:
        return _peak()


def _peak():
    try:
        return _status_bytes("VmHWM")
    except OSError:  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _child(backend, B, C):
    """Runs in the child: measure, print one JSON line."""
    import tracemalloc

    import numpy as np

    rng = np.random.default_rng(0)
    small = rng.standard_normal((64, C), dtype=np.float32)
    small_y = rng.integers(0, C, size=64)
    if backend == "numba":
        import mgce_ref

        def call(h, y):
            return mgce_ref.loss_and_grad(h, y, 1.4, backend="numba")
        out_bytes = lambda B, C: B * C * 4 + B * 4  # grad (B, C) + loss (B,)
    elif backend == "mrcpy_torch":
        import torch

        from mgce_ref import peers
        from mgce_ref.benchmark.runner import torch_threads

        torch.set_num_threads(torch_threads())
        get_gradient = peers.mrcpy_torch_ops(C, 1.4)["get_gradient"]

        def call(h, y):
            return get_gradient(torch.from_numpy(h), torch.from_numpy(y))
        out_bytes = lambda B, C: B * C * 4 + 4  # mean grad (B, C) + mean loss
    else:
        raise ValueError(f"no memory measurement for backend {backend!r}")
    call(small, small_y)  # warm-up: compilation, first-call allocations
    h = rng.standard_normal((B, C), dtype=np.float32)
    h *= 3.0
    y = rng.integers(0, C, size=B)
    before = _reset_peak()
    tracemalloc.start()
    result = call(h, y)
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = _peak()
    del result
    rise = max(after - before, 0)
    print(json.dumps({
        "backend": backend, "op": "loss_and_grad", "B": B, "C": C, "beta": 1.4, "dtype": "float32",
        "input_bytes": h.nbytes, "output_bytes": out_bytes(B, C),
        "peak_rss_rise_bytes": rise, "tracemalloc_peak_bytes": traced,
        # Both witnesses: RSS sees every allocation (Numba's, torch's), tracemalloc NumPy's
        # exactly; whatever either saw beyond the outputs was a temporary.
        "temporaries_bytes": max(max(rise, traced) - out_bytes(B, C), 0), "peak_rss_bytes": after,
    }))


def measure_memory(backend="numba", shape=MEMORY_SHAPE, timeout=600):
    """The child's report as a dict, or ``{"backend", "reason"}`` when it could not run."""
    B, C = shape
    code = f"from mgce_ref.benchmark.memory import _child; _child({backend!r}, {B}, {C})"
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"backend": backend, "B": B, "C": C, "reason": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"backend": backend, "B": B, "C": C, "reason": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])
