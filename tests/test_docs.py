"""Every code block in README.md and docs/*.md runs as written, and every relative link resolves.

How a fenced block is treated (the convention is documented in docs/README.md, "Writing these pages"):

* ```` ```python ````: executed in a fresh namespace, in a temporary folder. A block that imports
  an optional dependency (torch, entmax, mrcpy, numba.cuda) is skipped, naming it, when that
  dependency is missing.
* ```` ```console ````: each line starting with ``$ `` is a command; the other lines are output.
* ```` ```bash ```` / ```` ```sh ````: each non-empty, non-comment line is a command.
* no language, ```` ```text ````: output, not code.

Commands run one after the other in one temporary folder per block. ``mgce-ref ARGS`` runs
in-process through ``mgce_ref.cli.main`` and must exit 0; with leading ``VAR=value`` settings it
runs in a subprocess with those variables. ``python ...`` runs in a subprocess.

Markers (an HTML comment on the line right before the fence, visible in the page source):

* ``<!-- docs-test: skip (REASON) -->``: the block is not run (too slow, needs a GPU or files
  of the reader's own) but still validated: ``mgce-ref`` commands must parse with
  ``mgce_ref.cli.build_parser()``, python blocks must compile, ``pytest`` paths and
  ``python -m`` modules must exist, ``pip install`` extras must exist in pyproject.toml.
* ``<!-- docs-test: cudasim -->``: a python block run in a subprocess on Numba's CUDA
  simulator (``NUMBA_ENABLE_CUDASIM=1``); skipped when numba-cuda is not installed.

A single command line can be exempted the same way with a trailing ``# docs-test: skip`` comment.
"""

import ast
import contextlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.S | re.M)
MARKER = re.compile(r"<!--\s*docs-test:\s*(?P<what>skip|cudasim)\b\s*(?:\((?P<why>[^)]*)\))?\s*-->")
LINE_SKIP = re.compile(r"#\s*docs-test:\s*skip\b")
RUN_LANGS = {"python", "console", "bash", "sh", "shell"}
# import name -> what to install; a block importing one of these is skipped when it is missing
OPTIONAL = {"torch": "torch", "entmax": "entmax", "mrcpy": "mrcpy (--no-deps)",
            "numba.cuda": "numba-cuda", "cupy": "cupy", "sklearn": "scikit-learn"}


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    body: str
    marker: str | None  # None, "skip" or "cudasim"
    why: str

    @property
    def id(self):
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks():
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            lang = m["lang"].lower()
            if lang not in RUN_LANGS:
                continue
            line = text.count("\n", 0, m.start()) + 1
            before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = MARKER.search(before)
            body = "\n".join(ln[len(m["indent"]):] if ln.startswith(m["indent"]) else ln
                             for ln in m["body"].splitlines())
            found.append(Block(page, line, lang, body, mark["what"] if mark else None,
                               (mark["why"] or "") if mark else ""))
    return found


BLOCKS = blocks()


def commands(block):
    """(line text, skipped?) for each command of a console/bash block."""
    out = []
    lines = block.body.splitlines()
    if block.lang == "console":
        lines = [ln[2:] for ln in lines if ln.startswith("$ ")]
    for ln in lines:
        s = ln.strip()
        if not s or s.startswith("#"):
            continue
        out.append((s, bool(LINE_SKIP.search(s))))
    return out


def split_command(line):
    """shlex tokens of one command line, comments dropped, split at '&&' into segments."""
    lex = shlex.shlex(line, posix=True, punctuation_chars="&")
    lex.whitespace_split = True
    lex.commenters = "#"
    segs, cur = [], []
    for tok in lex:
        if tok == "&&":
            segs.append(cur)
            cur = []
        else:
            cur.append(tok)
    segs.append(cur)
    return [s for s in segs if s]


def env_and_argv(tokens):
    env = {}
    while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):
        key, val = tokens[0].split("=", 1)
        env[key] = val
        tokens = tokens[1:]
    return env, tokens


def program(argv0):
    return Path(argv0).name


def repo_env(extra):
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("MPLBACKEND", "Agg")
    return env


