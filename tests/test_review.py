"""Analyst review: the evidence_review DAG asks about a load's suggestions through a real human-in-the-loop
form (answered through Airflow's REST API by a real user), applies the answers with the code of
`evidence actors confirm|reject`, and skips the form when a load suggested nothing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from airflow_env import custody, migrated_dagbag, succeeded

from evidence.acquire.custody import check_chain
from evidence.analysis.actors.deciding import apply_review
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

OWNER = "sam.taylor@example.org"


def mail(sender: str, date: str, body: str, msg_id: str) -> str:
    return (
        f"From: {sender}\nTo: Sam Taylor <{OWNER}>\nSubject: hi\nDate: {date}\n"
        f"Message-ID: <{msg_id}@example.net>\n\n{body}\n"
    )


def two_suggestions(root: Path) -> Path:
    """Two addresses sending as 'Alex Marsh' (one suggestion), one of them announcing a number (another)."""
    src = root / "sources"
    src.mkdir(parents=True)
    (src / "01.eml").write_text(
        mail(
            "Alex Marsh <alex.marsh@example.net>", "Fri, 01 Mar 2024 21:14:02 +0000", "We need to talk.", "a1"
        )
    )
    (src / "02.eml").write_text(
        mail(
            "Alex Marsh <alexm@example.org>",
            "Wed, 10 Apr 2024 10:00:00 +0100",
            "Answer me. Text me on 07700 900456.",
            "a2",
        )
    )
    return src


def ingest_run(case: Path, source: Path) -> str:
    summary = ingest(IngestParameters(sources=[str(source)], case_dir=str(case), owners=[OWNER]))
    return summary["run_id"]


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def open_suggestions(case: Path) -> dict[str, str]:
    """suggestion id -> the other identifier of the pair, for the pairs with alexm@example.org."""
    found = rows(
        case,
        "SELECT s.suggestion_id, b.value FROM actor_suggestions s JOIN identifiers a ON a.identifier_id = "
        "s.identifier_id JOIN identifiers b ON b.identifier_id = s.other_identifier_id "
        "WHERE s.status = 'suggested'",
    )
    return {sid: other for sid, other in found}


def test_applying_the_same_answers_twice_records_them_once(tmp_path: Path) -> None:
    case = tmp_path / "case"
    ingest_run(case, two_suggestions(tmp_path))
    choices = {sid: "confirm" for sid in open_suggestions(case)}
    assert len(choices) == 2
    first = apply_review(case, choices, examiner="analyst", source="airflow review")
    again = apply_review(case, choices, examiner="analyst", source="airflow review")
    assert len(first["decisions"]) == 2 and again["decisions"] == []
    assert sorted(again["already_decided"]) == sorted(choices)
    assert rows(case, "SELECT count(*) FROM actor_decisions") == [(2,)]
    assert len([e for e in custody(case) if e["action"] == "actor_confirm"]) == 2


@pytest.fixture(scope="module")
def dagbag():
    return migrated_dagbag()


def answer_when_asked(
    choose: Callable[[str, dict[str, Any]], str], seen: dict[str, Any], stop: threading.Event
) -> None:
    """Log in as the analyst, wait for the review form of evidence_review, answer it."""
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    token = client.post("/auth/token", json={"username": "analyst", "password": "analyst-password"})
    assert token.status_code == 201, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    while not stop.is_set():
        listing = client.get("/api/v2/dags/evidence_review/dagRuns/~/hitlDetails", headers=headers)
        waiting = [d for d in listing.json().get("hitl_details", []) if not d["response_received"]]
        if waiting:
            detail = waiting[0]
            seen["detail"] = detail
            ti = detail["task_instance"]
            params_input = {key: choose(key, detail) for key in detail["params"]}
            response = client.patch(
                f"/api/v2/dags/evidence_review/dagRuns/{ti['dag_run_id']}/taskInstances/"
                f"{ti['task_id']}/{ti['map_index']}/hitlDetails",
                json={"chosen_options": ["Apply my choices"], "params_input": params_input},
                headers=headers,
            )
            seen["status"] = response.status_code
            seen["response"] = response.text
            return
        time.sleep(0.5)


@pytest.mark.airflow
def test_review_dag_confirms_one_and_rejects_the_other(dagbag, tmp_path: Path) -> None:
    dag = dagbag.get_dag("evidence_review")
    for name in ("case_dir", "ingest_run_id", "response_days"):
        assert dag.params.get_param(name).description, name
    case = tmp_path / "case"
    run_id = ingest_run(case, two_suggestions(tmp_path))
    suggestions = open_suggestions(case)
    keep = next(s for s, other in suggestions.items() if other == "alexm@example.org")  # same name
    drop = next(s for s, other in suggestions.items() if other == "+447700900456")  # the announced number

    def choose(key: str, detail: dict[str, Any]) -> str:
        return {keep: "confirm", drop: "reject", "note": "checked with the victim"}[key]

    seen: dict[str, Any] = {}
    stop = threading.Event()
    analyst = threading.Thread(target=answer_when_asked, args=(choose, seen, stop), daemon=True)
    analyst.start()
    try:
        run = dag.test(run_conf={"case_dir": str(case), "ingest_run_id": run_id})
    finally:
        stop.set()
        analyst.join(timeout=30)
    assert seen.get("status") == 200, seen.get("response")
    assert succeeded(run)
    body = seen["detail"]["body"]
    assert keep in body.replace("\\", "") and "both sent messages as 'Alex Marsh'" in body.replace("\\", "")
    assert "Text me on 07700 900456" in body.replace("\\", "")
    assert set(seen["detail"]["params"]) == {keep, drop, "note"}

    assert rows(
        case,
        f"SELECT suggestion_id, status FROM actor_suggestions WHERE suggestion_id IN ('{keep}', '{drop}') ORDER BY status",
    ) == sorted([(keep, "confirmed"), (drop, "rejected")], key=lambda r: r[1])
    assert rows(
        case,
        "SELECT a.label, i.value FROM actors a JOIN actor_identifiers ai USING (actor_id) "
        "JOIN identifiers i USING (identifier_id) WHERE ai.confirmed AND a.status = 'confirmed' ORDER BY i.value",
    ) == [("Alex Marsh", "alex.marsh@example.net"), ("Alex Marsh", "alexm@example.org")]
    assert rows(
        case,
        "SELECT count(*) FROM actor_identifiers ai JOIN identifiers i USING (identifier_id) WHERE i.value = '+447700900456' AND ai.confirmed",
    ) == [(0,)]
    decisions = [e for e in custody(case) if e["action"] in ("actor_confirm", "actor_reject")]
    assert [
        (e["action"], e["examiner"], e["details"]["suggestion_id"], e["details"]["reason"]) for e in decisions
    ] == [
        ("actor_confirm", "analyst", keep, "checked with the victim"),
        ("actor_reject", "analyst", drop, "checked with the victim"),
    ]
    assert rows(case, "SELECT DISTINCT source FROM actor_decisions") == [("airflow review",)]
    assert check_chain(case / "custody.log") == []

    # a later load that suggests nothing new: the form is skipped, nothing is decided
    more = tmp_path / "more"
    more.mkdir()
    (more / "03.eml").write_text(
        mail("Jo Bloggs <jo@example.com>", "Thu, 11 Apr 2024 10:00:00 +0100", "Hi", "j1")
    )
    quiet = ingest_run(case, more)
    run = dag.test(run_conf={"case_dir": str(case), "ingest_run_id": quiet})
    assert succeeded(run)
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states["review"].endswith("skipped") and states["apply_decisions"].endswith("skipped")
    assert rows(case, "SELECT count(*) FROM actor_decisions") == [(2,)]


@pytest.mark.airflow
def test_review_dag_fails_without_retrying_on_a_folder_that_is_not_a_case(dagbag, tmp_path: Path) -> None:
    dag = dagbag.get_dag("evidence_review")
    run = dag.test(run_conf={"case_dir": str(tmp_path), "ingest_run_id": "run-x"})
    assert not succeeded(run)
    find = next(ti for ti in run.get_task_instances() if ti.task_id == "find_suggestions")
    assert str(find.state).endswith("failed") and find.try_number == 1


@pytest.mark.airflow
def test_the_load_named_by_the_asset_event_is_reviewed_and_evidence_text_stays_text() -> None:
    from evidence.orchestration.review import markdown_text, review_body, review_targets

    params = {"case_dir": "/cases/by-hand", "ingest_run_id": "run-1"}
    events = [
        {"case_dir": "/cases/a", "ingest_run_id": "run-2", "messages_loaded": 3},
        {"case_dir": "/cases/a", "ingest_run_id": "run-2"},  # the same load seen twice
        {"messages_loaded": 1},  # an event without a case: nothing to review
    ]
    assert review_targets(events, params) == [("/cases/a", "run-2")]
    assert review_targets([], params) == [("/cases/by-hand", "run-1")]
    assert review_targets([], {"case_dir": "", "ingest_run_id": ""}) == []
    hostile = 'said "<img src=x onerror=alert(1)>" | [click](http://example.com) **now**'
    body = review_body(
        [
            {
                "case_dir": "/cases/a",
                "ingest_run_id": "run-2",
                "suggestions": [
                    {
                        "key": "s-1",
                        "identifier": "email:a@example.net",
                        "other_identifier": None,
                        "confidence": 0.5,
                        "reason": hostile,
                    }
                ],
            }
        ]
    )
    # rendered as the UI renders Markdown (CommonMark with tables): the evidence shows as text, in one cell
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark").enable("table").render(body)
    table = html.split("<tbody>")[1]
    assert "<img" not in table and "<a " not in table and "<strong>" not in table
    cells = table.split("<td>")[1:]
    assert len(cells) == 4
    assert cells[3].startswith(
        "said &quot;&lt;img src=x onerror=alert(1)&gt;&quot; | [click](http://example.com) **now**"
    )
    assert markdown_text("a|b") == "a\\|b"
