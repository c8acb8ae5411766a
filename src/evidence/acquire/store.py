"""Content-addressed, read-only store of originals: CASE_DIR/originals/<sha256[:2]>/<sha256>.

Bytes are hashed (SHA-256 and MD5) while they are copied, in one pass, into a temporary file in the same
folder, fsynced and renamed into place, then made read-only (files up to 64 MiB are read whole and hashed
first, so content stored before is never copied again). Nothing here ever modifies or deletes a
stored original.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 4 * 1024 * 1024


class StoreError(Exception):
    """A file could not be read into the store."""


class TooLargeError(StoreError):
    """The bytes exceeded the limit given for them (used to bound archive expansion)."""


@dataclass(frozen=True)
class StoredBlob:
    """One original in the store."""

    sha256: str
    md5: str
    size_bytes: int
    path: Path
    is_new: bool


class OriginalsStore:
    """The originals/ folder of a case."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.incoming = self.root / ".incoming"

    def ensure(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.incoming.mkdir(mode=0o700, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def iter_blobs(self) -> Iterator[Path]:
        """Every stored original (skips the temporary folder)."""
        for sub in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if sub.is_dir() and not sub.name.startswith("."):
                yield from sorted(p for p in sub.iterdir() if p.is_file())

    def put_stream(self, stream: BinaryIO, max_bytes: int | None = None) -> StoredBlob:
        """Copy a stream into the store, hashing as it goes; at most max_bytes are read."""
        return self._store_copy(lambda out: copy_hashing(stream, out, max_bytes))

    def _store_copy(self, write: Callable[[BinaryIO], tuple[str, str, int]]) -> StoredBlob:
        """A copy made by `write` (which returns the SHA-256, MD5 and size of what it wrote) in .incoming,
        renamed into place when its content is new, discarded when the content was stored before."""
        self.ensure()
        fd, tmp_name = tempfile.mkstemp(dir=self.incoming, prefix="in-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                sha256, md5, size = write(out)
                if os.fstat(out.fileno()).st_size != size:  # never name a copy by bytes it does not hold
                    raise StoreError(f"copy holds {os.fstat(out.fileno()).st_size} of {size} bytes")
                final = self.path_for(sha256)
                known = final.exists()
                if not known:  # only a copy that is kept must be durable before its rename
                    os.fsync(out.fileno())
            if known:
                # Stored before (and fsynced then): this copy is discarded, so it is not synced. A re-ingest
                # of thousands of files used to spend a third of its time syncing copies it then deleted.
                tmp.unlink()
                return StoredBlob(sha256, md5, size, final, False)
            _keep(tmp, final)
            return StoredBlob(sha256, md5, size, final, True)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_file(self, path: Path) -> StoredBlob:
        """Store a file from disk without following a symbolic link at its last component.

        A file of up to HASH_FIRST_BYTES is read whole and hashed before anything is written: when its
        content is stored already (a re-ingest), no copy is written at all."""
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise StoreError(f"cannot open {path}: {exc.strerror or exc}") from exc
        with os.fdopen(fd, "rb", buffering=0) as stream:
            size = os.fstat(stream.fileno()).st_size
            if size <= HASH_FIRST_BYTES:
                data, hashes = read_hashing(stream, size)
                if hashes is not None:  # the whole file (it may have shrunk since fstat, never grown)
                    return self._put_read(data, hashes)
                return self.put_stream(_Chained(data, stream))  # it grew: copy as a stream
            return self.put_stream(stream)

    def _put_read(self, data: bytearray, hashes: tuple[str, str]) -> StoredBlob:
        """Store bytes read whole and hashed: written (and fsynced) only when the content is new."""
        sha256, md5 = hashes
        final = self.path_for(sha256)
        if final.exists():
            return StoredBlob(sha256, md5, len(data), final, False)

        def write(out: BinaryIO) -> tuple[str, str, int]:
            write_all(out, memoryview(data))
            return sha256, md5, len(data)

        return self._store_copy(write)

    def put_bytes(self, data: bytes) -> StoredBlob:
        return self.put_stream(io.BytesIO(data))


HASH_FIRST_BYTES = 64 * 1024 * 1024  # files up to this size are hashed before a copy is written


def read_hashing(stream: BinaryIO, size: int) -> tuple[bytearray, tuple[str, str] | None]:
    """A file of `size` bytes read whole into one buffer, and its SHA-256 and MD5.

    Each chunk is hashed on the hash threads as soon as it is read, so reading and hashing overlap (a
    16 MB export: about 25 ms instead of 40). Hashes None when the file held more than `size` bytes (it
    grew since it was measured): the bytes read so far come back for the caller to go on from.
    """
    data = bytearray(size)
    view = memoryview(data)
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    pools = _pools() if size >= INLINE_BYTES else None
    pending: list[Future[None]] = []
    filled = 0
    try:
        while filled < size:
            got = stream.readinto(view[filled : min(size, filled + CHUNK_BYTES)])
            if not got:
                break
            chunk = view[filled : filled + got]
            if pools is None:
                sha.update(chunk)
                md5.update(chunk)
            else:
                pending += [pools[0].submit(sha.update, chunk), pools[1].submit(md5.update, chunk)]
            filled += got
    finally:
        for future in pending:
            future.result()  # no hash thread may still read the buffer once it is handed on
        pending.clear()
    # (A hash thread may hold a view of the buffer for a moment after its result is set: the buffer is
    # copied, never resized, below.)
    if filled < size:
        return data[:filled], (sha.hexdigest(), md5.hexdigest())
    more = stream.read(1)
    if more:
        return data + more, None
    return data, (sha.hexdigest(), md5.hexdigest())


class _Chained(io.RawIOBase):
    """Bytes already read, then the rest of the stream they came from."""

    def __init__(self, head: bytearray, rest: BinaryIO) -> None:
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        return self._rest.readinto(buffer)


_hash_pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
INLINE_BYTES = 256 * 1024  # chunks smaller than this are hashed on the copying thread
PIPELINE_DEPTH = 3  # chunks in flight: bounds memory to about (depth + 1) x CHUNK_BYTES


def _pools() -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    # SHA-256 and MD5 each run on their own thread while this thread reads and writes: hashlib releases
    # the GIL for large buffers, so on two cores the copy costs little more than the slower hash.
    global _hash_pools
    if _hash_pools is None:
        _hash_pools = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256"),
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="md5"),
        )
    return _hash_pools


_rings = threading.local()


def _ring() -> list[bytearray]:
    """This thread's reusable chunk buffers, allocated once (not once per file: most files are small)."""
    ring = getattr(_rings, "buffers", None)
    if ring is None:
        ring = _rings.buffers = [bytearray(CHUNK_BYTES) for _ in range(PIPELINE_DEPTH + 1)]
    return ring


def copy_hashing(
    stream: BinaryIO, out: BinaryIO | None, max_bytes: int | None = None
) -> tuple[str, str, int]:
    """Copy stream to out (if given) while computing SHA-256 and MD5 of exactly the bytes copied.

    Chunks are read into a small ring of reused buffers (no fresh 4 MiB allocation per chunk); a buffer
    is refilled only after both hash threads have finished with it.
    """
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    sha_pool, md5_pool = _pools()
    ring = _ring()
    in_flight: deque[tuple[Future, Future]] = deque()
    size = 0
    slot = 0
    readinto = getattr(stream, "readinto", None)
    try:
        while True:
            while len(in_flight) > PIPELINE_DEPTH - 1:
                for future in in_flight.popleft():
                    future.result()
            if readinto is not None:
                count = readinto(ring[slot])
                chunk = memoryview(ring[slot])[:count] if count else None
            else:
                data = stream.read(CHUNK_BYTES)
                count, chunk = len(data), (memoryview(data) if data else None)
            if not count:
                break
            size += count
            if max_bytes is not None and size > max_bytes:
                raise TooLargeError(f"more than {max_bytes} bytes")
            if count < INLINE_BYTES:
                # A small file, or a large one's last chunk: handing it to the threads costs more than
                # hashing it here (after the chunks before it, so the hashes see the bytes in order).
                while in_flight:
                    for future in in_flight.popleft():
                        future.result()
                sha.update(chunk)
                md5.update(chunk)
            else:
                in_flight.append((sha_pool.submit(sha.update, chunk), md5_pool.submit(md5.update, chunk)))
            if out is not None:
                write_all(out, chunk)
                if count >= INLINE_BYTES:
                    _start_writeback(out, size - count, count)
            slot = (slot + 1) % len(ring)
    finally:
        for pair in in_flight:
            for future in pair:
                future.result()
    return sha.hexdigest(), md5.hexdigest(), size


def _start_writeback(out: BinaryIO, offset: int, length: int) -> None:
    """Start writing a copied chunk to disk now (without waiting for it), so that the fsync before the
    copy is kept finds little left to write: on Linux, POSIX_FADV_DONTNEED starts the write-back of dirty
    pages and drops them from the page cache once written (an original is rarely read again soon)."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):  # not a plain file
        advise(out.fileno(), offset, length, os.POSIX_FADV_DONTNEED)


def write_all(out: BinaryIO, data: memoryview) -> None:
    """Write every byte. An unbuffered file may write only part (a disk filling up does that before it
    raises ENOSPC); ignoring the count once stored a cut copy under the hash of the whole file."""
    while len(data):
        written = out.write(data)
        if not written:
            raise OSError(f"nothing written ({written!r}) with {len(data)} bytes to go")
        data = data[written:]


def hash_file(path: Path) -> tuple[str, str, int]:
    """SHA-256, MD5 and size of a file, for verification."""
    with open(path, "rb", buffering=0) as stream:
        return copy_hashing(stream, None)


def _keep(tmp: Path, final: Path) -> None:
    """Rename a durable copy into place, read-only, and make the rename durable too."""
    final.parent.mkdir(mode=0o700, exist_ok=True)
    os.chmod(tmp, 0o444)
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
