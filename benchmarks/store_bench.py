"""Ingest of one large file of unknown type (hash, store, record) against the bare tools on the same file.

Prints T(openssl sha256 + openssl md5 + cp, run one after another) / T(evidence ingest). Goal: >= 0.8,
i.e. the whole ingest at most 25% slower than the three bare tools. The store fsyncs every original
before recording it and cp does not, so a second line gives the ratio against the tools followed by
`sync`: on a disk whose write speed varies, that is the part of the gap that is durability.
Usage: .venv/bin/python benchmarks/store_bench.py [SIZE_MB]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from common import best_of, evidence, report, scratch

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
        if (work / "case").exists():
            for root, dirs, files in os.walk(work / "case"):
                for name in dirs + files:
                    os.chmod(os.path.join(root, name), 0o700)
            shutil.rmtree(work / "case")
        os.sync()

    def durable_tools() -> None:
        tools()
        os.sync()  # the same copy made durable, as the store must (it fsyncs every original)

    # Alternate them so that disk write-back and other load affect all alike; keep each one's best.
    t_tools = t_durable = t_ours = float("inf")
    for _ in range(5):
        t_tools = min(t_tools, best_of(1, tools, before=clean_tools))
        t_durable = min(t_durable, best_of(1, durable_tools, before=clean_tools))
        t_ours = min(t_ours, best_of(1, ours, before=clean_case))
    report(
        f"store {size_mb} MB unknown file",
        t_tools / t_ours,
        ">= 0.80",
        t_tools / t_ours >= 0.8,
        f"tools {t_tools:.2f}s, evidence ingest {t_ours:.2f}s",
    )
    report(
        f"store {size_mb} MB unknown file, durable baseline (tools + sync)",
        t_durable / t_ours,
        ">= 0.80",
        t_durable / t_ours >= 0.8,
        f"tools + sync {t_durable:.2f}s, evidence ingest {t_ours:.2f}s",
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
