"""Every one-character damage to a chat header never moves words to another sender unflagged.

A header line that cannot be read as one joins the message before it, under that message's sender: the
victim's "please stop" inside the stalker's message. The readers flag such a message
(`damaged_header_inside`). This sweep damages one header of a small export at every position of its date,
time, separator and name (the character deleted, two deleted, replaced by a line break or one of a few
characters, or a line break inserted) and checks, in each copy, that every message holding words of a
message by someone else is flagged. Each message ends with its own word ("w003"); a message's first word
is its own even when its sender's name was damaged (a changed label, not another person).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import evidence.parsers.whatsapp.bulk as bulk
from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions
from evidence.parsers.rows import ParsedRows
from evidence.pipeline.extract import extract_items

SENDERS = ("Bob", "Alice Smith", "+44 7700 900123")
# (header of message i, the file name that makes it that format)
STYLES = {
    "android": (lambda i: f"03/01/2023, 08:{i:02d} - {SENDERS[i % 3]}: ", "WhatsApp Chat with Bob.txt"),
    "us": (lambda i: f"1/3/23, 8:{i:02d}\u202fAM - {SENDERS[i % 3]}: ", "WhatsApp Chat with Bob.txt"),
    "ios": (lambda i: f"[03/01/2023, 08:{i:02d}:15] {SENDERS[i % 3]}: ", "WhatsApp Chat with Bob.txt"),
    "signal": (lambda i: f"[2023-01-03, 08:{i:02d}] {SENDERS[i % 3]}: ", "Bob.txt"),
}
MESSAGES = 6
DAMAGED = 3  # the header damaged: between messages by two other people
WORD = re.compile(r"\bw\d{3}\b")
REPLACEMENTS = ("X", " ", ":", "]", "\n")


def _read(path: Path, tmp: Path) -> list[dict]:
    """The messages read from one file; the file must be read (a reader that failed would read nothing and
    pass the sweep)."""
    store = OriginalsStore(tmp / "originals")
    blob = store.put_file(path)
    item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), path.name)
    out = extract_items([item], store=store, run_id="t", options=ParseOptions(), out=ParsedRows())
    assert [f["status"] for f in out.rows["run_files"]] == ["parsed"], out.rows["ingest_errors"]
    assert MESSAGES - 1 <= len(out.rows["messages"]) <= MESSAGES + 1
    return out.rows["messages"]


def _read_text(folder: Path, name: str, text: str) -> list[dict]:
    """The messages read from `text` written as folder/name."""
    folder.mkdir()
    (folder / name).write_text(text, encoding="utf-8", newline="")
    return _read(folder / name, folder)


def _moved_words(messages: list[dict], owner: dict[str, str], flags: set[str], done: str) -> list[tuple]:
    """(what was done, word, sender) for each word in an unflagged message whose author is someone else;
    a message's first word is its own."""
    moved = []
    for message in messages:
        if flags & set(message["flags"] or ()):
            continue
        words = WORD.findall(message["body"] or "")
        moved += [(done, word, message["sender"]) for word in words[1:] if owner[word] != message["sender"]]
    return moved


def _damaged_copies(header: str, positions: int | None = None) -> list[tuple[str, str]]:
    """(what was done, the damaged header) for every position of the header (by default all but its last
    character, the space after the colon)."""
    copies = []
    for at in range(len(header) - 1 if positions is None else positions):
        copies.append((f"{at} deleted", header[:at] + header[at + 1 :]))
        copies.append((f"{at}-{at + 1} deleted", header[:at] + header[at + 2 :]))
        copies.append((f"line break before {at}", header[:at] + "\n" + header[at:]))
        for replacement in REPLACEMENTS:
            copies.append((f"{at} -> {replacement!r}", header[:at] + replacement + header[at + 1 :]))
    return copies


