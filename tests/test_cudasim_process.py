"""Run the CUDA kernels' tests (tests/cudasim) on Numba's CUDA simulator, in their own process.

NUMBA_ENABLE_CUDASIM must be set before numba is first imported, so the simulator cannot run in
this process; this test starts a fresh interpreter for it and fails with that run's output.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("numba_cuda") is None,
                    reason="numba-cuda is not installed (pip install -e '.[cuda]')")
def test_cuda_kernels_on_the_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          str(ROOT / "tests" / "cudasim")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    tail = (run.stdout + run.stderr)[-6000:]
    assert run.returncode == 0, tail
    assert " passed" in tail and "skipped" not in tail.splitlines()[-1], tail
