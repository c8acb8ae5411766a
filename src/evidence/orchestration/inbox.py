"""The inbox watcher: files dropped into CASE_DIR/inbox/ are ingested exactly once per content.

Why it is safe to run often, concurrently with itself and with a manual ingest:

- A file still being written waits: a name ending .part/.partial/.tmp/.crdownload/.download, a modification
  time younger than the settle time, or a size or time that changed while it was hashed.
- Content already in the case (the `files` table, whoever ingested it) is not ingested again; the path is
  written to the custody log once, as a copy of what the case holds.
- Before ingesting, a watcher claims each content: `watch/claims/<sha256>.json`, created with O_EXCL. A
  content claimed by another watcher run is left to it. After claiming, the case is read again, so a
  content another run loaded and released meanwhile is not taken twice. When the run ends (even a failed
  one) its claims are released: each content is recorded as ingested, or left for the next run.
- A claim older than CLAIM_EXPIRY_HOURS belongs to a run that died without releasing it; it is taken over
  (and that is logged).

Inbox files are only read: never moved, changed or deleted. Plain Python, no Airflow: the DAG
`evidence_watch` and the tests call the same functions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence.acquire.custody import CustodyLog
from evidence.acquire.store import hash_file
from evidence.case import DB_NAME, INBOX_NAME, WATCH_NAME, holding_lock_file, write_json
from evidence.errors import IngestError
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.plan import create_case
from evidence.text import escape_path

log = logging.getLogger(__name__)

PARTIAL_SUFFIXES = (".part", ".partial", ".tmp", ".crdownload", ".download")
DEFAULT_SETTLE_SECONDS = 60.0
CLAIM_EXPIRY_HOURS = 24.0
WATCHER = "inbox watcher"


@dataclass
class InboxFile:
    path: str
    sha256: str
    size_bytes: int


@dataclass
class InboxClaim:
    """What one watcher run took from one case's inbox, and the ingest parameters to use."""

    case_dir: str
    watch_id: str
    files: list[InboxFile] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "case_dir": self.case_dir,
            "watch_id": self.watch_id,
            "files": [vars(f) for f in self.files],
            "parameters": self.parameters,
        }

    def ingest_parameters(self, examiner: str | None) -> IngestParameters:
        return IngestParameters(
            sources=[f.path for f in self.files],
            case_dir=self.case_dir,
            examiner=examiner or WATCHER,
            **self.parameters,
        )


def watched_cases(cases_root: str | Path) -> list[Path]:
    """Every folder directly under the cases root that has an inbox/ folder, in name order."""
    root = Path(cases_root).expanduser().absolute()
    if not str(cases_root).strip() or not root.is_dir():
        raise IngestError(
            f"cases root {str(cases_root)!r} is not a folder: set EVIDENCE_CASES_ROOT or cases_root"
        )
    return sorted(
        p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and (p / INBOX_NAME).is_dir()
    )


def watched_case(case_dir: str | Path) -> Path:
    """One case named by an investigator: it must have an inbox/ folder."""
    case = Path(case_dir).expanduser().absolute()
    if not (case / INBOX_NAME).is_dir():
        raise IngestError(
            f"{case} has no {INBOX_NAME}/ folder: create it and drop files there to ingest them"
        )
    return case


def is_partial_name(name: str) -> bool:
    return name.lower().endswith(PARTIAL_SUFFIXES)


