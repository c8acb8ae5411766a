"""`evidence events ...` (key dates of the case) and `evidence annotate` (an advocate's notes on an event or
an incident). Every change is written to the case database and, once committed, to the custody log."""

from pathlib import Path
from typing import Annotated, Any

import typer

from evidence.acquire.custody import CustodyLog, default_examiner
from evidence.cli.console import CaseOption, emit_rows, friendly_errors, out_console, writing_case

events_app = typer.Typer(
    help="Key dates of the case: stop requests, orders, police reports (add, list, remove).",
    no_args_is_help=True,
)
ExaminerOption = Annotated[str | None, typer.Option("--examiner", help="Name recorded in the custody log.")]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, csv or jsonl.")]


def _log(case: Path, examiner: str, action: str, details: dict[str, Any]) -> None:
    CustodyLog(Path(case) / "custody.log", examiner).append(action, **details)


@events_app.command("add")
def add_command(
    case: CaseOption,
    kind: Annotated[str, typer.Option("--kind", help="stop_request, order, police_report or other.")],
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="When: 2024-04-01 or 2024-04-01T14:05 (the case's time zone unless an offset is given).",
        ),
    ],
    note: Annotated[str | None, typer.Option("--note", help='What it is, e.g. "SPO served".')] = None,
    examiner: ExaminerOption = None,
) -> None:
    """Add a key date; flags such as after_stop_request and after_order follow it at once."""
    from evidence.analysis.key_dates import add_event

    who = examiner or default_examiner()
    with friendly_errors(), writing_case(case, who) as con:
        row = add_event(con, kind, at, note, who)
    _log(case, who, "key_date_added", row)
    out_console.print(f"added {row['event_id']}: {kind} at {row['at_utc']} ({row['at_local']})", markup=False)


@events_app.command("list")
def list_command(
    case: CaseOption,
    all_: Annotated[bool, typer.Option("--all", help="Also list removed key dates.")] = False,
    format: FormatOption = "table",
) -> None:
    """Key dates, oldest first: the advocate's and those detected in the owner's messages."""
    from evidence.analysis.key_dates import EVENTS_SQL
    from evidence.db import open_case, query_rows

    with friendly_errors(), open_case(case) as con:
        columns, rows = query_rows(con, EVENTS_SQL, [all_])
    emit_rows(columns, rows, format, "Key dates (remove a wrong one with `evidence events remove ID`)")


@events_app.command("remove")
def remove_command(
    event_id: Annotated[str, typer.Argument(help="Key date id (k-...), from `evidence events list`.")],
    case: CaseOption,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is not a key date.")] = None,
    examiner: ExaminerOption = None,
) -> None:
    """Remove a key date (kept in the case as removed: a detected one is not detected again)."""
    from evidence.analysis.key_dates import remove_event

    who = examiner or default_examiner()
    with friendly_errors(), writing_case(case, who) as con:
        row = remove_event(con, event_id, reason, who)
    _log(case, who, "key_date_removed", row)
    out_console.print(f"removed {event_id} ({row['kind']} at {row['at_local']})", markup=False)


def annotate_command(
    target: Annotated[str, typer.Argument(help="An event id (timeline.event_id) or an incident id (i-...).")],
    case: CaseOption,
    impact: Annotated[str | None, typer.Option("--impact", help="How it affected the victim.")] = None,
    police_ref: Annotated[str | None, typer.Option("--police-ref", help="Police reference.")] = None,
    witness: Annotated[str | None, typer.Option("--witness", help="Witnesses.")] = None,
    location: Annotated[str | None, typer.Option("--where", help="Where it happened.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="Anything else.")] = None,
    examiner: ExaminerOption = None,
) -> None:
    """Add a diary note to an event or an incident (shown in the report and the incident log)."""
    from evidence.analysis.annotations import annotate

    who = examiner or default_examiner()
    with friendly_errors(), writing_case(case, who) as con:
        row = annotate(
            con,
            target,
            examiner=who,
            impact=impact,
            police_ref=police_ref,
            witness=witness,
            location=location,
            note=note,
        )
    _log(case, who, "annotation_added", row)
    out_console.print(f"annotated {row['target_kind']} {target} ({row['annotation_id']})", markup=False)
