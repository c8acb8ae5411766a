"""`evidence actors ...`: see the people behind identifiers, and decide about suggested links.

Every decision is written to the case database (actor_decisions, re-applied after each load) and to the
custody log (one entry per decision: action, actor, identifier, reason, examiner). Nothing here merges
anything on its own: suggestions are only listed until an analyst confirms them.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from evidence.acquire.custody import default_examiner
from evidence.cli.console import CaseOption, emit_rows, friendly_errors, out_console
from evidence.pipeline.snapshot import snapshot_publisher

actors_app = typer.Typer(
    help="People behind identifiers: list actors and suggestions, confirm, reject, link, unlink, import aliases.",
    no_args_is_help=True,
)
ExaminerOption = Annotated[str | None, typer.Option("--examiner", help="Name recorded in the custody log.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", help="Why, in your words (kept with the decision).")
]
RegionOption = Annotated[str, typer.Option("--region", help="Default country for phone numbers you type.")]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, csv or jsonl.")]


def _report(records: list[dict[str, Any]]) -> None:
    for r in records:
        other = f" <-> {r['other_identifier']}" if r.get("other_identifier") else ""
        actor = f" ({r['actor']})" if r.get("actor") else ""
        out_console.print(f"{r['action']}: {r['identifier']}{other}{actor}", highlight=False, markup=False)


ACTORS_SQL = """
SELECT a.actor_id, a.label, a.status,
       i.kind || ':' || i.value AS identifier,
       CASE WHEN ai.confirmed THEN 'confirmed' ELSE 'suggested' END AS link,
       ai.confidence,
       (SELECT count(DISTINCT m.message_id) FROM message_identifiers mi JOIN messages m USING (message_id)
        WHERE mi.identifier_id = ai.identifier_id AND mi.role = 'sender' AND m.duplicate_of IS NULL) AS messages_sent,
       ai.reason
FROM actors a JOIN actor_identifiers ai USING (actor_id) JOIN identifiers i USING (identifier_id)
ORDER BY CASE a.status WHEN 'owner' THEN 0 WHEN 'confirmed' THEN 1 ELSE 2 END, a.label, a.actor_id,
         ai.confirmed DESC, identifier
"""

SUGGESTIONS_SQL = """
SELECT s.suggestion_id, s.status, s.confidence,
       a.kind || ':' || a.value AS identifier,
       CASE WHEN s.other_identifier_id = s.identifier_id THEN NULL ELSE b.kind || ':' || b.value END AS other,
       s.label_hint AS name, s.reason
