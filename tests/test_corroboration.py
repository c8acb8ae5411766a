"""Screenshot corroboration on a realistic case (tests/corroboration_case.py), through the real pipeline:
recall and precision of the links, both orders of arrival (screenshots first, exports later), re-runs, and
the text rule that tells an OCR misread from a different message."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest
from corroboration_case import JORDAN, OWNER, SHOTS, TZ, Bubble, write_case
from screenshot_generator import render

from evidence.analysis.corroboration import _name_score, fold, text_score
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

Truth = dict[str, list[tuple[Bubble, tuple[int, int, int, int]]]]


@pytest.fixture(scope="module")
def case_sources(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Truth]:
    return write_case(tmp_path_factory.mktemp("corroboration") / "sources")


@pytest.fixture(scope="module")
def together(case_sources: tuple[list[Path], Truth], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The case with both exports and every screenshot ingested in one run (read-only for the tests:
    a test that changes it works on a copy)."""
    case = tmp_path_factory.mktemp("together") / "case"
    summary = _ingest(case_sources[0], case)
    assert "error" not in summary["links"]["screenshot_corroboration"]
    return case


def _copy(case: Path, to: Path) -> Path:
    shutil.copytree(case, to)
    return to


def _ingest(sources: list[Path], case: Path) -> dict[str, Any]:
    params = IngestParameters(sources=[str(s) for s in sources], case_dir=str(case), tz=TZ, owners=[OWNER])
    summary = ingest(params)
    assert summary["failed"] == 0
    return summary


def _links(case: Path) -> set[tuple[str, str]]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return set(con.execute("SELECT ocr_message_id, message_id FROM corroborations").fetchall())


def _measure(case: Path, truth: Truth, folder: Path) -> dict[str, Any]:
    """Recall (bubbles linked to their exported message / bubbles that are in the export) and precision
    (correct links / all links). Each OCR message is mapped to the drawn bubble its region lies in."""
    sha_of = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in folder.iterdir()}
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        exported = {
            (conversation, body): message_id
            for message_id, conversation, body in con.execute(
                "SELECT message_id, conversation, body FROM messages WHERE kind <> 'ocr'"
            ).fetchall()
        }
        ocr = con.execute("SELECT message_id, source_sha256, source_locator FROM messages WHERE kind = 'ocr'")
        ocr_rows = ocr.fetchall()
        links: dict[str, set[str]] = {}
        for ocr_id, message_id in con.execute(
            "SELECT ocr_message_id, message_id FROM corroborations"
        ).fetchall():
            links.setdefault(ocr_id, set()).add(message_id)
    expected: dict[str, str | None] = {}  # OCR message -> the exported message its bubble shows
    wanted = linked = 0
    for name, bubbles in truth.items():
        rows = [r for r in ocr_rows if r[1] == sha_of[name]]
        for bubble, (left, top, right, bottom) in bubbles:
            target = exported[bubble.truth] if bubble.truth else None
            mine = []
            for message_id, _sha, locator in rows:
                x, y, w, h = (int(v) for v in locator.split("/")[1].split(","))
                if left - 3 <= x + w / 2 <= right + 3 and top - 3 <= y + h / 2 <= bottom + 3:
                    mine.append(message_id)
                    expected[message_id] = target
            if target is not None:
                wanted += 1
                linked += any(target in links.get(m, ()) for m in mine)
    all_links = [(o, m) for o, found in links.items() for m in found]
    correct = sum(1 for o, m in all_links if expected.get(o) == m)
    return {
        "bubbles_in_export": wanted,
        "linked": linked,
        "links": len(all_links),
        "correct": correct,
        "recall": linked / wanted,
        "precision": correct / len(all_links) if all_links else 1.0,
    }


def test_recall_and_precision_on_light_and_dark_screenshots(
    case_sources: tuple[list[Path], Truth], together: Path
) -> None:
    sources, truth = case_sources
    assert {shot.dark for shot in SHOTS} == {True, False} and len(SHOTS) >= 6
    figures = _measure(together, truth, sources[-1])
    print(
        f"\nscreenshot corroboration: recall {figures['recall']:.2f} "
        f"({figures['linked']}/{figures['bubbles_in_export']} bubbles in the export linked), precision "
        f"{figures['precision']:.2f} ({figures['correct']}/{figures['links']} links correct)"
    )
    assert figures["recall"] >= 0.8
    assert figures["precision"] == 1.0
    with duckdb.connect(str(together / "evidence.duckdb"), read_only=True) as con:
        reasons = [r[0] for r in con.execute("SELECT reason FROM corroborations").fetchall()]
        assert all("text" in r and ("conversation" in r) for r in reasons)
        # every bubble that is not in the export stays unlinked, and the friend's chat never links to Jordan's
        crossed = con.execute(
            "SELECT count(*) FROM corroborations c JOIN messages o ON o.message_id = c.ocr_message_id "
            "JOIN messages m ON m.message_id = c.message_id WHERE o.conversation <> m.conversation"
        ).fetchone()[0]
        assert crossed == 0


