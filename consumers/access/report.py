"""The consultations of a subject's data, for the subject's own export (CJEU C-579/21).

The Court held that the right of access covers the dates and purposes of consultations
of the subject's data; the staff members' names are not given. The making of each
export is itself a consultation, so a report lists the earlier ones and its own.
"""

from __future__ import annotations

from html import escape
from typing import Any
from uuid import UUID

from consumers.access.log import AccessLog
from consumers.access.purposes import ALL_PURPOSES


def consultations_of(log: AccessLog, subject_id: UUID) -> list[dict[str, Any]]:
    """Dates, purposes and what was shown, in the order they happened."""
    return [{"at": entry.at, "purpose": entry.purpose,
             "purpose_description": ALL_PURPOSES.get(entry.purpose, entry.purpose),
             "shown": entry.shown}
            for entry in log.entries(subject_id=subject_id)]


def consultations_section(consultations: list[dict[str, Any]]) -> str:
    """The HTML section the report gets (its style is the report's own)."""
    heading = ('<h2>Raadplegingen van uw gegevens <span class="en">/ Consultations of '
               'your data</span></h2>')
    if not consultations:
        return heading + '\n<p class="none">Geen / None</p>'
    rows = "".join(
        f"<tr><td>{escape(c['at'])}</td><td>{escape(c['purpose_description'])}</td>"
        f"<td>{escape(c['shown'])}</td></tr>" for c in consultations)
    return (heading + '\n<table><thead><tr><th>Op <span class="en">/ At</span></th>'
            '<th>Doel <span class="en">/ Purpose</span></th>'
            '<th>Getoond <span class="en">/ Shown</span></th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def with_consultations(report_html: str, consultations: list[dict[str, Any]]) -> str:
    """``report_html`` (``projections.html_report``) with the section before its end."""
    head, marker, tail = report_html.rpartition("</body>")
    if not marker:
        return report_html + consultations_section(consultations)
    return head + consultations_section(consultations) + "\n" + marker + tail
