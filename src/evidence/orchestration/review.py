"""Analyst review in Airflow: the suggestions a load produced, a human-in-the-loop form, the decisions applied.

The form has one field per suggestion (confirm, reject, leave open; leave open by default), so an analyst
decides each link on its own; a timeout or "Decide later" leaves them all open. The decisions go through
evidence.analysis.actors.deciding, the same code as `evidence actors confirm|reject`.
"""

from __future__ import annotations

import string
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Param
from airflow.sdk.definitions.param import ParamsDict

from evidence.analysis.actors.deciding import CHOICES, LEAVE_OPEN

APPLY = "Apply my choices"
LATER = "Decide later"
NOTE = "note"
_PUNCTUATION = set(string.punctuation)


def review_targets(events: list[dict[str, Any]], params: dict[str, Any]) -> list[tuple[str, str]]:
    """(case_dir, ingest_run_id) of each triggering event, or of the DAG params when there is no event."""
    found = [
        (e["case_dir"], e["ingest_run_id"]) for e in events if e.get("case_dir") and e.get("ingest_run_id")
    ]
    if not found and params.get("case_dir") and params.get("ingest_run_id"):
        found = [(params["case_dir"], params["ingest_run_id"])]
    return list(dict.fromkeys(found))


def suggestions_to_review(targets: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """For each case and run: the suggestions still open that the run's load found evidence for.

    Each suggestion gets the key of its form field: its id, prefixed by the case's number when one
    review covers several cases (two cases can hold the same pair of identifiers).
    """
    from evidence.analysis.actors.review import open_suggestions_from_run
    from evidence.db import open_case

    reviews = []
    for number, (case_dir, run_id) in enumerate(targets, start=1):
        with open_case(Path(case_dir)) as con:
            found = open_suggestions_from_run(con, run_id)
        for suggestion in found:
            prefix = f"case{number}-" if len(targets) > 1 else ""
            suggestion["key"] = prefix + suggestion["suggestion_id"]
        reviews.append({"case_dir": case_dir, "ingest_run_id": run_id, "suggestions": found})
    return reviews


def markdown_text(text: Any) -> str:
    """Evidence text shown as itself in Markdown: every ASCII punctuation mark escaped, one line."""
    flat = " ".join(str(text).split())
    return "".join("\\" + c if c in _PUNCTUATION else c for c in flat)


def _pair(s: dict[str, Any]) -> str:
    if s["other_identifier"]:
        return f"{s['identifier']} and {s['other_identifier']}"
    return str(s["identifier"])


def review_body(reviews: list[dict[str, Any]]) -> str:
    """The Markdown an analyst reads: each suggestion with its confidence and reason, by case."""
    lines = [
        "A new load found evidence that these identifiers may belong to one person. Nothing is merged until "
        "you confirm it; what you reject is not suggested again, even after a re-ingest.",
        "",
        f"For each field below choose **confirm**, **reject** or **leave open**, then **{APPLY}**. "
        f"**{LATER}** leaves every suggestion open.",
    ]
    for review in reviews:
        if not review["suggestions"]:
            continue
        lines += [
            "",
            f"#### Case {markdown_text(review['case_dir'])}, run {markdown_text(review['ingest_run_id'])}",
            "",
            "| field | identifiers | confidence | why |",
            "|---|---|---|---|",
        ]
        for s in review["suggestions"]:
            lines.append(
                f"| {markdown_text(s['key'])} | {markdown_text(_pair(s))} | {s['confidence']:.2f} | "
                f"{markdown_text(s['reason'])} |"
            )
    return "\n".join(lines)


def review_params(reviews: list[dict[str, Any]]) -> dict[str, Param]:
    """One field per suggestion (leave open by default) and a note kept as the reason of every decision."""
    fields: dict[str, Param] = {}
    for review in reviews:
        for s in review["suggestions"]:
            name = f" ({s['label_hint']})" if s.get("label_hint") else ""
            fields[s["key"]] = Param(
                LEAVE_OPEN,
                type="string",
                enum=list(CHOICES),
                title=f"{_pair(s)}{name}: confidence {s['confidence']:.2f}",
                description=" ".join(str(s["reason"]).split())[:500],
            )
    fields[NOTE] = Param(
        "",
        type="string",
        title="Note",
        description="Why, in your words: kept with every decision and in the custody log.",
    )
    return fields


class SuggestionReview(HITLOperator):
    """A human-in-the-loop form whose fields are the suggestions an upstream task found at run time.

    HITLOperator takes its fields when the DAG is parsed; the suggestions exist only once the load ran, so
    the form and its Markdown body are built from the upstream task's result when the task runs, and
    again when it resumes with the answer (to check the answer against the same fields).
    """

    def __init__(self, *, found_task_id: str, timeout_param: str = "response_days", **kwargs: Any) -> None:
        super().__init__(options=[APPLY, LATER], defaults=[LATER], **kwargs)
        self.found_task_id = found_task_id
        self.timeout_param = timeout_param

    def _prepare(self, context: Any) -> None:
        reviews = context["ti"].xcom_pull(task_ids=self.found_task_id) or []
        self.params = ParamsDict(review_params(reviews))
        self.body = review_body(reviews)

    def execute(self, context: Any) -> Any:
        self._prepare(context)
        days = context["params"].get(self.timeout_param)
        self.response_timeout = timedelta(days=float(days)) if days else None
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        self._prepare(context)
        return super().execute_complete(context, event)


def answers_by_case(reviews: list[dict[str, Any]], answer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The analyst's choices per case (suggestion id -> choice), who answered and the note; nothing when
    the analyst chose to decide later or the form timed out."""
    if not answer or APPLY not in (answer.get("chosen_options") or []):
        return []
    given = answer.get("params_input") or {}
    user = answer.get("responded_by_user") or {}
    out = []
    for review in reviews:
        choices = {s["suggestion_id"]: given.get(s["key"], LEAVE_OPEN) for s in review["suggestions"]}
        out.append(
            {
                "case_dir": review["case_dir"],
                "ingest_run_id": review["ingest_run_id"],
                "choices": choices,
                "examiner": user.get("name") or user.get("id") or "airflow",
                "note": given.get(NOTE) or None,
            }
        )
    return out
