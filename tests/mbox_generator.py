"""Generate a realistic mbox of any size, for the mbox benchmark and tests.

A stalking case's mailbox: a victim's inbox with the same few senders over months, long bodies of several
paragraphs, replies quoting earlier mail, and the identifiers a real case keeps meeting (a few phone
numbers written in different ways, a few addresses, handles and profile links). Mail is written the way
clients write it: realistic delivery headers (Received with IPs, DKIM, Message-ID, References), 8-bit,
quoted-printable and base64 text parts, HTML alternatives, encoded-word subjects, a few attachments drawn
from a small pool (the same photo forwarded again), and ">From " quoting of body lines.

Text is assembled from templates and encoded with binascii/quopri directly: building 150,000 messages
through the email package would take minutes.
"""

from __future__ import annotations

import base64
import quopri
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import NamedTuple

PEOPLE = (
    ("Alex Marsh", "alex.marsh@example.net"),
    ("A. M.", "a.marsh.new@example.com"),
    ("Sam Taylor", "sam.taylor@example.org"),
    ("Jo Taylor", "jo.taylor@example.org"),
    ("DC Jones", "k.jones@police.example.org"),
    ("Rita Okafor", "rita@advocacy.example.org"),
    ("Zoë Brennan", "zoe.brennan@example.com"),
)
VICTIM = PEOPLE[2]
# The pool a real case keeps meeting: one stalker's two numbers and accounts, the victim's number.
PHONES = (
    "07700 900123",
    "07700900123",
    "+44 7700 900123",
    "+44 (0)7700 900123",
    "07700-900-123",
    "07700 900456",
    "+447700900456",
    "07700 900 789",
    "0161 496 0734",
)
MENTIONS = (
    "alex.marsh@example.net",
    "a.marsh.new@example.com",
    "sam.taylor@example.org",
    "@alexm_99",
    "@sam.t.photos",
    "instagram.com/alexm_99",
    "https://www.instagram.com/alexm_99/",
    "https://facebook.com/alex.marsh.5",
    "https://maps.example.com/?q=51.5072,-0.1276",
)
_TEXT = (
    "I saw you at the station yesterday and you looked away again why do you keep doing that "
    "we need to talk about what happened on Friday please answer your phone I only want to explain "
    "leave me alone I have told you many times that I do not want any contact the car was outside "
    "your house again last night I know you were home the lights were on sorry for writing so late "
    "my friend said she saw you in town with someone new this is not fair after everything "
    "the police officer asked me to keep a record of every message and call"
)
WORDS = _TEXT.split()
SUBJECTS = (
    "hi",
    "please read this",
    "about Friday",
    "why won't you answer",
    "last night",
    "Your case reference",
    "our call",
    "photos",
    "you know why",
    "Réunion demain",
    "stop contacting me",
)
MAILERS = ("Apple Mail (2.3731)", "Microsoft Outlook 16.0", "Mozilla Thunderbird 115.3", "K-9 Mail 6.6")


class MboxStats(NamedTuple):
    """What was written."""

    messages: int
    bytes: int
    with_identifier: int
    attachments: int


def _sentence(rng: random.Random, with_identifier: bool) -> str:
    words = rng.choices(WORDS, k=rng.randint(5, 13))
    if with_identifier:
        words.insert(rng.randrange(len(words)), rng.choice(PHONES if rng.random() < 0.5 else MENTIONS))
    return " ".join(words).capitalize() + rng.choice((".", ".", "?", "!"))


def _paragraphs(rng: random.Random, identifiers: int) -> list[str]:
    paragraphs = []
    for _ in range(rng.randint(2, 4)):
        sentences = [_sentence(rng, False) for _ in range(rng.randint(2, 4))]
        paragraphs.append(sentences)
    for _ in range(identifiers):
        para = rng.choice(paragraphs)
        para[rng.randrange(len(para))] = _sentence(rng, True)
    if rng.random() < 0.05:
        paragraphs.append(["From what I heard you moved, but I will find you."])  # an mbox ">From " line
    if rng.random() < 0.15:
        paragraphs.append(["Café près de la gare à 19h ? Ça te va. Zoë 🙂"])  # 8-bit text
    return [_wrap(" ".join(p)) for p in paragraphs]


def _wrap(text: str, width: int = 72) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return "\n".join(lines)


def _qp(text: str) -> str:
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode("ascii")


def _html(paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p.replace(chr(10), ' ')}</p>\n" for p in paragraphs)
    return (
        f'<html><head><style>p {{margin:0}}</style></head><body><div dir="ltr">\n{body}</div></body></html>'
    )


def _text_part(text: str, rng: random.Random, subtype: str = "plain") -> str:
    """A text part in one of the transfer encodings clients use."""
    roll = rng.random()
    if roll < 0.4:
        return f"Content-Type: text/{subtype}; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n{_qp(text)}"
    if roll < 0.6:
        return f'Content-Type: text/{subtype}; charset="UTF-8"\nContent-Transfer-Encoding: base64\n\n{_b64(text.encode())}'
    return f"Content-Type: text/{subtype}; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}"


def _subject(rng: random.Random, reply: bool) -> str:
    subject = rng.choice(SUBJECTS)
    if reply:
        subject = rng.choice(("Re: ", "RE: ", "Re: Re: ", "Fwd: ")) + subject
    if not subject.isascii():
        return f"=?utf-8?b?{base64.b64encode(subject.encode()).decode()}?="
    return subject


