"""Adapters for the peers mgce_ref judges and benchmarks.

* MRCpy's torch ``mgce_loss`` (``MRCpy/pytorch/mgce/loss.py``, GPL-3.0), loaded by
  file location so ``MRCpy/__init__.py`` (cvxpy, gurobipy) never runs. No code of
  it is copied here.
* ``entmax.entmax_bisect`` (MIT), the link with ``alpha = 1 + 1/beta``.

``*_backend`` take NumPy input and return per-sample float64 NumPy arrays for the
conformance kit; ``*_torch_op*`` return callables on torch tensors for the
benchmark. Peers are called as a user would; their behaviour is reported, never
corrected. torch is imported lazily: ``import mgce_ref.peers`` works without it.
"""
import contextlib
import importlib.util
import math
import os

import numpy as np

__all__ = ["PeerUnsupportedError", "load_mrcpy_loss", "mrcpy_backend",
           "entmax_backend", "mrcpy_torch_ops", "entmax_torch_op"]

_MRCPY_INSTALL = ("MRCpy's torch mgce_loss needs torch and MRCpy: "
                  "`pip install torch==2.13.0` and `pip install --no-deps mrcpy==3.0.0`")
_ENTMAX_INSTALL = ("entmax needs torch and entmax: "
                   "`pip install torch==2.13.0` and `pip install --no-deps entmax`")
_MRCPY_MODULE = None


class PeerUnsupportedError(ValueError):
    """A peer cannot handle the requested input (for example MRCpy at beta=inf)."""


def _import_torch(message):
    try:
        import torch
    except ImportError as exc:
        raise ImportError(message) from exc
    return torch


def load_mrcpy_loss():
    """Load ``MRCpy/pytorch/mgce/loss.py`` without executing ``MRCpy/__init__.py``.

    Returns
    -------
    module
        The loaded module (cached); ``module.mgce_loss`` is the peer class.

    Raises
    ------
    ImportError
        If torch or MRCpy is not installed (the message says how to install them).
    """
    global _MRCPY_MODULE
    if _MRCPY_MODULE is not None:
        return _MRCPY_MODULE
    _import_torch(_MRCPY_INSTALL)
    # find_spec on a top-level name locates the package without importing it.
    spec = importlib.util.find_spec("MRCpy")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(_MRCPY_INSTALL)
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "pytorch", "mgce", "loss.py")
        if os.path.isfile(path):
            break
    else:
        raise ImportError(f"MRCpy found but pytorch/mgce/loss.py is missing. {_MRCPY_INSTALL}")
    file_spec = importlib.util.spec_from_file_location("_mgce_ref_peer_mrcpy_loss", path)
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    _MRCPY_MODULE = module
    return module


