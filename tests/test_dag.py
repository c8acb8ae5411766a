"""The ingest DAG in a real Airflow: it imports cleanly and gives the same messages as the CLI."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import duckdb
import pytest
from sample_case import OWNERS, REGION, TZ

from evidence.db import case_lock

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
# The sample case's parameters, as `make demo` passes them to the DAG.
DEMO_CONF = {"sources": [str(SAMPLE)], "tz": TZ, "region": REGION, "owners": OWNERS}

# Airflow reads its configuration at import: point it at a throwaway home before importing it.
_HOME = tempfile.mkdtemp(prefix="airflow-home-")
os.environ.update(
    AIRFLOW_HOME=_HOME,
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
)

pytestmark = pytest.mark.airflow


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


def test_dags_import_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    dag = dagbag.get_dag("evidence_ingest")
    assert dag is not None
    assert {t.task_id for t in dag.tasks} == {"acquire", "batches", "extract", "load", "summary"}
    # Loads of different cases run together: no global one-slot pool, each case has its own lock.
    assert dag.get_task("load").pool == "default_pool"
    for name in ("case_dir", "sources", "tz", "region", "owners", "examiner", "ocr_lang"):
        assert dag.params.get_param(name).description, name


def test_the_ocr_language_default_follows_evidence_ocr_lang(dagbag, monkeypatch: pytest.MonkeyPatch) -> None:
    """(dagbag: the Airflow home with its migrated database, which parsing a DAG file needs.)"""
    from airflow.dag_processing.dagbag import DagBag

    for setting, expected in (("eng+deu", "eng+deu"), ("", "eng")):
        monkeypatch.setenv("EVIDENCE_OCR_LANG", setting)
        dag = DagBag(dag_folder=str(ROOT / "dags" / "evidence_ingest.py")).get_dag("evidence_ingest")
        assert dag.params.get_param("ocr_lang").value == expected


def _messages(case: Path) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        # loaded_in_run names the run, which differs between the two cases
        return con.execute("SELECT * EXCLUDE (loaded_in_run) FROM messages ORDER BY message_id").fetchall()


def test_dag_run_matches_the_cli(dagbag, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence.pipeline.parameters import IngestParameters
    from evidence.pipeline.run import ingest

    dag = dagbag.get_dag("evidence_ingest")
    dag_case = tmp_path / "dag-case"
    dag_case.mkdir()
    # Another writer holds the case when the load starts: the load waits for it (saying so in its log)
    # instead of failing after 30 s, and goes on once the case is free.
    monkeypatch.setenv("EVIDENCE_LOAD_WAIT_MINUTES", "3")
    waiting = threading.Event()
    said: list[str] = []

    class Waiting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "waiting for the case" in record.getMessage():
                said.append(record.getMessage())
                waiting.set()

    db_log = logging.getLogger("evidence.db")
    handler = Waiting()
    db_log.addHandler(handler)
    monkeypatch.setattr(db_log, "level", logging.INFO)

    def other_writer() -> None:
        with case_lock(dag_case, exclusive=True):
            waiting.wait(timeout=120)

    holder = threading.Thread(target=other_writer)
    holder.start()
    try:
        run = dag.test(run_conf={"case_dir": str(dag_case), "examiner": "airflow-test", **DEMO_CONF})
    finally:
        waiting.set()
        holder.join()
        db_log.removeHandler(handler)
    assert said and str(dag_case) in said[0]
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    cli_case = tmp_path / "cli-case"
    ingest(IngestParameters(case_dir=str(cli_case), **DEMO_CONF))
    from_dag = _messages(dag_case)
    assert len(from_dag) > 400  # the whole sample case (tests/test_sample_case.py checks what is in it)
    assert from_dag == _messages(cli_case)
    with duckdb.connect(str(dag_case / "evidence.duckdb"), read_only=True) as con:
        assert con.execute("SELECT examiner, status FROM ingest_runs").fetchall() == [
            ("airflow-test", "done")
        ]