@pytest.mark.parametrize(
    ("style", "whatsapp_path", "system_line"),
    [(style, "bulk", False) for style in ("android", "us", "ios")]
    + [(style, "streaming", False) for style in sorted(STYLES)]
    + [(style, path, True) for style in ("android", "us") for path in ("bulk", "streaming")],
)
def test_no_damaged_header_moves_words_to_another_sender_unflagged(
    style: str, whatsapp_path: str, system_line: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """system_line: the damaged line is an Android system line ("date, time - text", no name, no sender);
    its text inside a person's message is as wrong. Known and left: a letter in place of its dash, or the
    dash lost with a space beside it, which leaves what a person types ("03/01/2023, 08:03 I saw him")."""
    # WhatsApp's bulk path reads large files only; made to read these (its candidates are found by RE2)
    monkeypatch.setattr(bulk, "FAST_MIN_BYTES", 0 if whatsapp_path == "bulk" else 1 << 62)
    taken: list[bool] = []
    fast_parse = bulk.fast_parse
    monkeypatch.setattr(bulk, "fast_parse", lambda ctx: taken.append(fast_parse(ctx)) or taken[-1])
    header_of, name = STYLES[style]
    bodies = [f"words of this message w{i:03d}" for i in range(MESSAGES)]
    headers = [header_of(i) for i in range(MESSAGES)]
    senders = [SENDERS[i % 3] for i in range(MESSAGES)]
    if system_line:
        headers[DAMAGED] = headers[DAMAGED][: headers[DAMAGED].rindex(" - ") + 3]
        senders[DAMAGED] = None
    clean = [headers[i] + bodies[i] for i in range(MESSAGES)]
    read = _read_text(tmp_path / "clean", name, "\n".join(clean) + "\n")
    owner = {WORD.search(m["body"]).group(): m["sender"] for m in read}
    assert owner == {f"w{i:03d}": senders[i] for i in range(MESSAGES)}
    assert any(taken) == (whatsapp_path == "bulk" and style != "signal")

    moved = []
    header = headers[DAMAGED]
    copies = _damaged_copies(header, len(header) if system_line else None)
    if system_line:  # left: what remains is a date and time followed by words, as a person types them
        dash = header.rindex("-")
        left = {f"{dash} -> 'X'", f"{dash - 1}-{dash} deleted", f"{dash}-{dash + 1} deleted"}
        copies = [(done, damaged) for done, damaged in copies if done not in left]
    for number, (done, header) in enumerate(copies):
        lines = list(clean)
        lines[DAMAGED] = header + bodies[DAMAGED]
        read = _read_text(tmp_path / str(number), name, "\n".join(lines) + "\n")
        moved += _moved_words(read, owner, {"damaged_header_inside"}, done)
    assert len(copies) > 120
    assert moved == [], "\n".join(map(repr, moved))


MAIL_SENDERS = (
    "Alex Marsh <alex.marsh@example.org>",
    "Sam Taylor <sam.taylor@example.org>",
    "PC Jones <jones@police.example.uk>",
)
# Left as text, not flagged: "From " with two letters lost at its start ("om alex@...", "Fm", "Fr") is too
# close to a line of prose after a blank one.
KNOWN = {"separator": {"0-1 deleted", "1-2 deleted", "2-3 deleted"}, "from_header": set()}


def _mail(i: int) -> list[str]:
    """One mail of an mbox in three parts: its separator line, its From header, the rest."""
    return [
        f"From alex@example.org Mon Jan  {i + 1} 08:00:00 2024\n",
        f"From: {MAIL_SENDERS[i % 3]}\n",
        f"To: Sam Taylor <sam.taylor@example.org>\nSubject: message {i}\n"
        f"Date: Mon, {i + 1} Jan 2024 08:00:00 +0000\nMessage-ID: <m{i}@example.org>\n\n"
        f"words of this mail w{i:03d}\n\n",
    ]


@pytest.mark.parametrize(("part", "name"), [(0, "separator"), (1, "from_header")])
def test_no_damaged_mbox_separator_or_sender_moves_a_mail_into_another_unflagged(
    part: int, name: str, tmp_path: Path
) -> None:
    """The same sweep over an mbox: the separator line or the From header of the fourth of six mails.
    A mail read into the one before it must be flagged (`separator_damaged`, `headers_damaged`).
    Known and left: two letters lost at the very start of "From " (3 copies of 368)."""
    mails = [_mail(i) for i in range(MESSAGES)]
    read = _read_text(tmp_path / "clean", "mail.mbox", "".join("".join(m) for m in mails))
    owner = {WORD.search(m["body"]).group(): m["sender"] for m in read}
    assert len(set(owner.values())) == 3

    moved = []
    copies = [(done, line) for done, line in _damaged_copies(mails[DAMAGED][part]) if done not in KNOWN[name]]
    for number, (done, line) in enumerate(copies):
        damaged = [list(m) for m in mails]
        damaged[DAMAGED][part] = line
        read = _read_text(tmp_path / str(number), "mail.mbox", "".join("".join(m) for m in damaged))
        moved += _moved_words(read, owner, {"separator_damaged", "headers_damaged"}, done)
    assert len(copies) > 300
    assert moved == [], "\n".join(map(repr, moved))
