"""One SMS Backup & Restore item (`<sms>`, `<mms>`, `<call>`) into a message with its identifiers and
MMS parts; `sms_backup_xml` reads the file and hands each item here, with its XPath position."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from xml.etree.ElementTree import Element

from evidence.identifiers import Identifier
from evidence.parsers.context import ParseContext
from evidence.timeutil import TimeValue, from_epoch

PLATFORM = "sms"
# SMS `type` / MMS `msg_box` values (Android Telephony): direction and a flag for the not-plainly-sent ones.
_BOX: dict[str, tuple[str, str | None]] = {
    "1": ("incoming", None),
    "2": ("outgoing", None),
    "3": ("outgoing", "draft"),
    "4": ("outgoing", "outbox"),
    "5": ("outgoing", "failed"),
    "6": ("outgoing", "queued"),
}
# <call type> (Android CallLog.Calls.TYPE): direction, what the timeline says, flag.
_CALL_TYPES: dict[str, tuple[str, str, str | None]] = {
    "1": ("incoming", "Incoming call", None),
    "2": ("outgoing", "Outgoing call", None),
    "3": ("incoming", "Missed call", "missed"),
    "4": ("incoming", "Voicemail", "voicemail"),
    "5": ("incoming", "Rejected call", "rejected"),
    "6": ("incoming", "Blocked call", "blocked"),
    "7": ("incoming", "Call answered on another device", "answered_elsewhere"),
}
# <call presentation> (CallLog.Calls.PRESENTATION_*) other than 1 (allowed): the number was not shown.
_HIDDEN_NUMBER = {"2": "number_withheld", "3": "number_unknown", "4": "payphone"}
# MMS <addr type>: PduHeaders FROM, TO, CC, BCC.
_ADDR_FROM, _ADDR_TO, _ADDR_CC, _ADDR_BCC = "137", "151", "130", "129"
_NULLS = {"", "null", "insert-address-token"}
_UNKNOWN_CONTACT = {"", "null", "(Unknown)"}


def _attr(el: Element, name: str) -> str | None:
    """Attribute value with the app's literal "null" treated as absent."""
    value = el.get(name)
    return None if value is None or value == "null" else value


def _address_identifier(ctx: ParseContext, address: str) -> Identifier | None:
    """Phone identifier for a phone-like address. RCS group ids (group_8@rcs.google.com) are thread ids,
    not anyone's address, so they get none; other addresses with @ (email-to-SMS gateways) are emails."""
    if "@" in address:
        if address.lower().endswith("@rcs.google.com"):
            return None
        return ctx.identifier("email", address)
    return ctx.identifier("phone", address)


def _time(el: Element) -> TimeValue:
    raw = _attr(el, "date")
    local = _attr(el, "readable_date")
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        value = None
    if not value:
        return TimeValue.missing(local or raw, "no_date" if raw is None else "unparseable_date")
    # `date` is epoch milliseconds; a few old MMS backups wrote seconds.
    seconds = value / 1000 if value > 100_000_000_000 else value
    return from_epoch(seconds, local if local is not None else raw)


def _box(ctx: ParseContext, value: str | None, locator: str) -> tuple[str | None, list[str]]:
    if value in _BOX:
        direction, flag = _BOX[value]
        return direction, [flag] if flag else []
    ctx.warn(f"unknown message box/type {value!r}: direction left unknown", locator=locator)
    return None, [f"unknown_box_{value}"]


def read_sms(
    ctx: ParseContext,
    el: Element,
    index: int,
    owner: str,
    owner_ident: Identifier | None,
    read_flags: list[str],
) -> None:
    locator = f"sms/{index}"
    address = (_attr(el, "address") or "").strip()
    contact = _attr(el, "contact_name")
    party = contact if contact not in _UNKNOWN_CONTACT and contact else (address or None)
    party_ident = _address_identifier(ctx, address) if address else None
    direction, flags = _box(ctx, _attr(el, "type"), locator)
    flags = [*read_flags, *flags]
    common = {
        "platform": PLATFORM,
        "kind": "sms",
        "locator": locator,
        "time": _time(el),
        "body": el.get("body"),
        "conversation": party,
        "subject": _attr(el, "subject"),
        "direction": direction,
        "flags": flags,
    }
    _add_between(ctx, common, party, party_ident, owner, owner_ident)


