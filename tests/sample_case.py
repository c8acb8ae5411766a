"""The bundled synthetic sample case (`sample/`), written the way each app really exports it.

    python tests/sample_case.py sample/

writes every file of the case (the same bytes every time: fixed seeds, fixed zip entry times, no clock
read) except `sample/README.md`, which is written by hand and explains the story. tests/test_sample_case.py
checks that the committed folder equals what this script writes and ingests it through the real pipeline.

Everything is fictional: Ofcom drama numbers (07700 900000-900999), example.org/.net/.com addresses,
documentation IP ranges (RFC 5737), invented people.

The story, February to April 2024, Europe/London (GMT until the clocks go forward at 01:00 on Sunday
31 March, BST after). "Sam Taylor" (the account owner, +44 7700 900001, sam.taylor@example.org) met
"Alex Marsh" at a climbing wall. Alex writes on WhatsApp, by SMS (07700 900123), by email
(alex.marsh@example.net) and on Instagram; Sam says no, then on 20 February at 19:42 writes "please stop
contacting me" (the stop request). Contact goes on day and night: missed calls after midnight, bursts of
twenty messages, gaps of a week, two messages that read as threats. Sam reports to the police on 8 March
(PC Hannah Price answers by email); an interim Stalking Protection Order is served on Alex on Friday
5 April at 14:20 BST. Alex then writes from a new address (a.marsh.new@example.com), announces a new
number from the old one ("this is my new number 07700 900456") and writes from it, and asks Sam to add a
new Instagram account ("add me on instagram.com/alex.m_99"), which then writes as a message request.
Sam's friend Jo Fletcher (07700 900314) passes the new number on ("Alex's new number is 07700 900456, be
careful"): she quotes it, it is not hers. The officer's last email names the new number and account too.
Sam took three screenshots of the WhatsApp chat (light and dark mode); their bubbles are in the export.
One email was kept twice, byte for byte (Sam forwarded it to Jo as an attachment and Jo saved it back).
"""

from __future__ import annotations

import base64
import io
import json
import random
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw
from screenshot_generator import ChatLine, ChatSpec, render

LONDON = ZoneInfo("Europe/London")
TZ = "Europe/London"
REGION = "GB"

OWNER_NAME = "Sam Taylor"
OWNER_PHONE = "+44 7700 900001"
OWNER_EMAIL = "sam.taylor@example.org"
# What the demo and the tests pass as --owner: the number and address, and the name the chat exports
# write above Sam's own messages (WhatsApp and Instagram name people, not numbers).
OWNERS = [OWNER_PHONE, OWNER_EMAIL, OWNER_NAME]

STALKER = "Alex Marsh"
ALEX_OLD = "+447700900123"  # the number Sam saved as "Alex Marsh"
ALEX_NEW = "+447700900456"  # announced on 12 April, not in Sam's contacts
ALEX_EMAIL = "alex.marsh@example.net"
ALEX_NEW_EMAIL = "a.marsh.new@example.com"
ALEX_NEW_INSTAGRAM = "alex.m_99"
FRIEND = "Jo Fletcher"
JO = "+447700900314"
OFFICER = "PC Hannah Price"
OFFICER_EMAIL = "hannah.price@police.example.org"
OFFICER_PHONE = "+447700900870"
CRIME_REF = "44240031234"

# Key dates an advocate marks (sample/README.md; `evidence events add` once that command exists).
STOP_REQUEST = datetime(2024, 2, 20, 19, 42, tzinfo=LONDON)
POLICE_REPORT = datetime(2024, 3, 8, 11, 0, tzinfo=LONDON)
ORDER_SERVED = datetime(2024, 4, 5, 14, 20, tzinfo=LONDON)

EXPORTED_ON = datetime(2024, 4, 29, 9, 30, 12, tzinfo=LONDON)  # WhatsApp export, SMS backup, Instagram

WHATSAPP_ZIP = f"whatsapp/WhatsApp Chat with {STALKER}.zip"
WHATSAPP_TXT = f"WhatsApp Chat with {STALKER}.txt"
SMS_XML = f"phone-backup/sms-{EXPORTED_ON:%Y%m%d%H%M%S}.xml"
CALLS_XML = f"phone-backup/calls-{EXPORTED_ON:%Y%m%d%H%M%S}.xml"
INSTAGRAM = "instagram-sam.t.photos-2024-04-29"
INSTAGRAM_OLD = f"{INSTAGRAM}/messages/inbox/alexmarsh_17843296510234871/message_1.json"
INSTAGRAM_NEW = f"{INSTAGRAM}/messages/message_requests/alexm_99_17851180374466120/message_1.json"
DUPLICATE_EMAIL = "mailbox-export/03-re-saw-you-tonight.eml"
FORWARDED_COPY = "forwarded-by-friend/Re saw you tonight.eml"


def at(day: str, clock: str, second: int = 0) -> datetime:
    """A Europe/London wall-clock time ('2024-02-20', '19:42'), as the phone showed it."""
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(second=second, tzinfo=LONDON)
    # a wall-clock time that did not exist (the hour skipped on 31 March) is a mistake in the story
    assert moment.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) == moment.replace(tzinfo=None)
    return moment


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- the story, channel by channel ------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    when: datetime
    sender: str  # a display name, or "alex"/"alex_new"/"sam"/"jo" for SMS
    text: str
    media: str | None = None  # WhatsApp media file named on the line


def _wa(day: str, clock: str, sender: str, text: str, media: str | None = None) -> Line:
    return Line(at(day, clock), sender, text, media)


A, S = STALKER, OWNER_NAME

