"""The DSAR export as a self-contained HTML report, for the person who asked.

One file: inline style, no scripts, no external resources, so it can be mailed or
printed as is. It answers art. 15 GDPR item by item, in plain words (art. 12(1)): the
purposes, the data (every value each category had), the recipients, how long data is
kept and why, the rights, where to complain, where the data came from and whether
decisions are automated. Codes become words (the policy's names from the export's
glossary, fixed vocabularies from ``projections.labels``), moments are shown to the
minute in the jurisdiction's time zone. Dutch and English side by side, or one of them.
Every text from the export is escaped (``html.escape``, quotes included): a stored
value is data, never markup, whatever it contains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ledger.domain.policy import Text
from projections import labels
from projections.labels import Vocabulary, humanise, moment_words, version_label

LANGUAGES = ("both", "nl", "en")
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:64rem;color:#222;
line-height:1.4;padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #ccc}h3{font-size:1rem;margin-bottom:.25rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eee;vertical-align:top}
th{background:#f4f4f4}.erased{color:#888;font-style:italic}.meta td{border:0}
.en{color:#666;font-weight:normal}p.none{color:#888}.art{color:#888;font-size:.8rem}
"""
# One entry of a list in the export: a value held, a consent given, an act, ...
Row = dict[str, Any]


class _Words:
    """Texts in the report's language(s), escaped, and moments in its time zone."""

    def __init__(self, lang: str, zone: ZoneInfo, glossary: Mapping[str, Any]) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"report language must be one of {', '.join(LANGUAGES)}")
        self.lang, self.zone, self.glossary = lang, zone, glossary

    def t(self, nl: object, en: object) -> str:
        """Both texts (Dutch, then English beside it), or the chosen one."""
        nl_text = "" if nl is None else str(nl)
        en_text = nl_text if en is None else str(en)
        if self.lang == "nl":
            return escape(nl_text, quote=True)
        if self.lang == "en":
            return escape(en_text, quote=True)
        nl_html, en_html = escape(nl_text, quote=True), escape(en_text, quote=True)
        if nl_text == en_text:
            return nl_html
        return f'{nl_html} <span class="en">/ {en_html}</span>'

    def text(self, text: Text | None) -> str:
        return self.none() if text is None else self.t(text.nl, text.en)

    def pair(self, row: Mapping[str, Any], stem: str) -> str:
        prefix = f"{stem}_" if stem else ""
        nl, en = row.get(f"{prefix}nl"), row.get(f"{prefix}en")
        return self.none() if nl is None and en is None else self.t(nl, en)

    def code(self, vocabulary: Vocabulary, code: str | None) -> str:
        return self.text(labels.label(vocabulary, code))

    def named(self, table: str, key: str | None) -> str:
        """A name the policy gives (purposes, kinds, scopes, grounds) from the glossary."""
        if key is None or key == "":
            return self.none()
        entry = self.glossary.get(table, {}).get(key)
        if entry is None:
            return self.t(humanise(key), humanise(key))
        if table == "purposes":
            return self.t(entry["title_nl"], entry["title_en"])
        return self.t(entry["nl"], entry["en"])

    def version(self, version: str | None) -> str:
        if not version:
            return self.none()
        entry = self.glossary.get("policy_versions", {}).get(version)
        return self.pair(entry, "") if entry else self.text(version_label(version))

    def when(self, moment: str | None) -> str:
        if not moment:
            return self.none()
        return escape(moment_words(moment, self.zone, self.lang))

    def value(self, value: object) -> str:
        if value is None or value == "":
            return self.none()
        return escape(str(value), quote=True)

    def yes(self, flag: object) -> str:
        return self.t("ja", "yes") if flag else self.t("nee", "no")

    def none(self) -> str:
        return "&mdash;"

    def heading(self, nl: str, en: str, article: str = "") -> str:
        art = f' <span class="art">({escape(article)})</span>' if article else ""
        return f"<h2>{self.t(nl, en)}{art}</h2>"

    def para(self, body: str, css: str = "") -> str:
        return f'<p class="{css}">{body}</p>' if css else f"<p>{body}</p>"

    def table(self, headers: Sequence[tuple[str, str]], rows: Iterable[Sequence[str]]) -> str:
        """``rows`` hold cells already escaped (by the methods above)."""
        body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                       for row in rows)
        if not body:
            return self.para(self.t("Geen", "None"), "none")
        head = "".join(f"<th>{self.t(nl, en)}</th>" for nl, en in headers)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def items(self, entries: Iterable[str]) -> str:
        body = "".join(f"<li>{entry}</li>" for entry in entries)
        return f"<ul>{body}</ul>" if body else self.para(self.t("Geen", "None"), "none")


