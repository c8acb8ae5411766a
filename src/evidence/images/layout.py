"""Layout of a screenshot from its pixels: page colour, solidly filled regions (bubbles, bars, day pills), their side.

The page colour is the most common colour; every large, solidly filled block of another colour is a region.
Chat apps draw received messages on the left and the phone owner's own on the right, so a bubble's side
gives its direction. This needs no OCR: OCR lines are assigned to regions afterwards (chat_reading).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

ANALYSIS_WIDTH = 540  # layout analysis runs on a copy at most this wide


COLOUR_DISTANCE = 8  # a pixel differing from the page by more than this (any channel) is "ink or fill"


SIDES = {"left": "incoming", "right": "outgoing"}


OPENING = 3  # pixels (of the analysis copy): thinner strokes are not part of a filled region


# Colours of apps we recognise, by region kind (light and dark themes, old and new palettes). An outgoing
# bubble's colour names the app alone; a screenshot of incoming messages only (white bubbles in the light
# theme, as in every app) needs two of the others: the title bar, the date pills, dark incoming bubbles.
APP_COLOURS: dict[str, dict[str, list[tuple[int, int, int]]]] = {
    "whatsapp": {
        "right": [(220, 248, 198), (217, 253, 211), (0, 92, 75), (0, 93, 75), (5, 97, 98), (0, 95, 82)],
        "bar": [(7, 94, 84), (0, 128, 105), (31, 44, 52)],
        "center": [(225, 245, 254), (225, 243, 251), (24, 34, 41)],
        "left": [(32, 44, 51)],
    },
}


# Android puts the foreground app's package in screenshot names.
APP_PACKAGES = {
    "com.whatsapp": "whatsapp",
    "com.whatsapp.w4b": "whatsapp",
    "org.telegram.messenger": "telegram",
    "org.thoughtcrime.securesms": "signal",
    "com.instagram.android": "instagram",
    "com.facebook.orca": "messenger",
    "com.snapchat.android": "snapchat",
    "com.google.android.apps.messaging": "sms",
    "com.samsung.android.messaging": "sms",
}


@dataclass
class Region:
    """A solidly filled block: bubble, bar or pill. Box in original pixels; kind from its position."""

    x: int
    y: int
    w: int
    h: int
    fill: tuple[int, int, int]
    kind: str  # bar, left, right, center, other

    def contains(self, px: float, py: float, margin: int = 2) -> bool:
        return (
            self.x - margin <= px <= self.x + self.w + margin
            and self.y - margin <= py <= self.y + self.h + margin
        )

    @property
    def fill_hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.fill)


@dataclass
class Layout:
    width: int
    height: int
    page_color: tuple[int, int, int]
    regions: list[Region] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list, repr=False)  # per region, its box's filled pixels


def luminance(rgb: tuple[int, int, int] | tuple[float, ...]) -> float:
    r, g, b = rgb[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _quantize(pixels: np.ndarray, shift: int = 3) -> np.ndarray:
    q = (pixels >> shift).astype(np.int32)
    return (q[..., 0] << 16) | (q[..., 1] << 8) | q[..., 2]


def find_layout(rgb: Image.Image) -> Layout:
    """Page colour and filled regions of an RGB image (works on a reduced copy for speed)."""
    width, height = rgb.size
    step = max(1, math.ceil(width / ANALYSIS_WIDTH))
    small = np.asarray(rgb, dtype=np.int16)[::step, ::step]
    keys = _quantize(small)
    values, counts = np.unique(keys, return_counts=True)
    page_key = values[counts.argmax()]
    page = tuple(int(v) for v in small[keys == page_key].mean(axis=0).round())
    layout = Layout(width, height, page)  # type: ignore[arg-type]
    ink = np.abs(small - np.array(page, dtype=np.int16)).max(axis=2) > COLOUR_DISTANCE
    from scipy import ndimage  # costs ~0.3 s to import: only when a screenshot is analysed

    # Strokes a few pixels wide (wallpaper doodles, text on the page) are not fills: opening removes them,
    # so a doodle touching two bubbles no longer joins them into one block.
    solid = ndimage.binary_opening(ink, structure=np.ones((OPENING, OPENING), dtype=bool))
    labels, _count = ndimage.label(solid)
    sh, sw = ink.shape
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        h, w = box[0].stop - box[0].start, box[1].stop - box[1].start
        if w < max(16, 0.08 * sw) or h < max(8, 0.02 * sh):
            continue
        component = labels[box] == index
        filled = ndimage.binary_fill_holes(component)
        if filled.sum() < 0.8 * w * h:
            continue  # text, icons, wallpaper doodles: not a solid block
        pixels = small[box][component]
        pkeys = _quantize(pixels, 4)  # coarse: JPEG recompression spreads a flat fill over many values
        fvalues, fcounts = np.unique(pkeys, return_counts=True)
        if fcounts.max() < 0.4 * len(pixels):
            continue  # no dominant fill colour (a photo, a bold word with its halo)
        fill = tuple(int(v) for v in pixels[pkeys == fvalues[fcounts.argmax()]].mean(axis=0).round())
        x, y = box[1].start * step, box[0].start * step
        w_full, h_full = min(width - x, w * step), min(height - y, h * step)
        mask = Image.fromarray(filled).resize((w_full, h_full), Image.Resampling.NEAREST)
        region = Region(x, y, w_full, h_full, fill, _kind(x, w_full, width))  # type: ignore[arg-type]
        layout.regions.append(region)
        layout.masks.append(np.asarray(mask, dtype=bool))
    return layout


def _kind(x: int, w: int, width: int) -> str:
    right = x + w
    if w >= 0.9 * width:
        return "bar"
    if x <= 0.12 * width and right <= 0.92 * width:
        return "left"
    if right >= 0.88 * width and x >= 0.08 * width:
        return "right"
    if abs(x + w / 2 - width / 2) <= 0.06 * width and w <= 0.6 * width:
        return "center"
    return "other"


def app_of(layout: Layout, hint: str | None = None) -> str | None:
    """Chat app from the screenshot name's package (Android) or from its colours (APP_COLOURS)."""
    if hint and hint in APP_PACKAGES:
        return APP_PACKAGES[hint]
    for app, colours in APP_COLOURS.items():
        outgoing = any(  # either side: a wide outgoing bubble can be taken for a left one
            region.kind in SIDES and any(_close(region.fill, colour) for colour in colours["right"])
            for region in layout.regions
        )
        kinds = {
            region.kind
            for region in layout.regions
            if region.kind != "right"
            and any(_close(region.fill, colour) for colour in colours.get(region.kind, []))
        }
        if outgoing or len(kinds) >= 2:
            return app
    return None


def _close(fill: tuple[int, int, int], colour: tuple[int, int, int]) -> bool:
    return max(abs(a - b) for a, b in zip(fill, colour, strict=True)) <= 10
