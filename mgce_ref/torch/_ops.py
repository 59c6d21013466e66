"""The torch operators ``mgce_ref::loss``, ``mgce_ref::link`` and ``mgce_ref::worst_case``.

Each is a ``torch.library.custom_op`` with a fake (meta) implementation, so ``torch.compile``
traces through it, and the two with gradients have ``register_autograd`` formulas that read only
what the forward pass saved: no second solve in backward.

The operators take float32/float64 tensors (the wrappers in :mod:`mgce_ref.torch.functional`
cast float16/bfloat16 to float32 first) with shape (C,) or (B, C):

* CPU tensors go to the numba backend as NumPy views (``Tensor.numpy()``, no copy), and its
  results come back through ``torch.from_numpy`` (no copy).
* CUDA tensors go to the cuda backend in place, on torch's current stream of their device
  (``numba.cuda.external_stream``), and its device arrays come back through
  ``torch.as_tensor`` (no copy).

Validation stays with the core (``mgce_ref._validate``), so a NaN or an infinite logit names its
row, a label out of range names the label, and beta < 1 is refused with the core's messages.
"""

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .. import _dispatch

_NS = "mgce_ref"


# ----------------------------------------------------------------------------- devices

def _numba_run(x, y, beta, outputs):
    """The numba backend on CPU tensors; ``x.numpy()`` of a contiguous tensor is a view."""
    res = _dispatch.run(x.numpy(), None if y is None else y.numpy(), beta, "numba", outputs)
    return [torch.from_numpy(np.asarray(r)) for r in res]


def _cuda_run(x, y, beta, outputs):
    """The cuda backend in place on ``x``'s device, on torch's current stream there."""
    from numba import cuda

    from .. import cuda_backend

    with cuda.gpus[x.device.index]:
        stream = cuda.external_stream(torch.cuda.current_stream(x.device).cuda_stream)
        res = cuda_backend.run(x, y, beta, outputs, stream=stream)
    # Device arrays are wrapped (torch keeps them alive); 1-D logits give host scalars.
    return [torch.as_tensor(r, device=x.device) for r in res]


def _run(x, y, beta, outputs):
    if x.device.type == "cpu":
        return _numba_run(x, y, beta, outputs)
    if x.device.type == "cuda":
        return _cuda_run(x, y, beta, outputs)
    raise RuntimeError(f"mgce_ref.torch runs on CPU and CUDA tensors, got device {x.device}")


# ------------------------------------------------------------------------------- loss

def loss_forward(input, target, beta, ignore_index, with_grad):
    """``(value, grad, valid)``: ``mgce_ref::loss``'s outputs (:func:`loss_op`) and the rows
    whose target is not ``ignore_index`` (None when that is all of them), also for the eager
    path of :func:`mgce_ref.torch.mgce`."""
    if target.device.type == "cpu":  # NumPy's test of a view: ~1 us where torch's took ~4
        valid = (target != ignore_index) if (target.numpy() == ignore_index).any() else None
    else:
        valid = target != ignore_index
        valid = None if bool(valid.all()) else valid
    y = target if valid is None else torch.where(valid, target, 0)  # any label: row dropped
    outputs = ("loss", "grad") if with_grad else ("loss",)
    res = _run(input, y, beta, outputs)
    value = res[0]
    grad = res[1] if with_grad else input.new_empty(0)
    if valid is not None:
        value = value.masked_fill(~valid, 0.0)
        if with_grad:
            grad.masked_fill_(~valid.unsqueeze(-1), 0.0)
    return value, grad, valid


@torch.library.custom_op(f"{_NS}::loss", mutates_args=())
def loss_op(input: torch.Tensor, target: torch.Tensor, beta: float, ignore_index: int,
            with_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample loss (eq. 23), and with ``with_grad`` its gradient ``q - e_y`` (eq. 22),
    from one solve; rows whose target is ``ignore_index`` get 0 for both, whatever their
    label. Without ``with_grad`` the second output is empty."""
    return loss_forward(input, target, beta, ignore_index, with_grad)[:2]


@loss_op.register_fake
def _(input, target, beta, ignore_index, with_grad):
    return input.new_empty(input.shape[:-1]), input.new_empty(input.shape if with_grad else (0,))


def _loss_setup(ctx, inputs, output):
    ctx.with_grad = inputs[4]
    ctx.save_for_backward(output[1])
    ctx.mark_non_differentiable(output[1])


def _loss_backward(ctx, grad_value, _grad_grad):
    if not ctx.with_grad:
        raise RuntimeError("mgce_ref::loss was called with with_grad=False; call it with "
                           "with_grad=True to differentiate it")
    (g,) = ctx.saved_tensors
    return grad_value.unsqueeze(-1) * g, None, None, None, None


loss_op.register_autograd(_loss_backward, setup_context=_loss_setup)


# ------------------------------------------------------------------------------- link

def link_forward(input, beta, with_q):
    """``mgce_ref::link``'s computation (:func:`link_op`), also for the eager path of
    :func:`mgce_ref.torch.link`."""
    res = _run(input, None, beta, ("link", "worst_case") if with_q else ("link",))
    return res[0], (res[1] if with_q else input.new_empty(0))


@torch.library.custom_op(f"{_NS}::link", mutates_args=())
def link_op(input: torch.Tensor, beta: float, with_q: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The link ``p`` (eq. 14) and, with ``with_q``, the worst case ``q`` (eq. 17) from the
    same solve (what the backward pass needs); without it the second output is empty."""
    return link_forward(input, beta, with_q)


@link_op.register_fake
def _(input, beta, with_q):
    return input.new_empty(input.shape), input.new_empty(input.shape if with_q else (0,))


def _link_setup(ctx, inputs, output):
    ctx.beta = inputs[1]
    ctx.with_q = inputs[2]
    ctx.save_for_backward(output[0], output[1])
    ctx.mark_non_differentiable(output[1])


def link_vjp(p, q, p_bar, beta):
    """``h_bar = W q * (p_bar - <q, p_bar>)`` with ``W = 1 / <q, p**(1/beta)>`` along the
    last dimension; see :func:`mgce_ref.torch.link` for the derivation."""
    w = 1.0 / (q * p.pow(1.0 / beta)).sum(-1, keepdim=True)
    return (w * q) * (p_bar - (q * p_bar).sum(-1, keepdim=True))


@once_differentiable  # q's dependence on h is not saved: no silent wrong second derivative
def _link_backward(ctx, p_bar, _q_bar):
    if not ctx.with_q:
        raise RuntimeError("mgce_ref::link was called with with_q=False; call it with "
                           "with_q=True to differentiate it")
    p, q = ctx.saved_tensors
    return link_vjp(p, q, p_bar, ctx.beta), None, None


link_op.register_autograd(_link_backward, setup_context=_link_setup)


# ------------------------------------------------------------------------- worst case

def worst_case_forward(input, beta):
    """``mgce_ref::worst_case``'s computation (:func:`worst_case_op`), also for the eager path
    of :func:`mgce_ref.torch.worst_case`."""
    return _run(input, None, beta, ("worst_case",))[0]


@torch.library.custom_op(f"{_NS}::worst_case", mutates_args=())
def worst_case_op(input: torch.Tensor, beta: float) -> torch.Tensor:
    """The worst-case distribution ``q`` (eq. 17); not differentiable."""
    return worst_case_forward(input, beta)


@worst_case_op.register_fake
def _(input, beta):
    return input.new_empty(input.shape)
