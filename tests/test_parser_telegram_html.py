"""Telegram Desktop HTML: the real messages.html plus a written export with service rows, media and edits."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rows import file_row

from evidence.parsers.context import message_id_for

FIXTURE = "telegram/langchain-community/messages.html"


def test_fixture(parse, shared_fixtures):
    path = shared_fixtures / FIXTURE
    ex = parse(path)
    row = file_row(ex)
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "telegram_html",
        4,
        0,
    )
    messages = ex.rows["messages"]
    # The "23 August 2023" service row is a day separator, not an event; the joined message#4 keeps
    # the previous sender; "&amp;" is decoded.
    assert [m["sender"] for m in messages] == [
        "Jimmeny Marvelton",
        "Batman & Robin",
        "Jimmeny Marvelton",
        "Jimmeny Marvelton",
    ]
    # The title's UTC-08:00 is what the HTML says (the JSON export of the same chat implies UTC-07:00).
    assert messages[0]["sent_at_utc"] == datetime(2023, 8, 23, 21, 11, 23, tzinfo=UTC)
    assert messages[-1]["sent_at_utc"] == datetime(2023, 8, 23, 21, 15, 53, tzinfo=UTC)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert messages[-1] == {
        "message_id": message_id_for(sha, "#message4"),
        "platform": "telegram",
        "conversation": "Jimmeny Marvelton",
        "sender": "Jimmeny Marvelton",
        "sender_identifier": None,
        "recipients": [],
        "sent_at_utc": datetime(2023, 8, 23, 21, 15, 53, tzinfo=UTC),
        "sent_at_local": "23.08.2023 13:15:53 UTC-08:00",
        "tz_source": "offset",
        "time_precision": "second",
        "kind": "message",
        "body": "you will not trick me this time",
        "source_sha256": sha,
        "source_locator": "#message4",
        "duplicate_of": None,
        "subject": None,
        "external_id": "4",
        "direction": None,
        "flags": [],
        "parser": "telegram_html",
    }


PAGE = """<!DOCTYPE html>
<html>
 <head><meta charset="utf-8"/><title>Exported Data</title></head>
 <body>
  <div class="page_wrap">
   <div class="page_header"><div class="content"><div class="text bold">Tom &amp; Jerry</div></div></div>
   <div class="page_body chat_page">
    <div class="history">
{rows}
    </div>
   </div>
  </div>
 </body>
</html>
"""

ROWS = """
     <div class="message default clearfix joined" id="message5">
      <div class="body">
       <div class="pull_right date details" title="30.03.2024 23:59:00 UTC+00:00">23:59</div>
       <div class="text">continued from the previous page</div>
      </div>
     </div>
     <div class="message service" id="message-1"><div class="body details">31 March 2024</div></div>
     <div class="message service" id="message6">
      <div class="body details">Tom created group «Tom &amp; Jerry»</div>
     </div>
     <div class="message default clearfix" id="message7">
      <div class="body">
       <div class="pull_right date details" title="31.03.2024 10:00:05 UTC+01:00">10:00</div>
       <div class="from_name">Tom</div>
       <div class="text">first line<br>second   line</div>
      </div>
     </div>
     <div class="message default clearfix joined" id="message8">
      <div class="body">
       <div class="pull_right date details" title="31.03.2024 10:01:00 UTC+01:00">10:01</div>
       <div class="media_wrap clearfix">
        <a class="photo_wrap clearfix pull_left" href="photos/photo_1@31-03-2024_10-01-00.jpg">
         <img class="photo" src="photos/photo_1@31-03-2024_10-01-00_thumb.jpg"/>
        </a>
       </div>
      </div>
     </div>
     <div class="message default clearfix" id="message9">
      <div class="body">
       <div class="pull_right date details" title="31.03.2024 10:05:00">10:05</div>
       <div class="from_name">Jerry</div>
       <div class="reply_to details">
        In reply to <a href="#go_to_message7" onclick="return GoToMessage(7)">this message</a>
       </div>
       <div class="forwarded body">
        <div class="from_name">Spike<span class="date details"
         title="01.01.2024 09:00:00"> 01.01.2024 09:00:00</span></div>
        <div class="text">forwarded text</div>
       </div>
      </div>
     </div>
     <div class="message default clearfix" id="message10">
      <div class="body">
       <div class="pull_right date details"
        title="31.03.2024 10:06:00 UTC+01:00&#10;Edited: 31.03.2024 10:09:30 UTC+01:00">10:06</div>
       <div class="from_name">Tom</div>
       <div class="text">edited</div>
      </div>
     </div>
     <div class="message default clearfix" id="message11">
      <div class="body">
       <div class="pull_right date details" title="someday">?</div>
       <div class="text">no sender, bad date</div>
      </div>
     </div>
