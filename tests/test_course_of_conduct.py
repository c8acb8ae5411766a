"""Key dates, flags and incidents on a generated case with known answers, through the real pipeline and CLI.

The case is set in Europe/London around the clock change of 31 March 2024 (01:00 UTC: 01:00 local becomes
02:00), with contact at 00:30 local, a stop request written by the victim, an order added by an advocate,
a threat, and a second number writing for the first time.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evidence.acquire.custody import check_chain
from evidence.cli.commands import app
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

runner = CliRunner()
ALEX, NEW, SAM = "+44 7700 900123", "+44 7700 900456", "+44 7700 900001"
CHAT = [
    ("30/03/2024, 23:50", ALEX, "are you awake"),  # 23:50 GMT: not night
    ("31/03/2024, 00:30", ALEX, "answer me"),  # 00:30 GMT: night
    ("31/03/2024, 01:30", ALEX, "in the gap"),  # does not exist: moved to 02:30 BST (dst_gap), night
    ("31/03/2024, 07:00", ALEX, "good morning"),  # 07:00 BST: not night
    ("01/04/2024, 09:00", SAM, "Please stop contacting me."),  # the victim's stop request
    ("01/04/2024, 09:10", ALEX, "You can't hide from me"),  # threat, after the stop request
    ("01/04/2024, 09:20", ALEX, "hello?"),  # 10 minutes later: same incident
    ("01/04/2024, 10:30", ALEX, "why"),  # 70 minutes later: a new incident
    ("03/04/2024, 12:00", ALEX, "I know where you live"),  # after the order of 2 April
    ("03/04/2024, 12:05", NEW, "this is my new number"),  # first message from a new number
]


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def flags_by_text(case: Path) -> dict[str, set[str]]:
    analysis = {"night", "after_stop_request", "after_order", "threat_for_review", "first_from_identifier"}
    return {
        text: set(flags or []) & analysis for text, flags in rows(case, "SELECT text, flags FROM timeline")
    }


@pytest.fixture
def case(tmp_path: Path) -> Path:
    chat = tmp_path / "src" / "WhatsApp Chat with Alex.txt"
    chat.parent.mkdir()
    chat.write_text("".join(f"{when} - {who}: {text}\n" for when, who, text in CHAT), encoding="utf-8")
    case = tmp_path / "case"
    ingest(IngestParameters(sources=[str(chat.parent)], case_dir=str(case), tz="Europe/London", owners=[SAM]))
    return case


def test_the_stop_request_is_detected_and_flags_follow_the_key_dates(case: Path) -> None:
    (stop,) = rows(case, "SELECT kind, source, status, at_local FROM case_events")
    assert stop == ("stop_request", "detected", "kept", "01/04/2024, 09:00")
    flags = flags_by_text(case)
    assert flags["are you awake"] == {"first_from_identifier"}
    assert flags["answer me"] == {"night"}
    assert flags["in the gap"] == {"night"}
    assert flags["good morning"] == set()
    assert flags["Please stop contacting me."] == set()  # the victim's own message is never flagged
    assert flags["You can't hide from me"] == {"after_stop_request", "threat_for_review"}
    assert flags["I know where you live"] == {"after_stop_request", "threat_for_review"}
    assert flags["this is my new number"] == {"after_stop_request", "first_from_identifier"}
    # an order added by the advocate: later contact is flagged at once, earlier contact is not
    result = evidence(
        "events",
        "add",
        "--case",
        case,
        "--kind",
        "order",
        "--at",
        "2024-04-02T12:00",
        "--note",
        "SPO served",
        "--examiner",
        "ISA Kim",
    )
    assert result.exit_code == 0, result.output
    flags = flags_by_text(case)
    assert "after_order" in flags["I know where you live"] and "after_order" in flags["this is my new number"]
    assert "after_order" not in flags["why"]
    listing = evidence("events", "list", "--case", case, "--format", "jsonl").output
    kinds = sorted(json.loads(line)["kind"] for line in listing.splitlines())
    assert kinds == ["order", "stop_request"]


def test_a_removed_detection_stays_removed_and_the_flags_follow(case: Path) -> None:
    ((event_id,),) = rows(case, "SELECT event_id FROM case_events")
    result = evidence("events", "remove", event_id, "--case", case, "--reason", "sent to someone else")
    assert result.exit_code == 0, result.output
    assert "after_stop_request" not in flags_by_text(case)["You can't hide from me"]
    # a re-ingest (and a new file) does not bring the detection back
    more = case.parent / "more" / "WhatsApp Chat with Alex 2.txt"
    more.parent.mkdir()
    more.write_text(f"05/04/2024, 10:00 - {ALEX}: still here\n", encoding="utf-8")
    ingest(
        IngestParameters(
            sources=[str(case.parent / "src"), str(more.parent)],
            case_dir=str(case),
            tz="Europe/London",
            owners=[SAM],
        )
    )
    assert rows(case, "SELECT status, status_reason FROM case_events") == [
        ("removed", "sent to someone else")
    ]
    entries = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()]
    assert [e["details"]["reason"] for e in entries if e["action"] == "key_date_removed"] == [
        "sent to someone else"
    ]
    assert check_chain(case / "custody.log") == []


def test_incidents_group_bursts_per_actor_with_their_gaps(case: Path) -> None:
    incidents = rows(
        case,
        "SELECT actor, messages, gap_before_seconds FROM incidents WHERE actor = '+447700900123' "
        "ORDER BY first_at_utc",
    )
    assert [(n, gap) for _, n, gap in incidents] == [
        (1, None),  # 23:50 GMT
        (1, 40 * 60),  # 00:30 GMT, 40 minutes later
        (1, 60 * 60),  # 02:30 BST = 01:30 UTC: an hour later in real time
        (1, 4.5 * 3600),  # 07:00 BST
        (2, (24 * 60 + 9 * 60 + 10 - 7 * 60) * 60),  # 09:10 and 09:20 on 1 April
        (1, 70 * 60),  # 10:30
        (1, (2 * 24 * 60 + 90) * 60),  # 12:00 on 3 April
    ]
    assert rows(case, "SELECT count(*) FROM incidents WHERE actor = '+447700900456'") == [(1,)]


def test_annotations_are_kept_and_logged(case: Path) -> None:
    ((event_id,),) = rows(case, "SELECT event_id FROM timeline WHERE text = 'I know where you live'")
    result = evidence(
        "annotate",
        event_id,
        "--case",
        case,
        "--impact",
        "Sam stopped going out alone",
        "--police-ref",
        "CAD 1234",
        "--witness",
        "Jo",
        "--examiner",
        "ISA Kim",
    )
    assert result.exit_code == 0, result.output
    ((incident_id,),) = rows(case, "SELECT incident_id FROM incidents WHERE messages = 2")
    assert (
        evidence("annotate", incident_id, "--case", case, "--note", "two messages in ten minutes").exit_code
        == 0
    )
    got = rows(
        case, "SELECT target_kind, impact, police_ref, witness, note FROM annotations ORDER BY annotated_at"
    )
    assert got == [
        ("event", "Sam stopped going out alone", "CAD 1234", "Jo", None),
        ("incident", None, None, None, "two messages in ten minutes"),
    ]
    unknown = evidence("annotate", "no-such-event", "--case", case, "--note", "x")
    assert unknown.exit_code == 2 and "no event or incident" in unknown.output
    empty = evidence("annotate", event_id, "--case", case)
    assert empty.exit_code == 2 and "nothing to record" in empty.output
    actions = [json.loads(line)["action"] for line in (case / "custody.log").read_text().splitlines()]
    assert actions.count("annotation_added") == 2


def test_a_case_phrase_list_overrides_the_shipped_one_and_everything_is_matched_again(case: Path) -> None:
    assert "threat_for_review" not in flags_by_text(case)["hello?"]
    (case / "phrases").mkdir()
    (case / "phrases" / "threats.txt").write_text("# this case's own list\nhello\n", encoding="utf-8")
    more = case.parent / "more" / "WhatsApp Chat with Alex 3.txt"
    more.parent.mkdir()
    more.write_text(f"06/04/2024, 10:00 - {ALEX}: hello again\n", encoding="utf-8")
    summary = ingest(
        IngestParameters(sources=[str(more.parent)], case_dir=str(case), tz="Europe/London", owners=[SAM])
    )
    assert summary["links"]["key_dates"]["rematched_all"] is True
    flags = flags_by_text(case)
    assert "threat_for_review" in flags["hello?"] and "threat_for_review" in flags["hello again"]
    assert "threat_for_review" not in flags["I know where you live"]  # no longer on this case's list


@pytest.mark.parametrize(
    ("at", "message"),
    [("tomorrow", "not a date"), ("2024-13-01", "2024-13-01"), ("2024-04-01T25:00", "2024-04-01T25:00")],
)
def test_a_bad_key_date_is_a_usage_error(case: Path, at: str, message: str) -> None:
    result = evidence("events", "add", "--case", case, "--kind", "order", "--at", at)
    assert result.exit_code == 2 and message in result.output
    bad_kind = evidence("events", "add", "--case", case, "--kind", "arrest", "--at", "2024-04-01")
    assert bad_kind.exit_code == 2 and "unknown kind" in bad_kind.output


def test_without_owners_every_message_counts_as_contact(tmp_path: Path) -> None:
    """Directions are unknown when no --owner is given: nothing is taken for the victim's own message."""
    chat = tmp_path / "src" / "WhatsApp Chat with Alex.txt"
    chat.parent.mkdir()
    chat.write_text(f"31/03/2024, 00:30 - {ALEX}: answer me\n31/03/2024, 00:40 - Sam: no\n", encoding="utf-8")
    case = tmp_path / "case"
    ingest(IngestParameters(sources=[str(chat.parent)], case_dir=str(case), tz="Europe/London"))
    assert flags_by_text(case) == {"answer me": {"night", "first_from_identifier"}, "no": {"night"}}


