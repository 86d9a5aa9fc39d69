"""`ledger dsar export`: everything held about a subject, as JSON and as an HTML report.

The files hold personal data in clear, so they are created 0600 and never overwrite
an existing file; handing them over (and recording ``access-fulfilled``) is up to the
privacy office.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson

from consumers.cli_read import write_json
from ledger.errors import ConfigurationError
from projections.html_report import render_report
from projections.reader import LedgerReader


def export_subject(reader: LedgerReader, subject_id: UUID, out: IO[str], *,
                   json_file: Path | None, html_file: Path | None, as_json: bool) -> int:
    if not (as_json or json_file or html_file):
        raise ConfigurationError(
            "say where the export goes: --out FILE (JSON), --html FILE, or --json (stdout)")
    for target in (json_file, html_file):
        if target is not None and target.exists():
            raise ConfigurationError(f"{target} exists; an export never overwrites a file")
    export = reader.export(subject_id)
    written = []
    if json_file is not None:
        _write_private(json_file, orjson.dumps(export, option=orjson.OPT_INDENT_2) + b"\n")
        written.append(str(json_file))
    if html_file is not None:
        _write_private(html_file, render_report(export).encode("utf-8"))
        written.append(str(html_file))
    if as_json:
        write_json(out, export)
        return 0
    out.write(_summary(export) + (f"; written to {', '.join(written)}" if written else "")
              + "\n")
    return 0


def _summary(export: dict[str, Any]) -> str:
    subject = export["subject"]
    held = subject["personal_data"]
    erased = sum(1 for v in held if v["status"] == "erased")
    return (f"exported subject {subject['subject_id']}: {len(held) - erased} values held, "
            f"{erased} erased, {len(export['recorded_values'])} values recorded over time, "
            f"{len(export['acts'])} acts, {len(subject['recipients'])} disclosures, "
            f"{len(subject['requests'])} requests (projections at notification "
            f"{export['position']})")


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
