"""Arrow string arrays built straight over shared buffers, for the WhatsApp bulk path: a file's lines,
substrings of many strings at once, and message ids. Each builds offsets with numpy and takes every
second piece of a twice-as-long array, one C pass instead of a Python string per item."""

from __future__ import annotations

import hashlib
from typing import Any


def parts(array: Any, count: int) -> list[Any]:
    """An Arrow array as `count` consecutive zero-copy slices (fewer when it is short)."""
    step = max(1, -(-len(array) // count))
    return [array.slice(start, step) for start in range(0, len(array), step)] or [array]


def line_message_ids(sha256: str, line_numbers: list[int]) -> Any:
    """message_id_for(sha256, f"line/{k}") for every header line number k, as a pyarrow string array.

    As message_ids_for, with the digests hex-encoded in one pass and the array built over that buffer
    (ids are 32 characters each): a Python string per id cost as much again as the hashing.
    """
    import numpy as np
    import pyarrow as pa

    copy = hashlib.blake2b(f"{sha256}|line/".encode(), digest_size=16).copy

    def digest(number: int) -> bytes:
        state = copy()
        state.update(b"%d" % number)
        return state.digest()

    data = b"".join(map(digest, line_numbers)).hex().encode("ascii")
    n = len(line_numbers)
    offsets = np.arange(0, 32 * (n + 1), 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), null_count=0)


def split_lines(data: bytes) -> Any:
    """UTF-8 bytes as a pyarrow StringArray of lines split at "\\n" (a final newline ends the last line)."""
    import numpy as np
    import pyarrow as pa

    raw = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(raw == 10).astype(np.int64)
    ends = newlines if data.endswith(b"\n") else np.append(newlines, len(data))
    n = len(ends)
    # Pieces line, newline, line, newline, ... over the same buffer; the lines are every second piece.
    split = np.empty(2 * n, np.int64)
    split[0] = 0
    split[1::2] = ends
    split[2::2] = ends[:-1] + 1
    split = np.append(split, ends[-1] + 1 if data.endswith(b"\n") else ends[-1]).astype(np.int32)
    pieces = pa.StringArray.from_buffers(2 * n, pa.py_buffer(split), pa.py_buffer(data), null_count=0)
    return pieces.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))


def substrings(strings: Any, starts: Any, ends: Any = None) -> Any:
    """Bytes starts[i]:ends[i] of each string of a pyarrow StringArray (ends None: to its end); every cut
    must fall on a character boundary.

    The data buffer is shared by a twice-as-long array whose offsets mark each wanted piece and the gap
    after it (piece, gap, piece, gap, ...); taking every second item copies the pieces out in one C pass.
    """
    import numpy as np
    import pyarrow as pa

    n = len(strings)
    offsets = np.frombuffer(strings.buffers()[1], np.int32)[strings.offset : strings.offset + n + 1]
    split = np.empty(2 * n + 1, np.int32)
    split[0:-1:2] = offsets[:-1] + np.asarray(starts, np.int32)
    split[1::2] = offsets[1:] if ends is None else offsets[:-1] + np.asarray(ends, np.int32)
    split[-1] = offsets[-1]
    pieces = pa.StringArray.from_buffers(2 * n, pa.py_buffer(split), strings.buffers()[2], null_count=0)
    return pieces.take(pa.array(np.arange(0, 2 * n, 2, dtype=np.int64)))
