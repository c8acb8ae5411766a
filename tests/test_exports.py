"""`evidence export`: incident log, Timesketch, CASE/UCO and Parquet, on a case built through the real pipeline.

The case: a stalker writing on WhatsApp (known only by a display name), by SMS and by email (whose email
announces the SMS number, confirmed by the analyst as one person), a friend passing on a police officer's
address, the owner's own reply, and an email without a date. Key dates and annotations are added the way
an advocate adds them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evidence.acquire.custody import CustodyLog, check_chain
from evidence.analysis.key_dates import add_event
from evidence.cli.commands import app
from evidence.db import open_case
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

runner = CliRunner()

OWNER_PHONE = "07700 900001"
OWNER_EMAIL = "sam.taylor@example.org"
STALKER_EMAIL = "alex.marsh@example.net"
STALKER_PHONE = "07700 900999"
FRIEND_PHONE = "07700 900555"
OFFICER_EMAIL = "dana.reid@police.example.uk"

WHATSAPP = """\
14/06/2024, 21:14 - Alex: =HYPERLINK("http://evil.example/x","click me")
14/06/2024, 21:20 - Alex: Why are you ignoring me
16/06/2024, 02:10 - Alex: +cmd
16/06/2024, 02:11 - Alex: I am outside
"""


def _sms(address: str, when_ms: int, kind: int, body: str, name: str) -> str:
    return (
        f'<sms protocol="0" address="{address}" date="{when_ms}" type="{kind}" body="{body}" '
        f'readable_date="" contact_name="{name}" />'
    )


def _mail(path: Path, sender: str, date: str | None, body: str, msg_id: str) -> None:
    header = f"From: {sender}\nTo: Sam Taylor <{OWNER_EMAIL}>\nSubject: hello\n"
    if date:
        header += f"Date: {date}\n"
    path.write_text(f"{header}Message-ID: <{msg_id}@example.net>\n\n{body}\n", encoding="utf-8")


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exports")
    src = root / "src"
    (src / "wa").mkdir(parents=True)
    (src / "WhatsApp Chat with Alex.txt").write_text(WHATSAPP, encoding="utf-8")
    (src / "sms").mkdir()
    june_17 = 1718600000000  # 2024-06-17 04:53:20 UTC
    (src / "sms" / "sms-backup.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"4\">"
        + _sms(STALKER_PHONE, june_17, 1, "you cant hide from me", "(Unknown)")
        + _sms(STALKER_PHONE, june_17 + 60_000, 1, "answer me", "(Unknown)")
        + _sms(FRIEND_PHONE, june_17 + 7_200_000, 1, f"PC Reid says write to her at {OFFICER_EMAIL}", "Jo")
        + _sms(OWNER_PHONE, june_17 + 7_300_000, 2, f"Thanks Jo. If anyone asks, I am on {OWNER_PHONE}", "Jo")
        + "</smses>\n",
        encoding="utf-8",
    )
    (src / "mail").mkdir()
    _mail(
        src / "mail" / "1.eml",
        f"Alex Marsh <{STALKER_EMAIL}>",
        "Sat, 15 Jun 2024 20:00:00 +0000",
        f"My new number is {STALKER_PHONE}, text me there.",
        "a1",
    )
    _mail(src / "mail" / "2.eml", f"Alex Marsh <{STALKER_EMAIL}>", None, "No date on this one.", "a2")
    case = root / "case"
    ingest(
        IngestParameters(
            sources=[str(src)],
            case_dir=str(case),
            tz="Europe/London",
            owners=[OWNER_PHONE, OWNER_EMAIL],
            examiner="DC Test",
        )
    )
    # the analyst confirms that the email address and the number it announced are one person
    ((suggestion,),) = rows(
        case,
        "SELECT s.suggestion_id FROM actor_suggestions s JOIN identifiers a ON a.identifier_id = s.identifier_id "
        "JOIN identifiers b ON b.identifier_id = s.other_identifier_id "
        f"WHERE (a.value, b.value) IN (('{STALKER_EMAIL}', '+447700900999'), ('+447700900999', '{STALKER_EMAIL}'))",
    )
    assert evidence("actors", "confirm", suggestion, "--label", "Alex Marsh", "--case", case).exit_code == 0
    with open_case(case, write=True) as con:
        add_event(con, "order", "2024-06-15T12:00", "SPO served", "advocate")
    # the advocate's diary notes: one on an incident, one on a single message of another incident
    result = evidence(
        "annotate", incident_of(case, "Why are you ignoring me"), "--case", case,
        "--impact", "I was scared to go out", "--police-ref", "CAD 1234 14/06",
        "--witness", "Jo Bloggs", "--where", "at home", "--examiner", "advocate",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result = evidence("annotate", event_of(case, "answer me"), "--case", case, "--impact", "Could not sleep")
    assert result.exit_code == 0, result.output
    return case


def event_of(case: Path, text: str) -> str:
    ((event_id,),) = rows(case, f"SELECT event_id FROM timeline WHERE text = '{text}'")
    return event_id


def incident_of(case: Path, text: str) -> str:
    event_id = event_of(case, text)
    ((incident_id,),) = rows(
        case, f"SELECT incident_id FROM incidents WHERE list_contains(message_ids, '{event_id}')"
    )
    return incident_id


def said(result) -> str:
    """What the command printed, with the terminal's line wrapping undone."""
    return " ".join(result.output.split())


