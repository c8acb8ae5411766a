"""`evidence report`: a case built through the real pipeline (WhatsApp, email, SMS, a screenshot, key dates, a
confirmed actor), with names, bodies and file names that carry HTML payloads, opened in headless Chromium:
filters work, payloads stay text and never run, nothing is requested, printing gives several pages, the
redacted copy masks the owner's and a third party's identifiers, and the run is recorded in custody."""

from __future__ import annotations

import hashlib
import html as html_module
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.acquire.custody import CustodyLog, check_chain
from evidence.cli.commands import app
from evidence.outputs.report import csp_hash, json_for_script
from evidence.pipeline.parameters import IngestParameters
from evidence.pipeline.run import ingest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from browser import available as browser_available
from browser import headless_chromium
from screenshot_generator import sample_spec, save

runner = CliRunner()
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCRIPT_TAG = "<script>alert(1)</script>"
IMG_TAG = "<img src=x onerror=alert(1)>"
STYLE_BREAK = "</style><svg onload=alert(1)>"
# payloads that would leave a trace in window if they ever ran (CSP or not)
PWN_SCRIPT = "</script><script>window.pwned1=1</script>"
PWN_IMG = "<img src=x onerror=window.pwned2=1>"
STALKER_PHONE = "+447700900123"
STALKER_EMAIL = "jordan.b@example.net"
OWNER_PHONE_WRITTEN = "07700 900999"
THIRD_PARTY = "jo.friend@example.org"


