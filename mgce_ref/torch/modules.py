"""``MGCELoss``: the MGCE loss as an ``nn.Module``, like ``nn.CrossEntropyLoss``."""

from torch import nn

from .. import _validate as V
from .functional import _REDUCTIONS, mgce


class MGCELoss(nn.Module):
    """The MGCE margin loss (eq. 23) of :func:`mgce_ref.torch.mgce` as a module.

    ``MGCELoss(beta)(input, target)`` is ``mgce(input, target, beta)``: logits (B, C) or (C,),
    integer class targets, ``reduction`` "mean" (over the targets that are not
    ``ignore_index``), "sum" or "none". beta = inf is cross-entropy, beta = 1 the 0-1 loss.
    """

    def __init__(self, beta, reduction="mean", ignore_index=-100):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction!r} is not a valid value for reduction; "
                             f"use one of {', '.join(map(repr, _REDUCTIONS))}")
        self.beta = V.beta(beta)
        self.reduction = reduction
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return mgce(input, target, self.beta, reduction=self.reduction,
                    ignore_index=self.ignore_index)

    def extra_repr(self):
        return f"beta={self.beta}, reduction={self.reduction!r}, ignore_index={self.ignore_index}"
