"""autofix: find and fix the bugs that silently ruin PyTorch training.

    import autofix

    for finding in autofix.check(source, path="train.py"):
        print(finding.line, finding.rule, finding.message)
    fixed = autofix.fix(source).source

`check` and `fix` take the same rule selection as the command line; `rules()` is the registry
of installed rules; a `Finding` carries rule, path, 1-based line and column, message and safety.
"""

__version__ = "0.1.0"

from autofix.api import Fixed, ParseError, check, fix, rules  # noqa: E402  (needs __version__)
from autofix.rule import Finding, Rule, Safety  # noqa: E402

__all__ = ["Finding", "Fixed", "ParseError", "Rule", "Safety", "check", "fix", "rules", "__version__"]
