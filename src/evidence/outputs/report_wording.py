"""The words and time formats the report uses: what each flag means and does not, the names of key dates,
times and gaps as a reader sees them, a sender as written."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

# What each flag means, and what it does not: shown wherever the flag appears. {tz} is the case's zone.
FLAG_TEXT: dict[str, tuple[str, str]] = {
    "night": (
        "sent between 00:00 and 05:59 in {tz}.",
        "It says nothing about why; a time is only as good as its source (see the time's precision).",
    ),
    "after_stop_request": (
        "sent after the first stop request that is kept in the key dates.",
        "It does not show that the sender saw the request; the key date's note says where it comes from.",
    ),
    "after_order": (
        "sent after the date and time of an order (for example a Stalking Protection Order) in the key dates.",
        "It does not show that the order had been served or what it forbids: check the order's terms.",
    ),
    "threat_for_review": (
        "the text matches a phrase of the threat list and needs a person to read it.",
        "A phrase match is not a finding that the message is a threat; it can also miss threats.",
    ),
    "first_from_identifier": (
        "the first message in this case from this number, address or account.",
        "It does not show who uses the identifier, or that it was new when the message was sent.",
    ),
    "ocr": (
        "read from a screenshot by text recognition (OCR), not taken from an exported message.",
        "OCR can misread letters and numbers: compare with the screenshot before quoting it.",
    ),
    "shown_in_export": (
        "this screenshot's message is also in an exported chat (it corroborates that message): it is listed "
        "here as the screenshot shows it, and counted once, as the exported message, in every count and flag.",
        "The match was made on the text, the conversation and the time; check the screenshot if it matters.",
    ),
    "no_date": (
        "the source gives no date for this event; it is listed at the end.",
        "It does not mean the event did not happen.",
    ),
    "mime_unparsed": (
        "the email's structure (its MIME parts) could not be read in full, so its text is shown as written, with any part boundaries and encoded parts in it.",
        "Attachments inside it were not extracted: see the original.",
    ),
    "unparseable_date": (
        "the source gives a date for this event that could not be read; it is listed at the end, with the date as written.",
        "It does not mean the event did not happen.",
    ),
    "dst_gap": (
        "the time as written falls in the hour skipped when clocks go forward; it was read as the next valid time.",
        "The real moment may differ by up to an hour.",
    ),
    "ambiguous_day_month": (
        "the date could be read day-first or month-first and the file did not settle it.",
        "The date shown may have day and month swapped.",
    ),
    "decode_errors": (
        "part of the text could not be decoded and was replaced by the character \ufffd.",
        "The rest of the text is as in the source.",
    ),
    "may_be_incomplete": (
        "the file stops during or right after this message, so its text may be cut short.",
        "Later messages, if any, are not in this file: look for a complete copy of the export.",
    ),
    "html_not_rendered": (
        "the mail's HTML was nested too deeply to lay out; its text is shown with the markup removed.",
        "Words are as in the mail, but line breaks and layout may differ from what the recipient saw.",
    ),
    "body_truncated": (
        "the text was longer than a million characters and was cut to that length.",
        "The whole text is in the stored original file.",
    ),
    "damaged_header_inside": (
        "a line of this message looks like the start of another message whose date or line breaks are damaged, "
        "so that message could not be separated and its text is shown inside this one.",
        "Text from that line on may have been written by someone else, perhaps the other person in the chat: "
        "do not attribute it to this sender without checking the original.",
    ),
    "sender_html_damaged": (
        "the sender's name was read from damaged markup in the export (or taken from the message before, "
        "whose sender this one continues).",
        "The name shown may be cut short or belong to the message before: check the original.",
    ),
    "message_markup_damaged": (
        "the export's markup around this message is damaged; the message was still recognised and read.",
        "Its text is as in the file, but its place in the conversation or its kind may be misread.",
    ),
    "other_message_inside": (
        "parts of another message sit inside this one in the export's markup (a damaged tag took the markup "
        "between them), so the text shown may be that other message's.",
        "The text may have been written by someone else: do not attribute it to this sender without checking "
        "the original page.",
    ),
    "separator_damaged": (
        "the line that separates this email from the one before it in the mailbox is damaged; a new email "
        "was begun there because its header fields follow.",
        "It is almost certainly a separate email; the original mailbox holds the damaged line as written.",
    ),
    "from_damaged_archive_member": (
        "this message was read from a file that was damaged inside its zip archive: only the part before the "
        "damage could be read, or the file's checksum did not match.",
        "The messages read are as the damaged copy holds them; the last one may be cut short, and later "
        "messages may be missing. Another copy of the export may hold the rest.",
    ),
    "headers_damaged": (
        "the header block of this email is damaged: a line that is not a header field ended it, so the "
        "sender, recipients, date or subject after that line were read as part of the text.",
        "The sender shown may be cut short or missing; the original email holds every line as written.",
    ),
    "zeroed_bytes": (
        "part of the file holding this message was wiped (zero bytes, as left by a damaged disk or an "
        "unfinished copy); what was written there is lost.",
        "Text after the wiped part may be the end of a later message, perhaps by another person: check the "
        "original or another copy of the export.",
    ),
}
ANALYSIS_FLAGS = ("threat_for_review", "after_order", "after_stop_request", "night", "first_from_identifier")
KEY_DATE_NAMES = {
    "stop_request": "Stop request",
    "order": "Order",
    "police_report": "Police report",
    "other": "Key date",
}


def shown_time(moment: datetime | None, precision: str | None) -> str:
    if moment is None:
        return "undated"
    if precision == "day":
        return moment.strftime("%Y-%m-%d")
    if precision == "second":
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "first"
    seconds = float(seconds)
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"


def digits_of(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


@lru_cache(maxsize=8192)
def sender_text(sender: str, ident: str | None) -> str:
    """The sender as written, with the identifier when the name does not already show it."""
    if not ident or ident in sender:
        return sender
    digits = digits_of(ident)
    if len(digits) >= 7 and digits_of(sender)[-9:] == digits[-9:]:
        return sender  # the same number written another way (+44 7700 900123)
    return f"{sender} ({ident})" if sender else ident