# ------------------------------------------------------------------------------- validation

def validate_mgce_ref(args, where):
    from mgce_ref.cli import build_parser
    try:
        ns = build_parser().parse_args(args)
    except SystemExit as exc:  # argparse exits 2 on a bad option
        pytest.fail(f"{where}: `mgce-ref {' '.join(args)}` does not parse (exit {exc.code})")
    assert getattr(ns, "_run", None), f"{where}: `mgce-ref {' '.join(args)}` names no command"


def pyproject_extras():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([\w-]+)\s*=", section, re.M))


def validate_python_cmd(args, where):
    """`python -c CODE`, `python -m MODULE ...`, `python -m pytest PATHS`, `python -m venv DIR`."""
    if args[:1] == ["-c"] and len(args) >= 2:
        compile(args[1], f"{where} (python -c)", "exec")
        return
    if args[:1] != ["-m"] or len(args) < 2:
        pytest.fail(f"{where}: only `python -c` and `python -m` lines are checked; got python {args}")
    module, rest = args[1], args[2:]
    if module == "pytest":
        for arg in rest:
            if not arg.startswith("-") and ("/" in arg or arg.split("::")[0].endswith(".py")):
                path = arg.split("::")[0]
                assert (ROOT / path).exists(), f"{where}: pytest path {path} does not exist"
    elif module != "venv":
        assert importlib.util.find_spec(module) is not None, f"{where}: no module {module}"


def validate_pip(args, where):
    assert args[:1] == ["install"], f"{where}: pip {args}"
    for arg in args[1:]:
        m = re.fullmatch(r"\.\[([\w,-]+)\]", arg)
        if m:
            missing = set(m[1].split(",")) - pyproject_extras()
            assert not missing, f"{where}: pip extras {missing} are not in pyproject.toml"


def validate_segment(tokens, where):
    env, argv = env_and_argv(tokens)
    prog = program(argv[0])
    if prog == "mgce-ref":
        validate_mgce_ref(argv[1:], where)
    elif re.fullmatch(r"python3?(\.\d+)?", prog):
        validate_python_cmd(argv[1:], where)
    elif prog == "pip":
        validate_pip(argv[1:], where)
    elif prog == "pytest":
        validate_python_cmd(["-m", "pytest", *argv[1:]], where)
    else:
        pytest.fail(f"{where}: the docs test does not know how to check `{prog}`")


# -------------------------------------------------------------------------------- running

