"""Rows a parser produced for the staging tables of one file or batch, spilled to Parquet parts as they grow.

Only the loader writes the database; parsers write rows here, keyed by the column names of schemas/*.sql.
A file's rows are turned into their staging form (Arrow, with the schema's types) while that file is
still the one being extracted, by spilling or by `seal`: a row that cannot be staged then fails its own
file, never the batch it would have been written with.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from evidence.parsers.enrich import Enriched

SPILL_ROWS = 5_000
# `messages` rows spill sooner: a mail's row is a dict of some twenty values (about 3 KB with its body),
# and it is held three times over while it becomes Arrow and gets its per-message columns. 20,000 mails
# took about 65 MB as dicts and a further 70 MB while being enriched; 2,000 take a tenth of that.
SPILL_MESSAGES = 2_000
# ... or once a table's rows hold this much message text: long emails would otherwise sit in memory
# as dicts, then as Arrow, then as the copies per-message work makes of their bodies.
SPILL_TEXT_BYTES = 8 * 1024 * 1024


# Message text longer than this is cut (flag `body_truncated`, one warning for the file): a 50 MB line is
# no chat message, and the single loader would need several copies of it within its memory limit. The
# whole text stays in the stored original, at the row's locator.
MAX_BODY_CHARS = 1_000_000

NEVER_SPILLED = ("run_files", "ingest_errors")  # small, and read back when a file fails

# Columns holding a different value in (nearly) every row: written to Parquet parts without a dictionary.
# Trying one for them (it is given up at 1 MB) took about half the time of writing a messages part.
DISTINCT_PER_ROW = {
    "messages": frozenset(
        {
            "message_id",
            "body",
            "match_text",
            "source_locator",
            "sent_at_local",
            "sent_at_utc",
            "dedup_key",
            "source_key",
            "external_id",
            "subject",
        }
    ),
    "message_identifiers": frozenset({"message_id"}),
    "attachments": frozenset({"message_id", "locator"}),
}


@dataclass
class ParsedRows:
    """Rows for the staging tables of one file or batch.

    With a spill folder, a table that reaches SPILL_ROWS rows (messages: SPILL_MESSAGES, or
    SPILL_TEXT_BYTES of body text) is written out as a Parquet part at once,
    so a 200,000-message export never sits in memory as Python dicts. Without one (tests, tools) every
    row stays in `rows`.

    With `enrich` (a file's rows, during extraction), every `messages` row gets its per-message columns
    and mentioned identifiers (parsers/enrich.py) when it becomes Arrow: at a spill, in add_table, or when
    the file is sealed.
    """

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    spill_dir: Path | None = None
    spilled: dict[str, list[Path]] = field(default_factory=lambda: defaultdict(list))
    # Told of each Parquet part as soon as it is written (an in-process run loads parts early); the part
    # may still be discarded if its file fails later.
    on_part: Callable[[str, Path], None] | None = None
    # With a spill folder: Arrow tables of finished (sealed) files, written out as parts by the batch.
    sealed: dict[str, list[pa.Table]] = field(default_factory=lambda: defaultdict(list))
    # Rows whose text had to be repaired on the way to staging (lone surrogates; see db.build_table).
    repaired: int = 0
    # Message bodies cut to MAX_BODY_CHARS on the way to staging.
    truncated: int = 0
    zeroed: int = 0  # messages flagged ZEROED
    # Flags every message of this file gets (what is known of the file itself: FROM_DAMAGED_MEMBER).
    file_flags: tuple[str, ...] = ()
    enrich: Callable[..., Enriched] | None = None
    # Some sealed messages wait for their phrase lists to be matched when their part is written.
    phrases_deferred: bool = False
    _text_bytes: int = 0  # body text of the messages rows held in memory

    def add(self, table: str, row: dict[str, Any]) -> None:
        rows = self.rows[table]
        rows.append(row)
        if self.spill_dir is None or table in NEVER_SPILLED:
            return
        if table == "messages":
            self._text_bytes += len(row.get("body") or "")
        if len(rows) >= SPILL_ROWS or (
            table == "messages" and (len(rows) >= SPILL_MESSAGES or self._text_bytes >= SPILL_TEXT_BYTES)
        ):
            self.spill(table)

    def spill(self, table: str) -> None:
        """Write the table's rows held in memory as one more Parquet part."""
        rows, self.rows[table] = self.rows[table], []
        if table == "messages":
            self._text_bytes = 0
        if rows:
            self._write(table, self._build(table, rows))

    def seal(self) -> None:
        """Turn a finished file's rows into staging form now; raises if one cannot be staged.

        Called by the extractor while the file is still the one to blame. Messages get their per-message
        columns first (which may add mentioned identifiers). With a spill folder the Arrow tables are
        kept (and the dicts dropped) for the batch to write; without one the rows stay as dicts for
        in-memory readers, checked and repaired the same way.
        """
        messages = self.rows.get("messages")
        if messages and self.enrich is not None:
            self.rows["messages"] = []
            enriched = self._enriched(self._build("messages", messages), sealing=True)
            if self.spill_dir is not None:
                self.sealed["messages"].append(enriched)
            else:
                self.rows["messages"] = enriched.to_pylist()
        for table, rows in list(self.rows.items()):
            if not rows or (table == "messages" and self.enrich is not None):
                continue
            arrow_table = self._build(table, rows)
            if self.spill_dir is not None and table not in NEVER_SPILLED:
                self.sealed[table].append(arrow_table)
                self.rows[table] = []

    def flush(self) -> None:
        """Write every sealed table out as a part (the end of a batch)."""
        for table in list(self.sealed):
            self._write_sealed(table)

    def _write_sealed(self, table: str) -> None:
        tables = self.sealed.pop(table, [])
        if not tables:
            return
        import pyarrow as pa

        if self.rows.get(table):
            self.spill(table)  # keep parts in the order the rows were added
        joined = pa.concat_tables(tables)
        if table == "messages" and self.phrases_deferred:
            from evidence.parsers.enrich import fill_phrase_hits

            joined = fill_phrase_hits(joined)
        self._write_part(table, joined)

    def add_table(self, table: str, arrow_table: Any) -> None:
        """Rows a parser built in bulk as an Arrow table (cast to the staging schema of `table`).

        With a spill folder the table is written out at once as one more Parquet part; without one its
        rows join `rows` as dicts, so in-memory users (tests, tools) see every row either way.
        """
        if arrow_table.num_rows == 0:
            return
        arrow_table = _conform(table, arrow_table)
        if self.spill_dir is None or table in NEVER_SPILLED:
            self.rows[table].extend(arrow_table.to_pylist())  # messages get their columns at seal()
            return
        if self.rows.get(table):
            self.spill(table)  # keep parts in the order the rows were added
        self._write(table, arrow_table)

    def _build(self, table: str, rows: list[dict[str, Any]]) -> pa.Table:
        from evidence.db import build_table

        arrow_table, repaired = build_table(table, rows)
        self.repaired += repaired
        return arrow_table

    def _enriched(self, messages: pa.Table, sealing: bool = False) -> pa.Table:
        messages, cut = cap_bodies(messages)
        self.truncated += cut
        messages, zeroed = flag_zeroed(messages)
        self.zeroed += zeroed
        if self.file_flags:
            import pyarrow as pa

            for flag in self.file_flags:
                messages = _with_flag(messages, pa.repeat(True, messages.num_rows), flag)
        # A finished file's messages wait for the batch's part: their phrase lists are matched there, over
        # every waiting file at once (_write_sealed), not file by file.
        defer = sealing and self.spill_dir is not None
        self.phrases_deferred = self.phrases_deferred or defer
        result = self.enrich(messages, phrases=not defer)  # type: ignore[misc]
        for row in result.identifiers:
            self.add("identifiers", row)
        if sealing and self.spill_dir is not None and result.links.num_rows:
            # a finished file: its links join the batch's sealed tables (no part per small file)
            self.sealed["message_identifiers"].append(_conform("message_identifiers", result.links))
        else:
            self.add_table("message_identifiers", result.links)
        return result.messages

    def _write(self, table: str, arrow_table: pa.Table) -> None:
        if table == "messages" and self.enrich is not None:
            arrow_table = self._enriched(arrow_table)
        self._write_part(table, arrow_table)

    def _write_part(self, table: str, arrow_table: pa.Table) -> None:
        import pyarrow.parquet as pq

        self.spill_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # type: ignore[union-attr]
        path = self.spill_dir / f"{table}-{len(self.spilled[table]):05d}.parquet"  # type: ignore[operator]
        plain = DISTINCT_PER_ROW.get(table, frozenset())
        pq.write_table(
            arrow_table, path, use_dictionary=[n for n in arrow_table.column_names if n not in plain]
        )
        self._written(table, path)

    def _written(self, table: str, path: Path) -> None:
        self.spilled[table].append(path)
        if self.on_part is not None:
            self.on_part(table, path)

    def absorb(self, other: ParsedRows) -> None:
        """Take over another extraction's rows and parts (a file's rows joining its batch)."""
        self.phrases_deferred = self.phrases_deferred or other.phrases_deferred  # before any part is written
        for table, rows in other.rows.items():
            self.rows[table].extend(rows)
        for table, paths in other.spilled.items():
            self.spilled[table].extend(paths)
        for table, tables in other.sealed.items():
            self.sealed[table].extend(tables)
            if self.spill_dir is not None and sum(t.num_rows for t in self.sealed[table]) >= SPILL_ROWS:
                self._write_sealed(table)
        self.repaired += other.repaired
        self.truncated += other.truncated
        self.zeroed += other.zeroed

    def count(self, table: str) -> int:
        return len(self.rows.get(table, ()))


ZEROED = "zeroed_bytes"
# A message read from a zip member damaged inside (acquire.found_file.FoundFile.damaged_in_archive).
FROM_DAMAGED_MEMBER = "from_damaged_archive_member"


def flag_zeroed(messages: pa.Table) -> tuple[pa.Table, int]:
    """Messages whose text or sender holds zero bytes flagged ZEROED; how many.

    No export writes NUL into a message: a run of them is a part of the file that was zeroed (a damaged
    sector, a copy that never finished writing). What was written there is lost, and in a chat text the
    text just after a run may be the end of a later message, perhaps another person's, joined to this one.
    """
    import pyarrow.compute as pc

    columns = [c for c in ("body", "sender") if c in messages.column_names]
    if not columns or "flags" not in messages.column_names or messages.num_rows == 0:
        return messages, 0
    zeroed = pc.fill_null(pc.match_substring(messages.column(columns[0]), "\x00"), False)
    for column in columns[1:]:  # (a run inside a header line lands in the sender's name)
        zeroed = pc.or_(zeroed, pc.fill_null(pc.match_substring(messages.column(column), "\x00"), False))
    count = pc.sum(zeroed).as_py() or 0
    if count:
        messages = _with_flag(messages, zeroed, ZEROED)
    return messages, count


def _with_flag(messages: pa.Table, where: Any, flag: str) -> pa.Table:
    """`flag` appended to the flags of the messages where `where` is true."""
    import pyarrow as pa

    flags = messages.column("flags").to_pylist()
    for index, hit in enumerate(where.to_pylist()):
        if hit:
            flags[index] = [*(flags[index] or []), flag]
    position = messages.column_names.index("flags")
    return messages.set_column(position, "flags", pa.array(flags, type=messages.schema.field("flags").type))


def cap_bodies(messages: pa.Table) -> tuple[pa.Table, int]:
    """Messages with bodies over MAX_BODY_CHARS cut to that length and flagged; how many were cut."""
    import pyarrow.compute as pc

    if "body" not in messages.column_names or messages.num_rows == 0:
        return messages, 0
    body = messages.column("body")
    long = pc.fill_null(pc.greater(pc.utf8_length(body), MAX_BODY_CHARS), False)
    cut = pc.sum(long).as_py() or 0
    if not cut:
        return messages, 0
    short = pc.if_else(long, pc.utf8_slice_codeunits(body, 0, MAX_BODY_CHARS), body)
    messages = messages.set_column(messages.column_names.index("body"), "body", short)
    if "flags" in messages.column_names:
        messages = _with_flag(messages, long, "body_truncated")
    return messages, cut


def _conform(table: str, arrow_table: Any) -> Any:
    """An Arrow table with exactly the staging schema's columns: columns a parser did not set are NULL."""
    import pyarrow as pa

    from evidence.db import arrow_schema

    schema = arrow_schema(table)
    for column in schema:
        if column.name not in arrow_table.column_names:
            arrow_table = arrow_table.append_column(column.name, pa.nulls(arrow_table.num_rows, column.type))
    return arrow_table.select(schema.names).cast(schema)


def write_rows(table: str, rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow.parquet as pq

    from evidence.db import rows_to_table

    pq.write_table(rows_to_table(table, rows), path)
