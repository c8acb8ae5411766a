"""Actors through the real pipeline and the CLI: suggestions with reasons, no silent merges, decisions in
custody that survive re-ingest, links, unlinks, alias files, the owner."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evidence.acquire.custody import check_chain
from evidence.analysis.actors.aliases import parse_alias_file
from evidence.cli.commands import app
from evidence.errors import ActorError

runner = CliRunner()


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def mail(sender: str, subject: str, date: str, body: str, msg_id: str) -> str:
    return (
        f"From: {sender}\nTo: Sam Taylor <sam.taylor@example.org>\nSubject: {subject}\nDate: {date}\n"
        f"Message-ID: <{msg_id}@example.net>\n\n{body}\n"
    )


def make_sources(root: Path) -> Path:
    """Emails from two addresses of one person, a WhatsApp chat from a number, the same number by SMS."""
    src = root / "sources"
    write(
        src / "mail" / "01.eml",
        mail(
            "Alex Marsh <alex.marsh@example.net>",
            "hi",
            "Fri, 01 Mar 2024 21:14:02 +0000",
            "We need to talk.",
            "a1",
        ),
    )
    write(
        src / "mail" / "02.eml",
        mail(
            '"A. M." <a.marsh.new@example.com>',
            "you can't block me",
            "Tue, 09 Apr 2024 23:02:05 +0100",
            "New address. Blocking me won't work.",
            "a2",
        ),
    )
    write(
        src / "mail" / "03.eml",
        mail(
            "Alex Marsh <alexm@example.org>",
            "again",
            "Wed, 10 Apr 2024 10:00:00 +0100",
            "Answer me. Text me on 07700 900456.",
            "a3",
        ),
    )
    write(
        src / "chat" / "WhatsApp Chat with +44 7700 900456.txt",
        "12/04/2024, 21:05 - +44 7700 900456: you can't hide\n12/04/2024, 21:06 - Sam: stop\n",
    )
    write(
        src / "sms" / "sms-backup.xml",
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
        '<smses count="1"><sms protocol="0" address="07700 900456" date="1713000000000" type="1" '
        'subject="null" body="why did you block me" read="1" status="-1" locked="0" date_sent="0" '
        'readable_date="13 Apr 2024 10:20:00" contact_name="Alex" /></smses>\n',
    )
    return src


def ingest(case: Path, *sources: Path) -> None:
    result = evidence(
        "ingest", *sources, "--case", case, "--owner", "sam.taylor@example.org", "--examiner", "DC Test"
    )
    assert result.exit_code == 0, result.output


def suggestions(case: Path) -> dict[tuple[str, str | None], dict]:
    out = evidence("actors", "suggestions", "--case", case, "--all", "--format", "jsonl").output
    found = [json.loads(line) for line in out.splitlines()]
    return {(s["identifier"], s["other"]): s for s in found}


def test_suggestions_carry_confidence_and_reasons_and_merge_nothing(tmp_path: Path) -> None:
    case = tmp_path / "case"
    ingest(case, make_sources(tmp_path))
    found = suggestions(case)
    same_name = found[("email:alex.marsh@example.net", "email:alexm@example.org")]
    assert same_name["status"] == "suggested" and same_name["confidence"] == 0.6
    assert "both sent messages as 'Alex Marsh'" in same_name["reason"]
    new_number = next(
        s for k, s in found.items() if set(k) == {"email:alexm@example.org", "phone:+447700900456"}
    )
    assert new_number["confidence"] == 0.7 and "Text me on 07700 900456" in new_number["reason"]
    # "New address." names no other identifier: being the next sender to the victim is never evidence
    assert not [k for k in found if "email:a.marsh.new@example.com" in k]
    cross = found[("phone:+447700900456", None)]
    assert cross["confidence"] == 0.9 and "sms" in cross["reason"] and "whatsapp" in cross["reason"]
    # nothing is confirmed by evidence alone; the timeline marks suggestions as such
    assert rows(
        case,
        "SELECT count(*) FROM actor_identifiers ai JOIN actors a USING (actor_id) "
        "WHERE ai.confirmed AND a.status <> 'owner'",
    ) == [(0,)]
    shown = rows(
        case,
        "SELECT DISTINCT sender_identifier, actor, suggested_actor FROM timeline WHERE sender_identifier IN "
        "('alex.marsh@example.net', 'alexm@example.org', '+447700900456') ORDER BY 1",
    )
    assert shown == [  # each identifier's own strongest evidence
        ("+447700900456", None, "Alex Marsh (suggested, confidence 0.90)"),
        ("alex.marsh@example.net", None, "Alex Marsh (suggested, confidence 0.60)"),
        ("alexm@example.org", None, "Alex Marsh (suggested, confidence 0.70)"),
    ]
    assert rows(
        case,
        "SELECT actor, suggested_actor FROM timeline WHERE sender_identifier = 'a.marsh.new@example.com'",
    ) == [(None, None)]
    listing = evidence("actors", "list", "--case", case, "--format", "csv").output
    assert "suggested" in listing and "both sent messages as 'Alex Marsh'" in listing
    # the owner is its own actor, shown on the owner's side of the timeline
    assert rows(case, "SELECT label, status FROM actors WHERE actor_id = 'owner'") == [
        ("account owner", "owner")
    ]


def test_confirm_and_reject_are_logged_and_survive_reingest(tmp_path: Path) -> None:
    case = tmp_path / "case"
    src = make_sources(tmp_path)
    ingest(case, src)
    found = suggestions(case)
    keep = found[("email:alex.marsh@example.net", "email:alexm@example.org")]["suggestion_id"]
    drop = next(s for k, s in found.items() if set(k) == {"email:alexm@example.org", "phone:+447700900456"})[
        "suggestion_id"
    ]
    result = evidence(
        "actors",
        "confirm",
        keep,
        "--case",
        case,
        "--label",
        "Alex Marsh",
        "--reason",
        "same writing style",
        "--examiner",
        "DC Test",
    )
    assert result.exit_code == 0, result.output
    result = evidence(
        "actors", "reject", drop, "--case", case, "--reason", "different person", "--examiner", "DC Test"
    )
    assert result.exit_code == 0, result.output

    def state() -> tuple:
        return (
            rows(
                case,
                f"SELECT status FROM actor_suggestions WHERE suggestion_id IN ('{keep}', '{drop}') "
                "ORDER BY suggestion_id = '{keep}'",
            ),
            rows(
                case,
                "SELECT a.label, a.status, i.value, ai.confirmed FROM actors a JOIN actor_identifiers ai "
                "USING (actor_id) JOIN identifiers i USING (identifier_id) WHERE ai.confirmed "
                "AND a.status = 'confirmed' ORDER BY i.value",
            ),
        )

    before = state()
    assert sorted(s for (s,) in before[0]) == ["confirmed", "rejected"]
    assert before[1] == [
        ("Alex Marsh", "confirmed", "alex.marsh@example.net", True),
        ("Alex Marsh", "confirmed", "alexm@example.org", True),
    ]
    assert {
        a for (a,) in rows(case, "SELECT actor FROM timeline WHERE sender_identifier = 'alexm@example.org'")
    } == {"Alex Marsh"}
    entries = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()]
    decisions = [e for e in entries if e["action"] in ("actor_confirm", "actor_reject")]
    assert [(e["action"], e["examiner"], e["details"]["reason"]) for e in decisions] == [
        ("actor_confirm", "DC Test", "same writing style"),
        ("actor_reject", "DC Test", "different person"),
    ]
    assert decisions[0]["details"]["identifier"] == "email:alex.marsh@example.net"
    assert decisions[0]["details"]["actor"] == "Alex Marsh"
    assert check_chain(case / "custody.log") == []
    # re-ingest the same sources and a new file: the link steps run again and re-apply the decisions
    write(
        tmp_path / "more" / "04.eml",
        mail("Alex Marsh <alexm@example.org>", "x", "Thu, 11 Apr 2024 10:00:00 +0100", "Still here.", "a4"),
    )
    ingest(case, src, tmp_path / "more")
    assert state() == before
    assert rows(case, "SELECT count(*) FROM actor_decisions") == [(2,)]


def test_link_unlink_and_alias_files(tmp_path: Path) -> None:
    case = tmp_path / "case"
    ingest(case, make_sources(tmp_path))
    result = evidence(
        "actors",
        "link",
        "07700 900456",
        "instagram.com/alex.m",
        "--actor",
        "Alex Marsh",
        "--case",
        case,
        "--reason",
        "victim statement",
        "--examiner",
        "DC Test",
    )
    assert result.exit_code == 0, result.output
    members = rows(
        case,
        "SELECT i.value, ai.confirmed FROM actors a JOIN actor_identifiers ai USING (actor_id) "
        "JOIN identifiers i USING (identifier_id) WHERE a.label = 'Alex Marsh' ORDER BY 1",
    )
    assert ("+447700900456", True) in members and ("instagram:alex.m", True) in members
    assert {
        a
        for (a,) in rows(
            case, "SELECT actor FROM timeline WHERE platform = 'whatsapp' AND sender_identifier IS NOT NULL"
        )
    } == {"Alex Marsh"}
    result = evidence(
        "actors",
        "unlink",
        "instagram:alex.m",
        "--actor",
        "Alex Marsh",
        "--case",
        case,
        "--reason",
        "wrong account",
        "--examiner",
        "DC Test",
    )
    assert result.exit_code == 0, result.output
    members = rows(
        case,
        "SELECT i.value FROM actors a JOIN actor_identifiers ai USING (actor_id) "
        "JOIN identifiers i USING (identifier_id) WHERE a.label = 'Alex Marsh'",
    )
    assert ("instagram:alex.m",) not in members and ("+447700900456",) in members

    csv_file = write(
        tmp_path / "aliases.csv",
        "actor,identifier,kind,reason\nJo Bloggs,07700 900999,phone,from police\nJo Bloggs,@jo_b,,\n",
    )
    result = evidence("actors", "import", csv_file, "--case", case, "--examiner", "DC Test")
    assert result.exit_code == 0, result.output
    yaml_file = write(
        tmp_path / "aliases.yaml",
        "- actor: Jo Bloggs\n  identifiers: [jo@example.com]\n  reason: victim's notes\n",
    )
    result = evidence("actors", "import", yaml_file, "--case", case, "--examiner", "DC Test")
    assert result.exit_code == 0, result.output
    jo = rows(
        case,
        "SELECT i.kind || ':' || i.value FROM actors a JOIN actor_identifiers ai USING (actor_id) "
        "JOIN identifiers i USING (identifier_id) WHERE a.label = 'Jo Bloggs' AND ai.confirmed ORDER BY 1",
    )
    assert jo == [("email:jo@example.com",), ("handle:jo_b",), ("phone:+447700900999",)]
    actions = [json.loads(line)["action"] for line in (case / "custody.log").read_text().splitlines()]
    assert actions.count("actor_link") == 5 and actions.count("actor_unlink") == 1
    assert "actor_reject" in actions  # unlinking also rejects the pairs that joined it to the actor
    entry = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()][-1]
    assert entry["details"]["source"].startswith("alias file ") and "sha256" in entry["details"]["source"]


def test_alias_entries_with_nulls_or_bare_numbers_are_refused_by_name(tmp_path: Path) -> None:
    for text, named in (
        ("- actor: Jo Bloggs\n  identifiers: [jo@example.com]\n- actor: Jo\n  identifiers: [~]\n", "entry 2"),
        ("Jo Bloggs: [jo@example.com, null]\n", "actor 'Jo Bloggs'"),
        ("~: [jo@example.com]\n", "actor None"),
        ("- actor: Jo\n  identifiers: [{kind: phone, value: null}]\n", "entry 1"),
        ("- actor: Jo\n  identifiers: [+447700900123]\n", "entry 1"),
    ):
        with pytest.raises(ActorError, match="alias entry") as raised:
            parse_alias_file(text.encode(), ".yaml")
        message = str(raised.value)
        assert named in message, message
        assert "null" in message or "quotes" in message, message
    assert parse_alias_file(b"- actor: 7\n  identifiers: ['+447700900123']\n", ".yml") == [
        ("7", "+447700900123", None)
    ]

    case = tmp_path / "case"
    ingest(case, make_sources(tmp_path))
    before = rows(case, "SELECT count(*) FROM actor_decisions")
    bad = write(tmp_path / "aliases.yaml", "- actor: Jo Bloggs\n  identifiers: [jo@example.com, ~]\n")
    result = runner.invoke(app, ["actors", "import", str(bad), "--case", str(case)])
    assert result.exit_code == 2 and "alias entry 1" in result.output and "null" in result.output
    assert rows(case, "SELECT count(*) FROM actor_decisions") == before  # nothing of the file was linked
    assert not rows(case, "SELECT 1 FROM identifiers WHERE value = 'none'")


def test_an_alias_file_is_hashed_and_parsed_from_one_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = tmp_path / "case"
    ingest(case, make_sources(tmp_path))
    first = "- actor: Jo Bloggs\n  identifiers: [jo@example.com]\n"
    alias = write(tmp_path / "aliases.yaml", first)
    original = Path.read_bytes

    def changed_after_reading(self: Path) -> bytes:
        data = original(self)
        if self == alias:  # the file changes on disk right after it was read
            alias.write_text("- actor: Jo Bloggs\n  identifiers: [someone.else@example.org]\n")
        return data

    monkeypatch.setattr(Path, "read_bytes", changed_after_reading)
    result = evidence("actors", "import", alias, "--case", case, "--examiner", "DC Test")
    assert result.exit_code == 0, result.output
    linked = rows(
        case,
        "SELECT i.value FROM actors a JOIN actor_identifiers ai USING (actor_id) "
        "JOIN identifiers i USING (identifier_id) WHERE a.label = 'Jo Bloggs'",
    )
    assert linked == [("jo@example.com",)]
    entry = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()][-1]
    assert f"sha256 {hashlib.sha256(first.encode()).hexdigest()}" in entry["details"]["source"]


def test_errors_are_plain_messages(tmp_path: Path) -> None:
    case = tmp_path / "case"
    ingest(case, make_sources(tmp_path))
    result = runner.invoke(app, ["actors", "confirm", "s-00000000", "--case", str(case)])
    assert result.exit_code == 2 and "no suggestion" in result.output
    result = runner.invoke(app, ["actors", "unlink", "x@y.org", "--actor", "Nobody", "--case", str(case)])
    assert result.exit_code == 2 and "no actor" in result.output
    result = runner.invoke(app, ["actors", "list", "--case", str(tmp_path / "missing")])
    assert result.exit_code == 2
    bad = write(tmp_path / "bad.csv", "who,what\na,b\n")
    result = runner.invoke(app, ["actors", "import", str(bad), "--case", str(case)])
    assert result.exit_code == 2 and "actor and identifier" in " ".join(result.output.split())
