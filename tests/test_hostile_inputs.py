"""One bad file never ends a run: hostile folders, names and contents a phone or a stalker can produce.

Every test runs the real `evidence ingest` command in-process over inputs generated here, and checks the
contract: exit 0, every other file ingested, the bad one listed with its reason (ingest_errors and the
run summary), nothing written outside the case folder, the input unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

import evidence.parsers.rows as staging_rows
from evidence.acquire.custody import check_chain
from evidence.acquire.walk import MAX_FOLDER_DEPTH, OTHER_CASE_FOLDER
from evidence.cli.commands import app
from evidence.parsers.registry import REGISTRY

runner = CliRunner()

CHAT = (
    "13/01/2024, 10:00 - Sam: are you home\n"
    "13/01/2024, 10:01 - Sam: IMG-20240101-WA0001.jpg (file attached)\n"
    "13/01/2024, 10:02 - Sam: answer me\n"
)
DIRECTORY = os.O_RDONLY | os.O_DIRECTORY


def evidence(*args: object) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def instagram_thread(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """An Instagram/Messenger JSON thread between Mallory and the victim holding these messages."""
    return {
        "participants": [{"name": "Mallory"}, {"name": "Victim"}],
        "messages": messages,
        "title": "Mallory",
        "thread_path": "inbox/mallory_1",
    }


def telegram_message(number: int, sender: str, sender_id: str, text: str) -> dict[str, Any]:
    """One message of a Telegram Desktop JSON export, sent `number` minutes after 10:00 on 1 March 2024."""
    return {
        "id": number,
        "type": "message",
        "date": f"2024-03-01T10:{number:02d}:00",
        "date_unixtime": str(1709287200 + 60 * number),
        "from": sender,
        "from_id": sender_id,
        "text": text,
    }


def rows(case: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every entry below root (without following links): mode and content hash, to show nothing changed."""
    found: dict[str, tuple[int, str]] = {}
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as listing:
            for entry in listing:
                info = entry.stat(follow_symlinks=False)
                digest = ""
                if entry.is_symlink():
                    digest = os.readlink(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    digest = hashlib.sha256(Path(entry.path).read_bytes()).hexdigest()
                found[os.path.relpath(entry.path, root)] = (info.st_mode, digest)
    return found


def custody_entries(case: Path) -> list[dict[str, Any]]:
    """The custody log split on newline bytes only: one JSON object per line, chain intact."""
    data = (case / "custody.log").read_bytes()
    lines = data.rstrip(b"\n").split(b"\n")
    assert check_chain(case / "custody.log") == []
    return [json.loads(line) for line in lines]


def not_read(case: Path) -> dict[str, str]:
    return dict(rows(case, "SELECT source_path, error FROM ingest_errors WHERE stage = 'acquire'"))


def statuses(case: Path) -> dict[str, str]:
    return dict(rows(case, "SELECT source_path, status FROM run_files"))


def only_case_and_input(tmp_path: Path, *expected: str) -> None:
    """Nothing was written beside the input and the case folder."""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)


