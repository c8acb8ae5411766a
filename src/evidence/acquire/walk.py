"""Acquisition: walk the sources safely, hash and store every file, and plan its extraction.

Folders are walked without following symbolic links; zip archives are read member by member (never
extractall), rejecting links, absolute paths and `..`, and bounding member count, bytes actually read,
compression ratio and nesting. Member and file names are kept as metadata only: the store names files by
hash, so no path is ever built from a name found in the evidence.
"""

from __future__ import annotations

import logging
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from evidence.acquire.archives import ArchiveLimits, looks_like_zip, unsafe_member
from evidence.acquire.found_file import ARCHIVE_FORMAT, FoundFile
from evidence.acquire.store import OriginalsStore, StoredBlob, StoreError, TooLargeError
from evidence.timeutil import DEFAULT_TZ, from_local

log = logging.getLogger(__name__)


@dataclass
class AcquireResult:
    items: list[FoundFile] = field(default_factory=list)
    errors: list[dict[str, str | None]] = field(default_factory=list)

    def error(self, source_path: str, message: str, sha256: str | None = None) -> None:
        log.warning("acquire: %s: %s", source_path, message)
        self.errors.append(
            {
                "source_path": source_path,
                "sha256": sha256,
                "stage": "acquire",
                "error": message,
                "severity": "error",
            }
        )


class Acquirer:
    """Stores every file reachable from the sources and returns one FoundFile per occurrence."""

    def __init__(
        self,
        store: OriginalsStore,
        limits: ArchiveLimits | None = None,
        on_file: Callable[[FoundFile], None] | None = None,
        tz: str = DEFAULT_TZ,
    ) -> None:
        self.store = store
        self.tz = tz
        self.limits = limits or ArchiveLimits()
        self.on_file = on_file or (lambda item: None)
        self.result = AcquireResult()

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
            self.result.error(shown, f"source cannot be read: {exc.strerror or exc}")
            return
        if stat.S_ISLNK(info.st_mode):
            # A link named explicitly on the command line is the user's choice: follow it once.
            try:
                info = source.stat()
            except OSError as exc:
                self.result.error(shown, f"source is a broken symbolic link: {exc.strerror or exc}")
                return
            source = source.resolve()
        if stat.S_ISDIR(info.st_mode):
            group = str(source)
            members = [self._file(path, shown_path, group) for path, shown_path in self._walk(source, shown)]
            self._link_siblings([m for m in members if m])
        elif stat.S_ISREG(info.st_mode):
            item = self._file(source, shown, str(source.parent))
            if item:
                self._link_siblings([item])
        else:
            self.result.error(shown, "not a regular file or folder (device, socket or pipe): not read")

    def _walk(self, root: Path, shown_root: str) -> Iterator[tuple[Path, str]]:
        """Regular files below root, sorted, never following links (which are recorded instead)."""
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            here = Path(dirpath)
            for name in list(dirnames):
                if (here / name).is_symlink():
                    self.result.error(
                        _shown(shown_root, root, here / name), "symbolic link to a folder not followed"
                    )
                    dirnames.remove(name)
            for name in sorted(filenames):
                path = here / name
                shown = _shown(shown_root, root, path)
                try:
                    mode = path.lstat().st_mode
                except OSError as exc:
                    self.result.error(shown, f"cannot be read: {exc.strerror or exc}")
                    continue
                if stat.S_ISLNK(mode):
                    target = os.readlink(path)
                    self.result.error(shown, f"symbolic link not followed (points to {target!r})")
                elif not stat.S_ISREG(mode):
                    self.result.error(shown, "not a regular file (device, socket or pipe): not read")
                else:
                    yield path, shown

    def _file(self, path: Path, shown: str, group: str) -> FoundFile | None:
        try:
            blob = self.store.put_file(path)
            modified = datetime.fromtimestamp(path.lstat().st_mtime, UTC).isoformat()
        except (StoreError, OSError) as exc:
            self.result.error(shown, f"could not be stored: {exc}")
            return None
        item = self._item(blob, shown, path.name, group, modified_at=modified)
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
    ) -> FoundFile:
        item = FoundFile(
            sha256=blob.sha256,
            md5=blob.md5,
            size_bytes=blob.size_bytes,
            source_path=shown,
            name=name,
            is_new=blob.is_new,
            container_sha256=container,
            modified_at=modified_at,
            group=group,
        )
        self.result.items.append(item)
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
            archive.format = None
            self.result.error(
                archive.source_path, f"looks like a zip archive but cannot be opened: {exc}", archive.sha256
            )
            return
        members: list[FoundFile] = []
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
                shown = f"{archive.source_path}!/{info.filename}"
                problem = unsafe_member(info, self.limits)
                if problem:
                    self.result.error(shown, problem, archive.sha256)
                    continue
                budget = min(self.limits.max_member_bytes, self.limits.max_total_bytes - total)
                try:
                    with zf.open(info) as stream:
                        blob = self.store.put_stream(stream, max_bytes=budget)
                except TooLargeError:
                    self.result.error(
                        shown,
                        f"member expands beyond the limit of {budget} bytes: not stored",
                        archive.sha256,
                    )
                    if budget < self.limits.max_member_bytes:
                        self.result.error(
                            archive.source_path,
                            "archive total size limit reached: remaining members not read",
                        )
                        break
                    continue
                except (
                    zipfile.BadZipFile,
                    OSError,
                    RuntimeError,
                    ValueError,
                    NotImplementedError,
                    EOFError,
                ) as exc:
                    self.result.error(shown, f"member cannot be read: {exc}", archive.sha256)
                    continue
                total += blob.size_bytes
                modified = self._zip_time(info.date_time)
                member = self._item(
                    blob,
                    shown,
                    PurePosixPath(info.filename).name,
                    archive.source_path,
                    modified_at=modified,
                    container=archive.sha256,
                )
                members.append(member)
                if looks_like_zip(self.store.path_for(blob.sha256)):
                    self._archive(member, depth + 1)
        self._link_siblings(members)

    def _zip_time(self, value: tuple[int, ...]) -> str | None:
        """Zip entry times are local wall-clock times with no zone: read them in the run's zone."""
        try:
            naive = datetime(*value)
        except (TypeError, ValueError):
            return None
        utc = from_local(naive, self.tz, naive.isoformat(sep=" "), "second").utc
        return utc.isoformat() if utc else None

    def _link_siblings(self, items: list[FoundFile]) -> None:
        """Files of one folder or archive can see each other by name (chat exports refer to their media)."""
        names: dict[str, str] = {}
        for item in items:
            names.setdefault(item.name, item.sha256)
        for item in items:
            item.siblings = names


def _shown(shown_root: str, root: Path, path: Path) -> str:
    return str(Path(shown_root) / path.relative_to(root))
