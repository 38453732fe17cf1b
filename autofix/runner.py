"""Runs the engine over many files, in parallel worker processes, with results in a stable
(sorted by path) order. Rules are instantiated once per process, not once per file."""

from __future__ import annotations

import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator, Sequence

import libcst as cst

from autofix import engine, notebook, registry
from autofix.rule import Finding
from autofix.sources import SourceError, decode, read

# Below this many files a process pool costs more than it saves.
PARALLEL_THRESHOLD = 8


@dataclass
class FileReport:
    path: str
    findings: list[Finding] = field(default_factory=list)
    fixed: list[Finding] = field(default_factory=list)
    source: bytes = b""
    new_source: bytes = b""
    error: str | None = None
    unsafe_fixes: bool | None = None  # the job's: True applies unsafe fixes, None hides them

    @property
    def changed(self) -> bool:
        return self.error is None and self.new_source != self.source

    def texts(self) -> tuple[str, str]:
        return decode(self.source), decode(self.new_source)


@dataclass(frozen=True)
class Job:
    rules: tuple[str, ...]
    fix: bool
    unsafe_fixes: bool | None  # None: not asked for (off, and the unsafe-fixes hint shows)


@lru_cache(maxsize=8)
def _rules(names: tuple[str, ...]):
    return registry.instantiate(names)


def process(path: str, display: str, job: Job) -> FileReport:
    """One file through the engine; every failure becomes the report's error."""
    try:
        source = read(path)
    except SourceError as error:
        return FileReport(display, error=str(error), unsafe_fixes=job.unsafe_fixes)
    return process_source(source, display, job)


def process_source(source: bytes, display: str, job: Job) -> FileReport:
    """One source (a file's bytes, or standard input) through the engine."""
    try:
        decode(source)
        rules = _rules(job.rules)
        analyser = notebook if notebook.is_notebook(display) else engine
        if job.fix:
            result = analyser.fix(source, rules, display, engine.accept_by_safety(bool(job.unsafe_fixes)))
        else:
            result = analyser.lint(source, rules, display)
    except Exception as error:  # a bug of ours must not hide the other files' results
        message = describe(error)
    else:
        report = FileReport(
            display, result.findings, result.fixed, result.source, result.new_source,
            unsafe_fixes=job.unsafe_fixes,
        )
        if result.errors:
            report.error = "; ".join(result.errors)
        return report
    return FileReport(display, source=source, new_source=source, error=message, unsafe_fixes=job.unsafe_fixes)


def describe(error: Exception) -> str:
    """The one-line reason a file could not be processed."""
    if isinstance(error, SourceError):
        return str(error)
    if isinstance(error, cst.ParserSyntaxError):
        return f"cannot parse: {error.message} (line {error.raw_line}, column {error.raw_column + 1})"
    return f"internal error: {type(error).__name__}: {error}"


def _process_star(args: tuple[str, str, Job]) -> FileReport:
    return process(*args)


def run(
    paths: Sequence[str],
    job: Job,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[FileReport]:
    """Reports for `paths`, in the order given, every file under the same job."""
    return run_each([(path, job) for path in paths], jobs, progress)


def run_each(
    files: Sequence[tuple[str, Job]],
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[FileReport]:
    """Reports for `(path, job)` pairs, in the order given: each file with its own rules."""
    work = [(path, display_path(path), job) for path, job in files]
    workers = min(jobs or os.cpu_count() or 1, max(1, len(work) // 2))
    if len(work) < PARALLEL_THRESHOLD or workers < 2:
        results = map(_process_star, work)
        pool = None
    else:
        pool = ProcessPoolExecutor(max_workers=workers)
        results = pool.map(_process_star, work, chunksize=max(1, len(work) // (workers * 8)))
    try:
        for done, report in enumerate(results, start=1):
            if progress:
                progress(done, len(work))
            yield report
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def display_path(path: str) -> str:
    """Relative to the current directory when under it, else absolute."""
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    return absolute if relative.startswith(os.pardir) else relative.replace(os.sep, "/")


def stderr_progress(done: int, total: int) -> None:
    if sys.stderr.isatty() and total >= 50:
        end = "\n" if done == total else "\r"
        print(f"autofix: {done}/{total} files", end=end, file=sys.stderr, flush=True)
