"""One registry: every parser module is registered, names are unique, sniffs are cheap and safe."""

from __future__ import annotations

import pkgutil

import pytest

import evidence.parsers
from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import REGISTRY, DuplicateParserError, ParserRegistry

INFRASTRUCTURE = {"base", "registry", "context", "rows", "detect", "json_export", "export_text", "enrich"}


def test_every_parser_module_is_registered() -> None:
    modules = {m.name for m in pkgutil.iter_modules(evidence.parsers.__path__)} - INFRASTRUCTURE
    registered = {name.rsplit(".", 1)[-1] for name in REGISTRY.modules()}
    assert modules == registered


def test_duplicate_names_are_refused() -> None:
    registry = ParserRegistry()

    class One(Parser):
        name = "same"
        platform = "x"
        description = "x"

    registry.register(One)
    with pytest.raises(DuplicateParserError, match="already registered"):
        registry.register(type("Two", (One,), {}))


def test_parsers_declare_what_they_are() -> None:
    for parser in REGISTRY:
        assert parser.name and parser.platform and parser.description and parser.version, type(parser)


@pytest.mark.parametrize(
    "head",
    [b"", b"\0" * 100, b"\xff\xfe\xfd" * 1000, b"{" * 5000, b"<" * 5000, "é".encode() * 3000],
)
def test_no_sniff_claims_noise(head: bytes) -> None:
    sample = Sample(head=head, name="noise.bin", mime="application/octet-stream", size=len(head))
    assert REGISTRY.detect(sample) is None
