"""The WhatsApp bulk (Arrow) path gives exactly the streaming reader's rows, or declines.

Every file here is extracted twice, once with the bulk path forced on (no size threshold) and once with it
off; all staging tables (messages, identifiers, links, attachments, warnings, run_files), all columns,
compared in a canonical order.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from whatsapp_generator import generate_export

import evidence.parsers.whatsapp.bulk as bulk
from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.db import arrow_schema, rows_to_table
from evidence.parsers.context import ParseOptions
from evidence.parsers.rows import ParsedRows
from evidence.pipeline.extract import extract_items

TABLES = ("messages", "identifiers", "message_identifiers", "attachments", "ingest_errors", "run_files")


def _canonical(out: ParsedRows) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table (spilled parts, Arrow parts and row dicts), through the staging schema."""
    result = {}
    for table in TABLES:
        parts = [pq.read_table(path) for path in out.spilled.get(table, ())]
        if out.rows.get(table):
            parts.append(rows_to_table(table, out.rows[table]))
        if not parts:
            result[table] = []
            continue
        rows = pa.concat_tables(parts).to_pylist()
        for row in rows:
            row.pop("run_id", None)
        result[table] = sorted(rows, key=repr)
    return result


def _extract(
    path: Path, tmp: Path, *, fast: bool, siblings: dict[str, str] | None = None, **options: Any
) -> tuple[dict[str, list[dict[str, Any]]], bool]:
    mode = "fast" if fast else "slow"
    taken: list[bool] = []
    original = bulk.fast_parse

    def spy(ctx):
        result = original(ctx) if fast else False
        taken.append(result)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk, "fast_parse", spy)
        patch.setattr(bulk, "FAST_MIN_BYTES", 0)
        patch.setattr(bulk, "FAST_CHUNK", 7)  # several chunks even in small files
        store = OriginalsStore(tmp / f"originals-{mode}")
        blob = store.put_file(path)
        item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), path.name)
        item.siblings = dict(siblings or {})
        out = extract_items(
            [item],
            store=store,
            run_id="t",
            options=ParseOptions(**options),
            out=ParsedRows(spill_dir=tmp / f"spill-{mode}"),
            per_message=False,
        )
    return _canonical(out), any(taken)


def check_same(path: Path, tmp: Path, **kwargs: Any) -> bool:
    """Assert the bulk path's rows equal the streaming reader's; True when the bulk path was taken."""
    fast_rows, taken = _extract(path, tmp, fast=True, **kwargs)
    slow_rows, _ = _extract(path, tmp, fast=False, **kwargs)
    for table in TABLES:
        assert len(fast_rows[table]) == len(slow_rows[table]), table
        for fast_row, slow_row in zip(fast_rows[table], slow_rows[table], strict=True):
            assert fast_row == slow_row, table
    return taken


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


# --- (1) the real fixtures ---------------------------------------------------------------------------

FIXTURES = (
    "chat-miner/testlog.txt",
    "chat-miner/test_mmddyyyy_12hrs.txt",
    "langchain-community/chat_loaders/whatsapp_chat.txt",
)


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("options", [{}, {"tz": "America/New_York", "region": "US", "owners": ("John Doe",)}])
def test_fixtures(name: str, options: dict[str, Any], shared_fixtures: Path, tmp_path: Path) -> None:
    path = shared_fixtures / "whatsapp" / name
    if not path.exists():
        pytest.skip(f"{name} is not present")
    # the bulk path must really have read it: otherwise the streaming reader was compared with itself
    assert check_same(path, tmp_path, **options)


def test_every_shared_whatsapp_fixture(shared_fixtures: Path, tmp_path: Path) -> None:
    folder = shared_fixtures / "whatsapp"
    if not folder.is_dir():
        pytest.skip("no WhatsApp fixtures")
    for number, path in enumerate(sorted(p for p in folder.rglob("*") if p.is_file())):
        assert check_same(path, tmp_path / str(number)), f"the bulk path declined {path.name}"


# --- (2) generated exports -----------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["android", "ios"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated(style: str, seed: int, tmp_path: Path) -> None:
    path = tmp_path / f"WhatsApp Chat with Bob {style}.txt"
    generate_export(path, 2_000, seed=seed, style=style)
    # The generator spreads messages over months from January: across the March clock change in London.
    text = path.read_text(encoding="utf-8")
    assert "/03/2023" in text and "/05/2023" in text
    assert check_same(path, tmp_path, tz="Europe/London")


