"""Running the installed `autofix` command as a user does: a real process in a real folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

AUTOFIX = os.path.join(os.path.dirname(sys.executable), "autofix")

# missing-zero-grad at 9:5, with a safe fix
BUGGY = textwrap.dedent(
    """\
    import torch
    from torch import nn

    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        loss = model(torch.randn(4, 2)).pow(2).mean()
        loss.backward()
        opt.step()
    """
)
# step-without-backward at 9:5, whose fix is unsafe
UNSAFE_ONLY = textwrap.dedent(
    """\
    import torch
    from torch import nn

    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(3):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(torch.randn(4, 2)), torch.zeros(4, 1))
        opt.step()
    """
)
# uncalled-method at 4:1, safe
UNCALLED = "import torch\n\nmodel = torch.nn.Linear(2, 2)\nmodel.eval\n"
CLEAN = "import torch\n\nprint(torch.zeros(2))\n"


def autofix(cwd, *args, input=None, env=None, command=(AUTOFIX,)) -> subprocess.CompletedProcess:
    """`autofix ARGS` in `cwd`; colour variables are cleared unless `env` sets them."""
    environment = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update(env or {})
    return subprocess.run(
        [*command, *args], cwd=cwd, input=input, env=environment, capture_output=True, text=True,
    )


def write(folder, files: dict[str, str]) -> None:
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
