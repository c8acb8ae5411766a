"""What a parser writes into: ParseContext collects rows for one file; ParsedRows holds a batch's rows.

Rows are plain dicts keyed by the column names of schemas/*.sql and are written to Parquet staging files
(see staging.py); only the loader writes the database.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from evidence.acquire.store import OriginalsStore
from evidence.identifiers import Identifier, guess_identifier, normalize
from evidence.images.languages import default_ocr_lang
from evidence.parsers.rows import ParsedRows
from evidence.timeutil import DEFAULT_TZ, TimeValue

MESSAGE_KINDS = ("message", "email", "sms", "mms", "call", "system", "media", "ocr")
ROLES = ("sender", "recipient", "mentioned", "relay", "party")


@dataclass(frozen=True)
class ParseOptions:
    """Run parameters that change how files are read (and so are part of each file's parse key)."""

    tz: str = DEFAULT_TZ
    region: str = "GB"
    owners: tuple[str, ...] = ()
    ocr_lang: str = field(default_factory=default_ocr_lang)

    def key(self) -> str:
        return f"tz={self.tz};region={self.region};owners={','.join(sorted(self.owners))};ocr={self.ocr_lang}"


def message_id_for(source_sha256: str, locator: str) -> str:
    """Stable message id: the same file and place always give the same id, so re-ingest adds nothing."""
    return hashlib.blake2b(f"{source_sha256}|{locator}".encode(), digest_size=16).hexdigest()


def message_ids_for(source_sha256: str, prefix: str, numbers: Iterable[int]) -> list[str]:
    """message_id_for(source_sha256, f"{prefix}{k}") for each k, about three times faster: the hash state
    after the common part is computed once and copied (a bulk parser may need hundreds of thousands)."""
    common = hashlib.blake2b(f"{source_sha256}|{prefix}".encode(), digest_size=16)
    ids = []
    for number in numbers:
        state = common.copy()
        state.update(b"%d" % number)
        ids.append(state.hexdigest())
    return ids


@dataclass
class DerivedFile:
    """Bytes found inside an original (attachment, MMS part, embedded image), stored as an original too."""

    sha256: str
    md5: str
    size_bytes: int
    name: str
    source_path: str
    parent_sha256: str
    declared_mime: str | None


class ParseContext:
    """Everything a parser needs for one file, and the methods through which it reports what it found."""

    def __init__(
        self,
        *,
        run_id: str,
        sha256: str,
        path: Path,
        source_path: str,
        name: str,
        mime: str,
        options: ParseOptions,
        store: OriginalsStore,
        out: ParsedRows,
        parser_name: str,
        siblings: dict[str, str] | None = None,
        modified_at: str | None = None,
        container_sha256: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.sha256 = sha256
        self.path = path
        self.source_path = source_path
        self.name = name
        self.mime = mime
        self.options = options
        self.store = store
        self.out = out
        self.parser_name = parser_name
        self.siblings = siblings or {}
        # File system or zip entry time (UTC ISO) and the archive it came from: image time sources.
        self.modified_at = modified_at
        self.container_sha256 = container_sha256
        self.derived: list[DerivedFile] = []
        self.warning_count = 0
        self.message_count = 0
        self.retyped = 0  # values of another JSON type where text belongs, kept as their JSON text
        # Links already recorded for the message being read (a parser reports one message's identifiers
        # together): memory stays bounded by one message, not by a file's links (a 150,000-mail
        # mailbox has 660,000).
        self._links_message: str | None = None
        self._links_seen: set[tuple[str, str]] = set()
        # the same reading of --owner as the actor rules' (identifiers.guess_identifier)
        self._owner_names = {" ".join(o.split()).casefold() for o in options.owners if o.strip()}
        self._owner_values = {
            i.value for i in (guess_identifier(o, options.region) for o in options.owners) if i
        }

    # --- reading -------------------------------------------------------------------------------
    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def open(self):
        return open(self.path, "rb")

    # --- reporting -----------------------------------------------------------------------------
    def warn(self, message: str, locator: str | None = None) -> None:
        """Something was malformed or guessed, but parsing went on."""
        self.warning_count += 1
        self.out.add(
            "ingest_errors",
            {
                "run_id": self.run_id,
                "source_path": self.source_path,
                "sha256": self.sha256,
                "stage": "parse",
                "error": message,
                "severity": "warning",
                "locator": locator,
            },
        )

    def add_message(
        self,
        *,
        platform: str,
        kind: str,
        locator: str,
        time: TimeValue,
        body: str | None,
        sender: str | None = None,
        sender_identifier: Identifier | None = None,
        recipients: list[str] | None = None,
        recipient_identifiers: list[Identifier] | None = None,
        conversation: str | None = None,
        subject: str | None = None,
        external_id: str | None = None,
        direction: str | None = None,
        flags: list[str] | tuple[str, ...] = (),
    ) -> str:
        """Record one message; returns its message_id. Sender/recipient identifiers are linked too."""
        if kind not in MESSAGE_KINDS:
            raise ValueError(f"unknown message kind {kind!r}")
        message_id = message_id_for(self.sha256, locator)
        if direction is None and self._owner_values:
            if sender_identifier is not None and sender_identifier.value in self._owner_values:
                direction = "outgoing"
            elif sender_identifier is not None:
                direction = "incoming"
            elif sender and sender.strip():  # exports that name senders only (Instagram): by the name
                direction = (
                    "outgoing" if " ".join(sender.split()).casefold() in self._owner_names else "incoming"
                )
        sender, conversation, subject, external_id, body = (
            self.text(v) for v in (sender, conversation, subject, external_id, body)
        )
        recipients = [self.text(r) for r in recipients or []]  # type: ignore[misc]
        # a sender read from damaged text makes the message's text damaged too
        damaged = sender_identifier is not None and "decode_errors" in sender_identifier.flags
        all_flags = list(dict.fromkeys([*time.flags, *flags, *(["decode_errors"] if damaged else [])]))
        self.out.add(
            "messages",
            {
                "message_id": message_id,
                "platform": platform,
                "conversation": conversation,
                "sender": sender,
                "sender_identifier": sender_identifier.value if sender_identifier else None,
                "recipients": recipients or [],
                "sent_at_utc": time.utc,
                "sent_at_local": self.text(time.local_text),
                "tz_source": time.tz_source,
                "time_precision": time.precision,
                "kind": kind,
                "body": body,
                "source_sha256": self.sha256,
                "source_locator": locator,
                "duplicate_of": None,
                "subject": subject,
                "external_id": external_id,
                "direction": direction,
                "flags": all_flags,
                "parser": self.parser_name,
            },
        )
        self.message_count += 1
        if sender_identifier is not None:
            self.link_identifier(message_id, sender_identifier, "sender")
        for ident in recipient_identifiers or ():
            self.link_identifier(message_id, ident, "recipient")
        return message_id

    def link_identifier(self, message_id: str, ident: Identifier, role: str) -> None:
        """Record an identifier and its role in a message (once per message and role)."""
        if role not in ROLES:
            raise ValueError(f"unknown identifier role {role!r}")
        if message_id != self._links_message:
            self._links_message, self._links_seen = message_id, set()
        key = (ident.identifier_id, role)
        if key in self._links_seen:
            return  # (the loader also keeps one row per key, should a parser come back to a message)
        self._links_seen.add(key)
        self.out.add("identifiers", ident.row())
        self.out.add(
            "message_identifiers",
            {"message_id": message_id, "identifier_id": ident.identifier_id, "role": role},
        )

    def add_attachment(
        self,
        message_id: str,
        *,
        locator: str,
        file_name: str | None,
        mime: str | None,
        data: bytes | None = None,
        sha256: str | None = None,
    ) -> str | None:
        """List an attachment; its bytes (when present) are stored as an original and parsed in turn."""
        file_name, mime = self.text(file_name), self.text(mime)
        size = None
        if data is not None:
            derived = self.store_derived(data, name=file_name or "attachment", locator=locator, mime=mime)
            sha256, size = derived.sha256, derived.size_bytes
        if mime is None and file_name:
            mime = mimetypes.guess_type(file_name)[0]
        self.out.add(
            "attachments",
            {
                "message_id": message_id,
                "file_name": file_name,
                "mime": mime,
                "sha256": sha256,
                "size_bytes": size,
                "locator": locator,
            },
        )
        return sha256

    def store_derived(self, data: bytes, *, name: str, locator: str, mime: str | None = None) -> DerivedFile:
        """Store bytes found inside this original; the extractor detects and parses them afterwards."""
        blob = self.store.put_bytes(data)
        derived = DerivedFile(
            sha256=blob.sha256,
            md5=blob.md5,
            size_bytes=blob.size_bytes,
            name=name,
            source_path=f"{self.source_path}#{locator}",
            parent_sha256=self.sha256,
            declared_mime=mime,
        )
        self.derived.append(derived)
        return derived

    def read_alone(self, locator: str, read: Callable[[], object], what: str = "message") -> None:
        """Run read() for one item of a container (a message of an export, an item of a backup): a failure
        nobody foresaw while reading it (a field of a type the format does not use, a damaged value) skips
        that item with a warning naming it, and the file goes on. A failure after the item was recorded
        still fails the file: recording it again would give two rows one id."""
        before = self.message_count
        try:
            read()
        except (TypeError, AttributeError, KeyError, IndexError, ValueError, OverflowError) as exc:
            if self.message_count != before:
                raise
            self.warn(f"{what} could not be read ({type(exc).__name__}: {exc}); skipped", locator)

    def text(self, value: object) -> str | None:
        """A value for a text column. Exports write text there; a value of another JSON type (a number, a
        list: a damaged or edited file, or an exporter version nobody has seen) is kept as its JSON text
        and counted (the file gets one warning), rather than failing the whole file at staging."""
        if value is None or isinstance(value, str):
            return value
        self.retyped += 1
        return json.dumps(value, ensure_ascii=False, default=str)

    def identifier(self, kind: str, raw: str | None) -> Identifier | None:
        """Normalise a raw identifier with the run's phone region; None for empty or invalid input, and for
        a list or object where an export writes an id (counted like ParseContext.text: no identifier is
        made of such a value's spelling; a number is taken as the digits it is)."""
        if raw is not None and not isinstance(raw, str):
            self.retyped += 1
            raw = id_text(raw)
        if not raw or not raw.strip():
            return None
        return normalize(kind, raw, self.options.region)

    def owner_phone(self) -> tuple[str, Identifier | None]:
        """How the account owner appears in phone-based exports: their number from --owner, else "me"."""
        for raw in self.options.owners:
            if "@" in raw:
                continue
            ident = self.identifier("phone", raw)
            if ident is not None and "not_a_number" not in ident.flags:
                return ident.value, ident
        return (self.options.owners[0] if self.options.owners else "me"), None

    def is_owner(self, ident: Identifier | None) -> bool:
        return ident is not None and ident.value in self._owner_values


def id_text(value: object) -> str | None:
    """An id or name as exports write it, text or a whole number, as text; None for a list, an object, a
    boolean or a fraction (a damaged or edited file), so that no identifier is spelled from one."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def parse_key(parser_name: str, version: str, options_key: str) -> str:
    """What decides whether a file must be parsed again: parser, its version and the parse options."""
    return f"{parser_name}@{version};{options_key}"


def sibling_sha256(ctx: ParseContext, reference: str | None) -> str | None:
    """SHA-256 of a file exported next to this one, by the name or relative path the export uses.

    Acquisition keys siblings by base name, so "photos/photo_1.jpg" is looked up as written, then as
    "photo_1.jpg". None when the export did not include the file.
    """
    if not reference or not isinstance(reference, str):
        return None
    if reference in ctx.siblings:
        return ctx.siblings[reference]
    name = PurePosixPath(reference.replace("\\", "/")).name
    return ctx.siblings.get(name) if name else None
