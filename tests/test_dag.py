"""The ingest DAG in a real Airflow: it imports cleanly and gives the same messages as the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"

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
    assert dag.get_task("load").pool == "evidence_duckdb"
    for name in ("case_dir", "sources", "tz", "region", "owners", "examiner", "ocr_lang"):
        assert dag.params.get_param(name).description, name


def _messages(case: Path) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        # loaded_in_run names the run, which differs between the two cases
        return con.execute("SELECT * EXCLUDE (loaded_in_run) FROM messages ORDER BY message_id").fetchall()


def test_dag_run_matches_the_cli(dagbag, tmp_path: Path) -> None:
    from evidence.pipeline.parameters import IngestParameters
    from evidence.pipeline.run import ingest

    dag = dagbag.get_dag("evidence_ingest")
    dag_case = tmp_path / "dag-case"
    run = dag.test(run_conf={"case_dir": str(dag_case), "sources": [str(SAMPLE)], "examiner": "airflow-test"})
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    cli_case = tmp_path / "cli-case"
    ingest(IngestParameters(sources=[str(SAMPLE)], case_dir=str(cli_case)))
    from_dag = _messages(dag_case)
    assert len(from_dag) == 5
    assert from_dag == _messages(cli_case)
    with duckdb.connect(str(dag_case / "evidence.duckdb"), read_only=True) as con:
        assert con.execute("SELECT examiner, status FROM ingest_runs").fetchall() == [
            ("airflow-test", "done")
        ]
