"""The command line, run in-process over the bundled sample case: the public contract of DESIGN.md."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from evidence.acquire.custody import check_chain
from evidence.cli.commands import app
from evidence.db import case_lock, open_case, waiting_for_case
from evidence.errors import CaseLockedError
from evidence.parsers.registry import REGISTRY

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
runner = CliRunner()


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def sample_inputs() -> list[Path]:
    return sorted(p for p in SAMPLE.rglob("*") if p.is_file())


# The email the sample keeps twice, byte for byte (sample/README.md).
DUPLICATED_EMAIL = "platform = 'email' AND text LIKE 'Why are you ignoring me?%'"


def rows(case: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(case / "evidence.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def ingested_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case ingested once per test process (read it, never change it: see `ingested`)."""
    case = tmp_path_factory.mktemp("sample") / "case"
    result = evidence("ingest", SAMPLE, "--case", case, "--examiner", "DC Test")
    assert result.exit_code == 0, result.output
    return case


@pytest.fixture
def ingested(ingested_once: Path, tmp_path: Path) -> Path:
    """A private copy of the ingested sample case (modes kept), which a test may change."""
    return Path(shutil.copytree(ingested_once, tmp_path / "case"))


def test_every_command_has_help_text() -> None:
    commands = [([c.name], c) for c in app.registered_commands]
    for group in app.registered_groups:
        commands += [([group.name, c.name], c) for c in group.typer_instance.registered_commands]
    assert len(commands) >= 10
    for path, command in commands:
        assert command.callback.__doc__, path
        result = evidence(*path, "--help")
        assert result.exit_code == 0 and len(result.output) > 40, path


def test_ingest_accounts_for_every_file(ingested: Path) -> None:
    seen = {p for (p,) in rows(ingested, "SELECT source_path FROM file_occurrences")}
    for path in sample_inputs():
        assert str(path) in seen
    statuses = dict(rows(ingested, "SELECT source_path, status FROM run_files"))
    assert statuses[str(SAMPLE / "mailbox-export" / "01-about-thursday.eml")] == "parsed"
    assert statuses[str(SAMPLE / "README.md")] == "unsupported"
    # the byte-identical forwarded copy is stored once, seen twice, parsed once (the first path walked)
    assert statuses[str(SAMPLE / "forwarded-by-friend" / "Re saw you tonight.eml")] == "parsed"
    assert statuses[str(SAMPLE / "mailbox-export" / "03-re-saw-you-tonight.eml")] == "skipped"
    copy_sha = rows(
        ingested, "SELECT sha256 FROM run_files WHERE source_path LIKE '%Re saw you tonight.eml'"
    )[0][0]
    assert rows(ingested, f"SELECT count(*) FROM file_occurrences WHERE sha256 = '{copy_sha}'") == [(2,)]
    with zipfile.ZipFile(next(SAMPLE.glob("whatsapp/*.zip"))) as export:
        members = len(export.namelist())
    assert rows(ingested, "SELECT count(*) FROM files") == [
        (len(sample_inputs()) - 1 + members + 1,)
    ]  # one copy stored once; + the zip's members + the photo attached to an email
    assert {s for (s,) in rows(ingested, "SELECT DISTINCT status FROM files")} <= {
        "parsed",
        "unsupported",
        "failed",
    }
    loaded = rows(ingested, "SELECT count(*) FROM messages")
    assert loaded == rows(ingested, "SELECT sum(messages) FROM run_files") and loaded[0][0] > 400
    # the malformed email is parsed with warnings, not dropped
    malformed = rows(
        ingested,
        "SELECT r.status, r.warnings FROM run_files r WHERE source_path LIKE '%08-malformed.eml'",
    )[0]
    assert malformed[0] == "parsed" and malformed[1] >= 2
    assert rows(ingested, "SELECT count(*) FROM ingest_errors WHERE severity = 'warning'")[0][0] >= 2
    # the duplicate shows as two occurrences of one event in the timeline
    assert rows(ingested, f"SELECT occurrences FROM timeline WHERE {DUPLICATED_EMAIL}") == [(2,)]


def test_case_folder_is_private_and_originals_read_only(ingested_once: Path) -> None:
    assert stat.S_IMODE(ingested_once.stat().st_mode) == 0o700
    blobs = [p for p in (ingested_once / "originals").rglob("*") if p.is_file()]
    assert blobs and all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in blobs)


