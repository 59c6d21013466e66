"""Input validation, done once at the public boundary; kernels get clean arrays.

Every message names what is wrong (the row, the label, the value) and what is allowed.
"""

import math
import numbers

import numpy as np

from .config import BACKENDS, METHODS


class BadRows(Exception):
    """Raised by a backend that checks rows itself, with the first bad row: a row with a NaN or
    an infinite logit (``CHECKS_FINITE``) or one whose label is out of range
    (``CHECKS_LABELS``). ``_dispatch.call`` turns it into the ValueError users see, the same as
    this module raises for backends that do not check (:func:`label_range`,
    :func:`nonfinite_error`)."""


# The dtypes that need no conversion, for the fast paths. ``labels`` compares by identity
# (NumPy's native int64 dtype is one object; an equal one that is not takes the general path).
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INT64 = np.dtype(np.int64)


def logits(x, check_finite=True):
    """Return ``(h, squeeze)``: a C-contiguous (B, C) float32/float64 array of logits and
    whether the input was 1-D. float32 stays float32 (kernels accumulate in float64); every other
    real dtype becomes float64. Non-finite logits are refused here unless ``check_finite`` is
    False, for a backend that finds them in its own first pass (then see :class:`BadRows`)."""
    if (type(x) is np.ndarray and x.ndim == 2 and x.dtype in _FLOATS and x.shape[1]
            and x.flags.c_contiguous):
        # Already what the kernels take (the usual call): the checks and conversions below
        # would return x itself, in about a microsecond of a small batch's time.
        h, squeeze = x, False
    else:
        h, squeeze = _as_batch(x)
    if check_finite:
        with np.errstate(over="ignore", invalid="ignore"):
            total = h.sum(dtype=np.float64) if h.size else 0.0
        if not np.isfinite(total):  # the sum can overflow on finite logits: look closer
            bad = ~np.isfinite(h)
            if bad.any():
                raise nonfinite_error(h, squeeze)
    return h, squeeze


def _as_batch(x):
    """:func:`logits` without the finiteness check, for any input."""
    if isinstance(x, (str, bytes)):
        raise TypeError(f"logits must be a numeric array, got {type(x).__name__}")
    if hasattr(x, "__cuda_array_interface__") and not isinstance(x, np.ndarray):
        raise TypeError("logits live on a GPU; use backend='cuda' or copy them to the host first")
    try:
        a = np.asarray(x)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"logits must be a rectangular array: {exc}") from None
    if a.dtype.kind not in "fiu":
        raise TypeError(f"logits must have a real numeric dtype, got {a.dtype}")
    if a.ndim not in (1, 2):
        raise ValueError(f"logits must have shape (C,) or (B, C), got shape {a.shape}")
    if a.shape[-1] == 0:
        raise ValueError(f"logits have zero classes (shape {a.shape}); MGCE needs C >= 1")
    dtype = np.float32 if a.dtype == np.float32 else np.float64
    h = np.ascontiguousarray(a, dtype=dtype)
    squeeze = h.ndim == 1
    if squeeze:
        h = h[None, :]
    return h, squeeze


def nonfinite_error(h, squeeze):
    """The ValueError for logits with a NaN or an infinity: names the first such entry."""
    r, c = np.argwhere(~np.isfinite(h))[0]
    what = "NaN" if np.isnan(h[r, c]) else "an infinite value"
    where = f"logits contain {what} at index {c}" if squeeze else f"logits row {r} contains {what} (column {c})"
    return ValueError(f"{where}; every logit must be finite")


def beta(b):
    """A float in [1, inf]."""
    if type(b) is float and b >= 1.0:  # the usual call, in a tenth of the checks' time (NaN fails)
        return b
    if isinstance(b, (bool, np.bool_)) or not isinstance(b, numbers.Real):
        if isinstance(b, np.ndarray) and b.ndim == 0 and b.dtype.kind in "fiu":
            b = b.item()
        else:
            raise TypeError(f"beta must be a real number in [1, inf], got {type(b).__name__}")
    b = float(b)
    if math.isnan(b):
        raise ValueError("beta is NaN; beta must be a number in [1, inf]")
    if b < 1.0:
        raise ValueError(f"beta = {b!r} is below 1; beta must lie in [1, inf] "
                         "(1: the 0-1 loss, inf: cross-entropy)")
    return b


def labels(y, h, squeeze, check_range=True):
    """int64 labels, one per row, each in [0, C).

    ``check_range=False``: for a backend that checks the range in its kernel
    (``CHECKS_LABELS``, then see :class:`BadRows`); labels whose int64 copy would not hold their
    values (uint64) are still checked here, so that the message names the label as given."""
    B, C = h.shape
    if (type(y) is np.ndarray and y.dtype is _INT64 and y.shape == (B,) and not squeeze
            and y.flags.c_contiguous):  # the usual call: what the checks below would return
        if check_range:
            label_range(y, C, squeeze)
        return y
    if isinstance(y, (str, bytes)):
        raise TypeError(f"labels must be integers, got {type(y).__name__}")
    a = np.asarray(y)
    if a.dtype.kind not in "iu":
        if a.dtype.kind == "f" and a.size and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            hint = "; cast them with .astype(int)"
        else:
            hint = ""
        raise ValueError(f"labels must be integers, got dtype {a.dtype}{hint}")
    if squeeze:
        if a.ndim != 0:
            raise ValueError(f"1-D logits take one integer label, got labels of shape {a.shape}")
        a = a.reshape(1)
    elif a.shape != (B,):
        raise ValueError(f"labels have shape {a.shape}; logits with {B} rows need shape ({B},)")
    if check_range or not (a.dtype.kind == "i" or a.dtype.itemsize < 8):
        label_range(a, C, squeeze)
    if a.dtype is _INT64 and a.flags.c_contiguous:
        return a  # what ascontiguousarray would return, in a third of its time
    return np.ascontiguousarray(a, dtype=np.int64)


def label_range(a, C, squeeze):
    """Refuse integer labels ``a`` (shape (B,)) outside [0, C), naming the first."""
    bad = (a < 0) | (a >= C)
    if bad.any():
        r = int(np.argmax(bad))
        where = "label" if squeeze else f"labels[{r}]"
        kind = "is negative" if a[r] < 0 else f"is out of range for {C} classes"
        raise ValueError(f"{where} = {int(a[r])} {kind}; labels must lie in [0, {C - 1}]")


def backend(name):
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(map(repr, BACKENDS))}")
    return name


def method(name):
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(map(repr, METHODS))}")
    return name


def tol(t):
    """``None`` (machine precision) becomes 0.0; otherwise a positive finite float."""
    if t is None:
        return 0.0
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Real):
        raise TypeError(f"tol must be a positive number or None, got {type(t).__name__}")
    if not (math.isfinite(t) and t > 0):
        raise ValueError(f"tol = {t!r} is not a positive finite number; "
                         "pass None to solve to machine precision")
    return float(t)


def max_iter(n, default):
    if n is None:
        return default
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"max_iter must be a positive integer or None, got {n!r}")
    return int(n)
