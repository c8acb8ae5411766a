"""Per-message work at extraction: keys, match text, phrase hits and mentioned identifiers, the same
whichever way a file is read (streaming rows, bulk Arrow, small or large files)."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

import evidence.parsers.enrich as enrich
from evidence.db import arrow_schema
from evidence.identifiers import find_in_text
from evidence.parsers.enrich import enrich_messages, normalise_body

BODIES = [
    "call me on 07700 900123 or +44 7700 900456",
    "mail Alex@Example.NET, or @SomeOne, see https://instagram.com/alex.m_99/",
    "IMG-20240101-WA0001.jpg (file attached)",  # a media file name: its digits are no phone number
    "it cost 1500, order 12345678 on 12/03/2024",
    "  spaced\u00a0out\t\tbody \u200e",
    "",
    None,
    "this is my new number 07700 900999",
    "his new number is 07700 900888",
]


def table(bodies: list[str | None], platform: str = "whatsapp") -> pa.Table:
    base = {name: None for name in arrow_schema("messages").names}
    rows = [
        {
            **base,
            "message_id": f"m{i}",
            "platform": platform,
            "kind": "message",
            "body": body,
            "sender": "Alex",
        }
        for i, body in enumerate(bodies)
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema("messages"))


def mentions_of(result: enrich.Enriched) -> set[tuple[str, str]]:
    values = {row["identifier_id"]: row["value"] for row in result.identifiers}
    return {(link["message_id"], values[link["identifier_id"]]) for link in result.links.to_pylist()}


def test_one_message_gets_every_column() -> None:
    result = enrich_messages(table(BODIES), "GB")
    rows = result.messages.to_pylist()
    assert all(isinstance(r["dedup_key"], int) for r in rows) and len({r["dedup_key"] for r in rows}) == 8
    assert [r["match_text"] for r in rows] == [
        "call me on 07700 900123 or 44 7700 900456",
        "mail alex example net or someone see https instagram com alex m 99",
        "img 20240101 wa0001 jpg file attached",
        "it cost 1500 order 12345678 on 12 03 2024",
        "spaced out body",
        "",
        "",
        "this is my new number 07700 900999",
        "his new number is 07700 900888",
    ]
    assert [r["phrase_hits"] for r in rows] == [
        ["own_identifier", "new_identifier"],
        [],
        [],
        [],
        [],
        [],
        [],
        ["own_identifier", "new_identifier"],
        ["third_party_identifier", "new_identifier"],
    ]
    assert mentions_of(result) == {
        ("m0", "+447700900123"),
        ("m0", "+447700900456"),
        ("m1", "alex@example.net"),
        ("m1", "someone"),
        ("m1", "instagram:alex.m_99"),
        ("m1", "https://instagram.com/alex.m_99"),
        ("m7", "+447700900999"),
        ("m8", "+447700900888"),
    }


def test_copies_written_differently_share_a_key_and_different_texts_do_not() -> None:
    rows = enrich_messages(
        table(["where are you", " where  are\u200e you ", "where are you?", "Where are you"]), "GB"
    ).messages.to_pylist()
    keys = [r["dedup_key"] for r in rows]
    assert keys[0] == keys[1]  # spacing and direction marks do not make another message
    assert len({keys[0], keys[2], keys[3]}) == 3  # punctuation and case do
    assert normalise_body(" where  are\u200e you ") == "where are you"


def test_two_readings_of_one_bubble_share_a_key_and_exported_messages_keep_theirs() -> None:
    """tesseract reads the same bubble as "I saw you" on a screenshot and "| saw you" on its recompressed
    copy: OCR rows are keyed on their folded text. Exported messages keep exact keys: "I saw you" and
    "l saw you" typed by people are two texts."""
    readings = ["I saw you at 10", "| saw you at 1O", "I saw yuo at 10", "i saw you at 10!"]
    typed_table = table(readings)
    kind = typed_table.schema.get_field_index("kind")
    ocr = typed_table.set_column(kind, "kind", pa.array(["ocr"] * len(readings)))
    ocr_keys = [r["dedup_key"] for r in enrich_messages(ocr, "GB").messages.to_pylist()]
    assert ocr_keys[0] == ocr_keys[1] == ocr_keys[3]  # "|" as I, "O" as 0, punctuation and case
    assert ocr_keys[2] != ocr_keys[0]  # a different word is a different text, read by OCR or not
    typed = [r["dedup_key"] for r in enrich_messages(typed_table, "GB").messages.to_pylist()]
    assert len(set(typed)) == 4
    assert not set(typed) & set(ocr_keys)  # the kind keeps the two ways apart


def test_a_source_id_keys_email_copies_by_message_id_alone() -> None:
    base = {name: None for name in arrow_schema("messages").names}
    rows = [
        {
            **base,
            "message_id": "a",
            "platform": "email",
            "kind": "email",
            "external_id": "<X1@Example.net>",
            "body": "one text",
            "sender": "a@example.net",
        },
        {
            **base,
            "message_id": "b",
            "platform": "email",
            "kind": "email",
            "external_id": " <x1@example.net>",
            "body": "another rendering of it",
            "sender": "A <a@example.net>",
        },
        {
            **base,
            "message_id": "c",
            "platform": "telegram",
            "kind": "message",
            "external_id": "17",
            "body": "hi",
            "sender": "x",
            "conversation": "one",
        },
        {
            **base,
            "message_id": "d",
            "platform": "telegram",
            "kind": "message",
            "external_id": "17",
            "body": "hi",
            "sender": "x",
            "conversation": "two",
        },
    ]
    keys = (
        enrich_messages(pa.Table.from_pylist(rows, schema=arrow_schema("messages")), "GB")
        .messages["source_key"]
        .to_pylist()
    )
    assert keys[0] == keys[1]
    assert keys[2] != keys[3]  # a chat id is unique within its conversation only


def test_bulk_and_small_file_scans_find_the_same_identifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    parts = [
        "hi",
        "call 07700 900{:03d}",
        "+44 7700 900{:03d} now",
        "x{:d}@example.org",
        "@user_{:d}",
        "instagram.com/name{:d}",
        "www.example.com/page{:d}",
        "00 44 7700 900{:03d}",
        "pin 1234{:d}",
        "<@1234567890123456{:02d}>",
        "IMG-20240101-WA00{:02d}.jpg",
    ]
    bodies = [
        " ".join(rng.choice(parts).format(rng.randint(0, 99)) for _ in range(rng.randint(1, 4)))
        for _ in range(600)
    ]
    small = enrich_messages(table(bodies, "telegram"), "GB")
    monkeypatch.setattr(enrich, "BULK_SCAN_ROWS", 1)
    bulk = enrich_messages(table(bodies, "telegram"), "GB")
    assert mentions_of(small) == mentions_of(bulk)
    assert len(mentions_of(small)) > 300
    # the same rows in the same order, whether grouped and joined by Arrow or in Python
    assert small.links.to_pylist() == bulk.links.to_pylist() and small.links.schema == bulk.links.schema
    assert sorted(map(str, small.identifiers)) == sorted(map(str, bulk.identifiers))
    # and both equal find_in_text, body by body (media file names aside)
    expected = {
        (f"m{i}", ident.value)
        for i, body in enumerate(bodies)
        for ident in find_in_text(enrich._MEDIA_NAMES.sub(" ", body), "GB", "telegram")
    }
    assert mentions_of(small) == expected


def test_a_parsed_export_stages_its_mentions(tmp_path: Path, parse) -> None:
    from evidence.pipeline.extract import parse_path

    export = tmp_path / "WhatsApp Chat with Alex.txt"
    export.write_text(
        "12/03/2024, 21:05 - Alex: my new number is 07700 900999\n"
        "12/03/2024, 21:06 - Alex: IMG-20240312-WA0001.jpg (file attached)\n"
        "12/03/2024, 21:07 - Sam: ok\n",
        encoding="utf-8",
    )
    out = parse_path(export, store_root=tmp_path / "originals")
    mentioned = [r for r in out.rows["message_identifiers"] if r["role"] == "mentioned"]
    assert len(mentioned) == 1
    (message,) = [m for m in out.rows["messages"] if m["message_id"] == mentioned[0]["message_id"]]
    assert message["body"] == "my new number is 07700 900999" and "own_identifier" in message["phrase_hits"]
    # the parser's own output, without this work, has no mention and no keys
    bare = parse(export)
    assert not [r for r in bare.rows["message_identifiers"] if r["role"] == "mentioned"]
    assert all(m.get("dedup_key") is None for m in bare.rows["messages"])


@pytest.mark.parametrize("spill_rows", [None, 2])
def test_phrase_lists_matched_per_batch_give_what_each_file_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spill_rows: int | None
) -> None:
    """A batch's small files have their phrase lists matched once, when the batch's part is written (at
    the batch's end, or as soon as enough files wait: spill_rows): the staged phrase hits are those each
    message gets on its own."""
    import pyarrow.parquet as pq

    import evidence.parsers.rows as rows_module

    if spill_rows is not None:
        monkeypatch.setattr(rows_module, "SPILL_ROWS", spill_rows)

    from evidence.acquire.found_file import FoundFile
    from evidence.acquire.store import OriginalsStore
    from evidence.parsers.context import ParseOptions
    from evidence.parsers.rows import ParsedRows
    from evidence.pipeline.extract import extract_items

    bodies = [
        "my new number is 07700 900999",
        "his new number is 07700 900111",
        "text me on whatsapp",
        "nothing to see",
        "changed my number, it's me",
    ]
    store = OriginalsStore(tmp_path / "originals")
    items = []
    for k, body in enumerate(bodies):
        path = tmp_path / f"chat-{k}.txt"
        path.write_text(f"12/03/2024, 21:0{k} - Alex: {body}\n", encoding="utf-8")
        blob = store.put_file(path)
        item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), path.name)
        item.format = "whatsapp_txt"
        items.append(item)
    out = ParsedRows(spill_dir=tmp_path / "spill")
    extract_items(items, store=store, run_id="t", options=ParseOptions(), out=out)
    parts = out.spilled["messages"]
    assert len(parts) == (1 if spill_rows is None else 3)
    both = pa.concat_tables([pq.read_table(p, columns=["body", "phrase_hits"]) for p in parts])
    assert both["phrase_hits"].null_count == 0
    staged = dict(zip(*both.to_pydict().values(), strict=True))
    alone = enrich_messages(table(bodies, "whatsapp"), "GB").messages.to_pydict()
    assert staged == dict(zip(alone["body"], alone["phrase_hits"], strict=True))
    assert staged["my new number is 07700 900999"] == ["own_identifier", "new_identifier"]
    assert staged["nothing to see"] == []


def test_fill_phrase_hits_fills_only_what_was_left_out() -> None:
    whole = enrich_messages(table(BODIES), "GB").messages
    waiting = enrich_messages(table(BODIES), "GB", phrases=False).messages
    assert waiting["phrase_hits"].null_count == len(BODIES)
    assert enrich.fill_phrase_hits(waiting)["phrase_hits"].to_pylist() == whole["phrase_hits"].to_pylist()
    mixed = pa.concat_tables([whole.slice(0, 2), waiting.slice(2)])  # some rows matched already
    assert enrich.fill_phrase_hits(mixed)["phrase_hits"].to_pylist() == whole["phrase_hits"].to_pylist()
