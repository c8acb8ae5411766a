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


def _ingest(export: Path, case: Path) -> dict[str, str]:
    """`evidence ingest` of the export; the status of every file the run saw."""
    result = CliRunner().invoke(app, ["ingest", str(export), "--case", str(case)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return dict(con.execute("SELECT source_path, status FROM run_files").fetchall())


def _chat_and_photo_parsed(export: Path) -> dict[str, str]:
    return {
        str(export): "parsed",
        f"{export}!/_chat.txt": "parsed",
        f"{export}!/00000012-PHOTO-2024-03-12-21-06-02.jpg": "parsed",
    }


def test_export_zip_links_media_and_stores_every_member(tmp_path: Path) -> None:
    photo = _jpeg()
    export = tmp_path / "WhatsApp Chat - Alex Marsh.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr("_chat.txt", CHAT)
        zf.writestr("00000012-PHOTO-2024-03-12-21-06-02.jpg", photo)  # the second photo is not in the export
    case = tmp_path / "case"
    assert _ingest(export, case) == _chat_and_photo_parsed(export)
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
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


class _Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek in: it then writes each member's sizes after its data (a data
    descriptor), as apps streaming an export to a share sheet do."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, chunk) -> int:  # type: ignore[override]
        self.data += chunk
        return len(chunk)


def _export_zip(streamed: bool) -> tuple[bytes, bytes, int]:
    """An export: the chat, one photo, then a large video; and where the video's data begins."""
    photo = _jpeg()
    out = _Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_chat.txt", CHAT)
        zf.writestr("00000012-PHOTO-2024-03-12-21-06-02.jpg", photo)
        zf.writestr("00000014-VIDEO-2024-03-12-21-09-00.mp4", bytes(range(256)) * 4000)
    data = bytes(out.data if streamed else out.getvalue())
    return data, photo, data.index(b"00000014-VIDEO")


def test_an_export_zip_cut_short_keeps_the_members_before_the_cut(tmp_path: Path) -> None:
    """A download or copy that stopped loses the zip's directory (written last): the chat and the photo,
    whole before the cut, are read from their own headers, linked as usual; the cut video keeps the
    start that reached the file, named as cut."""
    for streamed in (False, True):
        data, photo, video = _export_zip(streamed)
        export = tmp_path / f"streamed-{streamed}" / "WhatsApp Chat - Alex Marsh.zip"
        export.parent.mkdir()
        export.write_bytes(data[: video + 200])  # into the video's data
        case = tmp_path / f"case-{streamed}"
        video_member = f"{export}!/00000014-VIDEO-2024-03-12-21-09-00.mp4"
        assert _ingest(export, case) == {
            **_chat_and_photo_parsed(export),
            video_member: "unsupported",
        }, streamed
        with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
            assert con.execute("SELECT count(*) FROM messages WHERE kind <> 'ocr'").fetchone() == (4,)
            # the chat member itself was whole: its messages carry no caveat of the damaged one
            assert con.execute(
                "SELECT count(*) FROM messages WHERE list_contains(flags, 'from_damaged_archive_member')"
            ).fetchone() == (0,)
            linked = con.execute(
                "SELECT sha256 FROM attachments WHERE file_name LIKE '%PHOTO%06-02%'"
            ).fetchone()
            assert linked == (hashlib.sha256(photo).hexdigest(),)
            (warning,) = con.execute(
                "SELECT error FROM ingest_errors WHERE source_path = ? AND severity = 'warning'",
                [str(export)],
            ).fetchone()
        assert "directory cannot be read" in warning and "read from their own headers" in warning
        assert "reading stopped at member 00000014-VIDEO-2024-03-12-21-09-00.mp4" in warning
        assert "the archive ends inside it" in warning
        assert "what could be read of it was kept" in warning
        with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
            (kept,) = con.execute(
                "SELECT error FROM ingest_errors WHERE source_path = ? AND severity = 'warning'",
                [video_member],
            ).fetchone()
            stored = con.execute(
                "SELECT f.size_bytes FROM files f JOIN file_occurrences o USING (sha256) WHERE o.source_path = ?",
                [video_member],
            ).fetchone()
        assert "only its first" in kept and stored is not None and 0 < stored[0] < 200, streamed


def test_a_chat_cut_inside_the_zip_keeps_the_messages_before_the_cut(tmp_path: Path) -> None:
    """An export zip holding only the chat, cut halfway through it (a transfer that stopped): the messages
    that reached the file are read; the last, perhaps cut mid-line, is read as it stands."""
    lines = [
        f"[13/03/2024, 21:{m // 60:02d}:{m % 60:02d}] Alex Marsh: message {m} {m * 7919 % 10007}\n"
        for m in range(3000)
    ]
    chat = "".join(lines).encode()
    for streamed in (False, True):
        out = _Unseekable() if streamed else io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("_chat.txt", chat)
        data = bytes(out.data if streamed else out.getvalue())
        export = tmp_path / f"streamed-{streamed}" / "WhatsApp Chat - Alex Marsh.zip"
        export.parent.mkdir()
        export.write_bytes(data[: len(data) // 2])
        case = tmp_path / f"case-{streamed}"
        assert _ingest(export, case) == {str(export): "parsed", f"{export}!/_chat.txt": "parsed"}, streamed
        with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
            bodies = [
                b
                for (b,) in con.execute(
                    "SELECT body FROM messages ORDER BY sent_at_utc, source_locator"
                ).fetchall()
            ]
            notes = con.execute(
                "SELECT error FROM ingest_errors WHERE source_path = ?", [f"{export}!/_chat.txt"]
            ).fetchall()
            # every message read from the damaged member says so (its last may be cut mid-text)
            flagged = con.execute(
                "SELECT count(*) FILTER (WHERE list_contains(flags, 'from_damaged_archive_member')), count(*) "
                "FROM messages"
            ).fetchone()
        # the first half of the text, less at most the 64 KB read last; every message read is the export's own
        assert 1000 < len(bodies) < 3000, streamed
        assert flagged == (len(bodies), len(bodies)), streamed
        assert bodies[:-1] == [line.split(": ", 1)[1].rstrip("\n") for line in lines[: len(bodies) - 1]]
        assert len(notes) == 1 and "archive ends inside it" in notes[0][0] and "only its first" in notes[0][0]


def test_a_whole_zip_whose_directory_is_damaged_loses_nothing(tmp_path: Path) -> None:
    data, _, _ = _export_zip(streamed=False)
    directory = data.index(b"PK\x01\x02")  # the directory's first entry: from there on, zeros
    export = tmp_path / "export.zip"
    export.write_bytes(data[:directory] + b"\x00" * (len(data) - directory))
    case = tmp_path / "case"
    statuses = _ingest(export, case)
    assert {
        **_chat_and_photo_parsed(export),
        f"{export}!/00000014-VIDEO-2024-03-12-21-09-00.mp4": "unsupported",
    } == (statuses)
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        (warning,) = con.execute("SELECT error FROM ingest_errors WHERE severity = 'warning'").fetchone()
    assert "reading stopped at what follows member 00000014-VIDEO-2024-03-12-21-09-00.mp4" in warning
    assert "any members there were not read" in warning
