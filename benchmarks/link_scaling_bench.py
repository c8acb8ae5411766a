"""Does a whole ingest grow in proportion to the messages when nearly every sender is new and many messages
name another number? One `evidence ingest` of N messages and one of 4N, each into a new case.

The input is a phone's SMS backup in which every message comes from a different number (a phone with years
of contacts) and says "my new number is 07700 9xxxxx and email me at ...": every message gives the actor
rules a suggestion to make, so the link steps, the suggestions they keep and the actors built from them
see N and 4N of each. The figure is the time per message at 4N against the time per message at N: 1.0 is
linear; a step that compares every suggestion with every other shows as 2 and more (it was 9, four minutes
for 20,000 messages, before actors were built through an index of suggestions by identifier).

Goal: at most 1.5. Best of two runs each, alternated.
Usage: .venv/bin/python benchmarks/link_scaling_bench.py [N]   (default 5000)
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import EVIDENCE, remove_case, report, run_measured, scratch

GOAL = 1.5
ROUNDS = 2
OWNER = "+447700900000"


def sms_backup(path: Path, n: int) -> None:
    """An SMS Backup & Restore file of n messages, each from its own number, each naming another one."""
    items = "".join(
        f'  <sms protocol="0" address="+4477009{k % 100000:05d}" date="{1709251200000 + 60000 * k}" '
        f'type="{1 + k % 2}" body="message {k}: my new number is 07700 9{(k * 7) % 100000:05d} and email me '
        f'at person{k}@example.com" read="1" status="-1" contact_name="Person {k}" />\n'
        for k in range(n)
    )
    path.write_text(
        f"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"{n}\">\n{items}</smses>\n",
        encoding="utf-8",
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    work = scratch("link_scaling")
    sizes = (n, 4 * n)
    for size in sizes:
        sms_backup(work / f"sms-{size}.xml", size)
    best = dict.fromkeys(sizes, float("inf"))
    for _ in range(ROUNDS):
        for size in sizes:
            case = work / f"case-{size}"
            remove_case(case)
            elapsed, _ = run_measured(
                [EVIDENCE, "ingest", work / f"sms-{size}.xml", "--case", case, "--owner", OWNER],
                log=work / "ingest.log",
            )
            best[size] = min(best[size], elapsed)
            remove_case(case)
    growth = (best[4 * n] / (4 * n)) / (best[n] / n)
    report(
        f"whole ingest, every sender new and naming another number: time per message at {4 * n} vs at {n}",
        growth,
        f"<= {GOAL}",
        growth <= GOAL,
        f"{best[n]:.2f}s for {n}, {best[4 * n]:.2f}s for {4 * n}",
    )


if __name__ == "__main__":
    main()
