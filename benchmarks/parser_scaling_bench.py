"""Does each parser's time grow in proportion to the messages in a file? One extraction of N and of 4N.

For every export format read as a whole document (JSON, HTML, XML) and the plain-text Signal export, a
generated file of N messages and one of 4N (bodies carry phone numbers, addresses and handles, as in a real
case) go through `extract_items`, the extraction step of every run, in this process, as a run calls it: rows
spilled to Parquet parts as they are read, with the per-message work (identifiers in bodies, dedup keys). The figure per format
is the time per message at 4N against the time per message at N: 1.0 is linear, and a step that compares
each message with every other (or scans a growing list per message) shows as 2 and more. The two HTML
formats are also measured damaged: one message's closing tag mangled, so that the HTML parser puts every
later message inside it, and every closing tag mangled, so that each message nests inside the one before
(a broken or hostile copy), which is refused as nested too deeply; both must stay linear. SMS backups are
measured damaged too (one item's quote lost near the start, and every tenth item's), so that the rest of
the file is read item by item. Signal is also measured with one message of N lines that each begin like a
header (the damaged-header check looks at every such line with the one after it).

Goal for every figure: at most 1.5. Best of two runs each. The WhatsApp and mbox readers have their own
benchmarks (whatsapp_bench.py, mbox_bench.py) against outside baselines.
Usage: .venv/bin/python benchmarks/parser_scaling_bench.py [N]   (default 5000)
"""

from __future__ import annotations

import calendar
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import report, scratch

from evidence.acquire.found_file import FoundFile
from evidence.acquire.store import OriginalsStore
from evidence.parsers.context import ParseOptions
from evidence.parsers.rows import ParsedRows
from evidence.pipeline.extract import extract_items

GOAL = 1.5
ROUNDS = 2
SENDERS = [("Mallory", "+447700900123", "mallory@example.org"), ("Alex", "+447700900456", "alex@example.net")]


def body(k: int) -> str:
    """Message text; every third names a number, an address or a handle, as a stalker's messages do."""
    pick = k % 9
    if pick == 0:
        return f"call me on 07700 900{k % 1000:03d} now ({k})"
    if pick == 3:
        return f"my new email is watcher{k % 50}@example.com, message {k}"
    if pick == 6:
        return f"follow @watcher_{k % 40} on insta ({k})"
    return f"I saw you at the station again today, message {k}"


def clock(k: int) -> tuple[int, int, int, int]:
    """(day, hour, minute, second) of message k: one a minute from 1 March 2024."""
    minutes = k
    return 1 + minutes // 1440 % 28, minutes // 60 % 24, minutes % 60, k % 60


def telegram_json(n: int) -> tuple[bytes, str, str]:
    messages = []
    for k in range(n):
        day, hour, minute, second = clock(k)
        name, _, _ = SENDERS[k % 2]
        messages.append(
            {
                "id": k + 1,
                "type": "message",
                "date": f"2024-03-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}",
                "date_unixtime": str(calendar.timegm((2024, 3, day, hour, minute, second))),  # agrees
                "from": name,
                "from_id": f"user{k % 2 + 1}",
                "text": body(k),
            }
        )
    export = {"name": "Mallory", "type": "personal_chat", "id": 42, "messages": messages}
    return json.dumps(export, ensure_ascii=False).encode(), "result.json", "telegram_json"


def instagram_json(n: int) -> tuple[bytes, str, str]:
    messages = [
        {"sender_name": SENDERS[k % 2][0], "timestamp_ms": 1709251200000 + 60000 * k, "content": body(k)}
        for k in reversed(range(n))  # newest first, as Instagram writes them
    ]
    export = {
        "participants": [{"name": name} for name, _, _ in SENDERS],
        "messages": messages,
        "title": "Mallory",
        "thread_path": "inbox/mallory_1",
    }
    return json.dumps(export).encode(), "message_1.json", "instagram_json"


