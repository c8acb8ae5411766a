"""Acquisition: every file accounted for; links, zip-slip and zip bombs become recorded errors."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from evidence.acquire.archives import ArchiveLimits
from evidence.acquire.store import OriginalsStore
from evidence.acquire.walk import Acquirer


def _acquire(tmp_path: Path, *sources: Path, limits: ArchiveLimits | None = None):
    store = OriginalsStore(tmp_path / "case" / "originals")
    return Acquirer(store, limits=limits).acquire(list(sources)), store


def _errors(result) -> dict[str, str]:
    return {e["source_path"]: e["error"] for e in result.errors}


def test_folder_walk_records_links_instead_of_following_them(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "chats").mkdir(parents=True)
    (src / "chats" / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not evidence")
    (src / "link-to-file").symlink_to(outside / "secret.txt")
    (src / "link-to-dir").symlink_to(outside)
    result, store = _acquire(tmp_path, src)
    assert sorted(i.source_path for i in result.items) == [str(src / "b.txt"), str(src / "chats" / "a.txt")]
    errors = _errors(result)
    assert "symbolic link not followed" in errors[str(src / "link-to-file")]
    assert "symbolic link to a folder not followed" in errors[str(src / "link-to-dir")]
    assert all(b.read_bytes() != b"not evidence" for b in store.iter_blobs())


def test_missing_source_is_recorded(tmp_path: Path) -> None:
    result, _ = _acquire(tmp_path, tmp_path / "nope")
    assert not result.items
    assert "cannot be read" in _errors(result)[str(tmp_path / "nope")]


def _zip(path: Path, members: dict[str, bytes], symlink: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = 0o120777 << 16
            zf.writestr(info, "/etc/passwd")
    return path


def test_zip_members_are_stored_and_unsafe_members_refused(tmp_path: Path) -> None:
    archive = _zip(
        tmp_path / "export.zip",
        {"chat.txt": b"hello", "media/IMG-1.jpg": b"jpeg", "../../escape.txt": b"x", "/abs.txt": b"y"},
        symlink="link",
    )
    result, _ = _acquire(tmp_path, archive)
    shown = {i.source_path: i for i in result.items}
    assert set(shown) == {str(archive), f"{archive}!/chat.txt", f"{archive}!/media/IMG-1.jpg"}
    chat = shown[f"{archive}!/chat.txt"]
    assert chat.container_sha256 == shown[str(archive)].sha256
    assert result.siblings.view(chat.group) == {
        "chat.txt": chat.sha256,
        "IMG-1.jpg": shown[f"{archive}!/media/IMG-1.jpg"].sha256,
    }
    errors = _errors(result)
    assert "'..'" in errors[f"{archive}!/../../escape.txt"]
    assert "absolute path" in errors[f"{archive}!//abs.txt"]
    assert "symbolic link" in errors[f"{archive}!/link"]
    # nothing was written outside the store
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path.parent / "escape.txt").exists()


def test_zip_bomb_ratio_and_size_limits(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "bomb.zip", {"zeros.bin": b"\0" * (20 * 1024 * 1024), "ok.txt": b"fine"})
    result, _ = _acquire(tmp_path, archive)
    errors = _errors(result)
    assert "compression ratio" in errors[f"{archive}!/zeros.bin"]
    assert f"{archive}!/ok.txt" in {i.source_path for i in result.items}
    # the bytes actually read are bounded too, whatever the archive declares
    small = ArchiveLimits(max_total_bytes=10, max_ratio=10**9)
    result, _ = _acquire(tmp_path / "again", _zip(tmp_path / "big.zip", {"a.bin": b"a" * 100}), limits=small)
    assert "beyond the limit" in _errors(result)[f"{tmp_path / 'big.zip'}!/a.bin"]


def test_nested_archives_are_bounded(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("deep.txt", "deep")
    middle = io.BytesIO()
    with zipfile.ZipFile(middle, "w") as zf:
        zf.writestr("inner.zip", inner.getvalue())
    outer = _zip(tmp_path / "outer.zip", {"middle.zip": middle.getvalue()})
    result, _ = _acquire(tmp_path, outer)
    assert f"{outer}!/middle.zip!/inner.zip!/deep.txt" in {i.source_path for i in result.items}
    result, _ = _acquire(tmp_path / "limited", outer, limits=ArchiveLimits(max_depth=2))
    assert "nested deeper" in _errors(result)[f"{outer}!/middle.zip!/inner.zip"]


def test_member_count_limit(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "many.zip", {f"f{n}.txt": str(n).encode() for n in range(5)})
    result, _ = _acquire(tmp_path, archive, limits=ArchiveLimits(max_members=3))
    assert len([i for i in result.items if "!/" in i.source_path]) == 3
    assert "only the first 3" in _errors(result)[str(archive)]


def test_corrupt_zip_is_recorded_not_raised(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\xff" * 200)
    result, _ = _acquire(tmp_path, bad)
    assert [i.source_path for i in result.items] == [str(bad)]
    assert "cannot be opened" in _errors(result)[str(bad)]


def test_a_zip_without_its_directory_is_read_from_member_headers_within_the_bomb_limits(
    tmp_path: Path,
) -> None:
    """Without the directory no member declares its compressed size: the expansion is watched as it is
    read, and a member past the ratio stops the reading, recorded, with what came before it kept."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", "before the bomb")
        with zf.open("zeros.bin", "w") as member:
            for _ in range(30):
                member.write(bytes(1024 * 1024))
        zf.writestr("b.txt", "after the bomb")
    data = buffer.getvalue()
    bad = tmp_path / "no-directory.zip"
    bad.write_bytes(data[: data.index(b"PK\x01\x02")])
    result, _ = _acquire(tmp_path, bad, limits=ArchiveLimits(max_ratio=10, ratio_floor_bytes=1024))
    assert [i.name for i in result.items] == ["no-directory.zip", "a.txt"]
    errors = _errors(result)
    assert "possible zip bomb" in errors[f"{bad}!/zeros.bin"]
    assert "reading stopped at member zeros.bin" in errors[str(bad)]
    assert [e["severity"] for e in result.errors if e["source_path"] == str(bad)] == ["warning"]