WHATSAPP_SCRIPT: list[Line] = [
    _wa(
        "2024-02-02",
        "18:20",
        A,
        "Hi Sam, it's Alex from the climbing wall 🙂 got your number from the Thursday group chat, hope that's ok",
    ),
    _wa("2024-02-02", "18:34", S, "Hi Alex! Yes of course"),
    _wa("2024-02-02", "18:35", A, "Great session last night. Fancy a drink after the wall next Thursday?"),
    _wa(
        "2024-02-02",
        "18:51",
        S,
        "That's kind, but I'm not looking for anything at the moment. See you at the wall though!",
    ),
    _wa("2024-02-02", "18:52", A, "No worries at all"),
    _wa("2024-02-02", "23:47", A, "Can't stop thinking about what you said"),
    _wa("2024-02-03", "08:02", A, "Morning! Sleep well?"),
    _wa("2024-02-03", "12:15", A, "What are you up to today?"),
    _wa("2024-02-03", "16:40", A, "?"),
    _wa("2024-02-04", "09:58", A, "You're not at the wall today?"),
    _wa("2024-02-04", "10:02", S, "Not today, busy weekend"),
    _wa("2024-02-04", "10:03", A, "Busy with who?"),
    _wa("2024-02-04", "10:30", A, "Sorry that came out wrong"),
    _wa("2024-02-14", "07:15", A, "Happy Valentine's Day Sam ❤️"),
    _wa(
        "2024-02-14", "07:16", A, "Left these on your doorstep. Hope you like them", "IMG-20240214-WA0001.jpg"
    ),
    _wa("2024-02-14", "07:40", A, "Did you see them?"),
    _wa("2024-02-14", "19:02", S, "Alex, thank you, but please don't come to my flat"),
    _wa("2024-02-14", "19:03", A, "I was only being nice"),
    _wa("2024-02-14", "19:03", A, "Why are you being like this"),
    _wa("2024-02-16", "00:34", A, "Are you awake?"),
    _wa("2024-02-17", "21:12", A, "I saw you at the gym with someone. Who is he?"),
    _wa("2024-02-17", "21:20", S, "That's none of your business"),
    _wa("2024-02-20", "19:31", A, "Why won't you answer me"),
    _wa("2024-02-20", "19:33", A, "I just want to talk"),
    _wa(
        "2024-02-20",
        "19:42",
        S,
        "Alex, please stop contacting me. I don't want any contact with you, here or anywhere else.",
    ),
    _wa("2024-02-20", "19:44", A, "You don't mean that"),
    _wa("2024-02-20", "19:44", A, "After everything?"),
    _wa("2024-02-20", "19:52", A, "This message was deleted"),
    _wa("2024-02-20", "20:15", A, "Fine"),
    _wa("2024-02-20", "21:40", A, "I'm sorry. Please just talk to me"),
    _wa("2024-02-20", "23:58", A, "You'll regret this Sam"),
    _wa("2024-02-21", "00:31", A, "Answer me"),
    _wa("2024-02-21", "00:32", A, "I know you're awake, your light is on"),
    _wa("2024-02-21", "07:10", A, "Morning x"),
    _wa("2024-03-07", "23:10", A, "Your car is the blue one by the gate isn't it", "IMG-20240307-WA0002.jpg"),
    _wa("2024-03-07", "23:12", A, "I know where you live Sam"),
    _wa("2024-03-07", "23:13", A, "Don't make me come round"),
    _wa("2024-03-07", "23:40", A, "Goodnight x"),
    _wa("2024-03-08", "07:02", A, "Did you get my messages last night?"),
    # the night the clocks go forward: 00:58 GMT and 02:03 BST are five minutes apart
    _wa("2024-03-30", "23:52", A, "Still up?"),
    _wa("2024-03-31", "00:30", A, "I'm outside"),
    _wa("2024-03-31", "00:34", A, "Your bedroom light just went off"),
    _wa("2024-03-31", "00:41", A, "I can wait all night"),
    _wa("2024-03-31", "00:58", A, "Come to the window"),
    _wa("2024-03-31", "02:03", A, "Clocks went forward. One hour less to see you"),
    _wa("2024-03-31", "02:05", A, "I'll be back tomorrow"),
    _wa("2024-04-03", "12:41", A, "Nice office. Which window is yours?", "IMG-20240403-WA0003.jpg"),
    _wa("2024-04-05", "08:15", A, "Good morning Sam"),
    _wa("2024-04-05", "13:55", A, "Why are the police calling me?"),
    _wa("2024-04-05", "21:30", A, "The police came to my work today. Happy now?"),
    _wa("2024-04-05", "21:33", A, "This isn't over"),
]

# Day after day: what fixation looks like between the scripted messages (seeded, so always the same),
# by time of day.
WHATSAPP_FILLER = {
    "morning": [
        "Morning x",
        "Good morning Sam",
        "I saw you on the bus this morning",
        "Have a good day x",
        "Are you coming to the wall tonight?",
    ],
    "day": [
        "Are you there?",
        "Why aren't you answering",
        "Sam?",
        "??",
        "I just want to talk",
        "You looked nice today",
        "Who were you with?",
        "Answer me",
        "I know you've read this",
        "Just tell me what I did wrong",
        "I can see you're online",
        "Are you ignoring me?",
        "Call me",
        "You can't keep ignoring me",
        "I'm sorry about earlier",
        "Pick up",
    ],
    "night": [
        "Goodnight x",
        "Are you awake?",
        "Can't sleep",
        "I miss you",
        "I'm not going anywhere",
        "Please Sam",
        "Why are you doing this to me",
        "I'll wait",
        "We could be so good together",
        "I only want to see you",
    ],
}
# (first day, last day, fewest, most messages a day); days absent here have no filler (the gaps).
WHATSAPP_FILLER_DAYS = [
    ("2024-02-05", "2024-02-13", 1, 5),
    ("2024-02-15", "2024-02-19", 4, 9),
    ("2024-02-22", "2024-02-25", 5, 12),
    ("2024-02-28", "2024-03-06", 3, 9),
    ("2024-03-20", "2024-03-29", 2, 8),
    ("2024-04-01", "2024-04-04", 3, 7),
]
# 19 March, after a week of silence on WhatsApp: twenty messages in just over an hour.
WHATSAPP_BURST = ("2024-03-19", "21:02", 21)