def read_mms(
    ctx: ParseContext,
    el: Element,
    index: int,
    owner: str,
    owner_ident: Identifier | None,
    read_flags: list[str],
) -> None:
    locator = f"mms/{index}"
    direction, flags = _box(ctx, _attr(el, "msg_box"), locator)
    flags = [*read_flags, *flags]
    address = (_attr(el, "address") or "").strip()
    contact = _attr(el, "contact_name")
    known_contact = contact if contact and contact not in _UNKNOWN_CONTACT else None
    thread = [a for a in address.split("~") if a.strip()] if address else []

    from_addr: str | None = None
    others: list[str] = []
    for addr in el.iterfind("addrs/addr"):
        value = (addr.get("address") or "").strip()
        if value.lower() in _NULLS:
            continue
        kind = addr.get("type")
        if kind == _ADDR_FROM and from_addr is None:
            from_addr = value
        elif kind in (_ADDR_TO, _ADDR_CC, _ADDR_BCC) and value not in others:
            others.append(value)
    recipients = [a for a in others if a != from_addr]

    is_group = len(thread) > 1 or address.lower().endswith("@rcs.google.com")
    if len(thread) > 1:
        conversation = ", ".join(thread)
    elif is_group:
        conversation = address  # RCS group thread id, kept raw
    else:
        conversation = known_contact or address or None

    parts_text: list[str] = []
    attachments: list[tuple[int, Element]] = []
    for n, part in enumerate(el.iterfind("parts/part"), start=1):
        ct = (part.get("ct") or "").lower()
        if ct == "application/smil":
            continue  # layout instructions, not something anyone wrote
        text = _attr(part, "text")
        if ct == "text/plain" and part.get("data") is None:
            if text:
                parts_text.append(text)
            continue
        attachments.append((n, part))

    party_idents: list[Identifier] = []  # linked as `party`: who the thread is with, sender unknown
    if direction == "outgoing":
        sender = owner
        sender_ident = (_address_identifier(ctx, from_addr) if from_addr else None) or owner_ident
    else:
        # Without a FROM address the thread's one party is the sender only of a message that came in: with
        # its box unknown (damage), the owner's own message would be shown as the party's. An RCS group
        # id is the thread's, nobody's address.
        by_thread = direction == "incoming" and len(thread) == 1 and not is_group
        sender = from_addr or (thread[0] if by_thread else None)
        if sender and not is_group and known_contact and sender == address:
            sender = known_contact
        sender_ident = _address_identifier(ctx, from_addr) if from_addr else None
        if sender_ident is None and by_thread:
            sender_ident = _address_identifier(ctx, thread[0])
        if direction is None and not from_addr:
            for party in thread:
                if (ident := _address_identifier(ctx, party)) is not None:
                    party_idents.append(ident)
    if direction == "outgoing" and not recipients:
        recipients = [a for a in thread if not a.lower().endswith("@rcs.google.com")]
    recipient_idents = [i for i in (_address_identifier(ctx, r) for r in recipients) if i is not None]
    if any(p.get("data") is None and _attr(p, "text") is None for _, p in attachments):
        flags.append("media_not_in_backup")

    message_id = ctx.add_message(
        platform=PLATFORM,
        kind="mms",
        locator=locator,
        time=_time(el),
        body="\n".join(parts_text) if parts_text else None,
        sender=sender,
        sender_identifier=sender_ident,
        recipients=recipients,
        recipient_identifiers=recipient_idents,
        conversation=conversation,
        subject=_attr(el, "sub") or None,
        external_id=_attr(el, "m_id"),
        direction=direction,
        flags=flags,
    )
    for ident in party_idents:
        ctx.link_identifier(message_id, ident, "party")
    for n, part in attachments:
        _part(ctx, message_id, part, f"{locator}/part/{n}")


