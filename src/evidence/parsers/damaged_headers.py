"""Damaged message headers in chat text exports (WhatsApp, Signal).

A header line that cannot be read as one (a character changed or lost, a line break lost or added) is no
header to the readers: its text joins the message before it, under that message's sender. Such a
message is flagged DAMAGED_HEADER_FLAG, never split (people paste earlier messages into new ones, and a
damaged date has no time to give). The patterns are written for RE2 and re alike, so WhatsApp's bulk path
can find candidates over all lines at once and confirm them with the same functions (which also use the
`regex` library's fuzzy matching: a header with one character changed, lost or added).
"""

from __future__ import annotations

import re

import regex
from rapidfuzz.distance import Levenshtein

# A continuation line shaped like a header whose date or time lost a character ("12/0X/2024, 21:07 - Sam:
# ..."): found loosely, then confirmed by looks_like_damaged_header.
SPACE_IN_TIME = "[ \u00a0\u202f]"  # space, NBSP, narrow NBSP: all three appear inside times and before AM/PM
_S = SPACE_IN_TIME
_DAMAGED_STAMP = (
    "^[\u200e\u200f]*"  # (the marks as characters: RE2 reads no \\u escapes)
    r"\[?(?P<date>[^\s\[\]:]{5,10}[^\s\[\],:]),?"  # a date, perhaps one character damaged (a comma too)
    rf"{_S}*(?P<time>[^\s\[\]]{{3,8}})(?:{_S}?[AaPp]\.?{_S}?[Mm]\.?)?"  # the time, AM/PM
)
_NAME = r"[^:\n]{1,60}: "  # a name and its colon
DAMAGED_HEADER = (
    rf"{_DAMAGED_STAMP}\]?"
    rf"(?:{_S}+[-–]{_S}+|{_S}?)"  # " - " (Android) or the space after "]" (iOS, Signal)
    rf"{_NAME}"
)
_DAMAGED_HEADER_RE = re.compile(DAMAGED_HEADER, re.MULTILINE)
# An Android system line's header ("date, time - text", no name) with a damaged date or time: the system
# event ("You blocked this contact") read as part of the person's message before it. Its date must still
# hold a separator and its time a colon or dot (a phone number and " - " would pass the digit count).
DAMAGED_SYSTEM_HEADER = rf"{_DAMAGED_STAMP}{_S}*[-–]{_S}+\S"
_DAMAGED_SYSTEM_HEADER_RE = re.compile(DAMAGED_SYSTEM_HEADER, re.MULTILINE)
_TIME_SEPARATOR = re.compile(r"[:.]")
# The same system line with a whole date but the rest damaged: its time's separator lost or changed
# ("1015", "10X15"), its AM/PM or a space beside it changed ("10:15 XM", "10:15XAM"), or its " - "
# damaged: the dash lost or changed to a mark ("10:15  You", "10:15 * You") or the space after it lost
# ("10:15 -You"). A letter or digit in place of the dash is text ("12/01/2023, 10:15 I saw him"), and so
# is a line with no whole date.
_WHOLE_DATE = r"\d{1,4}[./\-]\d{1,2}[./\-]\d{2,4},?"
_WHOLE_TIME_TEXT = r"\d{1,2}[:.]\d{2}(?:[:.]\d{2})?"
_AM_PM = rf"(?:{_S}?[AaPp]\.?{_S}?[Mm]\.?)?"
DAMAGED_SYSTEM_SEPARATOR = (
    "^[\u200e\u200f]*"
    rf"{_WHOLE_DATE}{_S}+(?:"
    rf"(?:\d{{3,5}}|\d{{1,2}}[^\s\d]\d{{2}}){_AM_PM}{_S}+[-–]{_S}+"  # the time damaged
    rf"|{_WHOLE_TIME_TEXT}{_S}?[^\s\-–]{{1,4}}{_S}*[-–]{_S}+"  # its AM/PM or the spaces around it damaged
    rf"|{_WHOLE_TIME_TEXT}{_AM_PM}(?:{_S}{{2,}}|{_S}[^\w\s]{_S}+|{_S}[-–])"  # its " - " damaged
    r")\S"
)
_DAMAGED_SYSTEM_SEPARATOR_RE = re.compile(DAMAGED_SYSTEM_SEPARATOR, re.MULTILINE)
# A whole header glued to the character before it, inside a line: the newline before it was lost or
# replaced ("...see you.12/03/2024, 21:07 - Sam: please stop"). A header typed into a message has a space
# or the line start before it.
_STAMP = (
    rf"\d{{1,4}}[./\-]\d{{1,2}}[./\-]\d{{2,4}},?{_S}+\d{{1,2}}[:.]\d{{2}}(?:[:.]\d{{2}})?"
    rf"(?:{_S}?[AaPp]\.?{_S}?[Mm]\.?)?"
)
GLUED_HEADER = (
    "[^\\s\\d\u200e\u200f]"  # glued: no space, no digit of the date, no direction mark before it
    rf"(?:{_STAMP}\.?{_S}+[-–]{_S}+|\[{_STAMP}\]{_S})"  # Android "date, time - ", iOS "[date, time] "
    r"\S"  # a name and its colon, or a system line's text
)
_GLUED_HEADER_RE = re.compile(GLUED_HEADER)
# The damage model itself: a whole header with one character of its date, time or separator changed, lost
# or added (or two lost), then a name and its colon ("03/:1/2023, 08:09 - Alice: ", "[1 /04/2023, 13:33:34]
# Eve: "). The loose shapes above stop at a space, colon or bracket inside a date; this one does not.
# Matched only where a line's first characters hold five digits (a US date and time, "1/3/23, 8:00 AM",
# has seven; two may be lost), so it costs nothing on text.
ONE_EDIT_CANDIDATE = r"^(?:[^\d\n]{0,4}\d){5}"
_ONE_EDIT_CANDIDATE_RE = re.compile(ONE_EDIT_CANDIDATE, re.MULTILINE)
_WHOLE_HEADER_START = rf"[\u200e\u200f]*(?:{_STAMP}{_S}+[-–]{_S}+|\[{_STAMP}\]{_S})"
_ONE_EDIT_HEADER_RE = regex.compile(
    # one character changed, lost or added, or two lost (two bytes cut out of the copy)
    rf"(?:(?:{_WHOLE_HEADER_START}){{e<=1}}|(?:{_WHOLE_HEADER_START}){{d<=2}})[^:\n]{{1,60}}: "
)
# An Android system line's header ("date, time - ", no name) the same way, one error in its date and time
# (or two characters lost), its " - " whole. Alone that would take a person's log ("12/03 10:15 - he
# texted", "1/3/23 - 8:03 - call") for a damaged header, so the line must also be written like the header
# of the message it sits in: the two with digits as 9 ("99/99/9999, 99:99 - ") within SYSTEM_SHAPE_EDITS.
_ONE_EDIT_SYSTEM_HEADER_RE = regex.compile(
    rf"(?P<prefix>[\u200e\u200f]*(?:(?:{_STAMP}){{e<=1}}|(?:{_STAMP}){{d<=2}}){_S}+[-–]{_S}+)\S"
)
_HEADER_PREFIX_RE = re.compile(rf"[\u200e\u200f]*\[?{_STAMP}\]?(?:{_S}+[-–]{_S}+|{_S})")
_DIGIT = re.compile(r"\d")
SYSTEM_SHAPE_EDITS = 2  # the damage, and a day or hour written with one more or one fewer digit
# A whole bracketed date and time at a line's start, then text with no "Name: " (Signal, WhatsApp iOS): the
# header's colon (or a character of its name) was damaged, and the line joined the message before it.
BRACKETED_STAMP_LINE = "^[\u200e\u200f]*" + rf"\[{_STAMP}\]{_S}\S"  # (the marks as characters, for RE2)
_BRACKETED_STAMP_LINE_RE = re.compile(BRACKETED_STAMP_LINE, re.MULTILINE)
# A header split over two lines by a line break inserted into it, or put in place of one of its
# characters ("13/01/20" then "23, 10:01 - Alice: please stop"): neither line is a header, so both join
# the message before. The first part is a short line of a header's opening characters only, or a whole
# date and time followed by a name with no colon (Signal: "[2024-03-05, 21:07] Al" then "ex: stop"); the
# two parts put back together are then checked as a damaged header.
SPLIT_HEADER_START = (
    "^[\u200e\u200f]*(?:"
    "\\[?\\d[0-9./\\-,:\\[\\] \u00a0\u202f\u2013APMapm]{0,30}"
    rf"|\[?{_STAMP}\]?(?:{_S}+[-–]{_S}+|{_S})[^:\n]{{1,60}}"
    ")$"
)
_SPLIT_HEADER_START_RE = re.compile(SPLIT_HEADER_START, re.MULTILINE)
# Its two parts put back together must be a damaged header with either its separator after the time or a
# whole time (two lines of dates in a message, "12/03" then "14/03: fine", made a "header" otherwise)
_SPLIT_HEADER_RE = re.compile(rf"{_DAMAGED_STAMP}(?:{_S}+[-–]{_S}+|\]{_S}){_NAME}")
_WHOLE_TIME = re.compile(r"\d{1,2}[:.]\d{2}(?:[:.]\d{2})?")
# An Android header split inside its name ("... 10:01 - Alice S" then "mith: please stop"): the first
# line reads as a system line (no "Name:"), the rest as its continuation.
_NAME_AND_COLON = re.compile(_NAME)
DAMAGED_HEADER_FLAG = "damaged_header_inside"


