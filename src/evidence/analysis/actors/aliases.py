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
    """(actor label, identifier, reason) rows from an analyst's alias file.

    CSV: a header with actor (or label/name/person) and identifier (or value/alias), optional kind and
    reason. YAML: a list of {actor, identifiers: [...], reason}, or a mapping actor -> [identifiers].
    """
    text = Path(path).read_text(encoding="utf-8-sig")
    if Path(path).suffix.lower() in (".yaml", ".yml"):
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
            for value in idents if isinstance(idents, list) else [idents]:
                rows.append((str(actor), str(value), None))
        return rows
    if not isinstance(data, list):
        raise ActorError(
            "an alias YAML file is a list of {actor, identifiers, reason} or a mapping actor -> list"
        )
    for entry in data:
        if not isinstance(entry, dict) or not (entry.get("actor") or entry.get("label") or entry.get("name")):
            raise ActorError(f"alias entry {entry!r} has no actor")
        actor = str(entry.get("actor") or entry.get("label") or entry.get("name"))
        idents = entry.get("identifiers", entry.get("identifier", []))
        for value in idents if isinstance(idents, list) else [idents]:
            if isinstance(value, dict):
                kind, raw = value.get("kind"), value.get("value")
                value = f"{kind}:{raw}" if kind else raw
            rows.append((actor, str(value), entry.get("reason")))
    return rows


def import_aliases(con: Any, path: Path, *, examiner: str, region: str = "GB") -> list[dict[str, Any]]:
    """Link every (actor, identifier) of an alias file; each row is a decision naming the file and its hash."""
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    rows = read_alias_file(path)
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
