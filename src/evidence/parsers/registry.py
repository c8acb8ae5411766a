"""The one registry of parsers. Detection asks them in registration order, so specific formats go first."""

from __future__ import annotations

from evidence.parsers.base import Parser, Sample


class DuplicateParserError(ValueError):
    """Two parsers claimed the same name."""


class ParserRegistry:
    def __init__(self) -> None:
        self._parsers: dict[str, Parser] = {}
        self._modules: dict[str, str] = {}

    def register(self, cls: type[Parser]) -> type[Parser]:
        """Class decorator: instantiate and register; a second parser with the same name is refused."""
        name = cls.name
        if name in self._parsers:
            raise DuplicateParserError(f"parser name {name!r} is already registered by {self._modules[name]}")
        self._parsers[name] = cls()
        self._modules[name] = cls.__module__
        return cls

    def get(self, name: str) -> Parser:
        return self._parsers[name]

    def names(self) -> list[str]:
        return list(self._parsers)

    def modules(self) -> set[str]:
        return set(self._modules.values())

    def __iter__(self):
        return iter(self._parsers.values())

    def detect(self, sample: Sample) -> Parser | None:
        """First parser whose sniff accepts the sample; a sniff that raises counts as no."""
        for parser in self._parsers.values():
            try:
                if parser.sniff(sample):
                    return parser
            except Exception:
                continue
        return None


REGISTRY = ParserRegistry()
register = REGISTRY.register
