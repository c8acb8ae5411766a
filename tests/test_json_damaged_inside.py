"""JSON exports damaged inside one message (a lost comma, a lost quote): every other message is read as
from the undamaged file, at its own position; the damaged one is named by its line, and null stands in its
place. Real third-party exports, damaged here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rows import file_row

FIXTURES = {
    "telegram_json": ("telegram/langchain-community/result.json", "result.json"),
    "instagram_json": ("instagram/chat-miner/testlog.json", "message_1.json"),
    "google_chat_json": ("google_chat/gvoice-sms-takeout-xml/messages.json", "messages.json"),
}


def _message_starts(text: str) -> list[int]:
    """Where each element of the (first) messages array begins: `{` at the elements' indentation."""
    opening = text.index('"messages": [')
    first = re.compile(r"\s*").match(text, opening + len('"messages": [')).end()
    indent = text[text.rfind("\n", 0, first) + 1 : first]
    element = re.compile("\n" + re.escape(indent) + r"\{")
    return [m.start() + 1 for m in element.finditer(text, opening)]


def _messages(out) -> dict[str, tuple]:
    return {
        m["source_locator"]: (m["body"], m["sender"], m["sent_at_utc"], m["sender_identifier"])
        for m in out.rows["messages"]
    }


def _damage(text: str, at: int, how: str) -> str:
    if how == "comma":  # the comma after the message's first member
        comma = text.index(",", text.index(":", at))
        return text[:comma] + text[comma + 1 :]
    quote = text.index('"', text.index(":", at))  # the opening quote of its first string value
    return text[:quote] + text[quote + 1 :]


@pytest.mark.parametrize("how", ["comma", "quote"])
@pytest.mark.parametrize("parser", sorted(FIXTURES))
def test_one_damaged_message_costs_only_itself(
    parse, shared_fixtures: Path, tmp_path: Path, parser, how
) -> None:
    fixture, name = FIXTURES[parser]
    text = (shared_fixtures / fixture).read_text(encoding="utf-8")
    starts = _message_starts(text)
    index = len(starts) // 2
    (tmp_path / "whole").mkdir()
    whole = tmp_path / "whole" / name
    whole.write_text(text, encoding="utf-8")
    damaged = tmp_path / name
    damaged.write_text(_damage(text, starts[index], how), encoding="utf-8")

    expected = _messages(parse(whole))
    out = parse(damaged)
    row = file_row(out, name)
    assert (row["status"], row["format"]) == ("parsed", parser)
    got = _messages(out)
    lost = set(expected) - set(got)
    assert len(lost) == 1 and lost.pop().endswith(f"/{index}")  # only the damaged one, by its position
    assert all(got[locator] == expected[locator] for locator in got)
    errors = [(e["locator"], e["error"]) for e in out.rows["ingest_errors"]]
    line = text.count("\n", 0, starts[index]) + 1
    assert any(f"the message beginning at line {line} is damaged" in e for _, e in errors), errors
    assert any(locator and locator.endswith(f"/{index}") and "not an object" in e for locator, e in errors)


def test_several_damaged_messages_and_lines_of_the_file(parse, shared_fixtures: Path, tmp_path: Path) -> None:
    fixture, name = FIXTURES["telegram_json"]
    text = (shared_fixtures / fixture).read_text(encoding="utf-8")
    starts = _message_starts(text)
    for index in (len(starts) - 1, 1):  # from the end, so earlier positions stay put
        text = _damage(text, starts[index], "comma")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = parse(path)
    assert file_row(out, name)["messages"] == len(starts) - 2
    damaged = [e["error"] for e in out.rows["ingest_errors"] if "is damaged" in e["error"]]
    lines = [text.count("\n", 0, starts[i]) + 1 for i in (1, len(starts) - 1)]
    assert [
        f"beginning at line {lines[0]} " in damaged[0],
        f"beginning at line {lines[1]} " in damaged[1],
    ] == [
        True,
        True,
    ]


def test_minified_json_damaged_inside_still_fails_with_its_position(parse, tmp_path: Path) -> None:
    """Without one message per line, where a damaged message ends cannot be told safely."""
    messages = [
        {"id": i, "type": "message", "date_unixtime": str(1700000000 + i), "text": f"m{i}"} for i in range(5)
    ]
    text = json.dumps({"name": "x", "type": "personal_chat", "id": 1, "messages": messages})
    text = text.replace('"text": "m2"', '"text" "m2"')
    path = tmp_path / "result.json"
    path.write_text(text, encoding="utf-8")
    row = file_row(parse(path), "result.json")
    assert row["status"] == "failed" and "invalid JSON at line 1" in row["status_reason"]


