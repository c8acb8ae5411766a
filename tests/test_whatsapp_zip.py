"""A WhatsApp "Export chat" zip (chat text plus media) ingests as one unit: media are linked by name."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import duckdb
from PIL import Image
from typer.testing import CliRunner

from evidence.cli.commands import app

LRM = "\u200e"
CHAT = (
    "[12/03/2024, 21:05:10] Alex Marsh: I know you are home\n"
    f"{LRM}[12/03/2024, 21:06:02] Alex Marsh: {LRM}<attached: 00000012-PHOTO-2024-03-12-21-06-02.jpg>\n"
    f"{LRM}[12/03/2024, 21:07:45] Alex Marsh: {LRM}<attached: 00000013-PHOTO-2024-03-12-21-07-45.jpg>\n"
    "[13/03/2024, 07:30:00] Sam Taylor: please stop\n"
)


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (90, 120, 150)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_export_zip_links_media_and_stores_every_member(tmp_path: Path) -> None:
    photo = _jpeg()
    export = tmp_path / "WhatsApp Chat - Alex Marsh.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr("_chat.txt", CHAT)
        zf.writestr("00000012-PHOTO-2024-03-12-21-06-02.jpg", photo)  # the second photo is not in the export
    case = tmp_path / "case"
    result = CliRunner().invoke(app, ["ingest", str(export), "--case", str(case)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        statuses = dict(con.execute("SELECT source_path, status FROM run_files").fetchall())
        assert statuses == {
            str(export): "parsed",
            f"{export}!/_chat.txt": "parsed",
            f"{export}!/00000012-PHOTO-2024-03-12-21-06-02.jpg": "parsed",
        }
        messages = con.execute(
            "SELECT kind, conversation, sender, sent_at_local, flags FROM messages ORDER BY source_locator"
        ).fetchall()
        assert [(k, c, s) for k, c, s, _, _ in messages] == [
            ("message", "Alex Marsh", "Alex Marsh"),
            ("media", "Alex Marsh", "Alex Marsh"),
            ("media", "Alex Marsh", "Alex Marsh"),
            ("message", "Alex Marsh", "Sam Taylor"),
        ]
        attachments = con.execute("SELECT file_name, sha256 FROM attachments ORDER BY file_name").fetchall()
        assert attachments == [
            ("00000012-PHOTO-2024-03-12-21-06-02.jpg", hashlib.sha256(photo).hexdigest()),
            ("00000013-PHOTO-2024-03-12-21-07-45.jpg", None),
        ]
        assert "media_not_in_export" in messages[2][4]
        # the photo itself is an image of the case too, with its container's entry time on record
        assert con.execute("SELECT count(*) FROM images").fetchone() == (1,)
        assert con.execute(
            "SELECT count(*) FROM file_occurrences WHERE container_sha256 IS NOT NULL"
        ).fetchone() == (2,)