FROM actor_suggestions s
JOIN identifiers a ON a.identifier_id = s.identifier_id
JOIN identifiers b ON b.identifier_id = s.other_identifier_id
WHERE ? OR s.status = 'suggested'
ORDER BY s.confidence DESC, s.suggestion_id
"""


@actors_app.command("list")
def list_command(case: CaseOption, format: FormatOption = "table") -> None:
    """Actors and their identifiers: owner, confirmed and suggested, each link with its confidence and reason."""
    from evidence.db import open_case, query_rows

    with friendly_errors(), open_case(case) as con:
        columns, rows = query_rows(con, ACTORS_SQL)
    emit_rows(
        columns, rows, format, f"Actors ({len({r[0] for r in rows})}); 'suggested' links are not confirmed"
    )


@actors_app.command("suggestions")
def suggestions_command(
    case: CaseOption,
    all_: Annotated[
        bool, typer.Option("--all", help="Also list confirmed and rejected suggestions.")
    ] = False,
    format: FormatOption = "table",
) -> None:
    """Suggested links between identifiers, strongest first, each with the evidence behind it."""
    from evidence.db import open_case, query_rows

    with friendly_errors(), open_case(case) as con:
        columns, rows = query_rows(con, SUGGESTIONS_SQL, [all_])
    emit_rows(
        columns, rows, format, "Suggestions: confirm or reject with `evidence actors confirm|reject ID`"
    )


def _decide(case: Path, examiner: str | None, apply: Callable[[Any, Any, str], list[dict[str, Any]]]) -> list:
    """Every analyst decision: carried out and logged in custody by the package (the review DAG does the
    same), then reported. `apply(actor_functions, connection, examiner)` returns the decision records."""
    from types import SimpleNamespace

    from evidence.analysis.actors import aliases, review
    from evidence.analysis.actors.deciding import apply_decisions

    actor_lib = SimpleNamespace(
        decide=review.decide, link=review.link, unlink=review.unlink, import_aliases=aliases.import_aliases
    )
    who = examiner or default_examiner()
    with friendly_errors():
        records = apply_decisions(
            case, who, lambda con: apply(actor_lib, con, who), after_commit=snapshot_publisher(case, who)
        )
    _report(records)
    return records


@actors_app.command("confirm")
def confirm_command(
    ids: Annotated[list[str], typer.Argument(help="Suggestion ids (s-...) or a suggested actor's id.")],
    case: CaseOption,
    label: Annotated[str | None, typer.Option("--label", help="Name for the confirmed actor.")] = None,
    reason: ReasonOption = None,
    examiner: ExaminerOption = None,
) -> None:
    """Confirm suggested links: the identifiers become one confirmed actor (logged in custody)."""
    _decide(
        case,
        examiner,
        lambda lib, con, who: lib.decide(con, "confirm", ids, examiner=who, label=label, reason=reason),
    )


@actors_app.command("reject")
def reject_command(
    ids: Annotated[list[str], typer.Argument(help="Suggestion ids (s-...) or a suggested actor's id.")],
    case: CaseOption,
    reason: ReasonOption = None,
    examiner: ExaminerOption = None,
) -> None:
    """Reject suggested links: they are not suggested again, even after a re-ingest (logged in custody)."""
    _decide(case, examiner, lambda lib, con, who: lib.decide(con, "reject", ids, examiner=who, reason=reason))


@actors_app.command("link")
def link_command(
    identifiers: Annotated[
        list[str], typer.Argument(help="Identifiers: email, phone, @handle, platform:name, URL.")
    ],
    case: CaseOption,
    actor: Annotated[str, typer.Option("--actor", help="Actor name (created if new) or actor id.")],
    reason: ReasonOption = None,
    examiner: ExaminerOption = None,
    region: RegionOption = "GB",
) -> None:
    """Link identifiers to an actor because you know they belong together (logged in custody)."""
    _decide(
        case,
        examiner,
        lambda lib, con, who: lib.link(con, actor, identifiers, examiner=who, reason=reason, region=region),
    )


@actors_app.command("unlink")
def unlink_command(
    identifiers: Annotated[list[str], typer.Argument(help="Identifiers to take out of the actor.")],
    case: CaseOption,
    actor: Annotated[str, typer.Option("--actor", help="Actor name or id.")],
    reason: ReasonOption = None,
    examiner: ExaminerOption = None,
    region: RegionOption = "GB",
) -> None:
    """Take identifiers out of an actor; links joining them to it are rejected (logged in custody)."""
    _decide(
        case,
        examiner,
        lambda lib, con, who: lib.unlink(con, actor, identifiers, examiner=who, reason=reason, region=region),
    )


@actors_app.command("import")
def import_command(
    alias_file: Annotated[
        Path, typer.Argument(help="Alias file: CSV (actor,identifier[,kind,reason]) or YAML.")
    ],
    case: CaseOption,
    examiner: ExaminerOption = None,
    region: RegionOption = "GB",
) -> None:
    """Import an analyst's alias file: each row links an identifier to a named actor (logged in custody)."""
    with friendly_errors():
        if not alias_file.is_file():
            raise FileNotFoundError(f"alias file {alias_file} not found")
    records = _decide(
        case, examiner, lambda lib, con, who: lib.import_aliases(con, alias_file, examiner=who, region=region)
    )
    out_console.print(json.dumps({"imported": len(records)}))
