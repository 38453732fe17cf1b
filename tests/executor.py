"""Executes fixture programs under real torch in one long-lived worker process, so the torch
import (seconds) is paid once per test session, not once per fixture.

Protocol: one JSON line per request on the worker's stdin ({"path": ...}), one JSON line per
outcome on its stdout. Each program runs with fresh globals (runpy), seeded RNGs, grad mode on,
its prints and warnings captured, and what Python would have printed on stderr (the warnings,
the traceback) kept as a user would paste it.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass

TIMEOUT_SECONDS = 120


@dataclass
class Outcome:
    ok: bool
    stdout: str
    error: str  # "TypeName: message" when the program raised
    warnings: list[str]
    stderr: str = ""  # the warnings as Python prints them, then the full traceback


def _serve() -> None:  # runs inside the worker process
    import contextlib
    import io
    import random
    import runpy
    import traceback
    import warnings

    import torch
    import torch._dynamo  # noqa: F401  DistributedDataParallel imports it lazily (seconds): once
    # here, not again in every rank a DDP fixture forks

    protocol = sys.stdout
    sys.stdout = sys.stderr  # nothing a fixture prints may corrupt the protocol
    for line in sys.stdin:
        request = json.loads(line)
        random.seed(0)
        torch.manual_seed(0)
        torch.set_grad_enabled(True)
        captured = io.StringIO()
        error = printed = ""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with contextlib.redirect_stdout(captured):
                    runpy.run_path(request["path"], run_name="__main__")
            except BaseException as exc:  # the program's failure is the observation
                error = f"{type(exc).__name__}: {exc}"
                printed = traceback.format_exc()
                if not isinstance(exc, (RuntimeError, AssertionError, ValueError, TypeError)):
                    error += "\n" + traceback.format_exc(limit=3)
        outcome = {
            "ok": not error,
            "stdout": captured.getvalue(),
            "error": error,
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
            "stderr": "".join(
                warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in caught
            ) + printed,
        }
        protocol.write(json.dumps(outcome) + "\n")
        protocol.flush()


class Executor:
    """A worker process that runs Python programs one after another."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            env = dict(os.environ, PYTHONHASHSEED="0", CUDA_VISIBLE_DEVICES="")
            self._process = subprocess.Popen(
                [sys.executable, "-c", "import executor; executor._serve()"],
                cwd=os.path.dirname(__file__),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        return self._process

    def run(self, path: str) -> Outcome:
        process = self._start()
        process.stdin.write(json.dumps({"path": os.path.abspath(path)}) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT_SECONDS)
        line = process.stdout.readline() if ready else ""
        if not line:
            self.close()
            return Outcome(False, "", "the program timed out or killed its interpreter", [])
        return Outcome(**json.loads(line))

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
