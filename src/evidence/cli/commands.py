"""Command line: `evidence ingest|timeline|verify|query|export|...`. Library errors become plain messages here only.

Exit codes: 0 success (a run where some files failed is still a success: they are listed), 1 verification
failed or nothing could be ingested, 2 usage error.
"""

import contextlib
import logging
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from evidence import __version__
from evidence.cli.actors import actors_app
from evidence.cli.console import CaseOption, console, escape, fail, friendly_errors, is_terminal, out_console
from evidence.cli.events import annotate_command, events_app
from evidence.cli.exports import export_command
from evidence.cli.report import report_command
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest
from evidence.text import for_display
from evidence.timeutil import DEFAULT_TZ

# The database layer (duckdb, pyarrow) and the parsers are imported inside the commands that use them, so
# `evidence --help` is instant and an ingest starts hashing while they load (see ingest.warm_up).

app = typer.Typer(
    help="Evidence pipeline for online stalking cases: ingest exports into a verified, time-ordered case record.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    jsonl = "jsonl"


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each problem as it happens.")] = False,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Evidence pipeline command line."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if version:
        out_console.print(f"evidence {__version__}")
        raise typer.Exit(0)


@app.command("ingest")
def ingest_command(
    sources: Annotated[list[Path], typer.Argument(help="Folders, zip archives or single files to ingest.")],
    case: CaseOption,
    tz: Annotated[
        str, typer.Option("--tz", help="Time zone for export times written without an offset.")
    ] = DEFAULT_TZ,
    region: Annotated[
        str, typer.Option("--region", help="Default country for phone numbers (two letters).")
    ] = "GB",
    owner: Annotated[
        list[str] | None,
        typer.Option(
            "--owner", help="An identifier of the account owner (the victim): phone, email or handle."
        ),
    ] = None,
    examiner: Annotated[
        str | None, typer.Option("--examiner", help="Name recorded in the custody log.")
    ] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel extraction processes.")] = 1,
    ocr_lang: Annotated[
        str | None,
        typer.Option(
            "--ocr-lang",
            help="Tesseract language(s) for screenshots, e.g. eng or eng+pol (default: $EVIDENCE_OCR_LANG or eng).",
        ),
    ] = None,
) -> None:
    """Hash, store and parse every file in SOURCES into the case; prints a run summary."""
    params = IngestParameters(
        sources=[str(s) for s in sources],
        case_dir=str(case),
        tz=tz,
        region=region,
        owners=list(owner or []),
        examiner=examiner,
        jobs=jobs,
        **({"ocr_lang": ocr_lang} if ocr_lang else {}),
    )
    with friendly_errors():
        params.validate()
        with _progress() as progress:
            storing = progress.add_task("storing files", total=None)
            extracting = progress.add_task("extracting", total=None, visible=False)

            def on_file(item: Any) -> None:
                progress.advance(storing)

            def on_batch(done: int, total: int) -> None:
                progress.update(extracting, completed=done, total=total, visible=True)

            summary = ingest(params, on_file=on_file, on_batch=on_batch)
    print_summary(summary)
    if summary["files_seen"] == 0:
        fail("nothing could be ingested: no readable file in the sources", 1)


SUMMARY_LINES = (
    ("files seen", "files_seen"),
    ("new to this case", "new"),
    ("duplicates (already stored)", "duplicate"),
    ("parsed", "parsed"),
    ("skipped (already parsed)", "skipped"),
    ("unsupported (stored, listed)", "unsupported"),
    ("failed", "failed"),
    ("not read (see reasons)", "not_read"),
    ("warnings", "warnings"),
    ("messages read", "messages_read"),
    ("messages loaded (new)", "messages_loaded"),
)


def print_summary(summary: dict[str, Any]) -> None:
    """The run summary an investigator reads: every file accounted for. A table on a terminal; plain
    "label: value" lines where the output goes to a file, a pipe or a log (no box drawing to read past,
    and rich is not imported for it)."""
    counts = [
        (label, str(len(value) if isinstance(value, list) else value))
        for label, key in SUMMARY_LINES
        for value in [summary[key]]
    ]
    # Names are shown with control and right-to-left characters escaped (evidence.text): a newline or
    # U+202E in a file name must not disguise a line of the summary.
    listed = [
        (
            title,
            [f"  {for_display(e['source_path'])}: {for_display(e['reason'] or '')}" for e in summary[key]],
        )
        for title, key in (("Failed", "failures"), ("Not read", "not_read"))
        if summary[key]
    ]
    if not is_terminal(sys.stdout):
        lines = [f"Run {summary['run_id']}", *(f"  {label}: {value}" for label, value in counts)]
        lines += [f"Linking problem: {for_display(error)}" for error in summary.get("link_errors", [])]
        for title, entries in listed:
            lines += [f"{title}:", *entries]
        print("\n".join(lines), flush=True)
        return
    from rich.table import Table

    table = Table(title=f"Run {summary['run_id']}", show_header=False, title_justify="left")
    for label, value in counts:
        table.add_row(label, value)
    out_console.print(table)
    for error in summary.get("link_errors", []):
        out_console.print(f"[bold]Linking problem:[/] {escape(error)}", soft_wrap=True)
    for title, entries in listed:
        out_console.print(f"[bold]{title}:[/]")
        for entry in entries:
            out_console.print(entry, highlight=False, markup=False, soft_wrap=True)


@app.command("timeline")
def timeline_command(
    case: CaseOption,
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="Output format.")] = TableFormat.table,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the timeline: one row per distinct event, oldest first, undated last."""

    from evidence.db import open_case
    from evidence.outputs.timeline import timeline_rows

    with friendly_errors(), open_case(case) as con:
        columns, rows = timeline_rows(con)
    if format is TableFormat.table and output is None:
        print_timeline(columns, rows)
        return
    _emit(columns, rows, format, output, title="Timeline")


def print_timeline(columns: list[str], rows: list[tuple]) -> None:
    """A reader's view for the terminal: when, where, who, what; CSV and JSON lines carry every column."""
    from rich.table import Table

    table = Table(
        title=f"Timeline: {len(rows)} events (times in UTC)", title_justify="left", show_lines=False
    )
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("platform", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("who", overflow="fold", max_width=32)  # the confirmed actor, else the sender
    table.add_column("suggested", overflow="fold", max_width=28)
    table.add_column("text", overflow="fold", ratio=1)
    table.add_column("seen", justify="right")
    table.add_column("flags", overflow="fold", max_width=24)
    index = {name: i for i, name in enumerate(columns)}
    for row in rows:
        when = row[index["occurred_at_utc"]]
        text = " ".join(str(row[index["text"]] or "").split())
        table.add_row(
            when.strftime("%Y-%m-%d %H:%M:%S") if when else "undated",
            str(row[index["platform"]] or ""),
            str(row[index["kind"]] or ""),
            str(row[index["actor"]] or row[index["sender"]] or ""),
            str(row[index["suggested_actor"]] or ""),
            text if len(text) <= 200 else text[:199] + "…",
            str(row[index["occurrences"]]),
            ", ".join(row[index["flags"]] or []),
            style=None,
        )
    out_console.print(table)


@app.command("query")
def query_command(
    case: CaseOption,
    sql: Annotated[str, typer.Argument(help="SQL to run against the case database (read-only).")],
    format: Annotated[TableFormat, typer.Option("--format", "-f", help="Output format.")] = TableFormat.table,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Run SQL against the case database, opened read-only."""

    from evidence.db import open_case, query_rows

    with friendly_errors(), open_case(case) as con:
        columns, rows = query_rows(con, sql)
    _emit(columns, rows, format, output)


@app.command("verify")
def verify_command(
    case: CaseOption,
    reproduce: Annotated[
        bool,
        typer.Option(
            "--reproduce",
            help="Also extract every original again (recorded parser versions and parameters, in a "
            "temporary scratch case) and compare each file's rows with the case's.",
        ),
    ] = False,
    examiner: Annotated[
        str | None, typer.Option("--examiner", help="Name recorded in the custody log.")
    ] = None,
) -> None:
    """Re-hash every original, check the custody chain and the database against them; exit 1 naming what fails.

    With --reproduce, every file whose rows differ from a fresh extraction is named with its tables.
    """

    from evidence.pipeline.verify import verify_case

    progress = _progress() if reproduce else None  # (a progress display writes to stderr even unused)
    with friendly_errors(), progress or contextlib.nullcontext():
        on_progress = None
        if progress is not None:
            task = progress.add_task("re-extracting", total=None, visible=False)

            def on_progress(done: int, total: int, source_path: str) -> None:
                progress.update(task, completed=done, total=total, visible=True)

        result = verify_case(case, examiner, reproduce=reproduce, on_progress=on_progress)
    if not result.problems:
        out_console.print(
            f"OK: {result.originals_checked} originals intact, custody chain unbroken.", soft_wrap=True
        )
    for problem in result.problems:
        out_console.print(f"FAIL: {problem}", highlight=False, markup=False, soft_wrap=True)
    if result.reproduction is not None:
        print_reproduction(result.reproduction)
    elif reproduce:
        out_console.print(
            "Reproduction not run: the case has no database tables to compare with.", soft_wrap=True
        )
    out_console.print(f"custody chain head: {result.chain_head}", soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


class _NoProgress:
    """The progress display where stderr is no terminal (a log file, Airflow, a pipe): nothing to animate,
    and rich's progress module is not even imported."""

    def __enter__(self) -> "_NoProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, description: str, **fields: Any) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        return None

    def update(self, task: int, **fields: Any) -> None:
        return None


def _progress() -> Any:
    """A live progress display on a terminal; elsewhere one that shows nothing."""
    if not is_terminal(sys.stderr):
        return _NoProgress()
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console.get(),
        transient=True,
    )


def print_reproduction(reproduction: Any) -> None:
    """Counts first, then every file that differs or could not be re-extracted, with the reasons."""
    from evidence.pipeline.reproduce import DIFFERENT, EQUAL, NOT_REPRODUCIBLE

    different = reproduction.with_status(DIFFERENT)
    not_reproducible = reproduction.with_status(NOT_REPRODUCIBLE)
    out_console.print(
        f"Reproduction: {reproduction.re_extracted} files re-extracted, "
        f"{len(reproduction.with_status(EQUAL))} equal, {len(different)} different, "
        f"{len(not_reproducible)} not reproducible.",
        soft_wrap=True,
    )
    for label, files in (("DIFFERS", different), ("NOT REPRODUCIBLE", not_reproducible)):
        for outcome in files:
            tables = f" [{', '.join(outcome.tables)}]" if outcome.tables else ""
            out_console.print(
                f"{label}: {for_display(outcome.source_path)} ({outcome.sha256}){tables}",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
            for reason in outcome.reasons:
                out_console.print(f"  {for_display(reason)}", highlight=False, markup=False, soft_wrap=True)


def _emit(
    columns: list[str], rows: list[tuple], format: TableFormat, output: Path | None, title: str = ""
) -> None:
    from evidence.outputs.timeline import iter_display, write_csv, write_jsonl

    if format is TableFormat.table and output is None:
        from rich.table import Table

        table = Table(*columns, title=title or None, title_justify="left")
        for cells in iter_display(columns, rows):
            table.add_row(*cells)
        out_console.print(table)
        return
    with (
        open(output, "w", encoding="utf-8", newline="")
        if output
        else contextlib.nullcontext(sys.stdout) as handle
    ):
        if format is TableFormat.jsonl:
            write_jsonl(columns, rows, handle)
        else:
            write_csv(columns, rows, handle)
    if output:
        console.print(f"wrote {len(rows)} rows to {output}")


app.add_typer(actors_app, name="actors")
app.add_typer(events_app, name="events")
app.command("annotate")(annotate_command)
app.command("export")(export_command)
app.command("report")(report_command)


def main() -> None:
    try:
        app()
    except SystemExit as done:
        # Every file and the database are closed by now. Leave without the interpreter's teardown, whose
        # cyclic-garbage passes took 0.1-0.2 s after a large ingest (a tenth of the whole run).
        code = done.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 0)
