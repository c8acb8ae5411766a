"""The bundled sample case (sample/): it is what tests/sample_case.py writes, and the real pipeline, run with
the parameters `make demo` uses, gives the case its README promises."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
import sample_case as sc

from evidence.identifiers import guess_identifier
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
STALKER_IDENTIFIERS = (
    sc.ALEX_OLD,
    sc.ALEX_NEW,
    sc.ALEX_EMAIL,
    sc.ALEX_NEW_EMAIL,
    f"instagram:{sc.ALEX_NEW_INSTAGRAM}",
)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sample/ ingested once, as the demo does (owners, region, time zone); read-only for the tests."""
    folder = tmp_path_factory.mktemp("sample-case") / "case"
    params = IngestParameters(
        sources=[str(SAMPLE)], case_dir=str(folder), tz=sc.TZ, region=sc.REGION, owners=list(sc.OWNERS)
    )
    summary = ingest(params)
    assert summary["failed"] == 0, summary["failures"]
    return folder


def rows(case: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def pairs(case: Path) -> list[tuple[str, str, list[str], str, float]]:
    """Every suggestion as (identifier value, other value, rules, status, confidence)."""
    return rows(
        case,
        """
        SELECT a.value, b.value, s.rules, s.status, s.confidence FROM actor_suggestions s
        JOIN identifiers a ON a.identifier_id = s.identifier_id
        JOIN identifiers b ON b.identifier_id = s.other_identifier_id
        """,
    )


def linked_to_stalker(case: Path, values: set[str]) -> list[tuple]:
    """Suggestions that pair one of values with one of the stalker's identifiers."""
    stalker = set(STALKER_IDENTIFIERS)
    return [p for p in pairs(case) if {p[0], p[1]} & values and {p[0], p[1]} & stalker]


def test_the_committed_sample_is_what_the_generator_writes() -> None:
    expected = sc.build()
    committed = {
        p.relative_to(SAMPLE).as_posix(): p.read_bytes()
        for p in sorted(SAMPLE.rglob("*"))
        if p.is_file() and p.name != "README.md"
    }
    assert sorted(committed) == sorted(expected), "run: .venv/bin/python tests/sample_case.py sample/"
    changed = [name for name, data in expected.items() if committed[name] != data]
    assert changed == [], (
        f"{changed} differ from the generator: run .venv/bin/python tests/sample_case.py sample/"
    )
    assert sum(len(d) for d in committed.values()) + (SAMPLE / "README.md").stat().st_size < 1_000_000
    assert sc.build() == expected  # deterministic within a process too


def test_the_demo_passes_the_sample_cases_owners_and_region() -> None:
    makefile = (ROOT / "Makefile").read_text()
    conf = re.search(r"^DEMO_CONF := (.*?[^\\])$", makefile, re.MULTILINE | re.DOTALL)
    assert conf, "DEMO_CONF not found in the Makefile"
    text = conf[1].replace("\\\n", " ").replace("$(DEMO_CASE)", "x").replace("$(CURDIR)", "x")
    data = json.loads(text)
    assert data["owners"] == sc.OWNERS and data["region"] == sc.REGION and data["tz"] == sc.TZ


def test_every_file_is_parsed_or_listed_with_a_reason(case: Path) -> None:
    on_disk = {str(p) for p in SAMPLE.rglob("*") if p.is_file()}
    statuses = dict(rows(case, "SELECT source_path, status FROM run_files"))
    assert on_disk <= set(statuses)
    assert statuses[str(SAMPLE / "README.md")] == "unsupported"
    assert statuses[str(SAMPLE / sc.DUPLICATE_EMAIL)] == "skipped"  # the same bytes, parsed once
    others = {p: s for p, s in statuses.items() if not p.endswith(("README.md", sc.DUPLICATE_EMAIL))}
    assert set(others.values()) == {"parsed"}, {p: s for p, s in others.items() if s != "parsed"}
    # the three photos inside the WhatsApp zip, and the one attached to an email, were found and read
    assert sum("WhatsApp Chat with Alex Marsh.zip!/IMG-" in p for p in statuses) == 3
    assert any(p.endswith("05-you-forgot-this.eml#part/2") for p in statuses)
    # the only problems are the damaged email's, kept as warnings
    problems = rows(case, "SELECT severity, source_path FROM ingest_errors")
    assert problems and {(s, Path(p).name) for s, p in problems} == {("warning", "08-malformed.eml")}


def test_messages_from_every_platform_with_directions(case: Path) -> None:
    counts = dict(rows(case, "SELECT platform, count(*) FROM messages WHERE kind <> 'ocr' GROUP BY 1"))
    assert {"whatsapp", "sms", "phone", "email", "instagram"} <= set(counts)
    assert counts["whatsapp"] > 200 and counts["sms"] > 100 and counts["phone"] == len(sc.CALLS)
    assert rows(case, "SELECT count(*) FROM messages WHERE kind = 'ocr'")[0][0] > 0
    # the victim's side: her WhatsApp messages are hers (outgoing), Alex's are incoming
    directions = dict(
        rows(
            case,
            "SELECT sender, list(DISTINCT direction) FROM messages "
            "WHERE platform = 'whatsapp' AND kind = 'message' GROUP BY 1",
        )
    )
    assert directions == {sc.OWNER_NAME: ["outgoing"], sc.STALKER: ["incoming"]}
    stop_request = rows(
        case,
        "SELECT kind, direction FROM messages WHERE platform = 'whatsapp' AND body LIKE 'Alex, please stop%'",
    )
    assert sorted(stop_request) == [("message", "outgoing"), ("ocr", "outgoing")]  # exported, and on screen
    # the WhatsApp photos are linked to the messages that name them
    assert rows(case, "SELECT count(sha256) FROM attachments WHERE file_name LIKE 'IMG-2024%-WA%'") == [(3,)]


def test_times_either_side_of_the_clock_change(case: Path) -> None:
    """00:58 GMT and 02:03 BST on 31 March 2024 are five minutes apart."""
    times = dict(
        rows(
            case,
            "SELECT sent_at_local, sent_at_utc FROM messages WHERE platform = 'whatsapp' AND kind = 'message' "
            "AND sent_at_local IN ('31/03/2024, 00:58', '31/03/2024, 02:03')",
        )
    )
    assert times["31/03/2024, 02:03"] - times["31/03/2024, 00:58"] == timedelta(minutes=5)


def test_every_screenshot_has_a_bubble_that_corroborates_an_exported_message(case: Path) -> None:
    linked = rows(
        case,
        """
        SELECT f.first_seen_path, o.body, e.platform, e.conversation, e.body
        FROM corroborations c
        JOIN messages o ON o.message_id = c.ocr_message_id
        JOIN messages e ON e.message_id = c.message_id
        JOIN files f ON f.sha256 = o.source_sha256
        """,
    )
    assert {Path(path).name for path, *_ in linked} == {Path(shot.name).name for shot in sc.SHOTS}
    assert {(platform, conversation) for _, _, platform, conversation, _ in linked} == {
        ("whatsapp", sc.STALKER)
    }
    # the stop request is among them
    assert any(body.startswith("Alex, please stop contacting me") for *_, body in linked)


def test_the_old_and_new_number_are_suggested_as_one_person(case: Path) -> None:
    found = [p for p in pairs(case) if {p[0], p[1]} == {sc.ALEX_OLD, sc.ALEX_NEW}]
    assert len(found) == 1
    _, _, rules, status, confidence = found[0]
    assert "own_new_identifier" in rules and status == "suggested" and confidence >= 0.7
    # the new Instagram account, announced from the new number
    assert any(
        {p[0], p[1]} == {sc.ALEX_NEW, f"instagram:{sc.ALEX_NEW_INSTAGRAM}"} and p[3] == "suggested"
        for p in pairs(case)
    )


def test_the_friend_quoting_the_new_number_is_never_linked_to_the_stalker(case: Path) -> None:
    assert linked_to_stalker(case, {sc.JO}) == []
    # her message does mention the number: kept as a mention, not as hers
    assert rows(
        case,
        """
        SELECT count(*) FROM message_identifiers mi JOIN identifiers i USING (identifier_id)
        JOIN messages m USING (message_id)
        WHERE i.value = ? AND mi.role = 'mentioned' AND m.sender_identifier = ?
        """,
        [sc.ALEX_NEW, sc.JO],
    ) == [(1,)]


def test_the_police_officer_is_never_linked_to_the_stalker(case: Path) -> None:
    officer = {sc.OFFICER_EMAIL, sc.OFFICER_PHONE}
    assert linked_to_stalker(case, officer) == []
    suggested = rows(
        case, "SELECT DISTINCT suggested_actor FROM timeline WHERE sender_identifier = ?", [sc.OFFICER_EMAIL]
    )
    assert all(s is None or "Marsh" not in s for (s,) in suggested)


def test_nothing_is_confirmed(case: Path) -> None:
    """No analyst decided anything: the timeline names no actor but the account owner on her own texts."""
    owner_values = {guess_identifier(o, sc.REGION).value for o in sc.OWNERS}
    actors = rows(case, "SELECT actor, sender_identifier, count(*) FROM timeline GROUP BY ALL")
    assert {(a, s) for a, s, _ in actors if a is not None} == {
        ("account owner", sc.OWNER_PHONE.replace(" ", ""))
    }
    assert all(a is None for a, s, _ in actors if s not in owner_values)
    assert rows(case, "SELECT count(*) FROM actor_identifiers WHERE confirmed AND actor_id <> 'owner'") == [
        (0,)
    ]
    assert {s for (s,) in rows(case, "SELECT DISTINCT status FROM actor_suggestions")} == {"suggested"}


def test_the_duplicated_email_is_one_event_seen_twice(case: Path) -> None:
    ((sha,),) = rows(case, "SELECT sha256 FROM run_files WHERE source_path LIKE ?", [f"%{sc.FORWARDED_COPY}"])
    assert rows(case, "SELECT count(*) FROM file_occurrences WHERE sha256 = ?", [sha]) == [(2,)]
    assert rows(
        case,
        "SELECT occurrences FROM timeline WHERE platform = 'email' AND text LIKE 'Why are you ignoring me?%'",
    ) == [(2,)]


def test_the_stop_request_on_a_screenshot_is_the_exported_one_listed_once(case: Path) -> None:
    """The victim's stop request is in the WhatsApp export and on a screenshot whose bubble corroborates it:
    one key date, detected in the exported message (OCR's reading of it is not a second one)."""
    detected = rows(
        case,
        "SELECT m.kind, m.body, e.status FROM case_events e JOIN messages m USING (message_id) "
        "WHERE e.source = 'detected'",
    )
    assert [(kind, status) for kind, _, status in detected] == [("message", "kept")]
    (body,) = [body for _, body, _ in detected]
    assert body.startswith("Alex, please stop contacting me. I don't")
    ocr = rows(
        case,
        "SELECT c.ocr_message_id FROM corroborations c JOIN messages m ON m.message_id = c.message_id "
        "WHERE m.body = ?",
        [body],
    )
    assert len(ocr) == 1  # the screenshot does show it


def test_a_screenshot_of_the_stop_request_read_before_the_export_gives_way_to_it(tmp_path: Path) -> None:
    """Screenshots ingested first give a stop request read by OCR; the export ingested later lists its own,
    and the screenshot's is marked removed with the export's key date as its reason, in the custody log."""
    case = tmp_path / "case"
    for source in (SAMPLE / "Screenshots", SAMPLE / "whatsapp"):
        params = IngestParameters(
            sources=[str(source)], case_dir=str(case), tz=sc.TZ, region=sc.REGION, owners=list(sc.OWNERS)
        )
        assert ingest(params)["failed"] == 0
        if source.name == "Screenshots":
            first = rows(case, "SELECT event_id, status FROM case_events WHERE source = 'detected'")
            assert [status for _, status in first] == ["kept"]
            ((screenshot_event, _),) = first
    listed = rows(
        case,
        "SELECT e.event_id, m.kind, e.status, e.status_reason FROM case_events e JOIN messages m "
        "USING (message_id) WHERE e.source = 'detected' ORDER BY m.kind",
    )
    ((export_event, *exported), (retired_id, *retired)) = listed
    assert exported == ["message", "kept", None]
    assert retired_id == screenshot_event
    assert retired == [
        "ocr",
        "removed",
        f"the screenshot shows the exported message of key date {export_event}",
    ]
    entries = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()]
    assert [e["details"] for e in entries if e["action"] == "key_date_retired"] == [
        {"run_id": entries[-1]["details"]["run_id"], "event_id": screenshot_event, "listed_as": export_event}
    ]


