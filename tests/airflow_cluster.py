"""A real distributed Airflow for tests, without Docker: throwaway PostgreSQL and Redis, then the api-server,
scheduler, dag-processor, triggerer and a Celery worker as separate processes (CeleryExecutor).

    with airflow_cluster(tmp_dir) as cluster:
        run_id = cluster.trigger("evidence_ingest", conf={...})
        cluster.wait_for_run("evidence_ingest", run_id)

Everything it starts lives under one temporary folder and is stopped on the way out (process groups
killed, `pg_ctl stop`), also when the block fails. Each process writes its output to
`<home>/processes/<name>.log`; `cluster.diagnostics()` gives their tails and the task logs' tails, and
every error the helpers raise includes them. PostgreSQL refuses to run as root, so as root the server
runs as the `postgres` user (created by the Debian package) with its data in a folder owned by that user.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
PROCESSES = ("api-server", "scheduler", "dag-processor", "triggerer", "celery-worker")
USER, PASSWORD = "investigator", "cluster-test-" + secrets.token_hex(8)
FINISHED = {"success", "failed"}


def postgres_binary(name: str) -> str | None:
    """initdb / pg_ctl: on PATH, else in Debian's versioned folder (not on PATH by default)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def missing_binaries() -> list[str]:
    """The programs a cluster needs that this machine lacks (`make setup` installs them)."""
    missing = [name for name in ("initdb", "pg_ctl") if postgres_binary(name) is None]
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    return missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"({exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class AirflowCluster:
    """A running cluster: its base URL, a Bearer token of an admin user, and helpers over the REST API."""

    base_url: str
    home: Path
    case_root: Path
    env: dict[str, str]
    token: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    # --- REST API ---------------------------------------------------------------------------------
    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call /api/v2 with the token; the JSON answer, or an AssertionError with the answer and logs."""
        response = httpx.request(
            method,
            f"{self.base_url}/api/v2/{path.lstrip('/')}",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: HTTP {response.status_code} {response.text[:1000]}")
        return response.json() if response.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        """Start a DAG run through the API, as the trigger form does; returns its run id."""
        run = self.api("POST", f"dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 180, every: float = 1.0) -> Any:
        """Poll check() until it returns something truthy; fails with the processes' logs on timeout or when
        a process of the cluster has died."""
        deadline = time.monotonic() + timeout
        while True:
            self.assert_alive()
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}\n{self.diagnostics()}"
                )
            time.sleep(every)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> dict[str, Any]:
        """Wait until the run finishes; it must succeed (else the error lists its tasks and the logs)."""
        run = self.wait_for(
            f"{dag_id} run {run_id}",
            lambda: (r := self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}"))["state"] in FINISHED and r,
            timeout,
        )
        if run["state"] != "success":
            tasks = [(t["task_id"], t["map_index"], t["state"]) for t in self.task_instances(dag_id, run_id)]
            raise AssertionError(f"{dag_id} run {run_id} ended {run['state']}: {tasks}\n{self.diagnostics()}")
        return run

    def wait_for_dags(self, *dag_ids: str, timeout: float = 120) -> None:
        """Wait until the dag-processor has parsed each DAG and it is active (and unpaused)."""

        def parsed() -> bool:
            found = {d["dag_id"]: d for d in self.api("GET", "dags", params={"limit": 100})["dags"]}
            return all(i in found and not found[i]["is_paused"] for i in dag_ids)

        self.wait_for(f"the DAGs {', '.join(dag_ids)} to be parsed", parsed, timeout)

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run an `airflow` command against this cluster (its home, database and broker)."""
        return subprocess.run([AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout)

    # --- processes --------------------------------------------------------------------------------
    def assert_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"cluster processes exited: {dead}\n{self.diagnostics()}")

    def diagnostics(self, lines: int = 30) -> str:
        """The tail of every process's log and of the latest task logs."""
        parts = [f"--- {name} ({path}) ---\n{_tail(path, lines)}" for name, path in self.logs.items()]
        task_logs = sorted((self.home / "logs").glob("dag_id=*/**/*.log"), key=lambda p: p.stat().st_mtime)
        for path in task_logs[-4:]:
            parts.append(f"--- task log {path.relative_to(self.home)} ---\n{_tail(path, lines)}")
        return "\n".join(parts)


