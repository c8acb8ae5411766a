"""Carrying out analyst decisions on a case: under the writer lock in one transaction, then one custody
entry per decision. `evidence actors confirm|reject|link|unlink|import` and the Airflow review DAG both
come here, so a decision made in either place is recorded the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evidence.acquire.custody import CustodyLog
from evidence.errors import ActorError

CONFIRM, REJECT, LEAVE_OPEN = "confirm", "reject", "leave open"
CHOICES = (CONFIRM, REJECT, LEAVE_OPEN)


def log_decisions(case: Path, examiner: str, records: list[dict[str, Any]]) -> None:
    """One custody entry per decision, written after the decisions are committed."""
    CustodyLog(Path(case) / "custody.log", examiner).append_many(
        [(f"actor_{r['action']}", {k: v for k, v in r.items() if k != "action"}) for r in records]
    )


def apply_decisions(
    case: Path,
    examiner: str,
    apply: Callable[[Any], list[dict[str, Any]]],
    after_commit: Callable[[Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Run `apply(connection)` (which records decisions) under the writer lock, commit, then log each.
    `after_commit` is passed to db.writing_case (callers publish the viewers' snapshot there)."""
    from evidence.db import writing_case

    with writing_case(Path(case), after_commit=after_commit) as con:
        records = apply(con)
    log_decisions(case, examiner, records)
    return records


def apply_review(
    case: Path,
    choices: dict[str, str],
    *,
    examiner: str,
    source: str,
    reason: str | None = None,
    after_commit: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """An analyst's answers about suggestions (suggestion id -> confirm, reject or leave open).

    A suggestion no longer open (decided meanwhile, or by an earlier try of the same task) is left as it
    is, so applying the same answers twice records nothing twice.
    """
    unknown = sorted(set(choices.values()) - set(CHOICES))
    if unknown:
        raise ActorError(f"unknown choice {unknown[0]!r}: use {', '.join(CHOICES)}")
    wanted = {sid: choice for sid, choice in choices.items() if choice != LEAVE_OPEN}
    already: list[str] = []

    def apply(con: Any) -> list[dict[str, Any]]:
        from evidence.analysis.actors.review import decide

        status = dict(
            con.execute(
                "SELECT suggestion_id, status FROM actor_suggestions WHERE list_contains(?, suggestion_id)",
                [sorted(wanted)],
            ).fetchall()
        )
        missing = sorted(set(wanted) - set(status))
        if missing:
            raise ActorError(f"no suggestion {missing[0]!r} in this case: see `evidence actors suggestions`")
        records: list[dict[str, Any]] = []
        for action in (CONFIRM, REJECT):
            ids = sorted(s for s, choice in wanted.items() if choice == action and status[s] == "suggested")
            if ids:
                records += decide(con, action, ids, examiner=examiner, reason=reason, source=source)
        already.extend(sorted(s for s in wanted if status[s] != "suggested"))
        return records

    records = apply_decisions(case, examiner, apply, after_commit) if wanted else []
    return {
        "decisions": records,
        "left_open": sorted(s for s, choice in choices.items() if choice == LEAVE_OPEN),
        "already_decided": already,
    }
