"""The one dispatch point: validate at the boundary, pick the backend, shape the results.

Every backend module (``numpy_backend``, ``numba_backend``, ``exact``, ``cuda_backend``) has
``solve(h, beta, method, tol, max_iter) -> (nu, iterations, converged)`` and
``forward(h, labels, beta, outputs) -> {name: array}`` on validated (B, C) float32/float64
C-contiguous logits and int64 labels; results come back in ``h.dtype``. A backend with
``CHECKS_FINITE`` (``CHECKS_LABELS``) is given logits not yet checked for NaN and infinities
(int64 labels not yet checked for range) and raises ``_validate.BadRows`` on such a row.
"""

import importlib

from . import _validate as V

_MODULES = {"numba": "numba_backend", "numpy": "numpy_backend", "exact": "exact", "cuda": "cuda_backend"}

#: name -> (module, its ``require_available`` or None, its ``CHECKS_FINITE``, its
#: ``CHECKS_LABELS``), filled on first use: the import machinery and the getattrs cost about 2
#: us of every call.
_LOADED = {}


#: The outputs of shape (B, C); the others are (B,).
MATRIX_OUTPUTS = ("link", "worst_case", "grad")


def output_shapes(B, C, outputs):
    """Shape of every output array a batch kernel takes; unwanted ones get 0 rows, which is how
    the kernels tell what to compute."""
    row, mat = (B, (B, C)), (0, (0, C))
    return {name: (row if name in outputs else mat)[name in MATRIX_OUTPUTS]
            for name in ("nu", "link", "worst_case", "loss", "grad")}


def _loaded(name):
    """``_LOADED[name]``, importing the backend on first use."""
    loaded = _LOADED.get(name) if isinstance(name, str) else None  # a list is not hashable
    if loaded is None:
        mod = importlib.import_module(f".{_MODULES[V.backend(name)]}", __package__)
        loaded = _LOADED[name] = (mod, getattr(mod, "require_available", None),
                                  getattr(mod, "CHECKS_FINITE", False),
                                  getattr(mod, "CHECKS_LABELS", False))
    if loaded[1] is not None:
        loaded[1]()
    return loaded


def get_backend(name):
    """The backend module for ``name`` ("numba", "numpy", "exact", "cuda")."""
    return _loaded(name)[0]


def validated_logits(logits, mod):
    """``(h, squeeze)`` from ``_validate.logits``; the finiteness pass is left to a backend
    that does it in its own first pass (``CHECKS_FINITE``)."""
    return V.logits(logits, check_finite=not getattr(mod, "CHECKS_FINITE", False))


def call(fn, h, squeeze, *args, labels=None):
    """``fn(h, *args)``, turning a backend's ``_validate.BadRows`` into the user's ValueError:
    the one for a label out of range if any of ``labels`` is (a backend that checks them,
    ``CHECKS_LABELS``, stops at either kind of bad row), else the one for non-finite logits."""
    try:
        return fn(h, *args)
    except V.BadRows:
        pass  # raised below, outside the handler: the user's error has no BadRows context
    if labels is not None:
        V.label_range(labels, h.shape[1], squeeze)
    raise V.nonfinite_error(h, squeeze)


def run(logits, labels, beta, backend, outputs):
    """Validated forward pass; 1-D logits give scalars and (C,) arrays."""
    if backend == "cuda":
        return get_backend("cuda").run(logits, labels, beta, outputs)
    mod, _, checks_finite, checks_labels = _loaded(backend)
    h, squeeze = V.logits(logits, check_finite=not checks_finite)
    b = V.beta(beta)
    y = None
    if "loss" in outputs or "grad" in outputs:
        y = V.labels(labels, h, squeeze, check_range=not checks_labels)
    out = call(mod.forward, h, squeeze, y, b, outputs, labels=y)
    if squeeze:
        return [out[k][0] for k in outputs]
    return [out[k] for k in outputs]
