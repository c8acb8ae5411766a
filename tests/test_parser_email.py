"""Email parsers (.eml, mbox, Outlook .msg): real malformed mail from ../shared/fixtures; built mail."""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from rows import file_row

from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions, message_id_for
from evidence.parsers.detect import sample_file
from evidence.parsers.export_text import MAX_HTML_DEPTH
from evidence.parsers.mbox import MboxReader, is_separator
from evidence.parsers.registry import REGISTRY
from evidence.parsers.rows import ParsedRows
from evidence.pipeline.extract import extract_items

Parse = Callable[..., ParsedRows]

# name -> (messages, warnings, run_files rows) observed and checked by reading each file.
FIXTURES = {
    "cpython/msg_15.txt": (1, 3, 1),  # To "XX" has no domain; parts after the reused boundary; inner start
    "flanker/attached-pdf.eml": (1, 0, 2),  # + the PDF as a derived file (no parser: unsupported)
    "flanker/false-multipart.eml": (1, 2, 1),  # start boundary never found; multipart without parts
    "flanker/from-encoding.eml": (1, 1, 1),  # raw Latin-1 byte in From
    "flanker/mailformed-headers.eml": (1, 6, 1),  # 8-bit From/To/Subject, non-ASCII local part, 2 MIME
    "flanker/missing-boundaries.eml": (1, 0, 1),  # a legal text/plain mail whose body looks like headers
    "flanker/missing-final-boundary.eml": (1, 1, 1),  # close boundary not found
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def identifiers_by_role(out: ParsedRows) -> dict[str, set[tuple[str, str]]]:
    by_id = {i["identifier_id"]: i for i in out.rows["identifiers"]}
    roles: dict[str, set[tuple[str, str]]] = {}
    for link in out.rows["message_identifiers"]:
        ident = by_id[link["identifier_id"]]
        roles.setdefault(link["role"], set()).add((ident["kind"], ident["value"]))
    return roles


# --- the real-format corpus -------------------------------------------------------------------------------


def test_every_email_fixture_is_listed(shared_fixtures: Path) -> None:
    found = {
        p.relative_to(shared_fixtures / "email").as_posix() for p in (shared_fixtures / "email").rglob("*")
    }
    assert {f for f in found if "/" in f} == set(FIXTURES)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_shared_email_fixture(shared_fixtures: Path, parse: Parse, name: str) -> None:
    messages, warnings, files = FIXTURES[name]
    out = parse(shared_fixtures / "email" / name)
    row = file_row(out, inputs_only=True)
    assert row["status"] == "parsed" and row["format"] == "email_eml"
    assert not [r for r in out.rows["run_files"] if r["status"] == "failed"]
    assert len(out.rows["run_files"]) == files
    assert len(out.rows["messages"]) == row["messages"] == messages
    assert row["warnings"] == warnings
    assert len([e for e in out.rows["ingest_errors"] if e["severity"] == "warning"]) == warnings


def test_from_encoding_full_row(shared_fixtures: Path, parse: Parse) -> None:
    path = shared_fixtures / "email" / "flanker" / "from-encoding.eml"
    out = parse(path)
    (msg,) = out.rows["messages"]
    body = msg.pop("body")
    assert msg == {
        "message_id": message_id_for(sha(path.read_bytes()), "message"),
        "platform": "email",
        "conversation": "running server as root (Was: Re: PUT method)",
        "sender": "Ingo Lütkebohle <ingo@blank.pages.de>",
        "sender_identifier": "ingo@blank.pages.de",
        "recipients": ["new-httpd@apache.org"],
        "sent_at_utc": datetime(1997, 7, 12, 20, 11, 13, tzinfo=UTC),
        "sent_at_local": "Sat, 12 Jul 1997 22:11:13 +0200",
        "tz_source": "offset",
        "time_precision": "second",
        "kind": "email",
        "source_sha256": sha(path.read_bytes()),
        "source_locator": "message",
        "duplicate_of": None,
        "subject": "Re: running server as root (Was: Re: PUT method)",
        "external_id": "<33C7E4E1.2A12445E@blank.pages.de>",
        "direction": None,
        "flags": ["decode_errors"],
        "parser": "email_eml",
    }
    assert body.startswith("Marc Slemko wrote:\n> If you have a real uid of root")
    assert body.endswith("processing stage?\n\n---/dev/il")
    (warning,) = out.rows["ingest_errors"]
    assert (
        "From header contains undecodable 8-bit bytes" in warning["error"]
        and "windows-1252" in warning["error"]
    )
    roles = identifiers_by_role(out)
    assert roles["relay"] == {("ip", "194.77.23.26"), ("ip", "194.77.23.152")}


def test_missing_final_boundary_full_row(shared_fixtures: Path, parse: Parse) -> None:
    path = shared_fixtures / "email" / "flanker" / "missing-final-boundary.eml"
    out = parse(path)
    (msg,) = out.rows["messages"]
    assert msg == {
        "message_id": message_id_for(sha(path.read_bytes()), "message"),
        "platform": "email",
        "conversation": "Test",
        "sender": "me@example.com",
        "sender_identifier": "me@example.com",
        "recipients": ["bob@example.com", "hithere@example.com"],
        "sent_at_utc": None,
        "sent_at_local": None,
        "tz_source": "none",
        "time_precision": "unknown",
        "kind": "email",
        "body": "Some body",
        "source_sha256": sha(path.read_bytes()),
        "source_locator": "message",
        "duplicate_of": None,
        "subject": "Test",
        "external_id": None,
        "direction": None,
        "flags": ["no_date"],
        "parser": "email_eml",
    }
    assert "CloseBoundaryNotFoundDefect" in out.rows["ingest_errors"][0]["error"]


def test_mailformed_headers_decoded(shared_fixtures: Path, parse: Parse) -> None:
    out = parse(shared_fixtures / "email" / "flanker" / "mailformed-headers.eml")
    (msg,) = out.rows["messages"]
    assert msg["sender"].startswith("Юникод запрещен")
    assert msg["sender_identifier"] == "headers@gmail.com"
    assert msg["sent_at_utc"] == datetime(2012, 7, 13, 12, 6, 49, tzinfo=UTC)
    assert "Hello" in msg["body"]  # the mis-bounded part is kept as text, not dropped
    assert set(msg["flags"]) == {"decode_errors", "mime_unparsed"}


def test_msg15_date_from_received(shared_fixtures: Path, parse: Parse) -> None:
    out = parse(shared_fixtures / "email" / "cpython" / "msg_15.txt")
    (msg,) = out.rows["messages"]
    assert msg["sent_at_utc"] == datetime(2001, 4, 30, 10, 17, 50, tzinfo=UTC)
    assert msg["sent_at_local"] == "Mon, 30 Apr 2001 12:17:50 +0200"
    assert "date_from_received" in msg["flags"]
    assert "Some removed test." in msg["body"]
    assert ("ip", "195.41.46.149") in identifiers_by_role(out)["relay"]


# --- mail built here ---------------------------------------------------------------------------------------


def write_mail(path: Path, msg: EmailMessage) -> Path:
    path.write_bytes(msg.as_bytes())
    return path


def base_mail(subject: str = "Re: Fwd: I saw you") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Unknown Sender <Watcher@Example.NET>"
    msg["To"] = "Victim <victim@example.org>, other@example.org"
    msg["Cc"] = "friend@example.org"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 05 Mar 2024 21:15:00 +0000"
    msg["Message-ID"] = "<m1@example.net>"
    return msg


def test_html_only_mail_gives_text_body(tmp_path: Path, parse: Parse) -> None:
    msg = base_mail()
    msg.set_content(
        "<html><head><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><p>I know where you <b>live</b>.</p><p>See you&nbsp;soon</p></body></html>",
        subtype="html",
    )
    out = parse(write_mail(tmp_path / "html.eml", msg))
    (row,) = out.rows["messages"]
    assert row["body"] == "I know where you\nlive\n.\nSee you soon"
    assert row["conversation"] == "I saw you"
    assert row["subject"] == "Re: Fwd: I saw you"
    assert row["sender"] == "Unknown Sender <Watcher@Example.NET>"
    assert row["sender_identifier"] == "watcher@example.net"
    assert row["recipients"] == ["Victim <victim@example.org>", "other@example.org", "friend@example.org"]
    assert identifiers_by_role(out)["recipient"] == {
        ("email", "victim@example.org"),
        ("email", "other@example.org"),
        ("email", "friend@example.org"),
    }
    assert "alert" not in row["body"] and "color" not in row["body"]


def test_html_body_nested_too_deeply_keeps_its_text_without_tags(tmp_path: Path, parse: Parse) -> None:
    """A body whose closing tags never come (8,000 unclosed divs took 5 s to render, growing with the
    square of the count) is not rendered: its text is kept with the tags removed, flagged and warned."""
    msg = base_mail()
    parts = "".join(f'<div class="m"><q>line {k} &amp; more</q></9div> ' for k in range(MAX_HTML_DEPTH + 10))
    msg.set_content(f"<html><body><p>I know where you live</p>{parts}</body></html>", subtype="html")
    out = parse(write_mail(tmp_path / "deep.eml", msg))
    (row,) = out.rows["messages"]
    assert row["body"].split("\n")[:3] == ["I know where you live", "line 0 & more", "line 1 & more"]
    assert row["body"].count("& more") == MAX_HTML_DEPTH + 10 and "<" not in row["body"]
    assert "html_not_rendered" in row["flags"]
    (warning,) = [e["error"] for e in out.rows["ingest_errors"] if "instead of being rendered" in e["error"]]
    assert f"nested more than {MAX_HTML_DEPTH} elements deep" in warning


def _nested_mime(depth: int) -> bytes:
    """A mail whose multipart parts nest `depth` deep (a crafted message: mail clients nest a few)."""
    head = (
        "From: Mallory <mallory@example.com>\nTo: sam@example.org\nSubject: deep\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\nMIME-Version: 1.0\n"
    )
    opening = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(depth))
    closing = "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    return (head + opening + "Content-Type: text/plain\n\ncall 07700 900123\n" + closing).encode()


