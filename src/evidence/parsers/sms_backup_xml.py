"""SMS Backup & Restore (Android) XML: `<smses>` holding `<sms>` and `<mms>` elements, and the app's call
log backups, `<calls>` holding `<call>` elements (one row of kind `call` each: repeated, missed, rejected
and withheld-number calls are often the pattern itself).

Backups can be hundreds of megabytes (MMS media is inline base64), so the file is streamed through
defusedxml's iterparse and each element is cleared once read. Locators follow XPath positions (1-based,
counted per element name): `sms/12` is `/smses/sms[12]`, `mms/3/part/2` is `/smses/mms[3]/parts/part[2]`,
`call/7` is `/calls/call[7]`.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, BinaryIO
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from evidence.identifiers import Identifier
from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_epoch

# Root element after the XML declaration, stylesheet PI, comments and a DOCTYPE. The app writes no
# DOCTYPE; one that declares entities is recognised all the same, so the file is refused with its reason
# (defusedxml forbids entities) rather than listed as an unknown format.
_ROOT_RE = re.compile(
    r"\A\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^\[>]*(?:\[.*?\]\s*)?>\s*)*<(?:smses|calls)[\s>/]",
    re.DOTALL,
)
# The items each root holds.
_ITEMS = {"smses": ("sms", "mms"), "calls": ("call",)}

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
# Expat errors that only happen when the input ends early (no element found, unclosed token, partial char).
_TRUNCATION_CODES = {3, 5, 6}


def _attr(el: Element, name: str) -> str | None:
    """Attribute value with the app's literal "null" treated as absent."""
    value = el.get(name)
    return None if value is None or value == "null" else value


