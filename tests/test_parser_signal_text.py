"""Signal text exports ([YYYY-MM-DD, HH:MM] Name: text): the real sample plus generated variants."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from rows import file_row

from evidence.pipeline.extract import parse_path

FIXTURE = "signal/chat-miner/test_export.txt"


def test_real_export(parse, shared_fixtures: Path) -> None:
    path = shared_fixtures / FIXTURE
    out = parse(path, tz="Europe/London")
    row = file_row(out, "test_export.txt")
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == ("parsed", "signal_text", 2, 0)
    first, last = out.rows["messages"]
    assert [m["sender"] for m in (first, last)] == ["Jane Doe", "John Doe"]
    assert first["sent_at_utc"] == datetime(2019, 12, 24, 12, 23, tzinfo=UTC)
    assert last["sent_at_utc"] == datetime(2020, 1, 17, 21, 49, tzinfo=UTC)
    assert "ingest_errors" not in out.rows
    assert last == {
        "message_id": last["message_id"],
        "platform": "signal",
        "conversation": None,
        "sender": "John Doe",
        "sender_identifier": None,
        "recipients": [],
        "sent_at_utc": datetime(2020, 1, 17, 21, 49, tzinfo=UTC),
        "sent_at_local": "2020-01-17, 21:49",
        "tz_source": "run_parameter",
        "time_precision": "minute",
        "kind": "message",
        "body": "Hello\nJane!",
        "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "source_locator": "line/2",
        "duplicate_of": None,
        "subject": None,
        "external_id": None,
        "direction": None,
        "flags": [],
        "parser": "signal_text",
    }


def test_run_timezone_is_applied(parse, shared_fixtures: Path) -> None:
    out = parse(shared_fixtures / FIXTURE, tz="America/New_York")
    assert [m["sent_at_utc"] for m in out.rows["messages"]] == [
        datetime(2019, 12, 24, 17, 23, tzinfo=UTC),
        datetime(2020, 1, 18, 2, 49, tzinfo=UTC),
    ]


def test_variants_dst_seconds_bom_owner_and_bad_bytes(parse, tmp_path: Path) -> None:
    path = tmp_path / "Alex.txt"
    path.write_bytes(
        "\ufeff[2024-03-31 01:30] Alex: clocks jump\n"  # no comma; 01:30 does not exist in London that day
        "[2024-10-27, 01:30:15] Sam: repeated hour\n\n"
        "[2024-02-30, 10:00] Alex: impossible day\n"
        "[2024-11-01, 09:00] Alex: \n"
        "second line: with a colon\n".encode()
        + b"[2024-11-02, 09:00] Sam: bad \xff byte\n"
    )
    out = parse(path, tz="Europe/London", owners=("sam",))
    row = file_row(out, "Alex.txt")
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 5, 2)
    gap, fold, impossible, multi, bad = out.rows["messages"]
    assert gap["flags"] == ["dst_gap"] and gap["sent_at_utc"] == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    assert fold["flags"] == ["dst_ambiguous"] and fold["time_precision"] == "second"
    assert fold["sent_at_utc"] == datetime(2024, 10, 27, 0, 30, 15, tzinfo=UTC)
    # with --owner given, a sender known by name only is the owner when the name matches, else incoming
    assert (fold["direction"], gap["direction"]) == ("outgoing", "incoming")
    assert fold["body"] == "repeated hour"  # the blank line after it is not part of the message
    assert impossible["sent_at_utc"] is None and "unparseable_date" in impossible["flags"]
    assert multi["body"] == "\nsecond line: with a colon" and multi["source_locator"] == "line/5"
    assert bad["body"] == "bad \ufffd byte" and bad["flags"] == ["decode_errors"]
    assert {e["severity"] for e in out.rows["ingest_errors"]} == {"warning"}


def test_a_header_with_a_damaged_date_is_flagged_inside_the_message_it_joined(parse, tmp_path: Path) -> None:
    """ "[2024-0X-05, 21:07] Sam: please stop" cannot be read as a header: it joins Alex's message before it.
    The message is flagged and the file says so; a line that only mentions a date is not."""
    path = tmp_path / "Alex.txt"
    path.write_text(
        "[2024-03-05, 21:05] Alex: answer me\n"
        "[2024-0X-05, 21:07] Sam: please stop contacting me\n"
        "[2024-03-05, 21:09] Alex: never\n"
        "on 2024-03-05, 21:07 I said: stop\n",
        encoding="utf-8",
    )
    out = parse(path)
    first, second = out.rows["messages"]
    assert first["sender"] == "Alex" and "please stop contacting me" in first["body"]
    assert first["flags"] == ["damaged_header_inside"] and second["flags"] == []
    (warning,) = [e["error"] for e in out.rows["ingest_errors"]]
    assert "1 message(s)" in warning and "damaged_header_inside (the first at line/1)" in warning


def test_a_header_with_a_bracket_colon_or_space_in_place_of_one_character_is_flagged(
    parse, tmp_path: Path
) -> None:
    """A date character replaced by a bracket or a space, or the space after the time's bracket by a colon,
    left the header unread and unflagged (every case found by damaging headers one byte at a time)."""
    path = tmp_path / "Alex.txt"
    path.write_text(
        "[2024-03-05, 21:05] Alex: answer me\n[2024-03]05, 21:06] Sam: please stop\n"
        "[2024-03-05, 21:07] Alex: no\n[ 024-03-05, 21:08] Sam: I mean it\n"
        "[2024-03-05, 21:09] Alex: again\n[2024-03-05, 21:10]:Sam: go away\n"
        "[2024-03-05, 21:11] Alex: fine\n2024-03-05, 21:12 I was at home all day\n",
        encoding="utf-8",
    )
    messages = parse(path).rows["messages"]
    assert [m["sender"] for m in messages] == ["Alex"] * 4
    assert [m["flags"] for m in messages] == [["damaged_header_inside"]] * 3 + [[]]


def test_a_header_glued_to_the_line_before_is_flagged(parse, tmp_path: Path) -> None:
    path = tmp_path / "Alex.txt"
    path.write_text(
        "[2024-03-05, 21:05] Alex: answer me.[2024-03-05, 21:07] Sam: please stop\n[2024-03-05, 21:09] Alex: no\n",
        encoding="utf-8",
    )
    first, second = parse(path).rows["messages"]
    assert first["flags"] == ["damaged_header_inside"] and second["flags"] == []


def test_a_header_split_over_two_lines_is_flagged(parse, tmp_path: Path) -> None:
    """A line break inserted into a header's date or its name: both parts joined the message before."""
    path = tmp_path / "Alex.txt"
    path.write_text(
        "[2024-03-05, 21:05] Alex: answer me\n[2024-03-05, 21:07] Sa\nm: please stop\n"
        "[2024-03-05, 21:08] Alex: no\n[2024-03-0\n5, 21:09] Sam: I mean it\n"
        "[2024-03-05, 21:10] Alex: dates\n12/03\n14/03: both fine\n",
        encoding="utf-8",
    )
    first, second, third = parse(path).rows["messages"]
    assert first["sender"] == "Alex" and "please stop" in first["body"]
    assert [m["flags"] for m in (first, second, third)] == [["damaged_header_inside"]] * 2 + [[]]


