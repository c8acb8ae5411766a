"""Handing an output over: written atomically, its SHA-256 recorded in the custody log, and the chain's head
hash returned so it can be printed (recorded elsewhere, it anchors the log)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from evidence.acquire.custody import CustodyLog


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary name beside the target, fsync, then rename: a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_output(case: Path, action: str, outputs: list[Path], examiner: str | None, **details: Any) -> str:
    """One custody entry naming each output file and its SHA-256; returns the chain's new head hash."""
    log = CustodyLog(Path(case) / "custody.log", examiner)
    files = [{"path": str(p), "sha256": sha256_of(p), "size_bytes": p.stat().st_size} for p in outputs]
    log.append(action, outputs=files, **details)
    return log.head()
