"""The time of one training step: an MLP ``d-h-C`` trained by SGD with MGCE, MRCpy or CE.

One step is forward, loss, backward and ``optimizer.step()`` on one batch of B random inputs.
It is timed for ``mgce_ref.torch.MGCELoss``, for MRCpy's ``mgce_loss`` as its documentation uses
it (``get_gradient`` then ``logits.backward(gradients)``) and for ``torch.nn.CrossEntropyLoss``.
The loss's share is the time of the loss alone (forward and backward on the same logits,
detached from the network) over the time of the step. Steps and loss-only runs are timed in
alternating rounds after a warm-up (Numba's compilation, torch's first calls), and the medians
are reported. On CUDA each timed run is bracketed by ``torch.cuda.synchronize()``.

torch loads when a function here runs, not at import.
"""

import math
import statistics
import time

SIZES = ((784, 256, 10, 128), (784, 512, 100, 1024))  # (d, h, C, B)
BETAS = (1.4, 11.0)
LOSSES = ("MGCELoss", "mrcpy", "CrossEntropyLoss")


class Unavailable(Exception):
    """A loss that cannot run here (MRCpy not installed); the message says why."""


def _mrcpy_class():
    from ..peers import load_mrcpy_loss

    try:
        return load_mrcpy_loss().mgce_loss
    except ImportError as exc:
        raise Unavailable(str(exc)) from None


def make_step(loss, beta, size, device="cpu", seed=0):
    """``(step, loss_only)``: callables running one SGD step of the MLP (``step.model`` is the
    MLP), and the loss alone (forward and backward) on fixed logits of the same shape. Raises
    :class:`Unavailable`."""
    import torch

    from ..torch import MGCELoss

    d, h, C, B = size
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, d, generator=g).to(device)
    y = torch.randint(0, C, (B,), generator=g).to(device)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(),
                                torch.nn.Linear(h, C)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with torch.no_grad():
        fixed = model(x)
    logits_only = fixed.clone().requires_grad_()

    if loss == "mrcpy":
        fn = _mrcpy_class()(num_classes=C, beta=beta)

        def backprop(logits):
            gradients, _ = fn.get_gradient(logits, y)
            logits.backward(gradients)
    else:
        crit = MGCELoss(beta) if loss == "MGCELoss" else torch.nn.CrossEntropyLoss()

        def backprop(logits):
            crit(logits, y).backward()

    def step():
        opt.zero_grad()
        backprop(model(x))
        opt.step()

    def loss_only():
        logits_only.grad = None
        backprop(logits_only)

    step.model = model  # for checks: the parameters the steps update
    return step, loss_only


def _timer(device):
    import torch

    if device.startswith("cuda"):
        def timed(fn):
            torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            torch.cuda.synchronize()
            return time.perf_counter() - t
    else:
        def timed(fn):
            t = time.perf_counter()
            fn()
            return time.perf_counter() - t
    return timed


def time_step(step, loss_only, device="cpu", budget=1.0, min_rounds=5, warmup=3):
    """Median seconds of ``step`` and of ``loss_only``, timed in alternating rounds."""
    timed = _timer(device)
    for _ in range(warmup):
        step()
        loss_only()
    steps, losses = [], []
    start = time.perf_counter()
    while len(steps) < min_rounds or time.perf_counter() - start < budget:
        steps.append(timed(step))
        losses.append(timed(loss_only))
    return statistics.median(steps), statistics.median(losses)


def run_training_bench(device="cpu", betas=BETAS, sizes=SIZES, quick=False):
    """Time one SGD step of an MLP with each loss; one dict per (size, loss, beta).

    Parameters
    ----------
    device : str
        "cpu" or a CUDA device ("cuda", "cuda:1").
    betas : tuple of float
        The MGCE betas (MGCELoss and MRCpy); cross-entropy runs once per size.
    sizes : tuple of (d, h, C, B)
        MLP input width, hidden width, classes, and batch size.
    quick : bool
        Shorter timing (0.2 s and 3 rounds per case instead of 1 s and 5).

    Returns
    -------
    list of dict
        ``{"loss", "beta" (None for CE), "sizes" ([d, h, C]), "B", "device", "step_seconds",
        "loss_seconds", "loss_share", "skipped" (the reason, or None)}``.
    """
    budget, rounds = (0.2, 3) if quick else (1.0, 5)
    rows = []
    for size in sizes:
        d, h, C, B = size
        todo = [(name, beta) for name in LOSSES[:2] for beta in betas]
        todo.append((LOSSES[2], None))
        for name, beta in todo:
            row = {"loss": name, "beta": beta, "sizes": [d, h, C], "B": B, "device": device,
                   "step_seconds": None, "loss_seconds": None, "loss_share": None,
                   "skipped": None}
            try:
                step, loss_only = make_step(name, beta, size, device)
                t_step, t_loss = time_step(step, loss_only, device, budget, rounds)
            except Unavailable as exc:
                row["skipped"] = str(exc)
            else:
                row.update(step_seconds=t_step, loss_seconds=t_loss, loss_share=t_loss / t_step)
            rows.append(row)
    return rows


def format_table(rows):
    """The rows as a text table: step time, loss time, the loss's share, and the step time
    relative to cross-entropy's at the same size."""
    ce = {(tuple(r["sizes"]), r["B"]): r["step_seconds"] for r in rows
          if r["loss"] == "CrossEntropyLoss" and r["step_seconds"]}
    lines = [f"{'MLP d-h-C':>14} {'B':>5}  {'loss':<17} {'beta':>5}  {'step':>9} {'loss':>9} "
             f"{'share':>6} {'vs CE':>6}"]
    for r in rows:
        size = "-".join(map(str, r["sizes"]))
        beta = "" if r["beta"] is None else ("inf" if math.isinf(r["beta"]) else f"{r['beta']:g}")
        head = f"{size:>14} {r['B']:>5}  {r['loss']:<17} {beta:>5}  "
        if r["skipped"]:
            lines.append(head + f"skipped: {r['skipped']}")
            continue
        base = ce.get((tuple(r["sizes"]), r["B"]))
        rel = f"{r['step_seconds'] / base:5.2f}x" if base else ""
        lines.append(head + f"{r['step_seconds'] * 1e3:6.2f} ms {r['loss_seconds'] * 1e3:6.2f} ms "
                     f"{100 * r['loss_share']:5.1f}% {rel:>6}")
    return "\n".join(lines)
