"""Link step: identifiers written inside message bodies become `mentioned` identifiers.

Why a link step and not a call inside ParseContext.add_message: every parser's tests pin the exact
identifier rows a file produces, and body scanning is a cross-cutting rule with its own version. Running
it after each load over the messages of the files seen in that run (parsed now or earlier) keeps the
parsers untouched, covers cases loaded before this rule existed, and stays idempotent: the rows go in
with INSERT OR IGNORE on their natural keys. DuckDB's regex prefilter runs in parallel and leaves Python
only the few bodies that contain a digit run, an @, or something URL-like.
"""

from __future__ import annotations

from typing import Any

from evidence.db import insert_rows
from evidence.identifiers import find_in_text

# RE2 (DuckDB) prefilter: anything find_in_text could possibly find.
PREFILTER = r"@|://|www\.|\.[A-Za-z]{2,3}/|\d[\d \x{00a0}\-().]{5,}\d"
# Media file names that chat exports write into bodies (IMG-20230129-WA0062.jpg,
# 00000012-PHOTO-2023-01-01-10-00-00.jpg): their digit runs are dates and counters, never identifiers,
# and they are most of what the digit prefilter would otherwise send to phonenumbers.
MEDIA_FILE_NAMES = (
    r"(?i)\b(?:IMG|VID|AUD|PTT|STK|DOC)-\d{8}-WA\d{4}\.[a-z0-9]{2,5}\b"
    r"|\b\d{8}-(?:PHOTO|VIDEO|AUDIO|GIF|STICKER|DOC)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.[a-z0-9]{2,5}\b"
)


def run_region(con: Any, run_id: str) -> str:
    """The phone region the run was started with (--region), GB when absent."""
    row = con.execute(
        "SELECT json_extract_string(parameters, '$.region') FROM ingest_runs WHERE run_id = ?", [run_id]
    ).fetchone()
    return ((row[0] if row else None) or "GB").upper()


def record_mentions(con: Any, run_id: str) -> dict[str, Any]:
    """Scan the bodies of messages from this run's files; link what they name with role `mentioned`."""
    region = run_region(con, run_id)
    rows = con.execute(
        """
        SELECT message_id, platform, body FROM (
            SELECT m.message_id, m.platform, regexp_replace(m.body, ?, '', 'g') AS body FROM messages m
            WHERE m.body IS NOT NULL
              AND m.source_sha256 IN (
                  SELECT sha256 FROM run_files WHERE run_id = ? AND status IN ('parsed', 'skipped'))
        ) WHERE regexp_matches(body, ?)
        """,
        [MEDIA_FILE_NAMES, run_id, PREFILTER],
    ).fetchall()
    identifiers: dict[str, dict[str, Any]] = {}
    links: set[tuple[str, str]] = set()
    for message_id, platform, body in rows:
        for ident in find_in_text(body, region, platform):
            identifiers.setdefault(ident.identifier_id, ident.row())
            links.add((message_id, ident.identifier_id))
    if not links:
        return {"messages_scanned": len(rows), "new_mentions": 0}
    count = "SELECT count(*) FROM message_identifiers WHERE role = 'mentioned'"
    before = con.execute(count).fetchone()[0]
    link_rows = [{"message_id": m, "identifier_id": i, "role": "mentioned"} for m, i in sorted(links)]
    insert_rows(con, "identifiers", list(identifiers.values()), or_ignore=True)
    insert_rows(con, "message_identifiers", link_rows, or_ignore=True)
    after = con.execute(count).fetchone()[0]
    return {"messages_scanned": len(rows), "new_mentions": after - before}
