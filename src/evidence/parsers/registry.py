"""The one registry of parsers, and the list of parser modules in detection order.

Parser modules are imported on first use, not when `evidence.parsers` is imported: the command line and the
trigger form start without loading a dozen parser libraries. Detection asks parsers in the order of
FORMAT_MODULES (specific signatures before looser ones), whatever order the modules were imported in.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator

from evidence.parsers.base import Parser, Sample

# One entry per parser module (or subpackage) of evidence.parsers; order = detection order.
FORMAT_MODULES = (
    "image",
    "outlook_msg",
    "mbox",
    "email_eml",
    "telegram_json",
    "telegram_html",
    "sms_backup_xml",
    "whatsapp",
    "signal_text",
    "instagram_json",
    "imessage_db",
    "discord_json",
    "google_chat_json",
    "google_voice_html",
)
PACKAGE = "evidence.parsers"
# Parsers whose module is not named after them (every other parser lives in evidence.parsers.<its name>);
# tests/test_registry.py checks this against what each module registers.
MODULE_OF_PARSER = {"whatsapp_txt": "whatsapp"}


class DuplicateParserError(ValueError):
    """Two parsers claimed the same name."""


class UnlistedParserError(ValueError):
    """A parser module registered itself without being listed in FORMAT_MODULES."""


class ParserRegistry:
    def __init__(self, modules: tuple[str, ...] = (), package: str = PACKAGE) -> None:
        self._parsers: dict[str, Parser] = {}
        self._modules: dict[str, str] = {}
        self._package = package
        self._module_order = {f"{package}.{name}": index for index, name in enumerate(modules)}
        self._loaded = not modules
        self._loading = threading.RLock()  # re-entrant: importing a parser module registers it

    def register(self, cls: type[Parser]) -> type[Parser]:
        """Class decorator: instantiate and register; a second parser with the same name is refused."""
        name = cls.name
        if name in self._parsers:
            raise DuplicateParserError(f"parser name {name!r} is already registered by {self._modules[name]}")
        if self._module_order and cls.__module__ not in self._module_order:
            raise UnlistedParserError(
                f"{cls.__module__} registers parser {name!r} but is not listed in FORMAT_MODULES"
            )
        self._parsers[name] = cls()
        self._modules[name] = cls.__module__
        return cls

    def _load(self) -> None:
        """Import every listed parser module once, then put the parsers in detection order (one thread
        loads; another asking meanwhile waits, so nobody detects with half the parsers)."""
        if self._loaded:
            return
        with self._loading:
            if self._loaded:
                return
            for module in self._module_order:
                importlib.import_module(module)
            ordered = sorted(self._parsers, key=lambda name: self._module_order[self._modules[name]])
            self._parsers = {name: self._parsers[name] for name in ordered}
            self._loaded = True

    def get(self, name: str) -> Parser:
        """The parser of that name, importing its module alone (a re-ingest checks the version of the
        parsers its files had, and parses them, without loading them all). KeyError when no listed module
        has it."""
        if name not in self._parsers:
            module = f"{self._package}.{MODULE_OF_PARSER.get(name, name)}"
            if module not in self._module_order:
                self._load()  # a registry of modules named otherwise (tests): load them all
                return self._parsers[name]
            with self._loading:
                importlib.import_module(module)
        return self._parsers[name]

    def names(self) -> list[str]:
        self._load()
        return list(self._parsers)

    def modules(self) -> set[str]:
        self._load()
        return set(self._modules.values())

    def __iter__(self) -> Iterator[Parser]:
        self._load()
        return iter(list(self._parsers.values()))

    def detect(self, sample: Sample) -> Parser | None:
        """First parser whose sniff accepts the sample; a sniff that raises counts as no."""
        self._load()
        for parser in self._parsers.values():
            try:
                if parser.sniff(sample):
                    return parser
            except Exception:
                continue
        return None


REGISTRY = ParserRegistry(FORMAT_MODULES)
register = REGISTRY.register