def test_full_account_export_damage_in_one_chat(parse, tmp_path: Path) -> None:
    """A whole-account Telegram export holds one messages array per chat: the damage stays in its chat."""

    def chat(number: int) -> dict:
        messages = [
            {
                "id": i,
                "type": "message",
                "date": f"2024-03-0{number}T10:0{i}:00",
                "date_unixtime": str(1709287200 + number * 86400 + i * 60),
                "from": f"Person {number}",
                "from_id": f"user{number}",
                "text": f"chat {number} message {i}",
                "text_entities": [{"type": "plain", "text": f"chat {number} message {i}"}],
            }
            for i in range(4)
        ]
        return {"name": f"Person {number}", "type": "personal_chat", "id": number, "messages": messages}

    export = {"about": "export", "chats": {"about": "chats", "list": [chat(1), chat(2)]}}
    text = json.dumps(export, indent=1)
    text = text.replace('"text": "chat 1 message 2",', '"text": "chat 1 message 2"')  # a lost comma
    path = tmp_path / "result.json"
    path.write_text(text, encoding="utf-8")
    out = parse(path)
    assert file_row(out, "result.json")["messages"] == 7
    bodies = {m["source_locator"]: m["body"] for m in out.rows["messages"]}
    assert "/chats/list/0/messages/2" not in bodies
    assert bodies["/chats/list/0/messages/3"] == "chat 1 message 3"
    assert bodies["/chats/list/1/messages/3"] == "chat 2 message 3"


def test_a_comma_lost_between_two_messages_costs_nothing(
    parse, shared_fixtures: Path, tmp_path: Path
) -> None:
    fixture, name = FIXTURES["telegram_json"]
    text = (shared_fixtures / fixture).read_text(encoding="utf-8")
    starts = _message_starts(text)
    comma = text.rindex(",", 0, starts[3])  # the one after the third message
    (tmp_path / "whole").mkdir()
    (tmp_path / "whole" / name).write_text(text, encoding="utf-8")
    (tmp_path / name).write_text(text[:comma] + text[comma + 1 :], encoding="utf-8")
    expected = _messages(parse(tmp_path / "whole" / name))
    out = parse(tmp_path / name)
    assert _messages(out) == expected
    (warning,) = out.rows["ingest_errors"]
    line = text.count("\n", 0, starts[3]) + 1
    assert f"the comma before the message beginning at line {line} was missing" in warning["error"]


def _damaged_field(text: str, start: int, stop: int) -> str:
    """The text with the colon of the first `"key": value` line between start and stop taken out."""
    line = re.compile(r'^\s+"\w+": ', re.MULTILINE).search(text, start, stop)
    assert line is not None, "no field to damage there"
    colon = text.index(":", line.start())
    return text[:colon] + text[colon + 1 :]


@pytest.mark.parametrize(
    ("parser", "where"),
    [("telegram_json", "before"), ("instagram_json", "before"), ("instagram_json", "after")],
)
def test_damaged_fields_around_the_messages_cost_only_those_fields(
    parse, shared_fixtures: Path, tmp_path: Path, parser, where
) -> None:
    """The export's own fields (a Telegram chat's name, type and id before its messages; Instagram's
    participants before and its title, image and link after) are not read, every message is."""
    fixture, name = FIXTURES[parser]
    text = (shared_fixtures / fixture).read_text(encoding="utf-8")
    key = text.index('"messages": [')
    closing = text.index("\n" + text[text.rfind("\n", 0, key) + 1 : key] + "]", key)
    damaged_text = (
        _damaged_field(text, 0, key) if where == "before" else _damaged_field(text, closing, len(text))
    )
    (tmp_path / "whole").mkdir()
    (tmp_path / "whole" / name).write_text(text, encoding="utf-8")
    (tmp_path / name).write_text(damaged_text, encoding="utf-8")

    expected = parse(tmp_path / "whole" / name).rows["messages"]
    out = parse(tmp_path / name)
    row = file_row(out, name)
    assert (row["status"], row["messages"]) == ("parsed", len(expected))
    errors = [e["error"] for e in out.rows["ingest_errors"]]
    fields = [e for e in errors if f"the export's own fields {where} its messages are damaged" in e]
    # Instagram's fields after the messages name the service; without them it is assumed, and said so
    assert len(fields) == 1 and len(errors) == row["warnings"] == (2 if where == "after" else 1), errors
    got = {m["source_locator"]: m for m in out.rows["messages"]}
    for message in expected:
        mine = got[message["source_locator"]]
        # what came from the fields not read: the chat's name (Telegram) and its title (Instagram); the
        # participants (Instagram) were the recipients of each message
        different = {k for k in message if message[k] != mine[k]} - {"message_id", "source_sha256"}
        assert different <= {"conversation", "recipients"}, different


