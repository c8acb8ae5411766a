"""Redaction for reports and exports (--redact): identifiers other than the actors' are masked.

An advocate hands a report to people who need to see what the stalker sent, not the victim's own number,
the friend's address or a police officer's phone. So every phone number, email address, handle and URL
written in a field is masked unless it belongs to a confirmed actor of the case (never the owner).
Suggestions do not count: a friend who wrote "email me at ..." may be a suggested actor, and her address
must not show. Confirm the stalker's identifiers before producing a redacted report. The database keeps
every raw value; only the output is redacted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from evidence.identifiers import find_in_text, guess_identifier

MASKS = {
    "phone": "[phone]",
    "email": "[email]",
    "handle": "[account]",
    "url": "[link]",
    "ip": "[ip]",
    "device": "[device]",
}


@dataclass
class Redactor:
    """Masks identifiers that are not kept. `enabled=False` gives the text back unchanged."""

    kept: set[str] = field(default_factory=set)  # identifier values (normalised) that stay readable
    region: str = "GB"
    enabled: bool = True
    _cache: dict[str, str] = field(default_factory=dict)

    def text(self, value: Any) -> Any:
        """A field with every identifier that is not kept masked (non-text values pass through)."""
        if not self.enabled or not isinstance(value, str) or not value:
            return value
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        masked = value
        for ident in find_in_text(value, self.region):
            if ident.value in self.kept or ident.kind not in MASKS:
                continue
            masked = masked.replace(ident.raw, MASKS[ident.kind])
        if masked == value and _looks_like_identifier(value.strip()):
            # a field that is itself an identifier (a sender address, a number written bare)
            whole = guess_identifier(value, self.region)
            if whole is not None and whole.kind in ("phone", "email") and whole.value not in self.kept:
                masked = MASKS[whole.kind]
        masked = _NAME_ADDRESS.sub(lambda m: m.group(1) + self.text(m.group(2)) + m.group(3), masked)
        self._cache[value] = masked
        return masked

    def identifier(self, value: str | None) -> str | None:
        """An identifier value shown on its own (a sender identifier column)."""
        if not self.enabled or value is None or value in self.kept:
            return value
        ident = guess_identifier(value, self.region)
        return MASKS.get(ident.kind, "[identifier]") if ident is not None else "[identifier]"


_NAME_ADDRESS = re.compile(r"(<)([^<>@\s]+@[^<>\s]+)(>)")
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")
_NUMBER = re.compile(r"(?:tel:)?\+?[\d \u00a0().-]+")


def _looks_like_identifier(text: str) -> bool:
    """A whole field read as one identifier only when it looks like one: an address, or a number of at
    least nine digits written with phone punctuation only (not a date, a police reference, a case number)."""
    if _ADDRESS.fullmatch(text):
        return True
    return bool(_NUMBER.fullmatch(text)) and sum(ch.isdigit() for ch in text) >= 9 and not _DATE.search(text)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{1,2}[./]\d{1,2}[./]\d{2,4}")


def redactor_for(con: Any, enabled: bool) -> Redactor:
    """Keep the identifiers of the case's confirmed actors (not the owner's); mask the rest."""
    if not enabled:
        return Redactor(enabled=False)
    kept = {
        value
        for (value,) in con.execute(
            "SELECT DISTINCT i.value FROM actor_identifiers ai JOIN actors a USING (actor_id) "
            "JOIN identifiers i USING (identifier_id) WHERE a.status = 'confirmed' AND ai.confirmed"
        ).fetchall()
    }
    rows = con.execute("SELECT value FROM case_settings WHERE key = 'region'").fetchall()
    return Redactor(kept=kept, region=rows[0][0] if rows and rows[0][0] else "GB")
