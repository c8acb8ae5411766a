"""The viewer's FastAPI app, mounted by Airflow's api-server under URL_PREFIX (plugins/evidence_viewer.py).

Airflow authenticates nothing inside a mounted app, so every route carries Airflow's own dependencies:
reading needs the PLUGINS view (any role), writing an annotation needs the right to trigger DAG runs
(SimpleAuthManager: `user` and above; `viewer` gets 403). The session cookie alone never writes: a write
carries a Bearer token or the form's CSRF token, which is derived from the session cookie (a page from
another site cannot read it). Pages are rendered server-side without any script, under a strict CSP.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.api_fastapi.auth.managers.models.resource_details import AccessView, DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag, requires_access_view
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup

from evidence.acquire.custody import CustodyLog
from evidence.analysis.annotations import AnnotationError, annotate
from evidence.db import waiting_for_case, writing_case
from evidence.errors import CaseLockedError
from evidence.orchestration.viewer import reading
from evidence.outputs.report import csp_hash, report_csp, report_from, template_environment, template_text
from evidence.pipeline.snapshot import publish_for_viewers

URL_PREFIX = "/evidence-viewer"
LOCK_WAIT = 10.0  # seconds an annotation waits for a load of the case to finish
ANNOTATION_FIELDS = ("impact", "police_ref", "witness", "location", "note")

app = FastAPI(
    title="Evidence timeline viewer",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
    # every route, including any added later: no anonymous request gets past this
    dependencies=[Depends(requires_access_view(AccessView.PLUGINS))],
)
_env = template_environment()
_STYLE = template_text("report.css") + template_text("viewer.css")
_PAGE_CSP = (
    f"default-src 'none'; style-src {csp_hash(_STYLE)}; img-src data:; form-action 'self'; base-uri 'none'"
)


def _headers(csp: str) -> dict[str, str]:
    # frame-ancestors only works as a header: the Airflow UI may show the pages in its iframe, nobody else
    return {
        "Content-Security-Policy": csp + "; frame-ancestors 'self'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def _base(request: Request) -> str:
    """Where the app is mounted (the api-server's root path and URL_PREFIX): every link starts here."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def _page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(
        csp=_PAGE_CSP, style=Markup(_STYLE), base=_base(request), **context
    )
    return HTMLResponse(html, status_code=status_code, headers=_headers(_PAGE_CSP))


def csrf_token(request: Request) -> str | None:
    """The form token for this session: an HMAC keyed by the session cookie, so only a page that was
    served to this session knows it (a refreshed session asks for the page to be reloaded)."""
    session = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not session:
        return None
    return hmac.new(hashlib.sha256(session.encode()).digest(), b"evidence-viewer-csrf", "sha256").hexdigest()


