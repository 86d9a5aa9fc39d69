"""What an access report must tell the person besides their data (art. 15(1)-(3) GDPR).

``access_notice`` adds to a DSAR export, from the policy in force and the subject's
view: who the controller is and how to reach it, the data protection officer, the
rights and where to complain (the Autoriteit Persoonsgegevens), the recipients by name
and by kind, third-country transfers, retention per category (with the legal reason
when data is kept past an erasure), where each category came from in plain words,
whether automated decision-making is used, every value of each category over time,
and which policy revision judged each act. Everything is JSON-ready, in Dutch and
English; the HTML report renders it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from ledger.domain.evolution import ACQUIRER
from ledger.domain.policy import Policy, Text
from projections.labels import TRANSFER_KINDS, humanise, retention_words, version_label

JsonObject = dict[str, Any]

# Art. 15(1)(e), 16-18, 20, 21, 7(3) and 15(1)(f), 77: the rights, in the order the
# GDPR gives them, and how the statement lets a person use them.
_RIGHTS: tuple[tuple[str, str, Text], ...] = (
    ("access", "15", Text(
        "Inzage: u kunt een kopie vragen van de persoonsgegevens die wij over u hebben "
        "(dit overzicht).",
        "Access: you may ask for a copy of the personal data we hold about you "
        "(this report).")),
    ("rectification", "16", Text(
        "Rectificatie: u kunt onjuiste gegevens laten corrigeren en onvolledige laten "
        "aanvullen.",
        "Rectification: you may have inaccurate data corrected and incomplete data "
        "completed.")),
    ("erasure", "17", Text(
        "Wissing: u kunt vragen uw gegevens te wissen. Wat de wet ons verplicht te bewaren "
        "(zoals facturen en betalingen, 7 jaar) bewaren wij dan alleen nog, afgeschermd.",
        "Erasure: you may ask us to erase your data. What the law makes us keep (such as "
        "invoices and payments, 7 years) we then only store, kept apart.")),
    ("restriction", "18", Text(
        "Beperking: u kunt vragen het gebruik van uw gegevens te beperken (afschermen); "
        "wij bewaren ze dan alleen nog.",
        "Restriction: you may ask us to restrict the use of your data; we then only "
        "store it.")),
    ("portability", "20", Text(
        "Overdraagbaarheid: u kunt de gegevens die u ons gaf krijgen in een gangbaar, "
        "machineleesbaar formaat (het JSON-bestand bij dit overzicht), ook om ze aan een "
        "ander te geven.",
        "Portability: you may receive the data you gave us in a common, machine-readable "
        "format (the JSON file with this report), also to pass it on to someone else.")),
    ("objection", "21", Text(
        "Bezwaar: u kunt bezwaar maken tegen het gebruik van uw gegevens; tegen direct "
        "marketing altijd, ook met de afmeldlink in elke e-mail van ons.",
        "Objection: you may object to the use of your data; to direct marketing always, "
        "also with the unsubscribe link in every email from us.")),
    ("withdraw-consent", "7(3)", Text(
        "Toestemming intrekken: waar wij uw gegevens gebruiken op grond van uw "
        "toestemming, kunt u die altijd intrekken; wat daarvoor gebeurde blijft rechtmatig.",
        "Withdrawing consent: where we use your data on your consent, you may withdraw it "
        "at any time; what happened before stays lawful.")),
)
_ANSWER_TIME = Text(
    "Wij beantwoorden uw verzoek binnen een maand; bij complexe of veel verzoeken kan dat "
    "met ten hoogste twee maanden worden verlengd, en dan laten wij u dat binnen de eerste "
    "maand weten (art. 12 lid 3 AVG).",
    "We answer your request within one month; for complex or many requests this may be "
    "extended by two months at most, and we tell you so within the first month (GDPR "
    "art. 12(3)).")
_NOT_STATED = Text("Niet vermeld in de privacyverklaring.",
                   "Not stated in the privacy statement.")
# Art. 4(7), 4(9): who got the data in a business transfer ("Bedrijfsoverdracht").
_ACQUIRER = Text("Nieuwe verwerkingsverantwoordelijke na een bedrijfsoverdracht",
                 "New controller after a business transfer")


def access_notice(policy: Policy, view: JsonObject, recorded: Sequence[JsonObject],
                  acts: Sequence[JsonObject]) -> JsonObject:
    """The keys art. 15 adds to an export of ``view`` (the subject view), ``recorded``
    (every value recorded, in log order) and ``acts`` (the audit trail)."""
    return {
        "time_zone": policy.jurisdiction_zone,
        "policy": {
            "version": policy.version, "revision": policy.revision,
            "label_nl": version_label(policy.version).nl,
            "label_en": version_label(policy.version).en,
            # Each act keeps the revision it was judged by (its ``policy_version``).
            "judged_under": [
                {"version": v, **_pair(version_label(v), "label")}
                for v in sorted({a["policy_version"] for a in acts})],
        },
        "controller_details": _controller(policy, view),
        "data_protection_officer": _officer(policy),
        "rights": _rights(policy),
        "supervisory_authority": _authority(policy),
        "recipients": _recipients(policy, view),
        "third_country_transfers": _transfers(policy, view),
        "retention_by_category": _retention(policy, view),
        "sources": _sources(policy, view),
        "automated_decision_making": _automated(policy),
        "values_by_category": _values_by_category(recorded),
        "glossary": glossary(policy, acts, scopes=_scopes_in(view)),
    }


def _scopes_in(view: JsonObject) -> set[str]:
    """The scope names the view shows (derived ones included), for the glossary."""
    scopes = {v["scope"] for v in view["personal_data"] if v["scope"]}
    scopes |= {r["scope"] for r in view["retention"]}
    scopes |= {r["scope"] for r in view["restrictions"] if r["scope"]}
    scopes |= {s for h in view["legal_holds"] for s in h["scopes"]}
    scopes |= {k["scope"] for k in view["kept_by_law"]}
    return scopes


def purpose_notice_extra(policy: Policy, key: str) -> JsonObject:
    """What revision 2 of the policy adds to a purpose's notice."""
    spec = policy.purposes.get(key)
    if spec is None:
        return {}
    return {
        "title_en": spec.title_en, "description_nl": spec.description_nl,
        "data_subjects": [{"kind": k, **_pair(policy.subject_kinds[k], "label")}
                          for k in spec.data_subjects],
        "third_country_transfers": [
            {"country": t.country, "recipient_kind": t.recipient_kind,
             "safeguard": t.safeguard} for t in spec.third_country_transfers],
        "retention_words": _pair(retention_words(spec.retention.trigger,
                                                 spec.retention.period), "text"),
    }