def test_mime_nested_too_deeply_keeps_headers_and_raw_body(tmp_path: Path, parse: Parse) -> None:
    """Python's email parser recursed once per level and failed the file (in an mbox, the whole mailbox)."""
    path = tmp_path / "deep.eml"
    path.write_bytes(_nested_mime(3000))
    out = parse(path)
    assert file_row(out, inputs_only=True)["status"] == "parsed"
    (row,) = out.rows["messages"]
    assert (row["sender"], row["subject"], row["flags"]) == (
        "Mallory <mallory@example.com>",
        "deep",
        ["mime_unparsed"],
    )
    assert row["sent_at_utc"] == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert "call 07700 900123" in row["body"] and row["body"].startswith("--b0")
    (warning,) = out.rows["ingest_errors"]
    assert "MIME parts nested too deeply" in warning["error"]

    mailbox = tmp_path / "Inbox"
    separator = b"From sender@example.com Mon Jan  1 10:00:00 2024\n"
    other = b"From: c@example.com\nTo: sam@example.org\nSubject: hi\nDate: Mon, 1 Jan 2024 09:00:00 +0000\n\nhello\n"
    mailbox.write_bytes(
        separator + other + b"\n" + separator + _nested_mime(3000) + b"\n" + separator + other
    )
    out = parse(mailbox)
    assert file_row(out, inputs_only=True)["messages"] == 3
    assert [m["flags"] for m in out.rows["messages"]] == [[], ["mime_unparsed"], []]

    shallow = tmp_path / "shallow.eml"  # a depth the parser manages is read part by part as before
    shallow.write_bytes(_nested_mime(40))
    (row,) = parse(shallow).rows["messages"]
    assert (row["body"], row["flags"]) == ("call 07700 900123", [])