def test_a_detected_stop_request_is_in_the_custody_log(case: Path) -> None:
    entries = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()]
    detected = [e["details"] for e in entries if e["action"] == "key_date_detected"]
    assert [(d["kind"], d["at_utc"]) for d in detected] == [("stop_request", "2024-04-01T08:00:00Z")]
    assert check_chain(case / "custody.log") == []


def test_a_threat_without_a_date_is_still_flagged_for_review(tmp_path: Path) -> None:
    """A mail whose Date header is missing is listed last, undated, and counts in no incident; its words
    still need a person to read them. The threat flag was given to dated messages only."""
    src = tmp_path / "src"
    src.mkdir()
    header = "From: Alex <alex@example.net>\nTo: Sam <sam@example.org>\nSubject: you\n"
    (src / "undated.eml").write_text(f"{header}\nYou will regret this.\n", encoding="utf-8")
    (src / "dated.eml").write_text(
        f"{header}Date: Mon, 01 Apr 2024 10:00:00 +0000\n\nI know where you live.\n", encoding="utf-8"
    )
    (src / "own.eml").write_text(  # the owner's own words are never flagged, dated or not
        "From: Sam <sam@example.org>\nTo: Alex <alex@example.net>\nSubject: re\n\nYou will regret this.\n",
        encoding="utf-8",
    )
    case = tmp_path / "case"
    ingest(IngestParameters(sources=[str(src)], case_dir=str(case), owners=["sam@example.org"]))
    flagged = rows(
        case,
        "SELECT text, occurred_at_utc IS NULL FROM timeline "
        "WHERE list_contains(flags, 'threat_for_review') ORDER BY text",
    )
    assert flagged == [("I know where you live.", False), ("You will regret this.", True)]
    assert rows(case, "SELECT count(*) FROM timeline WHERE text = 'You will regret this.'") == [(2,)]
    assert rows(case, "SELECT sum(messages) FROM incidents") == [(1,)]  # the undated one is in none
