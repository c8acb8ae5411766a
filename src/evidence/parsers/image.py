"""Images (PNG, JPEG, HEIC/HEIF, WebP): metadata, times, perceptual hash, OCR and chat-screenshot messages.

One `images` row per image; `image_times` for every time found (EXIF, XMP, file name, zip entry), with
conflict flags; `ocr_lines` with boxes and confidences; and for chat screenshots one message of kind `ocr`
per bubble, linked to its region (`ocr_regions`). OCR messages are never dressed up as exported messages:
their platform is the recognised app or "screenshot", and their flags say "ocr" and how confident it was.
"""

from __future__ import annotations

import logging
import re
import warnings
from datetime import datetime
from typing import TYPE_CHECKING, Any

from evidence.identifiers import normalize_device
from evidence.images import times as imagetime
from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext
from evidence.parsers.registry import register
from evidence.timeutil import TimeValue, from_aware, from_local, zone

if TYPE_CHECKING:
    from PIL import Image

    from evidence.images.chat_reading import ChatMessage, ChatScreenshot
    from evidence.images.ocr import OcrResult

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_XMP_DATE = re.compile(
    r"(exif:DateTimeOriginal|xmp:CreateDate|photoshop:DateCreated)\s*(?:=\s*[\"']|>)\s*([0-9][0-9:T.+\-Z ]{9,40})"
)
_NO_EXIF = re.compile(r"(does not have exif|no exif|exif not found|no (?:exif )?header)", re.IGNORECASE)
# Pillow tag numbers (fallback when exifread finds nothing).
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MAKE, _MODEL, _SOFTWARE, _DATETIME = 0x010F, 0x0110, 0x0131, 0x0132
_DATETIME_ORIGINAL, _OFFSET_TIME, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9010, 0x9011