SMS_SCRIPT: list[Line] = [
    Line(at("2024-02-09", "20:12", 41), "alex", "Hi Sam it's Alex, is your WhatsApp working?"),
    Line(at("2024-02-14", "07:20", 7), "alex", "Happy Valentine's Sam 😘"),
    Line(at("2024-02-17", "23:15", 52), "alex", "Who was that at the gym?"),
    Line(
        at("2024-02-18", "10:20", 3),
        "jo",
        "Hey, are you ok? You seemed really on edge at the wall on Thursday",
    ),
    Line(at("2024-02-18", "10:41", 30), "sam_jo", "Not really. Alex keeps messaging me all day and night"),
    Line(at("2024-02-18", "10:43", 11), "jo", "That's not ok. Screenshot everything x"),
    Line(at("2024-02-21", "00:45", 18), "alex", "Pick up the phone"),
    Line(at("2024-02-21", "01:22", 40), "alex", "I'll keep calling until you answer"),
    Line(at("2024-02-26", "22:05", 9), "alex", "You can't hide from me forever"),
    Line(at("2024-03-01", "20:58", 2), "alex", "I know you blocked me on Instagram"),
    Line(at("2024-03-08", "09:05", 45), "sam_jo", "Going to the police station at 11, can you come with me?"),
    Line(at("2024-03-08", "09:07", 13), "jo", "Of course. I'll meet you outside at quarter to"),
    Line(
        at("2024-03-14", "23:41", 27), "alex", "I saw a police car on your road. Nothing to do with me I hope"
    ),
    Line(at("2024-04-06", "00:30", 14), "alex", "You think a piece of paper will stop me?"),
    Line(
        at("2024-04-12", "20:10", 33), "alex", "Getting rid of this phone. this is my new number 07700 900456"
    ),
    Line(at("2024-04-12", "20:11", 2), "alex", "Save it"),
    Line(at("2024-04-13", "07:30", 21), "alex_new", "Morning Sam. It's me"),
    Line(at("2024-04-13", "07:31", 5), "alex_new", "Don't block this one"),
    Line(
        at("2024-04-14", "08:20", 48),
        "jo",
        "Alex's new number is 07700 900456, be careful. He texted me from it last night asking where you're staying",
    ),
    Line(at("2024-04-14", "08:35", 10), "sam_jo", "Thanks Jo. I've told the police"),
    Line(at("2024-04-14", "08:36", 37), "jo", "Ring me at lunch if you want to talk x"),
    Line(
        at("2024-04-16", "21:05", 26),
        "alex_new",
        "You blocked me on insta too. add me on instagram.com/alex.m_99",
    ),
    Line(at("2024-04-20", "01:44", 8), "alex_new", "Answer your phone"),
    Line(
        at("2024-04-25", "00:12", 55),
        "alex_new",
        "I know where you live. I know where you work. I'm not going anywhere",
    ),
]
SMS_FILLER = {
    "morning": ["Morning Sam", "I saw you leave this morning", "Text me back"],
    "day": [
        "Sam?",
        "Why are you ignoring me",
        "Text me back",
        "I just want to talk",
        "Answer me",
        "Are you home?",
        "I saw you today",
        "Call me back",
        "You owe me an explanation",
    ],
    "night": [
        "Goodnight Sam",
        "Please",
        "I'm not giving up on you",
        "Don't do this",
        "I'm outside",
        "Are you awake",
    ],
}
SMS_FILLER_DAYS = [  # (first, last, fewest, most, sender)
    ("2024-02-22", "2024-02-27", 1, 4, "alex"),
    ("2024-03-10", "2024-03-18", 2, 6, "alex"),
    ("2024-04-06", "2024-04-11", 1, 3, "alex"),
    ("2024-04-13", "2024-04-28", 1, 5, "alex_new"),
]

# (when, who, call type, seconds): 3 missed, 5 rejected, 1 incoming, 2 outgoing (Android CallLog.TYPE).
CALLS: list[tuple[datetime, str, str, int]] = [
    (at("2024-02-14", "07:25", 12), "alex", "3", 0),
    (at("2024-02-21", "00:47", 3), "alex", "3", 0),
    (at("2024-02-21", "00:49", 31), "alex", "3", 0),
    (at("2024-02-21", "00:52", 8), "alex", "3", 0),
    (at("2024-02-21", "01:20", 44), "alex", "5", 0),
    (at("2024-02-29", "02:13", 20), "withheld", "3", 0),
    (at("2024-03-07", "23:20", 6), "alex", "3", 0),
    (at("2024-03-07", "23:21", 50), "alex", "3", 0),
    (at("2024-03-08", "09:10", 2), "jo", "2", 95),
    (at("2024-03-15", "02:40", 15), "withheld", "3", 0),
    (at("2024-03-19", "22:15", 29), "alex", "5", 0),
    (at("2024-03-31", "00:36", 1), "alex", "3", 0),
    (at("2024-03-31", "00:37", 40), "alex", "3", 0),
    (at("2024-03-31", "02:15", 9), "alex", "3", 0),
    (at("2024-04-13", "07:35", 27), "alex_new", "3", 0),
    (at("2024-04-20", "01:40", 4), "alex_new", "3", 0),
    (at("2024-04-20", "01:42", 36), "alex_new", "3", 0),
    (at("2024-04-20", "03:05", 12), "alex_new", "5", 0),
    (at("2024-04-23", "10:02", 41), "officer", "1", 312),
    (at("2024-04-26", "23:58", 3), "alex_new", "3", 0),
]

