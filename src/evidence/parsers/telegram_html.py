"""Telegram Desktop HTML export (`messages.html`, `messages2.html`, ...), read with BeautifulSoup and lxml.

Times come from the date element's title ("23.08.2023 13:11:23 UTC-08:00"): the offset written there wins
(tz_source offset); titles without an offset (old exports) are read in the run's --tz. Telegram leaves out
the sender of consecutive messages by the same person (class "joined"): they inherit the previous sender.
Service rows that only carry a date ("23 August 2023") are day separators, not events, and are skipped;
other service rows ("X joined the group") become `system` messages dated by the last separator
(precision day). The HTML has no user ids, so no sender identifier is linked. Locator: "#message123".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext, sibling_sha256
from evidence.parsers.export_text import (
    INCOMPLETE,
    MARKUP_DAMAGED,
    detach_nested,
    is_tag,
    last_if_cut_short,
    message_elements,
    read_html,
    utc_iso,
)
from evidence.parsers.registry import register
from evidence.timeutil import TZ_GUESS, TimeValue, from_aware, from_local

if TYPE_CHECKING:
    from bs4 import Tag

PLATFORM = "telegram"
# Flag of a message whose sender's name was read from damaged markup (and of the joined ones after it).
SENDER_DAMAGED = "sender_html_damaged"
# Flag of a message whose body holds another message's parts (a second date element): a damaged tag
# swallowed the markup between them, and the text read may be that other message's, perhaps another
# sender's.
OTHER_MESSAGE_INSIDE = "other_message_inside"

_TITLE_RE = re.compile(
    r"(\d{2})\.(\d{2})\.(\d{4}) (\d{2}):(\d{2}):(\d{2})(?: UTC([+-])(\d{2}):(\d{2}))?",
)
_SEPARATOR_FORMATS = ("%d %B %Y", "%B %d, %Y")
_REPLY_RE = re.compile(r"go_to_message(\d+)")


@register
class TelegramHtmlParser(Parser):
    name = "telegram_html"
    version = "1"
    platform = PLATFORM
    description = "Telegram Desktop HTML chat export (messages.html)"

    def sniff(self, sample: Sample) -> bool:
        head = sample.text()[: 32 * 1024]
        if "\x00" in head:
            # zeroed bytes (a damaged copy) may have wiped the page's opening: its messages still tell
            return (
                head.count('<div class="message') >= 2
                and 'class="from_name"' in head
                and 'id="message' in head
            )
        if "<html" not in head.lower():
            return False
        return 'class="history"' in head and 'class="page_wrap"' in head and 'id="message' in head

    def parse(self, ctx: ParseContext) -> None:
        data = ctx.read_bytes()
        soup = read_html(data)
        history = soup.find("div", class_="history")
        if not is_tag(history) and b"\x00" in data:
            # the page's opening zeroed (a damaged copy): the messages are read from the first one on
            first = soup.find("div", class_="message")
            history = first.parent if is_tag(first) else None
        if not is_tag(history):
            raise ValueError('Telegram HTML export: no <div class="history"> with messages')
        header = soup.select_one("div.page_header div.text")
        conversation = _clean(header.get_text()) if header else None
        state = _State()
        elements, damaged = message_elements(ctx, history, _is_damaged_message)
        detach_nested(ctx, elements, history)
        state.incomplete = last_if_cut_short(ctx, data, elements)
        for element in elements:
            locator = f"#{element.get('id') or f'message-index-{state.index}'}"
            state.index += 1
            state.markup_damaged = id(element) in damaged
            if _is_service(element, state.markup_damaged):
                self._service(ctx, element, locator, conversation, state)
            else:
                self._message(ctx, element, locator, conversation, state)

    def _service(
        self, ctx: ParseContext, element: Tag, locator: str, conversation: str | None, state: _State
    ) -> None:
        text = _clean(element.get_text(" "))
        day = _separator_day(text)
        if day is not None:
            state.day, state.day_text = day, text
            return
        if not text:
            return
        time = _title_time(ctx, element, state) or _day_time(ctx, state)
        flags = [INCOMPLETE] if element is state.incomplete else []
        if state.markup_damaged:
            flags.append(MARKUP_DAMAGED)
        ctx.add_message(
            platform=PLATFORM,
            kind="system",
            locator=locator,
            time=time,
            body=text,
            conversation=conversation,
            external_id=_external_id(element),
            flags=flags,
        )

    def _message(
        self, ctx: ParseContext, element: Tag, locator: str, conversation: str | None, state: _State
    ) -> None:
        flags: list[str] = [INCOMPLETE] if element is state.incomplete else []
        markup_damaged = state.markup_damaged
        body_div = element.find(_own_body, recursive=False)
        if not is_tag(body_div):
            # A damaged tag before it (the avatar's) nests the body deeper (nested messages were taken out),
            # or closes the message early, leaving its body just after it; or the body's own tag is damaged
            # or lost: what holds the message's sent time stands for it.
            body_div = element.find(_own_body) or _body_left_after(element) or _time_holder(element)
            if not is_tag(body_div):
                ctx.warn("message without a body element; skipped", locator)
                # Its sender is unknown: a joined message after it must not take an earlier one's.
                state.sender, state.sender_damaged = None, False
                return
            ctx.warn(
                f"message body out of its place (damaged markup around it); read, flagged {MARKUP_DAMAGED}",
                locator,
            )
            markup_damaged = True
        if len(body_div.find_all("div", class_="date", title=True, limit=2)) > 1:
            flags.append(OTHER_MESSAGE_INSIDE)
            ctx.warn(
                "message holds parts of another message (a damaged tag took the markup between them): the "
                f"text read may be that message's, perhaps by another sender; flagged {OTHER_MESSAGE_INSIDE}",
                locator,
            )
        sender_div = body_div.find("div", class_="from_name", recursive=False)
        if markup_damaged:
            flags.append(MARKUP_DAMAGED)
            if not is_tag(sender_div):
                # Its classes are lost, "joined" with them; only a joined message has no name of its own,
                # so the sender is most likely the one before, and is flagged as read from damaged markup.
                state.sender_damaged = True
        if is_tag(sender_div):
            state.sender, state.sender_damaged = _sender_name(sender_div)
            if state.sender_damaged:
                ctx.warn(
                    "the sender's name element holds other parts of the message (its closing tag is damaged): "
                    f"only the text before them was read as the name, and the message is flagged {SENDER_DAMAGED}",
                    locator,
                )
        elif "joined" in (element.get("class") or []) or markup_damaged:
            if state.sender is None:
                ctx.warn("joined message with no earlier sender in this file", locator)
        else:
            ctx.warn("message without sender name", locator)
            state.sender, state.sender_damaged = None, False
        if state.sender_damaged:  # the message whose name was damaged, and the joined ones that inherit it
            flags.append(SENDER_DAMAGED)
        time = _title_time(ctx, body_div, state, locator, flags)
        if time is None:
            ctx.warn("message without a date title", locator)
            time = _day_time(ctx, state)
        text_div = body_div.find("div", class_="text")
        text = _text(text_div) if is_tag(text_div) else ""
        if body_div.find("div", class_="forwarded"):
            flags.append("forwarded")
            forwarded_from = body_div.select_one("div.forwarded div.from_name")
            if forwarded_from is not None:
                name = forwarded_from.find(string=True, recursive=False)
                flags.append(f"forwarded_from:{_clean(str(name or ''))}")
        reply = body_div.find("div", class_="reply_to")
        if is_tag(reply):
            link = reply.find("a", href=True)
            match = _REPLY_RE.search(str(link.get("href"))) if is_tag(link) else None
            flags.append(f"reply_to:{match.group(1)}" if match else "reply")
        media = _media_refs(body_div)
        body = text or _media_description(body_div) or None
        message_id = ctx.add_message(
            platform=PLATFORM,
            kind="media" if media and not text else "message",
            locator=locator,
            time=time,
            body=body,
            sender=state.sender,
            conversation=conversation,
            external_id=_external_id(element),
            flags=flags,
        )
        for number, href in enumerate(media):
            ctx.add_attachment(
                message_id,
                locator=f"{locator}/media/{number}",
                file_name=href,
                mime=None,
                sha256=sibling_sha256(ctx, href),
            )


class _State:
    """What carries over from one message element to the next."""

    def __init__(self) -> None:
        self.index = 0
        self.sender: str | None = None
        self.sender_damaged = False  # the sender's name was read from damaged markup
        self.markup_damaged = False  # the current element was found by its id, its class damaged
        self.day: datetime | None = None
        self.day_text: str | None = None
        self.offset: timezone | None = None
        self.incomplete: Tag | None = None  # the last message of a page cut short


_MESSAGE_ID = re.compile(r"message-?\d+")


def _body_left_after(element: Tag) -> Tag | None:
    """A message's body element found after it, before the next message: a damaged tag inside the message
    closed it early."""
    for sibling in element.next_siblings:  # (lazily: find_next_siblings lists every later one first)
        if not is_tag(sibling):
            continue
        if _has_message_id(sibling) or "message" in (sibling.get("class") or []):
            return None
        if _own_body(sibling):
            return sibling
    return None


def _time_holder(element: Tag) -> Tag | None:
    """The element directly holding a message's sent time (`div.date` with a title), outside any forwarded
    block: its body, whatever became of the body's own tag."""
    for date in element.find_all("div", class_="date", title=True):
        if not _in_forwarded(date.parent, lambda node: node is element):
            return date.parent
    return None


