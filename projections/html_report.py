"""The DSAR export as a self-contained HTML report, for the person who asked.

One file: inline style, no scripts, no external resources, so it can be mailed or
printed as is. Labels are Dutch and English, category names come from the policy.
Every text from the export is escaped (``html.escape``, quotes included): a stored
value is data, never markup, whatever it contains.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:64rem;color:#222;
line-height:1.4}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #ccc}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f4f4f4}.erased{color:#888;font-style:italic}.meta td{border:0}
.en{color:#666;font-weight:normal}p.none{color:#888}
"""
# One entry of a list in the export: a value held, a consent given, an act, ...
Row = dict[str, Any]


def _t(value: Any) -> str:
    if value is None or value == "":
        return "&mdash;"
    if isinstance(value, bool):
        return "ja / yes" if value else "nee / no"
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value), quote=True) or "&mdash;"
    return escape(str(value), quote=True)


def _heading(nl: str, en: str) -> str:
    return f'<h2>{escape(nl)} <span class="en">/ {escape(en)}</span></h2>'


def _table(headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> str:
    """``rows`` hold cells already escaped (by ``_t`` or ``_value_cell``)."""
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    if not body:
        return '<p class="none">Geen / None</p>'
    head = "".join(f'<th>{escape(nl)} <span class="en">/ {escape(en)}</span></th>'
                   for nl, en in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _value_cell(entry: Row) -> str:
    if entry["status"] == "erased":
        return '<span class="erased">gewist / erased</span>'
    return _t(entry["value"])


def _category(entry: Row) -> str:
    return f'{_t(entry["label_nl"])} <span class="en">/ {_t(entry["label_en"])}</span>'


def _or(field: str, default: str) -> Callable[[Row], str]:
    """The cell of ``field``, or of ``default`` where the field is empty."""
    return lambda row: _t(row[field] or default)


# A column: its Dutch and English heading, and the field of the row it shows (escaped by
# ``_t``) or a function that gives the escaped cell.
Column = tuple[str, str, str | Callable[[Row], str]]
# A section: its Dutch and English heading, the path to its rows in the export, and its
# columns.
Section = tuple[str, str, tuple[str, ...], tuple[Column, ...]]

_SECTIONS: tuple[Section, ...] = (
    ("Persoonsgegevens die wij nu hebben", "Personal data we hold now",
     ("subject", "personal_data"),
     (("Doel", "Purpose", "purpose"), ("Categorie", "Category", _category),
      ("Waarde", "Value", _value_cell), ("Sinds", "Since", "since"),
      ("Beperkt", "Restricted", "restricted"))),
    ("Doeleinden en grondslagen", "Purposes and legal bases", ("subject", "purposes"),
     (("Doel", "Purpose", "purpose"), ("Titel", "Title", "title_nl"),
      ("Grondslag", "Legal basis", "legal_basis"), ("Rol", "Role", "role"),
      ("Bron", "Source", "source_system"), ("Toestemming", "Consent", "consent"))),
    ("Bewaartermijnen", "Retention", ("subject", "retention"),
     (("Bereik", "Scope", "scope"),
      ("Tot", "Until", _or("due_at", "na afloop doel / when the purpose ends")),
      ("Wettelijk", "Statutory", "statutory"), ("Bewaarplicht", "Legal hold", "on_hold"))),
    ("Toestemmingen", "Consents", ("subject", "consent_history"),
     (("Doel", "Purpose", "purpose"), ("Actie", "Action", "action"),
      ("Kanaal", "Channel", "channel"),
      ("Versie verklaring", "Notice version", "notice_version"),
      ("Bewijs", "Proof", "proof_ref"), ("Op", "At", "at"))),
    ("Bezwaren", "Objections", ("subject", "objections", "history"),
     (("Grond", "Ground", "ground"), ("Doel", "Purpose", "purpose"),
      ("Kanaal", "Channel", "channel"), ("Op", "At", "at"))),
    ("Beperkingen", "Restrictions", ("subject", "restrictions"),
     (("Verzoek", "Request", "request_ref"),
      ("Bereik", "Scope", _or("scope", "alles / everything")),
      ("Reden", "Reason", "reason"), ("Sinds", "Since", "since"), ("Tot", "Until", "until"))),
    ("Juridische bewaarplichten", "Legal holds", ("subject", "legal_holds"),
     (("Kenmerk", "Reference", "hold_ref"), ("Reden", "Reason", "reason"),
      ("Bereik", "Scopes", "scopes"), ("Sinds", "Since", "since"))),
    ("Ontvangers", "Recipients", ("subject", "recipients"),
     (("Ontvanger", "Recipient", "recipient"), ("Soort", "Kind", "recipient_kind"),
      ("Doel", "Purpose", "purpose"), ("Grond", "Ground", "ground"),
      ("Categorieën", "Categories", "categories"), ("Op", "At", "occurred_at"))),
    ("Verzoeken", "Requests", ("subject", "requests"),
     (("Kenmerk", "Reference", "request_ref"), ("Soort", "Kind", "kind"),
      ("Ontvangen", "Received", "requested_at"), ("Uiterlijk", "Due", "due_at"),
      ("Verlengd (mnd)", "Extended (months)", "extended_months"),
      ("Status", "Status", "status"))),
    ("Alle vastgelegde waarden", "Every value recorded", ("recorded_values",),
     (("Handeling", "Act", "event_type"), ("Op", "At", "occurred_at"),
      ("Doel", "Purpose", "purpose"), ("Categorie", "Category", _category),
      ("Waarde", "Value", _value_cell))),
    ("Alle handelingen", "Every act", ("acts",),
     (("Nr", "No", "notification_id"), ("Handeling", "Act", "type"),
      ("Plaatsgevonden", "Occurred", "occurred_at"), ("Vastgelegd", "Recorded", "recorded_at"),
      ("Door", "By", "actor"), ("Verklaring", "Policy", "policy_version"))),
)


def _section(export: Row, section: Section) -> str:
    """The section's heading, then a table with a line for each of its rows."""
    nl, en, path, columns = section
    rows: Any = export
    for key in path:
        rows = rows[key]
    cells = (
        [_t(row[shows]) if isinstance(shows, str) else shows(row) for _, _, shows in columns]
        for row in rows
    )
    return _heading(nl, en) + "\n" + _table([(c_nl, c_en) for c_nl, c_en, _ in columns], cells)


def render_report(export: dict[str, Any]) -> str:
    """The HTML report of one ``LedgerReader.export`` document."""
    subject = export["subject"]
    parts = [
        "<!DOCTYPE html>", '<html lang="nl"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Inzage persoonsgegevens / Personal data report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Inzage persoonsgegevens "
        '<span class="en">/ Personal data report (GDPR art. 15)</span></h1>',
        '<table class="meta">',
        f"<tr><td>Betrokkene / Data subject</td><td>{_t(subject['subject_id'])}</td></tr>",
        f"<tr><td>Verwerkingsverantwoordelijke / Controller</td>"
        f"<td>{_t(export['controller'])}</td></tr>",
        f"<tr><td>Privacyverklaring / Policy version</td>"
        f"<td>{_t(export['policy_version'])}</td></tr>",
        f"<tr><td>Opgesteld / Generated</td><td>{_t(export['generated_at'])}</td></tr>",
        "</table>",
        *(_section(export, section) for section in _SECTIONS),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
