"""A generated 200,000-message WhatsApp export: full `evidence ingest` against whatstk's parse alone.

Prints T(whatstk df_from_whatsapp) / T(evidence ingest) (goal: at least 3, ingest 3x faster) and the peak
resident memory of the ingest process (goal: at most 500 MB). Both run as fresh processes in this run.
Usage: .venv/bin/python benchmarks/whatsapp_bench.py [N_MESSAGES]
"""

from __future__ import annotations

import subprocess
import sys

from common import EVIDENCE, ROOT, WORK, best_of, report, scratch

sys.path.insert(0, str(ROOT / "tests"))
from whatsapp_generator import generate_export

MEASURE = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "assert r.returncode == 0, r.stdout + r.stderr\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)
WHATSTK = "import sys; from whatstk import df_from_whatsapp; print(len(df_from_whatsapp(sys.argv[1], max_size=None)))"


WHATSTK_VERSION = "0.9.1"
ROUNDS = 4


def whatstk_python() -> str:
    """A separate venv with whatstk (and the pandas it needs): the baseline is not a project dependency."""
    venv = WORK / "whatstk-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run(
            [sys.executable, "-m", "uv", "venv", "-q", "--python", sys.executable, str(venv)], check=True
        )
        subprocess.run(
            [
                sys.executable,
                "-m",
                "uv",
                "pip",
                "install",
                "-q",
                "--python",
                str(python),
                f"whatstk=={WHATSTK_VERSION}",
            ],
            check=True,
        )
    return str(python)


def peak_rss_mb(*command: str) -> float:
    """Peak resident set size of a command, in MB (from its parent's rusage)."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    work = scratch("whatsapp")
    export = work / "WhatsApp Chat with Alex.txt"
    stats = generate_export(export, n, seed=11)
    size_mb = export.stat().st_size / 1e6

    baseline_python = whatstk_python()

    def whatstk() -> None:
        subprocess.run([baseline_python, "-c", WHATSTK, str(export)], check=True, capture_output=True)

    runs = {"n": 0}

    def ingest() -> None:
        runs["n"] += 1
        case = work / f"case{runs['n']}"
        subprocess.run(
            [str(EVIDENCE), "ingest", str(export), "--case", str(case)], check=True, capture_output=True
        )

    # Alternated, best of each: this machine's speed drifts by up to 2x over minutes, and back-to-back
    # blocks of runs would compare a fast spell with a slow one.
    t_whatstk = t_ingest = float("inf")
    for _ in range(ROUNDS):
        t_whatstk = min(t_whatstk, best_of(1, whatstk))
        t_ingest = min(t_ingest, best_of(1, ingest))
    rss = peak_rss_mb(str(EVIDENCE), "ingest", str(export), "--case", str(work / "case-rss"))
    report(
        f"WhatsApp {n} messages ({size_mb:.0f} MB) ingest vs whatstk",
        t_whatstk / t_ingest,
        ">= 3.0",
        t_whatstk / t_ingest >= 3.0,
        f"whatstk {t_whatstk:.2f}s, evidence ingest {t_ingest:.2f}s, {stats.messages + stats.system} lines of events",
    )
    print(f"WhatsApp ingest peak RSS: {rss:.0f} MB (goal <= 500) {'OK' if rss <= 500 else 'MISSED'}")


if __name__ == "__main__":
    main()
