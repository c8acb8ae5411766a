"""JSON exports whose values have types the format does not use (a damaged or hand-edited file, or an
exporter version nobody has seen): a number where text belongs is kept as its text, a message whose
fields cannot be read is skipped with a warning naming it, and every other message is read. Each of these
used to fail the whole file (found by swapping values of the real exports for other JSON types)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rows import file_row
from test_parser_discord_json import _export as discord_export

TELEGRAM = "telegram/langchain-community/result.json"
INSTAGRAM = "instagram/chat-miner/testlog.json"
GOOGLE_CHAT = "google_chat/gvoice-sms-takeout-xml/messages.json"


def _by_locator(out) -> dict[str, dict]:
    return {m["source_locator"]: m for m in out.rows["messages"]}


def test_telegram_values_of_other_types(parse, shared_fixtures: Path, tmp_path: Path) -> None:
    data = json.loads((shared_fixtures / TELEGRAM).read_text(encoding="utf-8"))
    expected = _by_locator(parse(shared_fixtures / TELEGRAM))
    data["messages"][1]["from"] = 1234  # a number where the sender's name belongs
    data["messages"][2]["text_entities"] = 7
    data["messages"][3]["date"] = ["2023-08-23"]
    data["messages"][0]["from_id"] = {"not": "an id"}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    out = parse(path)
    row = file_row(out, "result.json")
    assert row["status"] == "parsed"
    got = _by_locator(out)
    assert got["/messages/1"]["sender"] == "1234"  # kept, as written
    assert got["/messages/1"]["body"] == expected["/messages/1"]["body"]
    assert got["/messages/0"]["sender_identifier"] is None  # no identifier spelled from an object
    assert expected["/messages/0"]["sender_identifier"] is not None
    assert got["/messages/0"]["body"] == expected["/messages/0"]["body"]
    untouched = set(expected) - {"/messages/0", "/messages/1", "/messages/2", "/messages/3"}
    assert all(got[k]["body"] == expected[k]["body"] for k in untouched)
    errors = [e["error"] for e in out.rows["ingest_errors"]]
    assert any("kept as their JSON text" in e for e in errors)


def test_discord_and_instagram_lists_of_other_types(parse, shared_fixtures: Path, tmp_path: Path) -> None:
    export = discord_export()
    export["messages"][0]["mentions"] = 5  # read after the message is recorded: used to fail the file
    export["messages"][1]["attachments"] = True
    discord = tmp_path / "dm-alice.json"
    discord.write_text(json.dumps(export, indent=2), encoding="utf-8")
    out = parse(discord)
    assert (file_row(out, "dm-alice.json")["status"], file_row(out, "dm-alice.json")["messages"]) == (
        "parsed",
        len(export["messages"]),
    )
    export["messages"][2]["author"] = {"id": {"not": "an id"}, "name": ["not", "a", "name"]}
    discord.write_text(json.dumps(export, indent=2), encoding="utf-8")
    out = parse(discord)
    odd = _by_locator(out)["/messages/2"]
    assert (odd["sender"], odd["sender_identifier"]) == (None, None)  # no identifier made of a Python repr

    data = json.loads((shared_fixtures / INSTAGRAM).read_text(encoding="utf-8"))
    whole = file_row(parse(shared_fixtures / INSTAGRAM), "testlog.json")["messages"]  # reactions are rows too
    reactions = len(data["messages"][0].get("reactions", []))
    data["messages"][0]["reactions"] = 3
    data["messages"][1]["photos"] = {"uri": "x.jpg"}
    data["participants"] = [{"name": ["not", "a", "name"]}, *data["participants"]]
    instagram = tmp_path / "message_1.json"
    instagram.write_text(json.dumps(data, indent=2), encoding="utf-8")
    out = parse(instagram)
    row = file_row(out, "message_1.json")
    assert (row["status"], row["messages"]) == ("parsed", whole - reactions)


def test_a_message_that_cannot_be_read_is_skipped_alone(
    parse, shared_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure nobody foresaw while reading one message (simulated here), before it is recorded: that
    message is skipped with a warning naming it, and the rest of the export is read."""
    import evidence.parsers.google_chat_json as google_chat

    real = google_chat.parse_created_date
    calls = []

    def failing(text: str, tz_name: str):  # type: ignore[no-untyped-def]
        calls.append(text)
        if len(calls) == 2:
            raise TypeError("unforeseen")
        return real(text, tz_name)

    expected = _by_locator(parse(shared_fixtures / GOOGLE_CHAT))
    monkeypatch.setattr(google_chat, "parse_created_date", failing)
    out = parse(shared_fixtures / GOOGLE_CHAT)
    row = file_row(out, "messages.json")
    assert (row["status"], row["messages"]) == ("parsed", len(expected) - 1)
    assert set(expected) - set(_by_locator(out)) == {"/messages/1"}
    (warning,) = [e for e in out.rows["ingest_errors"] if "unforeseen" in e["error"]]
    assert warning["locator"] == "/messages/1" and "TypeError: unforeseen" in warning["error"]


def test_reading_leaves_the_cycle_collector_as_it_was(parse, tmp_path: Path, monkeypatch) -> None:
    """Messages are read with the decoded document left out of the cycle collector's walks (gc.freeze):
    afterwards nothing is left frozen, also when the file fails while its messages are read."""
    import gc

    import evidence.parsers.discord_json as discord_json

    path = tmp_path / "dm-alice.json"
    path.write_text(json.dumps(discord_export(), indent=2), encoding="utf-8")
    frozen_while_reading = []
    original = discord_json.read_messages

    def spy(*args, **kwargs):
        def read_one(message, locator):
            frozen_while_reading.append(gc.get_freeze_count())
            return inner(message, locator)

        inner = args[2]
        return original(args[0], args[1], read_one, *args[3:], **kwargs)

    monkeypatch.setattr(discord_json, "read_messages", spy)
    assert file_row(parse(path), "dm-alice.json")["status"] == "parsed"
    assert frozen_while_reading and min(frozen_while_reading) > 0
    assert gc.get_freeze_count() == 0

    def out_of_memory(message, locator):
        raise MemoryError("no room for this message")  # read_alone lets it through: the file fails

    def failing(*args, **kwargs):
        return original(args[0], args[1], out_of_memory, *args[3:], **kwargs)

    monkeypatch.setattr(discord_json, "read_messages", failing)
    assert file_row(parse(path), "dm-alice.json")["status"] == "failed"
    assert gc.get_freeze_count() == 0
