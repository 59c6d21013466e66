"""One SGD step of an MLP d-h-C at batch B, with MGCELoss, MRCpy's mgce_loss and CE.

Run with ``pytest bench/test_bench_training.py`` (pytest-benchmark). The step is the one
``mgce-ref bench`` times (``mgce_ref.benchmark.training.make_step``): forward, loss, backward,
``optimizer.step()``; groups hold one MLP size, so the three losses sit side by side. Each
case is warmed up (Numba's compilation, torch's first calls) before timing.
"""

import pytest

torch = pytest.importorskip("torch")

from mgce_ref.benchmark import training  # noqa: E402

CASES = [(size, loss, beta) for size in training.SIZES
         for loss, beta in [(name, b) for name in training.LOSSES[:2] for b in training.BETAS]
         + [(training.LOSSES[2], None)]]


def _id(case):
    (d, h, C, B), loss, beta = case
    return f"{d}-{h}-{C}-B{B}-{loss}" + ("" if beta is None else f"-beta{beta:g}")


@pytest.mark.parametrize("size,loss,beta", CASES, ids=[_id(c) for c in CASES])
def test_training_step(benchmark, size, loss, beta):
    try:
        step, _ = training.make_step(loss, beta, size)
    except training.Unavailable as exc:
        pytest.skip(str(exc))
    for _ in range(3):  # warm-up; the answer must stay finite before its speed means anything
        step()
    assert all(torch.isfinite(p).all() for p in step.model.parameters())
    d, h, C, B = size
    benchmark.group = f"training step MLP {d}-{h}-{C} B={B}"
    benchmark.extra_info.update(loss=loss, beta=beta, sizes=[d, h, C], B=B)
    benchmark(step)