def google_chat_json(n: int) -> tuple[bytes, str, str]:
    messages = []
    for k in range(n):
        day, hour, minute, second = clock(k)
        name, _, address = SENDERS[k % 2]
        twelve = hour % 12 or 12
        messages.append(
            {
                "creator": {"name": name, "email": address, "user_type": "Human"},
                "created_date": f"Friday, March {day}, 2024 at {twelve}:{minute:02d}:{second:02d}\u202f"
                f"{'AM' if hour < 12 else 'PM'} UTC",
                "text": body(k),
                "topic_id": f"topic{k}",
                "message_id": f"space/topic{k}/topic{k}",
            }
        )
    return json.dumps({"messages": messages}).encode(), "messages.json", "google_chat_json"


def discord_json(n: int) -> tuple[bytes, str, str]:
    def author(index: int) -> dict:
        name = SENDERS[index][0].lower()
        return {"id": f"12345678901234567{index}", "name": name, "discriminator": "0000", "nickname": name}

    messages = []
    for k in range(n):
        day, hour, minute, second = clock(k)
        messages.append(
            {
                "id": str(1100000000000000000 + k),
                "type": "Default",
                "timestamp": f"2024-03-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}+00:00",
                "timestampEdited": None,
                "isPinned": False,
                "content": body(k),
                "author": author(k % 2),
                "attachments": [],
                "embeds": [],
                "reactions": [],
                "mentions": [],
            }
        )
    export = {
        "guild": {"id": "0", "name": "Direct Messages"},
        "channel": {"id": "999", "type": "DirectTextChat", "name": "mallory"},
        "messages": messages,
        "messageCount": n,
    }
    return json.dumps(export).encode(), "dm-mallory.json", "discord_json"


def closing(k: int, damaged: str) -> str:
    """A message's closing tag: mangled for the third message ("one") or for every message ("all")."""
    return "</9div>" if damaged == "all" or (damaged == "one" and k == 2) else "</div>"


def telegram_html(n: int, damaged: str = "") -> tuple[bytes, str, str]:
    rows = []
    for k in range(n):
        day, hour, minute, second = clock(k)
        rows.append(
            f'<div class="message default clearfix" id="message{k + 1}"><div class="body">'
            f'<div class="pull_right date details" title="{day:02d}.03.2024 {hour:02d}:{minute:02d}:{second:02d} '
            f'UTC+00:00">{hour:02d}:{minute:02d}</div><div class="from_name">{SENDERS[k % 2][0]}</div>'
            f'<div class="text">{body(k)}</div></div>{closing(k, damaged)}\n'
        )
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"/><title>Exported Data</title></head><body>'
        '<div class="page_wrap"><div class="page_header"><div class="content"><div class="text bold">Mallory'
        '</div></div></div><div class="page_body chat_page"><div class="history">\n'
        + "".join(rows)
        + "</div></div></div></body></html>"
    )
    return page.encode(), "messages.html", "telegram_html"


def google_voice_html(n: int, damaged: str = "") -> tuple[bytes, str, str]:
    rows = []
    for k in range(n):
        day, hour, minute, second = clock(k)
        name, number, _ = SENDERS[k % 2]
        rows.append(
            f'<div class="message"><abbr class="dt" title="2024-03-{day:02d}T{hour:02d}:{minute:02d}:'
            f'{second:02d}.000+00:00">Mar {day}, 2024</abbr>:\n<cite class="sender vcard"><a class="tel" '
            f'href="tel:{number}"><span class="fn">{name}</span></a></cite>:\n<q>{body(k)}</q>\n{closing(k, damaged)} '
        )
    page = (
        '<?xml version="1.0" ?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Mallory</title>'
        '</head><body><div class="hChatLog hfeed">' + "".join(rows) + "</div></body></html>"
    )
    return page.encode(), "Mallory - Text - 2024-03-01T10_00_00Z.html", "google_voice_html"


def sms_backup_xml(n: int, damaged: str = "") -> tuple[bytes, str, str]:
    def quote(k: int) -> str:  # a lost quote: the XML parser stops there, and the rest is read item by item
        return "" if (damaged == "one" and k == 2) or (damaged == "tenth" and k % 10 == 2) else '"'

    items = "".join(
        f'  <sms protocol="0" address="{SENDERS[k % 2][1]}" date="{1709251200000 + 60000 * k}" '
        f'type="{1 + k % 2}" body={quote(k)}{body(k)}" read="1" status="-1" '
        f'contact_name="{SENDERS[k % 2][0]}" />\n'
        for k in range(n)
    )
    xml = (
        f"<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>\n<smses count=\"{n}\">\n{items}</smses>\n"
    )
    return xml.encode(), "sms-20240301.xml", "sms_backup_xml"


