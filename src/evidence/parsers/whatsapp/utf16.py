"""WhatsApp exports saved as UTF-16 (a Windows editor's "Unicode"), with or without a byte order mark.

WhatsApp itself writes UTF-8; a copy re-saved on a PC is UTF-16. Such a file is read through a UTF-8
copy made next to the case's originals (the stored original is untouched, and line numbers, the locators,
are the same in both); code units that are not valid UTF-16 (a lone surrogate) become U+FFFD and the
messages holding them are flagged decode_errors like bad UTF-8.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext

CHUNK_BYTES = 4 * 1024 * 1024


def utf16_encoding(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the bytes look like UTF-16 text, else None.

    Without a byte order mark, text of mostly Latin characters has a zero in every other byte: odd
    positions for little-endian, even ones for big-endian.
    """
    if head.startswith(b"\xff\xfe"):
        return "utf-16-le"
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be"
    sample = head[:4096]
    if len(sample) < 16:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.6 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.6 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


@contextlib.contextmanager
def read_as_utf8(ctx: ParseContext, encoding: str) -> Iterator[None]:
    """Point ctx.path at a UTF-8 copy of the file for the duration of the block; warns once."""
    ctx.store.ensure()
    fd, name = tempfile.mkstemp(dir=ctx.store.incoming, prefix="utf16-", suffix=".txt")
    copy, original = Path(name), ctx.path
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    replaced = 0
    try:
        with open(original, "rb") as source, os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK_BYTES):
                text = decoder.decode(chunk)
                replaced += text.count("\ufffd")
                out.write(text.encode("utf-8"))
            tail = decoder.decode(b"", final=True)
            replaced += tail.count("\ufffd")
            out.write(tail.encode("utf-8"))
        ctx.warn(
            f"the file is UTF-16 text ({encoding}), not the UTF-8 WhatsApp writes: read as UTF-16"
            + (f"; {replaced} invalid code unit(s) replaced by U+FFFD" if replaced else "")
        )
        ctx.path = copy
        yield
    finally:
        ctx.path = original
        copy.unlink(missing_ok=True)
