"""The public API with the backend under test filled in (``mgce-ref verify --backend``).

Checks call these instead of ``mgce_ref.link`` etc., so one setting (:func:`use_backend`)
points the whole sweep at "numba" (default), "numpy", "exact" or "cuda".
"""

import contextlib

import mgce_ref

BACKEND = "numba"


@contextlib.contextmanager
def use_backend(name):
    """Run the checks inside the ``with`` block against backend ``name``."""
    global BACKEND
    from .._validate import backend

    old, BACKEND = BACKEND, backend(name)
    try:
        yield
    finally:
        BACKEND = old


@contextlib.contextmanager
def one_thread():
    """Numba on one thread inside the block: for thousands of calls on a handful of rows,
    where launching the parallel pool costs more than the work (5 ms vs 26 us per call
    measured on a busy 2-core machine)."""
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def solve_nu(logits, beta):
    return mgce_ref.solve_nu(logits, beta, backend=BACKEND)


def link(logits, beta):
    return mgce_ref.link(logits, beta, backend=BACKEND)


def worst_case(logits, beta):
    return mgce_ref.worst_case(logits, beta, backend=BACKEND)


def loss(logits, labels, beta):
    return mgce_ref.loss(logits, labels, beta, backend=BACKEND)


def grad(logits, labels, beta):
    return mgce_ref.grad(logits, labels, beta, backend=BACKEND)


def loss_and_grad(logits, labels, beta):
    return mgce_ref.loss_and_grad(logits, labels, beta, backend=BACKEND)
