"""The originals store: hashes right, stores once, read-only, never follows a link."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

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
    blob = OriginalsStore(tmp_path / "originals").put_file(source)
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.md5 == hashlib.md5(data).hexdigest()


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
