"""Header fields of a mail message: sniffing a header block, decoding values, addresses as parties with
their identifiers, the thread subject, and the time and IP addresses of the delivery path."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import Message
from functools import lru_cache
from typing import TYPE_CHECKING

from evidence.identifiers import Identifier, display_address, normalize, parse_address_list
from evidence.parsers.mail.text import MessageState, clean_text
from evidence.timeutil import TimeValue, from_email_date

if TYPE_CHECKING:
    from evidence.parsers.base import Sample
    from evidence.parsers.context import ParseContext

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
    """(name, first line of value) for a leading block of header fields; None if a line other than one
    after the first field is not one (a line break inserted into a field leaves one such line: the mail
    is still recognised, and read with the block cut there, flagged by the reader)."""
    fields: list[tuple[str, str]] = []
    stray = 0
    for line in lines:
        if not line.strip():
            break
        if line[0] in " \t":
            if not fields:
                return None
            continue
        match = _FIELD.match(line)
        if not match:
            stray += 1
            if not fields or stray > 1:
                return None
            continue
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
