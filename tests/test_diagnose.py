"""`autofix diagnose` as users run it: on the real tracebacks and warnings of torch 2.13 (from the
knowledge base's trigger programs), on pastes from notebooks, on symptoms, on unknown errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from autofix.cli import main
from autofix.diagnose import knowledge
from knowledge_programs import load_programs

TRIGGERS = [p for p in load_programs() if p.is_trigger]
REPO = Path(__file__).resolve().parent.parent


def diagnose(*args, input=None, cwd=REPO):
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["diagnose", *args], input=input, catch_exceptions=False)
    finally:
        os.chdir(previous)


def _pasted(program, executor) -> tuple[str, list[str]]:
    """What the user gives diagnose for a trigger: its stderr, or for a silent symptom the
    user's own words and the training script."""
    outcome = executor.run(str(program.path))
    if program.report is not None:
        return program.report, ["--source", str(program.path)]
    assert outcome.stderr, outcome
    return outcome.stderr, []


@pytest.mark.parametrize("program", TRIGGERS, ids=lambda p: p.id)
def test_diagnose_names_the_entry_and_the_finding_on_the_raising_line(program, executor):
    text, extra = _pasted(program, executor)
    result = diagnose("--format", "json", *extra, input=text)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    first = report["diagnoses"][0]
    assert first["id"] == program.entry
    shown = os.path.relpath(program.path, REPO)
    for rule, line in program.markers:
        nearest = next(f for f in first["findings"] if f["rule"] == rule)
        assert (nearest["path"], nearest["line"]) == (shown, line)
        assert first["findings"][0] is nearest or first["findings"][0]["line"] == line
        if nearest["fixable"]:
            assert nearest["diff"].startswith(f"--- a/{shown}\n+++ b/{shown}\n@@ ")
    if program.markers and program.report is None:
        assert shown in report["analysed"]


@pytest.mark.parametrize(
    "program", [p for p in TRIGGERS if p.markers and p.report is None][:3], ids=lambda p: p.id
)
def test_text_report_reads_as_a_diagnosis(program, executor):
    text, _ = _pasted(program, executor)
    result = diagnose(input=text)
    entry = knowledge.get(program.entry)
    out = result.output
    assert out.startswith(f"{entry.id}: {entry.title}\n")
    for heading in ("Root cause", "Dead ends", "What works", "In your code"):
        assert f"\n{heading}" in out
    assert entry.dead_ends[0].attempt in out.replace("\n    ", " ")
    rule, line = program.markers[0]
    assert f"{os.path.relpath(program.path, REPO)}:{line}:" in out
    assert f"autofix fix --select {','.join(entry.rules)}" in out or "no automatic fix" in out


