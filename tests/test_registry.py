"""One registry: every parser module is registered, names are unique, sniffs are cheap and safe."""

from __future__ import annotations

import pkgutil

import pytest

import evidence.parsers
from evidence.parsers.base import Parser, Sample
from evidence.parsers.registry import REGISTRY, DuplicateParserError, ParserRegistry

INFRASTRUCTURE = {
    "base",
    "registry",
    "context",
    "rows",
    "detect",
    "json_export",
    "export_text",
    "damaged_headers",
    "enrich",
    "mail",
    "xml_items",
    "sms_backup_items",
    "sqlite_rows",
}


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


def test_each_parser_is_found_by_its_module_alone() -> None:
    """get imports one module by the parser's name (MODULE_OF_PARSER for the exceptions): every
    parser must be reachable that way, in a process that has loaded no parser yet."""
    import subprocess
    import sys

    names = REGISTRY.names()
    script = (
        "import sys\nfrom evidence.parsers.registry import REGISTRY\n"
        "for name in sys.argv[1:]:\n    assert REGISTRY.get(name).name == name, name\n"
        "loaded = [m for m in sys.modules if m.startswith('evidence.parsers.') and m.count('.') == 2]\n"
        "print(len(loaded))"
    )
    for name in names:  # one process per parser: each finds its own module, and loads not all of them
        done = subprocess.run([sys.executable, "-c", script, name], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert int(done.stdout) < len(names), f"{name}: every parser module was imported"
    with pytest.raises(KeyError):
        REGISTRY.get("no_such_parser")
