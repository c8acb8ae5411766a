"""Identifiers: E.164 for GB and international numbers, idempotent normalisation, profile URLs as handles,
and identifiers found inside message bodies (which become `mentioned`)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evidence.identifiers import find_in_text, guess_identifier, normalize, normalize_phone, profile_handle


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("07700 900123", "GB", "+447700900123"),  # drama range: possible, not valid, still E.164
        ("+44 (0)7700 900123", "GB", "+447700900123"),
        ("0044 7700 900123", "GB", "+447700900123"),
        ("07911 123456", "GB", "+447911123456"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+1 (202) 555-0143", "GB", "+12025550143"),
        ("(202) 555-0143", "US", "+12025550143"),
        ("030 1234567", "DE", "+49301234567"),
        ("+33 1 23 45 67 89", "GB", "+33123456789"),
        ("06 12 34 56 78", "FR", "+33612345678"),
    ],
)
def test_e164_for_gb_and_international_formats(raw: str, region: str, e164: str) -> None:
    assert normalize_phone(raw, region).value == e164


def test_validity_is_a_separate_flag() -> None:
    drama = normalize_phone("07700 900123", "GB")
    assert (drama.value, drama.is_valid, drama.flags) == ("+447700900123", False, ("not_valid",))
    real = normalize_phone("07911 123456", "GB")
    assert real.is_valid is True and real.flags == ()


_phone_text = st.text(alphabet="0123456789 +()-.", min_size=0, max_size=20)
_gb_mobile = st.from_regex(r"\A(\+44 ?|0)7\d{3} ?\d{6}\Z")


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(_phone_text, _gb_mobile), region=st.sampled_from(["GB", "US", "DE", "FR", "IN"]))
def test_phone_normalisation_is_idempotent(raw: str, region: str) -> None:
    once = normalize_phone(raw, region)
    twice = normalize_phone(once.value, region)
    assert twice.value == once.value
    if "not_a_number" not in once.flags:
        assert once.value.startswith("+") and twice.is_valid == once.is_valid


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["email", "handle", "url"]),
    raw=st.text(alphabet="abcXYZ019._-@/:+ ", min_size=1, max_size=30),
)
def test_other_kinds_are_idempotent(kind: str, raw: str) -> None:
    once = normalize(kind, raw)
    if once is None:
        return
    twice = normalize(kind, once.value)
    assert twice is not None and twice.value == once.value


@pytest.mark.parametrize(
    ("url", "handle"),
    [
        ("https://www.instagram.com/Alex.M_99/", "instagram:alex.m_99"),
        ("instagram.com/alexm", "instagram:alexm"),
        ("https://t.me/AlexM", "telegram:alexm"),
        ("telegram.me/alexm", "telegram:alexm"),
        ("https://www.facebook.com/alex.marsh.1", "facebook:alex.marsh.1"),
        ("https://m.facebook.com/profile.php?id=100012345", "facebook:100012345"),
        ("https://twitter.com/alexm", "twitter:alexm"),
        ("https://x.com/alexm", "twitter:alexm"),
        ("https://www.tiktok.com/@alexm", "tiktok:alexm"),
        ("https://discord.com/users/123456789012345678", "discord:123456789012345678"),
    ],
)
def test_profile_urls_become_platform_handles(url: str, handle: str) -> None:
    found = profile_handle(url)
    assert found is not None and (found.kind, found.value) == ("handle", handle)
    assert normalize("handle", url).value == handle  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.instagram.com/p/Cx12ab/",
        "https://t.me/joinchat/AAAA",
        "https://www.facebook.com/groups/123",
        "https://example.org/alexm",
        "https://discord.com/channels/1/2",
    ],
)
def test_pages_that_are_not_profiles_are_not_handles(url: str) -> None:
    assert profile_handle(url) is None


def test_find_in_text_reads_a_message_body() -> None:
    body = (
        "It's me, new number 07700 900456 (the old one you blocked). Insta: instagram.com/alex.m_99, "
        "mail Alex@Example.NET or ask @SomeFriend. See https://example.org/map. <@123456789012345678>"
    )
    found = {(i.kind, i.value) for i in find_in_text(body, "GB", "telegram")}
    assert found == {
        ("phone", "+447700900456"),
        ("handle", "instagram:alex.m_99"),
        ("url", "https://instagram.com/alex.m_99"),
        ("email", "alex@example.net"),
        ("handle", "telegram:somefriend"),
        ("url", "https://example.org/map"),
        ("handle", "discord:123456789012345678"),
    }


def test_find_in_text_ignores_prices_dates_pins_and_email_parts() -> None:
    body = "It cost 1500, order 12345678, pin 123456, on 12/03/2024 at 21:05, write to a.b@example.org"
    assert [(i.kind, i.value) for i in find_in_text(body, "GB")] == [("email", "a.b@example.org")]
    assert find_in_text("", "GB") == [] and find_in_text(None, "GB") == []


def test_find_in_text_international_numbers_and_region() -> None:
    assert [i.value for i in find_in_text("ring +1 202-555-0143 today", "GB")] == ["+12025550143"]
    assert [i.value for i in find_in_text("call (202) 555-0143", "US")] == ["+12025550143"]
    assert [i.value for i in find_in_text("whatsapp me on +44 7700 900123", "US")] == ["+447700900123"]


def test_bare_at_handles_have_no_platform_outside_handle_platforms() -> None:
    assert [i.value for i in find_in_text("follow @alex_m now", "GB", "sms")] == ["alex_m"]


@pytest.mark.parametrize(
    ("typed", "kind", "value"),
    [
        ("07700 900123", "phone", "+447700900123"),
        ("tel:+447700900123", "phone", "+447700900123"),
        ("Alex <Alex@Example.net>", "email", "alex@example.net"),
        ("@AlexM", "handle", "alexm"),
        ("telegram:user123", "handle", "telegram:user123"),
        ("https://instagram.com/alexm", "handle", "instagram:alexm"),
        ("https://example.org/Path/", "url", "https://example.org/Path"),
        ("10.1.2.3", "ip", "10.1.2.3"),
        ("phone:07700900123", "phone", "+447700900123"),
    ],
)
def test_guess_identifier_reads_what_an_analyst_types(typed: str, kind: str, value: str) -> None:
    ident = guess_identifier(typed, "GB")
    assert ident is not None and (ident.kind, ident.value) == (kind, value)