def test_the_readme_workflow_a_real_training_script_piped_into_diagnose(tmp_path):
    """`python train.py 2>&1 | autofix diagnose`, in a shell, with real torch (one subprocess)."""
    (tmp_path / "train.py").write_text(
        (REPO / "tests/knowledge/backward-through-graph-twice/trigger.py").read_text()
    )
    run = subprocess.run(
        f"{sys.executable} train.py 2>&1 | {sys.executable} -m autofix diagnose",
        shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("backward-through-graph-twice: ")
    assert "train.py:9:14: hidden-state-not-detached (3 lines from the traceback; safe fix)" in run.stdout
    assert "+    hidden = hidden.detach()" in run.stdout
    assert "`loss.backward(retain_graph=True)`" in run.stdout


def test_an_unknown_error_says_so_and_lists_the_closest_entries():
    text = "Traceback (most recent call last):\n  File \"x.py\", line 3\nRuntimeError: one of the variables needed for gradient computation was changed in place\n"
    result = diagnose(input=text)
    assert result.exit_code == 1
    assert result.output.startswith("Unknown error: no entry of the knowledge base matches\n")
    assert "one of the variables needed for gradient computation was changed in place" in result.output
    closest = [line.split()[0] for line in result.output.split("Closest entries:\n")[1].splitlines()[:3]]
    assert closest[0] == "saved-tensor-modified-inplace" and len(closest) == 3
    report = json.loads(diagnose("--format", "json", input=text).output)
    assert report["known"] is False and report["diagnoses"] == []
    assert report["closest"][0]["id"] == "saved-tensor-modified-inplace"
    assert 0 < report["closest"][0]["similarity"] <= 1


@pytest.mark.parametrize("text", ["", "  \n\n"])
def test_empty_input_is_a_usage_error(text):
    result = diagnose(input=text)
    assert result.exit_code == 2
    assert "nothing to diagnose" in result.output


def test_an_error_in_a_file(tmp_path):
    (tmp_path / "error.txt").write_text("ValueError: optimizer got an empty parameter list\n")
    result = diagnose("error.txt", cwd=tmp_path)
    assert result.exit_code == 0 and result.output.startswith("empty-parameter-list: ")
    assert "The text names no local file. Run `autofix check --select tensor-not-parameter,module-list-not-registered PATH`" in " ".join(result.output.split())
    assert diagnose("missing.txt", cwd=tmp_path).exit_code == 2


def test_an_entry_without_a_rule_says_so():
    result = diagnose(input="RuntimeError: grad can be implicitly created only for scalar outputs\n")
    assert "No autofix rule catches this one" in result.output


BUGGY = textwrap.dedent(
    """\
    import torch
    from torch import nn

    rnn = nn.RNNCell(4, 8)
    opt = torch.optim.SGD(rnn.parameters(), lr=0.1)
    hidden = torch.zeros(2, 8)
    for step in range(3):
        hidden = rnn(torch.randn(2, 4), hidden)
        loss = hidden.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    """
)
MESSAGE = knowledge.get("backward-through-graph-twice").messages[0].text


def test_a_traceback_from_another_machine_finds_the_local_file(tmp_path):
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "train.py").write_text(BUGGY)
    text = f'Traceback (most recent call last):\n  File "/home/someone/work/project/train.py", line 11, in <module>\n    loss.backward()\nRuntimeError: {MESSAGE}\n'
    report = json.loads(diagnose("--format", "json", input=text, cwd=tmp_path).output)
    assert report["locations"] == [{"path": "project/train.py", "line": 11}]
    [finding] = report["diagnoses"][0]["findings"]
    assert (finding["path"], finding["line"], finding["lines_from_traceback"]) == ("project/train.py", 8, 3)


def test_library_frames_are_not_analysed(tmp_path):
    (tmp_path / "train.py").write_text(BUGGY)
    library = tmp_path / "env/lib/python3.11/site-packages/torch/_tensor.py"
    library.parent.mkdir(parents=True)
    library.write_text(BUGGY)  # exists locally, and is still not the user's code
    text = f'  File "{tmp_path / "train.py"}", line 11, in <module>\n  File "{library}", line 581, in backward\nRuntimeError: {MESSAGE}\n'
    report = json.loads(diagnose("--format", "json", input=text, cwd=tmp_path).output)
    assert report["analysed"] == ["train.py"]


