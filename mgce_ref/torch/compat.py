"""``mgce_loss``: a drop-in for MRCpy's ``MRCpy.pytorch.mgce.loss.mgce_loss``.

Change the import line and nothing else::

    from mgce_ref.torch.compat import mgce_loss     # was: from MRCpy.pytorch.mgce.loss import mgce_loss

Same constructor, same methods, same batch-mean semantics (the gradient and the loss are batch
means, the gradient is fed to ``logits.backward(gradients)``), computed by mgce_ref's exact
kernels in one solve per row. Where MRCpy's answers are wrong this class gives the right ones:
the sparsemax link at beta = 1 (MRCpy's ``get_probs`` is not), softmax and cross-entropy at
beta = inf (MRCpy returns NaN), and constant rows (MRCpy raises). Bad input is refused with the
core's messages (a NaN logit names its row, a label out of range names the label). The returned
loss is a plain tensor without an autograd graph: differentiate through ``gradients`` as the
MRCpy loop does, or use :class:`mgce_ref.torch.MGCELoss`.
"""

import numbers

import torch

from .. import _validate as V
from ._ops import _run
from .functional import _float_input

__all__ = ["mgce_loss"]


class mgce_loss:  # noqa: N801 (MRCpy's name)
    """The MGCE margin loss with MRCpy's interface (see the module docstring).

    Parameters
    ----------
    num_classes : int
        Number of classes C; logits must have C columns.
    beta : float in [1, inf], default 1.02
        1: the 0-1 loss (sparsemax link); inf: cross-entropy (softmax link).
    """

    def __init__(self, num_classes, beta=1.02):
        if (isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral)
                or num_classes < 1):
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        self.num_classes = int(num_classes)
        self.beta = V.beta(beta)

    def _inputs(self, logits, labels=None):
        x, dtype = _float_input(logits.detach() if isinstance(logits, torch.Tensor) else logits,
                                "logits")
        if x.dim() != 2:
            raise ValueError(f"logits must have shape (batch_size, num_classes), got shape "
                             f"{tuple(x.shape)}")
        if x.shape[1] != self.num_classes:
            raise ValueError(f"logits have {x.shape[1]} columns but num_classes = "
                             f"{self.num_classes}")
        if labels is None:
            return x, dtype, None
        y = torch.as_tensor(labels)
        if y.is_floating_point() or y.dtype == torch.bool:
            raise ValueError(f"labels must hold integer class indices, got dtype {y.dtype}")
        return x, dtype, y.to(device=x.device, dtype=torch.int64).contiguous()

    def get_gradient(self, logits, labels):
        """``(gradients, loss_value)``: the batch means of ``q - e_y`` (eq. 22) and of the
        loss (eq. 23), from one solve per row; ``logits.backward(gradients)`` backpropagates.

        gradients : Tensor (batch_size, num_classes), in the logits' dtype
        loss_value : Tensor, scalar, in the logits' dtype (no autograd graph)
        """
        x, dtype, y = self._inputs(logits, labels)
        value, grad = _run(x, y, self.beta, ("loss", "grad"))
        B = x.shape[0]
        return (grad / B).to(dtype), value.mean().to(dtype)

    def get_loss_value(self, logits, labels, reg_val):
        """``(loss + reg_val, probabilities)``: the batch-mean loss (eq. 23) plus ``reg_val``,
        and the link ``p`` (eq. 14), rows summing to 1, from one solve per row."""
        x, dtype, y = self._inputs(logits, labels)
        value, p = _run(x, y, self.beta, ("loss", "link"))
        return value.mean().to(dtype) + reg_val, p.to(dtype)

    def get_probs(self, logits):
        """The link ``p`` (eq. 14): sparsemax at beta = 1, softmax at beta = inf."""
        x, dtype, _ = self._inputs(logits)
        return _run(x, None, self.beta, ("link",))[0].to(dtype)