def test_an_unforeseen_failure_in_one_mail_costs_only_that_mail(
    tmp_path: Path, parse: Parse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A mailbox is read message by message: a failure nobody foresaw while reading one (simulated here)
    keeps that message's text with a warning, and every other message is read."""
    import evidence.parsers.mail.message as mail_message

    real = mail_message.message_time

    def failing(date_value, received, state):  # type: ignore[no-untyped-def]
        if date_value and "09:30" in date_value:
            raise RuntimeError("unforeseen")
        return real(date_value, received, state)

    monkeypatch.setattr(mail_message, "message_time", failing)
    separator = b"From sender@example.com Mon Jan  1 10:00:00 2024\n"
    mails = [
        f"From: c@example.com\nTo: sam@example.org\nSubject: s{n}\nDate: Mon, 1 Jan 2024 09:{n}0:00 +0000\n\nhi {n}\n"
        for n in range(1, 5)
    ]
    mailbox = tmp_path / "Inbox"
    mailbox.write_bytes(b"".join(separator + m.encode() + b"\n" for m in mails))
    out = parse(mailbox)
    row = file_row(out, inputs_only=True)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 4, 1)
    assert [m["subject"] for m in out.rows["messages"]] == ["s1", "s2", None, "s4"]
    kept = out.rows["messages"][2]
    assert kept["flags"] == ["no_date", "not_mail"] and "Subject: s3" in kept["body"]
    (warning,) = out.rows["ingest_errors"]
    assert "RuntimeError: unforeseen" in warning["error"] and warning["locator"].startswith("msg/3;")


def test_plain_text_preferred_over_html(tmp_path: Path, parse: Parse) -> None:
    msg = base_mail()
    msg.set_content("plain words\n")
    msg.add_alternative("<p>html words</p>", subtype="html")
    out = parse(write_mail(tmp_path / "alt.eml", msg))
    assert out.rows["messages"][0]["body"] == "plain words"
    assert out.rows["attachments"] == []


