"""Damaged copies of real exports: every fixture and sample-case file, mutated with fixed seeds (flipped
and deleted bytes, cut short, inserted junk, repeated chunks, long runs of digits or spaces), goes through
detection and extraction. Whatever the damage, the file gets exactly one run_files row, a file not parsed
says why, and nothing escapes to end the run. Each defect this kind of mutation found is also tested on
its own (test_parser_sms_damaged, test_json_damaged_inside, test_hostile_inputs, ...); this keeps the
whole family covered as parsers change. Export zips are damaged the same way and acquired, since that is
where zips are expanded.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence.pipeline.extract import parse_path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "fixtures"
# Images go through OCR (seconds each) and are covered by the image tests' damaged files.
SKIPPED_SUFFIXES = {".md", ".png", ".jpg", ".jpeg", ".heic", ".webp"}
MUTATIONS = 8
ZIP_MUTATIONS = 40  # a zip is cheap to acquire; fewer missed every damaged deflate stream
HANG_SECONDS = 120  # a file still being read after this is a hang (backtracking, a quadratic loop)
INSERTS = [
    b"\xed\xa0\xbd",
    b"\xff\xfe",
    b"\x00" * 10,
    b"\r",
    b"<" * 50,
    b"{" * 3000,
    b"&#xD800;",
    b'"',
    b"\\ud83d",
]


def _seeds() -> Iterator[Path]:
    for root in (SHARED, ROOT / "sample"):
        if root.is_dir():
            yield from sorted(
                p for p in root.rglob("*") if p.is_file() and p.suffix.lower() not in SKIPPED_SUFFIXES
            )


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data) or bytearray(b"x")
    for _ in range(rng.choice([1, 2, 4, 16])):
        i = rng.randrange(len(out))
        kind = rng.randrange(8)
        if kind == 0:
            out[i] = rng.randrange(256)
        elif kind == 1:
            del out[i : i + rng.randrange(1, 64)]
        elif kind == 2:
            out[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
        elif kind == 3:
            del out[i:]
        elif kind == 4:
            chunk = out[i : i + rng.randrange(1, 200)]
            out[i:i] = chunk * rng.randrange(2, 500)
        elif kind == 5:
            out[i:i] = rng.choice(INSERTS)
        elif kind == 6:
            out[i:i] = b"9" * rng.randrange(1, 40)
        else:
            out[i:i] = b" " * rng.randrange(1000, 50000)
        out = out or bytearray(b"x")
    return bytes(out)


def _hang(*_: object) -> None:
    raise TimeoutError(f"still reading after {HANG_SECONDS} s")


SEEDS = list(_seeds())


def _generated(name: str, tmp_path: Path) -> Path:
    """Formats the fixtures lack at size: a mailbox of 40 mails, WhatsApp exports in both layouts."""
    from mbox_generator import generate_mbox
    from whatsapp_generator import generate_export

    path = tmp_path / "generated" / name
    path.parent.mkdir()
    if name == "Inbox.mbox":
        generate_mbox(path, 40, seed=5)
    else:
        generate_export(path, 300, seed=5, style="ios" if "iOS" in name else "android", identifiers=0.4)
    return path


def _check_damaged_copies(seed: Path, tmp_path: Path) -> None:
    original = seed.read_bytes()
    for number in range(MUTATIONS):
        rng = random.Random(f"{seed.name}-{number}")
        folder = tmp_path / str(number)
        folder.mkdir()
        path = folder / seed.name  # the name is kept: some formats are known by it
        path.write_bytes(mutate(original, rng))
        previous = signal.signal(signal.SIGALRM, _hang)
        signal.alarm(HANG_SECONDS)
        try:
            out = parse_path(path, store_root=tmp_path / "originals")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        rows = [row for row in out.rows["run_files"] if row["source_path"] == str(path)]
        assert len(rows) == 1, (number, out.rows["run_files"])
        (row,) = rows
        assert row["status"] in ("parsed", "failed", "unsupported"), (number, row)
        if row["status"] != "parsed":
            assert row["status_reason"], (number, row)
        else:
            assert row["messages"] >= 0 and row["warnings"] >= 0


@pytest.mark.skipif(not SEEDS, reason="no fixtures or sample case here")
@pytest.mark.parametrize("seed", SEEDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_damaged_copies_fail_alone_with_a_reason(seed: Path, tmp_path: Path) -> None:
    _check_damaged_copies(seed, tmp_path)


@pytest.mark.parametrize(
    "name", ["Inbox.mbox", "WhatsApp Chat with Alex.txt", "WhatsApp Chat - Alex iOS.txt"]
)
def test_damaged_generated_exports_fail_alone_with_a_reason(name: str, tmp_path: Path) -> None:
    _check_damaged_copies(_generated(name, tmp_path), tmp_path)


class _Unseekable:
    """A stream zipfile cannot seek in, so it writes each member's sizes after its data (as apps
    streaming an export do)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        pass


def _export_zip(streamed: bool, folder: Path) -> bytes:
    """A WhatsApp export zip: the chat, a few media and a zip inside it."""
    import io
    import zipfile

    from whatsapp_generator import generate_export

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("inner.txt", "inside")
    out: Any = _Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        chat = folder / "_chat.txt"
        generate_export(chat, 200, seed=7, identifiers=0.4)
        zf.write(chat, "_chat.txt")
        for number in range(4):
            zf.writestr(f"IMG-2024031{number}-WA000{number}.jpg", random.Random(number).randbytes(3000))
        zf.writestr("nested.zip", inner.getvalue())
    return bytes(out.data) if streamed else out.getvalue()


@pytest.mark.parametrize("streamed", [False, True], ids=["sizes-first", "sizes-after-data"])
def test_damaged_export_zips_fail_alone_with_a_reason(streamed: bool, tmp_path: Path) -> None:
    """Through acquisition, which expands zips: damage costs members, never the run, and the archive is
    either expanded (its lost members named) or listed as not opened, with the reason."""
    from evidence.acquire.store import OriginalsStore
    from evidence.acquire.walk import Acquirer

    original = _export_zip(streamed, tmp_path)
    read_without_directory = 0
    for number in range(ZIP_MUTATIONS):
        rng = random.Random(f"zip-{streamed}-{number}")
        path = tmp_path / str(number) / "WhatsApp Chat - Alex.zip"
        path.parent.mkdir()
        path.write_bytes(mutate(original, rng))
        result = Acquirer(OriginalsStore(tmp_path / "originals")).acquire([path])
        archive = [item for item in result.items if item.source_path == str(path)]
        assert len(archive) == 1, number
        reasons = [e["error"] for e in result.errors if e["source_path"] == str(path)]
        if archive[0].format is None:  # not opened: said so
            assert any("cannot be opened" in r for r in reasons), (number, reasons)
        members = [item for item in result.items if item.source_path.startswith(f"{path}!/")]
        assert all(item.sha256 for item in members)
        read_without_directory += bool(members) and any("directory cannot be read" in r for r in reasons)
    # copies cut short lost the directory, not the members before the cut
    assert read_without_directory >= 3
