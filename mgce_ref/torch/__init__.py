"""mgce_ref for PyTorch: the MGCE loss, link and worst case as differentiable torch operators.

``import mgce_ref`` does not import torch; ``import mgce_ref.torch`` does (torch >= 2.4).

* :func:`mgce` and :class:`MGCELoss`: the margin loss (eq. 23) with ``F.cross_entropy``'s
  arguments; backward is ``q - e_y`` (eq. 22) from the forward's one solve.
* :func:`link` (eq. 14), differentiable in closed form; :func:`worst_case` (eq. 17).
* :mod:`mgce_ref.torch.compat`: ``mgce_loss``, a drop-in for MRCpy's class.

CPU tensors run the numba kernels on the tensors' memory; CUDA tensors run the CUDA kernels in
place on torch's current stream. The operators are ``torch.library`` custom ops
(``torch.ops.mgce_ref.loss``, ``.link``, ``.worst_case``), so ``torch.compile`` traces them.
"""

try:
    import torch as _torch
except ImportError as exc:
    raise ImportError("mgce_ref.torch needs PyTorch >= 2.4: pip install 'mgce_ref[torch]'") from exc
if not hasattr(_torch.library, "custom_op"):
    raise ImportError(f"mgce_ref.torch needs PyTorch >= 2.4 (torch.library.custom_op); found "
                      f"torch {_torch.__version__}")

from .functional import link, mgce, worst_case  # noqa: E402
from .modules import MGCELoss  # noqa: E402

__all__ = ["mgce", "MGCELoss", "link", "worst_case"]
