"""Re-ingesting the same inputs: time of the second run as a ratio of the first. Goal: at most 0.10.

The corpus is generated: an mbox of many emails, loose .eml files with attachments, and a WhatsApp export.
The second run must hash everything again (that is how it knows nothing changed) but parse nothing.
Usage: .venv/bin/python benchmarks/reingest_bench.py [N_EMAILS]
"""

from __future__ import annotations

import email.message
import email.utils
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import ROOT, evidence, report, scratch, timed

sys.path.insert(0, str(ROOT / "tests"))


def make_email(n: int, rng: random.Random) -> email.message.EmailMessage:
    msg = email.message.EmailMessage()
    sender = rng.choice(["Alex Marsh <alex.marsh@example.net>", "A. M. <a.marsh.new@example.com>"])
    msg["From"] = sender
    msg["To"] = "Sam Taylor <sam.taylor@example.org>"
    msg["Subject"] = f"message {n}"
    when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=37 * n)
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = f"<{n}.bench@example.net>"
    body = " ".join(
        rng.choice(["I", "saw", "you", "today", "at", "the", "station", "call", "me"]) for _ in range(60)
    )
    msg.set_content(body)
    if n % 10 == 0:
        msg.add_attachment(
            rng.randbytes(2048), maintype="application", subtype="octet-stream", filename=f"a{n}.bin"
        )
    return msg


def make_corpus(root: Path, n_emails: int) -> None:
    rng = random.Random(7)
    loose = root / "loose"
    loose.mkdir()
    with open(root / "mailbox.mbox", "wb") as mbox:
        for n in range(n_emails):
            msg = make_email(n, rng)
            if n % 10 == 0:
                (loose / f"{n:06d}.eml").write_bytes(msg.as_bytes())
            mbox.write(b"From bench@example.net Mon Jan  1 00:00:00 2024\n" + msg.as_bytes() + b"\n")
    try:
        from whatsapp_generator import generate_export
    except ImportError:
        return
    generate_export(root / "WhatsApp Chat with Alex.txt", n_emails * 2, seed=3)


def main() -> None:
    n_emails = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    work = scratch("reingest")
    corpus = work / "corpus"
    corpus.mkdir()
    make_corpus(corpus, n_emails)
    case = work / "case"
    first = timed(lambda: evidence("ingest", corpus, "--case", case))
    second = timed(lambda: evidence("ingest", corpus, "--case", case))
    messages = evidence(
        "query", "--case", case, "SELECT count(*) FROM messages", "--format", "csv"
    ).stdout.split()[1]
    report(
        "re-ingest of the same inputs",
        second / first,
        "<= 0.10",
        second / first <= 0.10,
        f"first {first:.2f}s, second {second:.2f}s, {messages} messages",
    )


if __name__ == "__main__":
    main()
