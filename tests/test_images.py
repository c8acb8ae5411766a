"""Image parser: generated chat screenshots through real tesseract, EXIF, file-name times and bad images."""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from PIL import Image, ImageOps
from rows import file_row
from screenshot_generator import ChatLine, render, sample_spec, save

from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest


def _exif_jpeg(path: Path, *, offset: str | None = "+00:00") -> Path:
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Google", "Pixel 7", "HDR+ 1.0"
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2024:03:12 21:16:00"
    if offset:
        sub[0x9011] = offset
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (51.0, 30.0, 0.0), "W", (0.0, 7.0, 30.0)
    render(sample_spec()).save(path, "JPEG", quality=92, exif=exif.tobytes())
    return path


def test_light_screenshot_full_record(parse, tmp_path: Path) -> None:
    path = save(sample_spec(), tmp_path / "Screenshot_20240312-211600.png")
    out = parse(path, tz="Europe/London")
    row = file_row(out)
    assert (row["status"], row["format"], row["messages"], row["warnings"]) == ("parsed", "image", 4, 0)
    assert "ingest_errors" not in out.rows
    messages = out.rows["messages"]
    assert [m["direction"] for m in messages] == ["incoming", "incoming", "outgoing", "incoming"]
    assert [m["sent_at_local"][-5:] for m in messages] == ["21:04", "21:05", "21:07", "21:15"]
    third = messages[2]
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert third == {
        "message_id": third["message_id"],
        "platform": "screenshot",
        "conversation": "Jordan Blake",
        "sender": None,
        "sender_identifier": None,
        "recipients": ["Jordan Blake"],
        "sent_at_utc": datetime(2024, 3, 12, 21, 7, tzinfo=UTC),
        "sent_at_local": "12 March 2024 21:07",
        "tz_source": "run_parameter",
        "time_precision": "minute",
        "kind": "ocr",
        "body": "Please stop contacting me",
        "source_sha256": sha,
        "source_locator": third["source_locator"],
        "duplicate_of": None,
        "subject": None,
        "external_id": None,
        "direction": "outgoing",
        "flags": ["ocr", "ocr_confidence_high", "time_from_screenshot"],
        "parser": "image",
    }
    assert third["source_locator"].startswith("region/")
    (image,) = out.rows["images"]
    assert (image["width"], image["height"], image["taken_at_source"]) == (360, 640, "file_name")
    assert image["taken_at_utc"] == datetime(2024, 3, 12, 21, 16, tzinfo=UTC)
    assert image["flags"] == ["chat_screenshot"] and len(image["phash"]) == 16
    region = next(r for r in out.rows["ocr_regions"] if r["message_id"] == third["message_id"])
    assert (region["side"], region["time_text"], region["day_text"]) == ("right", "21:07", "12 March 2024")
    assert region["confidence"] >= 85
    lines = {line["text"] for line in out.rows["ocr_lines"]}
    assert {"Jordan Blake", "12 March 2024", "Please stop contacting me"} <= lines
    assert all(line["words"] and line["confidence"] > 0 for line in out.rows["ocr_lines"])


def test_dark_mode_whatsapp_without_date(parse, tmp_path: Path) -> None:
    spec = sample_spec(dark=True, app="whatsapp", day=None)
    out = parse(save(spec, tmp_path / "chat.png"))
    row = file_row(out)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 4, 0)
    messages = out.rows["messages"]
    assert {m["platform"] for m in messages} == {"whatsapp"}
    assert [m["body"] for m in messages][2:] == [
        "Please stop contacting me",
        "You cannot hide from me forever",
    ]
    assert [m["direction"] for m in messages] == ["incoming", "incoming", "outgoing", "incoming"]
    # no day separator on screen: no date is invented
    assert all(m["sent_at_utc"] is None and m["tz_source"] == "none" for m in messages)
    assert messages[0]["sent_at_local"] == "21:04"
    assert messages[0]["flags"] == ["no_date", "ocr", "ocr_confidence_high", "screenshot_time_incomplete"]


def test_relative_day_resolved_from_capture_time(parse, tmp_path: Path) -> None:
    spec = sample_spec(day="Yesterday", messages=[ChatLine("in", "Answer your phone now", "23:50")] * 2)
    out = parse(save(spec, tmp_path / "Screenshot 2024-03-13 at 08.00.00.png"))
    first = out.rows["messages"][0]
    assert first["sent_at_utc"] == datetime(2024, 3, 12, 23, 50, tzinfo=UTC)
    assert "relative_day" in first["flags"]