@contextlib.contextmanager
def _default_dtype(torch, dtype):
    """Temporarily make ``dtype`` torch's default dtype (restored on exit)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _check(logits, labels):
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.dtype not in (np.float32, np.float64):
        raise ValueError(f"logits must be a float32/float64 (B, C) array, got "
                         f"{logits.dtype} with shape {logits.shape}")
    labels = np.asarray(labels)
    if labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a ({logits.shape[0]},) integer array, "
                         f"got {labels.dtype} with shape {labels.shape}")
    return np.ascontiguousarray(logits), np.ascontiguousarray(labels, dtype=np.int64)


def _require_two_classes(num_classes):
    if num_classes < 2:
        raise ValueError(f"MRCpy's mgce_loss requires num_classes >= 2 (got {num_classes})")


def mrcpy_backend(logits, labels, beta, *, loss_mode="reconstruct",
                  float64_default_dtype=True):
    """Run MRCpy's torch ``mgce_loss`` on a batch and return per-sample values.

    Parameters
    ----------
    logits : numpy.ndarray, shape (B, C), float32 or float64
        Margins; converted to a CPU torch tensor of the same dtype.
    labels : numpy.ndarray, shape (B,), integer
        True classes in ``[0, C)``.
    beta : float
        Loss parameter, passed to ``mgce_loss(num_classes=C, beta=beta)`` as is
        (``math.inf`` included).
    loss_mode : {"reconstruct", "per_row"}, default "reconstruct"
        MRCpy only returns the batch-mean loss. "reconstruct": per-sample
        ``loss_i = -h_{i,y_i} - nu_i`` (sign-adjusted at beta=1) in the input dtype,
        using the nu of MRCpy's own solver on the whole batch, i.e. exactly the
        summands MRCpy averages (and the nu behind its gradient). "per_row": call
        the public ``get_gradient`` once per row (B=1) and take its loss.
    float64_default_dtype : bool, default True
        MRCpy compares float64 tensors with ``torch.tensor(0.)`` in ``isclose``,
        which raises "Double did not match Float" unless torch's default dtype
        is float64. If True, float64 inputs run with the default dtype set to
        float64 (what a float64 user must do); if False the error propagates.

    Returns
    -------
    dict of str to numpy.ndarray (float64)
        "link" (B, C) from ``get_probs``; "grad" (B, C) = ``B *`` the batch-mean
        gradient of ``get_gradient``; "loss" (B,); "nu" (B,) from MRCpy's private
        solver (``_bisection_solver_batched``; minus ``_psi_batched_with_indices``
        at beta=1), omitted if that method is absent.

    Raises
    ------
    ValueError
        C < 2, bad shapes/dtypes, or MRCpy's own "Invalid interval" error.
    PeerUnsupportedError
        beta=inf: MRCpy returns NaN for finite input (its bracket computes
        ``inf * 0``), so the adapter raises instead of returning NaN.
    """
    torch = _import_torch(_MRCPY_INSTALL)
    mod = load_mrcpy_loss()
    h_np, y_np = _check(logits, labels)
    B, C = h_np.shape
    _require_two_classes(C)
    if loss_mode not in ("reconstruct", "per_row"):
        raise ValueError(f"loss_mode must be 'reconstruct' or 'per_row', got {loss_mode!r}")
    h, y = torch.from_numpy(h_np), torch.from_numpy(y_np)
    fn = mod.mgce_loss(num_classes=C, beta=beta)
    dtype = h.dtype if float64_default_dtype else torch.get_default_dtype()
    out = {}
    with _default_dtype(torch, dtype):
        out["link"] = fn.get_probs(h)
        grad_mean, _ = fn.get_gradient(h, y)
        out["grad"] = grad_mean.detach().double() * B
        rows = torch.arange(B)
        nu = None
        if beta == 1 and hasattr(fn, "_psi_batched_with_indices"):
            nu = -fn._psi_batched_with_indices(h)[0]   # MRCpy's psi is -nu at beta=1
        elif beta != 1 and hasattr(fn, "_bisection_solver_batched"):
            nu = fn._bisection_solver_batched(h)[0]
        if nu is not None:
            out["nu"] = nu
        if loss_mode == "reconstruct" and nu is not None:
            out["loss"] = -h[rows, y] - nu
        else:
            out["loss"] = torch.stack([fn.get_gradient(h[i:i + 1], y[i:i + 1])[1]
                                       for i in range(B)]) if B else h.new_zeros(0)
    out = {k: v.detach().cpu().double().numpy().copy() for k, v in out.items()}
    if math.isinf(beta):
        finite = np.isfinite(h_np).all(axis=1)
        if any(not np.isfinite(v[finite]).all() for v in out.values()):
            raise PeerUnsupportedError(
                "MRCpy's mgce_loss cannot take beta=inf: it returns NaN for finite "
                "logits (its bisection bracket beta*((1/C)**(1/beta) - 1) is inf*0)")
    return out


def entmax_backend(logits, labels, beta):
    """Run ``entmax.entmax_bisect`` with ``alpha = 1 + 1/beta`` (the MGCE link).

    Parameters
    ----------
    logits : numpy.ndarray, shape (B, C), float32 or float64
        Margins; converted to a CPU torch tensor of the same dtype.
    labels : numpy.ndarray, shape (B,), integer
        Unused (entmax has no loss here); accepted for a uniform signature.
    beta : float
        Loss parameter. beta=inf gives alpha=1.0 exactly, passed through as a
        user would (entmax documents alpha=1 as unsupported; whatever it returns
        is reported, not fixed).

    Returns
    -------
    dict of str to numpy.ndarray (float64)
        {"link": (B, C) array}, entmax's defaults (n_iter=50, ensure_sum_one=True).
    """
    h_np, _ = _check(logits, labels)
    op = entmax_torch_op(beta)
    torch = _import_torch(_ENTMAX_INSTALL)
    p = op(torch.from_numpy(h_np))
    return {"link": p.detach().cpu().double().numpy().copy()}


def mrcpy_torch_ops(num_classes, beta):
    """Callables on torch tensors wrapping one MRCpy ``mgce_loss`` instance.

    Parameters
    ----------
    num_classes : int
        Number of classes C (>= 2, MRCpy's constructor requirement).
    beta : float
        Loss parameter, passed as is.

    Returns
    -------
    dict of str to callable
        "get_gradient": ``f(logits_t, labels_t) -> (mean grad, mean loss)``;
        "get_probs": ``f(logits_t) -> probs``. float64 tensors run with torch's
        default dtype set to float64 (see :func:`mrcpy_backend`).
    """
    torch = _import_torch(_MRCPY_INSTALL)
    _require_two_classes(num_classes)
    fn = load_mrcpy_loss().mgce_loss(num_classes=num_classes, beta=beta)

    def get_gradient(logits_t, labels_t):
        with _default_dtype(torch, logits_t.dtype):
            return fn.get_gradient(logits_t, labels_t)

    def get_probs(logits_t):
        with _default_dtype(torch, logits_t.dtype):
            return fn.get_probs(logits_t)

    return {"get_gradient": get_gradient, "get_probs": get_probs}


def entmax_torch_op(beta):
    """Return ``f(logits_t) = entmax_bisect(logits_t, alpha=1 + 1/beta, dim=-1)``.

    Parameters
    ----------
    beta : float
        Loss parameter; beta=inf gives alpha=1.0 (passed through unchanged).

    Returns
    -------
    callable
        (B, C) torch tensor -> entmax probabilities of the same dtype.
    """
    _import_torch(_ENTMAX_INSTALL)
    try:
        from entmax import entmax_bisect
    except ImportError as exc:
        raise ImportError(_ENTMAX_INSTALL) from exc
    alpha = 1.0 + 1.0 / beta

    def op(logits_t):
        return entmax_bisect(logits_t, alpha=alpha, dim=-1)

    return op
