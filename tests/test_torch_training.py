"""The training-step benchmark (mgce_ref.benchmark.training) at a tiny size: its rows, its
table and its step (which must train). Speed itself is measured in bench/, never here."""

import pytest

torch = pytest.importorskip("torch")

from mgce_ref.benchmark import training  # noqa: E402

KEYS = {"loss", "beta", "sizes", "B", "device", "step_seconds", "loss_seconds", "loss_share",
        "skipped"}


def test_rows_and_table(monkeypatch):
    def fake_timing(step, loss_only, device, budget, rounds):  # run once, report fixed times
        step()
        loss_only()
        return 2e-3, 5e-4

    monkeypatch.setattr(training, "time_step", fake_timing)
    rows = training.run_training_bench(betas=(1.4, 11.0), sizes=((8, 6, 3, 16),), quick=True)
    assert [(r["loss"], r["beta"]) for r in rows] == [
        ("MGCELoss", 1.4), ("MGCELoss", 11.0), ("mrcpy", 1.4), ("mrcpy", 11.0),
        ("CrossEntropyLoss", None)]
    for r in rows:
        assert set(r) == KEYS and r["sizes"] == [8, 6, 3] and r["B"] == 16 and r["device"] == "cpu"
        if r["skipped"] is None:
            assert r["loss_share"] == 0.25
    table = training.format_table(rows)
    assert "8-6-3" in table and "MGCELoss" in table and "25.0%" in table


def test_mrcpy_missing_is_a_skip_with_the_reason(monkeypatch):
    def missing():
        raise training.Unavailable("MRCpy is not installed")

    monkeypatch.setattr(training, "_mrcpy_class", missing)
    rows = training.run_training_bench(betas=(2.0,), sizes=((8, 6, 3, 16),), quick=True)
    skipped = [r for r in rows if r["loss"] == "mrcpy"]
    assert skipped[0]["skipped"] == "MRCpy is not installed" and skipped[0]["step_seconds"] is None
    assert "skipped: MRCpy is not installed" in training.format_table(rows)
    assert all(r["step_seconds"] > 0 for r in rows if r["loss"] != "mrcpy")


@pytest.mark.parametrize("loss,beta", [("MGCELoss", 1.4), ("mrcpy", 11.0),
                                       ("CrossEntropyLoss", None)])
def test_the_step_trains(loss, beta):
    try:
        step, loss_only = training.make_step(loss, beta, (8, 16, 3, 64))
    except training.Unavailable as exc:
        pytest.skip(str(exc))
    before = [p.detach().clone() for p in step.model.parameters()]
    step()
    loss_only()
    after = list(step.model.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after))
