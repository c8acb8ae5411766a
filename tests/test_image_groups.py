"""Near-duplicate image groups: chains, stable ids across runs, merges, work that does not grow with
unrelated images, and crops joining an existing group through the real pipeline."""

from __future__ import annotations

import io
import random
from pathlib import Path

import duckdb
import pytest
from screenshot_generator import render, sample_spec

from evidence.analysis.image_groups import BAND_RADIUS, link_new_images
from evidence.db import ensure_schema, insert_rows
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(tmp_path / "evidence.duckdb"))
    ensure_schema(connection)
    yield connection
    connection.close()


def _bits(n: int, start: int = 0) -> int:
    """A hash with n bits set from bit `start` on."""
    return ((1 << n) - 1) << start


def _add(con: duckdb.DuckDBPyConnection, run: str, images: dict[str, int], **extra: object) -> None:
    rows = [
        {"sha256": sha, "phash": f"{h:016x}", "width": 100, "height": 200, "loaded_in_run": run, **extra}
        for sha, h in images.items()
    ]
    insert_rows(con, "images", rows)


def _link(con: duckdb.DuckDBPyConnection, run: str) -> dict[str, int]:
    return link_new_images(con, run)


def _groups(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    rows = con.execute("SELECT sha256, group_id, reason FROM image_groups").fetchall()
    return {sha: (group_id, reason) for sha, group_id, reason in rows}


def test_an_image_joined_only_through_another_is_grouped_with_a_reason(
    con: duckdb.DuckDBPyConnection,
) -> None:
    # a and c are 16 bits apart, each 8 from b: c is close to b only; c is the largest, a the representative?
    _add(con, "r1", {"a": 0, "b": _bits(8), "c": _bits(16)})
    con.execute("UPDATE images SET width = 1000 WHERE sha256 = 'a'")  # a is the representative
    result = _link(con, "r1")
    assert (result["groups"], result["images"]) == (1, 3)
    groups = _groups(con)
    assert len({g for g, _ in groups.values()}) == 1
    assert groups["a"][1].startswith("representative")
    assert "of the representative" in groups["b"][1]
    assert (
        "within 8 of 64 bits of b" in groups["c"][1] and "not close to the representative" in groups["c"][1]
    )
    distance = con.execute("SELECT phash_distance FROM image_groups WHERE sha256 = 'c'").fetchone()[0]
    assert distance == 16


def test_a_later_image_joins_the_existing_group_and_keeps_its_id(con: duckdb.DuckDBPyConnection) -> None:
    _add(con, "r1", {"a": 0, "b": _bits(4)})
    _link(con, "r1")
    (group_id,) = {g for g, _ in _groups(con).values()}
    _add(con, "r2", {"d": _bits(3, 40)})  # close to a only; d is larger: the new representative
    con.execute("UPDATE images SET width = 1000 WHERE sha256 = 'd'")
    result = _link(con, "r2")
    assert (result["groups"], result["images"]) == (1, 3)
    groups = _groups(con)
    assert {g for g, _ in groups.values()} == {group_id} and set(groups) == {"a", "b", "d"}
    assert groups["d"][1].startswith("representative")
    assert all("of the representative" in groups[s][1] for s in "ab")  # 3 and 7 bits from d
    # running the step again for a run that loaded nothing changes nothing
    assert _link(con, "r3")["new_images"] == 0 and _groups(con) == groups


def test_an_image_bridging_two_groups_merges_them_under_the_smaller_id(
    con: duckdb.DuckDBPyConnection,
) -> None:
    _add(con, "r1", {"a": 0, "b": _bits(2), "x": _bits(14, 20), "y": _bits(14, 20) | 1})
    _link(con, "r1")
    ids = {g for g, _ in _groups(con).values()}
    assert len(ids) == 2
    _add(con, "r2", {"m": _bits(7, 20)})  # 7 bits from a, 7 from x
    _link(con, "r2")
    groups = _groups(con)
    assert set(groups) == {"a", "b", "x", "y", "m"} and {g for g, _ in groups.values()} == {min(ids)}


def _unrelated(count: int, near: int, seed: int = 7) -> dict[str, int]:
    """Random hashes none of whose bands is within BAND_RADIUS bits of `near`'s."""
    rng = random.Random(seed)
    out: dict[str, int] = {}
    while len(out) < count:
        h = rng.getrandbits(64)
        bands = [((h >> (16 * b)) & 0xFFFF) ^ ((near >> (16 * b)) & 0xFFFF) for b in range(4)]
        if all(v.bit_count() > BAND_RADIUS for v in bands):
            out[f"u{len(out):04d}"] = h
    return out


@pytest.mark.parametrize("unrelated", [0, 400])
def test_work_does_not_grow_with_unrelated_images(con: duckdb.DuckDBPyConnection, unrelated: int) -> None:
    line = "Please stop contacting me or I will call the police"
    _add(con, "r1", {"a": 0, "b": _bits(3)}, ocr_text=line)
    _add(con, "r1", _unrelated(unrelated, 0), ocr_text="something else entirely, nothing like it at all")
    insert_rows(
        con,
        "ocr_lines",
        [{"sha256": s, "line_no": 1, "text": line} for s in ("a", "b")]
        + [
            {"sha256": f"u{n:04d}", "line_no": 1, "text": f"unrelated line number {n} of many"}
            for n in range(unrelated)
        ],
    )
    _link(con, "r1")
    _add(con, "r2", {"n": _bits(5, 8)}, ocr_text=line)
    insert_rows(con, "ocr_lines", [{"sha256": "n", "line_no": 1, "text": line}])
    result = _link(con, "r2")
    # n is compared with a and b only: by hash (found through the bands), then their texts must agree
    assert (result["phash_compared"], result["text_compared"]) == (2, 2)
    assert (result["groups"], result["images"]) == (1, 3)


def test_a_crop_is_found_through_shared_lines_only(con: duckdb.DuckDBPyConnection) -> None:
    lines = [f"line {n} of the screenshot with enough characters" for n in range(6)]
    _add(con, "r1", {"full": 0}, ocr_text="\n".join(lines))
    _add(
        con,
        "r1",
        _unrelated(50, _bits(32, 16)),
        ocr_text="\n".join(f"other {n} words here" for n in range(6)),
    )
    insert_rows(con, "ocr_lines", [{"sha256": "full", "line_no": n, "text": t} for n, t in enumerate(lines)])
    _add(con, "r2", {"crop": _bits(32, 16)}, ocr_text="\n".join(lines[1:]))
    insert_rows(
        con, "ocr_lines", [{"sha256": "crop", "line_no": n, "text": t} for n, t in enumerate(lines[1:])]
    )
    result = _link(con, "r2")
    assert result["text_compared"] == 1 and result["groups"] == 1
    assert "OCR text" in _groups(con)["crop"][1]


def test_recompressed_copy_then_crop_in_a_later_run(tmp_path: Path) -> None:
    """Through the pipeline: a screenshot and its JPEG copy are grouped; a crop arriving later joins the
    same group (by its OCR text: the crop's perceptual hash is far from the original's)."""
    image = render(sample_spec(app="whatsapp", wallpaper=True, height=720))
    first = tmp_path / "first"
    first.mkdir()
    image.save(first / "shot.png")
    image.save(first / "shot.jpg", "JPEG", quality=70)
    case = tmp_path / "case"
    summary = ingest(IngestParameters(sources=[str(first)], case_dir=str(case)))
    assert summary["links"]["image_groups"]["groups"] == 1
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as db:
        (group_id,) = {r[0] for r in db.execute("SELECT group_id FROM image_groups").fetchall()}
    crop = io.BytesIO()
    image.crop((0, 70, image.width, image.height - 40)).save(crop, "PNG")
    second = tmp_path / "second"
    second.mkdir()
    (second / "cropped.png").write_bytes(crop.getvalue())
    result = ingest(IngestParameters(sources=[str(second)], case_dir=str(case)))["links"]["image_groups"]
    assert (result["groups"], result["images"]) == (1, 3)
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as db:
        rows = db.execute("SELECT group_id, reason FROM image_groups ORDER BY reason").fetchall()
    assert {g for g, _ in rows} == {group_id} and any("OCR text" in r for _, r in rows)


def test_close_hashes_with_different_texts_are_two_screenshots(con: duckdb.DuckDBPyConnection) -> None:
    """Two screenshots of one chat app share a layout and so nearly a perceptual hash; their messages
    differ, so they are not copies of each other."""
    _add(con, "r1", {"a": 0}, ocr_text="Why are you ignoring me, I saw you at the station today")
    _add(con, "r2", {"b": _bits(8)}, ocr_text="Please stop contacting me or I will call the police now")
    result = _link(con, "r2")
    assert (result["phash_compared"], result["text_compared"], result["groups"]) == (1, 1, 0)
    assert _groups(con) == {}
