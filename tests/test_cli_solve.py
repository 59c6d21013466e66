"""``mgce-ref solve``: files in, reference outputs out, refused clearly when the input is bad."""

import math

import numpy as np
import pytest

import mgce_ref
from mgce_ref.cli import main


@pytest.fixture
def batch():
    rng = np.random.default_rng(20260423)
    return rng.standard_normal((5, 4)) * 3, rng.integers(0, 4, 5)


def _read_csv(path_or_text):
    lines = path_or_text.strip().splitlines()
    return lines[0].split(","), np.loadtxt(lines[1:], delimiter=",", ndmin=2)


def test_npy_to_npz_matches_the_api(tmp_path, batch):
    h, y = batch
    np.save(tmp_path / "h.npy", h)
    np.save(tmp_path / "y.npy", y)
    out = tmp_path / "out.npz"
    assert main(["solve", str(tmp_path / "h.npy"), "--beta", "1.5", "--labels",
                 str(tmp_path / "y.npy"), "--out", str(out), "--backend", "exact"]) == 0
    got = np.load(out)
    assert sorted(got.files) == ["grad", "link", "loss", "nu", "worst_case"]
    np.testing.assert_array_equal(got["nu"], mgce_ref.solve_nu(h, 1.5, backend="exact"))
    np.testing.assert_array_equal(got["link"], mgce_ref.link(h, 1.5, backend="exact"))
    np.testing.assert_array_equal(got["grad"], mgce_ref.grad(h, y, 1.5, backend="exact"))
    np.testing.assert_array_equal(got["loss"], mgce_ref.loss(h, y, 1.5, backend="exact"))


def test_csv_to_csv_round_trips_float64(tmp_path, batch):
    h, y = batch
    np.savetxt(tmp_path / "h.csv", h, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "y.csv", y, delimiter=",", fmt="%d")
    out = tmp_path / "out.csv"
    assert main(["solve", str(tmp_path / "h.csv"), "--beta", "inf", "--labels",
                 str(tmp_path / "y.csv"), "--out", str(out)]) == 0
    header, table = _read_csv(out.read_text())
    C = h.shape[1]
    assert header == (["nu"] + [f"link_{c}" for c in range(C)] + [f"worst_case_{c}" for c in range(C)]
                      + ["loss"] + [f"grad_{c}" for c in range(C)])
    assert table.shape == (5, 2 + 3 * C)
    np.testing.assert_array_equal(table[:, 0], mgce_ref.solve_nu(h, math.inf))
    np.testing.assert_array_equal(table[:, 1:1 + C], mgce_ref.link(h, math.inf))


def test_stdout_without_labels_and_float32(tmp_path, capsys, batch):
    h, _ = batch
    np.save(tmp_path / "h.npy", h.astype(np.float32))
    assert main(["solve", str(tmp_path / "h.npy"), "--beta", "2"]) == 0
    header, table = _read_csv(capsys.readouterr().out)
    assert header[0] == "nu" and "loss" not in header and len(header) == 1 + 2 * h.shape[1]
    want = mgce_ref.solve_nu(h.astype(np.float32), 2.0)
    np.testing.assert_array_equal(table[:, 0].astype(np.float32), want)  # 9 digits round-trip


def test_one_row_file(tmp_path, capsys):
    (tmp_path / "h.csv").write_text("# one sample\n0.5,0.25,-1\n")
    assert main(["solve", str(tmp_path / "h.csv"), "--beta", "1"]) == 0
    _, table = _read_csv(capsys.readouterr().out)
    np.testing.assert_allclose(table[0, 1:4], [0.625, 0.375, 0.0], rtol=0, atol=1e-16)


@pytest.mark.parametrize("argv, message", [
    (["h.txt", "--beta", "2"], "logits file 'h.txt' must end in .npy or .csv"),
    (["missing.npy", "--beta", "2"], "logits file 'missing.npy' does not exist"),
    (["h.npy", "--beta", "2", "--out", "o.json"], "output file 'o.json' must end in .npz or .csv"),
    (["h.npy", "--beta", "2", "--labels", "bad.csv"], "labels must be integers, got dtype float64"),
    (["h.npy", "--beta", "2", "--labels", "short.csv"], "labels have shape (2,); logits with 3 rows"),
    (["nan.csv", "--beta", "2"], "logits row 1 contains NaN (column 0); every logit must be finite"),
])
def test_bad_input_exits_2_with_the_reason(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    np.save("h.npy", np.zeros((3, 2)))
    (tmp_path / "bad.csv").write_text("0.5\n1\n0\n")
    (tmp_path / "short.csv").write_text("0\n1\n")
    (tmp_path / "nan.csv").write_text("1,2\nnan,3\n")
    assert main(["solve", *argv]) == 2
    assert message in capsys.readouterr().err


def test_bad_beta_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["solve", "h.npy", "--beta", "nan"])
    assert exc.value.code == 2
    assert "invalid beta 'nan': beta must lie in [1, inf]" in capsys.readouterr().err