def test_zeroed_bytes_do_not_hide_the_export(parse, tmp_path: Path) -> None:
    """Zero bytes near the start (a damaged sector) made the export "unsupported"; now only the message
    holding them is flagged."""
    text = "".join(f"[2024-03-05, 21:{m:02d}] {'Alex' if m % 2 else 'Sam'}: message {m}\n" for m in range(40))
    data = text.encode()
    path = tmp_path / "Alex.txt"
    path.write_bytes(data[:200] + bytes(64) + data[264:])
    out = parse_path(path, store_root=tmp_path / "originals")  # flagged by extraction's per-message work
    assert file_row(out, "Alex.txt")["status"] == "parsed"
    assert [m["source_locator"] for m in out.rows["messages"] if "zeroed_bytes" in m["flags"]] != []
    assert sum("zeroed_bytes" in m["flags"] for m in out.rows["messages"]) == 1


def test_look_alikes_are_not_signal(parse, tmp_path: Path) -> None:
    whatsapp = tmp_path / "wa.txt"
    whatsapp.write_text("[1/2/23, 9:15:01 AM] Alex: hi\n", encoding="utf-8")
    assert file_row(parse(whatsapp), "wa.txt")["format"] != "signal_text"
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n[2024-01-01, 10:00] Alex: hi\n", encoding="utf-8")
    row = file_row(parse(notes), "notes.txt")
    assert row["format"] != "signal_text"