def tiny_png() -> bytes:
    """A real 8x8 PNG: attached images are parsed in turn by the image parser."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, format="PNG")
    return buffer.getvalue()


def test_two_attachments_stored_and_derived(tmp_path: Path, parse: Parse) -> None:
    pdf = b"%PDF-1.4\n% not really a pdf\n" + bytes(range(256))
    photo = tiny_png()
    msg = base_mail()
    msg.set_content("photos attached")
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="../../etc/passwd.pdf")
    msg.add_attachment(photo, maintype="image", subtype="png", filename="your house.png")
    path = write_mail(tmp_path / "att.eml", msg)
    out = parse(path)
    parent = file_row(out, inputs_only=True)
    assert parent["status"] == "parsed"
    (message,) = out.rows["messages"]
    attachments = sorted(out.rows["attachments"], key=lambda a: a["locator"])
    assert [(a["locator"], a["file_name"], a["mime"], a["sha256"], a["size_bytes"]) for a in attachments] == [
        ("part/2", "../../etc/passwd.pdf", "application/pdf", sha(pdf), len(pdf)),
        ("part/3", "your house.png", "image/png", sha(photo), len(photo)),
    ]
    assert {a["message_id"] for a in attachments} == {message["message_id"]}
    derived = [r for r in out.rows["run_files"] if r["derived_from_sha256"] == parent["sha256"]]
    assert sorted(r["sha256"] for r in derived) == sorted([sha(pdf), sha(photo)])
    assert {r["source_path"] for r in derived} == {f"{path}#part/2", f"{path}#part/3"}
    assert {r["name"] for r in derived} == {"../../etc/passwd.pdf", "your house.png"}  # metadata only
    assert not [r for r in out.rows["run_files"] if r["status"] == "failed"]
    statuses = {r["sha256"]: (r["status"], r["format"]) for r in derived}
    assert statuses[sha(photo)] == ("parsed", "image")
    assert statuses[sha(pdf)] == ("unsupported", None)
    originals = tmp_path / "originals"
    assert not list(originals.rglob("passwd*")) and not list(tmp_path.parent.rglob("etc/passwd.pdf"))


def test_forwarded_message_is_stored_and_parsed_as_mail(tmp_path: Path, parse: Parse) -> None:
    inner = base_mail("original threat")
    inner.set_content("the forwarded words")
    outer = base_mail("Fwd: original threat")
    outer.set_content("see below")
    outer.add_attachment(inner)
    out = parse(write_mail(tmp_path / "fwd.eml", outer))
    bodies = sorted(m["body"] for m in out.rows["messages"])
    assert bodies == ["see below", "the forwarded words"]
    (att,) = out.rows["attachments"]
    assert att["mime"] == "message/rfc822" and att["locator"] == "part/2"
    assert [r["format"] for r in out.rows["run_files"]] == ["email_eml", "email_eml"]


def test_bad_base64_and_unknown_charset_are_warnings(tmp_path: Path, parse: Parse) -> None:
    raw = (
        b"From: a@example.com\r\nTo: b@example.com\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b'--XX\r\nContent-Type: text/plain; charset="x-no-such-charset"\r\n\r\ncaf\xe9 text\r\n'
        b"--XX\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        b"this is *not* base64!!\r\n--XX--\r\n"
    )
    path = tmp_path / "bad.eml"
    path.write_bytes(raw)
    out = parse(path)
    row = file_row(out, inputs_only=True)
    assert row["status"] == "parsed" and row["messages"] == 1
    (msg,) = out.rows["messages"]
    assert msg["body"] == "café text"
    assert "decode_errors" in msg["flags"] and "no_date" in msg["flags"]
    errors = [e["error"] for e in out.rows["ingest_errors"]]
    assert any("unknown charset" in e for e in errors)
    assert any("Base64" in e for e in errors)
    (att,) = out.rows["attachments"]
    assert att["locator"] == "part/2" and att["sha256"] is not None


def test_ip_identifiers_from_received_and_originating(tmp_path: Path, parse: Parse) -> None:
    raw = (
        b"Received: from mx.example.org (mx.example.org [192.0.2.10]) by mail.example.org\r\n"
        b"\twith ESMTPS id abc; Tue, 05 Mar 2024 21:16:00 +0000\r\n"
        b"Received: from laptop (host.lan [10.1.2.3]) by smtp.example.net (Postfix) with ESMTPSA id 4;\r\n"
        b"\tTue, 05 Mar 2024 21:15:30 +0000\r\n"
        b"Received: from [IPv6:2001:db8::7] by relay.example.net (8.14.4/8.14.4);\r\n"
        b" Tue, 5 Mar 2024 21:15:10 +0000\r\n"
        b"X-Originating-IP: [198.51.100.23]\r\n"
        b"From: watcher@example.net\r\nTo: victim@example.org\r\nSubject: hi\r\n\r\nhello\r\n"
    )
    path = tmp_path / "ips.eml"
    path.write_bytes(raw)
    out = parse(path)
    (msg,) = out.rows["messages"]
    # No Date header: the topmost Received (the victim's own server) dates it, flagged.
    assert msg["sent_at_utc"] == datetime(2024, 3, 5, 21, 16, tzinfo=UTC)
    assert "date_from_received" in msg["flags"]
    roles = identifiers_by_role(out)
    assert roles["sender"] == {("email", "watcher@example.net"), ("ip", "198.51.100.23")}
    assert roles["relay"] == {("ip", "192.0.2.10"), ("ip", "10.1.2.3"), ("ip", "2001:db8::7")}
    flags = {i["value"]: i["flags"] for i in out.rows["identifiers"] if i["kind"] == "ip"}
    assert "private_ip" in flags["10.1.2.3"]


def test_prose_that_starts_like_mail_is_not_email(tmp_path: Path, parse: Parse) -> None:
    path = tmp_path / "letter.txt"
    path.write_text(
        "From: the desk of Inspector Jane Doe\nTo: whom it may concern\n\n"
        "Dear Sir or Madam, this letter is about the incidents last week.\n"
    )
    out = parse(path)
    row = file_row(out, inputs_only=True)
    assert row["format"] not in ("email_eml", "mbox", "outlook_msg")
    assert row["status"] in ("unsupported", "failed", "parsed")
    assert not [m for m in out.rows["messages"] if m["platform"] == "email"]


def parse_as(tmp_path: Path, path: Path, parser: str) -> ParsedRows:
    """Extract a file with a given parser, as if detection had chosen it."""
    store = OriginalsStore(tmp_path / "store")
    blob = store.put_file(path)
    item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), path.name, mime="text/plain")
    item.format = parser
    return extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)


def test_headerless_bytes_fail_with_reason(tmp_path: Path) -> None:
    """Forced onto the mail parser (as a mis-detection would), bytes that are not mail fail, not crash."""
    path = tmp_path / "note.txt"
    path.write_bytes(b"just a shopping list\nmilk\n")
    (row,) = parse_as(tmp_path, path, "email_eml").rows["run_files"]
    assert row["status"] == "failed"
    assert "not an email message" in row["status_reason"]


# --- mbox --------------------------------------------------------------------------------------------------

MBOX_MESSAGES = [
    (
        b"From watcher@example.net Tue Mar  5 21:15:00 2024\n",
        b"From: watcher@example.net\nTo: victim@example.org\nSubject: one\n"
        b"Date: Tue, 05 Mar 2024 21:15:00 +0000\n\nfirst\n>From the window I saw you.\n>>From quoted twice\n",
    ),
    (
        b"From - Wed Mar  6 08:00:00 2024\n",
        b"From: watcher@example.net\nTo: victim@example.org\nSubject: Re: one\n"
        b"Date: Wed, 06 Mar 2024 08:00:00 +0000\n\nFrom what I heard you moved.\n",
    ),
    (
        b"From MAILER-DAEMON Thu Mar  7 10:30:00 2024\n",
        b"From: other@example.com\nTo: victim@example.org\nSubject: three\n"
        b"Date: Thu, 07 Mar 2024 10:30:00 +0000\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\nthird\n'
        b"--b\nContent-Type: image/png\nContent-Disposition: attachment; filename=x.png\n"
        b"Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--b--\n",
    ),
]


def build_mbox() -> tuple[bytes, list[int]]:
    data = b""
    offsets = []
    for separator, body in MBOX_MESSAGES:
        offsets.append(len(data))
        data += separator + body + b"\n"
    return data, offsets


def test_mbox_three_messages_with_locators(tmp_path: Path, parse: Parse) -> None:
    data, offsets = build_mbox()
    path = tmp_path / "Inbox"
    path.write_bytes(data)
    out = parse(path)
    row = file_row(out, inputs_only=True)
    assert row["format"] == "mbox" and row["status"] == "parsed"
    assert row["messages"] == 3 and row["warnings"] == 0
    messages = out.rows["messages"]
    assert [m["source_locator"] for m in messages] == [
        f"msg/{i + 1};offset={o}" for i, o in enumerate(offsets)
    ]
    assert [m["subject"] for m in messages] == ["one", "Re: one", "three"]
    assert messages[0]["body"] == "first\nFrom the window I saw you.\n>From quoted twice"
    assert messages[1]["body"] == "From what I heard you moved."  # unquoted "From " did not split
    assert messages[0]["conversation"] == messages[1]["conversation"] == "one"
    assert [m["sent_at_utc"].day for m in messages] == [5, 6, 7]
    (att,) = out.rows["attachments"]
    assert att["locator"] == "msg/3/part/2" and att["file_name"] == "x.png"
    assert att["sha256"] == sha(b"\x89PNG\r\n\x1a\n")
    derived = [r for r in out.rows["run_files"] if r["derived_from_sha256"]]
    assert [r["source_path"] for r in derived] == [f"{path}#msg/3/part/2"]
    for offset, (separator, _) in zip(offsets, MBOX_MESSAGES, strict=True):
        assert data[offset:].startswith(separator)


@pytest.mark.parametrize(
    ("damaged", "separator"),
    [
        ("a letter of From", b"Frxm - Wed Mar  6 08:00:00 2024\n"),
        ("a digit of the year", b"From - Wed Mar  6 08:00:00 2X24\n"),
        ("a letter of From lost", b"Fom - Wed Mar  6 08:00:00 2024\n"),
        ("a line break inserted", b"From - Wed Mar  6 08:00:00 20\n24\n"),
        ("a line break inserted early", b"From - Wed Mar\n  6 08:00:00 2024\n"),
        ("a line break inside From", b"Fro\nm - Wed Mar  6 08:00:00 2024\n"),
        ("the blank line before it replaced", b"kFrom - Wed Mar  6 08:00:00 2024\n"),
    ],
)
def test_mbox_separator_with_a_damaged_character_still_begins_a_message(
    tmp_path: Path, parse: Parse, damaged: str, separator: bytes
) -> None:
    """The second separator damaged: the second mail (headers and body) was read as the end of the first,
    under its sender and subject. A near-separator after a blank line and before a header field begins a
    message, flagged and named; the same words inside a body do not."""
    data, offsets = build_mbox()
    before = offsets[1] - 1 if separator.startswith(b"k") else offsets[1]  # "k" in place of the blank line
    data = data[:before] + separator + data[offsets[1] + len(MBOX_MESSAGES[1][0]) :]
    path = tmp_path / "Inbox"
    path.write_bytes(data)
    out = parse(path)
    messages = out.rows["messages"]
    assert [m["subject"] for m in messages] == ["one", "Re: one", "three"], damaged
    assert [m["source_locator"] for m in messages][1] == f"msg/2;offset={before}"
    assert [m["flags"] for m in messages] == [[], ["separator_damaged"], []]
    assert messages[1]["body"] == "From what I heard you moved."
    (warning,) = [e["error"] for e in out.rows["ingest_errors"] if e["source_path"] == str(path)]
    assert "is damaged" in warning and separator.decode().replace("\n", "")[:7] in warning


def test_a_line_break_inside_the_from_header_is_flagged(tmp_path: Path, parse: Parse) -> None:
    """A line break inserted into the From header ends the header block there: the sender is cut ("Ale")
    and the fields after it (To, Subject, Date) are read as body text. Flagged headers_damaged."""
    path = tmp_path / "cut.eml"
    path.write_bytes(
        b"From: Ale\nx Marsh <alex.m@example.com>\nTo: sam@example.org\nSubject: hi\n"
        b"Date: Mon, 4 Mar 2024 21:00:00 +0000\nMessage-ID: <1@example.com>\n\nwatching you\n"
    )
    (message,) = parse(path).rows["messages"]
    assert message["sender"] == "Ale" and "headers_damaged" in message["flags"]
    whole = tmp_path / "whole.eml"
    whole.write_bytes(path.read_bytes().replace(b"Ale\nx", b"Alex"))
    assert "headers_damaged" not in parse(whole).rows["messages"][0]["flags"]


def test_mbox_separator_lost_in_zeroed_bytes_still_ends_the_message_before_it(
    tmp_path: Path, parse: Parse
) -> None:
    """A zeroed run (a damaged sector) from the end of the first mail into the second separator: what is
    left of the separator sits after the zeros, and the second mail's header fields follow."""
    data, offsets = build_mbox()
    cut = offsets[1] - 8  # in "first ... twice\n\n" before the separator
    end = offsets[1] + len(b"From - ")  # the separator's sender is gone, its date is left
    data = data[:cut] + bytes(end - cut) + data[end:]
    path = tmp_path / "Inbox"
    path.write_bytes(data)
    out = parse(path)
    messages = out.rows["messages"]
    assert [m["subject"] for m in messages] == ["one", "Re: one", "three"]
    assert [m["sender"] for m in messages][1] == "watcher@example.net"
    assert messages[1]["flags"] == ["separator_damaged"] and "\x00" in messages[0]["body"]


