"""What people call the ledger's codes, in Dutch and English, and dates as people read them.

The policy names its own things (purposes, categories, recipient kinds, scopes); the
codes here are fixed by the GDPR or by the intake schema (legal bases, operations,
reasons, act types), so their words live in code. A code without words here is shown
as words anyway (``asset-sale`` as "asset sale", ``DataCollected`` as "Data collected"),
never as the raw code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ledger.domain.durations import Duration
from ledger.domain.policy import Text

Vocabulary = Mapping[str, Text]


def _v(**entries: tuple[str, str]) -> dict[str, Text]:
    return {key.replace("_", "-"): Text(nl, en) for key, (nl, en) in entries.items()}


LEGAL_BASES = _v(
    consent=("Toestemming (art. 6 lid 1 sub a AVG)", "Consent (GDPR art. 6(1)(a))"),
    contract=("Uitvoering van een overeenkomst (art. 6 lid 1 sub b AVG)",
              "Performance of a contract (GDPR art. 6(1)(b))"),
    legal_obligation=("Wettelijke verplichting (art. 6 lid 1 sub c AVG)",
                      "Legal obligation (GDPR art. 6(1)(c))"),
    vital_interests=("Vitaal belang (art. 6 lid 1 sub d AVG)",
                     "Vital interests (GDPR art. 6(1)(d))"),
    public_task=("Taak van algemeen belang (art. 6 lid 1 sub e AVG)",
                 "Public task (GDPR art. 6(1)(e))"),
    legitimate_interest=("Gerechtvaardigd belang (art. 6 lid 1 sub f AVG)",
                         "Legitimate interest (GDPR art. 6(1)(f))"),
)
ROLES = _v(
    controller=("Wij zijn verwerkingsverantwoordelijke", "We are the controller"),
    processor=("Wij zijn verwerker, in opdracht van uw organisatie",
               "We are processor, on behalf of your organisation"),
)
EVENTS = {
    "SubjectRegistered": Text("Eerste vastlegging over u", "First record about you"),
    "DataCollected": Text("Gegevens verzameld", "Data collected"),
    "DataProcessed": Text("Gegevens gebruikt", "Data used"),
    "DataShared": Text("Gegevens gedeeld", "Data shared"),
    "ConsentGiven": Text("Toestemming gegeven", "Consent given"),
    "ConsentWithdrawn": Text("Toestemming ingetrokken", "Consent withdrawn"),
    "ObjectionRaised": Text("Bezwaar gemaakt", "Objection made"),
    "RestrictionApplied": Text("Verwerking beperkt", "Processing restricted"),
    "RestrictionLifted": Text("Beperking opgeheven", "Restriction lifted"),
    "DataRectified": Text("Gegevens gecorrigeerd", "Data rectified"),
    "AccessRequested": Text("Verzoek om inzage ontvangen", "Access request received"),
    "AccessFulfilled": Text("Inzage gegeven", "Access given"),
    "ErasureRequested": Text("Verzoek om wissing ontvangen", "Erasure request received"),
    "ErasureCompleted": Text("Gegevens gewist", "Data erased"),
    "ErasureRefusedInPart": Text("Wissing deels geweigerd: wettelijke bewaarplicht",
                                 "Erasure refused in part: kept by law"),
    "ContractEnded": Text("Overeenkomst beëindigd", "Contract ended"),
    "PurposeFulfilled": Text("Doel bereikt", "Purpose fulfilled"),
    "RetentionExpired": Text("Bewaartermijn verstreken, gegevens vernietigd",
                             "Retention ended, data destroyed"),
    "LegalHoldPlaced": Text("Juridische bewaarplicht opgelegd", "Legal hold placed"),
    "LegalHoldReleased": Text("Juridische bewaarplicht opgeheven", "Legal hold released"),
    "ControllerTransferred": Text("Overgedragen aan een nieuwe verwerkingsverantwoordelijke",
                                  "Transferred to a new controller"),
    "RequestDeadlineExtended": Text("Termijn voor ons antwoord verlengd",
                                    "Deadline for our answer extended"),
    "RequestForwarded": Text("Verzoek doorgestuurd naar de verwerkingsverantwoordelijke",
                             "Request forwarded to the controller"),
    "PolicyVersionPublished": Text("Privacyverklaring gepubliceerd",
                                   "Privacy statement published"),
}
OPERATIONS = _v(
    collect=("verzamelen", "collect"), store=("opslaan", "store"), use=("gebruiken", "use"),
    contact=("contact opnemen", "contact"), direct_marketing=("direct marketing",
                                                              "direct marketing"),
    analyse=("analyseren", "analyse"), invoice=("factureren", "invoice"),
    support=("ondersteunen", "support"), export=("exporteren", "export"),
    share=("delen", "share"), rectify=("corrigeren", "rectify"),
)
REQUEST_KINDS = _v(access=("Inzage", "Access"), erasure=("Wissing", "Erasure"),
                   rectification=("Rectificatie", "Rectification"),
                   restriction=("Beperking", "Restriction"), objection=("Bezwaar", "Objection"),
                   portability=("Overdraagbaarheid", "Portability"))
REQUEST_STATUSES = _v(
    open=("In behandeling", "Open"), fulfilled=("Afgehandeld", "Answered"),
    completed=("Uitgevoerd", "Carried out"),
    forwarded=("Doorgestuurd naar de verwerkingsverantwoordelijke",
               "Forwarded to the controller"),
)
CHANNELS = _v(
    web_form=("webformulier", "web form"), email=("e-mail", "email"),
    email_unsubscribe_link=("afmeldlink in een e-mail", "unsubscribe link in an email"),
    phone=("telefoon", "phone"), letter=("brief", "letter"), post=("post", "post"),
    in_person=("persoonlijk", "in person"), portal=("portaal", "portal"),
    account_manager=("accountmanager", "account manager"),
)
OBJECTION_GROUNDS = _v(
    direct_marketing=("Direct marketing (afgemeld)", "Direct marketing (unsubscribed)"),
    particular_situation=("Uw bijzondere situatie (art. 21 lid 1 AVG)",
                          "Your particular situation (GDPR art. 21(1))"),
)
RESTRICTION_REASONS = _v(
    accuracy_contested=("U betwist de juistheid", "You contest the accuracy"),
    unlawful_processing=("Onrechtmatige verwerking", "Unlawful processing"),
    needed_for_legal_claims=("Nodig voor een rechtsvordering", "Needed for a legal claim"),
    objection_pending=("Uw bezwaar is in behandeling", "Your objection is being considered"),
    kept_by_law=("Alleen bewaard omdat de wet dat eist", "Only kept because the law requires it"),
)
HOLD_REASONS = _v(
    litigation=("Rechtszaak", "Litigation"),
    regulator_inquiry=("Onderzoek door een toezichthouder", "Inquiry by a regulator"),
    law_enforcement_request=("Verzoek van justitie of politie",
                             "Request from law enforcement"),
)
EXTENSION_REASONS = _v(
    complexity=("Het verzoek is complex", "The request is complex"),
    number_of_requests=("Het aantal verzoeken", "The number of requests"),
)
CONSENT_STATES = _v(
    live=("Gegeven", "Given"), withdrawn=("Ingetrokken", "Withdrawn"),
    given=("Gegeven", "Given"),
)
TRANSFER_KINDS = _v(
    acquisition=("Overname", "Acquisition"), asset_sale=("Verkoop van bedrijfsmiddelen",
                                                         "Sale of assets"),
    financing=("Financiering", "Financing"), merger=("Fusie", "Merger"),
)
VALUE_STATUSES = _v(
    held=("In bezit", "Held"), erased=("Gewist", "Erased"),
    replaced=("Vervangen door een latere waarde", "Replaced by a later value"),
)
_TRIGGERS = {
    # trigger: (words of the moment, nl; en)
    "contract-ended": ("het einde van de overeenkomst", "the end of the contract"),
    "purpose-fulfilled": ("het bereiken van het doel", "the purpose is fulfilled"),
    "collected": ("het verzamelen", "collection"),
    "fiscal-year-end": ("het einde van het boekjaar", "the end of the fiscal year"),
}
_MONTHS_NL = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
              "september", "oktober", "november", "december")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")
_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:-r(\d+))?$")


def humanise(code: str) -> str:
    """Words for a code nobody gave words: ``asset-sale`` -> "Asset sale"."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", code).replace("-", " ").replace("_", " ")
    words = words.strip().lower()
    return words[:1].upper() + words[1:]


