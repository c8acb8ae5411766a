"""Link steps: run after every load by the single writer, over the whole case, each in its own transaction.

Each step (cross-source deduplication, screenshot corroboration, actor suggestions, ...) is a function
`step(con, run_id) -> dict` registered with @link_step; its result dict goes into the run summary under
"links". Steps must be idempotent: a re-ingest runs them again over everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

LinkStep = Callable[[Any, str], dict[str, Any]]
_STEPS: dict[str, LinkStep] = {}


def link_step(name: str) -> Callable[[LinkStep], LinkStep]:
    """Register a link step under a unique name; order of registration is order of running."""

    def register(func: LinkStep) -> LinkStep:
        if name in _STEPS:
            raise ValueError(f"link step {name!r} is already registered")
        _STEPS[name] = func
        return func

    return register


def step_names() -> list[str]:
    return list(_STEPS)


def run_links(con: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """Run every registered step; returns each step's counts."""
    results: dict[str, dict[str, Any]] = {}
    for name, step in _STEPS.items():
        con.execute("BEGIN TRANSACTION")
        try:
            results[name] = step(con, run_id)
            con.execute("COMMIT")
        except Exception as exc:
            con.execute("ROLLBACK")
            log.exception("link step %s failed", name)
            message = f"link step {name} failed and was rolled back: {type(exc).__name__}: {exc}"
            con.execute(
                "INSERT INTO ingest_errors (run_id, stage, error, severity) VALUES (?, 'link', ?, 'error')",
                [run_id, message],
            )
            results[name] = {"error": message}
        log.info("link step %s: %s", name, results[name])
    return results


# --- link step modules (import order = run order) ---
# isort: off
import evidence.dedup  # noqa: E402  duplicate_of across overlapping exports
import evidence.mentions  # noqa: E402  identifiers written in bodies -> role mentioned
import evidence.actors  # noqa: E402  actor suggestions + analyst decisions re-applied
import evidence.corroborate  # noqa: E402,F401  screenshot groups + OCR <-> message corroboration
# --- end of link step modules ---
# isort: on
