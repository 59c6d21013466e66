"""docs/torch.md: the digits example at reduced size, and the printed error messages.

The docs test (tests/test_docs.py) runs every block of the page as written; the example's block
only defines its functions there (its ``main()`` runs when saved as a script), so it runs here
with two epochs instead of forty.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "torch.md"
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


def _blocks():
    return [(lang, body) for lang, body in BLOCK.findall(PAGE.read_text(encoding="utf-8"))]


def _run(code, **call):
    namespace = {"__name__": "docs_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(PAGE), "exec"), namespace)
        if call:
            namespace["main"](**call)
    return out.getvalue()


def test_digits_example_runs_at_reduced_size():
    pytest.importorskip("sklearn")
    (code,) = [body for lang, body in _blocks() if lang == "python" and "def main(" in body]
    lines = _run(code, epochs=2).splitlines()
    assert [line.split(":")[0].strip() for line in lines] == [
        "MGCE, beta = 1.4", "MGCE, beta = 11", "cross-entropy"]
    for line in lines:
        accuracy, sce = map(float, re.findall(r"([\d.]+)%", line))
        assert 30.0 < accuracy <= 100.0 and 0.0 <= sce < 50.0


def test_error_messages_on_the_page_are_the_ones_printed():
    blocks = _blocks()
    i = next(i for i, (lang, body) in enumerate(blocks) if "except ValueError" in body)
    assert blocks[i + 1][0] == "text"
    assert _run(blocks[i][1]) == blocks[i + 1][1]
