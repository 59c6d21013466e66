"""The two error-free products of the double-double root, checked in exact rational arithmetic.

``_refine.two_prod`` (Dekker's split; the CPU, and the CUDA simulator, whose plain Python
arithmetic never contracts) and ``_cuda_kernels._two_prod_fma`` (what the CUDA kernels use on a
GPU, where the compiler contracts ``a*b + c`` into fmas): both must give ``p + e == a * b``
exactly with ``p = fl(a * b)``. The fma form runs here with a correctly rounded fma emulated on
fractions, the operation the GPU's ``fma.rn.f64`` performs.
"""

import importlib.util
import types
from fractions import Fraction

import numpy as np
import pytest

from mgce_ref import _refine


def exact_fma(a, b, c):
    """fl(a * b + c), rounded once (CPython's int / int division rounds correctly)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def operands():
    """Pairs whose product and its error stay normal (an error below 2**-1022 is not a double)."""
    rng = np.random.default_rng(20261203)
    a = [1.0 + 2.0**-30, 1.0 + 2.0**-52, 3.0, 0.1, -1e300, 1e-150, 2.0**995]
    b = [1.0 + 2.0**-30, 1.0 - 2.0**-53, 1.0 / 3.0, 0.7, 1e-8, 3e140, 1.5]
    a += list(rng.standard_normal(200) * 10.0 ** rng.integers(-120, 120, 200))
    b += list(rng.standard_normal(200) * 10.0 ** rng.integers(-120, 120, 200))
    return list(zip(a, b))


def _assert_error_free(two_prod):
    for a, b in operands():
        p, e = two_prod(a, b)
        assert p == a * b, (a, b)
        assert Fraction(p) + Fraction(e) == Fraction(a) * Fraction(b), (a, b, p, e)
        assert abs(e) <= abs(p) * 2.0**-53, (a, b)


def test_dekkers_split_is_exact_compiled_and_as_python():
    _assert_error_free(_refine.two_prod)
    _assert_error_free(_refine.two_prod.py_func)


def test_the_fma_form_is_exact_with_a_correctly_rounded_fma():
    if importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda is not installed")
    from mgce_ref import _cuda_kernels

    f = _cuda_kernels._two_prod_fma
    fma_form = types.FunctionType(f.__code__, {
        "cuda": types.SimpleNamespace(fma=exact_fma),
        "libdevice": types.SimpleNamespace(dmul_rn=lambda a, b: a * b),  # one rounding, as PTX's
    })
    _assert_error_free(fma_form)
    assert fma_form(1.0 + 2.0**-30, 1.0 + 2.0**-30) == (1.0 + 2.0**-29, 2.0**-60)


def test_a_twice_rounded_fma_is_not_enough():
    # What the simulator's cuda.fma does (a * b + c in Python): the error term is lost, which is
    # why the kernels keep Dekker's split there.
    if importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda is not installed")
    from mgce_ref import _cuda_kernels

    f = types.FunctionType(_cuda_kernels._two_prod_fma.__code__, {
        "cuda": types.SimpleNamespace(fma=lambda a, b, c: a * b + c),
        "libdevice": types.SimpleNamespace(dmul_rn=lambda a, b: a * b),
    })
    assert f(1.0 + 2.0**-30, 1.0 + 2.0**-30)[1] == 0.0