def _notebook_with_error(tmp_path) -> Path:
    """A saved notebook whose cell In [3] raised, with the traceback IPython 8 stores."""
    nb = nbformat.v4.new_notebook()
    cells = BUGGY.split("rnn = ")
    nb.cells = [
        nbformat.v4.new_markdown_cell("# RNN"),
        nbformat.v4.new_code_cell(cells[0].strip(), execution_count=1),
        nbformat.v4.new_code_cell(("rnn = " + cells[1]).split("for step")[0].strip(), execution_count=2),
        nbformat.v4.new_code_cell("for step" + BUGGY.split("for step")[1].rstrip(), execution_count=3),
    ]
    nb.cells[3].outputs = [
        nbformat.v4.new_output(
            "error",
            ename="RuntimeError",
            evalue=MESSAGE,
            traceback=[
                "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
                "\x1b[0;31mRuntimeError\x1b[0m                              Traceback (most recent call last)",
                "Cell \x1b[0;32mIn[3], line 5\x1b[0m\n\x1b[1;32m      3\x1b[0m     loss \x1b[38;5;241m=\x1b[39m hidden\x1b[38;5;241m.\x1b[39mpow(\x1b[38;5;241m2\x1b[39m)\x1b[38;5;241m.\x1b[39mmean()\n\x1b[1;32m      4\x1b[0m     opt\x1b[38;5;241m.\x1b[39mzero_grad()\n\x1b[0;32m----> 5\x1b[0m     \x1b[43mloss\x1b[49m\x1b[38;5;241;43m.\x1b[39;49m\x1b[43mbackward\x1b[49m\x1b[43m(\x1b[49m\x1b[43m)\x1b[49m\n",
                f"\x1b[0;31mRuntimeError\x1b[0m: {MESSAGE}",
            ],
        )
    ]
    path = tmp_path / "rnn.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_saved_notebook_is_read_for_its_errors_and_its_cells_analysed(tmp_path):
    _notebook_with_error(tmp_path)
    result = diagnose("--format", "json", "rnn.ipynb", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["locations"] == [{"path": "rnn.ipynb", "line": 5, "cell": 4}]
    [finding] = report["diagnoses"][0]["findings"]
    assert (finding["path"], finding["cell"], finding["line"]) == ("rnn.ipynb", 4, 2)
    assert finding["lines_from_traceback"] == 3
    assert finding["diff"].startswith("--- a/rnn.ipynb:cell 4\n+++ b/rnn.ipynb:cell 4\n")
    text = diagnose("rnn.ipynb", cwd=tmp_path).output
    assert "rnn.ipynb:cell 4:2:14: hidden-state-not-detached" in text


def test_a_pasted_notebook_traceback_is_mapped_to_the_notebook_given_with_source(tmp_path):
    path = _notebook_with_error(tmp_path)
    paste = "\n".join(nbformat.read(path, as_version=4).cells[3].outputs[0]["traceback"])
    report = json.loads(diagnose("--format", "json", "--source", "rnn.ipynb", input=paste, cwd=tmp_path).output)
    assert report["diagnoses"][0]["findings"][0]["cell"] == 4


def test_a_file_the_rules_cannot_parse_is_reported_and_the_diagnosis_still_given(tmp_path):
    (tmp_path / "train.py").write_text("def broken(:\n")
    text = f'  File "train.py", line 1, in <module>\nRuntimeError: {MESSAGE}\n'
    result = diagnose(input=text, cwd=tmp_path)
    assert result.exit_code == 0
    assert "train.py: error: cannot parse" in result.output
    assert result.output.count("backward-through-graph-twice: ") == 1


def test_help_teaches_the_pipeline():
    result = CliRunner().invoke(main, ["diagnose", "--help"])
    assert "python train.py 2>&1 | autofix diagnose" in result.output
    assert "Exit status: 0 the error is known, 1 it is not" in " ".join(result.output.split())


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Input In [3], in <cell line: 1>()\n----> 1 foo()\n", [("", 1, 3)]),
        (
            "c:\\Users\\me\\exp\\CWRU-L2R.ipynb Cell 21 in <cell line: 5>()\n"
            "     [14](vscode-notebook-cell:/c%3A/Users/me/exp/CWRU-L2R.ipynb#X31sZmlsZQ%3D%3D?line=13) x = 1\n"
            "---> [18](vscode-notebook-cell:/c%3A/Users/me/exp/CWRU-L2R.ipynb#X31sZmlsZQ%3D%3D?line=17)     accuracy = train_lre()\n",
            [("c:\\Users\\me\\exp\\CWRU-L2R.ipynb", 18, 21)],
        ),
        ("/tmp/run/train.py:8: UserWarning: Detected call\n  scheduler.step()\n", [("/tmp/run/train.py", 8, None)]),
        ("epoch 3: loss in range(4) is fine\nsaving model in checkpoint(1)\n", []),
    ],
)
def test_frames_in_every_pasted_form(text, expected):
    from autofix.diagnose.frames import frames

    assert [(f.path, f.line, f.cell) for f in frames(text)] == expected
