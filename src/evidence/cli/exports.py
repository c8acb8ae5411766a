"""`evidence export`: the case as an incident log, a Timesketch timeline, CASE/UCO JSON-LD or Parquet files.

The case is read through a read-only connection; each export is then written to the custody log with the
SHA-256 of every file it wrote, and the chain's head hash is printed so it can be recorded elsewhere.
"""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from evidence.acquire.custody import default_examiner
from evidence.cli.console import CaseOption, console, fail, friendly_errors, out_console


class ExportFormatName(StrEnum):
    incident_log = "incident-log"
    timesketch = "timesketch"
    case_uco = "case-uco"
    parquet = "parquet"


def export_command(
    case: CaseOption,
    format: Annotated[
        ExportFormatName,
        typer.Option(
            "--format",
            "-f",
            help="incident-log (CSV diary, one row per incident), timesketch (JSON lines), case-uco "
            "(JSON-LD) or parquet (a folder, one file per table and view).",
        ),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write (a new folder for parquet).")],
    redact: Annotated[
        bool,
        typer.Option(
            "--redact",
            help="Mask phone numbers, addresses and accounts other than the actors' (not parquet).",
        ),
    ] = False,
    examiner: Annotated[
        str | None, typer.Option("--examiner", help="Name recorded in the custody log.")
    ] = None,
) -> None:
    """Export the case for advocates, police and other tools; the export is recorded in the custody log."""
    from evidence.db import open_case
    from evidence.outputs.delivery import record_output
    from evidence.outputs.exports import FORMATS, export_case
    from evidence.outputs.redact import redactor_for

    chosen = FORMATS[format.value]
    if redact and not chosen.redactable:
        fail(
            f"--redact is not available for {chosen.name}: it is the analyst's full copy of the case. "
            "Redacted exports are incident-log, timesketch and case-uco.",
            2,
        )
    who = examiner or default_examiner()
    with friendly_errors():
        with open_case(case) as con:
            redactor = redactor_for(con, redact)
            result = export_case(con, chosen.name, output, redactor, case_name=Path(case).resolve().name)
        head = record_output(
            case,
            "export_written",
            result.paths,
            who,
            format=chosen.name,
            redacted=redact,
            rows=result.rows,
            **result.details,
        )
    where = output if chosen.folder else result.paths[0]
    out_console.print(
        f"wrote {chosen.name} export: {result.rows} {_unit(chosen.name)} to {where}"
        + (" (redacted)" if redact else ""),
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    for note in result.notes:
        console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
    if not chosen.folder:
        from evidence.outputs.delivery import sha256_of

        out_console.print(f"sha256: {sha256_of(result.paths[0])}", markup=False, highlight=False)
    out_console.print(f"custody chain head: {head}", markup=False, highlight=False, soft_wrap=True)


def _unit(name: str) -> str:
    return {
        "incident-log": "incidents",
        "timesketch": "events",
        "case-uco": "graph nodes",
        "parquet": "rows in total",
    }[name]
