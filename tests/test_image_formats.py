"""Image containers and EXIF placements that real phones produce: HEIC, WebP, PNG eXIf, XMP before EXIF."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from evidence.parsers.rows import ParsedRows

pillow_heif.register_heif_opener()

XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="Editor"/></rdf:RDF></x:xmpmeta>'
)


def _exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Acme"  # Make
    exif[0x0110] = "TestPhone 9"  # Model
    exif[0x0131] = "Camera 1.0"  # Software
    return exif


def _save(path: Path, fmt: str, **kwargs: object) -> Path:
    Image.new("RGB", (64, 48), (200, 30, 30)).save(path, format=fmt, exif=_exif().tobytes(), **kwargs)
    return path


def _jpeg_with_xmp_first(path: Path) -> Path:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 30, 200)).save(buffer, format="JPEG", exif=_exif().tobytes())
    data = buffer.getvalue()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + XMP
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    path.write_bytes(data[:2] + segment + data[2:])  # XMP APP1 right after SOI, before the EXIF APP1
    return path


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("photo.heic", lambda p: _save(p, "HEIF")),
        ("photo.webp", lambda p: _save(p, "WEBP")),
        ("shot.png", lambda p: _save(p, "PNG")),
        ("xmp-first.jpg", _jpeg_with_xmp_first),
    ],
)
def test_device_and_size_are_read(
    tmp_path: Path, parse: Callable[..., ParsedRows], name: str, make: Callable[[Path], Path]
) -> None:
    out = parse(make(tmp_path / name))
    (run_file,) = out.rows["run_files"]
    assert (run_file["status"], run_file["format"]) == ("parsed", "image")
    (image,) = out.rows["images"]
    assert (image["width"], image["height"]) == (64, 48)
    assert (image["camera_make"], image["camera_model"], image["software"]) == (
        "Acme",
        "TestPhone 9",
        "Camera 1.0",
    )
    assert image["phash"]
    devices = [i["value"] for i in out.rows["identifiers"] if i["kind"] == "device"]
    assert devices == ["acme testphone 9"]


def test_the_run_ocr_language_is_used_and_recorded(tmp_path: Path, parse: Callable[..., ParsedRows]) -> None:
    out = parse(_save(tmp_path / "shot.png", "PNG"), ocr_lang="eng")
    (image,) = out.rows["images"]
    assert image["ocr_lang"] in ("eng", None)  # None only when tesseract found no text to read
    assert "ocr=eng" in out.rows["run_files"][0]["parse_key"]
