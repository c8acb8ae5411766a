"""Offline and private: a whole ingest, the report and every export run with the network forbidden, and no
output makes a reader's browser or tool fetch anything (evidence text may name URLs; nothing loads them)."""

from __future__ import annotations

import socket
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli.commands import app

runner = CliRunner()
SAMPLE = Path(__file__).resolve().parents[1] / "sample"
REMOTE = ("http://", "https://", "//", "ftp://")


class NoNetwork(Exception):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise NoNetwork(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


class _References(HTMLParser):
    """Every attribute of the page that makes a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "srcset", "poster", "data") and value:
                if tag == "a" and name == "href" and value.startswith("#"):
                    continue
                self.fetched.append(f"{tag}.{name}={value[:80]}")


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_ingest_report_and_every_export_work_without_a_network(no_network: None, tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = evidence("ingest", SAMPLE, "--case", case, "--tz", "Europe/London", "--owner", "+44 7700 900001")
    assert result.exit_code == 0, result.output
    assert (
        evidence("events", "add", "--case", case, "--kind", "order", "--at", "2024-04-05T14:20").exit_code
        == 0
    )
    report = tmp_path / "report.html"
    result = evidence("report", "--case", case, "-o", report)
    assert result.exit_code == 0, result.output
    html = report.read_text(encoding="utf-8")
    page = _References()
    page.feed(html)
    remote = [r for r in page.fetched if r.split("=", 1)[1].startswith(REMOTE)]
    assert not remote, remote
    assert "@import" not in html and "url(http" not in html
    outputs = {
        "incident-log": tmp_path / "incidents.csv",
        "timesketch": tmp_path / "timeline.jsonl",
        "case-uco": tmp_path / "case.jsonld",
        "parquet": tmp_path / "parquet",
    }
    for fmt, out in outputs.items():
        result = evidence("export", "--case", case, "--format", fmt, "-o", out)
        assert result.exit_code == 0, (fmt, result.output)
        assert out.exists()
    assert evidence("verify", "--case", case).exit_code == 0
