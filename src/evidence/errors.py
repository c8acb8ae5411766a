"""The library's own exceptions. The command line turns exactly these into one-line messages."""

from __future__ import annotations

import errno

# What the libraries say when a write finds the disk full: Python sets errno; Arrow and DuckDB raise
# their own errors that only carry the system's words.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_FULL_WORDS = ("No space left on device", "Disk quota exceeded")


class EvidenceError(Exception):
    """Base class: an expected problem the user can act on."""


class IngestError(EvidenceError):
    """The run cannot start (bad parameters, unusable case folder)."""


class ActorError(EvidenceError, ValueError):
    """An analyst decision on actors cannot be carried out (unknown suggestion, actor or identifier)."""


class CaseLockedError(EvidenceError, RuntimeError):
    """Another process is writing to the case database."""


class CaseNotFoundError(EvidenceError, FileNotFoundError):
    """The case folder or its database does not exist."""


class DiskFullError(EvidenceError, OSError):
    """The disk holding the case filled up: the run stops (every later write would fail too)."""


def is_disk_full(exc: BaseException | None) -> bool:
    """Whether an error, or one it was raised from, is a write that found no space left."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            return True
        if any(words in str(exc) for words in _FULL_WORDS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False
