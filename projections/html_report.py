"""The DSAR export as a self-contained HTML report, for the person who asked.

One file: inline style, no scripts, no external resources, so it can be mailed or
printed as is. Labels are Dutch and English, category names come from the policy.
Every text from the export is escaped (``html.escape``, quotes included): a stored
value is data, never markup, whatever it contains.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def _value_cell(entry: dict[str, Any]) -> str:
    if entry["status"] == "erased":
        return '<span class="erased">gewist / erased</span>'
    return _t(entry["value"])


def _category(entry: dict[str, Any]) -> str:
    return f'{_t(entry["label_nl"])} <span class="en">/ {_t(entry["label_en"])}</span>'


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
        _heading("Persoonsgegevens die wij nu hebben", "Personal data we hold now"),
        _table([("Doel", "Purpose"), ("Categorie", "Category"), ("Waarde", "Value"),
                ("Sinds", "Since"), ("Beperkt", "Restricted")],
               ([_t(v["purpose"]), _category(v), _value_cell(v), _t(v["since"]),
                 _t(v["restricted"])] for v in subject["personal_data"])),
        _heading("Doeleinden en grondslagen", "Purposes and legal bases"),
        _table([("Doel", "Purpose"), ("Titel", "Title"), ("Grondslag", "Legal basis"),
                ("Rol", "Role"), ("Bron", "Source"), ("Toestemming", "Consent")],
               ([_t(p["purpose"]), _t(p["title_nl"]), _t(p["legal_basis"]), _t(p["role"]),
                 _t(p["source_system"]), _t(p["consent"])] for p in subject["purposes"])),
        _heading("Bewaartermijnen", "Retention"),
        _table([("Bereik", "Scope"), ("Tot", "Until"), ("Wettelijk", "Statutory"),
                ("Bewaarplicht", "Legal hold")],
               ([_t(r["scope"]), _t(r["due_at"] or "na afloop doel / when the purpose ends"),
                 _t(r["statutory"]), _t(r["on_hold"])] for r in subject["retention"])),
        _heading("Toestemmingen", "Consents"),
        _table([("Doel", "Purpose"), ("Actie", "Action"), ("Kanaal", "Channel"),
                ("Versie verklaring", "Notice version"), ("Bewijs", "Proof"), ("Op", "At")],
               ([_t(c["purpose"]), _t(c["action"]), _t(c["channel"]),
                 _t(c["notice_version"]), _t(c["proof_ref"]), _t(c["at"])]
                for c in subject["consent_history"])),
        _heading("Bezwaren", "Objections"),
        _table([("Grond", "Ground"), ("Doel", "Purpose"), ("Kanaal", "Channel"), ("Op", "At")],
               ([_t(o["ground"]), _t(o["purpose"]), _t(o["channel"]), _t(o["at"])]
                for o in subject["objections"]["history"])),
        _heading("Beperkingen", "Restrictions"),
        _table([("Verzoek", "Request"), ("Bereik", "Scope"), ("Reden", "Reason"),
                ("Sinds", "Since"), ("Tot", "Until")],
               ([_t(r["request_ref"]), _t(r["scope"] or "alles / everything"),
                 _t(r["reason"]), _t(r["since"]), _t(r["until"])]
                for r in subject["restrictions"])),
        _heading("Juridische bewaarplichten", "Legal holds"),
        _table([("Kenmerk", "Reference"), ("Reden", "Reason"), ("Bereik", "Scopes"),
                ("Sinds", "Since")],
               ([_t(h["hold_ref"]), _t(h["reason"]), _t(h["scopes"]), _t(h["since"])]
                for h in subject["legal_holds"])),
        _heading("Ontvangers", "Recipients"),
        _table([("Ontvanger", "Recipient"), ("Soort", "Kind"), ("Doel", "Purpose"),
                ("Grond", "Ground"), ("Categorieën", "Categories"), ("Op", "At")],
               ([_t(r["recipient"]), _t(r["recipient_kind"]), _t(r["purpose"]),
                 _t(r["ground"]), _t(r["categories"]), _t(r["occurred_at"])]
                for r in subject["recipients"])),
        _heading("Verzoeken", "Requests"),
        _table([("Kenmerk", "Reference"), ("Soort", "Kind"), ("Ontvangen", "Received"),
                ("Uiterlijk", "Due"), ("Verlengd (mnd)", "Extended (months)"),
                ("Status", "Status")],
               ([_t(r["request_ref"]), _t(r["kind"]), _t(r["requested_at"]),
                 _t(r["due_at"]), _t(r["extended_months"]), _t(r["status"])]
                for r in subject["requests"])),
        _heading("Alle vastgelegde waarden", "Every value recorded"),
        _table([("Handeling", "Act"), ("Op", "At"), ("Doel", "Purpose"),
                ("Categorie", "Category"), ("Waarde", "Value")],
               ([_t(v["event_type"]), _t(v["occurred_at"]), _t(v["purpose"]), _category(v),
                 _value_cell(v)] for v in export["recorded_values"])),
        _heading("Alle handelingen", "Every act"),
        _table([("Nr", "No"), ("Handeling", "Act"), ("Plaatsgevonden", "Occurred"),
                ("Vastgelegd", "Recorded"), ("Door", "By"), ("Verklaring", "Policy")],
               ([_t(a["notification_id"]), _t(a["type"]), _t(a["occurred_at"]),
                 _t(a["recorded_at"]), _t(a["actor"]), _t(a["policy_version"])]
                for a in export["acts"])),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