def export(case: Path, fmt: str, out: Path, *extra: str):
    result = evidence("export", "--case", case, "--format", fmt, "-o", out, *extra)
    assert result.exit_code == 0, result.output
    return result


def read_log(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_incident_log_has_one_row_per_incident_with_the_diary_fields(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "incidents.csv"
    result = export(case, "incident-log", out)
    log = read_log(out)
    *log, undated = log  # the mail with no date: after the incidents, in none of them
    incidents = rows(case, "SELECT incident_id FROM incidents")
    assert sorted(r["incident_id"] for r in log) == sorted(i for (i,) in incidents)
    assert f"{len(incidents)} incidents" in said(result)
    assert "1 message(s) with no date are listed after the incidents, one row each" in said(result)
    assert [r["date"] for r in log] == sorted(r["date"] for r in log)  # oldest first
    assert (undated["date"], undated["time"], undated["incident_id"], undated["texts"]) == (
        "undated",
        "",
        "",
        "No date on this one.",
    )
    assert undated["what happened"] == "1 message on email: no date in the source (in no incident)"
    assert undated["who"] == "Alex Marsh" and "no_date" in undated["flags"]  # the confirmed actor
    by_id = {r["incident_id"]: r for r in log}

    annotated = by_id[incident_of(case, "Why are you ignoring me")]
    assert annotated["impact"] == "I was scared to go out"
    assert annotated["police reference"] == "CAD 1234 14/06"
    assert annotated["witnesses"] == "Jo Bloggs"
    assert annotated["where"] == "at home"
    # local time (BST), not UTC: the first message was sent at 20:14 UTC
    assert (annotated["date"], annotated["time"], annotated["time zone"]) == (
        "2024-06-14",
        "21:14",
        "Europe/London",
    )
    assert annotated["what happened"] == "2 messages on whatsapp: first 21:14, last 21:20"
    assert annotated["who"] == "Alex"  # a display name only: no actor is made up
    assert annotated["gap since previous incident"] == "first incident"
    assert annotated["texts"].splitlines()[1] == "Why are you ignoring me"

    # an annotation on one message shows on its incident; the confirmed actor is who, never a suggestion
    sms = by_id[incident_of(case, "answer me")]
    assert sms["impact"] == "Could not sleep"
    assert sms["who"] == "Alex Marsh"
    assert sms["suggested (not confirmed)"] == ""
    assert "sms; from '+447700900999" not in sms["how"] and "+447700900999" in sms["how"]
    assert "after_order" in sms["flags"] and "night" in sms["flags"]
    assert sms["gap since previous incident"] == "1 d 8 h"  # since the email of 15 June, 21:00 BST
    sha = rows(case, f"SELECT source_sha256 FROM timeline WHERE event_id = '{event_of(case, 'answer me')}'")[
        0
    ][0]
    assert sms["source_sha256"] == sha and sms["source_locators"].splitlines() == [
        f"{sha} sms/1",
        f"{sha} sms/2",
    ]

    friend = by_id[incident_of(case, f"PC Reid says write to her at {OFFICER_EMAIL}")]
    assert friend["who"] == "'+447700900555"  # the sender's number, escaped like every cell starting with +
    assert friend["impact"] == friend["police reference"] == ""
    # the owner's own messages make no incident, and the undated email none either
    assert not any("Thanks Jo" in r["texts"] or "No date" in r["texts"] for r in log)


def test_a_note_on_a_message_with_no_date_shows_on_its_row(case: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(case, tmp_path / "case"))
    event = event_of(copy, "No date on this one.")
    noted = evidence("annotate", event, "--case", copy, "--impact", "Frightened", "--police-ref", "CAD 77")
    assert noted.exit_code == 0, noted.output
    result = export(copy, "incident-log", tmp_path / "log.csv")
    undated = read_log(tmp_path / "log.csv")[-1]
    assert (undated["date"], undated["impact"], undated["police reference"]) == (
        "undated",
        "Frightened",
        "CAD 77",
    )
    assert "annotation(s) are on events that belong to no incident" not in said(result)


def test_incident_log_cells_that_a_spreadsheet_would_run_are_escaped(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "incidents.csv"
    export(case, "incident-log", out)
    log = {r["incident_id"]: r for r in read_log(out)}
    first = log[incident_of(case, "Why are you ignoring me")]["texts"]
    assert first.startswith('\'=HYPERLINK("http://evil.example/x"')
    plus = log[incident_of(case, "+cmd")]["texts"]
    assert plus.splitlines() == ["'+cmd", "I am outside"]
    # no cell anywhere starts a formula
    for row in log.values():
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r", "\0")), value


def test_timesketch_lines_have_the_required_fields_one_per_dated_event(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.jsonl"
    result = export(case, "timesketch", out)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        assert line["message"] and line["timestamp_desc"]
        moment = datetime.fromisoformat(line["datetime"])
        assert moment.utcoffset() is not None  # ISO 8601 with an offset
        assert line["timestamp"] == int(moment.timestamp()) * 1_000_000 + moment.microsecond
    events = [line for line in lines if line["data_type"] == "evidence:message"]
    dated = rows(case, "SELECT event_id FROM timeline WHERE occurred_at_utc IS NOT NULL")
    assert sorted(e["event_id"] for e in events) == sorted(e for (e,) in dated)
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    # the undated email is left out and the CLI says so
    assert "1 undated event(s) left out" in said(result)
    assert not any(e["text"] == "No date on this one." for e in events)
    (key_date,) = [line for line in lines if line["data_type"] == "evidence:key_date"]
    assert key_date["datetime"] == "2024-06-15T11:00:00+00:00" and "SPO served" in key_date["message"]
    sms = next(e for e in events if e["text"] == "you cant hide from me")
    assert (
        sms["actor"] == "Alex Marsh" and sms["platform"] == "sms" and sms["timestamp_desc"] == "Message sent"
    )
    assert "threat_for_review" in sms["flags"] and sms["source_locator"] == "sms/1"


def _case_validate() -> str:
    """case-utils lives in its own venv (.venv-tools, made by `make setup`), away from the product's."""
    found = Path(__file__).resolve().parents[1] / ".venv-tools" / "bin" / "case_validate"
    if found.exists():
        return str(found)
    on_path = shutil.which("case_validate")
    assert on_path, (
        "case_validate (case-utils, tests/tools/requirements.lock) is not installed: run make setup"
    )
    return on_path


def test_case_uco_export_passes_the_case_validator(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "case.jsonld"
    export(case, "case-uco", out)
    check = subprocess.run(
        [_case_validate(), "--allow-info", str(out)], capture_output=True, text=True, timeout=300
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Conforms: True" in check.stdout
    assert "NonExistentCDOConcept" not in check.stderr  # every class and property is in the ontology

    graph = json.loads(out.read_text(encoding="utf-8"))["@graph"]
    by_type: dict[str, list[dict]] = {}
    for node in graph:
        by_type.setdefault(node["@type"], []).append(node)
    hashes = {
        (h["uco-types:hashMethod"], h["uco-types:hashValue"]["@value"]) for h in by_type["uco-types:Hash"]
    }
    for sha256, md5 in rows(case, "SELECT sha256, md5 FROM files"):
        assert ("SHA256", sha256) in hashes and ("MD5", md5) in hashes
    assert len(by_type["uco-observable:Message"]) == rows(case, "SELECT count(*) FROM timeline")[0][0]
    texts = {f.get("uco-observable:messageText") for f in by_type["uco-observable:MessageFacet"]}
    assert "you cant hide from me" in texts
    numbers = {f["uco-observable:phoneNumber"] for f in by_type["uco-observable:PhoneAccountFacet"]}
    assert {"+447700900999", "+447700900001"} <= numbers
    addresses = {f["uco-observable:addressValue"] for f in by_type["uco-observable:EmailAddressFacet"]}
    assert STALKER_EMAIL in addresses
    (action,) = by_type["case-investigation:InvestigativeAction"]
    (tool,) = by_type["uco-tool:Tool"]
    assert action["uco-action:instrument"]["@id"] == tool["@id"] and tool["uco-tool:version"]
    (person,) = by_type["uco-identity:Person"]
    assert person["uco-core:name"] == "DC Test" and action["uco-action:performer"]["@id"] == person["@id"]
    assert len(by_type["case-investigation:ProvenanceRecord"]) == 1
    # reproducible: the same case exports to the same bytes
    again = tmp_path / "again.jsonld"
    export(case, "case-uco", again)
    assert again.read_bytes() == out.read_bytes()


def test_parquet_export_reads_back_with_the_case_row_counts(case: Path, tmp_path: Path) -> None:
    out = tmp_path / "parquet"
    export(case, "parquet", out)
    written = {p.stem for p in out.glob("*.parquet")}
    assert {
        "messages", "files", "identifiers", "message_identifiers", "actors", "actor_identifiers",
        "actor_suggestions", "case_events", "annotations", "timeline", "incidents", "analysis_flags",
    } <= written  # fmt: skip
    con = duckdb.connect()
    for name in written:
        expected = rows(case, f'SELECT count(*) FROM "{name}"')[0][0]
        assert (
            con.execute(f"SELECT count(*) FROM read_parquet('{out / name}.parquet')").fetchone()[0]
            == expected
        )
    assert con.execute(f"SELECT count(*) FROM read_parquet('{out}/annotations.parquet')").fetchone()[0] == 2
    # a second export never mixes with the first; redaction is refused with a reason
    result = runner.invoke(app, ["export", "--case", str(case), "--format", "parquet", "-o", str(out)])
    assert result.exit_code == 2 and "not an empty folder" in said(result)
    result = runner.invoke(
        app, ["export", "--case", str(case), "--format", "parquet", "-o", str(tmp_path / "r"), "--redact"]
    )
    assert result.exit_code == 2 and "--redact is not available for parquet" in said(result)
    assert not (tmp_path / "r").exists()


OWNER_FORMS = ("07700 900001", "+447700900001", "07700900001")


@pytest.mark.parametrize(
    ("fmt", "name"), [("incident-log", "log.csv"), ("timesketch", "ts.jsonl"), ("case-uco", "c.jsonld")]
)
def test_redacted_exports_mask_the_owners_number_and_a_third_partys_address(
    case: Path, tmp_path: Path, fmt: str, name: str
) -> None:
    plain, redacted = tmp_path / f"plain-{name}", tmp_path / f"redacted-{name}"
    export(case, fmt, plain)
    result = export(case, fmt, redacted, "--redact")
    assert "(redacted)" in said(result)
    before, after = plain.read_text(encoding="utf-8"), redacted.read_text(encoding="utf-8")
    # the unredacted export carries them (where the format shows them), the redacted one never does
    assert OFFICER_EMAIL in before
    if fmt != "incident-log":  # the owner writes no incident
        assert any(form in before for form in OWNER_FORMS)
    for secret in (OFFICER_EMAIL, *OWNER_FORMS):
        assert secret not in after, secret
    assert "[email]" in after
    # the confirmed stalker's own identifiers stay readable: they are what the export is about
    assert "+447700900999" in after


def test_each_export_is_recorded_in_custody_with_its_hash(case: Path, tmp_path: Path) -> None:
    log_path = case / "custody.log"
    for fmt, out in (
        ("incident-log", tmp_path / "log.csv"),
        ("timesketch", tmp_path / "ts.jsonl"),
        ("case-uco", tmp_path / "case.jsonld"),
        ("parquet", tmp_path / "pq"),
    ):
        result = evidence("export", "--case", case, "--format", fmt, "-o", out, "--examiner", "DC Export")
        assert result.exit_code == 0, result.output
        entry = json.loads(log_path.read_text(encoding="utf-8").splitlines()[-1])
        assert entry["action"] == "export_written" and entry["examiner"] == "DC Export"
        assert entry["details"]["format"] == fmt and entry["details"]["redacted"] is False
        files = [out] if out.is_file() else sorted(out.glob("*.parquet"))
        recorded = {Path(o["path"]).name: o["sha256"] for o in entry["details"]["outputs"]}
        assert recorded == {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        assert f"custody chain head: {CustodyLog(log_path).head()}" in said(result)
        assert check_chain(log_path) == []


def test_export_refuses_a_folder_for_a_file_format_and_an_unknown_format(case: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", "--case", str(case), "--format", "timesketch", "-o", str(tmp_path)]
    )
    assert result.exit_code == 2 and "is a folder" in said(result)
    result = runner.invoke(app, ["export", "--case", str(case), "--format", "pdf", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2
    result = runner.invoke(
        app, ["export", "--case", str(tmp_path / "none"), "--format", "timesketch", "-o", "x"]
    )
    assert result.exit_code == 2 and "no case database" in said(result)
