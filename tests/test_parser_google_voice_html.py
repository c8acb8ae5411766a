"""Google Voice Takeout HTML: the real group thread plus call records and look-alikes written here."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from rows import file_row

from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions
from evidence.parsers.export_text import MAX_HTML_DEPTH
from evidence.pipeline.extract import extract_items

FIXTURE = "sms/gvoice-sms-takeout-xml/Group Conversation - 2023-10-01T15_30_41Z.html"
NAME = "Group Conversation - 2023-10-01T15_30_41Z.html"
PARTICIPANTS = "Edson Arantes do Nascimento, Søren Aabye Kierkegaard, Alan A Milne"

HEAD = (
    '<?xml version="1.0" ?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><title>{title}</title>'
    "<style>/* Copyright 2011 Google Inc.  All Rights Reserved. */</style></head><body>"
)


def test_real_group_thread(parse, shared_fixtures: Path) -> None:
    path = shared_fixtures / FIXTURE
    out = parse(path)
    row = file_row(out, NAME)
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "google_voice_html",
        8,
        0,
    )
    messages = out.rows["messages"]
    assert Counter((m["kind"], m["direction"]) for m in messages) == {
        ("sms", "incoming"): 7,
        ("mms", "outgoing"): 1,
    }
    assert Counter(m["sender"] for m in messages) == {
        "Alan A Milne": 4,
        "Edson Arantes do Nascimento": 2,
        "me": 1,
        "Søren Aabye Kierkegaard": 1,
    }
    assert messages[0]["sent_at_utc"] == datetime(2023, 10, 1, 15, 30, 41, 563000, tzinfo=UTC)
    assert messages[-1]["sent_at_utc"] == datetime(2023, 10, 1, 22, 58, 13, 244000, tzinfo=UTC)
    assert {m["tz_source"] for m in messages} == {"offset"}
    assert "ingest_errors" not in out.rows
    assert messages[3]["body"] == "If you're lucky I'll be home in time to take you to dinner!"
    mine = messages[1]
    assert mine == {
        "message_id": mine["message_id"],
        "platform": "google_voice",
        "conversation": PARTICIPANTS,
        "sender": "me",
        "sender_identifier": "+17323210011",
        "recipients": ["Edson Arantes do Nascimento", "Søren Aabye Kierkegaard", "Alan A Milne"],
        "sent_at_utc": datetime(2023, 10, 1, 18, 44, 12, 570000, tzinfo=UTC),
        "sent_at_local": "2023-10-01T11:44:12.570-07:00",
        "tz_source": "offset",
        "time_precision": "second",
        "kind": "mms",
        "body": "Happy birthday Edson. For your birthday, I went on a riverboat cruise for you. "
        "Hope you enjoyed it.",
        "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "source_locator": "message/2",
        "duplicate_of": None,
        "subject": None,
        "external_id": None,
        "direction": "outgoing",
        "flags": [],
        "parser": "google_voice_html",
    }
    (attachment,) = out.rows["attachments"]
    assert (attachment["file_name"], attachment["sha256"], attachment["locator"]) == (
        "Group Conversation - 2023-10-01T15_30_41Z-2-1",
        None,
        "message/2/media/1",
    )
    phones = {i["value"] for i in out.rows["identifiers"]}
    assert phones == {"+17323212222", "+17323214444", "+17323211414", "+17323210011"}


def test_media_beside_the_html_is_matched_by_prefix(shared_fixtures: Path, tmp_path: Path) -> None:
    store = OriginalsStore(tmp_path / "originals")
    html = store.put_file(shared_fixtures / FIXTURE)
    image = tmp_path / "Group Conversation - 2023-10-01T15_30_41Z-2-1.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 jpeg-ish")
    jpg = store.put_file(image)
    siblings = {NAME: html.sha256, image.name: jpg.sha256}
    item = FoundFile(html.sha256, html.md5, html.size_bytes, NAME, NAME, siblings=siblings)
    out = extract_items(
        [item], store=store, run_id="t", options=ParseOptions(owners=("+1 732 321 0011",)), per_message=False
    )
    (attachment,) = out.rows["attachments"]
    assert (attachment["file_name"], attachment["mime"], attachment["sha256"]) == (
        image.name,
        "image/jpeg",
        jpg.sha256,
    )
    assert out.rows["messages"][1]["sender"] == "+17323210011"
    assert out.rows["messages"][0]["recipients"][-1] == "+17323210011"


def test_call_records(parse, tmp_path: Path) -> None:
    voicemail = tmp_path / "Edson - Voicemail - 2016-05-01T00_16_43Z.html"
    voicemail.write_text(
        HEAD.format(title="Voicemail from Edson")
        + '<div class="haudio"><span class="album">Call Log for\n</span>\n'
        '<span class="fn">Voicemail from\nEdson</span>\n'
        '<div class="contributor vcard">Voicemail from\n<a class="tel" href="tel:+15703214444">'
        '<span class="fn">Edson</span></a></div>\n'
        '<abbr class="published" title="2016-04-30T17:16:43.000-07:00">Apr 30, 2016</abbr>\nTranscript:\n'
        '<span class="description"><span class="full-text">I&#39;m sitting out in front.</span></span>\n'
        '<audio controls="controls" src="Edson - Voicemail - 2016-05-01T00_16_43Z.mp3">'
        '<a rel="enclosure" href="Edson - Voicemail - 2016-05-01T00_16_43Z.mp3">Audio</a></audio>\n'
        '<abbr class="duration" title="PT28S">(00:00:28)</abbr>\n'
        '<div class="tags">Labels:\n<a rel="tag" href="http://www.google.com/voice#voicemail">Voicemail</a>, '
        '<a rel="tag" href="http://www.google.com/voice#inbox">Inbox</a></div></div></body></html>',
        encoding="utf-8",
    )
    out = parse(voicemail)
    row = file_row(out, voicemail.name)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 1, 0)
    (call,) = out.rows["messages"]
    assert (call["kind"], call["direction"], call["sender"], call["sender_identifier"]) == (
        "call",
        "incoming",
        "Edson",
        "+15703214444",
    )
    assert call["body"] == "Voicemail from Edson; duration PT28S\nTranscript: I'm sitting out in front."
    assert call["sent_at_utc"] == datetime(2016, 5, 1, 0, 16, 43, tzinfo=UTC)
    assert call["source_locator"] == "call/1"
    assert [a["file_name"] for a in out.rows["attachments"]] == [
        "Edson - Voicemail - 2016-05-01T00_16_43Z.mp3"
    ]

    placed = tmp_path / "placed.html"
    placed.write_text(
        HEAD.format(title="Placed call to") + '<div class="haudio"><span class="fn">Placed call to\n</span>\n'
        '<div class="contributor vcard">Placed call to\n<a class="tel" href="tel:+17323216666">'
        '<span class="fn"></span></a></div>\n'
        '<abbr class="published" title="2011-09-03T13:12:00.000-07:00">Sep 3, 2011</abbr>\n'
        '<abbr class="duration" title="PT0S">(00:00:00)</abbr>\n'
        '<div class="tags">Labels:\n<a rel="tag" href="http://www.google.com/voice#placed">Placed</a></div>'
        "</div></body></html>",
        encoding="utf-8",
    )
    (call,) = parse(placed).rows["messages"]
    assert (call["direction"], call["sender"], call["recipients"], call["body"]) == (
        "outgoing",
        "me",
        ["+17323216666"],
        "Placed call to; duration PT0S",
    )


def test_look_alikes_are_unsupported(parse, tmp_path: Path) -> None:
    plain = tmp_path / "page.html"
    plain.write_text("<html><body><div class='message'>hi</div></body></html>", encoding="utf-8")
    assert file_row(parse(plain), "page.html")["status"] == "unsupported"
    microformat = tmp_path / "chatlog.html"
    microformat.write_text(
        '<html><body><div class="hChatLog"><div class="message">x</div></div></body></html>'
    )
    assert file_row(parse(microformat), "chatlog.html")["status"] == "unsupported"
    empty = tmp_path / "empty.html"
    empty.write_text(
        HEAD.format(title="x") + '<p>see google.com/voice <div class="hChatLogX"></div></p></body></html>'
    )
    assert file_row(parse(empty), "empty.html")["status"] == "unsupported"


def _thread_page(path: Path, count: int, damaged: set[int]) -> Path:
    """A text thread of `count` messages, each with its own photo; messages in `damaged` get a mangled
    closing tag (`</9div>`), which the HTML parser ignores: every later message then sits inside them."""
    messages = "".join(
        f'<div class="message"><abbr class="dt" title="2023-10-01T11:{k // 60:02d}:{k % 60:02d}.000-07:00">'
        f"Oct 1, 2023</abbr>:\n"
        f'<cite class="sender vcard"><a class="tel" href="tel:+1732321{k % 2:04d}"><span class="fn">'
        f"Person {k % 2}</span></a></cite>:\n<q>message {k}</q>\n"
        f'<div><img src="photo-{k}" alt="Image MMS Attachment" /></div>{"</9div>" if k in damaged else "</div>"} '
        for k in range(count)
    )
    path.write_text(
        HEAD.format(title="Person 1") + f'<div class="hChatLog hfeed">{messages}</div></body></html>',
        encoding="utf-8",
    )
    return path


def test_messages_nested_by_a_damaged_closing_tag_are_read_each_on_its_own(parse, tmp_path: Path) -> None:
    """One damaged `</div>` puts every later message inside that one: each must still carry only its own
    text, time and media, and the damage is reported."""
    count = 300
    page = _thread_page(tmp_path / "Person 1 - Text - 2023-10-01T18_00_00Z.html", count, damaged={4, 150})
    out = parse(page)
    row = file_row(out, page.name)
    assert (row["status"], row["messages"]) == ("parsed", count)
    rows = out.rows["messages"]
    assert [m["body"] for m in rows] == [f"message {k}" for k in range(count)]
    assert rows[61]["sent_at_utc"] == datetime(2023, 10, 1, 18, 1, 1, tzinfo=UTC)
    media = Counter((a["message_id"], a["file_name"]) for a in out.rows["attachments"])
    assert sorted(media) == sorted((m["message_id"], f"photo-{k}") for k, m in enumerate(rows))
    (warning,) = [w["error"] for w in out.rows["ingest_errors"] if "inside another" in w["error"]]
    assert warning.startswith(f"{count - 5} message(s) sat inside another message")


def test_html_nested_deeper_than_any_export_is_refused_with_its_reason(parse, tmp_path: Path) -> None:
    """Every closing tag damaged (a broken or hostile copy) nests each message in the one before, which
    BeautifulSoup reads in time growing with the square of the depth: refused at MAX_HTML_DEPTH instead."""
    count = MAX_HTML_DEPTH + 50
    page = _thread_page(tmp_path / "Person 1 - Text - 2023-10-01T18_00_00Z.html", count, set(range(count)))
    row = file_row(parse(page), page.name)
    assert row["status"] == "failed"
    assert f"HTML nested more than {MAX_HTML_DEPTH} elements deep" in row["status_reason"]
    shallow = _thread_page(tmp_path / "Person 2 - Text - 2023-10-01T18_00_00Z.html", 100, set(range(100)))
    row = file_row(parse(shallow), shallow.name)
    assert (row["status"], row["messages"]) == ("parsed", 100)


def test_page_cut_short_flags_its_last_message(parse, tmp_path: Path) -> None:
    """A thread page that stops before </html>: its last message may have lost the end of its text."""
    whole = _thread_page(tmp_path / "Person 1 - Text - 2023-10-01T18_00_00Z.html", 20, set())
    page = whole.read_text(encoding="utf-8")
    cut = tmp_path / "Person 1 - Text - 2023-10-01T19_00_00Z.html"
    cut.write_text(page[: page.index("message 19") + len("messa")], encoding="utf-8")
    out = parse(cut)
    rows = out.rows["messages"]
    assert (file_row(out, cut.name)["status"], len(rows)) == ("parsed", 20)
    assert rows[-1]["body"] == "messa" and "may_be_incomplete" in rows[-1]["flags"]
    assert not [m for m in rows[:-1] if "may_be_incomplete" in m["flags"]]
    assert [e for e in out.rows["ingest_errors"] if "cut short" in e["error"]]
    assert not [m for m in parse(whole).rows["messages"] if "may_be_incomplete" in m["flags"]]


def test_a_message_whose_markup_is_damaged_is_still_read_and_flagged(
    parse, shared_fixtures: Path, tmp_path: Path
) -> None:
    """A byte lost from a message's class attribute, or from its tag name, used to drop the message without
    a word: the element is still known by the time it holds, read, and flagged."""
    data = (shared_fixtures / FIXTURE).read_text(encoding="utf-8")
    expected = [
        (m["sender"], m["sent_at_utc"], m["body"]) for m in parse(shared_fixtures / FIXTURE).rows["messages"]
    ]
    fourth = [i for i in range(len(data)) if data.startswith('<div class="message">', i)][3]
    for damage in ('<div class="mexsage">', '<diX class="message">'):
        folder = tmp_path / damage[1:4]
        folder.mkdir()
        path = folder / NAME
        path.write_text(
            data[:fourth] + damage + data[fourth + len('<div class="message">') :], encoding="utf-8"
        )
        out = parse(path)
        messages = out.rows["messages"]
        assert [(m["sender"], m["sent_at_utc"], m["body"]) for m in messages] == expected, damage
        assert [m["flags"] for m in messages].count(["message_markup_damaged"]) == 1
        assert messages[3]["flags"] == ["message_markup_damaged"] and "If you're lucky" in messages[3]["body"]
        assert any("damaged class attribute" in e["error"] for e in out.rows["ingest_errors"])
