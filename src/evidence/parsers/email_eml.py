"""One RFC 5322 mail message (.eml, or any text file that is a mail message).

`read_message` is the one place a raw message becomes rows; the mbox parser calls it for every message
and the Outlook parser reuses its helpers, so every email looks the same whatever it came in.

Decisions an investigator should know about:

- conversation: the thread subject with reply/forward prefixes removed ("Re: Re: Fwd: hi" -> "hi"),
  because that is how a mail client groups a thread and how a victim talks about it; a message without a
  subject falls back to the mailbox or file name. The subject as written stays in `subject`.
- time: the Date header as written. Without a usable Date, the date of the topmost Received header (when
  the victim's own server accepted the mail) is used and flagged `date_from_received`; without either
  the message has no time and is flagged `no_date`.
- malformed mail is read as far as it can be: headers with raw 8-bit bytes are decoded as UTF-8 or, when
  that fails, Windows-1252/Latin-1 (flag `decode_errors`), and every defect the `email` package records
  becomes a warning with the MIME part it belongs to. Only bytes with no header fields at all fail.
- attachments: every part that is not body text (a file name, `Content-Disposition: attachment`, or a
  non-text type) is stored by hash and parsed in turn; a forwarded message (message/rfc822) is stored
  as a message of its own rather than mixed into this one's body.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from functools import lru_cache
from typing import TYPE_CHECKING

from evidence.identifiers import Identifier, display_address, normalize, parse_address_list
from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_email_date

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext

PLATFORM = "email"

# --- sniffing -----------------------------------------------------------------------------------------

_FIELD = re.compile(r"^([!-9;-~]+):")
KNOWN_HEADERS = frozenset(
    {
        "from", "to", "cc", "bcc", "subject", "date", "message-id", "received", "return-path", "mime-version",
        "content-type", "content-transfer-encoding", "reply-to", "sender", "in-reply-to", "references",
        "delivered-to", "x-originating-ip", "dkim-signature", "x-mailer", "user-agent", "list-id",
        "authentication-results", "arc-seal", "x-received", "thread-topic", "thread-index",
    }
)  # fmt: skip
# Headers that prose never starts with: one of these (or a From with an address) makes it mail.
STRONG_HEADERS = frozenset(
    {
        "received", "message-id", "mime-version", "return-path", "content-type", "content-transfer-encoding",
        "delivered-to", "dkim-signature", "x-originating-ip", "in-reply-to", "references", "x-received",
        "arc-seal", "authentication-results",
    }
)  # fmt: skip
MAX_SNIFF_FIELDS = 60


def header_block(lines: Iterable[str]) -> list[tuple[str, str]] | None:
    """(name, first line of value) for a leading block of header fields; None if any line is not one."""
    fields: list[tuple[str, str]] = []
    for line in lines:
        if not line.strip():
            break
        if line[0] in " \t":
            if not fields:
                return None
            continue
        match = _FIELD.match(line)
        if not match:
            return None
        fields.append((match.group(1).lower(), line[match.end() :].strip()))
        if len(fields) >= MAX_SNIFF_FIELDS:
            break
    return fields


def looks_like_headers(fields: Sequence[tuple[str, str]] | None, *, minimum_known: int = 2) -> bool:
    """Mail, not prose: enough known fields, and a field prose never has or a From with an address."""
    if not fields:
        return False
    names = {name for name, _ in fields}
    if len(names & KNOWN_HEADERS) < minimum_known:
        return False
    if names & STRONG_HEADERS:
        return True
    return any(name == "from" and "@" in value for name, value in fields)


def sample_lines(sample: Sample) -> list[str]:
    """Lines of the head decoded byte for byte (latin-1 never fails), without line ends."""
    text = sample.head.decode("latin-1").lstrip("\ufeff").lstrip("\xef\xbb\xbf")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# --- decoding helpers ----------------------------------------------------------------------------------


@dataclass
class MessageState:
    """What one message collects while it is read: warnings are sent at once, flags go on the row."""

    ctx: ParseContext
    locator: str
    flags: list[str] = field(default_factory=list)

    def warn(self, text: str, locator: str | None = None) -> None:
        self.ctx.warn(text, locator or self.locator)

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


def _has_surrogates(text: str) -> bool:
    if text.isascii():  # most header values and bodies: checked in C
        return False
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def decode_8bit(data: bytes) -> tuple[str, str, bool]:
    """Bytes of unknown charset -> (text, charset used, lossy). UTF-8 when it is mostly UTF-8, else cp1252."""
    try:
        return data.decode("utf-8"), "utf-8", False
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", errors="replace")
    bad = lenient.count("\ufffd")
    good = sum(1 for ch in lenient if ord(ch) > 127 and ch != "\ufffd")
    if good > bad:
        return lenient, "utf-8", True
    try:
        return data.decode("cp1252"), "windows-1252", True
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1", True


def clean_text(text: str, state: MessageState, what: str) -> str:
    """Turn raw bytes the parser kept as surrogates into characters, with a warning and a flag."""
    if not _has_surrogates(text):
        return text
    raw = text.encode("utf-8", errors="surrogateescape")
    decoded, charset, _ = decode_8bit(raw)
    state.warn(
        f"{what} contains undecodable 8-bit bytes (raw, or in an unknown charset); decoded as {charset}"
    )
    state.flag("decode_errors")
    return decoded


def decode_payload(data: bytes, charset: str | None, state: MessageState, locator: str) -> str:
    """Body bytes -> text in the declared charset, falling back (with a warning) when it does not fit."""
    declared = (charset or "us-ascii").strip().lower()
    try:
        codecs.lookup(declared)
    except (LookupError, ValueError):  # unknown name, or one with a NUL in it
        state.warn(f"unknown charset {declared!r}; decoded as UTF-8 or Windows-1252", locator)
        state.flag("decode_errors")
        return decode_8bit(data)[0]
    try:
        return data.decode(declared)
    except (LookupError, ValueError):  # invalid bytes (UnicodeError), or a non-text codec such as rot13
        text, used, _ = decode_8bit(data)
        state.warn(f"text is not valid {declared}; decoded as {used}", locator)
        state.flag("decode_errors")
        return text


def html_to_text(html: str) -> str:
    """Readable text of an HTML body: scripts and styles dropped, one line per block, no blank runs."""
    from bs4 import BeautifulSoup  # only mails with an HTML body pay for importing it

    soup = BeautifulSoup(html, "lxml")
    for node in soup(["script", "style", "head", "title"]):
        node.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")
    text = soup.get_text("\n")
    lines = [" ".join(line.split()) for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def tidy_body(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").rstrip()


_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|wg|sv|vs|antw|tr|rif|r)(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)


def thread_subject(subject: str | None) -> str | None:
    """Subject without reply/forward prefixes, the key a mail client threads by."""
    if not subject:
        return None
    text = " ".join(_PREFIX.sub("", subject).split())
    return text or None


# --- headers -------------------------------------------------------------------------------------------


def raw_headers(msg: Message, name: str) -> list[str]:
    """Every value of a header exactly as in the source (bytes kept as surrogates), unfolded."""
    lower = name.lower()
    return [" ".join(str(v).split()) for k, v in msg.raw_items() if k.lower() == lower]


# A mailbox meets the same few senders, recipients and subjects thousands of times, and the email
# package's header parser is slow: parsed values are cached by (header name, raw value). Bounded, so a
# mailbox of distinct values costs a little memory and no more.
_HEADER_CACHE_SIZE = 4096


@lru_cache(maxsize=_HEADER_CACHE_SIZE)
def _decoded_header(name: str, value: str) -> tuple[str | None, str | None]:
    """(decoded text, None), or (None, why it failed): str() of policy.default's header object."""
    try:
        return str(policy.default.header_factory(name, value)), None
    except Exception as exc:  # a header the email package cannot model
        return None, str(exc)


