"""`evidence report`: the offline HTML report for advocates, recorded in the custody log."""

from pathlib import Path
from typing import Annotated

import typer

from evidence.cli.console import CaseOption, console, friendly_errors, out_console


def report_command(
    case: CaseOption,
    output: Annotated[Path, typer.Option("-o", "--output", help="The HTML file to write, e.g. report.html.")],
    redact: Annotated[
        bool,
        typer.Option(
            "--redact",
            help="Mask phone numbers, addresses, accounts and links of everyone but the actors (the owner's too).",
        ),
    ] = False,
    examiner: Annotated[
        str | None, typer.Option("--examiner", help="Name recorded in the custody log and the report.")
    ] = None,
) -> None:
    """Write one self-contained HTML report (opens offline, prints to PDF); prints the custody head hash."""
    from evidence.outputs.report import write_report

    with friendly_errors():
        result = write_report(case, output, redact=redact, examiner=examiner)
    console.print(
        f"wrote {result.path} ({result.events} events, {result.size_bytes / 1e6:.1f} MB"
        f"{', redacted' if result.redacted else ''})",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    out_console.print(f"report sha256: {result.sha256}", soft_wrap=True)
    out_console.print(f"custody chain head: {result.chain_head}", soft_wrap=True)
