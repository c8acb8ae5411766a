"""One raw mail message becomes rows: `read_message` is the one place that happens. The .eml and mbox
parsers call it for every message and the Outlook parser reuses its helpers, so every email looks the
same whatever it came in.

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

from collections.abc import Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import TYPE_CHECKING

from evidence.parsers.mail.headers import (
    address_header,
    describe_defect,
    header_text,
    link_ips,
    message_time,
    raw_headers,
    thread_subject,
)
from evidence.parsers.mail.text import MessageState, clean_text, decode_payload, html_to_text, tidy_body

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext

PLATFORM = "email"

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
        return html_to_text(text, state)
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


HEADERS_DAMAGED = "headers_damaged"


def walk_defects(part: Message, path: str, state: MessageState, *, root: bool = False) -> None:
    """Every defect the parser recorded, as warnings at the part they belong to (after decoding)."""
    for defect in part.defects:
        state.warn(f"MIME defect: {describe_defect(defect)}", state.locator if root else path)
        if root and type(defect).__name__ == "MissingHeaderBodySeparatorDefect":
            # a line that is no header field ended the header block (a line break inserted into the
            # From header, a damaged field name): the fields after it, perhaps the sender's address, are
            # read as body text
            state.flag(HEADERS_DAMAGED)
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
    ctx: ParseContext,
    raw: bytes,
    *,
    locator: str,
    part_prefix: str = "",
    mailbox: str | None = None,
    flags: tuple[str, ...] = (),
) -> str:
    """Parse one raw message and record it with its identifiers and attachments; returns its message_id.

    `locator` is the message's source_locator; attachment locators are `part_prefix` + "part/2/1"
    (numbered like IMAP: a single-part message's body is part/1). Raises ValueError only when the bytes
    have no header fields at all, i.e. are not mail. `flags` go on the message row with its own.
    """
    try:
        msg = parse_bytes(raw)
        too_deep = False
    except RecursionError:
        # The email package parses each nested part a level deeper in Python's stack: a few hundred levels
        # (no mail client nests more than a handful; a crafted message can) end the parse. The header
        # fields are still read, and the body is kept as written, flagged mime_unparsed (see collect).
        msg = BytesParser(policy=_POLICY).parsebytes(raw, headersonly=True)  # type: ignore[assignment]
        too_deep = True
    if not msg.keys():
        raise ValueError("not an email message: no header fields found")
    state = MessageState(ctx, locator)
    for name in flags:  # what the container knows about this message (an mbox separator that was damaged)
        state.flag(name)
    if too_deep:
        state.warn(
            "MIME parts nested too deeply to read (hundreds of levels; mail clients nest a few): the header "
            "fields were read, the body is kept as written and its parts were not extracted"
        )

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
