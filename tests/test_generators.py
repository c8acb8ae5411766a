"""The generators behind the benchmarks: realistic inputs, and the email header cache they exercise."""

from __future__ import annotations

import mailbox
from pathlib import Path

from mbox_generator import generate_mbox
from whatsapp_generator import IDENTIFIER_POOL, generate_export

from evidence.parsers.mail.message import parse_bytes
from evidence.parsers.mbox import MboxReader


def test_whatsapp_identifiers_option(tmp_path: Path) -> None:
    plain = generate_export(tmp_path / "plain.txt", 3_000, seed=4)
    again = generate_export(tmp_path / "again.txt", 3_000, seed=4, identifiers=0.0)
    assert (tmp_path / "plain.txt").read_bytes() == (tmp_path / "again.txt").read_bytes()
    assert plain == again and plain.with_identifier == 0

    stats = generate_export(tmp_path / "ids.txt", 3_000, seed=4, identifiers=0.4)
    text = (tmp_path / "ids.txt").read_text(encoding="utf-8")
    carrying = [line for line in text.splitlines() if any(value in line for value in IDENTIFIER_POOL)]
    assert stats.with_identifier >= 3_000 / 3
    assert len(carrying) >= stats.with_identifier * 0.9  # multi-line bodies may carry one on a later line
    assert "07700 900123" in text and "+44 7700 900123" in text and "instagram.com/alexm_99" in text


def test_generated_mbox_splits_and_parses_like_mailbox(tmp_path: Path) -> None:
    path = tmp_path / "mail.mbox"
    stats = generate_mbox(path, 300, seed=2)
    assert stats.messages == 300 and stats.bytes == path.stat().st_size
    with open(path, "rb") as handle:
        ours = [item.raw for item in MboxReader(handle)]
    assert len(ours) == len(mailbox.mbox(str(path))) == 300
    kinds = set()
    for raw in ours:
        msg = parse_bytes(raw)
        assert msg["From"] and msg["Message-ID"] and not msg.defects
        kinds.update(part.get("Content-Transfer-Encoding", "") for part in msg.walk())
    assert {"quoted-printable", "base64", "8bit"} <= kinds


def test_cached_headers_follow_changes(tmp_path: Path) -> None:
    msg = parse_bytes(b'Content-Type: multipart/mixed; boundary="a"\nSubject: hi\n\n--a\n\nx\n--a--\n')
    assert msg.get_content_type() == "multipart/mixed" and msg.get_boundary() == "a"
    assert msg["Content-Type"] is msg["content-type"]  # parsed once
    msg.set_boundary("b")
    assert msg.get_boundary() == "b"
    msg.replace_header("Subject", "changed")
    assert msg["Subject"] == "changed"
    del msg["Subject"]
    assert msg["Subject"] is None