def _in_forwarded(tag: Tag, is_boundary: Callable[[Tag], bool]) -> bool:
    """Whether `tag`, or an element above it before the first boundary, is a forwarded message's block."""
    node: Tag | None = tag
    while node is not None and not is_boundary(node):
        if "forwarded" in (node.get("class") or []):
            return True
        node = node.parent
    return False


def _own_body(tag: Tag) -> bool:
    """A message's own body element: not a forwarded message's ("forwarded body", whose name is the
    original author's, not the sender's), nor anything inside one (looked for up to the message)."""
    if tag.name != "div" or "body" not in (tag.get("class") or []):
        return False
    return not _in_forwarded(tag, _is_message_element)


def _is_damaged_message(tag: Tag) -> bool:
    """A message element whose class is damaged, found by its id; or a message body with a sent time
    (`div.date` with a title) whose own message element was lost (one character of its "<div" damaged, or
    its tag taken into the closing tag before it): it stands for that message. Such a body sits in no
    message, or in one that already has its own body before it."""
    if _has_message_id(tag):
        return True
    if not _own_body(tag):
        return False
    parent = tag.parent
    if parent is not None and _is_message_element(parent):
        # in a message: another message's only when that message's own body comes before it
        if not any(is_tag(sibling) and _own_body(sibling) for sibling in tag.previous_siblings):
            return False
    elif tag.find_parent(_is_message_element) is not None:
        return False  # deeper inside a message: its own body, out of place (read by _message)
    else:
        # in no message: unless it is the body of the message just before it, which a damaged tag closed
        before = tag.find_previous_sibling(_is_message_element)
        if before is not None and before.find(_own_body) is None:
            return False
    return tag.find("div", class_="date", title=True, recursive=False) is not None


