"""Signal chat exported as text, signal-export style: `[YYYY-MM-DD, HH:MM] Name: text`.

Times are wall-clock times without an offset, so they are read in the run's --tz. A line that does not
start with a header continues the previous message's body (multi-line messages).
"""

from __future__ import annotations

import re
from datetime import datetime

from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext
from evidence.parsers.damaged_headers import (
    DAMAGED_HEADER_FLAG,
    damaged_header_warning,
    holds_glued_header,
    looks_like_damaged_header,
)
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_local

# ISO date (the comma after it is optional: some signal-export versions omit it), minutes, optional seconds.
_HEADER = re.compile(
    r"^\[(?P<date>\d{4}-\d{2}-\d{2}),? (?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?\] "
    r"(?P<name>[^:\n]+?): ?(?P<body>.*)$"
)


@register
class SignalTextParser(Parser):
    name = "signal_text"
    version = "1"
    platform = "signal"
    description = "Signal chat text export ([YYYY-MM-DD, HH:MM] Name: text)"

    def sniff(self, sample: Sample) -> bool:
        # zeroed bytes in a damaged copy do not hide the export (its messages are flagged zeroed_bytes)
        for line in sample.text().replace("\x00", "").splitlines():
            if line.strip():
                return bool(_HEADER.match(line))
        return False

    def parse(self, ctx: ParseContext) -> None:
        raw = ctx.read_bytes()
        try:
            text = raw.decode("utf-8")
            decode_flags: list[str] = []
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", errors="replace")
            decode_flags = ["decode_errors"]
            ctx.warn(
                f"file is not valid UTF-8 ({exc.reason} at byte {exc.start}); bad bytes replaced by U+FFFD"
            )
        text = text.lstrip("\ufeff")
        owners = {o.strip().casefold() for o in ctx.options.owners}

        current: dict | None = None
        orphans = 0
        damaged_headers: list[str] = []  # locators of the messages flagged DAMAGED_HEADER_FLAG
        for number, line in enumerate(text.splitlines(), start=1):
            match = _HEADER.match(line)
            if match:
                if current:
                    self._emit(ctx, current, owners, decode_flags, damaged_headers)
                current = {"line": number, "match": match, "body": [match["body"]]}
            elif current is not None:
                current["body"].append(line)
            elif line.strip():
                orphans += 1
        if current:
            self._emit(ctx, current, owners, decode_flags, damaged_headers)
        if orphans:
            ctx.warn(f"{orphans} line(s) before the first message header were not read", locator="line/1")
        if damaged_headers:
            ctx.warn(damaged_header_warning(len(damaged_headers), damaged_headers[0]))
        if ctx.message_count == 0:
            raise ValueError("no Signal message header ([YYYY-MM-DD, HH:MM] Name: text) found")

    def _emit(
        self, ctx: ParseContext, current: dict, owners: set[str], flags: list[str], damaged_headers: list[str]
    ) -> None:
        match: re.Match[str] = current["match"]
        locator = f"line/{current['line']}"
        seconds = match["s"]
        local_text = match.group(0)[1 : match.group(0).index("]")]
        try:
            naive = datetime.fromisoformat(match["date"]).replace(
                hour=int(match["h"]), minute=int(match["m"]), second=int(seconds or 0)
            )
        except ValueError:
            ctx.warn(f"impossible date/time {local_text!r}", locator=locator)
            time = TimeValue.missing(local_text, "unparseable_date")
        else:
            time = from_local(naive, ctx.options.tz, local_text, "second" if seconds else "minute")
        name = match["name"].strip()
        body_lines = current["body"]
        while len(body_lines) > 1 and not body_lines[-1].strip():
            body_lines.pop()  # blank lines between messages belong to no one
        direction = "outgoing" if owners and name.casefold() in owners else None
        body = "\n".join(body_lines)
        # Only the messages where bytes were actually replaced carry the caveat.
        flags = [f for f in flags if "\ufffd" in name or "\ufffd" in body]
        if holds_glued_header(body_lines[0]) or (
            len(body_lines) > 1 and looks_like_damaged_header("\n" + "\n".join(body_lines[1:]))
        ):
            flags.append(DAMAGED_HEADER_FLAG)
            damaged_headers.append(locator)
        ctx.add_message(
            platform=self.platform,
            kind="message",
            locator=locator,
            time=time,
            body=body,
            sender=name,
            direction=direction,
            flags=flags,
        )
