"""The inbox watcher: files dropped into CASE_DIR/inbox/ are ingested exactly once per content, by the package
function (concurrently from two threads too) and by the evidence_watch DAG run with dag.test()."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import duckdb
import pytest
from airflow_env import custody, migrated_dagbag, succeeded

from evidence.acquire.custody import check_chain
from evidence.orchestration.inbox import CLAIM_EXPIRY_HOURS, claim_inbox, release_claims, watch_case_once


def mail(n: int, body: str) -> str:
    return (
        f"From: Alex Marsh <alex.marsh@example.net>\nTo: Sam Taylor <sam.taylor@example.org>\n"
        f"Subject: message {n}\nDate: Fri, 0{n} Mar 2024 21:14:02 +0000\nMessage-ID: <m{n}@example.net>\n\n{body}\n"
    )


def drop(case: Path, name: str, text: str, age_seconds: float = 600) -> Path:
    """A file in the case's inbox whose last change was `age_seconds` ago."""
    path = case / "inbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def actions(case: Path, prefix: str = "inbox_") -> list[tuple[str, str]]:
    return [
        (e["action"], Path(e["details"]["source_path"]).name)
        for e in custody(case)
        if e["action"].startswith(prefix)
    ]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_content_under_two_names_and_in_two_runs_is_ingested_once(tmp_path: Path) -> None:
    case = tmp_path / "case"
    first = drop(case, "a.eml", mail(1, "You can't hide."))
    copy = drop(case, "later/a copy.eml", mail(1, "You can't hide."))
    before = {p: (sha(p), p.stat().st_mtime_ns) for p in (first, copy)}

    summary = watch_case_once(case, "watch-1")
    assert summary is not None and summary["files_seen"] == 1 and summary["messages_loaded"] == 1
    assert rows(case, "SELECT count(*) FROM messages") == [(1,)]
    assert rows(case, "SELECT source_path FROM file_occurrences") == [(str(first),)]
    assert actions(case) == [
        ("inbox_file_same_as", "a copy.eml"),
        ("inbox_file_claimed", "a.eml"),
        ("inbox_file_ingested", "a.eml"),
    ]
    # a second run finds nothing new and writes nothing: the copy's fate is already logged
    assert watch_case_once(case, "watch-2") is None
    assert rows(case, "SELECT count(*) FROM ingest_runs") == [(1,)]
    assert len(actions(case)) == 3
    # a new file in a later run is ingested; the inbox is never changed
    drop(case, "b.eml", mail(2, "I saw you at the station."))
    summary = watch_case_once(case, "watch-3")
    assert summary is not None and summary["files_seen"] == 1
    assert rows(case, "SELECT count(*) FROM messages") == [(2,)]
    assert actions(case)[3:] == [("inbox_file_claimed", "b.eml"), ("inbox_file_ingested", "b.eml")]
    assert {p: (sha(p), p.stat().st_mtime_ns) for p in (first, copy)} == before
    assert not list((case / "watch" / "claims").iterdir())
    assert check_chain(case / "custody.log") == []


def test_content_ingested_by_hand_is_not_ingested_again(tmp_path: Path) -> None:
    from evidence.pipeline.parameters import IngestParameters
    from evidence.pipeline.run import ingest

    outside = tmp_path / "export.eml"
    outside.write_text(mail(1, "hello"), encoding="utf-8")
    case = tmp_path / "case"
    owners = ["sam.taylor@example.org"]
    ingest(IngestParameters(sources=[str(outside)], case_dir=str(case), tz="America/New_York", owners=owners))
    drop(case, "export.eml", mail(1, "hello"))
    assert watch_case_once(case, "watch-1") is None
    assert actions(case) == [("inbox_file_already_in_case", "export.eml")]
    assert rows(case, "SELECT count(*) FROM file_occurrences") == [(1,)]
    # a new file is read with the case's settings (time zone, owners) from its latest run
    drop(case, "new.eml", mail(2, "again"))
    summary = watch_case_once(case, "watch-2")
    assert summary is not None
    params = rows(case, f"SELECT parameters FROM ingest_runs WHERE run_id = '{summary['run_id']}'")[0][0]
    recorded = json.loads(params)
    assert (recorded["tz"], recorded["owners"], recorded["examiner"]) == (
        "America/New_York",
        owners,
        "inbox watcher",
    )


