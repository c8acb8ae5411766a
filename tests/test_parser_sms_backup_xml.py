"""SMS Backup & Restore XML: the real third-party backup plus generated variants it lacks."""

from __future__ import annotations

import base64
import hashlib
import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rows import file_row

from evidence.acquire.store import OriginalsStore
from evidence.parsers.xml_items import CharRefFixer

FIXTURE = "sms/sms-backup-reader-2/sms_and_mms.xml"
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PNG_SHA = hashlib.sha256(base64.b64decode(PNG_B64)).hexdigest()

HEAD = "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"


def _write(tmp_path: Path, body: str, name: str = "sms-20240101.xml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def test_real_backup_counts_times_and_truncation(parse, shared_fixtures: Path) -> None:
    out = parse(shared_fixtures / FIXTURE)
    row = file_row(out, "sms_and_mms.xml")
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "sms_backup_xml",
        49,
        1,
    )
    messages = out.rows["messages"]
    assert Counter((m["kind"], m["direction"]) for m in messages) == {
        ("sms", "incoming"): 21,
        ("sms", "outgoing"): 20,
        ("mms", "incoming"): 6,
        ("mms", "outgoing"): 2,
    }
    assert Counter(m["sender"] for m in messages) == {
        "me": 22,
        "Contact A": 15,
        "Contact C": 4,
        "Contact B": 2,
        "Contact D": 2,
        "+15550000011": 2,
        "+15550000009": 1,
        "+15550000010": 1,
    }
    assert min(m["sent_at_utc"] for m in messages) == datetime(2017, 12, 2, 14, 49, 27, 463000, tzinfo=UTC)
    assert max(m["sent_at_utc"] for m in messages) == datetime(2024, 7, 17, 21, 37, 26, tzinfo=UTC)
    assert {m["platform"] for m in messages} == {"sms"}
    # The file stops inside the 9th <mms>: the complete items are kept, the cut is reported.
    (warning,) = out.rows["ingest_errors"]
    assert warning["severity"] == "warning"
    assert (
        "truncated" in warning["error"]
        and "49 complete items" in warning["error"]
        and "58" in warning["error"]
    )
    # &#10; in attributes are newlines; SMIL parts are not body text.
    by_locator = {m["source_locator"]: m for m in messages}
    assert by_locator["sms/10"]["body"] == "Body text 10\nBody text 11\nBody text 12"
    assert by_locator["mms/2"]["body"] == "Body text 46"
    assert by_locator["sms/1"]["sent_at_local"] == "Dec 2, 2017 06:49:27"
    # RCS group: the group address is kept raw as the thread, never turned into a phone identifier.
    assert by_locator["mms/3"]["conversation"] == "group_8@rcs.google.com"
    assert by_locator["mms/3"]["recipients"] == ["+15550000006", "+15550000010", "+15550000007"]
    assert not any("rcs.google.com" in i["value"] for i in out.rows["identifiers"])
    assert by_locator["mms/4"]["sender_identifier"] == "+15550000007"  # the owner's number, from addr 137


def test_real_backup_full_row_and_stored_parts(parse, shared_fixtures: Path, tmp_path: Path) -> None:
    path = shared_fixtures / FIXTURE
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    out = parse(path)
    row = next(m for m in out.rows["messages"] if m["source_locator"] == "mms/7")
    assert row == {
        "message_id": row["message_id"],
        "platform": "sms",
        "conversation": "+15550000011",
        "sender": "+15550000011",
        "sender_identifier": "+15550000011",
        "recipients": ["+15550000007"],
        "sent_at_utc": datetime(2024, 7, 16, 20, 29, 24, tzinfo=UTC),
        "sent_at_local": "Jul 16, 2024 13:29:24",
        "tz_source": "epoch",
        "time_precision": "second",
        "kind": "mms",
        "body": "Body text 54",
        "source_sha256": sha,
        "source_locator": "mms/7",
        "duplicate_of": None,
        "subject": None,
        "external_id": "bcc6da4b4955a542f886ebb270107add",
        "direction": "incoming",
        "flags": [],
        "parser": "sms_backup_xml",
    }
    attachments = out.rows["attachments"]
    assert [(a["locator"], a["file_name"], a["mime"], a["sha256"], a["size_bytes"]) for a in attachments] == [
        ("mms/7/part/2", "image_8.png", "image/png", PNG_SHA, 70),
        ("mms/8/part/2", "image_10.png", "image/png", PNG_SHA, 70),
    ]
    assert attachments[0]["message_id"] == row["message_id"]
    stored = OriginalsStore(tmp_path / "originals").path_for(PNG_SHA)
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == PNG_SHA
    derived = [r for r in out.rows["run_files"] if r["derived_from_sha256"] == sha]
    assert {r["source_path"].rsplit("#", 1)[1] for r in derived} == {"mms/7/part/2", "mms/8/part/2"}