def test_exif_jpeg_device_gps_and_time(parse, tmp_path: Path) -> None:
    out = parse(_exif_jpeg(tmp_path / "IMG_20240312_211600.jpg"))
    row = file_row(out)
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 4, 0)
    (image,) = out.rows["images"]
    assert (image["camera_make"], image["camera_model"], image["software"]) == (
        "Google",
        "Pixel 7",
        "HDR+ 1.0",
    )
    assert (image["gps_lat"], image["gps_lon"]) == (51.5, -0.125)
    assert image["taken_at_source"] == "exif" and image["taken_at_local"] == "2024:03:12 21:16:00 +00:00"
    assert {t["source"] for t in out.rows["image_times"]} == {"exif", "file_name"}
    assert out.rows["identifiers"][0]["kind"] == "device"
    assert out.rows["identifiers"][0]["value"] == "google pixel 7"


def test_exif_and_file_name_conflict_is_flagged(parse, tmp_path: Path) -> None:
    out = parse(_exif_jpeg(tmp_path / "Screenshot_20240101-101010.jpg"))
    assert "time_conflict_exif_vs_file_name" in out.rows["images"][0]["flags"]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_decompression_bomb_fails_cleanly(parse, tmp_path: Path) -> None:
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    path = tmp_path / "bomb.png"
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000))
        + _png_chunk(b"IEND", b"")
    )
    out = parse(path)
    row = file_row(out)
    assert row["status"] == "failed" and "decompression bomb" in row["status_reason"]
    assert [e["severity"] for e in out.rows["ingest_errors"]] == ["error"]
    assert "images" not in out.rows and Image.MAX_IMAGE_PIXELS is not None


@pytest.mark.parametrize("limit", [50_000, 150_000])  # 230,400 pixels: above twice the limit, above it
def test_more_pixels_than_allowed_fails_the_image(parse, tmp_path: Path, monkeypatch, limit: int) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    out = parse(save(sample_spec(), tmp_path / "shot.png"))
    row = file_row(out)
    assert row["status"] == "failed" and "decompression bomb" in row["status_reason"]
    assert "images" not in out.rows and "messages" not in out.rows


def test_a_bomb_met_while_rotating_is_not_swallowed(parse, tmp_path: Path, monkeypatch) -> None:
    """The pixel check raised while the EXIF orientation is applied fails the file (it was suppressed)."""

    def transpose(image: Image.Image, **_: object) -> Image.Image:
        Image._decompression_bomb_check((100_000, 100_000))
        return image

    monkeypatch.setattr(ImageOps, "exif_transpose", transpose)
    out = parse(save(sample_spec(), tmp_path / "shot.png"))
    row = file_row(out)
    assert row["status"] == "failed" and "decompression bomb" in row["status_reason"]
    assert Image.MAX_IMAGE_PIXELS is not None


def test_a_failed_exif_rotation_is_flagged(parse, tmp_path: Path, monkeypatch) -> None:
    def transpose(image: Image.Image, **_: object) -> Image.Image:
        raise OSError("orientation 6 cannot be applied to this image")

    monkeypatch.setattr(ImageOps, "exif_transpose", transpose)
    out = parse(_exif_jpeg(tmp_path / "IMG_20240312_211600.jpg"))
    row = file_row(out)
    assert (row["status"], row["warnings"]) == ("parsed", 1)
    assert "EXIF orientation could not be applied" in out.rows["ingest_errors"][0]["error"]
    (image,) = out.rows["images"]
    assert "exif_rotation_failed" in image["flags"]
    assert len(out.rows["messages"]) == 4  # read as stored (this one is upright)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_a_warning(parse, tmp_path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    render(sample_spec()).save(buffer, fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    out = parse(path)
    row = file_row(out)
    assert (row["status"], row["warnings"]) == ("parsed", 1)
    assert "truncated" in out.rows["ingest_errors"][0]["error"]
    assert "truncated" in out.rows["images"][0]["flags"]


def test_corrupt_exif_offsets_are_a_warning(parse, tmp_path: Path) -> None:
    data = bytearray(_exif_jpeg(tmp_path / "x.jpg").read_bytes())
    tiff = data.find(b"Exif\x00\x00") + 6
    data[tiff + 4 : tiff + 8] = struct.pack(">I", 0x0FFFFFF0)  # IFD0 offset far past the segment
    path = tmp_path / "badexif.jpg"
    path.write_bytes(bytes(data))
    out = parse(path)
    row = file_row(out)
    assert (row["status"], row["warnings"]) == ("parsed", 1)
    assert "EXIF" in out.rows["ingest_errors"][0]["error"]
    assert (
        out.rows["images"][0]["camera_make"] is None and "exif_unreadable" in out.rows["images"][0]["flags"]
    )