def test_links_are_recorded_once_and_only_the_inbox_of_a_case_may_be_a_source(tmp_path: Path) -> None:
    from evidence.acquire.store import OriginalsStore
    from evidence.acquire.walk import INSIDE_CASE_FOLDER, Acquirer

    case = tmp_path / "case"
    outside = tmp_path / "secret.txt"
    outside.write_text("not evidence", encoding="utf-8")
    drop(case, "a.eml", mail(1, "hello"))
    (case / "inbox" / "link.eml").symlink_to(outside)
    assert watch_case_once(case, "watch-1") is not None
    assert watch_case_once(case, "watch-2") is None
    assert [(a, n) for a, n in actions(case) if a == "inbox_entry_not_read"] == [
        ("inbox_entry_not_read", "link.eml")
    ]
    assert rows(case, "SELECT count(*) FROM files") == [(1,)]  # the link's target was never read
    store = OriginalsStore(case / "originals")
    result = Acquirer(store, case_dir=case).acquire([case / "inbox" / "a.eml", case / "custody.log"])
    assert [i.name for i in result.items] == ["a.eml"]
    assert [e["error"] for e in result.errors] == [INSIDE_CASE_FOLDER]


def test_files_still_being_written_wait_for_a_later_run(tmp_path: Path) -> None:
    case = tmp_path / "case"
    drop(case, "chat.eml.part", mail(1, "half"))
    drop(case, "fresh.eml", mail(2, "just copied"), age_seconds=0)
    assert watch_case_once(case, "watch-1", settle_seconds=60) is None
    assert not (case / "custody.log").exists()  # nothing was done, so nothing is logged
    (case / "inbox" / "chat.eml.part").rename(case / "inbox" / "chat.eml")
    summary = watch_case_once(case, "watch-2", settle_seconds=60)
    assert summary is not None and summary["files_seen"] == 1
    summary = watch_case_once(case, "watch-3", settle_seconds=0)
    assert summary is not None and summary["files_seen"] == 1
    assert sorted(n for a, n in actions(case) if a == "inbox_file_ingested") == ["chat.eml", "fresh.eml"]


def test_a_file_that_grows_while_it_is_hashed_waits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import evidence.orchestration.inbox as inbox

    case = tmp_path / "case"
    growing = drop(case, "a.eml", mail(1, "first part"))
    real_hash = inbox.hash_file

    def hash_while_the_copy_goes_on(path: Path) -> tuple[str, str, int]:
        digest = real_hash(path)
        with open(path, "a", encoding="utf-8") as more:
            more.write("second part\n")
        return digest

    monkeypatch.setattr(inbox, "hash_file", hash_while_the_copy_goes_on)
    assert watch_case_once(case, "watch-1", settle_seconds=0) is None
    assert not (case / "evidence.duckdb").exists()
    monkeypatch.undo()
    summary = watch_case_once(case, "watch-2", settle_seconds=0)
    assert summary is not None
    assert rows(case, "SELECT sha256 FROM files") == [(sha(growing),)]