def test_corrupt_base64_part_warns_and_keeps_the_message(parse, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '<smses count="2">\n'
        '  <sms address="07700 900123" date="1700000000000" type="1" body="hello" '
        'readable_date="14 Nov 2023 22:13:20" contact_name="(Unknown)" />\n'
        '  <mms date="1700000060000" msg_box="1" address="+447700900123" m_id="null" sub="null">\n'
        "    <parts>\n"
        '      <part seq="0" ct="image/jpeg" name="photo.jpg" text="null" data="!!not*base64!!" />\n'
        f'      <part seq="0" ct="image/png" name="null" cl="dot.png" text="null" data="{PNG_B64}" />\n'
        '      <part seq="0" ct="text/plain" name="null" text="look outside" />\n'
        "    </parts>\n"
        '    <addrs><addr address="+447700900123" type="137" /><addr address="insert-address-token" '
        'type="151" /></addrs>\n'
        "  </mms>\n"
        "</smses>\n",
    )
    out = parse(path, region="GB")
    row = file_row(out, path.name)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 2, 1)
    (warning,) = out.rows["ingest_errors"]
    assert "not valid base64" in warning["error"] and warning["locator"] == "mms/1/part/1"
    sms, mms = out.rows["messages"]
    assert sms["sender"] == "07700 900123" and sms["sender_identifier"] == "+447700900123"
    assert sms["conversation"] == "07700 900123"  # "(Unknown)" contact names are not names
    assert sms["sent_at_utc"] == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert mms["body"] == "look outside" and mms["recipients"] == []
    assert [(a["locator"], a["file_name"], a["sha256"]) for a in out.rows["attachments"]] == [
        ("mms/1/part/1", "photo.jpg", None),
        ("mms/1/part/2", "dot.png", PNG_SHA),
    ]


def test_boxes_owner_and_emoji_surrogates(parse, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '<smses count="4">\n'
        '  <sms address="+447700900123" date="1700000000000" type="2" body="I see you &#55357;&#56832;" />\n'
        '  <sms address="+447700900123" date="1700000001000" type="3" body="draft" />\n'
        '  <sms address="+447700900123" date="1700000002000" type="5" body="lone &#55357; half" />\n'
        '  <sms address="+447700900123" date="1700000003000" type="9" body="odd box" />\n'
        "</smses>\n",
    )
    out = parse(path, owners=("07700 900999",))
    sent, draft, failed, odd = out.rows["messages"]
    assert sent["body"] == "I see you 😀"
    assert (sent["sender"], sent["sender_identifier"], sent["direction"]) == (
        "+447700900999",
        "+447700900999",
        "outgoing",
    )
    assert sent["recipients"] == ["+447700900123"] and sent["sent_at_local"] == "1700000000000"
    assert (draft["direction"], draft["flags"]) == ("outgoing", ["draft"])
    assert failed["body"] == "lone \ufffd half" and failed["flags"] == ["decode_errors", "failed"]
    # which side wrote it is unknown: nobody is its sender (the owners given would have made the party's
    # number the sender of an incoming message); the party is its conversation, linked as `party`
    assert (odd["sender"], odd["sender_identifier"], odd["direction"]) == (None, None, None)
    assert odd["conversation"] == "+447700900123" and odd["flags"] == ["unknown_box_9"]
    links = [
        (link["role"]) for link in out.rows["message_identifiers"] if link["message_id"] == odd["message_id"]
    ]
    assert links == ["party"]
    errors = [e["error"] for e in out.rows["ingest_errors"]]
    assert len(errors) == 2
    assert any("unknown message box" in e for e in errors) and any("U+FFFD" in e for e in errors)


