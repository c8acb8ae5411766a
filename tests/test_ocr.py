"""OCR layer: preprocessing, the process pool, and the third-party OCR images (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from screenshot_generator import render, sample_spec, save

from evidence.images import ocr
from evidence.images import times as imagetime
from evidence.images.chat_reading import read_chat
from evidence.images.layout import find_layout


def test_dark_mode_and_coloured_bubbles_become_dark_on_light() -> None:
    rgb = render(sample_spec(dark=True))
    layout = find_layout(rgb)
    assert layout.page_color == (0, 0, 0)
    assert [r.kind for r in layout.regions] == ["bar", "left", "left", "right", "left"]
    prepared, scale = ocr.preprocess(rgb, layout)
    assert scale == 1.5 and prepared.mode == "L"
    right = layout.regions[3]
    # the blue outgoing bubble's fill is now (nearly) white, like the page
    cx, cy = round((right.x + 3) * scale), round((right.y + right.h // 2) * scale)
    assert prepared.getpixel((cx, cy)) > 230 and prepared.getpixel((5, round(600 * scale))) > 230


def test_pool_reads_light_and_dark_the_same(tmp_path: Path) -> None:
    paths = [save(sample_spec(dark=d), tmp_path / f"{d}.png") for d in (False, True)]
    results = ocr.ocr_paths(paths, workers=2)
    for result in results:
        assert result.error is None
        chat = read_chat(result)
        assert chat is not None and chat.contact == "Jordan Blake"
        assert [(m.side, m.time_text) for m in chat.messages] == [
            ("left", "21:04"),
            ("left", "21:05"),
            ("right", "21:07"),
            ("left", "21:15"),
        ]
        assert chat.messages[3].text == "You cannot hide from me forever"
        assert all(m.day_text == "12 March 2024" for m in chat.messages)


def test_bad_file_in_pool_is_an_error_result(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    good = save(sample_spec(), tmp_path / "good.png")
    results = ocr.ocr_paths([bad, good], workers=2)
    assert results[0].error and "cannot be decoded" in results[0].error and results[0].lines == []
    assert results[1].error is None and results[1].lines


def test_file_name_times() -> None:
    cases = {
        "Screenshot_20240101-101010.png": ("2024-01-01 10:10:10+00:00", "second"),
        "Screenshot 2024-07-01 at 10.10.10.png": ("2024-07-01 09:10:10+00:00", "second"),
        "Screen Shot 2024-01-01 at 10.10.10 PM.png": ("2024-01-01 22:10:10+00:00", "second"),
        "IMG-20240101-WA0001.jpg": ("2024-01-01 00:00:00+00:00", "day"),
        "Screenshot_2024-01-01-10-10-10-123_com.whatsapp.jpg": ("2024-01-01 10:10:10+00:00", "second"),
    }
    for name, (utc, precision) in cases.items():
        value = imagetime.name_time(name, "Europe/London")
        assert value is not None and (str(value.utc), value.precision) == (utc, precision), name
    assert imagetime.name_time("IMG_1234.JPG", "Europe/London") is None
    assert imagetime.app_from_name("Screenshot_2024-01-01-10-10-10-123_com.whatsapp.jpg") == "com.whatsapp"


def test_shared_fixture_ocr(shared_fixtures: Path) -> None:
    path = shared_fixtures / "ocr" / "pytesseract" / "test.png"
    result = ocr.ocr_path(path)
    assert result.error is None
    words = result.text.split()
    assert {"This", "is", "a", "lot", "of", "12", "point", "text", "to", "test", "the"} <= set(words)
    assert result.confidence and result.confidence > 85
    assert read_chat(result) is None  # a page of text is not a chat


def test_shared_fixture_european_is_parsed(parse, shared_fixtures: Path) -> None:
    path = shared_fixtures / "ocr" / "pytesseract" / "test-european.jpg"
    out = parse(path)
    (row,) = out.rows["run_files"]
    assert (row["status"], row["messages"]) == ("parsed", 0)
    (image,) = out.rows["images"]
    with Image.open(path) as img:
        assert (image["width"], image["height"]) == img.size
    assert image["ocr_text"] and "@" in image["ocr_text"]


def test_wallpaper_doodles_do_not_join_bubbles() -> None:
    """WhatsApp's doodle wallpaper touches the bubbles; thin strokes are not fills, so each bubble stays
    a region of its own in both themes."""
    for dark in (False, True):
        plain = find_layout(render(sample_spec(dark=dark, app="whatsapp")))
        doodled = find_layout(render(sample_spec(dark=dark, app="whatsapp", wallpaper=True)))
        assert [r.kind for r in doodled.regions] == [r.kind for r in plain.regions]
        assert [r.kind for r in doodled.regions].count("left") == 3
        for a, b in zip(plain.regions, doodled.regions, strict=True):
            assert abs(a.x - b.x) <= 2 and abs(a.y - b.y) <= 2 and abs(a.h - b.h) <= 2