def image_kind(head: bytes) -> str | None:
    """Format by signature: png, jpeg, webp or heif."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "heif"
    return None


def confidence_flag(confidence: float | None) -> str:
    if confidence is None or confidence < 60:
        return "ocr_confidence_low"
    return "ocr_confidence_high" if confidence >= 85 else "ocr_confidence_medium"


@register
class ImageParser(Parser):
    name = "image"
    version = "1"
    platform = "screenshot"
    description = "Images and screenshots (PNG, JPEG, HEIC/HEIF, WebP): EXIF, times, OCR, chat bubbles"

    def sniff(self, sample: Sample) -> bool:
        return image_kind(sample.head) is not None

    def parse(self, ctx: ParseContext) -> None:
        # numpy, scipy, imagehash and tesseract load only when an image is actually read
        import imagehash

        from evidence.images.chat_reading import read_chat
        from evidence.images.ocr import (
            ROTATION_FAILED,
            ImageOpenError,
            OcrResult,
            ocr_image,
            open_image,
            take_prefetched,
            to_rgb,
        )

        lang = ctx.options.ocr_lang
        flags: list[str] = []
        with open_image(ctx.path) as (image, notes):
            for note in notes:
                ctx.warn(note)
                flags.append("truncated")
            meta = read_metadata(ctx, image)
            rotation: list[str] = []
            rgb = to_rgb(image, rotation)
            for note in rotation:
                ctx.warn(note)
                flags.append(ROTATION_FAILED)
            phash = str(imagehash.phash(rgb))
            result = take_prefetched(ctx.sha256, lang)
            if result is None or result.error:
                try:
                    result = ocr_image(image, lang)
                except ImageOpenError:
                    raise  # a decompression bomb fails the file, never just its OCR
                except Exception as exc:
                    ctx.warn(f"OCR failed: {type(exc).__name__}: {exc}")
                    result = OcrResult(lang=lang, error=str(exc))
            width, height = image.size
        flags.extend(meta.pop("flags"))
        times = self._times(ctx, meta)
        flags.extend(imagetime.conflicts(times))
        capture = imagetime.capture_time(times)
        chat = None
        if not result.error:
            reference = capture.time.utc.astimezone(zone(ctx.options.tz)).date() if capture else None
            chat = read_chat(
                result,
                reference_day=reference,
                region_code=ctx.options.region,
                app_hint=imagetime.app_from_name(ctx.name),
            )
        if chat:
            flags.append("chat_screenshot")
        self._add_ocr_lines(ctx, result)
        if chat:
            for message in chat.messages:
                self._add_message(ctx, chat, message)
        device = normalize_device(meta.get("camera_make"), meta.get("camera_model"))
        if device is not None:
            ctx.out.add(
                "identifiers",
                {
                    "identifier_id": device.identifier_id,
                    "kind": device.kind,
                    "value": device.value,
                    "raw": device.raw,
                    "is_valid": None,
                    "flags": [],
                },
            )
        ctx.out.add(
            "images",
            {
                "sha256": ctx.sha256,
                "taken_at_utc": capture.time.utc if capture else None,
                "taken_at_local": capture.time.local_text if capture else None,
                "taken_at_source": capture.source if capture else None,
                "camera_make": meta.get("camera_make"),
                "camera_model": meta.get("camera_model"),
                "software": meta.get("software"),
                "gps_lat": meta.get("gps_lat"),
                "gps_lon": meta.get("gps_lon"),
                "width": width,
                "height": height,
                "phash": phash,
                "ocr_text": result.text or None,
                "ocr_confidence": result.confidence,
                "ocr_lang": lang if not result.error else None,
                "flags": list(dict.fromkeys(flags)),
            },
        )

    # --- times ---------------------------------------------------------------------------------
    def _times(self, ctx: ParseContext, meta: dict[str, Any]) -> list[imagetime.SourcedTime]:
        tz = ctx.options.tz
        times = []
        exif = imagetime.exif_time(meta.get("exif_datetime"), meta.get("exif_offset"), tz)
        if exif:
            times.append(imagetime.SourcedTime(imagetime.EXIF, exif))
        elif meta.get("exif_datetime"):
            ctx.warn(f"EXIF date {meta['exif_datetime']!r} is not a date; ignored")
        xmp = _xmp_time(meta.get("xmp_datetime"), tz)
        if xmp:
            times.append(imagetime.SourcedTime(imagetime.XMP, xmp))
        named = imagetime.name_time(ctx.name, tz)
        if named:
            times.append(imagetime.SourcedTime(imagetime.FILE_NAME, named))
        container = imagetime.container_time(
            getattr(ctx, "modified_at", None), getattr(ctx, "container_sha256", None) is not None
        )
        if container:
            times.append(container)
        for item in times:
            ctx.out.add(
                "image_times",
                {
                    "sha256": ctx.sha256,
                    "source": item.source,
                    "time_utc": item.time.utc,
                    "time_local": item.time.local_text,
                    "tz_source": item.time.tz_source,
                    "time_precision": item.time.precision,
                },
            )
        return times

    # --- OCR rows ------------------------------------------------------------------------------
    def _add_ocr_lines(self, ctx: ParseContext, result: OcrResult) -> None:
        if result.error:
            ctx.warn(f"OCR could not run: {result.error}")
            return
        for number, line in enumerate(result.lines, start=1):
            ctx.out.add(
                "ocr_lines",
                {
                    "sha256": ctx.sha256,
                    "line_no": number,
                    "text": line.text,
                    "confidence": line.confidence,
                    "x": line.x,
                    "y": line.y,
                    "w": line.w,
                    "h": line.h,
                    "lang": result.lang,
                    "words": [
                        {"text": w.text, "confidence": w.confidence, "x": w.x, "y": w.y, "w": w.w, "h": w.h}
                        for w in line.words
                    ],
                },
            )

    def _add_message(self, ctx: ParseContext, chat: ChatScreenshot, message: ChatMessage) -> None:
        if not message.text:
            return  # a bubble with only a time (a photo, a sticker): nothing was read to report
        local = " ".join(t for t in (message.day_text, message.time_text) if t) or None
        flags = ["ocr", confidence_flag(message.confidence)]
        if message.time_of_day is not None and message.day is not None:
            naive = datetime.combine(message.day, message.time_of_day)
            time = from_local(naive, ctx.options.tz, local or "", "minute")
            flags.append("time_from_screenshot")
        else:
            time = TimeValue.missing(local, "no_date")
            flags.append("screenshot_time_incomplete" if message.time_of_day else "no_time_on_screen")
        flags.extend(message.day_flags)
        outgoing = message.direction == "outgoing"
        message_id = ctx.add_message(
            platform=chat.app or "screenshot",
            kind="ocr",
            locator=message.locator,
            time=time,
            body=message.text,
            sender=None if outgoing else chat.contact,
            recipients=[chat.contact] if outgoing and chat.contact else [],
            conversation=chat.contact,
            direction=message.direction,
            flags=flags,
        )
        region = message.region
        ctx.out.add(
            "ocr_regions",
            {
                "message_id": message_id,
                "sha256": ctx.sha256,
                "x": region.x,
                "y": region.y,
                "w": region.w,
                "h": region.h,
                "side": message.side,
                "confidence": message.confidence,
                "app": chat.app,
                "contact": chat.contact,
                "time_text": message.time_text,
                "day_text": message.day_text,
                "fill_color": region.fill_hex,
            },
        )


# --- metadata ------------------------------------------------------------------------------------
class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def read_metadata(ctx: ParseContext, image: Image.Image) -> dict[str, Any]:
    """EXIF via exifread; Pillow's reader where exifread finds nothing; XMP dates. Problems become warnings."""
    meta: dict[str, Any] = {"flags": []}
    tags: dict[str, Any] = {}
    logger = logging.getLogger("exifread")
    handler, propagate = _Collect(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with ctx.open() as handle:
            import exifread  # only for images: the parser module stays cheap to import

            tags = exifread.process_file(handle, details=False, debug=False) or {}
    except Exception as exc:
        ctx.warn(f"EXIF unreadable by exifread ({type(exc).__name__}: {exc})")
        meta["flags"].append("exif_unreadable")
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    problems = [m for m in dict.fromkeys(handler.messages) if not _NO_EXIF.search(m)]
    for message in problems:
        ctx.warn(f"EXIF: {message}")
    if problems and "exif_unreadable" not in meta["flags"]:
        meta["flags"].append("exif_damaged")
    if tags:
        meta.update(_from_exifread(tags))
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                meta.update(_from_pillow(image))
            except Exception as exc:
                ctx.warn(f"EXIF unreadable by Pillow ({type(exc).__name__}: {exc})")
                meta["flags"].append("exif_unreadable")
        for warning in dict.fromkeys(str(w.message).strip() for w in caught):
            ctx.warn(f"EXIF: {warning}")
            meta["flags"].append("exif_damaged")
        if not meta.get("exif_datetime") and not meta.get("camera_make") and _has_exif_segment(ctx):
            ctx.warn(
                "the file has an EXIF block but neither exifread nor Pillow could read it (corrupt offsets?)"
            )
            meta["flags"].append("exif_unreadable")
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if xmp:
        text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
        match = _XMP_DATE.search(text)
        if match:
            meta["xmp_datetime"] = match[2].strip()
    return meta


def _has_exif_segment(ctx: ParseContext) -> bool:
    with ctx.open() as handle:
        head = handle.read(128 * 1024)
    return b"Exif\x00\x00" in head or b"eXIf" in head


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value.printable if hasattr(value, "printable") else value).strip().strip("\x00").strip()
    return text or None