def evidence(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def _chat() -> str:
    s = "+44 7700 900123"
    lines = [
        ("01/03/2024, 20:01", s, "Hi Sam, it's me"),
        ("01/03/2024, 20:02", s, SCRIPT_TAG),
        ("01/03/2024, 20:03", "Sam Taylor", "Who is this?"),
        ("01/03/2024, 20:05", s, IMG_TAG),
        ("02/03/2024, 02:30", s, STYLE_BREAK),
        ("03/03/2024, 21:00", s, "I know where you live"),
        ("04/03/2024, 21:10", PWN_IMG, "a friend of yours, worried about you"),
        ("09/03/2024, 21:00", "Sam Taylor", "Please stop contacting me"),
        ("12/03/2024, 22:00", s, PWN_SCRIPT),
    ]
    # a few busy weeks, so frequency and the weekly chart have something to show
    for day in range(13, 31):
        for hour in (8, 13, 19, 23):
            lines.append(
                (f"{day:02d}/03/2024, {hour:02d}:{day:02d}", s, f"message {day}-{hour} why won't you answer")
            )
    lines.append(("31/03/2024, 09:00", s, f"Call me on 07700 900123, not your {OWNER_PHONE_WRITTEN}"))
    return "".join(f"{when} - {who}: {text}\n" for when, who, text in lines)


def _mail(sender: str, to: str, cc: str | None, subject: str, date: str, body: str, msg_id: str) -> str:
    cc_line = f"Cc: {cc}\n" if cc else ""
    return (
        f"From: {sender}\nTo: {to}\n{cc_line}Subject: {subject}\nDate: {date}\nMessage-ID: <{msg_id}@example.net>\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    )


def write_sources(root: Path) -> Path:
    src = root / "sources"
    (src / "chat").mkdir(parents=True)
    (src / "mail").mkdir()
    # a payload in the file name too (one without "/", which no file name can hold)
    (src / "chat" / f"WhatsApp Chat with {IMG_TAG}.txt").write_text(_chat(), encoding="utf-8")
    (src / "mail" / "01.eml").write_text(
        _mail(
            f"Jordan Blake <{STALKER_EMAIL}>",
            "Sam Taylor <sam.taylor@example.org>",
            f"Jo Friend <{THIRD_PARTY}>",
            STYLE_BREAK,
            "Mon, 25 Mar 2024 23:40:00 +0000",
            f"I told Jo everything. Text me on 07700 900123. {SCRIPT_TAG}",
            "j1",
        ),
        encoding="utf-8",
    )
    (src / "mail" / "02.eml").write_text(
        _mail(
            f"Jo Friend <{THIRD_PARTY}>",
            "Sam Taylor <sam.taylor@example.org>",
            None,
            "are you ok?",
            "Tue, 26 Mar 2024 08:00:00 +0000",
            "Jordan wrote to me about you. Are you safe?",
            "f1",
        ),
        encoding="utf-8",
    )
    (src / "sms-20240401.xml").write_text(
        "<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n"
        '<smses count="2">'
        '<sms protocol="0" address="07700 900123" date="1711990800000" type="1" subject="null" '
        'body="You will regret blocking me" read="1" status="-1" locked="0" date_sent="0" contact_name="J" />'
        '<sms protocol="0" address="07700 900123" date="1711994400000" type="1" subject="null" '
        'body="&lt;script&gt;window.pwned3=1&lt;/script&gt;" read="1" status="-1" locked="0" date_sent="0" '
        'contact_name="J" /></smses>\n',
        encoding="utf-8",
    )
    save(sample_spec(), src / "Screenshot_20240312-211500.png")
    (src / "notes <svg onload=alert(1)>.xyz").write_bytes(b"\x00\x01 not a format anyone reads")
    # a zip cut short inside its only member: kept as far as it reached the file, with a warning
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(f"draft {IMG_TAG}.txt", "".join(f"line {n} of a long note\n" for n in range(400)))
    (src / "cut-backup.zip").write_bytes(buffer.getvalue()[:4000])
    return src


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    case = root / "case"
    ingest(
        IngestParameters(
            sources=[str(write_sources(root))],
            case_dir=str(case),
            tz="Europe/London",
            owners=["sam.taylor@example.org", "+447700900999", "Sam Taylor"],
            examiner="DC Test",
        )
    )
    for args in (
        ("events", "add", "--case", case, "--kind", "order", "--at", "2024-03-20T12:00", "--note", "SPO served"),
        ("events", "add", "--case", case, "--kind", "police_report", "--at", "2024-03-15", "--note", SCRIPT_TAG),
        (
            "actors", "link", STALKER_PHONE, STALKER_EMAIL, "--case", case,
            "--actor", f"Jordan {SCRIPT_TAG} Blake", "--reason", "the victim knows both",
        ),
    ):  # fmt: skip
        result = evidence(*args)
        assert result.exit_code == 0, result.output
    return case


@pytest.fixture(scope="module")
def report(case: Path) -> Iterator[tuple[Path, str]]:
    out = case.parent / "report.html"
    result = evidence("report", "--case", case, "-o", out, "--examiner", "Advocate A")
    assert result.exit_code == 0, result.output
    yield out, result.output


def test_report_is_recorded_in_custody_and_prints_the_head(case: Path, report: tuple[Path, str]) -> None:
    out, printed = report
    entries = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()]
    written = [e for e in entries if e["action"] == "report_written"]
    assert written, "no custody entry for the report"
    first = written[0]
    assert first["details"]["outputs"][0]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert first["examiner"] == "Advocate A" and first["details"]["redacted"] is False
    # the CLI prints the chain's head after the report's own entry
    after = first["seq"]
    head = CustodyLog(case / "custody.log").head() if after == len(entries) else None
    printed_head = re.search(r"custody chain head: ([0-9a-f]{64})", printed).group(1)
    if head is not None:
        assert printed_head == head
    assert check_chain(case / "custody.log") == []
    # the report shows the head as of its making: the hash its own entry chains to
    shown = re.search(r'when this report was made: <span class="hash">([0-9a-f]{64})<', out.read_text())
    assert shown and shown.group(1) == first["prev"]


def test_report_is_self_contained_and_evidence_is_text(report: tuple[Path, str]) -> None:
    html = report[0].read_text(encoding="utf-8")
    csp = html_module.unescape(
        re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html).group(1)
    )
    assert "default-src 'none'" in csp and "img-src data:" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1 and csp_hash(scripts[0]) in csp
    styles = re.findall(r"<style>(.*?)</style>", html, re.S)
    assert len(styles) == 1 and csp_hash(styles[0]) in csp
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "<link" not in html and "@import" not in html and "url(" not in html
    for payload in (SCRIPT_TAG, IMG_TAG, STYLE_BREAK, PWN_SCRIPT, PWN_IMG, "<svg onload"):
        assert payload not in html, payload
    # evidence inside the JSON block cannot end it
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    assert "<" not in block
    data = json.loads(block)
    texts = {row[1] for row in data["rows"]}
    assert SCRIPT_TAG in texts and PWN_SCRIPT in texts


