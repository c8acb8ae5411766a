"""Script and formula payloads end to end: from sender names, conversation names, bodies, OCR text and file
names through the database, the timeline, the HTML report (in headless Chromium), the incident log CSV
and every export. Raw values stay exactly as written in DuckDB and in the JSON and Parquet exports; a
spreadsheet cell that would run as a formula starts with `'`; the report shows every payload as text and
runs none of them."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from browser import available as browser_available
from browser import headless_chromium
from payloads import (
    DIALOG_HOOK,
    FILE_NAME_PAYLOADS,
    FORMULA_START,
    INJECTED_STATE,
    OCR_LINES,
    PAYLOADS,
    SCRIPT_PAYLOADS,
    write_sources,
)
from typer.testing import CliRunner

from evidence.cli.commands import app

runner = CliRunner()


def evidence(*args: object) -> Any:
    result = runner.invoke(app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def query(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("injection")
    case = root / "case"
    evidence("ingest", write_sources(root), "--case", case, "--tz", "Europe/London")
    # an analyst confirms an actor whose label is a payload too
    evidence("actors", "link", "+447700900123", "--case", case, "--actor", PAYLOADS["svg_onload"],
             "--reason", "the victim knows the number")  # fmt: skip
    return case


@pytest.fixture(scope="module")
def outputs(case: Path) -> dict[str, Path]:
    out = case.parent / "out"
    out.mkdir()
    paths = {
        "timeline": out / "timeline.csv",
        "incident-log": out / "incidents.csv",
        "timesketch": out / "timesketch.jsonl",
        "case-uco": out / "case.jsonld",
        "parquet": out / "parquet",
        "report": out / "report.html",
    }
    evidence("timeline", "--case", case, "--format", "csv", "-o", paths["timeline"])
    for name in ("incident-log", "timesketch", "case-uco", "parquet"):
        evidence("export", "--case", case, "--format", name, "-o", paths[name])
    evidence("report", "--case", case, "-o", paths["report"])
    return paths


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def test_raw_values_are_unchanged_in_the_database(case: Path) -> None:
    bodies = {b for (b,) in query(case, "SELECT body FROM messages")}
    senders = {s for (s,) in query(case, "SELECT sender FROM messages")}
    conversations = {c for (c,) in query(case, "SELECT conversation FROM messages")}
    for payload in PAYLOADS.values():
        assert payload in bodies and payload in senders and payload in conversations, repr(payload)
    assert set(OCR_LINES) <= {b for (b,) in query(case, "SELECT body FROM messages WHERE kind = 'ocr'")}
    paths = {p for (p,) in query(case, "SELECT first_seen_path FROM files")}
    for payload in FILE_NAME_PAYLOADS.values():
        assert any(p.endswith(f"/WhatsApp Chat with {payload}.txt") for p in paths), repr(payload)
    timeline = {t for (t,) in query(case, "SELECT text FROM timeline")}
    assert set(PAYLOADS.values()) <= timeline
    assert query(case, "SELECT DISTINCT actor FROM timeline WHERE actor IS NOT NULL") == [
        (PAYLOADS["svg_onload"],)
    ]


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("name", ["timeline", "incident-log"])
def test_csv_cells_never_start_a_formula_and_keep_the_value_after_the_quote(
    outputs: dict[str, Path], case: Path, name: str
) -> None:
    rows = read_csv(outputs[name])
    cells = [cell for row in rows[1:] for cell in row]
    assert cells
    assert not [c for c in cells if c.startswith(FORMULA_START)]
    quoted = {c[1:] for c in cells if c.startswith("'")}
    if name == "timeline":
        # every payload, as body, sender and conversation, is in the file: quoted where it would run
        for payload in PAYLOADS.values():
            expected = "'" + payload if payload.startswith(FORMULA_START) else payload
            assert expected in cells, repr(payload)
        assert set(OCR_LINES) - {OCR_LINES[1]} <= set(cells) and OCR_LINES[1] in quoted
    else:
        # incidents: who sent it is the confirmed actor; its texts start with a payload somewhere
        header = rows[0]
        who = {row[header.index("who")] for row in rows[1:]}
        assert PAYLOADS["svg_onload"] in who
        texts = [row[header.index("texts")] for row in rows[1:]]
        assert any(t.startswith("'") and t[1:].startswith(FORMULA_START) for t in texts), texts[:5]


def test_timesketch_lines_are_valid_json_with_the_payloads_intact(outputs: dict[str, Path]) -> None:
    lines = outputs["timesketch"].read_text(encoding="utf-8").splitlines()
    values = {s for line in lines for s in strings_in(json.loads(line))}
    for payload in PAYLOADS.values():
        assert payload in values, repr(payload)
    assert set(OCR_LINES) <= values


def test_case_uco_is_valid_json_with_the_payloads_intact(outputs: dict[str, Path]) -> None:
    document = json.loads(outputs["case-uco"].read_text(encoding="utf-8"))
    values = set(strings_in(document))
    for payload in PAYLOADS.values():
        assert payload in values, repr(payload)


def test_parquet_export_keeps_the_payloads_intact(outputs: dict[str, Path]) -> None:
    parts = sorted(outputs["parquet"].rglob("*.parquet"))
    assert parts
    values: set[str] = set()
    for part in parts:
        for column in pq.read_table(part).to_pylist():
            values.update(v for v in column.values() if isinstance(v, str))
    for payload in PAYLOADS.values():
        assert payload in values, repr(payload)


@pytest.fixture(scope="module")
def page(outputs: dict[str, Path]) -> dict[str, Any]:
    if not browser_available():
        pytest.skip("/usr/bin/chromium or /usr/bin/chromedriver is absent (make setup installs them)")
    import time

    with headless_chromium("--window-size=1280,1000") as driver:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": DIALOG_HOOK})
        driver.get(outputs["report"].resolve().as_uri())
        deadline = time.monotonic() + 20
        while not driver.execute_script("return document.documentElement.dataset.ready"):
            assert time.monotonic() < deadline, "the report's script did not run"
            time.sleep(0.05)
        return driver.execute_script(INJECTED_STATE)


def test_the_report_runs_no_payload(page: dict[str, Any]) -> None:
    assert page["dialogs"] == []
    assert page["handlers"] == []
    assert page["scripts"] == 0 and page["svgs"] == 0 and page["images"] == 0


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_the_report_shows_each_payload_as_text(page: dict[str, Any], name: str) -> None:
    assert PAYLOADS[name].strip() in page["text"]


def test_the_report_shows_ocr_payloads_as_text(page: dict[str, Any]) -> None:
    for line in OCR_LINES:
        assert line in page["text"]
    assert set(SCRIPT_PAYLOADS.values()) <= set(PAYLOADS.values())
