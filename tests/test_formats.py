"""`check --format sarif` (validated against the OASIS SARIF 2.1.0 schema) and `--format github`
(workflow commands as @actions/core writes them)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from autofix import registry
from autofix.annotations import github_annotations
from autofix.rule import Finding, Rule, Safety
from autofix.sarif import documentation_uri, sarif_report
from test_cli import BUGGY, CLEAN, invoke, make_repo

SARIF_SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())
UNCALLED = "import torch\n\nmodel = torch.nn.Linear(2, 2)\nmodel.eval"  # no newline at the end


def validate(log: dict) -> None:
    jsonschema.Draft7Validator(SARIF_SCHEMA, format_checker=jsonschema.FormatChecker()).validate(log)


def apply_replacement(text: str, replacement: dict) -> str:
    """What a SARIF consumer does with a fix: delete the region, insert the content."""
    lines = text.splitlines(keepends=True)

    def offset(line: int, column: int) -> int:
        return sum(len(l) for l in lines[: line - 1]) + column - 1

    region = replacement["deletedRegion"]
    start = offset(region["startLine"], region["startColumn"])
    end = offset(region["endLine"], region["endColumn"])
    return text[:start] + replacement["insertedContent"]["text"] + text[end:]


@pytest.fixture
def repo(tmp_path):
    return make_repo(
        tmp_path / "repo",
        {"train.py": BUGGY, "eval.py": UNCALLED, "broken.py": "def broken(:\n", "lib/ok.py": CLEAN},
    )


def test_sarif_validates_and_carries_rules_results_and_fixes(repo):
    result = invoke(repo, "check", "--format", "sarif")
    assert result.exit_code == 2  # broken.py could not be parsed
    log = json.loads(result.stdout)
    validate(log)
    [run] = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(registry.available())
    zero_grad = registry.get("missing-zero-grad")
    descriptor = rules[[r["id"] for r in rules].index("missing-zero-grad")]
    assert descriptor["shortDescription"]["text"] == zero_grad.summary
    assert descriptor["fullDescription"]["text"] == zero_grad.why()
    assert descriptor["help"]["text"] == zero_grad.docs
    assert descriptor["properties"]["fixSafety"] == "safe"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert set(by_rule) == {"missing-zero-grad", "uncalled-method"}
    found = by_rule["missing-zero-grad"]
    assert rules[found["ruleIndex"]]["id"] == "missing-zero-grad"
    [location] = found["locations"]
    assert location["physicalLocation"]["artifactLocation"] == {"uri": "train.py", "uriBaseId": "%SRCROOT%"}
    assert location["physicalLocation"]["region"] == {"startLine": 9, "startColumn": 5, "endLine": 9, "endColumn": 15}
    for name, path in (("missing-zero-grad", "train.py"), ("uncalled-method", "eval.py")):
        [fix] = by_rule[name]["fixes"]
        [change] = fix["artifactChanges"]
        assert change["artifactLocation"]["uri"] == path
        [replacement] = change["replacements"]
        original = (repo / path).read_text()
        assert invoke(repo, "fix", path).exit_code == 0
        assert apply_replacement(original, replacement) == (repo / path).read_text()
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is False
    [notification] = invocation["toolExecutionNotifications"]
    assert notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.py"
    assert "cannot parse" in notification["message"]["text"]


def test_sarif_of_a_clean_run_and_of_report_only_findings(tmp_path):
    clean = make_repo(tmp_path / "clean", {"ok.py": CLEAN})
    result = invoke(clean, "check", "--format", "sarif")
    assert result.exit_code == 0
    log = json.loads(result.stdout)
    validate(log)
    assert log["runs"][0]["results"] == []
    assert log["runs"][0]["invocations"][0]["executionSuccessful"] is True
    report_only = Finding("missing-zero-grad", "train.py", 9, 5, 9, 15, "a message", Safety.NONE)
    log = json.loads(sarif_report([report_only], [], {"train.py": BUGGY.encode()}))
    validate(log)
    assert "fixes" not in log["runs"][0]["results"][0]


def test_help_uri_comes_from_the_packs_documentation_url():
    zero_grad = registry.get("missing-zero-grad")
    log = json.loads(sarif_report([], [], {}, [zero_grad], help_uri=lambda cls: f"https://docs.example.org/rules#{cls.name}"))
    validate(log)
    [descriptor] = log["runs"][0]["tool"]["driver"]["rules"]
    assert descriptor["helpUri"] == "https://docs.example.org/rules#missing-zero-grad"

    class PackRule(Rule):  # a rule shipped by a distribution that declares its documentation
        name = "pack-rule"
        summary = docs = "x"

        def check(self, ctx):
            return []

    PackRule.__module__ = "jsonschema.pack"
    assert documentation_uri(PackRule).endswith("#pack-rule")
    assert documentation_uri(PackRule).startswith("https://")
    assert documentation_uri(zero_grad) is None  # autofix declares no documentation URL yet


def test_github_annotations(repo):
    result = invoke(repo, "check", "--format", "github")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "::error title=autofix (uncalled-method),file=eval.py,line=4,col=1,endLine=4,endColumn=11"
        "::eval.py:4:1: uncalled-method `model.eval` is never called: add `()` to run it"
    )
    assert lines[1].startswith(
        "::error title=autofix (missing-zero-grad),file=train.py,line=9,col=5,endLine=9,endColumn=15"
        "::train.py:9:5: missing-zero-grad `opt.zero_grad()` is never called"
    )
    assert lines[2].startswith("::error title=autofix (error),file=broken.py::broken.py: error: cannot parse")
    assert len(lines) == 3


def test_github_annotations_escape_like_actions_core():
    finding = Finding("r", "a,b:c.py", 1, 1, 1, 2, "100% sure\nreally", Safety.NONE)
    assert github_annotations([finding], []) == (
        "::error title=autofix (r),file=a%2Cb%3Ac.py,line=1,col=1,endLine=1,endColumn=2"
        "::a,b:c.py:1:1: r 100%25 sure%0Areally\n"
    )