def _account_export() -> str:
    """A whole-account Telegram export as Telegram Desktop writes it: profile, contacts, two chats."""

    def chat(number: int) -> dict:
        messages = [
            {
                "id": i,
                "type": "message",
                "date": f"2024-03-0{number}T10:0{i}:00",
                "date_unixtime": str(1709287200 + (number - 1) * 86400 + i * 60),
                "from": f"Person {number}",
                "from_id": f"user{number}",
                "text": f"chat {number} message {i}",
            }
            for i in range(4)
        ]
        return {"name": f"Person {number}", "type": "personal_chat", "id": number, "messages": messages}

    contacts = [
        {"user_id": 10 + n, "first_name": f"Friend {n}", "phone_number": f"+44 7700 90000{n}"}
        for n in range(3)
    ]
    export = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 1, "first_name": "Sam", "phone_number": "+44 7700 900999"},
        "contacts": {"about": "contacts", "list": contacts},
        "chats": {"about": "chats", "list": [chat(1), chat(2)]},
    }
    return json.dumps(export, indent=1)


def _without_colon(text: str, line_start: str) -> str:
    """The text with the colon after the first line that starts (past its indentation) with line_start."""
    line = re.compile(r"^\s*" + re.escape(line_start), re.MULTILINE).search(text)
    assert line is not None, line_start
    colon = text.index(":", line.start())
    return text[:colon] + text[colon + 1 :]


@pytest.mark.parametrize(
    ("damaged_line", "where", "different"),
    [
        ('"first_name": "Sam"', "a field of /personal_information ", set()),
        ('"first_name": "Friend 1"', "a field of /contacts/list/* ", set()),
        ('"name": "Person 2"', "a field of /chats/list/* ", {"conversation"}),
    ],
)
def test_damage_outside_the_messages_of_a_whole_account_export_costs_only_that_field(
    parse, tmp_path: Path, damaged_line: str, where: str, different: set[str]
) -> None:
    """A whole-account export has one messages array per chat, and profile and contacts besides: one
    damaged field there used to fail the whole file. Now only the field is not read; every message is, at
    its own position, as from the undamaged file (a chat's name lost: its conversation is unnamed)."""
    text = _account_export()
    (tmp_path / "whole").mkdir()
    (tmp_path / "whole" / "result.json").write_text(text, encoding="utf-8")
    (tmp_path / "result.json").write_text(_without_colon(text, damaged_line), encoding="utf-8")
    expected = {m["source_locator"]: m for m in parse(tmp_path / "whole" / "result.json").rows["messages"]}
    out = parse(tmp_path / "result.json")
    row = file_row(out, "result.json")
    assert (row["status"], row["messages"], row["warnings"]) == ("parsed", 8, 1)
    (warning,) = [e["error"] for e in out.rows["ingest_errors"]]
    assert where in warning and "it was not read" in warning and "it held no messages" in warning
    got = {m["source_locator"]: m for m in out.rows["messages"]}
    assert got.keys() == expected.keys()
    for locator, message in expected.items():
        changed = {k for k in message if message[k] != got[locator][k]} - {"message_id", "source_sha256"}
        assert changed == (different if locator.startswith("/chats/list/1/") else set()), locator


def test_a_comma_lost_between_two_contacts_costs_nothing(parse, tmp_path: Path) -> None:
    text = _account_export()
    second = text.index('"user_id": 11')
    comma = text.rindex(",", 0, second)  # the one after the first contact's closing brace
    path = tmp_path / "result.json"
    path.write_text(text[:comma] + text[comma + 1 :], encoding="utf-8")
    out = parse(path)
    assert file_row(out, "result.json")["messages"] == 8
    (warning,) = [e["error"] for e in out.rows["ingest_errors"]]
    assert "the comma before an element of /contacts/list" in warning and "nothing was lost" in warning


def test_a_real_account_export_whose_chat_name_is_damaged_keeps_its_messages(
    parse, shared_fixtures: Path, tmp_path: Path
) -> None:
    text = (shared_fixtures / "telegram/chat-miner/test_batch_export.json").read_text(encoding="utf-8")
    path = tmp_path / "result.json"
    path.write_text(_without_colon(text, '"name": "Chatname"'), encoding="utf-8")
    out = parse(path)
    assert (file_row(out, "result.json")["messages"], len(out.rows["ingest_errors"])) == (2, 1)
    assert [m["conversation"] for m in out.rows["messages"]] == [None, None]
    # at their own positions (the old repair read the chat as a one-chat export: "/messages/0")
    assert [m["source_locator"] for m in out.rows["messages"]] == [
        "/chats/list/0/messages/0",
        "/chats/list/0/messages/1",
    ]
    assert [m["body"] for m in out.rows["messages"]] == ["Minimal Message", "Link:https://telegram.org/"]


@pytest.mark.parametrize("damaged_line", ['"messages": [', '"list": ['])
def test_damage_that_could_hide_messages_still_fails_the_whole_account_export(
    parse, tmp_path: Path, damaged_line: str
) -> None:
    """A damaged key of a list of objects (a chat's messages, the contacts) is not set aside: without its
    key, a list of messages could be taken for something else and lost without a word."""
    path = tmp_path / "result.json"
    path.write_text(_without_colon(_account_export(), damaged_line), encoding="utf-8")
    row = file_row(parse(path), "result.json")
    assert row["status"] == "failed" and "invalid JSON at line" in row["status_reason"]
