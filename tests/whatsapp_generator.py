"""Generate realistic WhatsApp .txt exports of any size, for parser tests and the ingest benchmark.

Times are drawn as UTC instants and written as Europe/London wall-clock time, the way a phone in the UK
writes them, so a parse with --tz Europe/London gives the instants back (no impossible DST-gap times).
Dates are day-first (DD/MM/YYYY) and span months, so days above 12 decide the order.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

LRM = "\u200e"
NNBSP = "\u202f"
SENDERS = ("Alice Smith", "Bob", "~\u202fCarol", "+44 7700 900123", "Dan 🙂", "Eve O'Neil")
_TEXT = (
    "where are you why did you not answer I saw you at the station yesterday call me now "
    "please stop writing to me I know where you live the car was outside again tonight "
    "we need to talk this is not okay leave me alone sorry thanks see you later ok"
)
WORDS = _TEXT.split()
SYSTEM_TEXTS = (
    "Bob changed their phone number to a new number. Tap to message or add the new number.",
    "Your security code with Bob changed. Tap to learn more.",
    "Dan 🙂 left",
    "Alice Smith added Dan 🙂",
)
E2E = (
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, "
    "can read or listen to them. Tap to learn more."
)


# What a real case keeps meeting: a stalker and a victim using the same few numbers and accounts, each
# written in several ways. Phone numbers are in Ofcom's drama ranges (07700 900000-900999, 0161 496 0000-
# 0999), addresses at example.org/example.com.
IDENTIFIER_POOL = (
    "07700 900123",
    "07700900123",
    "+44 7700 900123",
    "+44 (0)7700 900123",
    "07700-900-123",
    "+447700900456",
    "07700 900 456",
    "0161 496 0734",
    "alex.marsh@example.org",
    "a.marsh.new@example.com",
    "sam.taylor@example.org",
    "@alexm_99",
    "@sam.t.photos",
    "instagram.com/alexm_99",
    "https://www.instagram.com/sam.t.photos/",
    "https://facebook.com/alex.marsh.5",
    "t.me/alexm99",
    "https://example.com/where/are/you",
)


class ExportStats(NamedTuple):
    """What was written: messages (incl. media), system lines, media lines, multi-line bodies, lines, and
    text messages that carry an identifier from IDENTIFIER_POOL (0 unless asked for)."""

    messages: int
    system: int
    media: int
    multiline: int
    lines: int
    with_identifier: int = 0


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(2, 14)))


def generate_export(
    path: Path | str, n_messages: int, seed: int = 0, style: str = "android", identifiers: float = 0.0
) -> ExportStats:
    """Write an export with n_messages messages plus a few system lines; style is "android" or "ios".

    identifiers: the share of text messages that carry a phone number, address, handle or URL drawn from
    IDENTIFIER_POOL. At 0 (the default) no random number is drawn for it, so the output is the same as
    before the option existed.
    """
    if style not in ("android", "ios"):
        raise ValueError(f"unknown style {style!r}: use android or ios")
    rng = random.Random(seed)
    london = ZoneInfo("Europe/London")
    moment = datetime(2023, 1, 3, 8, 0, tzinfo=UTC)
    # Chats come in bursts: sessions of about 15 messages some 40 s apart, separated by quiet hours or
    # days, spread over about nine months whatever the number of messages.
    in_session_gap = 40.0
    quiet_time = 270 * 86400 - n_messages * in_session_gap
    between_sessions = max(60.0, quiet_time / max(n_messages / 15, 1))
    system = media = multiline = lines = with_identifier = 0
    chunk: list[str] = []

    def header(when: datetime) -> str:
        local = when.astimezone(london)
        if style == "ios":
            return f"[{local:%d/%m/%Y, %H:%M:%S}] "
        return f"{local:%d/%m/%Y, %H:%M} - "

    def system_line(when: datetime, text: str) -> str:
        if style == "ios":
            return f"{header(when)}Stalking case chat: {LRM}{text}"
        return f"{header(when)}{text}"

    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        chunk.append(system_line(moment, E2E))
        system += 1
        for i in range(n_messages):
            if rng.random() < 1 / 15:
                gap = rng.expovariate(1 / between_sessions)
            else:
                gap = rng.expovariate(1 / in_session_gap)
            moment += timedelta(seconds=max(1, int(gap)))
            if i and i % 997 == 0:
                chunk.append(system_line(moment, rng.choice(SYSTEM_TEXTS)))
                system += 1
            sender = rng.choice(SENDERS)
            roll = rng.random()
            if roll < 0.04:
                media += 1
                stamp = moment.astimezone(london)
                if style == "ios":
                    body = (
                        f"{LRM}<attached: {i:08d}-PHOTO-{stamp:%Y-%m-%d-%H-%M-%S}.jpg>"
                        if rng.random() < 0.5
                        else f"{LRM}image omitted"
                    )
                else:
                    body = (
                        f"IMG-{stamp:%Y%m%d}-WA{i % 10000:04d}.jpg (file attached)"
                        if rng.random() < 0.5
                        else "<Media omitted>"
                    )
            elif roll < 0.14:
                multiline += 1
                body = "\n".join(_sentence(rng) for _ in range(rng.randint(2, 4)))
            else:
                body = _sentence(rng)
            if identifiers and roll >= 0.04 and rng.random() < identifiers:
                with_identifier += 1
                words = body.split(" ")
                words.insert(rng.randint(0, len(words)), rng.choice(IDENTIFIER_POOL))
                body = " ".join(words)
            chunk.append(f"{header(moment)}{sender}: {body}")
            if len(chunk) >= 4096:
                text = "\n".join(chunk) + "\n"
                lines += text.count("\n")
                handle.write(text)
                chunk.clear()
        if chunk:
            text = "\n".join(chunk) + "\n"
            lines += text.count("\n")
            handle.write(text)
    return ExportStats(n_messages, system, media, multiline, lines, with_identifier)


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200_000
    print(generate_export(target, count, style=sys.argv[3] if len(sys.argv) > 3 else "android"))
