"""How every task of the evidence DAGs behaves: retries for the infrastructure only, waits for the case.

A retry helps when a worker died, a disk or the metadata database hiccupped, or another load held the
case a little too long. It cannot help with our own errors (bad parameters, a missing source, a folder
that is not a case, an unknown suggestion): those fail the task at once with the message an investigator
reads, instead of three times with the same message. A parser failure is not a task failure at all: the
file is listed as failed with its reason and the run goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from evidence.errors import CaseLockedError, EvidenceError

log = logging.getLogger(__name__)

TASK_DEFAULTS: dict[str, Any] = {
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
}
"""default_args of every evidence DAG: two more tries, about two then four minutes apart."""

DAG_DEFAULTS: dict[str, Any] = {
    "start_date": datetime(2024, 1, 1, tzinfo=UTC),
    "catchup": False,
    "default_args": TASK_DEFAULTS,
    "tags": ["evidence"],
}
"""What every evidence DAG shares: `DAG(dag_id=..., schedule=..., **DAG_DEFAULTS)`."""

DEFAULT_LOAD_WAIT_MINUTES = 60.0


def load_wait_seconds() -> float:
    """How long a task waits for another writer of the same case (EVIDENCE_LOAD_WAIT_MINUTES, read at run time)."""
    raw = os.environ.get("EVIDENCE_LOAD_WAIT_MINUTES", "").strip()
    try:
        minutes = float(raw) if raw else DEFAULT_LOAD_WAIT_MINUTES
    except ValueError:
        log.warning(
            "EVIDENCE_LOAD_WAIT_MINUTES=%r is not a number: waiting %s minutes",
            raw,
            DEFAULT_LOAD_WAIT_MINUTES,
        )
        minutes = DEFAULT_LOAD_WAIT_MINUTES
    return max(minutes, 0.0) * 60


@contextlib.contextmanager
def no_retry_for_our_errors() -> Iterator[None]:
    """Our own errors fail the task without retries; a case still locked by another writer is retried."""
    try:
        yield
    except CaseLockedError:
        raise
    except EvidenceError as exc:
        raise AirflowFailException(str(exc)) from exc


def ingest_run_id(context: Any, *scope: str) -> str:
    """The ingest run id of this Airflow run (and scope, e.g. a case): the same on every try of the task, so
    a retried acquisition finds its finished plan instead of storing and logging everything again."""
    dag_run = context["dag_run"]
    started: datetime = dag_run.run_after or dag_run.logical_date or datetime.now(UTC)
    key = "/".join([dag_run.dag_id, dag_run.run_id, *scope])
    return f"run-{started.astimezone(UTC):%Y%m%dT%H%M%SZ}-{hashlib.sha256(key.encode()).hexdigest()[:6]}"


def load_and_announce(case_dir: str, ingest_run_id: str, batch_dirs: list[str]) -> dict[str, Any]:
    """The load task of every ingesting DAG: waits for the case's lock, loads the run's staging, and names
    the case and run in the case-database Asset's event (the task must declare it in `outlets`), so the
    report and review DAGs know which case changed."""
    from airflow.sdk import get_current_context

    from evidence.db import waiting_for_case  # duckdb and pyarrow: not when a DAG file is parsed
    from evidence.orchestration.assets import CASE_DATABASE
    from evidence.pipeline.load import load_run

    with waiting_for_case(load_wait_seconds()):
        result = load_run(case_dir, ingest_run_id, batch_dirs)
    get_current_context()["outlet_events"][CASE_DATABASE].extra = {
        "case_dir": case_dir,
        "ingest_run_id": ingest_run_id,
        "messages_loaded": result["messages_loaded"],
    }
    return result