def test_a_member_whose_compressed_data_is_damaged_fails_alone(tmp_path: Path) -> None:
    """zlib's error for damaged deflate data is no OSError: it used to end the whole run."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("damaged.txt", "the same words again and again " * 200)
        zf.writestr("whole.txt", "still readable")
    data = bytearray(buffer.getvalue())
    header = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("damaged.txt").header_offset
    name_length, extra_length = (
        int.from_bytes(data[header + 26 : header + 28], "little"),
        int.from_bytes(data[header + 28 : header + 30], "little"),
    )
    data[header + 30 + name_length + extra_length] = 0x07  # a final deflate block of the reserved type
    archive = tmp_path / "export.zip"
    archive.write_bytes(bytes(data))
    result, _ = _acquire(tmp_path, archive)
    assert [i.name for i in result.items] == ["export.zip", "whole.txt"]
    assert "invalid block type" in _errors(result)[f"{archive}!/damaged.txt"]


def _two_member_zip(name: str, content: bytes, method: int) -> tuple[bytearray, int, int]:
    """A zip of `name` then a small "after.txt"; where `name`'s data begins, and its compressed size."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        zf.writestr(name, content)
        zf.writestr("after.txt", "still readable")
    data = buffer.getvalue()
    return (
        bytearray(data),
        _member_data_offset(data, name),
        zipfile.ZipFile(buffer).getinfo(name).compress_size,
    )


def _member_data_offset(data: bytes, name: str) -> int:
    """Where a member's (compressed) data begins: after its own header, name and extra field."""
    header = zipfile.ZipFile(io.BytesIO(data)).getinfo(name).header_offset
    name_length = int.from_bytes(data[header + 26 : header + 28], "little")
    extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
    return header + 30 + name_length + extra_length


def _words(count: int) -> bytes:
    """Text that compresses as a chat does (not to nothing): numbered lines of varied words."""
    import random

    rng = random.Random(5)
    vocabulary = ["where", "are", "you", "tonight", "answer", "me", "I", "saw", "your", "car", "outside"]
    return "".join(f"{n} {' '.join(rng.choices(vocabulary, k=8))}\n" for n in range(count)).encode()


def test_a_member_damaged_halfway_keeps_its_readable_start(tmp_path: Path) -> None:
    """Damage in the middle of a member's deflate data: everything inflated before it is stored as the
    member, named as damaged, and the next member is read as usual."""
    original = _words(40_000)
    data, begin, size = _two_member_zip("chat.txt", original, zipfile.ZIP_DEFLATED)
    data[begin + size // 2 : begin + size // 2 + 32] = b"\xff" * 32
    archive = tmp_path / "export.zip"
    archive.write_bytes(bytes(data))
    result, store = _acquire(tmp_path, archive)
    assert [i.name for i in result.items] == ["export.zip", "chat.txt", "after.txt"]
    chat = store.path_for(result.items[1].sha256).read_bytes()
    # the start read back is the member's own; it ends near the damage (half-way, less one piece at most)
    assert len(original) // 3 < len(chat) < len(original)
    assert chat[: len(original) // 3] == original[: len(original) // 3]
    warning = _errors(result)[f"{archive}!/chat.txt"]
    assert "member damaged inside the archive" in warning and f"only its first {len(chat)} bytes" in warning
    assert [e["severity"] for e in result.errors] == ["warning"]


def test_a_member_whose_bytes_fail_their_crc_is_kept_whole(tmp_path: Path) -> None:
    """A stored (uncompressed) member with one byte changed reads to its end; only the CRC-32 shows the
    damage. Every byte is kept and the member is named as damaged, with its directory and without."""
    original = _words(5_000)
    data, begin, _ = _two_member_zip("photo-notes.txt", original, zipfile.ZIP_STORED)
    data[begin + 1000] ^= 0x20
    damaged = original[:1000] + bytes([original[1000] ^ 0x20]) + original[1001:]
    whole = bytes(data)
    for layout, content in (("directory", whole), ("no-directory", whole[: whole.index(b"PK\x01\x02")])):
        archive = tmp_path / layout / "export.zip"
        archive.parent.mkdir()
        archive.write_bytes(content)
        result, store = _acquire(tmp_path / layout, archive)
        names = [i.name for i in result.items]
        member = result.items[1]
        assert names[:2] == ["export.zip", "photo-notes.txt"], layout
        assert store.path_for(member.sha256).read_bytes() == damaged, layout
        assert "CRC" in _errors(result)[f"{archive}!/photo-notes.txt"], layout
        # with the directory, the next member is found; without it, nothing after damage is trusted
        assert names[2:] == (["after.txt"] if layout == "directory" else []), layout