def glossary(policy: Policy, acts: Sequence[JsonObject] = (),
             scopes: Collection[str] = ()) -> JsonObject:
    """The policy's own names, so that a reader of the export needs no policy file;
    ``scopes`` adds the names of scopes derived from the policy's (``fiscal-2025``)."""
    return {
        "purposes": {
            key: {"title_nl": p.title_nl, "title_en": p.title_en or p.title_nl,
                  "description_nl": p.description_nl, "description_en": p.description,
                  "section": p.section}
            for key, p in sorted(policy.purposes.items())},
        "categories": {key: {"nl": c.label_nl, "en": c.label_en}
                       for key, c in sorted(policy.categories.items())},
        "recipient_kinds": {
            **{key: {"nl": nl, "en": policy.recipient_labels_en.get(key, nl)}
               for key, nl in sorted(policy.recipient_kinds.items())},
            ACQUIRER: _pair(_ACQUIRER, "")},
        "scopes": {key: _pair(scope_label(policy, key), "")
                   for key in sorted({*policy.scopes, *scopes})},
        "sharing_grounds": {
            **{key: {"nl": g.description, "en": g.description_en or g.description}
               for key, g in sorted(policy.sharing_grounds.items())},
            # The ground of a transfer to an acquirer is the kind of transfer.
            **{key: _pair(TRANSFER_KINDS.get(key) or Text(humanise(key), humanise(key)), "")
               for key in sorted(policy.transfer_kinds)}},
        "source_systems": {key: _pair(t, "") for key, t in sorted(policy.source_systems.items())},
        "policy_versions": {
            v: _pair(version_label(v), "")
            for v in sorted({policy.version, *(a["policy_version"] for a in acts)})},
    }


