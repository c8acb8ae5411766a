"""Alias files: an analyst's list of identifiers known to belong to one person (CSV or YAML)."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path
from typing import Any

from evidence.analysis.actors.materialise import rebuild_actors
from evidence.analysis.actors.review import link_one
from evidence.errors import ActorError


def read_alias_file(path: Path) -> list[tuple[str, str, str | None]]:
    """(actor label, identifier, reason) rows from an analyst's alias file (see parse_alias_file)."""
    return parse_alias_file(Path(path).read_bytes(), Path(path).suffix)


def parse_alias_file(data: bytes, suffix: str) -> list[tuple[str, str, str | None]]:
    """(actor label, identifier, reason) rows from the bytes of an alias file.

    CSV: a header with actor (or label/name/person) and identifier (or value/alias), optional kind and
    reason. YAML (suffix .yaml/.yml): a list of {actor, identifiers: [...], reason}, or a mapping
    actor -> [identifiers]. An entry with an empty actor or identifier (YAML `~`/`null`) is refused by
    name: linking the text "None" to a person would be a silent mistake.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ActorError(f"the alias file is not UTF-8 text: {exc}") from exc
    if suffix.lower() in (".yaml", ".yml"):
        return _alias_yaml(text)
    return _alias_csv(text)


def _pick(row: dict[str, str], *names: str) -> str | None:
    for name in names:
        value = row.get(name)
        if value and value.strip():
            return value.strip()
    return None


def _alias_csv(text: str) -> list[tuple[str, str, str | None]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise ActorError("the alias file is empty")
    reader.fieldnames = [f.strip().lower() for f in reader.fieldnames]
    if not {"actor", "label", "name", "person"} & set(reader.fieldnames) or not {
        "identifier",
        "value",
        "alias",
    } & set(reader.fieldnames):
        raise ActorError(
            "an alias CSV needs a header with columns actor and identifier (optional: kind, reason)"
        )
    rows = []
    for number, row in enumerate(reader, start=2):
        actor = _pick(row, "actor", "label", "name", "person")
        value = _pick(row, "identifier", "value", "alias")
        if not actor and not value:
            continue
        if not actor or not value:
            raise ActorError(f"alias file line {number}: both actor and identifier are needed")
        kind = _pick(row, "kind")
        rows.append((actor, f"{kind}:{value}" if kind else value, _pick(row, "reason", "note", "source")))
    return rows


def _alias_yaml(text: str) -> list[tuple[str, str, str | None]]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ActorError(f"the alias file is not valid YAML: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("actors"), list):
        data = data["actors"]
    rows: list[tuple[str, str, str | None]] = []
    if isinstance(data, dict):
        for actor, idents in data.items():
            where = f"alias entry for actor {actor!r}"
            label = _text(actor, f"{where}: the actor", numbers=True)
            for value in idents if isinstance(idents, list) else [idents]:
                rows.append((label, _text(value, f"{where}: an identifier"), None))
        return rows
    if not isinstance(data, list):
        raise ActorError(
            "an alias YAML file is a list of {actor, identifiers, reason} or a mapping actor -> list"
        )
    for number, entry in enumerate(data, start=1):
        if not isinstance(entry, dict) or not (entry.get("actor") or entry.get("label") or entry.get("name")):
            raise ActorError(f"alias entry {number} ({entry!r}) has no actor")
        where = f"alias entry {number} ({entry!r})"
        actor = _text(
            entry.get("actor") or entry.get("label") or entry.get("name"), f"{where}: the actor", numbers=True
        )
        idents = entry.get("identifiers", entry.get("identifier", []))
        reason = entry.get("reason")
        for value in idents if isinstance(idents, list) else [idents]:
            if isinstance(value, dict):
                kind, raw = value.get("kind"), _text(value.get("value"), f"{where}: an identifier's value")
                value = f"{_text(kind, f'{where}: a kind')}:{raw}" if kind is not None else raw
            rows.append(
                (actor, _text(value, f"{where}: an identifier"), None if reason is None else str(reason))
            )
    return rows


def _text(value: Any, what: str, *, numbers: bool = False) -> str:
    """A YAML scalar as a label or identifier. Null is refused (it would become the text "None"), and so
    are booleans, lists and, for identifiers, numbers: YAML reads +447700900123 as a number and drops the
    plus sign, so a phone number must be quoted."""
    if isinstance(value, int) and not isinstance(value, bool) and numbers:
        value = str(value)
    if not isinstance(value, str):
        if value is None:
            shown = "empty (null)"
        elif isinstance(value, int | float) and not isinstance(value, bool):
            shown = f"a number ({value!r}), which loses a leading + or 0; put it in quotes"
        else:
            shown = f"not text ({value!r})"
        raise ActorError(f"{what} is {shown}: write it as text, or remove the entry")
    text = value.strip()
    if not text:
        raise ActorError(f"{what} is empty: write it as text, or remove the entry")
    return text


def import_aliases(con: Any, path: Path, *, examiner: str, region: str = "GB") -> list[dict[str, Any]]:
    """Link every (actor, identifier) of an alias file; each row is a decision naming the file and its hash."""
    data = Path(path).read_bytes()  # read once: the hash recorded is the hash of what was parsed
    digest = hashlib.sha256(data).hexdigest()
    rows = parse_alias_file(data, Path(path).suffix)
    if not rows:
        raise ActorError(f"no aliases found in {path}")
    source = f"alias file {path} (sha256 {digest})"
    records = [
        link_one(
            con,
            actor,
            value,
            examiner=examiner,
            reason=reason or f"alias file {Path(path).name}",
            region=region,
            source=source,
        )
        for actor, value, reason in rows
    ]
    rebuild_actors(con)
    return records