"""


def test_written_export(parse, tmp_path: Path):
    path = tmp_path / "messages2.html"
    path.write_text(PAGE.format(rows=ROWS), encoding="utf-8")
    ex = parse(path, tz="Europe/London")
    row = file_row(ex)
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == (
        "parsed",
        "telegram_html",
        7,
        3,
    )
    rows = {m["source_locator"]: m for m in ex.rows["messages"]}
    assert list(rows) == [
        "#message5",
        "#message6",
        "#message7",
        "#message8",
        "#message9",
        "#message10",
        "#message11",
    ]
    assert rows["#message5"]["sender"] is None  # joined, but the sender was on the previous page
    created = rows["#message6"]
    assert (created["kind"], created["body"], created["time_precision"]) == (
        "system",
        "Tom created group «Tom & Jerry»",
        "day",
    )
    # The separator day in the offset the export used last (+00:00 from message5).
    assert created["sent_at_utc"] == datetime(2024, 3, 31, tzinfo=UTC)
    assert created["tz_source"] == "guess"
    assert created["conversation"] == "Tom & Jerry"
    assert rows["#message7"]["body"] == "first line\nsecond line"
    assert rows["#message7"]["sent_at_utc"] == datetime(2024, 3, 31, 9, 0, 5, tzinfo=UTC)
    photo = rows["#message8"]
    assert (photo["kind"], photo["sender"], photo["body"]) == ("media", "Tom", "[photo]")
    (attachment,) = ex.rows["attachments"]
    assert attachment["file_name"] == "photos/photo_1@31-03-2024_10-01-00.jpg"
    assert attachment["message_id"] == photo["message_id"]
    reply = rows["#message9"]
    assert reply["sender"] == "Jerry"
    assert reply["body"] == "forwarded text"
    assert reply["flags"] == ["forwarded", "forwarded_from:Spike", "reply_to:7"]
    assert reply["tz_source"] == "run_parameter"  # old title without offset, read in --tz
    assert reply["sent_at_utc"] == datetime(2024, 3, 31, 9, 5, tzinfo=UTC)
    assert rows["#message10"]["flags"] == ["edited", "edited_at:2024-03-31T09:09:30Z"]
    bad = rows["#message11"]
    assert bad["sent_at_utc"] is None and bad["sender"] is None
    errors = sorted(e["error"] for e in ex.rows["ingest_errors"])
    assert errors == [
        "joined message with no earlier sender in this file",
        "message without sender name",
        "unreadable date title 'someday'",
    ]


def test_other_html_is_unsupported(parse, tmp_path: Path):
    path = tmp_path / "messages.html"
    path.write_text(
        '<html><body><div class="history"><div class="message" id="message1">hi</div></div></body></html>',
        encoding="utf-8",
    )
    row = file_row(parse(path))
    assert row["status"] == "unsupported" and "no parser" in row["status_reason"]


def test_page_without_history_fails_with_reason(parse, tmp_path: Path):
    # The head looks like Telegram's (it is what a sniff sees) but the history element is missing.
    path = tmp_path / "messages.html"
    path.write_text(
        '<html><body><div class="page_wrap"><!-- class="history" id="message1" --></div></body></html>',
        encoding="utf-8",
    )
    row = file_row(parse(path))
    assert row["status"] == "failed"
    assert 'no <div class="history">' in row["status_reason"]


def test_messages_nested_by_damaged_closing_tags_are_all_read(parse, tmp_path: Path):
    """A copy whose message `</div>`s were damaged nests every message inside the first: none may be lost,
    and each reads as it does in the undamaged page."""

    def read(name: str, rows: str) -> tuple[list[tuple], list[tuple], list[str]]:
        path = tmp_path / name
        path.write_text(PAGE.format(rows=rows), encoding="utf-8")
        ex = parse(path, tz="Europe/London")
        ids = {m["message_id"]: m["source_locator"] for m in ex.rows["messages"]}
        messages = [
            (m["source_locator"], m["kind"], m["sender"], m["body"], m["sent_at_utc"], m["flags"])
            for m in ex.rows["messages"]
        ]
        media = [(ids[a["message_id"]], a["file_name"]) for a in ex.rows["attachments"]]
        return messages, media, sorted(e["error"] for e in ex.rows["ingest_errors"])

    damaged = ROWS.replace("\n     </div>\n", "\n     </9div>\n")  # each message's own closing tag
    assert damaged.count("</9div>") == 7  # every message after the first now sits inside it
    nested = ROWS.count('<div class="message') - 1
    messages, media, errors = read("messages.html", ROWS)
    assert read("messages2.html", damaged) == (
        messages,
        media,
        sorted(
            [
                *errors,
                f"{nested} message(s) sat inside another message, or after the end of the list of them (a tag is "
                "missing or damaged in the HTML); each was read on its own",
            ]
        ),
    )
    assert len(messages) == 7


def test_page_cut_short_flags_its_last_message(parse, tmp_path: Path):
    """A page that stops before </html> (a copy or download cut short): the last message read may have
    lost the end of its text, so it is flagged and the file warned; the messages before it are whole."""
    page = PAGE.format(rows=ROWS)
    path = tmp_path / "messages.html"
    path.write_text(page[: page.index("edited</div>") + len("edi")], encoding="utf-8")  # inside message10
    ex = parse(path, tz="Europe/London")
    assert file_row(ex)["status"] == "parsed"
    rows = {m["source_locator"]: m for m in ex.rows["messages"]}
    assert list(rows)[-1] == "#message10"
    assert rows["#message10"]["body"] == "edi"
    assert "may_be_incomplete" in rows["#message10"]["flags"]
    assert not [m for m in ex.rows["messages"][:-1] if "may_be_incomplete" in m["flags"]]
    assert [e for e in ex.rows["ingest_errors"] if "cut short" in e["error"]]
    whole = tmp_path / "messages2.html"
    whole.write_text(page, encoding="utf-8")
    assert not [m for m in parse(whole).rows["messages"] if "may_be_incomplete" in m["flags"]]


def _fixture_damaged(shared_fixtures: Path, tmp_path: Path, old: str, new: str, after: str) -> Path:
    """The real export with `old` replaced by `new` at its first place after `after`."""
    data = (shared_fixtures / FIXTURE).read_text(encoding="utf-8")
    at = data.index(old, data.index(after))
    path = tmp_path / "messages.html"
    path.write_text(data[:at] + new + data[at + len(old) :], encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new"),
    [('class="message default', 'class="mexsage default'), ('<div class="message', '<diX class="message')],
)
def test_a_damaged_message_element_loses_no_message_and_gives_no_wrong_sender(
    parse, shared_fixtures: Path, tmp_path: Path, old: str, new: str
) -> None:
    """message3 ("we meet again", by Jimmeny) with its class damaged was skipped without a word, and the
    joined message4 after it then took the sender of message2 (Batman & Robin): a wrong sender. With its
    tag name damaged, its closing tag closed the list of messages instead, and message4 was lost."""
    path = _fixture_damaged(shared_fixtures, tmp_path, old, new, "Hi nemesis")
    out = parse(path)
    messages = {m["source_locator"]: m for m in out.rows["messages"]}
    assert list(messages) == ["#message1", "#message2", "#message3", "#message4"]
    assert (messages["#message3"]["sender"], messages["#message3"]["body"]) == (
        "Jimmeny Marvelton",
        "we meet again",
    )
    assert messages["#message3"]["flags"] == ["message_markup_damaged"]
    assert (messages["#message4"]["sender"], messages["#message4"]["flags"]) == ("Jimmeny Marvelton", [])
    assert "damaged class attribute" in out.rows["ingest_errors"][0]["error"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('<div class="userpic', '<divclass="userpic'),  # the avatar's tag closes message3 early
        ("</div>\n\n       </div>", "</div>\n\n       </di>"),  # the avatar left open: the body nested in it
    ],
)
def test_a_damaged_avatar_tag_does_not_lose_the_message_or_shift_the_sender(
    parse, shared_fixtures: Path, tmp_path: Path, old: str, new: str
) -> None:
    """A damaged tag in message3's avatar put its body outside it (after it) or deeper inside it: message3
    ("we meet again", by Jimmeny) was skipped, and the joined message4 took message2's sender (Batman &
    Robin), silently."""
    path = _fixture_damaged(shared_fixtures, tmp_path, old, new, 'id="message3"')
    out = parse(path)
    messages = {m["source_locator"]: m for m in out.rows["messages"]}
    assert list(messages) == ["#message1", "#message2", "#message3", "#message4"]
    third, fourth = messages["#message3"], messages["#message4"]
    assert (third["sender"], third["body"], third["flags"]) == (
        "Jimmeny Marvelton",
        "we meet again",
        ["message_markup_damaged"],
    )
    assert (fourth["sender"], fourth["body"]) == ("Jimmeny Marvelton", "you will not trick me this time")
    assert any("message body out of its place" in e["error"] for e in out.rows["ingest_errors"])


def test_a_forwarded_block_is_never_read_as_the_message_when_its_body_is_damaged(
    parse, tmp_path: Path
) -> None:
    """Jerry forwards Spike's words: with the class of Jerry's own body element damaged, the only "body"
    left is the forwarded one, whose name is Spike's. Read as the message, Spike would be its sender; the
    element holding Jerry's sent time is read as the body instead, flagged."""
    rows = ROWS.replace(
        '<div class="message default clearfix" id="message9">\n      <div class="body">',
        '<div class="message default clearfix" id="message9">\n      <div class="bxdy">',
    )
    assert rows != ROWS
    path = tmp_path / "messages2.html"
    path.write_text(PAGE.format(rows=rows), encoding="utf-8")
    out = parse(path, tz="Europe/London")
    messages = {m["source_locator"]: m for m in out.rows["messages"]}
    assert (messages["#message9"]["sender"], messages["#message9"]["body"]) == ("Jerry", "forwarded text")
    assert "message_markup_damaged" in messages["#message9"]["flags"]
    assert not any((m["sender"] or "").startswith("Spike") for m in messages.values())