@pytest.mark.parametrize("style", ["android", "ios"])
def test_damaged_copies_read_the_same_on_both_paths(style: str, tmp_path: Path) -> None:
    """One to three bytes deleted or replaced, or line breaks inserted (damaged headers, split ones, glued
    ones): wherever the bulk path still reads the file, its rows (flags and warnings too) equal the
    streaming reader's."""
    source = tmp_path / "source.txt"
    generate_export(source, 150, seed=5, style=style, identifiers=0.4)
    original = source.read_bytes()
    rng = random.Random(f"damaged-{style}")
    taken = 0
    for number in range(24):
        data = original
        for _ in range(rng.randint(1, 3)):
            at, change = rng.randrange(len(data)), rng.randrange(3)
            replacement = (b"", bytes([rng.randrange(32, 127)]), b"\n" + data[at : at + 1])[change]
            data = data[:at] + replacement + data[at + 1 :]
        path = write(tmp_path, f"WhatsApp Chat with Bob {number}.txt", data)
        taken += check_same(path, tmp_path / str(number))
    assert taken >= 18  # most damaged copies are still read in bulk


def test_generated_android_takes_the_bulk_path_with_owners(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Alex.txt"
    generate_export(path, 3_000, seed=11)
    assert check_same(path, tmp_path)
    assert check_same(path, tmp_path / "owners", owners=("Bob", "+44 7700 900123"))
    assert check_same(path, tmp_path / "ny", tz="America/New_York", region="US")


def test_generated_spanning_london_clock_changes(tmp_path: Path) -> None:
    """Messages on the clock-change days themselves, including times in the gap and the repeated hour."""
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    generate_export(path, 500, seed=4)
    lines = path.read_text(encoding="utf-8").splitlines()
    extra = [
        "26/03/2023, 00:59 - Bob: before the gap",
        "26/03/2023, 01:30 - Bob: in the gap",
        "26/03/2023, 02:10 - Bob: after",
        "29/10/2023, 01:30 - Bob: repeated hour",
        "29/10/2023, 01:30 - Alice Smith: repeated hour again",
        "29/10/2023, 02:00 - Bob: after",
    ]
    write(tmp_path, path.name, "\n".join(lines[:200] + extra + lines[200:]) + "\n")
    assert check_same(path, tmp_path)
    assert check_same(path, tmp_path / "ios", tz="Europe/Dublin")


def _rewrite_dates(text: str, change: Any) -> str:
    return re.sub(r"^(\[?)(\d\d)/(\d\d)/(\d{4})", change, text, flags=re.MULTILINE)


@pytest.mark.parametrize("region", ["GB", "US"])
def test_generated_ambiguous_day_month(region: str, tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    generate_export(path, 1_500, seed=7, style="ios")
    text = path.read_text(encoding="utf-8")
    text = _rewrite_dates(text, lambda m: f"{m[1]}{int(m[2]) % 12 + 1:02d}/{m[3]}/{m[4]}")
    write(tmp_path, path.name, text)
    assert check_same(path, tmp_path, region=region)


def test_generated_month_first_and_conflicting(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    generate_export(path, 1_500, seed=8)
    text = path.read_text(encoding="utf-8")
    swapped = _rewrite_dates(text, lambda m: f"{m[1]}{m[3]}/{m[2]}/{m[4]}")
    write(tmp_path, path.name, swapped)
    assert check_same(path, tmp_path)
    rng = random.Random(1)
    mixed = _rewrite_dates(text, lambda m: f"{m[1]}{m[3]}/{m[2]}/{m[4]}" if rng.random() < 0.2 else m[0])
    write(tmp_path, path.name, mixed)
    assert check_same(path, tmp_path / "mixed")


# --- (3) handwritten edge files -----------------------------------------------------------------------

LRM = "\u200e"
EDGE_FILES = {
    "android_12h": (
        "1/5/23, 9:05 AM - Bob: hi\n"
        "1/5/23, 12:00 PM - Bob: noon\n"
        "1/5/23, 12:00\u202fAM - Bob: midnight\n"
        "1/5/23, 00:08 a. m. - Bob: zero hour\n"
        "1/5/23, 13:08 p.m. - Bob: thirteen\n"
        "1/5/23, 0:08 PM - Bob: zero pm\n"
        "1/15/23, 9:05 p. m. - ~\u202fCarol: late\n"
    ),
    "dst_and_bad_dates": (
        "26/03/2023, 01:30 - Bob: gap\n"
        "29/10/2023, 01:30 - Bob: ambiguous\n"
        "31/02/2023, 10:00 - Bob: no such day\n"
        "30/04/2023, 24:00 - Bob: no such hour\n"
        "30/04/2023, 23:60 - Bob: no such minute\n"
        "30/04/2023, 10:00 - Bob: fine\n"
        "30/04/123, 10:00 - Bob: three-digit year\n"
        "2023-04-30, 10:00 - Bob: iso date\n"
    ),
    "multiline_and_blank": (
        "13/01/2023, 10:00 - Bob: first\n"
        "\n"
        "second paragraph\n"
        "  indented: with colon\n"
        "13/01/2023, 10:01 - Alice Smith: \n"
        "13/01/2023, 10:02 - Alice Smith:no space\n"
        "13/01/2023, 10:03 - : empty author\n"
        "13/01/2023, 10:04 - Bob: trailing blank lines\n"
        "\n"
        "\n"
    ),
    "no_final_newline": "13/01/2023, 10:00 - Bob: one\n13/01/2023, 10:01 - Bob: two\ncontinued",
    "media_android": (
        "14/02/2023, 10:00 - Bob: IMG-20230214-WA0001.jpg (file attached)\n"
        "caption here\n"
        "14/02/2023, 10:01 - Bob: <Media omitted>\n"
        "14/02/2023, 10:02 - Bob: image omitted\n"
        "14/02/2023, 10:03 - Bob: a <b> tag\n"
        "14/02/2023, 10:04 - Bob: (smile)\n"
        "14/02/2023, 10:05 - Bob: DOC-1.pdf (file attached)\n"
        '14/02/2023, 10:06 - Bob changed the subject from "a: b" to "c"\n'
        "14/02/2023, 10:07 - Bob changed their phone number\n"
        "14/02/2023, 10:08 - +44 7700 900123: from a number\n"
        "14/02/2023, 10:09 - \u202a+44 7700 900124\u202c: marked number\n"
        "14/02/2023, 10:10 - Messages and calls are end-to-end encrypted.\n"
    ),
    "ios": (
        f"[14/02/2023, 10:00:00] Chat: {LRM}Messages and calls are end-to-end encrypted.\n"
        f"[14/02/2023, 10:00:01] Bob: {LRM}<attached: 00000001-PHOTO-2023-02-14-10-00-01.jpg>\n"
        f"[14/02/2023, 10:00:02] Bob: {LRM}image omitted\n"
        f"[14/02/2023, 10:00:03] Bob: {LRM}Missed voice call\n"
        f"[14/02/2023, 10:00:04] ~\u202fCarol: {LRM}Carol joined using this group's invite link\n"
        f"[14/02/2023, 10:00:05] Bob: {LRM}This message was deleted.\n"
        f"{LRM}[14/02/2023, 10:00:06] Bob: marked header\n"
        "[14/02/2023, 10:00:07] Bob: 60 seconds? [14/02/2023, 10:00:60] Bob: inline\n"
        "[14/02/2023, 10:00:60] Bob: bad second\n"
        "[14/02/2023 10:00:08] Bob: no comma\n"
    ),
    "dotted_klo": (
        "13.1.2023 klo 10.00 - Bob: finnish\n"
        "13.1.2023, 10:00 - Bob: dotted\n"
        "13. 1. 2023, 10:00 - Bob: spaced\n"
        "13.01.23. 10:00. - Bob: trailing dots\n"
    ),
    # Day/month order from the fields alone (the bulk path decides it without the first pass).
    "undecided_us_ampm": "1/5/23, 9:05 AM - Bob: hi\n2/3/23, 10:00 PM - Bob: later\n",
    "undecided_lower_ampm": "1/5/23, 9:05 am - Bob: hi\n2/3/23, 10:00 pm - Bob: later\n",
    "undecided_klo_slashes": "1/5/2023 klo 10.00 - Bob: klo\n2/3/2023 klo 11.00 - Bob: again\n",
    "undecided_dotted": "1.5.2023, 10:00 - Bob: dotted\n2.3.2023, 10:01 - Bob: b\n",
    "undecided_plain": "01/05/2023, 10:00 - Bob: plain\n02/03/2023, 10:01 - Bob: b\n",
    "conflicting_votes": (
        "13/01/2023, 10:00 - Bob: day\n01/13/2023, 10:00 - Bob: month\n14/01/2023, 10:00 - Bob: day\n"
    ),
    "year_first_then_undecided": "2023/01/05, 10:00 - Bob: ymd\n01/05/2023, 10:00 - Bob: either\n",
    # Continuation lines shaped like a header whose date or time lost a character (flagged), and ones that
    # only look a little like one (not flagged).
    "damaged_headers": (
        "13/01/2023, 10:00 - Bob: answer me\n"
        "13/0X/2023, 10:01 - Alice Smith: please stop contacting me\n"
        "13/01/2023, 10:02 - Bob: never\n"
        "Yesterday, 10:02 - Bob: not a date\n"
        "13/01/2023, 10:03 - Alice Smith: ok\n"
        "[13/01/2023, 1O:04:00] Alice Smith: iOS with a letter O\n"
        "13/01/2023, 10:05 - Bob: reply\n"
        "see 13/01/2023, 10:05 - Bob: not at the line start\n"
        "13/01/2023, 10:06 - Bob: a header glued on, its line break lost.13/01/2023, 10:07 - Alice Smith: stop\n"
        "13/01/2023, 10:08 - Bob: and in a continuation line\n"
        "then.[13/01/2023, 10:09:00] Alice Smith: glued iOS header\n"
        "and.13/01/2023, 10:09 - Messages to this group are now secured with end-to-end encryption.\n"
        "13/01/2023, 10:10 - Bob: last\n"
    ),
    "split_headers": (
        "13/01/2023, 10:00 - Bob: answer me\n"
        "13/01/20\n23, 10:01 - Alice Smith: please stop contacting me\n"  # a line break inserted
        "13/01/2023, 10:02 - Bob: never\n"
        "13/01/2023, 1\n:03 - Alice Smith: leave me alone\n"  # one character became a line break
        "13/01/2023, 10:04 - Bob: no\n"
        "13/01/2023, 10:05 - Alice S\nmith: I am calling the police\n"  # split in the name: a system line
        "13/01/2023, 10:06 - Bob: meet at\n10:30\nsee you there: ok\n"  # a time alone on a line: text
        "13/01/2023, 10:07 - Bob: dates\n12/03\n14/03: both fine\n"
        "13/01/2023, 10:08 - Alice Smith: last\n"
    ),
    "damaged_system_header": (
        "06/20/2020, 00:07 a. m. - Bob: answer me\n"
        "0j/20/2020, 00:08 a. m. - You blocked this contact. Tap to unblock.\n"  # a system line's date damaged
        "06/20/2020, 00:09 a. m. - Bob: his number\n07700900123 - call it\n"  # a number, " - ": text
        "06/20/2020, 00:10 a. m. - Bob: last\n"
        "06/20/2020, 00:11 a. m. - Bob: where are you\n"
        "06/20/2020, 0012 a. m. - Alice changed her phone number\n"  # the time's colon lost
        "06/20/2020, 00:13 a. m. - Bob: again\n"
        "06/20/2020, 00:14 a. m. -You blocked this contact. Tap to unblock.\n"  # the space after " -" lost
        "06/20/2020, 00:15 a. m. - Bob: I saw you\n06/20/2020, 00:15 I was outside\n"  # a date and time: text
    ),
    # a header with one character of its date changed into a colon, space, bracket or comma, which the loose
    # shapes stop at; a phone number and a date and time in a message stay text
    "one_edit_android": (
        "03/01/2023, 08:08 - Bob: answer me\n"
        "03/:1/2023, 08:09 - Alice: please stop\n"
        "03/01/2023, 08:10 - Bob: again\n"
        "10 01/2023, 08:11 - Alice: leave me alone\n"
        "03/01/2023, 08:12 - Bob: call\n07700 900123 - or me: now\n03/01/2023, 08:12 I was outside\n"
        "03/01/2023, 08:13 - Bob: last\n"
    ),
    "one_edit_us": (
        "1/3/23, 8:00 AM - Bob: answer me\n"
        "1/3/23, 8:0 AM - Alice: please stop\n"  # a digit lost
        "1/3/23, 8:02 AM - Bob: again\n"
        "1/3/, 8:03 AM - Alice: leave me alone\n"  # two characters lost
        "1/3/23, 8:04 AM - Bob: last\n"
    ),
    "one_edit_ios": (
        "[03/01/2023, 08:08:00] Bob: answer me\n"
        "[1 /01/2023, 08:09:00] Alice: please stop\n"
        "[03/01/2023, 08:10:00] Bob: again\n"
        "[03/01/202,, 08:11:00] Alice: leave me alone\n"
        "[03/01/2023, 08:12:00] Bob: again\n"
        "[03/01]2023, 08:13:00] Alice: no\n"
        "[03/01/2023, 08:14:00] Bob: last\n"
    ),
    # an iOS system line (its name and colon before the text) with a line after it: not a split header
    "ios_system_continued": (
        "[8/15/23, 9:12:33 AM] Dr. Feather: \u200eMessages and calls are end-to-end encrypted.\nfoo: bar\n"
        "[8/15/23, 9:13:33 AM] Dr. Feather: hi\n"
    ),
    # Files the bulk path declines (or must not misread).
    "separator_mismatch": "13/01/2023, 10:00 - Bob: one\n13/01-2023, 10:00 - Bob: mixed\n",
    "bracket_without_close": "[13/01/2023, 10:00:00 - Bob: one\n13/01/2023, 10:00:01] Bob: two\n",
    "leading_text": "exported chat\n13/01/2023, 10:00 - Bob: one\n13/01/2023, 10:01 - Bob: two\n",
    "crlf": "13/01/2023, 10:00 - Bob: one\r\nmore\r\n13/01/2023, 10:01 - Bob: two\r\n",
    "lone_cr": "13/01/2023, 10:00 - Bob: one\rmore\n13/01/2023, 10:01 - Bob: two\n",
    "bom": "\ufeff13/01/2023, 10:00 - Bob: one\n13/01/2023, 10:01 - Bob: two\n",
    "replacement_char": "13/01/2023, 10:00 - Bob: one \ufffd\n13/01/2023, 10:01 - Bob: two\n",
    "arabic_digits": "13/01/2023, 10:00 - Bob: one\n١٣/٠١/٢٠٢٣, ١٠:٠٠ - Bob: arabic\n",
    "unicode_separators": "13/01/2023, 10:00 - Bob: one\u2028two\x0bthree\x85four\n13/01/2023, 10:01 - Bob: b\n",
    "all_undated": "31/02/2023, 10:00 - Bob: one\n31/02/2023, 10:01 - Bob: two\n",
    "ampm_spacing": (
        "12/24/2019 11:30 p.m. - John Doe: Hello\n"
        "12/24/2019 11:30 p. m. - John Doe: spacing\n"
        "09/10/22 10:37:00 p.m. - John Doe: seconds\n"
        "[09/10/22 10:37:00 p.m.] John Doe: brackets\n"
        "09-10-2022 10:37:00 p.m. - John Doe: dashes\n"
        "2022/12/24, 13:01. - John Doe: trailing dot\n"
    ),
}
DECLINED = {
    "all_undated",  # fails the same way on both paths (every date impossible)
    "separator_mismatch",
    "bracket_without_close",
    "leading_text",
    "crlf",
    "lone_cr",
    "replacement_char",
    "arabic_digits",
}


@pytest.mark.parametrize("name", sorted(EDGE_FILES))
def test_edge_files(name: str, tmp_path: Path) -> None:
    path = write(tmp_path, "WhatsApp Chat with Bob.txt", EDGE_FILES[name])
    taken = check_same(path, tmp_path)
    assert taken == (name not in DECLINED)


def test_edge_files_with_options(tmp_path: Path) -> None:
    for number, name in enumerate(sorted(EDGE_FILES)):
        path = write(tmp_path, f"WhatsApp Chat with Bob {number}.txt", EDGE_FILES[name])
        taken = check_same(path, tmp_path / name, tz="America/Los_Angeles", region="US", owners=("Bob",))
        assert taken == (name not in DECLINED), name


def test_media_linked_to_siblings(tmp_path: Path) -> None:
    path = write(tmp_path, "WhatsApp Chat with Bob.txt", EDGE_FILES["media_android"] + EDGE_FILES["ios"])
    siblings = {"IMG-20230214-WA0001.jpg": "a" * 64, "00000001-photo-2023-02-14-10-00-01.JPG": "b" * 64}
    assert check_same(path, tmp_path, siblings=siblings)


def test_small_files_keep_the_streaming_reader(tmp_path: Path) -> None:
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    generate_export(path, 200, seed=1)
    assert path.stat().st_size < bulk.FAST_MIN_BYTES
    store = OriginalsStore(tmp_path / "originals")
    blob = store.put_file(path)
    item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), path.name)
    calls: list[bool] = []
    original = bulk.fast_parse

    def spy(ctx):
        calls.append(original(ctx))
        return calls[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bulk, "fast_parse", spy)
        extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)
    assert calls == [False]


