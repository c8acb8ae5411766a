"""Watch the cases' inbox/ folders: every few minutes, ingest what was dropped there, exactly once per content.

Thin on purpose: claiming and releasing inbox files is evidence.orchestration.inbox; acquiring, extracting and
loading are the same functions as the evidence_ingest DAG and `evidence ingest`, so a load here updates the
case-database Asset (and schedules the review and report DAGs) like any other load.
"""

from __future__ import annotations

import logging
import os

from airflow.sdk import DAG, Param, get_current_context, task

from evidence.orchestration.assets import CASE_DATABASE
from evidence.orchestration.inbox import (
    DEFAULT_SETTLE_SECONDS,
    acquire_inbox,
    release_claims,
    watched_case,
    watched_cases,
)
from evidence.orchestration.tasks import (
    DAG_DEFAULTS,
    ingest_run_id,
    load_and_announce,
    load_wait_seconds,
    no_retry_for_our_errors,
)
from evidence.pipeline.extract import extract_batch

log = logging.getLogger(__name__)

DOC = """
### Ingest what is dropped into a case's inbox

Copy exports, zip files or screenshots into **`CASE_FOLDER/inbox/`** on the workers' shared disk. Every few
minutes this DAG ingests the files that appeared there, with the case's usual settings (time zone, phone
region, the victim's own identifiers and OCR language of the case's latest run).

- **Exactly once per content.** A file whose content the case already holds (ingested by hand, or dropped
  twice under two names) is not ingested again; the custody log says which path was the same content.
- **Nothing is moved or deleted.** The inbox is only read; the copy that counts is the one in `originals/`.
- **Files still being copied wait.** Names ending `.part`, `.partial`, `.tmp`, `.crdownload` or `.download`, and
  files changed less than *Settle time* seconds ago, are picked up by a later run.
- **Export folders with media:** drop the export's zip file, or the whole folder at once, so the chat and its
  media arrive in one run.

Every step is in the case's `custody.log`: `inbox_file_claimed`, `inbox_file_ingested`,
`inbox_file_already_in_case`, `inbox_file_same_as`, `inbox_claim_released`.
"""

with DAG(
    dag_id="evidence_watch",
    description="Ingest files dropped into each case's inbox/ folder, exactly once per content.",
    doc_md=DOC,
    schedule="*/5 * * * *",
    max_active_runs=2,
    **DAG_DEFAULTS,
    params={
        "cases_root": Param(
            "",
            type="string",
            title="Cases folder",
            description="Folder holding one folder per case; every case in it with an inbox/ folder is watched. "
            "Empty: EVIDENCE_CASES_ROOT of the Airflow deployment.",
        ),
        "case_dir": Param(
            "",
            type="string",
            title="Only this case",
            description="A case folder (with an inbox/ folder) to look at alone; empty: every case in the cases "
            "folder.",
        ),
        "settle_seconds": Param(
            int(DEFAULT_SETTLE_SECONDS),
            type="integer",
            minimum=0,
            title="Settle time (seconds)",
            description="A file changed more recently than this is probably still being copied: it waits for "
            "the next run.",
        ),
        "examiner": Param(
            "",
            type="string",
            title="Examiner",
            description="Name recorded in the custody log for what this run does; empty: 'inbox watcher'.",
        ),
    },
) as dag:

    def cases_to_watch() -> list:
        params = get_current_context()["params"]
        with no_retry_for_our_errors():
            if params["case_dir"]:
                return [watched_case(params["case_dir"])]
            return watched_cases(params["cases_root"] or os.environ.get("EVIDENCE_CASES_ROOT", ""))

    @task
    def acquire() -> list[dict]:
        """Claim each case's new inbox files and store them (one case failing does not stop the others)."""
        context = get_current_context()
        params, watch_id = context["params"], context["run_id"]
        cases = cases_to_watch()
        from evidence.db import waiting_for_case

        plans = []
        for case in cases:
            try:
                with waiting_for_case(load_wait_seconds()), no_retry_for_our_errors():
                    plan = acquire_inbox(
                        case,
                        watch_id,
                        params["examiner"] or None,
                        float(params["settle_seconds"]),
                        run_id=ingest_run_id(context, str(case)),
                    )
            except Exception:
                if len(cases) == 1:
                    raise
                log.exception("case %s: inbox not ingested in this run (tried again next run)", case)
                continue
            if plan:
                log.info(
                    "case %s: run %s ingests %d inbox files", case, plan["ingest_run_id"], len(plan["files"])
                )
                plans.append(plan)
        return plans

    @task
    def batches(plans: list[dict]) -> list[dict]:
        """Every batch of every case, to map extraction over."""
        return [
            {"case_dir": p["case_dir"], "ingest_run_id": p["ingest_run_id"], "batch_file": b}
            for p in plans
            for b in p["batch_files"]
        ]

    @task
    def extract(batch: dict) -> dict:
        """Parse one batch of files into Parquet staging."""
        return {
            "ingest_run_id": batch["ingest_run_id"],
            "batch_dir": extract_batch(batch["case_dir"], batch["ingest_run_id"], batch["batch_file"]),
        }

    @task(trigger_rule="none_failed", outlets=[CASE_DATABASE])
    def load(plan: dict, staged: list[dict] | None) -> dict:
        """Load one case's staging (the single writer: waits for the case's lock); updates the Asset."""
        dirs = sorted(s["batch_dir"] for s in staged or [] if s["ingest_run_id"] == plan["ingest_run_id"])
        return load_and_announce(plan["case_dir"], plan["ingest_run_id"], dirs)

    @task(trigger_rule="all_done")
    def release(plans: list[dict] | None) -> dict:
        """End the run, even a failed one: each claimed file is recorded as ingested or left for the next run."""
        context = get_current_context()
        run_of = {p["case_dir"]: p["ingest_run_id"] for p in plans or []}
        examiner = context["params"]["examiner"] or None
        totals = {"ingested": 0, "released": 0}
        for case in cases_to_watch():
            counts = release_claims(case, context["run_id"], run_of.get(str(case)), examiner)
            for key in totals:
                totals[key] += counts[key]
        log.info("inbox files ingested: %(ingested)s; released for the next run: %(released)s", totals)
        return totals

    plans = acquire()
    staged = extract.expand(batch=batches(plans))
    loaded = load.partial(staged=staged).expand(plan=plans)
    finished = release(plans)
    loaded >> finished
