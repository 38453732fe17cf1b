"""Every fixture: the tool's output matches the expected file exactly and is stable, and the
programs behave under real torch as declared (the bug shows in the input, not in the output)."""

from __future__ import annotations

import os

import pytest

from autofix import engine, registry
from cases import load_cases

CASES = load_cases()
ALL_RULES = registry.resolve(None)


def _fix(source: bytes, rules) -> engine.LintResult:
    return engine.fix(source, rules, "fixture.py", engine.accept_by_safety(unsafe_fixes=True))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_rule_output(case):
    rule = registry.resolve([case.rule])
    source = case.input.read_bytes()
    result = _fix(source, rule)
    found = [f for f in engine.lint(source, rule).findings if f.rule == case.rule]
    assert not result.errors
    if case.expected is not None:
        assert found, "the rule reports nothing on a buggy fixture"
        assert result.new_source.decode() == case.expected.read_text(encoding="utf-8")
        again = _fix(result.new_source, rule)
        assert again.new_source == result.new_source, "fixing twice changes the output again"
        assert not [f for f in again.findings if f.rule == case.rule], "a finding survives its fix"
    elif case.report_only:
        assert found, "the rule reports nothing on a buggy fixture"
        assert all(f.fix is None for f in found), "a report-only fixture got a fix"
        assert result.new_source == source
    else:
        assert not found, f"false positive on a look-alike: {found[0].message}"
        assert result.new_source == source


def pinned_lines(findings) -> str:
    return "".join(
        f"{f.line}:{f.column} {f.rule} {f.safety.value} {f.message}\n" for f in findings
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_pinned_findings(case):
    """Every rule together reports exactly the pinned findings: position, rule, fix safety and
    message. A finding on the wrong line, a second finding for one bug or a fix whose safety
    changed fails here."""
    actual = pinned_lines(engine.lint(case.input.read_bytes(), ALL_RULES).findings)
    pinned = case.findings_file
    if os.environ.get("AUTOFIX_UPDATE_FINDINGS"):
        if actual:
            pinned.write_text(actual, encoding="utf-8")
        elif pinned.exists():
            pinned.unlink()
    expected = pinned.read_text(encoding="utf-8") if pinned.exists() else ""
    assert actual == expected
    if case.is_bug:
        assert f" {case.rule} " in expected, "a buggy fixture must pin a finding of its rule"
        if case.report_only:
            assert f" {case.rule} none " in expected


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_all_rules_together(case):
    """No rule touches another rule's fixture beyond that fixture's own expectation."""
    source = case.input.read_bytes()
    result = _fix(source, ALL_RULES)
    expected = case.expected.read_bytes() if case.expected is not None else source
    assert result.new_source.decode() == expected.decode()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_symptom_under_torch(case, executor):
    outcome = executor.run(str(case.input))
    if case.is_bug:
        assert case.shows_symptom(outcome), (
            f"the buggy input does not show its symptom ({case.kind} {case.pattern!r}): {outcome}"
        )
        if case.expected is not None:
            fixed = executor.run(str(case.expected))
            assert fixed.ok, f"the fixed program fails: {fixed.error}"
            assert not case.shows_symptom(fixed), f"the fixed program still shows the symptom: {fixed}"
    else:
        assert outcome.ok, f"a look-alike must run clean: {outcome.error}"


def test_diff_of_every_fixture_applies_with_git_apply(tmp_path):
    """One repository holding every fixture input: `autofix diff` of it applies with git apply
    and gives exactly the expected files."""
    import shutil
    import subprocess
    import sys

    from cases import FIXTURES

    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES, repo, ignore=shutil.ignore_patterns("*.fixed.py"))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    run = subprocess.run(
        [sys.executable, "-m", "autofix", "diff", "--unsafe-fixes"],
        cwd=repo, capture_output=True, text=True,
    )
    assert run.returncode == 1, run.stderr
    patch = tmp_path / "all.patch"
    patch.write_text(run.stdout)
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=repo, check=True)
    subprocess.run(["git", "apply", str(patch)], cwd=repo, check=True)
    for case in CASES:
        relative = case.input.relative_to(FIXTURES)
        want = case.expected if case.expected is not None else case.input
        assert (repo / relative).read_text() == want.read_text(), relative
