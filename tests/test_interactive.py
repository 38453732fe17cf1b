"""`autofix fix -i` in a real pseudo-terminal, and the veto hook behind it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap

import libcst as cst
import pexpect
import pytest

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


def plain(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\r\n", "\n")


def spawn(folder, *args, **env):
    """`autofix fix -i` in a real pseudo-terminal; docs are paged through `cat` unless told."""
    return pexpect.spawn(
        sys.executable, ["-m", "autofix", "fix", "-i", *args], cwd=str(folder),
        encoding="utf-8", timeout=60, env={**os.environ, "PAGER": "cat", "TERM": "xterm", **env},
    )


def session(folder, keys, files=("a.py",)):
    for name in files:
        (folder / name).write_text(SOURCE)
    child = spawn(folder, *files)
    transcript = []
    for key in keys:
        child.expect(PROMPT)
        transcript.append(plain(child.before))
        child.send(key)
    child.expect(pexpect.EOF)
    transcript.append(plain(child.before))
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
    assert "(1/3) uncalled-method · safe · b.py:5" in transcript[3]
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


def test_veto_hook_sees_each_hunk_against_the_file_as_fixed_so_far():
    seen = []

    def veto(path, hunk):
        seen.append(hunk)
        return "+    opt.zero_grad()" in hunk

    new, accepted = fix_with_veto("a.py", SOURCE.encode(), registry.resolve(None), veto)
    assert len(seen) == 3 and all(h.startswith("--- a/a.py\n+++ b/a.py\n") for h in seen)
    assert "     opt.zero_grad()\n" in seen[2]  # the accepted fix is context of the next hunk
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
    child = spawn(tmp_path, "a.py")
    child.expect(pexpect.EOF)
    child.close()
    assert "Nothing to fix." in child.before and child.exitstatus == 1
    child = spawn(tmp_path, "--unsafe-fixes", "a.py")
    child.expect(PROMPT)
    assert "step-without-backward · unsafe (review it) · a.py:9" in plain(child.before)
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    assert "    loss.backward()\n    opt.step()\n" in (tmp_path / "a.py").read_text()


def test_each_hunk_is_shown_against_the_fixes_already_accepted(tmp_path):
    _, accepting = session(tmp_path, ["y", "q"])
    assert " model.train()\n" in accepting[1] and "@@ -5," in accepting[1]
    _, declining = session(tmp_path, ["n", "q"])
    assert " model.train\n" in declining[1]


def test_e_pages_the_docs_through_less_then_shows_the_hunk_again(tmp_path):
    if shutil.which("less") is None:
        pytest.skip("less is not installed")
    (tmp_path / "a.py").write_text(SOURCE)
    child = spawn(tmp_path, "a.py", PAGER="less")
    child.expect(PROMPT)
    child.send("e")
    child.expect("Why is this bad")  # less shows the first screen and waits
    child.send("q")  # leave less
    child.expect(PROMPT)
    again = plain(child.before)
    assert "(1/3) uncalled-method · safe · a.py:5" in again and "+model.train()" in again
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1


def test_unsafe_fixes_are_yellow_and_safe_ones_green(tmp_path):
    (tmp_path / "a.py").write_text(SOURCE)
    (tmp_path / "b.py").write_text(UNSAFE_ONLY)
    child = spawn(tmp_path, "--unsafe-fixes", "a.py", "b.py")
    child.expect(PROMPT)
    safe = child.before
    child.send("d")
    child.expect(PROMPT)
    unsafe = child.before
    child.send("q")
    child.expect(pexpect.EOF)
    child.close()
    green, yellow = "\x1b[32m", "\x1b[33m"
    assert f"{green}safe" in safe and f"{green}+model.train()" in safe
    assert re.search(re.escape(yellow) + r"(\x1b\[1m)?unsafe \(review it\)", unsafe)
    assert f"{yellow}+    loss.backward()" in unsafe and green not in unsafe


def test_a_file_that_cannot_be_read_is_reported_and_the_others_reviewed(tmp_path):
    (tmp_path / "a.py").write_bytes(b"x = '\xff'\n")
    (tmp_path / "b.py").write_text(SOURCE)
    child = spawn(tmp_path, "a.py", "b.py")
    child.expect(PROMPT)
    assert "a.py: error: not valid utf-8" in plain(child.before)
    child.send("a")
    child.expect(pexpect.EOF)
    child.close()
    assert (tmp_path / "b.py").read_text() == expected(TRAIN, ZERO, EVAL)
    assert child.exitstatus == 2


CLEAN_FUNCTION = textwrap.dedent(
    """\
    def train_{i}(model, data, opt):
        model.train()
        for x, y in data:
            opt.zero_grad()
            loss = (model(x) - y).pow(2).mean()
            loss.backward()
            opt.step()
        return loss.item()


    """
)


def test_the_first_hunk_shows_at_once_and_the_rest_is_analysed_while_the_user_reads(tmp_path):
    """Order, not time: the first file's hunk is on the screen before the review has reached a
    broken file that comes after five big ones, and that file is still reported."""
    (tmp_path / "a.py").write_text(SOURCE)
    big = "import torch\n\n\n" + "".join(CLEAN_FUNCTION.format(i=i) for i in range(60))
    files = ["a.py"] + [f"clean_{n}.py" for n in range(5)] + ["broken.py"]
    for name in files[1:-1]:
        (tmp_path / name).write_text(big)
    (tmp_path / "broken.py").write_text("def broken(:\n")
    child = spawn(tmp_path, *files)
    assert child.expect([PROMPT, "broken.py"]) == 0, "the review waited for every file"
    child.send("d")
    child.expect("broken.py")
    child.expect(pexpect.EOF)
    child.close()
