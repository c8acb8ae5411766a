"""Ingest a victim's exports into a case: acquire -> extract (mapped over batches) -> load -> summary.

Thin on purpose: every task calls the same functions as `evidence ingest` (src/evidence/pipeline/).
A DuckDB file has one writer at a time: the load task takes its case's lock (evidence.db.case_lock), so
loads of different cases run together and a second load of one case waits for the first, for up to
EVIDENCE_LOAD_WAIT_MINUTES (default 60) minutes, saying in its log that it is waiting.
"""

from __future__ import annotations

import logging

from airflow.sdk import DAG, Param, get_current_context, task

from evidence.images.languages import default_ocr_lang
from evidence.orchestration.assets import CASE_DATABASE
from evidence.orchestration.tasks import (
    DAG_DEFAULTS,
    ingest_run_id,
    load_and_announce,
    no_retry_for_our_errors,
)
from evidence.pipeline.extract import extract_batch
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.plan import plan_run
from evidence.text import for_display
from evidence.timeutil import DEFAULT_TZ

log = logging.getLogger(__name__)

DOC = """
### Ingest evidence into a case

Fill in the case folder and one or more sources (folders, zip exports or single files, as paths on the
worker). Every file is hashed and stored read-only in the case's `originals/` before anything parses it;
every action goes to the case's `custody.log`. The summary task lists every file: parsed, duplicate,
unsupported or failed with its reason (a file that cannot be parsed does not fail the run). A path typed
wrong fails the run at once with its message; a run that failed for another reason can be cleared and run
again without storing or loading anything twice.
"""

with DAG(
    dag_id="evidence_ingest",
    description="Hash, store and parse exported messages, emails and screenshots into a case database.",
    doc_md=DOC,
    schedule=None,
    max_active_runs=4,
    **DAG_DEFAULTS,
    params={
        "case_dir": Param(
            "",
            type="string",
            minLength=1,
            title="Case folder",
            description="Folder of the case on the workers' shared disk; created owner-only if new.",
        ),
        "sources": Param(
            [],
            type="array",
            items={"type": "string"},
            minItems=1,
            title="Sources",
            description="Paths of folders, zip archives or single files to ingest, one per line.",
        ),
        "tz": Param(
            DEFAULT_TZ,
            type="string",
            title="Time zone",
            description="IANA time zone for export times written without an offset, e.g. Europe/London.",
        ),
        "region": Param(
            "GB",
            type="string",
            pattern="^[A-Za-z]{2}$",
            title="Phone region",
            description="Two-letter country used to read phone numbers written without +country code.",
        ),
        "owners": Param(
            [],
            type="array",
            items={"type": "string"},
            title="Account owner identifiers",
            description="The victim's own phone numbers, emails or handles, so messages get a direction.",
        ),
        "ocr_lang": Param(
            default_ocr_lang(),
            type="string",
            pattern="^[A-Za-z_]+(\\+[A-Za-z_]+)*$",
            title="OCR language",
            description="Tesseract language(s) for screenshots, e.g. eng or eng+pol (language data must be "
            "installed); defaults to EVIDENCE_OCR_LANG of the Airflow deployment, else eng.",
        ),
        "examiner": Param(
            "",
            type="string",
            title="Examiner",
            description="Name recorded in the custody log for this run.",
        ),
    },
) as dag:

    @task
    def acquire() -> dict:
        """Hash and store every source file, identify formats, write batches."""
        context = get_current_context()
        params = context["params"]
        chosen = IngestParameters(
            sources=list(params["sources"]),
            case_dir=params["case_dir"],
            tz=params["tz"],
            region=params["region"],
            owners=list(params["owners"]),
            examiner=params["examiner"] or None,
            ocr_lang=params["ocr_lang"],
        )
        with no_retry_for_our_errors():
            chosen.validate()
            chosen.require_sources()
            plan = plan_run(chosen, run_id=ingest_run_id(context))
        log.info("run %s: %d files stored, %d batches", plan.run_id, plan.files_seen, len(plan.batch_files))
        return {"case_dir": plan.case_dir, "ingest_run_id": plan.run_id, "batch_files": plan.batch_files}

    @task
    def batches(plan: dict) -> list[str]:
        """The batch files to map extraction over (Airflow maps over a task's whole return value)."""
        return plan["batch_files"]

    @task
    def extract(plan: dict, batch_file: str) -> str:
        """Parse one batch of files into Parquet staging."""
        return extract_batch(plan["case_dir"], plan["ingest_run_id"], batch_file)

    @task(trigger_rule="none_failed", outlets=[CASE_DATABASE])
    def load(plan: dict, batch_dirs: list[str] | None) -> dict:
        """Load the staging into the case database (the single writer: waits for the case's lock); the
        Asset's event names the case, so the report and review DAGs know it."""
        return load_and_announce(plan["case_dir"], plan["ingest_run_id"], list(batch_dirs or []))

    @task
    def summary(result: dict) -> dict:
        """Log the run summary: every file accounted for."""
        for key in (
            "files_seen",
            "new",
            "duplicate",
            "parsed",
            "skipped",
            "unsupported",
            "failed",
            "warnings",
        ):
            log.info("%-12s %s", key, result[key])
        log.info("messages loaded: %s (read: %s)", result["messages_loaded"], result["messages_read"])
        for entry in result["failures"] + result["not_read"]:
            log.warning("%s: %s", for_display(entry["source_path"]), for_display(entry["reason"] or ""))
        return result

    plan = acquire()
    staged = extract.partial(plan=plan).expand(batch_file=batches(plan))
    summary(load(plan, staged))
