"""`-` reads the source from standard input, as editors and formatters pipe it; the installed
command in a real process, with a real configuration found from --stdin-filename."""

from __future__ import annotations

import json

from clirun import BUGGY, UNCALLED, autofix, write


def test_check_from_stdin(tmp_path):
    run = autofix(tmp_path, "check", "-", "--stdin-filename", "src/train.py", "--format", "json", input=BUGGY)
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert report["files_scanned"] == 1
    assert [(f["path"], f["rule"], f["line"]) for f in report["findings"]] == [("src/train.py", "missing-zero-grad", 9)]
    plain = autofix(tmp_path, "check", "-", "--output-format", "concise", input=BUGGY)
    assert plain.stdout.startswith("-:9:5: missing-zero-grad [*] ")
    # --stdin-filename alone also reads standard input, as in Ruff
    assert autofix(tmp_path, "check", "--stdin-filename", "a.py", input="x = 1\n").returncode == 0


def test_the_stdin_filename_picks_the_configuration(tmp_path):
    write(tmp_path, {"pkg/pyproject.toml": '[tool.autofix]\nignore = ["missing-zero-grad"]\n'})
    source = BUGGY + UNCALLED
    run = autofix(tmp_path, "check", "-", "--stdin-filename", "pkg/train.py", "--format", "json", input=source)
    assert [f["rule"] for f in json.loads(run.stdout)["findings"]] == ["uncalled-method"]
    run = autofix(tmp_path, "check", "-", "--stdin-filename", "other/train.py", "--format", "json", input=source)
    assert [f["rule"] for f in json.loads(run.stdout)["findings"]] == ["missing-zero-grad", "uncalled-method"]


def test_fix_from_stdin_prints_the_fixed_source(tmp_path):
    run = autofix(tmp_path, "fix", "-", "--stdin-filename", "train.py", input=BUGGY)
    assert run.returncode == 0, run.stderr
    assert run.stdout == BUGGY.replace("    loss.backward()", "    opt.zero_grad()\n    loss.backward()")
    assert "Fixed 1 finding:\n- train.py:\n    1 × missing-zero-grad" in run.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
    # a source that cannot be parsed comes back unchanged, so a pipe never loses code
    broken = autofix(tmp_path, "fix", "-", input="x = (\n")
    assert (broken.returncode, broken.stdout) == (2, "x = (\n")
    assert "-: error: cannot parse" in broken.stderr


def test_diff_from_stdin(tmp_path):
    run = autofix(tmp_path, "diff", "-", "--stdin-filename", "train.py", input=BUGGY)
    assert run.returncode == 1
    assert run.stdout.startswith("--- a/train.py\n+++ b/train.py\n@@ ")
    assert "+    opt.zero_grad()\n" in run.stdout
    mixed = autofix(tmp_path, "check", "-", "train.py", input=BUGGY)
    assert mixed.returncode == 2 and "cannot be mixed" in mixed.stderr
