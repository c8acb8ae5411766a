"""Shared helpers for the benchmark scripts: a scratch folder, timing, running the real CLI."""

from __future__ import annotations

import compileall
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("EVIDENCE_BENCH_DIR", ROOT / "benchmarks" / ".work"))
EVIDENCE = Path(sys.executable).parent / "evidence"

# The sources byte-compiled as `make setup` leaves them: with PYTHONDONTWRITEBYTECODE set (as on some
# machines), a module edited since would be compiled again in every measured process, about 20 ms each
# time for the command line's modules: a cost a user's installed tool pays once, not on every run.
compileall.compile_dir(ROOT / "src", quiet=1)


def scratch(name: str) -> Path:
    """A fresh folder under the benchmark work area."""
    path = WORK / name
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def timed(func: Callable[[], object]) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def best_of(runs: int, func: Callable[[], object], before: Callable[[], object] | None = None) -> float:
    """Fastest of several runs (the least disturbed by other load on the machine)."""
    times = []
    for _ in range(runs):
        if before:
            before()
        times.append(timed(func))
    return min(times)


def median(values: list[float]) -> float:
    return statistics.median(values)


def evidence(*args: object) -> subprocess.CompletedProcess:
    """Run the real command line, as a user would; raise with its output if it fails."""
    result = subprocess.run([str(EVIDENCE), *map(str, args)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"evidence {' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}")
    return result


def run_measured(command: list[str], log: Path | None = None) -> tuple[float, float]:
    """Wall time (s) and peak resident memory (MB) of one fresh process, from its own rusage.

    os.wait4 gives the rusage of exactly this child, so no wrapper process is needed; output goes to
    `log` (or nowhere), never to a pipe that could fill up. Raises if the command fails.
    """
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    try:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in command], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            out.close()
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:] if log else ""
        raise RuntimeError(f"{' '.join(map(str, command))} failed ({proc.returncode}):\n{tail}")
    return elapsed, usage.ru_maxrss / 1024


def remove_case(case: Path) -> None:
    """Delete a case folder (its originals are read-only)."""
    if not case.exists():
        return
    for root, dirs, files in os.walk(case):
        for name in dirs + files:
            os.chmod(os.path.join(root, name), 0o700)
    shutil.rmtree(case)


# Every figure is printed on one line in this form, so benchmarks/run can pick them out:
#   FIGURE <name>: ratio 1.234 (goal >= 1.0) OK  <detail>
#   FIGURE <name>: size 123 MB (goal <= 500 MB) MISSED  <detail>


def report(name: str, ratio: float, goal: str, ok: bool, detail: str = "") -> None:
    print(
        f"FIGURE {name}: ratio {ratio:.3f} (goal {goal}) {'OK' if ok else 'MISSED'}{'  ' + detail if detail else ''}",
        flush=True,
    )


def report_size(name: str, value: float, unit: str, goal: str, ok: bool, detail: str = "") -> None:
    print(
        f"FIGURE {name}: size {value:.0f} {unit} (goal {goal}) {'OK' if ok else 'MISSED'}"
        f"{'  ' + detail if detail else ''}",
        flush=True,
    )
