"""Normalise identifiers (email, phone, handle, url, ip, device) so the same person's address compares equal.

Normalisation is idempotent: normalising a normalised value returns it unchanged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import getaddresses

import phonenumbers

KINDS = ("email", "phone", "handle", "url", "ip", "device")


@dataclass(frozen=True)
class Identifier:
    """A normalised identifier with the raw form it came from."""

    kind: str
    value: str
    raw: str
    is_valid: bool | None = None
    flags: tuple[str, ...] = ()

    @property
    def identifier_id(self) -> str:
        return identifier_id(self.kind, self.value)


def identifier_id(kind: str, value: str) -> str:
    """Stable id from kind and normalised value, the same in every case and run."""
    return hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=10).hexdigest()


_EMAIL_RE = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def normalize_email(raw: str) -> Identifier | None:
    """Lower-case address without display name; None when the text holds no address."""
    text = raw.strip().strip("<>").strip()
    if "<" in text or " " in text:
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
    pairs = []
    for name, addr in getaddresses([str(header_value)]):
        if addr or name:
            pairs.append((name.strip(), addr.strip()))
    return pairs


def display_address(name: str, addr: str) -> str:
    """Human form 'Name <addr>' as shown to readers."""
    if name and addr:
        return str(Address(display_name=name, addr_spec=addr)) if "@" in addr else f"{name} <{addr}>"
    return addr or name


def normalize_phone(raw: str, region: str = "GB") -> Identifier:
    """E.164 whenever phonenumbers finds the number possible; otherwise the raw text with a flag.

    Validity is kept as a separate flag: drama numbers (07700 900xxx) are possible but not valid.
    """
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
    text = raw.strip().lstrip("@").lower()
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
    rest = match.group(3).rstrip("/")
    return Identifier("url", f"{scheme}://{host}{rest}", text)


def normalize(kind: str, raw: str, region: str = "GB") -> Identifier | None:
    """Normalise a raw value of a known kind; None when it is not an identifier of that kind."""
    if kind == "email":
        return normalize_email(raw)
    if kind == "phone":
        return normalize_phone(raw, region)
    if kind == "ip":
        return normalize_ip(raw)
    if kind == "handle":
        return normalize_handle(raw)
    if kind == "url":
        return normalize_url(raw)
    if kind == "device":
        return Identifier("device", " ".join(raw.split()).lower(), raw)
    raise ValueError(f"unknown identifier kind {kind!r}; expected one of {', '.join(KINDS)}")
