"""How one output is compared with its reference: tolerances by dtype, and the error measures.

Per quantity, with ``eps`` the machine epsilon of the *input* dtype (a float32 run is judged at
float32 precision, a float64 run at float64):

* ``nu``: ``|nu - nu_ref| <= nu_ulps * eps * max(1, max_c |h_c|, |nu_ref|)`` per row. ``nu``
  shifts with the logits (``nu(h + t) = nu(h) - t``), so its natural unit is an ulp of the
  logits' magnitude, or of ``nu``'s own where that is larger (``nu ≈ -log C`` for flat rows).
* ``link``, ``worst_case``, ``grad``: ``|x - x_ref| <= max(prob, cond)`` per entry, where
  ``cond`` bounds the change of that entry when each ``t_c = h_c + nu`` moves by ``cond_ulps``
  ulps of ``1 + |h_c - max h| + |nu + max h|`` (first order, see :func:`conditioning`). It is
  below ``prob`` except where the mathematics is ill-conditioned: for 1 < beta < 2,
  ``q_c ∝ s_c**(beta-1)`` has derivative ``∝ s_c**(beta-2)``, unbounded as a class nears the
  support edge ``s_c -> 0+``; there no float computation can do better.
* ``loss``: ``|loss - loss_ref| <= loss_ulps * eps * max(1, |loss_ref|)`` per row.

The defaults come from ``mgce_ref.config.TOLERANCE`` (the core's own targets); pass
``tol={"prob": 1e-12}`` (all dtypes) or ``tol={"float32": {"nu_ulps": 8}}`` to override.
"""

import math

import numpy as np

from ..config import TOLERANCE

KEYS = ("nu_ulps", "prob", "loss_ulps", "cond_ulps")
PROB_QUANTITIES = ("link", "worst_case", "grad")


def tolerances(dtype, tol=None):
    """The tolerance dict for ``dtype`` ("float32" or "float64"), with ``tol`` overrides.

    Parameters
    ----------
    dtype : str or numpy dtype
    tol : dict or None
        Either flat overrides ``{"prob": 1e-12, "nu_ulps": 8}`` for every dtype, or per dtype
        ``{"float32": {...}, "float64": {...}}``. Keys: "nu_ulps", "prob", "loss_ulps",
        "cond_ulps" (0 turns the conditioning allowance off).

    Raises
    ------
    ValueError
        On an unknown key or a negative or non-finite value.
    """
    dt = np.dtype(dtype)
    base = TOLERANCE[dt]
    # loss = -h_y - nu inherits nu's error; cond_ulps: z, x and t = z + x each round once.
    out = {"nu_ulps": float(base["nu_ulps"]), "prob": float(base["prob"]),
           "loss_ulps": float(base["nu_ulps"]), "cond_ulps": 2.0}
    if tol:
        per_dtype = {k: v for k, v in tol.items() if k in ("float32", "float64")}
        flat = {k: v for k, v in tol.items() if k not in ("float32", "float64")}
        for k, v in {**flat, **(per_dtype.get(dt.name) or {})}.items():
            if k not in KEYS:
                raise ValueError(f"unknown tolerance {k!r}; valid keys: {', '.join(KEYS)} "
                                 "(optionally under 'float32' / 'float64')")
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"tolerance {k} = {v!r} must be a finite number >= 0")
            out[k] = float(v)
    return out