def test_a_screenshot_of_an_exported_message_is_listed_but_counted_once(case: Path) -> None:
    """Every bubble on the sample's screenshots shows an exported message: each stays a timeline event,
    marked shown_in_export, and counts nowhere; the exported message it shows carries the flags and the
    incidents. Counted both ways, "You'll regret this Sam" was two threats and two contacts."""
    shown = dict(rows(case, "SELECT event_id, flags FROM timeline WHERE kind = 'ocr'"))
    corroborated = {ocr for (ocr,) in rows(case, "SELECT DISTINCT ocr_message_id FROM corroborations")}
    assert corroborated and set(shown) == corroborated
    assert all("shown_in_export" in flags for flags in shown.values())
    assert rows(case, "SELECT message_id FROM analysis_flags WHERE message_id IN (SELECT ocr_message_id "
                "FROM corroborations)") == []  # fmt: skip
    in_incidents = {m for (ids,) in rows(case, "SELECT message_ids FROM incidents") for m in ids}
    assert not in_incidents & corroborated
    threats = rows(
        case,
        "SELECT kind, platform FROM timeline WHERE text LIKE '%regret this Sam%' "
        "AND list_contains(flags, 'threat_for_review') ORDER BY kind",
    )
    assert threats == [("message", "whatsapp")]
    exported = {m for (m,) in rows(case, "SELECT DISTINCT message_id FROM corroborations")}
    assert exported <= in_incidents | {
        m for (m,) in rows(case, "SELECT message_id FROM message_actor WHERE from_owner")
    }


