"""Shared helpers for the benchmark scripts: a scratch folder, timing, running the real CLI."""

from __future__ import annotations

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


def report(name: str, ratio: float, goal: str, ok: bool, detail: str = "") -> None:
    print(
        f"{name}: ratio {ratio:.3f} (goal {goal}) {'OK' if ok else 'MISSED'}{'  ' + detail if detail else ''}"
    )