def test_json_for_script_escapes_markup() -> None:
    value = {"t": "</script><!-- <script>x</script> & \u2028"}
    text = json_for_script(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not browser_available():
        pytest.skip("/usr/bin/chromium or /usr/bin/chromedriver is absent (make setup installs them)")
    with headless_chromium("--window-size=1280,1000") as driver:
        # before any script of the page: record dialogs and CSP violations
        driver.execute_cdp_cmd(
            "Page.addScriptToEvaluateOnNewDocument",
            {
                "source": "window.__dialogs = []; window.__violations = [];"
                "window.alert = window.confirm = window.prompt = function (m) { window.__dialogs.push(String(m)); };"
                "document.addEventListener('securitypolicyviolation', function (e) {"
                "  window.__violations.push(e.violatedDirective + ' ' + e.blockedURI); });"
            },
        )
        yield driver


def _open(driver, path: Path) -> None:
    import time

    driver.get(path.resolve().as_uri())
    deadline = time.time() + 20
    while (
        not driver.execute_script("return document.documentElement.dataset.ready") and time.time() < deadline
    ):
        time.sleep(0.05)
    assert driver.execute_script("return document.documentElement.dataset.ready"), (
        "the report's script did not run"
    )


def _visible_rows(driver) -> list[dict]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#tl-body tr')).map(function (tr) {"
        "  var c = tr.children; return {who: c[2].innerText, channel: c[3].innerText, text: c[4].innerText,"
        "  flags: c[5].innerText, when: c[1].innerText}; });"
    )


