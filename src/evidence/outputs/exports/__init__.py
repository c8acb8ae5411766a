"""Exports of a case for other tools and people: `evidence export --format NAME`.

One module per format, each with `export(con, path, redactor, case_name) -> ExportResult`; FORMATS maps the public
format names (DESIGN.md) to them. The case is opened read-only by the caller; the caller records the
written files in the custody log (outputs.delivery.record_output).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.outputs.exports import case_uco, incident_log, parquet, timesketch
from evidence.outputs.exports.common import ExportError, ExportResult
from evidence.outputs.redact import Redactor


@dataclass(frozen=True)
class ExportFormat:
    name: str
    description: str
    write: Callable[..., ExportResult]
    folder: bool = False  # writes a folder of files rather than one file
    redactable: bool = True


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "incident-log",
            "CSV stalking diary, one row per incident (for advocates and police)",
            incident_log.export,
        ),
        ExportFormat(
            "timesketch", "JSON lines for a Timesketch timeline, one line per dated event", timesketch.export
        ),
        ExportFormat(
            "case-uco", "CASE/UCO JSON-LD: files, hashes, messages, accounts, provenance", case_uco.export
        ),
        ExportFormat(
            "parquet",
            "a folder with one Parquet file per table and view",
            parquet.export,
            folder=True,
            redactable=False,
        ),
    )
}


def export_case(con: Any, fmt: str, path: Path, redactor: Redactor, case_name: str = "case") -> ExportResult:
    """Write the export `fmt` of the case open on `con` to `path`."""
    chosen = FORMATS.get(fmt)
    if chosen is None:
        raise ExportError(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}")
    if not chosen.folder and Path(path).is_dir():
        raise ExportError(f"{path} is a folder: give a file name for the {fmt} export")
    return chosen.write(con, Path(path), redactor, case_name=case_name)


__all__ = ["FORMATS", "ExportError", "ExportFormat", "ExportResult", "export_case"]