class _CharRefFixer:
    """File wrapper that repairs numeric character references expat rejects.

    SMS Backup & Restore writes emoji as UTF-16 surrogate pairs (`&#55357;&#56832;`), which is not valid
    XML and stops every XML parser. Pairs are combined into the real character; lone surrogates and other
    forbidden code points become U+FFFD and are counted so the parser can warn.
    """

    _REF = re.compile(rb"&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});(?:&#(x[0-9a-fA-F]{1,8}|[0-9]{1,10});)?")
    _TRAILING_REF = re.compile(rb"&#(?:x[0-9a-fA-F]{1,8}|[0-9]{1,10});\Z")

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._pending = b""
        self.replaced = 0
        self.combined = 0

    @staticmethod
    def _value(token: bytes) -> int:
        return int(token[1:], 16) if token[:1] in (b"x", b"X") else int(token)

    @staticmethod
    def _allowed(cp: int) -> bool:
        return (
            cp in (0x9, 0xA, 0xD)
            or 0x20 <= cp <= 0xD7FF
            or 0xE000 <= cp <= 0xFFFD
            or 0x10000 <= cp <= 0x10FFFF
        )

    def _one(self, token: bytes) -> bytes:
        cp = self._value(token)
        if self._allowed(cp):
            return b"&#" + token + b";"
        self.replaced += 1
        return b"&#xFFFD;"

    def _sub(self, match: re.Match[bytes]) -> bytes:
        first, second = match.group(1), match.group(2)
        if second is not None:
            hi, lo = self._value(first), self._value(second)
            if 0xD800 <= hi <= 0xDBFF and 0xDC00 <= lo <= 0xDFFF:
                self.combined += 1
                return b"&#x%X;" % (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
            return self._one(first) + self._one(second)
        return self._one(first)

    def _fix(self, data: bytes) -> bytes:
        return self._REF.sub(self._sub, data) if b"&#" in data else data

    def read(self, size: int = -1) -> bytes:
        while True:
            chunk = self._raw.read(size if size and size > 0 else 1 << 20)
            if not chunk:
                data, self._pending = self._pending, b""
                return self._fix(data)
            data = self._pending + chunk
            # Hold back a reference that may continue in the next chunk, and the one just before it (a
            # high surrogate whose low half is being held back).
            cut = data.rfind(b"&", max(0, len(data) - 24))
            if cut < 0:
                cut = len(data)
            else:
                before = self._TRAILING_REF.search(data, 0, cut)
                if before:
                    cut = before.start()
            self._pending = data[cut:]
            if cut:
                return self._fix(data[:cut])


def _address_identifier(ctx: ParseContext, address: str) -> Identifier | None:
    """Phone identifier for a phone-like address. RCS group ids (group_8@rcs.google.com) are thread ids,
    not anyone's address, so they get none; other addresses with @ (email-to-SMS gateways) are emails."""
    if "@" in address:
        if address.lower().endswith("@rcs.google.com"):
            return None
        return ctx.identifier("email", address)
    return ctx.identifier("phone", address)


@register
class SmsBackupXmlParser(Parser):
    name = "sms_backup_xml"
    version = "1"
    platform = "sms"
    description = "SMS Backup & Restore XML backup (<smses> with <sms> and <mms>; <calls> call logs)"

    def sniff(self, sample: Sample) -> bool:
        return bool(_ROOT_RE.match(sample.text()))

    def parse(self, ctx: ParseContext) -> None:
        owner_label, owner_ident = ctx.owner_phone()
        read_item = {"sms": self._sms, "mms": self._mms, "call": self._call}
        counts: dict[str, int] = {}
        other: dict[str, int] = {}
        declared: str | None = None
        root: Element | None = None
        depth = 0
        with ctx.open() as raw:
            fixer = _CharRefFixer(raw)
            try:
                for event, el in DET.iterparse(fixer, events=("start", "end")):
                    if event == "start":
                        depth += 1
                        if depth == 1:
                            if el.tag not in _ITEMS:
                                raise ValueError(f"root element is <{el.tag}>, not <smses> or <calls>")
                            root, declared = el, el.get("count")
                            counts = dict.fromkeys(_ITEMS[el.tag], 0)
                        continue
                    depth -= 1
                    if depth != 1:
                        continue
                    if el.tag in counts:
                        counts[el.tag] += 1
                        read_item[el.tag](ctx, el, counts[el.tag], owner_label, owner_ident)
                    else:
                        other[el.tag] = other.get(el.tag, 0) + 1
                    el.clear()
                    if root is not None:
                        root.clear()  # drop the (now empty) children the root still holds
            except ParseError as exc:
                self._parse_error(ctx, exc, counts, other, declared, root)
            except DefusedXmlException as exc:
                raise ValueError(
                    f"the XML declares entities or a document type ({exc}): refused, as entities can read "
                    "other files or expand without bound; the app never writes them"
                ) from exc
            else:
                read = sum(counts.values()) + sum(other.values())
                if declared and declared.isdigit() and int(declared) != read:
                    ctx.warn(f"backup header announces count={declared} items but {read} were found")
        if fixer.replaced:
            ctx.warn(f"{fixer.replaced} invalid character reference(s) (lone surrogates) replaced by U+FFFD")
        for tag, n in other.items():
            ctx.warn(f"{n} <{tag}> element(s) under <{root.tag}> not read (unknown element)")

    def _parse_error(
        self,
        ctx: ParseContext,
        exc: ParseError,
        counts: dict[str, int],
        other: dict[str, int],
        declared: str | None,
        root: Element | None,
    ) -> None:
        """A backup that simply stops (interrupted copy or backup) keeps every complete item read before the
        cut, with a warning: nothing after the cut exists in the file. Any other XML error fails the file,
        since items after it exist but cannot be read."""
        line, column = getattr(exc, "position", (None, None))
        code = getattr(exc, "code", None)
        read = sum(counts.values()) + sum(other.values())
        if root is None:
            raise ValueError(f"not a readable SMS Backup & Restore XML file: {exc}") from exc
        if code not in _TRUNCATION_CODES:
            raise ValueError(
                f"malformed XML at line {line}, column {column} after {read} items: {exc}"
            ) from exc
        if read == 0:
            raise ValueError(f"file is truncated before the first complete message ({exc})") from exc
        announced = f" of the {declared} the header announces" if declared else ""
        ctx.warn(
            f"file is truncated (ends at line {line}, column {column} before </{root.tag}>): {read} complete "
            f"items read{announced}; the incomplete last item was not read",
            locator=f"line/{line}",
        )

    # --- one element each ------------------------------------------------------------------------
    def _time(self, el: Element) -> TimeValue:
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

    def _box(self, ctx: ParseContext, value: str | None, locator: str) -> tuple[str | None, list[str]]:
        if value in _BOX:
            direction, flag = _BOX[value]
            return direction, [flag] if flag else []
        ctx.warn(f"unknown message box/type {value!r}: direction left unknown", locator=locator)
        return None, [f"unknown_box_{value}"]

    def _sms(
        self, ctx: ParseContext, el: Element, index: int, owner: str, owner_ident: Identifier | None
    ) -> None:
        locator = f"sms/{index}"
        address = (_attr(el, "address") or "").strip()
        contact = _attr(el, "contact_name")
        party = contact if contact not in _UNKNOWN_CONTACT and contact else (address or None)
        party_ident = _address_identifier(ctx, address) if address else None
        direction, flags = self._box(ctx, _attr(el, "type"), locator)
        common = {
            "platform": self.platform,
            "kind": "sms",
            "locator": locator,
            "time": self._time(el),
            "body": el.get("body"),
            "conversation": party,
            "subject": _attr(el, "subject"),
            "direction": direction,
            "flags": flags,
        }
        _add_between(ctx, common, party, party_ident, owner, owner_ident)

    def _mms(
        self, ctx: ParseContext, el: Element, index: int, owner: str, owner_ident: Identifier | None
    ) -> None:
        locator = f"mms/{index}"
        direction, flags = self._box(ctx, _attr(el, "msg_box"), locator)
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

        if direction == "outgoing":
            sender = owner
            sender_ident = (_address_identifier(ctx, from_addr) if from_addr else None) or owner_ident
        else:
            sender = from_addr or (thread[0] if len(thread) == 1 else None)
            if sender and not is_group and known_contact and sender == address:
                sender = known_contact
            sender_ident = _address_identifier(ctx, from_addr) if from_addr else None
            if sender_ident is None and len(thread) == 1 and not is_group:
                sender_ident = _address_identifier(ctx, thread[0])
        if direction == "outgoing" and not recipients:
            recipients = [a for a in thread if not a.lower().endswith("@rcs.google.com")]
        recipient_idents = [i for i in (_address_identifier(ctx, r) for r in recipients) if i is not None]
        if any(p.get("data") is None and _attr(p, "text") is None for _, p in attachments):
            flags.append("media_not_in_backup")

        message_id = ctx.add_message(
            platform=self.platform,
            kind="mms",
            locator=locator,
            time=self._time(el),
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
        for n, part in attachments:
            self._part(ctx, message_id, part, f"{locator}/part/{n}")

    def _call(
        self, ctx: ParseContext, el: Element, index: int, owner: str, owner_ident: Identifier | None
    ) -> None:
        locator = f"call/{index}"
        kind = _attr(el, "type")
        direction, label, flag = _CALL_TYPES.get(kind or "", (None, "Call", None))
        flags = [flag] if flag else []
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
            "time": self._time(el),
            "body": body,
            "conversation": party,
            "direction": direction,
            "flags": flags,
        }
        _add_between(ctx, common, party, party_ident, owner, owner_ident)

    def _part(self, ctx: ParseContext, message_id: str, part: Element, locator: str) -> None:
        name = next((v for v in (_attr(part, k) for k in ("name", "cl", "fn")) if v), None)
        mime = _attr(part, "ct")
        data = part.get("data")
        payload: bytes | None = None
        if data is not None:
            try:
                payload = base64.b64decode("".join(data.split()), validate=True)
            except (binascii.Error, ValueError) as exc:
                ctx.warn(
                    f"MMS part {name or '?'} has data that is not valid base64 ({exc}); not stored", locator
                )
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
    """A message or call between the owner and one other party, sender and recipient by its direction
    (unknown direction: the party is the sender, nobody is named as recipient)."""
    direction = common["direction"]
    if direction == "outgoing":
        sender, sender_ident, recipients, recipient_idents = owner, owner_ident, [party], [party_ident]
    else:
        sender, sender_ident = party, party_ident
        recipients, recipient_idents = ([owner], [owner_ident]) if direction else ([], [])
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