def header_text(msg: Message, name: str, state: MessageState) -> str | None:
    """First value of a header as readable text: raw bytes repaired, RFC 2047 words decoded."""
    values = raw_headers(msg, name)
    if not values:
        return None
    value = clean_text(values[0], state, f"{name} header")
    text, error = _decoded_header(name, value)
    if text is None:  # keep it as written
        state.warn(f"{name} header could not be decoded ({error}); kept as written")
        return value
    return clean_text(text, state, f"{name} header")


@dataclass
class Party:
    """One address from an address header, as shown and as an identifier."""

    shown: str
    identifier: Identifier | None


def address_header(msg: Message, name: str, state: MessageState) -> list[Party]:
    """All addresses in every instance of an address header (From, To, Cc, Bcc)."""
    parties: list[Party] = []
    for raw in raw_headers(msg, name):
        value = clean_text(raw, state, f"{name} header")
        defects, strict, error = _parsed_addresses(name, value)
        for defect in defects:
            state.warn(f"{name} header: {defect}")
        pairs: list[tuple[str, str]] = []
        if error is None:
            # Encoded words in an unknown charset come back with surrogates too.
            pairs = [
                (clean_text(display, state, f"{name} header"), clean_text(addr, state, f"{name} header"))
                for display, addr in strict
            ]
        else:  # fall back to the lenient splitter below
            state.warn(f"{name} header could not be parsed strictly ({error}); split leniently")
        if not pairs:
            pairs = parse_address_list(value)
        for display, addr in pairs:
            shown = shown_address(display, addr) or value
            parties.append(Party(shown, state.ctx.identifier("email", addr) if addr else None))
    return parties