def test_exports_after_screenshots_link_the_same_and_reruns_change_nothing(
    case_sources: tuple[list[Path], Truth], together: Path, tmp_path: Path
) -> None:
    """Screenshots first, the exports in a later run: the later run links its messages to the OCR messages
    already in the case (and only re-links screenshots they can match); running again changes nothing."""
    sources, truth = case_sources
    exports, screenshots = sources[:-1], sources[-1]
    apart = tmp_path / "apart"
    first = _ingest([screenshots], apart)
    assert first["links"]["screenshot_corroboration"]["corroborated"] == 0
    assert _links(apart) == set()
    second = _ingest([exports[0]], apart)  # Jordan's chat
    result = second["links"]["screenshot_corroboration"]
    assert result["windows"] == 0 and result["corroborated"] > 0
    third = _ingest([exports[1]], apart)  # the friend's chat: only screenshots of those hours are re-linked
    assert 0 < third["links"]["screenshot_corroboration"]["screenshots"] < len(SHOTS)
    assert _links(apart) == _links(together)
    figures = _measure(apart, truth, screenshots)
    assert figures["recall"] >= 0.8 and figures["precision"] == 1.0
    again = _ingest(sources, apart)
    assert "screenshot_corroboration" not in again["links"]  # nothing new: the step does not run
    assert _links(apart) == _links(together)


def test_a_new_screenshot_leaves_other_links_alone(together: Path, tmp_path: Path) -> None:
    """A run adding one screenshot re-links that screenshot only; no other link is rewritten."""
    case = _copy(together, tmp_path / "case")
    before = _links(case)
    with duckdb.connect(str(case / "evidence.duckdb")) as con:  # a mark the next run must leave alone
        con.execute("UPDATE corroborations SET reason = reason || ' [kept]'")
    shot = next(s for s in SHOTS if s.contact == JORDAN and s.day == "Today")
    late = tmp_path / "late"
    late.mkdir()
    render(replace(shot, dark=not shot.dark).spec()).save(late / "Screenshot_20240614-215900.png")
    result = _ingest([late], case)["links"]["screenshot_corroboration"]
    assert result["screenshots"] == 1
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        kept = con.execute("SELECT count(*) FROM corroborations WHERE reason LIKE '%[kept]'").fetchone()[0]
        new = con.execute(
            "SELECT count(*) FROM corroborations c JOIN messages o ON o.message_id = c.ocr_message_id "
            "WHERE o.loaded_in_run = (SELECT max_by(run_id, started_at) FROM ingest_runs)"
        ).fetchone()[0]
    assert kept == len(before) and new >= 0.8 * sum(1 for b in shot.bubbles if b.truth)


@pytest.mark.parametrize(
    ("ocr", "exported", "same"),
    [
        ("know you read my messages", "i know you read my messages", True),  # "I" read as "|"
        ("lam outside now", "i am outside now", True),
        ("sleep well iam watching over you", "sleep well i am watching over you", True),
        ("you cannot hide from me forever", "you cannot hide from me forever", True),  # emoji dropped
        ("the police can t stop me nobody can", "the police can t stop me nobody can", True),
        ("i will be outside your work tomorrow at b", "i will be outside your work tomorrow at 8", True),
        ("i saw you at the station yesterday", "i saw you at the station today", False),
        ("i am going to block him", "i am going to block you", False),
        ("answer your phone", "answer your phone now", False),
        ("meet me at 8 tonight", "meet me at 9 tonight", False),
        ("never", "newer", False),
    ],
)
def test_ocr_misreads_match_and_different_words_do_not(ocr: str, exported: str, same: bool) -> None:
    score = text_score(ocr, exported)
    assert (score is not None and score >= 85) is same, (ocr, exported, score)


def test_fold_makes_confused_letters_one() -> None:
    assert fold("i am") == fold("lam") == fold("1am")
    assert fold("modern") == fold("modem")


def test_a_case_linked_by_the_old_rules_is_relinked_once(
    case_sources: tuple[list[Path], Truth], together: Path, tmp_path: Path
) -> None:
    """A case whose OCR messages have no windows yet (linked before this step was incremental): the next
    run records their windows and re-links their screenshots once, replacing links the old rules made."""
    sources, truth = case_sources
    case = _copy(together, tmp_path / "case")
    with duckdb.connect(str(case / "evidence.duckdb")) as con:
        con.execute("DELETE FROM ocr_message_windows")
        wrong = con.execute(
            "SELECT o.message_id, m.message_id FROM messages o, messages m WHERE o.kind = 'ocr' "
            "AND m.kind = 'message' AND o.conversation = 'Jordan Blake' AND m.conversation = 'Alex Marsh' LIMIT 1"
        ).fetchone()
        con.execute("INSERT INTO corroborations VALUES (?, ?, 90, NULL, NULL, 'old rules')", wrong)
    later = tmp_path / "WhatsApp Chat with Sam.txt"
    later.write_text("20/06/2024, 10:00 - Sam: Are you ok?\n", encoding="utf-8")
    result = _ingest([later], case)["links"]["screenshot_corroboration"]
    assert result["windows"] > 0 and result["screenshots"] == len(SHOTS)
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        assert (
            con.execute("SELECT count(*) FROM corroborations WHERE reason = 'old rules'").fetchone()[0] == 0
        )
    assert _links(case) == _links(together)
    figures = _measure(case, truth, sources[-1])
    assert figures["recall"] >= 0.8 and figures["precision"] == 1.0


def test_a_short_header_name_is_not_part_of_every_longer_name() -> None:
    assert _name_score("jordan", "jordan blake") == 100
    assert _name_score("al", "alex marsh") < 80 and _name_score("al", "al") == 100
