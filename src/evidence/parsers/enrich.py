"""Per-message work done at extraction, in parallel and per file: everything that depends on one message
alone, so that the single-writer load only inserts and the link steps only compare.

For every `messages` row: the content key and the same-source key deduplication compares
(`dedup_key`, `source_key`), the text screenshots are matched on (`match_text`), the phrase lists the body
matches (`phrase_hits`), and the identifiers written in its body (role `mentioned`).

Everything runs over Arrow columns: RE2 (pyarrow, and DuckDB in memory for the identifier scan) finds the
few rows that need Python, and Python then works per distinct piece of text (a case repeats the same few
numbers and addresses thousands of times), not per message.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from evidence.identifiers import (
    AT_HANDLE_PLATFORMS,
    MENTION_PREFILTER,
    WORTH_SCANNING,
    identifiers_in_piece,
    scan_pattern,
    scan_pieces,
)

ENRICHED_COLUMNS = ("dedup_key", "source_key", "match_text", "phrase_hits")
SEPARATOR = "\x1f"  # unit separator between the fields a key joins (rows whose fields hold one: see _keys)

# Invisible direction marks and the byte-order mark: exports add them around names and bodies.
_MARKS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"
_DROP_MARKS = dict.fromkeys(map(ord, _MARKS))
# Rows whose body needs more than the identity to be normalised (RE2): leading, trailing, repeated or
# non-space whitespace. Non-ASCII rows are normalised in Python too (NFC, marks).
_ODD_SPACING = r"^\s|\s$|\s\s|[\t\n\r\f\v]"

_ACCOUNTS = (
    r"(?:number|no\b|phone|mobile|cell|sim|email|e-mail|account|acc\b|profile|page|handle|insta|instagram|"
    r"snap|snapchat|whatsapp|telegram|tiktok|facebook|fb\b|twitter)"
)
# Phrase lists matched at extraction (RE2 syntax, case-insensitive).
# own_identifier: the writer announces a number, address or account of their OWN ("my new number is",
# "add me on", "it's me", "I've got a new phone"); the actor rules link the writer to what the message
# names only on this. "his new number is ..." (someone quoting another person's number) is not one.
# third_party_identifier: a number or account said to be someone else's ("his new number", "Alex's
# insta"); a message with one is never read as the writer's own announcement.
# new_identifier: any talk of a new or other number or account, for readers (broader, never a link).
PHRASES = {
    "third_party_identifier": (
        rf"(?i)\b(?:his|her|their|[a-z]+'s)\s+(?:new\s+|old\s+|other\s+|real\s+)?{_ACCOUNTS}"
    ),
    "own_identifier": (
        rf"(?i)\bmy\s+{_ACCOUNTS}\s*(?:is|now|=|:|-|here)|"
        rf"\bmy\s+(?:new|other|second|backup|spare|real|actual)\s+{_ACCOUNTS}|"
        rf"\b(?:this is|here'?s|here is|that'?s)\s+my\s+{_ACCOUNTS}|"
        rf"\b(?:i'?ve|i\s+have|i'?m\s+on|i)\s+(?:got\s+|get\s+|now\s+have\s+)?(?:a\s+)?new\s+{_ACCOUNTS}|"
        r"\b(?:text|message|msg|call|ring|add|contact|reach|find|follow|dm|email|mail)\s+me\s+(?:on|at)\b|"
        rf"\b(?:changed|new)\s+my\s+(?:phone\s+)?{_ACCOUNTS}|\bi\s+changed\s+(?:my\s+)?{_ACCOUNTS}"
    ),
    "new_identifier": (
        r"(?i)\b(new|other|second|backup|spare|different|burner)\s+(number|no\b|phone|mobile|cell|sim|"
        r"account|acc\b|profile|page|handle|email|e-mail|address|insta|instagram|snap|snapchat|whatsapp|"
        r"telegram|tiktok|facebook|fb\b|twitter)|\b(this is|it'?s|its)\s+(me|still me)\b|"
        r"\b(text|message|msg|call|ring|add|contact|reach|find|follow)\s+me\s+(on|at)\b|"
        r"\bmy\s+(new\s+)?(number|phone|mobile|email|insta|instagram|snap|snapchat|telegram|whatsapp|account|"
        r"handle)\s+(is|now)\b|\bchanged\s+(my\s+|their\s+|his\s+|her\s+)?(phone\s+)?(number|phone)\b|"
        r"\bchanged to\s+\+?\d"
    ),
}

# Media file names that chat exports write into bodies (IMG-20230129-WA0062.jpg,
# 00000012-PHOTO-2023-01-01-10-00-00.jpg): their digit runs are dates and counters, never identifiers.
MEDIA_FILE_NAMES = (
    r"(?i)\b(?:IMG|VID|AUD|PTT|STK|DOC)-\d{8}-WA\d{4}\.[a-z0-9]{2,5}\b"
    r"|\b\d{8}-(?:PHOTO|VIDEO|AUDIO|GIF|STICKER|DOC)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.[a-z0-9]{2,5}\b"
)


@dataclass
class Enriched:
    """A messages table with its computed columns, and the mentioned identifiers found in its bodies."""

    messages: pa.Table
    identifiers: list[dict[str, Any]]
    links: list[dict[str, Any]]


def normalise_body(text: str) -> str:
    """The body as deduplication compares it: NFC, no direction marks, whitespace runs as one space."""
    return " ".join(unicodedata.normalize("NFC", text).translate(_DROP_MARKS).split())


def key_of(text: str) -> int:
    """A stable signed 64-bit key of a text (BLAKE2b): the same in every run, process and version."""
    return int.from_bytes(
        hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little", signed=True
    )


def _normalised_bodies(body: pa.ChunkedArray) -> pa.Array:
    text = pc.fill_null(body, "")
    odd = pc.or_(pc.invert(pc.string_is_ascii(text)), pc.match_substring_regex(text, _ODD_SPACING))
    odd = pc.fill_null(odd, False)
    if not pc.any(odd).as_py():
        return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    values = text.to_pylist()
    for index in pc.indices_nonzero(odd).to_pylist():
        values[index] = normalise_body(values[index])
    return pa.array(values, pa.string())


def _column(table: pa.Table, name: str) -> pa.Array:
    return pc.fill_null(table[name], "")


def match_text(body: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Lower case, every run of characters that are not letters or digits as one space, trimmed: the same
    for an exported message and for a bubble read from a screenshot."""
    lowered = pc.utf8_lower(pc.fill_null(body, ""))
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(lowered, r"[^\pL\pN]+", " "))


