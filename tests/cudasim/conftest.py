"""The CUDA kernels on Numba's CUDA simulator, or on a GPU.

Run in a process of their own, with the variable set before numba is imported::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cudasim -q

or, on a machine with an NVIDIA GPU, on the device itself (``mgce-ref gpu-check`` does this)::

    MGCE_REF_CUDA_TESTS=device python -m pytest tests/cudasim -q

In any other process every test here is skipped. Threads per block, the block-per-row threshold
and the grid size are patched small, so that rows of a few classes already run on both kernel
shapes and a handful of rows spans several blocks and the grid-stride loops.
"""

import os
from pathlib import Path

import pytest
from cudasim_helpers import BLOCK_MIN_C, MAX_BLOCKS, SHAPES, THREADS

from mgce_ref import config as mgce_config
from mgce_ref import cuda_backend

HERE = Path(__file__).parent


def _numba_cuda_missing():
    try:
        from numba import cuda
    except ImportError as exc:
        return f"numba-cuda is not usable: {exc}"
    if getattr(cuda, "implementation", None) != "NVIDIA":
        return "numba-cuda is not installed (pip install numba-cuda)"
    return None


def _skip_reason():
    if os.environ.get("MGCE_REF_CUDA_TESTS") == "device":
        import numba

        if numba.config.ENABLE_CUDASIM:
            return "MGCE_REF_CUDA_TESTS=device asks for the GPU, but NUMBA_ENABLE_CUDASIM is set"
        missing = _numba_cuda_missing()
        if missing:
            return missing
        from numba import cuda

        return None if cuda.is_available() else "MGCE_REF_CUDA_TESTS=device but no CUDA GPU"
    if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
        return ("needs NUMBA_ENABLE_CUDASIM=1 (run: NUMBA_ENABLE_CUDASIM=1 python -m pytest "
                "tests/cudasim), or MGCE_REF_CUDA_TESTS=device on a machine with a GPU")
    import numba

    if not numba.config.ENABLE_CUDASIM:
        return ("NUMBA_ENABLE_CUDASIM=1 was set after numba was imported; run tests/cudasim on "
                "its own")
    return _numba_cuda_missing()


def pytest_collection_modifyitems(config, items):
    # This hook sees every collected item, not only this folder's.
    mine = [item for item in items if HERE in Path(str(item.path)).parents]
    reason = _skip_reason()
    for item in mine:
        item.add_marker(pytest.mark.cudasim)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def small_launches(monkeypatch):
    monkeypatch.setattr(mgce_config, "THREADS_PER_BLOCK", THREADS)
    monkeypatch.setattr(mgce_config, "BLOCK_PER_ROW_MIN_C", BLOCK_MIN_C)
    monkeypatch.setattr(cuda_backend, "MAX_BLOCKS", MAX_BLOCKS)


@pytest.fixture(params=list(SHAPES))
def shape(request):
    return request.param