@lru_cache(maxsize=_HEADER_CACHE_SIZE)
def _parsed_addresses(
    name: str, value: str
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...], str | None]:
    """policy.default's reading of an address header: (defects, (display name, address) pairs, error).

    Defects found before a failure are kept, as the warnings they became before this was cached.
    """
    defects: list[str] = []
    try:
        header = policy.default.header_factory(name, value)
        for defect in header.defects:
            defects.append(describe_defect(defect))
        return tuple(defects), tuple((a.display_name, a.addr_spec) for a in header.addresses), None
    except Exception as exc:
        return tuple(defects), (), str(exc)


def address_parties(ctx: ParseContext, values: Iterable[str | None]) -> list[Party]:
    """Parties from address-list text that is already decoded (Outlook properties)."""
    parties: list[Party] = []
    for value in values:
        for display, addr in parse_address_list(value):
            parties.append(
                Party(shown_address(display, addr), ctx.identifier("email", addr) if addr else None)
            )
    return parties


@lru_cache(maxsize=_HEADER_CACHE_SIZE)
def shown_address(name: str, addr: str) -> str:
    """'Name <addr>' for readers; display_address raises on addresses the email package rejects."""
    try:
        return display_address(name, addr)
    except ValueError:  # email.errors defects are ValueErrors (control characters, 8-bit local part)
        return f"{name} <{addr}>" if name and addr else addr or name


def describe_defect(defect: Exception) -> str:
    """Defect class and detail; the class's own one-line description when the defect carries none."""
    name = type(defect).__name__
    detail = str(defect).strip() or (type(defect).__doc__ or "").strip().split("\n")[0]
    return f"{name}: {detail}" if detail and detail != name else name


# --- time and addresses in the delivery path -----------------------------------------------------------

_IP_ENCLOSED = re.compile(r"[\[(]\s*(?:IPv6:)?([0-9A-Fa-f:.]{3,45})\s*[\])]", re.IGNORECASE)
_IP_AFTER_WORD = re.compile(r"\b(?:from|by)\s+(?:IPv6:)?([0-9A-Fa-f:.]{7,45})(?=[\s;]|$)", re.IGNORECASE)