def _from_exifread(tags: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "camera_make": _text(tags.get("Image Make")),
        "camera_model": _text(tags.get("Image Model")),
        "software": _text(tags.get("Image Software")),
    }
    for date_tag, offset_tag in (
        ("EXIF DateTimeOriginal", "EXIF OffsetTimeOriginal"),
        ("EXIF DateTimeDigitized", "EXIF OffsetTimeDigitized"),
        ("Image DateTime", "EXIF OffsetTime"),
    ):
        if _text(tags.get(date_tag)):
            meta["exif_datetime"] = _text(tags.get(date_tag))
            meta["exif_offset"] = _text(tags.get(offset_tag))
            break
    for axis, ref_neg in (("Latitude", "S"), ("Longitude", "W")):
        value, ref = tags.get(f"GPS GPS{axis}"), _text(tags.get(f"GPS GPS{axis}Ref"))
        degrees = (
            _dms([float(v.num) / float(v.den) if v.den else 0.0 for v in value.values]) if value else None
        )
        if degrees is not None:
            meta["gps_lat" if axis == "Latitude" else "gps_lon"] = -degrees if ref == ref_neg else degrees
    return meta


def _from_pillow(image: Image.Image) -> dict[str, Any]:
    exif = image.getexif()
    if not exif:
        return {}
    sub = exif.get_ifd(_EXIF_IFD)
    meta: dict[str, Any] = {
        "camera_make": _text(exif.get(_MAKE)),
        "camera_model": _text(exif.get(_MODEL)),
        "software": _text(exif.get(_SOFTWARE)),
        "exif_datetime": _text(sub.get(_DATETIME_ORIGINAL)) or _text(exif.get(_DATETIME)),
        "exif_offset": _text(sub.get(_OFFSET_TIME_ORIGINAL)) or _text(sub.get(_OFFSET_TIME)),
    }
    gps = exif.get_ifd(_GPS_IFD)
    for ref_tag, tag, key, neg in ((1, 2, "gps_lat", "S"), (3, 4, "gps_lon", "W")):
        if gps.get(tag):
            degrees = _dms([float(v) for v in gps[tag]])
            if degrees is not None:
                meta[key] = -degrees if _text(gps.get(ref_tag)) == neg else degrees
    return meta


def _dms(parts: list[float]) -> float | None:
    if len(parts) != 3:
        return None
    value = parts[0] + parts[1] / 60 + parts[2] / 3600
    return round(value, 7) if 0 <= value <= 180 else None


def _xmp_time(value: str | None, tz: str) -> TimeValue | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace(" ", "T").rstrip())
    except ValueError:
        return imagetime.exif_time(value, None, tz, imagetime.XMP)
    if moment.tzinfo is not None:
        return from_aware(moment, value, "second")
    return from_local(moment, tz, value, "second")
