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
    subtitle: str | None = None  # under the contact's name: "online", "last seen today at 21:02"
    status_icons: str | None = None  # right of the clock: signal bars, then this text ("78%"), a battery
    status_font_size: int | None = None  # the clock's size (large accessibility text)
    header_bar: bool = True  # False: status bar and header drawn on the page colour (no distinct bar)
    avatar: bool = False  # a round contact picture left of the name
    ticks: bool = False  # read receipts after the time of outgoing bubbles
    wallpaper: bool = False  # WhatsApp's doodle wallpaper: thin outlines a little off the page colour


def font_path() -> Path:
    for folder in FONT_DIRS:
        if (folder / FONT_NAME).exists():
            return folder / FONT_NAME
    raise FileNotFoundError("DejaVuSans.ttf not found: install the Debian package fonts-dejavu-core")


def render(spec: ChatSpec, boxes: list[tuple[int, int, int, int]] | None = None) -> Image.Image:
    """Draw the screenshot; every coordinate scales with the width so bigger shots look the same.

    boxes, when given, receives each message's bubble as (left, top, right, bottom), in message order.
    """
    palette = PALETTES[(spec.app, "dark" if spec.dark else "light")]
    unit = spec.width / 360
    font = ImageFont.truetype(str(font_path()), spec.font_size)
    small = ImageFont.truetype(str(font_path()), max(9, round(spec.font_size * 0.75)))
    bold = ImageFont.truetype(
        str(font_path()).replace("Sans.ttf", "Sans-Bold.ttf"), round(spec.font_size * 1.1)
    )
    image = Image.new("RGB", (spec.width, spec.height), palette["page"])
    draw = ImageDraw.Draw(image)
    if spec.wallpaper:
        _doodles(draw, spec, palette["page"], unit)
    status_font = small
    if spec.status_font_size:
        status_font = ImageFont.truetype(str(font_path()), spec.status_font_size)
    status_h = max(round(22 * unit), round(status_font.size * 1.4))
    header_h = round(50 * unit)
    ink = palette["header_text"] if spec.header_bar else palette["in_text"]
    if spec.header_bar:
        draw.rectangle((0, 0, spec.width, status_h + header_h), fill=palette["header"])
    draw.text((round(12 * unit), round(4 * unit)), spec.status_time, font=status_font, fill=ink)
    if spec.status_icons is not None:
        _status_icons(draw, spec, status_font, ink, unit)
    name_x = round(56 * unit)
    if spec.avatar:
        size = round(36 * unit)
        top = status_h + (header_h - size) // 2
        draw.ellipse((round(14 * unit), top, round(14 * unit) + size, top + size), fill=(160, 170, 178))
        name_x = round(60 * unit)
    name_y = status_h + round((6 if spec.subtitle else 14) * unit)
    draw.text((name_x, name_y), spec.contact, font=bold, fill=ink)
    if spec.subtitle:
        draw.text((name_x, name_y + round(bold.size * 1.3)), spec.subtitle, font=small, fill=ink)
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
        ticked = spec.ticks and msg.side == "out"
        tick_w = draw.textlength(TICKS, font=small) + 3 * unit if ticked else 0
        bubble_w = round(max(text_w, time_w + tick_w + 20 * unit) + 2 * pad)
        bubble_h = round(len(lines) * line_h + spec.font_size * 0.9 + 2 * pad)
        margin = round(10 * unit)
        x0 = margin if msg.side == "in" else spec.width - margin - bubble_w
        if y + bubble_h > spec.height - margin:
            raise ValueError("messages do not fit on the screenshot: make it taller")
        fill, ink = palette[msg.side], palette[f"{msg.side}_text"]
        draw.rounded_rectangle((x0, y, x0 + bubble_w, y + bubble_h), radius=round(8 * unit), fill=fill)
        if boxes is not None:
            boxes.append((x0, y, x0 + bubble_w, y + bubble_h))
        for number, line in enumerate(lines):
            draw.text((x0 + pad, y + pad + number * line_h), line, font=font, fill=ink)
        time_x = x0 + bubble_w - pad - time_w - (tick_w if ticked else 0)
        time_y = y + bubble_h - pad - round(spec.font_size * 0.8)
        draw.text((time_x, time_y), msg.time, font=small, fill=ink)
        if ticked:
            draw.text((time_x + time_w + 3 * unit, time_y), TICKS, font=small, fill=TICK_COLOUR)
        y += bubble_h + round(8 * unit)
    return image


def _doodles(draw: ImageDraw.ImageDraw, spec: ChatSpec, page: tuple[int, int, int], unit: float) -> None:
    """Outlined circles, squares and strokes over the whole page, about 14 levels off its colour."""
    import random

    rng = random.Random(spec.width * 7 + spec.height)
    shade = tuple(max(0, min(255, c + (14 if sum(page) < 384 else -14))) for c in page)
    step = round(34 * unit)
    for top in range(0, spec.height, step):
        for left in range(0, spec.width, step):
            x, y = left + rng.randint(0, step // 2), top + rng.randint(0, step // 2)
            size = rng.randint(round(6 * unit), round(16 * unit))
            shape = rng.randrange(3)
            width = max(1, round(1.2 * unit))
            if shape == 0:
                draw.ellipse((x, y, x + size, y + size), outline=shade, width=width)
            elif shape == 1:
                draw.rectangle((x, y, x + size, y + size * 0.7), outline=shade, width=width)
            else:
                draw.line((x, y, x + size, y + size // 2), fill=shade, width=width)


TICKS = "\u2713\u2713"  # read receipts (two check marks), drawn in WhatsApp's blue
TICK_COLOUR = (83, 189, 235)


def _status_icons(
    draw: ImageDraw.ImageDraw, spec: ChatSpec, font: ImageFont.FreeTypeFont, ink: object, unit: float
) -> None:
    """Signal bars, the text (battery percentage, carrier) and a battery outline at the right of the status bar."""
    right = spec.width - round(10 * unit)
    top, height = round(6 * unit), max(8, round(font.size * 0.75))
    battery_w = round(20 * unit)
    draw.rectangle((right - battery_w, top, right, top + height), outline=ink, width=max(1, round(unit)))
    draw.rectangle((right - battery_w + 2, top + 2, right - battery_w // 3, top + height - 2), fill=ink)
    text = spec.status_icons or ""
    text_w = draw.textlength(text, font=font)
    text_x = right - battery_w - round(4 * unit) - text_w
    draw.text((text_x, round(4 * unit)), text, font=font, fill=ink)
    bar_w, gap = max(2, round(3 * unit)), max(1, round(1.5 * unit))
    x = text_x - round(6 * unit) - 4 * (bar_w + gap)
    for number in range(4):
        bar_h = round(height * (number + 1) / 4)
        draw.rectangle((x, top + height - bar_h, x + bar_w, top + height), fill=ink)
        x += bar_w + gap


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