def test_mbox_near_separator_inside_a_body_is_text(tmp_path: Path, parse: Parse) -> None:
    body_line = b"Frxm - Wed Mar  6 08:00:00 2024 was the day\n"
    data, _ = build_mbox()
    data = data.replace(b"first\n", b"first\n\n" + body_line + b"and then nothing\n", 1)
    path = tmp_path / "Inbox"
    path.write_bytes(data)
    messages = parse(path).rows["messages"]
    assert len(messages) == 3 and body_line.decode().strip() in messages[0]["body"]


def test_mbox_lines_held_as_a_possible_separator_stay_text_as_written(tmp_path: Path, parse: Parse) -> None:
    """A body paragraph that begins like a separator is held for a line or two: when no header field
    follows, both lines are text, a quoted ">From " unquoted like every other."""
    data, _ = build_mbox()
    data = data.replace(b"first\n", b"first\n\nFrom time to time\n>From the window\nI see you\n", 1)
    path = tmp_path / "Inbox"
    path.write_bytes(data)
    messages = parse(path).rows["messages"]
    assert len(messages) == 3
    assert "From time to time\nFrom the window\nI see you" in messages[0]["body"]
    assert messages[0]["flags"] == []


def test_mbox_message_bytes_match_eml(tmp_path: Path, parse: Parse) -> None:
    """The same message in a mailbox and as an .eml yields the same fields (one code path)."""
    data, _ = build_mbox()
    (tmp_path / "box.mbox").write_bytes(data)
    (tmp_path / "one.eml").write_bytes(MBOX_MESSAGES[2][1])
    from_box = parse(tmp_path / "box.mbox").rows["messages"][2]
    from_eml = parse(tmp_path / "one.eml").rows["messages"][0]
    for key in ("sender", "recipients", "sent_at_utc", "body", "subject", "conversation", "flags"):
        assert from_box[key] == from_eml[key], key


