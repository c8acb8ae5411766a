"""The offline HTML report an advocate hands to the police, the CPS or a magistrate.

One self-contained file: no request leaves it (a Content-Security-Policy with default-src 'none', the
style and the script pinned by their hashes), charts drawn here as SVG, screenshots as small embedded
JPEG thumbnails (one per image). Evidence is data, never markup: the templates autoescape everything, the
charts escape every name, and the timeline travels as a JSON data block (`<` written as \\u003c, so text
holding `</script>` cannot end it) that the page's own script turns into rows with textContent, a few
hundred at a time, so a case of 100,000 events opens in seconds.

The report states facts and where they come from. It never scores, never concludes, and never says that
a limb of a Stalking Protection Order application is met: it shows which evidence relates to each.

What the report shows is gathered by outputs/report_data.py (with report_queries, report_rows and
report_wording) from a read-only connection (the case database, or the viewers' snapshot); this module
renders it and writes the file and its custody entry.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

from evidence import __version__
from evidence.acquire.custody import CustodyLog
from evidence.outputs.redact import redactor_for
from evidence.outputs.report_data import gather


@dataclass(frozen=True)
class ReportResult:
    path: Path
    sha256: str
    size_bytes: int
    events: int
    chain_head_in_report: str
    chain_head: str  # after the report's own custody entry: print it
    redacted: bool


def _template_text(name: str) -> str:
    return resources.files("evidence.outputs").joinpath("templates", name).read_text(encoding="utf-8")


def json_for_script(value: Any) -> str:
    """JSON safe inside a <script type="application/json"> element: '<', '>' and '&' are written as
    \\u escapes, so no text can close the element or open a comment; JSON.parse reads them back."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def template_environment() -> Any:
    """The templates of the report and the viewer pages (which extend the same base.html.j2), autoescaped."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("evidence.outputs", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def template_text(name: str) -> str:
    """A static file of the templates folder (style sheets, the report's script)."""
    return _template_text(name)


def report_csp() -> str:
    """The report's Content-Security-Policy: its own style and script (by hash), images inline, nothing else."""
    return (
        "default-src 'none'; img-src data:; "
        f"style-src {csp_hash(_template_text('report.css'))}; script-src {csp_hash(_template_text('report.js'))}; "
        "base-uri 'none'; form-action 'none'"
    )


def render(
    context: dict[str, Any],
    *,
    redacted: bool,
    examiner: str | None,
    case_name: str,
    chain_head: str,
    generated_at: datetime,
) -> str:
    style = _template_text("report.css")
    script = _template_text("report.js")
    csp = report_csp()
    template = template_environment().get_template("report.html.j2")
    return template.render(
        **context,
        csp=csp,
        style=Markup(style),
        script=Markup(script),
        data_json=Markup(json_for_script(context["data"])),
        redacted=redacted,
        examiner=examiner or "",
        case_name=case_name,
        chain_head=chain_head,
        generated=generated_at.strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )


def build_report(case: Path, *, redact: bool = False, examiner: str | None = None) -> tuple[str, int, str]:
    """The report's HTML, its number of events and the custody chain's head it shows."""
    from evidence.db import open_case

    case = Path(case)
    head = CustodyLog(case / "custody.log").head()
    with open_case(case) as con:
        return report_from(con, case, redact=redact, examiner=examiner, chain_head=head)


def report_from(
    con: Any, case: Path, *, redact: bool, examiner: str | None, chain_head: str
) -> tuple[str, int, str]:
    """The report's HTML from an open read-only connection (the case database or the viewers' snapshot of it)."""
    head = chain_head
    redactor = redactor_for(con, redact)
    context = gather(con, case, redactor)
    html = render(
        context,
        redacted=redact,
        examiner=examiner,
        case_name=redactor.text(case.resolve().name),
        chain_head=head,
        generated_at=datetime.now(UTC),
    )
    return html, len(context["data"]["rows"]), head


def write_report(
    case: Path, output: Path, *, redact: bool = False, examiner: str | None = None, **details: Any
) -> ReportResult:
    """Build the report, write it atomically and record it (its SHA-256) in the custody log; `details`
    (e.g. the ingest run that made an automatic rebuild) go into the custody entry too."""
    from evidence.acquire.custody import default_examiner
    from evidence.outputs.delivery import record_output, sha256_of, write_atomically

    who = examiner or default_examiner()
    html, events, head_in_report = build_report(case, redact=redact, examiner=who)
    output = Path(output)
    write_atomically(output, html.encode("utf-8"))
    head = record_output(case, "report_written", [output], who, redacted=redact, events=events, **details)
    return ReportResult(
        path=output,
        sha256=sha256_of(output),
        size_bytes=output.stat().st_size,
        events=events,
        chain_head_in_report=head_in_report,
        chain_head=head,
        redacted=redact,
    )
