"""Link steps run in their declared order, whatever was imported first, and only when their inputs changed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from evidence.analysis import steps
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

SAMPLE = Path(__file__).resolve().parents[1] / "sample"

ORDER_PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
from evidence.analysis import steps
print(",".join(steps.step_names()))
"""


def test_the_declared_order_holds_whichever_step_module_is_imported_first() -> None:
    modules = [step.target.partition(":")[0] for step in steps.STEPS]
    orders = set()
    for first in (modules, list(reversed(modules))):
        probe = subprocess.run(
            [sys.executable, "-c", ORDER_PROBE, *first], capture_output=True, text=True, check=True
        )
        orders.add(probe.stdout.strip())
    assert orders == {"dedup,actors,image_groups,screenshot_corroboration,key_dates"}


def test_the_registry_imports_no_step() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, evidence.analysis.steps; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = probe.stdout
    assert all(step.target.partition(":")[0] not in loaded for step in steps.STEPS)


def test_steps_run_in_order_and_a_run_that_loaded_nothing_runs_none(tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []
    for step in steps.STEPS:
        original = step.function()

        def spy(con, scope, _name=step.name, _original=original):
            calls.append(_name)
            return _original(con, scope)

        module = sys.modules[step.target.partition(":")[0]]
        monkeypatch.setattr(module, step.target.partition(":")[2], spy)
    case = tmp_path / "case"
    first = ingest(IngestParameters(sources=[str(SAMPLE)], case_dir=str(case)))
    assert calls == ["dedup", "actors", "image_groups", "screenshot_corroboration", "key_dates"]
    assert set(first["links"]) == set(calls)
    calls.clear()
    again = ingest(IngestParameters(sources=[str(SAMPLE)], case_dir=str(case)))
    assert calls == [] and again["links"] == {}
    # a new --owner changes what the actors are, even with nothing new loaded
    owner = ingest(
        IngestParameters(sources=[str(SAMPLE)], case_dir=str(case), owners=["sam.taylor@example.org"])
    )
    assert calls == ["actors", "key_dates"] and list(owner["links"]) == ["actors", "key_dates"]
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages WHERE loaded_in_run IS NULL").fetchone() == (0,)
    # a run that loaded no image does not group images
    calls.clear()
    ingest(IngestParameters(sources=[str(SAMPLE / "phone-backup")], case_dir=str(tmp_path / "texts")))
    assert calls == ["dedup", "actors", "screenshot_corroboration", "key_dates"]


def test_a_case_built_before_runs_were_recorded_is_adopted_once(tmp_path: Path) -> None:
    """Rows without loaded_in_run (an older case) are linked by the next run, with their per-message
    columns and mentions computed then, and never again after."""
    chats = tmp_path / "chats"
    for folder, lines in (("a", ("21:01", "21:02")), ("b", ("21:02", "21:03"))):
        (chats / folder).mkdir(parents=True)
        (chats / folder / "WhatsApp Chat with Alex.txt").write_text(
            "".join(f"12/03/2024, {t} - Alex: message at {t}, call 07700 900123\n" for t in lines),
            encoding="utf-8",
        )
    case = tmp_path / "case"
    ingest(IngestParameters(sources=[str(SAMPLE), str(chats)], case_dir=str(case)))
    db = case / "evidence.duckdb"
    with duckdb.connect(str(db)) as con:
        before = con.execute("SELECT count(*) FROM message_identifiers WHERE role = 'mentioned'").fetchone()[
            0
        ]
        keys = con.execute("SELECT message_id, dedup_key FROM messages ORDER BY 1").fetchall()
        con.execute("DELETE FROM message_identifiers WHERE role = 'mentioned'")
        con.execute(
            "UPDATE messages SET loaded_in_run = NULL, dedup_key = NULL, source_key = NULL, duplicate_of = NULL"
        )
        con.execute("UPDATE message_identifiers SET loaded_in_run = NULL")
        con.execute("UPDATE images SET loaded_in_run = NULL")
    adopted = ingest(IngestParameters(sources=[str(SAMPLE)], case_dir=str(case)))
    assert adopted["links"]["adopted"]["rows"] > 0 and "dedup" in adopted["links"]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT message_id, dedup_key FROM messages ORDER BY 1").fetchall() == keys
        assert (
            con.execute("SELECT count(*) FROM message_identifiers WHERE role = 'mentioned'").fetchone()[0]
            == before
        )
        assert con.execute("SELECT count(*) FROM messages WHERE duplicate_of IS NOT NULL").fetchone() == (1,)
    again = ingest(IngestParameters(sources=[str(SAMPLE)], case_dir=str(case)))
    assert again["links"] == {}
