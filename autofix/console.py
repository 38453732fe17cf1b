"""Where text goes and how it looks: results on stdout, everything else on stderr; `-q` keeps
the results only, `-v` adds what autofix decided (configuration, rules, files, time); colour
follows `--color`, then NO_COLOR, then FORCE_COLOR, then whether the stream is a terminal."""

from __future__ import annotations

import os
from dataclasses import dataclass

import click

COLOR_CHOICES = ("auto", "always", "never")


def colour_wanted(choice: str = "auto", environ=os.environ) -> bool | None:
    """True or False when decided, None to let each stream's terminal decide. NO_COLOR wins
    over FORCE_COLOR when both are set, as in CPython; empty values count as unset."""
    if choice == "always":
        return True
    if choice == "never":
        return False
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return None


@dataclass
class Console:
    quiet: bool = False
    verbose: bool = False
    color: bool | None = None
    stdout_is_data: bool = False  # `fix -` prints the fixed source there: the rest goes to stderr

    def out(self, text: str, nl: bool = True) -> None:
        """Results: findings, diffs, documents."""
        click.echo(text, nl=nl, err=self.stdout_is_data, color=self.color)

    def summary(self, text: str) -> None:
        """Lines about the results (counts, hints); none with -q."""
        if not self.quiet:
            click.echo(text, err=self.stdout_is_data, color=self.color)

    def note(self, text: str) -> None:
        """Side remarks on stderr (what would be fixed); none with -q."""
        if not self.quiet:
            click.echo(text, err=True, color=self.color)

    def warn(self, text: str) -> None:
        if not self.quiet:
            click.echo(f"autofix: warning: {text}", err=True, color=self.color)

    def error(self, text: str) -> None:
        """Always shown, even with -q: a file that was not analysed is never silent."""
        click.echo(text, err=True, color=self.color)

    def debug(self, text: str) -> None:
        if self.verbose:
            click.echo(f"autofix: {text}", err=True, color=self.color)