def _keys(table: pa.Table, norm: pa.Array) -> tuple[pa.Array, pa.Array]:
    sender = pc.coalesce(table["sender_identifier"], table["sender"], pa.scalar(""))
    conversation = _column(table, "conversation")
    platform, kind = _column(table, "platform"), _column(table, "kind")
    fields = (platform, kind, conversation, sender, norm)
    joined = pc.binary_join_element_wise(*fields, SEPARATOR).to_pylist()
    # A field holding the separator itself could make two different rows join to one text: such rows
    # (practically never seen) are keyed on their fields as a JSON list instead.
    unsafe = pc.match_substring(fields[0], SEPARATOR)
    for other in fields[1:]:
        unsafe = pc.or_(unsafe, pc.match_substring(other, SEPARATOR))
    unsafe = pc.fill_null(unsafe, False)
    for index in pc.indices_nonzero(unsafe).to_pylist():
        joined[index] = json.dumps([f[index].as_py() for f in fields], ensure_ascii=False)
    dedup = pa.array([key_of(text) for text in joined], pa.int64())
    external = pc.utf8_trim_whitespace(_column(table, "external_id"))
    has_id = pc.greater(pc.utf8_length(external), 0)
    source: list[int | None] = [None] * table.num_rows
    indices = pc.indices_nonzero(has_id).to_pylist()
    if indices:
        pick = pa.array(indices, pa.int64())
        kinds = pc.take(kind, pick).to_pylist()
        ids = pc.take(external, pick).to_pylist()
        rest = pc.binary_join_element_wise(
            pc.take(platform, pick),
            pc.take(conversation, pick),
            pc.take(external, pick),
            pc.take(sender, pick),
            pc.take(norm, pick),
            SEPARATOR,
        ).to_pylist()
        for index, row_kind, xid, tail in zip(indices, kinds, ids, rest, strict=True):
            if row_kind == "email":  # one mail in two mailboxes: the Message-ID alone
                source[index] = key_of(f"mid{SEPARATOR}{xid.strip(' <>').lower()}")
            else:  # a chat id is only unique within its platform and conversation
                source[index] = key_of(f"xid{SEPARATOR}{tail}")
    return dedup, pa.array(source, pa.int64())


