"""Backends by short name, each a callable ``fn(logits, labels, beta) -> dict``.

* "numba", "numpy", "exact", "cuda": mgce_ref's own backends, all five outputs from one solve.
* "mrcpy": MRCpy's torch ``mgce_loss`` through :func:`mgce_ref.peers.mrcpy_backend` (its batch
  means turned into per-sample values; its private solver gives ``nu``).
* "entmax": ``entmax.entmax_bisect(h, alpha=1 + 1/beta)``, the same link; only "link".
* "MODULE:CALLABLE" (or "path/to/file.py:CALLABLE"): anyone's function with that signature.

The callables carry ``name`` and ``quantities`` attributes (what the backend claims to return)
so that a call that raises is recorded as one failed check per quantity.
"""

import importlib
import importlib.util
import os

import numpy as np

from ..config import OUTPUTS

OWN = ("numba", "numpy", "exact", "cuda")
PEERS = ("mrcpy", "entmax")
NAMES = OWN + PEERS


def _tag(fn, name, quantities):
    fn.name = name
    fn.quantities = tuple(quantities)
    return fn


def _host(x):
    """A NumPy array from whatever a backend returns (NumPy, CUDA device array, scalar)."""
    if hasattr(x, "copy_to_host"):
        return x.copy_to_host()
    if hasattr(x, "get") and not isinstance(x, (np.ndarray, dict)):  # CuPy
        return x.get()
    return np.asarray(x)


def own(name):
    """The adapter for one of mgce_ref's backends (``_dispatch.run`` with every output)."""
    from .. import _dispatch

    if name == "cuda":
        _dispatch.get_backend("cuda")  # raises a clear error without a GPU or numba-cuda

    def fn(logits, labels, beta):
        values = _dispatch.run(logits, labels, beta, name, OUTPUTS)
        return {k: _host(v) for k, v in zip(OUTPUTS, values)}

    return _tag(fn, name, OUTPUTS)


def mrcpy():
    """MRCpy's torch ``mgce_loss`` (needs torch and MRCpy; see ``mgce_ref.peers``)."""
    from .. import peers

    peers.load_mrcpy_loss()  # fail now, with the install hint, rather than on every case

    def fn(logits, labels, beta):
        return peers.mrcpy_backend(logits, labels, beta)

    return _tag(fn, "mrcpy", ("nu", "link", "loss", "grad"))


def entmax():
    """``entmax.entmax_bisect`` with ``alpha = 1 + 1/beta`` (needs torch and entmax)."""
    from .. import peers

    peers.entmax_torch_op(2.0)  # import check

    def fn(logits, labels, beta):
        return peers.entmax_backend(logits, labels, beta)

    return _tag(fn, "entmax", ("link",))


def from_spec(spec):
    """``"MODULE:CALLABLE"`` or ``"path/to/file.py:CALLABLE"`` (dotted attributes allowed)."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"backend {spec!r} is neither a known name ({', '.join(NAMES)}) "
                         "nor of the form MODULE:CALLABLE")
    if module_name.endswith(".py"):
        if not os.path.isfile(module_name):
            raise ValueError(f"backend {spec!r}: no file {module_name!r}")
        file_spec = importlib.util.spec_from_file_location(
            "_mgce_ref_user_backend_" + os.path.basename(module_name)[:-3], module_name)
        module = importlib.util.module_from_spec(file_spec)
        file_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ValueError(f"backend {spec!r}: cannot import {module_name!r} ({exc})") from exc
    fn = module
    for part in attr.split("."):
        try:
            fn = getattr(fn, part)
        except AttributeError:
            raise ValueError(f"backend {spec!r}: {module_name!r} has no attribute {attr!r}") from None
    if not callable(fn):
        raise ValueError(f"backend {spec!r}: {attr!r} is not callable")
    return fn


def resolve(name):
    """The callable for a backend name or ``MODULE:CALLABLE`` spec, or ``name`` itself if it is
    already callable.

    Raises
    ------
    ValueError
        Unknown name or a spec that does not resolve.
    ImportError
        A known backend whose dependencies are missing (the message says what to install).
    RuntimeError
        "cuda" without a usable GPU (raised by the CUDA backend itself).
    """
    if callable(name):
        return name
    if name in OWN:
        return own(name)
    if name == "mrcpy":
        return mrcpy()
    if name == "entmax":
        return entmax()
    return from_spec(name)


def backend_name(fn):
    """A display name for a callable: its ``name`` attribute, else module.qualname."""
    name = getattr(fn, "name", None)
    if isinstance(name, str):
        return name
    mod = getattr(fn, "__module__", None) or ""
    qual = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{mod}:{qual}" if mod else qual
