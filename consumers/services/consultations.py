"""Opening a subject's values, with an entry in the access log for each opening.

Every caller that shows values (the web console's pages and API, `ledger subject show`,
`ledger dsar export`) goes through here: the view or export is read, the consultation
is logged, and only then are the values handed back. If the log cannot be written,
nothing is shown. An export carries the subject's consultations (dates and purposes),
its own making included.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from consumers.access.log import AccessEntry, AccessLog, Consultation
from consumers.access.purposes import check_case_ref, check_purpose
from consumers.access.report import consultations_of
from projections.reader import LedgerReader

SUBJECT_VIEW = "subject-view"


@dataclass(frozen=True)
class Viewer:
    """Who opens the values: a token's name and role, or an operator on the host."""

    name: str
    role: str
    channel: str  # "web", "api" or "cli"


@dataclass(frozen=True)
class Why:
    case_ref: str
    purpose: str

    def __post_init__(self) -> None:
        check_case_ref(self.case_ref)
        check_purpose(self.purpose)


def shown_categories(view: dict[str, Any]) -> tuple[str, ...]:
    """The categories whose values the view opens (erased ones show nothing)."""
    return tuple(sorted({v["category"] for v in view["personal_data"]
                         if v["value"] is not None}))


def log_consultation(log: AccessLog, viewer: Viewer, why: Why, subject_id: UUID, *,
                     shown: str, categories: tuple[str, ...]) -> AccessEntry:
    return log.append(Consultation(viewer.name, viewer.role, viewer.channel, subject_id,
                                   shown, categories, why.case_ref, why.purpose))


def open_view(reader: LedgerReader, log: AccessLog, viewer: Viewer, why: Why,
              subject_id: UUID) -> dict[str, Any]:
    """The subject view, values opened, after its consultation is logged."""
    view = reader.subject_view(subject_id)
    log_consultation(log, viewer, why, subject_id, shown=SUBJECT_VIEW,
                     categories=shown_categories(view))
    return view


def open_export(reader: LedgerReader, log: AccessLog, viewer: Viewer, why: Why,
                subject_id: UUID, *, shown: str) -> dict[str, Any]:
    """The export (art. 15/20) with the consultations of the subject's data, after its
    own making is logged (``shown`` says which files: "export-json", "export-html"...)."""
    document = reader.export(subject_id)
    categories = shown_categories(document["subject"]) + tuple(
        v["category"] for v in document["recorded_values"] if v["value"] is not None)
    log_consultation(log, viewer, why, subject_id, shown=shown,
                     categories=tuple(sorted(set(categories))))
    document["consultations"] = consultations_of(log, subject_id)
    return document