def _phrase_hits(body: pa.ChunkedArray) -> pa.Array:
    text = pc.fill_null(body, "")
    hits: list[list[str]] = [[] for _ in range(len(text))]
    for name, pattern in PHRASES.items():
        for index in pc.indices_nonzero(pc.match_substring_regex(text, pattern)).to_pylist():
            hits[index].append(name)
    return pa.array(hits, pa.list_(pa.string()))


_SCANNER: list[Any] = []  # one in-memory DuckDB per process, for its RE2 over whole columns


# Below this many rows the scan runs in Python (a DuckDB query costs a few milliseconds to start; a
# mailbox of ten thousand single-message files would pay that ten thousand times).
BULK_SCAN_ROWS = 2000
_MEDIA_NAMES = re.compile(MEDIA_FILE_NAMES)


def _pieces_in_python(table: pa.Table) -> list[tuple[str, str, str]]:
    found = []
    for message_id, platform, body in zip(
        *(table[c].to_pylist() for c in ("message_id", "platform", "body")), strict=True
    ):
        if body and WORTH_SCANNING.search(body):
            for piece in scan_pieces(_MEDIA_NAMES.sub(" ", body)):
                found.append((message_id, platform, piece))
    return found


def _pieces_in_bulk(table: pa.Table) -> list[tuple[str, str, str]]:
    if not _SCANNER:
        import duckdb

        _SCANNER.append(duckdb.connect(":memory:", config={"threads": "1"}))
    con = _SCANNER[0]
    con.register("bodies", table.select(["message_id", "platform", "body"]))
    pieces = con.execute(
        """
        SELECT message_id, platform, unnest(regexp_extract_all(
                   CASE WHEN regexp_matches(body, $media) THEN regexp_replace(body, $media, ' ', 'g')
                        ELSE body END, $scan)) AS piece
        FROM bodies
        WHERE body IS NOT NULL AND regexp_matches(body, $prefilter)
        """,
        {"media": MEDIA_FILE_NAMES, "scan": scan_pattern(r"\x{00a0}"), "prefilter": MENTION_PREFILTER},
    ).fetchall()
    con.unregister("bodies")
    return pieces


def mentions(table: pa.Table, region: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Identifier rows and `mentioned` links for what the bodies name (media file names left out)."""
    bulk = table.num_rows >= BULK_SCAN_ROWS
    pieces = _pieces_in_bulk(table) if bulk else _pieces_in_python(table)
    identifiers: dict[str, dict[str, Any]] = {}
    links: set[tuple[str, str]] = set()
    for message_id, platform, piece in pieces:
        prefix = platform if platform in AT_HANDLE_PLATFORMS else None
        for ident in identifiers_in_piece(piece, region, prefix):
            key = ident.identifier_id
            if key not in identifiers:
                identifiers[key] = ident.row()
            links.add((message_id, key))
    link_rows = [{"message_id": m, "identifier_id": i, "role": "mentioned"} for m, i in sorted(links)]
    return list(identifiers.values()), link_rows


def enrich_messages(table: pa.Table, region: str) -> Enriched:
    """The messages table with ENRICHED_COLUMNS filled, and what its bodies mention."""
    if table.num_rows == 0:
        return Enriched(table, [], [])
    norm = _normalised_bodies(table["body"])
    dedup, source = _keys(table, norm)
    computed = {
        "dedup_key": dedup,
        "source_key": source,
        "match_text": match_text(table["body"]),
        "phrase_hits": _phrase_hits(table["body"]),
    }
    for name, values in computed.items():
        index = table.schema.get_field_index(name)
        field = table.schema.field(index)
        table = table.set_column(index, field, values.cast(field.type))
    identifiers, links = mentions(table, region)
    return Enriched(table, identifiers, links)
