"""Chat reading from OCR: bubble time stamps (read ticks, am/pm, times inside the text) and the contact's
name (never the status bar), on generated screenshots through real tesseract and on hand-made OCR lines."""

from __future__ import annotations

import pytest
from screenshot_generator import ChatLine, render, sample_spec

from evidence.images import ocr
from evidence.images.chat_reading import _bubble_time, _contact, is_status_bar, read_chat
from evidence.images.layout import Region
from evidence.images.ocr import OcrLine, OcrWord


def _line(text: str, x: int, y: int, h: int = 12, char_w: int = 7) -> OcrLine:
    words, left = [], x
    for word in text.split():
        words.append(OcrWord(word, 95.0, left, y, len(word) * char_w, h))
        left += (len(word) + 1) * char_w
    return OcrLine(text, 95.0, x, y, left - x - char_w, h, words)


@pytest.mark.parametrize("dark", [False, True])
def test_times_with_read_ticks_and_am_pm(dark: bool) -> None:
    messages = [
        ChatLine("in", "Why are you ignoring me", "9:04 pm"),
        ChatLine("out", "Please stop contacting me", "9:07 pm"),
        ChatLine("out", "I told you I will call the police at 9:30 if you come", "9:08 pm"),
        ChatLine("in", "Ok", "11:15 AM"),
    ]
    spec = sample_spec(messages=messages, ticks=True, app="whatsapp", dark=dark, wallpaper=True)
    chat = read_chat(ocr.ocr_image(render(spec)))
    assert chat is not None
    assert [(m.side, m.text, str(m.time_of_day)) for m in chat.messages] == [
        ("left", "Why are you ignoring me", "21:04:00"),
        ("right", "Please stop contacting me", "21:07:00"),
        ("right", "I told you I will call the police at 9:30 if you come", "21:08:00"),
        ("left", "Ok", "11:15:00"),
    ]


def test_a_time_inside_the_text_is_not_the_bubble_time() -> None:
    bubble = Region(10, 100, 220, 60, (255, 255, 255), "left")
    text_only = [_line("see you at 9:30", 20, 108, h=14)]
    assert _bubble_time(text_only, bubble) == (None, None, ["see you at 9:30"])
    with_stamp = [*text_only, _line("21:07 vv", 180, 143, h=9, char_w=5)]
    time_text, time_of_day, texts = _bubble_time(with_stamp, bubble)
    assert (time_text, str(time_of_day), texts) == ("21:07", "21:07:00", ["see you at 9:30"])
    glued = [_line("Please stop", 20, 108), _line("contacting me21:07", 100, 143, h=9, char_w=6)]
    assert _bubble_time(glued, bubble)[::2] == ("21:07", ["Please stop", "contacting me"])


@pytest.mark.parametrize(
    "text",
    ["02:17 all 78%", "02:17", "78%", "EE 4G", "LTE", "Vodafone UK", "Wi-Fi", "5G", "o2-uk 4G", "9:41 AM"],
)
def test_status_bar_lines_are_recognised(text: str) -> None:
    assert is_status_bar(_line(text, 10, 4))


def test_signal_bars_count_only_beside_the_status_bar() -> None:
    clock = _line("02:17", 10, 4)
    bars = _line("all", 300, 5)
    name = _line("Al", 60, 40, h=16)
    assert is_status_bar(bars, [clock]) and not is_status_bar(bars)
    assert not is_status_bar(name, [clock])
    assert _contact([clock, bars, name]) == "Al"
    assert _contact([clock, bars, _line("online", 60, 60)]) is None


@pytest.mark.parametrize(
    "overrides",
    [
        {"header_bar": False, "status_font_size": 30, "status_icons": "78%"},
        {
            "header_bar": False,
            "status_font_size": 30,
            "status_icons": "EE 4G 78%",
            "dark": True,
            "app": "whatsapp",
        },
        {"status_font_size": 26, "status_icons": "Vodafone UK", "subtitle": "online", "avatar": True},
        {
            "header_bar": False,
            "status_font_size": 30,
            "status_icons": "LTE",
            "contact": "",
            "wallpaper": True,
        },
    ],
)
def test_status_bar_is_never_the_contact(overrides: dict[str, object]) -> None:
    """A status bar in large text, or with no header bar to tell it from the header, is not a name."""
    spec = sample_spec(status_time="02:17", **overrides)
    chat = read_chat(ocr.ocr_image(render(spec)))
    assert chat is not None
    assert chat.contact in (None, spec.contact or None)
    assert chat.contact is None or "02" not in chat.contact