def test_a_message_holding_another_ones_parts_is_flagged(parse, tmp_path: Path) -> None:
    """One lost quote in the photo's tag of Tom's message8 makes its attribute run on to the next quote:
    the markup of message9 (Jerry forwarding Spike's words) ends up inside message8, and its text was read
    as Tom's, with no flag. A body holding a second date element holds another message's parts: flagged."""
    rows = ROWS.replace('_thumb.jpg"/>', "_thumb.jpg+/>")
    assert rows != ROWS
    path = tmp_path / "messages2.html"
    path.write_text(PAGE.format(rows=rows), encoding="utf-8")
    out = parse(path, tz="Europe/London")
    messages = {m["source_locator"]: m for m in out.rows["messages"]}
    swallowing = next(m for m in messages.values() if m["body"] == "forwarded text")
    assert swallowing["sender"] == "Tom" and "other_message_inside" in swallowing["flags"]
    assert [m["source_locator"] for m in messages.values() if "other_message_inside" in m["flags"]] == [
        swallowing["source_locator"]
    ]
    assert any("holds parts of another message" in e["error"] for e in out.rows["ingest_errors"])


@pytest.mark.parametrize(
    ("old", "new", "after"),
    [
        ('<div class="message default', '+div class="message default', "Hi nemesis"),  # its "<" lost
        ("</div>\n\n     <div class", "</div+\n\n     <div class", "Hi nemesis"),  # taken into a closing tag
    ],
)
def test_a_message_whose_own_tag_is_lost_is_read_by_its_body(
    parse, shared_fixtures: Path, tmp_path: Path, old: str, new: str, after: str
) -> None:
    """message3's own tag lost (its "<" damaged, or swallowed by the closing tag before it): its body sat in
    no message, or as a second body inside message2. It was dropped without a word, and the joined message4
    took message2's sender (Batman & Robin). The body stands for the message now, flagged."""
    path = _fixture_damaged(shared_fixtures, tmp_path, old, new, after)
    out = parse(path)
    messages = out.rows["messages"]
    assert [(m["sender"], m["body"]) for m in messages] == [
        ("Jimmeny Marvelton", "i refuse to converse with you"),
        ("Batman & Robin", "Hi nemesis"),
        ("Jimmeny Marvelton", "we meet again"),
        ("Jimmeny Marvelton", "you will not trick me this time"),
    ]
    assert "message_markup_damaged" in messages[2]["flags"]