def _inbox_files(inbox: Path, not_read: list[tuple[str, str]]) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files below the inbox in path order; links (never followed) and special files go to
    not_read with the reason."""
    for folder, dirs, files in os.walk(inbox, followlinks=False):
        dirs.sort()
        for name in [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            dirs.remove(name)
            not_read.append((os.path.join(folder, name), "symbolic link to a folder: not followed"))
        for name in sorted(files):
            path = Path(folder) / name
            try:
                info = path.lstat()
            except OSError as exc:
                not_read.append((str(path), f"cannot be read (tried again next run): {exc.strerror or exc}"))
                continue
            if stat.S_ISREG(info.st_mode):
                yield path, info
            elif stat.S_ISLNK(info.st_mode):
                not_read.append((str(path), "symbolic link: not followed (copy the file itself)"))
            else:
                not_read.append((str(path), "not a regular file (device, socket or pipe): not read"))


def settled_files(
    case: Path, settle_seconds: float, now: float | None = None, not_read: list[tuple[str, str]] | None = None
) -> list[tuple[Path, os.stat_result]]:
    """Inbox files that look complete: the others wait for a later run (and are logged as waiting)."""
    now = time.time() if now is None else now
    ready = []
    for path, info in _inbox_files(case / INBOX_NAME, [] if not_read is None else not_read):
        if is_partial_name(path.name):
            log.info("waiting for %s: its name says it is still being written", escape_path(str(path)))
        elif now - info.st_mtime < settle_seconds:
            log.info("waiting for %s: changed less than %.0f s ago", escape_path(str(path)), settle_seconds)
        else:
            ready.append((path, info))
    return ready


def _watch_dir(case: Path) -> Path:
    watch = case / WATCH_NAME
    (watch / "claims").mkdir(mode=0o700, parents=True, exist_ok=True)
    return watch


def _read_state(watch: Path) -> dict[str, dict[str, Any]]:
    """path -> what the watcher knows of it (size, time, inode, sha256, whether its fate is logged)."""
    try:
        return json.loads((watch / "seen.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _same_file(known: dict[str, Any] | None, info: os.stat_result) -> bool:
    return bool(known) and (known["size"], known["mtime_ns"], known["ino"]) == (
        info.st_size,
        info.st_mtime_ns,
        info.st_ino,
    )


def _hash_settled(
    files: list[tuple[Path, os.stat_result]],
    state: dict[str, dict[str, Any]],
    not_read: list[tuple[str, str]],
) -> list[InboxFile]:
    """sha256 of each file (from the state when size, time and inode are unchanged); a file that changed
    while it was read waits for a later run; one that cannot be read goes to not_read (and is tried again)."""
    hashed = []
    for path, info in files:
        key = str(path)
        if not _same_file(state.get(key), info):
            try:
                sha256, _md5, _size = hash_file(path)
                after = path.lstat()
            except OSError as exc:
                not_read.append((key, f"cannot be read (tried again next run): {exc.strerror or exc}"))
                continue
            if (after.st_size, after.st_mtime_ns) != (info.st_size, info.st_mtime_ns):
                log.info("waiting for %s: it changed while it was read", escape_path(key))
                continue
            state[key] = {
                "size": info.st_size,
                "mtime_ns": info.st_mtime_ns,
                "ino": info.st_ino,
                "sha256": sha256,
                "logged": None,
            }
        hashed.append(InboxFile(key, state[key]["sha256"], info.st_size))
    return hashed


def case_contents(case: Path, shas: set[str]) -> tuple[set[str], dict[str, Any]]:
    """Which of these contents the case holds, and the parameters of its latest run (time zone, phone
    region, owners, OCR language: an inbox file is read like the case's other evidence)."""
    if not shas or not (case / DB_NAME).exists():
        return set(), {}
    from evidence.db import open_case

    with open_case(case, write=False) as con:
        if not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'files'").fetchone()[0]:
            return set(), {}
        held = {
            sha
            for (sha,) in con.execute(
                "SELECT sha256 FROM files WHERE list_contains(?, sha256)", [sorted(shas)]
            ).fetchall()
        }
        row = con.execute(
            "SELECT parameters FROM ingest_runs WHERE status = 'done' ORDER BY started_at DESC, run_id DESC LIMIT 1"
        ).fetchone()
    previous = json.loads(row[0]) if row and row[0] else {}
    keep = ("tz", "region", "owners", "ocr_lang")
    return held, {k: previous[k] for k in keep if previous.get(k) not in (None, "")}


def _claim_path(watch: Path, sha256: str) -> Path:
    return watch / "claims" / f"{sha256}.json"


def _take(watch: Path, file: InboxFile, watch_id: str, custody: CustodyLog) -> bool:
    """Create the claim for this content with O_EXCL; False when another live run holds it."""
    path = _claim_path(watch, file.sha256)
    record = json.dumps(
        {"watch_id": watch_id, "sha256": file.sha256, "path": file.path, "claimed_at": time.time()}
    ).encode()
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            holder = _read_claim(path)
            if holder.get("watch_id") == watch_id:
                return True  # this run's own claim (a retried task)
            age_hours = (time.time() - float(holder.get("claimed_at", 0))) / 3600
            if age_hours < CLAIM_EXPIRY_HOURS:
                log.info("%s is being ingested by %s", escape_path(file.path), holder.get("watch_id"))
                return False
            custody.append(
                "inbox_claim_expired",
                sha256=file.sha256,
                source_path=escape_path(file.path),
                watch_id=holder.get("watch_id"),
                taken_by=watch_id,
                age_hours=round(age_hours, 1),
            )
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(record)
            handle.flush()
            os.fsync(handle.fileno())
        return True
    return False


def _read_claim(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # half-written by a run that died: old enough once its time is unknown


def claim_inbox(
    case_dir: str | Path,
    watch_id: str,
    examiner: str | None = None,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    now: float | None = None,
) -> InboxClaim | None:
    """Claim the inbox files of a case that are complete and whose content the case does not hold yet.

    None when there is nothing to ingest. Every path whose content is already in the case, or is the
    same content as another path claimed now, is written to the custody log once.
    """
    case = watched_case(case_dir)
    not_read: list[tuple[str, str]] = []
    ready = settled_files(case, settle_seconds, now, not_read)
    if not ready and not not_read:
        return None
    create_case(case)
    watch = _watch_dir(case)
    custody = CustodyLog(case / "custody.log", examiner or WATCHER)
    with holding_lock_file(watch / ".lock"):  # one watcher at a time per case
        state = _read_state(watch)
        files = _hash_settled(ready, state, not_read)
        held, parameters = case_contents(case, {f.sha256 for f in files})
        notes: list[tuple[str, dict[str, Any]]] = []
        for path, reason in not_read:
            if state.get(path, {}).get("logged") != reason:
                notes.append(
                    (
                        "inbox_entry_not_read",
                        {"watch_id": watch_id, "source_path": escape_path(path), "reason": reason},
                    )
                )
                state[path] = {"size": None, "mtime_ns": None, "ino": None, "sha256": None, "logged": reason}
        claimed: dict[str, InboxFile] = {}
        for file in files:
            seen = state[file.path]
            if file.sha256 in held:
                if seen.get("logged") != file.sha256:
                    notes.append(("inbox_file_already_in_case", _details(file, watch_id)))
                    seen["logged"] = file.sha256
            elif file.sha256 in claimed:
                if seen.get("logged") != file.sha256:
                    first = claimed[file.sha256].path
                    notes.append(
                        ("inbox_file_same_as", {**_details(file, watch_id), "same_as": escape_path(first)})
                    )
                    seen["logged"] = file.sha256
            elif _take(watch, file, watch_id, custody):
                claimed[file.sha256] = file
        # A run that loaded and released a content after the first look: its rows are in the case now.
        loaded_meanwhile, _ = case_contents(case, set(claimed))
        for sha in loaded_meanwhile:
            file = claimed.pop(sha)
            _claim_path(watch, sha).unlink()
            notes.append(("inbox_file_already_in_case", _details(file, watch_id)))
            state[file.path]["logged"] = sha
        notes.extend(("inbox_file_claimed", _details(f, watch_id)) for f in claimed.values())
        custody.append_many(notes)
        write_json(watch / "seen.json", state)
    if not claimed:
        return None
    return InboxClaim(str(case), watch_id, sorted(claimed.values(), key=lambda f: f.path), parameters)


def _details(file: InboxFile, watch_id: str) -> dict[str, Any]:
    return {
        "watch_id": watch_id,
        "source_path": escape_path(file.path),
        "sha256": file.sha256,
        "size_bytes": file.size_bytes,
    }


def release_claims(
    case_dir: str | Path, watch_id: str, ingest_run_id: str | None = None, examiner: str | None = None
) -> dict[str, int]:
    """End a watcher run in one case: each of its claims is recorded as ingested (its content is in the
    case now) or as released for the next run, then removed. Safe to call twice."""
    case = Path(case_dir)
    watch = case / WATCH_NAME
    if not (watch / "claims").is_dir():
        return {"ingested": 0, "released": 0}
    with holding_lock_file(watch / ".lock"):  # one watcher at a time per case
        mine = [
            (path, claim)
            for path in sorted((watch / "claims").glob("*.json"))
            if (claim := _read_claim(path)).get("watch_id") == watch_id
        ]
        if not mine:
            return {"ingested": 0, "released": 0}
        held, _ = case_contents(case, {claim["sha256"] for _, claim in mine})
        state = _read_state(watch)
        notes = []
        for _path, claim in mine:
            details = {
                "watch_id": watch_id,
                "source_path": escape_path(claim["path"]),
                "sha256": claim["sha256"],
                "run_id": ingest_run_id,
            }
            if claim["sha256"] in held:
                notes.append(("inbox_file_ingested", details))
                if claim["path"] in state:
                    state[claim["path"]]["logged"] = claim["sha256"]
            else:
                notes.append(
                    ("inbox_claim_released", {**details, "reason": "not loaded: tried again next run"})
                )
        CustodyLog(case / "custody.log", examiner or WATCHER).append_many(notes)
        write_json(watch / "seen.json", state)
        for path, _claim in mine:
            path.unlink()
    ingested = sum(1 for action, _ in notes if action == "inbox_file_ingested")
    return {"ingested": ingested, "released": len(notes) - ingested}


def acquire_inbox(
    case_dir: str | Path,
    watch_id: str,
    examiner: str | None = None,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
    run_id: str | None = None,
) -> dict[str, Any] | None:
    """Claim a case's new inbox files and acquire them (plan_run): the plan to extract and load, or None.

    If acquisition fails, the claims are released at once, so the next run tries those files again. A
    retried task (same watch_id and run_id) takes its own claims again and finds its finished plan.
    """
    from evidence.pipeline.plan import plan_run

    claim = claim_inbox(case_dir, watch_id, examiner, settle_seconds)
    if claim is None:
        return None
    try:
        plan = plan_run(claim.ingest_parameters(examiner), run_id=run_id)
    except BaseException:
        release_claims(claim.case_dir, watch_id, None, examiner)
        raise
    return {
        "case_dir": plan.case_dir,
        "ingest_run_id": plan.run_id,
        "batch_files": plan.batch_files,
        "watch_id": watch_id,
        "files": [vars(f) for f in claim.files],
    }


def watch_case_once(
    case_dir: str | Path,
    watch_id: str,
    examiner: str | None = None,
    settle_seconds: float = DEFAULT_SETTLE_SECONDS,
) -> dict[str, Any] | None:
    """One watcher pass over one case in this process (tests, a command line): claim, ingest, release.

    Returns the run summary, or None when the inbox held nothing new.
    """
    from evidence.pipeline.run import ingest

    claim = claim_inbox(case_dir, watch_id, examiner, settle_seconds)
    if claim is None:
        return None
    run_id = None
    try:
        summary = ingest(claim.ingest_parameters(examiner))
        run_id = summary["run_id"]
    finally:
        release_claims(claim.case_dir, watch_id, run_id, examiner)
    return summary
