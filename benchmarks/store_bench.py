"""Ingest of one large file of unknown type (hash, store, record) against the bare tools on the same file.

Both sides are durable: the store fsyncs every original before recording it, so the baseline is
`openssl dgst -sha256`, `openssl dgst -md5` and `cp`, one after another, followed by `sync` of the copy.
Prints T(tools + sync) / T(evidence ingest) (goal: at least 1.0, the whole ingest no slower than the
tools); the ratio against the tools without sync is in the detail. A 500 MB file by default; alternated,
best of five each.
Usage: .venv/bin/python benchmarks/store_bench.py [SIZE_MB]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from common import best_of, evidence, remove_case, report, scratch

CHUNK = 8 * 1024 * 1024


def make_file(path, size_mb: int) -> None:
    block = os.urandom(CHUNK)  # incompressible, and cheap to repeat: the tools do not care about repetition
    with open(path, "wb") as out:
        for n in range(size_mb * 1024 * 1024 // CHUNK):
            out.write(block[n % 7 :] + block[: n % 7])


def main() -> None:
    size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    work = scratch("store")
    data = work / "unknown.bin"
    make_file(data, size_mb)
    subprocess.run(["cat", str(data)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache for both

    def tools() -> None:
        subprocess.run(["openssl", "dgst", "-sha256", str(data)], check=True, capture_output=True)
        subprocess.run(["openssl", "dgst", "-md5", str(data)], check=True, capture_output=True)
        subprocess.run(["cp", str(data), str(work / "copy.bin")], check=True)

    def clean_tools() -> None:
        (work / "copy.bin").unlink(missing_ok=True)
        os.sync()  # each side starts with no dirty pages left by the other (ours must fsync its copy)

    def ours() -> None:
        evidence("ingest", data, "--case", work / "case")

    def clean_case() -> None:
        remove_case(work / "case")
        os.sync()

    def durable_tools() -> None:
        tools()
        # The same copy made durable, as the store makes each original (coreutils sync FILE = fsync).
        subprocess.run(["sync", str(work / "copy.bin")], check=True)

    # Alternate them so that disk write-back and other load affect all alike; keep each one's best.
    t_tools = t_durable = t_ours = float("inf")
    for _ in range(5):
        t_tools = min(t_tools, best_of(1, tools, before=clean_tools))
        t_durable = min(t_durable, best_of(1, durable_tools, before=clean_tools))
        t_ours = min(t_ours, best_of(1, ours, before=clean_case))
    report(
        f"store {size_mb} MB unknown file vs openssl sha256 + md5 + cp + sync",
        t_durable / t_ours,
        ">= 1.0",
        t_durable / t_ours >= 1.0,
        f"tools + sync {t_durable:.2f}s, evidence ingest {t_ours:.2f}s; "
        f"against the tools without sync {t_tools / t_ours:.2f} ({t_tools:.2f}s)",
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
