"""Chat screenshots drawn with Pillow: known contact, day, messages, sides and times, light or dark mode.

Used by the image/OCR tests and by benchmarks/ocr_bench.py. The layout imitates phone chat apps: a status
bar, a header bar with the contact's name, a centred day separator "pill", incoming bubbles on the left and
outgoing bubbles on the right, each with its time in the bubble's bottom-right corner.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FONT_NAME = "DejaVuSans.ttf"

# Colours per (app, mode): page, header, header text, incoming fill/text, outgoing fill/text, pill fill/text.
PALETTES = {
    ("whatsapp", "light"): {
        "page": (236, 229, 221),
        "header": (7, 94, 84),
        "header_text": (255, 255, 255),
        "in": (255, 255, 255),
        "in_text": (17, 27, 33),
        "out": (220, 248, 198),
        "out_text": (17, 27, 33),
        "pill": (225, 245, 254),
        "pill_text": (84, 101, 111),
    },
    ("whatsapp", "dark"): {
        "page": (11, 20, 26),
        "header": (31, 44, 52),
        "header_text": (233, 237, 239),
        "in": (32, 44, 51),
        "in_text": (233, 237, 239),
        "out": (0, 92, 75),
        "out_text": (233, 237, 239),
        "pill": (24, 34, 41),
        "pill_text": (134, 150, 160),
    },
    ("generic", "light"): {
        "page": (255, 255, 255),
        "header": (246, 246, 246),
        "header_text": (0, 0, 0),
        "in": (233, 233, 235),
        "in_text": (0, 0, 0),
        "out": (10, 132, 255),
        "out_text": (255, 255, 255),
        "pill": (255, 255, 255),
        "pill_text": (110, 110, 115),
    },
    ("generic", "dark"): {
        "page": (0, 0, 0),
        "header": (28, 28, 30),
        "header_text": (255, 255, 255),
        "in": (38, 38, 41),
        "in_text": (255, 255, 255),
        "out": (10, 132, 255),
        "out_text": (255, 255, 255),
        "pill": (0, 0, 0),
        "pill_text": (160, 160, 165),
    },
}


@dataclass(frozen=True)
class ChatLine:
    side: str  # "in" (left) or "out" (right)
    text: str
    time: str  # "HH:MM" as shown


@dataclass
class ChatSpec:
    contact: str
    day: str | None
    messages: list[ChatLine]
    dark: bool = False
    app: str = "generic"
    width: int = 360
    height: int = 640
    font_size: int = 15
    status_time: str = "11:59"
    extra_days: dict[int, str] = field(default_factory=dict)  # message index -> separator drawn before it


def font_path() -> Path:
    for folder in FONT_DIRS:
        if (folder / FONT_NAME).exists():
            return folder / FONT_NAME
    raise FileNotFoundError("DejaVuSans.ttf not found: install the Debian package fonts-dejavu-core")


def render(spec: ChatSpec) -> Image.Image:
    """Draw the screenshot; every coordinate scales with the width so bigger shots look the same."""
    palette = PALETTES[(spec.app, "dark" if spec.dark else "light")]
    unit = spec.width / 360
    font = ImageFont.truetype(str(font_path()), spec.font_size)
    small = ImageFont.truetype(str(font_path()), max(9, round(spec.font_size * 0.75)))
    bold = ImageFont.truetype(
        str(font_path()).replace("Sans.ttf", "Sans-Bold.ttf"), round(spec.font_size * 1.1)
    )
    image = Image.new("RGB", (spec.width, spec.height), palette["page"])
    draw = ImageDraw.Draw(image)
    status_h, header_h = round(22 * unit), round(50 * unit)
    draw.rectangle((0, 0, spec.width, status_h + header_h), fill=palette["header"])
    draw.text((round(12 * unit), round(4 * unit)), spec.status_time, font=small, fill=palette["header_text"])
    draw.text(
        (round(56 * unit), status_h + round(14 * unit)), spec.contact, font=bold, fill=palette["header_text"]
    )
    y = status_h + header_h + round(12 * unit)
    pad = round(8 * unit)
    line_h = round(spec.font_size * 1.35)
    max_chars = max(10, int(spec.width * 0.62 / (spec.font_size * 0.58)))

    def separator(label: str) -> None:
        nonlocal y
        box = draw.textbbox((0, 0), label, font=small)
        w, h = box[2] - box[0] + 2 * pad, box[3] - box[1] + pad
        x0 = (spec.width - w) // 2
        draw.rounded_rectangle(
            (x0, y, x0 + w, y + h + pad // 2), radius=round(6 * unit), fill=palette["pill"]
        )
        draw.text((x0 + pad, y + pad // 2), label, font=small, fill=palette["pill_text"])
        y += h + round(16 * unit)

    if spec.day:
        separator(spec.day)
    for index, msg in enumerate(spec.messages):
        if index in spec.extra_days:
            separator(spec.extra_days[index])
        lines = textwrap.wrap(msg.text, max_chars) or [""]
        text_w = max(draw.textlength(line, font=font) for line in lines)
        time_w = draw.textlength(msg.time, font=small)
        bubble_w = round(max(text_w, time_w + 20 * unit) + 2 * pad)
        bubble_h = round(len(lines) * line_h + spec.font_size * 0.9 + 2 * pad)
        margin = round(10 * unit)
        x0 = margin if msg.side == "in" else spec.width - margin - bubble_w
        if y + bubble_h > spec.height - margin:
            raise ValueError("messages do not fit on the screenshot: make it taller")
        fill, ink = palette[msg.side], palette[f"{msg.side}_text"]
        draw.rounded_rectangle((x0, y, x0 + bubble_w, y + bubble_h), radius=round(8 * unit), fill=fill)
        for number, line in enumerate(lines):
            draw.text((x0 + pad, y + pad + number * line_h), line, font=font, fill=ink)
        draw.text(
            (x0 + bubble_w - pad - time_w, y + bubble_h - pad - round(spec.font_size * 0.8)),
            msg.time,
            font=small,
            fill=ink,
        )
        y += bubble_h + round(8 * unit)
    return image


def save(spec: ChatSpec, path: Path, **save_args: object) -> Path:
    render(spec).save(path, **save_args)
    return path


SAMPLE_MESSAGES = [
    ChatLine("in", "Why are you ignoring me", "21:04"),
    ChatLine("in", "I saw you at the station today", "21:05"),
    ChatLine("out", "Please stop contacting me", "21:07"),
    ChatLine("in", "You cannot hide from me forever", "21:15"),
]


def sample_spec(dark: bool = False, **overrides: object) -> ChatSpec:
    """The screenshot most tests use: four messages on 12 March 2024 with 'Jordan Blake'."""
    values: dict[str, object] = {
        "contact": "Jordan Blake",
        "day": "12 March 2024",
        "messages": list(SAMPLE_MESSAGES),
        "dark": dark,
    }
    values.update(overrides)
    return ChatSpec(**values)  # type: ignore[arg-type]
