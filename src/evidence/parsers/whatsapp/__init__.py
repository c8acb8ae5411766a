"""WhatsApp chat exports (.txt), Android and iOS, in any locale.

WhatsApp writes one header per message (date, time, optional author) and continues multi-line bodies on
plain lines. Dates follow the phone's locale with no offset and no stated day/month order, so the order is
decided from the whole file in a cheap first pass and every guess is flagged (DESIGN principle 5). Files
can have hundreds of thousands of lines: the second pass streams the file, and everything that repeats
(author names, dates, zone lookups) is cached.

Decisions a reader of the rows should know:
- sent_at_local is the date and time exactly as written (NBSP, "klo", "p. m." kept); a trailing dot after
  the time is punctuation and is left out. Day/month order: proven by a field above 12 somewhere in the
  file; otherwise a locale hint (dotted dates, "klo": day-first; M/D/YY with AM/PM: month-first) or the
  run region decides, every message is flagged ambiguous_day_month and one warning says so. Evidence both
  ways: majority order, one warning, lines that only fit the other order flagged day_month_conflict.
- An hour 0 or 13+ next to AM/PM is read on a 0-11 clock (00:08 a. m. = 00:08), flagged and warned.
- System lines (no author, or iOS "<chat name>: \u200e<event>") have sender None: on iOS the name in front
  is the chat's, not a person's. iOS "Missed voice/video call" lines become kind "call".
- Invisible direction marks are removed from names and from the start of bodies; "~ Name" (someone not in
  the owner's contacts, showing a self-chosen profile name) keeps the name and is flagged non_contact_name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import register

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext

# The reading modules (lines, dates, reader, bulk) compile many patterns on import: sniff and parse import
# them, so a re-ingest that only checks this parser's name and version does not pay for them.
PLATFORM = "whatsapp"

__all__ = ["PLATFORM", "WhatsAppParser"]


@register
class WhatsAppParser(Parser):
    name = "whatsapp_txt"
    version = "1"
    platform = PLATFORM
    description = "WhatsApp chat export (.txt), Android and iOS, any locale"

    def sniff(self, sample: Sample) -> bool:
        from evidence.parsers.whatsapp.lines import sniff_header
        from evidence.parsers.whatsapp.utf16 import utf16_encoding

        head = sample.head[:16384]
        encoding = "utf-8"
        if b"\x00" in head:
            encoding = utf16_encoding(head) or "utf-8"
            if encoding == "utf-8":
                head = head.replace(b"\x00", b"")  # zeroed bytes in a damaged copy (flagged zeroed_bytes)
        lines = head.decode(encoding, errors="replace").lstrip("\ufeff").splitlines()
        if sample.size > len(head) and len(lines) > 1:
            lines = lines[:-1]  # the last line may be cut in the middle
        nonempty = [line for line in lines[:400] if line.strip()][:40]
        if not nonempty or not sniff_header(nonempty[0]):
            return False
        headers = sum(1 for line in nonempty if sniff_header(line))
        whole_file = sample.size <= len(head)
        return headers >= 2 or (whole_file and headers == 1)

    def parse(self, ctx: ParseContext) -> None:
        import contextlib

        from evidence.parsers.whatsapp.utf16 import read_as_utf8, utf16_encoding
        from evidence.timeutil import zone

        zone(ctx.options.tz)  # a bad --tz is a run error; say so before reading anything
        with open(ctx.path, "rb") as handle:
            encoding = utf16_encoding(handle.read(4096))
        with read_as_utf8(ctx, encoding) if encoding else contextlib.nullcontext():
            self._parse(ctx)

    def _parse(self, ctx: ParseContext) -> None:
        import gc

        from evidence.parsers.whatsapp import bulk
        from evidence.parsers.whatsapp.dates import decide_order, warn_order
        from evidence.parsers.whatsapp.reader import Reader

        # Rows are plain acyclic dicts; letting the cycle collector re-scan the growing row lists every few
        # thousand messages costs more than the parse itself on large exports.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if not bulk.fast_parse(ctx):  # the bulk path decides the day/month order from its own fields
                order = decide_order(ctx)
                if order.headers == 0:
                    raise ValueError("no line looks like a WhatsApp message header (date, time, author)")
                warn_order(ctx, order)
                Reader(ctx, order).run()
        finally:
            if collecting:
                gc.enable()


# --- bulk path for large exports ---------------------------------------------------------------------
# The whole file as one Arrow string array of lines: headers are found and split by RE2 (pyarrow.compute)
# in C, continuation lines are joined per message in C, and only what is rare or repeats goes through the
# Python code above: each distinct author and date once, and per line only headers whose time or body needs
# the full rules (AM/PM hours outside 1-12, clock-change days, impossible dates, media markers, marked
# bodies). It declines, before it reports anything, whenever a file holds something it does not model
# exactly (carriage returns, bad UTF-8, U+FFFD, text before the first header, non-ASCII digits, a header
# that only matches with a different separator or bracket pairing); the streaming reader then parses it.