def test_bulk_rows_without_a_spill_folder_are_row_dicts(tmp_path: Path) -> None:
    """Tests and tools read ParsedRows.rows: bulk tables join them as dicts when nothing is spilled."""
    path = tmp_path / "WhatsApp Chat with Bob.txt"
    generate_export(path, 300, seed=2)
    store = OriginalsStore(tmp_path / "originals")
    blob = store.put_file(path)
    item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), path.name)
    results = []
    for fast in (True, False):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(bulk, "FAST_MIN_BYTES", 0)
            patch.setattr(bulk, "FAST_PATH", fast)
            results.append(
                extract_items([item], store=store, run_id="t", options=ParseOptions(), per_message=False)
            )
    fast_out, slow_out = results

    def full(table: str, out: ParsedRows) -> list[dict[str, Any]]:
        """Rows with every column of the table: bulk rows carry the columns a parser left NULL."""
        names = arrow_schema(table).names
        return [{name: row.get(name) for name in names} for row in out.rows[table]]

    for table in ("messages", "identifiers", "message_identifiers"):
        assert full(table, fast_out) == full(table, slow_out), table


RUN_TABLES = ("messages", "message_identifiers")  # their loaded_in_run differs between runs


def _database(case: Path) -> dict[str, list[tuple]]:
    import duckdb

    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return {
            table: sorted(
                con.execute(
                    f"SELECT * EXCLUDE (loaded_in_run) FROM {table}"
                    if table in RUN_TABLES
                    else f"SELECT * FROM {table}"
                ).fetchall(),
                key=repr,
            )
            for table in ("messages", "identifiers", "message_identifiers", "attachments")
        }


