"""Text and markup as exports write it: mojibake, one-line excerpts, compact UTC stamps for flags, HTML elements."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext


def is_tag(value: object) -> bool:
    """An element of a BeautifulSoup tree (bs4 is imported only by the HTML parsers that read files)."""
    from bs4 import Tag

    return isinstance(value, Tag)


# Deepest element nesting read from HTML (libxml2's own default limit). Exports and mail nest a few dozen
# deep at most; markup deeper than this is damaged (closing tags lost all the way down) or built to slow
# reading: BeautifulSoup walks up every open element for each element it adds, so its time grows with
# the square of such nesting (8,000 unclosed divs in a 250 KB mail body took 5 s).
MAX_HTML_DEPTH = 256


class HtmlTooDeepError(ValueError):
    """Markup nested deeper than MAX_HTML_DEPTH: not read, so that reading it cannot take hours."""


def read_html(markup: bytes | str) -> Any:
    """BeautifulSoup over lxml's lenient HTML parser, refusing markup nested deeper than MAX_HTML_DEPTH."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(markup, builder=_depth_limited_builder()())


@cache
def _depth_limited_builder() -> type:
    """bs4's lxml HTML builder counting open elements (made once: bs4 is imported only where HTML is read)."""
    from bs4.builder import LXMLTreeBuilder

    class DepthLimited(LXMLTreeBuilder):
        depth = 0

        def start(self, tag: Any, attrib: Any, nsmap: Any = {}) -> None:  # noqa: B006 (bs4's signature)
            self.depth += 1
            if self.depth > MAX_HTML_DEPTH:
                raise HtmlTooDeepError(
                    f"HTML nested more than {MAX_HTML_DEPTH} elements deep (closing tags missing all the way "
                    "down: a damaged file, or one built to slow reading); not read, see the original"
                )
            super().start(tag, attrib, nsmap)

        def end(self, tag: Any) -> None:
            self.depth -= 1
            super().end(tag)

    return DepthLimited


INCOMPLETE = "may_be_incomplete"  # flag of the last message of a page that stops before its end


def last_if_cut_short(ctx: ParseContext, data: bytes, elements: list[Any]) -> Any:
    """The last message element when the page stops before `</html>` (an export page always ends with it):
    that message may have been cut mid-text. Warned once; None for a whole page."""
    tail = data[-1024:].rstrip() or data.rstrip()  # the page's end only (a whole page is not copied)
    if tail[-7:].lower() == b"</html>":
        return None
    ctx.warn(
        f"the page is cut short (it does not end with </html>): the last message read may be incomplete, "
        f"flagged {INCOMPLETE}, and any later ones are missing"
    )
    return elements[-1] if elements else None


MARKUP_DAMAGED = "message_markup_damaged"  # flag of a message found by its parts: its class was damaged


def message_elements(
    ctx: ParseContext, container: Any, is_damaged_message: Callable[[Any], bool], what: str = "message"
) -> tuple[list[Any], set[int]]:
    """The `div class="message"` elements of `container` (and after it), and among them, in document order,
    those whose class is damaged but which `is_damaged_message` still recognises (by an id, or by the parts
    a message holds); with the `id()`s of the latter, to flag them MARKUP_DAMAGED.

    A message whose class attribute lost a byte was skipped without a word, and in Telegram the joined
    message after it (no sender name of its own) took the sender of the message before the lost one. One
    pass over the container's elements, as finding the messages by class alone took.
    """
    elements: list[Any] = []
    damaged: set[int] = set()
    # Every element (a damaged tag name, `<diX`, is no div any more), and those after the container too: a
    # closing tag matched to the wrong element closes the container early, and the later messages follow it.
    for tag in container.find_all_next(True):
        if tag.name == "div" and "message" in (tag.get("class") or []):
            elements.append(tag)
        elif is_damaged_message(tag):
            elements.append(tag)
            damaged.add(id(tag))
    if damaged:
        ctx.warn(
            f"{len(damaged)} {what}(s) with a damaged class attribute were still recognised (by their id or the "
            f"parts they hold) and read, flagged {MARKUP_DAMAGED}"
        )
    return elements, damaged


def detach_nested(ctx: ParseContext, elements: list[Any], container: Any, what: str = "message") -> None:
    """Take out of the tree every message element that sits inside another one rather than directly in
    `container`, innermost first, with a warning saying how many; elements in place are left alone.

    In damaged HTML (a message whose closing tag is missing or mangled) the parser nests every later
    message inside the unclosed one. Read in place, the outer message would hold the others' text and
    media, each look-up inside it would search all later messages (quadratic: 2,000 such messages took
    over 20 s), and a reader that looked only at top-level messages would lose the nested ones. Detached,
    each holds only its own content. Markup nested deeper than MAX_HTML_DEPTH is refused by read_html.
    """
    nested = [element for element in elements if element.parent is not container]
    # Each one's place among its parent's children, found in one pass per parent (bs4 would scan the parent
    # for every element: one missing closing tag puts all later messages into a single parent). Removing in
    # reverse document order leaves the places of the siblings still to be removed unchanged.
    places: dict[int, int] = {}
    for parent in {id(element.parent): element.parent for element in nested}.values():
        places.update((id(child), index) for index, child in enumerate(parent.contents))
    for element in reversed(nested):  # inner elements leave before outer ones, later siblings first
        element.extract(_self_index=places[id(element)])
    if nested:
        ctx.warn(
            f"{len(nested)} {what}(s) sat inside another {what}, or after the end of the list of them (a tag "
            "is missing or damaged in the HTML); each was read on its own"
        )


def fix_mojibake(text: str | None) -> str | None:
    """Undo UTF-8 read as Latin-1 (Facebook/Instagram JSON writes "â\\x9d¤" for "❤").

    Only applied when the text round-trips: real Latin-1 text such as "café" does not decode as UTF-8 and is
    kept as it is, and text with characters above U+00FF was never mangled.
    """
    if not text or not isinstance(text, str):  # a value of another type is for ParseContext.text to keep
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def utc_iso(moment: datetime | None) -> str | None:
    """Compact UTC ISO form used inside flags such as `edited_at:2023-08-23T20:15:00Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def snippet(text: str | None, limit: int = 80) -> str:
    """A one-line excerpt for bodies that refer to another message (reactions)."""
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