def test_mbox_reader_streams_and_keeps_odd_chunks(tmp_path: Path, parse: Parse) -> None:
    data = (
        b"stray text before the first separator\n"
        b"From a@example.com Mon Jan  1 00:00:00 2024\nFrom: a@example.com\nSubject: ok\n\nbody\n\n"
        b"From b@example.com Mon Jan  1 00:01:00 2024\nthis chunk has no headers at all\n"
    )
    reader = MboxReader(io.BytesIO(data))
    items = list(reader)
    assert [(i.index, i.offset) for i in items] == [(1, 38), (2, data.index(b"From b@"))]
    assert reader.leading_bytes == 38
    path = tmp_path / "odd.mbox"
    path.write_bytes(data)
    assert parse(path).rows["run_files"][0]["status"] == "unsupported"  # sniff wants a separator first
    out = parse_as(tmp_path, path, "mbox")
    row = file_row(out, inputs_only=True)
    assert row["status"] == "parsed" and row["messages"] == 2
    kept = out.rows["messages"][1]
    assert kept["flags"] == ["no_date", "not_mail"] and "no headers" in kept["body"]
    errors = [e["error"] for e in out.rows["ingest_errors"]]
    assert any("could not be read as mail" in e for e in errors)
    assert any("before the first" in e for e in errors)


