"""Configuration as Ruff users expect it, through the installed command: the nearest config
above each file, the extend-* keys, per-file-ignores, exclusions, and errors that name the file."""

from __future__ import annotations

import json

from clirun import BUGGY, UNCALLED, UNSAFE_ONLY, autofix, write


def findings(run) -> list[tuple[str, str]]:
    assert run.returncode in (0, 1), run.stderr
    return sorted((f["path"], f["rule"]) for f in json.loads(run.stdout)["findings"])


def test_each_file_uses_the_nearest_config_above_it(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": '[tool.autofix]\nignore = ["uncalled-method"]\n',
            "train.py": BUGGY + UNCALLED,
            "lib/pyproject.toml": "[project]\nname = 'lib'\n",  # no [tool.autofix]: looked past
            "lib/train.py": BUGGY + UNCALLED,
            "sub/autofix.toml": 'select = ["uncalled-method"]\n',
            "sub/deep/train.py": BUGGY + UNCALLED,
        },
    )
    expected = [
        ("lib/train.py", "missing-zero-grad"),
        ("sub/deep/train.py", "uncalled-method"),
        ("train.py", "missing-zero-grad"),
    ]
    assert findings(autofix(tmp_path, "check", "--format", "json")) == expected
    # from another directory the same files get the same configuration
    run = autofix(tmp_path / "sub", "check", "--format", "json", "deep/train.py", "../train.py")
    assert [rule for _, rule in findings(run)] == ["missing-zero-grad", "uncalled-method"]
    # --config makes one file govern everything
    run = autofix(tmp_path, "check", "--format", "json", "--config", "sub/autofix.toml")
    assert {rule for _, rule in findings(run)} == {"uncalled-method"}


def test_a_file_under_no_config_uses_the_current_directorys(tmp_path):
    write(tmp_path, {"project/pyproject.toml": '[tool.autofix]\nselect = ["uncalled-method"]\n', "elsewhere/train.py": BUGGY + UNCALLED})
    run = autofix(tmp_path / "project", "check", "--format", "json", "../elsewhere/train.py")
    assert [rule for _, rule in findings(run)] == ["uncalled-method"]


def test_config_file_without_the_table_is_an_error(tmp_path):
    write(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\n", "train.py": BUGGY})
    run = autofix(tmp_path, "check", "--config", "pyproject.toml")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "autofix: error: pyproject.toml: no [tool.autofix] table (autofix reads its options from there)"
    )


def test_extend_select_extend_ignore_and_select_given_twice(tmp_path):
    write(tmp_path, {"train.py": BUGGY + UNCALLED + UNSAFE_ONLY})
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.autofix]\nselect = ["missing-zero-grad"]\nextend-select = ["uncalled-method"]\n')
    assert {r for _, r in findings(autofix(tmp_path, "check", "--format", "json"))} == {
        "missing-zero-grad", "uncalled-method",
    }
    config.write_text('[tool.autofix]\nextend-ignore = ["missing-zero-grad", "step-without-backward"]\n')
    assert {r for _, r in findings(autofix(tmp_path, "check", "--format", "json"))} == {"uncalled-method"}
    # --select replaces the configured selection; given twice, the names add up
    run = autofix(tmp_path, "check", "--format", "json", "--select", "missing-zero-grad", "--select", "step-without-backward")
    assert {r for _, r in findings(run)} == {"missing-zero-grad", "step-without-backward"}
    run = autofix(tmp_path, "check", "--format", "json", "--extend-select", "missing-zero-grad")
    assert {r for _, r in findings(run)} == {"uncalled-method", "missing-zero-grad"}


def test_per_file_ignores_match_globs_names_and_negations(tmp_path):
    write(
        tmp_path,
        {
            "pyproject.toml": (
                "[tool.autofix.per-file-ignores]\n"
                '"tests/**/*.py" = ["ALL"]\n'
                '"scratch_*.py" = ["missing-zero-grad"]\n'
                '"!src/*" = ["uncalled-method"]\n'
            ),
            "tests/unit/test_train.py": BUGGY,
            "tests/test_top.py": BUGGY,
            "scratch_a.py": BUGGY + UNCALLED,
            "src/train.py": BUGGY + UNCALLED,
        },
    )
    assert findings(autofix(tmp_path, "check", "--format", "json")) == [
        ("src/train.py", "missing-zero-grad"),
        ("src/train.py", "uncalled-method"),
    ]


def test_exclude_and_extend_exclude(tmp_path):
    files = {"train.py": BUGGY, "vendor/lib.py": BUGGY, "gen/out.py": BUGGY, "venv/site.py": BUGGY}
    write(tmp_path, files)
    config = tmp_path / "pyproject.toml"
    # outside git the default exclusions (venv, build, ...) apply; extend-exclude adds to them
    config.write_text('[tool.autofix]\nextend-exclude = ["vendor"]\n')
    assert [p for p, _ in findings(autofix(tmp_path, "check", "--format", "json"))] == ["gen/out.py", "train.py"]
    # exclude replaces them, as in Ruff
    config.write_text('[tool.autofix]\nexclude = ["vendor"]\n')
    assert [p for p, _ in findings(autofix(tmp_path, "check", "--format", "json"))] == [
        "gen/out.py", "train.py", "venv/site.py",
    ]
    # --exclude replaces the configured exclude, --extend-exclude adds
    run = autofix(tmp_path, "check", "--format", "json", "--exclude", "gen", "--extend-exclude", "venv")
    assert [p for p, _ in findings(run)] == ["train.py", "vendor/lib.py"]


def test_unsafe_fixes_key(tmp_path):
    write(tmp_path, {"train.py": UNSAFE_ONLY, "pyproject.toml": "[tool.autofix]\nunsafe-fixes = true\n"})
    run = autofix(tmp_path, "fix")
    assert run.returncode == 0, run.stdout
    assert "loss.backward()" in (tmp_path / "train.py").read_text()


def test_unknown_rule_names_suggest_the_closest_and_name_the_file(tmp_path):
    write(tmp_path, {"train.py": BUGGY})
    run = autofix(tmp_path, "check", "--select", "missing-zero-grad,missing-zerograd")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "autofix: error: unknown rule 'missing-zerograd' (did you mean 'missing-zero-grad'?); "
        "`autofix rules` lists them"
    )
    write(tmp_path, {"sub/autofix.toml": '[per-file-ignores]\n"*.py" = ["uncalled-methods"]\n', "sub/a.py": BUGGY})
    run = autofix(tmp_path, "check")
    assert run.returncode == 2
    assert run.stderr.strip() == (
        "autofix: error: sub/autofix.toml: per-file-ignores '*.py': unknown rule 'uncalled-methods' "
        "(did you mean 'uncalled-method'?); `autofix rules` lists them"
    )
    (tmp_path / "sub" / "autofix.toml").write_text('selekt = ["x"]\n')
    run = autofix(tmp_path, "check")
    assert run.returncode == 2 and "sub/autofix.toml: unknown option(s) in the file: selekt" in run.stderr