INSTAGRAM_OLD_SCRIPT: list[Line] = [
    Line(at("2024-02-06", "21:03", 11), A, "Found you on here 🙂"),
    Line(at("2024-02-06", "21:04", 38), A, f"{A} sent an attachment."),  # a post of Sam's, shared back
    Line(at("2024-02-06", "21:04", 40), A, "Love this one of the lake"),
    Line(at("2024-02-10", "22:47", 5), A, "You should post more, you’re so photogenic"),
    Line(at("2024-02-12", "23:30", 28), A, "Why didn’t you reply on WhatsApp?"),
    Line(at("2024-02-13", "08:10", 54), S, "Sorry, been busy"),
    Line(at("2024-02-17", "22:40", 17), A, "Who’s the guy in your story?"),
    Line(at("2024-02-17", "22:41", 3), A, "Answer me"),
    Line(at("2024-02-19", "00:12", 44), A, "Why did you take me off your close friends"),
    Line(at("2024-02-22", "20:33", 0), A, "You can’t just ignore me"),
    Line(at("2024-02-24", "01:05", 36), A, "Blocking me won’t work"),
]
INSTAGRAM_NEW_SCRIPT: list[Line] = [
    Line(at("2024-04-17", "22:10", 6), ALEX_NEW_INSTAGRAM, "Accept my request Sam"),
    Line(at("2024-04-17", "22:11", 19), ALEX_NEW_INSTAGRAM, "It’s me"),
    Line(at("2024-04-17", "22:30", 42), ALEX_NEW_INSTAGRAM, "I know you’ve seen this"),
    Line(at("2024-04-19", "00:30", 12), ALEX_NEW_INSTAGRAM, "You can’t hide from me"),
    Line(at("2024-04-21", "23:45", 58), ALEX_NEW_INSTAGRAM, "Nice new haircut"),
    Line(at("2024-04-24", "20:02", 31), ALEX_NEW_INSTAGRAM, "Why are you doing this to me"),
    Line(at("2024-04-27", "00:15", 7), ALEX_NEW_INSTAGRAM, "Last chance Sam"),
]


def _days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _times_of_day(rng: random.Random, count: int) -> list[tuple[int, int]]:
    """Hours and minutes of a day's messages: mostly evenings, some mornings, one in six after midnight."""
    hours = [7, 8, 8, 12, 13, 17, 18, 19, 20, 20, 21, 21, 22, 22, 23, 23, 0, 1, 2]
    picked = sorted((rng.choice(hours), rng.randrange(60)) for _ in range(count))
    return sorted(set(picked))


def _pick(rng: random.Random, pool: dict[str, list[str]], hour: int, previous: str | None) -> str:
    """A text that fits the time of day and is not the one just sent."""
    part = "morning" if 6 <= hour < 12 else "day" if 12 <= hour < 22 else "night"
    choices = [text for text in pool[part] if text != previous]
    return rng.choice(choices)


def whatsapp_lines() -> list[Line]:
    rng = random.Random(20240202)
    lines = list(WHATSAPP_SCRIPT)
    for first, last, low, high in WHATSAPP_FILLER_DAYS:
        for day in _days(first, last):
            previous = None
            for hour, minute in _times_of_day(rng, rng.randint(low, high)):
                previous = _pick(rng, WHATSAPP_FILLER, hour, previous)
                lines.append(_wa(day.isoformat(), f"{hour:02d}:{minute:02d}", A, previous))
    day, clock, count = WHATSAPP_BURST
    moment = at(day, clock)
    for _ in range(count):
        lines.append(Line(moment, A, rng.choice(["Answer me", "Sam", "???", "Pick up", "ANSWER", "Why"])))
        moment += timedelta(minutes=rng.randint(1, 6))
    return sorted(lines, key=lambda line: line.when)


def sms_lines() -> list[Line]:
    rng = random.Random(20240222)
    lines = list(SMS_SCRIPT)
    for first, last, low, high, sender in SMS_FILLER_DAYS:
        for day in _days(first, last):
            previous = None
            for hour, minute in _times_of_day(rng, rng.randint(low, high)):
                when = at(day.isoformat(), f"{hour:02d}:{minute:02d}", rng.randrange(60))
                previous = _pick(rng, SMS_FILLER, hour, previous)
                lines.append(Line(when, sender, previous))
    return sorted(lines, key=lambda line: line.when)


# --- WhatsApp: Android "Export chat" with media, UK locale (day first, 24-hour clock) ----------------

E2E = (
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read "
    "or listen to them. Tap to learn more."
)


def whatsapp_text() -> str:
    lines = whatsapp_lines()
    out = [f"{lines[0].when:%d/%m/%Y, %H:%M} - {E2E}"]
    for line in lines:
        # Android writes an attached file's name, then its caption on the next line
        body = f"{line.media} (file attached)\n{line.text}" if line.media else line.text
        out.append(f"{line.when:%d/%m/%Y, %H:%M} - {line.sender}: {body}")
    return "\n".join(out) + "\n"


