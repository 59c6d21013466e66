"""mgce_ref: the reference implementation of the Minimax Generalized Cross-Entropy loss.

Bondugula, Mazuelas, Pérez, Liu (AISTATS 2026). Every output hangs on one scalar per row,
``nu``, the root of eq. 13; see MATH.md for the formulas and their equation numbers.
"""

from .bracket import interval
from .link import link, worst_case
from .loss import alpha_loss, grad, loss, loss_and_grad
from .solve import SolveInfo, solve_nu

__all__ = ["interval", "solve_nu", "SolveInfo", "link", "worst_case", "loss", "grad",
           "loss_and_grad", "alpha_loss"]
__version__ = "0.17.2"
