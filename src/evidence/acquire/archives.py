"""Zip archives as evidence: the limits that make a zip bomb a recorded error, and which members are unsafe to read."""

from __future__ import annotations

import io
import lzma
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

LOCAL_HEADER = b"PK\x03\x04"  # what starts a member's own header, and a zip whose first member is whole
ZIP_MAGIC = (LOCAL_HEADER, b"PK\x05\x06")  # an empty zip starts with its end-of-directory record
READ_BYTES = 1024 * 1024
# A member is read this much at a time, so damage inside it loses at most this much of what came before it.
PIECE_BYTES = 64 * 1024


@dataclass(frozen=True)
class ArchiveLimits:
    """Bounds on archive expansion, so a zip bomb costs a recorded error, not the machine."""

    max_members: int = 100_000
    max_total_bytes: int = 20 * 1024**3
    max_member_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 1024 * 1024  # small members may compress very well (text); only judge big ones
    max_depth: int = 3


def looks_like_zip(path: Path) -> bool:
    return _first_bytes(path) in ZIP_MAGIC


def unsafe_member(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    """Why a member must not be read, or None."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link inside the archive: not followed"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path inside the archive: not read"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "path with '..' inside the archive: not read"
    if info.flag_bits & 0x1:
        return "encrypted member: cannot be read without the password"
    if info.file_size > limits.max_member_bytes:
        return f"member declares {info.file_size} bytes, over the limit of {limits.max_member_bytes}"
    if info.file_size > limits.ratio_floor_bytes and info.compress_size > 0:
        ratio = info.file_size / info.compress_size
        if ratio > limits.max_ratio:
            return f"compression ratio {ratio:.0f}:1 is over the limit of {limits.max_ratio:.0f}:1 (possible zip bomb)"
    return None


def starts_with_member(path: Path) -> bool:
    return _first_bytes(path) == LOCAL_HEADER


def _first_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(4)
    except OSError:
        return b""


class ZipBombError(ValueError):
    """A member expanding far beyond its compressed size: a limit reached, not damage."""


class CrcMismatch(zipfile.BadZipFile):
    """Every byte of a member was read, and they are not the bytes the archive recorded a CRC-32 for."""

    def __init__(self) -> None:
        super().__init__("its bytes do not match the CRC-32 the archive recorded for them")


class ReadableStart(io.RawIOBase):
    """A member's bytes up to where they stop being readable.

    A byte flipped inside deflate data, or a copy cut short, makes zlib or stream_unzip raise; what was
    inflated before that point is still the member's true beginning, and for a chat it is most of the
    conversation. So the damage ends the member (`damage` says why) instead of losing all of it. The
    member is read PIECE_BYTES at a time, so at most that much before the damage is lost with it. A member
    whose very first piece cannot be read raises, as before. The CRC-32, when given, is checked here
    rather than by zipfile, which raises on the last piece and so would lose it: a mismatch keeps every
    byte, with `damage` set.
    """

    def __init__(self, stream: BinaryIO, expected_crc: int | None = None) -> None:
        self._read = getattr(stream, "read1", stream.read)
        self._expected_crc = expected_crc
        self._crc = 0
        self._ended = False
        self.read_bytes = 0
        self.damage: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and not self._ended:
            try:
                piece = self._read(min(PIECE_BYTES, len(view) - filled))
            except Exception as exc:
                if self.read_bytes + filled == 0 or not is_damage(exc):
                    raise
                self.damage, self._ended = (CrcMismatch() if _is_crc_error(exc) else exc), True
                break
            if not piece:
                self._ended = True
                if self._expected_crc is not None and self._crc != self._expected_crc:
                    if self.read_bytes + filled == 0:
                        raise CrcMismatch()
                    self.damage = CrcMismatch()
                break
            view[filled : filled + len(piece)] = piece
            if self._expected_crc is not None:
                self._crc = zlib.crc32(piece, self._crc)
            filled += len(piece)
        self.read_bytes += filled
        return filled


def is_damage(exc: BaseException) -> bool:
    """Whether a member's read failed on damaged or missing data (not on a limit or the disk)."""
    if isinstance(exc, ZipBombError):
        return False
    if isinstance(exc, (zlib.error, EOFError, lzma.LZMAError, zipfile.BadZipFile)):
        return True
    from stream_unzip import UnzipValueError  # only once a read failed: its import takes tens of ms

    return isinstance(exc, UnzipValueError)


def _is_crc_error(exc: BaseException) -> bool:
    """stream_unzip checks the CRC-32 once it has handed over every byte: then nothing was lost."""
    from stream_unzip import CRC32IntegrityError

    return isinstance(exc, CRC32IntegrityError)


def open_unchecked(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> BinaryIO:
    """A member opened without zipfile's own CRC check, for ReadableStart to check it instead."""
    stream = zf.open(info)
    stream._expected_crc = None  # type: ignore[attr-defined]  # zipfile checks it when set
    return stream


class MemberStream(io.RawIOBase):
    """A member's bytes as a file, from stream_unzip's chunks (its CRC is checked as the chunks end)."""

    def __init__(
        self, chunks: Iterable[bytes], read_from_file: Callable[[], int], limits: ArchiveLimits
    ) -> None:
        self._chunks = iter(chunks)
        self._compressed = read_from_file  # bytes of the archive read since this member began
        self._limits = limits
        self._left = memoryview(b"")
        self.read_bytes = 0
        self.failed: Exception | None = None  # why the member's data could not be read (the store's reader
        # reports it as the member's own failure; the walk then stops, as nothing after it can be found)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._left:
            try:
                self._left = memoryview(next(self._chunks))
            except StopIteration:
                return 0
            except Exception as exc:  # stream_unzip's errors for damaged or cut data, zlib's
                self.failed = exc
                raise
        count = min(len(buffer), len(self._left))
        buffer[:count] = self._left[:count]
        self._left = self._left[count:]
        self.read_bytes += count
        self._check_ratio()
        return count

    def _check_ratio(self) -> None:
        """Without the directory no member declares its compressed size, so the ratio is watched as it is
        read (the archive is read a megabyte at a time, so a bomb stops within that many times the limit)."""
        limits = self._limits
        compressed = max(self._compressed(), READ_BYTES)
        if self.read_bytes > limits.ratio_floor_bytes and self.read_bytes > limits.max_ratio * compressed:
            self.failed = ZipBombError(
                f"it expands more than {limits.max_ratio:.0f} times its compressed size (possible zip bomb)"
            )
            raise self.failed

    def drain(self, most: int) -> bool:
        """Read what is left (stream_unzip reads the next member only after this one); False when more
        than `most` bytes are left, which are not read."""
        for chunk in self._chunks:
            self.read_bytes += len(chunk)
            if self.read_bytes > most:
                return False
            self._check_ratio()
        return True


def members_from_headers(path: Path, limits: ArchiveLimits) -> Iterator[tuple[zipfile.ZipInfo, MemberStream]]:
    """Each member of a zip whose central directory cannot be read, from the header written before its
    data, in order: a download or copy cut short loses the directory, written last, with the members
    that were in transit, not the ones before them. The names and declared sizes are all a member's own
    header gives here (no times, no file type): the directory held the rest.

    Raises stream_unzip's UnzipError (a ValueError for damaged or cut data) at the first member that cannot
    be read: without the directory, nothing after it can be found safely. The consumer reads or drains
    each stream before asking for the next member.
    """
    from stream_unzip import stream_unzip

    read = 0

    def blocks() -> Iterator[bytes]:
        nonlocal read
        with open(path, "rb") as handle:
            while block := handle.read(READ_BYTES):
                read += len(block)
                yield block

    for raw_name, size, chunks in stream_unzip(blocks()):
        info = zipfile.ZipInfo(_member_name(raw_name))
        info.file_size = size or 0
        began = read
        yield info, MemberStream(chunks, lambda began=began: read - began, limits)


def _member_name(raw: bytes) -> str:
    """A name as zipfile would decode it: UTF-8 when it is, else the zip format's old code page 437."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def damaged_member_note(readable: ReadableStart) -> str:
    """The warning for a member stored only as far as it could be read, or whose CRC-32 failed."""
    reason = unzip_reason(readable.damage) if readable.damage else "damaged"
    if isinstance(readable.damage, CrcMismatch):
        return (
            f"member damaged inside the archive: {reason}; all {readable.read_bytes} bytes were read, and are "
            "stored and read as they are"
        )
    return (
        f"member damaged inside the archive ({reason}): only its first {readable.read_bytes} bytes could be read; "
        f"they are stored and read as this member; the rest is lost, and with it up to {PIECE_BYTES // 1024} KB "
        "just before the damage"
    )


def unzip_reason(exc: BaseException) -> str:
    """Words for why a member could not be read: stream_unzip's errors often carry no message, or only
    the bytes or flags they met (UnexpectedSignatureError: b'\\x00\\x00'), which say little to a reader."""
    name = type(exc).__name__
    if name == "TruncatedDataError":
        return "the archive ends inside it"
    if name == "CRC32IntegrityError":
        return str(CrcMismatch())
    text = str(exc)
    if text and not text.startswith(("(", "b'", 'b"')):
        return text
    return "".join(f" {c.lower()}" if c.isupper() else c for c in name.removesuffix("Error")).strip() or name
