"""A whole ingest run in this process (command line and tests): plan, extract with --jobs processes, load."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from evidence.acquire.found_file import FoundFile
from evidence.case import run_dir
from evidence.pipeline.extract import extract_batch, share_cores
from evidence.pipeline.load import load_run
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.plan import RunPlan, plan_run
from evidence.pipeline.stops import stops_recorded


def ingest(
    params: IngestParameters,
    on_file: Callable[[FoundFile], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """A whole run in this process (CLI and tests): plan, extract with --jobs processes, load."""
    plan = plan_run(params, on_file=on_file)
    with stops_recorded(plan.case_dir, plan.run_id, params.examiner, "extract and load"):
        return _extract_and_load(params, plan, on_batch)


def _extract_and_load(
    params: IngestParameters, plan: RunPlan, on_batch: Callable[[int, int], None] | None
) -> dict[str, Any]:
    batch_dirs: list[str] = []
    total = len(plan.batch_files)
    if params.jobs > 1 and total > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed  # (multiprocessing: only here)

        workers = min(params.jobs, total)
        with ProcessPoolExecutor(max_workers=workers, initializer=share_cores, initargs=(workers,)) as pool:
            futures = [pool.submit(extract_batch, plan.case_dir, plan.run_id, b) for b in plan.batch_files]
            for done, future in enumerate(as_completed(futures), start=1):
                batch_dirs.append(future.result())
                if on_batch:
                    on_batch(done, total)
        return load_run(plan.case_dir, plan.run_id, sorted(batch_dirs))
    # One process: messages are inserted on a second thread while the batches are still being parsed.
    from evidence.pipeline.early_load import EarlyLoader

    loader = EarlyLoader(Path(plan.case_dir), run_dir(Path(plan.case_dir), plan.run_id))
    moved: dict[Path, Path] = {}
    try:
        for done, batch_file in enumerate(plan.batch_files, start=1):
            batch_dirs.append(
                extract_batch(plan.case_dir, plan.run_id, batch_file, on_part=loader.on_part, moved=moved)
            )
            if on_batch:
                on_batch(done, total)
    except BaseException:
        loader.abandon()
        raise
    return load_run(plan.case_dir, plan.run_id, sorted(batch_dirs), loader.finish(moved))