def _is_message_element(tag: Tag) -> bool:
    return "message" in (tag.get("class") or []) or _has_message_id(tag)


def _has_message_id(div: Tag) -> bool:
    """A message element whose class was damaged: Telegram gives every message (and service row) an id."""
    return bool(_MESSAGE_ID.fullmatch(str(div.get("id") or "")))


def _is_service(element: Tag, markup_damaged: bool) -> bool:
    """Service rows (day separators, "X joined the group") have the class `service`; one whose class is
    damaged is told by its body, which for a service row is `div.body.details` with no sender or text."""
    if not markup_damaged:
        return "service" in (element.get("class") or [])
    body = element.find("div", class_="body", recursive=False)
    return is_tag(body) and "details" in (body.get("class") or [])


def _sender_name(sender_div: Tag) -> tuple[str | None, bool]:
    """The name in a from_name element, and whether its markup is damaged.

    A from_name holds the name (and at most inline details); a `div` inside it means its closing tag was
    lost, or taken into a bogus tag by a stray "<", so that the message's text and time were parsed into
    it; a second line or a link, that the next element's opening tag was taken into its closing tag. Its
    whole text would make the text part of the sender's name (and of every joined message's after it): only
    the text before the first such `div` (or the first line) is the name.
    """
    if sender_div.find("div") is None:
        # A name is one line of text; more lines, or a link, are another element's text taken in when a
        # closing tag was damaged ("Jerry" then "In reply to this message"): the first line is the name.
        first = next(
            (str(node) for node in sender_div.children if not is_tag(node) and str(node).strip()), ""
        )
        lines = first.strip().splitlines()
        if len(lines) > 1 or sender_div.find("a") is not None:
            return _clean(lines[0] if lines else "") or None, True
        return _clean(sender_div.get_text(" ")) or None, False
    before: list[str] = []
    for node in sender_div.descendants:
        if is_tag(node):
            if node.name == "div":
                break
        else:
            before.append(str(node))
    return _clean(" ".join(before)) or None, True