def conditioning(h, ref, beta, quantity, eps, ulps):
    """Per-entry allowance for ``link``/``worst_case``/``grad`` from the conditioning of eq. 14/17.

    Each ``t_c = (h_c - max h) + (nu + max h)`` carries an error of a few ulps of
    ``1 + |h_c - max h| + |nu + max h|`` in any float computation; this returns a first-order
    bound on what that does to the entry (``0`` at beta = 1, where ``q`` is uniform on the support:
    the fixed cases keep every class 1e-6 away from the edge there, see ``cases.py``).

    With ``w_c = s_c**(beta-1)`` and ``W = sum w``: ``q_c = w_c / W``, so
    ``|dq_c| <= (|dw_c| + q_c * sum_k |dw_k|) / W``, and ``|dw_c| = (beta-1)/beta * w_c/s_c * dt_c``
    (or ``(s_c + dt_c/beta)**(beta-1)`` for a class within ``2 dt_c/beta`` of the edge, where the
    linearisation fails). For the link ``|dp_c| = p_c/s_c * dt_c``, bounded by ``dt_c``.
    """
    if beta == 1.0:
        return 0.0
    p, q = ref["link"], ref["worst_case"]
    top = np.argmax(h, axis=1)
    z = h - h[np.arange(len(h)), top][:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        # The shifted root x = nu + max h from the top class's p = (1 + x/beta)**beta: accurate to
        # eps whatever the offset of the logits (nu + max h is only accurate to ulp(max h)).
        log_top = np.log(p[np.arange(len(h)), top])[:, None]
        x = log_top if math.isinf(beta) else beta * np.expm1(log_top / beta)
        dt = ulps * eps * (1.0 + np.abs(z) + np.abs(x))
        if math.isinf(beta):  # p = q = softmax: w = exp(t), dw/w = dt
            dq = q * dt
            return p * dt if quantity == "link" else dq + q * dq.sum(axis=1, keepdims=True)
        # s_c from p (relative accuracy); for p = 0 the float estimate only has to tell
        # whether the class is within dt of the edge.
        s = np.where(p > 0, np.exp(np.log(p) / beta), z / beta + x / beta + 1.0)
        ds = dt / beta
        if quantity == "link":
            lin = p / s * dt
            edge = np.maximum(s + ds, 0.0) ** beta
            return np.where(s > 2 * ds, lin, edge)
        m = np.argmax(q, axis=1)[:, None]
        r = np.arange(len(q))[:, None]
        log_w_max = (beta - 1.0) * np.log(s[r, m])
        log_W = log_w_max - np.log(q[r, m])  # W = w_m / q_m
        lin = (beta - 1.0) / beta * q / s * dt
        edge = np.exp((beta - 1.0) * np.log(np.maximum(s + ds, 0.0)) - log_W)
        dw = np.where(s > 2 * ds, lin, edge)
        dw = np.where(np.isfinite(dw), dw, 0.0)
        return dw + q * dw.sum(axis=1, keepdims=True)


def compare(quantity, got, h, ref, beta, dtype, tol):
    """Judge one quantity of one batch.

    Parameters
    ----------
    quantity : str
    got : array_like
        The backend's output (any float dtype; compared in float64).
    h : ndarray (B, C), float64
        The logits the backend saw, promoted to float64.
    ref : dict
        Reference outputs (float64) on ``h``: "nu", "link", "worst_case", "loss", "grad".
    beta : float
    dtype : str
        The input dtype, which sets ``eps``.
    tol : dict
        From :func:`tolerances`.

    Returns
    -------
    passed : bool
    max_abs_err : float or None
        None when the output could not be compared (bad shape, non-finite values).
    ulps : float or None
        The largest error in units of ``eps`` times the quantity's scale (1 for probabilities).
    ratio : float or None
        The largest error divided by its allowance (a pass is ``ratio <= 1``).
    error : str or None
        Why the check failed when it is not a plain excess (shape, NaN, ...).
    """
    want = ref[quantity]
    try:
        a = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        return False, None, None, None, f"output is not a float array: {exc}"
    if a.shape != want.shape:
        return False, None, None, None, f"shape {a.shape}, expected {want.shape}"
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if np.isnan(a[idx]) else "inf"
        return False, None, None, None, f"{int(bad.sum())} non-finite value(s), first {what} at {idx}"
    eps = float(np.finfo(np.dtype(dtype)).eps)
    err = np.abs(a - want)
    if quantity == "nu":
        scale = np.maximum(1.0, np.maximum(np.abs(h).max(axis=1), np.abs(want)))
        allow = tol["nu_ulps"] * eps * scale
    elif quantity == "loss":
        scale = np.maximum(1.0, np.abs(want))
        allow = tol["loss_ulps"] * eps * scale
    else:
        scale = 1.0
        kind = "link" if quantity == "link" else "worst_case"
        allow = np.maximum(tol["prob"], conditioning(h, ref, beta, kind, eps, tol["cond_ulps"]))
    if err.size == 0:
        return True, 0.0, 0.0, 0.0, None
    ulps = err / (eps * scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(err == 0, 0.0, err / allow)
    return bool(np.all(err <= allow)), float(err.max()), float(ulps.max()), float(ratio.max()), None
