"""Shared test helpers: the third-party fixture corpus and a one-call "parse this file" helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from evidence.parsers.context import ParseOptions
from evidence.parsers.rows import ParsedRows
from evidence.pipeline.extract import parse_path

SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures() -> Path:
    """../shared/fixtures (real third-party exports); tests using it skip when it is absent."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("../shared/fixtures is not present")
    return SHARED_FIXTURES


@pytest.fixture
def parse(tmp_path: Path) -> Callable[..., ParsedRows]:
    """parse(path, tz=..., region=..., owners=...) -> ParsedRows with rows per staging table: what the
    parser reported, without the per-message work of extraction (tests/test_enrich.py covers that)."""

    def _parse(path: Path, **options: object) -> ParsedRows:
        opts = ParseOptions(**options)  # type: ignore[arg-type]
        return parse_path(Path(path), options=opts, store_root=tmp_path / "originals", per_message=False)

    return _parse
