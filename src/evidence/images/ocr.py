"""OCR with Debian's tesseract through pytesseract: safe image opening, preprocessing, line/word boxes, a pool.

Why the preprocessing: chat screenshots mix polarities (dark mode, white text on blue or green bubbles) and
small phone fonts. Tesseract reads dark text on a light background at roughly 20-40 px text height best, so
every bubble and the page are turned dark-on-light separately, the image is made grayscale, and small
screenshots are upscaled. Tesseract's own inversion retry is then switched off, which is also faster.

Why the pool: one tesseract process per image, OMP_THREAD_LIMIT=1 in each (tesseract's OpenMP threads only
fight each other when several run at once), as many workers as cores. Results are plain dataclasses
(picklable); boxes are in pixels of the original image.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFile, ImageOps

from evidence.images import layout as screen_layout

if TYPE_CHECKING:
    from evidence.acquire.found_file import FoundFile
    from evidence.acquire.store import OriginalsStore

log = logging.getLogger(__name__)

IMAGE_FORMAT = "image"  # parser name of evidence.parsers.image
DEFAULT_LANG = "eng"
TARGET_WIDTH = 540  # upscale narrower images towards this width (small phone text; ~1.5x for 360 px)
MAX_SCALE = 3.0
CHUNK_IMAGES = 8  # images per tesseract process in the pool
TESSERACT_TIMEOUT = 120  # seconds per image; a hung tesseract must not hang the run

try:  # HEIC/HEIF (iPhone photos and screenshots)
    import pillow_heif

    pillow_heif.register_heif_opener()
except Exception:  # pragma: no cover - pillow-heif is a declared dependency
    log.warning("pillow-heif unavailable: HEIC images will fail to open")


class ImageOpenError(ValueError):
    """The image could not be decoded safely (decompression bomb, corrupt or unsupported data)."""


@dataclass
class OcrWord:
    text: str
    confidence: float
    x: int
    y: int
    w: int
    h: int


@dataclass
class OcrLine:
    text: str
    confidence: float
    x: int
    y: int
    w: int
    h: int
    words: list[OcrWord] = field(default_factory=list)

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass
class OcrResult:
    """What OCR read from one image; error is set (and lines empty) when it could not run."""

    lang: str
    width: int = 0
    height: int = 0
    scale: float = 1.0
    lines: list[OcrLine] = field(default_factory=list)
    layout: screen_layout.Layout | None = None
    seconds: float = 0.0
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float | None:
        confs = [w.confidence for line in self.lines for w in line.words]
        return round(sum(confs) / len(confs), 1) if confs else None


def ocr_lang() -> str:
    """Tesseract language(s) when none is given: EVIDENCE_OCR_LANG (e.g. eng+deu), default eng."""
    from evidence.images.languages import default_ocr_lang

    return default_ocr_lang()


# Set by an extraction pool (ingest --jobs N) in each of its N processes: they share the cores.
SHARED_BY = "EVIDENCE_OCR_SHARED_BY"


def default_workers() -> int:
    """EVIDENCE_OCR_WORKERS when set; else one tesseract per core, or per core share of this process."""
    configured = os.environ.get("EVIDENCE_OCR_WORKERS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    shared = os.environ.get(SHARED_BY, "").strip()
    return max(1, cores // int(shared)) if shared.isdigit() and int(shared) > 0 else cores


# --- opening images safely -----------------------------------------------------------------------
@contextlib.contextmanager
def open_image(path: Path) -> Iterator[tuple[Image.Image, list[str]]]:
    """Open and fully decode an image with Pillow's pixel limit on and bomb warnings raised as errors.

    A truncated file is decoded a second time with LOAD_TRUNCATED_IMAGES (missing pixels grey) and
    reported in the notes, because most of a cut-off screenshot is still evidence.
    """
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Corrupt EXIF data": reported by read_metadata
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
            try:
                image.load()
            except OSError as exc:
                if "truncated" not in str(exc).lower() and "broken data stream" not in str(exc).lower():
                    raise
                image.close()
                image = _load_truncated(path)
                notes.append(f"image data is truncated ({exc}); the missing part was left blank")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageOpenError(f"refused as a possible decompression bomb: {exc}") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise ImageOpenError(f"image cannot be decoded: {exc}") from exc
        try:
            yield image, notes
        finally:
            image.close()


def _load_truncated(path: Path) -> Image.Image:
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        image = Image.open(path)
        image.load()
        return image
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


ROTATION_FAILED = "exif_rotation_failed"  # image flag: the EXIF orientation could not be applied


def to_rgb(image: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """RGB view for analysis: EXIF orientation applied, transparency flattened onto white.

    A decompression bomb met here fails the image (ImageOpenError) like one met when opening it. An
    orientation that cannot be applied leaves the image as stored, with a note in `notes` (the parser
    turns it into a warning and the flag ROTATION_FAILED): OCR of a sideways screenshot reads little, and
    the reader must know why.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # corrupt EXIF is reported by the parser, once
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = ImageOps.exif_transpose(image) or image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageOpenError(f"refused as a possible decompression bomb: {exc}") from exc
    except Exception as exc:
        if notes is not None:
            notes.append(
                f"EXIF orientation could not be applied ({type(exc).__name__}: {exc}); "
                "the image was read as stored, possibly rotated"
            )
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


