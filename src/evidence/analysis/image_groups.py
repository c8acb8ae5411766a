"""Link step: near-duplicate screenshots (re-saved, recompressed, cropped copies) grouped; every copy is kept."""

from __future__ import annotations

import hashlib
from typing import Any

from evidence.analysis.corroboration import _norm
from evidence.analysis.scope import LinkScope
from evidence.db import insert_rows

PHASH_DISTANCE = 10  # of 64 bits: re-saved and recompressed copies are usually within 0-6


TEXT_SIMILARITY = 90.0  # OCR text similarity that groups crops of the same screenshot


MIN_GROUP_TEXT = 20  # characters of OCR text needed before text alone may group two images


def group_images(con: Any, scope: LinkScope) -> dict[str, Any]:
    """Group images whose perceptual hashes are close, or whose OCR texts nearly match (crops)."""
    rows = con.execute(
        "SELECT sha256, phash, coalesce(width, 0) * coalesce(height, 0), ocr_text FROM images "
        "WHERE phash IS NOT NULL ORDER BY sha256"
    ).fetchall()
    con.execute("DELETE FROM image_groups")
    if len(rows) < 2:
        return {"groups": 0, "images": 0}
    import numpy as np  # only cases with images pay for these imports
    from rapidfuzz import fuzz, process

    shas = [r[0] for r in rows]
    hashes = np.array([int(r[1], 16) for r in rows], dtype=np.uint64)
    distance = np.empty((len(rows), len(rows)), dtype=np.uint8)
    for start in range(0, len(rows), 512):  # chunked: an n x n uint64 matrix would not fit for big cases
        distance[start : start + 512] = np.bitwise_count(hashes[start : start + 512, None] ^ hashes[None, :])
    texts = [_norm(r[3]) for r in rows]
    similar = process.cdist(texts, texts, scorer=fuzz.ratio, workers=-1)
    has_text = np.array([len(t) >= MIN_GROUP_TEXT for t in texts])
    close = (distance <= PHASH_DISTANCE) | (
        (similar >= TEXT_SIMILARITY) & has_text[:, None] & has_text[None, :]
    )
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        parent[find(int(i))] = find(int(j))
    members: dict[int, list[int]] = {}
    for i in range(len(rows)):
        members.setdefault(find(i), []).append(i)
    out = []
    for group in members.values():
        if len(group) < 2:
            continue
        rep = max(group, key=lambda i: (rows[i][2], shas[i]))
        group_id = hashlib.blake2b(
            "|".join(sorted(shas[i] for i in group)).encode(), digest_size=8
        ).hexdigest()
        for i in group:
            d, t = int(distance[i, rep]), float(similar[i, rep]) if has_text[i] and has_text[rep] else None
            if i == rep:
                reason = "representative: the largest image of the group"
            elif d <= PHASH_DISTANCE:
                reason = (
                    f"perceptual hash within {d} of 64 bits of the representative (re-saved or recompressed)"
                )
            else:
                reason = f"OCR text {t:.0f}% similar to the representative (cropped or edited copy)"
            out.append((shas[i], group_id, shas[rep], d, t, reason))
    if out:
        insert_rows(con, "image_groups", out)
    return {"groups": sum(1 for g in members.values() if len(g) > 1), "images": len(out)}
