"""Jupyter notebooks: one fixture per rule family (tests/notebooks/<family>.ipynb, the expected
`<family>.fixed.ipynb`, the pinned `<family>.findings`), executed under real torch; IPython syntax;
byte-for-byte preservation of everything a fix does not change; the command line on notebooks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from autofix import engine, notebook, registry
from autofix.rule import Finding
from autofix.sources import SourceError
from cases import Case, read_symptom

NOTEBOOKS = Path(__file__).resolve().parent / "notebooks"
FAMILIES = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb") if not p.name.endswith(".fixed.ipynb"))
ALL_RULES = registry.resolve(None)
ACCEPT_ALL = engine.accept_by_safety(unsafe_fixes=True)


def _fix(data: bytes) -> engine.LintResult:
    return notebook.fix(data, ALL_RULES, "nb.ipynb", ACCEPT_ALL)


def _pinned(findings) -> str:
    return "".join(
        f"cell {f.cell}:{f.line}:{f.column} {f.rule} {f.safety.value} {f.message}\n" for f in findings
    )


def _without_sources(text: str, indexes) -> str:
    """The notebook's JSON text with the source values of the given cells cut out."""
    cells = notebook.Notebook(text).cells
    spans = sorted(cells[i].span for i in indexes)
    kept, position = [], 0
    for start, end in spans:
        kept.append(text[position:start])
        position = end
    return "".join(kept) + text[position:]


def test_every_rule_family_has_a_notebook():
    families = {
        "optimizer_steps", "graph_cuts", "in_place", "registration", "graph_lifetime",
        "modes_and_hooks", "schedules",
    }
    assert set(FAMILIES) == families


@pytest.mark.parametrize("family", FAMILIES)
def test_notebook_is_fixed_exactly_and_only_its_changed_cells(family):
    source = (NOTEBOOKS / f"{family}.ipynb").read_bytes()
    expected = (NOTEBOOKS / f"{family}.fixed.ipynb").read_bytes()
    result = _fix(source)
    assert not result.errors
    assert result.fixed, "the notebook's bug is not fixed"
    assert result.new_source == expected
    assert _fix(result.new_source).new_source == result.new_source, "fixing twice changes it again"
    assert not notebook.lint(result.new_source, ALL_RULES).findings

    fixed = nbformat.reads(expected.decode(), as_version=4)
    nbformat.validate(fixed)  # the fixed notebook still opens
    old_text, new_text = source.decode(), expected.decode()
    old_cells, new_cells = notebook.Notebook(old_text).cells, notebook.Notebook(new_text).cells
    changed = [a.index for a, b in zip(old_cells, new_cells) if a.source != b.source]
    assert changed and all(old_cells[i].kind == "code" for i in changed)
    # outputs, metadata, ids, execution counts, indentation: every byte but the changed sources
    assert _without_sources(old_text, changed) == _without_sources(new_text, changed)


@pytest.mark.parametrize("family", FAMILIES)
def test_notebook_findings_are_pinned(family):
    actual = _pinned(notebook.lint((NOTEBOOKS / f"{family}.ipynb").read_bytes(), ALL_RULES).findings)
    pinned = NOTEBOOKS / f"{family}.findings"
    if os.environ.get("AUTOFIX_UPDATE_FINDINGS"):
        pinned.write_text(actual, encoding="utf-8")
    assert actual == pinned.read_text(encoding="utf-8")


@pytest.mark.parametrize("family", FAMILIES)
def test_notebook_shows_its_symptom_under_torch_and_the_fixed_one_does_not(family, executor, tmp_path):
    """Each notebook's code cells, run as one program (magics become `pass`), show the symptom
    declared on the first line; the fixed notebook's do not."""
    outcomes = []
    for name in (f"{family}.ipynb", f"{family}.fixed.ipynb"):
        nb = notebook.Notebook((NOTEBOOKS / name).read_text(encoding="utf-8"))
        script = tmp_path / name.replace(".ipynb", ".py")
        script.write_text(nb.joined().code, encoding="utf-8")
        outcomes.append(executor.run(str(script)))
    path = NOTEBOOKS / f"{family}.ipynb"
    kind, pattern = read_symptom(path, notebook.Notebook(path.read_text()).cells[0].source)
    case = Case(family, path, None, kind, pattern, False)
    buggy, fixed = outcomes
    assert case.shows_symptom(buggy), buggy
    assert fixed.ok, fixed.error
    assert not case.shows_symptom(fixed), fixed


