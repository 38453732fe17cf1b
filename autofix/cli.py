"""The command line: check, diff, fix, rules, explain."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from typing import Sequence

import click

from autofix import __version__, registry
from autofix.config import Config, ConfigError, load
from autofix.diffing import unified_diff
from autofix.discovery import discover
from autofix.report import applies_by_default, json_report, plural, text_line
from autofix.runner import FileReport, Job, run, stderr_progress
from autofix.sources import write_atomic

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [n.strip() for n in value.split(",") if n.strip()]


@dataclass
class Selection:
    """What a command runs on: the paths given, the rules chosen, the config read."""

    paths: list[str]
    rules: tuple[str, ...]
    config: Config
    exclude: list[str]

    def files(self) -> list[str]:
        try:
            found = discover(self.paths, self.exclude)
        except FileNotFoundError as error:
            raise click.UsageError(f"no such file or directory: {error}") from None
        if not found:
            click.echo(
                "autofix: warning: no Python files found (files git ignores and excluded "
                "patterns are skipped)",
                err=True,
            )
        return found

    def unsafe(self, flag: bool | None) -> bool:
        return self.config.unsafe_fixes if flag is None else flag


def common_options(command):
    """PATHS and the options every analysing command shares."""

    @click.argument("paths", nargs=-1, type=click.Path())
    @click.option("--select", metavar="RULES", help="Only these rules (comma separated, or ALL).")
    @click.option("--ignore", metavar="RULES", help="Skip these rules (comma separated).")
    @click.option("--exclude", metavar="PATTERNS", help="Skip files matching these glob patterns (comma separated).")
    @click.option(
        "--config",
        "config_path",
        type=click.Path(exists=True, dir_okay=False),
        help="pyproject.toml to read [tool.autofix] from (default: the nearest one).",
    )
    @functools.wraps(command)
    def wrapper(paths, select, ignore, exclude, config_path, **kwargs):
        try:
            config = load(config_path)
            rules = registry.resolve(
                _names(select) if select is not None else config.select,
                [*config.ignore, *(_names(ignore) or [])],
            )
        except (ConfigError, registry.UnknownRule) as error:
            raise click.UsageError(str(error)) from None
        selection = Selection(
            list(paths) or ["."],
            tuple(r.name for r in rules),
            config,
            [*config.exclude, *(_names(exclude) or [])],
        )
        return command(selection, **kwargs)

    return wrapper


unsafe_option = click.option(
    "--unsafe-fixes",
    is_flag=True,
    default=None,
    help="Also apply fixes marked unsafe (they change behaviour beyond the bug: review them).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="autofix")
def main() -> None:
    """Find and fix the bugs that silently ruin PyTorch training.

    \b
    Typical use:
      autofix check            list findings in the current repository
      autofix diff > fix.patch  every fix as a patch (git apply fix.patch)
      autofix fix              apply the safe fixes in place
      autofix explain missing-zero-grad

    PATHS default to the current directory; inside a git repository files come from
    `git ls-files`, so ignored files are skipped. Options can also live in pyproject.toml
    under [tool.autofix] (select, ignore, exclude, unsafe-fixes).

    Exit status: 0 nothing found, 1 findings remain (or the diff is not empty),
    2 usage error, unreadable or unparsable file, or internal error.
    """


def _reports(selection: Selection, fix: bool, unsafe: bool) -> list[FileReport]:
    return list(run(selection.files(), Job(selection.rules, fix, unsafe), progress=stderr_progress))


def _echo_errors(reports: Sequence[FileReport]) -> bool:
    failed = [r for r in reports if r.error]
    for report in failed:
        click.echo(f"{report.path}: error: {report.error}", err=True)
    return bool(failed)


@main.command()
@common_options
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text for people, json for machines.",
)
@unsafe_option
def check(selection: Selection, output_format: str, unsafe_fixes: bool | None) -> None:
    """Report findings without changing anything.

    Each line reads `path:line:col: rule message`; `[*]` marks findings that `autofix fix`
    fixes. Exit 0 when nothing is found, 1 when something is, 2 on errors.
    """
    unsafe = selection.unsafe(unsafe_fixes)
    reports = _reports(selection, fix=False, unsafe=False)
    findings = [f for r in reports for f in r.findings]
    errors = [(r.path, r.error) for r in reports if r.error]
    if output_format == "json":
        click.echo(json_report(len(reports), findings, errors))
    else:
        _echo_errors(reports)
        for finding in findings:
            click.echo(text_line(finding, unsafe))
        fixable = sum(applies_by_default(f, unsafe) for f in findings)
        if findings:
            hint = f" ({fixable} fixable with `autofix fix`)" if fixable else ""
            click.echo(f"Found {plural(len(findings), 'finding')}{hint}.")
        elif not errors:
            click.echo(f"All checks passed ({plural(len(reports), 'file')} scanned).")
    sys.exit(EXIT_ERROR if errors else EXIT_FOUND if findings else EXIT_CLEAN)


@main.command()
@common_options
@unsafe_option
def diff(selection: Selection, unsafe_fixes: bool | None) -> None:
    """Print every fix as one unified diff (`git apply` and `patch -p1` take it).

    Nothing is written. Exit 0 when the diff is empty, 1 when it is not, 2 on errors.
    """
    unsafe = selection.unsafe(unsafe_fixes)
    reports = _reports(selection, fix=True, unsafe=unsafe)
    failed = _echo_errors(reports)
    changed = [r for r in reports if r.changed]
    for report in changed:
        click.echo(unified_diff(report.path, *report.texts()), nl=False)
    fixes = sum(len(r.fixed) for r in changed)
    if changed:
        click.echo(
            f"Would fix {plural(fixes, 'finding')} in {plural(len(changed), 'file')}.", err=True
        )
    sys.exit(EXIT_ERROR if failed else EXIT_FOUND if changed else EXIT_CLEAN)


@main.command()
@common_options
@unsafe_option
@click.option("-i", "--interactive", is_flag=True, help="Review the fixes one hunk at a time.")
def fix(selection: Selection, unsafe_fixes: bool | None, interactive: bool) -> None:
    """Apply fixes in place (safe ones; unsafe ones too with --unsafe-fixes).

    Files are written atomically, keeping their encoding, line endings and mode. Findings that
    could not be fixed are listed. Exit 0 when none remain, 1 when some do, 2 on errors.

    With -i each fix is shown as a diff and applied only if you say so:
    y yes, n no (Enter), a this and the rest of the file, d skip the rest of the file,
    q quit keeping what was accepted, e explain the rule, ? help.
    """
    unsafe = selection.unsafe(unsafe_fixes)
    if interactive:
        _fix_interactively(selection, unsafe)
    reports = _reports(selection, fix=True, unsafe=unsafe)
    failed = _echo_errors(reports)
    for report in reports:
        if report.changed:
            write_atomic(report.path, report.new_source)
    remaining = [f for r in reports for f in r.findings]
    for finding in remaining:
        click.echo(text_line(finding, unsafe))
    fixed = sum(len(r.fixed) for r in reports if r.changed)
    click.echo(
        f"Fixed {plural(fixed, 'finding')} in {plural(sum(r.changed for r in reports), 'file')}"
        f", {len(remaining)} remaining."
    )
    sys.exit(EXIT_ERROR if failed else EXIT_FOUND if remaining else EXIT_CLEAN)


def _fix_interactively(selection: Selection, unsafe: bool) -> None:
    from autofix.interactive import TerminalReview
    from autofix.runner import display_path

    if not sys.stdin.isatty():
        raise click.UsageError(
            "autofix fix -i needs a terminal to ask on; review the fixes with `autofix diff` instead"
        )
    review = TerminalReview(
        registry.resolve(list(selection.rules)),
        unsafe,
        echo=click.echo,
        getchar=click.getchar,
        explain=lambda name: explain_text(registry.get(name)),
        page=click.echo_via_pager,
    )
    summary = review.run([display_path(path) for path in selection.files()], write_atomic)
    if not summary.proposed:
        click.echo("Nothing to fix.")
    else:
        click.echo(
            f"Applied {summary.applied} of {plural(summary.proposed, 'fix')}"
            f" in {plural(summary.files_changed, 'file')}"
            f"{' (quit early)' if summary.quit else ''}."
        )
    sys.exit(EXIT_ERROR if summary.failed else EXIT_FOUND if summary.findings_remain else EXIT_CLEAN)


@main.command()
@common_options
@click.option("--base", default="HEAD", show_default=True, help="Commit the branch starts from.")
@click.option("--branch", help="Branch to create (default: autofix/<rule> or autofix/all).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the series as `git format-patch` mbox (for git am)."
)
@click.option("--force", is_flag=True, help="Replace the branch if it exists.")
@unsafe_option
def patch(selection: Selection, base, branch, output, force, unsafe_fixes) -> None:
    """Commit the fixes on a new branch, one commit per rule.

    Works in a temporary git worktree from --base: your working tree, index, stash and current
    branch are never touched, dirty or not. Each commit is titled `autofix: <rule> (N fixes)`
    and lists the findings it fixes.

    \b
    autofix patch                          branch autofix/all from HEAD
    autofix patch --select missing-zero-grad -o fixes.patch
    git am fixes.patch                     on a clean checkout of the base
    """
    from autofix.patch import PatchError, create_patch, format_patch, subject

    try:
        result = create_patch(
            selection.paths if selection.paths != ["."] else [],
            selection.rules,
            base=base,
            branch=branch,
            unsafe_fixes=selection.unsafe(unsafe_fixes),
            force=force,
            exclude=selection.exclude,
        )
    except PatchError as error:
        click.echo(f"autofix patch: error: {error}", err=True)
        sys.exit(EXIT_ERROR)
    for path, message in result.errors:
        click.echo(f"{path}: error: {message}", err=True)
    if result.branch is None:
        click.echo("Nothing to fix: no branch created.")
        sys.exit(EXIT_ERROR if result.errors else EXIT_CLEAN)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(format_patch(".", result.base, result.branch))
    for commit in result.commits:
        click.echo(f"{commit.sha[:10]} {subject(commit.rule, len(commit.findings))}")
    where = f" and {output}" if output else ""
    click.echo(f"Created branch {result.branch}{where} from {result.base[:10]}.")
    sys.exit(EXIT_ERROR if result.errors else EXIT_CLEAN)


@main.command()
def server() -> None:
    """Run the Language Server for editors, on stdin and stdout.

    Findings become diagnostics (on open, change and save), each fix a quick fix (unsafe ones
    marked), and all of a file's fixes one "fix all" action (source.fixAll.autofix). The
    README shows the VS Code and Neovim setup.
    """
    from autofix.server import main as serve

    serve()


@main.command("rules")
def list_rules() -> None:
    """List every rule: name, fix safety, summary."""
    for name, rule in registry.available().items():
        click.echo(f"{name:<28} {rule.fix_safety.value:<7} {rule.summary}")


@main.command()
@click.argument("rule")
def explain(rule: str) -> None:
    """Print a rule's documentation: what it does, why it is bad, example, fix safety."""
    try:
        cls = registry.get(rule)
    except registry.UnknownRule as error:
        raise click.UsageError(str(error)) from None
    click.echo(explain_text(cls))


def explain_text(cls) -> str:
    return f"# {cls.name}\n\n{cls.summary}.\n\nFix: {cls.fix_safety.value}\n\n{cls.docs.rstrip()}"
