"""README.md's API example runs as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_api_example_runs_as_written(capsys):
    text = README.read_text(encoding="utf-8")
    section = text.split("## The API", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(block, "README.md (API example)", "exec"), {})
    assert capsys.readouterr().out  # it prints the iteration report
