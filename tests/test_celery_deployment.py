"""The pipeline on a real distributed Airflow (CeleryExecutor, PostgreSQL, Redis, every process apart),
started without Docker by tests/airflow_cluster.py.

An ingest triggered through the REST API, as the trigger form does, loads the case; its load updates the
case-database Asset, and the real scheduler then starts `evidence_report` on that event, which writes the
report into CASE_DIR/reports/.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_cluster import airflow_cluster, missing_binaries
from small_case import OWNERS, REGION, TZ, write_small_case

from evidence.db import open_case

MISSING = missing_binaries()
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"needs {', '.join(MISSING)} (Debian postgresql and redis-server: make setup)"
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    with airflow_cluster(
        tmp_path_factory.mktemp("cluster"), dag_ids=("evidence_ingest", "evidence_report")
    ) as c:
        yield c


def test_an_ingest_through_the_api_loads_the_case_and_the_asset_event_rebuilds_its_report(cluster) -> None:
    source = write_small_case(cluster.case_root / "exports")
    case = cluster.case_root / "case-1"
    conf = {
        "case_dir": str(case),
        "sources": [str(source)],
        "tz": TZ,
        "region": REGION,
        "owners": OWNERS,
        "examiner": "cluster-test",
    }
    run_id = cluster.trigger("evidence_ingest", conf)
    cluster.wait_for_run("evidence_ingest", run_id, timeout=240)
    # the tasks ran on the Celery worker, not in the scheduler
    tasks = cluster.task_instances("evidence_ingest", run_id)
    assert {t["task_id"] for t in tasks} >= {"acquire", "extract", "load", "summary"}
    assert all(t["state"] == "success" and t["hostname"] for t in tasks), tasks

    with open_case(case, timeout=120) as con:  # the case lock: the report may be reading it right now
        files = con.execute("SELECT status, count(*) FROM files GROUP BY ALL").fetchall()
        messages = con.execute("SELECT count(*) FROM messages").fetchone()[0]
        runs = con.execute(
            "SELECT run_id, examiner, status, finished_at IS NOT NULL FROM ingest_runs"
        ).fetchall()
    assert files == [("parsed", 2)]
    assert messages > 100
    assert len(runs) == 1 and runs[0][1:] == ("cluster-test", "done", True)
    ingest_run_id = runs[0][0]

    def report_run() -> dict | None:
        runs = [r for r in cluster.dag_runs("evidence_report") if r["run_type"] == "asset_triggered"]
        return runs[0] if runs else None

    triggered = cluster.wait_for("evidence_report to start on the asset event", report_run, timeout=120)
    cluster.wait_for_run("evidence_report", triggered["dag_run_id"], timeout=240)
    events = cluster.api("GET", f"dags/evidence_report/dagRuns/{triggered['dag_run_id']}/upstreamAssetEvents")
    assert [e["extra"]["case_dir"] for e in events["asset_events"]] == [str(case)]

    report = case / "reports" / "report.html"
    assert report.stat().st_size > 10_000
    assert (case / "reports" / "incident-log.csv").exists()
    assert (case / "reports" / "parquet" / "messages.parquet").exists()
    custody = [json.loads(line) for line in (case / "custody.log").read_text(encoding="utf-8").splitlines()]
    written = [e for e in custody if e["action"] == "report_written"]
    assert len(written) == 1
    assert written[0]["details"]["after_ingest_runs"] == [ingest_run_id]
    assert written[0]["details"]["outputs"][0]["path"] == str(report)
    assert written[0]["details"]["dag_run_id"] == triggered["dag_run_id"]
    assert Path(written[0]["details"]["outputs"][0]["path"]).exists()