def scope_label(policy: Policy, scope: str | None) -> Text:
    """What a person calls a retention scope; one the policy derives from its own by
    that one's name and what it was split by: "Fiscale administratie (facturen en
    betalingen) 2025", "Gewone gegevens (Contact of verzoek om een demo)"."""
    if scope is None:
        return Text("Alle gegevens", "All data")
    known = policy.scopes.get(scope)
    if known is not None:
        return known.label or Text(humanise(scope), humanise(scope))
    base = policy.base_scope(scope)
    if base is None or base.label is None:
        # Not one the policy derives: the longest policy scope it starts with, if any.
        prefix = max((k for k in policy.scopes if scope.startswith(k)), key=len, default="")
        text = policy.scopes[prefix].label if prefix else None
        words = humanise(scope)
        if text is None:
            return Text(words, words)
        suffix = scope[len(prefix):].strip("-:_ ")
        return Text(f"{text.nl} {suffix}".strip(), f"{text.en} {suffix}".strip())
    year, purpose = policy.scope_year(scope), policy.scope_purpose(scope) or ""
    if year is not None:
        return Text(f"{base.label.nl} {year}", f"{base.label.en} {year}")
    spec = policy.purposes.get(purpose)
    title_nl = spec.title_nl if spec else humanise(purpose)
    title_en = (spec.title_en or spec.title_nl) if spec else humanise(purpose)
    return Text(f"{base.label.nl} ({title_nl})", f"{base.label.en} ({title_en})")


def legal_reason_words(policy: Policy, reason: str) -> Text:
    """A kept scope's legal reason (recorded in English) in both languages."""
    for scope in policy.scopes.values():
        if scope.legal_reason == reason:
            return Text(scope.legal_reason_nl or reason, reason)
    if reason.startswith("legal hold "):
        ref = reason.removeprefix("legal hold ")
        return Text(f"Juridische bewaarplicht {ref}", f"Legal hold {ref}")
    return Text(reason, reason)


# -- the parts -----------------------------------------------------------------------------

def _pair(text: Text, stem: str) -> JsonObject:
    prefix = f"{stem}_" if stem else ""
    return {f"{prefix}nl": text.nl, f"{prefix}en": text.en}


def _controller(policy: Policy, view: JsonObject | None = None) -> JsonObject:
    """Art. 13(1)(a), 14(1)(a), 15: the controller and how to reach it; after a business
    transfer (art. 4(7)) also who the controller of the transferred data is now, since
    when, for which purposes."""
    details = policy.controller_details
    contact = details.contact if details else _NOT_STATED
    transfers = view.get("controller_transfers", []) if view else []
    now: dict[str, JsonObject] = {}
    for t in transfers:  # in log order: the last transfer of a purpose decides
        for purpose in t["purposes"]:
            now[purpose] = {"name": t["new_controller"], "since": t["at"],
                            "transfer_kind": t["transfer_kind"],
                            **_pair(TRANSFER_KINDS.get(t["transfer_kind"]) or Text(
                                humanise(t["transfer_kind"]), humanise(t["transfer_kind"])),
                                "transfer_kind")}
    processor = {p["purpose"] for p in (view or {}).get("purposes", [])
                 if p.get("role") == "processor"}
    by_name: dict[str, JsonObject] = {}
    for purpose, entry in sorted(now.items()):
        if purpose in processor:
            continue  # as processor, the customer stays the controller
        key = f"{entry['name']}\n{entry['since']}"
        by_name.setdefault(key, {**entry, "purposes": []})["purposes"].append(purpose)
    return {"name": details.name if details else policy.controller,
            **_pair(contact, "contact"),
            "transferred_to": list(by_name.values())}


def _officer(policy: Policy) -> JsonObject:
    officer = policy.data_protection_officer
    if officer is None:
        return {"named": False, "name": None, **_pair(_NOT_STATED, "note")}
    return {"named": officer.name is not None, "name": officer.name,
            **(_pair(officer.contact, "contact") if officer.contact else {}),
            **_pair(officer.note, "note")}


