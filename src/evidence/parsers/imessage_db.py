"""macOS Messages `chat.db` (SQLite): messages, their handles, chats and attachment names.

SQLite may write journal, -wal or -shm files next to a database it opens, so the stored original is
never opened in place: it is copied to a private temporary folder and opened read-only from there.
A damaged page loses only the rows stored in it (parsers.sqlite_rows), and text that is not UTF-8 is
kept with U+FFFD and flagged `decode_errors` instead of failing the file. Messages whose `text` is NULL
(macOS 13+) carry their text only in `attributedBody`, an NSAttributedString in Apple's typedstream
format; its NSString payload is read by a small byte scan.

The `service` column says how each message travelled: iMessage (Apple's servers), or SMS / RCS through
the carrier, which an investigator can ask the carrier about; such rows get platform `sms` or `rcs`.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from evidence.identifiers import Identifier
from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext
from evidence.parsers.registry import register
from evidence.parsers.sqlite_rows import LostRows, UnreadableTable, is_damage, table_rows
from evidence.timeutil import TimeValue, from_epoch

SQLITE_MAGIC = b"SQLite format 3\x00"
APPLE_EPOCH_OFFSET = 978_307_200  # seconds from 1970-01-01 to 2001-01-01 UTC
NANOSECOND_THRESHOLD = 100_000_000_000  # Apple dates above this are nanoseconds (macOS 10.13+)
REQUIRED_MESSAGE_COLUMNS = ("ROWID", "date", "is_from_me", "handle_id")
# associated_message_type: 2000-2005 tapbacks added, 3000-3005 removed.
REACTION_TYPES = range(2000, 3006)
RowReader = Callable[[str, str], Iterator[tuple[Any, ...]]]  # (table, columns) -> (ROWID, *columns)
# message.service -> platform (anything else, e.g. "iMessage" or none recorded, stays imessage).
CARRIER_SERVICES = {"sms": "sms", "rcs": "rcs"}


class AttributedBodyError(ValueError):
    """The typedstream blob did not hold an NSString payload where one was expected."""


def decode_attributed_body(blob: bytes) -> str:
    """Text of an NSAttributedString typedstream (the `attributedBody` column).

    Layout after the class name: `NSString` (or `NSMutableString`), a few bytes, then the `+` type marker
    (0x84 0x01 0x2B: a one-character type string "+"), then the byte length and the UTF-8 bytes. The
    length is one byte (0-127), or 0x81 + int16 LE, or 0x82 + int32 LE.
    """
    if not blob.startswith((b"\x04\x0bstreamtyped", b"\x04\x0bstreamtype")):
        raise AttributedBodyError("not a typedstream")
    start = -1
    for name in (b"NSString", b"NSMutableString"):
        pos = blob.find(name)
        if pos >= 0 and (start < 0 or pos < start):
            start = pos + len(name)
    if start < 0:
        raise AttributedBodyError("no NSString in attributedBody")
    marker = blob.find(b"\x84\x01+", start, start + 32)
    if marker < 0:
        raise AttributedBodyError("no string marker after NSString")
    pos = marker + 3
    if pos >= len(blob):
        raise AttributedBodyError("attributedBody ends after the string marker")
    tag = blob[pos]
    if tag < 0x80:
        length, pos = tag, pos + 1
    elif tag == 0x81:
        length, pos = int.from_bytes(blob[pos + 1 : pos + 3], "little", signed=True), pos + 3
    elif tag == 0x82:
        length, pos = int.from_bytes(blob[pos + 1 : pos + 5], "little", signed=True), pos + 5
    else:
        raise AttributedBodyError(f"unexpected length tag 0x{tag:02x}")
    if length < 0 or pos + length > len(blob):
        raise AttributedBodyError(f"string length {length} runs past the end of attributedBody")
    return blob[pos : pos + length].decode("utf-8")


def apple_time(value: int | float | None) -> TimeValue:
    """Apple epoch (2001-01-01 UTC) in seconds, or nanoseconds when the value is too large for seconds."""
    if value is None or value == 0:
        return TimeValue.missing(None if value is None else str(value))
    seconds = value / 1_000_000_000 if abs(value) > NANOSECOND_THRESHOLD else value
    return from_epoch(seconds + APPLE_EPOCH_OFFSET, str(value))


def _file_name(path: str | None) -> str | None:
    """Last component of a macOS (or Windows) attachment path; the path itself is never used."""
    if not path:
        return None
    return PureWindowsPath(PurePosixPath(path).name).name or None


@register
class IMessageDbParser(Parser):
    name = "imessage_db"
    # 2: platform sms / rcs for messages the service column says went through the carrier
    # 3: rows past a damaged page and text that is not UTF-8 are read (they failed the file)
    version = "3"
    platform = "imessage"
    description = "macOS Messages chat.db (SQLite)"

    def sniff(self, sample: Sample) -> bool:
        head = sample.head
        if not head.startswith(SQLITE_MAGIC):
            return False
        if b"chat_message_join" in head and b"handle" in head:
            return True
        # A big chat.db can keep part of its schema beyond the first pages; its usual name then decides,
        # and parse() checks the tables (a wrong guess fails with a reason rather than being mis-parsed).
        return sample.name.lower() == "chat.db"

    def parse(self, ctx: ParseContext) -> None:
        with tempfile.TemporaryDirectory(prefix="evidence-chatdb-") as tmp:
            copy = Path(tmp) / "chat.db"
            shutil.copyfile(ctx.path, copy)
            wal_sha = ctx.siblings.get(f"{ctx.name}-wal")
            if wal_sha:
                # Recent messages may only be in the write-ahead log: read it too, from our copy.
                shutil.copyfile(ctx.store.path_for(wal_sha), Path(tmp) / "chat.db-wal")
                ctx.warn(f"{ctx.name}-wal found next to the database and read with it")
                uri = f"{copy.as_uri()}?mode=rw"
            else:
                with open(copy, "rb") as handle:
                    header = handle.read(20)
                if header[18:20] == b"\x02\x02":
                    ctx.warn(
                        "database is in WAL mode but no -wal file was found next to it: "
                        "recent messages may be missing from this copy"
                    )
                uri = f"{copy.as_uri()}?mode=ro&immutable=1"
            try:
                con = sqlite3.connect(uri, uri=True)
            except sqlite3.Error as exc:
                raise ValueError(f"SQLite cannot open the file: {exc}") from exc
            # text that is not UTF-8 keeps its bytes as lone surrogates, which staging turns into U+FFFD
            # with a decode_errors flag on the message (db.build_table); SQLite would fail the file
            con.text_factory = _text
            try:
                con.execute("PRAGMA query_only = 1")
                self._read(ctx, con)
            except sqlite3.DatabaseError as exc:
                raise ValueError(f"SQLite could not read the database: {exc}") from exc
            finally:
                con.close()

    # --- reading --------------------------------------------------------------------------------
    def _read(self, ctx: ParseContext, con: sqlite3.Connection) -> None:
        tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "message" not in tables or "handle" not in tables:
            found = ", ".join(sorted(tables)) or "none"
            raise ValueError(
                f"not an iMessage chat.db: tables message and handle are required (found: {found})"
            )
        columns = {row[1] for row in con.execute("PRAGMA table_info(message)")}
        missing = [c for c in REQUIRED_MESSAGE_COLUMNS if c.lower() not in {x.lower() for x in columns}]
        if missing:
            raise ValueError(f"not an iMessage chat.db: message table lacks {', '.join(missing)}")

        def col(name: str) -> str:
            return name if name in columns else "NULL"

        rows = _table_reader(ctx, con)
        handles = {rowid: hid for rowid, hid in rows("handle", "id")}
        chats = self._chats(con, tables, handles, rows)
        attachments = self._attachments(con, tables, rows)
        owner_label, owner_ident = self._owner(ctx)

        wanted = (
            f"guid, {col('text')}, {col('attributedBody')}, handle_id, date, is_from_me, {col('subject')}, "
            f"{col('service')}, {col('associated_message_type')}"
        )
        for rowid, guid, text, blob, handle_id, date, from_me, subject, service, assoc in rows(
            "message", wanted
        ):
            locator = f"message/{rowid}"
            flags: list[str] = []
            body = text
            if isinstance(blob, bytes) and blob:
                try:
                    decoded: str | None = decode_attributed_body(blob)
                except (AttributedBodyError, UnicodeDecodeError) as exc:
                    decoded = None
                    if not text:
                        flags.append("body_undecoded")
                        ctx.warn(f"attributedBody could not be decoded: {exc}", locator=locator)
                if not text and decoded is not None:
                    body = decoded
                elif text and decoded is not None and _norm(decoded) != _norm(text):
                    flags.append("attributed_body_differs")
            if isinstance(assoc, int) and assoc in REACTION_TYPES:
                flags.append("reaction")

            handle = handles.get(handle_id) if handle_id else None
            chat_name, participants = chats.get(rowid, (None, []))
            others = participants or ([handle] if handle else [])
            conversation = chat_name or (", ".join(others) if others else None)
            if from_me:
                sender, sender_ident, direction = owner_label, owner_ident, "outgoing"
                recipients = others
            else:
                sender, direction = handle, "incoming"
                sender_ident = self._identifier(ctx, handle)
                recipients = [*(p for p in participants if p != handle), owner_label]
            recipient_idents = [
                i for i in (self._identifier(ctx, r) for r in recipients if r != owner_label) if i is not None
            ]
            if not from_me and owner_ident is not None:
                recipient_idents.append(owner_ident)
            platform = CARRIER_SERVICES.get(str(service or "").lower(), self.platform)
            message_id = ctx.add_message(
                platform=platform,
                kind="message",
                locator=locator,
                time=apple_time(date),
                body=body,
                sender=sender,
                sender_identifier=sender_ident,
                recipients=recipients,
                recipient_identifiers=recipient_idents,
                conversation=conversation,
                subject=subject or None,
                external_id=guid,
                direction=direction,
                flags=flags,
            )
            for att_rowid, name, mime in attachments.get(rowid, []):
                ctx.add_attachment(
                    message_id,
                    locator=f"{locator}/attachment/{att_rowid}",
                    file_name=name,
                    mime=mime,
                    sha256=ctx.siblings.get(name) if name else None,
                )

    def _chats(
        self, con: sqlite3.Connection, tables: set[str], handles: dict[int, str], rows: RowReader
    ) -> dict[int, tuple[str | None, list[str]]]:
        """message ROWID -> (chat name, participant handles), from the first chat a message belongs to."""
        if "chat_message_join" not in tables:
            return {}
        names: dict[int, str | None] = {}
        if "chat" in tables:
            chat_cols = {row[1] for row in con.execute("PRAGMA table_info(chat)")}
            display = "display_name" if "display_name" in chat_cols else "NULL"
            ident = "chat_identifier" if "chat_identifier" in chat_cols else "NULL"
            for rowid, dn, ci in rows("chat", f"{display}, {ident}"):
                names[rowid] = dn or ci or None
        members: dict[int, list[str]] = {}
        if "chat_handle_join" in tables:
            for chat_id, handle_id in sorted(_pairs(rows("chat_handle_join", "chat_id, handle_id"))):
                if handle_id in handles and handles[handle_id] not in members.setdefault(chat_id, []):
                    members[chat_id].append(handles[handle_id])
        result: dict[int, tuple[str | None, list[str]]] = {}
        for message_id, chat_id in sorted(_pairs(rows("chat_message_join", "message_id, chat_id"))):
            result.setdefault(message_id, (names.get(chat_id), members.get(chat_id, [])))
        return result

    def _attachments(
        self, con: sqlite3.Connection, tables: set[str], rows: RowReader
    ) -> dict[int, list[tuple[int, str | None, str | None]]]:
        """message ROWID -> [(attachment ROWID, file name, mime)]; names only, never paths."""
        if "attachment" not in tables or "message_attachment_join" not in tables:
            return {}
        cols = {row[1] for row in con.execute("PRAGMA table_info(attachment)")}
        pick = [c if c in cols else "NULL" for c in ("transfer_name", "filename", "mime_type")]
        found = {rowid: rest for rowid, *rest in rows("attachment", ", ".join(pick))}
        joins = _pairs(rows("message_attachment_join", "attachment_id, message_id"))
        result: dict[int, list[tuple[int, str | None, str | None]]] = {}
        for rowid, message_id in sorted(joins, key=lambda pair: pair[0]):  # attachments in ROWID order
            if rowid in found:
                transfer, filename, mime = found[rowid]
                result.setdefault(message_id, []).append(
                    (rowid, _file_name(transfer) or _file_name(filename), mime)
                )
        return result

    @staticmethod
    def _identifier(ctx: ParseContext, handle: str | None) -> Identifier | None:
        """iMessage handles are phone numbers or Apple ID e-mail addresses."""
        if not handle:
            return None
        return ctx.identifier("email" if "@" in handle else "phone", handle)

    def _owner(self, ctx: ParseContext) -> tuple[str, Identifier | None]:
        """The account owner: their first --owner that is a phone or e-mail address, else "me"."""
        for raw in ctx.options.owners:
            ident = self._identifier(ctx, raw)
            if ident is not None and "not_a_number" not in ident.flags:
                return ident.value, ident
        return (ctx.options.owners[0] if ctx.options.owners else "me"), None


def _norm(text: str) -> str:
    """Text compared without the attachment placeholders (U+FFFC) and outer whitespace."""
    return text.replace("\ufffc", "").strip()


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _pairs(rows: Iterator[tuple[Any, ...]]) -> list[tuple[int, int]]:
    """The two ids of each row of a join table (its ROWID dropped); rows with a missing id are left out."""
    return [(a, b) for _, a, b in rows if isinstance(a, int) and isinstance(b, int)]


def _report_lost(ctx: ParseContext, table: str, lost: LostRows) -> None:
    ctx.warn(f"damaged database: in table {table}, {lost.describe()}", locator=table)


def _table_reader(ctx: ParseContext, con: sqlite3.Connection) -> RowReader:
    """Rows of a table past damaged pages. The messages are the file: a message table that cannot be read
    at all fails it. Any other table (handles, chats, attachments) costs a warning and what it names."""

    def rows(table: str, wanted: str) -> Iterator[tuple[Any, ...]]:
        try:
            yield from table_rows(con, table, wanted, lambda lost: _report_lost(ctx, table, lost))
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            unreadable(table, exc)
        except UnreadableTable as exc:
            unreadable(table, exc)

    def unreadable(table: str, exc: Exception) -> None:
        if table == "message":
            raise ValueError(f"damaged database: {exc}") from exc
        ctx.warn(f"damaged database: {exc}; the messages are read without it", locator=table)

    return rows
