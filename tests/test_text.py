"""Names that are not UTF-8 and text with lone surrogates: one escaped representation, exact bytes kept."""

from __future__ import annotations

import json
import os
from pathlib import Path

from evidence.acquire.custody import CustodyLog, check_chain
from evidence.text import escape_path, for_display, path_hex, repair_text, repair_value


def test_names_that_are_not_utf8_are_escaped_and_their_bytes_kept() -> None:
    raw = b"dir/bad\xff\xfename.txt"
    name = os.fsdecode(raw)  # how Python reads it from the file system (surrogateescape)
    assert escape_path(name) == "dir/bad\\xff\\xfename.txt"
    assert bytes.fromhex(path_hex(name) or "") == raw
    for plain in ("plain.txt", "caf\u00e9 \u202e\n..\\..\\x.txt", "bad\\xff.txt"):
        assert escape_path(plain) == plain and path_hex(plain) is None  # no hex: the text is exact


def test_lone_surrogates_are_repaired_and_pairs_joined() -> None:
    assert repair_text("half \ud83d emoji") == "half \ufffd emoji"
    assert repair_text("\ud83d\ude00") == "\U0001f600"
    assert repair_value(["ok", {"k": "\udc00"}]) == (["ok", {"k": "\ufffd"}], True)
    assert repair_value(["ok", 1]) == (["ok", 1], False)


def test_display_escapes_what_could_fake_a_line() -> None:
    assert for_display("a\nb\u202egpj.exe\tc") == "a\\nb\\u202egpj.exe\\tc"
    assert for_display(os.fsdecode(b"x\xff")) == "x\\xff"
    assert for_display("Zo\u00eb \U0001f600") == "Zo\u00eb \U0001f600"


def test_custody_entries_with_hostile_names_stay_one_json_line(tmp_path: Path) -> None:
    log = CustodyLog(tmp_path / "custody.log")
    names = [os.fsdecode(b"bad\xff.txt"), "line\nbreak", "para\u2028graph", "next\u0085line", "rtl\u202etxt"]
    for name in names:
        log.append("file_stored", source_path=name, where=Path(name))
    lines = (tmp_path / "custody.log").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(names) and check_chain(tmp_path / "custody.log") == []
    stored = [json.loads(line)["details"]["source_path"] for line in lines]
    assert stored == ["bad\\xff.txt", "line\nbreak", "para\u2028graph", "next\u0085line", "rtl\u202etxt"]
