"""The MGCE loss, link and worst case on torch tensors, with ``F.cross_entropy``'s conventions.

See MATH.md for the formulas: ``s_c = (h_c + nu)/beta + 1`` with ``nu`` the root of
``sum_c [s_c]_+**beta = 1`` (eq. 13), the link ``p_c = [s_c]_+**beta`` (eq. 14), the worst case
``q_c = [s_c]_+**(beta-1) / W`` with ``W = sum_k [s_k]_+**(beta-1)`` (eq. 17), the loss
``-h_y - nu`` (eq. 23) and its gradient ``q - e_y`` (eq. 22).
"""

import math

import torch

from .. import _validate as V
from ._ops import link_op, loss_op, worst_case_op

__all__ = ["mgce", "link", "worst_case"]

_REDUCTIONS = ("none", "mean", "sum")


def _float_input(input, what="input"):
    """``(x, dtype)``: float32/float64 tensors as they are (contiguous), float16/bfloat16 cast
    to float32 (results go back to ``dtype``); anything else refused."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(input).__name__}")
    if not input.is_floating_point():
        raise TypeError(f"{what} must have a floating dtype (float16, bfloat16, float32 or "
                        f"float64), got {input.dtype}")
    x = input if input.dtype in (torch.float32, torch.float64) else input.float()
    return x.contiguous(), input.dtype


def _needs_grad(x):
    return torch.is_grad_enabled() and x.requires_grad


def mgce(input, target, beta, *, reduction="mean", ignore_index=-100):
    """The MGCE margin loss (eq. 23), differentiable, as ``F.cross_entropy`` takes its arguments.

    ``loss_i = -h_{i,y_i} - nu(h_i)``, convex in ``h``; its gradient is ``q(h_i) - e_{y_i}``
    (eq. 22), the worst-case distribution minus the label. Both come from one solve per row, and
    the gradient is kept for the backward pass, which only scales it.

    Parameters
    ----------
    input : Tensor, shape (B, C) or (C,)
        Logits (margins) ``h``, on CPU or CUDA. float32 and float64 are computed in their own
        dtype; float16 and bfloat16 in float32, with the loss and the gradient returned in the
        input's dtype.
    target : Tensor of integers, shape (B,) or ()
        Class indices in ``[0, C)`` (int64, or any integer dtype). Class probabilities are not
        supported.
    beta : float in [1, inf]
        1: the 0-1 loss (sparsemax link, a subgradient); inf: cross-entropy (softmax link).
    reduction : {"mean", "sum", "none"}
        "mean" averages over the rows whose target is not ``ignore_index``; if every row is
        ignored it gives NaN with a zero gradient, as ``F.cross_entropy`` does.
    ignore_index : int
        Rows with this target contribute 0 to the loss and 0 to the gradient, whatever else
        their label is. Their logits are still checked: a NaN anywhere is refused.

    Returns
    -------
    Tensor
        A scalar, or shape (B,) (``()`` for 1-D input) with ``reduction="none"``.

    Raises
    ------
    ValueError
        NaN or infinite logits (naming the row and column), a label out of range (naming it),
        beta < 1 or NaN, a bad shape or reduction.
    """
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{reduction!r} is not a valid value for reduction; "
                         f"use one of {', '.join(map(repr, _REDUCTIONS))}")
    b = V.beta(beta)
    x, dtype = _float_input(input)
    if x.dim() not in (1, 2):
        raise ValueError(f"input must have shape (C,) or (B, C), got shape {tuple(x.shape)}")
    if not isinstance(target, torch.Tensor):
        raise TypeError(f"target must be a torch.Tensor of class indices, got "
                        f"{type(target).__name__}")
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise ValueError(f"target must hold integer class indices, got dtype {target.dtype}; "
                         "class probabilities are not supported")
    if target.device != x.device:
        raise ValueError(f"target is on {target.device} but input is on {x.device}")
    if not isinstance(ignore_index, int) or isinstance(ignore_index, bool):
        raise TypeError(f"ignore_index must be an int, got {type(ignore_index).__name__}")
    y = target.to(torch.int64).contiguous()
    value, _ = loss_op(x, y, b, ignore_index, _needs_grad(x))
    if reduction == "sum":
        value = value.sum()
    elif reduction == "mean":
        total = value.sum()
        count = (y != ignore_index).sum()
        # All rows ignored: NaN with a zero gradient, as F.cross_entropy gives.
        value = torch.where(count > 0, total / count.clamp(min=1),
                            torch.full_like(total, math.nan))
    return value.to(dtype)


def _rows(input, dim):
    """``(x, dtype, undo)``: ``input`` with ``dim`` moved last, cast as in :func:`mgce`, and
    flattened to (B, C) when it has more than two dimensions; ``undo`` restores the layout."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if input.dim() == 0:
        raise ValueError("input must have at least one dimension (the classes)")
    x = input.movedim(dim, -1)
    shape = x.shape
    if x.dim() > 2:
        x = x.reshape(-1, shape[-1])
    x, dtype = _float_input(x)

    def undo(out):
        return out.to(dtype).reshape(shape).movedim(-1, dim)

    return x, undo


