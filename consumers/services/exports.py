"""A data subject's export (art. 15 access, art. 20 portability), as JSON and HTML files.

The files hold personal data in clear, so they are created 0600 and never overwrite
an existing file; handing them over (and recording ``access-fulfilled``) is up to the
privacy office.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from consumers.access.report import with_consultations
from ledger.errors import ConfigurationError
from projections.html_report import render_report
from projections.reader import LedgerReader


@dataclass
class Export:
    document: dict[str, Any]
    written: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        subject = self.document["subject"]
        held = subject["personal_data"]
        erased = sum(1 for v in held if v["status"] == "erased")
        return (f"exported subject {subject['subject_id']}: {len(held) - erased} values held, "
                f"{erased} erased, {len(self.document['recorded_values'])} values recorded "
                f"over time, {len(self.document['acts'])} acts, "
                f"{len(subject['recipients'])} disclosures, {len(subject['requests'])} "
                f"requests (projections at notification {self.document['position']})")


def export_subject(reader: LedgerReader, subject_id: UUID, *, json_file: Path | None = None,
                   html_file: Path | None = None,
                   document: dict[str, Any] | None = None, lang: str = "both") -> Export:
    """Writes the export of ``subject_id`` (or the ``document`` already read, say with
    its consultations: ``consumers.services.consultations.open_export``)."""
    for target in (json_file, html_file):
        if target is not None and target.exists():
            raise ConfigurationError(f"{target} exists; an export never overwrites a file")
    export = Export(document if document is not None else reader.export(subject_id))
    if json_file is not None:
        _write_private(json_file, orjson.dumps(export.document, option=orjson.OPT_INDENT_2)
                       + b"\n")
        export.written.append(json_file)
    if html_file is not None:
        _write_private(html_file, export_html(export.document, lang=lang).encode("utf-8"))
        export.written.append(html_file)
    return export


def export_html(document: dict[str, Any], *, lang: str = "both") -> str:
    """The readable report of an export, with the consultations of the subject's data
    when the export carries them; Dutch and English side by side, or ``lang``."""
    report = render_report(document, lang=lang)
    if "consultations" in document:
        report = with_consultations(report, document["consultations"])
    return report


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