def _clean(text: str) -> str:
    return " ".join(text.split())


def _text(div: Tag) -> str:
    """Message text with <br> as newlines and the export's indentation removed."""
    for br in div.find_all("br"):
        br.replace_with("\n")
    lines = [" ".join(line.split()) for line in div.get_text().split("\n")]
    return "\n".join(lines).strip()


def _external_id(element: Tag) -> str | None:
    match = re.fullmatch(r"message(\d+)", str(element.get("id") or ""))
    return match.group(1) if match else None


def _title_time(
    ctx: ParseContext,
    scope: Tag,
    state: _State,
    locator: str | None = None,
    flags: list[str] | None = None,
) -> TimeValue | None:
    """Sent time from the date element's title; an "Edited" time in the same title becomes flags."""
    date_div = scope.find("div", class_="date", title=True)
    if not is_tag(date_div):
        return None
    title = str(date_div.get("title"))
    matches = list(_TITLE_RE.finditer(title))
    if not matches:
        if locator is not None:
            ctx.warn(f"unreadable date title {title!r}", locator)
        return TimeValue.missing(title, "unparseable_date")
    sent = _match_time(ctx, matches[0], state)
    if flags is not None and "edited" in title.lower():
        edited = _match_time(ctx, matches[1], state) if len(matches) > 1 else None
        flags += ["edited", f"edited_at:{utc_iso(edited.utc) if edited else 'unknown'}"]
    return sent


def _match_time(ctx: ParseContext, match: re.Match[str], state: _State) -> TimeValue:
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    if sign is None:
        return from_local(naive, ctx.options.tz, match.group(0), "second")
    delta = timedelta(hours=int(off_h), minutes=int(off_m))
    state.offset = timezone(-delta if sign == "-" else delta)
    return from_aware(naive.replace(tzinfo=state.offset), match.group(0), "second")


def _separator_day(text: str) -> datetime | None:
    for fmt in _SEPARATOR_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _day_time(ctx: ParseContext, state: _State) -> TimeValue:
    """A service row has only the day of the last separator, in the offset the export last used."""
    if state.day is None:
        return TimeValue.missing(None)
    text = state.day_text or state.day.date().isoformat()
    if state.offset is not None:
        value = from_aware(state.day.replace(tzinfo=state.offset), text, "day", source=TZ_GUESS)
        return TimeValue(value.utc, value.local_text, value.tz_source, "day", ("offset_from_nearby_message",))
    return from_local(state.day, ctx.options.tz, text, "day")


def _media_refs(body: Tag) -> list[str]:
    """Relative paths of exported files (photos/..., files/...); web links are not attachments."""
    refs = []
    for wrap in body.find_all("div", class_="media_wrap"):
        for link in wrap.find_all("a", href=True):
            href = str(link["href"])
            if href and not re.match(r"^(?:[a-z]+:|#)", href, re.IGNORECASE):
                refs.append(href)
    return list(dict.fromkeys(refs))


def _media_description(body: Tag) -> str | None:
    """For messages without text: the media title the export shows ("Photo", "Voice message", ...)."""
    wrap = body.find("div", class_="media_wrap")
    if not is_tag(wrap):
        return None
    title = wrap.find("div", class_="title")
    text = _clean(title.get_text(" ")) if is_tag(title) else ""
    if text:
        return f"[{text}]"
    return "[photo]" if wrap.find("a", class_="photo_wrap") else None