def link(input, beta, dim=-1):
    r"""The minimax classifier ``p = [s]_+**beta`` (eq. 14), differentiable.

    alpha-entmax with ``alpha = 1 + 1/beta``: sparsemax at beta = 1, softmax at beta = inf.

    Backward (closed form, from the saved ``p`` and ``q`` of the one forward solve). On the
    support, ``dp_c/dh_j = [s_c]_+**(beta-1) (delta_cj + d nu/d h_j)``, and implicit
    differentiation of eq. 13 gives ``d nu/d h_j = -q_j``. With ``[s_c]_+**(beta-1) = W q_c``
    (eq. 17) the Jacobian is ``W (diag(q) - q q^T)``, symmetric, so the vector-Jacobian product
    of an upstream ``p_bar`` is::

        h_bar_c = W q_c (p_bar_c - <q, p_bar>),     W = sum_k [s_k]_+**(beta-1).

    ``W`` is not returned by the kernels; it follows from ``p`` and ``q``: since
    ``s_c = p_c**(1/beta)`` on the support, ``<q, s> = sum_c s_c**beta / W = 1/W``, so
    ``W = 1 / <q, p**(1/beta)>``, a sum of nonnegative terms led by the largest classes (no
    cancellation; ``W`` lies in [1, C] as ``0 <= s_c <= 1``). The limits hold exactly:

    * beta = 1 (sparsemax): ``W = |S|`` and ``q = 1/|S|`` on the support ``S``, so
      ``W q_c = 1`` on ``S`` and ``h_bar_c = p_bar_c - mean_S(p_bar)`` there, 0 elsewhere:
      sparsemax's Jacobian.
    * beta = inf (softmax): ``p**(1/beta) = 1``, so ``W = sum q = 1`` and ``q = p``:
      ``h_bar = p * (p_bar - <p, p_bar>)``, softmax's Jacobian.

    Parameters
    ----------
    input : Tensor
        Logits, on CPU or CUDA; dtypes as :func:`mgce`. Any number of dimensions; rows are
        taken along ``dim``.
    beta : float in [1, inf]
    dim : int
        The class dimension.

    Returns
    -------
    Tensor of ``input``'s shape and dtype; sums to 1 along ``dim``.
    """
    b = V.beta(beta)
    x, undo = _rows(input, dim)
    p, _ = link_op(x, b, _needs_grad(x))
    return undo(p)


def worst_case(input, beta, dim=-1):
    """The worst-case distribution ``q_c = [s_c]_+**(beta-1) / W`` (eq. 17, Theorem 1).

    Uniform on the support at beta = 1 (the limit beta -> 1+), ``q = p = softmax`` at
    beta = inf. Not differentiable: the result never requires grad. Arguments as :func:`link`.
    """
    b = V.beta(beta)
    x, undo = _rows(input.detach() if isinstance(input, torch.Tensor) else input, dim)
    return undo(worst_case_op(x, b))
