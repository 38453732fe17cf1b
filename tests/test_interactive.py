"""`autofix fix -i` in a real pseudo-terminal, and the veto hook behind it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import libcst as cst
import pexpect

from autofix import registry
from autofix.interactive import fix_with_veto

PROMPT = r"Apply this fix \[y,n,a,d,q,e,\?\]\? "
SOURCE = textwrap.dedent(
    """\
    import torch

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train
    for step in range(3):
        loss = model(torch.randn(4, 2)).sum()
        loss.backward()
        opt.step()
    model.eval
    """
)
TRAIN = ("model.train\n", "model.train()\n")
ZERO = ("    loss.backward()\n", "    opt.zero_grad()\n    loss.backward()\n")
EVAL = ("model.eval\n", "model.eval()\n")


def expected(*fixes):
    text = SOURCE
    for old, new in fixes:
        text = text.replace(old, new)
    return text


def session(folder, keys, files=("a.py",)):
    for name in files:
        (folder / name).write_text(SOURCE)
    child = pexpect.spawn(
        sys.executable, ["-m", "autofix", "fix", "-i", *files], cwd=str(folder),
        encoding="utf-8", timeout=60,
    )
    transcript = []
    for key in keys:
        child.expect(PROMPT)
        transcript.append(child.before)
        child.send(key)
    child.expect(pexpect.EOF)
    transcript.append(child.before)
    child.close()
    return child.exitstatus, transcript


def test_yes_no_yes(tmp_path):
    status, transcript = session(tmp_path, ["y", "n", "y"])
    assert "(1/3) uncalled-method · safe · a.py:5" in transcript[0]
    assert "+model.train()" in transcript[0]
    assert "(2/3) missing-zero-grad · safe · a.py:9" in transcript[1]
    assert "Applied 2 of 3 fixes in 1 file." in transcript[-1]
    assert (tmp_path / "a.py").read_text() == expected(TRAIN, EVAL)
    assert status == 1  # the declined finding remains


def test_enter_means_no_and_a_takes_the_rest(tmp_path):
    status, _ = session(tmp_path, ["\r", "a"])
    result = (tmp_path / "a.py").read_text()
    assert result == expected(ZERO, EVAL)
    cst.parse_module(result)
    assert status == 1


def test_q_keeps_what_was_accepted(tmp_path):
    status, transcript = session(tmp_path, ["y", "q"])
    assert (tmp_path / "a.py").read_text() == expected(TRAIN)
    assert "(quit early)" in transcript[-1]


def test_help_explain_and_d_skips_the_rest_of_the_file(tmp_path):
    status, transcript = session(tmp_path, ["?", "e", "d", "y", "y", "y"], files=("a.py", "b.py"))
    assert "a - apply this fix and every later fix in this file" in transcript[1]
    assert "## Why is this bad?" in transcript[2] and "# uncalled-method" in transcript[2]
    assert "(4/6) uncalled-method · safe · b.py:5" in transcript[3]
    assert (tmp_path / "a.py").read_text() == SOURCE
    assert (tmp_path / "b.py").read_text() == expected(TRAIN, ZERO, EVAL)
    assert status == 1  # a.py still has its findings


def test_all_accepted_exits_clean(tmp_path):
    status, _ = session(tmp_path, ["y", "y", "y"])
    assert (tmp_path / "a.py").read_text() == expected(TRAIN, ZERO, EVAL)
    assert status == 0


def test_without_a_terminal_it_refuses(tmp_path):
    (tmp_path / "a.py").write_text(SOURCE)
    run = subprocess.run(
        [sys.executable, "-m", "autofix", "fix", "-i"], cwd=tmp_path,
        stdin=subprocess.DEVNULL, capture_output=True, text=True,
    )
    assert run.returncode == 2 and "autofix diff" in run.stderr
    assert (tmp_path / "a.py").read_text() == SOURCE


def test_veto_hook_sees_each_hunk():
    seen = []

    def veto(path, hunk):
        seen.append(hunk)
        return "zero_grad" in hunk

    new, accepted = fix_with_veto("a.py", SOURCE.encode(), registry.resolve(None), veto)
    assert len(seen) == 3 and all(h.startswith("--- a/a.py\n+++ b/a.py\n") for h in seen)
    assert [f.rule for f in accepted] == ["missing-zero-grad"]
    assert new.decode() == expected(ZERO)


UNSAFE_ONLY = textwrap.dedent(
    """\
    import torch

    model = torch.nn.Linear(2, 1)
    criterion = torch.nn.MSELoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        opt.zero_grad()
        loss = criterion(model(torch.randn(4, 2)), torch.randn(4, 1))
        opt.step()
    """
)


def test_unsafe_fixes_are_offered_only_with_the_flag_and_marked(tmp_path):
    (tmp_path / "a.py").write_text(UNSAFE_ONLY)
    child = pexpect.spawn(
        sys.executable, ["-m", "autofix", "fix", "-i", "a.py"], cwd=str(tmp_path), encoding="utf-8", timeout=60
    )
    child.expect(pexpect.EOF)
    child.close()
    assert "Nothing to fix." in child.before and child.exitstatus == 1
    child = pexpect.spawn(
        sys.executable, ["-m", "autofix", "fix", "-i", "--unsafe-fixes", "a.py"], cwd=str(tmp_path),
        encoding="utf-8", timeout=60,
    )
    child.expect(PROMPT)
    assert "step-without-backward · unsafe (review it) · a.py:9" in child.before
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    assert "    loss.backward()\n    opt.step()\n" in (tmp_path / "a.py").read_text()