def test_an_mms_of_unknown_box_or_without_from_names_no_wrong_sender(parse, tmp_path: Path) -> None:
    """An MMS whose box is unknown (damage) and whose FROM is the app's placeholder took the thread's party
    as sender: the owner's own message shown as the other party's. An incoming RCS group MMS whose FROM was
    lost took the group's id as its sender. Neither names a sender now; the party is linked as `party`."""
    path = _write(
        tmp_path,
        '<smses count="2">\n'
        '  <mms date="1700000060000" msg_box="9" address="+447700900123" m_id="null" sub="null">\n'
        '    <parts><part seq="0" ct="text/plain" text="sent by someone" /></parts>\n'
        '    <addrs><addr address="insert-address-token" type="137" />'
        '<addr address="+447700900123" type="151" /></addrs>\n'
        "  </mms>\n"
        '  <mms date="1700000061000" msg_box="1" address="group_8@rcs.google.com" m_id="null" sub="null">\n'
        '    <parts><part seq="0" ct="text/plain" text="group text" /></parts>\n'
        '    <addrs><addr address="+447700900555" type="T37" /></addrs>\n'
        "  </mms>\n"
        "</smses>\n",
    )
    out = parse(path, owners=("07700 900999",))
    odd, group = out.rows["messages"]
    assert (odd["sender"], odd["sender_identifier"], odd["direction"]) == (None, None, None)
    assert odd["flags"] == ["unknown_box_9"]
    roles = {
        (link["role"], link["identifier_id"])
        for link in out.rows["message_identifiers"]
        if link["message_id"] == odd["message_id"]
    }
    assert {role for role, _ in roles} == {"party", "recipient"}
    assert group["sender"] is None and group["body"] == "group text"


def test_char_ref_fixer_across_chunk_boundaries() -> None:
    data = b"<a b='" + b"x&#55357;&#56832;y" * 50 + b"'/>"
    for size in (1, 2, 3, 5, 7, 16):
        fixer = CharRefFixer(io.BytesIO(data))
        chunks = []
        while chunk := fixer.read(size):
            chunks.append(chunk)
        assert b"".join(chunks) == b"<a b='" + b"x&#x1F600;y" * 50 + b"'/>", size
        assert fixer.replaced == 0


def test_many_items_stream(parse, tmp_path: Path) -> None:
    items = "".join(
        f'<sms address="+4477009{i % 1000:05d}" date="{1700000000000 + i * 1000}" '
        f'type="{1 + i % 2}" body="m{i}" />\n'
        for i in range(3000)
    )
    path = _write(tmp_path, f'<smses count="3000">\n{items}</smses>\n')
    out = parse(path)
    assert file_row(out, path.name)["messages"] == 3000
    assert out.rows["messages"][-1]["source_locator"] == "sms/3000"
    assert "ingest_errors" not in out.rows


CALLS = (
    '<calls count="9">\n'
    '  <call number="07700 900123" duration="0" date="1700000000000" type="3" presentation="1" '
    'contact_name="Alex" readable_date="14 Nov 2023 22:13:20" />\n'
    '  <call number="07700 900123" duration="0" date="1700000060000" type="3" presentation="1" '
    'contact_name="Alex" />\n'
    '  <call number="+447700900123" duration="125" date="1700000120000" type="1" presentation="1" '
    'contact_name="(Unknown)" />\n'
    '  <call number="07700 900123" duration="4" date="1700000180000" type="2" presentation="1" '
    'contact_name="Alex" />\n'
    '  <call number="" duration="0" date="1700000240000" type="3" presentation="2" contact_name="null" />\n'
    '  <call number="-2" duration="0" date="1700000300000" type="5" presentation="1" />\n'
    '  <call number="07700 900555" duration="3725" date="1700000360000" type="4" presentation="1" />\n'
    '  <call number="07700 900555" duration="0" date="1700000420000" type="6" presentation="1" />\n'
    '  <call number="07700 900555" duration="0" date="1700000480000" type="42" presentation="1" />\n'
    "</calls>\n"
)


