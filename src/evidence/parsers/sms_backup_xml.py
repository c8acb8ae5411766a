"""SMS Backup & Restore (Android) XML: `<smses>` holding `<sms>` and `<mms>` elements, and the app's call
log backups, `<calls>` holding `<call>` elements (one row of kind `call` each: repeated, missed, rejected
and withheld-number calls are often the pattern itself).

Backups can be hundreds of megabytes (MMS media is inline base64), so the file is streamed through
defusedxml's iterparse and each element is cleared once read. Locators follow XPath positions (1-based,
counted per element name): `sms/12` is `/smses/sms[12]`, `mms/3/part/2` is `/smses/mms[3]/parts/part[2]`,
`call/7` is `/calls/call[7]`. A backup damaged inside is read on item by item past the damage
(`xml_items`), so only the damaged items are lost, each named in a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from evidence.identifiers import Identifier
from evidence.parsers.base import Parser, Sample
from evidence.parsers.context import ParseContext
from evidence.parsers.registry import register
from evidence.parsers.sms_backup_items import read_call, read_mms, read_sms
from evidence.parsers.xml_items import CharRefFixer, declaration, item_pieces, read_piece

# Root element after the XML declaration, stylesheet PI, comments and a DOCTYPE. The app writes no
# DOCTYPE; one that declares entities is recognised all the same, so the file is refused with its reason
# (defusedxml forbids entities) rather than listed as an unknown format.
_ROOT_RE = re.compile(
    r"\A\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^\[>]*(?:\[.*?\]\s*)?>\s*)*<(?:smses|calls)[\s>/]",
    re.DOTALL,
)
# The items each root holds.
_ITEMS = {"smses": ("sms", "mms"), "calls": ("call",)}

# Expat errors that only happen when the input ends early (no element found, unclosed token, partial char).
_TRUNCATION_CODES = {3, 5, 6}
# The reader of each item (sms_backup_items).
_READERS = {"sms": read_sms, "mms": read_mms, "call": read_call}
# Damaged items named one warning each; beyond this, one warning counts the rest.
_LOST_WARNINGS = 100
_ROOT_TAG = re.compile(rb"<(smses|calls)[\s>/]")
_HEAD_BYTES = 65536
# Items whose start tag holds all they say (attributes only); an <mms> has parts and addresses inside.
_WHOLE_IN_START_TAG = {"sms", "call"}


@dataclass
class _Progress:
    """How far a file has been read: items per tag (their XPath positions) and other elements."""

    root: str | None = None
    declared: str | None = None  # the root's count attribute
    counts: dict[str, int] = field(default_factory=dict)
    other: dict[str, int] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return sum(self.counts.values()) + sum(self.other.values())


def _root_in_head(ctx: ParseContext) -> str | None:
    """The root element's name as the file's start writes it (sniff found it there), however damaged."""
    with ctx.open() as raw:
        match = _ROOT_TAG.search(raw.read(_HEAD_BYTES))
    return match.group(1).decode() if match else None


def _holds_replacement(el: Element) -> bool:
    """Whether any attribute of the item or its parts holds U+FFFD (a repaired character)."""
    return any("\ufffd" in value for node in el.iter() for value in node.attrib.values())


@register
class SmsBackupXmlParser(Parser):
    name = "sms_backup_xml"
    version = "2"  # 2: damage inside a backup costs only the damaged items; U+FFFD flagged decode_errors
    platform = "sms"
    description = "SMS Backup & Restore XML backup (<smses> with <sms> and <mms>; <calls> call logs)"

    def sniff(self, sample: Sample) -> bool:
        return bool(_ROOT_RE.match(sample.text()))

    def parse(self, ctx: ParseContext) -> None:
        owner = ctx.owner_phone()
        progress = _Progress()
        with ctx.open() as raw:
            fixer = CharRefFixer(raw)
            try:
                self._stream(ctx, fixer, progress, owner)
            except ParseError as exc:
                fixer = self._parse_error(ctx, exc, progress, fixer, owner)
            except DefusedXmlException as exc:
                raise ValueError(
                    f"the XML declares entities or a document type ({exc}): refused, as entities can read "
                    "other files or expand without bound; the app never writes them"
                ) from exc
            else:
                read = progress.read
                if progress.declared and progress.declared.isdigit() and int(progress.declared) != read:
                    ctx.warn(f"backup header announces count={progress.declared} items but {read} were found")
        if fixer.replaced:
            ctx.warn(
                f"{fixer.replaced} invalid character reference(s) (lone surrogates) replaced by U+FFFD; the "
                "messages holding one are flagged decode_errors"
            )
        if fixer.bad_bytes:
            ctx.warn(
                f"{fixer.bad_bytes} byte sequence(s) that are not valid UTF-8, or control characters, replaced "
                "by U+FFFD; the messages holding one are flagged decode_errors"
            )
        for tag, n in progress.other.items():
            ctx.warn(f"{n} <{tag}> element(s) under <{progress.root}> not read (unknown element)")

    def _stream(
        self,
        ctx: ParseContext,
        fixer: CharRefFixer,
        progress: _Progress,
        owner: tuple[str, Identifier | None],
    ) -> None:
        """Read the file in one pass, each item cleared once read (the usual, undamaged case)."""
        depth = 0
        root: Element | None = None
        for event, el in DET.iterparse(fixer, events=("start", "end")):
            if event == "start":
                depth += 1
                if depth == 1:
                    if el.tag not in _ITEMS:
                        raise ValueError(f"root element is <{el.tag}>, not <smses> or <calls>")
                    root = el
                    progress.root, progress.declared = el.tag, el.get("count")
                    progress.counts = dict.fromkeys(_ITEMS[el.tag], 0)
                continue
            depth -= 1
            if depth != 1:
                continue
            self._item(ctx, progress, el, owner, fixer)
            el.clear()
            if root is not None:
                root.clear()  # drop the (now empty) children the root still holds

    def _item(
        self,
        ctx: ParseContext,
        progress: _Progress,
        el: Element,
        owner: tuple[str, Identifier | None],
        fixer: CharRefFixer,
    ) -> None:
        if el.tag not in progress.counts:
            progress.other[el.tag] = progress.other.get(el.tag, 0) + 1
            return
        progress.counts[el.tag] += 1
        index = progress.counts[el.tag]
        damaged = (fixer.bad_bytes or fixer.replaced) and _holds_replacement(el)
        read = _READERS[el.tag]
        flags = ["decode_errors"] if damaged else []
        ctx.read_alone(f"{el.tag}/{index}", lambda: read(ctx, el, index, *owner, flags), what=f"<{el.tag}>")

    def _parse_error(
        self,
        ctx: ParseContext,
        exc: ParseError,
        progress: _Progress,
        fixer: CharRefFixer,
        owner: tuple[str, Identifier | None],
    ) -> CharRefFixer:
        """A backup that simply stops (an interrupted copy or backup) keeps every complete item before the
        cut, with a warning: nothing after the cut exists in the file. Any other error is damage inside the
        file: the rest of it is read item by item, so only the damaged items are lost, each with a warning.
        Returns the fixer whose counts cover the whole file."""
        line, column = getattr(exc, "position", (None, None))
        code = getattr(exc, "code", None)
        read = progress.read
        if progress.root is None:
            # The root's start tag (or the prolog) is damaged; its items may not be.
            root = None if code in _TRUNCATION_CODES or fixer.mode == "none" else _root_in_head(ctx)
            if root is None:
                raise ValueError(f"not a readable SMS Backup & Restore XML file: {exc}") from exc
            progress.root, progress.counts = root, dict.fromkeys(_ITEMS[root], 0)
        if code not in _TRUNCATION_CODES:
            if fixer.mode == "none":  # UTF-16: items cannot be found by their start tags
                raise ValueError(
                    f"malformed XML at line {line}, column {column} after {read} items: {exc}"
                ) from exc
            fixer, lost, cut_short = self._read_rest(ctx, progress, owner, fixer.mode)
            ending = "; the file ends inside its last item" if cut_short else ""
            ctx.warn(
                f"malformed XML at line {line}, column {column} after {read} items ({exc}): the rest of the "
                f"file was read item by item; {lost} damaged item(s) could not be read{ending}",
                locator=f"line/{line}",
            )
            return fixer
        if read == 0:
            raise ValueError(f"file is truncated before the first complete message ({exc})") from exc
        announced = f" of the {progress.declared} the header announces" if progress.declared else ""
        ctx.warn(
            f"file is truncated (ends at line {line}, column {column} before </{progress.root}>): {read} "
            f"complete items read{announced}; the incomplete last item was not read",
            locator=f"line/{line}",
        )
        return fixer

    def _read_rest(
        self, ctx: ParseContext, progress: _Progress, owner: tuple[str, Identifier | None], mode: str | None
    ) -> tuple[CharRefFixer, int, bool]:
        """Read the file again cut into items (xml_items.item_pieces), each parsed alone, from the first one
        the streaming pass did not read. A damaged item keeps its position, so the items after it keep
        the locators the app's XPath positions give them. An <sms> or <call> whose start tag is whole is
        kept even if its end is damaged: it holds everything in its attributes. Returns the fixer, the
        items lost and whether the file ends inside its last item."""
        assert progress.root is not None
        done = dict(progress.counts)
        seen = dict.fromkeys(done, 0)
        end_tag = f"</{progress.root}>".encode()
        lost, cut_short = 0, False
        with ctx.open() as raw:
            fixer = CharRefFixer(raw, mode)  # counts the whole file again; pieces read before are skipped
            pieces = item_pieces(raw, _ITEMS[progress.root])
            head = next(pieces).data
            fixer.repair(head)
            prolog = declaration(head)
            for tag, line, piece, last in pieces:
                assert tag is not None
                seen[tag] += 1
                if seen[tag] <= done[tag]:
                    fixer.repair(piece)
                    continue
                stripped = piece.rstrip()
                whole_file = stripped.endswith(end_tag)
                result = read_piece(stripped[: -len(end_tag)] if whole_file else piece, prolog, fixer)
                element = result.element
                if element is None and tag in _WHOLE_IN_START_TAG and not (last and not whole_file):
                    element = result.opened
                if element is None:
                    progress.counts[tag] = progress.counts.get(tag, 0) + 1
                    where = f"{tag}/{progress.counts[tag]}"
                    if last and not whole_file:
                        cut_short = True
                        ctx.warn(f"the file ends inside the <{tag}> at line {line}: not read", locator=where)
                        continue
                    lost += 1
                    if lost <= _LOST_WARNINGS:
                        ctx.warn(f"damaged <{tag}> at line {line} could not be read: {result.error}", where)
                    continue
                self._item(ctx, progress, element, owner, fixer)
                for other in result.others:
                    progress.other[other] = progress.other.get(other, 0) + 1
                if result.error:
                    ctx.warn(
                        f"damaged text after the start of the <{tag}> at line {line} could not be read "
                        f"({result.error}); the item's own attributes were read whole",
                        locator=f"{tag}/{progress.counts[tag]}",
                    )
        if lost > _LOST_WARNINGS:
            ctx.warn(
                f"{lost - _LOST_WARNINGS} more damaged item(s) could not be read (not listed one by one)"
            )
        return fixer, lost, cut_short

    # --- one element each ------------------------------------------------------------------------
