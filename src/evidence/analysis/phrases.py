"""The editable phrase lists (threats, stop requests): read, turned into RE2 patterns, matched in bulk.

The shipped lists are src/evidence/phrases/*.txt; a case can override a list with its own copy in
CASE_DIR/phrases/ (same name). See src/evidence/phrases/README.md for the format.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LISTS = ("threats", "stop_requests")
PACKAGE_LISTS = Path(__file__).resolve().parents[1] / "phrases"


@dataclass(frozen=True)
class Phrase:
    text: str  # as written in the list
    pattern: str  # RE2, case-insensitive


def phrase_pattern(text: str) -> str:
    """A plain phrase as RE2: whole words, any spacing between them, apostrophes optional."""
    if text.startswith("re:"):
        return "(?i)" + text[3:].strip()
    words = []
    for word in text.split():
        parts = [re.escape(p) for p in re.split(r"['’]", word)]
        words.append("['’]?".join(parts))
    return r"(?i)(?:^|\W)" + r"\s+".join(words) + r"(?:\W|$)"


def list_path(name: str, case_dir: Path | None) -> Path:
    """The case's own copy of a list when it has one, else the shipped one."""
    if case_dir is not None and (Path(case_dir) / "phrases" / f"{name}.txt").is_file():
        return Path(case_dir) / "phrases" / f"{name}.txt"
    return PACKAGE_LISTS / f"{name}.txt"


def read_lists(case_dir: Path | None) -> tuple[dict[str, list[Phrase]], str]:
    """Every list's phrases, and one SHA-256 over all of them (a change means: match everything again)."""
    lists: dict[str, list[Phrase]] = {}
    digest = hashlib.sha256()
    for name in LISTS:
        data = list_path(name, case_dir).read_bytes()
        digest.update(name.encode() + b"\0" + data + b"\0")
        phrases = []
        for line in data.decode("utf-8-sig").splitlines():
            text = line.split("#", 1)[0].strip() if not line.lstrip().startswith("re:") else line.strip()
            if text:
                phrases.append(Phrase(text, phrase_pattern(text)))
        lists[name] = phrases
    return lists, digest.hexdigest()


PHRASES_PER_STATEMENT = 100  # a case's own lists may be long: one statement checks this many phrases


def match_messages(con: Any, lists: dict[str, list[Phrase]], where: str, params: dict[str, Any]) -> int:
    """Insert phrase_matches for the canonical messages selected by `where` (SQL on messages m); returns
    how many matches. One RE2 pass over the bodies for every list at once finds the candidates, then one
    statement checks each phrase on those few (a pass per list, and a statement per phrase, cost about
    twice as much over 200,000 messages)."""
    before = con.execute("SELECT count(*) FROM phrase_matches").fetchall()[0][0]
    phrases = [(name, phrase) for name, listed in lists.items() for phrase in listed]
    if not phrases:
        return 0
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _phrase_candidates AS
        SELECT m.message_id, m.body FROM messages m
        WHERE {where} AND m.body IS NOT NULL AND regexp_matches(m.body, $alternation)
        """,
        {**params, "alternation": "|".join(f"(?:{phrase.pattern})" for _, phrase in phrases)},
    )
    (candidates,) = con.execute("SELECT count(*) FROM _phrase_candidates").fetchall()[0]
    for first in range(0, len(phrases) if candidates else 0, PHRASES_PER_STATEMENT):
        values: dict[str, str] = {}
        checks = []
        for k, (name, phrase) in enumerate(phrases[first : first + PHRASES_PER_STATEMENT]):
            values.update({f"list{k}": name, f"text{k}": phrase.text, f"pattern{k}": phrase.pattern})
            checks.append(
                f"SELECT message_id, $list{k}, $text{k} FROM _phrase_candidates "
                f"WHERE regexp_matches(body, $pattern{k})"
            )
        con.execute("INSERT OR IGNORE INTO phrase_matches " + " UNION ".join(checks), values)
    con.execute("DROP TABLE IF EXISTS _phrase_candidates")
    return con.execute("SELECT count(*) FROM phrase_matches").fetchall()[0][0] - before
