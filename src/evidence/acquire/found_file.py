"""What acquisition finds: each stored file to extract (JSON-serialisable, so batches can be files), and
the run's list of what was not read and why."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

from evidence.acquire.siblings import SiblingIndex
from evidence.text import escape_path, path_hex

log = logging.getLogger(__name__)

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


@dataclass
class AcquireResult:
    items: list[FoundFile] = field(default_factory=list)
    errors: list[dict[str, str | None]] = field(default_factory=list)
    siblings: SiblingIndex = field(default_factory=SiblingIndex)

    def error(self, source_path: str, message: str, sha256: str | None = None) -> None:
        """Record a file or folder that was not read; paths and messages are stored as escaped text."""
        self._record(source_path, message, sha256, "error")

    def warning(self, source_path: str, message: str, sha256: str | None = None) -> None:
        """Record something about a file that was read all the same (not counted as not read)."""
        self._record(source_path, message, sha256, "warning")

    def _record(self, source_path: str, message: str, sha256: str | None, severity: str) -> None:
        shown, message, exact = escape_path(source_path), escape_path(message), path_hex(source_path)
        log.warning("acquire: %s: %s", shown, message)
        self.errors.append(
            {
                "source_path": shown,
                "sha256": sha256,
                "stage": "acquire",
                "error": message,
                "severity": severity,
                **({"source_path_hex": exact} if exact else {}),
            }
        )

    @property
    def not_read(self) -> int:
        """Files and folders not read (warnings about files that were read are not counted)."""
        return sum(1 for error in self.errors if error["severity"] == "error")
