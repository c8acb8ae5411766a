"""What one load added, so that each link step works on that (plus indexed lookups into the case) and not
on the whole case.

Rows carry the run that loaded them (`loaded_in_run` on messages, images and message_identifiers). Rows of
a case built before that column existed have none: the next run adopts them as its own, so its link steps
treat them as new once, and later runs never see them again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Tables whose rows record the run that loaded them, and what a step may need of them.
NEW_ROWS = {"messages": "messages", "images": "images", "links": "message_identifiers"}


@dataclass(frozen=True)
class LinkScope:
    """The run being linked and how many rows of each kind it loaded."""

    run_id: str
    region: str
    new_messages: int = 0
    new_images: int = 0
    new_links: int = 0
    owners_changed: bool = False

    def has(self, needs: tuple[str, ...]) -> bool:
        """Whether anything a step needs changed in this run."""
        counts = {
            "messages": self.new_messages,
            "images": self.new_images,
            "links": self.new_links,
            "owners": int(self.owners_changed),
        }
        return any(counts[need] for need in needs)

    def is_empty(self) -> bool:
        return not self.has(("messages", "images", "links", "owners"))


def run_region(con: Any, run_id: str) -> str:
    """The phone region the run was started with (--region), GB when absent."""
    row = con.execute(
        "SELECT json_extract_string(parameters, '$.region') FROM ingest_runs WHERE run_id = ?", [run_id]
    ).fetchall()
    return ((row[0][0] if row else None) or "GB").upper()


def _owners_changed(con: Any, run_id: str) -> bool:
    """True when this run names an --owner no earlier run named (actors must be rebuilt for it)."""
    rows = con.execute(
        "SELECT run_id, json_extract(parameters, '$.owners')::VARCHAR[] FROM ingest_runs "
        "WHERE status = 'done' OR run_id = ?",
        [run_id],
    ).fetchall()
    mine = {o for r, owners in rows if r == run_id for o in owners or []}
    earlier = {o for r, owners in rows if r != run_id for o in owners or []}
    return bool(mine - earlier)


def adopt_legacy_rows(con: Any, run_id: str) -> int:
    """Rows this run's link steps must also see become this run's; returns how many: rows loaded before
    runs were recorded on them (older cases, once), and rows of a run that was stopped after its load
    committed but before its link steps finished (killed, power cut), which nothing would link otherwise.

    Legacy messages also get the per-message work extraction now does (keys, match text, phrase hits,
    mentioned identifiers), computed by the same code, so older cases link like new ones.
    """
    unfinished = [
        r
        for (r,) in con.execute(
            "SELECT run_id FROM ingest_runs WHERE status <> 'done' AND run_id <> ?", [run_id]
        ).fetchall()
    ]
    adopted = 0
    for table in NEW_ROWS.values():
        where = "loaded_in_run IS NULL OR loaded_in_run IN (SELECT unnest($unfinished::VARCHAR[]))"
        params = {"unfinished": unfinished}
        legacy = con.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchall()[0][0]
        if legacy:
            con.execute(f"UPDATE {table} SET loaded_in_run = $run WHERE {where}", {**params, "run": run_id})
            adopted += legacy
    if unfinished:
        con.execute(
            "UPDATE ingest_runs SET status = 'interrupted' WHERE run_id IN (SELECT unnest(?::VARCHAR[]))",
            [unfinished],
        )
    if adopted:
        _backfill_messages(con, run_id)
    return adopted


BACKFILL_ROWS = 50_000


def _backfill_messages(con: Any, run_id: str) -> None:
    """Per-message columns and mentions for this run's messages that were loaded without them."""
    from evidence.db import arrow_schema, arrow_view, insert_rows
    from evidence.parsers.enrich import ENRICHED_COLUMNS, enrich_messages

    region = run_region(con, run_id)
    names = ", ".join(f'"{n}"' for n in arrow_schema("messages").names)
    while True:
        table = con.sql(
            f"SELECT {names} FROM messages WHERE loaded_in_run = $run AND dedup_key IS NULL LIMIT {BACKFILL_ROWS}",
            params={"run": run_id},
        ).to_arrow_table()
        if table.num_rows == 0:
            return
        enriched = enrich_messages(table.cast(arrow_schema("messages")), region)
        computed = enriched.messages.select(["message_id", *ENRICHED_COLUMNS])
        with arrow_view(con, "_backfill", computed):
            sets = ", ".join(f"{c} = b.{c}" for c in ENRICHED_COLUMNS)
            con.execute(
                f"UPDATE messages SET {sets} FROM _backfill b WHERE messages.message_id = b.message_id"
            )
        insert_rows(con, "identifiers", enriched.identifiers, or_ignore=True)
        links = [{**row, "loaded_in_run": run_id} for row in enriched.links.to_pylist()]
        insert_rows(con, "message_identifiers", links, or_ignore=True)


def scope_of(con: Any, run_id: str) -> LinkScope:
    """Count what the run loaded (the run's rows are appended together, so DuckDB's zone maps skip the
    rest of the case)."""
    counts = {
        kind: con.execute(f"SELECT count(*) FROM {table} WHERE loaded_in_run = ?", [run_id]).fetchall()[0][0]
        for kind, table in NEW_ROWS.items()
    }
    return LinkScope(
        run_id=run_id,
        region=run_region(con, run_id),
        new_messages=counts["messages"],
        new_images=counts["images"],
        new_links=counts["links"],
        owners_changed=_owners_changed(con, run_id),
    )
