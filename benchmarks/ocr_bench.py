"""OCR benchmark: the same 20 generated chat screenshots, naive vs. the pipeline, in one run.

naive    : sequential pytesseract.image_to_string on each file, tesseract's default threading
pipeline : evidence.images.ocr.ocr_paths: process pool (one tesseract per core, OMP_THREAD_LIMIT=1), layout
           analysis, per-bubble polarity and contrast, upscaling of small text, word boxes
Prints throughput as a ratio of naive (goal >= 4x on 2 cores) and word recall of both against the text
drawn on the screenshots (goal: the pipeline's not lower). Run: .venv/bin/python benchmarks/ocr_bench.py
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytesseract
from common import ROOT, report
from PIL import Image

sys.path.insert(0, str(ROOT / "tests"))

from screenshot_generator import ChatLine, ChatSpec, save

from evidence.images import ocr

TEXTS = [
    "Why are you ignoring me",
    "I know where you live now",
    "Please leave me alone",
    "I saw your car outside the gym",
    "Answer the phone or I will come round",
    "Stop messaging me",
    "You looked nice in that blue coat today",
    "I will wait outside your work tomorrow",
]


def specs(count: int = 20) -> list[ChatSpec]:
    out = []
    for n in range(count):
        messages = [
            ChatLine(
                "out" if (n + i) % 3 == 0 else "in",
                TEXTS[(n + i) % len(TEXTS)],
                f"{9 + i}:{(7 * n) % 60:02d}",
            )
            for i in range(5)
        ]
        out.append(
            ChatSpec(
                contact=["Jordan Blake", "Sam Carter", "Alex Morgan"][n % 3],
                day=f"{1 + n} March 2024",
                messages=messages,
                dark=n % 2 == 1,
                app="whatsapp" if n % 4 >= 2 else "generic",
                width=540,
                height=1100,
                font_size=22,
            )
        )
    return out


def words(text: str) -> Counter[str]:
    return Counter(w for w in re.findall(r"[\w:]+", text.lower()))


def expected(spec: ChatSpec) -> Counter[str]:
    text = " ".join([spec.contact, spec.day or "", *(f"{m.text} {m.time}" for m in spec.messages)])
    return words(text)


def recall(found: Counter[str], wanted: Counter[str]) -> float:
    hit = sum(min(found[w], n) for w, n in wanted.items())
    return hit / sum(wanted.values())


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        all_specs = specs()
        paths = [save(spec, Path(tmp) / f"shot-{i:02d}.png") for i, spec in enumerate(all_specs)]
        ocr.ocr_paths(paths[:2], workers=2)  # warm up caches and the traineddata file for both sides
        pytesseract.image_to_string(Image.open(paths[0]))

        started = time.perf_counter()
        naive = [pytesseract.image_to_string(Image.open(p)) for p in paths]
        naive_s = time.perf_counter() - started

        started = time.perf_counter()
        ours = ocr.ocr_paths(paths)
        ours_s = time.perf_counter() - started

    wanted = [expected(s) for s in all_specs]
    naive_recall = sum(recall(words(t), w) for t, w in zip(naive, wanted, strict=True)) / len(paths)
    ours_recall = sum(recall(words(r.text), w) for r, w in zip(ours, wanted, strict=True)) / len(paths)
    print(f"images: {len(paths)}  workers: {ocr.default_workers()}")
    print(f"naive sequential image_to_string: {naive_s:6.2f} s  ({len(paths) / naive_s:5.2f} images/s)")
    print(f"pipeline ocr_paths (pool)       : {ours_s:6.2f} s  ({len(paths) / ours_s:5.2f} images/s)")
    print(f"word recall naive    : {naive_recall:.3f}")
    print(f"word recall pipeline : {ours_recall:.3f}  (goal: not lower than naive)")
    report(
        f"OCR {len(paths)} screenshots, pipeline vs naive image_to_string",
        naive_s / ours_s,
        ">= 4.0",
        naive_s / ours_s >= 4.0,
        f"naive {naive_s:.2f}s, pipeline {ours_s:.2f}s",
    )
    report(
        "OCR word recall, pipeline vs naive",
        ours_recall / naive_recall if naive_recall else float("inf"),
        ">= 1.0",
        ours_recall >= naive_recall,
        f"naive {naive_recall:.3f}, pipeline {ours_recall:.3f}",
    )


if __name__ == "__main__":
    main()