def test_separator_lines() -> None:
    assert is_separator(b"From sender@example.com Sat Jan  3 01:05:34 1996\n")
    assert is_separator(b"From - Mon Sep 13 10:47:36 2021\r\n")
    assert is_separator(b"From 1789@xxx Thu Jan 01 00:00:00 +0000 2020\n")
    assert not is_separator(b"From what I heard you moved.\n")
    assert not is_separator(b"From: someone@example.com\n")


# --- Outlook .msg ------------------------------------------------------------------------------------------


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _props(entries: list[tuple[int, bytes]], header: bytes) -> bytes:
    return header + b"".join(struct.pack("<II", tag, 6) + value for tag, value in entries)


def _filetime(moment: datetime) -> bytes:
    return struct.pack("<Q", int((moment - datetime(1601, 1, 1, tzinfo=UTC)).total_seconds() * 10**7))


def build_msg(path: Path, *, headers: str | None, attachment: bytes) -> Path:
    """A real Outlook .msg (CFB + MAPI property streams) written with extract_msg's own OLE writer."""
    from extract_msg.ole_writer import OleWriter

    sent = datetime(2024, 3, 5, 21, 15, tzinfo=UTC)
    writer = OleWriter()
    top_header = b"\0" * 8 + struct.pack("<IIII", 1, 1, 1, 1) + b"\0" * 8
    writer.addEntry(
        "__properties_version1.0",
        _props([(0x00390040, _filetime(sent)), (0x0E070003, struct.pack("<II", 1, 0))], top_header),
    )
    strings = {
        "001A": "IPM.Note",
        "0037": "RE: you can't hide",
        "1000": "I know where you were today.\r\n",
        "0C1A": "Stalker Name",
        "5D01": "stalker@example.net",
        "0C1F": "stalker@example.net",
        "0C1E": "SMTP",
        "1035": "<abc@example.net>",
    }
    if headers is not None:
        strings["007D"] = headers
    for prop, text in strings.items():
        writer.addEntry(f"__substg1.0_{prop}001F", _utf16(text))
    writer.addEntry("__nameid_version1.0", storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    recip = "__recip_version1.0_#00000000"
    writer.addEntry(recip, storage=True)
    writer.addEntry(
        f"{recip}/__properties_version1.0", _props([(0x0C150003, struct.pack("<II", 1, 0))], b"\0" * 8)
    )
    for prop, text in {"3001": "Victim", "3003": "victim@example.org", "39FE": "victim@example.org"}.items():
        writer.addEntry(f"{recip}/__substg1.0_{prop}001F", _utf16(text))
    att = "__attach_version1.0_#00000000"
    writer.addEntry(att, storage=True)
    writer.addEntry(
        f"{att}/__properties_version1.0", _props([(0x37050003, struct.pack("<II", 1, 0))], b"\0" * 8)
    )
    writer.addEntry(f"{att}/__substg1.0_37010102", attachment)
    for prop, text in {"3707": "photo of your house.jpg", "3704": "photo.jpg", "370E": "image/jpeg"}.items():
        writer.addEntry(f"{att}/__substg1.0_{prop}001F", _utf16(text))
    writer.write(str(path))
    return path


def test_outlook_msg_without_transport_headers(tmp_path: Path, parse: Parse) -> None:
    photo = b"\xff\xd8\xff\xe0 not really a jpeg \x00\x01"
    path = build_msg(tmp_path / "threat.msg", headers=None, attachment=photo)
    out = parse(path)
    row = file_row(out, inputs_only=True)
    assert row["format"] == "outlook_msg" and row["status"] == "parsed" and row["warnings"] == 0
    (msg,) = out.rows["messages"]
    assert msg == {
        "message_id": message_id_for(sha(path.read_bytes()), "message"),
        "platform": "email",
        "conversation": "you can't hide",
        "sender": "Stalker Name <stalker@example.net>",
        "sender_identifier": "stalker@example.net",
        "recipients": ["Victim <victim@example.org>"],
        "sent_at_utc": datetime(2024, 3, 5, 21, 15, tzinfo=UTC),
        "sent_at_local": "2024-03-05T21:15:00+00:00",
        "tz_source": "epoch",
        "time_precision": "second",
        "kind": "email",
        "body": "I know where you were today.",
        "source_sha256": sha(path.read_bytes()),
        "source_locator": "message",
        "duplicate_of": None,
        "subject": "RE: you can't hide",
        "external_id": "<abc@example.net>",
        "direction": None,
        "flags": [],
        "parser": "outlook_msg",
    }
    (att,) = out.rows["attachments"]
    assert att["file_name"] == "photo of your house.jpg" and att["mime"] == "image/jpeg"
    assert att["sha256"] == sha(photo) and att["locator"] == "__attach_version1.0_#00000000"
    assert [r["sha256"] for r in out.rows["run_files"] if r["derived_from_sha256"]] == [sha(photo)]


def test_outlook_msg_transport_headers_give_date_and_ips(tmp_path: Path, parse: Parse) -> None:
    headers = (
        "Received: from mail.example.net (mail.example.net [203.0.113.9]) by mx.example.org;\r\n"
        " Tue, 5 Mar 2024 21:15:02 +0000\r\n"
        "X-Originating-IP: [192.168.1.20]\r\n"
        "From: Stalker Name <stalker@example.net>\r\n"
        "To: Victim <victim@example.org>\r\n"
        "Date: Tue, 5 Mar 2024 22:15:00 +0100\r\n"
        "Message-ID: <abc@example.net>\r\n\r\n"
    )
    path = build_msg(tmp_path / "threat.msg", headers=headers, attachment=b"x")
    out = parse(path)
    (msg,) = out.rows["messages"]
    assert msg["sent_at_local"] == "Tue, 5 Mar 2024 22:15:00 +0100" and msg["tz_source"] == "offset"
    assert msg["sent_at_utc"] == datetime(2024, 3, 5, 21, 15, tzinfo=UTC)
    roles = identifiers_by_role(out)
    assert ("ip", "192.168.1.20") in roles["sender"] and ("ip", "203.0.113.9") in roles["relay"]
    private = [i for i in out.rows["identifiers"] if i["value"] == "192.168.1.20"]
    assert "private_ip" in private[0]["flags"]


def test_corrupt_ole_msg_fails_without_crashing(tmp_path: Path, parse: Parse) -> None:
    path = tmp_path / "broken.msg"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00garbage" * 200)
    out = parse(path)
    row = file_row(out, inputs_only=True)
    assert row["format"] == "outlook_msg"
    assert row["status"] == "failed" and "outlook_msg could not read the file" in row["status_reason"]
    assert out.rows["messages"] == []


# --- detection ---------------------------------------------------------------------------------------------


def test_each_sniff_refuses_the_others_samples(tmp_path: Path) -> None:
    eml = base_mail()
    eml.set_content("hello")
    samples = {
        "email_eml": write_mail(tmp_path / "a.eml", eml),
        "mbox": tmp_path / "b.mbox",
        "outlook_msg": build_msg(tmp_path / "c.msg", headers=None, attachment=b"x"),
    }
    samples["mbox"].write_bytes(build_mbox()[0])
    for owner, path in samples.items():
        sample = sample_file(path, path.name)
        for name in samples:
            assert REGISTRY.get(name).sniff(sample) is (name == owner), (name, path.name)
        assert REGISTRY.detect(sample).name == owner


def test_detection_order() -> None:
    names = REGISTRY.names()
    assert names.index("outlook_msg") < names.index("mbox") < names.index("email_eml")


def test_sniff_on_shared_fixtures(shared_fixtures: Path) -> None:
    for name in FIXTURES:
        path = shared_fixtures / "email" / name
        assert REGISTRY.detect(sample_file(path, path.name)).name == "email_eml", name
    others = [
        p for p in shared_fixtures.rglob("*") if p.is_file() and "email" not in p.parts and p.suffix != ".md"
    ]
    for path in others:
        sample = sample_file(path, path.name)
        for name in ("email_eml", "mbox", "outlook_msg"):
            assert not REGISTRY.get(name).sniff(sample), (name, path)


def test_hostile_headers_found_by_fuzzing_do_not_fail_the_file(tmp_path: Path, parse: Parse) -> None:
    """Cases a mutation fuzzer found: each once raised out of the parser and failed the whole file."""
    raw = (
        b"From: =?x-unknown?q?=FF=FE?= <w\x04tcher@example.net>\r\n"
        b"To: caf\xe9@example.org, =?x-bad?b?//79?=@example.org\r\n"
        b'Subject: hi\r\nContent-Type: text/plain; charset="utf\x00-8"\r\n\r\nbody \xff\r\n'
    )
    path = tmp_path / "hostile.eml"
    path.write_bytes(raw)
    out = parse(path)
    row = file_row(out, inputs_only=True)
    assert row["status"] == "parsed" and row["messages"] == 1
    (msg,) = out.rows["messages"]
    assert msg["body"].startswith("body") and "decode_errors" in msg["flags"]
    for value in [msg["sender"], *msg["recipients"], msg["body"]]:
        value.encode("utf-8")  # no lone surrogates left for Parquet staging