def test_damaged_tags_around_a_forward_keep_its_sender(parse, tmp_path: Path) -> None:
    """Jerry forwarding Spike's words. With his body's class damaged its parts became the message's own
    children, the forwarded block among them: it was read as the body and Spike as the sender. With the
    name's closing tag damaged, the reply line joined the name ("Jerry In reply to this message")."""
    lost_body = ROWS.replace(
        '<div class="message default clearfix" id="message9">\n      <div class="body">',
        '<div class="message default clearfix" id="message9">\n      <div class=+body">',
    )
    merged_name = ROWS.replace('<div class="from_name">Jerry</div>', '<div class="from_name">Jerry</div+')
    for rows, flag in ((lost_body, "message_markup_damaged"), (merged_name, "sender_html_damaged")):
        assert rows != ROWS
        path = tmp_path / "messages2.html"
        path.write_text(PAGE.format(rows=rows), encoding="utf-8")
        ninth = {m["source_locator"]: m for m in parse(path, tz="Europe/London").rows["messages"]}[
            "#message9"
        ]
        assert (ninth["sender"], ninth["body"]) == ("Jerry", "forwarded text"), flag
        assert flag in ninth["flags"] and "forwarded_from:Spike" in ninth["flags"]


def test_a_joined_message_after_an_unreadable_one_has_no_sender(
    parse, shared_fixtures: Path, tmp_path: Path
) -> None:
    """message3's body cannot be found (its class and its time's title both damaged): it is skipped with a
    warning, and the joined message4, whose sender was message3's, is left without one rather than given
    message2's."""
    data = (shared_fixtures / FIXTURE).read_text(encoding="utf-8")
    third = data.index('id="message3"')
    fourth = data.index('id="message4"')
    damaged = (
        data[third:fourth].replace('<div class="body">', '<div class="bxdy">').replace("title=", "titel=")
    )
    path = tmp_path / "messages.html"
    path.write_text(data[:third] + damaged + data[fourth:], encoding="utf-8")
    out = parse(path)
    messages = {m["source_locator"]: m for m in out.rows["messages"]}
    assert list(messages) == ["#message1", "#message2", "#message4"]
    assert messages["#message4"]["sender"] is None
    errors = [e["error"] for e in out.rows["ingest_errors"]]
    assert "message without a body element; skipped" in errors
    assert "joined message with no earlier sender in this file" in errors


