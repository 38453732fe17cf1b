"""The error knowledge base: well-formed, covering the errors the issue lists, every message and
claim checked against real torch 2.13, every historical wording recognised."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from autofix import registry
from autofix.diagnose import knowledge
from autofix.diagnose.frames import frames
from knowledge_programs import KNOWLEDGE, load_programs

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENTRIES = knowledge.entries()
PROGRAMS = load_programs()
TRIGGERS = [p for p in PROGRAMS if p.is_trigger]
HISTORICAL = tomllib.loads((KNOWLEDGE / "historical.toml").read_text(encoding="utf-8"))["paste"]
REQUIRED = {
    "element-does-not-require-grad", "saved-tensor-modified-inplace", "leaf-modified-inplace",
    "backward-through-graph-twice", "empty-parameter-list", "optimize-non-leaf-tensor",
    "assign-tensor-as-parameter", "numpy-on-tensor-requiring-grad", "grad-of-non-scalar-output",
    "scheduler-step-before-optimizer-step", "non-leaf-grad-accessed",
    "inference-tensor-saved-for-backward", "optimizer-step-changes-nothing",
    "parameters-not-registered",
}


def test_the_knowledge_base_covers_the_errors_of_the_issue():
    assert REQUIRED <= {e.id for e in ENTRIES}
    assert {e.kind for e in ENTRIES} == {"error", "warning", "silent"}


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_entry_is_complete_and_names_real_rules(entry):
    assert entry.root_cause and entry.docs.startswith("https://") and entry.versions
    assert entry.dead_ends, "an entry says what does not help"
    assert entry.workarounds
    assert set(entry.rules) <= set(registry.available())
    assert entry.messages
    assert all(entry.pattern.search(knowledge.normalize(m.text)) for m in entry.messages)
    if entry.kind != "silent":
        assert any(m.torch.startswith("2.13") for m in entry.messages)
        assert entry.raised_as.endswith(("Error", "Warning"))


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
def test_every_dead_end_and_workaround_has_a_program(entry):
    names = {p.path.stem for p in PROGRAMS if p.entry == entry.id}
    assert any(n.startswith("trigger") for n in names)
    numbered = {n for n in names if re.fullmatch(r"(dead_end|workaround)_\d+", n)}
    assert numbered == {f"dead_end_{i}" for i in range(1, len(entry.dead_ends) + 1)} | {
        f"workaround_{i}" for i in range(1, len(entry.workarounds) + 1)
    }
    if entry.rules:
        marked = {rule for p in PROGRAMS if p.entry == entry.id for rule, _ in p.markers}
        assert marked, "an entry with rules has a trigger whose finding is pinned to a line"
        assert marked <= set(entry.rules)


def test_every_program_folder_is_an_entry():
    assert {p.name for p in KNOWLEDGE.iterdir() if p.is_dir()} == {e.id for e in ENTRIES}


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.id)
def test_program_shows_what_it_claims_under_torch(program, executor):
    outcome = executor.run(str(program.path))
    assert program.case.shows_symptom(outcome), (
        f"{program.path.name} does not show {program.case.kind} {program.case.pattern!r}: {outcome}"
    )


def _message(outcome, entry) -> str:
    """What torch printed for the entry: the exception's message or the warning's."""
    if entry.kind == "warning":
        [text] = [w.split(": ", 1)[1] for w in outcome.warnings if entry.pattern.search(w)]
        return text
    kind, _, text = outcome.error.partition(": ")
    assert kind == entry.raised_as
    return text


@pytest.mark.parametrize(
    "program", [p for p in TRIGGERS if knowledge.get(p.entry).kind != "silent"], ids=lambda p: p.id
)
def test_triggered_message_is_recorded_verbatim_and_matches(program, executor):
    entry = knowledge.get(program.entry)
    text = _message(executor.run(str(program.path)), entry)
    assert text in {m.text for m in entry.messages if m.torch.startswith("2.13")}
    assert [m.entry.id for m in knowledge.match(text)][:1] == [entry.id]


def test_every_recorded_torch_2_13_message_is_produced_by_a_trigger(executor):
    produced = set()
    for program in TRIGGERS:
        entry = knowledge.get(program.entry)
        if entry.kind != "silent":
            produced.add((entry.id, _message(executor.run(str(program.path)), entry)))
    recorded = {
        (e.id, m.text) for e in ENTRIES for m in e.messages if m.torch.startswith("2.13")
    }
    assert recorded == produced


@pytest.mark.parametrize("paste", HISTORICAL, ids=lambda p: f"{p['entry']}:{p['source'].split()[0][-40:]}")
def test_historical_wordings_are_recognised(paste):
    assert paste["source"] and paste["torch"]
    [first, *_] = knowledge.match(paste["text"])
    assert first.entry.id == paste["entry"]
    for name, value in paste.get("captures", {}).items():
        assert first.captures.get(name) == value, name
    if "captures" in paste and not paste["captures"]:
        assert not first.captures
    if "frames" in paste:
        found = [[f.path or f"In [{f.cell}]", f.line] for f in frames(paste["text"])]
        assert found == paste["frames"]


@pytest.mark.parametrize("entry", [e for e in ENTRIES if any("Hint:" in m.text for m in e.messages)], ids=lambda e: e.id)
def test_patterns_never_require_the_hint(entry):
    for message in entry.messages:
        head = message.text.split(" Hint:")[0]
        full, cut = entry.pattern.search(message.text), entry.pattern.search(head)
        assert cut and cut.groupdict() == full.groupdict()


@pytest.mark.parametrize("node", ["SoftmaxBackward", "AddBackward0", "TBackward", "Add", "Sigmoid"])
def test_inplace_pattern_takes_old_and_new_node_names(node):
    text = (
        "RuntimeError: one of the variables needed for gradient computation has been modified by "
        f"an inplace operation: [torch.cuda.HalfTensor [2, 8, 64]], which is output 0 of {node}, is "
        "at version 3; expected version 2 instead."
    )
    [found] = knowledge.match(text)
    assert found.captures == {
        "tensor_type": "torch.cuda.HalfTensor", "shape": "2, 8, 64", "output": "0",
        "grad_fn": node, "version": "3", "expected_version": "2",
    }


def test_patterns_do_not_match_each_others_messages():
    for entry in ENTRIES:
        if entry.kind == "silent":
            continue
        for message in entry.messages:
            assert [m.entry.id for m in knowledge.match(message.text)] == [entry.id], message.text


@pytest.mark.parametrize(
    "text, problem",
    [
        ('id = "x"', "missing"),
        ('id = "x"\ntitle = "t"\nkind = "fatal"\nraised_as = ""\npattern = "a"\nroot_cause = ""\nrules = []\ndocs = ""\nversions = ""', "kind must be"),
        ('id = "x"\ntitle = "t"\nkind = "error"\nraised_as = ""\npattern = "("\nroot_cause = ""\nrules = []\ndocs = ""\nversions = ""', "bad pattern"),
        ('id = "x"\ntitle = "t"\nkind = "error"\nraised_as = ""\npattern = "a"\nroot_cause = ""\nrules = []\ndocs = ""\nversions = ""\n[[dead_ends]]\nattempt = "a"\nwhy = "b"\nworkarounds = []', "each of dead_ends"),
        ('id = "y"\ntitle = "t"\nkind = "error"\nraised_as = ""\npattern = "a"\nroot_cause = ""\nrules = []\ndocs = ""\nversions = ""', "named after its id"),
        ('id = "x"\ntitle = "t"\nkind = "error"\nraised_as = ""\npattern = "a"\nroot_cause = ""\nrules = []\ndocs = ""\nversions = ""\nhint = ""', "unknown keys hint"),
    ],
)
def test_a_malformed_entry_is_refused_with_its_file_named(text, problem):
    with pytest.raises(knowledge.KnowledgeError, match=f"x.toml: .*{problem}"):
        knowledge._load("x.toml", text)


def test_the_knowledge_base_ships_with_the_package():
    import autofix

    folder = Path(autofix.__file__).parent / "diagnose" / "errors"
    assert len(list(folder.glob("*.toml"))) == len(ENTRIES)


def test_the_wheel_ships_the_knowledge_base(tmp_path):
    """A real build of the package (from a copy of the tracked files) holds every entry."""
    import shutil
    import subprocess
    import zipfile

    pytest.importorskip("setuptools")
    root = Path(__file__).resolve().parent.parent
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout.split()
    source = tmp_path / "src"
    for name in listed:
        if name.startswith(("autofix/", "codemods/")) or name in ("pyproject.toml", "README.md"):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True,
    )
    [wheel] = (tmp_path / "dist").glob("*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("autofix/diagnose/errors/")}
    assert shipped == {f"autofix/diagnose/errors/{e.id}.toml" for e in ENTRIES}