def test_call_log_backup(parse, tmp_path: Path) -> None:
    path = _write(tmp_path, CALLS, "calls-20231115.xml")
    out = parse(path, region="GB", owners=("07700 900999",))
    row = file_row(out, path.name)
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "sms_backup_xml",
        9,
        1,
    )
    (warning,) = out.rows["ingest_errors"]
    assert "unknown call type '42'" in warning["error"] and warning["locator"] == "call/9"
    calls = out.rows["messages"]
    assert {(m["platform"], m["kind"]) for m in calls} == {("phone", "call")}
    assert [m["body"] for m in calls] == [
        "Missed call",
        "Missed call",
        "Incoming call, 2 min 5 s",
        "Outgoing call, 4 s",
        "Missed call from a withheld number",
        "Rejected call from a withheld number",
        "Voicemail, 1 h 2 min 5 s",
        "Blocked call",
        "Call",
    ]
    assert Counter(m["sender"] for m in calls) == {
        "Alex": 2,
        "+447700900123": 1,
        "+447700900999": 1,
        None: 3,
        "07700 900555": 2,
    }
    # The unknown type's direction is unknown: a call log's number is always the other party's, so it
    # tells nothing about who called; nobody is named as the caller (it used to read as incoming).
    assert [m["direction"] for m in calls] == ["incoming"] * 3 + ["outgoing"] + ["incoming"] * 4 + [None]
    assert (calls[-1]["sender"], calls[-1]["conversation"]) == (None, "07700 900555")
    assert min(m["sent_at_utc"] for m in calls) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert max(m["sent_at_utc"] for m in calls) == datetime(2023, 11, 14, 22, 21, 20, tzinfo=UTC)
    first = calls[0]
    assert {k: first[k] for k in first if k not in ("message_id", "source_sha256", "parser")} == {
        "platform": "phone",
        "conversation": "Alex",
        "sender": "Alex",
        "sender_identifier": "+447700900123",
        "recipients": ["+447700900999"],
        "sent_at_utc": datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        "sent_at_local": "14 Nov 2023 22:13:20",
        "tz_source": "epoch",
        "time_precision": "second",
        "kind": "call",
        "body": "Missed call",
        "source_locator": "call/1",
        "duplicate_of": None,
        "subject": None,
        "external_id": None,
        "direction": "incoming",
        "flags": ["missed"],
    }
    assert calls[4]["flags"] == ["missed", "number_withheld"] and calls[4]["sender_identifier"] is None
    assert calls[5]["flags"] == ["rejected", "number_withheld"]
    assert calls[7]["flags"] == ["blocked"] and calls[8]["flags"] == ["unknown_call_type_42"]
    # Every call from the same number links to one phone identifier, with the owner as recipient.
    senders = Counter(
        (link["identifier_id"], link["role"])
        for link in out.rows["message_identifiers"]
        if link["role"] == "sender"
    )
    # the owner once, Alex three times, 07700 900555 twice (its call of unknown type links it as `party`)
    assert sorted(senders.values()) == [1, 2, 3]
    assert [
        link["role"]
        for link in out.rows["message_identifiers"]
        if link["message_id"] == calls[8]["message_id"]
    ] == ["party"]


def test_truncated_call_log_keeps_complete_calls(parse, tmp_path: Path) -> None:
    path = _write(tmp_path, CALLS[: CALLS.index('  <call number="07700 900555" duration="0"')] + "  <call nu")
    out = parse(path)
    row = file_row(out, path.name)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 7, 1)
    assert "before </calls>" in out.rows["ingest_errors"][0]["error"]


def test_look_alikes_are_unsupported_or_fail_with_a_reason(parse, tmp_path: Path) -> None:
    other = _write(tmp_path, '<backups count="1"><call number="123" date="1" type="1" /></backups>', "b.xml")
    row = file_row(parse(other), "b.xml")
    assert (row["status"], row["format"]) == ("unsupported", None)
    assert "no parser" in row["status_reason"]

    early = _write(tmp_path, '<smses count="3">\n  <sms address="+1555" date="17000', "cut.xml")
    row = file_row(parse(early), "cut.xml")
    assert row["status"] == "failed" and "truncated before the first complete message" in row["status_reason"]

    broken = _write(
        tmp_path,
        '<smses count="2">\n<sms address="1" date="1" type="1" body="a" />\n<sms </smses>',
        "bad.xml",
    )
    out = parse(broken)
    row = file_row(out, "bad.xml")
    # the damaged last item is lost, with its line; the one before it is kept (test_parser_sms_damaged.py)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 1, 2)
    assert [m["body"] for m in out.rows["messages"]] == ["a"]
    assert [e["locator"] for e in out.rows["ingest_errors"]] == ["sms/2", "line/4"]

    entity = _write(
        tmp_path, '<!DOCTYPE smses [<!ENTITY x "boom">]>\n<smses count="0">&x;</smses>', "entity.xml"
    )
    row = file_row(parse(entity), "entity.xml")
    assert row["status"] in ("unsupported", "failed")  # never expanded