def test_custody_log_records_the_run(ingested: Path) -> None:
    entries = [json.loads(line) for line in (ingested / "custody.log").read_text().splitlines()]
    actions = [e["action"] for e in entries]
    assert actions[0] == "ingest_started" and actions[-1] == "ingest_finished"
    assert {"file_stored", "file_seen_again", "file_parsed", "file_skipped", "file_unsupported"} <= set(
        actions
    )
    assert {e["examiner"] for e in entries} == {"DC Test"}
    assert check_chain(ingested / "custody.log") == []


def test_reingest_adds_occurrences_not_messages(ingested: Path) -> None:
    before = rows(ingested, "SELECT * FROM messages ORDER BY message_id")
    result = evidence("ingest", SAMPLE, "--case", ingested)
    assert result.exit_code == 0, result.output
    assert rows(ingested, "SELECT * FROM messages ORDER BY message_id") == before
    assert rows(ingested, "SELECT count(DISTINCT run_id) FROM file_occurrences") == [(2,)]
    second_run = rows(ingested, "SELECT run_id FROM ingest_runs ORDER BY started_at DESC LIMIT 1")[0][0]
    statuses = dict(
        rows(ingested, f"SELECT source_path, status FROM run_files WHERE run_id = '{second_run}'")
    )
    # an archive is opened again to reach its members (listed "parsed"); every file in it is skipped
    archives = {p for p in statuses if p.endswith(".zip")}
    assert {statuses[p] for p in archives} == {"parsed"}
    assert {s for p, s in statuses.items() if p not in archives} == {"skipped", "unsupported"}