def test_ingest_zip_conflicts_groups_and_corroboration(tmp_path: Path) -> None:
    """End to end: zip entry time vs file name, a recompressed copy grouped, an export corroborated."""
    shot = io.BytesIO()
    render(sample_spec()).save(shot, "PNG")
    copy = io.BytesIO()
    render(sample_spec()).save(copy, "JPEG", quality=70)
    archive = tmp_path / "phone.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo("Screenshot_20240312-211600.png", (2024, 6, 1, 9, 0, 0)), shot.getvalue())
        zf.writestr(zipfile.ZipInfo("copy.jpg", (2024, 3, 12, 21, 20, 0)), copy.getvalue())
    export = tmp_path / "Jordan Blake.txt"
    export.write_text(
        "[2024-03-12, 21:07] Me: Please stop contacting me\n[2024-03-12, 21:15] Jordan Blake: You cannot hide from me forever\n",
        encoding="utf-8",
    )
    case = tmp_path / "case"
    summary = ingest(IngestParameters(sources=[str(archive), str(export)], case_dir=str(case)))
    assert summary["failed"] == 0 and summary["links"]["image_groups"] == {"groups": 1, "images": 2}
    assert summary["links"]["screenshot_corroboration"]["corroborated"] >= 2
    con = duckdb.connect(str(case / "evidence.duckdb"), read_only=True)
    try:
        flags = con.execute(
            "SELECT flags FROM timeline WHERE kind = 'ocr' AND text = 'Please stop contacting me' "
            "AND 'time_conflict_file_name_vs_container' = ANY(flags)"
        ).fetchall()
        assert len(flags) == 1 and "ocr" in flags[0][0]
        linked = con.execute(
            "SELECT e.body, c.time_delta_seconds FROM corroborations c JOIN messages e ON e.message_id = c.message_id "
            "JOIN messages o ON o.message_id = c.ocr_message_id WHERE o.source_locator LIKE 'region/%' ORDER BY 1"
        ).fetchall()
        assert ("Please stop contacting me", 0.0) in linked
        assert con.execute("SELECT count(*) FROM ocr_lines").fetchone()[0] > 10
    finally:
        con.close()


INCOMING_ONLY = [ChatLine("in", "I know where you live", "23:12"), ChatLine("in", "Goodnight x", "23:40")]


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_a_whatsapp_screenshot_of_incoming_messages_only_is_whatsapp(
    parse, tmp_path: Path, dark: bool
) -> None:
    """No outgoing (green) bubble to go by: the title bar and the date pills (and, dark, the incoming
    bubbles) name the app. Such screenshots were listed as platform "screenshot"."""
    spec = sample_spec(dark=dark, app="whatsapp", messages=INCOMING_ONLY, width=720, height=1280)
    out = parse(save(spec, tmp_path / "Screenshot_20240308-074812.png"), tz="Europe/London")
    assert file_row(out)["messages"] == 2
    assert [m["platform"] for m in out.rows["messages"]] == ["whatsapp", "whatsapp"]


def test_one_colour_alone_does_not_name_the_app() -> None:
    """White bubbles and pills on a page-coloured header: only the pills are WhatsApp's, which is not
    enough; another app's screenshot stays "screenshot" (app None)."""
    from evidence.images.layout import app_of, find_layout

    bare = sample_spec(app="whatsapp", messages=INCOMING_ONLY, header_bar=False)
    assert app_of(find_layout(render(bare).convert("RGB"))) is None
    for dark in (False, True):
        other = sample_spec(dark=dark, messages=INCOMING_ONLY)
        assert app_of(find_layout(render(other).convert("RGB"))) is None


def test_a_screenshot_and_its_recompressed_copy_give_each_message_once(tmp_path: Path) -> None:
    """The same screenshot kept twice (as sent, and recompressed by a messenger): tesseract may read a
    bubble a little differently on each ("I saw" and "| saw"); each message is still one event seen twice,
    and counts once."""
    src = tmp_path / "src"
    src.mkdir()
    save(sample_spec(), src / "Screenshot_20240312-211500.png")
    save(sample_spec(), src / "Screenshot_20240312-211500-copy.jpg", quality=85)
    case = tmp_path / "case"
    ingest(
        IngestParameters(sources=[str(src)], case_dir=str(case), tz="Europe/London", owners=["Sam Taylor"])
    )
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        seen = con.execute("SELECT occurrences FROM timeline ORDER BY occurred_at_utc").fetchall()
        incidents = con.execute("SELECT sum(messages) FROM incidents").fetchall()
    assert seen == [(2,), (2,), (2,), (2,)]  # four bubbles, each on both copies
    assert incidents == [(3,)]  # three of them from Jordan Blake, each counted once
