"""The timeline viewer plugin in a real Airflow: loaded by Airflow's own create_app() from plugins/, users
of SimpleAuthManager with real tokens, a case built through the real pipeline and read from its snapshot;
then a real `airflow api-server` driven by headless Chromium.

Checked: anonymous requests to every route of the app get 401; a `viewer` reads every page and cannot
write; a `user` annotates (a row, custody entries, a new snapshot); the session cookie alone never writes;
the snapshot is what the loader published; filters and paging agree with SQL on the timeline view."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from evidence.acquire.custody import check_chain
from evidence.cli.commands import app as cli_app
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest
from evidence.pipeline.snapshot import CASES_ROOT_ENV, snapshot_path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import available as browser_available
from browser import headless_chromium
from payloads import DIALOG_HOOK, INJECTED_STATE, OCR_LINES, PAYLOADS
from payloads import write_sources as write_payload_sources
from test_report import SCRIPT_TAG, STALKER_EMAIL, STALKER_PHONE, write_sources

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "plugins"
PREFIX = "/evidence-viewer"
PASSWORDS = {"reader": "reader-pass", "analyst": "analyst-pass"}
# Airflow reads the plugins folder when it is first imported: name ours before any test imports it.
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(PLUGINS)

pytestmark = pytest.mark.airflow


def _evidence(*args: object) -> None:
    result = CliRunner().invoke(cli_app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def cases_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cases")
    saved = os.environ.get(CASES_ROOT_ENV)
    os.environ[CASES_ROOT_ENV] = str(root)  # the cases the viewer lists get a snapshot on every change
    try:
        _build_cases(root, tmp_path_factory)
    finally:
        if saved is None:
            os.environ.pop(CASES_ROOT_ENV)
        else:
            os.environ[CASES_ROOT_ENV] = saved
    return root


def _build_cases(root: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    case = root / "case-a"
    ingest(
        IngestParameters(
            sources=[str(write_sources(tmp_path_factory.mktemp("sources")))],
            case_dir=str(case),
            tz="Europe/London",
            owners=["sam.taylor@example.org", "+447700900999", "Sam Taylor"],
            examiner="DC Test",
        )
    )
    _evidence(
        "actors", "link", STALKER_PHONE, STALKER_EMAIL, "--case", case,
        "--actor", f"Jordan {SCRIPT_TAG} Blake", "--reason", "the victim knows both",
    )  # fmt: skip
    (root / "no-snapshot").mkdir()  # a folder without a snapshot is not a case for the viewer
    # script and formula payloads in every place a stalker's text reaches (tests/payloads.py)
    payload_case = root / "case-payloads"
    _evidence("ingest", write_payload_sources(tmp_path_factory.mktemp("payloads")), "--case", payload_case)
    _evidence(
        "actors", "link", "+447700900123", "--case", payload_case, "--actor", PAYLOADS["svg_onload"],
        "--reason", "the victim knows the number",
    )  # fmt: skip


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory, cases_root: Path) -> Iterator[dict[str, str]]:
    """A migrated Airflow home (this process's if Airflow is already imported), SimpleAuthManager users
    reader (viewer) and analyst (user), one JWT secret, the cases root; restored afterwards."""
    home = tmp_path_factory.mktemp("airflow-home")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps(PASSWORDS), encoding="utf-8")
    settings = {
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS),
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "reader:viewer,analyst:user",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "viewer-tests-" + "s" * 64,
        "EVIDENCE_CASES_ROOT": str(cases_root),
    }
    if "airflow.settings" not in sys.modules:
        settings["AIRFLOW_HOME"] = str(home)
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        migrate = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
            capture_output=True,
            text=True,
            env=os.environ,
            timeout=300,
        )
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        yield dict(os.environ)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def client(airflow_env: dict[str, str]) -> Iterator[Any]:
    """Airflow's whole API app (create_app), with the plugin loaded from plugins/ as the api-server does."""
    from airflow import plugins_manager, settings
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    settings.PLUGINS_FOLDER = str(PLUGINS)
    for cached in (plugins_manager._get_plugins, plugins_manager.get_fastapi_plugins):
        cached.cache_clear()
    with TestClient(create_app(), base_url="http://testserver") as test_client:
        yield test_client


def _token(client: Any, user: str) -> str:
    response = client.post("/auth/token", json={"username": user, "password": PASSWORDS[user]})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def _bearer(client: Any, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {_token(client, user)}"}


def _snapshot_rows(cases_root: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(snapshot_path(cases_root / "case-a")), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def read_entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _an_event(cases_root: Path) -> tuple[str, str]:
    return _snapshot_rows(
        cases_root,
        "SELECT event_id, source_sha256 FROM timeline WHERE platform = 'whatsapp' ORDER BY event_id LIMIT 1",
    )[0]


def _viewer_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of the viewer app, path parameters filled in."""
    from evidence.orchestration.viewer.app import app

    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", None) or []):
            if method == "HEAD":
                continue
            path = re.sub(r"\{name\}", "case-a", route.path)
            path = re.sub(r"\{event_id\}", "0" * 32, path)
            found.append((method, PREFIX + path))
    return found


def test_the_plugin_is_loaded_by_airflow(client) -> None:
    from airflow import plugins_manager

    plugins, _ = plugins_manager._get_plugins()
    viewer = [p for p in plugins if p.name == "evidence_viewer"]
    assert viewer and viewer[0].external_views[0]["href"] == f"{PREFIX}/"
    mounted = [r for r in client.app.routes if getattr(r, "path", None) == PREFIX]
    assert mounted, "the viewer app is not mounted by create_app()"
    # what the Airflow UI reads to put the entry in its navigation bar
    listed = client.get("/api/v2/plugins", headers=_bearer(client, "reader"))
    assert listed.status_code == 200, listed.text
    (ours,) = [p for p in listed.json()["plugins"] if p["name"] == "evidence_viewer"]
    assert ours["external_views"][0]["url_route"] == "evidence-timeline"


def test_anonymous_requests_to_every_route_get_401(client) -> None:
    routes = _viewer_routes()
    assert {("GET", f"{PREFIX}/"), ("POST", f"{PREFIX}/cases/case-a/events/{'0' * 32}/annotations")} <= set(
        routes
    )
    assert len(routes) >= 6
    for method, path in routes:
        response = client.request(method, path)
        assert response.status_code == 401, (method, path, response.status_code)
    # a token that is not Airflow's is refused too
    assert client.get(f"{PREFIX}/", headers={"Authorization": "Bearer not-a-token"}).status_code in (401, 403)


def test_a_viewer_reads_every_page_and_evidence_stays_text(client, cases_root: Path) -> None:
    headers = _bearer(client, "reader")
    event_id, sha = _an_event(cases_root)
    cases = client.get(f"{PREFIX}/", headers=headers)
    assert cases.status_code == 200
    assert f'href="{PREFIX}/cases/case-a/"' in cases.text and "no-snapshot" not in cases.text
    assert "default-src 'none'" in cases.headers["content-security-policy"]
    pages = {
        "timeline": client.get(f"{PREFIX}/cases/case-a/", headers=headers),
        "event": client.get(f"{PREFIX}/cases/case-a/events/{event_id}", headers=headers),
        "actors": client.get(f"{PREFIX}/cases/case-a/actors", headers=headers),
        "report": client.get(f"{PREFIX}/cases/case-a/report", headers=headers),
    }
    for name, page in pages.items():
        assert page.status_code == 200, (name, page.text[:500])
        assert "frame-ancestors 'self'" in page.headers["content-security-policy"], name
        assert SCRIPT_TAG not in page.text, f"{name} shows a payload as markup"
    assert sha in pages["event"].text and event_id in pages["event"].text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages["timeline"].text
    # the confirmed actor and the suggestions are apart; the report is the CLI's report
    actors = pages["actors"].text
    assert actors.index("Jordan &lt;script&gt;") < actors.index("Suggested, not confirmed")
    assert "Evidence report: case-a" in pages["report"].text and 'id="report-data"' in pages["report"].text
    assert client.get(f"{PREFIX}/cases/no-snapshot/", headers=headers).status_code == 404
    assert client.get(f"{PREFIX}/cases/..%2F..%2Fetc/", headers=headers).status_code == 404


def test_a_viewer_cannot_write(client, cases_root: Path) -> None:
    event_id, _ = _an_event(cases_root)
    before = _snapshot_rows(cases_root, "SELECT count(*) FROM annotations")[0][0]
    response = client.post(
        f"{PREFIX}/cases/case-a/events/{event_id}/annotations",
        data={"impact": "should not be recorded"},
        headers=_bearer(client, "reader"),
    )
    assert response.status_code == 403
    assert _snapshot_rows(cases_root, "SELECT count(*) FROM annotations")[0][0] == before


def test_a_user_annotates_through_the_lock_and_the_custody_log(client, cases_root: Path) -> None:
    case = cases_root / "case-a"
    event_id, _ = _an_event(cases_root)
    mtime = snapshot_path(case).stat().st_mtime_ns
    response = client.post(
        f"{PREFIX}/cases/case-a/events/{event_id}/annotations",
        data={"impact": f"frightened {SCRIPT_TAG}", "police_ref": "CAD 123"},
        headers=_bearer(client, "analyst"),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    rows = _snapshot_rows(
        cases_root, "SELECT examiner, impact, police_ref FROM annotations WHERE target_id = ?", [event_id]
    )
    assert rows == [("analyst", f"frightened {SCRIPT_TAG}", "CAD 123")]
    assert snapshot_path(case).stat().st_mtime_ns > mtime
    entries = read_entries(case / "custody.log")
    added = [e for e in entries if e["action"] == "annotation_added"]
    assert added[-1]["examiner"] == "analyst" and added[-1]["details"]["target_id"] == event_id
    assert entries[-1]["action"] == "snapshot_published"
    assert check_chain(case / "custody.log") == []
    page = client.get(response.headers["location"], headers=_bearer(client, "reader"))
    assert "frightened &lt;script&gt;" in page.text and "CAD 123" in page.text
    # nothing to record is refused with the library's message, nothing written
    empty = client.post(
        f"{PREFIX}/cases/case-a/events/{event_id}/annotations",
        data={"note": "  "},
        headers=_bearer(client, "analyst"),
    )
    assert empty.status_code == 400 and "nothing to record" in empty.text


def test_the_session_cookie_alone_never_writes(client, cases_root: Path) -> None:
    event_id, _ = _an_event(cases_root)
    url = f"{PREFIX}/cases/case-a/events/{event_id}/annotations"
    count = "SELECT count(*) FROM annotations WHERE note = 'via cookie'"
    client.cookies.set("_token", _token(client, "analyst"))
    try:
        refused = client.post(url, data={"note": "via cookie"})
        assert refused.status_code == 403
        forged = client.post(url, data={"note": "via cookie", "csrf_token": "0" * 64})
        assert forged.status_code == 403
        assert _snapshot_rows(cases_root, count)[0][0] == 0
        # the form served to this session carries the token that lets it write
        form = client.get(f"{PREFIX}/cases/case-a/events/{event_id}")
        token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', form.text)[1]
        accepted = client.post(url, data={"note": "via cookie", "csrf_token": token}, follow_redirects=False)
        assert accepted.status_code == 303
        assert _snapshot_rows(cases_root, count)[0][0] == 1
    finally:
        client.cookies.clear()


def test_filters_and_pages_agree_with_the_timeline_view(client, cases_root: Path) -> None:
    headers = _bearer(client, "reader")

    def shown(query: str) -> tuple[int, list[str]]:
        page = client.get(f"{PREFIX}/cases/case-a/?{query}", headers=headers)
        assert page.status_code == 200
        total = int(re.search(r'data-total="(\d+)"', page.text)[1])
        return total, re.findall(r'data-event-id="([0-9a-f]+)"', page.text)

    def count(where: str = "TRUE", params: list | None = None) -> int:
        return _snapshot_rows(cases_root, f"SELECT count(*) FROM timeline WHERE {where}", params)[0][0]

    total, first_page = shown("")
    assert total == count() and len(first_page) == min(total, 100)
    assert shown("platform=sms")[0] == count("platform = 'sms'") > 0
    assert shown("flag=night")[0] == count("list_contains(flags, 'night')") > 0
    assert shown("q=WHY+WON")[0] == count("contains(lower(text), 'why won')") > 0
    assert (
        shown("who=actor:Jordan+%3Cscript%3Ealert(1)%3C%2Fscript%3E+Blake")[0]
        == count("actor IS NOT NULL")
        > 0
    )
    assert (
        shown("from=2024-03-20&to=2024-03-21")[0]
        == count(
            "CAST(timezone('Europe/London', occurred_at_utc) AS DATE) BETWEEN '2024-03-20' AND '2024-03-21'"
        )
        > 0
    )
    # pages follow the view's order without gaps or repeats
    ordered = [
        e
        for (e,) in _snapshot_rows(
            cases_root,
            "SELECT event_id FROM timeline ORDER BY occurred_at_utc NULLS LAST, source_sha256, source_locator, event_id",
        )
    ]
    pages = [shown(f"page={n}")[1] for n in range(1, -(-total // 100) + 1)]
    assert [e for p in pages for e in p] == ordered


def test_the_loader_publishes_the_snapshot_and_records_it(cases_root: Path) -> None:
    case = cases_root / "case-a"
    published = [e for e in read_entries(case / "custody.log") if e["action"] == "snapshot_published"]
    assert published and published[0]["details"]["run_id"] and published[0]["details"]["size_bytes"] > 0
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as live:
        live_count = live.execute("SELECT count(*) FROM timeline").fetchone()[0]
    assert _snapshot_rows(cases_root, "SELECT count(*) FROM timeline")[0][0] == live_count > 0
    assert not list(snapshot_path(case).parent.glob("*.tmp"))
    assert snapshot_path(case).stat().st_mode & 0o077 == 0


# --- a real api-server in headless Chromium ---------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api_server(airflow_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import urllib.error
    import urllib.request

    port = _free_port()
    log = tmp_path_factory.mktemp("api-server") / "api-server.log"
    env = {**airflow_env, "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}"}
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "airflow"),
                "api-server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as response,
            ):
                if response.status == 200:
                    break
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _server_token(url: str, user: str) -> str:
    import urllib.request

    request = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": user, "password": PASSWORDS[user]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


def test_the_timeline_in_chromium_through_a_real_api_server(api_server: str, cases_root: Path) -> None:
    if not browser_available():
        pytest.skip("/usr/bin/chromium or /usr/bin/chromedriver is absent (make setup installs them)")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    def count(where: str = "TRUE") -> int:
        return _snapshot_rows(cases_root, f"SELECT count(*) FROM timeline WHERE {where}")[0][0]

    with headless_chromium("--window-size=1280,1000") as driver:
        timeline = f"{api_server}{PREFIX}/cases/case-a/"
        driver.get(timeline)
        assert "Not authenticated" in driver.page_source  # no cookie yet: 401
        # what the Airflow UI does after its login form: the token from /auth/token in the _token cookie
        driver.add_cookie({"name": "_token", "value": _server_token(api_server, "reader"), "path": "/"})
        driver.get(timeline)

        def status() -> int:
            return int(driver.find_element(By.ID, "tl-status").get_attribute("data-total"))

        def click_and_wait(element: Any) -> None:
            """Follow a link or submit the form, and wait until the next page has replaced this one (a
            new document has a new window object, without the mark; Chromium may answer with errors
            while it swaps them)."""
            driver.execute_script("window.__leaving = true")
            element.click()
            WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
                lambda d: d.execute_script("return !window.__leaving && document.readyState === 'complete'")
            )

        def rows() -> list[Any]:
            return driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr.event")

        total = count()
        assert status() == total and len(rows()) == min(total, 100)
        assert driver.execute_script("return document.querySelectorAll('script').length") == 0
        Select(driver.find_element(By.ID, "f-platform")).select_by_value("sms")
        click_and_wait(driver.find_element(By.ID, "f-apply"))
        assert status() == count("platform = 'sms'") == len(rows())
        assert all("sms" in r.find_element(By.CLASS_NAME, "channel").text for r in rows())
        driver.get(timeline)
        Select(driver.find_element(By.ID, "f-flag")).select_by_value("night")
        click_and_wait(driver.find_element(By.ID, "f-apply"))
        assert status() == count("list_contains(flags, 'night')") > 0
        assert all("night" in r.find_element(By.CLASS_NAME, "flags").text for r in rows())
        driver.get(timeline)
        driver.find_element(By.ID, "f-text").send_keys("<script>")
        click_and_wait(driver.find_element(By.ID, "f-apply"))
        assert status() == count("contains(lower(text), '<script>')") > 0
        assert SCRIPT_TAG in driver.find_element(By.ID, "timeline").text  # shown as text, never run
        # an event's detail names its source file by hash
        first = rows()[0]
        event_id = first.get_attribute("data-event-id")
        click_and_wait(first.find_element(By.CSS_SELECTOR, "a.event"))
        sha = _snapshot_rows(cases_root, "SELECT source_sha256 FROM timeline WHERE event_id = ?", [event_id])[
            0
        ][0]
        assert driver.find_element(By.ID, "source-sha256").text == sha
        assert driver.find_element(By.ID, "occurrences").text.count(sha) >= 1


def _payload_pages(client: Any, headers: dict[str, str], cases_root: Path) -> dict[str, str]:
    """Every page of the payload case: the timeline's pages, each event's detail, people, report."""
    pages: dict[str, str] = {}
    page = 1
    while True:
        response = client.get(f"{PREFIX}/cases/case-payloads/?page={page}", headers=headers)
        assert response.status_code == 200
        pages[f"timeline {page}"] = response.text
        if f"page={page + 1}" not in response.text:
            break
        page += 1
    with duckdb.connect(str(snapshot_path(cases_root / "case-payloads")), read_only=True) as con:
        events = [e for (e,) in con.execute("SELECT event_id FROM timeline ORDER BY 1").fetchall()]
    for event_id in events:
        response = client.get(f"{PREFIX}/cases/case-payloads/events/{event_id}", headers=headers)
        assert response.status_code == 200, event_id
        pages[event_id] = response.text
    for name in ("actors", "report"):
        response = client.get(f"{PREFIX}/cases/case-payloads/{name}", headers=headers)
        assert response.status_code == 200, name
        pages[name] = response.text
    return pages


def test_payloads_in_the_viewer_are_escaped_text_on_every_page(client, cases_root: Path) -> None:
    """Script payloads in names, conversations, bodies, OCR text and file names never reach a viewer page
    as markup; each one is there as text."""
    import html

    pages = _payload_pages(client, _bearer(client, "reader"), cases_root)
    markup = ("<script>alert(", "<img src=x", "<svg onload")  # escaped text keeps "onerror=" after "&lt;"
    for name, text in pages.items():
        for piece in markup:
            assert piece not in text, f"{name} carries {piece!r} as markup"
    everything = html.unescape("".join(pages.values()))
    for name, payload in PAYLOADS.items():
        assert payload.strip() in everything, name
    for line in OCR_LINES:
        assert line in everything


def test_payloads_run_nothing_in_chromium(api_server: str, cases_root: Path) -> None:
    if not browser_available():
        pytest.skip("/usr/bin/chromium or /usr/bin/chromedriver is absent (make setup installs them)")
    with headless_chromium("--window-size=1280,1000") as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DIALOG_HOOK})
        driver.get(f"{api_server}{PREFIX}/")
        driver.add_cookie({"name": "_token", "value": _server_token(api_server, "reader"), "path": "/"})
        with duckdb.connect(str(snapshot_path(cases_root / "case-payloads")), read_only=True) as con:
            (event_id,) = con.execute(
                "SELECT event_id FROM timeline WHERE contains(text, 'xss-img') ORDER BY 1 LIMIT 1"
            ).fetchone()
        for path in ("", f"events/{event_id}", "actors", "?q=xss"):
            driver.get(f"{api_server}{PREFIX}/cases/case-payloads/{path}")
            state = driver.execute_script(INJECTED_STATE)
            assert state["dialogs"] == [] and state["handlers"] == [], path
            assert state["scripts"] == 0 and state["svgs"] == 0 and state["images"] == 0, path
            assert "xss-" in state["text"], path  # the payloads are on the page, as text
