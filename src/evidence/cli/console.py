"""What the command-line modules share: consoles, the case option, and turning library errors into
one-line messages with the contract's exit codes. Only the CLI layer does that translation."""

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from evidence.errors import CaseLockedError, DiskFullError, EvidenceError

console = Console(stderr=True)
out_console = Console()

CaseOption = Annotated[
    Path, typer.Option("--case", help="Case folder (holds evidence.duckdb, originals/ and custody.log).")
]


def fail(message: str, code: int = 1) -> None:
    """Print one error line and exit with the given code (2 usage, 1 failure)."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Expected library errors become messages; anything else is a bug and keeps its traceback."""
    try:
        yield
    except CaseLockedError as exc:
        fail(str(exc), 1)
    except DiskFullError as exc:
        fail(
            f"{exc}. The run stopped and loaded nothing; the originals it stored are kept. "
            "Free space on that disk and run the same ingest again.",
            1,
        )
    except (EvidenceError, FileNotFoundError) as exc:  # bad input the user can correct
        fail(str(exc), 2)
    except Exception as exc:
        duckdb = sys.modules.get("duckdb")  # not imported just to name its exception class
        if duckdb is not None and isinstance(exc, duckdb.Error):
            fail(f"database: {exc}", 1)
        raise


@contextlib.contextmanager
def writing_case(case: Path, examiner: str | None = None) -> Iterator[Any]:
    """The case database under the writer lock, in one transaction; never creates a case. Once committed,
    the viewers' snapshot is published (and that recorded in custody) before the lock is let go."""
    from evidence.db import writing_case as writing
    from evidence.pipeline.snapshot import snapshot_publisher

    with writing(case, after_commit=snapshot_publisher(case, examiner)) as con:
        yield con


def emit_rows(columns: list[str], rows: list[tuple], format: str, title: str) -> None:
    from evidence.outputs.timeline import write_csv, write_jsonl

    if format == "jsonl":
        write_jsonl(columns, rows, sys.stdout)
    elif format == "csv":
        write_csv(columns, rows, sys.stdout)
    elif format == "table":
        table = Table(*columns, title=title, title_justify="left")
        for row in rows:
            table.add_row(*(cell_text(v) for v in row))
        out_console.print(table)
    else:
        fail(f"unknown format {format!r}: use table, csv or jsonl", 2)


def cell_text(value: Any, limit: int = 160) -> str:
    """Terminal cells stay readable; csv and jsonl carry the full text."""
    text = "" if value is None else ", ".join(value) if isinstance(value, list) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