def _cells_notebook(*sources: str, **metadata) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(metadata)
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nbformat.writes(nb)


LOOP = "for step in range(3):\n    loss = model(x).sum()\n    loss.backward()\n    opt.step()"
SETUP = "import torch\nmodel = torch.nn.Linear(2, 1)\nopt = torch.optim.SGD(model.parameters(), lr=0.1)\nx = torch.randn(4, 2)"


def test_a_loop_sees_the_optimizer_of_an_earlier_cell_and_messages_name_cells():
    text = _cells_notebook(SETUP, "print('between')", LOOP)
    [finding] = notebook.lint(text.encode(), registry.resolve(["missing-zero-grad"])).findings
    assert (finding.cell, finding.line, finding.column) == (3, 4, 5)
    assert "loop at line 1 " in finding.message  # the loop's line inside cell 3, not the module's


def test_a_line_in_another_cell_is_named_with_its_cell():
    joined = notebook.Notebook(_cells_notebook(SETUP, LOOP)).joined()
    lines = joined.code.split("\n")
    first, second = (lines.index(f"# autofix-notebook-cell {i}") + 2 for i in (0, 1))
    finding = Finding("rule", "nb.ipynb", second + 2, 1, second + 2, 5, f"see line {first + 1} and line {second}")
    moved = joined.to_cells(finding)
    assert (moved.cell, moved.line, moved.end_line) == (2, 3, 3)
    assert moved.message == "see line 2 of cell 1 and line 1"


MAGICS = textwrap.dedent(
    """\
    %load_ext autoreload
    %autoreload 2
    !pip install -q torch \\
        numpy
    files = !ls
    pip install einops
    model?
    ??model
    import torch
    text = '''
    !this is a string, not a shell escape
    %neither is this
    '''
    value = (1
      % 2)
    for step in range(3):
        %time loss = model(x).sum()
        loss.backward()
        opt.step()"""
)


def test_magics_and_shell_escapes_never_break_parsing_and_stay_verbatim():
    text = _cells_notebook(SETUP, MAGICS, "%%bash\necho $HOME\nfor x in 1 2; do echo $x; done", "%%capture\n" + LOOP)
    data = text.encode()
    findings = notebook.lint(data, registry.resolve(["missing-zero-grad"])).findings
    assert [(f.cell, f.line) for f in findings] == [(2, 19), (4, 5)]
    result = notebook.fix(data, ALL_RULES, "nb.ipynb", ACCEPT_ALL)
    assert not result.errors
    after = notebook.Notebook(result.new_source.decode()).cells
    assert after[2].source == "%%bash\necho $HOME\nfor x in 1 2; do echo $x; done"
    for line in MAGICS.splitlines():
        assert line in after[1].source.splitlines()
    assert "        opt.zero_grad()" not in after[1].source  # the fix sits where the loop is
    assert "    opt.zero_grad()" in after[1].source and "    opt.zero_grad()" in after[3].source
    assert after[3].source.startswith("%%capture\n")
    nbformat.validate(nbformat.reads(result.new_source.decode(), as_version=4))