def ips_in(text: str) -> list[str]:
    """Candidate IP addresses in a Received header; normalize_ip decides what is really one."""
    found = [m.group(1) for m in _IP_ENCLOSED.finditer(text)]
    found += [m.group(1) for m in _IP_AFTER_WORD.finditer(text)]
    return list(dict.fromkeys(found))


def received_date(received: str) -> str | None:
    """The date part of a Received header: whatever follows the last semicolon."""
    if ";" not in received:
        return None
    return received.rsplit(";", 1)[1].strip() or None


def message_time(date_value: str | None, received: Sequence[str], state: MessageState) -> TimeValue:
    """Date header; else the topmost Received header's date (flagged); else missing (no_date)."""
    time = from_email_date(date_value)
    if time.utc is not None:
        return time
    if date_value:
        state.warn(f"Date header could not be read: {date_value!r}")
        state.flag("unparseable_date")
    for hop in received[:1]:
        fallback = from_email_date(received_date(hop))
        if fallback.utc is not None:
            state.flag("date_from_received")
            return TimeValue(
                fallback.utc, fallback.local_text, fallback.tz_source, fallback.precision, fallback.flags
            )
    return time if date_value else TimeValue.missing(None)


@lru_cache(maxsize=_HEADER_CACHE_SIZE)
def _ip_identifier(candidate: str) -> Identifier | None:
    """ctx.identifier("ip", ...) (IPs need no region), cached: a mailbox's relays repeat."""
    if not candidate.strip():
        return None
    return normalize("ip", candidate)


def link_ips(ctx: ParseContext, message_id: str, received: Iterable[str], originating: Iterable[str]) -> None:
    """IP addresses as identifiers: X-Originating-IP is the sender's, Received hops are relays."""
    for value in originating:
        for candidate in [*ips_in(value), value]:
            ident = _ip_identifier(candidate)
            if ident is not None:
                ctx.link_identifier(message_id, ident, "sender")
                break
    for hop in received:
        for candidate in ips_in(hop):
            ident = _ip_identifier(candidate)
            if ident is not None:
                ctx.link_identifier(message_id, ident, "relay")


# --- MIME structure ------------------------------------------------------------------------------------


@dataclass
class Attachment:
    locator: str
    part: Message


@dataclass
class Content:
    texts: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def _is_attachment(part: Message) -> bool:
    if part.get_content_disposition() == "attachment":
        return True
    try:
        if part.get_filename():
            return True
    except Exception:  # a broken filename parameter still means "a file"
        return True
    return part.get_content_type() not in ("text/plain", "text/html")


_BASE64_DEFECTS = ("InvalidBase64CharactersDefect", "InvalidBase64PaddingDefect", "InvalidBase64LengthDefect")


def _leaf_text(part: Message, state: MessageState, locator: str) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    if part.get("Content-Transfer-Encoding", "").strip().lower() == "base64" and any(
        type(d).__name__ in _BASE64_DEFECTS for d in part.defects
    ):
        # Decoding invalid base64 yields noise; the transport text is what the sender's client wrote.
        state.flag("undecodable_base64")
        raw = part.get_payload(decode=False)
        if isinstance(raw, str):
            return tidy_body(raw)
    text = decode_payload(data, part.get_content_charset(), state, locator)
    if part.get_content_type() == "text/html":
        return html_to_text(text)
    return tidy_body(text)


def _children(part: Message) -> list[Message] | None:
    """Sub-parts of a multipart (or message/*) part; None for a leaf."""
    if not part.is_multipart():
        # get_payload() on a leaf decodes 8-bit text with the declared charset, which can raise.
        return None
    payload = part.get_payload()
    return payload if isinstance(payload, list) else None


def _alternative_choice(children: Sequence[Message]) -> int | None:
    """Index of the alternative to read: plain text, else a nested multipart, else HTML."""
    for wanted in ("text/plain", "multipart", "text/html"):
        for index, child in enumerate(children):
            kind = child.get_content_type()
            if (
                kind == wanted or child.get_content_maintype() == wanted
            ) and not _is_attachment_unless_multipart(child):
                return index
    return None


