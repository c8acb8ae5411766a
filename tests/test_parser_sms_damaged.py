"""SMS Backup XML damaged inside (not only cut short): every undamaged item is read, each damaged one is
named with its line and position, and the items after it keep their locators."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rows import file_row

from evidence.parsers import xml_items
from evidence.parsers.xml_items import CharRefFixer, item_pieces

HEAD = b"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
FIXTURE = "sms/sms-backup-reader-2/sms_and_mms.xml"


def _sms(i: int, body: str | None = None) -> bytes:
    text = body if body is not None else f"message {i}"
    return (
        f'  <sms address="+4477009001{i:02d}" date="{1700000000000 + i * 60000}" type="{1 + i % 2}" '
        f'body="{text}" contact_name="Alex" />\n'
    ).encode()


def _backup(items: list[bytes]) -> bytes:
    return HEAD + f'<smses count="{len(items)}">\n'.encode() + b"".join(items) + b"</smses>\n"


def _by_locator(out) -> dict[str, dict]:
    return {m["source_locator"]: m for m in out.rows["messages"]}


def _same_message(a: dict, b: dict) -> bool:
    keys = ("body", "sender", "sender_identifier", "recipients", "sent_at_utc", "direction", "flags", "kind")
    return all(a[k] == b[k] for k in keys)


def test_damaged_items_in_the_middle_cost_only_themselves(parse, tmp_path: Path) -> None:
    items = [_sms(i) for i in range(1, 9)]
    whole = tmp_path / "whole.xml"
    whole.write_bytes(_backup(items))
    items[2] = items[2].replace(b'body="message 3"', b'body="message 3')  # a lost quote
    items[5] = items[5].replace(b"<sms ", b"<sms <")  # a damaged tag
    damaged = tmp_path / "damaged.xml"
    damaged.write_bytes(_backup(items))

    expected = _by_locator(parse(whole))
    out = parse(damaged)
    row = file_row(out, "damaged.xml")
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 6, 3)
    got = _by_locator(out)
    assert sorted(got) == sorted(f"sms/{i}" for i in (1, 2, 4, 5, 7, 8))  # positions kept
    assert all(_same_message(got[locator], expected[locator]) for locator in got)
    warnings = out.rows["ingest_errors"]
    assert [w["locator"] for w in warnings] == ["sms/3", "sms/6", "line/5"]
    assert "damaged <sms> at line 5" in warnings[0]["error"]
    assert "damaged <sms> at line 8" in warnings[1]["error"]
    assert "2 damaged item(s) could not be read" in warnings[2]["error"]
    assert all(w["severity"] == "warning" for w in warnings)


def test_an_unclosed_item_does_not_swallow_the_items_after_it(parse, tmp_path: Path) -> None:
    """A lost `/` leaves an <sms> open: the parser nests every later item in it and fails at the end."""
    items = [_sms(i) for i in range(1, 6)]
    items[1] = items[1].replace(b" />", b" >")
    path = tmp_path / "open.xml"
    path.write_bytes(_backup(items))
    out = parse(path)
    row = file_row(out, "open.xml")
    assert (row["status"], row["messages"]) == ("parsed", 5)
    assert [m["body"] for m in out.rows["messages"]] == [f"message {i}" for i in range(1, 6)]
    # sms/2's start tag is whole and holds the whole message; that its end is damaged is said
    errors = [(w["locator"], w["error"]) for w in out.rows["ingest_errors"]]
    assert len(errors) == 2
    assert errors[0][0] == "sms/2" and "damaged text after the start of the <sms> at line 4" in errors[0][1]
    assert "malformed XML" in errors[1][1] and "0 damaged item(s)" in errors[1][1]


def test_bytes_that_are_not_utf8_and_control_characters(parse, tmp_path: Path) -> None:
    items = [_sms(1), _sms(2, "caf\xe9 ok"), _sms(3), _sms(4)]
    items[2] = items[2].replace(b"message 3", b"bad \xff\xfe bytes")
    items[3] = items[3].replace(b"message 4", b"bell \x07 here")
    path = tmp_path / "bytes.xml"
    path.write_bytes(_backup(items))
    out = parse(path)
    row = file_row(out, "bytes.xml")
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 4, 1)
    one, two, three, four = out.rows["messages"]
    assert (one["body"], one["flags"]) == ("message 1", [])
    assert (two["body"], two["flags"]) == ("caf\xe9 ok", [])  # valid UTF-8 is left alone
    assert three["body"] == "bad \ufffd\ufffd bytes" and three["flags"][0] == "decode_errors"
    assert four["body"] == "bell \ufffd here" and four["flags"][0] == "decode_errors"
    (warning,) = out.rows["ingest_errors"]
    assert warning["error"].startswith("3 byte sequence(s)")


def test_real_backup_with_a_damaged_item(parse, shared_fixtures: Path, tmp_path: Path) -> None:
    """The third-party backup (cut inside its 9th <mms>) with its 5th <sms> damaged: 48 of 49 kept, equal."""
    original = (shared_fixtures / FIXTURE).read_bytes()
    expected = _by_locator(parse(shared_fixtures / FIXTURE))
    fifth = -1
    for _ in range(5):
        fifth = original.index(b"<sms ", fifth + 1)
    quote = original.index(b'body="', fifth) + 5
    path = tmp_path / "sms_and_mms.xml"
    path.write_bytes(original[:quote] + original[quote + 1 :])  # body= without its opening quote
    out = parse(path)
    row = file_row(out, "sms_and_mms.xml")
    assert (row["status"], row["messages"]) == ("parsed", 48)
    got = _by_locator(out)
    assert set(expected) - set(got) == {"sms/5"}
    assert all(_same_message(got[locator], expected[locator]) for locator in got)
    errors = [w["error"] for w in out.rows["ingest_errors"]]
    assert any(e.startswith("damaged <sms> at line") for e in errors)
    assert any(e.startswith("the file ends inside the <mms> at line") for e in errors)  # the cut
    assert any("1 damaged item(s) could not be read; the file ends inside its last item" in e for e in errors)
    assert len(errors) == 3


@pytest.mark.parametrize("chunk", [7, 16, 64])
def test_item_pieces_across_chunk_boundaries(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(xml_items, "CHUNK", chunk)
    data = _backup([_sms(i) for i in range(1, 6)]) + b"<!-- <smses> -->"
    pieces = list(item_pieces(io.BytesIO(data), ("sms", "mms")))
    assert b"".join(piece.data for piece in pieces) == data
    assert [piece.tag for piece in pieces] == [None, "sms", "sms", "sms", "sms", "sms"]
    assert [piece.line for piece in pieces] == [1, 3, 4, 5, 6, 7]
    assert [piece.last for piece in pieces] == [False] * 5 + [True]
    assert all(piece.data.startswith(b"<sms ") for piece in pieces[1:])


def test_fixer_keeps_utf8_split_by_chunks() -> None:
    text = "<a b='" + "é😀ж" * 40 + "'/>"
    data = text.encode()
    for size in (1, 2, 3, 5, 7):
        fixer = CharRefFixer(io.BytesIO(data))
        chunks = []
        while chunk := fixer.read(size):
            chunks.append(chunk)
        assert b"".join(chunks) == data, size
        assert fixer.bad_bytes == 0


@pytest.mark.parametrize("size", [-1, 1, 3])
def test_utf16_backup_is_not_repaired_bytewise(size: int) -> None:
    data = "<?xml version='1.0' encoding='UTF-16'?><smses/>".encode("utf-16")
    fixer = CharRefFixer(io.BytesIO(data))
    chunks = []
    while chunk := fixer.read(size):
        chunks.append(chunk)
    assert b"".join(chunks) == data and fixer.bad_bytes == 0 and fixer.mode == "none"


def test_a_date_beyond_any_calendar_fails_only_its_time(parse, tmp_path: Path) -> None:
    items = [_sms(1), _sms(2).replace(b'date="1700000120000"', b'date="99999999999999999999999"')]
    path = tmp_path / "date.xml"
    path.write_bytes(_backup(items))
    out = parse(path)
    assert file_row(out, "date.xml")["messages"] == 2
    odd = out.rows["messages"][1]
    assert (odd["sent_at_utc"], odd["sent_at_local"]) == (None, "99999999999999999999999")
    assert "unparseable_date" in odd["flags"]


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        ((b'<smses count="3">', b'<smses count="3>'), 3),  # the root's start tag: found at the next "<"
        ((b"version='1.0' encoding='UTF-8'", b"version='1.0 encoding='UTF-8'"), 1),  # the declaration
    ],
)
def test_damaged_start_of_the_file(parse, tmp_path: Path, damage: tuple[bytes, bytes], where: int) -> None:
    path = tmp_path / "head.xml"
    path.write_bytes(_backup([_sms(1), _sms(2, "caf\xe9"), _sms(3)]).replace(*damage))
    out = parse(path)
    row = file_row(out, "head.xml")
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 3, 1)
    assert [m["body"] for m in out.rows["messages"]] == ["message 1", "caf\xe9", "message 3"]
    assert [m["source_locator"] for m in out.rows["messages"]] == ["sms/1", "sms/2", "sms/3"]
    (warning,) = out.rows["ingest_errors"]
    assert f"malformed XML at line {where}" in warning["error"] and "after 0 items" in warning["error"]


def test_an_unforeseen_failure_in_one_item_costs_only_that_item(parse, tmp_path: Path, monkeypatch) -> None:
    """A failure nobody foresaw while reading one <sms> (simulated here): that item is skipped with a
    warning naming it, and every other item is read."""
    import evidence.parsers.sms_backup_xml as sms_backup_xml

    real = sms_backup_xml.read_sms

    def failing(ctx, el, index, *rest):  # type: ignore[no-untyped-def]
        if index == 2:
            raise TypeError("unforeseen")
        return real(ctx, el, index, *rest)

    monkeypatch.setitem(sms_backup_xml._READERS, "sms", failing)
    path = tmp_path / "sms.xml"
    path.write_bytes(_backup([_sms(i) for i in range(1, 5)]))
    out = parse(path)
    row = file_row(out, "sms.xml")
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 3, 1)
    assert [m["source_locator"] for m in out.rows["messages"]] == ["sms/1", "sms/3", "sms/4"]
    (warning,) = out.rows["ingest_errors"]
    assert (
        warning["locator"] == "sms/2"
        and "<sms> could not be read (TypeError: unforeseen)" in warning["error"]
    )
