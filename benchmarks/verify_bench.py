"""`evidence verify --reproduce` against the ingest that built the case: T(verify --reproduce) / T(ingest).
Goal: at most 1.5, and the reproduction's peak RSS at most 500 MB.

Reproduction extracts every original again (the ingest's own extraction, one process), loads the rows into a
scratch case and compares digests file by file; the ingest also hashes and stores the originals but overlaps
loading with extraction. The corpus is generated: a WhatsApp export of N messages (a fifth carrying an
identifier), an mbox of N/20 mails and the sample case's screenshots. Each side is timed as a fresh process.
Usage: .venv/bin/python benchmarks/verify_bench.py [N_MESSAGES] [RUNS]
"""

from __future__ import annotations

import shutil
import sys

from common import EVIDENCE, ROOT, remove_case, report, report_size, run_measured, scratch

sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    n_messages = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    from mbox_generator import generate_mbox
    from whatsapp_generator import generate_export

    work = scratch("verify")
    corpus = work / "corpus"
    corpus.mkdir()
    generate_export(corpus / "WhatsApp Chat with Alex.txt", n_messages, seed=4, identifiers=0.2)
    generate_mbox(corpus / "mail.mbox", max(n_messages // 20, 10), seed=4)
    shutil.copytree(ROOT / "sample" / "Screenshots", corpus / "Screenshots")
    case = work / "case"
    ingests, reproductions, memory = [], [], []
    for _ in range(runs):  # alternate the two sides, keep the best of each (the machine's speed drifts)
        remove_case(case)
        seconds, _ = run_measured([EVIDENCE, "ingest", corpus, "--case", case], work / "ingest.log")
        ingests.append(seconds)
        seconds, rss = run_measured([EVIDENCE, "verify", "--case", case, "--reproduce"], work / "verify.log")
        reproductions.append(seconds)
        memory.append(rss)
    if "0 different, 0 not reproducible" not in (work / "verify.log").read_text():
        raise SystemExit(f"the reproduction did not agree with the case: see {work / 'verify.log'}")
    ingest, reproduce = min(ingests), min(reproductions)
    report(
        "verify --reproduce / ingest",
        reproduce / ingest,
        "<= 1.5",
        reproduce / ingest <= 1.5,
        f"reproduce {reproduce:.2f}s, ingest {ingest:.2f}s, {n_messages} chat messages",
    )
    report_size("verify --reproduce peak RSS", min(memory), "MB", "<= 500 MB", min(memory) <= 500)
    remove_case(case)


if __name__ == "__main__":
    main()