def test_reingest_of_parsed_files_loads_no_parser_library(tmp_path: Path) -> None:
    """A re-ingest whose files were all parsed before records its run (run, occurrences, custody) without
    importing pyarrow, libmagic, phonenumbers, rich (its output is no terminal), or any parser module
    beyond the registering one of the parsers those files had: start-up is most of such a run. A changed
    parameter makes the same file parse again."""
    from whatsapp_generator import generate_export

    export = tmp_path / "WhatsApp Chat with Alex.txt"
    generate_export(export, 200, seed=3, identifiers=0.3)
    case = tmp_path / "case"
    assert evidence("ingest", export, "--case", case).exit_code == 0
    script = (
        "import sys\nfrom evidence.cli.commands import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as exit:\n    code = exit.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('pyarrow', 'magic', 'numpy',"
        " 'phonenumbers', 'multiprocessing', 'rich') or m.startswith(('evidence.parsers.mbox',"
        " 'evidence.parsers.image', 'evidence.parsers.email', 'evidence.parsers.whatsapp.')))\n"
        "print('LOADED', loaded, code)"
    )
    again = subprocess.run(
        [sys.executable, "-c", script, "ingest", str(export), "--case", str(case)],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == "LOADED [] 0"
    runs = rows(case, "SELECT run_id, status FROM ingest_runs ORDER BY started_at")
    assert [status for _, status in runs] == ["done", "done"]
    assert rows(case, f"SELECT status, status_reason FROM run_files WHERE run_id = '{runs[1][0]}'") == [
        ("skipped", "already parsed in an earlier run with the same parser and parameters")
    ]
    assert rows(case, "SELECT count(*) FROM file_occurrences") == [(2,)]
    assert rows(case, "SELECT count(DISTINCT run_id) FROM file_occurrences") == [(2,)]
    assert check_chain(case / "custody.log") == []
    changed = evidence("ingest", export, "--case", case, "--region", "US")
    assert changed.exit_code == 0, changed.output
    third = rows(case, "SELECT run_id FROM ingest_runs ORDER BY started_at DESC LIMIT 1")[0][0]
    assert rows(case, f"SELECT status FROM run_files WHERE run_id = '{third}'") == [("parsed",)]


def test_verify_passes_then_names_a_flipped_byte(ingested: Path) -> None:
    result = evidence("verify", "--case", ingested)
    assert result.exit_code == 0 and "OK" in result.output
    blob = sorted(
        p for p in (ingested / "originals").rglob("*") if p.is_file() and ".incoming" not in p.parts
    )[0]
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    result = evidence("verify", "--case", ingested)
    assert result.exit_code == 1
    assert blob.name in result.output and "has changed" in result.output


def test_verify_names_a_tampered_custody_line(ingested: Path) -> None:
    log = ingested / "custody.log"
    lines = log.read_text().splitlines()
    lines[1] = lines[1].replace('"DC Test"', '"Someone Else"')
    log.write_text("\n".join(lines) + "\n")
    result = evidence("verify", "--case", ingested)
    assert result.exit_code == 1 and "custody.log line 3" in result.output


def test_installed_command_exits_with_the_commands_code_and_full_output(ingested: Path) -> None:
    """main() leaves without the interpreter's teardown: output must still be complete, codes right."""
    command = Path(sys.executable).parent / "evidence"
    done = subprocess.run([command, "verify", "--case", ingested], capture_output=True, text=True)
    assert done.returncode == 0 and "OK" in done.stdout and done.stderr == ""
    count = rows(ingested, "SELECT count(*) FROM messages")[0][0]
    listed = subprocess.run(
        [command, "query", "--case", ingested, "SELECT message_id FROM messages", "--format", "csv"],
        capture_output=True,
        text=True,
    )
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 1 + count  # header and every row
    missing = subprocess.run(
        [command, "timeline", "--case", ingested / "none"], capture_output=True, text=True
    )
    assert missing.returncode != 0 and "no case database" in missing.stderr


def test_output_to_a_pipe_keeps_each_line_whole(ingested: Path, tmp_path: Path) -> None:
    """Off a terminal a message is one line and a table as wide as its cells: rich broke both at 80
    columns (a key dates table came out one word per line, an error's path in two)."""
    command = Path(sys.executable).parent / "evidence"
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    note = "Reported to police at the front desk of the station by the victim, with her sister"
    arguments = ["--kind", "police_report", "--at", "2024-03-08T11:00", "--note", note]
    added = subprocess.run(
        [command, "events", "add", "--case", ingested, *arguments],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert added.returncode == 0, added.stderr
    assert len(added.stdout.splitlines()) == 1 and added.stdout.startswith("added k-")
    listed = subprocess.run(
        [command, "events", "list", "--case", ingested], capture_output=True, text=True, env=environment
    )
    assert listed.returncode == 0, listed.stderr
    assert [line for line in listed.stdout.splitlines() if note in line]  # the whole note in one row
    nowhere = tmp_path / ("a-folder-name-long-enough-to-pass-eighty-columns-" * 2) / "case"
    missing = subprocess.run(
        [command, "timeline", "--case", nowhere], capture_output=True, text=True, env=environment
    )
    assert missing.returncode != 0 and len(missing.stderr.splitlines()) == 1
    assert str(nowhere) in missing.stderr


def test_verify_names_a_repeated_message_id(ingested: Path) -> None:
    """message_id has no index (loading speed): the loader keeps it unique and verify checks it."""
    with duckdb.connect(str(ingested / "evidence.duckdb")) as con:
        con.execute("INSERT INTO messages SELECT * FROM messages ORDER BY message_id LIMIT 1")
        repeated = con.execute("SELECT min(message_id) FROM messages").fetchall()[0][0]
    result = evidence("verify", "--case", ingested)
    assert result.exit_code == 1
    assert f"messages: message_id {repeated} occurs 2 times" in result.output


def test_verify_names_a_repeated_identifier_link(ingested: Path) -> None:
    """message_identifiers has no index either (its ART index took ~80 MB per 800,000 links at every load)."""
    with duckdb.connect(str(ingested / "evidence.duckdb")) as con:
        link = con.execute("SELECT * FROM message_identifiers ORDER BY ALL LIMIT 1").fetchall()[0]
        con.execute("INSERT INTO message_identifiers SELECT * FROM message_identifiers ORDER BY ALL LIMIT 1")
    result = evidence("verify", "--case", ingested)
    assert result.exit_code == 1
    assert (
        f"message_identifiers: message_id/identifier_id/role {link[0]}, {link[1]}, {link[2]} occurs 2 times"
        in (result.output)
    )


def test_timeline_formats(ingested: Path, tmp_path: Path) -> None:
    count = rows(ingested, "SELECT count(*) FROM timeline")[0][0]
    result = evidence("timeline", "--case", ingested, "--format", "jsonl")
    events = [json.loads(line) for line in result.output.splitlines()]
    assert len(events) == count
    dated = [e["occurred_at_utc"] for e in events if e["occurred_at_utc"]]
    assert dated == sorted(dated) and events[-1]["occurred_at_utc"] is None  # undated last
    assert events[0]["occurred_at_utc"].startswith("2024-02-02T18:20")  # the WhatsApp chat's first line
    out = tmp_path / "timeline.csv"
    result = evidence("timeline", "--case", ingested, "--format", "csv", "-o", out)
    assert result.exit_code == 0
    assert out.read_text().splitlines()[0].startswith("occurred_at_utc,occurred_at_local,platform")
    table = evidence("timeline", "--case", ingested)
    assert f"Timeline: {count} events" in table.output


def test_csv_export_neutralises_formulas(tmp_path: Path) -> None:
    mail = tmp_path / "in" / "formula.eml"
    mail.parent.mkdir()
    mail.write_text(
        "From: x@example.net\nTo: y@example.org\nSubject: s\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n\n"
        '=HYPERLINK("http://example.invalid","click")\n'
    )
    case = tmp_path / "case"
    assert evidence("ingest", mail.parent, "--case", case).exit_code == 0
    csv_text = evidence("timeline", "--case", case, "--format", "csv").output
    assert "'=HYPERLINK" in csv_text
    raw = rows(case, "SELECT body FROM messages")[0][0]
    assert raw.startswith("=HYPERLINK")  # the database keeps the raw value


def test_query_is_read_only(ingested: Path) -> None:
    count = rows(ingested, "SELECT count(*) FROM messages")[0][0]
    result = evidence("query", "--case", ingested, "SELECT count(*) AS n FROM messages", "--format", "csv")
    assert result.output.splitlines() == ["n", str(count)]
    result = runner.invoke(app, ["query", "--case", str(ingested), "DELETE FROM messages"])
    assert result.exit_code == 1 and "read-only" in result.output.lower()
    assert rows(ingested, "SELECT count(*) FROM messages") == [(count,)]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert evidence("ingest", SAMPLE, "--case", tmp_path / "c", "--tz", "Mars/Base").exit_code == 2
    assert evidence("ingest", SAMPLE, "--case", tmp_path / "c", "--region", "XX").exit_code == 2
    assert runner.invoke(app, ["ingest", str(SAMPLE)]).exit_code == 2  # --case missing
    assert evidence("timeline", "--case", tmp_path / "no-such-case").exit_code == 2


def test_nothing_ingested_exits_1(tmp_path: Path) -> None:
    result = evidence("ingest", tmp_path / "missing", "--case", tmp_path / "case")
    assert result.exit_code == 1
    assert "cannot be read" in result.output and "nothing could be ingested" in result.output


def test_a_failing_parser_fails_one_file_not_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parser = REGISTRY.get("email_eml")
    original = type(parser).parse

    def explode_on_photo(self, ctx):  # a parser bug on one file only
        if "05-you-forgot-this" in ctx.source_path:
            raise RuntimeError("simulated parser bug")
        return original(self, ctx)

    monkeypatch.setattr(type(parser), "parse", explode_on_photo)
    case = tmp_path / "case"
    result = evidence("ingest", SAMPLE / "mailbox-export", "--case", case)
    assert result.exit_code == 0
    assert "simulated parser bug" in result.output
    failed = rows(
        case, "SELECT status, status_reason FROM files WHERE first_seen_path LIKE '%05-you-forgot-this.eml'"
    )[0]
    assert failed[0] == "failed" and "simulated parser bug" in failed[1]
    assert rows(case, "SELECT count(*) FROM ingest_errors WHERE stage = 'parse' AND severity = 'error'") == [
        (1,)
    ]
    emails = len(list((SAMPLE / "mailbox-export").glob("*.eml")))
    assert rows(case, "SELECT count(*) FROM messages") == [(emails - 1,)]


def test_a_second_writer_gets_a_clear_message(ingested: Path) -> None:
    count = rows(ingested, "SELECT count(*) FROM messages")[0][0]
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with case_lock(ingested, exclusive=True):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    try:
        with (
            pytest.raises(CaseLockedError, match="in use by pid"),
            open_case(ingested, write=True, timeout=0.3),
        ):
            pass
    finally:
        release.set()
        thread.join()
    with open_case(ingested, write=True, timeout=1) as con:  # free again
        assert con.execute("SELECT count(*) FROM messages").fetchone() == (count,)


def test_a_writer_told_to_wait_for_the_case_waits_and_says_so(
    ingested: Path, caplog: pytest.LogCaptureFixture
) -> None:
    count = rows(ingested, "SELECT count(*) FROM messages")[0][0]
    held = threading.Event()

    def hold(seconds: float) -> None:
        with case_lock(ingested, exclusive=True):
            held.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold, args=(1.0,))
    thread.start()
    held.wait(5)
    caplog.set_level(logging.INFO, logger="evidence.db")
    with waiting_for_case(30), open_case(ingested, write=True) as con:  # as the Airflow load task does
        assert con.execute("SELECT count(*) FROM messages").fetchone() == (count,)
    thread.join()
    assert any(f"waiting for the case {ingested}" in m for m in caplog.messages)
    held.clear()
    thread = threading.Thread(target=hold, args=(2.0,))
    thread.start()
    held.wait(5)
    try:
        with pytest.raises(CaseLockedError), waiting_for_case(0.3), open_case(ingested, write=True):
            pass
    finally:
        thread.join()


def test_an_older_case_database_is_migrated(ingested: Path) -> None:
    """A case made by an earlier version lacks newer columns: opening it for writing adds them."""
    count = rows(ingested, "SELECT count(*) FROM timeline")[0][0]
    with duckdb.connect(str(ingested / "evidence.duckdb")) as con:
        con.execute("DROP VIEW timeline")
        con.execute("ALTER TABLE images DROP COLUMN flags")
        con.execute("DELETE FROM schema_info WHERE key = 'schema_hash'")
    result = evidence("ingest", SAMPLE, "--case", ingested)
    assert result.exit_code == 0, result.output
    assert rows(ingested, "SELECT count(*) FROM timeline") == [(count,)]
    columns = {
        c for (c,) in rows(ingested, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'images'")
    }
    assert "flags" in columns


def test_ocr_language_must_be_installed(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["ingest", str(SAMPLE), "--case", str(tmp_path / "c"), "--ocr-lang", "eng+xyz"]
    )
    assert result.exit_code == 2
    assert "no language data for xyz" in result.output
    assert not (tmp_path / "c").exists()  # refused before anything was stored


def test_a_failing_link_step_is_recorded_and_the_load_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.analysis import steps as link_steps

    def broken(con, scope):
        con.execute("UPDATE messages SET body = 'half-done change'")  # must be rolled back
        raise RuntimeError("simulated bug in a link step")

    import sys
    import types

    module = types.ModuleType("broken_link_step")
    module.broken = broken
    monkeypatch.setitem(sys.modules, "broken_link_step", module)
    step = link_steps.LinkStep("broken_step", "broken_link_step:broken", "a step with a bug", ("messages",))
    monkeypatch.setattr(link_steps, "STEPS", (step, *link_steps.STEPS))
    case = tmp_path / "case"
    result = evidence("ingest", SAMPLE, "--case", case)
    assert result.exit_code == 0
    assert "simulated bug in a link step" in result.output
    # every message the files gave is loaded
    assert rows(case, "SELECT count(*) FROM messages") == rows(case, "SELECT sum(messages) FROM run_files")
    assert rows(case, "SELECT count(*) FROM messages WHERE body = 'half-done change'") == [(0,)]
    (error,) = rows(case, "SELECT stage, severity, error FROM ingest_errors WHERE stage = 'link'")
    assert error[:2] == ("link", "error") and "broken_step" in error[2]
    # the other steps still ran: the duplicate forwarded email is one event seen twice
    assert rows(case, f"SELECT occurrences FROM timeline WHERE {DUPLICATED_EMAIL}") == [(2,)]


def _summary() -> dict:
    counts = dict.fromkeys(
        ("files_seen", "new", "duplicate", "parsed", "skipped", "unsupported", "failed", "warnings"), 1
    )
    return {
        "run_id": "run-1",
        **counts,
        "files_seen": 3,
        "messages_read": 12,
        "messages_loaded": 10,
        "failures": [{"source_path": "evil\nname\u202egpj.exe", "reason": "parser crashed"}],
        "not_read": [{"source_path": "deep/folder", "reason": "nested too deep"}],
        "link_errors": ["link step dedup failed [and was rolled back]"],
    }


def test_the_summary_off_a_terminal_is_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """Where stdout is a file, a pipe or a log: one "label: value" line per count and every failed or
    unread file on its own line, names escaped so that a newline or U+202E cannot fake a line."""
    from evidence.cli.commands import print_summary

    print_summary(_summary())
    out = capsys.readouterr().out.splitlines()
    assert out[:4] == [
        "Run run-1",
        "  files seen: 3",
        "  new to this case: 1",
        "  duplicates (already stored): 1",
    ]
    assert "  messages loaded (new): 10" in out and "  not read (see reasons): 1" in out
    assert "Linking problem: link step dedup failed [and was rolled back]" in out
    failed = out.index("Failed:")
    assert out[failed + 1].startswith("  evil\\nname") and "\u202e" not in out[failed + 1]
    assert out[failed + 2 :] == ["Not read:", "  deep/folder: nested too deep"]
    assert not any(ch in "".join(out) for ch in "┌│└")


def test_the_summary_on_a_terminal_is_a_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.cli import commands

    monkeypatch.setattr(commands, "is_terminal", lambda stream: True)
    commands.print_summary(_summary())
    out = capsys.readouterr().out
    assert "┌" in out and "│ messages loaded (new)" in out and "Failed:" in out and "Not read:" in out
    assert "[and was rolled back]" in out  # markup in an error is shown, not interpreted
