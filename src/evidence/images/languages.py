"""OCR languages: the run default (EVIDENCE_OCR_LANG) and what tesseract has installed. Light to import."""

from __future__ import annotations

import os


def default_ocr_lang() -> str:
    """Tesseract language(s) when a run names none: EVIDENCE_OCR_LANG (e.g. eng+deu), else eng."""
    return os.environ.get("EVIDENCE_OCR_LANG", "").strip() or "eng"


def installed_languages() -> set[str] | None:
    """Languages tesseract can read here; None when tesseract itself is missing."""
    import pytesseract

    try:
        return set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError):
        return None
