"""Google Voice Takeout HTML (Voice/Calls/*.html): text threads (hChatLog) and call records (haudio).

Every time carries its own offset (`title="2023-10-01T08:30:41.563-07:00"`), which wins over --tz. The
account owner's own messages are marked by `<abbr class="fn">Me</abbr>` rather than a contact name.
Media files sit next to the HTML with an extension the `src` lacks, so they are matched by name prefix.
"""

from __future__ import annotations

import re
import warnings
from datetime import datetime
from typing import TYPE_CHECKING

from evidence.identifiers import Identifier
from evidence.parsers import export_text
from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext
from evidence.parsers.export_text import INCOMPLETE, detach_nested, is_tag, last_if_cut_short, read_html
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_aware

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

_MARKUP_RE = re.compile(r'<div class="(?:hChatLog|haudio)[\s"]')
_GOOGLE_HINTS = ("google.com/voice", "Google Inc.", 'class="dt"', 'class="published"')
# Call labels (the Takeout "tags") -> direction of the call relative to the owner.
_CALL_DIRECTION = {
    "placed": "outgoing",
    "received": "incoming",
    "missed": "incoming",
    "voicemail": "incoming",
}


def _squash(text: str | None) -> str:
    return " ".join((text or "").split())


def _time(abbr: Tag | None) -> TimeValue:
    """ISO 8601 time with offset from an abbr's title; the title is the time as written."""
    title = abbr.get("title") if abbr is not None else None
    if not isinstance(title, str) or not title.strip():
        return TimeValue.missing(_squash(abbr.get_text()) if abbr is not None else None)
    try:
        moment = datetime.fromisoformat(title.strip())
    except ValueError:
        return TimeValue.missing(title, "unparseable_date")
    if moment.tzinfo is None:
        return TimeValue.missing(title, "offset_unknown")
    return from_aware(moment, title.strip(), "second")


def _holds_message_time(div: Tag) -> bool:
    """A message element whose class was damaged: it still holds the message's time (`abbr class="dt"`)."""
    return is_tag(div.find("abbr", class_="dt", recursive=False))


def _text(tag: Tag) -> str:
    """Visible text with <br> as newlines."""
    for br in tag.find_all("br"):
        br.replace_with("\n")
    return tag.get_text().strip()


class _Party:
    """One vcard: the name shown, the number and whether it is the account owner."""

    def __init__(self, vcard: Tag | None) -> None:
        tel = vcard.find("a", class_="tel") if vcard is not None else None
        href = tel.get("href") if tel is not None else None
        self.number = href[4:].strip() if isinstance(href, str) and href.startswith("tel:") else None
        fn = vcard.find(class_="fn") if vcard is not None else None
        self.name = _squash(fn.get_text()) if fn is not None else ""
        # Google marks the owner with <abbr class="fn" title="">Me</abbr>; contacts get <span class="fn">.
        self.is_me = fn is not None and (fn.name == "abbr" or self.name == "Me")

    @property
    def label(self) -> str | None:
        return self.name or self.number


