"""Attribution traps through the real pipeline: evidence must name both identifiers before two are linked.

A wrong "who sent this" can mislead a court. These cases are the ones that went wrong before: a police
officer's email read as the stalker's because it came next, a friend quoting the stalker's new number, and
a screenshot whose status bar was read as the contact's name.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from screenshot_generator import ChatLine, sample_spec, save

from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

OWNER = "sam.taylor@example.org"
STALKER = "Alex Marsh <alex.marsh@example.net>"


def mail(path: Path, sender: str, date: str, body: str, msg_id: str, subject: str = "hi") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"From: {sender}\nTo: Sam Taylor <{OWNER}>\nSubject: {subject}\nDate: {date}\n"
        f"Message-ID: <{msg_id}@example.net>\n\n{body}\n",
        encoding="utf-8",
    )


def run(case: Path, *sources: Path) -> dict:
    params = IngestParameters(
        sources=[str(s) for s in sources],
        case_dir=str(case),
        tz="Europe/London",
        owners=[OWNER, "07700 900001"],
    )
    return ingest(params)


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def linked(case: Path, a: str, b: str) -> list[tuple]:
    """Suggestions (any status) joining two identifier values."""
    return rows(
        case,
        f"""
        SELECT s.suggestion_id, s.reason FROM actor_suggestions s
        JOIN identifiers x ON x.identifier_id = s.identifier_id
        JOIN identifiers y ON y.identifier_id = s.other_identifier_id
        WHERE (x.value = '{a}' AND y.value = '{b}') OR (x.value = '{b}' AND y.value = '{a}')
        """,
    )


def test_an_officers_email_between_two_of_the_stalkers_is_never_linked_to_the_stalker(tmp_path: Path) -> None:
    src = tmp_path / "mail"
    mail(src / "1.eml", STALKER, "Fri, 01 Mar 2024 21:14:02 +0000", "Why are you ignoring me.", "s1")
    mail(
        src / "2.eml",
        "PC Dana Reid <dana.reid@police.example.uk>",
        "Sat, 02 Mar 2024 09:00:00 +0000",
        "Dear Sam, I have recorded your report. We traced 07700 900456 and instagram.com/alex.m_99 to him. "
        "If he contacts you from a new number, call me on 07700 900777 or ring 101. Please keep every message.",
        "p1",
        subject="Your report",
    )
    mail(
        src / "3.eml",
        '"A new address" <a.marsh.new@example.com>',
        "Sat, 02 Mar 2024 23:02:05 +0000",
        "New address. Blocking me won't work.",
        "s2",
    )
    case = tmp_path / "case"
    run(case, src)
    officer = "dana.reid@police.example.uk"
    # the officer names the stalker's number and account in a message where she also offers her own
    # number in the first person: only what follows "call me on" is hers
    for stalker in (
        "alex.marsh@example.net",
        "a.marsh.new@example.com",
        "+447700900456",
        "instagram:alex.m_99",
    ):
        assert linked(case, officer, stalker) == []
    # the officer's own number, offered in the first person ("call me on"), is the officer's
    ((_, reason),) = linked(case, officer, "+447700900777")
    assert "call me on" in reason
    # the timeline shows no actor for the officer and no suggestion that points at the stalker
    ((actor, suggested),) = rows(
        case, f"SELECT actor, suggested_actor FROM timeline WHERE sender_identifier = '{officer}'"
    )
    assert actor is None and (suggested is None or "Marsh" not in suggested)
    # the new address wrote "new address" but names no other identifier: nothing links it to anyone
    assert rows(
        case,
        "SELECT count(*) FROM actor_suggestions s JOIN identifiers i ON i.identifier_id IN "
        "(s.identifier_id, s.other_identifier_id) WHERE i.value = 'a.marsh.new@example.com'",
    ) == [(0,)]


def test_a_friend_quoting_the_stalkers_new_number_is_not_linked_to_it(tmp_path: Path) -> None:
    src = tmp_path / "sms"
    src.mkdir()
    (src / "sms-backup.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"3\">"
        '<sms protocol="0" address="07700 900123" date="1709300000000" type="1" body="you cant hide from me" '
        'readable_date="1 Mar 2024" contact_name="Alex" />'
        '<sms protocol="0" address="07700 900555" date="1709400000000" type="1" '
        'body="Alex told me his new number is 07700 900999, be careful. Its me Jo btw" '
        'readable_date="2 Mar 2024" contact_name="Jo" />'
        '<sms protocol="0" address="07700 900999" date="1709500000000" type="1" body="this is my new number" '
        'readable_date="3 Mar 2024" contact_name="(Unknown)" />'
        "</smses>\n",
        encoding="utf-8",
    )
    case = tmp_path / "case"
    run(case, src)
    assert linked(case, "+447700900555", "+447700900999") == []
    assert linked(case, "+447700900555", "+447700900123") == []
    # Jo's message is read as mentioning the number (that is kept), just not as Jo's own
    assert rows(
        case,
        "SELECT count(*) FROM message_identifiers mi JOIN identifiers i USING (identifier_id) "
        "WHERE mi.role = 'mentioned' AND i.value = '+447700900999'",
    ) == [(1,)]
    ((actor, suggested),) = rows(
        case, "SELECT actor, suggested_actor FROM timeline WHERE sender_identifier = '+447700900555'"
    )
    assert actor is None and suggested is None


def test_the_stalkers_own_announcement_links_old_and_new_with_the_messages_cited(tmp_path: Path) -> None:
    src = tmp_path / "sms"
    src.mkdir()
    (src / "sms-backup.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"2\">"
        '<sms protocol="0" address="07700 900123" date="1709300000000" type="1" '
        'body="my new number is 07700 900999, dont block it" readable_date="1 Mar 2024" contact_name="Alex" />'
        '<sms protocol="0" address="07700 900999" date="1709500000000" type="1" body="answer me" '
        'readable_date="3 Mar 2024" contact_name="(Unknown)" />'
        "</smses>\n",
        encoding="utf-8",
    )
    case = tmp_path / "case"
    run(case, src)
    ((suggestion_id, reason),) = linked(case, "+447700900123", "+447700900999")
    assert "my new number is 07700 900999" in reason and "sent messages too" in reason
    ((confidence, status),) = rows(
        case, f"SELECT confidence, status FROM actor_suggestions WHERE suggestion_id = '{suggestion_id}'"
    )
    assert (confidence, status) == (0.7, "suggested")
    # a suggestion is never shown as who sent it
    assert rows(case, "SELECT DISTINCT actor FROM timeline WHERE platform = 'sms'") == [(None,)]


def test_a_later_run_strengthens_an_announcement_when_the_new_number_writes(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    for folder, body, address, when, name in (
        (first, "my new number is 07700 900999", "07700 900123", "1709300000000", "Alex"),
        (second, "answer me", "07700 900999", "1709500000000", "(Unknown)"),
    ):
        folder.mkdir()
        (folder / "sms.xml").write_text(
            "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"1\">"
            f'<sms protocol="0" address="{address}" date="{when}" type="1" body="{body}" '
            f'readable_date="1 Mar 2024" contact_name="{name}" /></smses>\n',
            encoding="utf-8",
        )
    case = tmp_path / "case"
    run(case, first)
    assert rows(case, "SELECT confidence FROM actor_suggestions") == [(0.5,)]
    run(case, second)
    assert rows(case, "SELECT confidence FROM actor_suggestions WHERE rules = ['own_new_identifier']") == [
        (0.7,)
    ]


def test_a_status_bar_read_as_the_header_never_names_an_actor(tmp_path: Path) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    spec = sample_spec(
        contact="02:17 all 78%",
        messages=[
            ChatLine("in", "this is my new number 07700 900999", "02:15"),
            ChatLine("in", "answer me now", "02:16"),
        ],
    )
    save(spec, shots / "Screenshot_20240312-021700.png")
    case = tmp_path / "case"
    run(case, shots)
    assert rows(case, "SELECT count(*) FROM messages WHERE kind = 'ocr'")[0][0] >= 1
    labels = [label for (label,) in rows(case, "SELECT label FROM actors")]
    assert not any("02:17" in label or "78%" in label for label in labels), labels
    assert rows(case, "SELECT count(*) FROM actor_evidence WHERE label_hint LIKE '%02:17%'") == [(0,)]
    assert rows(case, "SELECT count(*) FROM identifier_names WHERE name LIKE '%02:17%'") == [(0,)]
