"""What the command-line modules share: consoles, the case option, and turning library errors into
one-line messages with the contract's exit codes. Only the CLI layer does that translation."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from evidence.errors import ActorError, CaseLockedError, CaseNotFoundError, IngestError

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
    except (IngestError, ActorError, CaseNotFoundError, FileNotFoundError) as exc:
        fail(str(exc), 2)
    except CaseLockedError as exc:
        fail(str(exc), 1)
    except Exception as exc:
        duckdb = sys.modules.get("duckdb")  # not imported just to name its exception class
        if duckdb is not None and isinstance(exc, duckdb.Error):
            fail(f"database: {exc}", 1)
        raise
