"""Zip archives as evidence: the limits that make a zip bomb a recorded error, and which members are unsafe to read."""

from __future__ import annotations

import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


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
    try:
        with open(path, "rb") as handle:
            return handle.read(4) in ZIP_MAGIC
    except OSError:
        return False


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