def test_the_report_counts_contact_after_the_stop_request_without_the_screenshots_copies(
    case: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from evidence.cli.commands import app

    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--case", str(case), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    contacts = "NOT ma.from_owner AND t.kind <> 'system' AND t.occurred_at_utc > ?"
    ((with_copies, without),) = rows(
        case,
        f"SELECT count(*) FILTER (WHERE {contacts}), "
        f"count(*) FILTER (WHERE {contacts} AND NOT list_contains(t.flags, 'shown_in_export')) "
        "FROM timeline t JOIN message_actor ma ON ma.message_id = t.event_id",
        [sc.STOP_REQUEST, sc.STOP_REQUEST],
    )
    assert with_copies > without  # the screenshots show messages sent after it
    first = re.search(r"After it, (\d+) contacts came from", out.read_text()).group(1)
    assert int(first) == without
    # the owner's words, once: the note of a detection no longer repeats where it comes from
    assert re.search(
        r"The first stop request recorded is 2024-02-20 19:42 \(\"Alex, please stop contacting me\. "
        r"I don&#39;t[^<\"]*\"\), detected in the owner&#39;s message\.",
        out.read_text(),
    )


def test_the_report_says_which_screenshots_show_exported_messages(case: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from evidence.cli.commands import app

    out = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", "--case", str(case), "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    captions = re.findall(r"<strong>Screenshot \d+</strong>: ([^<]*)", out.read_text())
    per_screenshot = rows(
        case,
        "SELECT count(*) FROM messages WHERE kind = 'ocr' GROUP BY source_sha256 ORDER BY min(sent_at_utc)",
    )
    assert captions == [
        f"{n} messages read from it; all {n} are also in an exported chat, which the screenshot corroborates."
        for (n,) in per_screenshot
    ]
    read = sum(n for (n,) in per_screenshot)
    assert (
        f"<dt>Read from screenshots</dt><dd>{read}, of which {read} also in an exported chat (listed, counted "
        "once as the exported message)</dd>"
    ) in out.read_text()


def test_the_viewer_offers_the_screenshot_copies_as_a_filter(case: Path) -> None:
    from evidence.orchestration.viewer.reading import TimelineFilter, filter_choices, timeline_page

    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        assert "shown_in_export" in filter_choices(con)["flags"]
        page = timeline_page(con, TimelineFilter(flag="shown_in_export"))
    assert page["total"] == rows(case, "SELECT count(DISTINCT ocr_message_id) FROM corroborations")[0][0] > 0


def test_calls_from_a_withheld_number_are_incidents_in_the_incident_log(case: Path, tmp_path: Path) -> None:
    """Two missed calls from a withheld number at night, after the stop request: with no sender they had no
    actor, their incidents no id, and the incident log left them out (the report called them "system
    message")."""
    import csv

    from typer.testing import CliRunner

    from evidence.cli.commands import app

    assert rows(case, "SELECT count(*) FROM incidents WHERE incident_id IS NULL OR actor_key IS NULL") == [
        (0,)
    ]
    withheld = rows(
        case,
        "SELECT i.incident_id, i.actor, i.messages FROM incidents i JOIN messages m "
        "ON list_contains(i.message_ids, m.message_id) WHERE list_contains(m.flags, 'number_withheld') "
        "ORDER BY i.first_at_utc",
    )
    assert [(actor, n) for _, actor, n in withheld] == [("withheld number", 1), ("withheld number", 1)]
    out = tmp_path / "incidents.csv"
    result = CliRunner().invoke(
        app,
        ["export", "--case", str(case), "--format", "incident-log", "-o", str(out)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    logged = {r["incident_id"]: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    for incident_id, _, _ in withheld:
        row = logged[incident_id]
        assert (row["who"], row["texts"]) == ("withheld number", "Missed call from a withheld number")
        assert row["what happened"].startswith("1 call on phone: at ")
        assert {"night", "after_stop_request"} <= set(row["flags"].split(", "))
    report = tmp_path / "report.html"
    result = CliRunner().invoke(
        app, ["report", "--case", str(case), "-o", str(report)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    html = report.read_text()
    assert '<tr><td>withheld number</td><td class="num">2</td><td>2024-02-29 02:13</td>' in html
    assert "<td>system message</td>" not in html
