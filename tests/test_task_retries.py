"""Every DAG task may run again (an Airflow retry, a cleared run): doing so duplicates nothing, in the case
database or in the custody log. The tasks call exactly these functions with the same arguments."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from airflow_env import migrated_dagbag, succeeded

from evidence.pipeline.extract import extract_batch
from evidence.pipeline.load import load_run
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.plan import plan_run
from evidence.pipeline.verify import verify_case

RUN_ID = "run-20240601T120000Z-abc123"


def sources(root: Path) -> Path:
    src = root / "sources"
    (src / "chat").mkdir(parents=True)
    (src / "chat" / "WhatsApp Chat with Alex.txt").write_text(
        "12/04/2024, 21:05 - Alex: you can't hide\n12/04/2024, 21:06 - Sam: stop\n"
        "12/04/2024, 21:07 - Alex: text me on 07700 900456\n",
        encoding="utf-8",
    )
    for n in (1, 2):
        (src / f"{n}.eml").write_text(
            f"From: Alex Marsh <alex{n}@example.net>\nTo: sam@example.org\nSubject: s{n}\n"
            f"Date: Fri, 0{n} Mar 2024 21:14:02 +0000\nMessage-ID: <m{n}@example.net>\n\nAnswer me.\n",
            encoding="utf-8",
        )
    return src


def table_counts(case: Path) -> dict[str, int]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def custody_actions(case: Path) -> list[str]:
    return [json.loads(line)["action"] for line in (case / "custody.log").read_text().splitlines()]


def test_acquire_extract_and_load_run_again_duplicate_nothing(tmp_path: Path) -> None:
    case = tmp_path / "case"
    params = IngestParameters(
        sources=[str(sources(tmp_path))], case_dir=str(case), owners=["sam@example.org"]
    )
    plan = plan_run(params, run_id=RUN_ID)
    logged = custody_actions(case)
    # acquisition tried again with the same run id: the finished plan, nothing stored or logged twice
    again = plan_run(params, run_id=RUN_ID)
    assert (again.run_id, again.batch_files, again.files_seen) == (RUN_ID, plan.batch_files, 3)
    assert custody_actions(case) == logged
    # every batch extracted twice, then loaded twice
    dirs = [extract_batch(plan.case_dir, RUN_ID, b) for b in plan.batch_files]
    assert [extract_batch(plan.case_dir, RUN_ID, b) for b in plan.batch_files] == dirs
    first = load_run(plan.case_dir, RUN_ID, dirs)
    counts = table_counts(case)
    assert counts["messages"] == first["messages_loaded"] == 5
    assert counts["actor_suggestions"] >= 1  # the link steps ran, and run again below
    logged = custody_actions(case)
    second = load_run(plan.case_dir, RUN_ID, dirs)
    assert table_counts(case) == counts
    assert second["messages_loaded"] == 0 and second["files_seen"] == first["files_seen"]
    # no viewer reads this case (not under EVIDENCE_CASES_ROOT), so no snapshot is published
    assert custody_actions(case) == [*logged, "ingest_load_repeated"]
    assert logged.count("ingest_finished") == 1
    assert verify_case(case).ok, verify_case(case).problems


@pytest.fixture(scope="module")
def dagbag():
    return migrated_dagbag()


@pytest.mark.airflow
def test_every_task_retries_for_the_infrastructure_only(dagbag, tmp_path: Path) -> None:
    for dag_id in ("evidence_ingest", "evidence_watch", "evidence_review"):
        dag = dagbag.get_dag(dag_id)
        assert dag.doc_md, dag_id
        for t in dag.tasks:
            # the review form is not asked again by a retry: it waits for an answer once
            assert t.retries == (0 if t.task_id == "review" else 2), (dag_id, t.task_id)
    # a source typed wrong is our error: the task fails at once, with the message, and is not retried
    dag = dagbag.get_dag("evidence_ingest")
    run = dag.test(
        run_conf={"case_dir": str(tmp_path / "case"), "sources": [str(tmp_path / "no-such-export")]}
    )
    assert not succeeded(run)
    acquire = next(ti for ti in run.get_task_instances() if ti.task_id == "acquire")
    assert str(acquire.state).endswith("failed") and acquire.try_number == 1
