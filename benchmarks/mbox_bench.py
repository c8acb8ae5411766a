"""A generated mbox (150,000 mails, about 330 MB): `evidence ingest` against Python's own mailbox + email.

Baseline: a fresh Python process that reads the file with `mailbox.mbox` and the `email` parser
(policy.default), and reads every message's every leaf part's content (`get_content()`): the least any
tool must do to read that mail. Subject: `evidence ingest` of the file into a fresh case (hash and store,
parse, store attachments, stage, load, link), also a fresh process.

Prints T(evidence ingest) / T(baseline) (goal: at most 3) and the ingest's peak resident memory (goal: at
most 300 MB). The two sides alternate and each keeps its best (this machine's speed drifts over minutes).
The generated mbox is cached under benchmarks/.work keyed by size, seed and the generator's source.
Usage: .venv/bin/python benchmarks/mbox_bench.py [N_MAILS] [ROUNDS]   (defaults 150000 2; about 25 min)
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from common import EVIDENCE, ROOT, WORK, remove_case, report, report_size, run_measured, scratch

sys.path.insert(0, str(ROOT / "tests"))
from mbox_generator import generate_mbox

SEED = 5
BASELINE = """
import email, email.policy, mailbox, sys

def factory(handle):
    return email.message_from_binary_file(handle, policy=email.policy.default)

messages = parts = 0
for message in mailbox.mbox(sys.argv[1], factory=factory, create=False):
    messages += 1
    for part in message.walk():
        if not part.is_multipart():
            part.get_content()
            parts += 1
print(messages, parts)
"""


def cached_mbox(n: int) -> Path:
    """The generated mbox for n mails, made once per size, seed and generator source."""
    source = (ROOT / "tests" / "mbox_generator.py").read_bytes()
    key = hashlib.sha256(source + f"|{n}|{SEED}".encode()).hexdigest()[:12]
    folder = WORK / "mbox-cache"
    path = folder / f"mail-{n}-{key}.mbox"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"mail-{n}-*.mbox"):
            old.unlink()
        tmp = path.with_suffix(".tmp")
        generate_mbox(tmp, n, seed=SEED)
        tmp.rename(path)
    return path


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 150_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    mbox = cached_mbox(n)
    size_mb = mbox.stat().st_size / 1e6
    work = scratch("mbox")
    case = work / "case"

    t_base = t_ours = float("inf")
    peak = 0.0
    for _ in range(rounds):
        elapsed, _rss = run_measured([sys.executable, "-c", BASELINE, str(mbox)], log=work / "baseline.log")
        t_base = min(t_base, elapsed)
        remove_case(case)
        elapsed, rss = run_measured([EVIDENCE, "ingest", mbox, "--case", case], log=work / "ingest.log")
        t_ours = min(t_ours, elapsed)
        peak = max(peak, rss)
    remove_case(case)
    report(
        f"mbox {n} mails ({size_mb:.0f} MB) ingest vs mailbox+email",
        t_ours / t_base,
        "<= 3.0",
        t_ours / t_base <= 3.0,
        f"mailbox+email {t_base:.1f}s, evidence ingest {t_ours:.1f}s, best of {rounds}",
    )
    report_size(
        f"mbox {n} mails ingest peak RSS", peak, "MB", "<= 300 MB", peak <= 300, f"highest of {rounds} runs"
    )


if __name__ == "__main__":
    main()
