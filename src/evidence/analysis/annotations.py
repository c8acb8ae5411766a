"""An advocate's notes on an event or an incident: what a UK stalking diary asks for (what happened, where,
witnesses, police reference, how it made the victim feel). Append-only; the CLI logs each in custody."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from evidence.db import insert_rows
from evidence.errors import EvidenceError


class AnnotationError(EvidenceError, ValueError):
    """Nothing to annotate: an unknown target, or no text given."""


def target_kind(con: Any, target: str) -> str:
    """event or incident; raises when the case has neither with this id."""
    if con.execute("SELECT count(*) FROM timeline WHERE event_id = ?", [target]).fetchall()[0][0]:
        return "event"
    if con.execute("SELECT count(*) FROM incidents WHERE incident_id = ?", [target]).fetchall()[0][0]:
        return "incident"
    raise AnnotationError(
        f"no event or incident {target!r} in this case: event ids are in `evidence timeline --format csv`, "
        "incident ids in the report and the incident log"
    )


def annotate(con: Any, target: str, *, examiner: str, **fields: str | None) -> dict[str, Any]:
    """Record one annotation; returns it as recorded."""
    texts = {k: v.strip() for k, v in fields.items() if v and v.strip()}
    if not texts:
        raise AnnotationError("nothing to record: give --impact, --police-ref, --witness, --where or --note")
    kind = target_kind(con, target)
    now = datetime.now(UTC)
    annotation_id = (
        "n-"
        + hashlib.blake2b(
            f"{target}|{sorted(texts.items())}|{now.isoformat()}".encode(), digest_size=6
        ).hexdigest()
    )
    row = {
        "annotation_id": annotation_id,
        "target_id": target,
        "target_kind": kind,
        "impact": texts.get("impact"),
        "police_ref": texts.get("police_ref"),
        "witness": texts.get("witness"),
        "location": texts.get("location"),
        "note": texts.get("note"),
        "examiner": examiner,
        "annotated_at": now,
    }
    insert_rows(con, "annotations", [row])
    return {**row, "annotated_at": now.isoformat()}