def damaged_header_warning(count: int, first: str) -> str:
    """The one warning of a chat text file with messages flagged DAMAGED_HEADER_FLAG."""
    return (
        f"{count} message(s) hold a line shaped like a message header whose date or time is damaged, a "
        "header glued to the text before it (a lost line break) or one split over two lines (an added line "
        "break): the text from there on may be another "
        f"message, perhaps by another person, read as part of this one; flagged {DAMAGED_HEADER_FLAG} (the "
        f"first at {first})"
    )


def holds_glued_header(text: str) -> bool:
    """Whether `text` (any line, a header line's too) holds a whole header glued to what comes before it."""
    return bool(_GLUED_HEADER_RE.search(text))


def looks_like_damaged_header(text: str, header: str = "") -> bool:
    """Whether a line of `text` (continuation lines) is a header with one character damaged (in a loose
    shape whose date and time are mostly digits, or one edit from a whole header; a system line's with
    its date, time or " - " damaged; a bracketed date and time with no name after it), holds a header
    glued to the text before it, or begins a header split over it and the next line. `header`: the
    header line of the message `text` continues (WhatsApp), which a damaged system line's must resemble."""
    if _GLUED_HEADER_RE.search(text):
        return True
    if any(_is_damaged_header(match) for match in _DAMAGED_HEADER_RE.finditer(text)):
        return True
    if any(_is_damaged_system_header(match) for match in _DAMAGED_SYSTEM_HEADER_RE.finditer(text)):
        return True
    if _DAMAGED_SYSTEM_SEPARATOR_RE.search(text) or _BRACKETED_STAMP_LINE_RE.search(text):
        return True
    if any(
        _one_edit_from_header(text, start.start(), header) for start in _ONE_EDIT_CANDIDATE_RE.finditer(text)
    ):
        return True
    # a header split over two lines: its first part, put back together with the line after it
    for start in _SPLIT_HEADER_START_RE.finditer(text):
        # the next line, found without copying the rest of the text (a message of many such lines)
        begin = start.end() + 1
        end = text.find("\n", begin)
        following = text[begin : end if end >= 0 else len(text)]
        joined = start.group() + following
        match = _DAMAGED_HEADER_RE.match(joined) if following else None
        if (
            match
            and _is_damaged_header(match)
            and (_WHOLE_TIME.match(match["time"]) or _SPLIT_HEADER_RE.match(joined))
        ):
            return True
        if following and (
            _is_damaged_system_header(_DAMAGED_SYSTEM_HEADER_RE.match(joined))
            or _DAMAGED_SYSTEM_SEPARATOR_RE.match(joined)
            or _one_edit_from_header(joined, 0, header)
        ):
            return True
    return False