def _is_attachment_unless_multipart(part: Message) -> bool:
    return part.get_content_maintype() != "multipart" and _is_attachment(part)


def collect(part: Message, path: str, state: MessageState, content: Content, *, want_text: bool) -> None:
    """Walk the MIME tree: body text in reading order, every other leaf as an attachment."""
    maintype = part.get_content_maintype()
    children = _children(part)
    if part.get_content_type() == "message/rfc822" or (children is None and maintype == "message"):
        content.attachments.append(Attachment(path, part))
        return
    if children is not None:
        if maintype != "multipart":  # e.g. message/* parsed into sub-messages
            content.attachments.append(Attachment(path, part))
            return
        chosen = _alternative_choice(children) if part.get_content_subtype() == "alternative" else None
        for index, child in enumerate(children, start=1):
            text_wanted = want_text and (chosen is None or chosen == index - 1)
            collect(child, f"{path}/{index}", state, content, want_text=text_wanted)
        return
    if maintype == "multipart":
        # A multipart whose boundary was never found: its text is all we have, so keep it as body.
        data = part.get_payload(decode=True)
        if want_text and isinstance(data, bytes) and data.strip():
            state.flag("mime_unparsed")
            content.texts.append(tidy_body(decode_payload(data, part.get_content_charset(), state, path)))
        return
    if _is_attachment(part):
        content.attachments.append(Attachment(path, part))
        return
    if want_text:
        text = _leaf_text(part, state, path)
        if text:
            content.texts.append(text)


def walk_defects(part: Message, path: str, state: MessageState, *, root: bool = False) -> None:
    """Every defect the parser recorded, as warnings at the part they belong to (after decoding)."""
    for defect in part.defects:
        state.warn(f"MIME defect: {describe_defect(defect)}", state.locator if root else path)
    children = _children(part)
    if part.get_content_maintype() == "multipart":
        epilogue = part.epilogue or ""
        boundary = part.get_boundary()
        if boundary and f"--{boundary}" in epilogue:
            state.warn(
                f"{len(epilogue)} characters after the closing boundary look like further MIME parts "
                "and were not read as parts (see the original)",
                path,
            )
            state.flag("mime_unparsed")
    if children is not None and part.get_content_maintype() == "multipart":
        for index, child in enumerate(children, start=1):
            walk_defects(child, f"{path}/{index}", state)


def attachment_bytes(part: Message, state: MessageState, locator: str) -> bytes:
    """The attachment's content: decoded transfer encoding, or the embedded message re-serialised."""
    children = _children(part)
    if children is not None:
        inner = children[0] if len(children) == 1 else part
        try:
            return inner.as_bytes(policy=policy.default.clone(refold_source="none"))
        except Exception as exc:  # generator failures on broken input: keep the text we have
            state.warn(f"embedded message could not be re-serialised ({exc}); stored empty", locator)
            return b""
    data = part.get_payload(decode=True)
    if isinstance(data, bytes):
        return data
    return b""


def attachment_name(part: Message, state: MessageState, locator: str) -> str | None:
    try:
        name = part.get_filename()
    except Exception as exc:  # broken RFC 2231 parameters
        state.warn(f"attachment file name could not be decoded ({exc})", locator)
        return None
    if name is None:
        return None
    return clean_text(name, state, "attachment file name").replace("\x00", "")


# --- the one function every mail goes through ----------------------------------------------------------


class _CachedMessage(EmailMessage):
    """An EmailMessage that parses each header once.

    Under policy.default every `get` builds a new header object through the header registry, and one
    message asks for its Content-Type a dozen times (type, maintype, charset, boundary, attachment checks):
    that was most of the time spent reading mail. The cache is keyed by the header's raw value (by
    identity) and the policy, so anything that changes a header or the policy parses it afresh.
    """

    def get(self, name, failobj=None):  # type: ignore[override]
        name = name.lower()
        for key, value in self._headers:
            if key.lower() == name:
                cache = self.__dict__.setdefault("_parsed_headers", {})
                hit = cache.get(name)
                if hit is not None and hit[0] is value and hit[1] is self.policy:
                    return hit[2]
                parsed = self.policy.header_fetch_parse(key, value)
                cache[name] = (value, self.policy, parsed)
                return parsed
        return failobj


