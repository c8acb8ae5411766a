"""Outlook .msg files (an OLE compound file of MAPI properties), read with extract_msg.

Rows look like those of an .eml: the transport headers an .msg keeps (PR_TRANSPORT_MESSAGE_HEADERS) are
read by the same helpers as a mail's headers, so Date, Received hops and X-Originating-IP are used the
same way. Without transport headers (a draft, a message saved before sending) the time is the MAPI
submit time, an absolute UTC instant (tz_source `epoch`), and sender and recipients come from the MAPI
recipient table. Attachments are at the locator of their storage inside the file
(`__attach_version1.0_#00000000`); an embedded message is stored as an .msg of its own and parsed in turn.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email import policy
from email.parser import Parser as HeaderTextParser
from typing import TYPE_CHECKING, Any

from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import register
from evidence.timeutil import TZ_EPOCH, TimeValue, from_aware

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext
    from evidence.parsers.mail.headers import Party
    from evidence.parsers.mail.text import MessageState

# The mail reader's helpers (parsers/mail/) are imported where used: the email package's parsers are only
# loaded when mail is read.

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
MSG_MIMES = ("application/vnd.ms-outlook", "application/x-ole-storage-msg")
# Stream names are UTF-16LE in the OLE directory; every .msg has __substg1.0_ property streams.
_SUBSTG_UTF16 = "__substg1.0_".encode("utf-16-le")

PLATFORM = "email"


def _safe(ctx: ParseContext, what: str, getter: Any, default: Any = None) -> Any:
    """One property read; extract_msg raises on odd properties, which must cost a warning, not the file."""
    try:
        return getter()
    except Exception as exc:  # any library error on one property
        ctx.warn(f"{what} could not be read: {type(exc).__name__}: {exc}", "message")
        return default


@register
class OutlookMsgParser(Parser):
    """Outlook .msg message (OLE compound file)."""

    name = "outlook_msg"
    version = "1"
    platform = PLATFORM
    description = "Outlook .msg message (OLE/CFB) via extract_msg"

    def sniff(self, sample: Sample) -> bool:
        if not sample.head.startswith(OLE_MAGIC):
            return False
        return sample.suffix == ".msg" or sample.mime in MSG_MIMES or _SUBSTG_UTF16 in sample.head

    def parse(self, ctx: ParseContext) -> None:
        import extract_msg  # deferred: a heavy import only needed when an .msg is actually seen

        # extract_msg logs every missing optional stream at WARNING; they are not evidence problems.
        logging.getLogger("extract_msg").setLevel(logging.ERROR)
        msg = extract_msg.openMsg(str(ctx.path), strict=False, delayAttachments=False)
        try:
            _read(ctx, msg)
        finally:
            msg.close()


def _read(ctx: ParseContext, msg: Any) -> None:
    from evidence.parsers.mail import headers as mail
    from evidence.parsers.mail.text import MessageState

    state = MessageState(ctx, "message")
    header_text_raw = _safe(ctx, "transport headers", lambda: getattr(msg, "headerText", None))
    headers = None
    if header_text_raw:
        text = header_text_raw
        if text.startswith("Microsoft Mail Internet Headers Version 2.0"):
            text = text[len("Microsoft Mail Internet Headers Version 2.0") :].lstrip()
        headers = HeaderTextParser(policy=policy.default).parsestr(text, headersonly=True)

    senders: list[Party] = mail.address_header(headers, "From", state) if headers is not None else []
    if not senders:
        senders = mail.address_parties(ctx, [_safe(ctx, "sender", lambda: getattr(msg, "sender", None))])
    recipients = _recipients(ctx, msg)
    if not recipients and headers is not None:
        recipients = [p for name in ("To", "Cc", "Bcc") for p in mail.address_header(headers, name, state)]

    subject = _safe(ctx, "subject", lambda: msg.subject)
    external_id = mail.header_text(headers, "Message-ID", state) if headers is not None else None
    if not external_id:
        external_id = _safe(ctx, "message id", lambda: getattr(msg, "messageId", None))
    received = mail.raw_headers(headers, "Received") if headers is not None else []
    originating = mail.raw_headers(headers, "X-Originating-IP") if headers is not None else []
    date_values = mail.raw_headers(headers, "Date") if headers is not None else []
    time = mail.message_time(date_values[0], received, state) if date_values or received else None
    if time is None or time.utc is None:
        time = _mapi_time(ctx, msg) or time or TimeValue.missing(None)

    sender = senders[0] if senders else None
    message_id = ctx.add_message(
        platform=PLATFORM,
        kind="email",
        locator="message",
        time=time,
        body=_body(ctx, msg, state),
        sender=sender.shown if sender else None,
        sender_identifier=sender.identifier if sender else None,
        recipients=[p.shown for p in recipients],
        recipient_identifiers=[p.identifier for p in recipients if p.identifier is not None],
        conversation=mail.thread_subject(subject) or ctx.name,
        subject=subject,
        external_id=external_id.strip() if external_id else None,
        flags=state.flags,
    )
    mail.link_ips(ctx, message_id, received, originating)
    for index, att in enumerate(_safe(ctx, "attachment list", lambda: msg.attachments, []) or [], start=1):
        _attachment(ctx, message_id, index, att)


def _recipients(ctx: ParseContext, msg: Any) -> list[Party]:
    """Recipients from the MAPI recipient table (To, Cc and Bcc, in stored order)."""
    from evidence.parsers.mail import headers as mail

    parties: list[Party] = []
    for recipient in _safe(ctx, "recipients", lambda: getattr(msg, "recipients", []), []) or []:
        name = _safe(ctx, "recipient name", lambda r=recipient: r.name)
        addr = _safe(ctx, "recipient address", lambda r=recipient: r.email)
        shown = f"{name} <{addr}>" if name and addr and name != addr else (addr or name)
        if shown:
            parties.append(mail.Party(shown, ctx.identifier("email", addr) if addr else None))
    return parties


def _mapi_time(ctx: ParseContext, msg: Any) -> TimeValue | None:
    """Submit time (PR_CLIENT_SUBMIT_TIME) or, for received mail, delivery time; a UTC FILETIME."""
    moment = _safe(ctx, "date", lambda: getattr(msg, "date", None))
    if not isinstance(moment, datetime):
        moment = _safe(ctx, "delivery time", lambda: msg.props.getValue("0E060040"))
    if not isinstance(moment, datetime):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return from_aware(moment, moment.isoformat(), "second", TZ_EPOCH)


def _body(ctx: ParseContext, msg: Any, state: MessageState) -> str | None:
    from evidence.parsers.mail import text as mail

    body = _safe(ctx, "plain-text body", lambda: getattr(msg, "body", None))
    if isinstance(body, bytes):
        body = mail.decode_8bit(body)[0]
    if body and body.strip():
        return mail.tidy_body(body)
    html = _safe(ctx, "HTML body", lambda: getattr(msg, "htmlBody", None))
    if html:
        text = mail.decode_8bit(html)[0] if isinstance(html, bytes) else str(html)
        return mail.html_to_text(text, state) or None
    return None


def _attachment(ctx: ParseContext, message_id: str, index: int, att: Any) -> None:
    locator = str(getattr(att, "dir", None) or f"attachment/{index}")
    name = _safe(ctx, "attachment name", lambda: att.longFilename or att.shortFilename or att.name)
    mime = _safe(ctx, "attachment type", lambda: att.mimetype)
    data = _safe(ctx, "attachment data", lambda: att.data)
    if data is not None and not isinstance(data, bytes):
        exporter = getattr(data, "exportBytes", None)
        data = _safe(ctx, "embedded message", exporter) if exporter else None
        mime = mime or "application/vnd.ms-outlook"
    if data is None:
        ctx.warn(f"attachment {index} has no stored bytes; listed without content", locator)
    ctx.add_attachment(message_id, locator=locator, file_name=name, mime=mime, data=data)
