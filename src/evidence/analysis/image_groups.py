"""Link step: near-duplicate screenshots (re-saved, recompressed, cropped copies) grouped; every copy is kept.

Incremental: the run's new images are compared with the case's images, never every image with every
other. Perceptual hashes are found through their 16-bit bands (two hashes at most PHASH_DISTANCE bits
apart agree within BAND_RADIUS bits on at least one of the four bands), OCR texts through the long lines
they share (a crop keeps most of its lines); only those candidates are compared exactly. Memory and work
grow with the run's images and their candidates, not with the square of the case.

Groups are stable: an image joining a group takes its id; groups a new image joins together keep the
smallest of their ids; only a group made of images that were in none gets a new id (from its members).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from evidence.analysis.corroboration import _norm
from evidence.analysis.scope import LinkScope
from evidence.db import insert_rows

PHASH_DISTANCE = 10  # of 64 bits: re-saved and recompressed copies are usually within 0-6
BANDS = 4  # the 64-bit hash as four 16-bit bands
BAND_RADIUS = PHASH_DISTANCE // BANDS  # pigeonhole: 10 differing bits leave one band with at most 2


TEXT_SIMILARITY = 90.0  # OCR text similarity that groups crops of the same screenshot
TEXT_AGREEMENT = 70.0  # close hashes with texts less alike than this are two screenshots of one app


MIN_GROUP_TEXT = 20  # characters of OCR text needed before text alone may group two images
TEXT_KEY_CHARS = 15  # OCR lines this long are what two crops of one screenshot share
TEXT_KEY_LINES = 2  # ... and how many they must share (fewer when the image has fewer such lines)

_HASH = "('0x' || phash)::UBIGINT"


@dataclass
class _Image:
    sha256: str
    phash: int
    pixels: int
    text: str  # normalised OCR text

    @property
    def has_text(self) -> bool:
        return len(self.text) >= MIN_GROUP_TEXT


def _phash_pairs(con: Any, run_id: str) -> list[tuple[str, str, int]]:
    """(new image, other image, distance) for every candidate from the bands: each new image's bands
    and every value within BAND_RADIUS bits of them, looked up among the case's bands (a hash join)."""
    return con.execute(
        f"""
        WITH hashes AS (
            SELECT sha256, {_HASH} AS h, loaded_in_run = ? AS new FROM images WHERE phash IS NOT NULL
        ), bands AS (
            SELECT sha256, h, new, b AS band, (h >> (16 * b)) & 65535 AS value FROM hashes, range({BANDS}) t(b)
        ), masks AS (
            SELECT r AS mask FROM range(65536) t(r) WHERE bit_count(r) <= {BAND_RADIUS}
        ), probes AS (
            SELECT n.sha256, n.h, n.band, xor(n.value, m.mask) AS value FROM bands n, masks m WHERE n.new
        )
        SELECT DISTINCT p.sha256, o.sha256, bit_count(xor(p.h, o.h))
        FROM probes p JOIN bands o ON o.band = p.band AND o.value = p.value AND o.sha256 <> p.sha256
        """,
        [run_id],
    ).fetchall()


def _text_pairs(con: Any, run_id: str) -> list[tuple[str, str]]:
    """(new image, other image) sharing TEXT_KEY_LINES OCR lines of TEXT_KEY_CHARS characters or more
    (fewer when the new image has fewer such lines): the only pairs whose texts are compared."""
    return con.execute(
        """
        WITH keys AS (
            SELECT l.sha256, l.text FROM ocr_lines l JOIN images i ON i.sha256 = l.sha256
            WHERE i.loaded_in_run = ? AND i.phash IS NOT NULL AND length(l.text) >= ?
        ), wanted AS (
            SELECT sha256, least(count(DISTINCT text), ?) AS needed FROM keys GROUP BY sha256
        ), shared AS (
            SELECT k.sha256 AS a, o.sha256 AS b, count(DISTINCT k.text) AS lines
            FROM keys k JOIN ocr_lines o ON o.text = k.text AND o.sha256 <> k.sha256
            GROUP BY 1, 2
        )
        SELECT s.a, s.b FROM shared s JOIN wanted w ON w.sha256 = s.a
        JOIN images i ON i.sha256 = s.b AND i.phash IS NOT NULL
        WHERE s.lines >= w.needed
        """,
        [run_id, TEXT_KEY_CHARS, TEXT_KEY_LINES],
    ).fetchall()


def _images(con: Any, shas: set[str]) -> dict[str, _Image]:
    rows = con.execute(
        f"SELECT sha256, {_HASH}, coalesce(width, 0) * coalesce(height, 0), ocr_text FROM images "
        "WHERE phash IS NOT NULL AND sha256 IN (SELECT unnest(?::VARCHAR[]))",
        [sorted(shas)],
    ).fetchall()
    return {r[0]: _Image(r[0], int(r[1]), int(r[2]), _norm(r[3])) for r in rows}