def _photo(kind: str) -> bytes:
    """A small photo of what the message is about, drawn with Pillow (WhatsApp strips EXIF)."""
    image = Image.new("RGB", (320, 240), (176, 196, 214))
    draw = ImageDraw.Draw(image)
    if kind == "flowers":  # a bouquet on a doorstep
        draw.rectangle((0, 170, 320, 240), fill=(120, 110, 100))
        draw.rectangle((110, 20, 210, 170), fill=(40, 70, 120))  # the door
        draw.polygon([(150, 200), (170, 200), (185, 140), (135, 140)], fill=(60, 130, 60))
        for n, (x, y) in enumerate([(140, 120), (160, 112), (180, 122), (150, 135), (172, 137)]):
            draw.ellipse((x - 12, y - 12, x + 12, y + 12), fill=((200, 30, 60), (230, 80, 110))[n % 2])
    elif kind in ("car", "car by day"):  # a blue car by a gate, at night or in the morning
        if kind == "car":
            image.paste((20, 24, 40), (0, 0, 320, 240))
        draw.rectangle((0, 190, 320, 240), fill=(50, 50, 55))
        for x in range(200, 320, 14):
            draw.rectangle((x, 110, x + 5, 190), fill=(90, 90, 90))  # the gate
        draw.rounded_rectangle((40, 140, 200, 185), radius=12, fill=(30, 70, 160))
        draw.rounded_rectangle((70, 115, 170, 145), radius=10, fill=(30, 70, 160))
        for x in (70, 170):
            draw.ellipse((x - 16, 172, x + 16, 204), fill=(10, 10, 10))
    else:  # an office front
        draw.rectangle((40, 30, 280, 240), fill=(150, 140, 130))
        for row in range(4):
            for col in range(5):
                x, y = 60 + col * 44, 45 + row * 45
                draw.rectangle((x, y, x + 28, y + 30), fill=(70, 100, 130))
        draw.rectangle((140, 200, 180, 240), fill=(60, 60, 60))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=78)
    return buffer.getvalue()


PHOTOS = {
    "IMG-20240214-WA0001.jpg": "flowers",
    "IMG-20240307-WA0002.jpg": "car",
    "IMG-20240403-WA0003.jpg": "office",
}


def _zip_entry(name: str, when: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])  # zip times are local wall-clock times
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3
    info.external_attr = 0o100644 << 16
    return info


def whatsapp_zip() -> bytes:
    received = {line.media: line.when for line in WHATSAPP_SCRIPT if line.media}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_zip_entry(WHATSAPP_TXT, EXPORTED_ON), whatsapp_text().encode("utf-8"))
        for name, kind in PHOTOS.items():
            archive.writestr(_zip_entry(name, received[name]), _photo(kind))
    return buffer.getvalue()


# --- SMS Backup & Restore (Android): sms-<time>.xml and calls-<time>.xml ---------------------------


def _xml_attr(value: str) -> str:
    """An attribute value as the app's XmlSerializer writes it: entities, newlines as &#10;, and
    characters outside the BMP as two numeric references to UTF-16 surrogates (not valid XML; real)."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == '"':
            out.append("&quot;")
        elif ch == "\n":
            out.append("&#10;")
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"&#{0xD800 + (code >> 10)};&#{0xDC00 + (code & 0x3FF)};")
        else:
            out.append(ch)
    return "".join(out)


def _readable(moment: datetime) -> str:
    """readable_date in the phone's locale (en-GB) and zone."""
    return f"{moment.day} {moment:%b %Y %H:%M:%S}"


# Who is at the other end of an SMS thread: address as stored and contact name in Sam's phone.
PARTIES = {
    "alex": (ALEX_OLD, STALKER),
    "alex_new": (ALEX_NEW, "(Unknown)"),
    "jo": (JO, FRIEND),
    "sam_jo": (JO, FRIEND),
    "officer": (OFFICER_PHONE, OFFICER),
    "withheld": ("", "(Unknown)"),
}
BACKUP_SET = "5f0c2b1e-8d4a-4c61-9a3e-2b7d9e41c0a7"
HEADER_COMMENT = f"<!--File Created By SMS Backup & Restore v10.20.002 on {EXPORTED_ON:%d/%m/%Y %H:%M:%S}-->"


def sms_xml() -> bytes:
    lines = sms_lines()
    items = []
    for number, line in enumerate(lines):
        address, contact = PARTIES[line.sender]
        outgoing = line.sender.startswith("sam")
        fields = {
            "protocol": "0",
            "address": address,
            "date": str(epoch_ms(line.when) + (number * 37) % 1000),
            "type": "2" if outgoing else "1",
            "subject": "null",
            "body": line.text,
            "toa": "null",
            "sc_toa": "null",
            "service_center": "null" if outgoing else "+447700900000",
            "read": "1",
            "status": "-1",
            "locked": "0",
            "date_sent": "0" if outgoing else str(epoch_ms(line.when) - 2000),
            "sub_id": "1",
            "readable_date": _readable(line.when),
            "contact_name": contact,
        }
        items.append("  <sms " + " ".join(f'{k}="{_xml_attr(v)}"' for k, v in fields.items()) + " />")
    head = [
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>",
        HEADER_COMMENT,
        '<?xml-stylesheet type="text/xsl" href="sms.xsl"?>',
        f'<smses count="{len(items)}" backup_set="{BACKUP_SET}" backup_date="{epoch_ms(EXPORTED_ON)}" '
        'type="full">',
    ]
    return ("\n".join([*head, *items, "</smses>"]) + "\n").encode("utf-8")


