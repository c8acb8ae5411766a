"""What an investigator chooses for a run (the trigger form and `evidence ingest` options), checked before anything
is stored."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

from evidence.errors import IngestError
from evidence.identifiers import is_phone_region
from evidence.images.languages import default_ocr_lang
from evidence.parsers.context import ParseOptions
from evidence.text import escape_path
from evidence.timeutil import DEFAULT_TZ, zone


@dataclass
class IngestParameters:
    """What an investigator chooses for a run; stored with the run and in the custody log."""

    sources: list[str]
    case_dir: str
    tz: str = DEFAULT_TZ
    region: str = "GB"
    owners: list[str] = field(default_factory=list)
    examiner: str | None = None
    jobs: int = 1
    ocr_lang: str = field(default_factory=default_ocr_lang)

    def validate(self) -> None:
        if not self.sources:
            raise IngestError("no sources given: name at least one folder, zip or file")
        try:
            zone(self.tz)
        except ValueError as exc:
            raise IngestError(str(exc)) from exc
        if not is_phone_region(self.region):
            raise IngestError(
                f"unknown phone region {self.region!r}: use a two-letter country code such as GB"
            )
        if self.jobs < 1:
            raise IngestError("--jobs must be at least 1")
        self.validate_ocr_lang()

    def require_sources(self) -> None:
        """Every source must exist here (the Airflow form: a path typed wrong is not worth retrying; the command
        line lists unreadable sources in the summary instead)."""
        missing = [escape_path(str(s)) for s in self.sources if not os.path.lexists(s)]
        if missing:
            raise IngestError(f"source not found on this worker: {', '.join(missing)}")

    def validate_ocr_lang(self) -> None:
        """Every language in --ocr-lang (eng+pol) must be installed for tesseract, or OCR would fail later."""
        wanted = [part for part in self.ocr_lang.split("+") if part]
        if not wanted:
            raise IngestError("--ocr-lang is empty: use a tesseract language code such as eng or eng+pol")
        if wanted == ["eng"]:
            return  # installed by setup; no need to start tesseract to check
        from evidence.images.languages import installed_languages

        installed = installed_languages()
        missing = [lang for lang in wanted if installed is not None and lang not in installed]
        if missing:
            raise IngestError(
                f"tesseract has no language data for {', '.join(missing)}: install tesseract-ocr-<lang> "
                f"(Debian) or choose from {', '.join(sorted(installed or ()))}"
            )

    def options(self) -> ParseOptions:
        return ParseOptions(
            tz=self.tz, region=self.region.upper(), owners=tuple(self.owners), ocr_lang=self.ocr_lang
        )

    def for_record(self) -> dict[str, Any]:
        """The parameters as recorded (custody log, plan, ingest_runs): paths that are not UTF-8 escaped."""
        data = asdict(self)
        data["sources"] = [escape_path(str(s)) for s in self.sources]
        data["case_dir"] = escape_path(str(self.case_dir))
        return data
