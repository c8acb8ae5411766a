"""One stored file to extract, as planned by acquisition; JSON-serialisable so batches can be files."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

ARCHIVE_FORMAT = "zip_archive"


@dataclass
class FoundFile:
    """A stored original and what is known about where it was found."""

    sha256: str
    md5: str
    size_bytes: int
    source_path: str
    name: str
    mime: str | None = None
    format: str | None = None
    is_new: bool = True
    container_sha256: str | None = None
    derived_from_sha256: str | None = None
    modified_at: str | None = None
    group: str | None = None
    siblings: dict[str, str] = field(default_factory=dict)
    skip_reason: str | None = None
    depth: int = 0
    # Exact bytes of source_path in hex when it was not UTF-8 and had to be escaped (evidence.text).
    source_path_hex: str | None = None
    # A zip member damaged inside: only its readable start was stored, or its CRC-32 failed (the walk's
    # warning says which). Every message read from it is flagged FROM_DAMAGED_MEMBER.
    damaged_in_archive: bool = False

    def to_json(self, with_siblings: bool = True) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["siblings"] = dict(self.siblings) if with_siblings else {}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FoundFile:
        return cls(**data)