def run_mgce_ref(env, args, where, tmp_path):
    if env.get("NUMBA_ENABLE_CUDASIM") and importlib.util.find_spec("numba_cuda") is None:
        pytest.skip("numba-cuda is not installed (pip install -e '.[cuda]')")
    if env:
        run = subprocess.run([sys.executable, "-m", "mgce_ref.cli", *args], cwd=tmp_path,
                             env=repo_env(env), capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{where}: exit {run.returncode}\n{(run.stdout + run.stderr)[-4000:]}"
        return
    from mgce_ref.cli import main
    status = main(args)
    assert status == 0, f"{where}: `mgce-ref {' '.join(args)}` exited {status}"


def run_segment(tokens, where, tmp_path):
    env, argv = env_and_argv(tokens)
    prog = program(argv[0])
    if prog == "mgce-ref":
        run_mgce_ref(env, argv[1:], where, tmp_path)
    elif re.fullmatch(r"python3?(\.\d+)?", prog):
        run = subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, env=repo_env(env),
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{where}: exit {run.returncode}\n{(run.stdout + run.stderr)[-4000:]}"
    else:
        pytest.fail(f"{where}: `{prog}` is not run by the docs test; mark the block "
                    "<!-- docs-test: skip (reason) -->")


def missing_optional(source):
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    for name in sorted(names):
        for opt, pkg in OPTIONAL.items():
            if name == opt or name.startswith(opt + "."):
                try:
                    found = importlib.util.find_spec(opt) is not None
                except (ImportError, ValueError):
                    found = False
                if not found:
                    return f"{opt} is not installed (pip install {pkg})"
    return None


@contextlib.contextmanager
def chdir(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_code_block(block, tmp_path):
    where = block.id
    if block.lang == "python":
        code = compile(block.body, where, "exec")  # a skipped block must still compile
        if block.marker == "skip":
            pytest.skip(f"marked docs-test: skip ({block.why}); it compiles")
        why = missing_optional(block.body)
        if why:
            pytest.skip(why)
        if block.marker == "cudasim":
            if importlib.util.find_spec("numba_cuda") is None:
                pytest.skip("numba-cuda is not installed (pip install -e '.[cuda]')")
            run = subprocess.run([sys.executable, "-c", block.body], cwd=tmp_path,
                                 env=repo_env({"NUMBA_ENABLE_CUDASIM": "1"}),
                                 capture_output=True, text=True, timeout=300)
            assert run.returncode == 0, f"{where}:\n{(run.stdout + run.stderr)[-4000:]}"
            return
        with chdir(tmp_path):
            exec(code, {"__name__": "__docs__"})
        return
    cmds = commands(block)
    assert cmds, f"{where}: a {block.lang} block with no command"
    ran = 0
    with chdir(tmp_path):
        for line, line_skip in cmds:
            for seg in split_command(line):
                if block.marker == "skip" or line_skip:
                    validate_segment(seg, where)
                else:
                    validate_segment(seg, where)
                    run_segment(seg, where, tmp_path)
                    ran += 1
    if not ran:
        pytest.skip(f"marked docs-test: skip ({block.why or 'per line'}); every command parses")


def test_every_page_has_blocks_found():
    assert any(b.page.name == "README.md" for b in BLOCKS)
    assert (ROOT / "docs").is_dir() and len(PAGES) > 1


def test_readme_set_up_is_what_ci_runs():
    """README's set-up commands are the ones .ci/run runs, in order (CI installs as README says).

    CI's extras (--quiet, pytest's -q, upgrading pip, the simulator run) are left out."""
    setup = next(b for b in BLOCKS if b.page.name == "README.md" and "pip install" in b.body)
    assert setup.marker == "skip", "the set-up block is validated here, not run"

    def norm(seg, venv):
        argv = [re.sub("^" + re.escape(venv) + "/bin/", "", a) for a in seg]
        return [a.replace(venv, "VENV") for a in argv if a not in ("--quiet", "-q")]

    said = [norm(seg, ".venv") for line, _ in commands(setup) for seg in split_command(line)]
    ci = []
    for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("#") or "$venv" not in line or line.startswith(("venv=", "rm ")):
            continue
        if "--upgrade pip" in line or "NUMBA_ENABLE_CUDASIM" in line:
            continue
        ci.extend(norm(seg, "$venv") for seg in split_command(line))
    assert said == ci, f"README says {said}, .ci/run runs {ci}"
    assert said[0] == ["python3", "-m", "venv", "VENV"]


# ---------------------------------------------------------------------------------- links

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def relative_links():
    out = []
    for page in PAGES:
        text = FENCE.sub("", page.read_text(encoding="utf-8"))
        for m in LINK.finditer(text):
            target = m[1]
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue
            out.append((page, target))
    return out


@pytest.mark.parametrize("page, target", relative_links(),
                         ids=[f"{p.relative_to(ROOT)}->{t}" for p, t in relative_links()])
def test_relative_link_resolves(page, target):
    path = (page.parent / target.split("#", 1)[0]).resolve()
    assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
    assert ROOT in path.parents or path == ROOT, f"{target} points outside the repository"


# ------------------------------------------------------------------------ timeless wording

FORBIDDEN = [r"\bthis VM\b", r"\bthis machine\b", r"in this environment", r"in this session",
             r"\bthis session\b", r"/usr/local/cuda", r"\bissue \d+", r"\bissue #\d+", r"/work/"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_wording_is_timeless(page):
    text = page.read_text(encoding="utf-8")
    for pattern in FORBIDDEN:
        m = re.search(pattern, text, re.I)
        assert not m, f"{page.relative_to(ROOT)}: {m[0]!r} (say which machine, by CPU and cores, and when)"