def _zone(export: Mapping[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(export.get("time_zone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _value_cell(w: _Words, entry: Row) -> str:
    if entry["status"] == "erased":
        return f'<span class="erased">{w.t("gewist", "erased")}</span>'
    return w.value(entry["value"])


def _category(w: _Words, entry: Row) -> str:
    return w.t(entry["label_nl"], entry["label_en"])


def _categories(w: _Words, keys: Sequence[str]) -> str:
    names = [w.glossary.get("categories", {}).get(k) for k in keys]
    if not keys:
        return w.none()
    nl = ", ".join(n["nl"] if n else humanise(k) for n, k in zip(names, keys, strict=True))
    en = ", ".join(n["en"] if n else humanise(k) for n, k in zip(names, keys, strict=True))
    return w.t(nl, en)


def _reference(restriction: Row) -> str:
    """A restriction's reference; one an erasure left (``REQUEST:SCOPE``) by its request."""
    ref = str(restriction["request_ref"])
    if restriction.get("reason") == "kept-by-law" and ":" in ref:
        return ref.rpartition(":")[0]
    return ref


def _role(w: _Words, purpose: Row) -> str:
    role = w.code(labels.ROLES, purpose.get("role"))
    if purpose.get("role") == "processor" and purpose.get("controller"):
        role += " " + w.t(f"(verantwoordelijke: {purpose['controller']})",
                          f"(controller: {purpose['controller']})")
    elif purpose.get("controller_since"):  # art. 4(7): a business transfer
        since = moment_words(purpose["controller_since"], w.zone, w.lang)
        role = w.t(f"Verwerkingsverantwoordelijke sinds {since}: {purpose['controller']}",
                   f"Controller since {since}: {purpose['controller']}")
    return role


# -- the sections ------------------------------------------------------------------------

def _purposes(w: _Words, export: Row) -> str:
    rows = export["subject"]["purposes"]
    glossary = w.glossary.get("purposes", {})
    return w.heading("Waarvoor wij uw gegevens gebruiken", "What we use your data for",
                     "art. 15(1)(a)") + w.table(
        [("Doel", "Purpose"), ("Omschrijving", "Description"),
         ("Grondslag", "Legal basis"), ("Rol", "Role"), ("Toestemming", "Consent"),
         ("Bezwaar gemaakt", "Objected")],
        ([w.named("purposes", p["purpose"]),
          w.pair(glossary.get(p["purpose"], {}), "description"),
          w.code(labels.LEGAL_BASES, p.get("legal_basis")), _role(w, p),
          w.code(labels.CONSENT_STATES, p.get("consent")), w.yes(p.get("objected"))]
         for p in rows))


def _data_now(w: _Words, export: Row) -> str:
    return w.heading("Welke gegevens wij nu van u hebben", "The data we hold about you now",
                     "art. 15(1)(b), 15(3)") + w.table(
        [("Doel", "Purpose"), ("Soort gegeven", "Category"), ("Waarde", "Value"),
         ("Sinds", "Since"), ("Alleen bewaard (beperkt)", "Only stored (restricted)")],
        ([w.named("purposes", v["purpose"]), _category(w, v), _value_cell(w, v),
          w.when(v.get("since")), w.yes(v.get("restricted"))]
         for v in export["subject"]["personal_data"]))


def _every_value(w: _Words, export: Row) -> str:
    groups = export.get("values_by_category")
    if groups is None:  # an export made before it was added: one group of everything
        groups = [{"label_nl": "Alle categorieën", "label_en": "All categories",
                   "values": [{**v, "status": v["status"]} for v in export["recorded_values"]]}]
    parts = [w.heading("Alle waarden per soort gegeven, ook eerdere",
                       "Every value of each category, past ones included", "art. 15(3)")]
    for group in groups:
        parts.append(f"<h3>{_category(w, group)}</h3>")
        parts.append(w.table(
            [("Waarde", "Value"), ("Doel", "Purpose"), ("Vastgelegd", "Recorded"),
             ("Hoe", "How"), ("Stand", "Status")],
            ([_value_cell(w, v), w.named("purposes", v["purpose"]), w.when(v["occurred_at"]),
              w.text(labels.event_label(v["event_type"])) if v.get("event_type")
              else w.none(), w.code(labels.VALUE_STATUSES, v["status"])]
             for v in group["values"])))
    return "\n".join(parts)


def _recipients(w: _Words, export: Row) -> str:
    recipients = export.get("recipients") or {
        "named": export["subject"]["recipients"], "kinds": []}
    named = w.table(
        [("Ontvanger", "Recipient"), ("Soort ontvanger", "Kind of recipient"),
         ("Doel", "Purpose"), ("Grond", "Ground"), ("Gegevens", "Data"), ("Op", "At")],
        ([w.value(r["recipient"]), w.named("recipient_kinds", r["recipient_kind"]),
          w.named("purposes", r["purpose"]), w.named("sharing_grounds", r["ground"]),
          _categories(w, r["categories"]), w.when(r["occurred_at"])]
         for r in recipients["named"]))
    kinds = w.items(
        f"{w.t(k['nl'], k['en'])} "
        f"({', '.join(w.named('purposes', p) for p in k['purposes'])})"
        for k in recipients["kinds"])
    transfers = export.get("third_country_transfers")
    third = ""
    if transfers is not None:
        third = (w.heading("Doorgifte buiten de Europese Economische Ruimte",
                           "Transfers outside the European Economic Area", "art. 15(2)")
                 + w.para(w.pair(transfers, "text"))
                 + (w.table([("Land", "Country"), ("Soort ontvanger", "Kind of recipient"),
                             ("Waarborg", "Safeguard")],
                            ([w.value(t["country"]),
                              w.named("recipient_kinds", t["recipient_kind"]),
                              w.value(t["safeguard"])] for t in transfers["transfers"]))
                    if transfers["transfers"] else ""))
    got = w.t("Ontvangers die uw gegevens kregen", "Recipients who got your data")
    may = w.t("Soorten ontvangers waaraan wij ze mogen geven",
              "Kinds of recipient we may give them to")
    return (w.heading("Aan wie wij uw gegevens geven", "Who we give your data to",
                      "art. 15(1)(c)")
            + f"<h3>{got}</h3>" + named + f"<h3>{may}</h3>" + kinds + third)


def _retention(w: _Words, export: Row) -> str:
    rows = export.get("retention_by_category")
    heading = w.heading("Hoe lang wij uw gegevens bewaren", "How long we keep your data",
                        "art. 15(1)(d)")
    if rows is None:
        return heading + w.table(
            [("Gegevens", "Data"), ("Tot", "Until")],
            ([w.named("scopes", r["scope"]), w.when(r["due_at"]) if r["due_at"] else
              w.t("zodra het doel eindigt", "when the purpose ends")]
             for r in export["subject"]["retention"]))
    return heading + w.table(
        [("Soort gegeven", "Category"), ("Doel", "Purpose"), ("Bewaartermijn", "Period"),
         ("Wettelijke termijn", "Statutory period"), ("Tot", "Until"),
         ("Bewaard na wissing, omdat", "Kept past erasure, because"),
         ("Juridische bewaarplicht", "Legal hold")],
        ([_category(w, r), w.named("purposes", r["purpose"]), w.pair(r, "rule"),
          w.pair(r, "statutory"),
          (w.t("gewist", "erased") if r["status"] == "erased"
           else w.when(r["due_at"]) if r["due_at"]
           else w.t("nog niet bekend: zodra het doel eindigt",
                    "not known yet: when the purpose ends")),
          (w.pair(r["kept_past_erasure"], "reason") + " "
           + w.t("tot", "until") + " " + w.when(r["kept_past_erasure"]["until"])
           if r["kept_past_erasure"] else w.none()),
          ", ".join(w.value(h["hold_ref"]) + " " + w.code(labels.HOLD_REASONS, h["reason"])
                    for h in r["on_hold"]) or w.none()]
         for r in rows))


def _rights(w: _Words, export: Row) -> str:
    rights = export.get("rights")
    if rights is None:
        return ""
    return (w.heading("Uw rechten", "Your rights", "art. 15(1)(e)")
            + w.items(w.pair(r, "text") + f' <span class="art">(art. {escape(r["article"])}'
                      f' {w.t("AVG", "GDPR")})</span>' for r in rights["rights"])
            + w.para(w.t("Zo gebruikt u ze: ", "How to use them: ") + w.pair(rights, "how"))
            + w.para(w.pair(rights, "answer_time")))


def _complaint(w: _Words, export: Row) -> str:
    authority = export.get("supervisory_authority")
    if authority is None:
        return ""
    return (w.heading("Klacht indienen", "Lodging a complaint", "art. 15(1)(f)")
            + w.para(w.pair(authority, "text")))


def _sources(w: _Words, export: Row) -> str:
    sources = export.get("sources")
    if sources is None:
        return ""
    return w.heading("Waar uw gegevens vandaan komen", "Where your data comes from",
                     "art. 15(1)(g)") + w.table(
        [("Soort gegeven", "Category"), ("Doel", "Purpose"), ("Bron", "Source"),
         ("Vastgelegd via", "Recorded through")],
        ([_category(w, s), w.named("purposes", s["purpose"]), w.pair(s, "source"),
          w.pair(s, "via")] for s in sources))


def _automated(w: _Words, export: Row) -> str:
    automated = export.get("automated_decision_making")
    if automated is None:
        return ""
    return (w.heading("Geautomatiseerde besluitvorming", "Automated decision-making",
                      "art. 15(1)(h)")
            + w.para(w.pair(automated, "note")))


def _history(w: _Words, export: Row) -> str:
    subject = export["subject"]
    parts = [
        w.heading("Toestemmingen", "Consents") + w.table(
            [("Doel", "Purpose"), ("Wat", "What"), ("Hoe", "How"),
             ("Privacyverklaring", "Privacy statement"), ("Bewijs", "Proof"), ("Op", "At")],
            ([w.named("purposes", c["purpose"]), w.code(labels.CONSENT_STATES, c["action"]),
              w.code(labels.CHANNELS, c["channel"]), w.version(c.get("notice_version")),
              w.value(c["proof_ref"]), w.when(c["at"])]
             for c in subject["consent_history"])),
        w.heading("Bezwaren", "Objections") + w.table(
            [("Grond", "Ground"), ("Doel", "Purpose"), ("Hoe", "How"), ("Op", "At")],
            ([w.code(labels.OBJECTION_GROUNDS, o["ground"]),
              w.named("purposes", o["purpose"]) if o["purpose"]
              else w.t("alle direct marketing", "all direct marketing"),
              w.code(labels.CHANNELS, o["channel"]), w.when(o["at"])]
             for o in subject["objections"]["history"])),
        w.heading("Beperkingen (alleen nog bewaren)", "Restrictions (storage only)")
        + w.table(
            [("Kenmerk", "Reference"), ("Welke gegevens", "Which data"), ("Reden", "Reason"),
             ("Sinds", "Since"), ("Tot", "Until")],
            ([w.value(_reference(r)), w.named("scopes", r["scope"]) if r["scope"]
              else w.t("alle gegevens", "all data"),
              w.code(labels.RESTRICTION_REASONS, r["reason"]), w.when(r["since"]),
              w.when(r["until"])] for r in subject["restrictions"])),
        w.heading("Juridische bewaarplichten", "Legal holds") + w.table(
            [("Kenmerk", "Reference"), ("Reden", "Reason"), ("Welke gegevens", "Which data"),
             ("Sinds", "Since")],
            ([w.value(h["hold_ref"]), w.code(labels.HOLD_REASONS, h["reason"]),
              ", ".join(w.named("scopes", s) for s in h["scopes"]) or w.none(),
              w.when(h["since"])] for h in subject["legal_holds"])),
        w.heading("Uw verzoeken", "Your requests") + w.table(
            [("Kenmerk", "Reference"), ("Soort", "Kind"), ("Ontvangen", "Received"),
             ("Uiterlijk beantwoord", "Answer due"),
             ("Verlengd (maanden)", "Extended (months)"), ("Stand", "Status")],
            ([w.value(r["request_ref"]), w.code(labels.REQUEST_KINDS, r["kind"]),
              w.when(r["requested_at"]),
              w.none() if r["status"] == "forwarded" else w.when(r["due_at"]),
              w.value(r["extended_months"]), w.code(labels.REQUEST_STATUSES, r["status"])]
             for r in subject["requests"])),
        w.heading("Alles wat met uw gegevens is gedaan", "Everything done with your data",
                  "art. 5(2)") + w.table(
            [("Nr", "No"), ("Handeling", "Act"), ("Gebeurd", "Happened"),
             ("Vastgelegd", "Recorded"), ("Door", "By"),
             ("Getoetst aan", "Checked against")],
            ([w.value(a["notification_id"]), w.text(labels.event_label(a["type"])),
              w.when(a["occurred_at"]), w.when(a["recorded_at"]), w.value(a["actor"]),
              w.version(a["policy_version"])] for a in export["acts"])),
    ]
    return "\n".join(parts)


def _meta(w: _Words, export: Row) -> str:
    controller = export.get("controller_details") or {"name": export["controller"]}
    officer = export.get("data_protection_officer")
    rows = [
        (w.t("Betrokkene (uw kenmerk bij ons)", "Data subject (your reference with us)"),
         w.value(export["subject"]["subject_id"])),
        (w.t("Verwerkingsverantwoordelijke", "Controller"), w.value(controller["name"])),
    ]
    if "contact_nl" in controller:
        rows.append((w.t("Contact", "Contact"), w.pair(controller, "contact")))
    for moved in controller.get("transferred_to", []):  # art. 4(7), 14: a new controller
        purposes = ", ".join(w.named("purposes", p) for p in moved["purposes"])
        rows.append((
            w.t("Verwerkingsverantwoordelijke sinds ", "Controller since ")
            + w.when(moved["since"]),
            w.value(moved["name"]) + " (" + w.pair(moved, "transfer_kind") + "; "
            + w.t("voor", "for") + " " + purposes + ")"))
    if officer is not None:
        rows.append((w.t("Functionaris voor gegevensbescherming", "Data protection officer"),
                     (w.value(officer["name"]) + " " + w.pair(officer, "contact"))
                     if officer.get("named") else w.pair(officer, "note")))
    rows += [
        (w.t("Privacyverklaring", "Privacy statement"), w.version(export["policy_version"])),
        (w.t("Opgesteld", "Generated"), w.when(export["generated_at"])),
        (w.t("Tijden", "Times"), w.t(f"in de tijdzone {w.zone.key}",
                                     f"in the {w.zone.key} time zone")),
    ]
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="meta">{body}</table>'


def _verifiable(w: _Words, export: Row) -> str:
    """That the export is verifiable, and how (when it carries the log's proofs)."""
    proofs = export.get("log_proofs")
    if not isinstance(proofs, dict):
        return ""
    count = len(proofs.get("entries") or [])
    return "\n".join([
        w.heading("Controleerbaar", "Verifiable"),
        w.para(w.t(
            f"Het JSON-bestand van deze inzage bevat voor {count} vastgelegde handelingen "
            "een bewijs (een Merkle-bewijs, RFC 9162) dat ze ongewijzigd in ons "
            "ondertekende register staan. Iedereen kan dat nagaan met alleen dat bestand "
            "en onze publieke sleutel: ledger audit verify-export BESTAND --public-key "
            "SLEUTEL. Het bewijst niet dat er geen handeling ontbreekt; dat toont een "
            "controle van het hele register.",
            f"The JSON file of this export holds, for {count} recorded acts, a proof (a "
            "Merkle proof, RFC 9162) that they are in our signed log, unaltered. Anyone "
            "can check it with nothing but that file and our public key: ledger audit "
            "verify-export FILE --public-key KEY. It does not prove that no act is "
            "missing; a check of the whole log shows that.")),
    ])


def render_report(export: dict[str, Any], *, lang: str = "both") -> str:
    """The HTML report of one ``LedgerReader.export`` document, in Dutch and English side
    by side (``lang`` "both") or in one of them ("nl", "en")."""
    w = _Words(lang, _zone(export), export.get("glossary") or {})
    title = w.t("Inzage in uw persoonsgegevens", "Your personal data: access report")
    sections = (_purposes, _data_now, _every_value, _recipients, _retention, _rights,
                _complaint, _sources, _automated, _history, _verifiable)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{"en" if lang == "en" else "nl"}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>".replace('<span class="en">', "").replace("</span>", ""),
        f"<style>{_STYLE}</style></head><body>",
        f'<h1>{title} <span class="art">({w.t("art. 15 AVG", "GDPR art. 15")})</span></h1>',
        _meta(w, export),
        *(section(w, export) for section in sections),
        "</body></html>",
    ]
    return "\n".join(part for part in parts if part) + "\n"