def _rights(policy: Policy) -> JsonObject:
    details = policy.controller_details
    how = details.contact if details else _NOT_STATED
    return {
        "rights": [{"right": right, "article": article, **_pair(text, "text")}
                   for right, article, text in _RIGHTS],
        **_pair(how, "how"), **_pair(_ANSWER_TIME, "answer_time"),
    }


def _authority(policy: Policy) -> JsonObject:
    authority = policy.supervisory_authority
    if authority is None:
        return {"stated": False, **_pair(_NOT_STATED, "text")}
    where = f"{authority.name}, {authority.postal_address} ({authority.website})"
    return {
        "stated": True, "name": authority.name, "postal_address": authority.postal_address,
        "website": authority.website,
        "text_nl": f"U hebt het recht een klacht in te dienen bij de {where}.",
        "text_en": f"You have the right to lodge a complaint with the {where}.",
    }


def _recipients(policy: Policy, view: JsonObject) -> JsonObject:
    """Art. 15(1)(c): every recipient the data went to by name, and the kinds of
    recipient the policy lets each of the subject's purposes share with."""
    named = [
        {"recipient": d["recipient"], "recipient_kind": d["recipient_kind"],
         "kind_nl": _ACQUIRER.nl if d["recipient_kind"] == ACQUIRER else
         policy.recipient_kinds.get(d["recipient_kind"], d["recipient_kind"]),
         "kind_en": _ACQUIRER.en if d["recipient_kind"] == ACQUIRER else
         policy.recipient_labels_en.get(
             d["recipient_kind"], policy.recipient_kinds.get(d["recipient_kind"],
                                                             d["recipient_kind"])),
         "purpose": d["purpose"], "ground": d["ground"], "categories": d["categories"],
         "occurred_at": d["occurred_at"]}
        for d in view["recipients"]]
    kinds: dict[str, list[str]] = {}
    for purpose in view["purposes"]:
        spec = policy.purposes.get(purpose["purpose"])
        for kind in sorted(spec.recipient_kinds if spec else ()):
            kinds.setdefault(kind, []).append(purpose["purpose"])
    return {
        "named": named,
        "kinds": [{"kind": kind, "nl": policy.recipient_kinds.get(kind, kind),
                   "en": policy.recipient_labels_en.get(kind, policy.recipient_kinds.get(
                       kind, kind)), "purposes": purposes}
                  for kind, purposes in sorted(kinds.items())],
    }


def _transfers(policy: Policy, view: JsonObject) -> JsonObject:
    """Art. 15(2): transfers to third countries and their safeguards."""
    listed = [
        {"purpose": p["purpose"], "country": t.country, "recipient_kind": t.recipient_kind,
         "safeguard": t.safeguard}
        for p in view["purposes"]
        for spec in [policy.purposes.get(p["purpose"])] if spec is not None
        for t in spec.third_country_transfers]
    if not policy.states_the_notice:
        text = _NOT_STATED
    elif not listed:
        text = Text("Wij geven uw gegevens niet door naar landen buiten de Europese "
                    "Economische Ruimte.",
                    "We do not transfer your data to countries outside the European "
                    "Economic Area.")
    else:
        text = Text("Wij geven uw gegevens door naar landen buiten de Europese Economische "
                    "Ruimte, met de waarborgen hieronder.",
                    "We transfer your data to countries outside the European Economic "
                    "Area, with the safeguards below.")
    return {"stated": policy.states_the_notice, "transfers": listed, **_pair(text, "text")}