def signal_text(n: int, long_message: bool = False) -> tuple[bytes, str, str]:
    """n messages; with long_message, the middle one also holds n lines that each begin like a message
    header ("[2024-03-05, 21:07] Al": a damaged header's first part), each checked against the next."""
    lines = []
    for k in range(n):
        day, hour, minute, _ = clock(k)
        lines.append(f"[2024-03-{day:02d}, {hour:02d}:{minute:02d}] {SENDERS[k % 2][0]}: {body(k)}\n")
        if long_message and k == n // 2:
            lines.append(f"[2024-03-{day:02d}, {hour:02d}:{minute:02d}] Al\n" * n)
    return "".join(lines).encode(), "signal-mallory.txt", "signal_text"


FORMATS: dict[str, Callable[[int], tuple[bytes, str, str]]] = {
    "telegram_json": telegram_json,
    "instagram_json": instagram_json,
    "google_chat_json": google_chat_json,
    "discord_json": discord_json,
    "telegram_html": telegram_html,
    "telegram_html, one closing tag damaged": lambda n: telegram_html(n, damaged="one"),
    "telegram_html, every closing tag damaged (refused)": lambda n: telegram_html(n, damaged="all"),
    "google_voice_html": google_voice_html,
    "google_voice_html, one closing tag damaged": lambda n: google_voice_html(n, damaged="one"),
    "google_voice_html, every closing tag damaged (refused)": lambda n: google_voice_html(n, damaged="all"),
    "sms_backup_xml": sms_backup_xml,
    "sms_backup_xml, one item damaged": lambda n: sms_backup_xml(n, damaged="one"),
    "sms_backup_xml, every tenth item damaged": lambda n: sms_backup_xml(n, damaged="tenth"),
    "signal_text": signal_text,
    "signal_text, one message of header-like lines": lambda n: signal_text(n, long_message=True),
}

# Messages a damaged variant loses: its damaged items (sms_backup_xml's quote(k)).
LOST: dict[str, Callable[[int], int]] = {
    "sms_backup_xml, one item damaged": lambda n: 1,
    "sms_backup_xml, every tenth item damaged": lambda n: (n + 7) // 10,
}


def extraction_time(
    store: OriginalsStore, folder: Path, label: str, make: Callable[[int], tuple[bytes, str, str]], n: int
) -> float:
    """Best of ROUNDS extractions of a generated file of n messages; checks every message was read (all but
    the damaged ones, or, for a "(refused)" variant, that the file was refused as nested too deeply)."""
    data, name, parser = make(n)
    path = folder / name
    path.write_bytes(data)
    blob = store.put_file(path)
    best = float("inf")
    for round_number in range(ROUNDS):
        item = FoundFile(blob.sha256, blob.md5, blob.size_bytes, str(path), name)
        item.format = parser
        spill = folder / f"spill-{n}-{round_number}"  # as pipeline/extract.py's batch sets it
        start = time.perf_counter()
        out = extract_items(
            [item], store=store, run_id="bench", options=ParseOptions(), out=ParsedRows(spill_dir=spill)
        )
        best = min(best, time.perf_counter() - start)
        shutil.rmtree(spill, ignore_errors=True)
        (row,) = out.rows["run_files"]
        refused = "(refused)" in label and "nested more than" in (row["status_reason"] or "")
        expected = n - LOST.get(label, lambda _: 0)(n)
        if not refused and (row["status"] != "parsed" or row["messages"] != expected):
            raise RuntimeError(f"{parser}: {row['status']} with {row['messages']} of {n} messages: {row}")
    path.unlink()
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    work = scratch("parser_scaling")
    store = OriginalsStore(work / "originals")
    for label, make in FORMATS.items():
        small = extraction_time(store, work, label, make, n)
        large = extraction_time(store, work, label, make, 4 * n)
        growth = (large / (4 * n)) / (small / n)
        report(
            f"{label}: time per message at {4 * n} vs at {n} messages",
            growth,
            f"<= {GOAL}",
            growth <= GOAL,
            f"{small:.2f}s for {n}, {large:.2f}s for {4 * n}",
        )


if __name__ == "__main__":
    main()