def calls_xml() -> bytes:
    items = []
    for when, who, kind, seconds in CALLS:
        number, contact = PARTIES[who]
        fields = {
            "number": number,
            "duration": str(seconds),
            "date": str(epoch_ms(when)),
            "type": kind,
            "presentation": "2" if who == "withheld" else "1",
            "subscription_id": "89440000000000000013",
            "post_dial_digits": "",
            "subscription_component_name": (
                "com.android.phone/com.android.services.telephony.TelephonyConnectionService"
            ),
            "readable_date": _readable(when),
            "contact_name": contact,
        }
        items.append("  <call " + " ".join(f'{k}="{_xml_attr(v)}"' for k, v in fields.items()) + " />")
    head = [
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>",
        HEADER_COMMENT,
        '<?xml-stylesheet type="text/xsl" href="calls.xsl"?>',
        f'<calls count="{len(items)}" backup_set="{BACKUP_SET}" backup_date="{epoch_ms(EXPORTED_ON)}" '
        'type="full">',
    ]
    return ("\n".join([*head, *items, "</calls>"]) + "\n").encode("utf-8")


# --- Instagram "Download your information" (JSON): newest first, UTF-8 written as Latin-1 escapes ----


def _mojibake(text: str) -> str:
    """What Instagram's exporter does to every non-ASCII character: its UTF-8 bytes as code points."""
    return text.encode("utf-8").decode("latin-1")


def instagram_json(title: str, lines: list[Line], thread_path: str, extra: dict | None = None) -> bytes:
    messages = []
    for line in sorted(lines, key=lambda line: line.when, reverse=True):
        entry: dict[str, object] = {
            "sender_name": _mojibake(line.sender),
            "timestamp_ms": epoch_ms(line.when),
            "content": _mojibake(line.text),
        }
        entry.update((extra or {}).get(line.text, {}))
        entry["is_geoblocked_for_viewer"] = False
        messages.append(entry)
    data = {
        "participants": [{"name": _mojibake(title)}, {"name": _mojibake(OWNER_NAME)}],
        "messages": messages,
        "title": _mojibake(title),
        "is_still_participant": True,
        "thread_path": thread_path,
        "magic_words": [],
    }
    return json.dumps(data, indent=2, ensure_ascii=True).encode("ascii")


def instagram_files() -> dict[str, bytes]:
    liked = at("2024-02-13", "08:11", 30)
    shared_post = {
        f"{A} sent an attachment.": {
            "share": {
                "link": "https://www.instagram.com/p/C3kQ7xLM2aB/",
                "share_text": "Sunday at the lake",
                "original_content_owner": "sam.t.photos",
            }
        },
        "Sorry, been busy": {  # Alex "liked" Sam's only reply (a heart under it)
            "reactions": [
                {"reaction": _mojibake("❤"), "actor": _mojibake(STALKER), "timestamp": int(liked.timestamp())}
            ]
        },
    }
    return {
        INSTAGRAM_OLD: instagram_json(
            STALKER, INSTAGRAM_OLD_SCRIPT, "inbox/alexmarsh_17843296510234871", shared_post
        ),
        INSTAGRAM_NEW: instagram_json(
            ALEX_NEW_INSTAGRAM, INSTAGRAM_NEW_SCRIPT, "message_requests/alexm_99_17851180374466120"
        ),
    }


# --- Email: single messages saved from Sam's webmail (.eml) ------------------------------------------


