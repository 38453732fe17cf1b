"""The command line: check, diff, fix, patch, rules, explain — with the flags Ruff users know."""

from __future__ import annotations

import errno
import functools
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Sequence

import click

from autofix import __version__, registry
from autofix.config import ConfigError
from autofix.console import COLOR_CHOICES, Console, colour_wanted
from autofix.diffing import colour, unified_diff
from autofix.report import FORMATS, Results, diff_summary, fixes_applied, plural, statistics_json, summary
from autofix.report import statistics as statistics_table
from autofix.runner import FileReport, display_path, process_source, run_each, stderr_progress
from autofix.settings import Options, Settings
from autofix.sources import write_atomic

EXIT_CLEAN, EXIT_FOUND, EXIT_ERROR = 0, 1, 2
STDIN = "-"


class Failure(click.ClickException):
    """A one-line error that stops the run with exit status 2: bad configuration, unknown
    rule, a path that does not exist."""

    exit_code = EXIT_ERROR

    def show(self, file=None) -> None:
        click.echo(f"autofix: error: {self.format_message()}", err=True)


class AutofixGroup(click.Group):
    """Anything that escapes a command is a bug in autofix: exit status 2, never 1 (which
    means "findings"), with the traceback to report."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\nautofix: interrupted", err=True)
            ctx.exit(130)
        except OSError as error:
            if error.errno == errno.EPIPE:  # the reader went away (`autofix check | head`)
                raise
            _crash(ctx, error)
        except Exception as error:
            _crash(ctx, error)


def _crash(ctx: click.Context, error: BaseException) -> None:
    traceback.print_exc()
    click.echo(
        f"autofix: error: internal error (a bug in autofix, please report it with the "
        f"traceback above): {type(error).__name__}: {error}",
        err=True,
    )
    ctx.exit(EXIT_ERROR)


# --- options ---------------------------------------------------------------------------------

def _names(values: Sequence[str]) -> tuple[str, ...]:
    """`--select a,b --select c` -> (a, b, c): repeated options add up, commas split."""
    return tuple(n.strip() for value in values for n in value.split(",") if n.strip())


def _console_options(command):
    """-q, -v and --color, accepted before the command name (`autofix -q check`) or after it."""
    command = click.option(
        "--color", type=click.Choice(COLOR_CHOICES), default=None,
        help="Colour the output: auto (on a terminal, unless NO_COLOR is set; FORCE_COLOR forces it), always, never.",
    )(command)
    command = click.option("-v", "--verbose", is_flag=True, default=None, help="Also say which configuration, rules and files are used, and how long it took.")(command)
    command = click.option("-q", "--quiet", is_flag=True, default=None, help="Print the findings (or diff) only: no summary, hints or warnings.")(command)
    return command


@dataclass
class Invocation:
    """One analysing command as the user typed it: paths, per-file settings, console."""

    paths: tuple[str, ...]
    settings: Settings
    console: Console
    stdin_filename: str | None

    @property
    def reads_stdin(self) -> bool:
        return self.paths == (STDIN,) or (not self.paths and self.stdin_filename is not None)

    def files(self) -> list[str]:
        try:
            found = self.settings.files(list(self.paths) or ["."])
        except FileNotFoundError as error:
            raise Failure(f"no such file or directory: {error}") from None
        if not found:
            self.console.warn(
                "no Python files found (files git ignores and excluded patterns are skipped)"
            )
        return found

    def reports(self, fix: bool) -> list[FileReport]:
        """Every file analysed (fixed in memory when `fix`), each under its own settings."""
        started = time.monotonic()
        if self.reads_stdin:
            name = self.stdin_filename or STDIN
            file_settings = self.settings.for_file(name)
            self._warn_if_nothing_selected([name])
            job = file_settings.job(fix)
            source = sys.stdin.buffer.read()
            reports = [process_source(source, display_path(name) if self.stdin_filename else STDIN, job)]
        else:
            files = self.files()
            self._warn_if_nothing_selected(files)
            work = [(path, self.settings.for_file(path).job(fix)) for path in files]
            reports = list(run_each(work, progress=stderr_progress))
        self._debug_run(reports, time.monotonic() - started)
        return reports

    def _warn_if_nothing_selected(self, files: Sequence[str]) -> None:
        for config in self.settings.empty_selections(files):
            where = f" and {display_path(config.path)}" if config.path else ""
            self.console.warn(f"no rules selected by --select/--ignore{where}: nothing is checked")

    def _debug_run(self, reports: Sequence[FileReport], seconds: float) -> None:
        if not self.console.verbose:
            return
        by_config: dict[str | None, list[str]] = {}
        for report in reports:
            by_config.setdefault(self.settings.configs.for_path(report.path).path, []).append(report.path)
        for path, files in by_config.items():
            rules = self.settings.chosen(self.settings.configs.for_path(files[0]))
            where = f"configuration {display_path(path)}" if path else "no configuration file"
            self.console.debug(f"{where}: {plural(len(files), 'file')}, {plural(len(rules), 'rule')}")
        self.console.debug(f"analysed {plural(len(reports), 'file')} in {seconds:.2f}s")


def analysis_options(command):
    """PATHS and the options every analysing command shares; the command receives an
    Invocation instead of them."""

    @click.argument("paths", nargs=-1, type=click.Path())
    @click.option("--select", multiple=True, metavar="RULES", help="Only these rules (comma separated names, or ALL); repeat to add more. Replaces the configured `select`.")
    @click.option("--extend-select", multiple=True, metavar="RULES", help="These rules on top of the selected ones.")
    @click.option("--ignore", multiple=True, metavar="RULES", help="Skip these rules (names, or ALL).")
    @click.option("--exclude", multiple=True, metavar="PATTERNS", help="Skip files and folders matching these globs; replaces the configured `exclude`.")
    @click.option("--extend-exclude", multiple=True, metavar="PATTERNS", help="Skip these too, on top of `exclude`.")
    @click.option(
        "--config", "config_file", type=click.Path(exists=True, dir_okay=False),
        help="Use this file's options for every path (pyproject.toml with [tool.autofix], or autofix.toml) instead of the nearest one above each file.",
    )
    @click.option("--unsafe-fixes/--no-unsafe-fixes", default=None, help="Also apply (and mark fixable) the fixes that need review; --no-unsafe-fixes also hides the hint about them.")
    @click.option("--stdin-filename", metavar="PATH", help="With PATHS `-`: the name of the source read from standard input (for messages and configuration).")
    @_console_options
    @functools.wraps(command)
    def wrapper(
        paths, select, extend_select, ignore, exclude, extend_exclude, config_file,
        unsafe_fixes, stdin_filename, quiet, verbose, color, **kwargs,
    ):
        ctx = click.get_current_context()
        top = ctx.find_root().params
        console = Console(
            quiet=bool(top.get("quiet") if quiet is None else quiet),
            verbose=bool(top.get("verbose") if verbose is None else verbose),
            color=colour_wanted(color or top.get("color") or "auto"),
        )
        ctx.color = console.color
        if STDIN in paths and len(paths) > 1:
            raise click.UsageError("`-` (standard input) cannot be mixed with other paths")
        options = Options(
            select=_names(select) if select else None,
            extend_select=_names(extend_select),
            ignore=_names(ignore),
            exclude=_names(exclude) if exclude else None,
            extend_exclude=_names(extend_exclude),
            unsafe_fixes=unsafe_fixes,
            config_file=config_file,
        )
        try:
            settings = Settings(options)
            settings.configs.fallback()  # a broken configuration is reported before any work
        except (ConfigError, registry.UnknownRule) as error:
            raise Failure(str(error)) from None
        invocation = Invocation(tuple(paths), settings, console, stdin_filename)
        try:
            return command(invocation, **kwargs)
        except (ConfigError, registry.UnknownRule) as error:  # a configuration further down
            raise Failure(str(error)) from None

    return wrapper


output_format_option = click.option(
    "--output-format", "--format", "output_format", type=click.Choice(list(FORMATS)),
    default="text", show_default=True, envvar="AUTOFIX_OUTPUT_FORMAT",
    help="How findings are printed: " + "; ".join(f"{name}: {f.help}" for name, f in FORMATS.items()) + ".",
)
show_fixes_option = click.option(
    "--show-fixes/--no-show-fixes", default=True, show_default=True,
    help="When fixing, list what was fixed in each file.",
)
exit_zero_option = click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings remain (errors still exit 2).")
exit_on_fix_option = click.option(
    "--exit-non-zero-on-fix", is_flag=True,
    help="Exit 1 when anything was fixed, even if no finding remains (for pre-commit hooks).",
)


@click.group(cls=AutofixGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="autofix", message="%(prog)s %(version)s")
@_console_options
def main(quiet, verbose, color) -> None:
    """Find and fix the bugs that silently ruin PyTorch training.

    \b
    Typical use:
      autofix check                 list findings in the current repository
      autofix diff > fix.patch      every fix as a patch (git apply fix.patch)
      autofix fix                   apply the safe fixes in place
      autofix check --statistics    how many findings of each rule
      cat train.py | autofix fix - --stdin-filename train.py   fixed source on stdout
      autofix explain missing-zero-grad

    PATHS default to the current directory; inside a git repository files come from
    `git ls-files`, so ignored files are skipped. Each file uses the nearest pyproject.toml
    ([tool.autofix]) or autofix.toml above it: select, extend-select, ignore, per-file-ignores,
    exclude, extend-exclude, unsafe-fixes. Silence one finding with `# autofix: ignore[rule]`
    (or `# noqa: rule`) on any line of its statement.

    Exit status: 0 nothing found, 1 findings remain (or the diff is not empty),
    2 usage error, unreadable or unparsable file, or internal error.
    """


def _exit(results: Results, found: bool, exit_zero: bool = False, exit_on_fix: bool = False) -> None:
    if exit_zero and exit_on_fix:
        raise click.UsageError("--exit-zero and --exit-non-zero-on-fix contradict each other")
    if results.errors:
        sys.exit(EXIT_ERROR)
    if exit_zero:
        sys.exit(EXIT_CLEAN)
    sys.exit(EXIT_FOUND if found or (exit_on_fix and results.fixed) else EXIT_CLEAN)


def _print_errors(run: Invocation, results: Results, output_format: str = "text") -> None:
    if not FORMATS[output_format].carries_errors:
        for path, message in results.errors:
            run.console.error(f"{path}: error: {message}")


def _print_findings(run: Invocation, results: Results, output_format: str, fixing: bool, show_fixes: bool) -> None:
    chosen = FORMATS[output_format]
    rendered = chosen.render(results)
    if rendered:
        run.console.out(rendered, nl=False)
    if not chosen.human:
        return
    if fixing and show_fixes and results.fixed:
        run.console.summary(("\n" if rendered else "") + fixes_applied(results))
    if not results.findings and not results.fixed and run.settings.nothing_selected([r.path for r in results.reports]):
        run.console.summary("No rules selected: nothing was checked.")
        return
    for line in summary(results):
        run.console.summary(line)


@main.command()
@analysis_options
@output_format_option
@click.option("--statistics", is_flag=True, help="Count the findings of each rule instead of listing them.")
@click.option("--fix", "apply_fixes", is_flag=True, help="Apply the fixes: the same as `autofix fix`.")
@click.option("--diff", "as_diff", is_flag=True, help="Print the fixes as a diff: the same as `autofix diff`.")
@show_fixes_option
@exit_zero_option
@exit_on_fix_option
def check(run: Invocation, output_format, statistics, apply_fixes, as_diff, show_fixes, exit_zero, exit_non_zero_on_fix) -> None:
    """Report findings without changing anything.

    Each finding reads `path:line:col: rule message`; `[*]` marks those `autofix fix` fixes.
    `autofix check -` reads the source from standard input.
    Exit 0 when nothing is found, 1 when something is, 2 on errors.

    \b
    autofix check --output-format concise     one line per finding
    autofix check --statistics                how many findings of each rule
    autofix check --select missing-zero-grad --fix
    """
    if as_diff:
        if statistics:
            raise click.UsageError("--statistics cannot be combined with --diff")
        return _diff(run, exit_zero)
    if apply_fixes:
        return _fix(run, output_format, show_fixes, exit_zero, exit_non_zero_on_fix)
    if statistics and output_format not in ("text", "concise", "grouped", "json"):
        raise click.UsageError(f"--statistics prints a table or JSON, not {output_format}")
    results = Results(run.reports(fix=False))
    _print_errors(run, results, output_format)
    if statistics:
        if output_format == "json":
            run.console.out(statistics_json(results), nl=False)
        else:
            run.console.out(statistics_table(results), nl=False)
            for line in summary(results):
                run.console.summary(line)
    else:
        _print_findings(run, results, output_format, fixing=False, show_fixes=False)
    _exit(results, bool(results.findings), exit_zero, exit_non_zero_on_fix)


@main.command()
@analysis_options
@exit_zero_option
def diff(run: Invocation, exit_zero) -> None:
    """Print every fix as one unified diff (`git apply` and `patch -p1` take it).

    Nothing is written. Paths are relative to the current directory; for files outside it
    (`a/../scratch/train.py`) use `git apply --unsafe-paths`. Coloured on a terminal.
    Exit 0 when the diff is empty, 1 when it is not, 2 on errors.
    """
    return _diff(run, exit_zero)


def _diff(run: Invocation, exit_zero: bool) -> None:
    results = Results(run.reports(fix=True))
    _print_errors(run, results)
    changed = [r for r in results.reports if r.changed]
    for report in changed:
        run.console.out(colour(unified_diff(report.path, *report.texts())), nl=False)
    for line in diff_summary(results):
        run.console.note(line)
    _exit(results, bool(changed), exit_zero)


@main.command()
@analysis_options
@output_format_option
@click.option("-i", "--interactive", is_flag=True, help="Review the fixes one hunk at a time.")
@show_fixes_option
@exit_zero_option
@exit_on_fix_option
def fix(run: Invocation, output_format, interactive, show_fixes, exit_zero, exit_non_zero_on_fix) -> None:
    """Apply fixes in place (safe ones; unsafe ones too with --unsafe-fixes).

    Lists what it fixed in each file, then the findings it could not fix. Files are written
    atomically, keeping their encoding, line endings and mode. `autofix fix -` reads standard
    input and prints the fixed source on standard output (messages go to standard error).
    Exit 0 when no finding remains, 1 when some do, 2 on errors.

    With -i each fix is shown as a diff and applied only if you say so:
    y yes, n no (Enter), a this and the rest of the file, d skip the rest of the file,
    q quit keeping what was accepted, e explain the rule, ? help.
    """
    if interactive:
        if run.reads_stdin:
            raise click.UsageError("autofix fix -i reads your answers from the terminal, not a file from standard input")
        _fix_interactively(run)
    _fix(run, output_format, show_fixes, exit_zero, exit_non_zero_on_fix)


def _fix(run: Invocation, output_format: str, show_fixes: bool, exit_zero: bool, exit_on_fix: bool) -> None:
    results = Results(run.reports(fix=True))
    _print_errors(run, results, output_format)
    if run.reads_stdin:
        [report] = results.reports
        sys.stdout.buffer.write(report.new_source)  # the source unchanged when it could not be fixed
        sys.stdout.flush()
        run.console.stdout_is_data = True
    else:
        for report in results.reports:
            if report.changed:
                write_atomic(report.path, report.new_source)
    _print_findings(run, results, output_format, fixing=True, show_fixes=show_fixes)
    _exit(results, bool(results.findings), exit_zero, exit_on_fix)


def _fix_interactively(run: Invocation) -> None:
    from autofix.interactive import TerminalReview

    if not sys.stdin.isatty():
        raise click.UsageError(
            "autofix fix -i needs a terminal to ask on; review the fixes with `autofix diff` instead"
        )
    paths = [display_path(path) for path in run.files()]
    here = run.settings.for_file(paths[0] if paths else ".")
    review = TerminalReview(
        registry.instantiate(here.rules),
        bool(here.unsafe_fixes),
        echo=click.echo,
        getchar=click.getchar,
        explain=lambda name: explain_text(registry.get(name)),
        page=click.echo_via_pager,
    )
    summary = review.run(paths, write_atomic)
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
@analysis_options
@click.option("--base", default="HEAD", show_default=True, help="Commit the branch starts from (a detached HEAD is fine).")
@click.option("--branch", help="Branch to create (default: autofix/<rule> or autofix/all).")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write the series as `git format-patch` mbox (for git am)."
)
@click.option("--force", is_flag=True, help="Replace the branch if it exists.")
def patch(run: Invocation, base, branch, output, force) -> None:
    """Commit the fixes on a new branch, one commit per rule.

    Works in a temporary git worktree from --base: your working tree, index, stash and current
    branch are never touched, dirty or not. Each commit is titled `autofix: <rule> (N fixes)`
    and lists the findings it fixes. Nothing to fix: no branch, exit 0.

    \b
    autofix patch                          branch autofix/all from HEAD
    autofix patch --select missing-zero-grad -o fixes.patch
    git am fixes.patch                     on a clean checkout of the base
    """
    from autofix.patch import PatchError, create_patch, format_patch, subject

    if run.reads_stdin:
        raise click.UsageError("autofix patch works on the files of a repository, not standard input")
    try:
        result = create_patch(
            list(run.paths),
            run.settings,
            base=base,
            branch=branch,
            force=force,
        )
    except PatchError as error:
        click.echo(f"autofix patch: error: {error}", err=True)
        sys.exit(EXIT_ERROR)
    for path, message in result.errors:
        click.echo(f"{path}: error: {message}", err=True)
    if result.branch is None:
        run.console.summary("Nothing to fix: no branch created.")
        sys.exit(EXIT_ERROR if result.errors else EXIT_CLEAN)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(format_patch(".", result.base, result.branch))
    for commit in result.commits:
        run.console.out(f"{commit.sha[:10]} {subject(commit.rule, len(commit.findings))}")
    where = f" and {output}" if output else ""
    run.console.summary(f"Created branch {result.branch}{where} from {result.base[:10]}.")
    sys.exit(EXIT_ERROR if result.errors else EXIT_CLEAN)


@main.command()
@analysis_options
@click.option("--base", metavar="BRANCH", help="Branch the fixes start from and the pull request targets (default: the remote's default branch).")
@click.option("--remote", default="origin", show_default=True, help="Git remote to push the fix branch to.")
@click.option("--repo", "repository", metavar="OWNER/NAME", help="GitHub repository (default: read from the remote's URL).")
@click.option("--draft", is_flag=True, help="Open the pull request as a draft.")
@click.option("--label", "labels", multiple=True, metavar="NAME", help="Label the pull request (repeatable).")
@click.option("--dry-run", is_flag=True, help="Print what would be pushed and the pull request's title and body; touch nothing remote.")
def pr(run: Invocation, base, remote, repository, draft, labels, dry_run) -> None:
    """Push the `autofix patch` branch and open or update a pull request for it.

    One branch per scope (autofix/all, or autofix/<rule> with --select), force-pushed only while
    its last commit is autofix's; the open pull request of that branch is updated, never
    duplicated, and closed with a comment once nothing is left to fix. The token comes from
    GITHUB_TOKEN (never an option), the API from GITHUB_API_URL (GitHub Enterprise).

    \b
    autofix pr --dry-run                 the commits, title and body, nothing pushed
    autofix pr --label autofix --draft   open (or update) the pull request
    """
    from autofix.pr import BotRequest, run as run_bot

    if run.reads_stdin:
        raise click.UsageError("autofix pr works on the files of a repository, not standard input")
    request = BotRequest(
        run.paths, run.settings, base=base, remote=remote, repository=repository,
        draft=draft, labels=labels, dry_run=dry_run,
    )
    sys.exit(run_bot(request, click.echo))


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
    rules = registry.available()
    width = max(len(name) for name in rules)
    for name, rule in rules.items():
        click.echo(f"{name:<{width}} {rule.fix_safety.value:<7} {rule.summary}")


@main.command()
@click.argument("rule")
def explain(rule: str) -> None:
    """Print a rule's documentation: what it does, why it is bad, example, fix safety."""
    try:
        cls = registry.get(rule)
    except registry.UnknownRule as error:
        raise Failure(str(error)) from None
    click.echo(explain_text(cls))


def explain_text(cls) -> str:
    return f"# {cls.name}\n\n{cls.summary}.\n\nFix: {cls.fix_safety.value}\n\n{cls.docs.rstrip()}"


from autofix.diagnose.command import diagnose  # noqa: E402 - the command lives with its package

main.add_command(diagnose)
