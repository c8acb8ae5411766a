"""Acquisition: walk the sources safely, hash and store every file, and plan its extraction.

Folders are walked without following symbolic links, with an explicit stack (Python's os.walk recurses,
and a folder nested thousands of levels deep would end the run), to at most MAX_FOLDER_DEPTH levels below
a source; zip archives are read member by member (never extractall), rejecting links, absolute paths and
`..`, and bounding member count, bytes actually read, compression ratio and nesting (a zip whose
directory is lost, cut short, is read from its members' own headers up to the cut). The case folder is
never read, even when it lies inside a source (only its inbox/ is: files dropped there wait to be ingested). Member and file names are kept as metadata only (escaped
text, see evidence.text): the store names files by hash, so no path is ever built from a name found in
the evidence.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import lzma
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from evidence.acquire.archives import (
    ArchiveLimits,
    ReadableStart,
    damaged_member_note,
    looks_like_zip,
    members_from_headers,
    open_unchecked,
    starts_with_member,
    unsafe_member,
    unzip_reason,
)
from evidence.acquire.found_file import ARCHIVE_FORMAT, AcquireResult, FoundFile
from evidence.acquire.store import OriginalsStore, StoredBlob, StoreError, TooLargeError
from evidence.case import INBOX_NAME, is_case_folder
from evidence.errors import DiskFullError, is_disk_full
from evidence.text import escape_path, path_hex
from evidence.timeutil import DEFAULT_TZ, from_local

log = logging.getLogger(__name__)

# Folders deeper than this below a source are not read (recorded instead). Real exports nest a few
# levels (Takeout and iPhone backups about ten); a deeper tree is more likely hostile or a loop of copies.
MAX_FOLDER_DEPTH = 64

# What reading one zip member may raise when its bytes are damaged. zlib's and lzma's errors are no
# OSErrors: one member's damaged deflate data used to end the whole run.
MEMBER_READ_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    RuntimeError,
    ValueError,
    NotImplementedError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
)

CASE_FOLDER_ITSELF = "the case folder itself: not read"
OTHER_CASE_FOLDER = (
    "another case's folder (it holds evidence.duckdb, custody.log and originals/): not read, so that no "
    "case's evidence is mixed into another's; ingest its sources into this case if they belong here"
)
INSIDE_CASE_FOLDER = "inside the case folder: not read (the case folder holds what this tool writes)"


def _modified_at(mtime: float) -> str | None:
    """A file's modification time in UTC; None for one outside the years 1-9999, which tmpfs, btrfs and
    XFS can hold (and tar can set) but Python's datetime cannot: the file is read all the same."""
    try:
        return datetime.fromtimestamp(mtime, UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def _reason(exc: BaseException) -> str:
    """An OS error in words; a path too long for the system says so (the path itself is shown apart)."""
    cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
    if isinstance(cause, OSError) and cause.errno == errno.ENAMETOOLONG:
        return "the path is longer than this system allows"
    if isinstance(cause, OSError):
        return cause.strerror or str(cause)
    return str(exc)


class Acquirer:
    """Stores every file reachable from the sources and returns one FoundFile per occurrence."""

    def __init__(
        self,
        store: OriginalsStore,
        limits: ArchiveLimits | None = None,
        on_file: Callable[[FoundFile], None] | None = None,
        tz: str = DEFAULT_TZ,
        *,
        case_dir: Path | None = None,
        max_folder_depth: int = MAX_FOLDER_DEPTH,
    ) -> None:
        self.store = store
        self.tz = tz
        self.limits = limits or ArchiveLimits()
        self.on_file = on_file or (lambda item: None)
        self.max_folder_depth = max_folder_depth
        self.result = AcquireResult()
        self.case_dir: Path | None = None
        self.case_id: tuple[int, int] | None = None
        if case_dir is not None:
            try:
                info = os.stat(case_dir)
                self.case_dir, self.case_id = Path(os.path.realpath(case_dir)), (info.st_dev, info.st_ino)
            except OSError:
                pass  # a case folder that does not exist yet cannot be inside a source

    def acquire(self, sources: list[Path]) -> AcquireResult:
        for source in sources:
            self._source(Path(source))
        return self.result

    # --- sources ---------------------------------------------------------------------------
    def _source(self, source: Path) -> None:
        shown = str(source)
        try:
            info = source.lstat()
        except OSError as exc:
            self.result.error(shown, f"source cannot be read: {_reason(exc)}")
            return
        if stat.S_ISLNK(info.st_mode):
            # A link named explicitly on the command line is the user's choice: follow it once.
            try:
                info = source.stat()
            except OSError as exc:
                self.result.error(shown, f"source is a broken symbolic link: {_reason(exc)}")
                return
            source = source.resolve()
        if self._is_case(info):
            self.result.error(shown, CASE_FOLDER_ITSELF)
            return
        if stat.S_ISDIR(info.st_mode) and is_case_folder(str(source)):
            self.result.error(shown, OTHER_CASE_FOLDER)
            return
        if self._inside_case(Path(os.path.realpath(source))):
            self.result.error(shown, INSIDE_CASE_FOLDER)
            return
        if stat.S_ISDIR(info.st_mode):
            group = escape_path(shown)
            self.result.siblings.add_folder(group, None)
            for path, shown_path, name, folder in self._walk(str(source), shown):
                self._file(Path(path), shown_path, name, folder)
        elif stat.S_ISREG(info.st_mode):
            folder = escape_path(str(Path(shown).parent))
            self._file(source, shown, source.name, folder)
        else:
            self.result.error(shown, "not a regular file or folder (device, socket or pipe): not read")

    def _inside_case(self, real: Path) -> bool:
        """Inside the case folder, except its inbox/ (files dropped there for the inbox watcher)."""
        if self.case_dir is None or not real.is_relative_to(self.case_dir):
            return False
        return not real.is_relative_to(self.case_dir / INBOX_NAME)

    def _is_case(self, info: os.stat_result) -> bool:
        """This run's own case folder (same device and inode, whatever the path says)."""
        return self.case_id is not None and (info.st_dev, info.st_ino) == self.case_id

    def _walk(self, root: str, shown_root: str) -> Iterator[tuple[str, str, str, str]]:
        """(path, shown path, name, folder) of regular files below root: sorted, depth first, files of a
        folder before its subfolders, never following links (which are recorded instead)."""
        stack: list[tuple[str, str, int]] = [(root, shown_root, 0)]
        while stack:
            folder, shown_folder, depth = stack.pop()
            group = escape_path(shown_folder)
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                self.result.error(shown_folder, f"folder cannot be read: {_reason(exc)}")
                continue
            subfolders: list[tuple[str, str]] = []
            for entry in entries:
                shown = os.path.join(shown_folder, entry.name)
                try:
                    if entry.is_symlink():
                        self._link(entry, shown)
                    elif entry.is_dir(follow_symlinks=False):
                        if self._is_case(entry.stat(follow_symlinks=False)):
                            self.result.error(shown, CASE_FOLDER_ITSELF)
                        elif is_case_folder(entry.path):
                            self.result.error(shown, OTHER_CASE_FOLDER)
                        elif depth >= self.max_folder_depth:
                            self.result.error(
                                shown,
                                f"folder nested more than {self.max_folder_depth} levels below the source: "
                                "not read",
                            )
                        else:
                            subfolders.append((entry.path, shown))
                    elif entry.is_file(follow_symlinks=False):
                        yield entry.path, shown, entry.name, group
                    else:
                        self.result.error(shown, "not a regular file (device, socket or pipe): not read")
                except OSError as exc:
                    self.result.error(shown, f"cannot be read: {_reason(exc)}")
            for path, shown in reversed(subfolders):
                self.result.siblings.add_folder(escape_path(shown), group)
                stack.append((path, shown, depth + 1))

    def _link(self, entry: os.DirEntry[str], shown: str) -> None:
        if entry.is_dir():  # follows the link only to say what it points to
            self.result.error(shown, "symbolic link to a folder not followed")
            return
        target = os.readlink(entry.path)
        self.result.error(shown, f"symbolic link not followed (points to {escape_path(target)!r})")

    def _file(self, path: Path, shown: str, name: str, folder: str) -> FoundFile | None:
        try:
            blob = self.store.put_file(path)
            mtime = path.lstat().st_mtime
            modified = _modified_at(mtime)
        except (StoreError, OSError) as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"the disk holding the case is full: {escape_path(shown)} could not be stored"
                ) from exc
            self.result.error(shown, f"could not be stored: {_reason(exc)}")
            return None
        if modified is None:
            self.result.warning(
                shown,
                f"its modification time ({mtime:.0f} seconds from 1970) is outside the years 1-9999 and was not "
                "recorded; the file was read as usual",
                blob.sha256,
            )
        item = self._item(blob, shown, name, folder, modified_at=modified, source_path_hex=path_hex(shown))
        if looks_like_zip(self.store.path_for(blob.sha256)):
            self._archive(item, depth=1)
        return item

    def _item(
        self,
        blob: StoredBlob,
        shown: str,
        name: str,
        group: str,
        *,
        modified_at: str | None,
        container: str | None = None,
        source_path_hex: str | None = None,
        damaged_in_archive: bool = False,
    ) -> FoundFile:
        item = FoundFile(
            sha256=blob.sha256,
            md5=blob.md5,
            size_bytes=blob.size_bytes,
            source_path=escape_path(shown),
            source_path_hex=source_path_hex,
            name=escape_path(name),
            is_new=blob.is_new,
            container_sha256=container,
            modified_at=modified_at,
            group=group,
            damaged_in_archive=damaged_in_archive,
        )
        self.result.items.append(item)
        self.result.siblings.add_file(group, item.name, item.sha256)
        self.on_file(item)
        return item

    # --- archives --------------------------------------------------------------------------
    def _archive(self, archive: FoundFile, depth: int) -> None:
        """Store each member of a zip as its own original; the archive's item is marked as expanded."""
        archive.format = ARCHIVE_FORMAT
        if depth > self.limits.max_depth:
            archive.skip_reason = (
                f"archive nested deeper than {self.limits.max_depth} levels: members not read"
            )
            self.result.error(archive.source_path, archive.skip_reason, archive.sha256)
            return
        path = self.store.path_for(archive.sha256)
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            if starts_with_member(path):
                self._archive_without_directory(archive, depth, path, exc)
                return
            archive.format = None
            self.result.error(
                archive.source_path, f"looks like a zip archive but cannot be opened: {exc}", archive.sha256
            )
            return
        root = f"{archive.source_path}!"
        self.result.siblings.add_folder(root, None)
        total = 0
        with zf:
            infos = zf.infolist()
            if len(infos) > self.limits.max_members:
                self.result.error(
                    archive.source_path,
                    f"archive has {len(infos)} entries; only the first {self.limits.max_members} are read",
                    archive.sha256,
                )
                infos = infos[: self.limits.max_members]
            for info in infos:
                if info.is_dir():
                    continue
                stored = self._member(
                    archive,
                    root,
                    depth,
                    info,
                    lambda i=info: open_unchecked(zf, i),
                    total,
                    self._zip_time(info.date_time),
                    info.CRC,
                )
                if stored is None:
                    break
                total += stored

    def _archive_without_directory(self, archive: FoundFile, depth: int, path: Path, exc: Exception) -> None:
        """A zip whose central directory cannot be read (cut short, damaged at its end): its members are
        read from their own headers, in order, until one cannot be read. When not even the first can be,
        the archive cannot be opened, as before."""
        from stream_unzip import UnzipError

        root = f"{archive.source_path}!"
        self.result.siblings.add_folder(root, None)
        items_before = len(self.result.items)
        total = count = 0
        reading = "the first member"
        inside_member = False  # whether reading stopped inside a member's data or between members
        start_kept = False  # whether the member where reading stopped had its readable start stored
        stopped = ""
        try:
            for info, stream in members_from_headers(path, self.limits):
                reading, inside_member = f"member {escape_path(info.filename)}", True
                count += 1
                if count > self.limits.max_members:
                    stopped = f"; only the first {self.limits.max_members} entries were read"
                    break
                stored = (
                    0
                    if info.is_dir()
                    else self._member(
                        archive, root, depth, info, lambda s=stream: contextlib.nullcontext(s), total, None
                    )
                )
                if stream.failed is not None:
                    start_kept = bool(stored)
                    raise stream.failed
                if stored is None:
                    break  # the archive's total size limit, recorded by _member
                if not stream.drain(self.limits.max_member_bytes):
                    stopped = f"; {reading} expands beyond {self.limits.max_member_bytes} bytes: it and the rest were not read"
                    break
                total += stored
                reading, inside_member = f"what follows member {escape_path(info.filename)}", False
        except (UnzipError, ValueError, OSError, EOFError) as failure:
            if is_disk_full(failure):
                raise
            if not inside_member:
                lost = "any members there were"
            elif start_kept:
                lost = "what could be read of it was kept; any members after it were"
            else:
                lost = "it and any members after it were"
            stopped = f"; reading stopped at {reading} ({unzip_reason(failure)}): {lost} not read"
        if len(self.result.items) == items_before and stopped:
            archive.format = None
            self.result.error(
                archive.source_path,
                f"looks like a zip archive but cannot be opened: {exc}; no member could be read from its own "
                f"header either{stopped}",
                archive.sha256,
            )
            return
        self.result.warning(
            archive.source_path,
            f"the zip archive's directory cannot be read ({exc}): its members were read from their own headers, "
            f"in order, without their modification times{stopped or '; every member was read'}",
            archive.sha256,
        )

    def _member(
        self,
        archive: FoundFile,
        root: str,
        depth: int,
        info: zipfile.ZipInfo,
        open_member: Callable[[], ContextManager[BinaryIO]],
        total: int,
        modified: str | None,
        expected_crc: int | None = None,
    ) -> int | None:
        """Store one member: the bytes stored (0 when it was not), or None when the archive's total size
        limit is reached and no further member may be read. A member damaged inside keeps its readable
        start (ReadableStart), stored and read as the member, with a warning that says what was lost."""
        shown = f"{archive.source_path}!/{info.filename}"
        problem = unsafe_member(info, self.limits)
        if not problem and len(PurePosixPath(info.filename).parts) > self.max_folder_depth + 1:
            problem = f"member nested more than {self.max_folder_depth} folders deep: not read"
        if problem:
            self.result.error(shown, problem, archive.sha256)
            return 0
        budget = min(self.limits.max_member_bytes, self.limits.max_total_bytes - total)
        try:
            with open_member() as stream:
                readable = ReadableStart(stream, expected_crc)
                blob = self.store.put_stream(readable, max_bytes=budget)
        except TooLargeError:
            self.result.error(
                shown, f"member expands beyond the limit of {budget} bytes: not stored", archive.sha256
            )
            if budget < self.limits.max_member_bytes:
                self.result.error(
                    archive.source_path, "archive total size limit reached: remaining members not read"
                )
                return None
            return 0
        except MEMBER_READ_ERRORS as exc:
            if is_disk_full(exc):
                raise DiskFullError(
                    f"the disk holding the case is full: {escape_path(shown)} could not be stored"
                ) from exc
            self.result.error(shown, f"member cannot be read: {unzip_reason(exc)}", archive.sha256)
            return 0
        if readable.damage is not None:
            self.result.warning(shown, damaged_member_note(readable), blob.sha256)
        member_path = PurePosixPath(info.filename)
        member = self._item(
            blob,
            shown,
            member_path.name,
            self._member_folder(root, member_path.parent),
            modified_at=modified,
            container=archive.sha256,
            source_path_hex=(
                archive.source_path_hex + f"!/{info.filename}".encode().hex()
                if archive.source_path_hex
                else None
            ),
            damaged_in_archive=readable.damage is not None,
        )
        if looks_like_zip(self.store.path_for(blob.sha256)):
            self._archive(member, depth + 1)
        return blob.size_bytes

    def _member_folder(self, root: str, folder: PurePosixPath) -> str:
        """Sibling folder of an archive member (`archive!/dir/sub`), with the folders above it recorded."""
        parent = root
        for part in folder.parts:
            if part in (".", ""):
                continue
            key = f"{parent}/{part}"
            self.result.siblings.add_folder(key, parent)
            parent = key
        return parent

    def _zip_time(self, value: tuple[int, ...]) -> str | None:
        """Zip entry times are local wall-clock times with no zone: read them in the run's zone."""
        try:
            naive = datetime(*value)
        except (TypeError, ValueError):
            return None
        utc = from_local(naive, self.tz, naive.isoformat(sep=" "), "second").utc
        return utc.isoformat() if utc else None