def _date_header(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S %z")


def _received(relay: str, ip: str, moment: datetime, message_id: str) -> str:
    return (
        f"Received: from {relay} ({relay} [{ip}])\n"
        f"\tby mx1.example.org (Postfix) with ESMTPS id {message_id[:10].upper()}\n"
        f"\tfor <{OWNER_EMAIL}>; {_date_header(moment + timedelta(seconds=7))}\n"
    )


def _plain_email(
    sender: str,
    relay: tuple[str, str],
    moment: datetime,
    subject: str,
    message_id: str,
    body: str,
    extra_headers: str = "",
) -> bytes:
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    text = (
        f"Return-Path: <{address}>\n"
        + _received(relay[0], relay[1], moment, message_id)
        + f"From: {sender}\n"
        f"To: {OWNER_NAME} <{OWNER_EMAIL}>\n"
        f"Subject: {subject}\n"
        f"Date: {_date_header(moment)}\n"
        f"Message-ID: <{message_id}>\n" + extra_headers + "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n" + body
    )
    return text.encode("utf-8")


ALEX_RELAY = ("mail.example.net", "203.0.113.24")
POLICE_RELAY = ("smtp.police.example.org", "192.0.2.41")
POLICE_FOOTER = (
    "\n--\n"
    f"{OFFICER} 4521\n"
    "Stalking Safeguarding Team, Example Police\n"
    "In an emergency always call 999.\n"
    "\n"
    "This email and any attachments are confidential and intended solely for the addressee. If you have\n"
    "received it in error, please tell the sender and delete it.\n"
)

LETTER = """Sam,

I'm sorry if I came on too strong on Friday. I just think we have something
and you won't give it a chance. I've never felt like this about anyone.

I know you said you're not looking for anything but people say that. I'll
be at the wall on Thursday and every Thursday after that. You'll see I'm
serious.

Alex
"""

SAW_YOU = """Sam,

I saw you at the station tonight. You looked tired. I know you blocked me
on Instagram but we need to talk. I'll wait for you tomorrow.

Alex
"""

REPORT = (
    f"""Dear Sam,

Thank you for coming in to the station yesterday. I have recorded your report
of stalking under crime reference {CRIME_REF}; please quote it whenever you
contact us about this.

Please keep every message, call log, email and screenshot, and do not delete
the chats even if you block him. A backup of your phone's messages and an
export of the WhatsApp chat would be very helpful. Please do not reply to him.

I will be in touch next week about the next steps.

Kind regards,
Hannah
"""
    + POLICE_FOOTER
)

ORDER = (
    f"""Dear Sam,

I am writing to confirm that an interim Stalking Protection Order was served
on Alex Marsh in person today, Friday 5 April, at 14:20.

The order forbids him from contacting you by any means, directly or through
anyone else, and from going to your road or your workplace. Any contact from
him after 14:20 today is a breach and a criminal offence: please report it
quoting {CRIME_REF}, and call 999 if you are in danger.

Kind regards,
Hannah
"""
    + POLICE_FOOTER
)

BREACH = (
    f"""Dear Sam,

Thank you for the screenshots and the backups. I have added the texts and
calls from 07700 900456 and the messages from the Instagram account
instagram.com/alex.m_99 to the file under {CRIME_REF} as suspected breaches
of the order.

If anything else happens you can reach me on 07700 900870 (Monday to Friday),
or call 999 in an emergency.

Kind regards,
Hannah
"""
    + POLICE_FOOTER
)


def _photo_email() -> bytes:
    """An email with a photo attached, sent half an hour after the clocks went forward (02:30 BST)."""
    moment = at("2024-03-31", "02:30")
    photo = base64.encodebytes(_photo("car by day")).decode("ascii").rstrip("\n")
    text = (
        f"Return-Path: <{ALEX_EMAIL}>\n"
        + _received(*ALEX_RELAY, moment, "20240331013000.5521@example.net")
        + f"From: {STALKER} <{ALEX_EMAIL}>\n"
        f"To: {OWNER_EMAIL}\n"
        "Subject: you forgot this\n"
        f"Date: {_date_header(moment)}\n"
        "Message-ID: <20240331013000.5521@example.net>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="mix-5521"\n'
        "\n"
        "--mix-5521\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "I took a picture of your car yesterday morning. Call me on 07700 900123.\n"
        "\n"
        "--mix-5521\n"
        'Content-Type: image/jpeg; name="IMG_20240330_081503.jpg"\n'
        'Content-Disposition: attachment; filename="IMG_20240330_081503.jpg"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n" + photo + "\n"
        "--mix-5521--\n"
    )
    return text.encode("ascii")


def _reply_email() -> bytes:
    """multipart/alternative, as the webmail Alex used writes a reply; kept twice (see FORWARDED_COPY)."""
    moment = at("2024-03-02", "07:45", 20)
    text = (
        _received(*ALEX_RELAY, moment, "20240302074520.1182@example.net")
        + f"From: {STALKER} <{ALEX_EMAIL}>\n"
        f"To: {OWNER_EMAIL}\n"
        "Subject: Re: saw you tonight\n"
        f"Date: {_date_header(moment)}\n"
        "Message-ID: <20240302074520.1182@example.net>\n"
        "In-Reply-To: <20240301211402.7731@example.net>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="b1"\n'
        "\n"
        "--b1\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "Why are you ignoring me? I waited outside your building until 2am.\n"
        "\n"
        "--b1\n"
        "Content-Type: text/html; charset=utf-8\n"
        "\n"
        "<html><body><p>Why are you ignoring me? I waited outside your building <b>until 2am</b>.</p>"
        "</body></html>\n"
        "--b1--\n"
    )
    return text.encode("utf-8")


# A mail the webmail's "save as .eml" mangled: raw 8-bit byte and CR in the From header, a base64 part
# that is not base64, no closing boundary, no Date (real mailboxes hold such files).
MALFORMED = (
    b"From: Alex Marsh \xe9 <alex.marsh@example.net>\r\n"
    b"To: sam.taylor@example.org\n"
    b"Subject: =?utf-8?B?bm90IGZpbmlzaGVk?=\n"
    b"MIME-Version: 1.0\n"
    b'Content-Type: multipart/mixed; boundary="cut"\n'
    b"\n"
    b"--cut\n"
    b"Content-Type: text/plain\n"
    b"Content-Transfer-Encoding: base64\n"
    b"\n"
    b"this is not base64 at all!!\n"
    b"--cut\n"
    b"Content-Type: text/plain\n"
    b"\n"
    b"I will be there tonight whether you like it or not\n"
)


def email_files() -> dict[str, bytes]:
    reply = _reply_email()
    return {
        "mailbox-export/01-about-thursday.eml": _plain_email(
            f"{STALKER} <{ALEX_EMAIL}>",
            ALEX_RELAY,
            at("2024-02-08", "22:14", 9),
            "About Thursday",
            "20240208221409.3390@example.net",
            LETTER,
        ),
        "mailbox-export/02-saw-you-tonight.eml": _plain_email(
            f"{STALKER} <{ALEX_EMAIL}>",
            ALEX_RELAY,
            at("2024-03-01", "21:14", 2),
            "saw you tonight",
            "20240301211402.7731@example.net",
            SAW_YOU,
            "X-Originating-IP: [198.51.100.77]\n",
        ),
        DUPLICATE_EMAIL: reply,
        FORWARDED_COPY: reply,
        "mailbox-export/04-your-report.eml": _plain_email(
            f"{OFFICER} <{OFFICER_EMAIL}>",
            POLICE_RELAY,
            at("2024-03-09", "10:15", 44),
            f"Your report - crime reference {CRIME_REF}",
            "a1f3c9e2.20240309101544@police.example.org",
            REPORT,
        ),
        "mailbox-export/05-you-forgot-this.eml": _photo_email(),
        "mailbox-export/06-order-served.eml": _plain_email(
            f"{OFFICER} <{OFFICER_EMAIL}>",
            POLICE_RELAY,
            at("2024-04-05", "16:05", 31),
            f"Stalking Protection Order served - {CRIME_REF}",
            "b7d20c41.20240405160531@police.example.org",
            ORDER,
        ),
        "mailbox-export/07-new-address.eml": _plain_email(
            f'"A. M." <{ALEX_NEW_EMAIL}>',
            ("smtp.example.com", "192.0.2.15"),
            at("2024-04-09", "23:02", 5),
            "you can't block me",
            "ab12cd34@example.com",
            "New address. Blocking me won't work. I know where you work now.\n",
            "X-Originating-IP: [198.51.100.77]\n",
        ),
        "mailbox-export/08-malformed.eml": MALFORMED,
        "mailbox-export/09-re-breaches.eml": _plain_email(
            f"{OFFICER} <{OFFICER_EMAIL}>",
            POLICE_RELAY,
            at("2024-04-23", "11:20", 8),
            f"RE: messages since the order - {CRIME_REF}",
            "c93e55a0.20240423112008@police.example.org",
            BREACH,
        ),
    }


# --- screenshots Sam took of the WhatsApp chat ---------------------------------------------------


@dataclass(frozen=True)
class Shot:
    name: str  # Android names a screenshot by its capture time (local): Screenshot_YYYYMMDD-HHMMSS.png
    bubbles: list[tuple[str, str]]  # (day, "HH:MM") of exported WhatsApp lines, in order
    dark: bool
    icons: str  # carrier, network and battery in the status bar
    subtitle: str  # under the contact's name

    @property
    def taken(self) -> datetime:
        stamp = self.name.rsplit("_", 1)[1].split(".")[0]
        return datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=LONDON)


