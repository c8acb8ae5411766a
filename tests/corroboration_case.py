"""A realistic screenshot case: two WhatsApp exports and light and dark screenshots of the same chats.

Used by tests/test_corroboration.py. The victim (Sam Taylor) exported two chats. "Jordan Blake" is the
stalker; "Alex Marsh" is a friend whose chat holds texts close to Jordan's at nearly the same times, so a
screenshot of Jordan's chat could be linked to Alex's messages by mistake. The screenshots show bubbles
that are in the export and some that are not (deleted before the export, or never in it), long wrapped
messages, symbols, read ticks, a status bar with signal bars and battery, a header with the contact's
name, picture and "online", and day separators (a date, "Today", "Yesterday", a weekday, or none at all
when the screenshot was scrolled past it).

Every bubble knows its truth: the exported message it shows (conversation, body) or None.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from screenshot_generator import ChatLine, ChatSpec, render

OWNER = "Sam Taylor"
TZ = "Europe/London"

# (conversation, day, time, sender, body): the two exports. Times are Europe/London (BST in June).
JORDAN = "Jordan Blake"
ALEX = "Alex Marsh"
EXPORTED: list[tuple[str, str, str, str, str]] = [
    (JORDAN, "14/06/2024", "21:02", JORDAN, "Why are you ignoring me"),
    (JORDAN, "14/06/2024", "21:03", JORDAN, "I know you read my messages"),
    (JORDAN, "14/06/2024", "21:05", OWNER, "Please stop contacting me"),
    (
        JORDAN,
        "14/06/2024",
        "21:06",
        JORDAN,
        "I saw you at the station today with your sister, you looked upset and I wanted to talk to you",
    ),
    (JORDAN, "14/06/2024", "21:08", JORDAN, "Answer your phone"),
    (JORDAN, "14/06/2024", "21:08", JORDAN, "Answer your phone now!!"),
    (JORDAN, "14/06/2024", "21:10", OWNER, "I am going to block you"),
    (JORDAN, "14/06/2024", "21:12", JORDAN, "You cannot hide from me forever \u2639"),
    (JORDAN, "14/06/2024", "21:15", JORDAN, "I will be outside your work tomorrow at 8"),
    (JORDAN, "15/06/2024", "07:58", JORDAN, "Good morning beautiful \u2665"),
    (JORDAN, "15/06/2024", "08:01", JORDAN, "I am outside now"),
    (JORDAN, "15/06/2024", "08:03", OWNER, "I have called the police"),
    (JORDAN, "15/06/2024", "08:04", JORDAN, "The police can't stop me. Nobody can"),
    (JORDAN, "15/06/2024", "08:10", JORDAN, "Look out of the window"),
    (
        JORDAN,
        "15/06/2024",
        "08:30",
        JORDAN,
        "Why did you not come out? I waited for you for half an hour in the rain and you did not even look",
    ),
    (JORDAN, "16/06/2024", "23:40", JORDAN, "I know where you live"),
    (JORDAN, "16/06/2024", "23:41", JORDAN, "Your car is the blue one by the gate"),
    (JORDAN, "16/06/2024", "23:50", OWNER, "Leave me alone. This is the last time I ask"),
    (JORDAN, "16/06/2024", "23:52", JORDAN, "Never"),
    (JORDAN, "16/06/2024", "23:58", JORDAN, "Sleep well, I am watching over you"),
    (JORDAN, "17/06/2024", "00:05", JORDAN, "Your light is still on"),
    # the friend: near-identical texts at (nearly) the same times
    (ALEX, "14/06/2024", "21:02", ALEX, "Why are you ignoring me"),
    (
        ALEX,
        "14/06/2024",
        "21:06",
        ALEX,
        "I saw you at the station yesterday with your sister, you looked upset and I wanted to talk to you",
    ),
    (ALEX, "14/06/2024", "21:09", OWNER, "I am going to block him"),
    (ALEX, "15/06/2024", "08:01", ALEX, "I am outside now!"),
    (ALEX, "15/06/2024", "08:04", OWNER, "I have called the police"),
    (ALEX, "15/06/2024", "08:12", ALEX, "Look out of the window, is his car there?"),
    (ALEX, "16/06/2024", "23:45", ALEX, "Are you safe? Call me whenever you need"),
]


@dataclass(frozen=True)
class Bubble:
    side: str  # "in" or "out"
    text: str
    time: str
    truth: tuple[str, str] | None  # (conversation, body) of the exported message it shows, or None


def _in(conversation: str, text: str, time: str, exported: bool = True) -> Bubble:
    return Bubble("in", text, time, (conversation, text) if exported else None)


def _out(conversation: str, text: str, time: str, exported: bool = True) -> Bubble:
    return Bubble("out", text, time, (conversation, text) if exported else None)


@dataclass
class Shot:
    name: str  # file name (Android screenshot names carry the capture time)
    contact: str
    day: str | None
    bubbles: list[Bubble]
    dark: bool
    width: int = 400
    height: int = 860
    font_size: int = 16
    status_time: str = "21:18"
    status_icons: str = "78%"
    extra_days: dict[int, str] | None = None
    wallpaper: bool = True
    jpeg_quality: int | None = None  # saved as JPEG (shared through a chat app) rather than PNG

    def spec(self) -> ChatSpec:
        return ChatSpec(
            contact=self.contact,
            day=self.day,
            messages=[ChatLine(b.side, b.text, b.time) for b in self.bubbles],
            dark=self.dark,
            app="whatsapp",
            width=self.width,
            height=self.height,
            font_size=self.font_size,
            status_time=self.status_time,
            extra_days=dict(self.extra_days or {}),
            subtitle="online",
            status_icons=self.status_icons,
            avatar=True,
            ticks=True,
            wallpaper=self.wallpaper,
        )


J, A = JORDAN, ALEX
SHOTS: list[Shot] = [
    Shot(  # light, "Today", the evening of the 14th
        "Screenshot_20240614-211800.png",
        J,
        "Today",
        [
            _in(J, "Hello?", "21:01", exported=False),  # deleted for everyone before the export
            _in(J, "Why are you ignoring me", "21:02"),
            _in(J, "I know you read my messages", "21:03"),
            _out(J, "Please stop contacting me", "21:05"),
            _in(
                J,
                "I saw you at the station today with your sister, you looked upset and I wanted to talk to you",
                "21:06",
            ),
            _in(J, "Answer your phone", "21:08"),
            _in(J, "Answer your phone now!!", "21:08"),
        ],
        dark=False,
    ),
    Shot(  # dark, a written date, the rest of the 14th
        "Screenshot_20240702-101500.jpg",
        J,
        "14 June 2024",
        [
            _in(J, "Answer your phone now!!", "21:08"),
            _out(J, "I am going to block you", "21:10"),
            _in(J, "You cannot hide from me forever \u2639", "21:12"),
            _in(J, "I will be outside your work tomorrow at 8", "21:15"),
            _in(J, "Did you really think that would work", "21:16", exported=False),
        ],
        dark=True,
        jpeg_quality=80,
        status_time="10:15",
        status_icons="EE 4G 64%",
    ),
    Shot(  # light, "Yesterday" and "Today" separators, a big screenshot
        "Screenshot_20240615-083500.png",
        J,
        "Yesterday",
        [
            _in(J, "I will be outside your work tomorrow at 8", "21:15"),
            _in(J, "Good morning beautiful \u2665", "07:58"),
            _in(J, "I am outside now", "08:01"),
            _out(J, "I have called the police", "08:03"),
            _in(J, "The police can't stop me. Nobody can", "08:04"),
            _in(J, "Look out of the window", "08:10"),
        ],
        dark=False,
        width=720,
        height=1560,
        font_size=29,
        status_time="08:35",
        status_icons="LTE 51%",
        extra_days={1: "Today"},
    ),
    Shot(  # dark, "Today", the morning of the 15th
        "Screenshot_20240615-084000.png",
        J,
        "Today",
        [
            _in(J, "I am outside now", "08:01"),
            _out(J, "I have called the police", "08:03"),
            _in(J, "The police can't stop me. Nobody can", "08:04"),
            _in(J, "Look out of the window", "08:10"),
            _in(
                J,
                "Why did you not come out? I waited for you for half an hour in the rain and you did not "
                "even look",
                "08:30",
            ),
            _out(J, "Please go away", "08:33", exported=False),  # sent after the export was made
        ],
        dark=True,
        width=1080,
        height=2340,
        font_size=43,
        status_time="08:40",
    ),
    Shot(  # light, a weekday separator (Sunday the 16th, seen on Wednesday the 19th)
        "Screenshot_20240619-090000.png",
        J,
        "Sunday",
        [
            _in(J, "I know where you live", "23:40"),
            _in(J, "Your car is the blue one by the gate", "23:41"),
            _out(J, "Leave me alone. This is the last time I ask", "23:50"),
            _in(J, "Never", "23:52"),
            _in(J, "Sleep well, I am watching over you", "23:58"),
        ],
        dark=False,
        status_time="09:00",
        status_icons="Vodafone UK 92%",
        extra_days=None,
    ),
    Shot(  # dark, scrolled: no separator on screen (the bubbles have times but no day)
        "Screenshot_20240619-090500.png",
        J,
        None,
        [
            _in(J, "Your car is the blue one by the gate", "23:41"),
            _out(J, "Leave me alone. This is the last time I ask", "23:50"),
            _in(J, "Never", "23:52"),
            _in(J, "Sleep well, I am watching over you", "23:58"),
            _in(J, "Your light is still on", "00:05"),
            _in(J, "I can see you moving", "00:09", exported=False),
        ],
        dark=True,
        status_time="09:05",
        extra_days={4: "Monday"},
    ),
    Shot(  # the screenshot Jordan's texts could be confused with: Jordan says "yesterday", Alex "today"
        "Screenshot_20240614-212000.png",
        J,
        "Today",
        [
            _in(J, "Why are you ignoring me", "21:02"),
            _in(
                J,
                "I saw you at the station yesterday with your sister, you looked upset and I wanted to talk "
                "to you",
                "21:06",
                exported=False,  # Jordan never wrote this; Alex did
            ),
            _out(J, "I am going to block him", "21:09", exported=False),
        ],
        dark=True,
        status_time="21:20",
    ),
    Shot(  # no name in the header (a cropped screenshot): Alex wrote the first text at the same minute too
        "Screenshot_20240614-213000.png",
        "",
        "Today",
        [
            _in(J, "Why are you ignoring me", "21:02"),
            _in(J, "I know you read my messages", "21:03"),
            _out(J, "Please stop contacting me", "21:05"),
        ],
        dark=False,
        status_time="21:30",
    ),
    Shot(  # the friend's chat, light
        "Screenshot_20240615-082000.jpg",
        A,
        "Today",
        [
            _in(A, "I am outside now!", "08:01"),
            _out(A, "I have called the police", "08:04"),
            _in(A, "Look out of the window, is his car there?", "08:12"),
            _in(A, "I am outside now", "08:15", exported=False),
        ],
        dark=False,
        jpeg_quality=70,
        status_time="08:20",
    ),
]


def export_text(conversation: str) -> str:
    """The WhatsApp (Android, day-first) export of one conversation."""
    lines = ["14/06/2024, 20:00 - Messages and calls are end-to-end encrypted. Tap to learn more."]
    for conv, day, time, sender, body in EXPORTED:
        if conv == conversation:
            lines.append(f"{day}, {time} - {sender}: {body}")
    return "\n".join(lines) + "\n"


def write_case(folder: Path) -> tuple[list[Path], dict[str, list[tuple[Bubble, tuple[int, int, int, int]]]]]:
    """Write the exports and the screenshots; returns the sources and, per screenshot file name, each
    bubble with its box on the image."""
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    for conversation in (JORDAN, ALEX):
        path = folder / f"WhatsApp Chat with {conversation}.txt"
        path.write_text(export_text(conversation), encoding="utf-8")
        sources.append(path)
    shots: dict[str, list[tuple[Bubble, tuple[int, int, int, int]]]] = {}
    pictures = folder / "Screenshots"
    pictures.mkdir(exist_ok=True)
    for shot in SHOTS:
        boxes: list[tuple[int, int, int, int]] = []
        image = render(shot.spec(), boxes)
        if shot.jpeg_quality:
            image.save(pictures / shot.name, "JPEG", quality=shot.jpeg_quality)
        else:
            image.save(pictures / shot.name)
        shots[shot.name] = list(zip(shot.bubbles, boxes, strict=True))
    sources.append(pictures)
    return sources, shots


def exported_day(day: str) -> datetime:
    return datetime.strptime(day, "%d/%m/%Y")
