"""Link steps: run by the single writer after every load, in the order declared here.

A step is named by "module:function" and imported only when it runs, so this module imports no step (no
import cycle) and the order never depends on which module happened to be imported first. Each step runs
in its own transaction: a step that raises is rolled back alone, recorded in ingest_errors (stage `link`)
and listed in the run summary; the evidence just loaded is never lost.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evidence.analysis.scope import LinkScope, adopt_legacy_rows, scope_of

log = logging.getLogger(__name__)

StepFunction = Callable[[Any, LinkScope], dict[str, Any]]


@dataclass(frozen=True)
class LinkStep:
    name: str
    target: str  # "module:function", called as function(connection, scope)
    purpose: str
    needs: tuple[str, ...]  # what must be new in a run for the step to run (see LinkScope.has)

    def function(self) -> StepFunction:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


# The declared order. Later steps read what earlier ones wrote: actor rules count canonical messages only
# (after dedup) and read mentioned identifiers; corroboration compares against canonical exported messages.
STEPS: tuple[LinkStep, ...] = (
    LinkStep(
        "dedup", "evidence.analysis.dedup:deduplicate", "copies of one message across exports", ("messages",)
    ),
    LinkStep(
        "actors",
        "evidence.analysis.actors.materialise:actor_step",
        "actor suggestions and decisions",
        ("messages", "links", "owners"),
    ),
    LinkStep(
        "image_groups",
        "evidence.analysis.image_groups:group_images",
        "near-duplicate screenshots",
        ("images",),
    ),
    LinkStep(
        "screenshot_corroboration",
        "evidence.analysis.corroboration:corroborate",
        "screenshot messages matched to exported ones",
        ("messages",),
    ),
    LinkStep(
        "key_dates",
        "evidence.analysis.key_dates:key_dates_step",
        "threat and stop-request phrases; stop requests detected in the owner's messages",
        ("messages", "owners"),
    ),
)


def step_names() -> list[str]:
    return [step.name for step in STEPS]


def run_links(con: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """Run the steps in their declared order over what this run loaded; returns each step's counts (or
    its error). A step whose inputs did not change in this run does not run at all."""
    con.execute("BEGIN TRANSACTION")
    try:
        adopted = adopt_legacy_rows(con, run_id)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    scope = scope_of(con, run_id)
    results: dict[str, dict[str, Any]] = {}
    if adopted:
        results["adopted"] = {"rows": adopted}
    for step in STEPS:
        if not scope.has(step.needs):
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            results[step.name] = step.function()(con, scope)
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            log.exception("link step %s failed", step.name)
            message = f"link step {step.name} failed and was rolled back: {type(exc).__name__}: {exc}"
            con.execute(
                "INSERT INTO ingest_errors (run_id, stage, error, severity) VALUES (?, 'link', ?, 'error')",
                [scope.run_id, message],
            )
            results[step.name] = {"error": message}
        log.info("link step %s: %s", step.name, results[step.name])
    return results