SHOTS = [
    Shot(
        "Screenshots/Screenshot_20240221-072455.png",
        [
            ("2024-02-20", "19:42"),
            ("2024-02-20", "19:44"),
            ("2024-02-20", "19:52"),
            ("2024-02-20", "20:15"),
            ("2024-02-20", "21:40"),
            ("2024-02-20", "23:58"),
            ("2024-02-21", "00:31"),
            ("2024-02-21", "00:32"),
        ],
        dark=False,
        icons="EE 4G 64%",
        subtitle="online",
    ),
    Shot(
        "Screenshots/Screenshot_20240308-074812.png",
        [
            ("2024-03-07", "23:12"),
            ("2024-03-07", "23:13"),
            ("2024-03-07", "23:40"),
            ("2024-03-08", "07:02"),
        ],
        dark=False,
        icons="EE 4G 81%",
        subtitle="last seen today at 07:03",
    ),
    Shot(
        "Screenshots/Screenshot_20240331-081530.png",
        [
            ("2024-03-30", "23:52"),
            ("2024-03-31", "00:30"),
            ("2024-03-31", "00:34"),
            ("2024-03-31", "00:41"),
            ("2024-03-31", "00:58"),
            ("2024-03-31", "02:03"),
            ("2024-03-31", "02:05"),
        ],
        dark=True,
        icons="EE 4G 37%",
        subtitle="last seen today at 02:06",
    ),
]


def _day_label(day: date, taken: date) -> str:
    """The separator WhatsApp draws above a day's first message, seen on the day the shot was taken."""
    if day == taken:
        return "Today"
    if day == taken - timedelta(days=1):
        return "Yesterday"
    return f"{day.day} {day:%B %Y}"


def screenshot(shot: Shot) -> bytes:
    chat = whatsapp_lines()
    keys = [(line.when.date().isoformat(), f"{line.when:%H:%M}") for line in chat]
    start = keys.index(shot.bubbles[0])
    end = len(keys) - keys[::-1].index(shot.bubbles[-1])
    shown = chat[start:end]
    # a screenshot shows a stretch of the chat with nothing left out
    assert sorted(set(keys[start:end])) == sorted(shot.bubbles), shot.name
    messages: list[ChatLine] = []
    separators: dict[int, str] = {}
    shown_day = None
    for line in shown:
        if line.when.date() != shown_day:
            shown_day = line.when.date()
            separators[len(messages)] = _day_label(shown_day, shot.taken.date())
        side = "out" if line.sender == OWNER_NAME else "in"
        messages.append(ChatLine(side, line.text, f"{line.when:%H:%M}"))
    spec = ChatSpec(
        contact=STALKER,
        day=separators.pop(0),
        messages=messages,
        dark=shot.dark,
        app="whatsapp",
        width=720,
        height=1560,
        font_size=29,
        status_time=f"{shot.taken:%H:%M}",
        extra_days=separators,
        subtitle=shot.subtitle,
        status_icons=shot.icons,
        avatar=True,
        ticks=True,
        wallpaper=True,
    )
    buffer = io.BytesIO()
    render(spec).save(buffer, "PNG")
    return buffer.getvalue()


# --- the whole case ----------------------------------------------------------------------------------


def build() -> dict[str, bytes]:
    """Every file of the sample case (relative path -> bytes), README.md excepted."""
    files = {
        WHATSAPP_ZIP: whatsapp_zip(),
        SMS_XML: sms_xml(),
        CALLS_XML: calls_xml(),
        **instagram_files(),
        **email_files(),
    }
    for shot in SHOTS:
        files[shot.name] = screenshot(shot)
    return dict(sorted(files.items()))


def write(folder: Path) -> list[Path]:
    """Write the case into folder; returns files already there that the case does not have (left alone)."""
    files = build()
    for relative, data in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    expected = {folder / r for r in files} | {folder / "README.md"}
    return sorted(p for p in folder.rglob("*") if p.is_file() and p not in expected)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/sample_case.py FOLDER   (e.g. sample/)")
    target = Path(sys.argv[1])
    stray = write(target)
    total = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    print(f"wrote {len(build())} files to {target} ({total:,} bytes in the folder)")
    for path in stray:
        print(f"not part of the sample case (remove it?): {path}")
    if stray:
        sys.exit(1)
