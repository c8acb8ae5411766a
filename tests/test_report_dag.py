"""The report DAG in a real Airflow (dag.test, the manual path) and the rebuild it runs.

The path started by an asset event needs a real scheduler: tests/test_celery_deployment.py covers it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from small_case import OWNERS, REGION, TZ, write_small_case

from evidence.acquire.custody import check_chain
from evidence.db import case_lock
from evidence.errors import CaseLockedError, CaseNotFoundError
from evidence.outputs.delivery import sha256_of
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration at import: point it at a throwaway home before importing it.
_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.update(
    AIRFLOW_HOME=_HOME,
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
)

pytestmark = pytest.mark.airflow

EXPECTED = ("report.html", "incident-log.csv", "timesketch.jsonl", "parquet")


@pytest.fixture(scope="module")
def dagbag():
    migrate = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.fixture(scope="module")
def ingested_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case loaded through the real pipeline (the sample story's chat and SMS: no OCR, a few seconds)."""
    base = tmp_path_factory.mktemp("report-case")
    source = write_small_case(base / "exports")
    case = base / "case"
    ingest(IngestParameters(case_dir=str(case), sources=[str(source)], tz=TZ, region=REGION, owners=OWNERS))
    return case


def _custody(case: Path) -> list[dict]:
    return [json.loads(line) for line in (case / "custody.log").read_text(encoding="utf-8").splitlines()]


def _message_count(case: Path) -> int:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute("SELECT count(*) FROM messages").fetchone()[0]


def test_the_report_dag_is_scheduled_on_the_case_database_asset(dagbag) -> None:
    from evidence.orchestration.assets import CASE_DATABASE

    assert dagbag.import_errors == {}
    dag = dagbag.get_dag("evidence_report")
    assert {t.task_id for t in dag.tasks} == {"cases", "rebuild"}
    assert list(dag.timetable.asset_condition.objects) == [CASE_DATABASE]  # the one shared Asset object
    for name in ("case_dir", "examiner"):
        assert dag.params.get_param(name).description, name


def test_a_manual_run_writes_every_output_and_records_it(dagbag, ingested_case: Path) -> None:
    case = ingested_case
    dag = dagbag.get_dag("evidence_report")
    runs = []
    for attempt in (1, 2):  # a rerun replaces the same files
        run = dag.test(run_conf={"case_dir": str(case), "examiner": f"report-test-{attempt}"})
        assert str(run.state) in ("success", "DagRunState.SUCCESS")
        runs.append(run.run_id)
        reports = case / "reports"
        assert sorted(p.name for p in reports.iterdir() if not p.name.startswith(".")) == sorted(EXPECTED)
        # no temporary names left behind (.partial files, .parquet.next / .parquet.old folders)
        assert [p.name for p in reports.iterdir() if p.name.startswith(".")] == [".reports.lock"]

    reports = case / "reports"
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower() and "report-test-2" in html
    assert pq.read_table(reports / "parquet" / "messages.parquet").num_rows == _message_count(case) > 100
    assert (reports / "incident-log.csv").stat().st_size > 0
    assert (reports / "timesketch.jsonl").read_text(encoding="utf-8").count("\n") > 100

    entries = _custody(case)
    written = [e for e in entries if e["action"] in ("report_written", "export_written")]
    assert len(written) == 8  # the report and three exports, twice
    latest = written[-4:]
    assert [e["examiner"] for e in latest] == ["report-test-2"] * 4
    assert [e["details"].get("format") for e in latest] == [None, "incident-log", "timesketch", "parquet"]
    assert all(e["details"]["dag_run_id"] == runs[-1] for e in latest)
    # every file on disk is the one the latest entries name, with its hash
    recorded = {o["path"]: o["sha256"] for e in latest for o in e["details"]["outputs"]}
    on_disk = {str(p): sha256_of(p) for p in reports.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert recorded == on_disk
    assert check_chain(case / "custody.log") == []


def test_the_rebuild_waits_for_a_writer_of_the_case(ingested_case: Path) -> None:
    """It reads under the case lock: while a load holds the case, it waits, then says who holds it."""
    from evidence.orchestration.report_job import rebuild_outputs

    before = len(_custody(ingested_case))
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with case_lock(ingested_case, exclusive=True):
            holding.set()
            release.wait(timeout=60)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        holding.wait(timeout=10)
        with pytest.raises(CaseLockedError, match="in use by pid"):
            rebuild_outputs(ingested_case, examiner="lock-test", wait_seconds=0.5)
    finally:
        release.set()
        thread.join()
    assert len(_custody(ingested_case)) == before  # nothing written, nothing recorded


def test_a_case_without_a_database_is_refused(tmp_path: Path) -> None:
    from evidence.orchestration.report_job import rebuild_outputs

    with pytest.raises(CaseNotFoundError):
        rebuild_outputs(tmp_path, wait_seconds=0)
    assert not (tmp_path / "reports").exists()


@pytest.fixture
def cases_to_report():
    """Imported while the test is set up, not inside it: the first import of Airflow in a worker
    configures logging and replaces the root logger's handlers, the test's log capture among them."""
    from evidence.orchestration.report_job import cases_to_report

    return cases_to_report


def test_cases_come_from_the_events_once_each_unless_one_is_given(
    cases_to_report, caplog: pytest.LogCaptureFixture
) -> None:
    events = [
        {"case_dir": "/cases/a", "ingest_run_id": "r1"},
        {"case_dir": "/cases/b", "ingest_run_id": "r2"},
        {"case_dir": "/cases/a", "ingest_run_id": "r3"},
        {"ingest_run_id": "r4"},
        None,
    ]
    with caplog.at_level(logging.WARNING, logger="evidence.orchestration.report_job"):
        found = cases_to_report(events, "")
    assert found == [
        {"case_dir": "/cases/a", "ingest_run_ids": ["r1", "r3"]},
        {"case_dir": "/cases/b", "ingest_run_ids": ["r2"]},
    ]
    assert len([r for r in caplog.records if "names no case_dir" in r.getMessage()]) == 2
    assert cases_to_report(events, " /cases/c ") == [{"case_dir": "/cases/c", "ingest_run_ids": []}]
    assert cases_to_report([], None) == []
