"""A generated 200,000-message WhatsApp export: full `evidence ingest` against whatstk's parse alone.

The export is realistic for a stalking case: about 38% of the messages carry a phone number (UK drama
ranges written with spaces, +44, dashes), an address, an @handle or a profile URL, drawn from a small pool
(the same few numbers and accounts again and again), so the ingest does the identifier work a real case
needs. whatstk runs in its fastest configuration: the header format given (`hformat`), since detecting it
automatically doubles its time.

Prints T(whatstk df_from_whatsapp) / T(evidence ingest) (goal: at least 3, aim 5), the peak resident
memory of the ingest process (goal: at most 500 MB), and T(re-ingest of the unchanged file) / T(ingest)
(goal: at most 0.10). All run as fresh processes in this run, alternated, best of four each.

Also printed, not a goal: what bounds the first ratio on this machine. The fixed cost of any ingest (a
one-message export into a new case: start, imports, schema, hashing, plan, links) and DuckDB storing the
ingest's own message rows alone (the rows read back from the case, inserted into a new case's table on
both cores, no memory limit, as cheaply as DuckDB can) are measured here too: what is left of a third
of whatstk's time after them is all that reading the export, finding identifiers, keys and links may
take for the ratio to reach 3.
Usage: .venv/bin/python benchmarks/whatsapp_bench.py [N_MESSAGES]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from common import EVIDENCE, ROOT, WORK, remove_case, report, report_size, run_measured, scratch

sys.path.insert(0, str(ROOT / "tests"))
from whatsapp_generator import generate_export

WHATSTK = (
    "import sys; from whatstk import df_from_whatsapp; "
    "print(len(df_from_whatsapp(sys.argv[1], auto_header=False, hformat=sys.argv[2], max_size=None)))"
)
HFORMAT = "%d/%m/%y, %H:%M - %name:"  # the generator's Android header: "03/01/2023, 12:31 - Name:"
IDENTIFIER_SHARE = 0.4  # of text messages; media lines carry none, so about 38% of all messages


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


def store_rows_alone(case: Path, work: Path) -> float:
    """Seconds DuckDB takes to store a case's message rows in a new case's table, and nothing else."""
    from evidence.db import open_case

    rows = work / "messages.parquet"
    with open_case(case) as con:
        con.execute(f"COPY messages TO '{rows}' (FORMAT parquet)")
    fresh = work / "rows-alone"
    remove_case(fresh)
    fresh.mkdir()
    with open_case(fresh, write=True) as con:  # the project's schema, created before the clock starts
        con.execute("SET threads = 2")
        con.execute("SET memory_limit = '4GB'")
        start = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO messages BY NAME SELECT * FROM read_parquet(?)", [str(rows)])
        con.execute("COMMIT")
        elapsed = time.perf_counter() - start
    remove_case(fresh)
    rows.unlink()
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    work = scratch("whatsapp")
    export = work / "WhatsApp Chat with Alex.txt"
    stats = generate_export(export, n, seed=11, identifiers=IDENTIFIER_SHARE)
    one_message = work / "one" / "WhatsApp Chat with Alex.txt"
    one_message.parent.mkdir()
    generate_export(one_message, 1, seed=11)
    size_mb = export.stat().st_size / 1e6

    baseline_python = whatstk_python()
    check = subprocess.run(
        [baseline_python, "-c", WHATSTK, str(export), HFORMAT], check=True, capture_output=True, text=True
    )
    if int(check.stdout.split()[-1]) < n:
        raise RuntimeError(f"whatstk read {check.stdout.strip()} messages of {n}: wrong header format?")

    # Alternated, best of each: this machine's speed drifts by up to 2x over minutes, and back-to-back
    # blocks of runs would compare a fast spell with a slow one.
    t_whatstk = t_ingest = t_again = float("inf")
    peak = 0.0
    t_fixed = t_rows = float("inf")
    for number in range(ROUNDS):
        elapsed, _ = run_measured([baseline_python, "-c", WHATSTK, export, HFORMAT])
        t_whatstk = min(t_whatstk, elapsed)
        case = work / f"case{number}"
        elapsed, rss = run_measured([EVIDENCE, "ingest", export, "--case", case], log=work / "ingest.log")
        t_ingest = min(t_ingest, elapsed)
        peak = max(peak, rss)
        # the unchanged file again: hashed, found already parsed, nothing loaded, no link step
        elapsed, _ = run_measured([EVIDENCE, "ingest", export, "--case", case], log=work / "ingest.log")
        t_again = min(t_again, elapsed)
        t_rows = min(t_rows, store_rows_alone(case, work))
        remove_case(case)
        small = work / f"small{number}"
        elapsed, _ = run_measured([EVIDENCE, "ingest", one_message, "--case", small], log=work / "ingest.log")
        t_fixed = min(t_fixed, elapsed)
        remove_case(small)
    report(
        f"WhatsApp {n} messages ({size_mb:.0f} MB) ingest vs whatstk (hformat given)",
        t_whatstk / t_ingest,
        ">= 3.0, aim 5",
        t_whatstk / t_ingest >= 3.0,
        f"whatstk {t_whatstk:.2f}s, evidence ingest {t_ingest:.2f}s, "
        f"{stats.with_identifier / n:.0%} of messages carry an identifier",
    )
    report_size(f"WhatsApp {n} messages ingest peak RSS", peak, "MB", "<= 500 MB", peak <= 500)
    report(
        f"WhatsApp {n} messages re-ingest of the unchanged file vs the first ingest",
        t_again / t_ingest,
        "<= 0.10",
        t_again / t_ingest <= 0.10,
        f"first {t_ingest:.2f}s, again {t_again:.2f}s",
    )
    budget = t_whatstk / 3.0
    left = budget - t_fixed - t_rows
    print(
        f"bound, not a goal: 3x needs the ingest within {budget:.2f}s; a one-message ingest takes {t_fixed:.2f}s "
        f"and DuckDB storing the {n} message rows alone {t_rows:.2f}s, which leaves {left:.2f}s for reading "
        f"the export, finding identifiers, keys and links (the ingest spent {t_ingest - t_fixed - t_rows:.2f}s "
        "on them and on waiting for one another)",
        flush=True,
    )


if __name__ == "__main__":
    main()
