"""Rebuild a case's report and exports in CASE_DIR/reports/ after every load, or by hand.

Thin on purpose: the work is evidence.orchestration.report_job.rebuild_outputs, which calls the same
functions as `evidence report` and `evidence export`. Scheduled on the case-database Asset that
`evidence_ingest`'s load task updates: each event names its case (`extra["case_dir"]`), so one run
rebuilds every case loaded since the last one. Reading takes the case lock like every other opening.
"""

from __future__ import annotations

import logging

from airflow.sdk import DAG, Param, get_current_context, task

from evidence.orchestration.assets import CASE_DATABASE
from evidence.orchestration.tasks import DAG_DEFAULTS, no_retry_for_our_errors

log = logging.getLogger(__name__)

DOC = """
### Rebuild a case's report and exports

Runs by itself after every ingest (on the case-database Asset) and writes into the case's `reports/`
folder: `report.html` (the offline report for advocates), `incident-log.csv`, `timesketch.jsonl` and a
`parquet/` folder. The names never change; each rebuild replaces the files atomically and records their
SHA-256 in the case's `custody.log`. To rebuild by hand, trigger it with the case folder.
"""

with DAG(
    dag_id="evidence_report",
    description="Rebuild the HTML report and the exports of every case an ingest has just loaded.",
    doc_md=DOC,
    schedule=[CASE_DATABASE],
    **DAG_DEFAULTS,
    params={
        "case_dir": Param(
            "",
            type="string",
            title="Case folder",
            description="Folder of the case on the workers' shared disk. Leave empty in runs started by "
            "an ingest: the ingest names its case.",
        ),
        "examiner": Param(
            "",
            type="string",
            title="Examiner",
            description="Name recorded in the custody log for the files written.",
        ),
    },
) as dag:

    @task
    def cases() -> list[dict]:
        """The cases to rebuild: the one given by hand, else those named by the triggering asset events."""
        from evidence.orchestration.report_job import cases_to_report

        context = get_current_context()
        events = context["triggering_asset_events"]
        extras = [event.extra for event in events[CASE_DATABASE]] if CASE_DATABASE in events else []
        found = cases_to_report(extras, context["params"]["case_dir"])
        if not found:
            raise ValueError(
                "no case to rebuild: give the case folder (case_dir) when triggering by hand"
                if not extras
                else f"none of the {len(extras)} case-database events names a case folder"
            )
        log.info("cases to rebuild: %s", ", ".join(c["case_dir"] for c in found))
        return found

    @task
    def rebuild(case: dict) -> dict:
        """Write the report and the exports of one case into CASE_DIR/reports/ (waits for its lock)."""
        from evidence.orchestration.report_job import rebuild_outputs

        context = get_current_context()
        trigger = {"dag_run_id": context["run_id"]}
        if case["ingest_run_ids"]:
            trigger["after_ingest_runs"] = case["ingest_run_ids"]
        with no_retry_for_our_errors():  # a folder that is not a case fails at once; a busy one is retried
            return rebuild_outputs(
                case["case_dir"], examiner=context["params"]["examiner"] or None, **trigger
            ).as_dict()

    rebuild.expand(case=cases())