def _require_explicit_credential(request: Request, form_token: str) -> None:
    """A write needs an Authorization: Bearer header or the form's CSRF token, never the cookie alone."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        return
    expected = csrf_token(request)
    if not expected or not hmac.compare_digest(expected, form_token):
        raise HTTPException(
            status_code=403,
            detail="this form has expired or did not come from the viewer: reload the event page and try again",
        )


def _case(name: str) -> Path:
    try:
        return reading.case_dir(name)
    except reading.UnknownCase:
        raise HTTPException(status_code=404, detail=f"no case {name!r} with a published snapshot") from None


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@app.get("/", response_class=HTMLResponse)
def case_list(request: Request, user: GetUserDep) -> HTMLResponse:
    cases = [
        {**c, "published": datetime.fromtimestamp(c["published"], UTC).strftime("%Y-%m-%d %H:%M UTC")}
        for c in reading.list_cases()
    ]
    return _page(
        request, "viewer_cases.html.j2", cases=cases, root=reading.cases_root(), user=user.get_name()
    )


@app.get("/cases/{name}/", response_class=HTMLResponse)
def timeline(
    request: Request,
    name: str,
    user: GetUserDep,
    platform: str = "",
    who: str = "",
    flag: str = "",
    date_from: Annotated[str, Query(alias="from")] = "",
    date_to: Annotated[str, Query(alias="to")] = "",
    q: str = "",
    page: int = 1,
) -> HTMLResponse:
    folder = _case(name)
    chosen = reading.TimelineFilter(platform, who, flag, _day(date_from), _day(date_to), q.strip(), page)
    stamp = reading.snapshot_stamp(folder)
    with reading.open_snapshot(folder) as con:
        result = reading.timeline_page(con, chosen, stamp)
    shown = {"platform": platform, "who": who, "flag": flag, "from": date_from, "to": date_to, "q": q}
    kept = {k: v for k, v in shown.items() if v}
    bad_dates = [v for v in (date_from, date_to) if v and _day(v) is None]
    return _page(
        request,
        "viewer_timeline.html.j2",
        case=name,
        user=user.get_name(),
        filters=shown,
        bad_dates=bad_dates,
        page_link=lambda n: "?" + urlencode({**kept, "page": n}),
        **result,
    )


@app.get("/cases/{name}/events/{event_id}", response_class=HTMLResponse)
def event(request: Request, name: str, event_id: str, user: GetUserDep) -> HTMLResponse:
    return _event_page(request, name, event_id, user.get_name())


def _event_page(
    request: Request, name: str, event_id: str, user: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    folder = _case(name)
    with reading.open_snapshot(folder) as con:
        detail = reading.event_detail(con, event_id)
    if detail is None:
        raise HTTPException(status_code=404, detail=f"no event {event_id!r} in case {name!r}")
    return _page(
        request,
        "viewer_event.html.j2",
        status_code=status_code,
        case=name,
        user=user,
        csrf=csrf_token(request) or "",
        error=error,
        **detail,
    )


@app.post(
    "/cases/{name}/events/{event_id}/annotations",
    dependencies=[Depends(requires_access_dag("POST", DagAccessEntity.RUN))],
    response_model=None,
)
def add_annotation(
    request: Request,
    name: str,
    event_id: str,
    user: GetUserDep,
    csrf_token: Annotated[str, Form()] = "",
    impact: Annotated[str, Form()] = "",
    police_ref: Annotated[str, Form()] = "",
    witness: Annotated[str, Form()] = "",
    location: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> RedirectResponse | HTMLResponse:
    """Record an advocate's note on an event with the code `evidence annotate` uses; the examiner is the
    Airflow user. Then the snapshot is published so the page shows it."""
    _require_explicit_credential(request, csrf_token)
    folder = _case(name)
    examiner = user.get_name()
    fields = dict(zip(ANNOTATION_FIELDS, (impact, police_ref, witness, location, note), strict=True))
    try:
        row = record_annotation(folder, event_id, examiner, fields)
    except AnnotationError as exc:
        return _event_page(request, name, event_id, examiner, error=str(exc), status_code=400)
    except CaseLockedError:
        raise HTTPException(
            status_code=409, detail="the case is being loaded right now: try again in a minute"
        ) from None
    return RedirectResponse(
        f"{_base(request)}/cases/{quote(name)}/events/{quote(event_id)}#{row['annotation_id']}",
        status_code=303,
    )


def record_annotation(folder: Path, event_id: str, examiner: str, fields: dict[str, str]) -> dict[str, Any]:
    """annotate() in one transaction under the case lock, the snapshot published before the lock is let
    go, then both recorded in the custody log (as `evidence annotate` records its notes)."""
    published: list[tuple[str, dict[str, Any]]] = []
    with (
        waiting_for_case(LOCK_WAIT),
        writing_case(
            folder, after_commit=lambda con: published.extend(publish_for_viewers(con, folder))
        ) as con,
    ):
        row = annotate(con, event_id, examiner=examiner, **fields)
        if row["target_kind"] != "event":
            raise AnnotationError(f"{event_id!r} is not an event")
    log = CustodyLog(folder / "custody.log", examiner)
    log.append_many([("annotation_added", {**row, "via": "airflow viewer"}), *published])
    return row


@app.get("/cases/{name}/actors", response_class=HTMLResponse)
def actors(request: Request, name: str, user: GetUserDep) -> HTMLResponse:
    folder = _case(name)
    with reading.open_snapshot(folder) as con:
        found = reading.actors(con)
    return _page(request, "viewer_actors.html.j2", case=name, user=user.get_name(), **found)


@app.get("/cases/{name}/report", response_class=HTMLResponse)
def report(request: Request, name: str, user: GetUserDep, redact: bool = False) -> HTMLResponse:
    """The report `evidence report` writes, built from the snapshot by the same code and templates."""
    folder = _case(name)
    head = CustodyLog(folder / "custody.log").head()
    with reading.open_snapshot(folder) as con:
        html, _, _ = report_from(con, folder, redact=redact, examiner=user.get_name(), chain_head=head)
    return HTMLResponse(html, headers=_headers(report_csp()))
