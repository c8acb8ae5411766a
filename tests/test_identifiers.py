"""Identifier normalisation: E.164 for possible numbers, lower-case email, flagged private IPs."""

from __future__ import annotations

import itertools
import string
import subprocess
import sys
from pathlib import Path

from evidence.identifiers import (
    identifier_id,
    is_phone_region,
    normalize_email,
    normalize_ip,
    normalize_phone,
)


def test_drama_number_is_possible_not_valid_and_still_e164() -> None:
    for raw in ("07700 900123", "+44 7700 900123", "0044 7700 900123", "(07700) 900-123"):
        phone = normalize_phone(raw, "GB")
        assert phone.value == "+447700900123", raw
        assert phone.is_valid is False and "not_valid" in phone.flags


def test_valid_and_international_numbers() -> None:
    assert normalize_phone("+1 (202) 555-0143", "GB").value == "+12025550143"
    assert normalize_phone("020 7946 0018", "GB").value == "+442079460018"
    assert normalize_phone("+447911123456").is_valid is True


def test_text_that_cannot_be_a_number_stays_raw() -> None:
    phone = normalize_phone("call me", "GB")
    assert phone.value == "call me" and "not_a_number" in phone.flags


def test_email_forms() -> None:
    assert normalize_email("Alex Marsh <Alex.Marsh@Example.NET>").value == "alex.marsh@example.net"
    assert normalize_email("MAILTO:x@y.org").value == "x@y.org"
    assert normalize_email("no address here") is None


def test_ip_flags() -> None:
    assert normalize_ip("[10.1.2.3]").flags == ("private_ip",)
    assert normalize_ip("198.51.100.77").value == "198.51.100.77"
    assert normalize_ip("not an ip") is None


def test_identifier_id_is_stable() -> None:
    assert (
        identifier_id("email", "a@b.c") == identifier_id("email", "a@b.c") != identifier_id("phone", "a@b.c")
    )


def test_display_address_never_raises() -> None:
    from evidence.identifiers import display_address

    assert display_address("Alex", "alex@example.net") == "Alex <alex@example.net>"
    assert display_address("Bad\x00Name", "jö\x07@example.net") == "Bad\x00Name <jö\x07@example.net>"
    assert display_address("", "x@y.z") == "x@y.z"


def test_phone_region_check_agrees_with_phonenumbers_without_importing_it() -> None:
    """is_phone_region reads phonenumbers' per-region metadata modules instead of importing the library:
    its answer must be phonenumbers' own for every pair of letters, in a process where it is not loaded."""
    script = (
        "import itertools, string, sys\n"
        "from evidence.identifiers import is_phone_region\n"
        "pairs = [a + b for a, b in itertools.product(string.ascii_uppercase, repeat=2)]\n"
        "print(' '.join(p for p in pairs if is_phone_region(p)), 'phonenumbers' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    *known, imported = done.stdout.split()
    assert imported == "False"
    import phonenumbers

    assert set(known) == set(phonenumbers.SUPPORTED_REGIONS)
    pairs = ["".join(p) for p in itertools.product(string.ascii_uppercase, repeat=2)]
    assert {p for p in pairs if is_phone_region(p)} == set(phonenumbers.SUPPORTED_REGIONS)  # once loaded
    assert is_phone_region("gb") and not is_phone_region("XX")
    assert not any(is_phone_region(code) for code in ("", "G", "GBR", "001", "G1", "ＧＢ"))


def test_phone_region_check_asks_phonenumbers_when_it_cannot_read_the_install(tmp_path: Path) -> None:
    """An install whose metadata modules are not files in a folder (a zip, a layout of another version):
    the check imports phonenumbers and asks it, rather than refusing every region."""
    script = (
        "import importlib.util, sys\n"
        "from importlib.machinery import ModuleSpec\n"
        "spec = ModuleSpec('phonenumbers', None, is_package=True)\n"
        "spec.submodule_search_locations = [sys.argv[1]]\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: spec if name == 'phonenumbers' else real(name, *a)\n"
        "from evidence.identifiers import is_phone_region\n"
        "print(is_phone_region('gb'), is_phone_region('XX'), 'phonenumbers' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "False", "True"]