# --- preprocessing and tesseract -----------------------------------------------------------------
def preprocess(rgb: Image.Image, layout: screen_layout.Layout) -> tuple[Image.Image, float]:
    """Grayscale, dark text on light background per region (dark mode, coloured bubbles), upscaled if small."""
    gray = np.asarray(rgb.convert("L"), dtype=np.uint8)
    page_dark = screen_layout.luminance(layout.page_color) < 128
    out = (255 - gray if page_dark else gray).astype(np.float32)
    out *= 255.0 / max(64.0, _level(layout.page_color, page_dark))  # page colour -> white
    for region, mask in zip(layout.regions, layout.masks, strict=True):
        dark = screen_layout.luminance(region.fill) < 128
        window = out[region.y : region.y + region.h, region.x : region.x + region.w]
        source = gray[region.y : region.y + region.h, region.x : region.x + region.w][mask].astype(np.float32)
        # each bubble separately: its text dark, its fill stretched to white (grey bubbles lose contrast)
        window[mask] = (255 - source if dark else source) * (255.0 / max(64.0, _level(region.fill, dark)))
    image = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="L")
    scale = 1.0
    if rgb.width < TARGET_WIDTH:
        scale = min(MAX_SCALE, round(TARGET_WIDTH / rgb.width * 2) / 2)
        image = image.resize((round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BICUBIC)
    return image, scale


def _level(rgb: tuple[int, int, int], inverted: bool) -> float:
    """Gray level a background colour has after the polarity flip."""
    level = screen_layout.luminance(rgb)
    return 255 - level if inverted else level


def tesseract_lines(
    image: Image.Image, lang: str, scale: float = 1.0, invert_check: bool = False
) -> list[OcrLine]:
    """Words and lines with confidences from tesseract's TSV output, boxes scaled back to the original."""
    import pytesseract  # imports pandas: loaded only when an image is actually read

    data = pytesseract.image_to_data(
        image,
        lang=lang,
        config=_config(invert_check),
        output_type=pytesseract.Output.DICT,
        timeout=TESSERACT_TIMEOUT,
    )
    return _lines(data, scale, page=None)


def _config(invert_check: bool) -> str:
    return "--psm 3" + ("" if invert_check else " -c tessedit_do_invert=0")


def _lines(data: dict[str, list], scale: float, page: int | None) -> list[OcrLine]:
    grouped: dict[tuple[int, int, int, int], list[OcrWord]] = {}
    for i, text in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if int(data["level"][i]) != 5 or conf < 0 or not str(text).strip():
            continue
        if page is not None and int(data["page_num"][i]) != page:
            continue
        key = (data["page_num"][i], data["block_num"][i], data["par_num"][i], data["line_num"][i])
        grouped.setdefault(key, []).append(
            OcrWord(
                text=str(text).strip(),
                confidence=round(conf, 1),
                x=round(data["left"][i] / scale),
                y=round(data["top"][i] / scale),
                w=max(1, round(data["width"][i] / scale)),
                h=max(1, round(data["height"][i] / scale)),
            )
        )
    lines = []
    for words in grouped.values():
        x0, y0 = min(w.x for w in words), min(w.y for w in words)
        x1, y1 = max(w.x + w.w for w in words), max(w.y + w.h for w in words)
        conf = round(sum(w.confidence for w in words) / len(words), 1)
        lines.append(OcrLine(" ".join(w.text for w in words), conf, x0, y0, x1 - x0, y1 - y0, words))
    lines.sort(key=lambda line: (line.y, line.x))
    return lines


def ocr_image(image: Image.Image, lang: str | None = None) -> OcrResult:
    """Analyse the layout, preprocess and OCR a decoded image."""
    lang = lang or ocr_lang()
    started = time.perf_counter()
    rgb = to_rgb(image)
    layout = screen_layout.find_layout(rgb)
    prepared, scale = preprocess(rgb, layout)
    with _single_thread_tesseract():
        lines = tesseract_lines(prepared, lang, scale, invert_check=not layout.regions)
    layout.masks = []  # full-resolution masks are only needed for preprocessing; keep results small
    return OcrResult(
        lang=lang,
        width=rgb.width,
        height=rgb.height,
        scale=scale,
        lines=lines,
        layout=layout,
        seconds=round(time.perf_counter() - started, 3),
    )


def ocr_path(path: Path | str, lang: str | None = None) -> OcrResult:
    """Open safely and OCR; never raises (the error is in the result), so a pool never breaks."""
    lang = lang or ocr_lang()
    try:
        with open_image(Path(path)) as (image, notes):
            result = ocr_image(image, lang)
            result.notes = notes
            return result
    except Exception as exc:
        return OcrResult(lang=lang, error=f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _single_thread_tesseract() -> Iterator[None]:
    """OMP_THREAD_LIMIT=1 for the tesseract child processes started inside this block."""
    previous = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("OMP_THREAD_LIMIT", None)
        else:
            os.environ["OMP_THREAD_LIMIT"] = previous


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


def ocr_chunk(paths: list[Path | str], lang: str | None = None) -> list[OcrResult]:
    """OCR several images with one tesseract process (an image list file): start-up paid once per chunk."""
    lang = lang or ocr_lang()
    results: list[OcrResult] = []
    prepared: list[tuple[OcrResult, Image.Image]] = []
    for path in paths:
        started = time.perf_counter()
        try:
            with open_image(Path(path)) as (image, notes):
                rgb = to_rgb(image)
                layout = screen_layout.find_layout(rgb)
                image_prepared, scale = preprocess(rgb, layout)
                layout.masks = []
                result = OcrResult(lang, rgb.width, rgb.height, scale, layout=layout, notes=notes)
                result.seconds = time.perf_counter() - started
                prepared.append((result, image_prepared))
        except Exception as exc:
            result = OcrResult(lang=lang, error=f"{type(exc).__name__}: {exc}")
        results.append(result)
    for invert_check in (False, True):  # chat layouts (polarity already fixed) and other images apart
        group = [(r, im) for r, im in prepared if (not r.layout or not r.layout.regions) == invert_check]
        if group:
            _tesseract_group(group, lang, invert_check)
    return results


def _tesseract_group(group: list[tuple[OcrResult, Image.Image]], lang: str, invert_check: bool) -> None:
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="evidence-ocr-") as tmp, _single_thread_tesseract():
            names = []
            for number, (_result, image) in enumerate(group):
                name = Path(tmp) / f"{number:04d}.png"
                image.save(name, compress_level=1)
                names.append(str(name))
            listing = Path(tmp) / "images.txt"
            listing.write_text("\n".join(names) + "\n", encoding="utf-8")
            import pytesseract  # see above

            data = pytesseract.image_to_data(
                str(listing),
                lang=lang,
                config=_config(invert_check),
                output_type=pytesseract.Output.DICT,
                timeout=TESSERACT_TIMEOUT * len(group),
            )
        share = (time.perf_counter() - started) / len(group)
        for page, (result, _image) in enumerate(group, start=1):
            result.lines = _lines(data, result.scale, page)
            result.seconds = round(result.seconds + share, 3)
    except Exception as exc:
        for result, _image in group:
            result.error = f"tesseract failed: {type(exc).__name__}: {exc}"


def ocr_paths(
    paths: Iterable[Path | str], lang: str | None = None, workers: int | None = None
) -> list[OcrResult]:
    """OCR many images in a process pool (one tesseract per core, a few images per tesseract call)."""
    paths = list(paths)
    lang = lang or ocr_lang()
    workers = min(workers or default_workers(), len(paths))
    size = max(1, min(CHUNK_IMAGES, -(-len(paths) // max(1, workers * 2))))
    chunks = [paths[i : i + size] for i in range(0, len(paths), size)]
    if workers > 1:
        try:
            with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
                return [r for chunk in pool.map(ocr_chunk, chunks, [lang] * len(chunks)) for r in chunk]
        except Exception as exc:  # e.g. daemonic worker processes may not have children
            log.warning("OCR process pool unavailable (%s); reading images in this process", exc)
    return [r for chunk in chunks for r in ocr_chunk(chunk, lang)]


# --- batch prefetch: the extractor OCRs a batch's images in parallel before the parser runs --------
_CACHE: dict[tuple[str, str], OcrResult] = {}


def prefetch_items(items: Iterable[FoundFile], store: OriginalsStore, lang: str | None = None) -> int:
    """OCR the images among a batch's work items in a pool; the image parser then takes the results."""
    lang = lang or ocr_lang()
    todo: dict[str, Path] = {}
    for item in items:
        if item.format == IMAGE_FORMAT and not item.skip_reason and (item.sha256, lang) not in _CACHE:
            todo.setdefault(item.sha256, store.path_for(item.sha256))
    if len(todo) < 2:
        return 0  # one image gains nothing from a pool; the parser reads it directly
    for sha256, result in zip(todo, ocr_paths(todo.values(), lang), strict=True):
        _CACHE[(sha256, lang)] = result
    return len(todo)


def take_prefetched(sha256: str, lang: str) -> OcrResult | None:
    return _CACHE.pop((sha256, lang), None)