def _name(name: str) -> str:
    """A display name as a header carries it: quoted, or an encoded word when it is not ASCII."""
    if name.isascii():
        return f'"{name}"'
    return f"=?utf-8?q?{quopri.encodestring(name.encode(), header=True).decode()}?="


def _ip(rng: random.Random) -> str:
    return rng.choice(("192.0.2.", "198.51.100.", "203.0.113.")) + str(rng.randint(1, 254))


def generate_mbox(path: Path | str, n_messages: int, seed: int = 0, paragraphs: float = 1.0) -> MboxStats:
    """Write an mbox of n_messages mails (about 2 KB each by default; `paragraphs` scales the bodies)."""
    rng = random.Random(seed)
    pool = [rng.randbytes(rng.randint(3_000, 20_000)) for _ in range(20)]  # photos forwarded again
    moment = datetime(2023, 3, 1, 7, 0, tzinfo=UTC)
    step = 270 * 86400 / max(n_messages, 1)
    written = with_identifier = attachments = 0
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        chunk: list[str] = []
        for n in range(n_messages):
            moment += timedelta(seconds=max(1, int(rng.expovariate(1 / step))))
            sender = rng.choice(PEOPLE[:2]) if rng.random() < 0.7 else rng.choice(PEOPLE)
            to = VICTIM if sender != VICTIM else PEOPLE[0]
            reply = rng.random() < 0.4
            idents = rng.choice((0, 0, 1, 1, 2, 3)) if rng.random() < 0.6 else 0
            with_identifier += idents > 0
            count = max(1, round(rng.randint(2, 4) * paragraphs))
            paras = _paragraphs(rng, idents)[:count]
            text = "\n\n".join(paras)
            if reply:
                quoted = "\n".join("> " + line for line in _paragraphs(rng, 0)[0].split("\n"))
                text += f"\n\nOn {format_datetime(moment - timedelta(hours=3))}, {to[0]} <{to[1]}> wrote:\n{quoted}"
            text += f"\n\n-- \n{sender[0]}"
            received = "".join(
                f"Received: from mail{h}.example.net (mail{h}.example.net [{_ip(rng)}])\n"
                f"\tby mx.example.org (Postfix) with ESMTPS id {rng.getrandbits(40):010X}\n"
                f"\tfor <{to[1]}>; {format_datetime(moment + timedelta(seconds=h))}\n"
                for h in range(rng.randint(1, 3))
            )
            headers = (
                f"Return-Path: <{sender[1]}>\nDelivered-To: {to[1]}\n{received}"
                f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.net; s=mail;\n"
                f"\th=from:to:subject:date:message-id; bh={_b64(rng.randbytes(32)).strip()};\n"
                f"\tb={_b64(rng.randbytes(96)).replace(chr(10), '')}\n"
                f"From: {_name(sender[0])} <{sender[1]}>\nTo: {_name(to[0])} <{to[1]}>\n"
                + (f"Cc: {PEOPLE[5][0]} <{PEOPLE[5][1]}>\n" if rng.random() < 0.1 else "")
                + f"Subject: {_subject(rng, reply)}\nDate: {format_datetime(moment)}\n"
                f"Message-ID: <{n}.{rng.getrandbits(48):x}@mail.example.net>\n"
                + (
                    f"In-Reply-To: <{n}.r@mail.example.org>\nReferences: <{n}.r@mail.example.org>\n"
                    if reply
                    else ""
                )
                + (f"X-Originating-IP: [{_ip(rng)}]\n" if rng.random() < 0.3 else "")
                + f"X-Mailer: {rng.choice(MAILERS)}\nMIME-Version: 1.0\n"
            )
            roll = rng.random()
            boundary = f"=_{rng.getrandbits(64):016x}"
            if roll < 0.35:
                body = _text_part(text, rng)
            elif roll < 0.85:
                alt = (
                    f'Content-Type: multipart/alternative; boundary="{boundary}"\n\n'
                    f"--{boundary}\n{_text_part(text, rng)}\n--{boundary}\n"
                    f"{_text_part(_html(paras), rng, 'html')}\n--{boundary}--\n"
                )
                body = alt
                if rng.random() < 0.03:
                    attachments += 1
                    outer = f"=_{rng.getrandbits(64):016x}"
                    data = rng.choice(pool)
                    body = (
                        f'Content-Type: multipart/mixed; boundary="{outer}"\n\n--{outer}\n{alt}\n--{outer}\n'
                        f'Content-Type: image/jpeg; name="IMG_{pool.index(data):04d}.jpg"\n'
                        f'Content-Disposition: attachment; filename="IMG_{pool.index(data):04d}.jpg"\n'
                        f"Content-Transfer-Encoding: base64\n\n{_b64(data)}\n--{outer}--\n"
                    )
            else:
                body = f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n{text}"
            message = headers + body
            message = "\n".join(
                ">" + line if line.startswith("From ") else line for line in message.split("\n")
            )
            stamp = moment.strftime("%a %b %e %H:%M:%S %Y")
            chunk.append(f"From {sender[1]} {stamp}\n{message.rstrip(chr(10))}\n\n")
            if len(chunk) >= 2000:
                text_out = "".join(chunk)
                written += len(text_out.encode())
                out.write(text_out)
                chunk.clear()
        text_out = "".join(chunk)
        written += len(text_out.encode())
        out.write(text_out)
    return MboxStats(n_messages, written, with_identifier, attachments)


if __name__ == "__main__":
    import sys

    print(generate_mbox(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 150_000))
