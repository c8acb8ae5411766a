"""What every parser is: a cheap "is this my format?" check and a parse into a ParseContext."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from evidence.parsers.context import ParseContext

SAMPLE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Sample:
    """The first bytes of a file with its name and libmagic MIME type; all a sniff may look at."""

    head: bytes
    name: str
    mime: str
    size: int

    @property
    def suffix(self) -> str:
        dot = self.name.rfind(".")
        return self.name[dot:].lower() if dot >= 0 else ""

    def text(self) -> str:
        """The head decoded leniently (BOM removed), for text formats."""
        return self.head.decode("utf-8", errors="replace").lstrip("\ufeff")


class Parser:
    """Base class. Subclasses set name, platform and description, and implement sniff and parse.

    `sniff` must be cheap and must not raise. `parse` may raise: the run records the exception as a
    failure of that one file and goes on. Problems a parser can work around go to ctx.warn().
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    platform: ClassVar[str]
    description: ClassVar[str]

    def sniff(self, sample: Sample) -> bool:
        raise NotImplementedError

    def parse(self, ctx: ParseContext) -> None:
        raise NotImplementedError
