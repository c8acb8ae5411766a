"""Format identification: libmagic for the MIME type, then each parser's cheap structural sniff."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import magic

from evidence.parsers.base import SAMPLE_BYTES, Parser, Sample
from evidence.parsers.registry import REGISTRY


@lru_cache(maxsize=1)
def _magic() -> magic.Magic:
    return magic.Magic(mime=True)


def mime_of(head: bytes) -> str:
    """MIME type from content; libmagic failures become application/octet-stream."""
    if not head:
        return "application/x-empty"
    try:
        return _magic().from_buffer(head)
    except Exception:
        return "application/octet-stream"


def sample_file(path: Path, name: str, size: int | None = None) -> Sample:
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    return Sample(
        head=head, name=name, mime=mime_of(head), size=size if size is not None else path.stat().st_size
    )


def detect(sample: Sample) -> Parser | None:
    return REGISTRY.detect(sample)
