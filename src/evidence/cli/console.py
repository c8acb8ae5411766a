"""What the command-line modules share: consoles, the case option, and turning library errors into
one-line messages with the contract's exit codes. Only the CLI layer does that translation."""

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from evidence.errors import CaseLockedError, DiskFullError, EvidenceError

PIPED_WIDTH = 240


class _LazyConsole:
    """A rich Console made on first use. rich takes about 45 ms to import, and a command whose output is
    not a terminal may print nothing that needs it (an ingest's summary in a log: see print_summary)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    def get(self) -> Any:
        """The rich Console itself (for rich objects that take one, such as a progress display)."""
        if self._console is None:
            from rich.console import Console

            # Written to a file, a pipe or a log, rich breaks lines at 80 columns: a path or an error
            # message broken in two is not found by grep, and a table of key dates came out one word per
            # line. There a line stays one line, and a table is as wide as its cells (up to PIPED_WIDTH)
            # unless COLUMNS says otherwise.
            piped = not is_terminal(sys.stderr if self._stderr else sys.stdout)
            width = PIPED_WIDTH if piped and "COLUMNS" not in os.environ else None
            self._console = Console(stderr=self._stderr, soft_wrap=piped, width=width)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console: Any = _LazyConsole(stderr=True)
out_console: Any = _LazyConsole()


def escape(text: str) -> str:
    """Text shown as it is inside rich markup."""
    from rich.markup import escape as escape_markup

    return escape_markup(text)


def is_terminal(stream: Any) -> bool:
    """Whether a person watches this stream (a spinner, colours and box tables make sense there)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed
        return False


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
        from rich.table import Table

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
