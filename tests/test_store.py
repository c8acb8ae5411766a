"""The originals store: hashes right, stores once, read-only, never follows a link."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

import pytest

from evidence.acquire.store import OriginalsStore, StoreError, TooLargeError, hash_file


def test_put_file_hashes_and_stores_read_only(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)  # spans several chunks
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    store = OriginalsStore(tmp_path / "originals")
    blob = store.put_file(source)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.md5 == hashlib.md5(data).hexdigest()
    assert blob.size_bytes == len(data) and blob.is_new
    assert blob.path == tmp_path / "originals" / blob.sha256[:2] / blob.sha256
    assert blob.path.read_bytes() == data
    assert stat.S_IMODE(blob.path.stat().st_mode) == 0o444
    assert stat.S_IMODE((tmp_path / "originals").stat().st_mode) == 0o700
    assert source.read_bytes() == data  # the input is untouched


def test_same_bytes_are_stored_once(tmp_path: Path) -> None:
    store = OriginalsStore(tmp_path / "originals")
    first = store.put_bytes(b"same")
    second = store.put_bytes(b"same")
    assert first.sha256 == second.sha256
    assert first.is_new and not second.is_new
    assert list(store.iter_blobs()) == [first.path]
    assert not list(store.incoming.iterdir())  # no temporary file left behind


def test_put_file_refuses_a_symbolic_link(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("secret")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(StoreError):
        OriginalsStore(tmp_path / "originals").put_file(link)


def test_max_bytes_bounds_what_is_read(tmp_path: Path) -> None:
    import io

    store = OriginalsStore(tmp_path / "originals")
    with pytest.raises(TooLargeError):
        store.put_stream(io.BytesIO(b"x" * 1000), max_bytes=999)
    assert not list(store.iter_blobs())
    assert not list(store.incoming.iterdir())


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc" * 100_000)
    assert hash_file(path) == (
        hashlib.sha256(b"abc" * 100_000).hexdigest(),
        hashlib.md5(b"abc" * 100_000).hexdigest(),
        300_000,
    )


def test_large_chunks_on_threads_and_a_small_last_chunk_hash_in_order(tmp_path: Path) -> None:
    from evidence.acquire import store as store_module

    data = os.urandom(2 * store_module.CHUNK_BYTES + 100)  # two chunks on the hash threads, one inline
    source = tmp_path / "in.bin"
    source.write_bytes(data)
    with open(source, "rb", buffering=0) as stream:  # the streaming copy (put_file reads this size whole)
        blob = OriginalsStore(tmp_path / "originals").put_stream(stream)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.md5 == hashlib.md5(data).hexdigest()
    assert blob.path.read_bytes() == data


def test_a_file_stored_before_is_hashed_and_never_copied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.acquire import store as store_module

    data = os.urandom(store_module.CHUNK_BYTES + 5)
    source = tmp_path / "chat.txt"
    source.write_bytes(data)
    store = OriginalsStore(tmp_path / "originals")
    first = store.put_file(source)
    assert first.is_new and first.path.read_bytes() == data
    assert (first.sha256, first.md5) == (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())

    def no_writes(*_args: object) -> None:
        raise AssertionError("a copy was written")

    monkeypatch.setattr(store_module, "write_all", no_writes)
    again = store.put_file(source)
    assert (again.sha256, again.md5, again.size_bytes, again.is_new) == (
        first.sha256,
        first.md5,
        len(data),
        False,
    )
    assert not list(store.incoming.iterdir())


def test_files_above_the_whole_read_size_and_files_that_grow_are_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.acquire import store as store_module

    monkeypatch.setattr(store_module, "HASH_FIRST_BYTES", 1000)
    store = OriginalsStore(tmp_path / "originals")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(5000))
    assert store.put_file(big).path.read_bytes() == big.read_bytes()
    growing = tmp_path / "growing.log"
    growing.write_bytes(b"a" * 900)  # under the limit when opened ...
    real_read = store_module.read_hashing

    def read_while_it_grows(stream: BinaryIO, size: int) -> tuple[bytearray, tuple[str, str] | None]:
        with open(growing, "ab") as more:  # ... and written to before it is read
            more.write(b"b" * 400)
        return real_read(stream, size)

    monkeypatch.setattr(store_module, "read_hashing", read_while_it_grows)
    blob = store.put_file(growing)
    assert blob.size_bytes == 1300 and blob.path.read_bytes() == b"a" * 900 + b"b" * 400
    assert blob.sha256 == hashlib.sha256(b"a" * 900 + b"b" * 400).hexdigest()


def test_only_a_kept_copy_is_synced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    store = OriginalsStore(tmp_path / "originals")
    store.put_bytes(b"evidence")
    assert synced  # the new original (and its folder)
    synced.clear()
    again = store.put_bytes(b"evidence")
    assert not again.is_new and not synced  # the discarded duplicate copy is not synced
    assert not list(store.incoming.iterdir())


def test_a_short_write_is_finished_and_a_full_disk_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """write(2) on a filling disk writes part of a chunk, then fails: the copy must never be kept cut."""
    import errno
    import io

    data = os.urandom(3 * 1024 * 1024 + 17)
    real_fdopen = os.fdopen
    room = {"bytes": 5 * 1024 * 1024}

    class FillingDisk(io.RawIOBase):
        def __init__(self, raw: io.FileIO) -> None:
            self.raw = raw

        def write(self, chunk: bytes) -> int:
            if room["bytes"] <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            part = bytes(chunk[: min(len(chunk), 1000, room["bytes"])])  # short writes, as a disk may do
            room["bytes"] -= len(part)
            return self.raw.write(part)

        def fileno(self) -> int:
            return self.raw.fileno()

        def close(self) -> None:
            self.raw.close()

    def filling_fdopen(fd: int, mode: str = "r", *args: object, **kwargs: object) -> object:
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return FillingDisk(handle) if "w" in mode else handle

    monkeypatch.setattr(os, "fdopen", filling_fdopen)
    store = OriginalsStore(tmp_path / "originals")
    source = tmp_path / "a.bin"
    source.write_bytes(data)
    blob = store.put_file(source)  # fits, in many short writes
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert hash_file(blob.path)[0] == blob.sha256
    with pytest.raises(OSError) as raised:
        store.put_bytes(os.urandom(3 * 1024 * 1024))  # does not fit
    assert raised.value.errno == errno.ENOSPC
    assert [p.name for p in store.iter_blobs()] == [blob.sha256]
    assert list(store.incoming.iterdir()) == []


@pytest.mark.parametrize("size", [0, 1000, 3 * 1024 * 1024 + 7])
def test_read_hashing_hashes_every_chunk_in_order_and_notices_a_file_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Reading and hashing overlap chunk by chunk (on the hash threads above INLINE_BYTES): the digests
    must be those of the whole file; a file shorter than measured is read as it is, a longer one is
    handed back unhashed with the bytes read so far."""
    from evidence.acquire import store as store_module

    monkeypatch.setattr(store_module, "CHUNK_BYTES", 256 * 1024 + 3)  # many chunks, none aligned
    data = os.urandom(size)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    expected = (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    with open(path, "rb", buffering=0) as stream:
        assert store_module.read_hashing(stream, size) == (bytearray(data), expected)
    with open(path, "rb", buffering=0) as stream:  # measured as longer than it is: it shrank
        shorter = store_module.read_hashing(stream, size + 10)
    assert shorter == (bytearray(data), expected)
    if size:
        with open(path, "rb", buffering=0) as stream:  # measured as shorter: it grew
            head, hashes = store_module.read_hashing(stream, size - 1)
            assert hashes is None and head == bytearray(data) and stream.read() == b""
