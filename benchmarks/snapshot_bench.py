"""What publishing the viewers' snapshot adds to a load, on a big case.

A case is built from one generated WhatsApp export (200,000 messages by default, 40% carrying
identifiers) with `evidence ingest`, as a case the viewer lists (a subfolder of EVIDENCE_CASES_ROOT; other
cases get no snapshot). Figures:
- the snapshot published inside that ingest's load (from its custody entry) against the whole ingest
  (goal: at most 0.1 of it);
- publish_snapshot alone (CHECKPOINT, copy, fsync, rename; the case already open by the writer) against
  a plain durable copy of the same file (shutil.copyfile, then fsync), best of three each (goal: at most 1.5).
Usage: .venv/bin/python benchmarks/snapshot_bench.py [MESSAGES] [ROUNDS]
"""

from __future__ import annotations

import json
import os
import shutil
import sys

from common import EVIDENCE, ROOT, best_of, remove_case, report, run_measured, scratch

sys.path.insert(0, str(ROOT / "tests"))
from whatsapp_generator import generate_export

from evidence.db import open_case
from evidence.pipeline.snapshot import CASES_ROOT_ENV, publish_snapshot


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    work = scratch("snapshot")
    export = work / "WhatsApp Chat with Alex.txt"
    generate_export(export, messages, seed=7, identifiers=0.4)
    case = work / "cases" / "case"
    os.environ[CASES_ROOT_ENV] = str(case.parent)  # inherited by the ingest: the viewer lists this case
    ingest_s, _ = run_measured([EVIDENCE, "ingest", export, "--case", case], log=work / "ingest.log")
    entries = [json.loads(line) for line in (case / "custody.log").read_text(encoding="utf-8").splitlines()]
    (published,) = [e["details"] for e in entries if e["action"] == "snapshot_published"]
    size_mb = published["size_bytes"] / 1e6
    in_load = published["seconds"]
    report(
        "snapshot in the load / whole ingest",
        in_load / ingest_s,
        "<= 0.1",
        in_load / ingest_s <= 0.1,
        f"{in_load:.2f} s of {ingest_s:.1f} s, {messages} messages, database {size_mb:.0f} MB",
    )

    def plain_copy() -> None:
        target = work / "plain-copy.duckdb"
        shutil.copyfile(case / "evidence.duckdb", target)
        with open(target, "rb+") as handle:  # durable, as the snapshot is before its rename
            os.fsync(handle.fileno())

    with open_case(case, write=True) as con:  # as a writer holds it: open, with the lock
        publish_s = best_of(rounds, lambda: publish_snapshot(con, case))
    copy_s = best_of(rounds, plain_copy)
    report(
        "publish_snapshot / plain file copy",
        publish_s / copy_s,
        "<= 1.5",
        publish_s / copy_s <= 1.5,
        f"{publish_s:.3f} s against {copy_s:.3f} s ({size_mb:.0f} MB, best of {rounds})",
    )
    remove_case(case)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
