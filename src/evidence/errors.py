"""The library's own exceptions. The command line turns exactly these into one-line messages."""

from __future__ import annotations


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