# --- folders nested thousands of levels deep, and paths longer than the system allows -------------
def make_chain(top: Path, depth: int, *, name: str = "d", files: dict[int, bytes] | None = None) -> None:
    """`depth` folders, each inside the last, made through folder handles (a full path would be too
    long for the system); files[k] is written into the folder k levels down as file-<k>.txt."""
    fd = os.open(top, DIRECTORY)
    try:
        for level in range(1, depth + 1):
            os.mkdir(name, 0o755, dir_fd=fd)
            below = os.open(name, DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
            if files and level in files:
                out = os.open(f"file-{level}.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(out, files[level])
                os.close(out)
    finally:
        os.close(fd)


def chain_listing(top: Path) -> list[tuple[str, ...]]:
    """The names in each folder of a chain, top to bottom, read through folder handles."""
    listing = []
    fd = os.open(top, DIRECTORY)
    try:
        while True:
            names = tuple(sorted(os.listdir(fd)))
            listing.append(names)
            folders = [n for n in names if stat.S_ISDIR(os.stat(n, dir_fd=fd, follow_symlinks=False).st_mode)]
            if not folders:
                break
            below = os.open(folders[0], DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = below
    finally:
        os.close(fd)
    return listing


def remove_tree(top: Path) -> None:
    """Remove a tree of any depth without recursion or long paths (shutil.rmtree recurses)."""
    names: list[str] = []
    fd = os.open(top, DIRECTORY)
    while True:
        with os.scandir(fd) as listing:
            entries = list(listing)
        folder = next((e.name for e in entries if e.is_dir(follow_symlinks=False)), None)
        if folder is not None:
            below = os.open(folder, DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, names = below, [*names, folder]
            continue
        for entry in entries:
            os.unlink(entry.name, dir_fd=fd)
        if not names:
            break
        above = os.open("..", DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = above
        os.rmdir(names.pop(), dir_fd=fd)
    os.close(fd)
    os.rmdir(top)


@pytest.fixture
def deep_input(tmp_path: Path) -> Iterator[Path]:
    source = tmp_path / "input"
    (source / "deep").mkdir(parents=True)
    (source / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
    yield source
    if source.exists():
        remove_tree(source)  # pytest's own clean-up would recurse too deep


def test_a_folder_thousands_of_levels_deep_is_cut_off_and_listed(tmp_path: Path, deep_input: Path) -> None:
    make_chain(deep_input / "deep", 3000, files={10: b"ten levels down", 3000: b"the bottom"})
    before = chain_listing(deep_input / "deep")
    case = tmp_path / "case"
    result = evidence("ingest", deep_input, "--case", case)
    assert result.exit_code == 0, result.output
    # `deep` is 1 level below the source: the folder MAX_FOLDER_DEPTH + 1 levels below is not read.
    first_unread = deep_input / "deep" / "/".join(["d"] * MAX_FOLDER_DEPTH)
    errors = not_read(case)
    assert list(errors) == [str(first_unread)]
    assert f"more than {MAX_FOLDER_DEPTH} levels below the source: not read" in errors[str(first_unread)]
    assert "Not read:" in result.output and f"more than {MAX_FOLDER_DEPTH} levels" in result.output
    seen = statuses(case)
    assert seen[str(deep_input / "WhatsApp Chat with Sam.txt")] == "parsed"
    assert seen[str(deep_input / "deep" / "/".join(["d"] * 10) / "file-10.txt")] == "unsupported"
    assert len(seen) == 2
    assert rows(case, "SELECT count(*) FROM messages") == [(3,)]
    assert chain_listing(deep_input / "deep") == before
    only_case_and_input(tmp_path, "input", "case")


def test_paths_longer_than_the_system_allows_are_listed_not_fatal(tmp_path: Path, deep_input: Path) -> None:
    levels = 20  # 20 names of 200 characters: beyond PATH_MAX (4096) on the way down
    make_chain(deep_input / "deep", levels, name="n" * 200, files={k: b"level %d" % k for k in range(1, 21)})
    before = chain_listing(deep_input / "deep")
    case = tmp_path / "case"
    result = evidence("ingest", deep_input, "--case", case)
    assert result.exit_code == 0, result.output
    too_long = [p for p, e in not_read(case).items() if "longer than this system allows" in e]
    assert too_long, not_read(case)
    assert "longer than this system allows" in result.output
    seen = statuses(case)
    assert seen[str(deep_input / "WhatsApp Chat with Sam.txt")] == "parsed"
    stored = [p for p in seen if "file-" in p]
    assert stored and all(len(os.fsencode(p)) < 4096 for p in stored)
    assert chain_listing(deep_input / "deep") == before
    only_case_and_input(tmp_path, "input", "case")


# --- file names that are not UTF-8, or that hold newlines, right-to-left overrides and ../ --------
def test_hostile_file_names_are_kept_as_escaped_text_with_their_bytes(tmp_path: Path) -> None:
    source = tmp_path / "input"
    source.mkdir()
    raw = os.fsencode(source) + b"/WhatsApp Chat with \xff\xfeSam.txt"
    fd = os.open(raw, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, CHAT.encode())
    os.close(fd)
    os.symlink(b"/nowhere", os.fsencode(source) + b"/link\xff")  # recorded, not followed
    newline = "line\nbreak.zip"
    rtl = "invoice\u202etxt.zip"
    dots = "..\\..\\etc\\passwd.zip"
    for name in (newline, rtl, dots):
        (source / name).write_bytes(b"PK\x03\x04 not really a zip")  # not read: listed with a reason
    before = snapshot(source)
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output

    shown = f"{source}/WhatsApp Chat with \\xff\\xfeSam.txt"
    exact = raw.hex()
    assert rows(
        case, "SELECT status, messages, source_path_hex FROM run_files WHERE source_path = ?", [shown]
    ) == [("parsed", 3, exact)]
    assert rows(case, "SELECT first_seen_path FROM files WHERE first_seen_path LIKE '%Sam.txt'") == [(shown,)]
    assert rows(case, "SELECT source_path FROM file_occurrences WHERE source_path LIKE '%Sam.txt'") == [
        (shown,)
    ]
    assert rows(case, "SELECT count(*) FROM messages") == [(3,)]
    errors = not_read(case)
    assert "symbolic link not followed" in errors[f"{source}/link\\xff"]
    for name in (newline, rtl, dots):
        assert "cannot be opened" in errors[f"{source}/{name}"]  # names kept exactly, as text

    entries = custody_entries(case)
    (stored,) = [e for e in entries if e["action"] == "file_stored" and e["details"]["source_path"] == shown]
    assert stored["details"]["source_path_hex"] == exact and bytes.fromhex(exact) == raw
    (link,) = [e for e in entries if e["action"] == "acquire_error" and "link" in e["details"]["source_path"]]
    assert link["details"]["source_path"] == f"{source}/link\\xff"
    assert bytes.fromhex(link["details"]["source_path_hex"]) == os.fsencode(source) + b"/link\xff"
    logged = {e["details"]["source_path"] for e in entries if e["action"] == "acquire_error"}
    assert {f"{source}/{name}" for name in (newline, rtl, dots)} <= logged
    (finished,) = [e for e in entries if e["action"] == "ingest_finished"]
    assert {f["source_path"] for f in finished["details"]["summary"]["not_read"]} == set(errors)

    # The printed summary shows each name on one line, newline and right-to-left override escaped.
    assert "line\\nbreak.zip: looks like a zip archive" in result.output
    assert "invoice\\u202etxt.zip: looks like a zip archive" in result.output
    assert "\u202e" not in result.output
    assert snapshot(source) == before
    only_case_and_input(tmp_path, "input", "case")
    assert not (tmp_path.parent / "etc").exists()


# --- lone surrogates in JSON exports, and rows that cannot be staged ------------------------------
def test_lone_surrogates_in_a_json_export_are_repaired_and_flagged(tmp_path: Path) -> None:
    source = tmp_path / "input"
    source.mkdir()
    telegram = {
        "name": "Mallory",
        "type": "personal_chat",
        "id": 42,
        "messages": [
            {
                "id": 1,
                "type": "message",
                "date": "2024-03-01T10:00:00",
                "date_unixtime": "1709287200",
                "from": "Mallory",
                "from_id": "user777",
                "text": "I see you \ud83d",
            },
            {
                "id": 2,
                "type": "message",
                "date": "2024-03-01T10:01:00",
                "date_unixtime": "1709287260",
                "from": "Mallory",
                "from_id": "user777",
                "text": "a whole one \ud83d\ude00",
            },
        ],
    }
    # json.dumps writes the lone surrogate as the escape "\ud83d", as an export cut mid-emoji does
    (source / "result.json").write_text(json.dumps(telegram), encoding="utf-8")
    instagram = instagram_thread(
        [
            {"sender_name": "Mallory", "timestamp_ms": 1709287300000, "content": "watching \udc00 you"},
            {"sender_name": "Victim", "timestamp_ms": 1709287200000, "content": "stop"},
        ]
    )
    (source / "inbox").mkdir()
    (source / "inbox" / "message_1.json").write_text(json.dumps(instagram), encoding="utf-8")
    (source / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
    before = snapshot(source)
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output
    assert set(statuses(case).values()) == {"parsed"}
    bodies = dict(
        rows(case, "SELECT body, flags FROM messages WHERE body LIKE '%see you%' OR body LIKE '%watching%'")
    )
    assert bodies == {
        "I see you \ufffd": ["decode_errors"],
        "watching \ufffd you": ["decode_errors"],
    }
    assert rows(case, "SELECT flags FROM messages WHERE body = 'a whole one \U0001f600'") == [([],)]
    warned = rows(
        case, "SELECT error FROM ingest_errors WHERE severity = 'warning' AND error LIKE '%U+FFFD%'"
    )
    assert len(warned) == 2
    assert rows(case, "SELECT count(*) FROM messages") == [(7,)]
    assert snapshot(source) == before


def test_bytes_that_are_not_utf8_in_a_json_export_cost_only_their_text(tmp_path: Path) -> None:
    """A damaged copy of an export (a flipped byte, a cut emoji written as raw bytes): every message is
    kept, the bad bytes read as U+FFFD, and each message or identifier holding one is flagged."""
    source = tmp_path / "input"
    source.mkdir()
    messages = [
        telegram_message(number, sender, sender_id, text)
        for number, sender, sender_id, text in [
            (1, "Mallory", "user777", "I see you BADTEXT"),
            (2, "BADNAME", "user777", "still here"),
            (3, "Mallory", "user7BADID", "new account"),
            (4, "Victim", "user1", "leave me alone"),
        ]
    ]
    export = {"name": "Mallory", "type": "personal_chat", "id": 42, "messages": messages}
    data = json.dumps(export, ensure_ascii=False).encode()
    for marker in (b"BADTEXT", b"BADNAME", b"BADID"):
        data = data.replace(marker, b"x\xff\xfe")  # bytes no UTF-8 text holds, inside strings only
    (source / "result.json").write_bytes(data)
    (source / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output
    assert set(statuses(case).values()) == {"parsed"}
    telegram = rows(
        case,
        "SELECT sender, sender_identifier, body, flags FROM messages WHERE platform = 'telegram' "
        "ORDER BY source_locator",
    )
    assert telegram == [
        ("Mallory", "telegram:user777", "I see you x\ufffd\ufffd", ["decode_errors"]),
        ("x\ufffd\ufffd", "telegram:user777", "still here", ["decode_errors"]),
        ("Mallory", "telegram:user7x\ufffd\ufffd", "new account", ["decode_errors"]),
        ("Victim", "telegram:user1", "leave me alone", []),
    ]
    assert rows(case, "SELECT raw, flags FROM identifiers WHERE value LIKE '%\ufffd%'") == [
        ("user7x\ufffd\ufffd", ["decode_errors"])
    ]
    (warning,) = rows(
        case, "SELECT error FROM ingest_errors WHERE severity = 'warning' AND error LIKE '%not UTF-8%'"
    )
    assert "6 byte(s)" in warning[0] and "flagged decode_errors" in warning[0]


def test_raw_line_breaks_inside_json_strings_are_read_as_written(tmp_path: Path) -> None:
    """Some export tools write tabs and line breaks inside strings unescaped: not JSON, but unambiguous."""
    source = tmp_path / "input"
    source.mkdir()
    instagram = instagram_thread(
        [
            {"sender_name": "Mallory", "timestamp_ms": 1709287300000, "content": "LINE1"},
            {"sender_name": "Victim", "timestamp_ms": 1709287200000, "content": "stop"},
        ]
    )
    text = json.dumps(instagram, indent=1).replace("LINE1", "I know\twhere\nyou are")
    (source / "inbox").mkdir()
    (source / "inbox" / "message_1.json").write_text(text, encoding="utf-8")
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output
    assert set(statuses(case).values()) == {"parsed"}
    assert rows(case, "SELECT body FROM messages ORDER BY sent_at_utc") == [
        ("stop",),
        ("I know\twhere\nyou are",),
    ]
    (warning,) = rows(case, "SELECT error FROM ingest_errors WHERE error LIKE '%control characters%'")
    line = text[: text.index("\twhere")].count("\n") + 1
    assert "read as written" in warning[0] and f"line {line} column" in warning[0]


def test_a_modification_time_beyond_year_9999_does_not_end_the_run(tmp_path: Path) -> None:
    """tmpfs, btrfs and XFS keep such times (tar can set them); reading one ended the whole run."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no /dev/shm here")
    source = Path(tempfile.mkdtemp(dir=shm))
    try:
        (source / "far.txt").write_text("from the far future")
        (source / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
        os.utime(source / "far.txt", (999_999_999_999, 999_999_999_999))
        if (source / "far.txt").stat().st_mtime < 253_402_300_800:
            pytest.skip("this file system clamps modification times")
        case = tmp_path / "case"
        result = evidence("ingest", source, "--case", case)
        assert result.exit_code == 0, result.output
        assert sorted(statuses(case).values()) == ["parsed", "unsupported"]
        assert rows(case, "SELECT count(*) FROM file_occurrences WHERE modified_at IS NULL") == [(1,)]
        ((severity, stage, error),) = rows(case, "SELECT severity, stage, error FROM ingest_errors")
        assert (severity, stage) == ("warning", "acquire") and "outside the years 1-9999" in error
        assert "not read (see reasons): 0" in result.output and "warnings: 1" in result.output
        custody = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()]
        assert [e["action"] for e in custody].count("acquire_warning") == 1
    finally:
        shutil.rmtree(source, ignore_errors=True)


def test_damaged_escapes_and_appended_bytes_in_json_exports(tmp_path: Path) -> None:
    """A `\\u` escape that lost a hex digit, and bytes appended after the JSON: each used to fail the whole
    export (a mutation fuzz of the fixtures); now only the damaged text is lost, flagged and warned."""
    source = tmp_path / "input"
    source.mkdir()
    messages = [
        telegram_message(1, "Mallory", "user777", "I see you ESCAPE"),
        telegram_message(2, "Mallory", "user777", "not an escape: BACKSLASH"),
        telegram_message(3, "Victim", "user1", "leave me alone"),
    ]
    text = json.dumps({"name": "Mallory", "type": "personal_chat", "id": 42, "messages": messages})
    text = text.replace("ESCAPE", "\\ud83x").replace("BACKSLASH", "\\\\u12")  # \ud83x, and \\u12
    (source / "result.json").write_text(text, encoding="utf-8")
    thread = instagram_thread([{"sender_name": "Mallory", "timestamp_ms": 1709287300000, "content": "hi"}])
    (source / "inbox").mkdir()
    (source / "inbox" / "message_1.json").write_text(json.dumps(thread) + "\n\x00\x00garbage{", "utf-8")
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output
    assert set(statuses(case).values()) == {"parsed"}
    assert rows(
        case, "SELECT body, flags FROM messages WHERE platform = 'telegram' ORDER BY source_locator"
    ) == [
        ("I see you \ufffdx", ["decode_errors"]),
        ("not an escape: \\u12", []),
        ("leave me alone", []),
    ]
    assert rows(case, "SELECT body FROM messages WHERE platform = 'instagram'") == [("hi",)]
    warnings = [w for (w,) in rows(case, "SELECT error FROM ingest_errors WHERE severity = 'warning'")]
    assert any("1 damaged \\u escape(s)" in w for w in warnings)
    assert any("11 character(s) after the end of the JSON" in w for w in warnings)


def test_json_exports_cut_short_keep_every_complete_message(tmp_path: Path) -> None:
    """A download or copy that stopped early: the messages written in full before the cut are read, the
    one half written is left out whole (not read without its later fields), and the file says so."""
    source = tmp_path / "input"
    source.mkdir()
    messages = [
        telegram_message(
            k, "Mallory", "user777", f'message {k}, with [brackets] and {{braces}} and a "quote"'
        )
        for k in range(1, 6)
    ]
    telegram = json.dumps(
        {"name": "Mallory", "type": "personal_chat", "id": 42, "messages": messages}, indent=1
    )
    cut = telegram.index('"from_id"', telegram.index('"id": 4,'))  # inside message 4
    (source / "result.json").write_text(telegram[:cut], encoding="utf-8")
    instagram = instagram_thread(
        [
            {"sender_name": "Mallory", "timestamp_ms": 1709287300000 + k, "content": f"watching {k}"}
            for k in range(3)
        ]
    )
    text = json.dumps(instagram)
    (source / "inbox").mkdir()
    (source / "inbox" / "message_1.json").write_text(text[: text.index('"title"') + 5], encoding="utf-8")
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output
    assert set(statuses(case).values()) == {"parsed"}
    bodies = [
        b for (b,) in rows(case, "SELECT body FROM messages WHERE platform = 'telegram' ORDER BY sent_at_utc")
    ]
    assert bodies == [f'message {k}, with [brackets] and {{braces}} and a "quote"' for k in (1, 2, 3)]
    assert rows(case, "SELECT count(*) FROM messages WHERE platform = 'instagram'") == [(3,)]
    warned = rows(case, "SELECT source_path FROM ingest_errors WHERE error LIKE '%cut short%' ORDER BY 1")
    assert [Path(p).name for (p,) in warned] == ["message_1.json", "result.json"]


def test_rows_that_cannot_be_staged_fail_their_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "input"
    source.mkdir()
    (source / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
    (source / "WhatsApp Chat with Alex.txt").write_text(CHAT.replace("Sam", "Alex"), encoding="utf-8")
    parser = REGISTRY.get("whatsapp_txt")
    original = type(parser).parse

    def a_row_arrow_refuses(self: Any, ctx: Any) -> None:
        original(self, ctx)
        if "Alex" in ctx.name:
            ctx.out.add("attachments", {"message_id": "m", "locator": "x", "size_bytes": "not a number"})

    monkeypatch.setattr(type(parser), "parse", a_row_arrow_refuses)
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output
    seen = statuses(case)
    assert seen[str(source / "WhatsApp Chat with Sam.txt")] == "parsed"
    assert seen[str(source / "WhatsApp Chat with Alex.txt")] == "failed"
    (reason,) = rows(case, "SELECT error FROM ingest_errors WHERE stage = 'parse' AND severity = 'error'")[0]
    assert "could not be staged" in reason
    assert "could not be staged" in result.output
    assert {c for (c,) in rows(case, "SELECT DISTINCT conversation FROM messages")} == {"Sam"}

    # The same while the parser runs: a part spilled mid-file fails that file, not the batch.
    monkeypatch.setattr(staging_rows, "SPILL_ROWS", 1)
    again = evidence("ingest", source, "--case", tmp_path / "spilled")
    assert again.exit_code == 0, again.output
    seen = statuses(tmp_path / "spilled")
    assert seen[str(source / "WhatsApp Chat with Sam.txt")] == "parsed"
    assert seen[str(source / "WhatsApp Chat with Alex.txt")] == "failed"


# --- the case folder inside a source --------------------------------------------------------------
def test_a_case_folder_inside_the_source_is_never_ingested_into_itself(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
    case = exports / "case"
    for _ in range(2):  # the second time the case folder holds a database, originals and a log
        result = evidence("ingest", exports, "--case", case)
        assert result.exit_code == 0, result.output
        assert "the case folder itself: not read" in result.output
        run_id = rows(case, "SELECT run_id FROM ingest_runs ORDER BY started_at DESC LIMIT 1")[0][0]
        assert rows(
            case, "SELECT source_path, stage, error FROM ingest_errors WHERE run_id = ?", [run_id]
        ) == [(str(case), "acquire", "the case folder itself: not read")]
        assert rows(case, "SELECT source_path FROM run_files WHERE run_id = ?", [run_id]) == [
            (str(exports / "WhatsApp Chat with Sam.txt"),)
        ]
    assert rows(case, "SELECT count(*) FROM files") == [(1,)]
    # A source inside the case folder is refused as well (nothing else to read: exit 1).
    inside = evidence("ingest", case / "originals", "--case", case)
    assert inside.exit_code == 1 and "inside the case folder: not read" in inside.output
    assert sorted(p.name for p in exports.iterdir()) == ["WhatsApp Chat with Sam.txt", "case"]
    only_case_and_input(tmp_path, "exports")


def test_another_cases_folder_inside_a_source_is_listed_not_mixed_in(tmp_path: Path) -> None:
    """An older case left in a folder being ingested (or named as a source) would bring another case's
    originals, database and custody log into this one: it is listed with its reason instead."""
    older = tmp_path / "downloads" / "2023-004"
    first = tmp_path / "first"
    first.mkdir()
    (first / "WhatsApp Chat with Alex.txt").write_text(CHAT.replace("Sam", "Alex"), encoding="utf-8")
    assert evidence("ingest", first, "--case", older).exit_code == 0
    (tmp_path / "downloads" / "WhatsApp Chat with Sam.txt").write_text(CHAT, encoding="utf-8")
    case = tmp_path / "case"
    result = evidence("ingest", tmp_path / "downloads", older, "--case", case)
    assert result.exit_code == 0, result.output
    assert rows(case, "SELECT source_path, error FROM ingest_errors WHERE stage = 'acquire'") == [
        (str(older), OTHER_CASE_FOLDER),
        (str(older), OTHER_CASE_FOLDER),
    ]  # found inside the folder, and named as a source
    assert rows(case, "SELECT source_path FROM run_files") == [
        (str(tmp_path / "downloads" / "WhatsApp Chat with Sam.txt"),)
    ]
    assert rows(case, "SELECT count(*) FROM files") == [(1,)]
    assert rows(older, "SELECT count(*) FROM files") == [(1,)]  # the older case is only read, never changed


# --- media of two phones' exports side by side -----------------------------------------------------
def test_chat_exports_see_media_of_their_own_folder_only(tmp_path: Path) -> None:
    source = tmp_path / "input"
    photos: dict[str, str] = {}
    for phone in ("phone-a", "phone-b"):
        folder = source / phone
        folder.mkdir(parents=True)
        (folder / "WhatsApp Chat with Sam.txt").write_text(f"{CHAT}13/01/2024, 10:03 - Sam: {phone}\n")
        photo = f"\xff\xd8\xff\xe0 photo taken by {phone}".encode("latin-1")
        (folder / "IMG-20240101-WA0001.jpg").write_bytes(photo)
        photos[phone] = hashlib.sha256(photo).hexdigest()
        # Telegram Desktop keeps media in a subfolder below result.json: seen too, nearest first.
        (folder / "telegram" / "photos").mkdir(parents=True)
        (folder / "telegram" / "photos" / "photo_1.jpg").write_bytes(photo + b" via telegram")
        (folder / "telegram" / "result.json").write_text(
            json.dumps(
                {
                    "name": "Mallory",
                    "type": "personal_chat",
                    "id": 42 if phone == "phone-a" else 43,
                    "messages": [
                        {
                            "id": 1,
                            "type": "message",
                            "date": "2024-03-01T10:00:00",
                            "date_unixtime": "1709287200",
                            "from": "Mallory",
                            "from_id": "user777",
                            "photo": "photos/photo_1.jpg",
                            "text": phone,
                        }
                    ],
                }
            )
        )
    case = tmp_path / "case"
    result = evidence("ingest", source, "--case", case)
    assert result.exit_code == 0, result.output
    linked = rows(
        case,
        "SELECT f.first_seen_path, a.sha256 FROM attachments a JOIN messages m USING (message_id) "
        "JOIN files f ON f.sha256 = m.source_sha256 WHERE a.sha256 IS NOT NULL ORDER BY 1",
    )
    files = dict(rows(case, "SELECT first_seen_path, sha256 FROM files"))
    assert linked == [
        (str(source / phone / chat), files[str(source / phone / media)])
        for phone in ("phone-a", "phone-b")
        for chat, media in (
            ("WhatsApp Chat with Sam.txt", "IMG-20240101-WA0001.jpg"),
            ("telegram/result.json", "telegram/photos/photo_1.jpg"),
        )
    ]
    assert [files[str(source / p / "IMG-20240101-WA0001.jpg")] for p in photos] == list(photos.values())
