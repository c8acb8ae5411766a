"""A throwaway Airflow home for the DAG tests: set before Airflow is first imported, migrated once per module.

SimpleAuthManager with one analyst (role `user`) and a passwords file, so tests answer human-in-the-loop
requests through the real REST API with a real token.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOME = Path(tempfile.mkdtemp(prefix="airflow-home-"))
PASSWORDS = HOME / "passwords.json"
PASSWORDS.write_text(json.dumps({"analyst": "analyst-password"}), encoding="utf-8")

os.environ.update(
    AIRFLOW_HOME=str(HOME),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
    AIRFLOW__CORE__UNIT_TEST_MODE="False",
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="analyst:user",
    AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(PASSWORDS),
)


def migrated_dagbag() -> Any:
    """Migrate the metadata database of the current Airflow home, then parse dags/."""
    migrate = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


def custody(case: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (case / "custody.log").read_text(encoding="utf-8").splitlines()]


def succeeded(run: Any) -> bool:
    return str(run.state) in ("success", "DagRunState.SUCCESS")