_POLICY = policy.default.clone(message_factory=_CachedMessage)


def parse_bytes(raw: bytes) -> EmailMessage:
    return BytesParser(policy=_POLICY).parsebytes(raw)  # type: ignore[return-value]


def read_message(
    ctx: ParseContext, raw: bytes, *, locator: str, part_prefix: str = "", mailbox: str | None = None
) -> str:
    """Parse one raw message and record it with its identifiers and attachments; returns its message_id.

    `locator` is the message's source_locator; attachment locators are `part_prefix` + "part/2/1"
    (numbered like IMAP: a single-part message's body is part/1). Raises ValueError only when the bytes
    have no header fields at all, i.e. are not mail.
    """
    msg = parse_bytes(raw)
    if not msg.keys():
        raise ValueError("not an email message: no header fields found")
    state = MessageState(ctx, locator)

    senders = address_header(msg, "From", state)
    recipients = [p for name in ("To", "Cc", "Bcc") for p in address_header(msg, name, state)]
    subject = header_text(msg, "Subject", state)
    external_id = header_text(msg, "Message-ID", state)
    date_values = raw_headers(msg, "Date")
    received = [clean_text(v, state, "Received header") for v in raw_headers(msg, "Received")]
    originating = [
        clean_text(v, state, "X-Originating-IP header") for v in raw_headers(msg, "X-Originating-IP")
    ]
    time = message_time(
        clean_text(date_values[0], state, "Date header") if date_values else None, received, state
    )

    content = Content()
    root = f"{part_prefix}part"
    if _children(msg) is not None and msg.get_content_maintype() == "multipart":
        collect(msg, root, state, content, want_text=True)
    else:
        collect(msg, f"{root}/1", state, content, want_text=True)
    # Decode attachments before collecting defects: a bad base64 part records its defect while decoding.
    files = [
        (
            a.locator,
            attachment_name(a.part, state, a.locator),
            a.part.get_content_type(),
            attachment_bytes(a.part, state, a.locator),
        )
        for a in content.attachments
    ]
    walk_defects(msg, root, state, root=True)
    if len(senders) > 1:
        state.warn(f"From header names {len(senders)} addresses; the first is taken as sender")

    sender = senders[0] if senders else None
    body = "\n\n".join(t for t in content.texts if t) or None
    message_id = ctx.add_message(
        platform=PLATFORM,
        kind="email",
        locator=locator,
        time=time,
        body=body,
        sender=sender.shown if sender else None,
        sender_identifier=sender.identifier if sender else None,
        recipients=[p.shown for p in recipients],
        recipient_identifiers=[p.identifier for p in recipients if p.identifier is not None],
        conversation=thread_subject(subject) or mailbox,
        subject=subject,
        external_id=external_id.strip() if external_id else None,
        flags=state.flags,
    )
    link_ips(ctx, message_id, received, originating)
    for part_locator, file_name, mime, data in files:
        ctx.add_attachment(message_id, locator=part_locator, file_name=file_name, mime=mime, data=data)
    return message_id


@register
class EmailParser(Parser):
    """A single RFC 5322 message; conversation is the thread subject (see the module docstring)."""

    name = "email_eml"
    version = "1"
    platform = PLATFORM
    description = "Single email message (.eml / RFC 5322 text)"

    def sniff(self, sample: Sample) -> bool:
        return looks_like_headers(header_block(sample_lines(sample)))

    def parse(self, ctx: ParseContext) -> None:
        read_message(ctx, ctx.read_bytes(), locator="message", mailbox=ctx.name)
