"""A small case to ingest quickly (no screenshots, so no OCR): the sample story's WhatsApp chat and SMS.

Written from tests/sample_case.py, so the same bytes every time; for tests that need a real case database
through the real pipeline in a few seconds (the report DAG, the Celery deployment).
"""

from __future__ import annotations

from pathlib import Path

from sample_case import OWNERS, REGION, TZ, WHATSAPP_TXT, sms_xml, whatsapp_text

__all__ = ["OWNERS", "REGION", "TZ", "write_small_case"]


def write_small_case(folder: Path) -> Path:
    """Write the exports into `folder` (created) and return it: pass it as the ingest's one source."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / WHATSAPP_TXT).write_text(whatsapp_text(), encoding="utf-8")
    (folder / "sms-backup.xml").write_bytes(sms_xml())
    return folder
