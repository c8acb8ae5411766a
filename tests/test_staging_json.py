"""run_files rows staged as JSON lines load the same whichever way they are inserted: value by value (a few
rows) or through one Arrow table (a run of many small files)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from evidence.db import open_case
from evidence.pipeline import staging


def run_file_rows(count: int) -> list[dict[str, Any]]:
    """Rows as extraction writes them: nulls, ints, booleans, times with offsets, odd text."""
    rows = []
    for k in range(count):
        rows.append(
            {
                "run_id": "run-1",
                "sha256": f"{k:064x}",
                "md5": f"{k:032x}",
                "size_bytes": k * 1000,
                "source_path": f"/phone/DCIM/ünïcode \u202e{k}\nname\udcff.eml",
                "name": f"m{k}.eml",
                "mime": None if k % 7 == 0 else "message/rfc822",
                "format": None if k % 7 == 0 else "email_eml",
                "status": ("parsed", "failed", "unsupported")[k % 3],
                "status_reason": "not an email message: no header fields found" if k % 3 == 1 else None,
                "parser": "email_eml",
                "parser_version": "1",
                "parse_key": "email_eml@1;tz=Europe/London",
                "derived_from_sha256": None,
                "container_sha256": None,
                "modified_at": datetime(2024, 3, 1, tzinfo=UTC) + timedelta(seconds=k)
                if k % 5
                else datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=-7))),
                "is_new": k % 2 == 0,
                "messages": k % 4,
                "warnings": 0 if k % 9 else None,
                "source_path_hex": None,
            }
        )
    return rows


def loaded(tmp_path: Path, name: str, parts: list[str], arrow_from: int) -> list[tuple]:
    case = tmp_path / name
    case.mkdir()
    with open_case(case, write=True) as con:
        original = staging.ARROW_INSERT_ROWS
        staging.ARROW_INSERT_ROWS = arrow_from
        try:
            staging.insert_json_parts(con, "run_files", parts)
        finally:
            staging.ARROW_INSERT_ROWS = original
        return con.execute("SELECT * FROM run_files ORDER BY sha256").fetchall()


@pytest.mark.parametrize("mixed", [False, True])
def test_both_insert_paths_load_the_same_rows(tmp_path: Path, mixed: bool) -> None:
    rows = run_file_rows(staging.ARROW_INSERT_ROWS + 44)
    if mixed:  # a column holding two kinds of JSON value: the Arrow path declines, nothing is lost
        rows[3]["size_bytes"] = "3000"
    parts = []
    for index in range(0, len(rows), 100):
        path = tmp_path / f"run_files-{index:05d}.jsonl"
        staging.write_json_rows(rows[index : index + 100], path)
        parts.append(str(path))
    by_value = loaded(tmp_path, "by-value", parts, arrow_from=10**9)
    by_table = loaded(tmp_path, "by-table", parts, arrow_from=1)
    assert len(by_value) == len(rows)
    assert by_table == by_value
    first = by_value[0]
    assert first[3] == 0 and first[15] == datetime(2024, 3, 1, 19, tzinfo=UTC)  # 12:00 at -07:00
    assert first[4].endswith("0\nname\ufffd.eml") and first[16] is True