def test_two_watchers_at_the_same_time_ingest_each_content_once(tmp_path: Path) -> None:
    case = tmp_path / "case"
    for n in range(1, 4):
        drop(case, f"{n}.eml", mail(n, f"message number {n}"))
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def watcher(name: str) -> None:
        start.wait()
        try:
            results[name] = watch_case_once(case, name)
        except Exception as exc:  # reported below with the thread's name
            results[name] = exc

    threads = [threading.Thread(target=watcher, args=(f"watch-{i}",)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [r for r in results.values() if isinstance(r, Exception)], results
    seen = sum(r["files_seen"] for r in results.values() if r)  # type: ignore[index]
    assert seen == 3
    assert rows(case, "SELECT count(*), count(DISTINCT sha256) FROM file_occurrences") == [(3, 3)]
    assert rows(case, "SELECT count(*) FROM messages") == [(3,)]
    ingested = [n for a, n in actions(case) if a == "inbox_file_ingested"]
    assert sorted(ingested) == ["1.eml", "2.eml", "3.eml"]
    assert check_chain(case / "custody.log") == []


def test_a_claim_held_by_a_live_run_is_left_and_one_of_a_dead_run_is_taken_over(tmp_path: Path) -> None:
    case = tmp_path / "case"
    drop(case, "a.eml", mail(1, "hello"))
    held = claim_inbox(case, "running-elsewhere", settle_seconds=0)
    assert held is not None and [Path(f.path).name for f in held.files] == ["a.eml"]
    assert watch_case_once(case, "watch-2") is None  # in progress elsewhere: not taken
    claim_file = case / "watch" / "claims" / f"{held.files[0].sha256}.json"
    record = json.loads(claim_file.read_text())
    record["claimed_at"] -= (CLAIM_EXPIRY_HOURS + 1) * 3600
    claim_file.write_text(json.dumps(record))
    summary = watch_case_once(case, "watch-3")
    assert summary is not None and summary["files_seen"] == 1
    expired = [e["details"] for e in custody(case) if e["action"] == "inbox_claim_expired"]
    assert [(d["watch_id"], d["taken_by"]) for d in expired] == [("running-elsewhere", "watch-3")]
    # the dead run's release, arriving late, finds no claim of its own and records nothing
    assert release_claims(case, "running-elsewhere") == {"ingested": 0, "released": 0}


def test_a_failed_run_releases_its_claims_for_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evidence.pipeline.run as run

    case = tmp_path / "case"
    drop(case, "a.eml", mail(1, "hello"))

    def broken_extract(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(run, "extract_batch", broken_extract)
    with pytest.raises(OSError):
        watch_case_once(case, "watch-1")
    assert actions(case)[-1] == ("inbox_claim_released", "a.eml")
    monkeypatch.undo()
    summary = watch_case_once(case, "watch-2")
    assert summary is not None and summary["messages_loaded"] == 1


# --- the DAG ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dagbag():
    return migrated_dagbag()


@pytest.mark.airflow
def test_watch_dag_ingests_each_content_once_over_runs(dagbag, tmp_path: Path) -> None:
    dag = dagbag.get_dag("evidence_watch")
    for name in ("cases_root", "case_dir", "settle_seconds", "examiner"):
        assert dag.params.get_param(name).description, name
    root = tmp_path / "cases"
    case = root / "case-1"
    drop(case, "a.eml", mail(1, "You can't hide."))
    drop(case, "a again.eml", mail(1, "You can't hide."))
    (root / "not-a-case").mkdir()  # no inbox/: not watched

    conf = {"cases_root": str(root), "settle_seconds": 0, "examiner": "DC Test"}
    assert succeeded(dag.test(run_conf=conf))
    assert rows(case, "SELECT count(*) FROM file_occurrences") == [(1,)]
    assert rows(case, "SELECT count(*), min(examiner) FROM ingest_runs") == [(1, "DC Test")]
    drop(case, "b.eml", mail(2, "I saw you at the station."))
    assert succeeded(dag.test(run_conf={"case_dir": str(case), "settle_seconds": 0}))
    assert rows(case, "SELECT count(*) FROM messages") == [(2,)]
    assert rows(case, "SELECT count(*) FROM ingest_runs") == [(2,)]
    assert actions(case) == [
        ("inbox_file_same_as", "a.eml"),
        ("inbox_file_claimed", "a again.eml"),
        ("inbox_file_ingested", "a again.eml"),
        ("inbox_file_claimed", "b.eml"),
        ("inbox_file_ingested", "b.eml"),
    ]
    assert not (root / "not-a-case" / "custody.log").exists()
    # each load updated the case-database Asset, naming the case and the run
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    runs = {r for (r,) in rows(case, "SELECT run_id FROM ingest_runs")}
    with create_session() as session:
        extras = [e.extra for e in session.scalars(select(AssetEvent))]
    assert runs <= {x.get("ingest_run_id") for x in extras if x.get("case_dir") == str(case)}


@pytest.mark.airflow
def test_watch_dag_fails_without_retrying_when_the_case_has_no_inbox(dagbag, tmp_path: Path) -> None:
    dag = dagbag.get_dag("evidence_watch")
    run = dag.test(run_conf={"case_dir": str(tmp_path / "nowhere")})
    assert not succeeded(run)
    acquire = next(ti for ti in run.get_task_instances() if ti.task_id == "acquire")
    assert str(acquire.state).endswith("failed") and acquire.try_number == 1


def test_an_unreadable_file_is_recorded_once_and_read_when_it_can_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evidence.orchestration.inbox as inbox

    case = tmp_path / "case"
    locked = drop(case, "locked.eml", mail(1, "cannot be read yet"))
    drop(case, "fine.eml", mail(2, "readable"))
    real_hash = inbox.hash_file

    def refuse(path: Path) -> tuple[str, str, int]:
        if Path(path).name == "locked.eml":
            raise PermissionError(13, "Permission denied")
        return real_hash(path)

    monkeypatch.setattr(inbox, "hash_file", refuse)
    assert watch_case_once(case, "watch-1", settle_seconds=0) is not None  # the other file goes on
    assert watch_case_once(case, "watch-2", settle_seconds=0) is None
    not_read = [e["details"] for e in custody(case) if e["action"] == "inbox_entry_not_read"]
    assert [(Path(d["source_path"]).name, d["reason"]) for d in not_read] == [
        ("locked.eml", "cannot be read (tried again next run): Permission denied")
    ]  # recorded once, not on every run
    monkeypatch.undo()
    assert watch_case_once(case, "watch-3", settle_seconds=0) is not None
    assert sha(locked) in {s for (s,) in rows(case, "SELECT sha256 FROM files")}