def test_a_joined_message_whose_class_is_lost_keeps_the_sender_before_it_flagged(
    parse, shared_fixtures: Path, tmp_path: Path
) -> None:
    """message4 is joined (no name of its own): with its classes lost, "joined" is lost too. Only a joined
    message has no name, so it keeps the sender before it, flagged as read from damaged markup."""
    path = _fixture_damaged(
        shared_fixtures, tmp_path, 'class="message default', 'class="mexsage default', "we meet again"
    )
    fourth = {m["source_locator"]: m for m in parse(path).rows["messages"]}["#message4"]
    assert fourth["sender"] == "Jimmeny Marvelton"
    assert fourth["flags"] == ["message_markup_damaged", "sender_html_damaged"]


def test_a_stray_angle_bracket_in_a_name_does_not_put_the_text_into_the_sender(
    parse, shared_fixtures: Path, tmp_path: Path
) -> None:
    """ "Marvel<ton" opens a bogus tag that swallows the name's closing tag: the message's text was read
    as part of the sender's name, for it and for the joined message after it."""
    path = _fixture_damaged(
        shared_fixtures, tmp_path, "Jimmeny Marvelton", "Jimmeny Marvel<ton", "Hi nemesis"
    )
    out = parse(path)
    third, fourth = out.rows["messages"][2:]
    assert (third["sender"], third["body"]) == ("Jimmeny Marvel", "we meet again")
    assert third["flags"] == fourth["flags"] == ["sender_html_damaged"]
    assert fourth["sender"] == "Jimmeny Marvel"
    assert any("sender's name element holds other parts" in e["error"] for e in out.rows["ingest_errors"])


def test_a_page_whose_opening_is_zeroed_is_still_read(parse, shared_fixtures: Path, tmp_path: Path) -> None:
    """Zero bytes over the page's opening (a damaged sector: the html, page and history tags gone) made
    the page "unsupported"; its messages are all there and are read, flagged zeroed_bytes where they hold
    the zeros."""
    data = (shared_fixtures / FIXTURE).read_bytes()
    start, end = data.index(b"<body"), data.index(b'<div class="message default')
    path = tmp_path / "messages.html"
    path.write_bytes(data[:start] + bytes(end - start) + data[end:])
    out = parse(path)
    assert file_row(out, "messages.html")["status"] == "parsed"
    assert [m["source_locator"] for m in out.rows["messages"]] == [
        "#message1",
        "#message2",
        "#message3",
        "#message4",
    ]
    assert [m["sender"] for m in out.rows["messages"]][:2] == ["Jimmeny Marvelton", "Batman & Robin"]
