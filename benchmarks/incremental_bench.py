"""Adding a small export to a big case against adding it to an empty one: cost must follow the new work.

The big case holds 1,000,000 messages: five 200,000-message WhatsApp exports (different seeds and chat
names, 38% of messages carrying identifiers from one pool), ingested one after another. The empty case
has the schema and nothing else. One 2,000-message export is then ingested into a copy of each. Neither is
a case the timeline viewer lists, so neither publishes the viewers' snapshot, a copy of the whole database
that grows with the case (`snapshot_bench.py` measures it for the cases viewers read).

Prints T(add to the big case) / T(add to the empty case) (goal: at most 2). Building the big case takes
minutes, so it is cached under benchmarks/.work keyed by the generator parameters, the generator's source
and the code (src/ and schemas/); each measured add works on a fresh copy. Alternated, best of three.
Usage: .venv/bin/python benchmarks/incremental_bench.py [MESSAGES_PER_EXPORT] [EXPORTS] [ROUNDS]
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import EVIDENCE, ROOT, WORK, remove_case, report, run_measured, scratch

sys.path.insert(0, str(ROOT / "tests"))
from whatsapp_generator import generate_export

NAMES = ("Alex", "A M", "Unknown 07700 900456", "Jordan", "Sam's sister", "Work group", "Mum")
IDENTIFIER_SHARE = 0.4
NEW_MESSAGES = 2_000


def code_version() -> str:
    """Hash of everything that decides what a case holds: the package, the schema, the generator."""
    digest = hashlib.sha256()
    paths = [ROOT / "tests" / "whatsapp_generator.py"]
    for folder, pattern in ((ROOT / "src" / "evidence", "*.py"), (ROOT / "schemas", "*.sql")):
        paths += sorted(folder.rglob(pattern))
    for path in paths:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def big_case(per_export: int, exports: int) -> tuple[Path, float]:
    """The cached case with `exports` exports of `per_export` messages; built (and timed) when missing."""
    key = f"{per_export}x{exports}-{code_version()}"
    folder = WORK / "incremental-cache"
    case = folder / key / "case"
    if (folder / key / "ready").exists():
        return case, float((folder / key / "ready").read_text())
    if folder.exists():
        for old in folder.glob(f"{per_export}x{exports}-*"):  # same size, older code: useless now, and large
            remove_case(old)
    sources = folder / key / "exports"
    sources.mkdir(parents=True)
    start = time.perf_counter()
    for number in range(exports):
        export = sources / f"WhatsApp Chat with {NAMES[number % len(NAMES)]}.txt"
        generate_export(export, per_export, seed=100 + number, identifiers=IDENTIFIER_SHARE)
        run_measured([EVIDENCE, "ingest", export, "--case", case], log=folder / key / f"ingest{number}.log")
        export.unlink()  # the case holds it in originals/
        print(f"  built {number + 1}/{exports} exports into the big case", flush=True)
    elapsed = time.perf_counter() - start
    (folder / key / "ready").write_text(f"{elapsed:.1f}")
    return case, elapsed


def empty_case(path: Path) -> None:
    """A case with its schema and nothing in it, made the way every writer opens a case."""
    subprocess.run(
        [sys.executable, "-c", "import sys; from evidence.db import open_case\n"
         "with open_case(sys.argv[1], write=True): pass", str(path)],
        check=True,
    )  # fmt: skip


def main() -> None:
    per_export = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    exports = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    big, build_s = big_case(per_export, exports)
    work = scratch("incremental")
    empty = work / "empty-case"
    empty.mkdir(mode=0o700)
    empty_case(empty)
    new = work / "WhatsApp Chat with Unknown 07700 900999.txt"
    generate_export(new, NEW_MESSAGES, seed=999, identifiers=IDENTIFIER_SHARE)

    def add_to(template: Path, name: str) -> float:
        target = work / name
        remove_case(target)
        shutil.copytree(template, target)
        subprocess.run(["sync"], check=True)  # the copy's write-back is not the add's cost
        elapsed, _ = run_measured([EVIDENCE, "ingest", new, "--case", target], log=work / f"{name}.log")
        remove_case(target)
        return elapsed

    t_big = t_empty = float("inf")
    for _ in range(rounds):
        t_empty = min(t_empty, add_to(empty, "empty"))
        t_big = min(t_big, add_to(big, "big"))
    total = per_export * exports
    report(
        f"add {NEW_MESSAGES} messages to a {total}-message case vs to an empty case",
        t_big / t_empty,
        "<= 2.0",
        t_big / t_empty <= 2.0,
        f"big case {t_big:.2f}s, empty case {t_empty:.2f}s, best of {rounds}; "
        f"building the big case took {build_s:.0f}s (cached)",
    )


if __name__ == "__main__":
    main()
