"""Append-only, hash-chained custody log: CASE_DIR/custody.log, one JSON object per line.

Each entry carries the SHA-256 of the previous line, so any edit, insertion or deletion breaks the chain
from that point. Anyone with write access could rebuild the whole chain, which is why reports print the
head hash: recorded elsewhere, it anchors the log.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evidence import __version__
from evidence.text import escape_path, escape_strings, has_surrogates

GENESIS = "0" * 64


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def default_examiner() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class CustodyLog:
    """Appends entries under an exclusive lock, so parallel workers keep one unbroken chain."""

    def __init__(self, path: Path, examiner: str | None = None) -> None:
        self.path = Path(path)
        self.examiner = examiner or default_examiner()

    def append(self, action: str, **details: Any) -> dict[str, Any]:
        """Write one entry and fsync it; returns the entry as written."""
        return self.append_many([(action, details)])[-1]

    def append_many(self, entries: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Write several entries under one lock and one fsync (used for per-file records of a run)."""
        written: list[dict[str, Any]] = []
        if not entries:
            return written
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                tail = _tail(handle)
                seq, prev = tail.seq, tail.prev
                chunks = [] if tail.ends_in_newline else [b"\n"]  # a cut last line stays a line of its own
                if tail.cut:
                    entries = [("custody_log_cut_line_found", {"line_sha256": prev}), *entries]
                for action, details in entries:
                    seq += 1
                    entry = {
                        "seq": seq,
                        "time_utc": datetime.now(UTC).isoformat(timespec="microseconds"),
                        "examiner": self.examiner,
                        "action": action,
                        "tool_version": __version__,
                        "details": details,
                        "prev": prev,
                    }
                    line = _json_line(entry)
                    prev = line_hash(line)
                    chunks.append(line + b"\n")
                    written.append(entry)
                handle.seek(0, os.SEEK_END)
                handle.write(b"".join(chunks))
                handle.flush()
                os.fsync(handle.fileno())
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return written

    def head(self) -> str:
        """Hash of the last line: print it in reports so the chain can be anchored elsewhere."""
        if not self.path.exists():
            return GENESIS
        with open(self.path, "rb") as handle:
            return _tail(handle).prev


# Characters that str.splitlines() (and many editors) take for a line break although JSON leaves them raw:
# escaped, so a name holding one cannot split an entry for readers that split lines that way.
_LINE_BREAKS = {"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _json_line(entry: dict[str, Any]) -> bytes:
    """One entry as one line of UTF-8 JSON. Text that UTF-8 cannot hold (a file name that was not UTF-8,
    read with surrogateescape) is written escaped (evidence.text) rather than failing the entry."""
    text = json.dumps(entry, sort_keys=True, ensure_ascii=False, default=str)
    if has_surrogates(text):
        text = json.dumps(
            escape_strings(entry), sort_keys=True, ensure_ascii=False, default=lambda o: escape_path(str(o))
        )
    for char, escaped in _LINE_BREAKS.items():
        if char in text:
            text = text.replace(char, escaped)
    return text.encode()


@dataclass(frozen=True)
class _Tail:
    seq: int  # sequence number of the last entry that reads as JSON
    prev: str  # hash of the last line as it is, whole or not
    cut: bool  # the last line is not a whole entry (a write cut short, or an edit)
    ends_in_newline: bool


def _tail(handle: Any) -> _Tail:
    """Where the chain goes on, reading backwards from the end.

    A last line that is not JSON (a crash or a full disk in the middle of a write) is kept as it is: the next
    entry links to its hash and takes its sequence number from the last whole entry, and `check_chain`
    names the cut line. Nothing in the log is ever rewritten.
    """
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    if end == 0:
        return _Tail(0, GENESIS, False, True)
    handle.seek(end - 1)
    ends_in_newline = handle.read(1) == b"\n"
    last_hash: str | None = None
    for line in _lines_from_end(handle):
        if last_hash is None:
            last_hash = line_hash(line)
        try:
            entry = json.loads(line)
            return _Tail(int(entry["seq"]), last_hash, line_hash(line) != last_hash, ends_in_newline)
        except (ValueError, KeyError, TypeError):
            continue
    return _Tail(0, last_hash or GENESIS, last_hash is not None, ends_in_newline)


def _lines_from_end(handle: Any, block: int = 65536) -> Iterator[bytes]:
    """The file's lines, the last first (newlines at its very end left out), read in blocks from the end:
    the cost follows how far back the caller reads, not the size of the log."""
    handle.seek(0, os.SEEK_END)
    pos = handle.tell()
    rest = b""
    at_end = True
    while pos > 0:
        step = min(block, pos)
        pos -= step
        handle.seek(pos)
        data = handle.read(step) + rest
        if at_end:
            data = data.rstrip(b"\n")
            at_end = not data and pos > 0
        lines = data.split(b"\n")
        rest = lines[0] if pos else b""  # may be cut by the block boundary until the file's start is read
        yield from reversed(lines[1:] if pos else lines)


@dataclass(frozen=True)
class ChainProblem:
    line_number: int
    problem: str


def run_finished(path: Path, run_id: str) -> bool:
    """Whether the log records the run as finished (its ingest_finished entry).

    Read from the end back to the run's ingest_started entry at most: every entry of a run comes after
    that one, so a load (whose run is at the end of the log) reads its own entries, not a case's months of
    them."""
    if not Path(path).exists():
        return False
    needle = json.dumps(run_id).encode()
    with open(path, "rb") as handle:
        for line in _lines_from_end(handle):
            if needle not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or (entry.get("details") or {}).get("run_id") != run_id:
                continue
            if entry.get("action") == "ingest_finished":
                return True
            if entry.get("action") == "ingest_started":
                return False
    return False


def iter_entries(path: Path) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as handle:
        yield from enumerate(handle, start=1)


def check_chain(path: Path) -> list[ChainProblem]:
    """Every problem in the chain: bad JSON, a broken prev link, or a sequence gap."""
    problems: list[ChainProblem] = []
    if not path.exists():
        return [ChainProblem(0, f"{path.name} is missing")]
    prev = GENESIS
    expected_seq = 1
    for number, line in iter_entries(path):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            problems.append(ChainProblem(number, "line is not valid JSON"))
            prev = line_hash(line)
            continue
        if entry.get("prev") != prev:
            problems.append(
                ChainProblem(number, "hash of the previous line does not match (edited, inserted or removed)")
            )
        if entry.get("seq") != expected_seq:
            problems.append(
                ChainProblem(number, f"sequence number {entry.get('seq')} where {expected_seq} was expected")
            )
        expected_seq = int(entry.get("seq", expected_seq)) + 1
        prev = line_hash(line)
    return problems