def _choose(driver, select_id: str, label_start: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    select = Select(driver.find_element(By.ID, select_id))
    option = next(o for o in select.options if o.text.startswith(label_start))
    select.select_by_visible_text(option.text)


def test_payloads_show_as_text_never_run_and_nothing_is_requested(browser, report) -> None:
    driver = browser
    _open(driver, report[0])
    state = driver.execute_script(
        "return {"
        " dialogs: window.__dialogs, violations: window.__violations,"
        " pwned: [window.pwned1, window.pwned2, window.pwned3].filter(function (x) { return x !== undefined; }),"
        " scripts: Array.from(document.scripts).map(function (s) { return s.type || 'classic'; }),"
        " handlers: Array.from(document.querySelectorAll('*')).filter(function (e) {"
        "   return Array.from(e.attributes).some(function (a) { return a.name.indexOf('on') === 0; }); }).length,"
        " images: Array.from(document.images).filter(function (i) { return i.src.indexOf('data:image/jpeg') !== 0; }).length,"
        " svgs: Array.from(document.querySelectorAll('svg')).filter(function (s) { return !s.classList.contains('chart'); }).length,"
        " resources: performance.getEntriesByType('resource').map(function (r) { return r.name; }),"
        " text: document.body.innerText"
        "};"
    )
    assert state["dialogs"] == [] and state["pwned"] == []
    assert state["violations"] == []
    assert state["scripts"] == ["application/json", "classic"]
    assert state["handlers"] == 0 and state["images"] == 0 and state["svgs"] == 0
    assert state["resources"] == []
    for payload in (SCRIPT_TAG, IMG_TAG, STYLE_BREAK):
        assert payload in state["text"], payload
    # the actor's name (with a payload) is text in the chart legend too
    legend = driver.execute_script(
        "return Array.from(document.querySelectorAll('svg.chart text, svg.chart title')).map(function (t) { return t.textContent; });"
    )
    assert any(SCRIPT_TAG in t for t in legend)
    # screenshots: marked, with one embedded thumbnail per image
    assert "Read from a screenshot" in state["text"]
    thumbs = driver.execute_script("return document.querySelectorAll('img.thumb-src').length")
    assert thumbs == 1


def test_filters_change_the_visible_rows(browser, report) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    _open(driver, report[0])
    everything = _visible_rows(driver)
    assert len(everything) >= 50

    _choose(driver, "f-person", "Jordan")
    rows = _visible_rows(driver)
    assert rows and len(rows) < len(everything)
    assert all(r["who"].startswith(f"Jordan {SCRIPT_TAG} Blake") for r in rows)
    assert {r["channel"].split("\n")[0] for r in rows} >= {"whatsapp", "email", "sms"}

    _choose(driver, "f-platform", "email")
    rows = _visible_rows(driver)
    assert len(rows) == 1 and STYLE_BREAK in rows[0]["text"]

    driver.find_element(By.ID, "f-clear").click()
    _choose(driver, "f-flag", "night")
    rows = _visible_rows(driver)
    assert rows and all("night" in r["flags"] for r in rows)
    help_text = driver.find_element(By.ID, "tl-flag-help").text
    assert "00:00 and 05:59 in Europe/London" in help_text and "does not mean" in help_text

    driver.find_element(By.ID, "f-clear").click()
    driver.execute_script(
        "var f = document.getElementById('f-from'), t = document.getElementById('f-to');"
        "f.value = '2024-03-01'; t.value = '2024-03-02'; t.dispatchEvent(new Event('change'));"
    )
    rows = _visible_rows(driver)
    assert rows and all(r["when"][:10] in ("2024-03-01", "2024-03-02") for r in rows)
    assert len(rows) == 5

    # the conversation around an event: one conversation, the event highlighted, the owner's reply shown
    driver.find_element(By.ID, "f-clear").click()
    driver.execute_script("document.querySelector('#tl-body button[data-around]').click()")
    conv = driver.find_element(By.ID, "tl-conv-text").text
    assert "conversation" in conv
    whos = {r["who"] for r in _visible_rows(driver)}
    assert any(w.startswith("Account owner") for w in whos)
    assert driver.execute_script("return document.querySelectorAll('#tl-body tr.hit').length") >= 1


def test_print_to_pdf_gives_several_pages(report, tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent (make setup installs it)")
    pdf = tmp_path / "report.pdf"
    subprocess.run(
        [
            str(CHROMIUM),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-component-update",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            report[0].resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    else:
        pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes()))
    assert pages > 3


def test_redacted_report_masks_the_owner_and_third_parties(case: Path) -> None:
    out = case.parent / "redacted.html"
    result = evidence("report", "--case", case, "-o", out, "--redact")
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "Redacted copy" in html
    assert OWNER_PHONE_WRITTEN not in html and "+447700900999" not in html
    assert "sam.taylor@example.org" not in html
    assert THIRD_PARTY not in html
    assert STALKER_EMAIL in html and ("07700 900123" in html or STALKER_PHONE in html)
    entries = [json.loads(line) for line in (case / "custody.log").read_text().splitlines()]
    assert entries[-1]["action"] == "report_written" and entries[-1]["details"]["redacted"] is True
    assert f"custody chain head: {CustodyLog(case / 'custody.log').head()}" in result.output


def test_report_without_a_case_is_a_usage_error(tmp_path: Path) -> None:
    result = evidence("report", "--case", tmp_path / "nothing", "-o", tmp_path / "r.html")
    assert result.exit_code == 2
    assert not (tmp_path / "r.html").exists()


def test_incidents_are_shown_with_the_conversation_around_them(report: tuple[Path, str]) -> None:
    html = report[0].read_text(encoding="utf-8")
    threads = re.findall(r'<div class="thread">(.*?)</table>', html, re.S)
    assert threads
    # the thread around the stalker's first incident holds the owner's reply between his messages
    first = next(t for t in threads if "Who is this?" in t)
    assert "Account owner" in first and 'class="member' in first
    assert "Read from a screenshot" in html and "SPO served" in html


def test_files_read_with_warnings_are_listed_with_what_went_wrong(
    case: Path, report: tuple[Path, str]
) -> None:
    """An advocate sees which files were read only in part (not a count and a table name to query)."""
    html = report[0].read_text(encoding="utf-8")
    section = html[html.index("<h3>Read, with warnings</h3>") : html.index("<h3>Custody</h3>")]
    rows = re.findall(r"<tr>(.*?)</tr>", section, re.S)
    member = next(r for r in rows if "cut-backup.zip!/draft" in r)
    assert html_module.escape(IMG_TAG) in member and IMG_TAG not in member  # a name is text, never markup
    assert "only its first" in member and "archive ends inside it" in member
    archive = next(r for r in rows if "cut-backup.zip</td>" in r)
    assert "read from their own headers" in archive


def test_caveats_of_damaged_files_are_explained_where_they_appear(tmp_path: Path) -> None:
    """A message read past damage carries a flag; the report says what it means and what it does not."""
    from evidence.outputs.report_wording import FLAG_TEXT

    src = tmp_path / "sources"
    src.mkdir()
    chat = "".join(
        f"13/03/2024, 21:{m:02d} - {'Alex Marsh' if m % 2 else 'Sam Taylor'}: message {m}\n"
        for m in range(20)
    ).replace("13/03/2024, 21:07 - Alex", "13/0X/2024, 21:07 - Alex")
    data = chat.encode()
    at = data.index(b"message 12")
    (src / "WhatsApp Chat with Alex Marsh.txt").write_bytes(data[:at] + bytes(40) + data[at + 40 :])
    # an export zip cut halfway through its chat, and a mail whose From header holds a line break
    other = "".join(
        f"[14/03/2024, 21:{m // 60:02d}:{m % 60:02d}] Alex Marsh: later {m}\n" for m in range(2000)
    )
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("_chat.txt", other)
    (src / "WhatsApp Chat - Alex Marsh.zip").write_bytes(packed.getvalue()[: len(packed.getvalue()) // 2])
    (src / "cut.eml").write_bytes(
        b"From: Ale\nx Marsh <alex.m@example.com>\nTo: sam@example.org\nSubject: hi\n"
        b"Date: Wed, 13 Mar 2024 22:00:00 +0000\nMessage-ID: <1@example.com>\n\nwatching you\n"
    )
    case = tmp_path / "case"
    ingest(IngestParameters(sources=[str(src)], case_dir=str(case), tz="Europe/London"))
    out = tmp_path / "report.html"
    result = evidence("report", "--case", case, "-o", out)
    assert result.exit_code == 0, result.output
    page = html_module.unescape(out.read_text(encoding="utf-8"))
    # every flag's words are in the page's data for the timeline; the "Flagged events" section explains the
    # flags the case holds, each under its own heading, and no other
    flagged = page[page.index('<section id="flagged"') : page.index('<section id="incidents"')]
    for flag in ("damaged_header_inside", "zeroed_bytes", "from_damaged_archive_member", "headers_damaged"):
        means, not_means = FLAG_TEXT[flag]
        assert f'id="flag-{flag}"' in flagged and means in flagged and not_means in flagged, flag
    assert 'id="flag-separator_damaged"' not in flagged