def _retention(policy: Policy, view: JsonObject) -> list[JsonObject]:
    """Art. 15(1)(d): per category held, how long it is kept, until when, and why it is
    kept when an erasure left it (the law, a legal hold)."""
    due = {r["scope"]: r for r in view["retention"]}
    # Kept by law past an erasure while its restriction to storage stands (the domain
    # lifts it when the scope's retention ends).
    standing = {r["request_ref"] for r in view["restrictions"]}
    kept = {entry["scope"]: entry for entry in view["kept_by_law"]
            if f"{entry['request_ref']}:{entry['scope']}" in standing}
    holds = {h["hold_ref"]: h for h in view["legal_holds"]}
    rows = []
    for value in view["personal_data"]:
        spec = policy.purposes.get(value["purpose"])
        category = policy.categories.get(value["category"])
        scope_key = value["scope"] or (category.scope if category else None)
        scope = policy.base_scope(scope_key or "")
        rule = (retention_words(spec.retention.trigger, spec.retention.period)
                if spec else _NOT_STATED)
        statutory = (retention_words(scope.trigger, scope.period)
                     if scope and scope.trigger and scope.period else None)
        schedule = due.get(scope_key or "")
        kept_entry = kept.get(scope_key or "")
        on_hold = schedule["on_hold"] if schedule else []
        rows.append({
            "purpose": value["purpose"], "category": value["category"],
            "label_nl": value["label_nl"], "label_en": value["label_en"],
            "scope": scope_key, **_pair(scope_label(policy, scope_key), "scope"),
            "status": value["status"],
            **_pair(rule, "rule"),
            "statutory_nl": (f"Wettelijk: {statutory.nl.lower()}; "
                             f"{scope.legal_reason_nl or scope.legal_reason}"
                             if statutory and scope else None),
            "statutory_en": (f"By law: {statutory.en.lower()}; {scope.legal_reason}"
                             if statutory and scope else None),
            "due_at": schedule["due_at"] if schedule else None,
            "due_at_utc": schedule.get("due_at_utc") if schedule else None,
            # Art. 17(1)(b): the ground this value rests on ended (its consent withdrawn,
            # its purpose over), and what keeps the category besides (another purpose,
            # the law, a hold).
            "ground": value.get("ground"), "kept_by": value.get("kept_by", []),
            "kept_past_erasure": None if kept_entry is None or value["status"] == "erased"
            else {**_pair(legal_reason_words(policy, kept_entry["legal_reason"]), "reason"),
                  "until": kept_entry["until"], "request_ref": kept_entry["request_ref"]},
            "on_hold": [{"hold_ref": ref, "reason": holds.get(ref, {}).get("reason")}
                        for ref in on_hold],
        })
    return rows


def _sources(policy: Policy, view: JsonObject) -> list[JsonObject]:
    """Art. 15(1)(g): where each category held came from, in words; the system that
    recorded it as the words the policy gives it (or its name)."""
    systems = {p["purpose"]: p["source_system"] for p in view["purposes"]}
    rows = []
    for value in view["personal_data"]:
        category = policy.categories.get(value["category"])
        system = systems.get(value["purpose"])
        via = policy.source_systems.get(system or "")
        if via is None and system:
            via = Text(f"het systeem '{system}'", f"the system '{system}'")
        rows.append({
            "purpose": value["purpose"], "category": value["category"],
            "label_nl": value["label_nl"], "label_en": value["label_en"],
            **_pair(category.source if category and category.source else _NOT_STATED,
                    "source"),
            "source_system": system,
            **(_pair(via, "via") if via else {"via_nl": None, "via_en": None}),
        })
    return rows


def _automated(policy: Policy) -> JsonObject:
    decisions = policy.automated_decisions
    if decisions is None:
        return {"stated": False, "used": None, **_pair(_NOT_STATED, "note")}
    return {"stated": True, "used": decisions.used, **_pair(decisions.note, "note")}


def _values_by_category(recorded: Sequence[JsonObject]) -> list[JsonObject]:
    """Art. 15(3): every value each category ever had, oldest first; the last one of
    each purpose is current unless erased, the ones before it replaced."""
    last: dict[tuple[str, str], int] = {}
    for n, value in enumerate(recorded):
        last[(value["purpose"], value["category"])] = n
    groups: dict[str, JsonObject] = {}
    for n, value in enumerate(recorded):
        group = groups.setdefault(value["category"], {
            "category": value["category"], "label_nl": value["label_nl"],
            "label_en": value["label_en"], "values": []})
        current = last[(value["purpose"], value["category"])] == n
        group["values"].append({
            "value": value["value"], "purpose": value["purpose"],
            "act_id": value["act_id"], "event_type": value["event_type"],
            "occurred_at": value["occurred_at"],
            "status": value["status"] if value["status"] == "erased" or current
            else "replaced",
        })
    return [groups[key] for key in sorted(groups)]
