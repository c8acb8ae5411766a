"""Loading messages while a run is still being extracted (in-process runs: the CLI and tests).

ParsedRows (Python and Arrow) and DuckDB's insert into `messages` (compressing and writing) each keep
about one core busy, one after the other. An EarlyLoader opens the case database as the single writer
when extraction starts and inserts each `messages` (and `message_identifiers`) Parquet part on a second
thread as soon as it is written, so on two cores the two overlap (docs/decisions.md has the measurements and what was tried).

It is speculative and never changes what ends up in the case: it works inside the load's one transaction
and loads only what load_run would load. If a part it loaded is not among the parts finally staged (its
file failed later and its rows were discarded), a part cannot be hard-linked (a file system without
hard links), or any insert fails (a locked case, a full disk), it rolls back and the run is loaded from staging as usual. The Airflow DAG does not use it:
its load task starts after every extraction task has finished.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Tables whose parts are inserted as they are written: the two large ones of a chat export (the links of
# 200,000 messages took a tenth of a second of the load after extraction).
EARLY_TABLES = ("messages", "message_identifiers")

# DuckDB's memory limits in an early-loaded run, where the extraction's own memory (imports, parser,
# Arrow) sits beside DuckDB's in one process. While parts are inserted beside extraction: the rows a
# transaction appends stay in memory, uncompressed, until a whole row group (122,880 rows) is written
# out, about 190 MB of mail at the connection's usual limit; beyond this one DuckDB writes them to its
# temporary folder instead (32 MB was too little for the 40,000-row parts of a WhatsApp export: the
# early load ran out of memory and the run fell back to loading from staging). The same limit holds
# for the rest of the load and the link steps (measured on a 150,000-mail mailbox and on five
# 200,000-message exports loaded into one case). A limit set in EVIDENCE_DUCKDB_MEMORY is kept for
# the load instead.
EARLY_LOAD_MEMORY = "64MB"
LOAD_MEMORY = "64MB"


@dataclass(frozen=True)
class EarlyLoad:
    """An open transaction with some messages parts inserted, for load_run to finish."""

    con: Any
    parts: frozenset[str]  # final staged paths of the parts already inserted (EARLY_TABLES)
    before: int  # messages in the case before this run
    close: Callable[[], None]  # releases the connection and the case lock

    @contextlib.contextmanager
    def connection(self) -> Iterator[Any]:
        """The writer connection, released on leaving (like db.open_case)."""
        try:
            yield self.con
        finally:
            self.close()


class EarlyLoader:
    """Inserts messages and links parts on a background thread as extraction writes them."""

    def __init__(self, case: Path, staging: Path) -> None:
        self.case = case
        self.run_id = staging.name
        # Parts are moved when a batch is finished; the loader reads its own hard links to them.
        self.links = staging / "early-load"
        self.links.mkdir(mode=0o700, exist_ok=True)
        self.queue: queue.SimpleQueue[tuple[str, Path, Path] | None] = queue.SimpleQueue()
        self.loaded: list[Path] = []  # parts as written, in insert order
        self.numbers = itertools.count()
        self.error: BaseException | None = None
        self.stack = contextlib.ExitStack()
        self.con: Any = None
        self.before = 0
        self.thread = threading.Thread(target=self._work, name="evidence-early-load", daemon=True)
        self.thread.start()

    def on_part(self, table: str, path: Path) -> None:
        """ParsedRows.on_part: queue a part of EARLY_TABLES (called on the extracting thread)."""
        if table not in EARLY_TABLES or self.error is not None:
            return
        link = self.links / f"{next(self.numbers):05d}.parquet"
        try:
            os.link(path, link)
        except OSError as exc:
            # No hard links here (exFAT, some network shares) or no room: only the early load is given
            # up (finish() then returns None and the run loads from staging); the file is not to blame.
            self.error = exc
            return
        self.queue.put((table, path, link))

    def _work(self) -> None:
        from evidence.db import open_case
        from evidence.pipeline.staging import load_parts

        try:
            self.con = self.stack.enter_context(open_case(self.case, write=True))
            self.con.execute("BEGIN TRANSACTION")
            self.before = self.con.execute("SELECT count(*) FROM messages").fetchall()[0][0]
            # One DuckDB thread while extraction runs: a second one mostly competed with extraction for
            # the cores, and several appends made from one thread cost less to commit.
            self.con.execute("SET threads = 1")
            self.con.execute(f"SET memory_limit = '{EARLY_LOAD_MEMORY}'")
            while (item := self.queue.get()) is not None:
                table, path, link = item
                load_parts(self.con, table, [str(link)], self.run_id)  # only keys not already in the case
                link.unlink()
                self.loaded.append(path)
        except BaseException as exc:  # any failure means: load from staging instead
            self.error = exc
            while self.queue.get() is not None:  # let finish() find the thread ending
                pass

    def finish(self, moved: dict[Path, Path]) -> EarlyLoad | None:
        """Wait for the queued parts; the open transaction if everything loaded is still staged.

        moved: where each written part ended up (from write_extraction). None means nothing was kept
        and the caller loads from staging with a connection of its own.
        """
        self.queue.put(None)
        self.thread.join()
        missing = [str(path) for path in self.loaded if path not in moved]
        if self.error is None and not missing:
            from evidence.db import MEMORY_ENV, connection_config

            self.con.execute("RESET threads")
            limit = connection_config()["memory_limit"] if os.environ.get(MEMORY_ENV) else LOAD_MEMORY
            self.con.execute(f"SET memory_limit = '{limit}'")
            parts = frozenset(str(moved[path]) for path in self.loaded)
            return EarlyLoad(self.con, parts, self.before, self.close)
        if self.error is not None:
            log.info("early load abandoned, loading from staging: %s", self.error)
        else:
            log.info("early load abandoned, a file's parts were discarded: %s", ", ".join(missing))
        self.abandon()
        return None

    def abandon(self) -> None:
        """Roll back whatever was inserted and release the case (also when extraction failed)."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.con is not None:
            with contextlib.suppress(Exception):
                self.con.execute("ROLLBACK")
        self.close()

    def close(self) -> None:
        """Release the connection, the case lock and any hard links left."""
        self.stack.close()
        self.con = None
        for link in self.links.glob("*"):
            link.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.links.rmdir()
