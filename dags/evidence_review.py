"""Ask an analyst about the links a load suggested: runs after every load of a case (the case-database Asset).

Thin on purpose: finding the suggestions, the form and applying the answers are evidence.orchestration.review
and evidence.analysis.actors.deciding (the same code as `evidence actors confirm|reject`).
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import DAG, Param, get_current_context, task

from evidence.analysis.actors.deciding import apply_review
from evidence.errors import EvidenceError
from evidence.orchestration.assets import CASE_DATABASE
from evidence.orchestration.review import (
    SuggestionReview,
    answers_by_case,
    review_targets,
    suggestions_to_review,
)
from evidence.orchestration.tasks import DAG_DEFAULTS, load_wait_seconds, no_retry_for_our_errors

log = logging.getLogger(__name__)

DOC = """
### Review suggested links between identifiers

After every load of a case, this DAG looks for **suggested links** the load produced: evidence that two
phone numbers, addresses or accounts may belong to one person (the same display name, a number announced as
"my new number", the same number on two platforms). Nothing is merged until an analyst confirms it.

If there are any, the **review** task waits for you under *Required actions*: each suggestion is listed with
its confidence and the messages behind it, with one field per suggestion: **confirm**, **reject** or **leave
open**. Confirmed links make one person on the timeline and in reports; rejected ones are never suggested
again, even after a re-ingest. Every decision goes to the case's custody log with your name, exactly as
`evidence actors confirm|reject` does. Unanswered after *Days to answer*, everything stays open (and can
still be decided with `evidence actors`).

Started by hand, it reviews the case and run given below.
"""

with DAG(
    dag_id="evidence_review",
    description="Ask an analyst to confirm or reject the identifier links a load suggested.",
    doc_md=DOC,
    schedule=[CASE_DATABASE],
    **DAG_DEFAULTS,
    params={
        "case_dir": Param(
            "",
            type="string",
            title="Case folder",
            description="Only when started by hand: the case to review. After a load, the load names the case.",
        ),
        "ingest_run_id": Param(
            "",
            type="string",
            title="Ingest run",
            description="Only when started by hand: the run (run-...) whose suggestions to review; see "
            "`evidence query --case CASE 'SELECT run_id FROM ingest_runs'`.",
        ),
        "response_days": Param(
            7,
            type="number",
            minimum=0,
            title="Days to answer",
            description="After this many days without an answer every suggestion stays open; 0: wait for ever.",
        ),
    },
) as dag:

    @task
    def find_suggestions() -> list[dict]:
        """The open suggestions the triggering load (or the case and run given) found evidence for."""
        context = get_current_context()
        events = [dict(e.extra or {}) for e in context["triggering_asset_events"].get(CASE_DATABASE, [])]
        targets = review_targets(events, context["params"])
        from evidence.db import waiting_for_case

        with no_retry_for_our_errors():
            if not targets:
                raise EvidenceError("no case to review: give case_dir and ingest_run_id")
            with waiting_for_case(load_wait_seconds()):
                reviews = suggestions_to_review(targets)
        for review in reviews:
            log.info(
                "%s, %s: %d open suggestions",
                review["case_dir"],
                review["ingest_run_id"],
                len(review["suggestions"]),
            )
        return reviews

    @task.short_circuit
    def anything_to_review(reviews: list[dict]) -> bool:
        """Skip the form when the load suggested nothing new."""
        return any(r["suggestions"] for r in reviews)

    review = SuggestionReview(
        task_id="review",
        subject="Suggested links between identifiers: confirm or reject each",
        found_task_id="find_suggestions",
        retries=0,
    )

    @task
    def apply_decisions(reviews: list[dict], answer: dict | None) -> list[dict]:
        """Apply the analyst's choices (the same code as `evidence actors confirm|reject`); idempotent."""
        from evidence.db import waiting_for_case
        from evidence.pipeline.snapshot import snapshot_publisher

        outcomes = []
        for case in answers_by_case(reviews, answer):
            with waiting_for_case(load_wait_seconds()), no_retry_for_our_errors():
                done = apply_review(
                    Path(case["case_dir"]),
                    case["choices"],
                    examiner=case["examiner"],
                    source="airflow review",
                    reason=case["note"],
                    after_commit=snapshot_publisher(Path(case["case_dir"]), case["examiner"]),
                )
            log.info(
                "%s: %d decisions recorded, %d left open, %d already decided",
                case["case_dir"],
                len(done["decisions"]),
                len(done["left_open"]),
                len(done["already_decided"]),
            )
            outcomes.append({"case_dir": case["case_dir"], **done})
        if not outcomes:
            log.info("nothing applied: the analyst chose to decide later, or the form timed out")
        return outcomes

    found = find_suggestions()
    anything_to_review(found) >> review
    apply_decisions(found, review.output)
