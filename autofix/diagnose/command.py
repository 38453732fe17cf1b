"""The `autofix diagnose` command."""

from __future__ import annotations

import json
import sys

import click

from autofix import notebook
from autofix.diagnose.render import as_json, as_text
from autofix.diagnose.report import diagnose as run_diagnosis

EXIT_KNOWN, EXIT_UNKNOWN, EXIT_ERROR = 0, 1, 2


@click.command()
@click.argument("error_file", metavar="[FILE|-]", required=False, default="-",
                type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--source", "sources", multiple=True, metavar="PATH",
              type=click.Path(exists=True, dir_okay=False),
              help="Also analyse this file or notebook (repeatable): for a symptom without a "
                   "traceback, or a notebook whose cells the traceback names as In [N].")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for machines.")
def diagnose(error_file: str, sources: tuple[str, ...], output_format: str) -> None:
    """Explain a PyTorch error, warning or traceback and point at the code that causes it.

    Reads the text from FILE, or from standard input (`-`, the default): a bare message, a
    whole traceback, a warning, or a paste from a notebook. A saved notebook (.ipynb) is read
    for the errors and warnings in its outputs. It prints the root cause, the dead ends people
    try, what works, and, when the traceback names files that exist here, the findings of the
    matching rules nearest the traceback's lines, each with its fix as a diff.

    \b
      python train.py 2>&1 | autofix diagnose
      autofix diagnose error.txt
      autofix diagnose train.ipynb
      echo "my loss does not decrease" | autofix diagnose --source train.py

    Exit status: 0 the error is known, 1 it is not (the closest entries are listed), 2 the
    input could not be read.
    """
    sources = list(sources)
    try:
        if error_file == "-":
            if sys.stdin.isatty():
                click.echo("Paste the error or traceback, then press Ctrl-D:", err=True)
            text = sys.stdin.read()
        elif notebook.is_notebook(error_file):
            text = notebook_errors(error_file)
            sources.append(error_file)
        else:
            with open(error_file, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
    except (OSError, ValueError) as error:
        click.echo(f"autofix diagnose: error: cannot read {error_file}: {error}", err=True)
        sys.exit(EXIT_ERROR)
    if not text.strip():
        click.echo("autofix diagnose: error: nothing to diagnose: the input is empty", err=True)
        sys.exit(EXIT_ERROR)
    report = run_diagnosis(text, sources)
    for path, message in report.errors:
        click.echo(f"{path}: error: {message}", err=True)
    click.echo(as_json(report) if output_format == "json" else as_text(report), nl=output_format == "json")
    sys.exit(EXIT_KNOWN if report.known else EXIT_UNKNOWN)


def notebook_errors(path: str) -> str:
    """The tracebacks and stderr text a saved notebook's outputs hold, in cell order."""
    with open(path, "rb") as handle:
        data = json.loads(handle.read().decode("utf-8-sig"))
    texts = []
    for cell in data.get("cells", []) if isinstance(data, dict) else []:
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            if output.get("output_type") == "error":
                texts.append("\n".join(output.get("traceback", [])))
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                texts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(texts)