def _one_edit_from_header(text: str, start: int, header: str) -> bool:
    """Whether the line of `text` at `start` is a header with one character changed, lost or added, or
    two lost; a system line's only when written like `header` (see SYSTEM_SHAPE_EDITS)."""
    end = text.find("\n", start)
    end = end if end >= 0 else len(text)
    if _ONE_EDIT_HEADER_RE.match(text, start, end):
        return True
    system = _ONE_EDIT_SYSTEM_HEADER_RE.match(text, start, end) if header else None
    own = _HEADER_PREFIX_RE.match(header) if system else None
    return bool(
        own
        and Levenshtein.distance(_DIGIT.sub("9", system["prefix"]), _DIGIT.sub("9", own.group()))
        <= SYSTEM_SHAPE_EDITS
    )


def _is_damaged_header(match: re.Match[str]) -> bool:
    """A DAMAGED_HEADER match whose date and time are mostly digits (seven or more, five others at most)."""
    stamp = match.group("date") + match.group("time")
    digits = sum(character.isdigit() for character in stamp)
    return digits >= 7 and len(stamp) - digits <= 5


def _is_damaged_system_header(match: re.Match[str] | None) -> bool:
    """A DAMAGED_SYSTEM_HEADER match with a separator left in its date and its time."""
    return bool(
        match
        and _is_damaged_header(match)
        and _TIME_SEPARATOR.search(match["time"])
        and any(c in match["date"] for c in "./-")
    )


def name_split_from(system_text: str, continuation: str) -> bool:
    """Whether a system line's text and the line after it (`continuation`, its first line) put back
    together begin with "Name: ": an Android header split inside its name."""
    following = continuation.lstrip("\n").split("\n", 1)[0]
    return bool(following) and ":" in following and bool(_NAME_AND_COLON.match(system_text + following))
