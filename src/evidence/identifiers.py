"""Normalise identifiers (email, phone, handle, url, ip, device) so the same person's address compares equal.

Normalisation is idempotent: normalising a normalised value returns it unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from evidence.text import has_surrogates, repair_text

# phonenumbers and email's address parser (about 25 ms to import together) are imported where they are
# used: a re-ingest of files parsed before needs neither.

KINDS = ("email", "phone", "handle", "url", "ip", "device")


@dataclass(frozen=True)
class Identifier:
    """A normalised identifier with the raw form it came from."""

    kind: str
    value: str
    raw: str
    is_valid: bool | None = None
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Read from damaged text (bytes that were not UTF-8, half an emoji): U+FFFD where the bad code
        # units were, and a flag, so the identifier can be stored, hashed and shown like any other.
        if not (self.value.isascii() and self.raw.isascii()) and (
            has_surrogates(self.value) or has_surrogates(self.raw)
        ):
            object.__setattr__(self, "value", repair_text(self.value))
            object.__setattr__(self, "raw", repair_text(self.raw))
            if "decode_errors" not in self.flags:
                object.__setattr__(self, "flags", (*self.flags, "decode_errors"))

    @property
    def identifier_id(self) -> str:
        return identifier_id(self.kind, self.value)

    def row(self) -> dict[str, object]:
        """The identifiers-table row for this identifier."""
        return {
            "identifier_id": self.identifier_id,
            "kind": self.kind,
            "value": self.value,
            "raw": self.raw,
            "is_valid": self.is_valid,
            "flags": list(self.flags),
        }


@lru_cache(maxsize=131072)
def identifier_id(kind: str, value: str) -> str:
    """Stable id from kind and normalised value, the same in every case and run."""
    return hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=10).hexdigest()


_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def normalize_email(raw: str) -> Identifier | None:
    """Lower-case address without display name; None when the text holds no address."""
    text = raw.strip().strip("<>").strip()
    if "<" in text or " " in text:
        from email.utils import getaddresses

        addresses = [addr for _, addr in getaddresses([raw]) if addr]
        if not addresses:
            return None
        text = addresses[0]
    text = text.strip().strip(".").lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    if not _EMAIL_RE.match(text):
        return None
    return Identifier("email", text, raw.strip())


def parse_address_list(header_value: str | None) -> list[tuple[str, str]]:
    """Split an address header into (display name, address) pairs, tolerating malformed headers."""
    if not header_value:
        return []
    from email.utils import getaddresses

    pairs = []
    for name, addr in getaddresses([str(header_value)]):
        if addr or name:
            pairs.append((name.strip(), addr.strip()))
    return pairs


def display_address(name: str, addr: str) -> str:
    """Human form 'Name <addr>' as shown to readers."""
    if name and addr:
        if "@" in addr:
            from email.headerregistry import Address

            try:
                return str(Address(display_name=name, addr_spec=addr))
            except (ValueError, TypeError, IndexError):  # control characters, non-ASCII local parts
                pass
        return f"{name} <{addr}>"
    return addr or name


def is_phone_region(code: str) -> bool:
    """Whether phonenumbers knows this two-letter region (case-insensitive), without importing it.

    Importing phonenumbers takes about 30 ms, a tenth of a re-ingest that parses nothing, and the
    region given on the command line is checked on every run. phonenumbers keeps each region's metadata in
    its own module, data/region_<CODE>.py (loaded on first use); tests/test_identifiers.py checks this
    answer against phonenumbers.SUPPORTED_REGIONS for every pair of letters.
    """
    code = code.upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return False
    loaded = sys.modules.get("phonenumbers")
    if loaded is None:
        spec = importlib.util.find_spec("phonenumbers")
        folders = [Path(f) / "data" for f in (spec.submodule_search_locations or [])] if spec else []

        def has_module(region: str) -> bool:
            return any(
                (f / f"region_{region}{suffix}").is_file() for f in folders for suffix in (".py", ".pyc")
            )

        if has_module("GB"):  # the layout this check knows (GB is always there)
            return has_module(code)
        import phonenumbers as loaded  # another kind of install (a zip, ...): ask the library itself
    return code in loaded.SUPPORTED_REGIONS


def normalize_phone(raw: str, region: str = "GB") -> Identifier:
    """E.164 whenever phonenumbers finds the number possible; otherwise the raw text with a flag.

    Validity is kept as a separate flag: drama numbers (07700 900xxx) are possible but not valid.
    """
    import phonenumbers

    text = raw.strip()
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return Identifier("phone", text, text, False, ("not_a_number",))
    if not phonenumbers.is_possible_number(number):
        return Identifier("phone", text, text, False, ("not_a_number",))
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    valid = phonenumbers.is_valid_number(number)
    return Identifier("phone", e164, text, valid, () if valid else ("not_valid",))


def normalize_ip(raw: str) -> Identifier | None:
    """IPv4/IPv6 in canonical form; private, loopback and reserved ranges flagged."""
    text = raw.strip().strip("[]")
    if text.lower().startswith("ipv6:"):
        text = text[5:]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    flags = []
    if address.is_private:
        flags.append("private_ip")
    if address.is_loopback:
        flags.append("loopback_ip")
    if address.is_reserved or address.is_unspecified:
        flags.append("reserved_ip")
    return Identifier("ip", address.compressed, raw.strip(), not flags, tuple(flags))


def normalize_handle(raw: str, platform: str | None = None) -> Identifier:
    """Lower-case handle without the leading @, prefixed by platform when known (instagram:name)."""
    text = raw.strip().lstrip("@ \t\n\r\f\v\u00a0").strip().lower()  # "@ @x" and "@x" are one handle
    value = f"{platform}:{text}" if platform and not text.startswith(f"{platform}:") else text
    return Identifier("handle", value, raw.strip())


def normalize_device(make: str | None, model: str | None) -> Identifier | None:
    """One device identifier from EXIF make and model."""
    parts = [p.strip() for p in (make or "", model or "") if p and p.strip()]
    if not parts:
        return None
    value = " ".join(parts).lower()
    return Identifier("device", value, " ".join(parts))


def normalize_url(raw: str) -> Identifier:
    """URL with lower-case scheme and host, no trailing slash."""
    text = raw.strip()
    match = re.match(r"^(?i:(https?)://)?([^/\s]+)(.*)$", text)
    if not match:
        return Identifier("url", text, text)
    scheme = (match.group(1) or "https").lower()
    host = match.group(2).lower()
    # Trailing slashes and spaces in any mix ("x.com/ /"): strip both, so normalising again changes nothing.
    rest = re.sub(r"[\s/]+$", "", match.group(3))
    return Identifier("url", f"{scheme}://{host}{rest}", text)


# Cached (Identifier is frozen): an export names the same few senders on every message, and phonenumbers
# costs about 70 µs a number (a chat.db of 200,000 messages spent 14 of its 21 s normalising one handle).
# Small, since mailboxes keep their memory close to their limit.
@lru_cache(maxsize=4096)
def normalize(kind: str, raw: str, region: str = "GB") -> Identifier | None:
    """Normalise a raw value of a known kind; None when it is not an identifier of that kind."""
    if kind == "email":
        return normalize_email(raw)
    if kind == "phone":
        return normalize_phone(raw, region)
    if kind == "ip":
        return normalize_ip(raw)
    if kind == "handle":
        return profile_handle(raw) or normalize_handle(raw)
    if kind == "url":
        return normalize_url(raw)
    if kind == "device":
        return Identifier("device", " ".join(raw.split()).lower(), raw)
    raise ValueError(f"unknown identifier kind {kind!r}; expected one of {', '.join(KINDS)}")


# --- profile URLs and handles -------------------------------------------------------------------------

# Host (without www./m./mobile.) -> platform prefix of the handle a profile URL names.
PROFILE_HOSTS = {
    "instagram.com": "instagram",
    "instagr.am": "instagram",
    "t.me": "telegram",
    "telegram.me": "telegram",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "twitter.com": "twitter",
    "x.com": "twitter",
    "tiktok.com": "tiktok",
    "snapchat.com": "snapchat",
    "discord.com": "discord",
    "discordapp.com": "discord",
}
# First path segments that are pages of the platform, not somebody's profile.
_NOT_PROFILES = {
    "instagram": {"p", "reel", "reels", "explore", "accounts", "direct", "tv", "about", "legal"},
    "telegram": {"joinchat", "s", "c", "addstickers", "share", "proxy", "socks", "iv"},
    "facebook": {
        "photo.php",
        "photo",
        "photos",
        "groups",
        "events",
        "sharer.php",
        "sharer",
        "story.php",
        "permalink.php",
        "watch",
        "pages",
        "marketplace",
        "login",
        "login.php",
        "help",
        "share",
        "reel",
        "hashtag",
        "messages",
    },
    "twitter": {"i", "home", "search", "intent", "share", "hashtag", "explore", "settings", "messages"},
    "tiktok": {"video", "tag", "discover", "music", "t"},
    "snapchat": {"discover", "spotlight", "lens", "p"},
    "discord": set(),
}
_HANDLE_CHARS = re.compile(r"^[a-z0-9_.\-]{1,64}$")
_DISCORD_ID = re.compile(r"^\d{15,21}$")


def profile_handle(raw: str) -> Identifier | None:
    """Handle named by a profile URL (instagram.com/name -> instagram:name, t.me/name -> telegram:name,
    facebook.com/profile.php?id=4 -> facebook:4, discord.com/users/ID -> discord:ID); None for other URLs.

    A profile URL and an @name written elsewhere then compare equal, which is what links accounts.
    """
    text = raw.strip()
    match = re.match(
        r"^(?i:https?://)?(?P<host>[^/\s?#]+)(?P<path>/[^\s?#]*)?(?:\?(?P<query>[^\s#]*))?", text
    )
    if not match:
        return None
    host = match["host"].lower().split(":", 1)[0]
    for prefix in ("www.", "m.", "mobile.", "web.", "vm."):
        if host.startswith(prefix):
            host = host[len(prefix) :]
    platform = PROFILE_HOSTS.get(host)
    if platform is None:
        return None
    parts = [p for p in (match["path"] or "").split("/") if p]
    query = match["query"] or ""
    if platform == "facebook" and parts[:1] == ["profile.php"]:
        found = re.search(r"(?:^|&)id=(\d+)", query)
        return Identifier("handle", f"facebook:{found[1]}", text) if found else None
    if platform == "discord":
        if len(parts) >= 2 and parts[0] == "users" and _DISCORD_ID.match(parts[1]):
            return Identifier("handle", f"discord:{parts[1]}", text)
        return None
    if platform == "snapchat" and parts[:1] == ["add"]:
        parts = parts[1:]
    if platform == "instagram" and parts[:1] == ["stories"]:
        parts = parts[1:]
    if not parts:
        return None
    name = parts[0].lower()
    if platform == "tiktok":
        if not name.startswith("@"):
            return None
        name = name[1:]
    name = name.lstrip("@")
    if name in _NOT_PROFILES[platform] or name.startswith("+") or not _HANDLE_CHARS.match(name):
        return None
    return Identifier("handle", f"{platform}:{name}", text)


# --- finding identifiers written inside a message body ------------------------------------------------

_URL = (
    r"(?i:\b(?:https?://|www\.|(?:instagram\.com|instagr\.am|t\.me|telegram\.me|facebook\.com|fb\.com|"
    r"twitter\.com|x\.com|tiktok\.com|snapchat\.com|discord(?:app)?\.com)/))[^\s<>\"']+"
)
# No lookbehind (RE2 has none): the character before an email or @handle is matched and left out later.
_EMAIL = r"(?:^|[^\w.+-])(?P<address>[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
_DISCORD = r"<@!?(?P<discord_id>\d{15,21})>"
_HANDLE = r"(?:^|[^\w@.+-])(?P<at>@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,29}[A-Za-z0-9_])?)"
_PHONE_RUN = r"[+(]?\d[\d NBSP\-().]{5,}\d"


def scan_pattern(nbsp: str = "\u00a0") -> str:
    """One left-to-right scan for everything a body may name: at each place the first kind that matches
    wins and its text is consumed, so an email inside a URL, a handle inside an email or digits inside
    either are never read again. The same pattern runs in Python's re and, in bulk, in RE2 (DuckDB), which
    spells the no-break space differently (pass the RE2 escape for U+00A0)."""
    phone = _PHONE_RUN.replace("NBSP", nbsp)
    return rf"(?P<url>{_URL})|(?P<email>{_EMAIL})|(?P<discord>{_DISCORD})|(?P<handle>{_HANDLE})|(?P<phone>{phone})"


_SCAN = re.compile(scan_pattern())
_TRAILING = ".,;:!?)]}'\""
# Platforms whose @name mentions are that platform's user names.
AT_HANDLE_PLATFORMS = {"instagram", "telegram", "twitter", "tiktok", "snapchat", "discord", "facebook"}
# A body is worth scanning only if it holds one of these (RE2 syntax: a bulk prefilter).
MENTION_PREFILTER = r"@|://|www\.|\.[A-Za-z]{2,3}/|\d[\d \x{00a0}\-().]{5,}\d"
WORTH_SCANNING = re.compile(MENTION_PREFILTER.replace(r"\x{00a0}", "\u00a0"))


def _national_prefix(region: str) -> str | None:
    import phonenumbers

    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper()) if region else None
    return metadata.national_prefix if metadata is not None else None


def _phones_in(text: str, region: str) -> list[Identifier]:
    """Numbers a person would dial: valid ones, or possible ones written with + / 00 / the national prefix
    and at least nine digits (so drama numbers count, while prices, PINs and order numbers do not)."""
    import phonenumbers

    found: list[Identifier] = []
    prefix = _national_prefix(region)
    matcher = phonenumbers.PhoneNumberMatcher(
        text, region.upper() or None, leniency=phonenumbers.Leniency.POSSIBLE
    )
    for match in matcher:
        raw = match.raw_string.strip()
        digits = sum(ch.isdigit() for ch in raw)
        if not phonenumbers.is_valid_number(match.number):
            dialled = raw.lstrip("(")
            written = dialled.startswith(("+", "00")) or bool(prefix and dialled.startswith(prefix))
            if not written or digits < 9:
                continue
        ident = normalize_phone(raw, region)
        if "not_a_number" not in ident.flags:
            found.append(ident)
    return found


@lru_cache(maxsize=65536)
def identifiers_in_piece(piece: str, region: str, platform: str | None) -> tuple[Identifier, ...]:
    """What one piece found by the scan names (a piece is the whole text of one scan match). Cached: a case
    repeats the same few numbers, addresses and accounts thousands of times, and phonenumbers costs far
    more than the scan."""
    match = _SCAN.fullmatch(piece)
    if match is None:
        return ()
    kind = match.lastgroup
    if kind == "url":
        raw = piece.rstrip(_TRAILING)
        handle = profile_handle(raw)
        return (handle, normalize_url(raw)) if handle is not None else (normalize_url(raw),)
    if kind == "email":
        email = normalize_email(match["address"])
        return (email,) if email is not None else ()
    if kind == "discord":
        return (Identifier("handle", f"discord:{match['discord_id']}", piece),)
    if kind == "handle":
        prefix = platform if platform in AT_HANDLE_PLATFORMS else None
        return (normalize_handle(match["at"], platform=prefix),)
    return tuple(_phones_in(piece, region))


def identifiers_in_pieces(pieces: list[str], region: str, platform: str | None) -> list[Identifier]:
    """Identifiers named by the scan's pieces of one body, in order of first appearance, each once."""
    seen: set[str] = set()
    result: list[Identifier] = []
    for piece in pieces:
        for ident in identifiers_in_piece(piece, region or "GB", platform):
            if ident.identifier_id not in seen:
                seen.add(ident.identifier_id)
                result.append(ident)
    return result