@pytest.mark.parametrize(
    "style",
    ["nbformat", "indent2", "compact", "crlf", "string_sources", "ascii_escaped", "bom"],
)
def test_a_fix_keeps_the_notebooks_own_json_style(style):
    nb = json.loads(_cells_notebook("# héllo\n" + SETUP, "", LOOP))
    nb["cells"][1]["source"] = []
    if style == "string_sources":
        for cell in nb["cells"]:
            cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    dumps = {
        "nbformat": lambda d: json.dumps(d, indent=1, ensure_ascii=False) + "\n",
        "indent2": lambda d: json.dumps(d, indent=2, ensure_ascii=False),
        "compact": lambda d: json.dumps(d, separators=(",", ":"), ensure_ascii=False),
        "crlf": lambda d: json.dumps(d, indent=1, ensure_ascii=False).replace("\n", "\r\n"),
        "string_sources": lambda d: json.dumps(d, indent=1, ensure_ascii=False),
        "ascii_escaped": lambda d: json.dumps(d, indent=1, ensure_ascii=True),
        "bom": lambda d: "\ufeff" + json.dumps(d, indent=1, ensure_ascii=False),
    }[style]
    text = dumps(nb)
    result = notebook.fix(text.encode("utf-8"), ALL_RULES, "nb.ipynb", ACCEPT_ALL)
    new_text = result.new_source.decode("utf-8")
    assert new_text != text
    expected = json.loads(text.lstrip("\ufeff"))
    source = expected["cells"][2]["source"]
    lines = "".join(source).splitlines(keepends=True)
    lines.insert(2, "    opt.zero_grad()\n")  # before the backward
    expected["cells"][2]["source"] = "".join(lines) if isinstance(source, str) else lines
    assert new_text == dumps(expected)  # exactly what the same writer writes for the fixed cell
    assert json.loads(new_text.lstrip("\ufeff"))["cells"][0] == nb["cells"][0]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{not json", "invalid JSON"),
        ('{"worksheets": []}', "no list of cells"),
        ('{"cells": [{"cell_type": "code"}]}', "cell 1 has no source"),
        (_cells_notebook("x = 1", kernelspec={"name": "ir", "language": "R"}), "a r notebook"),
        (_cells_notebook("x = 1", "def f(:\n    pass"), "cannot parse cell 2: "),
    ],
)
def test_a_notebook_that_cannot_be_analysed_is_an_error(text, reason):
    with pytest.raises(SourceError, match=reason):
        notebook.lint(text.encode(), ALL_RULES)


def test_suppression_comments_work_in_cells():
    text = _cells_notebook(SETUP, LOOP.replace("opt.step()", "opt.step()  # autofix: ignore[missing-zero-grad]"))
    assert notebook.lint(text.encode(), ALL_RULES).findings == []


def test_a_fix_that_would_move_code_across_cells_leaves_the_notebook_alone():
    joined = notebook.Notebook(_cells_notebook("x = 1", "y = 2")).joined()
    with pytest.raises(ValueError, match="across notebook cells"):
        joined.split(joined.code.replace("# autofix-notebook-cell 1\n", ""))


# --- the command line (issue 13: a notebook is never reported clean without being checked) ---


def _run(cwd, *args):
    return subprocess.run(
        [sys.executable, "-m", "autofix", *args], cwd=cwd, capture_output=True, text=True
    )


def _buggy_notebook() -> str:
    return _cells_notebook(SETUP, LOOP)


@pytest.mark.parametrize("in_git", [True, False])
def test_check_finds_notebooks_in_folders_and_by_path(tmp_path, in_git):
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "train.ipynb").write_text(_buggy_notebook())
    if in_git:
        subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    for args in ([], ["nbs"], ["nbs/train.ipynb"]):
        run = _run(tmp_path, "check", *args)
        assert run.returncode == 1, run.stdout + run.stderr
        assert "nbs/train.ipynb:cell 2:4:5: missing-zero-grad" in run.stdout
        assert "All checks passed" not in run.stdout


def test_json_output_names_the_cell(tmp_path):
    (tmp_path / "train.ipynb").write_text(_buggy_notebook())
    report = json.loads(_run(tmp_path, "check", "--format", "json", "train.ipynb").stdout)
    [finding] = report["findings"]
    assert (finding["path"], finding["cell"], finding["line"], finding["column"]) == ("train.ipynb", 2, 4, 5)


def test_diff_is_per_cell_and_fix_rewrites_the_notebook(tmp_path):
    path = tmp_path / "train.ipynb"
    path.write_text(_buggy_notebook())
    diff = _run(tmp_path, "diff", "train.ipynb")
    assert diff.returncode == 1
    assert diff.stdout.startswith("--- a/train.ipynb:cell 2\n+++ b/train.ipynb:cell 2\n@@ ")
    assert "+    opt.zero_grad()\n" in diff.stdout
    fixed = _run(tmp_path, "fix", "train.ipynb")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    nbformat.validate(nbformat.read(path, as_version=4))
    assert _run(tmp_path, "check", "train.ipynb").returncode == 0


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not a valid notebook: invalid JSON"),
        (_cells_notebook("def f(:\n    pass"), "cannot parse cell 1"),
    ],
)
def test_a_notebook_that_cannot_be_analysed_exits_2(tmp_path, content, message):
    (tmp_path / "broken.ipynb").write_text(content)
    (tmp_path / "ok.py").write_text("x = 1\n")
    run = _run(tmp_path, "check")
    assert run.returncode == 2
    assert f"broken.ipynb: error: {message}" in run.stderr
    assert "All checks passed" not in run.stdout