@register
class GoogleVoiceHtmlParser(Parser):
    name = "google_voice_html"
    version = "1"
    platform = "google_voice"
    description = "Google Voice Takeout HTML (text threads and call records)"

    def sniff(self, sample: Sample) -> bool:
        text = sample.text()
        return bool(_MARKUP_RE.search(text)) and any(hint in text for hint in _GOOGLE_HINTS)

    def parse(self, ctx: ParseContext) -> None:
        from bs4 import XMLParsedAsHTMLWarning

        with warnings.catch_warnings():
            # Takeout writes XHTML; the lenient HTML parser is wanted (no DTD or entity processing).
            warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
            data = ctx.read_bytes()
            soup = read_html(data)
        owner_label, owner_ident = ctx.owner_phone()
        log = soup.find("div", class_="hChatLog")
        calls = soup.find_all("div", class_="haudio")
        if log is None and not calls:
            raise ValueError("no Google Voice text thread (hChatLog) or call record (haudio) in the HTML")
        messages, damaged = (
            export_text.message_elements(ctx, log, _holds_message_time) if is_tag(log) else ([], set())
        )
        incomplete = last_if_cut_short(ctx, data, calls or messages)
        if is_tag(log):
            self._thread(ctx, soup, log, messages, damaged, owner_label, owner_ident, incomplete)
        if calls:  # a call record that never closes must not hold the next ones (see detach_nested)
            detach_nested(ctx, calls, calls[0].parent, "call record")
        for n, call in enumerate(calls, start=1):
            self._call(ctx, soup, call, n, owner_label, owner_ident, incomplete)

    # --- text threads ---------------------------------------------------------------------------
    def _thread(
        self,
        ctx: ParseContext,
        soup: BeautifulSoup,
        log: Tag,
        messages: list[Tag],
        damaged: set[int],
        owner: str,
        owner_ident: Identifier | None,
        incomplete: Tag | None,
    ) -> None:
        participants_div = log.find("div", class_="participants")
        participants = (
            [_Party(v) for v in participants_div.find_all("cite", class_="vcard")] if participants_div else []
        )
        detach_nested(ctx, messages, log)
        parties = [_Party(m.find("cite", class_="vcard")) for m in messages]
        if participants:
            conversation = ", ".join(p.label for p in participants if p.label)
            others = [p for p in participants if not p.is_me]
        else:
            others = []
            for p in parties:
                if not p.is_me and p.number not in {o.number for o in others}:
                    others.append(p)
            title = _squash(soup.title.get_text()) if soup.title else ""
            conversation = (
                ", ".join(p.label for p in others if p.label) or re.sub(r"^Me to ", "", title) or None
            )

        for n, (div, party) in enumerate(zip(messages, parties, strict=True), start=1):
            locator = f"message/{n}"
            ident = ctx.identifier("phone", party.number) if party.number else None
            q = div.find("q")
            body = _text(q) if q is not None else None
            if party.is_me:
                sender, sender_ident, direction = owner, ident or owner_ident, "outgoing"
                recipients = [p.label for p in others if p.label]
                recipient_idents = [ctx.identifier("phone", p.number) for p in others if p.number]
            else:
                sender, sender_ident, direction = party.label, ident, "incoming"
                rest = [p for p in others if p.number != party.number]
                recipients = [*(p.label for p in rest if p.label), owner]
                recipient_idents = [ctx.identifier("phone", p.number) for p in rest if p.number]
                if owner_ident is not None:
                    recipient_idents.append(owner_ident)
            media = self._media(div)
            flags: list[str] = [INCOMPLETE] if div is incomplete else []
            if id(div) in damaged:
                flags.append(export_text.MARKUP_DAMAGED)
            if not party.number and not party.name:
                flags.append("sender_unknown")
            message_id = ctx.add_message(
                platform=self.platform,
                kind="mms" if media else "sms",
                locator=locator,
                time=_time(div.find("abbr", class_="dt")),
                body=body,
                sender=sender,
                sender_identifier=sender_ident,
                recipients=recipients,
                recipient_identifiers=[i for i in recipient_idents if i is not None],
                conversation=conversation,
                direction=direction,
                flags=flags,
            )
            for k, src in enumerate(media, start=1):
                self._attach(ctx, message_id, src, f"{locator}/media/{k}")

    # --- call records ---------------------------------------------------------------------------
    def _call(
        self,
        ctx: ParseContext,
        soup: BeautifulSoup,
        div: Tag,
        n: int,
        owner: str,
        owner_ident: Identifier | None,
        incomplete: Tag | None,
    ) -> None:
        locator = f"call/{n}"
        party = _Party(div.find(class_="contributor"))
        # The call's own labels (Takeout writes them inside the record); else any the page has outside it.
        tags = div.select('div.tags a[rel="tag"]') or soup.select('div.tags a[rel="tag"]')
        labels = [_squash(a.get_text()).lower() for a in tags]
        kind_label = next((lab for lab in labels if lab in _CALL_DIRECTION or lab == "recorded"), None)
        direction = _CALL_DIRECTION.get(kind_label or "")
        fn = div.find("span", class_="fn", recursive=False)
        summary = _squash(fn.get_text()) if fn is not None else (kind_label or "call")
        duration = div.find("abbr", class_="duration")
        parts = [summary]
        if duration is not None:
            parts.append(f"duration {duration.get('title') or _squash(duration.get_text())}")
        transcript = div.find(class_="full-text")
        body = "; ".join(p for p in parts if p)
        if transcript is not None and _squash(transcript.get_text()):
            body += "\nTranscript: " + transcript.get_text().strip()
        ident = ctx.identifier("phone", party.number) if party.number else None
        if direction == "outgoing":
            sender, sender_ident = owner, owner_ident
            recipients, recipient_idents = [party.label] if party.label else [], [ident] if ident else []
        else:
            sender, sender_ident = party.label, ident
            recipients, recipient_idents = [owner], [owner_ident] if owner_ident else []
        message_id = ctx.add_message(
            platform=self.platform,
            kind="call",
            locator=locator,
            time=_time(div.find("abbr", class_="published")),
            body=body,
            sender=sender,
            sender_identifier=sender_ident,
            recipients=recipients,
            recipient_identifiers=recipient_idents,
            conversation=party.label,
            direction=direction,
            flags=([] if kind_label else ["call_type_unknown"]) + ([INCOMPLETE] if div is incomplete else []),
        )
        for k, src in enumerate(self._media(div), start=1):
            self._attach(ctx, message_id, src, f"{locator}/media/{k}")

    # --- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _media(div: Tag) -> list[str]:
        """Names of media files a message or call refers to (images, audio, video, vCards)."""
        found: list[str] = []
        for tag in div.find_all(["img", "audio", "video", "a"]):
            ref = tag.get("src") if tag.name != "a" else tag.get("href")
            if not isinstance(ref, str) or not ref or ref.startswith(("tel:", "http:", "https:", "mailto:")):
                continue
            if tag.name == "a" and tag.find_parent("audio") is not None:
                continue  # the <a rel="enclosure"> fallback inside <audio> names the same file
            if ref not in found:
                found.append(ref)
        return found

    @staticmethod
    def _attach(ctx: ParseContext, message_id: str, src: str, locator: str) -> None:
        """List a media file; its hash comes from the file of that name (plus extension) beside the HTML."""
        name, sha = src, ctx.siblings.get(src)
        if sha is None:
            matches = [n for n in ctx.siblings if n.startswith(f"{src}.")]
            if len(matches) == 1:
                name, sha = matches[0], ctx.siblings[matches[0]]
        ctx.add_attachment(message_id, locator=locator, file_name=name, mime=None, sha256=sha)