def scan_matches(text: str) -> list[re.Match[str]]:
    """Where the scan finds pieces in a text (what identifiers_in_piece reads), in order."""
    return list(_SCAN.finditer(text))


def scan_pieces(text: str) -> list[str]:
    """The pieces of a text the scan finds, in order."""
    return [m.group(0) for m in _SCAN.finditer(text)]


def find_in_text(text: str | None, region: str = "GB", platform: str | None = None) -> list[Identifier]:
    """Identifiers written in a message body: phone numbers, emails, URLs (and the handles profile URLs
    name), @handles and Discord <@id> mentions; in order of first appearance, each once.

    `platform` prefixes @handles on platforms where @name is a user name there (telegram:name).
    """
    if not text or not WORTH_SCANNING.search(text):
        return []
    return identifiers_in_pieces(scan_pieces(text), region, platform)


def guess_identifier(raw: str, region: str = "GB") -> Identifier | None:
    """An identifier typed by an analyst (CLI, alias file): kind from its shape; `kind:value` forces a kind.

    email if it has an inner @, handle for @name / platform:name / profile URLs, phone when phonenumbers
    finds it possible, IP, URL, otherwise a plain handle.
    """
    text = raw.strip()
    if not text:
        return None
    kind, _, rest = text.partition(":")
    if kind in KINDS and rest:
        return normalize(kind, rest, region)
    if "@" in text and not text.startswith("@") and "/" not in text:
        return normalize_email(text)
    if text.startswith("@"):
        return normalize_handle(text)
    handle = profile_handle(text)
    if handle is not None:
        return handle
    if re.match(r"^(?i:https?://)", text):
        return normalize_url(text)
    prefix = text.split(":", 1)[0]
    if ":" in text and prefix.isalpha() and prefix.lower() != "tel":
        return normalize_handle(text)
    ip = normalize_ip(text)
    if ip is not None and any(ch in text for ch in ".:"):
        return ip
    phone = normalize_phone(text[4:] if text.lower().startswith("tel:") else text, region)
    if "not_a_number" not in phone.flags:
        return phone
    return normalize_handle(text)