def _run_as(user: str | None, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    command = ["runuser", "-u", user, "--", *args] if user else args
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


@contextlib.contextmanager
def _postgres(folder: Path) -> Iterator[str]:
    """A throwaway PostgreSQL on a free loopback port, its socket in `folder`; yields the SQLAlchemy URL."""
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    folder.chmod(0o700)
    data, log = folder / "data", folder / "server.log"
    port = free_port()
    initdb = _run_as(
        user, [postgres_binary("initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8"]
    )
    if initdb.returncode != 0:
        raise RuntimeError(f"initdb failed: {initdb.stdout[-2000:]}{initdb.stderr[-2000:]}")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    pg_ctl = postgres_binary("pg_ctl")
    start = _run_as(user, [pg_ctl, "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"])
    try:
        if start.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {start.stderr[-2000:]}\n{_tail(log)}")
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
        con.autocommit = True
        with con.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
        con.close()
        yield f"postgresql+psycopg2://airflow@127.0.0.1:{port}/airflow"
    finally:
        stop = _run_as(user, [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
        if stop.returncode != 0 and (data / "postmaster.pid").exists():
            with contextlib.suppress(ValueError, OSError):  # pg_ctl could not: kill the postmaster itself
                os.kill(int((data / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in its own process group (so everything it forks can be stopped together)."""
    with open(log, "ab") as handle:
        return subprocess.Popen(
            args,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(processes: list[subprocess.Popen], grace: float = 20) -> None:
    """SIGTERM every process group, wait, then SIGKILL what is left of each group (forked children too).
    Each group is stopped once: the list is emptied."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    processes.clear()


def _wait_for_redis(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return
        time.sleep(0.2)
    raise RuntimeError(f"redis-server did not answer on port {port}:\n{_tail(log)}")


def cluster_env(home: Path, database_url: str, redis_port: int, api_port: int) -> dict[str, str]:
    """The environment every process of the cluster shares (one JWT secret, one database, one broker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}), encoding="utf-8")
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",  # only here: a deployment pauses new DAGs
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{USER}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__CORE__FERNET_KEY="",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database_url,
        AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        AIRFLOW__CELERY__RESULT_BACKEND="db+" + database_url.replace("+psycopg2", ""),
        AIRFLOW__CELERY__WORKER_CONCURRENCY="2",
        AIRFLOW__CELERY__SYNC_PARALLELISM="1",
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{api_port}",
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        # short intervals so a test takes seconds, not minutes
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="1",
        AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC="2",
        AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME="0.5",
        AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT="300",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="10",
        AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES="1",
        AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC="2",
        EVIDENCE_LOAD_WAIT_MINUTES="2",
        OMP_THREAD_LIMIT="1",
    )
    return env


def _get_token(base_url: str) -> str | None:
    with contextlib.suppress(httpx.HTTPError):
        response = httpx.post(
            f"{base_url}/auth/token", json={"username": USER, "password": PASSWORD}, timeout=10
        )
        if response.status_code == 201:
            return response.json()["access_token"]
    return None


@contextlib.contextmanager
def airflow_cluster(
    folder: Path | None = None, dag_ids: tuple[str, ...] = (), extra_env: dict[str, str] | None = None
) -> Iterator[AirflowCluster]:
    """Start PostgreSQL, Redis and the five Airflow processes; yield once the API answers with a token and
    the DAGs in `dag_ids` are parsed; stop everything on the way out. `folder` (created) holds the Airflow
    home and logs (without one, a temporary folder removed at the end); the cases a test makes belong in
    `cluster.case_root`. `extra_env` is added to every
    process's environment (settings a test needs, e.g. AIRFLOW__... options)."""
    work = Path(folder or tempfile.mkdtemp(prefix="airflow-cluster-"))  # removed at the end when made here
    work.mkdir(parents=True, exist_ok=True)
    home, case_root = work / "airflow-home", work / "cases"
    (home / "processes").mkdir(parents=True, exist_ok=True)
    case_root.mkdir(exist_ok=True)
    # /tmp, not `work`: a pytest tmp_path sits in folders the postgres user may not enter
    pg_folder = Path(tempfile.mkdtemp(prefix="evidence-pg-"))
    started: list[subprocess.Popen] = []  # Redis
    cluster: AirflowCluster | None = None
    try:
        redis_port, redis_log = free_port(), home / "processes" / "redis.log"
        redis = _start(
            ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(home)],
            dict(os.environ),
            redis_log,
        )  # fmt: skip
        started.append(redis)
        _wait_for_redis(redis_port, redis, redis_log)
        with _postgres(pg_folder) as database_url:
            api_port = free_port()
            env = {**cluster_env(home, database_url, redis_port, api_port), **(extra_env or {})}
            cluster = AirflowCluster(f"http://127.0.0.1:{api_port}", home, case_root, env)
            cluster.logs["redis"] = redis_log
            migrate = subprocess.run(
                [AIRFLOW, "db", "migrate"], env=env, capture_output=True, text=True, timeout=600
            )
            if migrate.returncode != 0:
                raise RuntimeError(
                    f"airflow db migrate failed:\n{migrate.stdout[-3000:]}{migrate.stderr[-3000:]}"
                )
            commands = {
                "api-server": f"api-server --port {api_port} --host 127.0.0.1 --workers 1".split(),
                "scheduler": ["scheduler"],
                "dag-processor": ["dag-processor"],
                "triggerer": ["triggerer"],
                "celery-worker": ["celery", "worker", "-c", "2", "--without-gossip", "--without-mingle"],
            }
            airflow: list[subprocess.Popen] = []
            try:
                for name in PROCESSES:
                    log = home / "processes" / f"{name}.log"
                    cluster.logs[name] = log
                    cluster.processes[name] = _start([AIRFLOW, *commands[name]], env, log)
                    airflow.append(cluster.processes[name])
                cluster.token = cluster.wait_for(
                    "a token from the api-server", lambda: _get_token(cluster.base_url)
                )
                if dag_ids:
                    cluster.wait_for_dags(*dag_ids)
                yield cluster
            finally:
                _stop(airflow[::-1])  # Airflow first, while its database is still up
    except BaseException:
        if cluster is not None:
            print(f"\n=== Airflow cluster logs ===\n{cluster.diagnostics()}", file=sys.stderr)
        raise
    finally:
        _stop(started)
        shutil.rmtree(pg_folder, ignore_errors=True)
        if folder is None:
            shutil.rmtree(work, ignore_errors=True)
