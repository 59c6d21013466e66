"""The MGCE loss, link and worst case on torch tensors, with ``F.cross_entropy``'s conventions.

See MATH.md for the formulas: ``s_c = (h_c + nu)/beta + 1`` with ``nu`` the root of
``sum_c [s_c]_+**beta = 1`` (eq. 13), the link ``p_c = [s_c]_+**beta`` (eq. 14), the worst case
``q_c = [s_c]_+**(beta-1) / W`` with ``W = sum_k [s_k]_+**(beta-1)`` (eq. 17), the loss
``-h_y - nu`` (eq. 23) and its gradient ``q - e_y`` (eq. 22).
"""

import math

import torch
from torch.autograd.function import once_differentiable

from .. import _validate as V
from ._ops import (link_forward, link_op, link_vjp, loss_forward, loss_op,
                   worst_case_forward, worst_case_op)

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
    y = target if target.dtype == torch.int64 else target.to(torch.int64)
    y = y.contiguous()
    if torch.compiler.is_compiling():  # the custom op, which torch.compile traces
        value, _ = loss_op(x, y, b, ignore_index, _needs_grad(x))
        value = _reduce(value, y, ignore_index, reduction)
    else:
        value = _EagerLoss.apply(x, y, b, ignore_index, reduction, _needs_grad(x))
    return value if value.dtype == dtype else value.to(dtype)  # (to itself: ~2 us)


def _reduce(value, y, ignore_index, reduction):
    """The per-sample losses summed, averaged over the rows whose target is not
    ``ignore_index`` (NaN when every row is ignored, as ``F.cross_entropy`` gives), or kept."""
    if reduction == "sum":
        return value.sum()
    if reduction == "mean":
        return _mean(value.sum(), (y != ignore_index).sum())
    return value


def _mean(total, count):
    """``total / count``; NaN for ``count = 0`` (with a zero gradient)."""
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, math.nan))


class _EagerLoss(torch.autograd.Function):
    """:func:`mgce` outside ``torch.compile``: the kernel as the custom op ``mgce_ref::loss``
    runs it (:func:`._ops.loss_forward`) and the reduction in one autograd node, whose backward
    scales the kept gradient. The operations on the values are those of the custom op and
    :func:`_reduce` and their backward formulas (dividing by the count as a tensor or as an
    int gives the same bits), so the results are the same bits; without the op's dispatch and
    the reduction's nodes a forward and backward pass at (128, 10) took 128 us instead of 237
    (2 Zen 4 cores, torch 2.13). As the custom op's, its backward is no function of the
    input: a second derivative is refused, not silently zero."""

    @staticmethod
    def forward(ctx, x, y, beta, ignore_index, reduction, with_grad):
        value, grad, valid = loss_forward(x, y, beta, ignore_index, with_grad)
        ctx.reduction = reduction
        ctx.count = None
        if reduction == "sum":
            value = value.sum()
        elif reduction == "mean":
            if valid is None:  # every row counts
                ctx.count = value.shape[0] if value.dim() else 1
                value = value.sum() / ctx.count
            else:
                ctx.count = valid.sum()
                value = _mean(value.sum(), ctx.count)
        if with_grad:
            ctx.save_for_backward(grad)
        return value

    @staticmethod
    def backward(ctx, grad_value):
        (grad,) = ctx.saved_tensors
        count = ctx.count
        if ctx.reduction == "none":
            grad_value = grad_value.unsqueeze(-1)
        elif isinstance(count, int):
            grad_value = grad_value / count
        elif count is not None:  # the where's and the quotient's backward
            grad_value = torch.where(count > 0, grad_value, 0.0) / count.clamp(min=1)
        return grad_value * grad, None, None, None, None, None


def _rows(input, dim):
    """``(x, undo)``: ``input`` with ``dim`` moved last, cast as in :func:`mgce`, and
    flattened to (B, C) when it has more than two dimensions; ``undo`` restores the dtype and
    the layout (each step only where it changes something: each is an autograd node)."""
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if input.dim() == 0:
        raise ValueError("input must have at least one dimension (the classes)")
    last = dim in (-1, input.dim() - 1)
    x = input if last else input.movedim(dim, -1)
    shape = x.shape
    if x.dim() > 2:
        x = x.reshape(-1, shape[-1])
    x, dtype = _float_input(x)

    def undo(out):
        out = out if out.dtype == dtype else out.to(dtype)
        out = out if out.shape == shape else out.reshape(shape)
        return out if last else out.movedim(-1, dim)

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
    if torch.compiler.is_compiling():  # the custom op, which torch.compile traces
        p, _ = link_op(x, b, _needs_grad(x))
    else:
        p = _EagerLink.apply(x, b, _needs_grad(x))
    return undo(p)


class _EagerLink(torch.autograd.Function):
    """:func:`link` outside ``torch.compile``, as :class:`_EagerLoss` is :func:`mgce`: the
    custom op ``mgce_ref::link``'s kernel call (:func:`._ops.link_forward`) and its backward
    (:func:`._ops.link_vjp`) in one autograd node, without the op's dispatch: the same bits;
    a forward and backward pass at (128, 10) took 158 us instead of 238."""

    @staticmethod
    def forward(ctx, x, beta, with_q):
        p, q = link_forward(x, beta, with_q)
        if with_q:
            ctx.beta = beta
            ctx.save_for_backward(p, q)
        return p

    @staticmethod
    @once_differentiable  # as the custom op's: no silent wrong second derivative
    def backward(ctx, p_bar):
        p, q = ctx.saved_tensors
        return link_vjp(p, q, p_bar, ctx.beta), None, None


def worst_case(input, beta, dim=-1):
    """The worst-case distribution ``q_c = [s_c]_+**(beta-1) / W`` (eq. 17, Theorem 1).

    Uniform on the support at beta = 1 (the limit beta -> 1+), ``q = p = softmax`` at
    beta = inf. Not differentiable: the result never requires grad. Arguments as :func:`link`.
    """
    b = V.beta(beta)
    x, undo = _rows(input.detach() if isinstance(input, torch.Tensor) else input, dim)
    if torch.compiler.is_compiling():  # the custom op, which torch.compile traces
        return undo(worst_case_op(x, b))
    return undo(worst_case_forward(x, b))  # no graph to record: the kernel call alone
