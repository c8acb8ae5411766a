"""Airflow Assets shared by the DAGs: producer and consumers must use the same object.

There is one case-database Asset for the whole deployment, not one per case: an event's `extra` names the
case (`case_dir`) and the run (`ingest_run_id`), so the report and review DAGs know which case changed.
"""

from __future__ import annotations

from airflow.sdk import Asset

CASE_DATABASE = Asset(name="evidence_case_database", uri="evidence://case-database")
"""Updated by `evidence_ingest`'s load task after every load; schedules `evidence_report` and `evidence_review`."""