def test_full_ingest_loads_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bulk tables go through staging (as extra Parquet parts beside spilled rows) into the database."""
    import evidence.parsers.rows
    from evidence.pipeline.parameters import IngestParameters
    from evidence.pipeline.run import ingest

    export = tmp_path / "in" / "WhatsApp Chat with Alex.txt"
    export.parent.mkdir()
    generate_export(export, 2_000, seed=12, style="ios")
    monkeypatch.setattr(evidence.parsers.rows, "SPILL_ROWS", 37)  # attachments rows spill, messages do not
    monkeypatch.setattr(bulk, "FAST_MIN_BYTES", 0)
    taken: list[bool] = []
    original = bulk.fast_parse

    def spy(ctx):
        taken.append(original(ctx))
        return taken[-1]

    monkeypatch.setattr(bulk, "fast_parse", spy)
    fast = ingest(IngestParameters(sources=[str(export.parent)], case_dir=str(tmp_path / "fast")))
    assert taken == [True]
    monkeypatch.setattr(bulk, "FAST_PATH", False)
    slow = ingest(IngestParameters(sources=[str(export.parent)], case_dir=str(tmp_path / "slow")))
    assert fast["messages_loaded"] == slow["messages_loaded"] > 2_000
    assert _database(tmp_path / "fast") == _database(tmp_path / "slow")


def test_a_damaged_header_inside_a_message_is_flagged_on_both_paths(tmp_path: Path) -> None:
    """A header whose date lost a character cannot be read as one: its line joins the message before it,
    under that sender (the victim's "please stop" inside the stalker's message); so does a header whose line
    break was lost, glued to the text before it. Both readers flag the message and say so once."""
    path = write(tmp_path, "WhatsApp Chat with Bob.txt", EDGE_FILES["damaged_headers"])
    for fast in (True, False):
        rows, taken = _extract(path, tmp_path / str(fast), fast=fast)
        assert taken == fast
        flagged = [m for m in rows["messages"] if "damaged_header_inside" in m["flags"]]
        assert sorted(m["source_locator"] for m in flagged) == ["line/1", "line/10", "line/5", "line/9"], fast
        assert "please stop contacting me" in next(
            m["body"] for m in flagged if m["source_locator"] == "line/1"
        )
        warnings = [e["error"] for e in rows["ingest_errors"] if "damaged_header_inside" in e["error"]]
        assert len(warnings) == 1 and "4 message(s)" in warnings[0] and "the first at line/1" in warnings[0]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("one_edit_android", ["line/1", "line/3"]),
        ("one_edit_us", ["line/1", "line/3"]),
        ("one_edit_ios", ["line/1", "line/3", "line/5"]),
    ],
)
def test_a_header_with_one_character_changed_anywhere_is_flagged_on_both_paths(
    name: str, expected: list[str], tmp_path: Path
) -> None:
    """A date character changed into a colon, a space, a bracket or a comma, or a digit of a short US
    date and time lost, left the header unread and unflagged: the victim's words inside Bob's message
    (found by damaging headers one byte at a time)."""
    path = write(tmp_path, "WhatsApp Chat with Bob.txt", EDGE_FILES[name])
    for fast in (True, False):
        rows, taken = _extract(path, tmp_path / str(fast), fast=fast)
        assert taken == fast
        flagged = {m["source_locator"]: m for m in rows["messages"] if "damaged_header_inside" in m["flags"]}
        assert sorted(flagged) == expected, fast
        assert {m["sender"] for m in flagged.values()} == {"Bob"}
        assert "please stop" in flagged["line/1"]["body"] and "leave me alone" in flagged["line/3"]["body"]


def test_a_system_line_with_a_damaged_date_is_flagged_on_both_paths(tmp_path: Path) -> None:
    """An Android system line ("date, time - text", no name) whose date lost a character joined the
    person's message before it: "You blocked this contact" read as Bob's words; so did one whose time or
    " - " was damaged. A phone number followed by " - " on a line of a message is text, and so is a date
    and time followed by words."""
    path = write(tmp_path, "WhatsApp Chat with Bob.txt", EDGE_FILES["damaged_system_header"])
    for fast in (True, False):
        rows, taken = _extract(path, tmp_path / str(fast), fast=fast)
        assert taken == fast
        flagged = {m["source_locator"]: m for m in rows["messages"] if "damaged_header_inside" in m["flags"]}
        assert sorted(flagged) == ["line/1", "line/6", "line/8"], fast
        assert all(m["sender"] == "Bob" for m in flagged.values())
        assert "You blocked this contact" in flagged["line/1"]["body"]
        assert "changed her phone number" in flagged["line/6"]["body"]
        assert "You blocked this contact" in flagged["line/8"]["body"]
        said = next(m for m in rows["messages"] if m["source_locator"] == "line/10")
        assert "I was outside" in said["body"] and "damaged_header_inside" not in said["flags"]


def test_a_header_split_over_two_lines_is_flagged_on_both_paths(tmp_path: Path) -> None:
    """A line break inserted into a header (or put in place of one of its characters) leaves neither part
    a header: the victim's words joined the stalker's message before them, under his name, silently. Split
    inside the name, the first part read as a system line. Both readers flag these; a time or a date alone
    on a line of a message is not a header."""
    path = write(tmp_path, "WhatsApp Chat with Bob.txt", EDGE_FILES["split_headers"])
    for fast in (True, False):
        rows, taken = _extract(path, tmp_path / str(fast), fast=fast)
        assert taken == fast
        flagged = {m["source_locator"]: m for m in rows["messages"] if "damaged_header_inside" in m["flags"]}
        assert sorted(flagged) == ["line/1", "line/4", "line/8"], fast
        assert flagged["line/1"]["sender"] == "Bob" and "please stop" in flagged["line/1"]["body"]
        assert flagged["line/4"]["sender"] == "Bob" and "leave me alone" in flagged["line/4"]["body"]
        assert flagged["line/8"]["kind"] == "system" and "police" in flagged["line/8"]["body"]
        warnings = [e["error"] for e in rows["ingest_errors"] if "damaged_header_inside" in e["error"]]
        assert len(warnings) == 1 and "3 message(s)" in warnings[0] and "the first at line/1" in warnings[0]
