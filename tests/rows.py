"""Helpers for reading an ParsedRows in tests."""

from __future__ import annotations

from typing import Any

from evidence.parsers.rows import ParsedRows


def file_row(out: ParsedRows, name: str | None = None, *, inputs_only: bool = False) -> dict[str, Any]:
    """The one run_files row of a parse: by file name, or the only row (the only input row with
    inputs_only, when attachments were extracted as derived files too)."""
    rows = out.rows["run_files"]
    if name is not None:
        rows = [r for r in rows if r["name"] == name]
    elif inputs_only:
        rows = [r for r in rows if r["derived_from_sha256"] is None]
    (row,) = rows
    return row
