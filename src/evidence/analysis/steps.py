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

log = logging.getLogger(__name__)

StepFunction = Callable[[Any, str], dict[str, Any]]


@dataclass(frozen=True)
class LinkStep:
    name: str
    target: str  # "module:function"
    purpose: str

    def function(self) -> StepFunction:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


# The declared order. Later steps read what earlier ones wrote: actor rules count canonical messages only
# (after dedup) and read mentioned identifiers; corroboration compares against canonical exported messages.
STEPS: tuple[LinkStep, ...] = (
    LinkStep("dedup", "evidence.analysis.dedup:deduplicate", "copies of one message across exports"),
    LinkStep("mentions", "evidence.analysis.mentions:record_mentions", "identifiers written in bodies"),
    LinkStep("actors", "evidence.analysis.actors.materialise:actor_step", "actor suggestions and decisions"),
    LinkStep("image_groups", "evidence.analysis.image_groups:group_images", "near-duplicate screenshots"),
    LinkStep(
        "screenshot_corroboration",
        "evidence.analysis.corroboration:corroborate",
        "screenshot messages matched to exported ones",
    ),
)


def step_names() -> list[str]:
    return [step.name for step in STEPS]


def run_links(con: Any, run_id: str, steps: tuple[LinkStep, ...] | None = None) -> dict[str, dict[str, Any]]:
    """Run the steps in their declared order; returns each step's counts (or its error)."""
    results: dict[str, dict[str, Any]] = {}
    for step in STEPS if steps is None else steps:
        con.execute("BEGIN TRANSACTION")
        try:
            results[step.name] = step.function()(con, run_id)
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            log.exception("link step %s failed", step.name)
            message = f"link step {step.name} failed and was rolled back: {type(exc).__name__}: {exc}"
            con.execute(
                "INSERT INTO ingest_errors (run_id, stage, error, severity) VALUES (?, 'link', ?, 'error')",
                [run_id, message],
            )
            results[step.name] = {"error": message}
        log.info("link step %s: %s", step.name, results[step.name])
    return results