class _Groups:
    """Union-find over image hashes."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        self.parent.setdefault(item, item)
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def components(self) -> list[list[str]]:
        out: dict[str, list[str]] = {}
        for item in self.parent:
            out.setdefault(self.find(item), []).append(item)
        return [sorted(members) for members in out.values()]


def group_images(con: Any, scope: LinkScope) -> dict[str, Any]:
    """The link step: groups this run formed or grew, and their members."""
    counts = link_new_images(con, scope.run_id)
    return {"groups": counts["groups"], "images": counts["images"]}


def link_new_images(con: Any, run_id: str) -> dict[str, int]:
    """Group the run's images with the case's images whose perceptual hashes are close, or whose OCR
    texts nearly match (crops). Counts include the exact comparisons made (phash_compared,
    text_compared): they depend on the run's images and their candidates only."""
    from rapidfuzz import fuzz

    new = {
        r[0]
        for r in con.execute(
            "SELECT sha256 FROM images WHERE loaded_in_run = ? AND phash IS NOT NULL", [run_id]
        ).fetchall()
    }
    counts = {"new_images": len(new), "phash_compared": 0, "text_compared": 0, "groups": 0, "images": 0}
    if not new:
        return counts
    edges: dict[tuple[str, str], str] = {}  # (a, b) with a < b -> why they belong together
    phash_pairs = _phash_pairs(con, run_id)
    counts["phash_compared"] = len({_pair(a, b) for a, b, _ in phash_pairs})
    close = {_pair(a, b): distance for a, b, distance in phash_pairs if distance <= PHASH_DISTANCE}
    text_pairs = {_pair(a, b) for a, b in _text_pairs(con, run_id)} - set(close)
    info = _images(con, {s for p in [*close, *text_pairs] for s in p})
    for (a, b), distance in sorted(close.items()):
        if a in info and b in info and info[a].has_text and info[b].has_text:
            counts["text_compared"] += 1
            if fuzz.ratio(info[a].text, info[b].text) < TEXT_AGREEMENT:
                continue  # one app's layout, different messages: two screenshots, not two copies
        edges[(a, b)] = f"perceptual hash within {distance} of 64 bits of"
    for a, b in sorted(text_pairs):
        if a in info and b in info and info[a].has_text and info[b].has_text:
            counts["text_compared"] += 1
            score = fuzz.ratio(info[a].text, info[b].text)
            if score >= TEXT_SIMILARITY:
                edges[(a, b)] = f"OCR text {score:.0f}% similar to"
    if not edges:
        return counts
    groups = _Groups()
    neighbours: dict[str, list[tuple[str, str]]] = {}
    for (a, b), why in sorted(edges.items()):
        groups.union(a, b)
        neighbours.setdefault(a, []).append((b, why))
        neighbours.setdefault(b, []).append((a, why))
    touched = set(groups.parent)
    old = con.execute(
        "SELECT sha256, group_id FROM image_groups WHERE group_id IN "
        "(SELECT group_id FROM image_groups WHERE sha256 IN (SELECT unnest(?::VARCHAR[])))",
        [sorted(touched)],
    ).fetchall()
    old_id = dict(old)
    first_of: dict[str, str] = {}
    for sha, group_id in old:  # members of a group stay together
        groups.union(sha, first_of.setdefault(group_id, sha))
    components = [c for c in groups.components() if len(c) > 1]
    images = _images(con, {s for c in components for s in c})
    rows = []
    for members in components:
        members = [m for m in members if m in images]
        if len(members) < 2:
            continue
        ids = sorted({old_id[m] for m in members if m in old_id})
        group_id = ids[0] if ids else hashlib.blake2b("|".join(members).encode(), digest_size=8).hexdigest()
        rows.extend(_rows(group_id, [images[m] for m in members], neighbours, counts))
        counts["groups"] += 1
    con.execute(
        "DELETE FROM image_groups WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))", [[r[0] for r in rows]]
    )
    insert_rows(con, "image_groups", rows)
    counts["images"] = len(rows)
    return counts


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def _rows(
    group_id: str, members: list[_Image], neighbours: dict[str, list[tuple[str, str]]], counts: dict[str, int]
) -> list[tuple[Any, ...]]:
    """image_groups rows of one group: each member against the representative (the largest image), and
    for a member close to it only through others, the member it is close to."""
    from rapidfuzz import fuzz

    rep = max(members, key=lambda m: (m.pixels, m.sha256))
    out = []
    for image in members:
        distance = (image.phash ^ rep.phash).bit_count()
        similarity = round(fuzz.ratio(image.text, rep.text), 1) if image.has_text and rep.has_text else None
        if image is rep:
            reason = "representative: the largest image of the group"
        elif distance <= PHASH_DISTANCE and (similarity is None or similarity >= TEXT_AGREEMENT):
            reason = f"perceptual hash within {distance} of 64 bits of the representative (re-saved or recompressed)"
        elif similarity is not None and similarity >= TEXT_SIMILARITY:
            reason = f"OCR text {similarity:.0f}% similar to the representative (cropped or edited copy)"
        else:
            reason = _through(image, members, neighbours, counts)
        out.append((image.sha256, group_id, rep.sha256, distance, similarity, reason))
    return out


def _through(
    image: _Image, members: list[_Image], neighbours: dict[str, list[tuple[str, str]]], counts: dict[str, int]
) -> str:
    """Why an image not close to the representative is in the group: the member it is close to."""
    from rapidfuzz import fuzz

    for other, why in neighbours.get(image.sha256, []):
        return f"{why} {other[:12]}, which is in the group (not close to the representative itself)"
    for other in sorted(members, key=lambda m: m.sha256):  # joined in an earlier run: find its neighbour
        if other is image:
            continue
        counts["phash_compared"] += 1
        distance = (image.phash ^ other.phash).bit_count()
        if distance <= PHASH_DISTANCE and not (image.has_text and other.has_text):
            return (
                f"perceptual hash within {distance} of 64 bits of {other.sha256[:12]}, which is in the group "
                "(not close to the representative itself)"
            )
        if image.has_text and other.has_text:
            counts["text_compared"] += 1
            if (score := fuzz.ratio(image.text, other.text)) >= TEXT_SIMILARITY:
                return (
                    f"OCR text {score:.0f}% similar to {other.sha256[:12]}, which is in the group "
                    "(not close to the representative itself)"
                )
    return "joined the group through other members (not close to the representative itself)"