def test_hunk_by_hunk_a_notebook_is_reviewed_cell_by_cell(tmp_path):
    """`autofix fix -i` on a notebook in a real terminal: per-cell hunks, the accepted fix
    written into its cell only."""
    import pexpect

    path = tmp_path / "train.ipynb"
    path.write_text(_cells_notebook(SETUP, LOOP, "model.train\n" + LOOP.replace("range(3)", "range(2)")))
    child = pexpect.spawn(
        sys.executable, ["-m", "autofix", "fix", "-i", "train.ipynb"], cwd=str(tmp_path),
        encoding="utf-8", timeout=60, env={**os.environ, "PAGER": "cat", "TERM": "xterm"},
    )
    prompt = r"Apply this fix \[y,n,a,d,q,e,\?\]\? "
    seen = []
    for key in ("y", "n", "n"):
        child.expect(prompt)
        seen.append(re.sub(r"\x1b\[[0-9;]*m", "", child.before))
        child.send(key)
    child.expect(pexpect.EOF)
    child.close()
    assert "missing-zero-grad · safe · train.ipynb:cell 2:4" in seen[0]
    assert "--- a/train.ipynb:cell 2" in seen[0] and "+    opt.zero_grad()" in seen[0]
    assert "train.ipynb:cell 3:" in seen[1]
    cells = notebook.Notebook(path.read_text()).cells
    assert "opt.zero_grad()" in cells[1].source and "opt.zero_grad()" not in cells[2].source
    assert cells[2].source.startswith("model.train\n")
    nbformat.validate(nbformat.read(path, as_version=4))
    assert child.exitstatus == 1  # the declined findings remain


def test_proposals_track_cells_as_fixes_are_accepted():
    text = _cells_notebook(SETUP, LOOP, LOOP)
    session = notebook.proposals(text.encode(), ALL_RULES, "nb.ipynb")
    first = next(session)
    assert (first.finding.cell, first.finding.line) == (2, 4)
    second = session.send(True)  # the accepted fix inserts a line in cell 2, not cell 3
    assert (second.finding.cell, second.finding.line) == (3, 4)
    assert notebook.cell_diff("nb.ipynb", second.source.decode(), second.new_source.decode()).startswith(
        "--- a/nb.ipynb:cell 3\n"
    )
    with pytest.raises(StopIteration) as done:
        session.send(True)
    result = done.value.value
    assert [c.source.count("opt.zero_grad()") for c in notebook.Notebook(result.new_source.decode()).cells] == [0, 1, 1]
    assert result.findings == [] and len(result.fixed) == 2


def test_findings_left_after_a_fix_are_located_in_the_fixed_notebook():
    text = _cells_notebook(SETUP, LOOP, "model.train\n" + LOOP)
    result = notebook.fix(text.encode(), registry.resolve(["missing-zero-grad", "uncalled-method"]), "nb.ipynb",
                          lambda f: f.rule == "missing-zero-grad")
    [left] = result.findings
    assert (left.rule, left.cell, left.line) == ("uncalled-method", 3, 1)


@pytest.mark.parametrize(
    "output_format, expected",
    [
        ("concise", "train.ipynb:cell 2:4:5: missing-zero-grad [*] "),
        ("grouped", "  cell 2:4:5 missing-zero-grad [*] "),
        ("text", "4 |     opt.step()\n  |     ^^^^^^^^^^\n"),
    ],
)
def test_every_text_format_locates_the_cell(tmp_path, output_format, expected):
    (tmp_path / "train.ipynb").write_text(_buggy_notebook())
    run = _run(tmp_path, "check", "--output-format", output_format, "train.ipynb")
    assert expected in run.stdout, run.stdout