def read_call(
    ctx: ParseContext,
    el: Element,
    index: int,
    owner: str,
    owner_ident: Identifier | None,
    read_flags: list[str],
) -> None:
    locator = f"call/{index}"
    kind = _attr(el, "type")
    direction, label, flag = _CALL_TYPES.get(kind or "", (None, "Call", None))
    flags = [*read_flags, *([flag] if flag else [])]
    if direction is None:
        ctx.warn(f"unknown call type {kind!r}: direction left unknown", locator=locator)
        flags.append(f"unknown_call_type_{kind}")
    hidden = _HIDDEN_NUMBER.get(_attr(el, "presentation") or "")
    number = (_attr(el, "number") or "").strip()
    if hidden or number in ("", "-1", "-2", "-3"):  # the app writes these for withheld numbers
        flags.append(hidden or "number_withheld")
        number = ""
    contact = _attr(el, "contact_name")
    party = contact if contact and contact not in _UNKNOWN_CONTACT else (number or None)
    party_ident = ctx.identifier("phone", number) if number else None
    seconds = _attr(el, "duration")
    body = label
    if not number:
        body += " from a withheld number" if direction != "outgoing" else " to a withheld number"
    if seconds and seconds.isdigit() and int(seconds) > 0:
        body += f", {_duration(int(seconds))}"
    common = {
        "platform": "phone",
        "kind": "call",
        "locator": locator,
        "time": _time(el),
        "body": body,
        "conversation": party,
        "direction": direction,
        "flags": flags,
    }
    _add_between(ctx, common, party, party_ident, owner, owner_ident)


def _part(ctx: ParseContext, message_id: str, part: Element, locator: str) -> None:
    name = next((v for v in (_attr(part, k) for k in ("name", "cl", "fn")) if v), None)
    mime = _attr(part, "ct")
    data = part.get("data")
    payload: bytes | None = None
    if data is not None:
        try:
            payload = base64.b64decode("".join(data.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            ctx.warn(f"MMS part {name or '?'} has data that is not valid base64 ({exc}); not stored", locator)
    elif (text := _attr(part, "text")) is not None:
        payload = text.encode("utf-8")  # vCard, calendar and other text parts carried inline
    ctx.add_attachment(message_id, locator=locator, file_name=name, mime=mime, data=payload)


def _add_between(
    ctx: ParseContext,
    common: dict[str, Any],
    party: str | None,
    party_ident: Identifier | None,
    owner: str,
    owner_ident: Identifier | None,
) -> None:
    """A message or call between the owner and one other party, sender and recipient by its direction.

    Unknown direction (a type the backup app does not write: damage): which side wrote it cannot be told,
    so nobody is named as sender or recipient; the party is the conversation and is linked with the role
    `party`. It used to be named the sender, and with owners given the message then read as the party's,
    incoming: perhaps the owner's own words shown as the stalker's.
    """
    direction = common["direction"]
    if direction is None:
        message_id = ctx.add_message(**common, sender=None, sender_identifier=None, recipients=[])
        if party_ident is not None:
            ctx.link_identifier(message_id, party_ident, "party")
        return
    if direction == "outgoing":
        sender, sender_ident, recipients, recipient_idents = owner, owner_ident, [party], [party_ident]
    else:
        sender, sender_ident = party, party_ident
        recipients, recipient_idents = [owner], [owner_ident]
    ctx.add_message(
        **common,
        sender=sender,
        sender_identifier=sender_ident,
        recipients=[r for r in recipients if r],
        recipient_identifiers=[i for i in recipient_idents if i is not None],
    )


def _duration(seconds: int) -> str:
    """45 s, 2 min 5 s, 1 h 2 min 3 s."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes or hours:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)