def label(vocabulary: Vocabulary, code: str | None) -> Text | None:
    if code is None or code == "":
        return None
    known = vocabulary.get(code)
    if known is not None:
        return known
    words = humanise(code)
    return Text(words, words)


def event_label(type_name: str) -> Text:
    return label(EVENTS, type_name) or Text(type_name, type_name)


def duration_words(period: Duration, lang: str) -> str:
    nl = lang == "nl"
    units = ((period.years, ("jaar", "jaar") if nl else ("year", "years")),
             (period.months, ("maand", "maanden") if nl else ("month", "months")),
             (period.days, ("dag", "dagen") if nl else ("day", "days")))
    parts = [f"{n} {one if n == 1 else many}" for n, (one, many) in units if n]
    joiner = " en " if nl else " and "
    return joiner.join(parts)


def retention_words(trigger: str, period: Duration) -> Text:
    """A retention rule as a person reads it: "90 dagen na het bereiken van het doel"."""
    moment_nl, moment_en = _TRIGGERS.get(trigger, (humanise(trigger).lower(),) * 2)
    if period == Duration():
        return Text(f"Tot {moment_nl}", f"Until {moment_en}")
    return Text(f"{duration_words(period, 'nl')} na {moment_nl}",
                f"{duration_words(period, 'en')} after {moment_en}")


def version_label(version: str) -> Text:
    """A policy version as a person reads it (versions are the statement's date)."""
    match = _VERSION.match(version)
    if not match:
        return Text(f"Privacyverklaring {version}", f"Privacy statement {version}")
    year, month, day, revision = match.groups()
    nl = f"Privacyverklaring van {int(day)} {_MONTHS_NL[int(month) - 1]} {year}"
    en = f"Privacy statement of {int(day)} {_MONTHS_EN[int(month) - 1]} {year}"
    if revision:
        nl, en = f"{nl}, revisie {revision}", f"{en}, revision {revision}"
    return Text(nl, en)


def moment_words(moment: datetime | str | None, zone: ZoneInfo, lang: str) -> str:
    """A moment in ``zone``, to the minute: "20 februari 2025 10:00", "20 February 2025
    10:00", or for both languages at once "2025-02-20 10:00"."""
    if moment is None or moment == "":
        return ""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        local = when.astimezone(zone)
    except (OverflowError, ValueError):  # the end of time: shown as it is, in UTC
        local = when.astimezone(UTC)
    if lang == "nl":
        return f"{local.day} {_MONTHS_NL[local.month - 1]} {local.year} {local:%H:%M}"
    if lang == "en":
        return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year} {local:%H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"
