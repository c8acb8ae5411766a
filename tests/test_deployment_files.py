"""docker-compose.yml, Dockerfile and .env.example agree with each other and with the lock.

Docker is not run here (the machines that run the tests have none); tests/test_celery_deployment.py runs
the same processes without it. These checks catch the drift a reader would not: an image of another
Airflow than the tests use, a service nothing watches, a secret with no documented default.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def airflow_services(compose: dict) -> dict[str, dict]:
    """Services run from the project's Airflow image (built from the Dockerfile)."""
    return {name: s for name, s in compose["services"].items() if s.get("build") == "."}


def _lock_version(package: str) -> str:
    match = re.search(rf"^{re.escape(package)}==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    assert match, f"{package} is not pinned in requirements.lock"
    return match.group(1)


def _environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment is written as a mapping"
    return {k: str(v) for k, v in env.items()}


def test_the_image_is_the_airflow_and_python_of_the_lock() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    assert len(froms) == 1, froms
    match = re.fullmatch(r"apache/airflow:(\d+\.\d+\.\d+)-python(\d+\.\d+)", froms[0])
    assert match, f"FROM {froms[0]} is not a pinned apache/airflow image"
    assert match.group(1) == _lock_version("apache-airflow")
    lock_python = re.search(r"--python-version (\d+\.\d+)", (ROOT / "requirements.lock").read_text())
    assert lock_python and match.group(2) == lock_python.group(1)
    for package in ("tesseract-ocr", "libmagic1"):
        assert re.search(rf"apt-get install[^&]*\b{package}\b", dockerfile, re.S), package
    # the project itself, with its dependencies held to the lock
    assert re.search(r"pip install .*--constraint \S*requirements\.lock /opt/evidence\b", dockerfile)


def test_every_airflow_process_is_a_service_with_a_command_and_a_healthcheck(airflow_services: dict) -> None:
    for name, command in AIRFLOW_COMMANDS.items():
        service = airflow_services[name]
        assert service["command"] == command, name
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "always", name
        assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy", name
    # the one-shot init migrates and writes the passwords; nothing restarts it, so it needs no healthcheck
    init = airflow_services["airflow-init"]
    assert init["command"] and "airflow db migrate" in "\n".join(init["command"])
    assert init["restart"] == "no"
    assert set(airflow_services) == {*AIRFLOW_COMMANDS, "airflow-init"}


def test_every_airflow_service_shares_one_celery_configuration(airflow_services: dict) -> None:
    envs = {name: _environment(s) for name, s in airflow_services.items()}
    for name, env in envs.items():
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].endswith("@redis:6379/0"), name
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
        assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true", name
    for key in (
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "AIRFLOW__CORE__FERNET_KEY",
    ):
        assert len({env[key] for env in envs.values()}) == 1, f"{key} differs between services"


def test_postgres_and_redis_are_the_official_versions_and_watched(compose: dict) -> None:
    postgres, redis = compose["services"]["postgres"], compose["services"]["redis"]
    assert postgres["image"] == "postgres:16"
    assert redis["image"].startswith("redis:7.2")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert "ping" in " ".join(redis["healthcheck"]["test"])
    assert "ports" not in redis and "ports" not in postgres  # reachable from the services only


def test_workers_mount_the_cases_and_the_incoming_exports(airflow_services: dict) -> None:
    mounts = {}
    for volume in airflow_services["airflow-worker"]["volumes"]:
        match = re.fullmatch(r"(?P<source>.+?):(?P<target>/[^:]*)(?::(?P<mode>\w+))?", volume)
        assert match, volume
        mounts[match["target"]] = (match["source"], match["mode"])
    assert mounts["/cases"][1] is None  # read-write: case databases, originals, inbox/, reports/
    assert mounts["/incoming"][1] == "ro"  # exports to ingest: read only, originals are never modified
    assert "EVIDENCE_CASES_DIR" in mounts["/cases"][0] and "EVIDENCE_INCOMING_DIR" in mounts["/incoming"][0]
    assert mounts["/opt/airflow/dags"][0] == "./dags"


def test_every_setting_comes_from_env_with_a_documented_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    used = re.findall(r"(?<!\$)\$\{(\w+)(:-[^}]*)?\}", text)
    example = dict(
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    )
    names = {name for name, _ in used}
    assert names <= set(example), f"not in .env.example: {sorted(names - set(example))}"
    assert set(example) <= names, f"in .env.example but unused: {sorted(set(example) - names)}"
    for name, default in used:
        assert default, f"${{{name}}} has no default: docker compose would run with an empty value"
        assert default[2:] == example[name], f"{name}: compose default {default[2:]!r} vs .env.example"
    # secrets are only ever written as variables with their local-only default
    for secret in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY"):
        assert "local-only" in example[secret]
        assert text.count(example[secret]) == text.count(f"${{{secret}:-{example[secret]}}}")
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert "/.env" in ignored or ".env" in ignored


def test_every_user_gets_a_password_from_init(airflow_services: dict) -> None:
    users = _environment(airflow_services["airflow-apiserver"])["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"]
    script = "\n".join(airflow_services["airflow-init"]["command"])
    init_env = _environment(airflow_services["airflow-init"])
    for user in users.split(","):
        name = user.split(":")[0]
        variable = f"EVIDENCE_{name.upper()}_PASSWORD"
        assert f'"{name}": os.environ["{variable}"]' in script, name
        assert variable in init_env, name
